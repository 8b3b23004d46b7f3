//! Per-day sets of active actors straight from Arrow batches, one data file at
//! a time, without building the per-event [`EventTable`](super::EventTable).
//!
//! DAU/WAU/MAU, stickiness and retention (when the start and return events are
//! the same) only need, for every local day, the set of actors with a
//! qualifying event ([`DailyActors`]). Scanning a file gives its sets with
//! file-local ids ([`FileDays`]): files can be scanned on separate threads and
//! the results merged by remapping ids ([`DailyBuilder`]). The same per-file
//! sets, with workspace-wide ids, are what the persisted rollups store.
//!
//! String columns may be plain `Utf8` or `Dictionary(Int32, Utf8)`: a
//! dictionary column is interned once per distinct value of the batch, not
//! once per row.

use arrow::array::{Array, AsArray, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Int32Type, TimeUnit};

use super::active::DailyActors;
use super::events::{ActiveEvent, ActorKind, EventsError, Interner, LocalDays, TRACK, kind_code};

/// The columns [`FileDays::scan`] reads for an active-event predicate (the
/// event name only when a named event decides).
pub fn daily_columns(active: &ActiveEvent) -> &'static [&'static str] {
    daily_columns_for(active, None)
}

/// The columns [`FileDays::scan_kind`] reads: `group_id` only when accounts
/// are counted (decoding a column nobody reads is a tenth of a scan).
pub fn daily_columns_for(active: &ActiveEvent, only: Option<ActorKind>) -> &'static [&'static str] {
    match (active, only) {
        (ActiveEvent::Named(_), Some(ActorKind::User)) => &["type", "user_id", "anonymous_id", "event", "timestamp"],
        (ActiveEvent::Named(_), _) => &["type", "user_id", "anonymous_id", "event", "timestamp", "group_id"],
        (_, Some(ActorKind::User)) => &["type", "user_id", "anonymous_id", "timestamp"],
        _ => &["type", "user_id", "anonymous_id", "timestamp", "group_id"],
    }
}

/// Marks a null in the id vectors [`map_strings`] and [`Ids`] fill.
const NULL: u32 = u32::MAX;
/// Marks, in a row number, a row whose actor is its `anonymous_id`.
const ANONYMOUS: u32 = 1 << 31;

/// Map a string column (`Utf8` or `Dictionary(Int32, Utf8)`) through `f`,
/// nulls to [`u32::MAX`]. A dictionary calls `f` once per value used.
pub fn map_strings(
    batch: &RecordBatch,
    name: &str,
    mut f: impl FnMut(&str) -> u32,
    out: &mut Vec<u32>,
) -> Result<(), EventsError> {
    let col =
        batch.column_by_name(name).ok_or_else(|| EventsError(format!("the events data has no `{name}` column")))?;
    out.clear();
    match col.data_type() {
        DataType::Utf8 => {
            let s = col.as_string::<i32>();
            out.extend((0..s.len()).map(|i| if s.is_valid(i) { f(s.value(i)) } else { NULL }));
        }
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
            let d = col.as_dictionary::<Int32Type>();
            let values = d.values().as_string::<i32>();
            let mut cache = vec![NULL; values.len()];
            let keys = d.keys();
            out.extend((0..keys.len()).map(|i| {
                if keys.is_null(i) {
                    return NULL;
                }
                let k = keys.value(i) as usize;
                if cache[k] == NULL && values.is_valid(k) {
                    cache[k] = f(values.value(k));
                }
                cache[k]
            }));
        }
        other => return Err(EventsError(format!("events column `{name}` is {other}, expected Utf8"))),
    }
    Ok(())
}

/// One string column of a batch (`Utf8` or `Dictionary(Int32, Utf8)`), turned
/// into ids of an [`Interner`] row by row on demand. A dictionary value is
/// looked up once per batch, and only if a kept row uses it (skipped rows add
/// no actors or names); the lookup of a known name allocates nothing.
pub(crate) enum Ids<'a> {
    /// A column the reader left out because it has no values (its statistics).
    Absent,
    Plain(&'a arrow::array::StringArray),
    Dictionary {
        keys: &'a arrow::array::Int32Array,
        values: &'a arrow::array::StringArray,
        cache: Vec<u32>,
        /// Per value, the last run of [`Ids::first_in_run`] it was seen in.
        last_run: Vec<u32>,
    },
}

impl<'a> Ids<'a> {
    pub fn of(batch: &'a RecordBatch, name: &str) -> Result<Ids<'a>, EventsError> {
        Ids::of_or_absent(batch, name, false)
    }

    /// [`Ids::of`], all nulls when the column is not there and `absent_ok`.
    fn of_or_absent(batch: &'a RecordBatch, name: &str, absent_ok: bool) -> Result<Ids<'a>, EventsError> {
        let Some(col) = batch.column_by_name(name) else {
            return match absent_ok {
                true => Ok(Ids::Absent),
                false => Err(EventsError(format!("the events data has no `{name}` column"))),
            };
        };
        match col.data_type() {
            DataType::Utf8 => Ok(Ids::Plain(col.as_string::<i32>())),
            DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                let d = col.as_dictionary::<Int32Type>();
                let values = d.values().as_string::<i32>();
                let n = values.len();
                Ok(Ids::Dictionary { keys: d.keys(), values, cache: vec![NULL; n], last_run: vec![0; n] })
            }
            other => Err(EventsError(format!("events column `{name}` is {other}, expected Utf8"))),
        }
    }

    /// Intern at once ([`Interner::intern_all`]) the values of `rows` not yet
    /// known, so that [`Ids::get`] on those rows finds them cached. A plain
    /// column has no dictionary to resolve: its rows are looked up one by one.
    pub fn resolve(&mut self, rows: impl Iterator<Item = usize>, into: &mut Interner) {
        let Ids::Dictionary { keys, values, cache, .. } = self else { return };
        /// Marks a value picked for this call, not yet looked up.
        const PICKED: u32 = NULL - 1;
        let mut picked: Vec<usize> = Vec::new();
        for i in rows {
            if keys.is_null(i) {
                continue;
            }
            let k = keys.value(i) as usize;
            if cache[k] == NULL && values.is_valid(k) {
                cache[k] = PICKED;
                picked.push(k);
            }
        }
        let mut got = Vec::with_capacity(picked.len());
        into.intern_all(picked.iter().map(|&k| values.value(k)), &mut got);
        for (k, id) in picked.into_iter().zip(got) {
            cache[k] = id;
        }
    }

    /// Whether row `i` has no value.
    #[inline]
    pub fn is_null(&self, i: usize) -> bool {
        match self {
            Ids::Absent => true,
            Ids::Plain(s) => s.is_null(i),
            Ids::Dictionary { keys, values, .. } => keys.is_null(i) || values.is_null(keys.value(i) as usize),
        }
    }

    /// The id in `into` of row `i`'s value ([`u32::MAX`] for a null).
    #[inline]
    pub fn get(&mut self, i: usize, into: &mut Interner) -> u32 {
        if self.is_null(i) {
            return NULL;
        }
        match self {
            Ids::Absent => NULL,
            Ids::Plain(s) => into.intern(s.value(i)),
            Ids::Dictionary { keys, values, cache, .. } => {
                let k = keys.value(i) as usize;
                if cache[k] == NULL {
                    cache[k] = into.intern(values.value(k));
                }
                cache[k]
            }
        }
    }

    /// False when row `i`'s dictionary value was already seen in this `run`
    /// (one local day of rows): a day's repeats are dropped in a table of the
    /// batch's values that stays in cache. Plain values, and the same name in
    /// two columns, still repeat: the caller keeps the ids distinct.
    #[inline]
    pub fn first_in_run(&mut self, i: usize, run: u32) -> bool {
        if let Ids::Dictionary { keys, last_run, .. } = self
            && !keys.is_null(i)
        {
            let k = keys.value(i) as usize;
            if last_run[k] == run {
                return false;
            }
            last_run[k] = run;
        }
        true
    }

    /// Forget the runs of [`Ids::first_in_run`] (the run numbers start over).
    pub fn forget_runs(&mut self) {
        if let Ids::Dictionary { last_run, .. } = self {
            last_run.fill(0);
        }
    }
}

/// The µs timestamp column of an events batch.
pub fn timestamps(batch: &RecordBatch) -> Result<&TimestampMicrosecondArray, EventsError> {
    let ts = batch
        .column_by_name("timestamp")
        .ok_or_else(|| EventsError("the events data has no `timestamp` column".into()))?;
    match ts.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => Ok(ts.as_primitive()),
        other => Err(EventsError(format!("events column `timestamp` is {other}, expected µs timestamps"))),
    }
}

/// Active actors per local day of one file: `(day, distinct ids)`, days
/// ascending, and the first and last local day of any event (active or
/// not) that has an actor: the default range of the metrics. With
/// workspace-wide ids (rollups, [`DaySets::remap_kind`]) each day's ids are
/// sorted; a scanning thread's ids ([`FileDays`]) are in order of appearance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaySets {
    pub span: Option<(i32, i32)>,
    pub users: Vec<(i32, Vec<u32>)>,
    pub accounts: Vec<(i32, Vec<u32>)>,
}

impl DaySets {
    pub fn of(&self, kind: ActorKind) -> &[(i32, Vec<u32>)] {
        match kind {
            ActorKind::User => &self.users,
            ActorKind::Account => &self.accounts,
        }
    }

    /// The sets of one kind with every id replaced by `map[id]` (sorted).
    pub fn remap_kind(&self, kind: ActorKind, map: &[u32]) -> Vec<(i32, Vec<u32>)> {
        let mut bits = Vec::new();
        self.of(kind)
            .iter()
            .map(|(d, ids)| {
                let v: Vec<u32> = ids.iter().map(|&a| map[a as usize]).collect();
                (*d, sort_distinct(v, &mut bits))
            })
            .collect()
    }
}

/// Sort distinct ids. A set that is dense enough among the ids up to its
/// largest (a day's users of one file, at 100 M events) is sorted through a
/// bitmap, in linear time: the merging thread sorted ~17 M ids otherwise.
/// `bits` is all zeros before and after.
fn sort_distinct(mut v: Vec<u32>, bits: &mut Vec<u64>) -> Vec<u32> {
    let Some(&max) = v.iter().max() else { return v };
    let words = max as usize / 64 + 1;
    if words > v.len() * 8 {
        v.sort_unstable();
        return v;
    }
    if bits.len() < words {
        bits.resize(words, 0);
    }
    for &a in &v {
        bits[a as usize / 64] |= 1 << (a % 64);
    }
    v.clear();
    for (w, word) in bits[..words].iter_mut().enumerate() {
        let mut x = std::mem::take(word);
        while x != 0 {
            v.push((w * 64) as u32 + x.trailing_zeros());
            x &= x - 1;
        }
    }
    v
}

/// The actor dictionaries of one scanning thread. They persist across the
/// files the thread scans, so a name is allocated once per thread, not once
/// per file, and threads share nothing (no lock).
#[derive(Debug, Default)]
pub struct ScanIds {
    pub users: Interner,
    pub accounts: Interner,
    /// Names already handed out with earlier files ([`FileDays::new_users`]).
    sent: (usize, usize),
    /// Per id, the last run of rows (one local day) it was seen in: the
    /// distinct ids of a day without sorting the file's rows.
    seen_users: Vec<u32>,
    seen_accounts: Vec<u32>,
    run: u32,
}

impl ScanIds {
    /// A new run of rows (a local day): every id is unseen again. True when
    /// the run numbers started over (every stamp of an old run is cleared).
    fn next_run(&mut self) -> bool {
        let wrapped = self.run == u32::MAX;
        if wrapped {
            self.seen_users.fill(0);
            self.seen_accounts.fill(0);
            self.run = 0;
        }
        self.run += 1;
        wrapped
    }
}

/// The per-day ids of one kind as a file is scanned: runs of rows of one
/// local day, each id once per run.
#[derive(Default)]
struct Runs(Vec<(i32, Vec<u32>)>);

impl Runs {
    /// Add `id` to the run at index `at` (number `run`) unless already there:
    /// the same name can come from two columns or two batches' dictionaries.
    #[inline]
    fn add(&mut self, at: usize, id: u32, seen: &mut Vec<u32>, run: u32) {
        let i = id as usize;
        if i >= seen.len() {
            seen.resize(i + 1 + i / 2, 0);
        }
        if seen[i] != run {
            seen[i] = run;
            self.0[at].1.push(id);
        }
    }

    /// Per-day distinct ids, days ascending. Files are sorted by time, so a
    /// day is one run; a day split over several runs (unsorted rows, or two
    /// batches) is merged here, so that the answer never depends on order.
    fn finish(mut self) -> Vec<(i32, Vec<u32>)> {
        self.0.retain(|(_, ids)| !ids.is_empty());
        if self.0.windows(2).all(|w| w[0].0 < w[1].0) {
            return self.0;
        }
        self.0.sort_by_key(|(d, _)| *d);
        let mut out: Vec<(i32, Vec<u32>)> = Vec::with_capacity(self.0.len());
        let mut merged = Vec::new();
        for (day, ids) in self.0 {
            match out.last_mut() {
                Some((d, v)) if *d == day => {
                    v.extend(ids);
                    if merged.last() != Some(&(out.len() - 1)) {
                        merged.push(out.len() - 1);
                    }
                }
                _ => out.push((day, ids)),
            }
        }
        for i in merged {
            out[i].1.sort_unstable();
            out[i].1.dedup();
        }
        out
    }
}

/// Columns a reader left out of a file's batches because the file's
/// statistics answer for them ([`FileDays::scan_read`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Skipped {
    /// Every row's timestamp is on this local day (none is null): the
    /// `timestamp` column was not read.
    pub day: Option<i32>,
    /// `anonymous_id` is null in every row: not read.
    pub anonymous_id: bool,
}

/// [`DaySets`] of one file, with the ids of the scanning thread's [`ScanIds`].
#[derive(Debug, Clone, Default)]
pub struct FileDays {
    /// The names the thread's dictionaries gained with this file: with those
    /// of its earlier files, in order, they name every id ([`IdMap`]).
    pub new_users: Vec<String>,
    pub new_accounts: Vec<String>,
    pub sets: DaySets,
}

impl FileDays {
    /// Scan the batches of one file. Actor = `userId`, else `anonymousId`
    /// (events with neither are skipped, as in the event table); account = `groupId`.
    pub fn scan(
        batches: &[RecordBatch],
        days: &mut LocalDays,
        active: &ActiveEvent,
        ids: &mut ScanIds,
    ) -> Result<FileDays, EventsError> {
        FileDays::scan_kind(batches, days, active, ids, None)
    }

    /// [`FileDays::scan`] of users only or accounts only (`None`: both); the
    /// other kind's sets stay empty and its column need not be read
    /// ([`daily_columns_for`]).
    pub fn scan_kind(
        batches: &[RecordBatch],
        days: &mut LocalDays,
        active: &ActiveEvent,
        ids: &mut ScanIds,
        only: Option<ActorKind>,
    ) -> Result<FileDays, EventsError> {
        FileDays::scan_read(batches, days, active, ids, only, &Skipped::default())
    }

    /// [`FileDays::scan_kind`] of batches read without the columns that
    /// `skipped` says the file's statistics made unnecessary.
    pub fn scan_read(
        batches: &[RecordBatch],
        days: &mut LocalDays,
        active: &ActiveEvent,
        ids: &mut ScanIds,
        only: Option<ActorKind>,
        skipped: &Skipped,
    ) -> Result<FileDays, EventsError> {
        let want_users = only != Some(ActorKind::Account);
        let want_accounts = only != Some(ActorKind::User);
        let mut f = FileDays::default();
        let (mut kind, mut ev) = (Vec::new(), Vec::new());
        let (mut users_of_day, mut accounts_of_day) = (Runs::default(), Runs::default());
        let mut run_day: Option<i32> = None;
        // Per batch, the active rows that are the first of their value in
        // their run (local day), in run order: (row, run, index of the run).
        // Only those are looked up: a day's repeats of an id cost one stamp.
        let (mut first_users, mut first_accounts): (Vec<[u32; 3]>, Vec<[u32; 3]>) = (Vec::new(), Vec::new());
        let (mut lo, mut hi) = (i32::MAX, i32::MIN);
        for batch in batches {
            map_strings(batch, "type", |s| kind_code(s) as u32, &mut kind)?;
            let mut users = Ids::of(batch, "user_id")?;
            let mut anonymous = Ids::of_or_absent(batch, "anonymous_id", skipped.anonymous_id)?;
            let mut groups = if want_accounts { Some(Ids::of(batch, "group_id")?) } else { None };
            if let ActiveEvent::Named(name) = active {
                map_strings(batch, "event", |s| (s == name) as u32, &mut ev)?;
            }
            let ts = match skipped.day {
                Some(_) => None,
                None => Some(timestamps(batch)?),
            };
            first_users.clear();
            first_accounts.clear();
            assert!(batch.num_rows() < ANONYMOUS as usize, "a batch of fewer than 2^31 rows");
            for i in 0..batch.num_rows() {
                let has_user = !users.is_null(i);
                if !has_user && anonymous.is_null(i) {
                    continue;
                }
                let day = match (ts, skipped.day) {
                    (Some(ts), _) if ts.is_null(i) => continue,
                    (Some(ts), _) => days.day_of(ts.value(i)),
                    (None, day) => day.expect("a day when the timestamps are skipped"),
                };
                lo = lo.min(day);
                hi = hi.max(day);
                let on = match active {
                    ActiveEvent::AnyTrack => kind[i] == TRACK as u32,
                    ActiveEvent::AnyEvent => true,
                    ActiveEvent::Named(_) => kind[i] == TRACK as u32 && ev[i] == 1,
                };
                if !on {
                    continue;
                }
                if run_day != Some(day) {
                    run_day = Some(day);
                    if ids.next_run() {
                        users.forget_runs();
                        anonymous.forget_runs();
                        groups.iter_mut().for_each(Ids::forget_runs);
                    }
                    users_of_day.0.push((day, Vec::new()));
                    accounts_of_day.0.push((day, Vec::new()));
                }
                let (run, at) = (ids.run, users_of_day.0.len() as u32 - 1);
                if want_users {
                    // The high bit marks a row whose actor is its anonymous id.
                    let (column, tag) = if has_user { (&mut users, 0) } else { (&mut anonymous, ANONYMOUS) };
                    if column.first_in_run(i, run) {
                        first_users.push([i as u32 | tag, run, at]);
                    }
                }
                if let Some(groups) = &mut groups
                    && !groups.is_null(i)
                    && groups.first_in_run(i, run)
                {
                    first_accounts.push([i as u32, run, at]);
                }
            }
            // The ids of those rows, looked up together per column.
            let rows = |v: &[[u32; 3]], tag: u32| -> Vec<usize> {
                v.iter().filter(|r| r[0] & ANONYMOUS == tag).map(|r| (r[0] & !ANONYMOUS) as usize).collect()
            };
            users.resolve(rows(&first_users, 0).into_iter(), &mut ids.users);
            anonymous.resolve(rows(&first_users, ANONYMOUS).into_iter(), &mut ids.users);
            if let Some(groups) = &mut groups {
                groups.resolve(first_accounts.iter().map(|r| r[0] as usize), &mut ids.accounts);
            }
            for &[row, run, at] in &first_users {
                let column = if row & ANONYMOUS == 0 { &mut users } else { &mut anonymous };
                let user = column.get((row & !ANONYMOUS) as usize, &mut ids.users);
                users_of_day.add(at as usize, user, &mut ids.seen_users, run);
            }
            if let Some(groups) = &mut groups {
                for &[row, run, at] in &first_accounts {
                    let account = groups.get(row as usize, &mut ids.accounts);
                    accounts_of_day.add(at as usize, account, &mut ids.seen_accounts, run);
                }
            }
        }
        f.sets.span = (lo <= hi).then_some((lo, hi));
        f.sets.users = users_of_day.finish();
        f.sets.accounts = accounts_of_day.finish();
        f.new_users = ids.users.names()[ids.sent.0..].to_vec();
        f.new_accounts = ids.accounts.names()[ids.sent.1..].to_vec();
        ids.sent = (ids.users.len(), ids.accounts.len());
        Ok(f)
    }
}

/// One scanning thread's ids to workspace-wide ids. Fed each of the thread's
/// files in the order it scanned them ([`IdMap::learn`]), so that the new
/// names of a file extend the map before its sets are remapped.
#[derive(Debug, Default)]
pub struct IdMap {
    users: Vec<u32>,
    accounts: Vec<u32>,
}

impl IdMap {
    /// Intern the file's new names into the workspace-wide dictionaries.
    pub fn learn(&mut self, f: &FileDays, users: &mut Interner, accounts: &mut Interner) {
        self.users.extend(f.new_users.iter().map(|n| users.intern(n)));
        self.accounts.extend(f.new_accounts.iter().map(|n| accounts.intern(n)));
    }

    /// The file's sets of one kind with workspace-wide ids.
    pub fn remap(&self, f: &FileDays, kind: ActorKind) -> Vec<(i32, Vec<u32>)> {
        f.sets.remap_kind(
            kind,
            match kind {
                ActorKind::User => &self.users,
                ActorKind::Account => &self.accounts,
            },
        )
    }
}

/// Merges per-file [`DaySets`] (with workspace-wide ids) into [`DailyActors`].
#[derive(Default)]
pub struct DailyBuilder {
    span: Option<(i32, i32)>,
    days: std::collections::HashMap<i32, Vec<u32>>,
}

impl DailyBuilder {
    /// Add one file's span and sets (workspace-wide ids, each day's sorted
    /// and distinct). A local day can draw on several files (flushes of one
    /// UTC day, or two UTC days in another zone): its sets are merged as they
    /// come, in linear time, while the other files are still being read.
    pub fn add_owned(&mut self, span: Option<(i32, i32)>, pieces: Vec<(i32, Vec<u32>)>) {
        if let Some((a, b)) = span {
            self.span = Some(self.span.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
        }
        for (day, ids) in pieces {
            debug_assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted, distinct ids");
            match self.days.entry(day) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(ids);
                }
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    let merged = union_sorted(e.get(), &ids);
                    e.insert(merged);
                }
            }
        }
    }

    /// First and last local day of any event seen.
    pub fn span(&self) -> Option<(i32, i32)> {
        self.span
    }

    pub fn finish(self, kind: ActorKind, actor_count: usize) -> DailyActors {
        let Some((first_day, last_day)) = self.span else {
            return DailyActors { kind, first_day: 0, sets: Vec::new(), actor_count, counts: None };
        };
        let mut sets: Vec<Vec<u32>> = vec![Vec::new(); (last_day - first_day + 1) as usize];
        for (day, ids) in self.days {
            sets[(day - first_day) as usize] = ids;
        }
        DailyActors { kind, first_day, sets, actor_count, counts: None }
    }
}

/// The sorted, distinct union of two sorted, distinct id lists.
fn union_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        out.push(x.min(y));
        i += (x <= y) as usize;
        j += (y <= x) as usize;
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engagement::events::{EventTable, date_to_day};
    use arrow::array::{ArrayRef, DictionaryArray, StringArray};
    use jiff::civil::Date;
    use jiff::tz::TimeZone;
    use std::sync::Arc;

    type Row = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
    );

    fn batch(rows: &[Row], dict: bool) -> RecordBatch {
        let col = |f: fn(&Row) -> Option<&'static str>| {
            let v: Vec<Option<&str>> = rows.iter().map(f).collect();
            if dict {
                Arc::new(v.into_iter().collect::<DictionaryArray<Int32Type>>()) as ArrayRef
            } else {
                Arc::new(StringArray::from(v)) as ArrayRef
            }
        };
        let ts: Vec<i64> = rows.iter().map(|r| r.5.parse::<jiff::Timestamp>().unwrap().as_microsecond()).collect();
        RecordBatch::try_from_iter(vec![
            ("type", col(|r| Some(r.0))),
            ("user_id", col(|r| r.1)),
            ("anonymous_id", col(|r| r.2)),
            ("event", col(|r| r.3)),
            ("timestamp", Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")) as ArrayRef),
            ("group_id", col(|r| r.4)),
        ])
        .unwrap()
    }

    #[test]
    fn scan_equals_the_event_table_sets_for_plain_and_dictionary_columns() {
        // Paris: 2024-03-30T23:30Z is already the 31st locally.
        let rows: [Row; 6] = [
            ("track", Some("u1"), None, Some("login"), Some("acme"), "2024-03-30T10:00:00Z"),
            ("track", Some("u1"), None, Some("report"), Some("acme"), "2024-03-30T11:00:00Z"), // same day twice
            ("track", None, Some("anon"), Some("login"), None, "2024-03-30T23:30:00Z"),        // anonymous, no account
            ("page", Some("u2"), None, None, Some("beta"), "2024-03-29T09:00:00Z"),            // not a track: span only
            ("track", None, None, Some("login"), Some("acme"), "2024-03-31T09:00:00Z"),        // no actor: skipped
            ("track", Some("u2"), None, Some("report"), Some("beta"), "2024-03-31T09:00:00Z"),
        ];
        let tz = TimeZone::get("Europe/Paris").unwrap();
        for active in [ActiveEvent::AnyTrack, ActiveEvent::AnyEvent, ActiveEvent::Named("login".into())] {
            let plain = batch(&rows, false);
            let t = EventTable::from_batches(std::slice::from_ref(&plain), tz.clone(), active.clone()).unwrap();
            for dict in [false, true] {
                // Two files scanned by one thread: the second's sets reuse the
                // first's ids, and only names new to the thread travel with it.
                let mut ids = ScanIds::default();
                let mut days = LocalDays::new(tz.clone());
                let files: Vec<FileDays> = [&rows[..3], &rows[3..]]
                    .iter()
                    .map(|part| FileDays::scan(&[batch(part, dict)], &mut days, &active, &mut ids).unwrap())
                    .collect();
                assert!(files[1].new_users.iter().all(|n| !files[0].new_users.contains(n)));
                let d29 = date_to_day(Date::constant(2024, 3, 29));
                // Workspace-wide ids = the event table's, so that the sets compare.
                let mut users = Interner::from_names(t.names(ActorKind::User).to_vec());
                let mut accounts = Interner::from_names(t.names(ActorKind::Account).to_vec());
                let mut map = IdMap::default();
                for kind in [ActorKind::User, ActorKind::Account] {
                    let want = DailyActors::build(&t, kind);
                    let mut b = DailyBuilder::default();
                    for f in &files {
                        if kind == ActorKind::User {
                            map.learn(f, &mut users, &mut accounts);
                        }
                        b.add_owned(f.sets.span, map.remap(f, kind));
                    }
                    assert_eq!(b.span(), Some((d29, d29 + 2)));
                    let got = b.finish(kind, want.actor_count);
                    assert_eq!(
                        (got.first_day, &got.sets),
                        (want.first_day, &want.sets),
                        "{active} {kind:?} dict={dict}"
                    );
                }
                assert_eq!((users.len(), accounts.len()), (t.users.len(), t.accounts.len()));
            }
        }
    }

    #[test]
    fn a_day_split_over_runs_of_rows_is_one_set() {
        // Rows out of time order: the 1st, the 2nd, the 1st again (u1 twice).
        let rows: [Row; 5] = [
            ("track", Some("u1"), None, None, Some("acme"), "2024-03-01T10:00:00Z"),
            ("track", Some("u2"), None, None, Some("beta"), "2024-03-02T10:00:00Z"),
            ("track", Some("u3"), None, None, Some("acme"), "2024-03-01T11:00:00Z"),
            ("track", Some("u1"), None, None, None, "2024-03-01T12:00:00Z"),
            ("track", Some("u2"), None, None, Some("beta"), "2024-03-02T12:00:00Z"),
        ];
        let d1 = date_to_day(Date::constant(2024, 3, 1));
        // The run numbers also start over in the middle of the file.
        for (dict, first_run) in [(false, 0), (true, 0), (true, u32::MAX - 1)] {
            let mut ids = ScanIds { run: first_run, ..ScanIds::default() };
            let mut days = LocalDays::new(TimeZone::UTC);
            // Two batches of one file: the 2nd continues the 1st's last day.
            let batches = [batch(&rows[..4], dict), batch(&rows[4..], dict)];
            let f = FileDays::scan(&batches, &mut days, &ActiveEvent::AnyTrack, &mut ids).unwrap();
            let identity: Vec<u32> = (0..8).collect();
            assert_eq!(f.new_users, ["u1", "u2", "u3"]);
            assert_eq!(f.sets.remap_kind(ActorKind::User, &identity), vec![(d1, vec![0, 2]), (d1 + 1, vec![1])]);
            assert_eq!(f.sets.remap_kind(ActorKind::Account, &identity), vec![(d1, vec![0]), (d1 + 1, vec![1])]);
            let only =
                FileDays::scan_kind(&batches, &mut days, &ActiveEvent::AnyTrack, &mut ids, Some(ActorKind::User))
                    .unwrap();
            assert_eq!((only.sets.users, only.sets.accounts.len()), (f.sets.users, 0));
        }
    }

    #[test]
    fn sorting_through_a_bitmap_or_a_sort_gives_the_same_order() {
        let mut bits = Vec::new();
        let mut x: u64 = 1;
        for (n, spread) in [(0, 10), (1, 10), (500, 600), (500, 1_000_000), (3000, 70_000), (64, 64)] {
            let mut v: Vec<u32> = Vec::new();
            while v.len() < n {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let a = ((x >> 33) % spread) as u32;
                if !v.contains(&a) {
                    v.push(a);
                }
            }
            let mut want = v.clone();
            want.sort_unstable();
            assert_eq!(sort_distinct(v, &mut bits), want, "{n} of {spread}");
            assert!(bits.iter().all(|&w| w == 0), "the bitmap is left clear");
        }
    }

    #[test]
    fn days_drawn_from_two_files_are_merged_sorted_and_distinct() {
        let mut b = DailyBuilder::default();
        b.add_owned(Some((10, 11)), vec![(10, vec![1, 5]), (11, vec![2])]);
        b.add_owned(Some((11, 12)), vec![(11, vec![0, 2, 7])]);
        let d = b.finish(ActorKind::User, 8);
        assert_eq!(d.first_day, 10);
        assert_eq!(d.sets, vec![vec![1, 5], vec![0, 2, 7], vec![]]);
    }
}
