//! Lifecycle (SPEC 2.2, PostHog's lifecycle insight): every interval of the
//! range, each active actor is
//! - *new* if the interval is the one of the actor's creation (`created_at`
//!   from identify traits for persons, group traits for accounts, else the
//!   first event);
//! - otherwise *returning* if it was active in the immediately preceding
//!   interval, else *resurrecting* (so an actor created before its first
//!   activity starts as resurrecting, as in PostHog);
//!
//! and an actor active in the preceding interval but not in this one is
//! *dormant* (a positive count; PostHog plots it negative). The interval
//! before the range's first one is the whole preceding period (up to the
//! range start), so activity before the range classifies the first interval.

use serde_json::{Value, json};

use super::active::DailyActors;
use super::events::{ActorKind, EventTable, LocalDays};
use super::period::{Intervals, Period};

#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleInterval {
    pub start: jiff::civil::Date,
    /// Actor ids by status, each sorted by id.
    pub new: Vec<u32>,
    pub returning: Vec<u32>,
    pub resurrecting: Vec<u32>,
    pub dormant: Vec<u32>,
}

/// Distinct actors active on any day of `[from, to)`.
fn union(daily: &DailyActors, from: i32, to: i32) -> Vec<u32> {
    let mut v: Vec<u32> = (from..to).flat_map(|d| daily.on(d).iter().copied()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub fn lifecycle(t: &EventTable, daily: &DailyActors, period: Period, from: i32, to: i32) -> Vec<LifecycleInterval> {
    let iv = Intervals::new(period, from, to);
    let mut days = LocalDays::new(t.tz.clone());
    let created_key: Vec<i32> = t
        .created_us(daily.kind)
        .into_iter()
        .map(|us| if us == i64::MAX { i32::MIN } else { period.key(days.day_of(us)) })
        .collect();
    let mut prev = union(daily, period.start_day(iv.first_key - 1), from);
    let mut out = Vec::with_capacity(iv.count);
    for i in 0..iv.count {
        let key = iv.first_key + i as i32;
        let cur = union(daily, period.start_day(key).max(from), period.start_day(key + 1).min(to));
        let mut li = LifecycleInterval {
            start: iv.start_date(i),
            new: Vec::new(),
            returning: Vec::new(),
            resurrecting: Vec::new(),
            dormant: Vec::new(),
        };
        for &a in &cur {
            if created_key[a as usize] == key {
                li.new.push(a);
            } else if prev.binary_search(&a).is_ok() {
                li.returning.push(a);
            } else {
                li.resurrecting.push(a);
            }
        }
        li.dormant = prev.iter().copied().filter(|a| cur.binary_search(a).is_err()).collect();
        out.push(li);
        prev = cur;
    }
    out
}

impl LifecycleInterval {
    /// The SPEC 2.4b keys; `users` (by status) only with `list`.
    pub fn to_json(&self, t: &EventTable, kind: ActorKind, list: bool) -> Value {
        let mut o = json!({
            "date": self.start.to_string(),
            "new": self.new.len(),
            "returning": self.returning.len(),
            "resurrecting": self.resurrecting.len(),
            "dormant": self.dormant.len(),
        });
        if list {
            let names = |ids: &[u32]| {
                let mut v: Vec<&str> = ids.iter().map(|&a| t.actor_name(kind, a)).collect();
                v.sort_unstable();
                v
            };
            o["users"] = json!({
                "new": names(&self.new),
                "returning": names(&self.returning),
                "resurrecting": names(&self.resurrecting),
                "dormant": names(&self.dormant),
            });
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

    fn day(y: i16, m: i8, d: i8) -> i32 {
        date_to_day(Date::new(y, m, d).unwrap())
    }

    #[test]
    fn new_returning_resurrecting_dormant() {
        let mut b = EventTableBuilder::new(TimeZone::UTC, ActiveEvent::AnyTrack);
        let at = |d: &str| format!("{d}T12:00:00Z").parse().unwrap();
        // Range: days 2..5 of January (daily intervals); 1 January is before it.
        // a: created 2 Jan (identify), active 2, 3, 5   -> 2 new, 3 returning, 4 dormant, 5 resurrecting
        // b: no created_at, first event 1 Jan (a page), active 1 (before the range), 2, 4
        //    -> 2 returning (active on 1 Jan), 3 dormant, 4 resurrecting, 5 dormant
        // c: created 2023 (identify), first active 3 Jan -> 3 resurrecting, 4 dormant
        // d: created 4 Jan by traits but active first on 3 Jan -> 3 resurrecting, 4 new (its creation interval)
        b.set_created(ActorKind::User, "a", at("2024-01-02"));
        b.set_created(ActorKind::User, "c", at("2023-06-01"));
        b.set_created(ActorKind::User, "d", at("2024-01-04"));
        for (u, d) in [("a", "02"), ("a", "03"), ("a", "05"), ("b", "01"), ("b", "02"), ("b", "04"), ("c", "03")] {
            b.push("track", Some("x"), u, None, at(&format!("2024-01-{d}")));
        }
        b.push("page", None, "b", None, at("2023-12-31"));
        b.push("track", Some("x"), "d", None, at("2024-01-03"));
        b.push("track", Some("x"), "d", None, at("2024-01-04"));
        let t = b.finish();
        let daily = DailyActors::build(&t, ActorKind::User);
        let r = lifecycle(&t, &daily, Period::Day, day(2024, 1, 2), day(2024, 1, 6));
        let counts: Vec<[usize; 4]> =
            r.iter().map(|i| [i.new.len(), i.returning.len(), i.resurrecting.len(), i.dormant.len()]).collect();
        assert_eq!(
            counts,
            vec![
                [1, 1, 0, 0], // 2 Jan: a new; b returning
                [0, 1, 2, 1], // 3 Jan: a returning; c, d resurrecting; b dormant
                [1, 0, 1, 2], // 4 Jan: d new; b resurrecting; a, c dormant
                [0, 0, 1, 2], // 5 Jan: a resurrecting; b, d dormant
            ]
        );
        let j = r[1].to_json(&t, ActorKind::User, true);
        assert_eq!(j["users"]["resurrecting"], json!(["c", "d"]));
        assert_eq!(j["date"], "2024-01-03");
    }
}
