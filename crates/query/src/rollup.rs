//! Per-day rollups of active actors, maintained at import and ingest, so that
//! DAU/WAU/MAU for every day, stickiness and retention cost O(days x set
//! size) instead of a scan of every event, and the DAU/WAU/MAU counts alone
//! O(days).
//!
//! `rollups/active-days.bin` holds, for the time zones `UTC` and the
//! workspace's `timezone`, and for every file of the `events` table, the
//! sorted ids of the actors (users: `userId`, else `anonymousId`; accounts:
//! `groupId`) with a `track` event on each local day, plus the first and last
//! local day of any event; ids index two workspace-wide dictionaries of names
//! kept in the same file. Per zone and kind it also holds the DAU/WAU/MAU of
//! every day over all the files ([`DayCounts`]). The file is rewritten whole
//! and atomically by [`refresh`], so ids, sets and counts always agree.
//!
//! Layout (version 2): a table of contents names byte ranges (sections) so
//! that a reader reads only what it needs: the files of its zone, the sets of
//! one kind of actor, the names only when asked for, or just the counts.
//!
//! Consistency with the data: data files are never modified (a compaction
//! writes a new file under a new name), and each entry records its file's path,
//! row count and size. A reader uses an entry only if the manifest names that
//! file with the same rows and the file on disk has the same size; any other
//! file (new, replaced, or in a zone without rollups) is scanned instead, so a
//! missing or stale rollup is slower, never wrong. The counts are used only
//! when every entry of the zone is valid and the manifest has no other file.
//! Rollups cover only the default active event (any `track`); `--event`
//! scans. Setting `TENURE_NO_ROLLUPS=1` makes readers ignore them
//! (benchmarks of the scan).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use jiff::tz::TimeZone;
use tenure_metrics::engagement::{
    ActiveEvent, ActorKind, DailyActors, DailyBuilder, DayCounts, DaySets, FileDays, IdMap, Interner, LocalDays,
    ScanIds, Skipped, active_days, daily_columns_for,
};
use tenure_store::Workspace;

const FILE: &str = "rollups/active-days.bin";
/// Version 1 had no table of contents: such a file is rebuilt, never read.
const MAGIC: &[u8] = b"TENURE-ACTIVE-DAYS-2\n";
const KINDS: [ActorKind; 2] = [ActorKind::User, ActorKind::Account];
/// The string columns decoded as dictionaries (ids and names repeat a lot).
const DICTIONARY_COLUMNS: &[&str] = &["type", "user_id", "anonymous_id", "event", "group_id", "name"];

/// The key of a time zone in the rollups: its IANA name.
fn zone_key(tz: &TimeZone, given: &str) -> String {
    tz.iana_name().unwrap_or(given).to_string()
}

pub(crate) fn enabled() -> bool {
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

/// [`active_sets`], or only the DAU/WAU/MAU counts of every day when the
/// rollups have them for every file (`list`: a drill-down needs the sets).
/// The counts' [`DailyActors`] has no sets: it answers
/// [`tenure_metrics::engagement::active_days`] without `list`, nothing else.
pub fn active_sets_or_counts(
    ws: &Workspace,
    tz: &TimeZone,
    tzname: &str,
    active: &ActiveEvent,
    kind: ActorKind,
    list: bool,
) -> Result<ActiveSets> {
    if !list && *active == ActiveEvent::AnyTrack && enabled() {
        // An unreadable rollup is only a missed shortcut: scan instead.
        if let Some(sets) = counts(ws, &zone_key(tz, tzname), kind).ok().flatten() {
            return Ok(sets);
        }
    }
    active_sets(ws, tz, tzname, active, kind, list)
}

/// The stored counts, if every events file has a valid entry in the zone.
fn counts(ws: &Workspace, zone: &str, kind: ActorKind) -> Result<Option<ActiveSets>> {
    let Some(file) = RollupFile::open(ws.root())? else { return Ok(None) };
    let Some(entries) = file.files(zone)? else { return Ok(None) };
    let files = event_files(ws);
    if entries.len() != files.len() {
        return Ok(None);
    }
    let by_path: HashMap<&str, &FileMeta> = entries.iter().map(|e| (e.path.as_str(), e)).collect();
    if !files.iter().all(|(path, rows)| by_path.get(path.as_str()).is_some_and(|e| e.matches(ws.root(), *rows))) {
        return Ok(None);
    }
    let Some(raw) = file.section(&format!("counts/{zone}/{}", kind_key(kind)))? else { return Ok(None) };
    let counts = decode_counts(&raw)?;
    let span = entries.iter().filter_map(|e| e.span).reduce(|(a, b), (x, y)| (a.min(x), b.max(y)));
    Ok(Some(ActiveSets {
        daily: DailyActors {
            kind,
            first_day: counts.first_day,
            sets: Vec::new(),
            actor_count: file.count(kind),
            counts: Some(counts),
        },
        span,
        names: Vec::new(),
        from_rollups: entries.len(),
        scanned: 0,
    }))
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
    let rows: HashMap<&str, u64> = files.iter().map(|(p, r)| (p.as_str(), *r)).collect();
    let valid = |m: &FileMeta| rows.get(m.path.as_str()).is_some_and(|&r| m.matches(ws.root(), r));
    let (file, mut entries) = match *active == ActiveEvent::AnyTrack && enabled() {
        // An unreadable rollup is only a missed shortcut: scan instead.
        true => read_zone(ws.root(), &zone, kind, valid).ok().flatten().unzip(),
        false => (None, None),
    };
    let mut b = DailyBuilder::default();
    let mut missing = Vec::new();
    for (path, _) in &files {
        match entries.as_mut().and_then(|e| e.remove(path)) {
            Some((span, sets)) => b.add_owned(span, sets),
            None => missing.push(ws.root().join(path)),
        }
    }
    let count = file.as_ref().map_or(0, |f| f.count(kind));
    let names = if missing.is_empty() {
        // Names only to print them: no table to look them up in.
        match &file {
            Some(f) if need_names => f.names(kind)?,
            _ => Vec::new(),
        }
    } else {
        let mut names = match &file {
            Some(f) => Interner::from_names(f.names(kind)?),
            None => Interner::default(),
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
        names.into_names()
    };
    let span = b.span();
    let actor_count = names.len().max(count);
    Ok(ActiveSets {
        daily: b.finish(kind, actor_count),
        span,
        names,
        from_rollups: files.len() - missing.len(),
        scanned: missing.len(),
    })
}

/// The valid entries of one zone (span and sets of one kind), by path.
type ZoneSets = HashMap<String, (Option<(i32, i32)>, Vec<(i32, Vec<u32>)>)>;

/// One zone's entries that pass `valid`, with their sets of `kind` (the
/// others' sets are skipped, not decoded).
fn read_zone(
    root: &Path,
    zone: &str,
    kind: ActorKind,
    valid: impl Fn(&FileMeta) -> bool,
) -> Result<Option<(RollupFile, ZoneSets)>> {
    let Some(file) = RollupFile::open(root)? else { return Ok(None) };
    let Some(metas) = file.files(zone)? else { return Ok(None) };
    let raw = file.section(&format!("sets/{zone}/{}", kind_key(kind)))?.context("a zone without its sets")?;
    let mut r = Reader(&raw);
    let mut out = HashMap::with_capacity(metas.len());
    for meta in metas {
        let body = r.bytes()?;
        if valid(&meta) {
            out.insert(meta.path, (meta.span, decode_sets(body, file.count(kind), meta.span)?));
        }
    }
    Ok(Some((file, out)))
}

/// Scan files for their per-day sets (of one kind of actor, or both with
/// `None`), on every core (files in parallel), handing each to `f` with its
/// index in the order of `paths`, so that only a few scanned files wait in
/// memory. Each thread interns names into its own dictionaries; `f` gets
/// the [`IdMap`] of the file's thread, to learn the file's new names and
/// remap its ids to the caller's. In order, every name is new to the
/// caller at the first file that has it, so the caller's ids do not depend
/// on the threads (nor then the rollup's bytes).
pub fn scan_files(
    paths: &[PathBuf],
    tz: &TimeZone,
    active: &ActiveEvent,
    only: Option<ActorKind>,
    mut f: impl FnMut(usize, &mut IdMap, FileDays) -> Result<()>,
) -> Result<()> {
    let columns = daily_columns_for(active, only);
    let mut maps: Vec<IdMap> = Vec::new();
    parallel_in_order(
        paths,
        |ids: &mut ScanIds, path| {
            let mut days = LocalDays::new(tz.clone());
            let (batches, skipped) = read_for_scan(path, columns, &mut days)?;
            FileDays::scan_read(&batches, &mut days, active, ids, only, &skipped)
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

/// A file's `columns` for the per-day scan (ids as dictionaries), without the
/// columns its row groups' statistics answer for: the timestamps when every
/// row is on one local day (files hold one UTC day, sorted by time, so in UTC
/// that is every file), `anonymous_id` when it is null in every row. Those
/// two were about a third of the bytes a scan decoded.
fn read_for_scan(
    path: &Path,
    columns: &[&str],
    days: &mut LocalDays,
) -> Result<(Vec<tenure_metrics::engagement::RecordBatch>, Skipped)> {
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    use parquet::file::statistics::Statistics;
    let context = || format!("reading {}", path.display());
    let file = fs_err::File::open(path)?.into_parts().0;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).with_context(context)?;
    let pq = meta.metadata();
    let column = |name: &str| pq.file_metadata().schema_descr().columns().iter().position(|c| c.name() == name);
    let groups = pq.row_groups();
    let mut skipped = Skipped::default();
    if let Some(ts) = column("timestamp") {
        // Local days only grow with time: the first and last instants'
        // days are equal only if every row's day is that one.
        let mut day = None;
        for g in groups {
            let c = g.column(ts);
            let range = match c.statistics() {
                Some(Statistics::Int64(v)) if v.null_count_opt() == Some(0) => v.min_opt().zip(v.max_opt()),
                _ => None,
            };
            let Some((lo, hi)) = range.map(|(&lo, &hi)| (days.day_of(lo), days.day_of(hi))) else {
                day = None;
                break;
            };
            if lo != hi || day.is_some_and(|d| d != lo) {
                day = None;
                break;
            }
            day = Some(lo);
        }
        skipped.day = day;
    }
    if let Some(anon) = column("anonymous_id") {
        skipped.anonymous_id = !groups.is_empty()
            && groups
                .iter()
                .all(|g| g.column(anon).statistics().and_then(|s| s.null_count_opt()) == Some(g.num_rows() as u64));
    }
    let wanted: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|&c| !(c == "timestamp" && skipped.day.is_some() || c == "anonymous_id" && skipped.anonymous_id))
        .collect();
    let meta = tenure_store::with_dictionary_ids(&meta, DICTIONARY_COLUMNS).with_context(context)?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta);
    let mask = ProjectionMask::columns(builder.parquet_schema(), wanted.iter().copied());
    // One batch per row group: each batch's dictionary values are looked up
    // in the interner again, and a day's ids deduplicated again.
    let rows = groups.iter().map(|g| g.num_rows()).max().unwrap_or(0).clamp(1024, 1 << 20) as usize;
    let reader = builder.with_projection(mask).with_batch_size(rows).build().with_context(context)?;
    let batches = reader.collect::<Result<Vec<_>, _>>().with_context(context)?;
    Ok((batches, skipped))
}

/// Decode `paths` (their `columns`, ids as dictionaries) on worker threads
/// and hand each file's batches to `f` on this thread, in order: decoding
/// overlaps with the caller's work, and at most a few files wait in memory.
pub fn each_file(
    paths: &[PathBuf],
    columns: &[&str],
    mut f: impl FnMut(&Path, Vec<tenure_metrics::engagement::RecordBatch>) -> Result<()>,
) -> Result<()> {
    parallel_in_order(
        paths,
        |_: &mut (), path| Ok(read_dictionary(path, columns)?),
        |i, _, batches| f(&paths[i], batches),
    )
}

/// A Parquet file's `columns`, the string ids and names as dictionaries.
pub(crate) fn read_dictionary(
    path: &Path,
    columns: &[&str],
) -> tenure_store::Result<Vec<tenure_metrics::engagement::RecordBatch>> {
    tenure_store::read_parquet_dictionary(path, columns, DICTIONARY_COLUMNS)
}

/// [`parallel_map`] with the results handed to `f` in the order of `items`
/// (a result that comes early waits for those before it; each thread's
/// still come in the order it produced them).
pub(crate) fn parallel_in_order<I: Sync, S: Default, T: Send>(
    items: &[I],
    work: impl Fn(&mut S, &I) -> Result<T> + Sync,
    mut f: impl FnMut(usize, usize, T) -> Result<()>,
) -> Result<()> {
    let mut waiting = std::collections::BTreeMap::new();
    let mut want = 0;
    parallel_map(items, work, |i, thread, t| {
        waiting.insert(i, (thread, t));
        while let Some((thread, t)) = waiting.remove(&want) {
            f(want, thread, t)?;
            want += 1;
        }
        Ok(())
    })
}

/// `work` on every item, on as many threads as cores, each with its own
/// state `S`; results to `consume` on this thread as they come, with the
/// index of the item and of the thread (a bounded queue between them; one
/// thread's results arrive in the order it produced them).
fn parallel_map<I: Sync, S: Default, T: Send>(
    items: &[I],
    work: impl Fn(&mut S, &I) -> Result<T> + Sync,
    mut consume: impl FnMut(usize, usize, T) -> Result<()>,
) -> Result<()> {
    let threads = tenure_model::cores().min(items.len()).max(1);
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::sync_channel(2 * threads);
    std::thread::scope(|s| -> Result<()> {
        for thread in 0..threads {
            let (tx, next, work) = (tx.clone(), &next, &work);
            s.spawn(move || {
                let mut state = S::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { return };
                    let r = work(&mut state, item);
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
        anyhow::ensure!(done == items.len(), "a file of the events table could not be read");
        Ok(())
    })
}

/// The rollup file `name` of the workspace at `root`, `None` when there is
/// none (no rollups yet: queries scan).
pub(crate) fn open_rollup(root: &Path, name: &str) -> Result<Option<std::fs::File>> {
    match std::fs::File::open(root.join(name)) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context(name.to_string()),
    }
}

/// Bring `rollups/active-days.bin` up to date with the committed `events`
/// files for `UTC` and the workspace's time zone: keep valid entries, scan
/// new files, drop entries of files no longer in the manifest. Returns the
/// number of files scanned. Call after a commit that added events.
pub fn refresh(ws: &Workspace) -> Result<usize> {
    refresh_with(ws, &|_, _, _| {})
}

/// How a refresh reports its scans as they go: what it scans, how many
/// files or days are done, of how many (a scan from nothing takes a minute
/// at 100 M events).
pub type Progress<'a> = &'a dyn Fn(&str, usize, usize);

/// [`refresh`], reporting each file or day scanned to `progress`.
///
/// Kept entries' sets are copied as they are, not decoded; the counts are
/// recomputed only from the first day a new or dropped file has (with the
/// 29 days before it, which the windows need), the days before keep theirs:
/// an import of the latest day decodes a month of sets, not the history.
pub fn refresh_with(ws: &Workspace, progress: Progress) -> Result<usize> {
    let tzname = &ws.settings().workspace.timezone;
    let tz = TimeZone::get(tzname).with_context(|| format!("workspace.timezone {tzname:?}"))?;
    let mut zones = vec![("UTC".to_string(), TimeZone::UTC)];
    if zone_key(&tz, tzname) != "UTC" {
        zones.push((zone_key(&tz, tzname), tz.clone()));
    }
    let root = ws.root();
    let files = event_files(ws);
    let rows: HashMap<&str, u64> = files.iter().map(|(p, r)| (p.as_str(), *r)).collect();
    // An unreadable rollup is rebuilt from the data.
    let old = RollupFile::open(root).ok().flatten();
    // Any zone of the old file not kept, or any entry dropped, changes it.
    let mut changed = old.as_ref().is_none_or(|f| f.zones().any(|z| !zones.iter().any(|(name, _)| name == z)));
    let mut plans = Vec::new();
    for (name, _) in &zones {
        let metas = old.as_ref().and_then(|f| f.files(name).ok().flatten()).unwrap_or_default();
        let by_path: HashMap<&str, usize> = metas.iter().enumerate().map(|(i, m)| (m.path.as_str(), i)).collect();
        let valid = |i: &usize| rows.get(metas[*i].path.as_str()).is_some_and(|&r| metas[*i].matches(root, r));
        let kept: Vec<Option<usize>> =
            files.iter().map(|(path, _)| by_path.get(path.as_str()).copied().filter(valid)).collect();
        let still = kept.iter().flatten().count();
        changed |= still != metas.len() || still != files.len();
        plans.push((metas, kept));
    }
    if !changed {
        crate::session_rollup::refresh(ws, progress)?;
        return Ok(0);
    }
    let (mut users, mut accounts) = match &old {
        Some(f) => {
            (Interner::from_names(f.names(ActorKind::User)?), Interner::from_names(f.names(ActorKind::Account)?))
        }
        None => (Interner::default(), Interner::default()),
    };
    let mut zones_out = Vec::new();
    let mut scanned = 0;
    for ((name, tz), (metas, kept)) in zones.into_iter().zip(plans) {
        let missing: Vec<usize> = (0..files.len()).filter(|&i| kept[i].is_none()).collect();
        let paths: Vec<PathBuf> = missing.iter().map(|&i| root.join(&files[i].0)).collect();
        let mut fresh: HashMap<usize, (FileMeta, DaySets)> = HashMap::with_capacity(missing.len());
        let what = format!("active days ({name})");
        if !paths.is_empty() {
            progress(&what, 0, paths.len());
        }
        scan_files(&paths, &tz, &ActiveEvent::AnyTrack, None, |j, map, f| {
            progress(&what, j + 1, paths.len());
            map.learn(&f, &mut users, &mut accounts);
            let sets = DaySets {
                span: f.sets.span,
                users: map.remap(&f, ActorKind::User),
                accounts: map.remap(&f, ActorKind::Account),
            };
            let (path, rows) = &files[missing[j]];
            let bytes = fs_err::metadata(root.join(path))?.len();
            fresh.insert(missing[j], (FileMeta { path: path.clone(), rows: *rows, bytes, span: sets.span }, sets));
            Ok(())
        })?;
        scanned += missing.len();
        // The first day whose counts may change: the first of a new or a dropped file.
        let used: std::collections::HashSet<usize> = kept.iter().flatten().copied().collect();
        let dropped = metas.iter().enumerate().filter(|(i, _)| !used.contains(i)).filter_map(|(_, m)| m.span);
        let from = fresh.values().filter_map(|(m, _)| m.span).chain(dropped).map(|(lo, _)| lo).min();
        let entries: Vec<Entry> = kept
            .iter()
            .enumerate()
            .map(|(i, k)| match k {
                Some(k) => Entry::Kept(*k),
                None => Entry::Fresh(fresh.remove(&i).expect("a scanned file")),
            })
            .collect();
        let old_zone = old.as_ref().filter(|_| !metas.is_empty()).map(|f| (f, name.as_str(), &metas[..]));
        zones_out.push(zone_sections(&name, old_zone, entries, from, [users.len(), accounts.len()])?);
    }
    let mut sections: Vec<(String, Vec<u8>)> = zones_out.into_iter().flatten().collect();
    for (kind, names) in [("user", users.names()), ("account", accounts.names())] {
        let mut d = Vec::new();
        for n in names {
            put_bytes(&mut d, n.as_bytes());
        }
        sections.push((format!("names/{kind}"), d));
    }
    let path = root.join(FILE);
    fs_err::create_dir_all(path.parent().expect("a directory"))?;
    tenure_store::manifest::write_atomic(&path, encode([users.len(), accounts.len()], &sections))?;
    crate::session_rollup::refresh(ws, progress)?;
    Ok(scanned)
}

/// One events file's entry in a refreshed zone: the old file's (by index) or
/// just scanned.
enum Entry {
    Kept(usize),
    Fresh((FileMeta, DaySets)),
}

/// The sections of one zone: its files, the sets of each kind, and the
/// DAU/WAU/MAU of every day over all of them (`counts`: actors per kind).
/// Kept entries come from `old` (the old file, the zone, its entries): their
/// sets are copied undecoded, and the old counts of the days before `from`
/// (the first day a new or dropped file has) are kept when there are any.
fn zone_sections(
    zone: &str,
    old: Option<(&RollupFile, &str, &[FileMeta])>,
    entries: Vec<Entry>,
    from: Option<i32>,
    counts: [usize; 2],
) -> Result<Vec<(String, Vec<u8>)>> {
    fn meta<'a>(e: &'a Entry, old: &'a [FileMeta]) -> &'a FileMeta {
        match e {
            Entry::Kept(i) => &old[*i],
            Entry::Fresh((m, _)) => m,
        }
    }
    let old_metas = old.map_or(&[][..], |o| o.2);
    let meta = |e| meta(e, old_metas);
    let mut files = Vec::new();
    put_u32(&mut files, entries.len() as u32);
    for m in entries.iter().map(meta) {
        put_bytes(&mut files, m.path.as_bytes());
        files.extend_from_slice(&m.rows.to_le_bytes());
        files.extend_from_slice(&m.bytes.to_le_bytes());
        let (lo, hi) = m.span.unwrap_or((1, 0));
        files.extend_from_slice(&lo.to_le_bytes());
        files.extend_from_slice(&hi.to_le_bytes());
    }
    let span = entries.iter().filter_map(|e| meta(e).span).reduce(|(a, b), (x, y)| (a.min(x), b.max(y)));
    let mut out = vec![(format!("files/{zone}"), files)];
    for (k, kind) in KINDS.into_iter().enumerate() {
        let key = kind_key(kind);
        // The old sets, each entry's body, and the old counts.
        let (bodies, old_counts) = match old {
            Some((f, zone, metas)) => {
                let raw = f.section(&format!("sets/{zone}/{key}"))?.context("a zone without its sets")?;
                let mut r = Reader(&raw);
                let bodies: Vec<Vec<u8>> = metas.iter().map(|_| Ok(r.bytes()?.to_vec())).collect::<Result<_>>()?;
                let counts = f.section(&format!("counts/{zone}/{key}"))?.map(|c| decode_counts(&c)).transpose()?;
                (bodies, counts.map(|c| (c, f.count(kind))))
            }
            None => (Vec::new(), None),
        };
        // Days from `keep_until` on are counted again; the windows need the
        // 29 days before. Without old counts, or when the first day moved, all.
        let keep_until = match (&old_counts, from, span) {
            (Some((c, _)), Some(from), Some((lo, _))) if c.first_day == lo && from > lo => from,
            (Some((c, _)), None, Some((lo, _))) if c.first_day == lo => i32::MAX,
            _ => i32::MIN,
        };
        let mut sets = Vec::new();
        let mut builder = DailyBuilder::default();
        for e in &entries {
            match e {
                Entry::Kept(i) => {
                    put_bytes(&mut sets, &bodies[*i]);
                    let m = meta(e);
                    if m.span.is_some_and(|(_, hi)| hi.saturating_add(29) >= keep_until) {
                        let old_actors = old_counts.as_ref().map_or(0, |c| c.1);
                        builder.add_owned(m.span, decode_sets(&bodies[*i], old_actors, m.span)?);
                    }
                }
                Entry::Fresh((m, s)) => {
                    let days = [&s.users, &s.accounts][k];
                    put_bytes(&mut sets, &encode_sets(days));
                    builder.add_owned(m.span, days.clone());
                }
            }
        }
        let c = match span {
            None => DayCounts::of(&builder.finish(kind, counts[k])),
            Some((lo, hi)) => {
                // As `DayCounts::of` over every set: every day of the span and the 29 after.
                let daily = builder.finish(kind, counts[k]);
                let old = old_counts.map(|c| c.0).unwrap_or_default();
                let split = keep_until.clamp(lo, hi + 30);
                // No one is active after the old data's last 29 days: zeros.
                let mut days: Vec<[u32; 3]> = old.days.iter().copied().take((split - lo) as usize).collect();
                days.resize((split - lo) as usize, [0; 3]);
                let recount = active_days(&daily, split, hi + 30, false);
                days.extend(recount.iter().map(|d| [d.dau, d.wau, d.mau].map(|n| n as u32)));
                DayCounts { first_day: lo, days }
            }
        };
        let mut w = Vec::with_capacity(8 + 12 * c.days.len());
        w.extend_from_slice(&c.first_day.to_le_bytes());
        put_u32(&mut w, c.days.len() as u32);
        for day in &c.days {
            day.iter().for_each(|&n| put_u32(&mut w, n));
        }
        out.push((format!("sets/{zone}/{key}"), sets));
        out.push((format!("counts/{zone}/{key}"), w));
    }
    Ok(out)
}

fn kind_key(kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::User => "user",
        ActorKind::Account => "account",
    }
}

/// One data file as an entry records it: the rule of [`FileMeta::matches`].
struct FileMeta {
    path: String,
    rows: u64,
    bytes: u64,
    /// First and last local day of any event of the file.
    span: Option<(i32, i32)>,
}

impl FileMeta {
    /// Still describes the committed file: same rows, same size on disk.
    fn matches(&self, root: &Path, rows: u64) -> bool {
        self.rows == rows && std::fs::metadata(root.join(&self.path)).is_ok_and(|m| m.len() == self.bytes)
    }
}

/// An open rollup file: its table of contents, sections read on demand.
struct RollupFile {
    file: std::fs::File,
    len: u64,
    /// Actors per kind (the dictionaries' sizes).
    counts: [usize; 2],
    toc: HashMap<String, (u64, u64)>,
}

impl RollupFile {
    /// `Ok(None)` when there are no rollups; an error when the file is not
    /// one of this version or is damaged (callers then do without).
    fn open(root: &Path) -> Result<Option<RollupFile>> {
        let Some(file) = open_rollup(root, FILE)? else { return Ok(None) };
        let len = file.metadata().context(FILE)?.len();
        let head_len = MAGIC.len() as u64 + 16;
        let mut f = RollupFile { file, len, counts: [0, 0], toc: HashMap::new() };
        let head = f.read_at(0, head_len).with_context(|| format!("{FILE} is damaged"))?;
        anyhow::ensure!(head.starts_with(MAGIC), "{FILE} is not a rollup file of this version");
        let mut r = Reader(&head[MAGIC.len()..]);
        f.counts = [r.u32()? as usize, r.u32()? as usize];
        let toc_len = r.u64()?;
        let toc = f.read_at(head_len, toc_len).with_context(|| format!("{FILE} is damaged"))?;
        let mut r = Reader(&toc);
        for _ in 0..r.u32()? {
            let name = std::str::from_utf8(r.bytes()?)?.to_string();
            let (offset, n) = (r.u64()?, r.u64()?);
            anyhow::ensure!(offset.checked_add(n).is_some_and(|end| end <= len), "{FILE} is damaged: {name}");
            f.toc.insert(name, (offset, n));
        }
        Ok(Some(f))
    }

    fn read_at(&self, offset: u64, n: u64) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        anyhow::ensure!(offset.checked_add(n).is_some_and(|end| end <= self.len), "truncated");
        let mut buf = vec![0; usize::try_from(n)?];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    /// A section's bytes (`None`: no such section).
    fn section(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self.toc.get(name) {
            Some(&(offset, n)) => self.read_at(offset, n).map(Some).with_context(|| format!("{FILE}: {name}")),
            None => Ok(None),
        }
    }

    fn count(&self, kind: ActorKind) -> usize {
        self.counts[kind as usize]
    }

    /// The zones the file has entries for.
    fn zones(&self) -> impl Iterator<Item = &str> {
        self.toc.keys().filter_map(|k| k.strip_prefix("files/"))
    }

    fn names(&self, kind: ActorKind) -> Result<Vec<String>> {
        let raw = self.section(&format!("names/{}", kind_key(kind)))?.context("no names")?;
        let mut r = Reader(&raw);
        let names: Vec<String> =
            (0..self.count(kind)).map(|_| Ok(String::from_utf8(r.bytes()?.to_vec())?)).collect::<Result<_>>()?;
        Ok(names)
    }

    /// The entries of one zone, in the order of its sets (`None`: no such zone).
    fn files(&self, zone: &str) -> Result<Option<Vec<FileMeta>>> {
        let Some(raw) = self.section(&format!("files/{zone}"))? else { return Ok(None) };
        let mut r = Reader(&raw);
        let n = r.u32()?;
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let path = std::str::from_utf8(r.bytes()?)?.to_string();
            let (rows, bytes) = (r.u64()?, r.u64()?);
            let (lo, hi) = (r.u32()? as i32, r.u32()? as i32);
            out.push(FileMeta { path, rows, bytes, span: (lo <= hi).then_some((lo, hi)) });
        }
        Ok(Some(out))
    }
}

/// The file: magic, the actor counts, the table of contents, the sections.
fn encode(counts: [usize; 2], sections: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut toc = Vec::new();
    put_u32(&mut toc, sections.len() as u32);
    let mut offset = (MAGIC.len() + 16) as u64;
    let toc_len: u64 = 4 + sections.iter().map(|(name, _)| 8 + name.len() as u64 + 16).sum::<u64>();
    offset += toc_len;
    for (name, body) in sections {
        put_bytes(&mut toc, name.as_bytes());
        toc.extend_from_slice(&offset.to_le_bytes());
        toc.extend_from_slice(&(body.len() as u64).to_le_bytes());
        offset += body.len() as u64;
    }
    debug_assert_eq!(toc.len() as u64, toc_len);
    let mut w = Vec::with_capacity(offset as usize);
    w.extend_from_slice(MAGIC);
    counts.iter().for_each(|&n| put_u32(&mut w, n as u32));
    w.extend_from_slice(&toc_len.to_le_bytes());
    w.extend_from_slice(&toc);
    for (_, body) in sections {
        w.extend_from_slice(body);
    }
    w
}

/// One file's days of one kind: day, count, sorted ids as varint gaps (a few
/// bytes per actor-day).
fn encode_sets(days: &[(i32, Vec<u32>)]) -> Vec<u8> {
    let mut b = Vec::new();
    put_u32(&mut b, days.len() as u32);
    for (day, ids) in days {
        b.extend_from_slice(&day.to_le_bytes());
        put_u32(&mut b, ids.len() as u32);
        let mut prev = 0u32;
        for &a in ids {
            put_varint(&mut b, a - prev);
            prev = a;
        }
    }
    b
}

/// [`encode_sets`] back; ids must index a dictionary of `actors` names and
/// days be inside the file's `span` (a damaged file must not panic a reader).
fn decode_sets(raw: &[u8], actors: usize, span: Option<(i32, i32)>) -> Result<Vec<(i32, Vec<u32>)>> {
    let mut b = Reader(raw);
    let n = b.u32()?;
    let mut days = Vec::with_capacity(n.min(1 << 16) as usize);
    for _ in 0..n {
        let day = b.u32()? as i32;
        let len = b.u32()? as usize;
        anyhow::ensure!(len <= b.0.len(), "truncated");
        let mut ids = Vec::with_capacity(len);
        let mut prev = 0u32;
        for _ in 0..len {
            prev = prev.checked_add(b.varint()?).context("id overflow")?;
            ids.push(prev);
        }
        anyhow::ensure!(ids.last().is_none_or(|&a| (a as usize) < actors), "an id beyond its dictionary");
        anyhow::ensure!(span.is_some_and(|(lo, hi)| (lo..=hi).contains(&day)), "a day outside its file's span");
        days.push((day, ids));
    }
    Ok(days)
}

fn decode_counts(raw: &[u8]) -> Result<DayCounts> {
    let mut r = Reader(raw);
    let first_day = r.u32()? as i32;
    let n = r.u32()? as usize;
    anyhow::ensure!(n * 12 == r.0.len(), "counts of the wrong size");
    let days = (0..n).map(|_| Ok([r.u32()?, r.u32()?, r.u32()?])).collect::<Result<_>>()?;
    Ok(DayCounts { first_day, days })
}

pub(crate) fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
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

pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        anyhow::ensure!(self.0.len() >= n, "truncated");
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
    use std::sync::Arc;

    /// (type, user, anonymous id, RFC 3339 instant).
    type Row = (&'static str, Option<&'static str>, Option<&'static str>, &'static str);

    /// An events file of `rows`.
    fn events_file(path: &Path, rows: &[Row]) {
        let strings =
            |f: fn(&Row) -> Option<&'static str>| Arc::new(rows.iter().map(f).collect::<StringArray>()) as ArrayRef;
        let ts: Vec<i64> = rows.iter().map(|r| r.3.parse::<jiff::Timestamp>().unwrap().as_microsecond()).collect();
        let batch = RecordBatch::try_from_iter(vec![
            ("type", strings(|r| Some(r.0))),
            ("user_id", strings(|r| r.1)),
            ("anonymous_id", strings(|r| r.2)),
            ("timestamp", Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")) as ArrayRef),
            ("group_id", strings(|r| r.1.map(|_| "acme"))),
        ])
        .unwrap();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    #[test]
    fn the_scan_leaves_out_only_columns_the_statistics_answer_for() {
        let dir = tempfile::tempdir().unwrap();
        let one_day = dir.path().join("a.parquet");
        events_file(
            &one_day,
            &[
                ("track", Some("u1"), None, "2024-03-30T00:00:00Z"),
                ("page", Some("u2"), None, "2024-03-30T12:00:00Z"),
                ("track", Some("u2"), None, "2024-03-30T23:30:00Z"), // the 31st in Paris
            ],
        );
        let two_days = dir.path().join("b.parquet");
        events_file(
            &two_days,
            &[
                ("track", None, Some("anon"), "2024-03-30T10:00:00Z"),
                ("track", Some("u3"), None, "2024-03-31T00:00:00Z"),
            ],
        );
        let d30 = tenure_metrics::engagement::events::date_to_day(jiff::civil::date(2024, 3, 30));
        let columns = daily_columns_for(&ActiveEvent::AnyTrack, None);
        let cases = [
            (&one_day, "UTC", Skipped { day: Some(d30), anonymous_id: true }),
            (&one_day, "Europe/Paris", Skipped { day: None, anonymous_id: true }),
            (&two_days, "UTC", Skipped { day: None, anonymous_id: false }),
        ];
        for (path, zone, want) in cases {
            let tz = TimeZone::get(zone).unwrap();
            let (batches, skipped) = read_for_scan(path, columns, &mut LocalDays::new(tz.clone())).unwrap();
            assert_eq!(skipped, want, "{zone} {}", path.display());
            assert_eq!(batches[0].column_by_name("timestamp").is_none(), want.day.is_some());
            assert_eq!(batches[0].column_by_name("anonymous_id").is_none(), want.anonymous_id);
            // The same sets as a scan of every column.
            let all = tenure_store::read_parquet_dictionary(path, columns, DICTIONARY_COLUMNS).unwrap();
            let scan = |batches: &[RecordBatch], skipped: &Skipped| {
                let mut ids = ScanIds::default();
                let mut days = LocalDays::new(tz.clone());
                FileDays::scan_read(batches, &mut days, &ActiveEvent::AnyTrack, &mut ids, None, skipped).unwrap()
            };
            let (got, full) = (scan(&batches, &skipped), scan(&all, &Skipped::default()));
            assert_eq!((&got.sets, &got.new_users), (&full.sets, &full.new_users));
            assert!(!full.sets.users.is_empty());
        }
    }

    #[test]
    fn sections_read_back_and_damage_is_an_error_not_a_wrong_answer() {
        let dir = tempfile::tempdir().unwrap();
        let days = vec![(19_000, vec![0, 3, 200, 70_000]), (19_001, vec![]), (19_003, vec![5])];
        let sets = encode_sets(&days);
        let span = Some((19_000, 19_003));
        assert_eq!(decode_sets(&sets, 70_001, span).unwrap(), days);
        assert!(decode_sets(&sets, 70_000, span).is_err(), "an id beyond the dictionary");
        assert!(decode_sets(&sets, 70_001, Some((19_000, 19_002))).is_err(), "a day beyond the span");
        assert!(decode_sets(&sets[..sets.len() - 1], 70_001, span).is_err(), "truncated");

        let counts = DayCounts { first_day: 19_000, days: vec![[1, 2, 3], [0, 2, 3]] };
        let mut c = Vec::new();
        c.extend_from_slice(&counts.first_day.to_le_bytes());
        put_u32(&mut c, 2);
        counts.days.iter().flatten().for_each(|&n| put_u32(&mut c, n));
        assert_eq!(decode_counts(&c).unwrap(), counts);
        assert!(decode_counts(&c[..c.len() - 4]).is_err());

        let sections = vec![("sets/UTC/user".to_string(), sets.clone()), ("counts/UTC/user".to_string(), c)];
        let path = dir.path().join(FILE);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        let bytes = encode([70_001, 0], &sections);
        std::fs::write(&path, &bytes).unwrap();
        let f = RollupFile::open(dir.path()).unwrap().unwrap();
        assert_eq!((f.count(ActorKind::User), f.count(ActorKind::Account)), (70_001, 0));
        assert_eq!(f.section("sets/UTC/user").unwrap().unwrap(), sets);
        assert_eq!(f.section("sets/UTC/account").unwrap(), None);
        // Cut anywhere, or of another version: an error, so the reader scans instead.
        for cut in [10, MAGIC.len() + 20, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(RollupFile::open(dir.path()).is_err(), "cut at {cut}");
        }
        let mut v1 = bytes.clone();
        v1[MAGIC.len() - 2] = b'1';
        std::fs::write(&path, &v1).unwrap();
        assert!(RollupFile::open(dir.path()).is_err());
        std::fs::remove_file(&path).unwrap();
        assert!(RollupFile::open(dir.path()).unwrap().is_none());
    }
}
