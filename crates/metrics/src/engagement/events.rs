//! The compact in-memory form of the `events` table that every engagement
//! metric runs on: actors interned to `u32`, local days as `i32`, instants as
//! microseconds, and whether each event is "active" (qualifying). Built once
//! from Arrow batches; the metrics then never touch strings again.

use std::fmt;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

use super::daily::{Ids, map_strings, timestamps};

/// The columns [`EventTable::from_batches`] reads; project the Parquet read to these.
pub const EVENT_COLUMNS: &[&str] = &["type", "user_id", "anonymous_id", "event", "timestamp", "group_id"];

/// [`EVENT_COLUMNS`] and `traits`, for creation times (lifecycle).
pub const EVENT_COLUMNS_WITH_TRAITS: &[&str] =
    &["type", "user_id", "anonymous_id", "event", "timestamp", "group_id", "traits"];

/// [`EVENT_COLUMNS`] and `name`: page calls then carry their page name in
/// [`EventTable::event`] (funnel steps `page:NAME`).
pub const EVENT_COLUMNS_WITH_NAME: &[&str] =
    &["type", "user_id", "anonymous_id", "event", "timestamp", "group_id", "name"];

/// Marks "no account" in [`EventTable::account`] and "no event name" in [`EventTable::event`].
pub const NO_ACCOUNT: u32 = u32::MAX;
pub const NO_EVENT: u32 = u32::MAX;

/// Segment call types as stored in [`EventTable::kind`].
pub const TRACK: u8 = 0;
pub const PAGE: u8 = 1;
pub const IDENTIFY: u8 = 2;
pub const GROUP: u8 = 3;
pub const OTHER: u8 = 4;

pub(crate) fn kind_code(kind: &str) -> u8 {
    match kind {
        "track" => TRACK,
        "page" => PAGE,
        "identify" => IDENTIFY,
        "group" => GROUP,
        _ => OTHER,
    }
}

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
        self.matches_kind(kind_code(kind), event)
    }

    fn matches_kind(&self, kind: u8, event: Option<&str>) -> bool {
        match self {
            ActiveEvent::AnyTrack => kind == TRACK,
            ActiveEvent::AnyEvent => true,
            ActiveEvent::Named(name) => kind == TRACK && event == Some(name.as_str()),
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

/// FxHash (rustc's hasher): ids are short strings from our own files, so a
/// fast non-keyed hash is enough and SipHash would dominate interning.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

const FX: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(FX);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(FX);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(FX);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Bytes of a name stored in its table slot: ids, customer keys and most
/// e-mail addresses fit, so a lookup touches one slot and no heap string.
const INLINE: usize = 24;
/// An empty slot's id.
const VACANT: u32 = u32::MAX;

/// One entry of [`Interner`]'s open-addressing table: half a cache line, so
/// that a lookup of a short name is one memory access (the scan's lookups
/// are cache misses: ~100,000 names looked up again in every file).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
struct Slot {
    /// Hash bits other than the index's, with the name's length in the low byte.
    tag: u32,
    id: u32,
    /// The name zero-padded when it is at most [`INLINE`] bytes (else unused).
    key: [u8; INLINE],
}

const EMPTY_SLOT: Slot = Slot { tag: 0, id: VACANT, key: [0; INLINE] };

/// A name's hash and padded inline key (all zeros for a long name).
#[inline]
fn name_key(s: &[u8]) -> (u64, [u8; INLINE]) {
    let mut key = [0u8; INLINE];
    let mut h = s.len() as u64;
    if s.len() <= INLINE {
        key[..s.len()].copy_from_slice(s);
        for w in key.chunks_exact(8) {
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w.try_into().expect("8 bytes"))).wrapping_mul(FX);
        }
    } else {
        let mut f = FxHasher(h);
        std::hash::Hasher::write(&mut f, s);
        h = f.0;
    }
    // Fold the 128-bit product: FxHash alone leaves the low bits weak, and
    // both ends are used (top bits index the table, low bits make the tag).
    let m = (h as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (m as u64 ^ (m >> 64) as u64, key)
}

#[inline]
fn tag_of(hash: u64, len: usize) -> u32 {
    (hash as u32) << 8 | len.min(255) as u32
}

/// Strings to dense `u32` ids, in order of first appearance.
///
/// Linear probing over [`Slot`]s that hold short names inline: the scan of
/// the events files looks each file's ids up again (1,441 files at 10 M
/// events), and a `HashMap<String, u32>` costs a miss on its table, another
/// on the heap string and a `memcmp` call per lookup.
#[derive(Default, Debug, Clone)]
pub struct Interner {
    names: Vec<String>,
    slots: Vec<Slot>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        let (hash, key) = name_key(s.as_bytes());
        self.intern_keyed(s, hash, key)
    }

    /// [`Interner::intern`] of many names at once, ids appended to `out` in
    /// order. The table slots of all names are loaded first, independently of
    /// each other, so that their cache misses overlap instead of queueing up
    /// one per lookup (the scan looks up a file's ~1,300 ids in a table of
    /// 100,000 that is not in cache).
    pub fn intern_all<'a>(&mut self, names: impl IntoIterator<Item = &'a str>, out: &mut Vec<u32>) {
        let keyed: Vec<(&str, u64, [u8; INLINE])> = names
            .into_iter()
            .map(|s| {
                let (hash, key) = name_key(s.as_bytes());
                (s, hash, key)
            })
            .collect();
        if !self.slots.is_empty() {
            let touched = keyed.iter().fold(0u32, |acc, &(_, hash, _)| acc ^ self.slots[self.home(hash)].tag);
            std::hint::black_box(touched);
        }
        out.extend(keyed.into_iter().map(|(s, hash, key)| self.intern_keyed(s, hash, key)));
    }

    #[inline]
    fn intern_keyed(&mut self, s: &str, hash: u64, key: [u8; INLINE]) -> u32 {
        if let Some(id) = self.find(s, hash, &key) {
            return id;
        }
        // Grow at 3/4 full: linear probing stays short below that.
        if (self.names.len() + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let id = self.names.len() as u32;
        self.names.push(s.to_string());
        self.place(Slot { tag: tag_of(hash, s.len()), id, key }, hash);
        id
    }

    /// The id of `s`, if interned: `hash` and `key` from [`name_key`].
    #[inline]
    fn find(&self, s: &str, hash: u64, key: &[u8; INLINE]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let tag = tag_of(hash, s.len());
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        loop {
            let slot = &self.slots[i];
            if slot.id == VACANT {
                return None;
            }
            if slot.tag == tag && if s.len() <= INLINE { slot.key == *key } else { self.names[slot.id as usize] == s } {
                return Some(slot.id);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        (hash >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    fn place(&mut self, slot: Slot, hash: u64) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        while self.slots[i].id != VACANT {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn grow(&mut self) {
        self.rebuild((self.slots.len() * 2).max(64));
    }

    /// Place every name again in a table of `cap` slots. A short name's hash
    /// comes from its slot's inline key and length (the tag's low byte), read
    /// in slot order, not from its heap string (a cache miss per name: at
    /// 750,000 names the growths were a twentieth of a scan).
    fn rebuild(&mut self, cap: usize) {
        let old = std::mem::replace(&mut self.slots, vec![EMPTY_SLOT; cap]);
        // A new table (no old slots) places every name from its string.
        let from_slots = !old.is_empty();
        for slot in old {
            let len = (slot.tag & 0xff) as usize;
            if slot.id != VACANT && len <= INLINE {
                let (hash, _) = name_key(&slot.key[..len]);
                self.place(slot, hash);
            }
        }
        for id in 0..self.names.len() {
            let n = self.names[id].len();
            if !from_slots || n > INLINE {
                let (hash, key) = name_key(self.names[id].as_bytes());
                self.place(Slot { tag: tag_of(hash, n), id: id as u32, key }, hash);
            }
        }
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
    /// Every name, by id.
    pub fn names(&self) -> &[String] {
        &self.names
    }
    /// Every name, by id, without copying them.
    pub fn into_names(self) -> Vec<String> {
        self.names
    }
    /// An interner holding `names` with ids in their order (names are distinct).
    pub fn from_names(names: Vec<String>) -> Interner {
        let mut t = Interner { names, slots: Vec::new() };
        let mut cap = 64;
        while t.names.len() * 4 > cap * 3 {
            cap *= 2;
        }
        t.rebuild(cap);
        t
    }
    pub fn get(&self, s: &str) -> Option<u32> {
        let (hash, key) = name_key(s.as_bytes());
        self.find(s, hash, &key)
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
    /// Segment call type ([`TRACK`], [`PAGE`], ...).
    pub kind: Vec<u8>,
    /// Interned `event` name ([`NO_EVENT`] when absent); for a `page` call
    /// its page `name` when the `name` column was read ([`EVENT_COLUMNS_WITH_NAME`]).
    pub event: Vec<u32>,
    pub event_names: Interner,
    /// Creation instant (µs) of each user from identify traits' `created_at`
    /// (the earliest given), of each account from group traits' `created_at`;
    /// `i64::MAX` when not given (read only when the `traits` column is loaded).
    pub user_created_us: Vec<i64>,
    pub account_created_us: Vec<i64>,
    /// The zone the local days are in.
    pub tz: TimeZone,
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
            days: LocalDays::new(tz.clone()),
            active_event,
            t: EventTable {
                users: Interner::default(),
                accounts: Interner::default(),
                user: Vec::new(),
                account: Vec::new(),
                day: Vec::new(),
                ts_us: Vec::new(),
                active: Vec::new(),
                kind: Vec::new(),
                event: Vec::new(),
                event_names: Interner::default(),
                user_created_us: Vec::new(),
                account_created_us: Vec::new(),
                tz: tz.clone(),
            },
        }
    }

    /// Add one event (tests and small inputs; [`EventTable::from_batches`] is the bulk path).
    pub fn push(&mut self, kind: &str, event: Option<&str>, user: &str, account: Option<&str>, ts: Timestamp) {
        let u = self.t.users.intern(user);
        let a = account.map_or(NO_ACCOUNT, |a| self.t.accounts.intern(a));
        self.push_ids(u, a, ts.as_microsecond(), kind_code(kind), event);
    }

    /// Record an actor's `created_at` from traits (tests; the bulk path reads `traits`).
    pub fn set_created(&mut self, kind: ActorKind, name: &str, ts: Timestamp) {
        let (id, v) = match kind {
            ActorKind::User => (self.t.users.intern(name), &mut self.t.user_created_us),
            ActorKind::Account => (self.t.accounts.intern(name), &mut self.t.account_created_us),
        };
        if v.len() <= id as usize {
            v.resize(id as usize + 1, i64::MAX);
        }
        v[id as usize] = v[id as usize].min(ts.as_microsecond());
    }

    fn push_ids(&mut self, user: u32, account: u32, us: i64, kind: u8, event: Option<&str>) {
        let active = self.active_event.matches_kind(kind, event);
        let event = event.map_or(NO_EVENT, |e| self.t.event_names.intern(e));
        self.push_row(user, account, us, kind, event, active);
    }

    fn push_row(&mut self, user: u32, account: u32, us: i64, kind: u8, event: u32, active: bool) {
        self.t.kind.push(kind);
        self.t.event.push(event);
        self.t.user.push(user);
        self.t.account.push(account);
        self.t.day.push(self.days.day_of(us));
        self.t.ts_us.push(us);
        self.t.active.push(active);
    }

    /// Add the rows of one batch of the `events` table (at least [`EVENT_COLUMNS`]);
    /// string columns may be dictionary-encoded (interned once per value).
    pub fn push_batch(&mut self, batch: &RecordBatch) -> Result<(), EventsError> {
        let mut kind = Vec::new();
        map_strings(batch, "type", |s| kind_code(s) as u32, &mut kind)?;
        let mut users = Ids::of(batch, "user_id")?;
        let mut anonymous = Ids::of(batch, "anonymous_id")?;
        let mut events = Ids::of(batch, "event")?;
        let mut groups = Ids::of(batch, "group_id")?;
        let mut pages = batch.column_by_name("name").map(|_| Ids::of(batch, "name")).transpose()?;
        let traits = match batch.column_by_name("traits") {
            Some(c) if c.data_type() == &DataType::Utf8 => Some(c.as_string::<i32>().clone()),
            Some(c) => return Err(EventsError(format!("events column `traits` is {}, expected Utf8", c.data_type()))),
            None => None,
        };
        let ts = timestamps(batch)?;
        for (i, &k) in kind.iter().enumerate() {
            let has_user = !users.is_null(i);
            if (!has_user && anonymous.is_null(i)) || ts.is_null(i) {
                continue;
            }
            let u = if has_user { users.get(i, &mut self.t.users) } else { anonymous.get(i, &mut self.t.users) };
            let k = k as u8;
            let e = match &mut pages {
                Some(p) if k == PAGE && !p.is_null(i) => p.get(i, &mut self.t.event_names),
                _ => events.get(i, &mut self.t.event_names),
            };
            let a = groups.get(i, &mut self.t.accounts);
            let active = self.active_event.matches_kind(k, (e != NO_EVENT).then(|| self.t.event_names.name(e)));
            self.push_row(u, a, ts.value(i), k, e, active);
            if let Some(traits) = &traits
                && (k == IDENTIFY || (k == GROUP && a != NO_ACCOUNT))
                && traits.is_valid(i)
                && let Some(created) = created_at(traits.value(i))
            {
                let v = if k == IDENTIFY { &mut self.t.user_created_us } else { &mut self.t.account_created_us };
                let id = if k == IDENTIFY { u } else { a } as usize;
                if v.len() <= id {
                    v.resize(id + 1, i64::MAX);
                }
                v[id] = v[id].min(created);
            }
        }
        Ok(())
    }

    pub fn finish(self) -> EventTable {
        let mut t = self.t;
        t.user_created_us.resize(t.users.len(), i64::MAX);
        t.account_created_us.resize(t.accounts.len(), i64::MAX);
        // A stable counting sort by user (O(events)), then each user's events by
        // time: files are sorted by time and read in day order, so most users'
        // runs are already sorted and the check is all it costs.
        let mut start = vec![0u32; t.users.len() + 1];
        for &u in &t.user {
            start[u as usize + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut order: Vec<u32> = vec![0; t.user.len()];
        let mut next = start.clone();
        for (i, &u) in t.user.iter().enumerate() {
            order[next[u as usize] as usize] = i as u32;
            next[u as usize] += 1;
        }
        for w in start.windows(2) {
            let run = &mut order[w[0] as usize..w[1] as usize];
            if !run.is_sorted_by_key(|&i| t.ts_us[i as usize]) {
                run.sort_by_key(|&i| t.ts_us[i as usize]);
            }
        }
        let perm = |v: &[u32]| order.iter().map(|&i| v[i as usize]).collect::<Vec<_>>();
        t.user = perm(&t.user);
        t.account = perm(&t.account);
        t.day = order.iter().map(|&i| t.day[i as usize]).collect();
        t.ts_us = order.iter().map(|&i| t.ts_us[i as usize]).collect();
        t.active = order.iter().map(|&i| t.active[i as usize]).collect();
        t.kind = order.iter().map(|&i| t.kind[i as usize]).collect();
        t.event = perm(&t.event);
        t
    }
}

/// `created_at` of a traits JSON object, as µs.
fn created_at(traits: &str) -> Option<i64> {
    if !traits.contains("created_at") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(traits).ok()?;
    let s = v.get("created_at")?.as_str()?;
    tenure_model::time::parse_timestamp(s).ok().map(|t| t.as_microsecond())
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

    /// The names of all actors of a kind, by id.
    pub fn names(&self, kind: ActorKind) -> &[String] {
        match kind {
            ActorKind::User => self.users.names(),
            ActorKind::Account => self.accounts.names(),
        }
    }

    pub fn actor_count(&self, kind: ActorKind) -> usize {
        match kind {
            ActorKind::User => self.users.len(),
            ActorKind::Account => self.accounts.len(),
        }
    }

    /// The creation instant (µs) of an actor: its traits' `created_at`, else
    /// its first event (SPEC 1: "a person's creation time is its identify
    /// traits' created_at, else its first event"; the same for accounts with
    /// group traits).
    pub fn created_us(&self, kind: ActorKind) -> Vec<i64> {
        let mut first = vec![i64::MAX; self.actor_count(kind)];
        for i in 0..self.len() {
            if let Some(a) = self.actor(kind, i) {
                first[a as usize] = first[a as usize].min(self.ts_us[i]);
            }
        }
        let given = match kind {
            ActorKind::User => &self.user_created_us,
            ActorKind::Account => &self.account_created_us,
        };
        for (f, &g) in first.iter_mut().zip(given) {
            if g != i64::MAX {
                *f = g;
            }
        }
        first
    }

    /// Which events match `pred` (for start and return events other than the active one).
    pub fn mask(&self, pred: &ActiveEvent) -> Vec<bool> {
        // Decide once per distinct event name, then per event by table lookup.
        let by_name: Vec<bool> = (0..self.event_names.len() as u32)
            .map(|e| pred.matches_kind(TRACK, Some(self.event_names.name(e))))
            .collect();
        (0..self.len())
            .map(|i| match pred {
                ActiveEvent::AnyEvent => true,
                ActiveEvent::AnyTrack => self.kind[i] == TRACK,
                ActiveEvent::Named(_) => {
                    self.kind[i] == TRACK && self.event[i] != NO_EVENT && by_name[self.event[i] as usize]
                }
            })
            .collect()
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
    use arrow::array::{StringArray, TimestampMicrosecondArray};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn interner_ids_are_dense_in_order_and_tell_apart_names_that_pad_alike() {
        // Short names are compared padded with zeros, long ones on the heap:
        // "a" and "a\0", names of 24 and 25 bytes, the empty name and names
        // that differ only past byte 24 must all get their own ids.
        let long = "x".repeat(INLINE + 1);
        let longer = format!("{long}y");
        let names: Vec<String> = ["a", "a\0", "", "b", &"z".repeat(INLINE), &long, &longer, "ü"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..5000).map(|i| format!("u_{i:06}_01")))
            .collect();
        let mut t = Interner::default();
        assert_eq!(t.get("a"), None);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(t.intern(n), i as u32, "{n:?}");
        }
        for (i, n) in names.iter().enumerate().rev() {
            assert_eq!((t.intern(n), t.get(n), t.name(i as u32)), (i as u32, Some(i as u32), n.as_str()));
        }
        assert_eq!((t.len(), t.get("a\0\0"), t.get(&format!("{long}z"))), (names.len(), None, None));
        let f = Interner::from_names(names.clone());
        assert!(names.iter().enumerate().all(|(i, n)| f.get(n) == Some(i as u32)));
        assert_eq!(f.names(), t.names());
    }

    #[test]
    fn arrow_batches_fall_back_to_anonymous_id_and_read_created_at() {
        use arrow::array::ArrayRef;
        use std::sync::Arc;
        let s = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as ArrayRef;
        let us = |t: &str| ts(t).as_microsecond();
        let batch = RecordBatch::try_from_iter(vec![
            ("type", s(vec![Some("identify"), Some("track"), Some("track"), Some("group")])),
            ("user_id", s(vec![Some("u1"), None, None, Some("u1")])),
            ("anonymous_id", s(vec![None, Some("anon-9"), None, None])),
            ("event", s(vec![None, Some("login"), Some("login"), None])),
            (
                "timestamp",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![
                        us("2024-01-02T00:00:00Z"),
                        us("2024-01-02T01:00:00Z"),
                        us("2024-01-02T02:00:00Z"),
                        us("2024-01-02T03:00:00Z"),
                    ])
                    .with_timezone("UTC"),
                ) as ArrayRef,
            ),
            ("group_id", s(vec![None, Some("acme"), None, Some("acme")])),
            (
                "traits",
                s(vec![
                    Some(r#"{"created_at":"2023-05-01T00:00:00Z"}"#),
                    None,
                    None,
                    Some(r#"{"created_at":"2022-01-01"}"#),
                ]),
            ),
        ])
        .unwrap();
        let t = EventTable::from_batches(&[batch], TimeZone::UTC, ActiveEvent::AnyTrack).unwrap();
        // The third row has neither id: dropped. anon-9 is an actor of its own.
        assert_eq!(t.len(), 3);
        assert_eq!(t.users.get("anon-9"), Some(1));
        assert_eq!(t.active.iter().filter(|&&a| a).count(), 1);
        // u1: created by its identify traits; anon-9: its first event. acme: group traits (a bare date).
        assert_eq!(t.created_us(ActorKind::User), vec![us("2023-05-01T00:00:00Z"), us("2024-01-02T01:00:00Z")]);
        assert_eq!(t.created_us(ActorKind::Account), vec![us("2022-01-01T00:00:00Z")]);
    }

    #[test]
    fn the_name_column_gives_page_calls_their_page_name() {
        use arrow::array::ArrayRef;
        use std::sync::Arc;
        let s = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as ArrayRef;
        let t0 = ts("2024-01-02T00:00:00Z").as_microsecond();
        let batch = RecordBatch::try_from_iter(vec![
            ("type", s(vec![Some("page"), Some("track")])),
            ("user_id", s(vec![Some("u1"), Some("u1")])),
            ("anonymous_id", s(vec![None, None])),
            ("event", s(vec![None, Some("login")])),
            ("timestamp", Arc::new(TimestampMicrosecondArray::from(vec![t0, t0 + 1]).with_timezone("UTC")) as ArrayRef),
            ("group_id", s(vec![None, None])),
            // A track call's `name` is ignored: only page calls take it.
            ("name", s(vec![Some("Home"), Some("ignored")])),
        ])
        .unwrap();
        let t = EventTable::from_batches(std::slice::from_ref(&batch), TimeZone::UTC, ActiveEvent::AnyTrack).unwrap();
        assert_eq!(t.event_names.name(t.event[0]), "Home");
        assert_eq!(t.event_names.name(t.event[1]), "login");
        assert_eq!(t.active, vec![false, true]);
        // Without the column (the usual projection) a page call has no name.
        let t = EventTable::from_batches(
            &[batch.project(&[0, 1, 2, 3, 4, 5]).unwrap()],
            TimeZone::UTC,
            ActiveEvent::AnyTrack,
        )
        .unwrap();
        assert_eq!(t.event[0], NO_EVENT);
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
    fn rows_sort_by_user_then_time_and_carry_the_active_flag() {
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
