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
    match active {
        ActiveEvent::Named(_) => &["type", "user_id", "anonymous_id", "event", "timestamp", "group_id"],
        _ => &["type", "user_id", "anonymous_id", "timestamp", "group_id"],
    }
}

/// Marks a null in the id vectors [`map_strings`] fills.
const NULL: u32 = u32::MAX;

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

/// The strings of one column of one batch, interned locally by
/// [`map_strings`]; an id enters the table's own interner ([`BatchIds::global`])
/// only when a kept row uses it, so skipped rows add no actors or names.
#[derive(Default)]
pub(crate) struct BatchIds {
    pub local: Interner,
    global: Vec<u32>,
}

impl BatchIds {
    /// Map `name`'s column of `batch` to local ids in `out` (nulls [`u32::MAX`]).
    pub fn map(&mut self, batch: &RecordBatch, name: &str, out: &mut Vec<u32>) -> Result<(), EventsError> {
        self.local = Interner::default();
        self.global.clear();
        map_strings(batch, name, |s| self.local.intern(s), out)
    }

    /// The id in `into` of local id `id` ([`u32::MAX`] stays).
    pub fn global(&mut self, id: u32, into: &mut Interner) -> u32 {
        if id == NULL {
            return NULL;
        }
        let i = id as usize;
        if self.global.len() <= i {
            self.global.resize(self.local.len(), NULL);
        }
        if self.global[i] == NULL {
            self.global[i] = into.intern(self.local.name(id));
        }
        self.global[i]
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

/// Active actors per local day of one file: `(day, sorted distinct ids)`,
/// days ascending, and the first and last local day of any event (active or
/// not) that has an actor: the default range of the metrics.
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

    /// The sets of one kind with every id replaced by `map[id]` (kept sorted).
    pub fn remap_kind(&self, kind: ActorKind, map: &[u32]) -> Vec<(i32, Vec<u32>)> {
        self.of(kind)
            .iter()
            .map(|(d, ids)| {
                let mut v: Vec<u32> = ids.iter().map(|&a| map[a as usize]).collect();
                v.sort_unstable();
                (*d, v)
            })
            .collect()
    }
}

/// [`DaySets`] of one file with the file's own actor dictionaries.
#[derive(Debug, Clone, Default)]
pub struct FileDays {
    pub users: Interner,
    pub accounts: Interner,
    pub sets: DaySets,
}

impl FileDays {
    /// The file's actor names of a kind, by its own ids.
    pub fn names(&self, kind: ActorKind) -> &[String] {
        match kind {
            ActorKind::User => self.users.names(),
            ActorKind::Account => self.accounts.names(),
        }
    }

    /// Scan the batches of one file. Actor = `userId`, else `anonymousId`
    /// (events with neither are skipped, as in the event table); account = `groupId`.
    pub fn scan(batches: &[RecordBatch], days: &mut LocalDays, active: &ActiveEvent) -> Result<FileDays, EventsError> {
        let mut f = FileDays::default();
        let (mut kind, mut uid, mut aid, mut gid, mut ev) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut users, mut anonymous, mut groups) = (BatchIds::default(), BatchIds::default(), BatchIds::default());
        let mut user_keys: Vec<u64> = Vec::new();
        let mut account_keys: Vec<u64> = Vec::new();
        let (mut lo, mut hi) = (i32::MAX, i32::MIN);
        for batch in batches {
            map_strings(batch, "type", |s| kind_code(s) as u32, &mut kind)?;
            users.map(batch, "user_id", &mut uid)?;
            anonymous.map(batch, "anonymous_id", &mut aid)?;
            groups.map(batch, "group_id", &mut gid)?;
            if let ActiveEvent::Named(name) = active {
                map_strings(batch, "event", |s| (s == name) as u32, &mut ev)?;
            }
            let ts = timestamps(batch)?;
            for i in 0..batch.num_rows() {
                if (uid[i] == NULL && aid[i] == NULL) || ts.is_null(i) {
                    continue;
                }
                let day = days.day_of(ts.value(i));
                lo = lo.min(day);
                hi = hi.max(day);
                let on = match active {
                    ActiveEvent::AnyTrack => kind[i] == TRACK as u32,
                    ActiveEvent::AnyEvent => true,
                    ActiveEvent::Named(_) => kind[i] == TRACK as u32 && ev[i] == 1,
                };
                if on {
                    let user = if uid[i] != NULL {
                        users.global(uid[i], &mut f.users)
                    } else {
                        anonymous.global(aid[i], &mut f.users)
                    };
                    let d = (day as u32 ^ 0x8000_0000) as u64;
                    user_keys.push(d << 32 | user as u64);
                    if gid[i] != NULL {
                        account_keys.push(d << 32 | groups.global(gid[i], &mut f.accounts) as u64);
                    }
                }
            }
        }
        f.sets.span = (lo <= hi).then_some((lo, hi));
        f.sets.users = group_keys(user_keys);
        f.sets.accounts = group_keys(account_keys);
        Ok(f)
    }
}

/// Sorted `(day, id)` keys to per-day sorted distinct id lists.
fn group_keys(mut keys: Vec<u64>) -> Vec<(i32, Vec<u32>)> {
    keys.sort_unstable();
    keys.dedup();
    let mut out: Vec<(i32, Vec<u32>)> = Vec::new();
    for k in keys {
        let day = ((k >> 32) as u32 ^ 0x8000_0000) as i32;
        match out.last_mut() {
            Some((d, ids)) if *d == day => ids.push(k as u32),
            _ => out.push((day, vec![k as u32])),
        }
    }
    out
}

/// Merges per-file [`DaySets`] (with workspace-wide ids) into [`DailyActors`].
#[derive(Default)]
pub struct DailyBuilder {
    span: Option<(i32, i32)>,
    pieces: Vec<(i32, Vec<u32>)>,
}

impl DailyBuilder {
    /// Add one file's span and sets (workspace-wide ids).
    pub fn add_owned(&mut self, span: Option<(i32, i32)>, pieces: Vec<(i32, Vec<u32>)>) {
        if let Some((a, b)) = span {
            self.span = Some(self.span.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
        }
        self.pieces.extend(pieces);
    }

    /// First and last local day of any event seen.
    pub fn span(&self) -> Option<(i32, i32)> {
        self.span
    }

    pub fn finish(self, kind: ActorKind, actor_count: usize) -> DailyActors {
        let Some((first_day, last_day)) = self.span else {
            return DailyActors { kind, first_day: 0, sets: Vec::new(), actor_count };
        };
        let mut sets: Vec<Vec<u32>> = vec![Vec::new(); (last_day - first_day + 1) as usize];
        let mut merged = vec![false; sets.len()];
        for (day, ids) in self.pieces {
            let i = (day - first_day) as usize;
            if sets[i].is_empty() {
                sets[i] = ids;
            } else {
                sets[i].extend(ids);
                merged[i] = true;
            }
        }
        // A local day can draw on several files (two flushes of one UTC day,
        // or two UTC days in another zone): only those need a sort.
        for (s, m) in sets.iter_mut().zip(merged) {
            if m {
                s.sort_unstable();
                s.dedup();
            }
        }
        DailyActors { kind, first_day, sets, actor_count }
    }
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
                let b = batch(&rows, dict);
                let f = FileDays::scan(&[b], &mut LocalDays::new(tz.clone()), &active).unwrap();
                let d29 = date_to_day(Date::constant(2024, 3, 29));
                assert_eq!(f.sets.span, Some((d29, d29 + 2)));
                // Map the file's ids to the event table's, as the merge does.
                let map = |mine: &[String], kind: ActorKind| -> Vec<u32> {
                    mine.iter().map(|n| t.names(kind).iter().position(|x| x == n).unwrap() as u32).collect()
                };
                for kind in [ActorKind::User, ActorKind::Account] {
                    let want = DailyActors::build(&t, kind);
                    let mut b = DailyBuilder::default();
                    b.add_owned(f.sets.span, f.sets.remap_kind(kind, &map(f.names(kind), kind)));
                    let got = b.finish(kind, want.actor_count);
                    assert_eq!(
                        (got.first_day, &got.sets),
                        (want.first_day, &want.sets),
                        "{active} {kind:?} dict={dict}"
                    );
                }
            }
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
