//! `engagement`, `stickiness`, `sessions`, `retention`, `lifecycle`: product
//! engagement (SPEC 2.2) from the stored usage events.
//!
//! Days are local days in `--timezone` (default: the workspace's time zone);
//! `--from` is the first day included and `--to` the first day excluded; by
//! default the range runs from the first to the last day with events.
//! All history is loaded (a first-time retention cohort needs it; WAU/MAU on
//! the range's first days look back 6/29 days before it).
//!
//! `--segment ATTR` cuts by a customer attribute: an event belongs to the
//! segment of its account (`groupId`, the customer id; `(none)` without one or
//! for an unknown account), and each segment's figures are computed on its
//! events alone, over the same days, into `segments[]` of {`segment`, the
//! same keys as the whole}. A person active in accounts of two segments counts
//! in both (PostHog's breakdown by a group property). Creation times
//! (lifecycle) come from all of a person's events.

use std::collections::{BTreeMap, HashMap};

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::DataType;
use clap::{Args, ValueEnum};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use tenure_metrics::engagement::events::{TRACK, date_to_day, day_to_date};
use tenure_metrics::engagement::funnel;
use tenure_metrics::engagement::sessions::{session_json, summary_by, summary_by_day};
use tenure_metrics::engagement::{
    ActiveEvent, ActorKind, DailyActors, EVENT_COLUMNS, EVENT_COLUMNS_WITH_TRAITS, EventTable, EventTableBuilder,
    Period, RetentionQuery, RetentionType, SessionRules, SessionStream, SessionSummary, active_days, lifecycle,
    retention, retention_daily, sessions, stickiness,
};
use tenure_store::Workspace;

use crate::filter::{NONE, merge, segments_of};
use crate::rollup;
use crate::session_rollup::{self, Totals};

pub const SEGMENT_AFTER_HELP: &str = "\
Examples:
  tenure metrics engagement --from 2025-01-01 --to 2025-02-01          every day of January
  tenure metrics retention --period week --by account --json
  tenure metrics engagement --as-of 2025-03-31 --segment plan_tier     one day, per plan tier
  tenure metrics sessions --segment country --csv                      a segment column in the CSV

--segment ATTR cuts by a customer attribute (segment, plan_tier, country, owner, or any extra
attribute): an event belongs to the segment of its account (groupId = the customer id;
(none) without one). Each segment is computed on its own events over the same days, in the
same JSON shape, under segments[]; a person active in two segments counts in both.";

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
    /// Also cut by this customer attribute of the event's account (segment, plan_tier, country, ...).
    #[arg(long, value_name = "ATTR")]
    pub segment: Option<String>,
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

/// The key of the shared events table read with `columns` in zone `tz`.
fn events_key(tz: &TimeZone, columns: &[&str]) -> String {
    let zone = tz.iana_name().map_or_else(|| format!("{tz:?}"), str::to_string);
    format!("events/{zone}/{}", columns.join(","))
}

/// Read the events files `paths` (only `columns`) into the compact form.
fn read_events(paths: &[PathBuf], tz: TimeZone, columns: &[&str]) -> Result<EventTable> {
    let mut b = EventTableBuilder::new(tz, ActiveEvent::AnyTrack);
    rollup::each_file(paths, columns, |path, batches| {
        for batch in &batches {
            b.push_batch(batch).with_context(|| format!("reading {}", path.display()))?;
        }
        Ok(())
    })?;
    Ok(b.finish())
}

/// The shared events table ([`load_events`]) if something has already read
/// it for this workspace state; nothing is read.
pub fn loaded_events(ws: &Workspace, tz: &TimeZone) -> Option<Arc<EventTable>> {
    crate::cache::peek(ws, &events_key(tz, EVENT_COLUMNS_WITH_TRAITS))
}

/// The events table's files with the UTC day each holds (`None`: a file of
/// no one day, which can hold any); nothing is read.
pub fn event_file_days(ws: &Workspace) -> Vec<(PathBuf, Option<i32>)> {
    let Some(t) = ws.manifest().tables.get("events") else { return Vec::new() };
    t.files
        .iter()
        .map(|f| {
            let day = f.day.as_deref().and_then(|d| d.parse::<Date>().ok()).map(date_to_day);
            (ws.root().join(&f.path), day)
        })
        .collect()
}

/// The events of the local days `from..=to` ([`EVENT_COLUMNS`]), from the
/// files [`event_file_days`] lists. Events files are partitioned by UTC day
/// and a local day overlaps at most the UTC days before, of and after it, so
/// only the files of the UTC days `from - 1 ..= to + 1` are read: the table
/// holds every event of `from..=to` and some of the days on either side.
pub fn read_event_days(files: &[(PathBuf, Option<i32>)], tz: TimeZone, from: i32, to: i32) -> Result<EventTable> {
    let paths: Vec<PathBuf> = files
        .iter()
        .filter(|(_, day)| day.is_none_or(|d| d >= from.saturating_sub(1) && d <= to.saturating_add(1)))
        .map(|(p, _)| p.clone())
        .collect();
    read_events(&paths, tz, EVENT_COLUMNS)
}

/// Load the events table (only the needed columns) into the compact form.
pub fn load_events(ws: &Workspace, tz: TimeZone, active: ActiveEvent) -> Result<Arc<EventTable>> {
    load(ws, tz, active, EVENT_COLUMNS)
}

/// The events table in the compact form, shared per workspace state
/// ([`crate::cache`]): every metric of a dashboard page, and the health and
/// churn inputs, use one loaded copy instead of reading every event again.
///
/// [`EVENT_COLUMNS`] are served from the table read with `traits` (the
/// creation times it adds are read by lifecycle only), so both share one
/// copy; an active event other than any track is the same rows with their
/// `active` flags set again, not another read.
pub fn load(ws: &Workspace, tz: TimeZone, active: ActiveEvent, columns: &[&str]) -> Result<Arc<EventTable>> {
    let columns = if columns == EVENT_COLUMNS { EVENT_COLUMNS_WITH_TRAITS } else { columns };
    let key = events_key(&tz, columns);
    let base = crate::cache::shared(ws, &key, || read_events(&ws.table_paths("events"), tz, columns))?;
    if active == ActiveEvent::AnyTrack {
        return Ok(base);
    }
    let mut t = (*base).clone();
    let named = match &active {
        ActiveEvent::Named(n) => t.event_names.get(n),
        _ => None,
    };
    t.active = t
        .kind
        .iter()
        .zip(&t.event)
        .map(|(&k, &e)| match &active {
            ActiveEvent::AnyTrack => k == TRACK,
            ActiveEvent::AnyEvent => true,
            ActiveEvent::Named(_) => k == TRACK && named == Some(e),
        })
        .collect();
    Ok(Arc::new(t))
}

/// The events table, and with a segment attribute one table per segment value.
pub struct Cut {
    pub all: Arc<EventTable>,
    pub attribute: Option<String>,
    /// Segment value -> its events, sorted by value.
    pub segments: Vec<(String, EventTable)>,
}

/// Load the events once; with `segment`, also split them by the attribute of
/// each event's account (`groupId`); with `identities` (`anonymousId` ->
/// `userId`), an anonymous event is its identified person's.
pub fn load_cut(
    ws: &Workspace,
    tz: TimeZone,
    active: ActiveEvent,
    columns: &[&str],
    segment: Option<&str>,
    identities: Option<&HashMap<String, String>>,
) -> Result<Cut> {
    if segment.is_none() && identities.is_none() {
        // The plain table is shared per workspace state (see `load`).
        return Ok(Cut { all: load(ws, tz, active, columns)?, attribute: None, segments: Vec::new() });
    }
    let seg_of: Option<HashMap<String, String>> = segment.map(|a| segments_of(ws, a)).transpose()?;
    let mut all = EventTableBuilder::new(tz.clone(), active.clone());
    let mut parts: BTreeMap<String, EventTableBuilder> = BTreeMap::new();
    for path in ws.table_paths("events") {
        let batches = tenure_store::read_parquet(&path, Some(columns))?;
        for batch in &batches {
            let context = || format!("reading {}", path.display());
            let merged;
            let batch = match identities {
                Some(ids) => {
                    merged = merge_identities(batch, ids).with_context(context)?;
                    &merged
                }
                None => batch,
            };
            all.push_batch(batch).with_context(context)?;
            if let Some(seg_of) = &seg_of {
                for (value, part) in split_by_segment(batch, seg_of).with_context(context)? {
                    let b = parts.entry(value).or_insert_with(|| EventTableBuilder::new(tz.clone(), active.clone()));
                    b.push_batch(&part).with_context(context)?;
                }
            }
        }
    }
    let all = all.finish();
    let segments = parts
        .into_iter()
        .map(|(value, b)| {
            let mut t = b.finish();
            inherit_creation_times(&mut t, &all);
            (value, t)
        })
        .collect();
    Ok(Cut { all: Arc::new(all), attribute: segment.map(String::from), segments })
}

fn utf8<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::StringArray> {
    let col = batch.column_by_name(name).with_context(|| format!("the events data has no `{name}` column"))?;
    if col.data_type() != &DataType::Utf8 {
        bail!("events column `{name}` is {}, expected Utf8", col.data_type());
    }
    Ok(col.as_string::<i32>())
}

/// Every `anonymousId` -> `userId` of the events (the earliest call carrying
/// both decides: `tenure_metrics::engagement::funnel::identity_aliases`).
pub fn identities(ws: &Workspace) -> Result<HashMap<String, String>> {
    let mut first: HashMap<(String, String), i64> = HashMap::new();
    for path in ws.table_paths("events") {
        for batch in tenure_store::read_parquet(&path, Some(&["user_id", "anonymous_id", "timestamp"]))? {
            let (users, anons) = (utf8(&batch, "user_id")?, utf8(&batch, "anonymous_id")?);
            let ts = batch.column_by_name("timestamp").context("the events data has no `timestamp` column")?;
            let ts = ts
                .as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
                .context("events column `timestamp` is not in microseconds")?;
            for i in 0..batch.num_rows() {
                if users.is_valid(i) && anons.is_valid(i) && ts.is_valid(i) {
                    let key = (anons.value(i).to_string(), users.value(i).to_string());
                    let at = first.entry(key).or_insert(i64::MAX);
                    *at = (*at).min(ts.value(i));
                }
            }
        }
    }
    Ok(funnel::identity_aliases(first.iter().map(|((a, u), t)| (*t, a.as_str(), u.as_str()))))
}

/// The batch with `user_id` filled from `identities` where only `anonymous_id` is set.
fn merge_identities(batch: &RecordBatch, identities: &HashMap<String, String>) -> Result<RecordBatch> {
    let (users, anons) = (utf8(batch, "user_id")?, utf8(batch, "anonymous_id")?);
    let merged: arrow::array::StringArray = (0..batch.num_rows())
        .map(|i| match (users.is_valid(i), anons.is_valid(i)) {
            (true, _) => Some(users.value(i)),
            (false, true) => identities.get(anons.value(i)).map(String::as_str),
            _ => None,
        })
        .collect();
    let idx = batch.schema().index_of("user_id")?;
    let mut columns = batch.columns().to_vec();
    columns[idx] = std::sync::Arc::new(merged);
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// The rows of a batch per segment of their `group_id`.
fn split_by_segment(batch: &RecordBatch, seg_of: &HashMap<String, String>) -> Result<Vec<(String, RecordBatch)>> {
    let groups = utf8(batch, "group_id")?;
    let mut rows: BTreeMap<&str, Vec<bool>> = BTreeMap::new();
    for i in 0..batch.num_rows() {
        let value = if groups.is_valid(i) { seg_of.get(groups.value(i)).map_or(NONE, String::as_str) } else { NONE };
        rows.entry(value).or_insert_with(|| vec![false; batch.num_rows()])[i] = true;
    }
    rows.into_iter()
        .map(|(value, mask)| {
            let part = arrow::compute::filter_record_batch(batch, &BooleanArray::from(mask))?;
            Ok((value.to_string(), part))
        })
        .collect()
}

/// A segment's table sees only the events of its accounts; a person's or an
/// account's creation time (identify / group traits, often sent without a
/// `groupId`) comes from all of its events.
fn inherit_creation_times(t: &mut EventTable, all: &EventTable) {
    for (id, created) in t.user_created_us.iter_mut().enumerate() {
        if let Some(g) = all.users.get(t.users.name(id as u32)) {
            *created = all.user_created_us[g as usize];
        }
    }
    for (id, created) in t.account_created_us.iter_mut().enumerate() {
        if let Some(g) = all.accounts.get(t.accounts.name(id as u32)) {
            *created = all.account_created_us[g as usize];
        }
    }
}

/// With `--segment`, the events cut by segment (the whole is answered from
/// the per-day rollups, [`rollup::active_sets`]); `None` without one.
fn segment_cut(ws: &Workspace, tz: TimeZone, active: &ActiveEvent, segment: Option<&str>) -> Result<Option<Cut>> {
    segment.map(|s| load_cut(ws, tz, active.clone(), EVENT_COLUMNS, Some(s), None)).transpose()
}

/// Add `segment_attribute` and `segments[]` to a document: the same body
/// computed on each segment's events.
pub fn with_segments(o: &mut Value, cut: &Cut, body: impl Fn(&EventTable) -> Value) {
    let Some(attr) = &cut.attribute else { return };
    o["segment_attribute"] = Value::from(attr.as_str());
    o["segments"] = cut
        .segments
        .iter()
        .map(|(value, t)| {
            let mut v = json!({ "segment": value });
            merge(&mut v, body(t));
            v
        })
        .collect();
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
    let kind = r.by.kind();
    let sets = rollup::active_sets_or_counts(ws, &tz, &tzname, &active, kind, a.list)?;
    let range = day_range(sets.span, &r)?;
    let body = |daily: &DailyActors, names: &[String]| {
        let days = active_days(daily, range.0, range.1, a.list);
        json!({ "days": days.iter().map(|d| d.to_json(names)).collect::<Vec<_>>() })
    };
    let mut o = header("engagement", range, &tzname, &r);
    o["active_event"] = Value::from(active.to_string());
    merge(&mut o, body(&sets.daily, &sets.names));
    if let Some(cut) = segment_cut(ws, tz, &active, r.segment.as_deref())? {
        with_segments(&mut o, &cut, |t| body(&DailyActors::build(t, kind), t.names(kind)));
    }
    Ok(o)
}

fn stickiness_doc(ws: &Workspace, a: &StickinessArgs) -> Result<Value> {
    let (tzname, tz) = time_zone(ws, &a.range)?;
    let active = ActiveEvent::from_option(a.event.as_deref());
    let kind = a.range.by.kind();
    let sets = rollup::active_sets(ws, &tz, &tzname, &active, kind, a.list)?;
    let range = day_range(sets.span, &a.range)?;
    let body = |daily: &DailyActors, names: &[String]| {
        stickiness(daily, a.interval.into(), range.0, range.1).to_json(names, a.list)
    };
    let mut o = header("stickiness", range, &tzname, &a.range);
    o["interval"] = Value::from(Period::from(a.interval).name());
    o["active_event"] = Value::from(active.to_string());
    merge(&mut o, body(&sets.daily, &sets.names));
    if let Some(cut) = segment_cut(ws, tz, &active, a.range.segment.as_deref())? {
        with_segments(&mut o, &cut, |t| body(&DailyActors::build(t, kind), t.names(kind)));
    }
    Ok(o)
}

fn sessions_doc(ws: &Workspace, a: &SessionsArgs) -> Result<Value> {
    if a.timeout < 0 || a.max_length < 0 {
        bail!("--timeout and --max-length are seconds, 0 or more");
    }
    let (tzname, tz) = time_zone(ws, &a.range)?;
    let rules = SessionRules { timeout_seconds: a.timeout, max_length_seconds: a.max_length };
    day_range(None, &a.range)?;
    // The totals alone stream (memory per user, not per event); a breakdown,
    // the list or segments need the events table.
    if a.range.segment.is_none()
        && !a.breakdown
        && !a.list
        && let Some((summary, span)) = session_totals(ws, &tz, rules, &a.range)?
    {
        let range = day_range(span, &a.range)?;
        let mut o = header("sessions", range, &tzname, &a.range);
        o["timeout_seconds"] = Value::from(a.timeout);
        o["max_length_seconds"] = Value::from(a.max_length);
        merge(&mut o, summary.to_json());
        return Ok(o);
    }
    let cut = load_cut(ws, tz, ActiveEvent::AnyEvent, EVENT_COLUMNS, a.range.segment.as_deref(), None)?;
    let range = day_range(cut.all.day_span(), &a.range)?;
    let kind = a.range.by.kind();
    let body = |t: &EventTable| {
        let all = sessions(t, rules, Some(range));
        let summary = SessionSummary::of(&all);
        let mut o = summary.to_json();
        if a.breakdown {
            o[format!("by_{}", a.range.by.name())] = summary_by(t, &all, kind)
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
            o["sessions"] = all.iter().map(|s| session_json(t, s)).collect();
        }
        o
    };
    let mut o = header("sessions", range, &tzname, &a.range);
    o["timeout_seconds"] = Value::from(a.timeout);
    o["max_length_seconds"] = Value::from(a.max_length);
    merge(&mut o, body(&cut.all));
    with_segments(&mut o, &cut, body);
    Ok(o)
}

/// The totals alone: over the whole history from the session rollup
/// ([`session_rollup`]) where it can answer, else streamed from the files.
fn session_totals(ws: &Workspace, tz: &TimeZone, rules: SessionRules, r: &RangeArgs) -> Result<Option<Totals>> {
    if r.from.is_none()
        && r.to.is_none()
        // An unreadable rollup is only a missed shortcut: the stream reads
        // the files and reports what is wrong with them.
        && let Ok(Some(t)) = session_rollup::totals(ws, tz, rules)
    {
        return Ok(Some(t));
    }
    stream_sessions(ws, tz, rules, r)
}

/// The session totals streamed file by file, the files of one UTC day (one
/// partition of the `events` table) at a time, in day order
/// ([`SessionStream`]). `None` when the files turn out not to be in time
/// order by partition: the caller then builds the events table.
fn stream_sessions(ws: &Workspace, tz: &TimeZone, rules: SessionRules, r: &RangeArgs) -> Result<Option<Totals>> {
    let Some(parts) = session_rollup::partitions(ws) else { return Ok(None) };
    let mut stream = SessionStream::new(rules, tz.clone(), r.from.map(date_to_day), r.to.map(date_to_day));
    let mut in_order = true;
    session_rollup::each_partition_file(ws.root(), &parts, |path, batches, end| {
        if in_order {
            for b in &batches {
                stream.push_batch(b).with_context(|| format!("reading {}", path.display()))?;
            }
        }
        if end.is_some() {
            in_order = in_order && stream.end_partition();
        }
        Ok(())
    })?;
    Ok(in_order.then(|| stream.finish()))
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
    // One event for both and no segments: the per-day active sets answer
    // (rollups where warm); otherwise the events themselves.
    let segment = a.range.segment.as_deref();
    let (source, range) = if start_event == return_event && segment.is_none() {
        let sets = rollup::active_sets(ws, &tz, &tzname, &start_event, kind, true)?;
        let range = day_range(sets.span, &a.range)?;
        let table = retention_daily(&sets.daily, a.period.into(), retention_type, range.0, range.1);
        (Ok(table.to_json(&sets.names)), range)
    } else {
        let cut = load_cut(ws, tz, start_event.clone(), EVENT_COLUMNS, segment, None)?;
        let range = day_range(cut.all.day_span(), &a.range)?;
        (Err(cut), range)
    };
    let q = RetentionQuery {
        kind,
        period: a.period.into(),
        retention_type,
        start_event: start_event.clone(),
        return_event: return_event.clone(),
        from: range.0,
        to: range.1,
    };
    let body = |t: &EventTable| retention(t, &q).to_json(t.names(kind));
    let mut o = header("retention", range, &tzname, &a.range);
    o["retention_type"] = Value::from(match a.retention_type {
        RetentionTypeArg::FirstTime => "first_time",
        RetentionTypeArg::Recurring => "recurring",
    });
    o["start_event"] = Value::from(start_event.to_string());
    o["return_event"] = Value::from(return_event.to_string());
    // Ok: the table from the rollups; Err: the events to compute it on.
    match source {
        Ok(whole) => merge(&mut o, whole),
        Err(cut) => {
            merge(&mut o, body(&cut.all));
            with_segments(&mut o, &cut, body);
        }
    }
    Ok(o)
}

fn lifecycle_doc(ws: &Workspace, a: &LifecycleArgs) -> Result<Value> {
    let (tzname, tz) = time_zone(ws, &a.range)?;
    let active = ActiveEvent::from_option(a.event.as_deref());
    let cut = load_cut(ws, tz, active.clone(), EVENT_COLUMNS_WITH_TRAITS, a.range.segment.as_deref(), None)?;
    let range = day_range(cut.all.day_span(), &a.range)?;
    let kind = a.range.by.kind();
    let period = Period::from(a.period);
    let body = |t: &EventTable| {
        let intervals = lifecycle(t, &DailyActors::build(t, kind), period, range.0, range.1);
        json!({ "intervals": intervals.iter().map(|i| i.to_json(t, kind, a.list)).collect::<Vec<_>>() })
    };
    let mut o = header("lifecycle", range, &tzname, &a.range);
    o["period"] = Value::from(period.name());
    o["active_event"] = Value::from(active.to_string());
    merge(&mut o, body(&cut.all));
    with_segments(&mut o, &cut, body);
    Ok(o)
}
