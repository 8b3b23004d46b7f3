//! Support metrics (SPEC 2.4): first response time, FCR (strict and
//! Freshservice), one-touch and zero-touch, reopen rate, time to resolution and
//! tickets per account, each with the ticket ids that make it up.
//!
//! Definitions, where SPEC leaves a choice:
//! - **First response time** (Zendesk's "first reply time"): the time from
//!   creation (or from `bot_handoff_at`, else creation) to `first_reply_at`, the
//!   first public agent reply, in whole seconds rounded down. Calendar time only
//!   (business hours from `[support]` settings are not implemented yet).
//!   Tickets with no `first_reply_at` are excluded and counted as unreplied. A
//!   reply stamped before the hand-off counts as 0 s from hand-off.
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
    /// Per replied ticket, in input order.
    pub frt_from_creation_seconds: Vec<(String, i64)>,
    pub frt_from_creation: DurationStats,
    pub frt_from_handoff_seconds: Vec<(String, i64)>,
    pub frt_from_handoff: DurationStats,
    /// Resolved tickets with `solved_at`: `solved_at - created_at`.
    pub time_to_resolution_seconds: Vec<(String, i64)>,
    pub time_to_resolution: DurationStats,
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

/// Compute the report. `accounts`: the number of accounts to divide by for
/// tickets per account (`None`: the distinct accounts that have tickets).
pub fn support<'a>(tickets: impl IntoIterator<Item = &'a Ticket>, accounts: Option<u64>) -> Support {
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
        frt_from_creation_seconds: vec![],
        frt_from_creation: duration_stats(&[]),
        frt_from_handoff_seconds: vec![],
        frt_from_handoff: duration_stats(&[]),
        time_to_resolution_seconds: vec![],
        time_to_resolution: duration_stats(&[]),
        tickets_per_account: None,
        tickets_by_account: BTreeMap::new(),
        satisfaction_rated: 0,
        satisfaction_average: None,
        satisfaction_distribution: BTreeMap::new(),
    };
    let mut sat_sum = Decimal::ZERO;
    for t in tickets {
        s.tickets += 1;
        if let Some(x) = t.satisfaction.and_then(Decimal::from_f64_retain) {
            s.satisfaction_rated += 1;
            sat_sum += x;
            *s.satisfaction_distribution.entry(x.normalize().to_string()).or_default() += 1;
        }
        if let Some(c) = &t.customer_id {
            *s.tickets_by_account.entry(c.clone()).or_default() += 1;
        }
        match t.first_reply_at {
            Some(r) => {
                s.replied_count += 1;
                s.frt_from_creation_seconds.push((t.id.clone(), seconds_between(t.created_at, r)));
                let from = t.bot_handoff_at.unwrap_or(t.created_at);
                s.frt_from_handoff_seconds.push((t.id.clone(), seconds_between(from, r)));
            }
            None => {
                s.unreplied_count += 1;
                s.unreplied_tickets.push(t.id.clone());
            }
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
        if let Some(done) = t.solved_at {
            s.time_to_resolution_seconds.push((t.id.clone(), seconds_between(t.created_at, done)));
        }
    }
    let r = s.resolved_tickets;
    let rate = |v: &Vec<String>| pct(v.len() as u64, r);
    s.fcr_strict_rate_pct = rate(&s.fcr_strict_tickets);
    s.fcr_freshservice_rate_pct = rate(&s.fcr_freshservice_tickets);
    s.one_touch_rate_pct = rate(&s.one_touch_tickets);
    s.zero_touch_rate_pct = rate(&s.zero_touch_tickets);
    s.reopen_rate_pct = rate(&s.reopened_tickets);
    let secs = |v: &Vec<(String, i64)>| v.iter().map(|x| x.1).collect::<Vec<_>>();
    s.frt_from_creation = duration_stats(&secs(&s.frt_from_creation_seconds));
    s.frt_from_handoff = duration_stats(&secs(&s.frt_from_handoff_seconds));
    s.time_to_resolution = duration_stats(&secs(&s.time_to_resolution_seconds));
    s.satisfaction_average =
        (s.satisfaction_rated > 0).then(|| round_dp(sat_sum / Decimal::from(s.satisfaction_rated), 2));
    let with_account: u64 = s.tickets_by_account.values().sum();
    let denom = accounts.unwrap_or(s.tickets_by_account.len() as u64);
    s.tickets_per_account = (denom > 0).then(|| round_dp(Decimal::from(with_account) / Decimal::from(denom), 2));
    s
}

impl Support {
    /// The SPEC 2.4b keys, plus `tickets`, `zero_touch_rate_pct`,
    /// `unreplied_tickets`, time to resolution and tickets per account.
    pub fn to_json(&self) -> Value {
        let per =
            |v: &Vec<(String, i64)>| v.iter().map(|(id, s)| (id.clone(), json!(s))).collect::<serde_json::Map<_, _>>();
        json!({
            "tickets": self.tickets,
            "resolved_tickets": self.resolved_tickets,
            "fcr_strict_rate_pct": round::json(self.fcr_strict_rate_pct),
            "fcr_strict_tickets": self.fcr_strict_tickets,
            "fcr_freshservice_rate_pct": round::json(self.fcr_freshservice_rate_pct),
            "fcr_freshservice_tickets": self.fcr_freshservice_tickets,
            "one_touch_rate_pct": round::json(self.one_touch_rate_pct),
            "one_touch_tickets": self.one_touch_tickets,
            "zero_touch_rate_pct": round::json(self.zero_touch_rate_pct),
            "zero_touch_tickets": self.zero_touch_tickets,
            "reopen_rate_pct": round::json(self.reopen_rate_pct),
            "reopened_tickets": self.reopened_tickets,
            "replied_count": self.replied_count,
            "unreplied_count": self.unreplied_count,
            "unreplied_tickets": self.unreplied_tickets,
            "frt_from_creation_seconds": per(&self.frt_from_creation_seconds),
            "frt_from_creation_mean_seconds": round::json(self.frt_from_creation.mean),
            "frt_from_creation_median_seconds": round::json(self.frt_from_creation.median),
            "frt_from_creation_p90_seconds": round::json(self.frt_from_creation.p90),
            "frt_from_handoff_seconds": per(&self.frt_from_handoff_seconds),
            "frt_from_handoff_mean_seconds": round::json(self.frt_from_handoff.mean),
            "frt_from_handoff_median_seconds": round::json(self.frt_from_handoff.median),
            "frt_from_handoff_p90_seconds": round::json(self.frt_from_handoff.p90),
            "time_to_resolution_seconds": per(&self.time_to_resolution_seconds),
            "time_to_resolution_mean_seconds": round::json(self.time_to_resolution.mean),
            "time_to_resolution_median_seconds": round::json(self.time_to_resolution.median),
            "time_to_resolution_p90_seconds": round::json(self.time_to_resolution.p90),
            "tickets_per_account": round::json(self.tickets_per_account),
            "tickets_by_account": self.tickets_by_account,
            "satisfaction_rated": self.satisfaction_rated,
            "satisfaction_average": round::json(self.satisfaction_average),
            "satisfaction_distribution": self.satisfaction_distribution,
            "business_hours": Value::Null,
        })
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
        assert_eq!((s.frt_from_creation.mean, s.frt_from_creation.median, s.frt_from_creation.p90), (None, None, None));
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
        assert_eq!(s.frt_from_creation_seconds, vec![("a".to_string(), 1800), ("b".to_string(), 600)]);
        assert_eq!(s.frt_from_handoff_seconds, vec![("a".to_string(), 1200), ("b".to_string(), 600)]);
        // mean (1800 + 600)/2 = 1200; median of 2 = mean of both = 1200;
        // p90: h = 0.9 x 1 = 0.9 -> 600 + 0.9 x 1200 = 1680.
        assert_eq!(s.frt_from_creation.mean, d("1200"));
        assert_eq!(s.frt_from_creation.median, d("1200"));
        assert_eq!(s.frt_from_creation.p90, d("1680"));
        // From hand-off: (1200 + 600)/2 = 900.
        assert_eq!(s.frt_from_handoff.mean, d("900"));
        // Time to resolution: only a is resolved: 1 day = 86400 s.
        assert_eq!(s.time_to_resolution_seconds, vec![("a".to_string(), 86400)]);
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
