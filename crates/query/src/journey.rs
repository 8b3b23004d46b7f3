//! `adoption`, `funnel`: feature adoption and the customer
//! journey (SPEC 2.2, seed 004) from the stored usage events, on the same
//! compact event table as the other engagement metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::Args;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::Value;
use tenure_metrics::engagement::events::{EVENT_COLUMNS_WITH_NAME, NO_ACCOUNT};
use tenure_metrics::engagement::{ActiveEvent, EVENT_COLUMNS, EventTable, FunnelQuery, Step, adoption, funnel};
use tenure_store::Workspace;

use crate::engagement::{Cut, RangeArgs, day_range, header, identities, load, load_cut, time_zone, with_segments};
use crate::filter::{NONE, merge, segments_of};

pub const ADOPTION_AFTER_HELP: &str = "\
Examples:
  tenure metrics adoption                                   every feature over all the data
  tenure metrics adoption --from 2025-01-01 --to 2025-04-01 a quarter (--to is exclusive)
  tenure metrics adoption --list --json                     with each account's breadth and depth
  tenure metrics adoption --segment plan_tier               per plan tier of the account

A feature is a track event name; an account is active when it did a qualifying event
(--event; default any track) in the range. adoption_pct = accounts that used the feature /
active accounts x 100 (null when none is active).";

pub const FUNNEL_AFTER_HELP: &str = "\
Examples:
  tenure metrics funnel                                     the default journey (see below)
  tenure metrics funnel --steps 'page:Home,Report Created,Invite Sent' --window 7d
  tenure metrics funnel --by account --json
  tenure metrics funnel --steps 'page:Pricing,$identify,Report Created' --segment plan_tier

Steps: a track event name; page:NAME (a page view with that name); $pageview (any page
view); $identify (an identify call: a sign-up). Ordered funnel as in PostHog: an actor
enters at its first step-1 event in the range; each later step counts when done after
the previous one and within --window of the entry (exactly at the window counts).
Default journey: $identify (signed up) -> Dashboard Viewed (first use) -> Report Created
(activated) -> Invite Sent (referred a teammate).

Identity merge (default, as PostHog): an identify call carrying both an anonymousId and a
userId makes the visitor's anonymous events that person's (the earliest such call wins),
so page:Pricing -> $identify counts a visitor who signed up; --no-identity-merge keeps
them apart. --segment ATTR adds the funnel per segment of the event's account (groupId);
with identity merge, an event without a groupId (the visit before the sign-up, the identify
call) is in the segment of its person's account (the first account the person used).";

/// The default customer journey on the demo data (seed 004), with labels.
pub const DEFAULT_JOURNEY: [(&str, &str); 4] = [
    ("$identify", "signed_up"),
    ("Dashboard Viewed", "first_use"),
    ("Report Created", "activated"),
    ("Invite Sent", "referred"),
];

#[derive(Args, Clone, Debug)]
pub struct AdoptionArgs {
    /// First local day included (YYYY-MM-DD); default: the first day with events.
    #[arg(long, value_name = "DATE")]
    pub from: Option<Date>,
    /// First local day excluded (YYYY-MM-DD, exclusive end); default: the day after the last day with events.
    #[arg(long, value_name = "DATE")]
    pub to: Option<Date>,
    /// Where days start: an IANA time zone (default: the workspace's `timezone`).
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
    /// The event that makes an account active: a track event name, or `*` for any event (default: any track).
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
    /// Also cut by this customer attribute of the account (segment, plan_tier, country, ...).
    #[arg(long, value_name = "ATTR")]
    pub segment: Option<String>,
    /// Drill down: each active account's breadth and depth, and each feature's accounts.
    #[arg(long)]
    pub list: bool,
}

#[derive(Args, Clone, Debug)]
pub struct FunnelArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// Comma-separated steps in order (default: the journey described below).
    #[arg(long, value_name = "A,B,C")]
    pub steps: Option<String>,
    /// Conversion window from the first step: a number with d (days), h, m, s or w (default 14d; a bare number is days).
    #[arg(long, default_value = "14d", value_name = "DURATION")]
    pub window: String,
    /// Keep anonymous visitors apart from the persons they identify as (default: merged, as PostHog).
    #[arg(long)]
    pub no_identity_merge: bool,
    /// Drill down: the actors who reached each step.
    #[arg(long)]
    pub list: bool,
}

/// `14d`, `36h`, `90m`, `600s`, `2w`, or a bare number of days, as microseconds.
pub fn parse_window(s: &str) -> Result<i64> {
    let secs =
        tenure_model::business_hours::parse_duration_seconds(s).map_err(|e| anyhow::anyhow!("--window {s:?}: {e}"))?;
    Ok(secs * 1_000_000)
}

/// The document of `tenure metrics adoption --json`.
pub fn adoption_doc(ws: &Workspace, a: &AdoptionArgs) -> Result<Value> {
    let r = RangeArgs {
        from: a.from,
        to: a.to,
        timezone: a.timezone.clone(),
        segment: a.segment.clone(),
        ..RangeArgs::default()
    };
    let (tzname, tz) = time_zone(ws, &r)?;
    let active = ActiveEvent::from_option(a.event.as_deref());
    let cut = load_cut(ws, tz, active.clone(), EVENT_COLUMNS, r.segment.as_deref(), None)?;
    let range = day_range(cut.all.day_span(), &r)?;
    let body = |t: &EventTable| adoption(t, range.0, range.1).to_json(a.list);
    let mut o = header("adoption", range, &tzname, &r);
    o["by"] = Value::from("account");
    o["active_event"] = Value::from(active.to_string());
    merge(&mut o, body(&cut.all));
    with_segments(&mut o, &cut, body);
    Ok(o)
}

/// The document of `tenure metrics funnel --json`.
pub fn funnel_doc(ws: &Workspace, a: &FunnelArgs) -> Result<Value> {
    let (names, labels): (Vec<String>, Vec<Option<&str>>) = match &a.steps {
        Some(s) => (s.split(',').map(|x| x.trim().to_string()).collect(), Vec::new()),
        None => DEFAULT_JOURNEY.iter().map(|(s, l)| (s.to_string(), Some(*l))).unzip(),
    };
    if names.len() < 2 || names.len() > 32 {
        bail!("--steps needs 2 to 32 comma-separated steps, got {}", names.len());
    }
    let steps: Vec<Step> = names.iter().map(|s| Step::parse(s).map_err(anyhow::Error::msg)).collect::<Result<_>>()?;
    let window_us = parse_window(&a.window)?;
    if window_us <= 0 {
        bail!("--window must be positive");
    }
    let (tzname, tz) = time_zone(ws, &a.range)?;
    let ids = if a.no_identity_merge { None } else { Some(shared_identities(ws)?) };
    let segment = a.range.segment.as_deref();
    let cut = match (&ids, segment) {
        // Merged persons: cut by the person's account, not only the event's.
        (Some(ids), Some(attr)) => {
            let all = journey_events(ws, tz, &steps, ids)?;
            let segments = split_by_person_segment(&all, &segments_of(ws, attr)?);
            Cut { all, attribute: Some(attr.to_string()), segments }
        }
        (Some(ids), None) => Cut { all: journey_events(ws, tz, &steps, ids)?, attribute: None, segments: Vec::new() },
        (None, _) => load_cut(ws, tz, ActiveEvent::AnyTrack, EVENT_COLUMNS_WITH_NAME, segment, None)?,
    };
    let range = day_range(cut.all.day_span(), &a.range)?;
    let q = FunnelQuery { steps, window_us, kind: a.range.by.kind(), from: range.0, to: range.1 };
    let body = |t: &EventTable| {
        let mut body = funnel(t, &q).to_json(a.list);
        for (i, l) in labels.iter().enumerate() {
            if let Some(l) = l {
                body["steps"][i]["label"] = Value::from(*l);
            }
        }
        body
    };
    let mut o = header("funnel", range, &tzname, &a.range);
    o["window_seconds"] = Value::from(window_us / 1_000_000);
    o["order"] = Value::from("ordered");
    o["identity_merge"] = Value::from(!a.no_identity_merge);
    o["merged_anonymous_ids"] = Value::from(ids.as_ref().map_or(0, |m| m.len()));
    merge(&mut o, body(&cut.all));
    with_segments(&mut o, &cut, body);
    Ok(o)
}

/// Every `anonymousId` -> `userId` ([`identities`]), read once per workspace
/// state ([`crate::cache`]): each funnel document needs it, and reading it
/// scans every event.
pub fn shared_identities(ws: &Workspace) -> Result<Arc<HashMap<String, String>>> {
    crate::cache::shared(ws, "identities", || identities(ws))
}

/// The events a merged-identity funnel runs on. Without an alias to merge
/// and without a `page:NAME` step (the only step that needs page names) this
/// is the events table every other metric shares: the same files read in
/// the same order into the same rows, so the funnel over it is the funnel
/// over a table built with the (empty) merge, without a second read of
/// every event (seconds on the dashboard, a second copy in memory).
fn journey_events(
    ws: &Workspace,
    tz: TimeZone,
    steps: &[Step],
    ids: &HashMap<String, String>,
) -> Result<Arc<EventTable>> {
    let page_names = steps.iter().any(|s| matches!(s, Step::Page(Some(_))));
    if ids.is_empty() && !page_names {
        return load(ws, tz, ActiveEvent::AnyTrack, EVENT_COLUMNS);
    }
    Ok(load_cut(ws, tz, ActiveEvent::AnyTrack, EVENT_COLUMNS_WITH_NAME, None, Some(ids))?.all)
}

/// The events of each segment when anonymous visitors are merged into the
/// persons they sign up as: an event with a `groupId` is its account's
/// segment's; one without (the visit before the sign-up, the identify call
/// itself) is the segment of its person's account, the account of the
/// person's first event with a `groupId` (`(none)` when the person never
/// had one). Without this, every pre-sign-up step of a journey would fall
/// in `(none)`.
fn split_by_person_segment(t: &EventTable, seg_of: &HashMap<String, String>) -> Vec<(String, EventTable)> {
    // Rows are sorted by (person, time): the first account seen is the person's first.
    let mut first_account = vec![NO_ACCOUNT; t.users.len()];
    for (&u, &a) in t.user.iter().zip(&t.account) {
        if a != NO_ACCOUNT && first_account[u as usize] == NO_ACCOUNT {
            first_account[u as usize] = a;
        }
    }
    let account_segment: Vec<&str> =
        t.accounts.names().iter().map(|name| seg_of.get(name).map_or(NONE, String::as_str)).collect();
    let segment_of_row = |i: usize| {
        let a = if t.account[i] == NO_ACCOUNT { first_account[t.user[i] as usize] } else { t.account[i] };
        if a == NO_ACCOUNT { NONE } else { account_segment[a as usize] }
    };
    let mut rows: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for i in 0..t.len() {
        rows.entry(segment_of_row(i)).or_default().push(i);
    }
    rows.into_iter().map(|(value, rows)| (value.to_string(), rows_of(t, &rows))).collect()
}

/// A table of some rows of `t` (in their order, so still sorted by person and time).
fn rows_of(t: &EventTable, rows: &[usize]) -> EventTable {
    fn pick<T: Copy>(v: &[T], rows: &[usize]) -> Vec<T> {
        rows.iter().map(|&i| v[i]).collect()
    }
    EventTable {
        users: t.users.clone(),
        accounts: t.accounts.clone(),
        user: pick(&t.user, rows),
        account: pick(&t.account, rows),
        day: pick(&t.day, rows),
        ts_us: pick(&t.ts_us, rows),
        active: pick(&t.active, rows),
        kind: pick(&t.kind, rows),
        event: pick(&t.event, rows),
        event_names: t.event_names.clone(),
        user_created_us: t.user_created_us.clone(),
        account_created_us: t.account_created_us.clone(),
        tz: t.tz.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_with_units() {
        assert_eq!(parse_window("14d").unwrap(), 14 * 86_400 * 1_000_000);
        assert_eq!(parse_window("14").unwrap(), 14 * 86_400 * 1_000_000);
        assert_eq!(parse_window("36h").unwrap(), 36 * 3600 * 1_000_000);
        assert_eq!(parse_window("2w").unwrap(), 14 * 86_400 * 1_000_000);
        assert_eq!(parse_window("600s").unwrap(), 600 * 1_000_000);
        assert!(parse_window("3y").is_err());
        assert!(parse_window("d").is_err());
    }
}
