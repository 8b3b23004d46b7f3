//! Support metrics (SPEC 2.4): first response time, FCR (strict and
//! Freshservice), one-touch and zero-touch, reopen rate, time to resolution and
//! tickets per account, each with the ticket ids that make it up.
//!
//! Definitions, where SPEC leaves a choice:
//! - **First response time** (Zendesk's "first reply time"): the time from
//!   creation (or from `bot_handoff_at`, else creation) to `first_reply_at`, the
//!   first public agent reply, in whole seconds rounded down. Calendar time,
//!   and with a schedule also business time ([`Clock`]: only the time inside
//!   `[support]` business hours counts, see `tenure_model::business_hours`).
//!   Tickets with no `first_reply_at` are excluded and counted as unreplied. A
//!   reply stamped before the hand-off counts as 0 s from hand-off.
//! - **SLA-style targets** (Zendesk's "achieved / breached"): a first reply (a
//!   resolution) within the target from creation is achieved, a later one
//!   breached; a ticket not yet replied (resolved) at the evaluation instant
//!   is breached once the target has elapsed, else pending. The breach rate is
//!   breached / (achieved + breached). Slow tickets are the breached ones
//!   ([`slow_first_response`] is the per-ticket test the health scorecard uses).
//! - **p90** is the linear interpolation between closest ranks (Hyndman-Fan
//!   type 7, the default of numpy, R and DuckDB's `quantile_cont`, and Plain's
//!   "quantile(0.9)" for FRT): with values sorted x_0..x_{n-1}, h = 0.9 (n - 1),
//!   p90 = x_floor(h) + (h - floor(h)) (x_floor(h)+1 - x_floor(h)). Computed
//!   exactly (h is a multiple of 0.1), then rounded to 2 decimals.
//! - **Medians** of an even count are the mean of the two middle values (SPEC 2).
//! - **One-touch** is exactly one public agent reply on a resolved ticket (as
//!   Zendesk's "one-touch tickets": solved/closed with exactly one agent
//!   reply); zero-touch is none.
//! - Absent counts (`replies`, `customer_replies`, `reopens`) are read as 0.
//! - **Tickets per account**: tickets with a `customer_id` / accounts (all
//!   customers when the caller gives their number, else the distinct accounts
//!   with a ticket), 2 decimals; plus the count per account.

use std::collections::BTreeMap;

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tenure_model::Ticket;
use tenure_model::business_hours::BusinessHours;

use crate::round::{self, median_sorted, pct, round_dp};

/// Whole seconds from `a` to `b`, rounded down; negative spans are 0.
pub fn seconds_between(a: Timestamp, b: Timestamp) -> i64 {
    let d = b.as_nanosecond() - a.as_nanosecond();
    if d <= 0 { 0 } else { (d / 1_000_000_000) as i64 }
}

/// Mean of integers, 2 decimals; `None` for an empty set.
pub fn mean(v: &[i64]) -> Option<Decimal> {
    (!v.is_empty()).then(|| {
        let s: i128 = v.iter().map(|x| *x as i128).sum();
        round_dp(Decimal::from(s) / Decimal::from(v.len()), 2)
    })
}

/// The p-th percentile (`p_tenths` / 10, e.g. 9 for p90) of sorted values by
/// linear interpolation (type 7), 2 decimals; `None` for an empty set.
pub fn percentile_tenths(sorted: &[i64], p_tenths: u32) -> Option<Decimal> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let h10 = (n as u64 - 1) * p_tenths as u64; // 10 x h
    let lo = (h10 / 10) as usize;
    let frac = Decimal::new((h10 % 10) as i64, 1);
    let base = Decimal::from(sorted[lo]);
    let v = if lo + 1 < n { base + frac * (Decimal::from(sorted[lo + 1]) - base) } else { base };
    Some(round_dp(v, 2))
}

/// Mean, median and p90 of durations in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct DurationStats {
    pub mean: Option<Decimal>,
    pub median: Option<Decimal>,
    pub p90: Option<Decimal>,
}

pub fn duration_stats(values: &[i64]) -> DurationStats {
    let mut s = values.to_vec();
    s.sort_unstable();
    DurationStats { mean: mean(&s), median: median_sorted(&s).map(|m| round_dp(m, 2)), p90: percentile_tenths(&s, 9) }
}

/// Whether a ticket is resolved (`solved` or `closed`).
pub fn is_resolved(t: &Ticket) -> bool {
    t.status == "solved" || t.status == "closed"
}

/// How elapsed time is counted: wall-clock time, or only the time inside business hours.
#[derive(Clone, Copy, Debug)]
pub enum Clock<'a> {
    Calendar,
    Business(&'a BusinessHours),
}

impl Clock<'_> {
    /// Whole seconds from `a` to `b` on this clock, rounded down (0 when `b` is not after `a`).
    pub fn seconds(&self, a: Timestamp, b: Timestamp) -> i64 {
        match self {
            Clock::Calendar => seconds_between(a, b),
            Clock::Business(h) => h.elapsed_seconds(a, b),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Clock::Calendar => "calendar",
            Clock::Business(_) => "business",
        }
    }
}

/// Where a ticket stands against a target, seen at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetOutcome {
    /// Done within the target.
    Achieved,
    /// Done later than the target, or not done and the target already elapsed.
    Breached,
    /// Not done, and the target not elapsed yet.
    Pending,
}

/// From `start` to `done` against `target_seconds` on `clock`, as seen at
/// `as_of` (a `done` after `as_of` is not done yet). Exactly at the target is achieved.
pub fn target_outcome(
    start: Timestamp,
    done: Option<Timestamp>,
    target_seconds: i64,
    clock: Clock,
    as_of: Timestamp,
) -> TargetOutcome {
    match done.filter(|d| *d <= as_of) {
        Some(d) if clock.seconds(start, d) > target_seconds => TargetOutcome::Breached,
        Some(_) => TargetOutcome::Achieved,
        None if clock.seconds(start, as_of) > target_seconds => TargetOutcome::Breached,
        None => TargetOutcome::Pending,
    }
}

/// A slow ticket (the health scorecard's "slow tickets" measure): created by
/// `as_of`, and its first reply breached `target_seconds` on `clock`, seen at `as_of`.
pub fn slow_first_response(t: &Ticket, target_seconds: i64, clock: Clock, as_of: Timestamp) -> bool {
    t.created_at <= as_of
        && target_outcome(t.created_at, t.first_reply_at, target_seconds, clock, as_of) == TargetOutcome::Breached
}

/// Per-ticket durations and their statistics, on one clock.
#[derive(Clone, Debug, PartialEq)]
pub struct Timings {
    /// Per replied ticket, in input order.
    pub frt_from_creation_seconds: Vec<(String, i64)>,
    pub frt_from_creation: DurationStats,
    pub frt_from_handoff_seconds: Vec<(String, i64)>,
    pub frt_from_handoff: DurationStats,
    /// Resolved tickets with `solved_at`: `solved_at - created_at`.
    pub time_to_resolution_seconds: Vec<(String, i64)>,
    pub time_to_resolution: DurationStats,
}

impl Timings {
    pub fn of<'a>(tickets: impl IntoIterator<Item = &'a Ticket>, clock: Clock) -> Timings {
        let (mut creation, mut handoff, mut resolution) = (vec![], vec![], vec![]);
        for t in tickets {
            if let Some(r) = t.first_reply_at {
                creation.push((t.id.clone(), clock.seconds(t.created_at, r)));
                handoff.push((t.id.clone(), clock.seconds(t.bot_handoff_at.unwrap_or(t.created_at), r)));
            }
            if let (true, Some(done)) = (is_resolved(t), t.solved_at) {
                resolution.push((t.id.clone(), clock.seconds(t.created_at, done)));
            }
        }
        let stats = |v: &Vec<(String, i64)>| duration_stats(&v.iter().map(|x| x.1).collect::<Vec<_>>());
        Timings {
            frt_from_creation: stats(&creation),
            frt_from_handoff: stats(&handoff),
            time_to_resolution: stats(&resolution),
            frt_from_creation_seconds: creation,
            frt_from_handoff_seconds: handoff,
            time_to_resolution_seconds: resolution,
        }
    }

    pub fn to_json(&self) -> Value {
        self.clone().into_json()
    }

    /// The JSON document, moving the ticket ids into it: at millions of
    /// tickets a copy of every id list would double the peak memory.
    pub fn into_json(self) -> Value {
        let per = |v: Vec<(String, i64)>| Value::Object(v.into_iter().map(|(id, s)| (id, json!(s))).collect());
        object([
            ("frt_from_creation_seconds", per(self.frt_from_creation_seconds)),
            ("frt_from_creation_mean_seconds", round::json(self.frt_from_creation.mean)),
            ("frt_from_creation_median_seconds", round::json(self.frt_from_creation.median)),
            ("frt_from_creation_p90_seconds", round::json(self.frt_from_creation.p90)),
            ("frt_from_handoff_seconds", per(self.frt_from_handoff_seconds)),
            ("frt_from_handoff_mean_seconds", round::json(self.frt_from_handoff.mean)),
            ("frt_from_handoff_median_seconds", round::json(self.frt_from_handoff.median)),
            ("frt_from_handoff_p90_seconds", round::json(self.frt_from_handoff.p90)),
            ("time_to_resolution_seconds", per(self.time_to_resolution_seconds)),
            ("time_to_resolution_mean_seconds", round::json(self.time_to_resolution.mean)),
            ("time_to_resolution_median_seconds", round::json(self.time_to_resolution.median)),
            ("time_to_resolution_p90_seconds", round::json(self.time_to_resolution.p90)),
        ])
    }
}

/// A JSON object with these keys in this order, taking the values as they are
/// (`json!` would serialise each value again, a deep copy of every id list).
fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Ticket ids as a JSON array, moved.
fn ids(v: Vec<String>) -> Value {
    Value::Array(v.into_iter().map(Value::String).collect())
}

/// Counts by key as a JSON object, in the map's (sorted) order.
fn counts(m: BTreeMap<String, u64>) -> Value {
    Value::Object(m.into_iter().map(|(k, n)| (k, json!(n))).collect())
}

/// One target's tickets by outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetReport {
    pub target_seconds: i64,
    pub achieved_tickets: Vec<String>,
    pub breached_tickets: Vec<String>,
    pub pending_tickets: Vec<String>,
    /// breached / (achieved + breached) x 100; null when neither.
    pub breach_rate_pct: Option<Decimal>,
}

impl TargetReport {
    fn of(
        tickets: &[&Ticket],
        target_seconds: i64,
        done: impl Fn(&Ticket) -> Option<Timestamp>,
        clock: Clock,
        as_of: Timestamp,
    ) -> TargetReport {
        let mut r = TargetReport {
            target_seconds,
            achieved_tickets: vec![],
            breached_tickets: vec![],
            pending_tickets: vec![],
            breach_rate_pct: None,
        };
        for t in tickets.iter().filter(|t| t.created_at <= as_of) {
            let list = match target_outcome(t.created_at, done(t), target_seconds, clock, as_of) {
                TargetOutcome::Achieved => &mut r.achieved_tickets,
                TargetOutcome::Breached => &mut r.breached_tickets,
                TargetOutcome::Pending => &mut r.pending_tickets,
            };
            list.push(t.id.clone());
        }
        let measured = (r.achieved_tickets.len() + r.breached_tickets.len()) as u64;
        r.breach_rate_pct = pct(r.breached_tickets.len() as u64, measured);
        r
    }

    fn into_json(self, prefix: &str) -> serde_json::Map<String, Value> {
        [
            ("target_seconds", json!(self.target_seconds)),
            ("achieved_count", json!(self.achieved_tickets.len())),
            ("breached_count", json!(self.breached_tickets.len())),
            ("pending_count", json!(self.pending_tickets.len())),
            ("breach_rate_pct", round::json(self.breach_rate_pct)),
            ("breached_tickets", ids(self.breached_tickets)),
        ]
        .into_iter()
        .map(|(k, v)| (format!("{prefix}_{k}"), v))
        .collect()
    }
}

/// SLA-style targets (seconds on the report's clock) and the instant they are evaluated at.
#[derive(Clone, Copy, Debug)]
pub struct SlaQuery {
    pub first_response_seconds: Option<i64>,
    pub resolution_seconds: Option<i64>,
    pub as_of: Timestamp,
}

/// The targets' outcomes.
#[derive(Clone, Debug, PartialEq)]
pub struct Sla {
    pub clock: &'static str,
    pub as_of: Timestamp,
    pub first_response: Option<TargetReport>,
    pub resolution: Option<TargetReport>,
}

impl Sla {
    pub fn to_json(&self) -> Value {
        self.clone().into_json()
    }

    pub fn into_json(self) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("clock".into(), json!(self.clock));
        o.insert("as_of".into(), json!(self.as_of.to_string()));
        o.insert("first_response_target_seconds".into(), Value::Null);
        o.insert("resolution_target_seconds".into(), Value::Null);
        if let Some(r) = self.first_response {
            o.extend(r.into_json("first_response"));
        }
        if let Some(r) = self.resolution {
            o.extend(r.into_json("resolution"));
        }
        Value::Object(o)
    }
}

/// What to compute besides the calendar figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct SupportOptions<'a> {
    /// Accounts to divide by for tickets per account (`None`: the distinct accounts with tickets).
    pub accounts: Option<u64>,
    /// Also report every duration in business time; SLA targets are then counted in business time.
    pub business_hours: Option<&'a BusinessHours>,
    pub sla: Option<SlaQuery>,
}

/// The support report of a set of tickets.
#[derive(Clone, Debug, PartialEq)]
pub struct Support {
    pub tickets: u64,
    pub resolved_tickets: u64,
    pub fcr_strict_tickets: Vec<String>,
    pub fcr_strict_rate_pct: Option<Decimal>,
    pub fcr_freshservice_tickets: Vec<String>,
    pub fcr_freshservice_rate_pct: Option<Decimal>,
    pub one_touch_tickets: Vec<String>,
    pub one_touch_rate_pct: Option<Decimal>,
    pub zero_touch_tickets: Vec<String>,
    pub zero_touch_rate_pct: Option<Decimal>,
    pub reopened_tickets: Vec<String>,
    pub reopen_rate_pct: Option<Decimal>,
    pub replied_count: u64,
    pub unreplied_count: u64,
    pub unreplied_tickets: Vec<String>,
    /// First response and resolution times in calendar time.
    pub calendar: Timings,
    /// The same in business time, when a schedule was given.
    pub business: Option<Timings>,
    pub sla: Option<Sla>,
    pub tickets_per_account: Option<Decimal>,
    pub tickets_by_account: BTreeMap<String, u64>,
    /// Tickets with a satisfaction rating, their mean (2 decimals) and the
    /// count per rating. The rating's scale is not on the ticket (Zendesk's
    /// good/bad imports as 1/0; surveys 1-5), so no top-box % here: the
    /// matching CSAT survey rows carry their scale.
    pub satisfaction_rated: u64,
    pub satisfaction_average: Option<Decimal>,
    pub satisfaction_distribution: BTreeMap<String, u64>,
}

/// The calendar-time report. `accounts`: the number of accounts to divide by
/// for tickets per account (`None`: the distinct accounts that have tickets).
pub fn support<'a>(tickets: impl IntoIterator<Item = &'a Ticket>, accounts: Option<u64>) -> Support {
    report(tickets, SupportOptions { accounts, ..SupportOptions::default() })
}

/// The report with business hours and SLA targets as `opts` asks.
pub fn report<'a>(tickets: impl IntoIterator<Item = &'a Ticket>, opts: SupportOptions) -> Support {
    let tickets: Vec<&Ticket> = tickets.into_iter().collect();
    let mut s = Support {
        tickets: 0,
        resolved_tickets: 0,
        fcr_strict_tickets: vec![],
        fcr_strict_rate_pct: None,
        fcr_freshservice_tickets: vec![],
        fcr_freshservice_rate_pct: None,
        one_touch_tickets: vec![],
        one_touch_rate_pct: None,
        zero_touch_tickets: vec![],
        zero_touch_rate_pct: None,
        reopened_tickets: vec![],
        reopen_rate_pct: None,
        replied_count: 0,
        unreplied_count: 0,
        unreplied_tickets: vec![],
        calendar: Timings::of(tickets.iter().copied(), Clock::Calendar),
        business: opts.business_hours.map(|h| Timings::of(tickets.iter().copied(), Clock::Business(h))),
        sla: None,
        tickets_per_account: None,
        tickets_by_account: BTreeMap::new(),
        satisfaction_rated: 0,
        satisfaction_average: None,
        satisfaction_distribution: BTreeMap::new(),
    };
    let mut sat_sum = Decimal::ZERO;
    for t in tickets.iter().copied() {
        s.tickets += 1;
        if let Some(x) = t.satisfaction.and_then(Decimal::from_f64_retain) {
            s.satisfaction_rated += 1;
            sat_sum += x;
            *s.satisfaction_distribution.entry(x.normalize().to_string()).or_default() += 1;
        }
        if let Some(c) = &t.customer_id {
            *s.tickets_by_account.entry(c.clone()).or_default() += 1;
        }
        if t.first_reply_at.is_some() {
            s.replied_count += 1;
        } else {
            s.unreplied_count += 1;
            s.unreplied_tickets.push(t.id.clone());
        }
        if !is_resolved(t) {
            continue;
        }
        s.resolved_tickets += 1;
        let customer_replies = t.customer_replies.unwrap_or(0);
        let reopens = t.reopens.unwrap_or(0);
        let replies = t.replies.unwrap_or(0);
        if customer_replies == 0 {
            s.fcr_freshservice_tickets.push(t.id.clone());
            if reopens == 0 {
                s.fcr_strict_tickets.push(t.id.clone());
            }
        }
        if reopens > 0 {
            s.reopened_tickets.push(t.id.clone());
        }
        match replies {
            0 => s.zero_touch_tickets.push(t.id.clone()),
            1 => s.one_touch_tickets.push(t.id.clone()),
            _ => {}
        }
    }
    let r = s.resolved_tickets;
    let rate = |v: &Vec<String>| pct(v.len() as u64, r);
    s.fcr_strict_rate_pct = rate(&s.fcr_strict_tickets);
    s.fcr_freshservice_rate_pct = rate(&s.fcr_freshservice_tickets);
    s.one_touch_rate_pct = rate(&s.one_touch_tickets);
    s.zero_touch_rate_pct = rate(&s.zero_touch_tickets);
    s.reopen_rate_pct = rate(&s.reopened_tickets);
    s.satisfaction_average =
        (s.satisfaction_rated > 0).then(|| round_dp(sat_sum / Decimal::from(s.satisfaction_rated), 2));
    let with_account: u64 = s.tickets_by_account.values().sum();
    let denom = opts.accounts.unwrap_or(s.tickets_by_account.len() as u64);
    s.tickets_per_account = (denom > 0).then(|| round_dp(Decimal::from(with_account) / Decimal::from(denom), 2));
    if let Some(q) = opts.sla {
        let clock = opts.business_hours.map_or(Clock::Calendar, Clock::Business);
        let resolved_at = |t: &Ticket| t.solved_at.filter(|_| is_resolved(t));
        s.sla = Some(Sla {
            clock: clock.name(),
            as_of: q.as_of,
            first_response: q
                .first_response_seconds
                .map(|target| TargetReport::of(&tickets, target, |t| t.first_reply_at, clock, q.as_of)),
            resolution: q
                .resolution_seconds
                .map(|target| TargetReport::of(&tickets, target, resolved_at, clock, q.as_of)),
        });
    }
    s
}

impl Support {
    /// The SPEC 2.4b keys, plus `tickets`, `zero_touch_rate_pct`,
    /// `unreplied_tickets`, time to resolution, tickets per account, and
    /// `business_hours` (the same durations in business time, or null) and
    /// `sla` (targets' outcomes, or null).
    pub fn to_json(&self) -> Value {
        self.clone().into_json()
    }

    /// [`Support::to_json`], moving the ticket ids into the document instead
    /// of copying them (3 M tickets make ~10 id lists of millions).
    pub fn into_json(self) -> Value {
        let mut v = object([
            ("tickets", json!(self.tickets)),
            ("resolved_tickets", json!(self.resolved_tickets)),
            ("fcr_strict_rate_pct", round::json(self.fcr_strict_rate_pct)),
            ("fcr_strict_tickets", ids(self.fcr_strict_tickets)),
            ("fcr_freshservice_rate_pct", round::json(self.fcr_freshservice_rate_pct)),
            ("fcr_freshservice_tickets", ids(self.fcr_freshservice_tickets)),
            ("one_touch_rate_pct", round::json(self.one_touch_rate_pct)),
            ("one_touch_tickets", ids(self.one_touch_tickets)),
            ("zero_touch_rate_pct", round::json(self.zero_touch_rate_pct)),
            ("zero_touch_tickets", ids(self.zero_touch_tickets)),
            ("reopen_rate_pct", round::json(self.reopen_rate_pct)),
            ("reopened_tickets", ids(self.reopened_tickets)),
            ("replied_count", json!(self.replied_count)),
            ("unreplied_count", json!(self.unreplied_count)),
            ("unreplied_tickets", ids(self.unreplied_tickets)),
            ("tickets_per_account", round::json(self.tickets_per_account)),
            ("tickets_by_account", counts(self.tickets_by_account)),
            ("satisfaction_rated", json!(self.satisfaction_rated)),
            ("satisfaction_average", round::json(self.satisfaction_average)),
            ("satisfaction_distribution", counts(self.satisfaction_distribution)),
            ("business_hours", self.business.map_or(Value::Null, Timings::into_json)),
            ("sla", self.sla.map_or(Value::Null, Sla::into_json)),
        ]);
        if let (Value::Object(o), Value::Object(c)) = (&mut v, self.calendar.into_json()) {
            o.extend(c);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn ticket(id: &str, status: &str, replies: i64, customer_replies: i64, reopens: i64) -> Ticket {
        Ticket {
            id: id.into(),
            customer_id: Some("c1".into()),
            created_at: ts("2024-01-01T00:00:00Z"),
            first_reply_at: (replies > 0).then(|| ts("2024-01-01T01:00:00Z")),
            bot_handoff_at: None,
            solved_at: (status == "solved" || status == "closed").then(|| ts("2024-01-02T00:00:00Z")),
            status: status.into(),
            replies: Some(replies),
            customer_replies: Some(customer_replies),
            reopens: Some(reopens),
            channel: None,
            satisfaction: None,
        }
    }

    fn d(s: &str) -> Option<Decimal> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn fcr_strict_vs_freshservice_on_a_reopened_ticket() {
        // t1: resolved, 2 agent replies, no customer reply, never reopened: FCR both.
        // t2: resolved, 1 reply, no customer reply, reopened once: Freshservice FCR only.
        // t3: closed, 0 agent replies, no customer reply: strict FCR and zero-touch.
        // t4: solved, 1 reply, 1 customer reply: neither FCR; one-touch.
        // t5: open: not resolved, excluded from every ratio.
        let ts_ = [
            ticket("t1", "solved", 2, 0, 0),
            ticket("t2", "solved", 1, 0, 1),
            ticket("t3", "closed", 0, 0, 0),
            ticket("t4", "solved", 1, 1, 0),
            ticket("t5", "open", 0, 0, 0),
        ];
        let s = support(&ts_, None);
        assert_eq!(s.resolved_tickets, 4);
        // strict: t1, t3 = 2/4 = 50%; Freshservice: t1, t2, t3 = 3/4 = 75%.
        assert_eq!(s.fcr_strict_tickets, ["t1", "t3"]);
        assert_eq!(s.fcr_strict_rate_pct, d("50.00"));
        assert_eq!(s.fcr_freshservice_tickets, ["t1", "t2", "t3"]);
        assert_eq!(s.fcr_freshservice_rate_pct, d("75.00"));
        // one-touch t2, t4 = 50%; zero-touch t3 = 25%; reopened t2 = 25%.
        assert_eq!(s.one_touch_tickets, ["t2", "t4"]);
        assert_eq!(s.zero_touch_tickets, ["t3"]);
        assert_eq!(s.zero_touch_rate_pct, d("25.00"));
        assert_eq!(s.reopened_tickets, ["t2"]);
        assert_eq!(s.reopen_rate_pct, d("25.00"));
        // No ratings: null average, not 0.
        assert_eq!((s.satisfaction_rated, s.satisfaction_average), (0, None));
        // 5 tickets, one account.
        assert_eq!(s.tickets_per_account, d("5"));
        assert_eq!(support(&ts_, Some(2)).tickets_per_account, d("2.50"));
    }

    #[test]
    fn no_resolved_tickets_gives_null() {
        let s = support(&[ticket("t", "pending", 1, 0, 0)], None);
        assert_eq!((s.resolved_tickets, s.fcr_strict_rate_pct, s.reopen_rate_pct), (0, None, None));
        assert_eq!(s.to_json()["fcr_strict_rate_pct"], Value::Null);
        let s = support(&[], None);
        assert_eq!(
            (s.calendar.frt_from_creation.mean, s.calendar.frt_from_creation.median, s.calendar.frt_from_creation.p90),
            (None, None, None)
        );
        assert_eq!(s.tickets_per_account, None);
    }

    #[test]
    fn frt_excludes_unreplied_and_uses_handoff() {
        // a: created 00:00, bot hand-off 00:10, first reply 00:30:00.9.
        //    from creation 1800 s (rounded down), from hand-off 1200 s.
        // b: no hand-off, reply after 600 s: 600 from both.
        // c: no reply: excluded (unreplied), not 0.
        let mut a = ticket("a", "solved", 1, 0, 0);
        a.bot_handoff_at = Some(ts("2024-01-01T00:10:00Z"));
        a.first_reply_at = Some(ts("2024-01-01T00:30:00.9Z"));
        let mut b = ticket("b", "open", 1, 0, 0);
        b.first_reply_at = Some(ts("2024-01-01T00:10:00Z"));
        let mut c = ticket("c", "open", 0, 0, 0);
        (a.satisfaction, b.satisfaction) = (Some(5.0), Some(2.0));
        c.satisfaction = Some(5.0);
        let s = support(&[a, b, c], None);
        // Ratings 5, 2, 5: mean 12/3 = 4.
        assert_eq!((s.satisfaction_rated, s.satisfaction_average), (3, d("4")));
        assert_eq!(s.satisfaction_distribution.get("5"), Some(&2));
        assert_eq!((s.replied_count, s.unreplied_count), (2, 1));
        assert_eq!(s.unreplied_tickets, ["c"]);
        assert_eq!(s.calendar.frt_from_creation_seconds, vec![("a".to_string(), 1800), ("b".to_string(), 600)]);
        assert_eq!(s.calendar.frt_from_handoff_seconds, vec![("a".to_string(), 1200), ("b".to_string(), 600)]);
        // mean (1800 + 600)/2 = 1200; median of 2 = mean of both = 1200;
        // p90: h = 0.9 x 1 = 0.9 -> 600 + 0.9 x 1200 = 1680.
        assert_eq!(s.calendar.frt_from_creation.mean, d("1200"));
        assert_eq!(s.calendar.frt_from_creation.median, d("1200"));
        assert_eq!(s.calendar.frt_from_creation.p90, d("1680"));
        // From hand-off: (1200 + 600)/2 = 900.
        assert_eq!(s.calendar.frt_from_handoff.mean, d("900"));
        // Time to resolution: only a is resolved: 1 day = 86400 s.
        assert_eq!(s.calendar.time_to_resolution_seconds, vec![("a".to_string(), 86400)]);
    }

    #[test]
    fn business_hours_and_sla_targets() {
        // Mon-Fri 09:00-17:00 UTC (the default [support] schedule). 2024-01-05 is a Friday.
        let h = BusinessHours::from_settings(&Default::default(), "UTC").unwrap();
        // a: created Fri 16:00, first reply Mon 10:00, solved Mon 12:00.
        //    FRT calendar 66 h = 237600 s, business Fri 1 h + Mon 1 h = 7200 s;
        //    resolution calendar 68 h = 244800 s, business 1 h + 3 h = 14400 s.
        let mut a = ticket("a", "solved", 1, 0, 0);
        a.created_at = ts("2024-01-05T16:00:00Z");
        a.first_reply_at = Some(ts("2024-01-08T10:00:00Z"));
        a.solved_at = Some(ts("2024-01-08T12:00:00Z"));
        // b: created Mon 09:30, reply 09:45 (900 s on both clocks), still open.
        let mut b = ticket("b", "open", 1, 0, 0);
        b.created_at = ts("2024-01-08T09:30:00Z");
        b.first_reply_at = Some(ts("2024-01-08T09:45:00Z"));
        // c: created Saturday 10:00, no reply, open.
        let mut c = ticket("c", "open", 0, 0, 0);
        c.created_at = ts("2024-01-06T10:00:00Z");
        let tickets = [a, b, c];
        let sla = |as_of: &str| SlaQuery {
            first_response_seconds: Some(3600),
            resolution_seconds: Some(14_400),
            as_of: ts(as_of),
        };
        let opts = SupportOptions { accounts: None, business_hours: Some(&h), sla: Some(sla("2024-01-09T12:00:00Z")) };
        let s = report(&tickets, opts);
        assert_eq!(s.calendar.frt_from_creation_seconds, vec![("a".into(), 237_600), ("b".into(), 900)]);
        let bh = s.business.as_ref().unwrap();
        assert_eq!(bh.frt_from_creation_seconds, vec![("a".into(), 7200), ("b".into(), 900)]);
        // Mean (7200 + 900)/2 = 4050.
        assert_eq!(bh.frt_from_creation.mean, d("4050"));
        assert_eq!(bh.time_to_resolution_seconds, vec![("a".into(), 14_400)]);
        // Evaluated Tue 12:00, 1-hour first-response target in business time:
        // a 7200 > 3600 breached; b 900 achieved; c unreplied, Sat 10:00 -> Tue 12:00 =
        // Mon 8 h + Tue 3 h = 39600 > 3600 breached. Rate 2 / (1 + 2) = 66.67 %.
        let fr = s.sla.as_ref().unwrap().first_response.as_ref().unwrap();
        assert_eq!(
            (fr.breached_tickets.clone(), fr.achieved_tickets.clone()),
            (vec!["a".into(), "c".into()], vec!["b".into()])
        );
        assert_eq!(fr.breach_rate_pct, d("66.67"));
        // 4-hour resolution target: a exactly 14400 achieved; b (Mon 09:30 -> Tue 12:00 =
        // 7.5 h + 3 h = 37800) and c (39600) breached while unresolved.
        let res = s.sla.as_ref().unwrap().resolution.as_ref().unwrap();
        assert_eq!(res.achieved_tickets, ["a"]);
        assert_eq!(res.breached_tickets, ["b", "c"]);
        let j = s.to_json();
        assert_eq!(j["sla"]["clock"], "business");
        assert_eq!(j["sla"]["first_response_breached_count"], 2);
        assert_eq!(j["business_hours"]["frt_from_creation_mean_seconds"], json!(4050.0));
        assert_eq!(j["frt_from_creation_seconds"]["a"], json!(237_600), "calendar keys stay at the top");

        // Seen at Mon 10:00: a's reply (10:00) is in, breached; b achieved; c has had
        // Mon 09:00-10:00 = 3600 s, exactly the target: pending, not breached. 1 / 2 = 50 %.
        let s = report(&tickets, SupportOptions { sla: Some(sla("2024-01-08T10:00:00Z")), ..opts });
        let fr = s.sla.unwrap().first_response.unwrap();
        assert_eq!(
            (fr.achieved_tickets.len(), fr.breached_tickets.len(), fr.pending_tickets),
            (1, 1, vec!["c".into()])
        );
        assert_eq!(fr.breach_rate_pct, d("50"));
        // The per-ticket test the health scorecard calls: c on the calendar has waited
        // 48 h > 1 h at Mon 10:00; in business time exactly 1 h, not more.
        assert!(slow_first_response(&tickets[2], 3600, Clock::Calendar, ts("2024-01-08T10:00:00Z")));
        assert!(!slow_first_response(&tickets[2], 3600, Clock::Business(&h), ts("2024-01-08T10:00:00Z")));
        // Not yet created at the instant: not slow.
        assert!(!slow_first_response(&tickets[1], 0, Clock::Calendar, ts("2024-01-08T09:00:00Z")));
        // Without a schedule or targets: null, not empty objects.
        let j = support(&tickets, None).to_json();
        assert_eq!((j["business_hours"].clone(), j["sla"].clone()), (Value::Null, Value::Null));
    }

    #[test]
    fn median_even_count_and_p90() {
        // 1, 2, 3, 10: median (2 + 3)/2 = 2.5; mean 16/4 = 4;
        // p90: h = 0.9 x 3 = 2.7 -> 3 + 0.7 x (10 - 3) = 7.9.
        let st = duration_stats(&[10, 3, 1, 2]);
        assert_eq!((st.mean, st.median, st.p90), (d("4"), d("2.5"), d("7.9")));
        // 1..=10: h = 0.9 x 9 = 8.1 -> 9 + 0.1 x 1 = 9.1; median 5.5.
        let st = duration_stats(&(1..=10).collect::<Vec<_>>());
        assert_eq!((st.median, st.p90), (d("5.5"), d("9.1")));
        // One value: every statistic is that value.
        let st = duration_stats(&[7]);
        assert_eq!((st.mean, st.median, st.p90), (d("7"), d("7"), d("7")));
        // Mean of 1, 2, 2 = 1.666.. -> 1.67.
        assert_eq!(mean(&[1, 2, 2]), d("1.67"));
    }
}
