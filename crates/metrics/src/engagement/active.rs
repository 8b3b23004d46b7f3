//! Active actors (SPEC 2.2): DAU, WAU and MAU as distinct actors with a
//! qualifying event over whole local days `d`, `d-6..d` and `d-29..d` (events
//! after the day are ignored, as in PostHog's "weekly/monthly active" trends),
//! their ratios, and stickiness.
//!
//! Everything is computed from per-day sets of active actors ([`DailyActors`]),
//! built once in O(events log events); a rolling window then costs O(days x set
//! size) however many events there are.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::events::{ActorKind, EventTable, day_to_date};
use super::period::{Intervals, Period};
use crate::round;

/// Sorted, distinct active actors of every local day from `first_day`.
#[derive(Debug, Clone)]
pub struct DailyActors {
    pub kind: ActorKind,
    pub first_day: i32,
    pub sets: Vec<Vec<u32>>,
    pub actor_count: usize,
    /// DAU/WAU/MAU of every day, when the rollups had them: then `sets` is
    /// empty and only [`active_days`] without a drill-down can be answered.
    pub counts: Option<DayCounts>,
}

/// DAU, WAU and MAU of every day from `first_day`, computed once over all of
/// the data's days (the rollups store them), so that the counts of any range
/// cost O(days) however many actors there are. Days outside hold zeros: no
/// one is active before the first day, nor 29 days after the last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayCounts {
    pub first_day: i32,
    /// `[dau, wau, mau]` of day `first_day + i`.
    pub days: Vec<[u32; 3]>,
}

impl DayCounts {
    /// The counts of every day of `daily`'s data and the 29 days after it.
    pub fn of(daily: &DailyActors) -> DayCounts {
        let to = daily.first_day + daily.sets.len() as i32 + if daily.sets.is_empty() { 0 } else { 29 };
        let days = active_days(daily, daily.first_day, to, false)
            .iter()
            .map(|d| [d.dau, d.wau, d.mau].map(|n| n as u32))
            .collect();
        DayCounts { first_day: daily.first_day, days }
    }

    fn on(&self, day: i32) -> [u32; 3] {
        usize::try_from(day - self.first_day).ok().and_then(|i| self.days.get(i)).copied().unwrap_or_default()
    }
}

impl DailyActors {
    pub fn build(t: &EventTable, kind: ActorKind) -> DailyActors {
        let Some((first_day, last_day)) = t.day_span() else {
            return DailyActors {
                kind,
                first_day: 0,
                sets: Vec::new(),
                actor_count: t.actor_count(kind),
                counts: None,
            };
        };
        let mut sets = vec![Vec::new(); (last_day - first_day + 1) as usize];
        match kind {
            // Events are sorted by (user, time), so each user's days come in
            // order and users in increasing id: pushing each new (user, day)
            // builds every day's set sorted and distinct, in O(events).
            ActorKind::User => {
                let mut last = (u32::MAX, i32::MIN);
                for i in 0..t.len() {
                    if t.active[i] && (t.user[i], t.day[i]) != last {
                        last = (t.user[i], t.day[i]);
                        sets[(t.day[i] - first_day) as usize].push(t.user[i]);
                    }
                }
            }
            // Accounts interleave: sort the (day, account) pairs, dropping
            // consecutive repeats first (a user's events mostly share both).
            ActorKind::Account => {
                let mut keys: Vec<u64> = Vec::new();
                for i in 0..t.len() {
                    if let (true, Some(a)) = (t.active[i], t.actor(kind, i)) {
                        let k = ((t.day[i] - first_day) as u64) << 32 | a as u64;
                        if keys.last() != Some(&k) {
                            keys.push(k);
                        }
                    }
                }
                keys.sort_unstable();
                keys.dedup();
                for k in keys {
                    sets[(k >> 32) as usize].push(k as u32);
                }
            }
        }
        DailyActors { kind, first_day, sets, actor_count: t.actor_count(kind), counts: None }
    }

    /// Actors active on `day` (empty outside the data).
    pub fn on(&self, day: i32) -> &[u32] {
        let i = day - self.first_day;
        if i < 0 { &[] } else { self.sets.get(i as usize).map_or(&[], |s| s.as_slice()) }
    }
}

/// One day's active counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveDay {
    pub day: i32,
    pub dau: u64,
    pub wau: u64,
    pub mau: u64,
    /// Drill-down (with `list`): actor ids, sorted by id.
    pub dau_actors: Option<Vec<u32>>,
    pub wau_actors: Option<Vec<u32>>,
    pub mau_actors: Option<Vec<u32>>,
}

impl ActiveDay {
    pub fn dau_mau_ratio(&self) -> Option<Decimal> {
        round::ratio(self.dau, self.mau)
    }
    pub fn wau_mau_ratio(&self) -> Option<Decimal> {
        round::ratio(self.wau, self.mau)
    }

    /// The SPEC 2.4b keys; drill-down lists name actors (`names`: by actor id).
    pub fn to_json(&self, names: &[String]) -> Value {
        let mut o = json!({
            "date": day_to_date(self.day).to_string(),
            "dau": self.dau,
            "wau": self.wau,
            "mau": self.mau,
            "dau_mau_ratio": round::json(self.dau_mau_ratio()),
            "wau_mau_ratio": round::json(self.wau_mau_ratio()),
        });
        let names = |ids: &Vec<u32>| {
            let mut v: Vec<&str> = ids.iter().map(|&a| names[a as usize].as_str()).collect();
            v.sort_unstable();
            Value::from(v)
        };
        for (key, ids) in
            [("dau_users", &self.dau_actors), ("wau_users", &self.wau_actors), ("mau_users", &self.mau_actors)]
        {
            if let Some(ids) = ids {
                o[key] = names(ids);
            }
        }
        o
    }
}

/// A sliding window of the last `len` days: how many days each actor was
/// active in it, and how many actors have a non-zero count.
struct Window {
    len: i32,
    count: Vec<u16>,
    distinct: u64,
}

impl Window {
    fn new(len: i32, actors: usize) -> Window {
        Window { len, count: vec![0; actors], distinct: 0 }
    }
    fn add(&mut self, set: &[u32]) {
        for &a in set {
            let c = &mut self.count[a as usize];
            if *c == 0 {
                self.distinct += 1;
            }
            *c += 1;
        }
    }
    fn remove(&mut self, set: &[u32]) {
        for &a in set {
            let c = &mut self.count[a as usize];
            *c -= 1;
            if *c == 0 {
                self.distinct -= 1;
            }
        }
    }
    fn members(&self) -> Vec<u32> {
        (0..self.count.len() as u32).filter(|&a| self.count[a as usize] > 0).collect()
    }
}

/// DAU, WAU and MAU for every local day in `[from, to)`.
pub fn active_days(daily: &DailyActors, from: i32, to: i32, list: bool) -> Vec<ActiveDay> {
    if let Some(c) = &daily.counts {
        assert!(!list, "a drill-down needs the sets, not the rollups' counts");
        return (from..to)
            .map(|day| {
                let [dau, wau, mau] = c.on(day).map(u64::from);
                ActiveDay { day, dau, wau, mau, dau_actors: None, wau_actors: None, mau_actors: None }
            })
            .collect();
    }
    let mut wau = Window::new(7, daily.actor_count);
    let mut mau = Window::new(30, daily.actor_count);
    let mut out = Vec::with_capacity((to - from).max(0) as usize);
    for d in from..to {
        if d == from {
            for w in [&mut wau, &mut mau] {
                for x in d - w.len + 1..=d {
                    w.add(daily.on(x));
                }
            }
        } else {
            for w in [&mut wau, &mut mau] {
                w.add(daily.on(d));
                w.remove(daily.on(d - w.len));
            }
        }
        let today = daily.on(d);
        out.push(ActiveDay {
            day: d,
            dau: today.len() as u64,
            wau: wau.distinct,
            mau: mau.distinct,
            dau_actors: list.then(|| today.to_vec()),
            wau_actors: list.then(|| wau.members()),
            mau_actors: list.then(|| mau.members()),
        });
    }
    out
}

/// Stickiness (SPEC 2.2, PostHog's stickiness insight): over `[from, to)` cut
/// into intervals (days by default), how many actors were active on exactly
/// n intervals, n = 1..N, and on n or more. Actors never active are not counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Stickiness {
    pub intervals: usize,
    /// `actors[n - 1]` = actors active on exactly n intervals.
    pub actors: Vec<u64>,
    /// `cumulative_actors[n - 1]` = actors active on n or more intervals.
    pub cumulative_actors: Vec<u64>,
    pub total_actors: u64,
    /// Per actor: the number of intervals it was active in (drill-down).
    pub intervals_active: Vec<(u32, u32)>,
}

pub fn stickiness(daily: &DailyActors, period: Period, from: i32, to: i32) -> Stickiness {
    let iv = Intervals::new(period, from, to);
    // Last interval each actor was counted in, to count an interval once.
    let mut last: Vec<i64> = vec![-1; daily.actor_count];
    let mut n: Vec<u32> = vec![0; daily.actor_count];
    for d in from..to {
        let i = iv.index(d).expect("day in range") as i64;
        for &a in daily.on(d) {
            if last[a as usize] != i {
                last[a as usize] = i;
                n[a as usize] += 1;
            }
        }
    }
    let mut actors = vec![0u64; iv.count];
    let mut intervals_active = Vec::new();
    for (a, &k) in n.iter().enumerate() {
        if k > 0 {
            actors[k as usize - 1] += 1;
            intervals_active.push((a as u32, k));
        }
    }
    let mut cumulative_actors = actors.clone();
    for i in (0..cumulative_actors.len().saturating_sub(1)).rev() {
        cumulative_actors[i] += cumulative_actors[i + 1];
    }
    let total_actors = intervals_active.len() as u64;
    Stickiness { intervals: iv.count, actors, cumulative_actors, total_actors, intervals_active }
}

impl Stickiness {
    /// `names`: actor names by id (read only with `list`).
    pub fn to_json(&self, names: &[String], list: bool) -> Value {
        let mut o = json!({
            "intervals": (1..=self.intervals).collect::<Vec<_>>(),
            "actors": self.actors,
            "cumulative_actors": self.cumulative_actors,
            "total_actors": self.total_actors,
        });
        if list {
            let mut by: Vec<(&str, u32)> =
                self.intervals_active.iter().map(|&(a, k)| (names[a as usize].as_str(), k)).collect();
            by.sort_unstable();
            o["days_active_by_user"] =
                Value::Object(by.into_iter().map(|(n, k)| (n.to_string(), Value::from(k))).collect());
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engagement::events::{ActiveEvent, EventTableBuilder, date_to_day};
    use jiff::civil::Date;
    use jiff::tz::TimeZone;

    fn table(tz: &str, events: &[(&str, &str, &str)]) -> EventTable {
        let mut b = EventTableBuilder::new(TimeZone::get(tz).unwrap(), ActiveEvent::AnyTrack);
        for &(kind, user, ts) in events {
            b.push(kind, Some("x"), user, Some(&format!("acct-{}", &user[..1])), ts.parse().unwrap());
        }
        b.finish()
    }

    fn day(y: i16, m: i8, d: i8) -> i32 {
        date_to_day(Date::new(y, m, d).unwrap())
    }

    #[test]
    fn dau_wau_mau_windows_and_ratios() {
        let t = table(
            "UTC",
            &[
                ("track", "a1", "2024-03-01T10:00:00Z"), // day 1 of March: 29 days before the 30th
                ("track", "b1", "2024-03-23T10:00:00Z"), // 7 days before the 30th: in MAU, not WAU
                ("track", "c1", "2024-03-24T00:00:00Z"), // 6 days before: in WAU
                ("track", "d1", "2024-03-30T23:59:59Z"), // the day itself
                ("track", "d1", "2024-03-30T08:00:00Z"), // same actor twice: counted once
                ("page", "e1", "2024-03-30T09:00:00Z"),  // not a track: never active
                ("track", "f1", "2024-03-31T00:00:00Z"), // after the day: ignored on the 30th
                ("track", "g1", "2024-02-29T23:59:59Z"), // 30 days before the 30th: outside MAU
            ],
        );
        let daily = DailyActors::build(&t, ActorKind::User);
        let d30 = day(2024, 3, 30);
        let r = active_days(&daily, d30, d30 + 2, true);
        // 30 March: DAU {d1} = 1; WAU (24..30) {c1, d1} = 2; MAU (1..30) {a1, b1, c1, d1} = 4.
        assert_eq!((r[0].dau, r[0].wau, r[0].mau), (1, 2, 4));
        assert_eq!(r[0].dau_mau_ratio().unwrap().to_string(), "0.25"); // 1/4
        assert_eq!(r[0].wau_mau_ratio().unwrap().to_string(), "0.50"); // 2/4 (Decimal keeps the scale of 2/4)
        // 31 March: DAU {f1}; WAU (25..31) {d1, f1}; MAU (2..31) drops a1: {b1, c1, d1, f1}.
        assert_eq!((r[1].dau, r[1].wau, r[1].mau), (1, 2, 4));
        let j = r[1].to_json(t.names(ActorKind::User));
        assert_eq!(j["mau_users"], json!(["b1", "c1", "d1", "f1"]));
        assert_eq!(j["date"], "2024-03-31");
        // Per account (acct-<first letter>): the same shape, one account per user here.
        let acc = active_days(&DailyActors::build(&t, ActorKind::Account), d30, d30 + 1, false);
        assert_eq!((acc[0].dau, acc[0].wau, acc[0].mau), (1, 2, 4));
        // A day with no one active in the last 30 days: every count 0, ratios null.
        let empty = active_days(&daily, day(2024, 6, 1), day(2024, 6, 2), false);
        assert_eq!((empty[0].dau, empty[0].mau, empty[0].dau_mau_ratio()), (0, 0, None));
        assert_eq!(empty[0].to_json(t.names(ActorKind::User))["wau_mau_ratio"], Value::Null);
    }

    #[test]
    fn stored_counts_answer_any_range_like_the_sets() {
        let t = table(
            "UTC",
            &[
                ("track", "a1", "2024-03-01T10:00:00Z"),
                ("track", "b1", "2024-03-05T10:00:00Z"),
                ("page", "c1", "2024-03-09T10:00:00Z"), // not active, but the last day of the data
                ("track", "a1", "2024-03-06T10:00:00Z"),
            ],
        );
        let daily = DailyActors::build(&t, ActorKind::User);
        let counts = DayCounts::of(&daily);
        // 1..9 March and the 29 days after: b1 stays in MAU until 3 April.
        assert_eq!(counts.days.len(), 9 + 29);
        assert_eq!(counts.days[4], [1, 2, 2]); // 5 March: b1 today; a1 on the 1st is in WAU (27 Feb..5 Mar)
        let only_counts = DailyActors { sets: Vec::new(), counts: Some(counts), ..daily.clone() };
        // Ranges before, across and after the data (where every count is 0).
        for (from, to) in [(day(2024, 2, 1), day(2024, 4, 30)), (day(2024, 3, 7), day(2024, 3, 8))] {
            let want = active_days(&daily, from, to, false);
            assert!(want.iter().any(|d| d.mau > 0));
            assert_eq!(active_days(&only_counts, from, to, false), want);
        }
        // a1's last day in MAU is 4 April (active on 6 March); nothing is stored after 7 April.
        let after = active_days(&only_counts, day(2024, 4, 4), day(2024, 4, 10), false);
        assert_eq!(after.iter().map(|d| d.mau).collect::<Vec<_>>(), vec![1, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn dst_day_in_new_york_is_23_hours() {
        // New York springs forward on 2024-03-10: the local day runs
        // 05:00Z (00:00 EST) .. 2024-03-11T04:00Z (00:00 EDT).
        let t = table(
            "America/New_York",
            &[
                ("track", "a1", "2024-03-10T04:59:59Z"), // 23:59:59 EST on the 9th
                ("track", "b1", "2024-03-10T05:00:00Z"), // 00:00 EST on the 10th
                ("track", "c1", "2024-03-11T03:59:59Z"), // 23:59:59 EDT on the 10th
                ("track", "d1", "2024-03-11T04:00:00Z"), // 00:00 EDT on the 11th (in UTC it is still 4 a.m. on the 11th,
                                                         // but a fixed UTC-5 offset would wrongly put it on the 10th)
            ],
        );
        let daily = DailyActors::build(&t, ActorKind::User);
        let r = active_days(&daily, day(2024, 3, 9), day(2024, 3, 12), true);
        assert_eq!(r.iter().map(|d| d.dau).collect::<Vec<_>>(), vec![1, 2, 1]);
        assert_eq!(r[1].to_json(t.names(ActorKind::User))["dau_users"], json!(["b1", "c1"]));
        // WAU on the 11th: all four actors (9th..11th are within 5th..11th).
        assert_eq!(r[2].wau, 4);
    }

    #[test]
    fn stickiness_counts_days_active_and_cumulates() {
        // Week of Mon 2024-01-01 .. Sun 01-07: a1 on 3 days, b1 on 1 day (twice), c1 on 7 days.
        let mut ev = vec![
            ("track", "a1", "2024-01-01T10:00:00Z"),
            ("track", "a1", "2024-01-03T10:00:00Z"),
            ("track", "a1", "2024-01-07T10:00:00Z"),
            ("track", "b1", "2024-01-02T10:00:00Z"),
            ("track", "b1", "2024-01-02T11:00:00Z"),
            ("track", "z1", "2024-01-08T11:00:00Z"), // after the range: not counted at all
        ];
        let c: Vec<String> = (1..=7).map(|d| format!("2024-01-0{d}T12:00:00Z")).collect();
        for s in &c {
            ev.push(("track", "c1", s));
        }
        let t = table("UTC", &ev);
        let daily = DailyActors::build(&t, ActorKind::User);
        let s = stickiness(&daily, Period::Day, day(2024, 1, 1), day(2024, 1, 8));
        assert_eq!(s.actors, vec![1, 0, 1, 0, 0, 0, 1]); // b1 -> 1, a1 -> 3, c1 -> 7
        assert_eq!(s.cumulative_actors, vec![3, 2, 2, 1, 1, 1, 1]);
        assert_eq!(s.total_actors, 3);
        let j = s.to_json(t.names(ActorKind::User), true);
        assert_eq!(j["days_active_by_user"], json!({"a1": 3, "b1": 1, "c1": 7}));
        assert_eq!(j["intervals"], json!([1, 2, 3, 4, 5, 6, 7]));
        // By week over two weeks: z1 active in week 2 only; everyone else in week 1 only.
        let w = stickiness(&daily, Period::Week, day(2024, 1, 1), day(2024, 1, 15));
        assert_eq!((w.actors, w.total_actors), (vec![4, 0], 4));
    }
}
