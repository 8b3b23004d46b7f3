//! `engagement`, `stickiness`, `sessions`, `retention`, `lifecycle`: product
//! engagement (SPEC 2.2) from the stored usage events.
//!
//! Days are local days in `--timezone` (default: the workspace's time zone);
//! `--from` is the first day included and `--to` the first day excluded; by
//! default the range runs from the first to the last day with events.
//! All history is loaded (a first-time retention cohort needs it; WAU/MAU on
//! the range's first days look back 6/29 days before it).

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use tenure_metrics::engagement::events::{date_to_day, day_to_date};
use tenure_metrics::engagement::sessions::{session_json, summary_by, summary_by_day};
use tenure_metrics::engagement::{
    ActiveEvent, ActorKind, DailyActors, EVENT_COLUMNS, EVENT_COLUMNS_WITH_TRAITS, EventTable, EventTableBuilder,
    Period, RetentionQuery, RetentionType, SessionRules, SessionSummary, active_days, lifecycle, retention,
    retention_daily, sessions, stickiness,
};
use tenure_store::Workspace;

use crate::filter::merge;
use crate::rollup;

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum By {
    /// Persons: userId, else anonymousId.
    #[default]
    User,
    /// Accounts: groupId.
    Account,
}

impl By {
    pub fn kind(self) -> ActorKind {
        match self {
            By::User => ActorKind::User,
            By::Account => ActorKind::Account,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            By::User => "user",
            By::Account => "account",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PeriodArg {
    Day,
    /// Weeks start on Monday.
    #[default]
    Week,
    Month,
}

impl From<PeriodArg> for Period {
    fn from(p: PeriodArg) -> Period {
        match p {
            PeriodArg::Day => Period::Day,
            PeriodArg::Week => Period::Week,
            PeriodArg::Month => Period::Month,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RetentionTypeArg {
    /// Each actor in the cohort of its first-ever start event only.
    #[default]
    FirstTime,
    /// Each actor in every interval in which it did the start event.
    Recurring,
}

/// The range, time zone and output options shared by the engagement metrics.
#[derive(Args, Clone, Debug, Default)]
pub struct RangeArgs {
    /// First local day included (YYYY-MM-DD); default: the first day with events.
    #[arg(long, value_name = "DATE")]
    pub from: Option<Date>,
    /// First local day excluded (YYYY-MM-DD, exclusive end); default: the day after the last day with events.
    #[arg(long, value_name = "DATE")]
    pub to: Option<Date>,
    /// Where days start: an IANA time zone (default: the workspace's `timezone`).
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
    /// Count persons (userId, else anonymousId) or accounts (groupId).
    #[arg(long, value_enum, default_value_t = By::User)]
    pub by: By,
}

#[derive(Args, Clone, Debug)]
pub struct EngagementArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// One day only (instead of --from/--to).
    #[arg(long, value_name = "DATE", conflicts_with_all = ["from", "to"])]
    pub as_of: Option<Date>,
    /// The event that makes an actor active: a track event name, or `*` for any event (default: any track).
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
    /// Drill down: list the actors behind DAU, WAU and MAU (JSON `dau_users`, `wau_users`, `mau_users`).
    #[arg(long)]
    pub list: bool,
}

#[derive(Args, Clone, Debug)]
pub struct StickinessArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// The intervals the range is cut into.
    #[arg(long, value_enum, default_value_t = PeriodArg::Day)]
    pub interval: PeriodArg,
    /// The event that makes an actor active: a track event name, or `*` for any event (default: any track).
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
    /// Drill down: each actor's number of active intervals (`days_active_by_user`).
    #[arg(long)]
    pub list: bool,
}

#[derive(Args, Clone, Debug)]
pub struct SessionsArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// Split where the gap between two events is strictly greater than this (seconds).
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub timeout: i64,
    /// Start a new session for an event more than this after the session's first event (seconds).
    #[arg(long, default_value_t = 86_400, value_name = "SECONDS")]
    pub max_length: i64,
    /// Also break down by actor (--by user|account) and by local day of the session's start.
    #[arg(long)]
    pub breakdown: bool,
    /// List the sessions themselves.
    #[arg(long)]
    pub list: bool,
}

#[derive(Args, Clone, Debug)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// Interval of the cohorts and of the returns.
    #[arg(long, value_enum, default_value_t = PeriodArg::Week)]
    pub period: PeriodArg,
    /// First-time (cohort of the first start event) or recurring.
    #[arg(long = "type", value_enum, default_value_t = RetentionTypeArg::FirstTime)]
    pub retention_type: RetentionTypeArg,
    /// The event that puts an actor in a cohort: a track event name, or `*` (default: any track).
    #[arg(long, value_name = "NAME")]
    pub start_event: Option<String>,
    /// The event that counts as a return: a track event name, or `*` (default: any track).
    #[arg(long, value_name = "NAME")]
    pub return_event: Option<String>,
}

#[derive(Args, Clone, Debug)]
pub struct LifecycleArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// The intervals of the range.
    #[arg(long, value_enum, default_value_t = PeriodArg::Week)]
    pub period: PeriodArg,
    /// The event that makes an actor active: a track event name, or `*` for any event (default: any track).
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
    /// Drill down: the actors of each status (`users`).
    #[arg(long)]
    pub list: bool,
}

/// One engagement metric with its arguments.
pub enum Engagement<'a> {
    Active(&'a EngagementArgs),
    Lifecycle(&'a LifecycleArgs),
    Stickiness(&'a StickinessArgs),
    Sessions(&'a SessionsArgs),
    Retention(&'a RetentionArgs),
}

pub fn time_zone(ws: &Workspace, r: &RangeArgs) -> Result<(String, TimeZone)> {
    let name = r.timezone.clone().unwrap_or_else(|| ws.settings().workspace.timezone.clone());
    let tz = TimeZone::get(&name)
        .with_context(|| format!("--timezone {name:?} is not an IANA time zone (e.g. UTC, Europe/Paris)"))?;
    Ok((name, tz))
}

/// Load the events table (only the needed columns) into the compact form.
pub fn load_events(ws: &Workspace, tz: TimeZone, active: ActiveEvent) -> Result<EventTable> {
    load(ws, tz, active, EVENT_COLUMNS)
}

pub fn load(ws: &Workspace, tz: TimeZone, active: ActiveEvent, columns: &[&str]) -> Result<EventTable> {
    let mut b = EventTableBuilder::new(tz, active);
    rollup::each_file(&ws.table_paths("events"), columns, |path, batches| {
        for batch in &batches {
            b.push_batch(batch).with_context(|| format!("reading {}", path.display()))?;
        }
        Ok(())
    })?;
    Ok(b.finish())
}

/// The local-day range `[from, to)`: given, or the days with events.
pub fn day_range(span: Option<(i32, i32)>, r: &RangeArgs) -> Result<(i32, i32)> {
    if let (Some(a), Some(b)) = (r.from, r.to)
        && b <= a
    {
        bail!("--to {b} must be after --from {a} (the end is exclusive)");
    }
    let from = r.from.map(date_to_day).or(span.map(|s| s.0));
    let to = r.to.map(date_to_day).or(span.map(|s| s.1 + 1));
    Ok(match (from, to) {
        (Some(a), Some(b)) => (a, b.max(a)),
        _ => (0, 0),
    })
}

/// The keys every engagement document starts with.
pub fn header(name: &str, range: (i32, i32), tzname: &str, r: &RangeArgs) -> Value {
    let date = |d: i32| if range.1 > range.0 { Value::from(day_to_date(d).to_string()) } else { Value::Null };
    json!({"metric": name, "from": date(range.0), "to": date(range.1), "timezone": tzname, "by": r.by.name()})
}

/// The document of `tenure metrics <engagement metric> --json`.
pub fn compute(ws: &Workspace, command: Engagement) -> Result<Value> {
    match command {
        Engagement::Active(a) => active(ws, a),
        Engagement::Stickiness(a) => stickiness_doc(ws, a),
        Engagement::Sessions(a) => sessions_doc(ws, a),
        Engagement::Retention(a) => retention_doc(ws, a),
        Engagement::Lifecycle(a) => lifecycle_doc(ws, a),
    }
}

fn active(ws: &Workspace, a: &EngagementArgs) -> Result<Value> {
    let (tzname, tz) = time_zone(ws, &a.range)?;
    let active = ActiveEvent::from_option(a.event.as_deref());
    let mut r = a.range.clone();
    if let Some(d) = a.as_of {
        r.from = Some(d);
        r.to = Some(d.tomorrow()?);
    }
    let sets = rollup::active_sets(ws, &tz, &tzname, &active, r.by.kind(), a.list)?;
    let range = day_range(sets.span, &r)?;
    let days = active_days(&sets.daily, range.0, range.1, a.list);
    let mut o = header("engagement", range, &tzname, &r);
    o["active_event"] = Value::from(active.to_string());
    o["days"] = days.iter().map(|d| d.to_json(&sets.names)).collect();
    Ok(o)
}

fn stickiness_doc(ws: &Workspace, a: &StickinessArgs) -> Result<Value> {
    let (tzname, tz) = time_zone(ws, &a.range)?;
    let active = ActiveEvent::from_option(a.event.as_deref());
    let sets = rollup::active_sets(ws, &tz, &tzname, &active, a.range.by.kind(), a.list)?;
    let range = day_range(sets.span, &a.range)?;
    let s = stickiness(&sets.daily, a.interval.into(), range.0, range.1);
    let mut o = header("stickiness", range, &tzname, &a.range);
    o["interval"] = Value::from(Period::from(a.interval).name());
    o["active_event"] = Value::from(active.to_string());
    merge(&mut o, s.to_json(&sets.names, a.list));
    Ok(o)
}

fn sessions_doc(ws: &Workspace, a: &SessionsArgs) -> Result<Value> {
    if a.timeout < 0 || a.max_length < 0 {
        bail!("--timeout and --max-length are seconds, 0 or more");
    }
    let (tzname, tz) = time_zone(ws, &a.range)?;
    let t = load_events(ws, tz, ActiveEvent::AnyEvent)?;
    let range = day_range(t.day_span(), &a.range)?;
    let rules = SessionRules { timeout_seconds: a.timeout, max_length_seconds: a.max_length };
    let all = sessions(&t, rules, Some(range));
    let summary = SessionSummary::of(&all);
    let kind = a.range.by.kind();
    let mut o = header("sessions", range, &tzname, &a.range);
    o["timeout_seconds"] = Value::from(a.timeout);
    o["max_length_seconds"] = Value::from(a.max_length);
    merge(&mut o, summary.to_json());
    if a.breakdown {
        o[format!("by_{}", a.range.by.name())] = summary_by(&t, &all, kind)
            .iter()
            .map(|(id, m)| {
                let mut v = m.to_json();
                v["id"] = Value::from(id.as_str());
                v
            })
            .collect();
        o["by_day"] = summary_by_day(&all)
            .iter()
            .map(|(d, m)| {
                let mut v = m.to_json();
                v["date"] = Value::from(day_to_date(*d).to_string());
                v
            })
            .collect();
    }
    if a.list {
        o["sessions"] = all.iter().map(|s| session_json(&t, s)).collect();
    }
    Ok(o)
}

fn retention_doc(ws: &Workspace, a: &RetentionArgs) -> Result<Value> {
    let (tzname, tz) = time_zone(ws, &a.range)?;
    let start_event = ActiveEvent::from_option(a.start_event.as_deref());
    let return_event = ActiveEvent::from_option(a.return_event.as_deref());
    let kind = a.range.by.kind();
    let retention_type = match a.retention_type {
        RetentionTypeArg::FirstTime => RetentionType::FirstTime,
        RetentionTypeArg::Recurring => RetentionType::Recurring,
    };
    // One event for both: the per-day active sets answer (rollups where warm).
    let (table, names, range) = if start_event == return_event {
        let sets = rollup::active_sets(ws, &tz, &tzname, &start_event, kind, true)?;
        let range = day_range(sets.span, &a.range)?;
        (retention_daily(&sets.daily, a.period.into(), retention_type, range.0, range.1), sets.names, range)
    } else {
        let t = load_events(ws, tz, start_event.clone())?;
        let range = day_range(t.day_span(), &a.range)?;
        let q = RetentionQuery {
            kind,
            period: a.period.into(),
            retention_type,
            start_event: start_event.clone(),
            return_event: return_event.clone(),
            from: range.0,
            to: range.1,
        };
        (retention(&t, &q), t.names(kind).to_vec(), range)
    };
    let mut o = header("retention", range, &tzname, &a.range);
    o["retention_type"] = Value::from(match a.retention_type {
        RetentionTypeArg::FirstTime => "first_time",
        RetentionTypeArg::Recurring => "recurring",
    });
    o["start_event"] = Value::from(start_event.to_string());
    o["return_event"] = Value::from(return_event.to_string());
    merge(&mut o, table.to_json(&names));
    Ok(o)
}

fn lifecycle_doc(ws: &Workspace, a: &LifecycleArgs) -> Result<Value> {
    let (tzname, tz) = time_zone(ws, &a.range)?;
    let active = ActiveEvent::from_option(a.event.as_deref());
    let t = load(ws, tz, active.clone(), EVENT_COLUMNS_WITH_TRAITS)?;
    let range = day_range(t.day_span(), &a.range)?;
    let kind = a.range.by.kind();
    let period = Period::from(a.period);
    let intervals = lifecycle(&t, &DailyActors::build(&t, kind), period, range.0, range.1);
    let mut o = header("lifecycle", range, &tzname, &a.range);
    o["period"] = Value::from(period.name());
    o["active_event"] = Value::from(active.to_string());
    o["intervals"] = intervals.iter().map(|i| i.to_json(&t, kind, a.list)).collect();
    Ok(o)
}
