//! Per-day rollups of active actors, maintained at import and ingest, so that
//! DAU/WAU/MAU for every day, stickiness and retention cost O(days x set
//! size) instead of a scan of every event.
//!
//! `rollups/active-days.bin` holds, for the time zones `UTC` and the
//! workspace's `timezone`, and for every file of the `events` table, the
//! sorted ids of the actors (users: `userId`, else `anonymousId`; accounts:
//! `groupId`) with a `track` event on each local day, plus the first and last
//! local day of any event; ids index two workspace-wide dictionaries of names
//! kept in the same file. The file is rewritten whole and atomically by
//! [`refresh`], so ids and sets always agree.
//!
//! Consistency with the data: data files are never modified (a compaction
//! writes a new file under a new name), and each entry records its file's path,
//! row count and size. A reader uses an entry only if the manifest names that
//! file with the same rows and the file on disk has the same size; any other
//! file (new, replaced, or in a zone without rollups) is scanned instead, so a
//! missing or stale rollup is slower, never wrong. Rollups cover only the
//! default active event (any `track`); `--event` scans. Setting
//! `TENURE_NO_ROLLUPS=1` makes readers ignore them (benchmarks of the scan).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use jiff::tz::TimeZone;
use tenure_metrics::engagement::{
    ActiveEvent, ActorKind, DailyActors, DailyBuilder, DaySets, FileDays, IdMap, Interner, LocalDays, ScanIds,
    daily_columns_for,
};
use tenure_store::Workspace;

const FILE: &str = "rollups/active-days.bin";
const MAGIC: &[u8] = b"TENURE-ACTIVE-DAYS-1\n";
/// The string columns decoded as dictionaries (ids and names repeat a lot).
const DICTIONARY_COLUMNS: &[&str] = &["type", "user_id", "anonymous_id", "event", "group_id", "name"];

/// The key of a time zone in the rollups: its IANA name.
fn zone_key(tz: &TimeZone, given: &str) -> String {
    tz.iana_name().unwrap_or(given).to_string()
}

fn enabled() -> bool {
    std::env::var_os("TENURE_NO_ROLLUPS").is_none_or(|v| v.is_empty() || v == "0")
}

/// The per-day sets of one kind of actor, from rollups where valid and by
/// scanning the other files.
pub struct ActiveSets {
    pub daily: DailyActors,
    /// First and last local day of any event.
    pub span: Option<(i32, i32)>,
    /// Actor names by id (empty unless asked for).
    pub names: Vec<String>,
    /// Files answered by the rollups and files scanned.
    pub from_rollups: usize,
    pub scanned: usize,
}

/// Events files of the committed state: (relative path, rows).
fn event_files(ws: &Workspace) -> Vec<(String, u64)> {
    ws.manifest()
        .tables
        .get("events")
        .map(|t| t.files.iter().map(|f| (f.path.clone(), f.rows)).collect())
        .unwrap_or_default()
}

/// The active actors of every local day in `tz`.
pub fn active_sets(
    ws: &Workspace,
    tz: &TimeZone,
    tzname: &str,
    active: &ActiveEvent,
    kind: ActorKind,
    need_names: bool,
) -> Result<ActiveSets> {
    let files = event_files(ws);
    let zone = zone_key(tz, tzname);
    let mut rollup = if *active == ActiveEvent::AnyTrack && enabled() {
        // An unreadable rollup is only a missed shortcut: scan instead.
        Rollup::read(ws.root(), Some(&zone)).ok().flatten()
    } else {
        None
    };
    let mut entries: HashMap<String, FileEntry> = rollup
        .as_mut()
        .and_then(|r| r.zones.pop())
        .map(|z| z.files.into_iter().map(|e| (e.path.clone(), e)).collect())
        .unwrap_or_default();
    let mut b = DailyBuilder::default();
    let mut missing = Vec::new();
    let mut from_rollups = 0;
    for (path, rows) in &files {
        match entries.remove(path) {
            Some(e) if e.matches(ws.root(), *rows) => {
                b.add_owned(e.sets.span, take_kind(e.sets, kind));
                from_rollups += 1;
            }
            _ => missing.push(ws.root().join(path)),
        }
    }
    let (mut names, count) = match &rollup {
        Some(r) if need_names || !missing.is_empty() => (Interner::from_names(r.names(kind)?), 0),
        Some(r) => (Interner::default(), r.count(kind)),
        None => (Interner::default(), 0),
    };
    // The other kind's names are learnt too (an IdMap feeds both), then dropped.
    let mut others = Interner::default();
    let (users, accounts) = match kind {
        ActorKind::User => (&mut names, &mut others),
        ActorKind::Account => (&mut others, &mut names),
    };
    scan_files(&missing, tz, active, Some(kind), |_, map, f| {
        map.learn(&f, users, accounts);
        b.add_owned(f.sets.span, map.remap(&f, kind));
        Ok(())
    })?;
    let span = b.span();
    let actor_count = names.len().max(count);
    Ok(ActiveSets {
        daily: b.finish(kind, actor_count),
        span,
        names: names.names().to_vec(),
        from_rollups,
        scanned: missing.len(),
    })
}

fn take_kind(sets: DaySets, kind: ActorKind) -> Vec<(i32, Vec<u32>)> {
    match kind {
        ActorKind::User => sets.users,
        ActorKind::Account => sets.accounts,
    }
}

/// Scan files for their per-day sets (of one kind of actor, or both with
/// `None`), on every core (files in parallel), handing each to `f` with its
/// index as it is done (in any order), so that only a few scanned files wait
/// in memory. Each thread interns names into its own dictionaries; `f` gets
/// the [`IdMap`] of the file's thread, to learn the file's new names and
/// remap its ids to the caller's.
pub fn scan_files(
    paths: &[PathBuf],
    tz: &TimeZone,
    active: &ActiveEvent,
    only: Option<ActorKind>,
    mut f: impl FnMut(usize, &mut IdMap, FileDays) -> Result<()>,
) -> Result<()> {
    let columns = daily_columns_for(active, only);
    let mut maps: Vec<IdMap> = Vec::new();
    parallel_files(
        paths,
        |ids: &mut ScanIds, path| {
            let batches = tenure_store::read_parquet_dictionary(path, columns, DICTIONARY_COLUMNS)?;
            FileDays::scan_kind(&batches, &mut LocalDays::new(tz.clone()), active, ids, only)
                .with_context(|| format!("reading {}", path.display()))
        },
        |i, thread, days| {
            if maps.len() <= thread {
                maps.resize_with(thread + 1, IdMap::default);
            }
            f(i, &mut maps[thread], days)
        },
    )
}

/// Decode `paths` (their `columns`, ids as dictionaries) on worker threads
/// and hand each file's batches to `f` on this thread, in order: decoding
/// overlaps with the caller's work, and at most a few files wait in memory.
pub fn each_file(
    paths: &[PathBuf],
    columns: &[&str],
    mut f: impl FnMut(&Path, Vec<tenure_metrics::engagement::RecordBatch>) -> Result<()>,
) -> Result<()> {
    let mut waiting = std::collections::BTreeMap::new();
    let mut want = 0;
    parallel_files(
        paths,
        |_: &mut (), path| Ok(tenure_store::read_parquet_dictionary(path, columns, DICTIONARY_COLUMNS)?),
        |i, _, batches| {
            waiting.insert(i, batches);
            while let Some(b) = waiting.remove(&want) {
                f(&paths[want], b)?;
                want += 1;
            }
            Ok(())
        },
    )
}

/// `work` on every path, on as many threads as cores, each with its own
/// state `S`; results to `consume` on this thread as they come, with the
/// index of the path and of the thread (a bounded queue between them; one
/// thread's results arrive in the order it produced them).
fn parallel_files<S: Default, T: Send>(
    paths: &[PathBuf],
    work: impl Fn(&mut S, &Path) -> Result<T> + Sync,
    mut consume: impl FnMut(usize, usize, T) -> Result<()>,
) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(paths.len()).max(1);
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::sync_channel(2 * threads);
    std::thread::scope(|s| -> Result<()> {
        for thread in 0..threads {
            let (tx, next, work) = (tx.clone(), &next, &work);
            s.spawn(move || {
                let mut state = S::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { return };
                    let r = work(&mut state, path);
                    let failed = r.is_err();
                    // The receiver is gone only when the caller failed: stop.
                    if tx.send((i, thread, r)).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (i, thread, r) in rx {
            consume(i, thread, r?)?;
            done += 1;
        }
        anyhow::ensure!(done == paths.len(), "a file of the events table could not be read");
        Ok(())
    })
}

/// Bring `rollups/active-days.bin` up to date with the committed `events`
/// files for `UTC` and the workspace's time zone: keep valid entries, scan
/// new files, drop entries of files no longer in the manifest. Returns the
/// number of files scanned. Call after a commit that added events.
pub fn refresh(ws: &Workspace) -> Result<usize> {
    let tzname = &ws.settings().workspace.timezone;
    let tz = TimeZone::get(tzname).with_context(|| format!("workspace.timezone {tzname:?}"))?;
    let mut zones = vec![("UTC".to_string(), TimeZone::UTC)];
    if zone_key(&tz, tzname) != "UTC" {
        zones.push((zone_key(&tz, tzname), tz.clone()));
    }
    let old = Rollup::read(ws.root(), None).ok().flatten();
    let mut changed = old.is_none();
    let (mut users, mut accounts, mut old_zones) = match old {
        Some(mut r) => {
            (Interner::from_names(r.names(ActorKind::User)?), Interner::from_names(r.names(ActorKind::Account)?), {
                std::mem::take(&mut r.zones)
            })
        }
        None => (Interner::default(), Interner::default(), Vec::new()),
    };
    let files = event_files(ws);
    let mut zones_out = Vec::new();
    let mut scanned = 0;
    for (name, tz) in zones {
        let mut old: HashMap<String, FileEntry> = match old_zones.iter().position(|z| z.name == name) {
            Some(i) => old_zones.swap_remove(i).files.into_iter().map(|e| (e.path.clone(), e)).collect(),
            None => HashMap::new(),
        };
        let mut entries: Vec<Option<FileEntry>> = Vec::with_capacity(files.len());
        let mut missing = Vec::new();
        for (i, (path, rows)) in files.iter().enumerate() {
            match old.remove(path) {
                Some(e) if e.matches(ws.root(), *rows) => entries.push(Some(e)),
                _ => {
                    entries.push(None);
                    missing.push(i);
                }
            }
        }
        changed |= !old.is_empty() || !missing.is_empty();
        let paths: Vec<PathBuf> = missing.iter().map(|&i| ws.root().join(&files[i].0)).collect();
        scan_files(&paths, &tz, &ActiveEvent::AnyTrack, None, |j, map, f| {
            let i = missing[j];
            map.learn(&f, &mut users, &mut accounts);
            let sets = DaySets {
                span: f.sets.span,
                users: map.remap(&f, ActorKind::User),
                accounts: map.remap(&f, ActorKind::Account),
            };
            let (path, rows) = &files[i];
            let bytes = fs_err::metadata(ws.root().join(path))?.len();
            entries[i] = Some(FileEntry { path: path.clone(), rows: *rows, bytes, sets });
            Ok(())
        })?;
        scanned += missing.len();
        zones_out.push(Zone { name, files: entries.into_iter().map(|e| e.expect("entry kept or scanned")).collect() });
    }
    changed |= !old_zones.is_empty();
    if changed {
        let path = ws.root().join(FILE);
        fs_err::create_dir_all(path.parent().expect("a directory"))?;
        tenure_store::manifest::write_atomic(&path, encode(users.names(), accounts.names(), &zones_out))?;
    }
    Ok(scanned)
}

/// One data file's sets in one zone.
struct FileEntry {
    path: String,
    rows: u64,
    bytes: u64,
    sets: DaySets,
}

impl FileEntry {
    /// Still describes the committed file: same rows, same size on disk.
    fn matches(&self, root: &Path, rows: u64) -> bool {
        self.rows == rows && std::fs::metadata(root.join(&self.path)).is_ok_and(|m| m.len() == self.bytes)
    }
}

struct Zone {
    name: String,
    files: Vec<FileEntry>,
}

/// The decoded file; dictionaries stay raw bytes until names are asked for.
struct Rollup {
    dicts: [(u32, Vec<u8>); 2],
    zones: Vec<Zone>,
}

impl Rollup {
    /// Read the rollups (`Ok(None)` when there are none), all zones or one.
    fn read(root: &Path, zone: Option<&str>) -> Result<Option<Rollup>> {
        let bytes = match std::fs::read(root.join(FILE)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context(FILE),
        };
        decode(&bytes, zone).map(Some).with_context(|| format!("{FILE} is damaged"))
    }

    fn count(&self, kind: ActorKind) -> usize {
        self.dicts[kind as usize].0 as usize
    }

    fn names(&self, kind: ActorKind) -> Result<Vec<String>> {
        let (n, raw) = &self.dicts[kind as usize];
        let mut r = Reader(raw);
        (0..*n).map(|_| Ok(String::from_utf8(r.bytes()?.to_vec())?)).collect()
    }
}

fn encode(users: &[String], accounts: &[String], zones: &[Zone]) -> Vec<u8> {
    let mut w = Vec::with_capacity(1 << 20);
    w.extend_from_slice(MAGIC);
    for names in [users, accounts] {
        let mut d = Vec::new();
        for n in names {
            put_bytes(&mut d, n.as_bytes());
        }
        put_u32(&mut w, names.len() as u32);
        put_bytes(&mut w, &d);
    }
    put_u32(&mut w, zones.len() as u32);
    for z in zones {
        let mut b = Vec::new();
        put_u32(&mut b, z.files.len() as u32);
        for f in &z.files {
            put_bytes(&mut b, f.path.as_bytes());
            b.extend_from_slice(&f.rows.to_le_bytes());
            b.extend_from_slice(&f.bytes.to_le_bytes());
            let (lo, hi) = f.sets.span.unwrap_or((1, 0));
            b.extend_from_slice(&lo.to_le_bytes());
            b.extend_from_slice(&hi.to_le_bytes());
            for sets in [&f.sets.users, &f.sets.accounts] {
                put_u32(&mut b, sets.len() as u32);
                for (day, ids) in sets {
                    b.extend_from_slice(&day.to_le_bytes());
                    put_u32(&mut b, ids.len() as u32);
                    // Sorted ids as varint gaps: a few bytes per actor-day.
                    let mut prev = 0u32;
                    for &a in ids {
                        put_varint(&mut b, a - prev);
                        prev = a;
                    }
                }
            }
        }
        put_bytes(&mut w, z.name.as_bytes());
        put_bytes(&mut w, &b);
    }
    w
}

fn decode(bytes: &[u8], zone: Option<&str>) -> Result<Rollup> {
    let rest = bytes.strip_prefix(MAGIC).context("not a rollup file of this version")?;
    let mut r = Reader(rest);
    let mut dict = || -> Result<(u32, Vec<u8>)> {
        let n = r.u32()?;
        let raw = r.bytes()?;
        Ok((n, raw.to_vec()))
    };
    let dicts = [dict()?, dict()?];
    let mut zones = Vec::new();
    for _ in 0..r.u32()? {
        let name = std::str::from_utf8(r.bytes()?)?.to_string();
        let body = r.bytes()?;
        if zone.is_some_and(|z| z != name) {
            continue;
        }
        let mut b = Reader(body);
        let mut files = Vec::new();
        for _ in 0..b.u32()? {
            let path = std::str::from_utf8(b.bytes()?)?.to_string();
            let (rows, size) = (b.u64()?, b.u64()?);
            let (lo, hi) = (b.u32()? as i32, b.u32()? as i32);
            let mut sets = DaySets { span: (lo <= hi).then_some((lo, hi)), ..DaySets::default() };
            for k in 0..2 {
                let n = b.u32()?;
                let mut days = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let day = b.u32()? as i32;
                    let len = b.u32()?;
                    let mut ids = Vec::with_capacity(len as usize);
                    let mut prev = 0u32;
                    for _ in 0..len {
                        prev = prev.checked_add(b.varint()?).context("id overflow")?;
                        ids.push(prev);
                    }
                    days.push((day, ids));
                }
                if k == 0 { sets.users = days } else { sets.accounts = days }
            }
            files.push(FileEntry { path, rows, bytes: size, sets });
        }
        zones.push(Zone { name, files });
    }
    // Ids must index the dictionaries: a damaged file must not panic a reader.
    for z in &zones {
        for f in &z.files {
            for (k, sets) in [(0, &f.sets.users), (1, &f.sets.accounts)] {
                if sets.iter().any(|(_, ids)| ids.last().is_some_and(|&a| a >= dicts[k].0)) {
                    anyhow::bail!("an id beyond its dictionary in {}", f.path);
                }
            }
        }
    }
    Ok(Rollup { dicts, zones })
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    w.extend_from_slice(&(b.len() as u64).to_le_bytes());
    w.extend_from_slice(b);
}

fn put_varint(w: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        w.push(v as u8 | 0x80);
        v >>= 7;
    }
    w.push(v as u8);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        anyhow::ensure!(self.0.len() >= n, "truncated");
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u64()?;
        self.take(usize::try_from(n)?)
    }
    fn varint(&mut self) -> Result<u32> {
        let mut v = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            v |= ((b & 0x7f) as u32).checked_shl(shift).context("varint too long")?;
            if b < 0x80 {
                return Ok(v);
            }
        }
        anyhow::bail!("varint too long")
    }
}
