//! Scale-out (SPEC 4): `tenure metrics <group> --engine spark` and `tenure
//! export-sql --dialect spark <group>`. Both take the same [`MetricQuery`] as
//! the embedded engine (one flag parser, same defaults and messages), compile
//! it with `tenure_engine::scale_out` to Spark SQL, and either print the SQL
//! (teams that schedule it themselves) or run it through pyspark and arrange
//! the result rows into exactly the JSON document `tenure_query::compute`
//! returns for that query.
//!
//! What runs where: Tenure reads the manifest (so Spark reads exactly the
//! committed files), builds the SQL, and for revenue builds the MRR ledger per
//! customer and writes it as Parquet beside the workspace (`scale-out/`);
//! Spark does every scan, join and aggregation, and computes the final
//! figures; Tenure only reads the rows back and arranges them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde_json::{Map, Value, json};
use tenure_engine::datafusion_arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
};
use tenure_engine::scale_out::{self, Actor, DayRange, Dialect, EventFilter, Interval, Plan, Spark, Statement};
use tenure_metrics::engagement::ActiveEvent;
use tenure_metrics::revenue::report::{Outcome, renewals};
use tenure_metrics::revenue::{self, MonthIdx, MovementKind};
use tenure_metrics::round;
use tenure_model::{Money, TransactionType};
use tenure_query::MetricQuery;
use tenure_query::engagement::{By, PeriodArg, RangeArgs, RetentionTypeArg};
use tenure_query::filter::{Filter, Period};
use tenure_store::Workspace;

use crate::output;

pub const AFTER_HELP: &str = "\
Examples:
  tenure export-sql --dialect spark engagement --from 2026-01-01 --to 2026-02-01 > dau.sql
  tenure export-sql --dialect spark retention --period month
  tenure export-sql --dialect spark nps --run                      run on Spark (pyspark, local mode) and print the JSON
  tenure export-sql --run --queries groups.txt                     several queries (one per line) in one Spark session
  tenure metrics revenue --engine spark --spark-master spark://head:7077 --spark-data /mnt/shared/tenure-data

The group and its flags are those of `tenure metrics <group>`; Spark runs engagement, sessions, retention, nps,
csat and revenue. The SQL reads the workspace's tables by name: register each from exactly the files its
manifest.json lists. For revenue, the ledger is built by tenure and written to DIR/scale-out/*.parquet first.
--run needs python3 with pyspark and a JDK (scripts/spark-setup installs both). See docs/scale-out.md.";

/// The metric groups Spark runs, for messages.
const ON_SPARK: &str = "engagement, sessions, retention, nps, csat, revenue";

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialectArg {
    Spark,
}

/// Where `tenure metrics` computes.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// In this process (DataFusion and Tenure's kernels).
    #[default]
    Embedded,
    /// On Spark: the query compiled to Spark SQL and run through pyspark (docs/scale-out.md).
    Spark,
}

/// Which Spark, and where it finds the workspace.
#[derive(Args, Clone, Debug, Default)]
pub struct SparkTarget {
    /// The Spark master URL (spark://, yarn, k8s://..., local[4]; default: local mode, local[2]).
    #[arg(long, global = true, value_name = "URL")]
    pub spark_master: Option<String>,
    /// The workspace directory as the cluster sees it (a shared path or object-store URL; default: its local path).
    #[arg(long, global = true, value_name = "PATH")]
    pub spark_data: Option<String>,
}

impl SparkTarget {
    pub fn is_set(&self) -> bool {
        self.spark_master.is_some() || self.spark_data.is_some()
    }
}

/// `tenure export-sql`: a metric query (`<group> [its flags]`, as after
/// `tenure metrics`) printed as SQL, or run on Spark with `--run`.
#[derive(Args, Clone, Debug)]
#[command(
    subcommand_value_name = "GROUP",
    subcommand_help_heading = "Metric groups (the flags of `tenure metrics <group>`)"
)]
pub struct ExportSqlArgs {
    /// The SQL dialect.
    #[arg(long, global = true, value_enum, default_value_t = DialectArg::Spark)]
    pub dialect: DialectArg,
    /// Run the SQL on Spark and print the JSON of `tenure metrics <group> --json` instead of the SQL.
    #[arg(long, global = true)]
    pub run: bool,
    #[command(flatten)]
    pub target: SparkTarget,
    /// Several queries, one per line (`retention --period month`; words without spaces, `#` comments), in one
    /// Spark session: with --run prints a JSON array of their documents.
    #[arg(long, value_name = "FILE")]
    pub queries: Option<PathBuf>,
    #[command(subcommand)]
    pub query: Option<MetricQuery>,
}

pub fn run_export(data: &Path, args: ExportSqlArgs) -> Result<ExitCode> {
    let queries = match (&args.queries, args.query) {
        (Some(_), Some(q)) => bail!("give either a metric group ({}) or --queries FILE, not both", q.name()),
        (None, None) => bail!("name a metric group ({ON_SPARK}) or give --queries FILE"),
        (None, Some(q)) => vec![q],
        (Some(file), None) => read_queries(file)?,
    };
    if !args.run && args.target.is_set() {
        bail!("--spark-master and --spark-data need --run (without it the SQL is printed)");
    }
    let ws = Workspace::open(data)?;
    if args.run {
        let docs = compute_all(&ws, &queries, &args.target)?;
        match (args.queries.is_some(), docs.as_slice()) {
            (false, [one]) => output::json(one),
            _ => output::json(&Value::from(docs)),
        }
    } else {
        for (i, q) in queries.iter().enumerate() {
            output::line(prepare(&ws, q, i)?.plan.script().trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One query per non-empty line, `#` starting a comment.
fn read_queries(file: &Path) -> Result<Vec<MetricQuery>> {
    let text = fs_err::read_to_string(file)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words = line.split_whitespace().map(str::to_string);
        let q = MetricQuery::from_args(words).map_err(|e| anyhow!("{}:{}: {}", file.display(), i + 1, e.trim_end()))?;
        out.push(q);
    }
    if out.is_empty() {
        bail!("{}: no queries (one per line, e.g. `retention --period month`)", file.display());
    }
    Ok(out)
}

/// The document `tenure_query::compute(ws, query)` returns, computed on Spark.
pub fn compute(ws: &Workspace, query: &MetricQuery, target: &SparkTarget) -> Result<Value> {
    let mut docs = compute_all(ws, std::slice::from_ref(query), target)?;
    docs.pop().ok_or_else(|| anyhow!("Spark returned no document"))
}

/// [`compute`] for several queries in one Spark session (the JVM starts once).
pub fn compute_all(ws: &Workspace, queries: &[MetricQuery], target: &SparkTarget) -> Result<Vec<Value>> {
    let jobs = queries.iter().enumerate().map(|(i, q)| prepare(ws, q, i)).collect::<Result<Vec<Job>>>()?;
    let results = submit(ws, &jobs, target.spark_data.as_deref(), target.spark_master.as_deref())?;
    jobs.iter().zip(&results).map(|(job, r)| (job.shape)(r)).collect()
}

type Results = Map<String, Value>;

/// Turns a job's Spark results into the JSON document of `tenure metrics`.
type Shape = Box<dyn Fn(&Results) -> Result<Value>>;

/// A plan, the ledger files it needs, and how to shape its results.
struct Job {
    plan: Plan,
    /// Derived tables written by tenure: name -> schema, files.
    derived: Vec<(&'static str, String, Vec<PathBuf>)>,
    shape: Shape,
}

/// The plan of one query; `slot`: its place in a batch (revenue writes its
/// ledger tables per query).
fn prepare(ws: &Workspace, query: &MetricQuery, slot: usize) -> Result<Job> {
    let d: &dyn Dialect = &Spark;
    let group = query.name();
    let refuse = |flags: &[(bool, &str)]| -> Result<()> {
        match flags.iter().find(|(set, _)| *set) {
            Some((_, flag)) => bail!(
                "`{group} {flag}` does not run on Spark yet: leave it out, or use --engine embedded (docs/scale-out.md)"
            ),
            None => Ok(()),
        }
    };
    match query {
        MetricQuery::Engagement(a) => {
            refuse(&[(a.list, "--list")])?;
            let mut r = a.range.clone();
            if let Some(day) = a.as_of {
                (r.from, r.to) = (Some(day), Some(day.tomorrow()?));
            }
            engagement_job(ws, &r, d, Metric::Active(ActiveEvent::from_option(a.event.as_deref())))
        }
        MetricQuery::Sessions(a) => {
            refuse(&[(a.breakdown, "--breakdown"), (a.list, "--list")])?;
            if a.timeout < 0 || a.max_length < 0 {
                bail!("--timeout and --max-length are seconds, 0 or more");
            }
            let rules = scale_out::SessionRules { timeout_seconds: a.timeout, max_length_seconds: a.max_length };
            engagement_job(ws, &a.range, d, Metric::Sessions(rules))
        }
        MetricQuery::Retention(a) => engagement_job(ws, &a.range, d, Metric::Retention(a)),
        MetricQuery::Nps(a) => {
            refuse(&[(a.themes, "--themes"), (a.filter.segment.is_some(), "--segment")])?;
            let z = tenure_metrics::voice::z_for_confidence(a.confidence);
            survey_job(ws, "nps", &a.survey, &a.filter, d, Some((a.detractor_max, a.confidence, z)))
        }
        MetricQuery::Csat(a) => {
            refuse(&[(a.themes, "--themes"), (a.filter.segment.is_some(), "--segment")])?;
            survey_job(ws, "csat", &a.survey, &a.filter, d, None)
        }
        MetricQuery::Revenue(a) => {
            refuse(&[(a.explain.is_some(), "--explain")])?;
            revenue_job(ws, a, d, slot)
        }
        other => bail!("`{}` does not run on Spark yet; Spark runs {ON_SPARK} (docs/scale-out.md)", other.name()),
    }
}

// ------------------------------------------------------------------ engagement

/// Which engagement metric, with what it needs beyond the range.
enum Metric<'a> {
    Active(ActiveEvent),
    Sessions(scale_out::SessionRules),
    Retention(&'a tenure_query::engagement::RetentionArgs),
}

fn event_filter(e: &ActiveEvent) -> EventFilter {
    match e {
        ActiveEvent::AnyTrack => EventFilter::AnyTrack,
        ActiveEvent::AnyEvent => EventFilter::AnyEvent,
        ActiveEvent::Named(n) => EventFilter::Named(n.clone()),
    }
}

fn engagement_job(ws: &Workspace, r: &RangeArgs, d: &dyn Dialect, metric: Metric<'_>) -> Result<Job> {
    let (tzname, _) = tenure_query::engagement::time_zone(ws, r)?;
    if let (Some(a), Some(b)) = (r.from, r.to)
        && b <= a
    {
        bail!("--to {b} must be after --from {a} (the end is exclusive)");
    }
    let range =
        DayRange { from: r.from.map(|d| d.to_string()), to: r.to.map(|d| d.to_string()), timezone: tzname.clone() };
    let (actor, by) = match r.by {
        By::User => (Actor::User, By::User.name()),
        By::Account => (Actor::Account, By::Account.name()),
    };
    let header = move |name: &str, r: &Results| -> Result<Value> {
        let row = r["range"].as_array().and_then(|a| a.first()).cloned().unwrap_or(Value::Null);
        let (f, t) = (row["from_day"].as_str(), row["to_day"].as_str());
        let nonempty = matches!((f, t), (Some(a), Some(b)) if b > a);
        let date = |v: Option<&str>| if nonempty { json!(v) } else { Value::Null };
        Ok(json!({"metric": name, "from": date(f), "to": date(t), "timezone": tzname, "by": by}))
    };
    Ok(match metric {
        Metric::Active(active) => {
            let plan = scale_out::active_actors(d, &range, actor, &event_filter(&active));
            let label = active.to_string();
            let shape = move |r: &Results| {
                let mut doc = header("engagement", r)?;
                doc["active_event"] = json!(label);
                let days: Vec<Value> = rows(r, "days")?
                    .iter()
                    .map(|x| {
                        Ok(json!({
                            "date": x["date"],
                            "dau": int(&x["dau"])?,
                            "wau": int(&x["wau"])?,
                            "mau": int(&x["mau"])?,
                            "dau_mau_ratio": decimal(&x["dau_mau_ratio"])?,
                            "wau_mau_ratio": decimal(&x["wau_mau_ratio"])?,
                        }))
                    })
                    .collect::<Result<_>>()?;
                doc["days"] = Value::from(days);
                Ok(doc)
            };
            Job { plan, derived: Vec::new(), shape: Box::new(shape) }
        }
        Metric::Sessions(rules) => {
            let (timeout, max_length) = (rules.timeout_seconds, rules.max_length_seconds);
            let plan = scale_out::sessions(d, &range, rules);
            let shape = move |r: &Results| {
                let mut doc = header("sessions", r)?;
                doc["timeout_seconds"] = json!(timeout);
                doc["max_length_seconds"] = json!(max_length);
                let s = rows(r, "summary")?.first().cloned().unwrap_or(Value::Null);
                doc["session_count"] = int(&s["session_count"])?;
                doc["average_session_duration_seconds"] = decimal(&s["average_session_duration_seconds"])?;
                doc["total_time_seconds"] = int(&s["total_time_seconds"])?;
                doc["single_event_sessions"] = int(&s["single_event_sessions"])?;
                Ok(doc)
            };
            Job { plan, derived: Vec::new(), shape: Box::new(shape) }
        }
        Metric::Retention(a) => {
            let interval = match a.period {
                PeriodArg::Day => Interval::Day,
                PeriodArg::Week => Interval::Week,
                PeriodArg::Month => Interval::Month,
            };
            let period = tenure_metrics::engagement::Period::from(a.period).name();
            let (recurring, type_name) = match a.retention_type {
                RetentionTypeArg::FirstTime => (false, "first_time"),
                RetentionTypeArg::Recurring => (true, "recurring"),
            };
            let start = ActiveEvent::from_option(a.start_event.as_deref());
            let ret = ActiveEvent::from_option(a.return_event.as_deref());
            let (start_label, return_label) = (start.to_string(), ret.to_string());
            let (start_event, return_event) = (event_filter(&start), event_filter(&ret));
            let q = scale_out::RetentionQuery { actor, interval, recurring, start_event, return_event };
            let plan = scale_out::retention(d, &range, &q);
            let shape = move |r: &Results| {
                let mut doc = header("retention", r)?;
                doc["retention_type"] = json!(type_name);
                doc["start_event"] = json!(start_label);
                doc["return_event"] = json!(return_label);
                doc["period"] = json!(period);
                let cohort_rows = rows(r, "cohorts")?;
                let n = cohort_rows.len();
                let mut retained: Vec<Vec<Value>> = vec![Vec::new(); n];
                let mut pcts: Vec<Vec<Value>> = vec![Vec::new(); n];
                for c in rows(r, "cells")? {
                    let i = index(&c["i"], n)?;
                    retained[i].push(int(&c["retained"])?);
                    pcts[i].push(decimal(&c["retained_pct"])?);
                }
                let cohorts: Vec<Value> = cohort_rows
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        Ok(json!({
                            "cohort_date": c["cohort_date"],
                            "cohort_size": int(&c["cohort_size"])?,
                            "cohort_users": c["cohort_users"],
                            "retained": retained[i],
                            "retained_pct": pcts[i],
                        }))
                    })
                    .collect::<Result<_>>()?;
                let (mut weighted, mut simple) = (vec![Value::Null; n], vec![Value::Null; n]);
                for m in rows(r, "means")? {
                    let k = index(&m["k"], n)?;
                    weighted[k] = decimal(&m["weighted"])?;
                    simple[k] = decimal(&m["simple"])?;
                }
                doc["cohorts"] = Value::from(cohorts);
                doc["mean_retained_pct_weighted"] = Value::from(weighted);
                doc["mean_retained_pct_simple"] = Value::from(simple);
                Ok(doc)
            };
            Job { plan, derived: Vec::new(), shape: Box::new(shape) }
        }
    })
}

// ------------------------------------------------------------------ voice

/// NPS's detractor cut-off, confidence level and its z.
type NpsParams = (i64, f64, Option<f64>);

fn survey_job(
    ws: &Workspace,
    name: &'static str,
    survey: &Option<String>,
    filter: &Filter,
    d: &dyn Dialect,
    nps: Option<NpsParams>,
) -> Result<Job> {
    let (period, _) = Period::new(ws, filter)?;
    if let Some(s) = survey {
        let known = tenure_store::load::<tenure_model::SurveyResponse>(ws)?.iter().any(|r| &r.survey_id == s);
        if !known {
            bail!("no survey {s:?} in the workspace");
        }
    }
    let q = scale_out::SurveyQuery {
        survey_type: name.into(),
        survey: survey.clone(),
        from_us: period.from.map(|t| t.as_microsecond()),
        to_us: period.to.map(|t| t.as_microsecond()),
        timezone: ws.settings().workspace.timezone.clone(),
    };
    let head = json!({"metric": name, "survey": survey, "period": period.to_json()});
    Ok(if let Some((detractor_max, confidence, z)) = nps {
        let plan = scale_out::nps(d, &q, detractor_max, z);
        let shape = move |r: &Results| {
            let nps = |x: &Value| -> Result<Value> {
                Ok(json!({
                    "n": int(&x["n"])?,
                    "promoters": int(&x["promoters"])?,
                    "passives": int(&x["passives"])?,
                    "detractors": int(&x["detractors"])?,
                    "promoters_pct": decimal(&x["promoters_pct"])?,
                    "passives_pct": decimal(&x["passives_pct"])?,
                    "detractors_pct": decimal(&x["detractors_pct"])?,
                    "nps": decimal(&x["nps"])?,
                    "standard_error": double_2dp(&x["se_exact"])?,
                    "margin_of_error": double_2dp(&x["moe_exact"])?,
                    "ci_low": double_2dp(&x["ci_low_exact"])?,
                    "ci_high": double_2dp(&x["ci_high_exact"])?,
                    "low_sample": x["low_sample"],
                    "skipped": int(&x["skipped"])?,
                    "rejected": int(&x["rejected"])?,
                    "detractor_max": detractor_max,
                    "confidence_level": confidence,
                }))
            };
            let mut doc = head.clone();
            let (overall, surveys) = split_groups(rows(r, "groups")?, "survey_id", &nps)?;
            doc["overall"] = overall;
            doc["surveys"] = surveys;
            let months: Vec<Value> = rows(r, "months")?
                .iter()
                .map(|m| {
                    let mut v = json!({"month": m["month"]});
                    merge(&mut v, nps(m)?);
                    v["change"] = double_2dp(&m["change_exact"])?;
                    v["change_standard_error"] = double_2dp(&m["change_se_exact"])?;
                    v["change_z"] = double_2dp(&m["change_z_exact"])?;
                    v["change_significant"] = m["change_significant"].clone();
                    Ok(v)
                })
                .collect::<Result<_>>()?;
            doc["months"] = Value::from(months);
            Ok(doc)
        };
        Job { plan, derived: Vec::new(), shape: Box::new(shape) }
    } else {
        let plan = scale_out::csat(d, &q);
        let shape = move |r: &Results| {
            let dist = rows(r, "distribution")?;
            let csat = |x: &Value| -> Result<Value> {
                if int(&x["scales"])?.as_u64().unwrap_or(0) > 1 {
                    let scales: Vec<String> = x["scale_list"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| format!("{}-{}", s["min"], s["max"]))
                        .collect();
                    let e = format!("the responses use different scales ({}); choose one survey", scales.join(", "));
                    return Ok(json!({ "error": e }));
                }
                let (mut counts, mut pcts) = (Map::new(), Map::new());
                for p in dist.iter().filter(|p| p["g"] == x["g"]) {
                    let point = int(&p["point"])?.to_string();
                    counts.insert(point.clone(), int(&p["c"])?);
                    pcts.insert(point, decimal(&p["pct"])?);
                }
                Ok(json!({
                    "n": int(&x["n"])?,
                    "satisfied": int(&x["satisfied"])?,
                    "csat_pct": decimal(&x["csat_pct"])?,
                    "average": decimal(&x["average"])?,
                    "scale_min": int(&x["scale_min"])?,
                    "scale_max": int(&x["scale_max"])?,
                    "top_box_threshold": int(&x["top_box_threshold"])?,
                    "distribution": counts,
                    "rating_pct": pcts,
                    "response_rate_pct": decimal(&x["response_rate_pct"])?,
                    "skipped": int(&x["skipped"])?,
                    "rejected": int(&x["rejected"])?,
                }))
            };
            let mut doc = head.clone();
            let (overall, surveys) = split_groups(rows(r, "groups")?, "survey_id", &csat)?;
            doc["overall"] = overall;
            doc["surveys"] = surveys;
            Ok(doc)
        };
        Job { plan, derived: Vec::new(), shape: Box::new(shape) }
    })
}

/// Rows keyed by `g`: '' is the overall figure, the others one per survey.
fn split_groups(rows: &[Value], key: &str, f: &dyn Fn(&Value) -> Result<Value>) -> Result<(Value, Value)> {
    let mut overall = Value::Null;
    let mut per = Vec::new();
    for x in rows {
        match x["g"].as_str() {
            Some("") => overall = f(x)?,
            Some(id) => {
                let mut v = json!({ key: id });
                merge(&mut v, f(x)?);
                per.push(v);
            }
            None => bail!("Spark returned a survey group without a key"),
        }
    }
    Ok((overall, Value::from(per)))
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(o), Value::Object(m)) = (into.as_object_mut(), from) {
        o.extend(m);
    }
}

// ------------------------------------------------------------------ revenue

/// Where revenue's ledger tables are written, inside the workspace directory
/// (outside `tables/`, which only the manifest describes).
pub const LEDGER_DIR: &str = "scale-out";

/// A ledger table's columns as they are filled, row by row.
#[derive(Default)]
struct Columns {
    ids: Vec<String>,
    segments: Vec<Option<String>>,
    months: Vec<i32>,
    texts: Vec<&'static str>,
    flags: Vec<bool>,
    flags2: Vec<bool>,
    counts: Vec<i64>,
    ticks: Vec<i128>,
    ticks2: Vec<i128>,
}

fn strings(v: &[String]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn ticks_array(v: &[i128]) -> Result<ArrayRef> {
    Ok(Arc::new(Decimal128Array::from(v.to_vec()).with_precision_and_scale(38, 0)?))
}

fn revenue_job(ws: &Workspace, a: &tenure_query::revenue::RevenueArgs, d: &dyn Dialect, slot: usize) -> Result<Job> {
    let p = tenure_query::revenue::prepare(ws, a)?;
    let (from, to) = (p.from, p.to);
    if to < from {
        bail!("--to {} is before --from {}", revenue::month_label(to), revenue::month_label(from));
    }
    let conv = |e: String| anyhow!("{e}");
    // The months the figures read: twelve before `from` (trailing windows) to `to`.
    let first = from - 12;
    let by_segment = a.segment.as_ref().map(|attr| tenure_query::revenue::segment_of(ws, attr)).transpose()?;
    let segment = |id: &str| -> Option<String> {
        by_segment.as_ref().map(|s| s.get(id).cloned().unwrap_or_else(|| tenure_query::filter::NONE.to_string()))
    };
    let day = |m: MonthIdx| tenure_store::schema::date_to_days(revenue::fx::month_first_day(m));
    let (mut customers, mut ends, mut moves) = (Columns::default(), Columns::default(), Columns::default());
    let (mut terms, mut trials, mut refunds, mut spend) =
        (Columns::default(), Columns::default(), Columns::default(), Columns::default());
    for c in &p.ledger.customers {
        let seg = segment(&c.customer_id);
        customers.ids.push(c.customer_id.clone());
        customers.segments.push(seg.clone());
        for m in first..=to {
            let Some(s) = c.state_on(revenue::fx::month_last_day(m)) else { continue };
            let mrr = p.fx.convert_all(&s.mrr, m).map_err(conv)?;
            if !s.subscriber && !s.past_due && s.live_subscriptions == 0 && mrr == Money::ZERO {
                continue; // counts in no figure
            }
            ends.ids.push(c.customer_id.clone());
            ends.segments.push(seg.clone());
            ends.months.push(day(m));
            ends.flags.push(s.subscriber);
            ends.flags2.push(s.past_due);
            ends.counts.push(s.live_subscriptions as i64);
            ends.ticks.push(mrr.ticks());
        }
        let first_new = c.movements.iter().position(|mv| mv.kind == MovementKind::NewBusiness);
        for (i, mv) in c.movements.iter().enumerate() {
            moves.ids.push(c.customer_id.clone());
            moves.segments.push(seg.clone());
            moves.months.push(day(revenue::month_idx(mv.date)));
            moves.texts.push(mv.kind.as_str());
            moves.ticks.push(mv.amount.ticks());
            moves.flags.push(first_new == Some(i));
        }
        renewals(c, &p.fx, from, to, |m, t| {
            terms.segments.push(seg.clone());
            terms.months.push(day(m));
            terms.texts.push(match t.outcome {
                Outcome::Renewed => "renewed",
                Outcome::Lapsed => "lapsed",
                Outcome::Cancelled => "cancelled",
            });
            terms.ticks.push(t.before.ticks());
            terms.ticks2.push(t.after.ticks());
        })
        .map_err(conv)?;
        // Trials started in M (once per customer and month) and whether the
        // customer's first New Business came by the evaluation date.
        let converted = c.first_new_business().is_some_and(|mv| mv.date <= p.as_of);
        let mut trial_months: Vec<MonthIdx> = c.trial_starts.iter().map(|d| revenue::month_idx(*d)).collect();
        trial_months.dedup();
        for m in trial_months.into_iter().filter(|m| (from..=to).contains(m)) {
            trials.segments.push(seg.clone());
            trials.months.push(day(m));
            trials.flags.push(converted);
        }
    }
    for inv in &p.data.invoices {
        for t in inv.transactions.iter().filter(|t| t.kind == TransactionType::Refund && t.result == "successful") {
            let m = revenue::month_idx(t.date.to_zoned(p.tz.clone()).date());
            if (from..=to).contains(&m) {
                refunds.segments.push(segment(&inv.customer_id));
                refunds.months.push(day(m));
                refunds
                    .ticks
                    .push(p.fx.convert(Money::from_cents(t.amount_cents), inv.currency, m).map_err(conv)?.ticks());
            }
        }
    }
    for c in &p.data.costs {
        let m = revenue::month_idx(c.month);
        spend.ids.push(c.category.clone());
        spend.months.push(day(m));
        spend.ticks.push(p.fx.convert(Money::from_cents(c.amount_cents), c.currency, m).map_err(conv)?.ticks());
    }

    let seg_col = |c: &Columns| -> ArrayRef { Arc::new(StringArray::from(c.segments.clone())) };
    let month_col = |c: &Columns| -> ArrayRef { Arc::new(Date32Array::from(c.months.clone())) };
    let text_col = |c: &Columns| -> ArrayRef { Arc::new(StringArray::from(c.texts.clone())) };
    let bools = |v: &[bool]| -> ArrayRef { Arc::new(BooleanArray::from(v.to_vec())) };
    let tables = [
        (
            "ledger_customers",
            RecordBatch::try_from_iter(vec![
                ("customer_id", strings(&customers.ids)),
                ("segment", seg_col(&customers)),
            ])?,
        ),
        (
            "ledger_month_ends",
            RecordBatch::try_from_iter(vec![
                ("customer_id", strings(&ends.ids)),
                ("segment", seg_col(&ends)),
                ("month", month_col(&ends)),
                ("subscriber", bools(&ends.flags)),
                ("past_due", bools(&ends.flags2)),
                ("live_subscriptions", Arc::new(Int64Array::from(ends.counts.clone())) as ArrayRef),
                ("mrr_ticks", ticks_array(&ends.ticks)?),
            ])?,
        ),
        (
            "ledger_movements",
            RecordBatch::try_from_iter(vec![
                ("customer_id", strings(&moves.ids)),
                ("segment", seg_col(&moves)),
                ("month", month_col(&moves)),
                ("kind", text_col(&moves)),
                ("amount_ticks", ticks_array(&moves.ticks)?),
                ("first_new_business", bools(&moves.flags)),
            ])?,
        ),
        (
            "ledger_renewals",
            RecordBatch::try_from_iter(vec![
                ("segment", seg_col(&terms)),
                ("month", month_col(&terms)),
                ("outcome", text_col(&terms)),
                ("before_ticks", ticks_array(&terms.ticks)?),
                ("after_ticks", ticks_array(&terms.ticks2)?),
            ])?,
        ),
        (
            "ledger_trials",
            RecordBatch::try_from_iter(vec![
                ("segment", seg_col(&trials)),
                ("month", month_col(&trials)),
                ("converted", bools(&trials.flags)),
            ])?,
        ),
        (
            "ledger_refunds",
            RecordBatch::try_from_iter(vec![
                ("segment", seg_col(&refunds)),
                ("month", month_col(&refunds)),
                ("amount_ticks", ticks_array(&refunds.ticks)?),
            ])?,
        ),
        (
            "ledger_spend",
            RecordBatch::try_from_iter(vec![
                ("category", strings(&spend.ids)),
                ("month", month_col(&spend)),
                ("amount_ticks", ticks_array(&spend.ticks)?),
            ])?,
        ),
    ];
    // One directory per query of a batch: each query's rules give its own ledger.
    let dir = match slot {
        0 => ws.root().join(LEDGER_DIR),
        n => ws.root().join(LEDGER_DIR).join(n.to_string()),
    };
    fs_err::create_dir_all(&dir)?;
    let mut derived = Vec::new();
    for (name, batch) in tables {
        let path = dir.join(format!("{name}.parquet"));
        scale_out::write_parquet(&path, &batch)?;
        derived.push((name, scale_out::spark_schema(&batch.schema())?, vec![path]));
    }

    let first_day = |m: MonthIdx| revenue::fx::month_first_day(m).to_string();
    let gm = p.settings.revenue.gross_margin.unwrap_or(Decimal::ONE);
    let q = scale_out::RevenueQuery {
        from: first_day(from),
        to: first_day(to),
        gross_margin: (gm.mantissa(), gm.scale()),
        cac_spend_lag_months: p.settings.revenue.cac_spend_lag_months,
        segmented: a.segment.is_some(),
    };
    let plan = scale_out::revenue(d, &q);
    let currency = p.settings.workspace.reporting_currency.as_str().to_string();
    let attr = a.segment.clone();
    let shape = move |r: &Results| -> Result<Value> {
        // Per group (`*` or `s:` + segment): its months and cohorts.
        let mut groups: BTreeMap<String, MonthsAndCohorts> = BTreeMap::new();
        for m in rows(r, "months")? {
            let label = text(&m["month"])?.to_string();
            groups.entry(text(&m["g"])?.to_string()).or_default().0.insert(label, month_figures(m)?);
        }
        let mut cells: BTreeMap<(String, String), (Vec<Value>, Vec<Value>)> = BTreeMap::new();
        for c in rows(r, "cohort_cells")? {
            let cell = cells.entry((text(&c["g"])?.to_string(), text(&c["cohort"])?.to_string())).or_default();
            cell.0.push(decimal(&c["customer_retention"])?);
            cell.1.push(decimal(&c["net_mrr_retention"])?);
        }
        for c in rows(r, "cohorts")? {
            let key = (text(&c["g"])?.to_string(), text(&c["cohort"])?.to_string());
            let (retention, nrr) = cells.remove(&key).unwrap_or_default();
            groups.entry(key.0).or_default().1.insert(
                key.1,
                json!({
                    "size": int(&c["size"])?,
                    "cohort_value_cents": money(&c["cohort_value_cents"])?,
                    "customer_retention": retention,
                    "net_mrr_retention": nrr,
                }),
            );
        }
        let report = |(months, cohorts): (Map<String, Value>, Map<String, Value>)| json!({"months": Value::Object(months), "cohorts": Value::Object(cohorts)});
        let mut doc = report(groups.remove("*").unwrap_or_default());
        doc["reporting_currency"] = json!(currency);
        if let Some(attr) = &attr {
            doc["segment_attribute"] = json!(attr);
            let segments: Map<String, Value> = groups
                .into_iter()
                .filter_map(|(g, v)| g.strip_prefix("s:").map(|s| (s.to_string(), report(v))))
                .collect();
            doc["segments"] = Value::Object(segments);
        }
        Ok(doc)
    };
    Ok(Job { plan, derived, shape: Box::new(shape) })
}

/// A revenue report's `months` and `cohorts`, by label.
type MonthsAndCohorts = (Map<String, Value>, Map<String, Value>);

/// One month's figures from Spark's row, in the embedded report's order.
fn month_figures(m: &Value) -> Result<Value> {
    const MONEY: &[&str] =
        &["mrr_cents", "arr_cents", "arpa_cents", "net_new_mrr_cents", "fx_impact_cents", "refunds_cents"];
    const COUNTS: &[&str] = &[
        "subscribers",
        "subscribers_start",
        "active_subscriptions",
        "past_due_subscribers",
        "new_business_customers",
        "reactivated_customers",
        "churned_customers",
        "trials_started",
    ];
    const AFTER_MOVEMENTS: &[&str] = &[
        "customer_churn_rate",
        "gross_mrr_churn_rate",
        "net_mrr_churn_rate",
        "nrr",
        "grr",
        "nrr_trailing_12m",
        "grr_trailing_12m",
        "quick_ratio",
        "quick_ratio_incl_reactivation",
        "ltv_simple_cents",
        "ltv_gross_margin_cents",
        "cac_cents",
        "new_business_arpa_cents",
        "cac_payback_months",
        "retention_cost_cents",
        "customer_retention_rate",
        "renewals_due",
        "renewals_renewed",
        "renewals_lapsed",
        "renewals_cancelled",
        "renewal_rate",
        "gross_mrr_renewal_rate",
        "net_mrr_renewal_rate",
        "trial_to_paid_conversion_rate",
    ];
    let mut o = Map::new();
    for k in MONEY {
        o.insert(k.to_string(), money(&m[*k])?);
    }
    for k in COUNTS {
        o.insert(k.to_string(), int(&m[*k])?);
    }
    let mut mv = Map::new();
    for k in MovementKind::ALL {
        mv.insert(k.as_str().into(), money(&m[format!("movement_{}", k.as_str()).as_str()])?);
    }
    o.insert("movements".into(), Value::Object(mv));
    for k in AFTER_MOVEMENTS {
        let v = if k.ends_with("_cents") {
            money(&m[*k])?
        } else if k.starts_with("renewals_") {
            int(&m[*k])?
        } else {
            decimal(&m[*k])?
        };
        o.insert(k.to_string(), v);
    }
    Ok(Value::Object(o))
}

fn text(v: &Value) -> Result<&str> {
    v.as_str().ok_or_else(|| anyhow!("Spark returned {v} where a text was expected"))
}

// ------------------------------------------------------------------ results

fn rows<'a>(r: &'a Results, name: &str) -> Result<&'a Vec<Value>> {
    r.get(name).and_then(Value::as_array).ok_or_else(|| anyhow!("Spark returned no result `{name}`"))
}

fn int(v: &Value) -> Result<Value> {
    match v {
        Value::Number(_) | Value::Null => Ok(v.clone()),
        Value::String(s) => Ok(json!(s.parse::<i64>().with_context(|| format!("not a whole number: {s}"))?)),
        other => bail!("expected a whole number from Spark, got {other}"),
    }
}

/// An exact decimal from Spark, as the embedded engine prints it.
fn decimal(v: &Value) -> Result<Value> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::String(s) => Ok(round::json(Some(s.parse::<Decimal>().with_context(|| format!("not a decimal: {s}"))?))),
        other => bail!("expected a decimal from Spark, got {other}"),
    }
}

/// Money in cents with 2 decimals, printed as `Money::cents_f64` does.
fn money(v: &Value) -> Result<Value> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::String(s) => {
            let mut c = s.parse::<Decimal>().with_context(|| format!("not an amount: {s}"))?;
            c.rescale(2);
            Ok(json!(c.mantissa() as f64 / 100.0))
        }
        other => bail!("expected an amount from Spark, got {other}"),
    }
}

/// A double computed by Spark (NPS's SE and interval), rounded for output as
/// the embedded engine rounds its own double: via `Decimal::from_f64`.
fn double_2dp(v: &Value) -> Result<Value> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::String(s) => {
            let x: f64 = s.parse().with_context(|| format!("not a number: {s}"))?;
            let d = if x.is_finite() { Decimal::from_f64(x) } else { None };
            Ok(round::json(d.map(|d| round::round_dp(d, 2))))
        }
        other => bail!("expected a number from Spark, got {other}"),
    }
}

fn index(v: &Value, n: usize) -> Result<usize> {
    let i = int(v)?.as_u64().ok_or_else(|| anyhow!("Spark returned a bad index {v}"))? as usize;
    if i >= n {
        bail!("Spark returned index {i} of {n} intervals");
    }
    Ok(i)
}

// ------------------------------------------------------------------ submit

const DRIVER: &str = include_str!("spark_driver.py");

/// Write the plans and the driver to a temporary directory, run them in one
/// Spark session with python3 (pyspark), and return each plan's named results.
fn submit(ws: &Workspace, jobs: &[Job], spark_data: Option<&str>, master: Option<&str>) -> Result<Vec<Results>> {
    let tmp = tempfile_dir()?;
    let dir = tmp.path();
    let url = |p: &Path| -> String {
        match spark_data {
            Some(base) => {
                let rel = p.strip_prefix(ws.root()).unwrap_or(p);
                format!("{}/{}", base.trim_end_matches('/'), rel.to_string_lossy())
            }
            None => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).to_string_lossy().into_owned(),
        }
    };
    let mut plans = Vec::new();
    let mut script = String::new();
    for job in jobs {
        let mut tables = Map::new();
        for name in &job.plan.tables {
            let (schema, paths) = match job.derived.iter().find(|(n, _, _)| n == name) {
                Some((_, schema, paths)) => (schema.clone(), paths.clone()),
                None => {
                    let def = tenure_store::schema::table(name).ok_or_else(|| anyhow!("no table {name}"))?;
                    (scale_out::spark_schema(def.schema)?, ws.table_paths(name))
                }
            };
            let paths: Vec<String> = paths.iter().map(|p| url(p)).collect();
            tables.insert(name.to_string(), json!({"schema": schema, "paths": paths}));
        }
        let statements: Vec<Value> = job
            .plan
            .statements
            .iter()
            .map(|s| match s {
                Statement::View { name, sql } => json!({"kind": "view", "name": name, "sql": sql}),
                Statement::Result { name, sql } => json!({"kind": "result", "name": name, "sql": sql}),
            })
            .collect();
        plans.push(
            json!({"group": job.plan.group, "tables": tables, "statements": statements, "cache": job.plan.cached}),
        );
        script.push_str(&job.plan.script());
    }
    let output_path = dir.join("results.json");
    let mut conf = json!({
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
        // Day partitions are many small files: list them on the driver
        // instead of launching a listing job per table.
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "1000000",
    });
    if master.is_none() {
        // Local mode: one machine's data, where every shuffle partition is a
        // task with a fixed cost (one partition measured ~30% faster than 4).
        // On a cluster, the cluster's own settings apply.
        for (k, v) in
            [("spark.driver.memory", "2g"), ("spark.sql.shuffle.partitions", "1"), ("spark.ui.enabled", "false")]
        {
            conf[k] = json!(v);
        }
    }
    let plan = json!({
        "master": master,
        "conf": conf,
        "jobs": plans,
        "output": output_path.to_string_lossy(),
    });
    fs_err::write(dir.join("plan.json"), serde_json::to_string_pretty(&plan)?)?;
    fs_err::write(dir.join("plan.sql"), script)?;
    fs_err::write(dir.join("driver.py"), DRIVER)?;
    let python = std::env::var("TENURE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out =
        Command::new(&python).arg(dir.join("driver.py")).arg(dir.join("plan.json")).output().with_context(|| {
            format!("could not run {python} (set TENURE_PYTHON, or install with scripts/spark-setup)")
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        // The driver's own message names the statement; else the last lines.
        let start = lines.iter().position(|l| l.starts_with("tenure: ")).unwrap_or(lines.len().saturating_sub(15));
        let tail = lines[start..].join("\n");
        let hint = if stderr.contains("No module named 'pyspark'") {
            "\npyspark is not installed: run scripts/spark-setup (pip install -r scripts/requirements-spark.txt and a JDK)"
        } else {
            ""
        };
        bail!("Spark failed:\n{tail}{hint}");
    }
    let text = fs_err::read_to_string(&output_path)?;
    let v: Value = serde_json::from_str(&text).context("reading Spark's results")?;
    let results: Vec<Results> =
        v["jobs"].as_array().into_iter().flatten().filter_map(|j| j["results"].as_object().cloned()).collect();
    if results.len() != jobs.len() {
        bail!("Spark returned {} results for {} metric groups", results.len(), jobs.len());
    }
    Ok(results)
}

fn tempfile_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("tenure-spark-").tempdir().context("creating a temporary directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_knows_the_tick_size() {
        assert_eq!(scale_out::TICKS_PER_MINOR, tenure_model::money::TICKS_PER_MINOR);
    }

    #[test]
    fn results_read_back_as_the_embedded_engine_prints_them() {
        assert_eq!(decimal(&json!("0.2500")).unwrap(), json!(0.25));
        assert_eq!(decimal(&Value::Null).unwrap(), Value::Null);
        assert_eq!(money(&json!("-1234.50")).unwrap(), json!(-1234.5));
        assert_eq!(money(&json!("12")).unwrap(), json!(12.0));
        assert_eq!(int(&json!("42")).unwrap(), json!(42));
        assert_eq!(
            double_2dp(&json!("2.675")).unwrap(),
            round::json(Decimal::from_f64(2.675).map(|d| round::round_dp(d, 2)))
        );
    }

    #[test]
    fn what_spark_does_not_run_is_refused_by_name() {
        let ws_dir = tempfile_dir().unwrap();
        let ws = Workspace::init(ws_dir.path()).unwrap();
        let q = |args: &[&str]| MetricQuery::from_args(args.iter().map(|s| s.to_string())).unwrap();
        let err = |args: &[&str]| prepare(&ws, &q(args), 0).err().expect("refused").to_string();
        let e = err(&["engagement", "--list"]);
        assert!(e.contains("`engagement --list` does not run on Spark"), "{e}");
        let e = err(&["sessions", "--breakdown"]);
        assert!(e.contains("--breakdown"), "{e}");
        let e = err(&["nps", "--segment", "plan_tier"]);
        assert!(e.contains("`nps --segment`"), "{e}");
        let e = err(&["revenue", "--explain", "2024-01"]);
        assert!(e.contains("--explain"), "{e}");
        let e = err(&["support"]);
        assert!(e.contains("`support` does not run on Spark yet") && e.contains(ON_SPARK), "{e}");
        // A supported query compiles: its SQL names what it reads.
        let job = prepare(&ws, &q(&["retention", "--period", "month"]), 0).unwrap();
        assert_eq!(job.plan.tables, vec!["events"]);
    }
}
