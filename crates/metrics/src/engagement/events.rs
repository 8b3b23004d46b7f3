//! The compact in-memory form of the `events` table that every engagement
//! metric runs on: actors interned to `u32`, local days as `i32`, instants as
//! microseconds, and whether each event is "active" (qualifying). Built once
//! from Arrow batches; the metrics then never touch strings again.

use std::collections::HashMap;
use std::fmt;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

/// The columns [`EventTable::from_batches`] reads; project the Parquet read to these.
pub const EVENT_COLUMNS: &[&str] = &["type", "user_id", "anonymous_id", "event", "timestamp", "group_id"];

/// Marks "no account" in [`EventTable::account`].
pub const NO_ACCOUNT: u32 = u32::MAX;

/// Which events make an actor active (SPEC 2.2: configurable; default any `track`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ActiveEvent {
    /// Any `track` call (the default).
    #[default]
    AnyTrack,
    /// Any event of any type (track, page, identify, group).
    AnyEvent,
    /// `track` calls with this event name.
    Named(String),
}

impl ActiveEvent {
    pub fn matches(&self, kind: &str, event: Option<&str>) -> bool {
        match self {
            ActiveEvent::AnyTrack => kind == "track",
            ActiveEvent::AnyEvent => true,
            ActiveEvent::Named(name) => kind == "track" && event == Some(name.as_str()),
        }
    }

    /// From a CLI value: `None` -> any track, `*` -> any event, else an event name.
    pub fn from_option(name: Option<&str>) -> ActiveEvent {
        match name {
            None => ActiveEvent::AnyTrack,
            Some("*") => ActiveEvent::AnyEvent,
            Some(n) => ActiveEvent::Named(n.to_string()),
        }
    }
}

impl fmt::Display for ActiveEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActiveEvent::AnyTrack => f.write_str("any track"),
            ActiveEvent::AnyEvent => f.write_str("any event"),
            ActiveEvent::Named(n) => write!(f, "track {n:?}"),
        }
    }
}

/// Who is counted: a person (`userId`, else `anonymousId`) or an account (`groupId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ActorKind {
    #[default]
    User,
    Account,
}

#[derive(Debug)]
pub struct EventsError(pub String);

impl fmt::Display for EventsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for EventsError {}

/// Strings to dense `u32` ids, in order of first appearance.
#[derive(Default, Debug, Clone)]
pub struct Interner {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Local calendar day numbers (days since 1970-01-01 of the *local* date).
const EPOCH: Date = Date::constant(1970, 1, 1);

pub fn date_to_day(d: Date) -> i32 {
    (d - EPOCH).get_days()
}

pub fn day_to_date(day: i32) -> Date {
    EPOCH.checked_add(Span::new().days(day as i64)).expect("date in range")
}

/// Maps instants to local days in a zone. A local day runs from the start of
/// its date in the zone to the start of the next date, so a DST day is 23 or
/// 25 hours long. Events arrive mostly in time order (files are sorted), so
/// the last day's bounds are cached and most lookups are two comparisons.
pub struct LocalDays {
    tz: TimeZone,
    start_us: i64,
    end_us: i64,
    day: i32,
}

impl LocalDays {
    pub fn new(tz: TimeZone) -> LocalDays {
        LocalDays { tz, start_us: 0, end_us: 0, day: 0 }
    }

    pub fn day_of(&mut self, us: i64) -> i32 {
        if us >= self.start_us && us < self.end_us {
            return self.day;
        }
        let ts = Timestamp::from_microsecond(us).expect("timestamp in range");
        let date = ts.to_zoned(self.tz.clone()).date();
        self.start_us = day_start_us(&self.tz, date);
        self.end_us = day_start_us(&self.tz, date.tomorrow().expect("date in range"));
        self.day = date_to_day(date);
        self.day
    }
}

/// The instant (µs) at which `date` starts in `tz`.
pub fn day_start_us(tz: &TimeZone, date: Date) -> i64 {
    date.to_zoned(tz.clone()).and_then(|z| z.start_of_day()).expect("date in range").timestamp().as_microsecond()
}

/// One row per event, sorted by (user actor, timestamp). Events with neither
/// `userId` nor `anonymousId` are dropped (the data contract requires one).
#[derive(Debug, Clone)]
pub struct EventTable {
    pub users: Interner,
    pub accounts: Interner,
    pub user: Vec<u32>,
    /// [`NO_ACCOUNT`] when the event has no `groupId`.
    pub account: Vec<u32>,
    /// Local day number ([`day_to_date`]).
    pub day: Vec<i32>,
    /// Microseconds since the epoch, UTC.
    pub ts_us: Vec<i64>,
    /// Matches the active-event predicate.
    pub active: Vec<bool>,
}

/// Accumulates events, then sorts them by (user, time).
pub struct EventTableBuilder {
    days: LocalDays,
    active_event: ActiveEvent,
    t: EventTable,
}

impl EventTableBuilder {
    pub fn new(tz: TimeZone, active_event: ActiveEvent) -> EventTableBuilder {
        EventTableBuilder {
            days: LocalDays::new(tz),
            active_event,
            t: EventTable {
                users: Interner::default(),
                accounts: Interner::default(),
                user: Vec::new(),
                account: Vec::new(),
                day: Vec::new(),
                ts_us: Vec::new(),
                active: Vec::new(),
            },
        }
    }

    /// Add one event (tests and small inputs; [`EventTable::from_batches`] is the bulk path).
    pub fn push(&mut self, kind: &str, event: Option<&str>, user: &str, account: Option<&str>, ts: Timestamp) {
        let active = self.active_event.matches(kind, event);
        let u = self.t.users.intern(user);
        let a = account.map_or(NO_ACCOUNT, |a| self.t.accounts.intern(a));
        self.push_ids(u, a, ts.as_microsecond(), active);
    }

    fn push_ids(&mut self, user: u32, account: u32, us: i64, active: bool) {
        self.t.user.push(user);
        self.t.account.push(account);
        self.t.day.push(self.days.day_of(us));
        self.t.ts_us.push(us);
        self.t.active.push(active);
    }

    /// Add the rows of one batch of the `events` table (at least [`EVENT_COLUMNS`]).
    pub fn push_batch(&mut self, batch: &RecordBatch) -> Result<(), EventsError> {
        let col = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| EventsError(format!("the events data has no `{name}` column")))
        };
        let string = |name: &str| -> Result<StringArray, EventsError> {
            let c = col(name)?;
            match c.data_type() {
                DataType::Utf8 => Ok(c.as_string::<i32>().clone()),
                other => Err(EventsError(format!("events column `{name}` is {other}, expected Utf8"))),
            }
        };
        let kind = string("type")?;
        let user_id = string("user_id")?;
        let anonymous_id = string("anonymous_id")?;
        let event = string("event")?;
        let group_id = string("group_id")?;
        let ts = col("timestamp")?;
        let ts: &TimestampMicrosecondArray = match ts.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) => ts.as_primitive(),
            other => return Err(EventsError(format!("events column `timestamp` is {other}, expected µs timestamps"))),
        };
        for i in 0..batch.num_rows() {
            let user = if user_id.is_valid(i) {
                user_id.value(i)
            } else if anonymous_id.is_valid(i) {
                anonymous_id.value(i)
            } else {
                continue;
            };
            if ts.is_null(i) {
                continue;
            }
            let ev = event.is_valid(i).then(|| event.value(i));
            let active = self.active_event.matches(kind.value(i), ev);
            let u = self.t.users.intern(user);
            let a = if group_id.is_valid(i) { self.t.accounts.intern(group_id.value(i)) } else { NO_ACCOUNT };
            self.push_ids(u, a, ts.value(i), active);
        }
        Ok(())
    }

    pub fn finish(self) -> EventTable {
        let mut t = self.t;
        let mut order: Vec<u32> = (0..t.user.len() as u32).collect();
        order.sort_unstable_by_key(|&i| (t.user[i as usize], t.ts_us[i as usize]));
        let perm = |v: &[u32]| order.iter().map(|&i| v[i as usize]).collect::<Vec<_>>();
        t.user = perm(&t.user);
        t.account = perm(&t.account);
        t.day = order.iter().map(|&i| t.day[i as usize]).collect();
        t.ts_us = order.iter().map(|&i| t.ts_us[i as usize]).collect();
        t.active = order.iter().map(|&i| t.active[i as usize]).collect();
        t
    }
}

impl EventTable {
    pub fn from_batches(
        batches: &[RecordBatch],
        tz: TimeZone,
        active_event: ActiveEvent,
    ) -> Result<EventTable, EventsError> {
        let mut b = EventTableBuilder::new(tz, active_event);
        for batch in batches {
            b.push_batch(batch)?;
        }
        Ok(b.finish())
    }

    pub fn len(&self) -> usize {
        self.user.len()
    }
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }

    /// The actor of event `i`, if it has one of that kind.
    #[inline]
    pub fn actor(&self, kind: ActorKind, i: usize) -> Option<u32> {
        match kind {
            ActorKind::User => Some(self.user[i]),
            ActorKind::Account => (self.account[i] != NO_ACCOUNT).then_some(self.account[i]),
        }
    }

    pub fn actor_name(&self, kind: ActorKind, id: u32) -> &str {
        match kind {
            ActorKind::User => self.users.name(id),
            ActorKind::Account => self.accounts.name(id),
        }
    }

    pub fn actor_count(&self, kind: ActorKind) -> usize {
        match kind {
            ActorKind::User => self.users.len(),
            ActorKind::Account => self.accounts.len(),
        }
    }

    /// First and last local day with any event.
    pub fn day_span(&self) -> Option<(i32, i32)> {
        let min = self.day.iter().min()?;
        let max = self.day.iter().max()?;
        Some((*min, *max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn local_days_follow_the_zone_across_dst() {
        // Paris springs forward on 2024-03-31 at 02:00 local (01:00 UTC): that
        // local day runs 2024-03-30T23:00Z .. 2024-03-31T22:00Z, 23 hours.
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let mut days = LocalDays::new(tz.clone());
        let d31 = date_to_day(Date::constant(2024, 3, 31));
        assert_eq!(days.day_of(ts("2024-03-30T22:59:59Z").as_microsecond()), d31 - 1); // 23:59:59 CET on the 30th
        assert_eq!(days.day_of(ts("2024-03-30T23:00:00Z").as_microsecond()), d31); // 00:00 CET on the 31st
        assert_eq!(days.day_of(ts("2024-03-31T21:59:59Z").as_microsecond()), d31); // 23:59:59 CEST
        assert_eq!(days.day_of(ts("2024-03-31T22:00:00Z").as_microsecond()), d31 + 1); // 00:00 CEST on 1 April
        // Going back in time after the cache moved forward still works.
        assert_eq!(days.day_of(ts("2024-03-30T12:00:00Z").as_microsecond()), d31 - 1);
        assert_eq!(
            day_start_us(&tz, Date::constant(2024, 4, 1)) - day_start_us(&tz, Date::constant(2024, 3, 31)),
            23 * 3600 * 1_000_000
        );
        assert_eq!(day_to_date(d31), Date::constant(2024, 3, 31));
    }

    #[test]
    fn actors_fall_back_to_anonymous_id_and_rows_sort_by_user_then_time() {
        let mut b = EventTableBuilder::new(TimeZone::UTC, ActiveEvent::Named("login".into()));
        b.push("track", Some("login"), "u2", Some("acme"), ts("2024-01-02T00:00:00Z"));
        b.push("page", None, "u1", None, ts("2024-01-01T10:00:00Z"));
        b.push("track", Some("other"), "u2", Some("acme"), ts("2024-01-01T00:00:00Z"));
        let t = b.finish();
        assert_eq!(t.len(), 3);
        // u2 was interned first (id 0), so its two events come first, in time order.
        assert_eq!(t.user, vec![0, 0, 1]);
        assert_eq!(t.active, vec![false, true, false]);
        assert_eq!(t.account, vec![0, 0, NO_ACCOUNT]);
        assert_eq!(t.actor(ActorKind::Account, 2), None);
        assert_eq!(t.actor_name(ActorKind::User, 1), "u1");
    }
}
