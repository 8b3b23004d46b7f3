//! Scale-out SQL (SPEC 4): the metric definitions that must also run on a
//! team's own distributed engine, written once as SQL builders over a
//! [`Dialect`]. Spark SQL is the first dialect; another (DataFusion, DuckDB,
//! ClickHouse) is one more `impl Dialect`, not a second copy of the metrics.
//!
//! Every builder returns a [`Plan`]: the tables it reads and a list of
//! statements, each either a named view that later statements use or a named
//! result to collect. The statements compute the final figures, not only the
//! aggregates: counts, exact sums, and every ratio, percentage and money
//! amount already rounded half away from zero with integer arithmetic
//! ([`fixed`]), so the answer is the embedded engine's to the last digit (no
//! binary floating point, no double rounding). The one exception is NPS's
//! standard error and interval: they are IEEE doubles in both engines
//! (`sqrt`), returned unrounded for the caller to round like the embedded one.
//!
//! Conventions shared with the embedded kernels (`tenure-metrics`):
//! - a person is `user_id`, else `anonymous_id`; an account is `group_id`;
//! - local days are dates of the event instant in the chosen IANA zone;
//! - weeks start on Monday; ranges are `[from, to)` of local days, by default
//!   the first to the last day with events.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::parquet::arrow::ArrowWriter;

use crate::{EngineError, Result};

/// One minor unit (cent) in ticks: `tenure_model::money::TICKS_PER_MINOR`
/// (the engine does not depend on the model crate; a test in the CLI checks
/// that the two agree).
pub const TICKS_PER_MINOR: i128 = 27_720 * 12 * 1_000_000 * 105;

/// What differs between SQL engines. Each method returns an SQL expression
/// (or select-list item) for its arguments, which are SQL expressions too.
pub trait Dialect {
    fn name(&self) -> &'static str;
    /// A string literal.
    fn string(&self, s: &str) -> String;
    /// A date literal from `YYYY-MM-DD`.
    fn date(&self, ymd: &str) -> String {
        format!("DATE '{ymd}'")
    }
    /// A UTC instant from microseconds since the epoch.
    fn instant(&self, micros: i64) -> String;
    /// The local calendar date of a UTC instant in an IANA zone.
    fn local_day(&self, ts: &str, tz: &str) -> String;
    /// Microseconds since the epoch of an instant.
    fn micros(&self, ts: &str) -> String;
    /// `d` plus `n` days.
    fn add_days(&self, d: &str, n: &str) -> String;
    /// Days from `a` to `b` (`b - a`).
    fn day_diff(&self, a: &str, b: &str) -> String;
    /// The Monday on or before `d`.
    fn week_start(&self, d: &str) -> String;
    /// The first day of `d`'s month.
    fn month_start(&self, d: &str) -> String;
    /// `d` plus `n` calendar months.
    fn add_months(&self, d: &str, n: &str) -> String;
    /// Integer division truncating toward zero, of small non-negative integers.
    fn idiv(&self, a: &str, b: &str) -> String;
    /// Exact integer division truncating toward zero of non-negative integers
    /// of up to 38 digits (money in ticks), as `DECIMAL(38, 0)`.
    fn idiv_wide(&self, a: &str, b: &str) -> String;
    /// `YYYY-MM` of a date.
    fn month_label(&self, d: &str) -> String;
    /// A select-list item that yields one row per integer `a..=b`.
    fn series(&self, a: &str, b: &str) -> String;
    /// An aggregate: the distinct values, sorted (drill-down lists).
    fn sorted_set(&self, x: &str) -> String;
    /// An aggregate: all values, sorted.
    fn sorted_list(&self, x: &str) -> String;
    /// Sessions of one burst (sorted instants in µs, no gap above the
    /// timeout): cut where an instant is more than `max_len` µs after its
    /// session's first one. Yields an array of structs `{s, e, n}` (start,
    /// end, event count).
    fn cut_sessions(&self, sorted_us: &str, max_len_us: i64) -> String;
    /// A select-list item that yields one row per struct of an array, as columns.
    fn inline(&self, array: &str) -> String;
    /// A decimal literal `1 / 10^scale`.
    fn unit(&self, scale: u32) -> String {
        if scale == 0 { "1".to_string() } else { format!("0.{}1", "0".repeat(scale as usize - 1)) }
    }
}

/// Spark SQL (Spark 3.4+ and 4; Databricks, EMR, Dataproc).
pub struct Spark;

impl Dialect for Spark {
    fn name(&self) -> &'static str {
        "spark"
    }
    fn string(&self, s: &str) -> String {
        // Spark reads backslash escapes in literals, and '' is two literals.
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
    fn instant(&self, micros: i64) -> String {
        format!("timestamp_micros({micros})")
    }
    fn local_day(&self, ts: &str, tz: &str) -> String {
        format!("to_date(from_utc_timestamp({ts}, {}))", self.string(tz))
    }
    fn micros(&self, ts: &str) -> String {
        format!("unix_micros({ts})")
    }
    fn add_days(&self, d: &str, n: &str) -> String {
        // date_add and add_months take INT; interval indexes are BIGINT.
        format!("date_add({d}, CAST({n} AS INT))")
    }
    fn day_diff(&self, a: &str, b: &str) -> String {
        format!("datediff({b}, {a})")
    }
    fn week_start(&self, d: &str) -> String {
        // dayofweek: Sunday = 1 .. Saturday = 7, so Monday -> 0 days back.
        format!("date_sub({d}, pmod(dayofweek({d}) + 5, 7))")
    }
    fn month_start(&self, d: &str) -> String {
        format!("trunc({d}, 'MM')")
    }
    fn add_months(&self, d: &str, n: &str) -> String {
        format!("add_months({d}, CAST({n} AS INT))")
    }
    fn idiv(&self, a: &str, b: &str) -> String {
        format!("(({a}) div ({b}))")
    }
    fn idiv_wide(&self, a: &str, b: &str) -> String {
        // `div` returns a 64-bit long and `/` rounds at the result's scale, but
        // a division with no remainder is exact: (a - a % b) / b.
        let (a, b) = (format!("CAST({a} AS DECIMAL(38, 0))"), format!("CAST({b} AS DECIMAL(38, 0))"));
        format!("CAST(({a} - {a} % {b}) / {b} AS DECIMAL(38, 0))")
    }
    fn month_label(&self, d: &str) -> String {
        format!("date_format({d}, 'yyyy-MM')")
    }
    fn series(&self, a: &str, b: &str) -> String {
        format!("explode(sequence({a}, {b}))")
    }
    fn sorted_set(&self, x: &str) -> String {
        format!("array_sort(collect_set({x}))")
    }
    fn sorted_list(&self, x: &str) -> String {
        format!("array_sort(collect_list({x}))")
    }
    fn cut_sessions(&self, sorted_us: &str, max_len_us: i64) -> String {
        // A left fold carrying the open session (s, e, n) and the closed ones;
        // the array of closed sessions is copied only when one closes.
        format!(
            "aggregate(slice({a}, 2, size({a})), \
             named_struct('s', {a}[0], 'e', {a}[0], 'n', 1, 'done', cast(array() as array<struct<s:bigint,e:bigint,n:int>>)), \
             (acc, t) -> CASE WHEN t - acc.s > {max_len_us} \
               THEN named_struct('s', t, 'e', t, 'n', 1, 'done', concat(acc.done, array(named_struct('s', acc.s, 'e', acc.e, 'n', acc.n)))) \
               ELSE named_struct('s', acc.s, 'e', t, 'n', acc.n + 1, 'done', acc.done) END, \
             acc -> concat(acc.done, array(named_struct('s', acc.s, 'e', acc.e, 'n', acc.n))))",
            a = sorted_us
        )
    }
    fn inline(&self, array: &str) -> String {
        format!("inline({array})")
    }
}

/// `num / den` rounded half away from zero to an integer (`den` may be
/// negative; the caller guards `den = 0`).
pub fn round_div(d: &dyn Dialect, num: &str, den: &str) -> String {
    let q = d.idiv_wide(&format!("2 * abs({num}) + abs({den})"), &format!("2 * abs({den})"));
    format!("((CASE WHEN ({num} < 0) <> ({den} < 0) THEN -1 ELSE 1 END) * {q})")
}

/// `num / den` as an exact decimal with `scale` decimals, rounded half away
/// from zero (SPEC 2 output conventions); NULL when `den` is 0 (a metric over
/// an empty set).
pub fn fixed(d: &dyn Dialect, num: &str, den: &str, scale: u32) -> String {
    let scaled = format!("({num}) * {}", 10i128.pow(scale));
    format!(
        "CASE WHEN ({den}) = 0 THEN NULL ELSE CAST({} AS DECIMAL(30, 0)) * {} END",
        round_div(d, &scaled, den),
        d.unit(scale)
    )
}

/// A percentage 0-100 with 2 decimals.
pub fn pct(d: &dyn Dialect, part: &str, whole: &str) -> String {
    fixed(d, &format!("({part}) * 100"), whole, 2)
}

/// A ratio 0-1 with 4 decimals.
pub fn ratio(d: &dyn Dialect, part: &str, whole: &str) -> String {
    fixed(d, part, whole, 4)
}

/// Money in ticks as cents with 2 decimals.
pub fn cents(d: &dyn Dialect, ticks: &str) -> String {
    fixed(d, ticks, &TICKS_PER_MINOR.to_string(), 2)
}

/// A statement of a [`Plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    /// A temporary view that later statements read.
    View { name: String, sql: String },
    /// A query whose rows are collected under `name`.
    Result { name: String, sql: String },
}

/// The SQL of one metric group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub group: String,
    pub dialect: &'static str,
    /// Workspace tables (and exported ledger tables) the statements read.
    pub tables: Vec<&'static str>,
    pub statements: Vec<Statement>,
    /// Views read by several statements: worth caching where the engine can.
    pub cached: Vec<&'static str>,
}

impl Plan {
    fn new(d: &dyn Dialect, group: &str, tables: &[&'static str]) -> Plan {
        Plan {
            group: group.to_string(),
            dialect: d.name(),
            tables: tables.to_vec(),
            statements: Vec::new(),
            cached: Vec::new(),
        }
    }
    fn view(&mut self, name: &str, sql: String) {
        self.statements.push(Statement::View { name: name.to_string(), sql });
    }
    fn result(&mut self, name: &str, sql: String) {
        self.statements.push(Statement::Result { name: name.to_string(), sql });
    }

    /// The statements as one SQL script (for `tenure export-sql`): views as
    /// `CREATE OR REPLACE TEMPORARY VIEW`, results as plain queries.
    pub fn script(&self) -> String {
        let mut s = format!(
            "-- tenure metrics {}: {} SQL generated by tenure.\n-- Register these tables first, each from exactly the \
             Parquet files its workspace's manifest.json lists\n-- (never a directory listing), without the `_key` \
             column: {}.\n",
            self.group,
            self.dialect,
            self.tables.join(", ")
        );
        for st in &self.statements {
            match st {
                Statement::View { name, sql } => {
                    let _ = write!(s, "\nCREATE OR REPLACE TEMPORARY VIEW {name} AS\n{sql};\n");
                    if self.cached.contains(&name.as_str()) {
                        let _ = writeln!(s, "CACHE TABLE {name};");
                    }
                }
                Statement::Result { name, sql } => {
                    let _ = write!(s, "\n-- result: {name}\n{sql};\n");
                }
            }
        }
        s
    }
}

/// The Spark SQL type of an Arrow column of the workspace's tables.
pub fn spark_type(dt: &DataType) -> Result<String> {
    Ok(match dt {
        DataType::Utf8 => "STRING".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Timestamp(_, _) => "TIMESTAMP".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        other => return Err(EngineError::Sql(format!("no Spark type for Arrow {other}"))),
    })
}

/// A table's schema as a Spark DDL string (`name TYPE, ...`), without `_key`.
pub fn spark_schema(schema: &Schema) -> Result<String> {
    let cols = schema
        .fields()
        .iter()
        .filter(|f| f.name() != tenure_store::schema::KEY)
        .map(|f| Ok(format!("`{}` {}", f.name(), spark_type(f.data_type())?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(cols.join(", "))
}

/// Write one batch as a Parquet file (derived tables such as the ledger).
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let io = |e: std::io::Error| EngineError::Sql(format!("{}: {e}", path.display()));
    let file = std::fs::File::create(path).map_err(io)?;
    let pq = |e: datafusion::parquet::errors::ParquetError| EngineError::Sql(format!("{}: {e}", path.display()));
    let mut w = ArrowWriter::try_new(file, Arc::clone(&batch.schema()), None).map_err(pq)?;
    w.write(batch).map_err(pq)?;
    w.close().map_err(pq)?;
    Ok(())
}

// ------------------------------------------------------------------ engagement

/// Who is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Actor {
    /// `user_id`, else `anonymous_id`.
    #[default]
    User,
    /// `group_id`.
    Account,
}

/// Which events qualify (SPEC 2.2: default any `track`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum EventFilter {
    #[default]
    AnyTrack,
    AnyEvent,
    /// `track` calls with this name.
    Named(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Interval {
    Day,
    #[default]
    Week,
    Month,
}

/// A range of local days `[from, to)` (`YYYY-MM-DD`; `None`: the data's first
/// day / the day after its last) in an IANA zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayRange {
    pub from: Option<String>,
    pub to: Option<String>,
    pub timezone: String,
}

fn actor_expr(a: Actor) -> &'static str {
    match a {
        Actor::User => "user_actor",
        Actor::Account => "account_actor",
    }
}

fn event_pred(d: &dyn Dialect, f: &EventFilter) -> String {
    match f {
        EventFilter::AnyTrack => "type = 'track'".into(),
        EventFilter::AnyEvent => "TRUE".into(),
        EventFilter::Named(n) => format!("type = 'track' AND event = {}", d.string(n)),
    }
}

/// The views every engagement metric starts from: `ev` (events with their
/// actors, µs and local day) and `bounds` (the range), and the `range` result.
fn event_views(d: &dyn Dialect, plan: &mut Plan, r: &DayRange) {
    plan.view(
        "ev",
        format!(
            "SELECT coalesce(user_id, anonymous_id) AS user_actor, group_id AS account_actor, type, event, \
             {} AS ts_us, {} AS day\nFROM events\nWHERE coalesce(user_id, anonymous_id) IS NOT NULL AND timestamp IS NOT NULL",
            d.micros("timestamp"),
            d.local_day("timestamp", &r.timezone)
        ),
    );
    let lit = |v: &Option<String>| v.as_deref().map_or("CAST(NULL AS DATE)".to_string(), |x| d.date(x));
    plan.view(
        "bounds",
        format!(
            "SELECT from_day, CASE WHEN to_day < from_day THEN from_day ELSE to_day END AS to_day FROM (\n  \
             SELECT coalesce({}, min(day)) AS from_day, coalesce({}, {}) AS to_day FROM ev) b",
            lit(&r.from),
            lit(&r.to),
            d.add_days("max(day)", "1")
        ),
    );
    plan.result("range", "SELECT from_day, to_day FROM bounds".into());
    plan.cached.push("ev");
}

/// DAU, WAU and MAU of every day of the range, and their ratios.
pub fn active_actors(d: &dyn Dialect, r: &DayRange, actor: Actor, active: &EventFilter) -> Plan {
    let mut p = Plan::new(d, "engagement", &["events"]);
    event_views(d, &mut p, r);
    let a = actor_expr(actor);
    p.view(
        "days",
        format!(
            "SELECT {} AS day FROM bounds WHERE to_day > from_day",
            d.series("from_day", &d.add_days("to_day", "-1"))
        ),
    );
    p.view(
        "active",
        format!("SELECT DISTINCT day, {a} AS actor FROM ev WHERE {a} IS NOT NULL AND {}", event_pred(d, active)),
    );
    p.view(
        "counts",
        format!(
            "SELECT x.day,\n  count(DISTINCT CASE WHEN a.day = x.day THEN a.actor END) AS dau,\n  \
             count(DISTINCT CASE WHEN a.day > {} THEN a.actor END) AS wau,\n  count(DISTINCT a.actor) AS mau\n\
             FROM days x LEFT JOIN active a ON a.day <= x.day AND a.day > {}\nGROUP BY x.day",
            d.add_days("x.day", "-7"),
            d.add_days("x.day", "-30")
        ),
    );
    p.result(
        "days",
        format!(
            "SELECT day AS date, dau, wau, mau, {} AS dau_mau_ratio, {} AS wau_mau_ratio FROM counts ORDER BY day",
            ratio(d, "dau", "mau"),
            ratio(d, "wau", "mau")
        ),
    );
    p
}

/// Session rules (SPEC 2.2): split where the gap is strictly greater than
/// the timeout; cut an event more than the maximum length after its session's
/// first event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRules {
    pub timeout_seconds: i64,
    pub max_length_seconds: i64,
}

/// Session count, average duration, total time and single-event sessions of
/// all users' events whose local day is in the range (all event types).
pub fn sessions(d: &dyn Dialect, r: &DayRange, rules: SessionRules) -> Plan {
    let mut p = Plan::new(d, "sessions", &["events"]);
    event_views(d, &mut p, r);
    let timeout_us = rules.timeout_seconds * 1_000_000;
    p.view(
        "gaps",
        "SELECT user_actor AS u, ts_us, ts_us - lag(ts_us) OVER (PARTITION BY user_actor ORDER BY ts_us) AS gap\n\
             FROM ev, bounds WHERE ev.day >= bounds.from_day AND ev.day < bounds.to_day"
            .into(),
    );
    // Bursts: runs of events with no gap above the timeout (every gap split
    // starts a session); the maximum length then cuts inside a burst.
    p.view(
        "bursts",
        format!(
            "SELECT u, ts_us, sum(CASE WHEN gap IS NULL OR gap > {timeout_us} THEN 1 ELSE 0 END) \
             OVER (PARTITION BY u ORDER BY ts_us ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS burst FROM gaps"
        ),
    );
    p.view(
        "session_rows",
        format!(
            "SELECT u, {} FROM (SELECT u, burst, {} AS cut FROM (\n  \
             SELECT u, burst, {} AS tss FROM bursts GROUP BY u, burst) b) c",
            d.inline("cut"),
            d.cut_sessions("tss", rules.max_length_seconds * 1_000_000),
            d.sorted_list("ts_us")
        ),
    );
    p.result(
        "summary",
        format!(
            "SELECT count(*) AS session_count, {} AS average_session_duration_seconds, \
             coalesce({}, 0) AS total_time_seconds, coalesce(sum(CASE WHEN n = 1 THEN 1 ELSE 0 END), 0) AS single_event_sessions\n\
             FROM session_rows",
            fixed(d, "coalesce(sum(e - s), 0)", "count(*) * 1000000", 2),
            round_div(d, "sum(e - s)", "1000000")
        ),
    );
    p
}

/// First-time or recurring retention (SPEC 2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionQuery {
    pub actor: Actor,
    pub interval: Interval,
    pub recurring: bool,
    pub start_event: EventFilter,
    pub return_event: EventFilter,
}

/// Retention table: one row per cohort (date, size, sorted actors), one per
/// cell (cohort, offset, retained, %), and the mean rows per offset.
pub fn retention(d: &dyn Dialect, r: &DayRange, q: &RetentionQuery) -> Plan {
    let mut p = Plan::new(d, "retention", &["events"]);
    event_views(d, &mut p, r);
    let a = actor_expr(q.actor);
    // The interval index of a day, counted from the range's first interval.
    let index = |day: &str| match q.interval {
        Interval::Day => d.day_diff("bounds.from_day", day),
        Interval::Week => d.idiv(&d.day_diff(&d.week_start("bounds.from_day"), &d.week_start(day)), "7"),
        Interval::Month => {
            format!("((year({day}) * 12 + month({day})) - (year(bounds.from_day) * 12 + month(bounds.from_day)))")
        }
    };
    let interval_start = |i: &str| match q.interval {
        Interval::Day => d.add_days("bounds.from_day", i),
        Interval::Week => {
            format!("greatest(bounds.from_day, {})", d.add_days(&d.week_start("bounds.from_day"), &format!("7 * {i}")))
        }
        Interval::Month => {
            format!("greatest(bounds.from_day, {})", d.add_months(&d.month_start("bounds.from_day"), i))
        }
    };
    let in_range = "day >= bounds.from_day AND day < bounds.to_day";
    p.view(
        "intervals",
        format!(
            "SELECT {} AS i FROM bounds WHERE to_day > from_day",
            d.series("0", &index(&d.add_days("bounds.to_day", "-1")))
        ),
    );
    p.view(
        "n_intervals",
        format!(
            "SELECT CASE WHEN to_day > from_day THEN {} + 1 ELSE 0 END AS n FROM bounds",
            index(&d.add_days("bounds.to_day", "-1"))
        ),
    );
    let start = event_pred(d, &q.start_event);
    let members = if q.recurring {
        format!(
            "SELECT DISTINCT {a} AS actor, {} AS i FROM ev, bounds WHERE {a} IS NOT NULL AND {start} AND {in_range}",
            index("day")
        )
    } else {
        // First-time: the cohort of the actor's first-ever start event, over
        // all history; an actor whose first one is before the range is in none.
        format!(
            "SELECT actor, {} AS i FROM (SELECT {a} AS actor, min(day) AS day FROM ev WHERE {a} IS NOT NULL AND {start} GROUP BY {a}) f, bounds\n\
             WHERE {in_range}",
            index("day")
        )
    };
    p.view("members", members);
    p.view(
        "returns",
        format!(
            "SELECT DISTINCT {a} AS actor, {} AS k FROM ev, bounds WHERE {a} IS NOT NULL AND {} AND {in_range}",
            index("day"),
            event_pred(d, &q.return_event)
        ),
    );
    p.view(
        "cohorts",
        format!(
            "SELECT iv.i, {} AS cohort_date, count(m.actor) AS cohort_size, {} AS cohort_users\n\
             FROM intervals iv CROSS JOIN bounds LEFT JOIN members m ON m.i = iv.i GROUP BY iv.i, bounds.from_day",
            interval_start("iv.i"),
            d.sorted_set("m.actor")
        ),
    );
    p.view(
        "returned",
        "SELECT m.i, r.k - m.i AS k, count(*) AS retained FROM members m JOIN returns r ON r.actor = m.actor AND r.k > m.i \
         GROUP BY m.i, r.k - m.i"
            .into(),
    );
    // Cell k of cohort i exists for k < n - i; cell 0 is the cohort size.
    p.view(
        "cells",
        "SELECT c.i, o.i AS k, c.cohort_size, CASE WHEN o.i = 0 THEN c.cohort_size ELSE coalesce(r.retained, 0) END AS retained\n\
         FROM cohorts c CROSS JOIN n_intervals JOIN intervals o ON o.i < n_intervals.n - c.i\n\
         LEFT JOIN returned r ON r.i = c.i AND r.k = o.i"
            .into(),
    );
    p.result("cohorts", "SELECT i, cohort_date, cohort_size, cohort_users FROM cohorts ORDER BY i".into());
    p.result(
        "cells",
        format!(
            "SELECT i, k, retained, {} AS retained_pct FROM cells ORDER BY i, k",
            pct(d, "retained", "cohort_size")
        ),
    );
    // Means over non-empty cohorts whose row reaches k. The simple mean of the
    // percentages is exact to 18 decimals before rounding (DECIMAL(38, 18)).
    p.result(
        "means",
        format!(
            "SELECT k, {} AS weighted, CASE WHEN count(*) = 0 THEN NULL ELSE \
             round(sum(CAST(retained AS DECIMAL(38, 18)) / cohort_size) * 100 / count(*), 2) END AS simple\n\
             FROM cells WHERE cohort_size > 0 GROUP BY k ORDER BY k",
            pct(d, "sum(retained)", "sum(cohort_size)")
        ),
    );
    p
}

// ------------------------------------------------------------------ voice

/// Which survey responses: a type, optionally one survey, and a period of
/// `coalesce(submitted_at, sent_at)` as µs `[from, to)` (rows with neither
/// count only when no period is given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SurveyQuery {
    pub survey_type: String,
    pub survey: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub timezone: String,
}

/// `resp`: the selected rows with their class (SPEC 2.3 via voice.rs:
/// rejected, valid with the score rounded half away from zero, skipped,
/// unanswered) and weight; `grp`: overall ('') and per survey.
fn survey_views(d: &dyn Dialect, p: &mut Plan, q: &SurveyQuery) {
    let at = "coalesce(submitted_at, sent_at)";
    let mut filter = vec![format!("survey_type = {}", d.string(&q.survey_type))];
    if let Some(s) = &q.survey {
        filter.push(format!("survey_id = {}", d.string(s)));
    }
    if let Some(f) = q.from_us {
        filter.push(format!("{at} >= {}", d.instant(f)));
    }
    if let Some(t) = q.to_us {
        filter.push(format!("{at} < {}", d.instant(t)));
    }
    p.view(
        "resp",
        format!(
            "SELECT survey_id, scale_min, scale_max, sent_at, submitted_at, greatest(count, 1) AS w,\n  \
             CASE WHEN score IS NOT NULL AND rejected_reason IS NOT NULL THEN 'rejected' WHEN score IS NOT NULL THEN 'valid' \
             WHEN submitted_at IS NOT NULL THEN 'skipped' ELSE 'unanswered' END AS class,\n  \
             CAST(round(score, 0) AS BIGINT) AS s\nFROM survey_responses WHERE {}",
            filter.join(" AND ")
        ),
    );
    p.view("grp", "SELECT '' AS g, * FROM resp UNION ALL SELECT survey_id AS g, * FROM resp".into());
    p.view("groups", "SELECT '' AS g UNION SELECT DISTINCT survey_id AS g FROM resp".into());
    p.cached.push("resp");
}

/// NPS, overall, per survey and per month of `submitted_at`.
pub fn nps(d: &dyn Dialect, q: &SurveyQuery, detractor_max: i64, z: Option<f64>) -> Plan {
    let mut p = Plan::new(d, "nps", &["survey_responses"]);
    survey_views(d, &mut p, q);
    let counts = |key: &str, from: &str| {
        format!(
            "SELECT {key},\n  \
             coalesce(sum(CASE WHEN class = 'valid' AND s >= 9 THEN w END), 0) AS promoters,\n  \
             coalesce(sum(CASE WHEN class = 'valid' AND s < 9 AND s > {detractor_max} THEN w END), 0) AS passives,\n  \
             coalesce(sum(CASE WHEN class = 'valid' AND s <= {detractor_max} THEN w END), 0) AS detractors,\n  \
             coalesce(sum(CASE WHEN class = 'skipped' THEN w END), 0) AS skipped,\n  \
             coalesce(sum(CASE WHEN class = 'rejected' THEN w END), 0) AS rejected\n{from}"
        )
    };
    p.view("nps_counts", counts("groups.g", "FROM groups LEFT JOIN grp ON grp.g = groups.g GROUP BY groups.g"));
    p.view(
        "nps_month_counts",
        counts(
            &format!("{} AS month", d.month_label(&d.local_day("submitted_at", &q.timezone))),
            "FROM resp WHERE submitted_at IS NOT NULL GROUP BY 1",
        ),
    );
    // The embedded engine's doubles, operation for operation (IEEE results are
    // the same in Rust and on the JVM): p and d as proportions, the SE from
    // them, NPS as 100 x (p - d).
    let figures = |key: &str, src: &str| {
        let n = "(promoters + passives + detractors)";
        let (pf, df) = (format!("(CAST(promoters AS DOUBLE) / {n})"), format!("(CAST(detractors AS DOUBLE) / {n})"));
        let se =
            format!("100D * sqrt(greatest(({pf} + {df}) - ({pf} - {df}) * ({pf} - {df}), 0D) / CAST({n} AS DOUBLE))");
        let npsf = format!("100D * ({pf} - {df})");
        let zs = z.map_or("CAST(NULL AS DOUBLE)".to_string(), |z| format!("{z:?}D"));
        format!(
            "SELECT {key}, {n} AS n, promoters, passives, detractors, {pp} AS promoters_pct, {pa} AS passives_pct, \
             {dp} AS detractors_pct,\n  {nps} AS nps, CASE WHEN {n} > 0 THEN {se} END AS se_exact, \
             CASE WHEN {n} > 0 THEN {npsf} END AS nps_exact, {zs} AS z, {n} < 30 AS low_sample, skipped, rejected\nFROM {src}",
            pp = pct(d, "promoters", n),
            pa = pct(d, "passives", n),
            dp = pct(d, "detractors", n),
            nps = pct(d, "promoters - detractors", n),
        )
    };
    // The margin and interval from those doubles, as the embedded engine:
    // m = z x SE, NPS -+ m.
    let interval = |src: &str| {
        format!(
            "SELECT *, z * se_exact AS moe_exact, nps_exact - z * se_exact AS ci_low_exact, \
             nps_exact + z * se_exact AS ci_high_exact FROM ({src}) f"
        )
    };
    p.result("groups", format!("{} ORDER BY g", interval(&figures("g", "nps_counts"))));
    p.view("nps_months", interval(&figures("month", "nps_month_counts")));
    // The change from the previous month with data: b - a, SE sqrt(SEa^2 + SEb^2), z.
    p.view(
        "nps_month_pairs",
        "SELECT *, lag(nps_exact) OVER (ORDER BY month) AS prev_nps_exact, lag(se_exact) OVER (ORDER BY month) AS prev_se_exact \
         FROM nps_months"
            .into(),
    );
    p.view(
        "nps_month_changes",
        "SELECT *, nps_exact - prev_nps_exact AS change_exact, \
         sqrt(prev_se_exact * prev_se_exact + se_exact * se_exact) AS change_se_exact FROM nps_month_pairs"
            .into(),
    );
    p.result(
        "months",
        "SELECT *, CASE WHEN change_z_exact IS NULL OR z IS NULL THEN NULL ELSE abs(change_z_exact) > z END AS change_significant \
         FROM (SELECT *, CASE WHEN change_se_exact > 0 THEN change_exact / change_se_exact END AS change_z_exact \
         FROM nps_month_changes) c ORDER BY month"
            .into(),
    );
    p
}

/// CSAT, overall and per survey: counts, distribution and response rate.
pub fn csat(d: &dyn Dialect, q: &SurveyQuery) -> Plan {
    let mut p = Plan::new(d, "csat", &["survey_responses"]);
    survey_views(d, &mut p, q);
    // A group's scale: its one (scale_min, scale_max), 1-5 when it has no
    // rows; `scales` > 1 is an error the caller reports like the embedded one.
    p.view(
        "scales",
        "SELECT groups.g, count(DISTINCT grp.scale_min, grp.scale_max) AS scales, \
         array_sort(collect_set(named_struct('min', grp.scale_min, 'max', grp.scale_max))) AS scale_list, coalesce(min(grp.scale_min), 1) AS scale_min, \
         coalesce(min(grp.scale_max), 5) AS scale_max,\n  \
         coalesce(sum(CASE WHEN class = 'valid' THEN w END), 0) AS n, coalesce(sum(CASE WHEN class = 'valid' THEN s * w END), 0) AS total,\n  \
         coalesce(sum(CASE WHEN class = 'skipped' THEN w END), 0) AS skipped, coalesce(sum(CASE WHEN class = 'rejected' THEN w END), 0) AS rejected,\n  \
         coalesce(sum(CASE WHEN sent_at IS NOT NULL THEN w END), 0) AS sent,\n  \
         coalesce(sum(CASE WHEN sent_at IS NOT NULL AND submitted_at IS NOT NULL THEN w END), 0) AS answered\n\
         FROM groups LEFT JOIN grp ON grp.g = groups.g GROUP BY groups.g"
            .into(),
    );
    p.view(
        "thresholds",
        "SELECT *, CASE WHEN scale_max - scale_min + 1 <= 3 THEN scale_max ELSE scale_max - 1 END AS top_box_threshold FROM scales"
            .into(),
    );
    p.view("points", format!("SELECT g, {} AS point FROM thresholds", d.series("scale_min", "scale_max")));
    p.view(
        "dist",
        "SELECT pt.g, pt.point, coalesce(sum(grp.w), 0) AS c FROM points pt LEFT JOIN grp ON grp.g = pt.g AND grp.class = 'valid' \
         AND grp.s = pt.point GROUP BY pt.g, pt.point"
            .into(),
    );
    p.result(
        "groups",
        format!(
            "SELECT t.g, t.scales, t.scale_list, t.n, coalesce(sum(CASE WHEN dist.point >= t.top_box_threshold THEN dist.c END), 0) AS satisfied, \
             {} AS csat_pct, {} AS average, t.scale_min, t.scale_max, t.top_box_threshold, {} AS response_rate_pct, t.skipped, t.rejected\n\
             FROM thresholds t LEFT JOIN dist ON dist.g = t.g\n\
             GROUP BY t.g, t.scales, t.scale_list, t.n, t.total, t.scale_min, t.scale_max, t.top_box_threshold, t.sent, t.answered, t.skipped, t.rejected\n\
             ORDER BY t.g",
            pct(d, "coalesce(sum(CASE WHEN dist.point >= t.top_box_threshold THEN dist.c END), 0)", "t.n"),
            fixed(d, "t.total", "t.n", 2),
            pct(d, "t.answered", "t.sent"),
        ),
    );
    p.result(
        "distribution",
        format!(
            "SELECT dist.g, dist.point, dist.c, {} AS pct FROM dist JOIN thresholds t ON t.g = dist.g ORDER BY dist.g, dist.point",
            pct(d, "dist.c", "t.n")
        ),
    );
    p
}

// ------------------------------------------------------------------ revenue

/// The month figures of revenue (SPEC 2.1) over the ledger tables Tenure
/// builds per customer (docs/architecture.md, "Scale-out"); every money
/// column is `DECIMAL(38, 0)` ticks in the reporting currency, and `segment`
/// is the customer's value of the `--segment` attribute (NULL without one):
/// - `ledger_customers(customer_id, segment)`: every customer of the ledger;
/// - `ledger_month_ends(customer_id, segment, month, subscriber, past_due,
///   live_subscriptions, mrr_ticks)`: the state at each month-end from twelve
///   months before `from` (trailing windows) to `to`, MRR at that month's rate;
/// - `ledger_movements(customer_id, segment, month, kind, amount_ticks,
///   first_new_business)`: the netted daily movements at their month's rate;
/// - `ledger_renewals(segment, month, outcome, before_ticks, after_ticks)`,
///   `ledger_trials(segment, month, converted)`, `ledger_refunds(segment,
///   month, amount_ticks)`: terms due, trial starts (once per customer and
///   month) and successful refunds of the months `from..=to`;
/// - `ledger_spend(category, month, amount_ticks)`: costs at their month's rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevenueQuery {
    /// First and last month, as first days `YYYY-MM-01`.
    pub from: String,
    pub to: String,
    /// `gross_margin` as an exact decimal `mantissa / 10^scale` (unset: 1).
    pub gross_margin: (i128, u32),
    /// CAC of M uses the sales & marketing spend of M - lag.
    pub cac_spend_lag_months: u32,
    /// Also cut every figure by the tables' `segment` (CAC, its payback and
    /// the retention cost stay overall: spend is not split by segment).
    pub segmented: bool,
}

/// Rows of a ledger table under each group `g` they count in: `*` (all
/// customers) and, when cut by an attribute, `s:` + the customer's value.
fn fan_out(table: &str, segmented: bool) -> String {
    let all = format!("SELECT '*' AS g, t.* FROM {table} t");
    if segmented {
        format!("{all} UNION ALL SELECT concat('s:', t.segment) AS g, t.* FROM {table} t WHERE t.segment IS NOT NULL")
    } else {
        all
    }
}

/// Revenue's month figures and cohorts, overall and per segment.
pub fn revenue(d: &dyn Dialect, q: &RevenueQuery) -> Plan {
    let mut p = Plan::new(
        d,
        "revenue",
        &[
            "ledger_customers",
            "ledger_month_ends",
            "ledger_movements",
            "ledger_renewals",
            "ledger_trials",
            "ledger_refunds",
            "ledger_spend",
        ],
    );
    let (from, to) = (d.date(&q.from), d.date(&q.to));
    let span = format!("(year({to}) * 12 + month({to})) - (year({from}) * 12 + month({from}))");
    p.view(
        "groups",
        if q.segmented {
            "SELECT '*' AS g UNION SELECT DISTINCT concat('s:', segment) AS g FROM ledger_customers WHERE segment IS NOT NULL"
                .into()
        } else {
            "SELECT '*' AS g".into()
        },
    );
    // Twelve months before `from` (the start of trailing windows) to `to`.
    p.view(
        "all_months",
        format!("SELECT {} AS month FROM (SELECT {} AS k) x", d.add_months(&from, "k"), d.series("-12", &span)),
    );
    p.view("gm", "SELECT groups.g, all_months.month FROM groups CROSS JOIN all_months".into());
    p.view("ends_g", fan_out("ledger_month_ends", q.segmented));
    p.view(
        "mv_g",
        format!(
            "SELECT * FROM ({}) v WHERE v.month > {} AND v.month <= {to}",
            fan_out("ledger_movements", q.segmented),
            d.add_months(&from, "-12")
        ),
    );
    p.cached.extend(["ends_g", "mv_g"]);
    // Month-end totals: every customer state counts its MRR, past-due and
    // live subscriptions; subscribers are the states that are subscribers.
    p.view(
        "ends",
        "SELECT gm.g, gm.month, coalesce(sum(e.mrr_ticks), 0) AS mrr, coalesce(sum(CASE WHEN e.subscriber THEN 1 ELSE 0 END), 0) AS subscribers, \
         coalesce(sum(CASE WHEN e.past_due THEN 1 ELSE 0 END), 0) AS past_due, coalesce(sum(e.live_subscriptions), 0) AS active_subscriptions\n\
         FROM gm LEFT JOIN ends_g e ON e.g = gm.g AND e.month = gm.month GROUP BY gm.g, gm.month"
            .into(),
    );
    // A movement is "of a starting subscriber" when its customer was a
    // subscriber at the end of the month before (NRR/GRR).
    p.view(
        "mv_start",
        format!(
            "SELECT v.*, s.customer_id IS NOT NULL AS of_start FROM mv_g v LEFT JOIN ends_g s ON s.g = v.g AND s.customer_id = v.customer_id \
             AND s.subscriber AND s.month = {}",
            d.add_months("v.month", "-1")
        ),
    );
    let kinds = ["new_business", "expansion", "contraction", "churn", "reactivation"];
    let mut sums: Vec<String> = kinds
        .iter()
        .map(|k| format!("coalesce(sum(CASE WHEN v.kind = '{k}' THEN v.amount_ticks END), 0) AS {k}"))
        .collect();
    sums.extend(["expansion", "contraction", "churn"].iter().map(|k| {
        format!("coalesce(sum(CASE WHEN v.kind = '{k}' AND v.of_start THEN v.amount_ticks END), 0) AS start_{k}")
    }));
    p.view(
        "moves",
        format!(
            "SELECT gm.g, gm.month, {}\nFROM gm LEFT JOIN mv_start v ON v.g = gm.g AND v.month = gm.month GROUP BY gm.g, gm.month",
            sums.join(",\n  ")
        ),
    );
    // Customers are counted once per month and movement kind.
    p.view(
        "customer_months",
        "SELECT g, month, customer_id, max(CASE WHEN kind = 'new_business' THEN 1 ELSE 0 END) AS is_new, \
         max(CASE WHEN kind = 'reactivation' THEN 1 ELSE 0 END) AS is_reactivated, max(CASE WHEN kind = 'churn' THEN 1 ELSE 0 END) AS is_churned\n\
         FROM mv_g GROUP BY g, month, customer_id"
            .into(),
    );
    p.view(
        "customers_moved",
        "SELECT gm.g, gm.month, coalesce(sum(c.is_new), 0) AS new_customers, coalesce(sum(c.is_reactivated), 0) AS reactivated_customers, \
         coalesce(sum(c.is_churned), 0) AS churned_customers, coalesce(sum(CASE WHEN c.is_churned = 1 AND c.is_new = 0 THEN 1 ELSE 0 END), 0) AS churned_for_rate\n\
         FROM gm LEFT JOIN customer_months c ON c.g = gm.g AND c.month = gm.month GROUP BY gm.g, gm.month"
            .into(),
    );
    // Subscribers at the start and at the end of the month (retention cost).
    p.view(
        "retained",
        format!(
            "SELECT e.g, e.month, count(*) AS retained FROM ends_g e JOIN ends_g s ON s.g = e.g AND s.customer_id = e.customer_id \
             AND s.month = {} WHERE e.subscriber AND s.subscriber GROUP BY e.g, e.month",
            d.add_months("e.month", "-1")
        ),
    );
    // Trailing twelve months: the subscribers at the end of M - 12, their MRR
    // then, and their own expansion, contraction and churn over M - 11..=M.
    p.view(
        "t12_base",
        format!(
            "SELECT g, customer_id, month AS base_month, {} AS month, mrr_ticks FROM ends_g WHERE subscriber AND month <= {}",
            d.add_months("month", "12"),
            d.add_months(&to, "-12")
        ),
    );
    p.view(
        "t12",
        "SELECT b.g, b.month, sum(b.mrr_ticks) AS start_mrr, coalesce(sum(f.expansion), 0) AS expansion, coalesce(sum(f.losses), 0) AS losses FROM t12_base b \
         LEFT JOIN (SELECT b.g, b.customer_id, b.month, coalesce(sum(CASE WHEN v.kind = 'expansion' THEN v.amount_ticks END), 0) AS expansion, \
         coalesce(sum(CASE WHEN v.kind IN ('contraction', 'churn') THEN v.amount_ticks END), 0) AS losses \
         FROM t12_base b JOIN mv_g v ON v.g = b.g AND v.customer_id = b.customer_id AND v.month > b.base_month AND v.month <= b.month \
         GROUP BY b.g, b.customer_id, b.month) f ON f.g = b.g AND f.customer_id = b.customer_id AND f.month = b.month GROUP BY b.g, b.month"
            .into(),
    );
    let per_month = |name: &str, table: &str, cols: &str| {
        format!(
            "SELECT gm.g, gm.month, {cols}\nFROM gm LEFT JOIN ({}) {name} ON {name}.g = gm.g AND {name}.month = gm.month GROUP BY gm.g, gm.month",
            fan_out(table, q.segmented)
        )
    };
    p.view(
        "renewals",
        per_month(
            "r",
            "ledger_renewals",
            "count(r.month) AS due, coalesce(sum(CASE WHEN r.outcome = 'renewed' THEN 1 ELSE 0 END), 0) AS renewed, \
             coalesce(sum(CASE WHEN r.outcome = 'lapsed' THEN 1 ELSE 0 END), 0) AS lapsed, \
             coalesce(sum(CASE WHEN r.outcome = 'cancelled' THEN 1 ELSE 0 END), 0) AS cancelled, coalesce(sum(r.before_ticks), 0) AS before, \
             coalesce(sum(r.after_ticks), 0) AS after, coalesce(sum(least(r.after_ticks, r.before_ticks)), 0) AS kept",
        ),
    );
    p.view(
        "trials",
        per_month(
            "t",
            "ledger_trials",
            "count(t.month) AS started, coalesce(sum(CASE WHEN t.converted THEN 1 ELSE 0 END), 0) AS converted",
        ),
    );
    p.view("refunds", per_month("f", "ledger_refunds", "coalesce(sum(f.amount_ticks), 0) AS refunds"));
    p.view(
        "spend",
        "SELECT month, coalesce(sum(CASE WHEN category = 'sales_marketing' THEN amount_ticks END), 0) AS sales_marketing, \
         coalesce(sum(CASE WHEN category = 'customer_success' THEN amount_ticks END), 0) AS customer_success FROM ledger_spend GROUP BY month"
            .into(),
    );

    // The month figures in three layers, so that every amount is computed
    // once and each exact division reads columns (not nested expressions).
    // 1. The inputs of each month, side by side.
    let on = |alias: &str| format!("{alias}.g = gm.g AND {alias}.month = gm.month");
    p.view(
        "month_inputs",
        format!(
            "SELECT gm.g, gm.month, e.mrr, e.subscribers, e.active_subscriptions, e.past_due, s.mrr AS start_mrr, \
             s.subscribers AS start_subscribers,\n  v.new_business, v.expansion, v.contraction, v.churn, v.reactivation, \
             v.start_expansion, v.start_contraction, v.start_churn,\n  c.new_customers, c.reactivated_customers, \
             c.churned_customers, c.churned_for_rate, coalesce(rt.retained, 0) AS retained,\n  \
             coalesce(t12.start_mrr, 0) AS t12_start_mrr, coalesce(t12.expansion, 0) AS t12_expansion, \
             coalesce(t12.losses, 0) AS t12_losses,\n  r.due, r.renewed, r.lapsed, r.cancelled, r.before, r.after, r.kept, \
             t.started, t.converted, f.refunds,\n  coalesce(sm.sales_marketing, 0) AS sales_marketing, \
             coalesce(cs.customer_success, 0) AS customer_success\n\
             FROM gm JOIN ends e ON {} JOIN ends s ON s.g = gm.g AND s.month = {}\n\
             JOIN moves v ON {} JOIN customers_moved c ON {} JOIN renewals r ON {} JOIN trials t ON {} JOIN refunds f ON {}\n\
             LEFT JOIN t12 ON {} LEFT JOIN retained rt ON {}\n\
             LEFT JOIN spend sm ON sm.month = {} LEFT JOIN spend cs ON cs.month = gm.month\n\
             WHERE gm.month >= {from}",
            on("e"),
            d.add_months("gm.month", "-1"),
            on("v"),
            on("c"),
            on("r"),
            on("t"),
            on("f"),
            on("t12"),
            on("rt"),
            d.add_months("gm.month", &format!("-{}", q.cac_spend_lag_months)),
        ),
    );
    // 2. Amounts divided per customer, in ticks: ARPA, LTV (ARPA / customer
    // churn rate = MRR x start subscribers / (subscribers x churned)), CAC,
    // New Business ARPA, retention cost. CAC and retention cost are overall
    // only (spend is not split by segment).
    let when = |cond: &str, x: String| format!("CASE WHEN {cond} THEN {x} END");
    p.view(
        "month_ticks",
        format!(
            "SELECT *, {} AS arpa, {} AS ltv, {} AS cac, {} AS nb_arpa, {} AS retention_cost FROM month_inputs",
            when("subscribers > 0", round_div(d, "mrr", "subscribers")),
            when(
                "subscribers > 0 AND churned_for_rate > 0",
                round_div(d, "mrr * start_subscribers", "subscribers * churned_for_rate")
            ),
            when("g = '*' AND new_customers > 0", round_div(d, "sales_marketing", "new_customers")),
            when("new_customers > 0", round_div(d, "new_business", "new_customers")),
            when("g = '*' AND retained > 0", round_div(d, "customer_success", "retained")),
        ),
    );
    // 3. Times the gross margin (an exact decimal), rounded at the tick.
    let (gm_num, gm_scale) = (q.gross_margin.0.to_string(), 10i128.pow(q.gross_margin.1).to_string());
    p.view(
        "month_margins",
        format!(
            "SELECT *, {} AS ltv_margin, {} AS nb_arpa_margin FROM month_ticks",
            round_div(d, &format!("ltv * {gm_num}"), &gm_scale),
            round_div(d, &format!("nb_arpa * {gm_num}"), &gm_scale)
        ),
    );
    p.cached.extend(["month_ticks", "month_margins"]);
    let net_new = "(new_business + expansion + contraction + churn + reactivation)";
    let losses = "-(contraction + churn)";
    let mut cols = vec![
        "g".to_string(),
        format!("{} AS month", d.month_label("month")),
        format!("{} AS mrr_cents", cents(d, "mrr")),
        format!("{} AS arr_cents", cents(d, "mrr * 12")),
        format!("{} AS arpa_cents", cents(d, "arpa")),
        format!("{} AS net_new_mrr_cents", cents(d, net_new)),
        format!("{} AS fx_impact_cents", cents(d, &format!("mrr - start_mrr - {net_new}"))),
        format!("{} AS refunds_cents", cents(d, "refunds")),
        "subscribers".into(),
        "start_subscribers AS subscribers_start".into(),
        "active_subscriptions".into(),
        "past_due AS past_due_subscribers".into(),
        "new_customers AS new_business_customers".into(),
        "reactivated_customers".into(),
        "churned_customers".into(),
        "started AS trials_started".into(),
    ];
    cols.extend(kinds.iter().map(|k| format!("{} AS movement_{k}", cents(d, k))));
    cols.extend([
        format!("{} AS customer_churn_rate", ratio(d, "churned_for_rate", "start_subscribers")),
        format!("{} AS gross_mrr_churn_rate", ratio(d, "-(churn + contraction)", "start_mrr")),
        format!("{} AS net_mrr_churn_rate", ratio(d, "-(churn + contraction + expansion + reactivation)", "start_mrr")),
        format!("{} AS nrr", ratio(d, "start_mrr + start_expansion + start_contraction + start_churn", "start_mrr")),
        format!("{} AS grr", ratio(d, "start_mrr + start_contraction + start_churn", "start_mrr")),
        format!("{} AS nrr_trailing_12m", ratio(d, "t12_start_mrr + t12_expansion + t12_losses", "t12_start_mrr")),
        format!("{} AS grr_trailing_12m", ratio(d, "t12_start_mrr + t12_losses", "t12_start_mrr")),
        format!("{} AS quick_ratio", ratio(d, "new_business + expansion", losses)),
        format!("{} AS quick_ratio_incl_reactivation", ratio(d, "new_business + expansion + reactivation", losses)),
        format!("{} AS ltv_simple_cents", cents(d, "ltv")),
        format!("{} AS ltv_gross_margin_cents", cents(d, "ltv_margin")),
        format!("{} AS cac_cents", cents(d, "cac")),
        format!("{} AS new_business_arpa_cents", cents(d, "nb_arpa")),
        format!("{} AS cac_payback_months", fixed(d, "cac", "nb_arpa_margin", 2)),
        format!("{} AS retention_cost_cents", cents(d, "retention_cost")),
        format!(
            "{} AS customer_retention_rate",
            ratio(d, "subscribers - (new_customers + reactivated_customers)", "start_subscribers")
        ),
        "due AS renewals_due".into(),
        "renewed AS renewals_renewed".into(),
        "lapsed AS renewals_lapsed".into(),
        "cancelled AS renewals_cancelled".into(),
        format!("{} AS renewal_rate", ratio(d, "renewed", "due")),
        format!("{} AS gross_mrr_renewal_rate", ratio(d, "kept", "before")),
        format!("{} AS net_mrr_renewal_rate", ratio(d, "after", "before")),
        format!("{} AS trial_to_paid_conversion_rate", ratio(d, "converted", "started")),
    ]);
    p.result("months", format!("SELECT {}\nFROM month_margins ORDER BY g, month", cols.join(",\n  ")));
    // Cohorts: customers by the month of their first New Business in
    // `from..=to`, followed at every month-end from then to `to`.
    p.view(
        "cohort_members",
        format!(
            "SELECT g, customer_id, month AS cohort, amount_ticks FROM ({}) v WHERE first_new_business AND month >= {from} AND month <= {to}",
            fan_out("ledger_movements", q.segmented)
        ),
    );
    p.result(
        "cohorts",
        format!(
            "SELECT g, {} AS cohort, count(*) AS size, {} AS cohort_value_cents FROM cohort_members GROUP BY g, cohort ORDER BY g, cohort",
            d.month_label("cohort"),
            cents(d, "sum(amount_ticks)")
        ),
    );
    p.result(
        "cohort_cells",
        format!(
            "SELECT x.g, {} AS cohort, x.k, {} AS customer_retention, {} AS net_mrr_retention FROM (\n  \
             SELECT c.g, c.cohort, {} AS k, count(*) AS size, sum(c.amount_ticks) AS value, \
             sum(CASE WHEN e.subscriber THEN 1 ELSE 0 END) AS retained, coalesce(sum(e.mrr_ticks), 0) AS mrr\n  \
             FROM cohort_members c JOIN all_months m ON m.month >= c.cohort AND m.month <= {to}\n  \
             LEFT JOIN ends_g e ON e.g = c.g AND e.customer_id = c.customer_id AND e.month = m.month GROUP BY c.g, c.cohort, m.month) x\n\
             ORDER BY x.g, x.cohort, x.k",
            d.month_label("x.cohort"),
            ratio(d, "x.retained", "x.size"),
            ratio(d, "x.mrr", "x.value"),
            "(year(m.month) * 12 + month(m.month)) - (year(c.cohort) * 12 + month(c.cohort))",
        ),
    );
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_for_spark() {
        assert_eq!(Spark.string("it's a \\ test"), r"'it\'s a \\ test'");
        assert_eq!(Spark.unit(2), "0.01");
        assert_eq!(Spark.unit(4), "0.0001");
        assert_eq!(Spark.unit(0), "1");
    }

    #[test]
    fn plans_name_their_tables_and_results() {
        let r = DayRange { from: Some("2024-01-01".into()), to: None, timezone: "Europe/Paris".into() };
        let p = active_actors(&Spark, &r, Actor::Account, &EventFilter::Named("login".into()));
        assert_eq!(p.tables, vec!["events"]);
        let results: Vec<&str> = p
            .statements
            .iter()
            .filter_map(|s| match s {
                Statement::Result { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(results, vec!["range", "days"]);
        let script = p.script();
        assert!(script.contains("CREATE OR REPLACE TEMPORARY VIEW active AS"), "{script}");
        assert!(script.contains("from_utc_timestamp(timestamp, 'Europe/Paris')"));
        assert!(script.contains("event = 'login'"));
        assert!(script.contains("DATE '2024-01-01'"));
    }

    #[test]
    fn arrow_types_map_to_spark_ddl() {
        let ddl = spark_schema(&tenure_store::schema::SUBSCRIPTION_EVENTS).unwrap();
        assert!(!ddl.contains("_key"));
        assert!(ddl.starts_with("`subscription_id` STRING"));
        assert!(ddl.contains("`discount_percent_off` DECIMAL(12, 6)"));
        assert!(ddl.contains("`date` DATE"));
        let ev = spark_schema(&tenure_store::schema::EVENTS).unwrap();
        assert!(ev.contains("`timestamp` TIMESTAMP"));
    }
}
