//! Retention tables (SPEC 2.2; PostHog's retention insight).
//!
//! The range `[from, to)` of local days is cut into intervals (day, week from
//! Monday, or calendar month; the first and last may be partial). Events
//! outside the range neither make nor retain a cohort, except that a
//! first-time cohort looks at all history to find an actor's first start event.
//!
//! - First-time: an actor belongs only to the cohort of the interval of its
//!   first-ever start event (an actor whose first start event is before the
//!   range is in no cohort).
//! - Recurring: an actor belongs to every interval in the range in which it did
//!   the start event.
//! - Cell k = cohort actors who did the return event in interval k exactly
//!   (not "on or after"); cell 0 = the cohort size. Row i stops at the range
//!   end (N - i cells); an empty cohort has size 0 and null percentages.
//! - Mean rows per offset k over non-empty cohorts whose row reaches k:
//!   weighted = sum retained at k / sum of their sizes; simple = unweighted
//!   mean of their percentages (computed exactly, as fractions, then rounded).

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::active::DailyActors;
use super::events::{ActiveEvent, ActorKind, EventTable};
use super::period::{Intervals, Period};
use crate::round;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RetentionType {
    #[default]
    FirstTime,
    Recurring,
}

#[derive(Clone, Debug)]
pub struct RetentionQuery {
    pub kind: ActorKind,
    pub period: Period,
    pub retention_type: RetentionType,
    pub start_event: ActiveEvent,
    pub return_event: ActiveEvent,
    /// Local days `[from, to)`.
    pub from: i32,
    pub to: i32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cohort {
    pub interval: usize,
    pub start: jiff::civil::Date,
    /// Actor ids, sorted by id.
    pub actors: Vec<u32>,
    /// `retained[0]` = cohort size; `retained[k]` = returned in interval i + k.
    pub retained: Vec<u64>,
}

impl Cohort {
    pub fn size(&self) -> u64 {
        self.actors.len() as u64
    }
    pub fn retained_pct(&self) -> Vec<Option<Decimal>> {
        self.retained.iter().map(|&r| round::pct(r, self.size())).collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RetentionTable {
    pub period: Period,
    pub cohorts: Vec<Cohort>,
    pub mean_retained_pct_weighted: Vec<Option<Decimal>>,
    pub mean_retained_pct_simple: Vec<Option<Decimal>>,
}

pub fn retention(t: &EventTable, q: &RetentionQuery) -> RetentionTable {
    let iv = Intervals::new(q.period, q.from, q.to);
    let n_actors = t.actor_count(q.kind);
    let start_mask = t.mask(&q.start_event);
    let return_mask = if q.return_event == q.start_event { start_mask.clone() } else { t.mask(&q.return_event) };

    // Cohort memberships and returns as sorted (actor << 32 | interval) keys.
    let mut members: Vec<u64> = Vec::new();
    let mut returns: Vec<u64> = Vec::new();
    let mut first_start = vec![i32::MAX; if q.retention_type == RetentionType::FirstTime { n_actors } else { 0 }];
    for i in 0..t.len() {
        let Some(a) = t.actor(q.kind, i) else { continue };
        if start_mask[i] {
            match q.retention_type {
                RetentionType::FirstTime => first_start[a as usize] = first_start[a as usize].min(t.day[i]),
                RetentionType::Recurring => {
                    if let Some(k) = iv.index(t.day[i]) {
                        members.push((a as u64) << 32 | k as u64);
                    }
                }
            }
        }
        if return_mask[i]
            && let Some(k) = iv.index(t.day[i])
        {
            returns.push((a as u64) << 32 | k as u64);
        }
    }
    for (a, &d) in first_start.iter().enumerate() {
        if let Some(k) = iv.index(d) {
            members.push((a as u64) << 32 | k as u64);
        }
    }
    table(q.period, iv, members, returns)
}

/// The same table from per-day sets of active actors, when the start and the
/// return event are both the active event the sets were built with (the
/// default): O(days x set size) instead of O(events).
pub fn retention_daily(
    daily: &DailyActors,
    period: Period,
    retention_type: RetentionType,
    from: i32,
    to: i32,
) -> RetentionTable {
    let iv = Intervals::new(period, from, to);
    match retention_type {
        RetentionType::FirstTime => first_time_daily(daily, period, iv),
        RetentionType::Recurring => {
            // An actor is in every interval it was active in: the cells pair
            // each of its intervals with the later ones, as the keyed table does.
            let mut returns: Vec<u64> = Vec::new();
            for d in from..to {
                let Some(k) = iv.index(d) else { continue };
                for &a in daily.on(d) {
                    returns.push((a as u64) << 32 | k as u64);
                }
            }
            table(period, iv, returns.clone(), returns)
        }
    }
}

/// First-time retention from per-day sets in one pass over the days, with
/// two arrays indexed by actor instead of sorting a key per actor-day (at
/// 100 M events those keys were 190 MB and most of the query's time): days
/// ascend, so an actor's cohort is the interval of the first day it appears
/// in (days before the range put it in no cohort), and an actor seen in an
/// interval for the first time returns to its cohort in that interval.
fn first_time_daily(daily: &DailyActors, period: Period, iv: Intervals) -> RetentionTable {
    /// Not seen yet; seen before the range (in no cohort).
    const UNSEEN: u32 = u32::MAX;
    const BEFORE: u32 = u32::MAX - 1;
    let mut cohort_of = vec![UNSEEN; daily.actor_count];
    // The last interval each actor was counted in (cohorts are < UNSEEN).
    let mut last = vec![UNSEEN; daily.actor_count];
    let mut cohorts = empty_cohorts(&iv);
    for (i, set) in daily.sets.iter().enumerate() {
        let d = daily.first_day + i as i32;
        let k = iv.index(d).map(|k| k as u32);
        match k {
            None if d < iv.from => {
                for &a in set {
                    cohort_of[a as usize] = BEFORE;
                }
            }
            None => break,
            Some(k) => {
                for &a in set {
                    let a = a as usize;
                    if cohort_of[a] == UNSEEN {
                        cohort_of[a] = k;
                    }
                    if last[a] != k {
                        last[a] = k;
                        let c = cohort_of[a];
                        if c != BEFORE {
                            cohorts[c as usize].retained[(k - c) as usize] += 1;
                        }
                    }
                }
            }
        }
    }
    // Members in id order (what the keyed table gives).
    for (a, &c) in cohort_of.iter().enumerate() {
        if c < BEFORE {
            cohorts[c as usize].actors.push(a as u32);
        }
    }
    with_means(period, cohorts)
}

fn empty_cohorts(iv: &Intervals) -> Vec<Cohort> {
    (0..iv.count)
        .map(|i| Cohort { interval: i, start: iv.start_date(i), actors: Vec::new(), retained: vec![0; iv.count - i] })
        .collect()
}

/// Cohorts, cells and mean rows from (actor << 32 | interval) keys of
/// cohort memberships and of returns.
fn table(period: Period, iv: Intervals, mut members: Vec<u64>, mut returns: Vec<u64>) -> RetentionTable {
    members.sort_unstable();
    members.dedup();
    returns.sort_unstable();
    returns.dedup();

    let mut cohorts = empty_cohorts(&iv);
    // Walk members and returns together, actor by actor (both sorted).
    let mut r = 0;
    for &m in &members {
        let (a, i) = ((m >> 32) as u32, (m as u32) as usize);
        while r < returns.len() && (returns[r] >> 32) < a as u64 {
            r += 1;
        }
        let c = &mut cohorts[i];
        c.actors.push(a);
        c.retained[0] += 1;
        let mut j = r;
        while j < returns.len() && (returns[j] >> 32) == a as u64 {
            let k = (returns[j] as u32) as usize;
            if k > i {
                c.retained[k - i] += 1;
            }
            j += 1;
        }
    }
    with_means(period, cohorts)
}

/// The table with its mean rows over the cohorts' cells.
fn with_means(period: Period, cohorts: Vec<Cohort>) -> RetentionTable {
    let n = cohorts.len();
    let mut weighted = Vec::with_capacity(n);
    let mut simple = Vec::with_capacity(n);
    for k in 0..n {
        let reach: Vec<&Cohort> = cohorts.iter().filter(|c| c.size() > 0 && c.retained.len() > k).collect();
        let (sum_r, sum_n) = reach.iter().fold((0, 0), |(r, n), c| (r + c.retained[k], n + c.size()));
        weighted.push(round::pct(sum_r, sum_n));
        simple.push(mean_pct(reach.iter().map(|c| (c.retained[k], c.size()))));
    }
    RetentionTable { period, cohorts, mean_retained_pct_weighted: weighted, mean_retained_pct_simple: simple }
}

/// The unweighted mean of the percentages `r / n`, exactly as a fraction,
/// rounded half away from zero to 2 decimals; `None` for no ratios.
fn mean_pct(ratios: impl Iterator<Item = (u64, u64)>) -> Option<Decimal> {
    fn gcd(mut a: i128, mut b: i128) -> i128 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a.abs()
    }
    let (mut num, mut den, mut count) = (0i128, 1i128, 0i128);
    let mut approx = Decimal::ZERO;
    let mut exact = true;
    for (r, n) in ratios {
        count += 1;
        approx += Decimal::from(r) / Decimal::from(n);
        if exact {
            let (r, n) = (r as i128, n as i128);
            match num.checked_mul(n).zip(r.checked_mul(den)).and_then(|(a, b)| a.checked_add(b)).zip(den.checked_mul(n))
            {
                Some((nn, dd)) => {
                    let g = gcd(nn, dd).max(1);
                    (num, den) = (nn / g, dd / g);
                }
                None => exact = false,
            }
        }
    }
    if count == 0 {
        return None;
    }
    // pct = num / den / count x 100, to 2 decimals: round(num x 10^4 / (den x count)) / 100.
    let scaled = num.checked_mul(10_000).zip(den.checked_mul(count));
    match (exact, scaled) {
        (true, Some((p, q))) => {
            let (quo, rem) = (p / q, p % q);
            let rounded = if rem * 2 >= q { quo + 1 } else { quo };
            Some(Decimal::from_i128_with_scale(rounded, 2))
        }
        _ => Some(round::round_dp(approx * Decimal::ONE_HUNDRED / Decimal::from(count as i64), 2)),
    }
}

impl RetentionTable {
    /// The SPEC 2.4b keys; `cohort_users` name the actors.
    /// The SPEC 2.4b keys; `names`: actor names by id.
    pub fn to_json(&self, names: &[String]) -> Value {
        let pcts = |v: &[Option<Decimal>]| v.iter().map(|&p| round::json(p)).collect::<Vec<_>>();
        let cohorts: Vec<Value> = self
            .cohorts
            .iter()
            .map(|c| {
                let mut users: Vec<&str> = c.actors.iter().map(|&a| names[a as usize].as_str()).collect();
                users.sort_unstable();
                json!({
                    "cohort_date": c.start.to_string(),
                    "cohort_size": c.size(),
                    "cohort_users": users,
                    "retained": c.retained,
                    "retained_pct": pcts(&c.retained_pct()),
                })
            })
            .collect();
        json!({
            "period": self.period.name(),
            "cohorts": cohorts,
            "mean_retained_pct_weighted": pcts(&self.mean_retained_pct_weighted),
            "mean_retained_pct_simple": pcts(&self.mean_retained_pct_simple),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engagement::events::{EventTableBuilder, date_to_day};
    use jiff::civil::Date;
    use jiff::tz::TimeZone;

    fn day(y: i16, m: i8, d: i8) -> i32 {
        date_to_day(Date::new(y, m, d).unwrap())
    }

    /// (user, event name, "YYYY-MM-DD") track events at noon UTC.
    fn table(events: &[(&str, &str, &str)]) -> EventTable {
        let mut b = EventTableBuilder::new(TimeZone::UTC, ActiveEvent::AnyTrack);
        for &(u, e, d) in events {
            b.push("track", Some(e), u, Some("acme"), format!("{d}T12:00:00Z").parse().unwrap());
        }
        b.finish()
    }

    fn query(rt: RetentionType, period: Period, from: i32, to: i32) -> RetentionQuery {
        RetentionQuery {
            kind: ActorKind::User,
            period,
            retention_type: rt,
            start_event: ActiveEvent::AnyTrack,
            return_event: ActiveEvent::AnyTrack,
            from,
            to,
        }
    }

    fn dec(v: &[Option<&str>]) -> Vec<Option<Decimal>> {
        v.iter().map(|s| s.map(|s| s.parse().unwrap())).collect()
    }

    // Days 1..4 of January 2024 (daily intervals, range 1..5 exclusive: N = 4):
    //   a: 1, 2, 4        b: 1, 3        c: 2, 3        d: 2023-12-31 (before), 2
    const EVENTS: &[(&str, &str, &str)] = &[
        ("a", "x", "2024-01-01"),
        ("a", "x", "2024-01-02"),
        ("a", "x", "2024-01-04"),
        ("b", "x", "2024-01-01"),
        ("b", "x", "2024-01-03"),
        ("c", "x", "2024-01-02"),
        ("c", "x", "2024-01-03"),
        ("d", "x", "2023-12-31"),
        ("d", "x", "2024-01-02"),
    ];

    #[test]
    fn first_time_cohorts_exact_interval_returns_and_means() {
        let t = table(EVENTS);
        let r = retention(&t, &query(RetentionType::FirstTime, Period::Day, day(2024, 1, 1), day(2024, 1, 5)));
        // Cohort 1 Jan = {a, b}: k=1 (2 Jan) a; k=2 (3 Jan) b; k=3 (4 Jan) a.
        // Cohort 2 Jan = {c} (d first came on 31 Dec, before the range: no cohort): k=1 (3 Jan) c; k=2 none.
        // Cohorts 3 and 4 Jan: empty.
        let c = &r.cohorts;
        assert_eq!(
            c.iter().map(|c| c.retained.clone()).collect::<Vec<_>>(),
            vec![vec![2, 1, 1, 1], vec![1, 1, 0], vec![0, 0], vec![0]]
        );
        assert_eq!(c[0].retained_pct(), dec(&[Some("100"), Some("50"), Some("50"), Some("50")]));
        assert_eq!(c[2].retained_pct(), vec![None, None]); // empty cohort: size 0, null percentages
        // Weighted k=1: (1 + 1) / (2 + 1) = 66.67 %; simple: (50 + 100) / 2 = 75 %.
        // k=2: (1 + 0) / 3 = 33.33 % vs (50 + 0) / 2 = 25 %. k=3: only cohort 1 reaches it: 50 %.
        assert_eq!(r.mean_retained_pct_weighted, dec(&[Some("100"), Some("66.67"), Some("33.33"), Some("50")]));
        assert_eq!(r.mean_retained_pct_simple, dec(&[Some("100"), Some("75"), Some("25"), Some("50")]));
        let j = r.to_json(t.names(ActorKind::User));
        assert_eq!(j["cohorts"][0]["cohort_users"], json!(["a", "b"]));
        assert_eq!(j["cohorts"][0]["cohort_date"], "2024-01-01");
        assert_eq!(
            j["cohorts"][3],
            json!({"cohort_date": "2024-01-04", "cohort_size": 0, "cohort_users": [],
            "retained": [0], "retained_pct": [null]})
        );
        assert_eq!(j["mean_retained_pct_simple"], json!([100.0, 75.0, 25.0, 50.0]));
    }

    #[test]
    fn recurring_cohorts_count_every_interval_with_the_start_event() {
        let t = table(EVENTS);
        let r = retention(&t, &query(RetentionType::Recurring, Period::Day, day(2024, 1, 1), day(2024, 1, 5)));
        // 1 Jan {a, b}: as above [2, 1, 1, 1].
        // 2 Jan {a, c, d}: 3 Jan c; 4 Jan a -> [3, 1, 1].
        // 3 Jan {b, c}: 4 Jan none -> [2, 0].   4 Jan {a} -> [1].
        let c = &r.cohorts;
        assert_eq!(
            c.iter().map(|c| c.retained.clone()).collect::<Vec<_>>(),
            vec![vec![2, 1, 1, 1], vec![3, 1, 1], vec![2, 0], vec![1]]
        );
        // k=1 weighted: (1 + 1 + 0) / (2 + 3 + 2) = 2/7 = 28.57 %; simple: (50 + 33.33.. + 0) / 3 = 27.78 %.
        assert_eq!(r.mean_retained_pct_weighted[1], Some("28.57".parse().unwrap()));
        assert_eq!(r.mean_retained_pct_simple[1], Some("27.78".parse().unwrap()));
        // k=2: (1 + 1) / (2 + 3) = 40 %; simple (50 + 33.33..) / 2 = 41.67 %.
        assert_eq!(r.mean_retained_pct_weighted[2], Some("40".parse().unwrap()));
        assert_eq!(r.mean_retained_pct_simple[2], Some("41.67".parse().unwrap()));
    }

    #[test]
    fn weekly_cohorts_start_monday_and_named_events() {
        // Mon 1 Jan .. Sun 14 Jan 2024: two weeks. a signs up on Sun 7 Jan (week 1) and
        // logs in on Mon 8 Jan (week 2); b signs up Mon 8 Jan; c only logs in.
        let t = table(&[
            ("a", "signup", "2024-01-07"),
            ("a", "login", "2024-01-08"),
            ("b", "signup", "2024-01-08"),
            ("b", "signup", "2024-01-09"),
            ("c", "login", "2024-01-02"),
        ]);
        let mut q = query(RetentionType::FirstTime, Period::Week, day(2024, 1, 1), day(2024, 1, 15));
        q.start_event = ActiveEvent::Named("signup".into());
        q.return_event = ActiveEvent::Named("login".into());
        let r = retention(&t, &q);
        assert_eq!(r.cohorts[0].start, Date::constant(2024, 1, 1));
        assert_eq!(r.cohorts[1].start, Date::constant(2024, 1, 8));
        assert_eq!(r.cohorts[0].retained, vec![1, 1]); // a, returned in week 2
        assert_eq!(r.cohorts[1].retained, vec![1]); // b
        // Weighted k=1 over cohort 1 only: 1/1 = 100 %.
        assert_eq!(r.mean_retained_pct_weighted, dec(&[Some("100"), Some("100")]));
    }

    #[test]
    fn the_per_day_kernel_equals_the_event_table_for_every_type_period_and_range() {
        // 40 users over 70 days from Wed 2024-01-10, active on pseudo-random
        // days (some twice a day, some only before the range), by user and by
        // account (4 accounts): every range cut must give the same table.
        let mut b = EventTableBuilder::new(TimeZone::UTC, ActiveEvent::AnyTrack);
        let mut x: u64 = 7;
        let first = day(2024, 1, 10);
        for u in 0..40 {
            for d in 0..70 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if (x >> 33) % 5 < (u % 3 + 1) {
                    let ts = jiff::Timestamp::from_second((first + d) as i64 * 86_400 + (u * 61) as i64).unwrap();
                    let kind = if (x >> 40).is_multiple_of(7) { "page" } else { "track" };
                    b.push(kind, Some("x"), &format!("u{u}"), Some(&format!("acct{}", u % 4)), ts);
                }
            }
        }
        let t = b.finish();
        let mut with_returns = 0;
        for kind in [ActorKind::User, ActorKind::Account] {
            let daily = DailyActors::build(&t, kind);
            for rt in [RetentionType::FirstTime, RetentionType::Recurring] {
                for period in [Period::Day, Period::Week, Period::Month] {
                    for (from, to) in [(first, first + 70), (first + 9, first + 50), (first - 5, first + 80)] {
                        let mut q = query(rt, period, from, to);
                        q.kind = kind;
                        let want = retention(&t, &q);
                        with_returns += want.cohorts.iter().any(|c| c.retained.iter().skip(1).any(|&r| r > 0)) as u32;
                        let got = retention_daily(&daily, period, rt, from, to);
                        assert_eq!(got, want, "{kind:?} {rt:?} {period:?} {from}..{to}");
                    }
                }
            }
        }
        // Most of the 36 tables have returning cohorts: a real comparison.
        assert!(with_returns >= 24, "{with_returns}");
    }

    #[test]
    fn no_cohorts_give_null_means() {
        let t = table(&[("a", "x", "2024-01-01")]);
        let r = retention(&t, &query(RetentionType::FirstTime, Period::Day, day(2024, 2, 1), day(2024, 2, 3)));
        assert_eq!(r.cohorts.len(), 2);
        assert_eq!(r.mean_retained_pct_weighted, vec![None, None]);
        assert_eq!(r.mean_retained_pct_simple, vec![None, None]);
        assert_eq!(mean_pct([(1, 3), (2, 3)].into_iter()), Some("50.00".parse().unwrap())); // (1/3 + 2/3) / 2
        assert_eq!(mean_pct([(1, 8), (0, 1)].into_iter()), Some("6.25".parse().unwrap())); // 12.5 / 2
        assert_eq!(mean_pct([(1, 16), (0, 1), (0, 1)].into_iter()), Some("2.08".parse().unwrap())); // 6.25/3 = 2.0833
    }
}
