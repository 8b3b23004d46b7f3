//! Scale-out (SPEC 4): the metric groups compiled to Spark SQL by
//! `tenure_engine::scale_out`, printed for teams that schedule the SQL
//! themselves (`tenure export-sql --dialect spark <group>`) or run on Spark
//! through pyspark and printed as the same JSON as `tenure metrics <group>
//! --json` ([`run_group_on_spark`]).
//!
//! What runs where: Tenure reads the manifest (so Spark reads exactly the
//! committed files), builds the SQL, and for revenue builds the MRR ledger per
//! customer and writes it as Parquet beside the workspace (`scale-out/`);
//! Spark does every scan, join and aggregation; Tenure reads the result rows
//! back and arranges them into the embedded engine's JSON document.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde_json::{Map, Value, json};
use tenure_engine::datafusion_arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
};
use tenure_engine::scale_out::{self, Actor, DayRange, Dialect, EventFilter, Interval, Plan, Spark, Statement};
use tenure_metrics::revenue::{self, FxTable, MonthIdx, Rules};
use tenure_metrics::round;
use tenure_model::{Cancellation, FxRate, Invoice, Plan as PricePlan, SubscriptionEvent};
use tenure_store::Workspace;

use crate::output;

pub const AFTER_HELP: &str = "\
Examples:
  tenure export-sql --dialect spark engagement --from 2026-01-01 --to 2026-02-01 > dau.sql
  tenure export-sql --dialect spark retention --period month
  tenure export-sql --dialect spark nps --run                      run on Spark (pyspark, local mode) and print the JSON
  tenure export-sql --dialect spark revenue --run --spark-master spark://head:7077 --spark-data /mnt/shared/tenure-data

The SQL reads the workspace's tables by name: register each from exactly the files its manifest.json lists.
For revenue, the ledger is built by tenure and written to DIR/scale-out/*.parquet first.
--run needs python3 with pyspark and a JDK (scripts/spark-setup installs both). See docs/scale-out.md.";

/// The metric groups that run on Spark.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// DAU, WAU, MAU and their ratios.
    Engagement,
    /// Session count, average duration, total time, single-event sessions.
    Sessions,
    /// First-time and recurring retention tables.
    Retention,
    /// NPS overall, per survey and per month.
    Nps,
    /// CSAT overall and per survey.
    Csat,
    /// Monthly MRR, subscribers and movements (from the ledger tenure builds).
    Revenue,
}

impl Group {
    fn name(self) -> &'static str {
        match self {
            Group::Engagement => "engagement",
            Group::Sessions => "sessions",
            Group::Retention => "retention",
            Group::Nps => "nps",
            Group::Csat => "csat",
            Group::Revenue => "revenue",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialectArg {
    Spark,
}

/// `tenure export-sql`: the options of `tenure metrics <group>` that the
/// scale-out SQL supports, with the same names and defaults.
#[derive(Args, Clone, Debug)]
pub struct ExportSqlArgs {
    /// The SQL dialect.
    #[arg(long, value_enum, default_value_t = DialectArg::Spark)]
    pub dialect: DialectArg,
    /// The metric groups (with --run, several share one Spark session and print as {"group": document}).
    #[arg(value_enum, required = true, num_args = 1..)]
    pub groups: Vec<Group>,
    /// First day (YYYY-MM-DD) included; for revenue the first month (YYYY-MM).
    #[arg(long)]
    pub from: Option<String>,
    /// First day excluded (YYYY-MM-DD); for revenue the last month included (YYYY-MM).
    #[arg(long)]
    pub to: Option<String>,
    /// engagement: one day only.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Where days start (IANA zone; default: the workspace's).
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
    /// user or account.
    #[arg(long, value_name = "user|account")]
    pub by: Option<String>,
    /// engagement: the event that makes an actor active (`*` = any event).
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
    /// sessions: split after more than this many seconds idle (default 1800).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<i64>,
    /// sessions: maximum length in seconds (default 86400).
    #[arg(long, value_name = "SECONDS")]
    pub max_length: Option<i64>,
    /// retention: day, week or month (default week).
    #[arg(long, value_name = "day|week|month")]
    pub period: Option<String>,
    /// retention: first-time or recurring.
    #[arg(long = "type", value_name = "first-time|recurring")]
    pub retention_type: Option<String>,
    /// retention: the cohort event.
    #[arg(long, value_name = "NAME")]
    pub start_event: Option<String>,
    /// retention: the return event.
    #[arg(long, value_name = "NAME")]
    pub return_event: Option<String>,
    /// nps, csat: only this survey.
    #[arg(long, value_name = "ID")]
    pub survey: Option<String>,
    /// nps: highest detractor score (default 6).
    #[arg(long, value_name = "SCORE")]
    pub detractor_max: Option<i64>,
    /// nps: confidence level of the interval (default 0.95).
    #[arg(long, value_name = "LEVEL")]
    pub confidence: Option<f64>,
    /// Run the SQL on Spark and print the JSON of `tenure metrics <group> --json` instead of the SQL.
    #[arg(long)]
    pub run: bool,
    /// With --run: the Spark master URL (default: local mode, local[2]).
    #[arg(long, value_name = "URL", requires = "run")]
    pub spark_master: Option<String>,
    /// The workspace directory as the cluster sees it (a shared path or object-store URL; default: its local path).
    #[arg(long, value_name = "PATH")]
    pub spark_data: Option<String>,
}

impl ExportSqlArgs {
    /// The options as the JSON object [`run_group_on_spark`] takes.
    fn options(&self) -> Value {
        let mut o = Map::new();
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                o.insert(k.to_string(), v);
            }
        };
        put("from", json!(self.from));
        put("to", json!(self.to));
        put("as_of", json!(self.as_of));
        put("timezone", json!(self.timezone));
        put("by", json!(self.by));
        put("event", json!(self.event));
        put("timeout", json!(self.timeout));
        put("max_length", json!(self.max_length));
        put("period", json!(self.period));
        put("type", json!(self.retention_type));
        put("start_event", json!(self.start_event));
        put("return_event", json!(self.return_event));
        put("survey", json!(self.survey));
        put("detractor_max", json!(self.detractor_max));
        put("confidence", json!(self.confidence));
        put("spark_data", json!(self.spark_data));
        Value::Object(o)
    }
}

pub fn run_export(data: &Path, args: ExportSqlArgs) -> Result<ExitCode> {
    let options = args.options();
    let names: Vec<&str> = args.groups.iter().map(|g| g.name()).collect();
    if args.run {
        let master = args.spark_master.as_deref();
        if let [one] = names.as_slice() {
            output::json(&run_group_on_spark(data, one, &options, master)?);
        } else {
            let docs = run_groups_on_spark(data, &names, &options, master)?;
            output::json(&Value::Object(names.iter().map(|n| n.to_string()).zip(docs).collect()));
        }
    } else {
        let ws = Workspace::open(data)?;
        for g in &args.groups {
            let job = prepare(&ws, *g, &Options(&options))?;
            output::line(job.plan.script().trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Run a metric group on Spark and return the JSON document `tenure metrics
/// <group> --json` prints. `args` holds that command's options by their
/// long names with `_` for `-` (`from`, `to`, `as_of`, `timezone`, `by`,
/// `event`, `timeout`, `max_length`, `period`, `type`, `start_event`,
/// `return_event`, `survey`, `detractor_max`, `confidence`), plus
/// `spark_data`: the workspace as the cluster sees it. Options the Spark SQL
/// does not cover (`list`, `segment`, `breakdown`, `set`, ...) are refused
/// when set rather than ignored. `master`: a Spark master URL (default local mode).
pub fn run_group_on_spark(data: &Path, group: &str, args: &Value, master: Option<&str>) -> Result<Value> {
    let mut docs = run_groups_on_spark(data, &[group], args, master)?;
    docs.pop().ok_or_else(|| anyhow!("Spark returned no document"))
}

/// [`run_group_on_spark`] for several groups with the same options, in one
/// Spark session (the JVM starts once).
pub fn run_groups_on_spark(data: &Path, groups: &[&str], args: &Value, master: Option<&str>) -> Result<Vec<Value>> {
    let ws = Workspace::open(data)?;
    let opts = Options(args);
    opts.refuse_unsupported()?;
    let jobs = groups
        .iter()
        .map(|g| {
            let group = Group::from_str(g, true).map_err(|_| {
                anyhow!("`{g}` does not run on Spark yet: one of engagement, sessions, retention, nps, csat, revenue")
            })?;
            prepare(&ws, group, &opts)
        })
        .collect::<Result<Vec<Job>>>()?;
    let results = submit(&ws, &jobs, opts.str("spark_data")?, master)?;
    jobs.iter().zip(&results).map(|(job, r)| (job.shape)(r)).collect()
}

/// Options by name, with errors that name the flag.
struct Options<'a>(&'a Value);

impl Options<'_> {
    fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }
    fn str(&self, k: &str) -> Result<Option<&str>> {
        self.get(k).map(|v| v.as_str().ok_or_else(|| anyhow!("--{}: expected text", flag(k)))).transpose()
    }
    fn int(&self, k: &str) -> Result<Option<i64>> {
        self.get(k).map(|v| v.as_i64().ok_or_else(|| anyhow!("--{}: expected a whole number", flag(k)))).transpose()
    }
    fn date(&self, k: &str) -> Result<Option<Date>> {
        self.str(k)?
            .map(|s| s.parse::<Date>().map_err(|e| anyhow!("--{} {s}: expected YYYY-MM-DD ({e})", flag(k))))
            .transpose()
    }
    fn refuse_unsupported(&self) -> Result<()> {
        const KNOWN: &[&str] = &[
            "from",
            "to",
            "as_of",
            "timezone",
            "by",
            "event",
            "timeout",
            "max_length",
            "period",
            "type",
            "start_event",
            "return_event",
            "survey",
            "detractor_max",
            "confidence",
            "spark_data",
            "json",
        ];
        for (k, v) in self.0.as_object().into_iter().flatten() {
            let set = !matches!(v, Value::Null | Value::Bool(false)) && !(v.as_array().is_some_and(|a| a.is_empty()));
            if set && !KNOWN.contains(&k.as_str()) {
                bail!("--{} is not supported with --engine spark yet (see docs/scale-out.md)", flag(k));
            }
        }
        Ok(())
    }
}

fn flag(k: &str) -> String {
    k.replace('_', "-")
}

type Results = Map<String, Value>;

/// Turns a job's Spark results into the JSON document of `tenure metrics`.
type Shape = Box<dyn Fn(&Results) -> Result<Value>>;

/// A plan, the ledger files it needs, and how to shape its results.
struct Job {
    plan: Plan,
    /// Derived tables written by tenure: name -> files.
    derived: Vec<(&'static str, String, Vec<PathBuf>)>,
    shape: Shape,
}

fn prepare(ws: &Workspace, group: Group, o: &Options<'_>) -> Result<Job> {
    let d: &dyn Dialect = &Spark;
    match group {
        Group::Engagement | Group::Sessions | Group::Retention => engagement_job(ws, group, o, d),
        Group::Nps | Group::Csat => survey_job(ws, group, o, d),
        Group::Revenue => revenue_job(ws, o, d),
    }
}

// ------------------------------------------------------------------ engagement

fn event_filter(name: Option<&str>) -> (EventFilter, String) {
    match name {
        None => (EventFilter::AnyTrack, "any track".into()),
        Some("*") => (EventFilter::AnyEvent, "any event".into()),
        Some(n) => (EventFilter::Named(n.into()), format!("track {n:?}")),
    }
}

fn engagement_job(ws: &Workspace, group: Group, o: &Options<'_>, d: &dyn Dialect) -> Result<Job> {
    let tzname = o.str("timezone")?.map(str::to_string).unwrap_or_else(|| ws.settings().workspace.timezone.clone());
    TimeZone::get(&tzname)
        .with_context(|| format!("--timezone {tzname:?} is not an IANA time zone (e.g. UTC, Europe/Paris)"))?;
    let (mut from, mut to) = (o.date("from")?, o.date("to")?);
    if let Some(day) = o.date("as_of")? {
        (from, to) = (Some(day), Some(day.tomorrow()?));
    }
    if let (Some(a), Some(b)) = (from, to)
        && b <= a
    {
        bail!("--to {b} must be after --from {a} (the end is exclusive)");
    }
    let range = DayRange { from: from.map(|d| d.to_string()), to: to.map(|d| d.to_string()), timezone: tzname.clone() };
    let (actor, by) = match o.str("by")?.unwrap_or("user") {
        "user" => (Actor::User, "user"),
        "account" => (Actor::Account, "account"),
        other => bail!("--by {other}: one of user, account"),
    };
    let header = move |name: &str, r: &Results| -> Result<Value> {
        let row = r["range"].as_array().and_then(|a| a.first()).cloned().unwrap_or(Value::Null);
        let (f, t) = (row["from_day"].as_str(), row["to_day"].as_str());
        let nonempty = matches!((f, t), (Some(a), Some(b)) if b > a);
        let date = |v: Option<&str>| if nonempty { json!(v) } else { Value::Null };
        Ok(json!({"metric": name, "from": date(f), "to": date(t), "timezone": tzname, "by": by}))
    };
    Ok(match group {
        Group::Engagement => {
            let (active, label) = event_filter(o.str("event")?);
            let plan = scale_out::active_actors(d, &range, actor, &active);
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
        Group::Sessions => {
            let timeout = o.int("timeout")?.unwrap_or(1800);
            let max_length = o.int("max_length")?.unwrap_or(86_400);
            if timeout < 0 || max_length < 0 {
                bail!("--timeout and --max-length are seconds, 0 or more");
            }
            let rules = scale_out::SessionRules { timeout_seconds: timeout, max_length_seconds: max_length };
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
        _ => {
            let (interval, period) = match o.str("period")?.unwrap_or("week") {
                "day" => (Interval::Day, "day"),
                "week" => (Interval::Week, "week"),
                "month" => (Interval::Month, "month"),
                other => bail!("--period {other}: one of day, week, month"),
            };
            let (recurring, type_name) = match o.str("type")?.unwrap_or("first-time") {
                "first-time" | "first_time" => (false, "first_time"),
                "recurring" => (true, "recurring"),
                other => bail!("--type {other}: one of first-time, recurring"),
            };
            let (start_event, start_label) = event_filter(o.str("start_event")?);
            let (return_event, return_label) = event_filter(o.str("return_event")?);
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

fn survey_job(ws: &Workspace, group: Group, o: &Options<'_>, d: &dyn Dialect) -> Result<Job> {
    let tzname = ws.settings().workspace.timezone.clone();
    let tz = TimeZone::get(&tzname).with_context(|| format!("time zone {tzname}"))?;
    let (from, to) = (o.date("from")?, o.date("to")?);
    if let (Some(a), Some(b)) = (from, to)
        && b <= a
    {
        bail!("--to {b} must be after --from {a} (the end is exclusive)");
    }
    let at = |d: Date| -> Result<jiff::Timestamp> { Ok(d.to_zoned(tz.clone())?.timestamp()) };
    let (from, to) = (from.map(at).transpose()?, to.map(at).transpose()?);
    let survey = o.str("survey")?.map(str::to_string);
    if let Some(s) = &survey {
        let known = tenure_store::load::<tenure_model::SurveyResponse>(ws)?.iter().any(|r| &r.survey_id == s);
        if !known {
            bail!("no survey {s:?} in the workspace");
        }
    }
    let q = scale_out::SurveyQuery {
        survey_type: group.name().into(),
        survey: survey.clone(),
        from_us: from.map(|t| t.as_microsecond()),
        to_us: to.map(|t| t.as_microsecond()),
        timezone: tzname,
    };
    let period = json!({"from": from.map(|t| t.to_string()), "to": to.map(|t| t.to_string())});
    let head = json!({"metric": group.name(), "survey": survey, "period": period});
    Ok(if group == Group::Nps {
        let detractor_max = o.int("detractor_max")?.unwrap_or(6);
        if !(0..=8).contains(&detractor_max) {
            bail!("--detractor-max {detractor_max}: expected 0 to 8");
        }
        let confidence = o
            .get("confidence")
            .map(|v| v.as_f64().ok_or_else(|| anyhow!("--confidence: expected a number")))
            .transpose()?
            .unwrap_or(0.95);
        let z = tenure_metrics::voice::z_for_confidence(confidence);
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

fn revenue_job(ws: &Workspace, o: &Options<'_>, d: &dyn Dialect) -> Result<Job> {
    let settings = ws.settings().clone();
    settings.validate().map_err(|e| anyhow!("{e}"))?;
    let rules = Rules::from_settings(&settings.revenue).map_err(|e| anyhow!("{e}"))?;
    let events = tenure_store::load::<SubscriptionEvent>(ws)?;
    let plans = tenure_store::load::<PricePlan>(ws)?;
    let rates = tenure_store::load::<FxRate>(ws)?;
    let invoices = tenure_store::load::<Invoice>(ws)?;
    let cancellations = tenure_store::load::<Cancellation>(ws)?;
    let fx = FxTable::new(settings.workspace.reporting_currency, &rates);
    let ledger =
        revenue::build_all(&events, &invoices, &cancellations, &plans, &rules, &fx).map_err(|e| anyhow!("{e}"))?;
    let dates = || events.iter().map(|e| e.date).chain(invoices.iter().map(|i| i.date));
    let no_data = || anyhow!("no subscription events or invoices in the workspace: import some first");
    let month = |flag: &str, default: fn(&(Date, Date)) -> Date| -> Result<MonthIdx> {
        Ok(match o.str(flag)? {
            Some(s) => revenue::month_idx(tenure_model::time::parse_month(s).map_err(|e| anyhow!("--{flag}: {e}"))?),
            None => revenue::month_idx(default(&dates().min().zip(dates().max()).ok_or_else(no_data)?)),
        })
    };
    let (from, to) = (month("from", |r| r.0)?, month("to", |r| r.1)?);
    if to < from {
        bail!("--to {} is before --from {}", revenue::month_label(to), revenue::month_label(from));
    }

    // The ledger, per customer, as two tables: subscriber month-ends (MRR at
    // that month's rate) and the netted daily movements.
    let (mut ids, mut months, mut past_due, mut live, mut mrr) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut mv_ids, mut mv_dates, mut mv_months, mut kinds, mut amounts) = (vec![], vec![], vec![], vec![], vec![]);
    let day = |d: Date| tenure_store::schema::date_to_days(d);
    for c in &ledger.customers {
        for m in (from - 1)..=to {
            if let Some(s) = c.state_on(revenue::fx::month_last_day(m)).filter(|s| s.subscriber) {
                ids.push(c.customer_id.clone());
                months.push(day(revenue::fx::month_first_day(m)));
                past_due.push(s.past_due);
                live.push(s.live_subscriptions as i64);
                mrr.push(fx.convert_all(&s.mrr, m).map_err(|e| anyhow!("{e}"))?.ticks());
            }
        }
        for mv in &c.movements {
            mv_ids.push(c.customer_id.clone());
            mv_dates.push(day(mv.date));
            mv_months.push(day(mv.date.first_of_month()));
            kinds.push(mv.kind.as_str());
            amounts.push(mv.amount.ticks());
        }
    }
    let ticks =
        |v: Vec<i128>| -> Result<ArrayRef> { Ok(Arc::new(Decimal128Array::from(v).with_precision_and_scale(38, 0)?)) };
    let month_ends = RecordBatch::try_from_iter(vec![
        ("customer_id", Arc::new(StringArray::from(ids)) as ArrayRef),
        ("month", Arc::new(Date32Array::from(months))),
        ("past_due", Arc::new(BooleanArray::from(past_due))),
        ("live_subscriptions", Arc::new(Int64Array::from(live))),
        ("mrr_ticks", ticks(mrr)?),
    ])?;
    let movements = RecordBatch::try_from_iter(vec![
        ("customer_id", Arc::new(StringArray::from(mv_ids)) as ArrayRef),
        ("date", Arc::new(Date32Array::from(mv_dates))),
        ("month", Arc::new(Date32Array::from(mv_months))),
        ("kind", Arc::new(StringArray::from(kinds))),
        ("amount_ticks", ticks(amounts)?),
    ])?;
    let dir = ws.root().join(LEDGER_DIR);
    fs_err::create_dir_all(&dir)?;
    let mut derived = Vec::new();
    for (name, batch) in [("ledger_month_ends", month_ends), ("ledger_movements", movements)] {
        let path = dir.join(format!("{name}.parquet"));
        scale_out::write_parquet(&path, &batch)?;
        derived.push((name, scale_out::spark_schema(&batch.schema())?, vec![path]));
    }

    let first = |m: MonthIdx| revenue::fx::month_first_day(m).to_string();
    let plan = scale_out::revenue_months(d, &first(from), &first(to));
    let shape = |r: &Results| -> Result<Value> {
        let mut months = Map::new();
        for m in rows(r, "months")? {
            let mut o = Map::new();
            for k in ["mrr_cents", "arr_cents", "arpa_cents", "net_new_mrr_cents", "fx_impact_cents"] {
                o.insert(k.into(), money(&m[k])?);
            }
            for k in [
                "subscribers",
                "subscribers_start",
                "active_subscriptions",
                "past_due_subscribers",
                "new_business_customers",
                "reactivated_customers",
                "churned_customers",
            ] {
                o.insert(k.into(), int(&m[k])?);
            }
            let mut mv = Map::new();
            for k in ["new_business", "expansion", "contraction", "churn", "reactivation"] {
                mv.insert(k.into(), money(&m[format!("movement_{k}").as_str()])?);
            }
            o.insert("movements".into(), Value::Object(mv));
            for k in [
                "customer_churn_rate",
                "gross_mrr_churn_rate",
                "net_mrr_churn_rate",
                "quick_ratio",
                "quick_ratio_incl_reactivation",
            ] {
                o.insert(k.into(), decimal(&m[k])?);
            }
            let label = m["month"].as_str().ok_or_else(|| anyhow!("Spark returned a month without a label"))?;
            months.insert(label.to_string(), Value::Object(o));
        }
        Ok(json!({ "months": months }))
    };
    Ok(Job { plan, derived, shape: Box::new(shape) })
}

/// Where revenue's ledger tables are written, inside the workspace directory
/// (outside `tables/`, which only the manifest describes).
pub const LEDGER_DIR: &str = "scale-out";

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
    let plan = json!({
        "master": master,
        "conf": {
            "spark.driver.memory": "2g",
            "spark.sql.shuffle.partitions": "4",
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.enabled": "false",
            "spark.sql.ansi.enabled": "true",
            // Day partitions are many small files: list them on the driver
            // instead of launching a listing job per table.
            "spark.sql.sources.parallelPartitionDiscovery.threshold": "1000000",
        },
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
    fn unsupported_options_are_refused_not_ignored() {
        let v = json!({"from": "2024-01-01", "list": true, "json": true});
        let e = Options(&v).refuse_unsupported().unwrap_err().to_string();
        assert!(e.contains("--list"), "{e}");
        let ok = json!({"from": "2024-01-01", "list": false, "set": []});
        Options(&ok).refuse_unsupported().unwrap();
    }
}
