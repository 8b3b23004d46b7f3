//! Per-user session summaries per partition of the `events` table (the files
//! of one UTC day), maintained at import and ingest, so that `tenure metrics
//! sessions` over the whole history costs O(actor-days) instead of a scan of
//! every event.
//!
//! `rollups/sessions.bin` holds, for the default rules (30-minute timeout,
//! 24-hour maximum length), for each partition: its files (path, rows, size),
//! the first and last instant of its events, the totals of its sessions split
//! afresh (as if no session came in from the day before), and per actor only
//! what joining partitions needs: its first session and, if it has more than
//! one, its last (start, end, single event or not). Sessions cross midnight,
//! so the reader joins an actor's open session to its first session of the
//! next partition when the gap is within the timeout ([`SessionStitch`]).
//! When the 24-hour cut would fall inside a joined session (which event it
//! cuts needs the events), or partitions overlap in time, the rollup gives
//! no answer and the caller scans: slower, never wrong.
//!
//! Consistency with the data: an entry is used only if the manifest names the
//! same files for its day with the same rows and the files on disk have the
//! same sizes; any other partition (new day, ingested file) is scanned and
//! joined in its place. Actor ids index a dictionary of names kept in the same
//! file, appended to and never renumbered, so kept entries stay valid.
//! `TENURE_NO_ROLLUPS=1` makes the reader ignore the file.
//!
//! Layout: magic, rules, offsets of the index and of the names; the
//! partitions' records; the index (per partition: day, files, offset and
//! length of its record); the names. A reader reads the index, then one
//! record at a time (memory: one partition, plus one open session per actor).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use jiff::tz::TimeZone;
use tenure_metrics::engagement::sessions::{
    ActorEdges, Edge, PartitionBuilder, PartitionSessions, SessionStitch, local_day_span,
};
use tenure_metrics::engagement::{Interner, RecordBatch, SessionRules, SessionSummary};
use tenure_store::Workspace;

use crate::rollup::{Progress, Reader, each_file, enabled, parallel_in_order, put_bytes, put_u32, read_dictionary};

const FILE: &str = "rollups/sessions.bin";
const MAGIC: &[u8] = b"TENURE-SESSIONS-1\n";
/// The columns a session needs: the actor and the instant.
pub const COLUMNS: &[&str] = &["user_id", "anonymous_id", "timestamp"];
/// Edge flags, below the actor-id gap.
const HAS_LAST: u64 = 1;
const FIRST_SINGLE: u64 = 2;
const LAST_SINGLE: u64 = 4;

/// One partition of the `events` table: the files of one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub day: String,
    /// (path relative to the workspace, rows), by path.
    pub files: Vec<(String, u64)>,
}

impl Partition {
    pub fn paths(&self, root: &Path) -> impl Iterator<Item = PathBuf> {
        self.files.iter().map(move |f| root.join(&f.0))
    }
}

/// The partitions of the committed `events` table in day order; `None` when
/// a file has no day (then nothing says its events come after the day before).
pub fn partitions(ws: &Workspace) -> Option<Vec<Partition>> {
    let Some(t) = ws.manifest().tables.get("events") else { return Some(Vec::new()) };
    let mut files: Vec<(&str, &str, u64)> =
        t.files.iter().map(|f| Some((f.day.as_deref()?, f.path.as_str(), f.rows))).collect::<Option<_>>()?;
    files.sort_unstable();
    let mut out: Vec<Partition> = Vec::new();
    for (day, path, rows) in files {
        match out.last_mut() {
            Some(p) if p.day == day => p.files.push((path.to_string(), rows)),
            _ => out.push(Partition { day: day.to_string(), files: vec![(path.to_string(), rows)] }),
        }
    }
    Some(out)
}

/// Session totals and the first and last local day of any event with an actor.
pub type Totals = (SessionSummary, Option<(i32, i32)>);

/// The session totals and the first and last local day in `tz` of any event
/// with an actor, from the rollup (scanning the partitions it lacks); `None`
/// when it cannot answer: other rules, no or another rollup, files without a
/// day, or events the edges cannot tell (see the module's text).
pub fn totals(ws: &Workspace, tz: &TimeZone, rules: SessionRules) -> Result<Option<Totals>> {
    if !enabled() {
        return Ok(None);
    }
    let Some(parts) = partitions(ws) else { return Ok(None) };
    let Some(mut file) = RollupFile::open(ws.root())? else { return Ok(None) };
    if file.rules != rules {
        return Ok(None);
    }
    let index = file.index()?;
    let entries: Vec<Option<&IndexEntry>> =
        parts.iter().map(|p| index.get(&p.day).filter(|e| e.matches(ws.root(), p))).collect();
    // The partitions the rollup lacks, scanned first (interned with its
    // names, so ids agree), then joined in their place.
    let stale: Vec<Partition> =
        parts.iter().zip(&entries).filter(|(_, e)| e.is_none()).map(|(p, _)| p.clone()).collect();
    let mut scanned: HashMap<String, PartitionSessions> = HashMap::new();
    let mut names = Interner::default();
    if !stale.is_empty() {
        names = Interner::from_names(file.names()?);
        scan_partitions(ws.root(), &stale, rules, &mut names, |i, p| {
            scanned.insert(stale[i].day.clone(), p);
            Ok(())
        })?;
    }
    let actors = (file.actors as usize).max(names.len());
    let mut stitch = SessionStitch::new(rules);
    let mut buf = Vec::new();
    for (p, entry) in parts.iter().zip(entries) {
        let ok = match entry {
            Some(e) => {
                file.record(e, &mut buf)?;
                decode_record(&buf, actors, &mut stitch)?
            }
            None => stitch.add(&scanned[&p.day]),
        };
        if !ok {
            return Ok(None);
        }
    }
    let (summary, span_us) = stitch.finish();
    Ok(match span_us {
        None => Some((summary, None)),
        Some(s) => local_day_span(tz, s).map(|days| (summary, Some(days))),
    })
}

/// Split the files of `parts` into sessions, handing each partition's
/// sessions (actors interned in `names`) and its index to `f`, in order.
/// Partitions are split on every core, each with a dictionary of its own
/// actors in the order it met them; those are interned in `names` in
/// partition order, which gives every actor the id one thread interning
/// every row in order would give it (the rollup's bytes do not depend on
/// the threads).
pub fn scan_partitions(
    root: &Path,
    parts: &[Partition],
    rules: SessionRules,
    names: &mut Interner,
    mut f: impl FnMut(usize, PartitionSessions) -> Result<()>,
) -> Result<()> {
    let mut ids = Vec::new();
    parallel_in_order(
        parts,
        |builder: &mut Option<PartitionBuilder>, p| {
            let builder = builder.get_or_insert_with(|| PartitionBuilder::new(rules));
            let mut actors = Interner::default();
            for path in p.paths(root) {
                let context = || format!("reading {}", path.display());
                for b in &read_dictionary(&path, COLUMNS).with_context(context)? {
                    builder.push_batch(b, &mut actors).with_context(context)?;
                }
            }
            Ok((builder.finish_partition(), actors.into_names()))
        },
        |i, _, (mut p, actors)| {
            ids.clear();
            names.intern_all(actors.iter().map(String::as_str), &mut ids);
            for e in &mut p.edges {
                e.actor = ids[e.actor as usize];
            }
            p.edges.sort_unstable_by_key(|e| e.actor);
            f(i, p)
        },
    )
}

/// The session columns of every file of `parts` in order (decoded on every
/// core), with the partition's index after its last file.
pub fn each_partition_file(
    root: &Path,
    parts: &[Partition],
    mut f: impl FnMut(&Path, Vec<RecordBatch>, Option<usize>) -> Result<()>,
) -> Result<()> {
    let paths: Vec<PathBuf> = parts.iter().flat_map(|p| p.paths(root)).collect();
    let owner: Vec<usize> = parts.iter().enumerate().flat_map(|(i, p)| std::iter::repeat_n(i, p.files.len())).collect();
    let mut next = 0;
    each_file(&paths, COLUMNS, |path, batches| {
        next += 1;
        let end = (owner.get(next) != Some(&owner[next - 1])).then_some(owner[next - 1]);
        f(path, batches, end)
    })
}

/// Bring `rollups/sessions.bin` up to date with the committed `events`
/// files: keep the records of unchanged partitions, scan new or changed ones,
/// drop those of days no longer there. Returns the number of partitions
/// scanned. Called by [`crate::rollup::refresh`] after a commit.
///
/// The new file is written as it is made, records in day order: kept ones
/// copied from the old file (by the kernel, not through memory), scanned
/// ones as each partition is split; the index and the names last. It
/// replaces the old one by a rename, so a reader sees one or the other.
pub fn refresh(ws: &Workspace, progress: Progress) -> Result<usize> {
    let Some(parts) = partitions(ws) else { return Ok(0) };
    let rules = SessionRules::default();
    let root = ws.root();
    // An unreadable or other-rules rollup is rebuilt from the data.
    let old = RollupFile::open(root).ok().flatten().filter(|f| f.rules == rules).and_then(|mut f| {
        let index = f.index().ok()?;
        let names = f.names().ok()?;
        Some((f, index, names))
    });
    let (mut old, index, old_names) = match old {
        Some((f, index, names)) => (Some(f), index, names),
        None => (None, HashMap::new(), Vec::new()),
    };
    // Per partition, its record in the old file if that is still valid.
    let kept: Vec<Option<(u64, u64)>> =
        parts.iter().map(|p| index.get(&p.day).filter(|e| e.matches(root, p)).map(|e| (e.offset, e.len))).collect();
    let stale: Vec<usize> = (0..parts.len()).filter(|&i| kept[i].is_none()).collect();
    if old.is_some() && stale.is_empty() && index.len() == parts.len() {
        return Ok(0);
    }
    let path = root.join(FILE);
    fs_err::create_dir_all(path.parent().expect("a directory"))?;
    let mut w = Writer::create(&path, rules)?;
    let written = (|| {
        let mut at: Vec<(u64, u64)> = Vec::with_capacity(parts.len());
        let mut copy_kept = |w: &mut Writer, at: &mut Vec<(u64, u64)>, upto: usize| -> Result<()> {
            let from = at.len();
            if from == upto {
                return Ok(());
            }
            let runs: Vec<(u64, u64)> = kept[from..upto].iter().map(|k| k.expect("a kept record")).collect();
            let file = old.as_mut().map(|f| f.file.get_mut()).context("a kept record without its file")?;
            at.extend(w.copy(file, &runs)?);
            Ok(())
        };
        let stale_parts: Vec<Partition> = stale.iter().map(|&i| parts[i].clone()).collect();
        let mut names = old_names;
        if !stale.is_empty() {
            let mut actors = Interner::from_names(names);
            progress("sessions", 0, stale.len());
            scan_partitions(root, &stale_parts, rules, &mut actors, |j, p| {
                copy_kept(&mut w, &mut at, stale[j])?;
                at.push(w.record(&encode_record(&p))?);
                progress("sessions", j + 1, stale.len());
                Ok(())
            })?;
            names = actors.into_names();
        }
        copy_kept(&mut w, &mut at, parts.len())?;
        let index: Vec<(&Partition, (u64, u64))> = parts.iter().zip(at).collect();
        w.finish(root, &index, &names)
    })();
    if written.is_err() {
        // Best effort: the next refresh would overwrite it anyway.
        let _ = std::fs::remove_file(tmp_path(&path));
    }
    written?;
    Ok(stale.len())
}

/// One partition's entry in the index.
struct IndexEntry {
    /// (path, rows, size on disk).
    files: Vec<(String, u64, u64)>,
    offset: u64,
    len: u64,
}

impl IndexEntry {
    /// Still describes the partition: the same files, rows and sizes on disk.
    fn matches(&self, root: &Path, p: &Partition) -> bool {
        self.files.len() == p.files.len()
            && self.files.iter().zip(&p.files).all(|((path, rows, size), (want, want_rows))| {
                path == want && rows == want_rows && std::fs::metadata(root.join(path)).is_ok_and(|m| m.len() == *size)
            })
    }
}

/// The fixed header: magic, rules, where the index and the names start.
const HEADER: usize = MAGIC.len() + 4 * 8;

fn read_header(h: &[u8]) -> Result<(SessionRules, u64, u64)> {
    let mut r = Reader(h.strip_prefix(MAGIC).context("not a sessions rollup of this version")?);
    let rules = SessionRules { timeout_seconds: r.u64()? as i64, max_length_seconds: r.u64()? as i64 };
    Ok((rules, r.u64()?, r.u64()?))
}

fn read_index(raw: &[u8]) -> Result<Vec<(String, IndexEntry)>> {
    let mut r = Reader(raw);
    (0..r.u32()?)
        .map(|_| {
            let day = std::str::from_utf8(r.bytes()?)?.to_string();
            let files = (0..r.u32()?)
                .map(|_| Ok((std::str::from_utf8(r.bytes()?)?.to_string(), r.u64()?, r.u64()?)))
                .collect::<Result<_>>()?;
            Ok((day, IndexEntry { files, offset: r.u64()?, len: r.u64()? }))
        })
        .collect()
}

fn read_names(r: &mut Reader) -> Result<Vec<String>> {
    (0..r.u32()?).map(|_| Ok(String::from_utf8(r.bytes()?.to_vec())?)).collect()
}

/// The rollup file open for reading one record at a time.
struct RollupFile {
    file: std::io::BufReader<std::fs::File>,
    rules: SessionRules,
    index_at: u64,
    names_at: u64,
    actors: u32,
}

impl RollupFile {
    fn open(root: &Path) -> Result<Option<RollupFile>> {
        let Some(f) = crate::rollup::open_rollup(root, FILE)? else { return Ok(None) };
        let mut file = std::io::BufReader::new(f);
        let mut h = [0u8; HEADER];
        file.read_exact(&mut h)?;
        let (rules, index_at, names_at) = read_header(&h)?;
        let mut n = [0u8; 4];
        file.seek(SeekFrom::Start(names_at))?;
        file.read_exact(&mut n)?;
        Ok(Some(RollupFile { file, rules, index_at, names_at, actors: u32::from_le_bytes(n) }))
    }

    fn read_range(&mut self, from: u64, len: u64, buf: &mut Vec<u8>) -> Result<()> {
        buf.resize(usize::try_from(len)?, 0);
        self.file.seek(SeekFrom::Start(from))?;
        self.file.read_exact(buf).with_context(|| format!("{FILE} is truncated"))
    }

    fn index(&mut self) -> Result<HashMap<String, IndexEntry>> {
        let mut raw = Vec::new();
        let len = self.names_at.checked_sub(self.index_at).context("index after names")?;
        self.read_range(self.index_at, len, &mut raw)?;
        let index = read_index(&raw)?;
        // Records lie between the header and the index.
        anyhow::ensure!(
            index.iter().all(|(_, e)| e.offset >= HEADER as u64
                && e.offset.checked_add(e.len).is_some_and(|end| end <= self.index_at)),
            "{FILE} is damaged: a record outside the records"
        );
        Ok(index.into_iter().collect())
    }

    fn names(&mut self) -> Result<Vec<String>> {
        let mut raw = Vec::new();
        self.file.seek(SeekFrom::Start(self.names_at))?;
        self.file.read_to_end(&mut raw)?;
        read_names(&mut Reader(&raw))
    }

    fn record(&mut self, e: &IndexEntry, buf: &mut Vec<u8>) -> Result<()> {
        self.read_range(e.offset, e.len, buf)
    }
}

/// The temporary file a refresh writes before renaming it over `path`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Writes records to the temporary file as they come, then the index and
/// the names, then the offsets into the header; syncs and renames it.
struct Writer {
    out: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    /// Bytes written so far.
    at: u64,
}

impl Writer {
    fn create(path: &Path, rules: SessionRules) -> Result<Writer> {
        let file = fs_err::File::create(tmp_path(path))?.into_parts().0;
        let mut w = Writer { out: std::io::BufWriter::with_capacity(1 << 20, file), path: path.to_path_buf(), at: 0 };
        let mut head = Vec::with_capacity(HEADER);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&rules.timeout_seconds.to_le_bytes());
        head.extend_from_slice(&rules.max_length_seconds.to_le_bytes());
        head.extend_from_slice(&[0; 16]); // the offsets, set by `finish`
        w.write(&head)?;
        Ok(w)
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.out.write_all(b).with_context(|| format!("writing {}", tmp_path(&self.path).display()))?;
        self.at += b.len() as u64;
        Ok(())
    }

    /// Append a record; its offset and length.
    fn record(&mut self, raw: &[u8]) -> Result<(u64, u64)> {
        let at = self.at;
        self.write(raw)?;
        Ok((at, raw.len() as u64))
    }

    /// Append the records at `runs` (offset, length) of the old file; their
    /// new offsets and lengths. Records that follow each other there are
    /// copied in one go.
    fn copy(&mut self, from: &mut std::fs::File, runs: &[(u64, u64)]) -> Result<Vec<(u64, u64)>> {
        let context = || format!("copying {FILE}");
        self.out.flush().with_context(context)?;
        let mut out = Vec::with_capacity(runs.len());
        let mut i = 0;
        while i < runs.len() {
            let (start, mut len) = runs[i];
            let mut j = i + 1;
            while j < runs.len() && runs[j].0 == start + len {
                len += runs[j].1;
                j += 1;
            }
            from.seek(SeekFrom::Start(start)).with_context(context)?;
            let n = std::io::copy(&mut (&mut *from).take(len), self.out.get_mut()).with_context(context)?;
            anyhow::ensure!(n == len, "{FILE} is truncated");
            for &(offset, len) in &runs[i..j] {
                out.push((self.at + offset - start, len));
            }
            self.at += len;
            i = j;
        }
        Ok(out)
    }

    fn finish(mut self, root: &Path, index: &[(&Partition, (u64, u64))], names: &[String]) -> Result<()> {
        let index_at = self.at;
        let mut w = Vec::new();
        put_u32(&mut w, index.len() as u32);
        for (p, (offset, len)) in index {
            put_bytes(&mut w, p.day.as_bytes());
            put_u32(&mut w, p.files.len() as u32);
            for (path, rows) in &p.files {
                put_bytes(&mut w, path.as_bytes());
                w.extend_from_slice(&rows.to_le_bytes());
                w.extend_from_slice(&fs_err::metadata(root.join(path))?.len().to_le_bytes());
            }
            w.extend_from_slice(&offset.to_le_bytes());
            w.extend_from_slice(&len.to_le_bytes());
        }
        self.write(&w)?;
        let names_at = self.at;
        w.clear();
        put_u32(&mut w, names.len() as u32);
        for n in names {
            put_bytes(&mut w, n.as_bytes());
            if w.len() >= 1 << 20 {
                self.write(&w)?;
                w.clear();
            }
        }
        self.write(&w)?;
        let tmp = tmp_path(&self.path);
        let mut file = self.out.into_inner().map_err(|e| e.into_error()).with_context(|| tmp.display().to_string())?;
        file.seek(SeekFrom::Start((MAGIC.len() + 16) as u64))?;
        file.write_all(&index_at.to_le_bytes())?;
        file.write_all(&names_at.to_le_bytes())?;
        file.sync_all().with_context(|| tmp.display().to_string())?;
        drop(file);
        fs_err::rename(&tmp, &self.path)?;
        tenure_store::manifest::sync_dir(self.path.parent().expect("a directory"))?;
        Ok(())
    }
}

/// A partition's record: span, totals, then per actor (ascending ids) the
/// id gap and flags, and the instants as varint differences from the span's
/// start (a few bytes per actor-day).
fn encode_record(p: &PartitionSessions) -> Vec<u8> {
    let mut w = Vec::with_capacity(16 * p.edges.len() + 64);
    let (lo, hi) = p.span_us.unwrap_or((1, 0));
    w.extend_from_slice(&lo.to_le_bytes());
    w.extend_from_slice(&hi.to_le_bytes());
    let s = &p.summary;
    w.extend_from_slice(&s.session_count.to_le_bytes());
    w.extend_from_slice(&s.single_event_sessions.to_le_bytes());
    w.extend_from_slice(&s.total_time_us.to_le_bytes());
    put_u32(&mut w, p.edges.len() as u32);
    let mut prev = 0;
    for a in &p.edges {
        let flags = a.last.map_or(0, |l| HAS_LAST | if l.single { LAST_SINGLE } else { 0 })
            | if a.first.single { FIRST_SINGLE } else { 0 };
        put_varint((u64::from(a.actor - prev) << 3) | flags, &mut w);
        prev = a.actor;
        put_varint((a.first.start_us - lo) as u64, &mut w);
        put_varint((a.first.end_us - a.first.start_us) as u64, &mut w);
        if let Some(l) = a.last {
            put_varint((l.start_us - a.first.end_us) as u64, &mut w);
            put_varint((l.end_us - l.start_us) as u64, &mut w);
        }
    }
    w
}

/// Feed a record to `stitch`; `Ok(false)` when the stitch cannot tell.
/// Damage is an error (ids past the names, instants outside the span, totals
/// smaller than the edges), never a panic or a wrong sum.
fn decode_record(raw: &[u8], actors: usize, stitch: &mut SessionStitch) -> Result<bool> {
    let mut r = Reader(raw);
    let (lo, hi) = (r.u64()? as i64, r.u64()? as i64);
    let summary = SessionSummary {
        session_count: r.u64()?,
        single_event_sessions: r.u64()?,
        total_time_us: i128::from_le_bytes(r.take(16)?.try_into()?),
    };
    let n = r.u32()?;
    let span = (lo <= hi).then_some((lo, hi));
    // Instants within jiff's range: differences of two never overflow.
    let range = jiff::Timestamp::MIN.as_microsecond()..=jiff::Timestamp::MAX.as_microsecond();
    anyhow::ensure!(span.is_some() || n == 0, "edges without a span");
    anyhow::ensure!(span.is_none() || (range.contains(&lo) && range.contains(&hi)), "a span out of range");
    if !stitch.begin(span, &summary) {
        return Ok(false);
    }
    let (mut actor, mut sessions, mut singles) = (0u64, 0u64, 0u64);
    let at = |base: i64, r: &mut Reader| -> Result<i64> {
        let v = i64::try_from(varint(r)?)?;
        base.checked_add(v).filter(|t| *t <= hi).context("an instant outside its partition")
    };
    for k in 0..n {
        let head = varint(&mut r)?;
        anyhow::ensure!(k == 0 || head >> 3 > 0, "actors out of order");
        actor += head >> 3;
        anyhow::ensure!(actor < actors as u64, "an actor id beyond the names");
        let start_us = at(lo, &mut r)?;
        let first = Edge { start_us, end_us: at(start_us, &mut r)?, single: head & FIRST_SINGLE != 0 };
        let last = if head & HAS_LAST != 0 {
            let start_us = at(first.end_us, &mut r)?;
            Some(Edge { start_us, end_us: at(start_us, &mut r)?, single: head & LAST_SINGLE != 0 })
        } else {
            None
        };
        sessions += 1 + last.is_some() as u64;
        singles += first.single as u64 + last.is_some_and(|l| l.single) as u64;
        anyhow::ensure!(
            sessions <= summary.session_count && singles <= summary.single_event_sessions,
            "totals below the edges"
        );
        if !stitch.actor(&ActorEdges { actor: actor as u32, first, last }) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn put_varint(mut v: u64, w: &mut Vec<u8>) {
    while v >= 0x80 {
        w.push(v as u8 | 0x80);
        v >>= 7;
    }
    w.push(v as u8);
}

fn varint(r: &mut Reader) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = r.take(1)?[0];
        v |= u64::from(b & 0x7f).checked_shl(shift).context("varint too long")?;
        if b < 0x80 {
            return Ok(v);
        }
    }
    anyhow::bail!("varint too long")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(start_us: i64, end_us: i64, single: bool) -> Edge {
        Edge { start_us, end_us, single }
    }

    /// Two partitions: actor 3's session crosses into the second, actor 9 has two sessions.
    fn parts() -> [PartitionSessions; 2] {
        let day1 = PartitionSessions {
            span_us: Some((1_000, 90_000)),
            summary: SessionSummary { session_count: 3, single_event_sessions: 1, total_time_us: 5_000 },
            edges: vec![
                ActorEdges { actor: 3, first: edge(2_000, 89_000, false), last: None },
                ActorEdges { actor: 9, first: edge(1_000, 1_000, true), last: Some(edge(5_000, 10_000, false)) },
            ],
        };
        let day2 = PartitionSessions {
            span_us: Some((100_000, 200_000)),
            summary: SessionSummary { session_count: 1, single_event_sessions: 1, total_time_us: 0 },
            edges: vec![ActorEdges { actor: 3, first: edge(100_000, 100_000, true), last: None }],
        };
        [day1, day2]
    }

    #[test]
    fn a_record_decodes_to_what_was_encoded() {
        let rules = SessionRules { timeout_seconds: 1, max_length_seconds: 1 };
        let (mut direct, mut decoded) = (SessionStitch::new(rules), SessionStitch::new(rules));
        for p in parts() {
            assert!(direct.add(&p));
            assert!(decode_record(&encode_record(&p), 10, &mut decoded).unwrap());
        }
        // Actor 3 joins across (gap 11,000 us <= 1 s): 3 sessions, 1 single, 5,000 + 11,000 us.
        let want = SessionSummary { session_count: 3, single_event_sessions: 1, total_time_us: 16_000 };
        assert_eq!(direct.finish(), (want.clone(), Some((1_000, 200_000))));
        assert_eq!(decoded.finish().0, want);
    }

    #[test]
    fn kept_records_are_copied_in_runs_to_where_the_index_will_say() {
        let dir = tempfile::tempdir().unwrap();
        let rules = SessionRules::default();
        let old_path = dir.path().join("old.bin");
        let mut w = Writer::create(&old_path, rules).unwrap();
        let records: Vec<Vec<u8>> = (0..4u8).map(|k| vec![k; 10 + k as usize]).collect();
        let at: Vec<(u64, u64)> = records.iter().map(|r| w.record(r).unwrap()).collect();
        w.finish(dir.path(), &[], &[]).unwrap();

        let mut old = std::fs::File::open(&old_path).unwrap();
        let new_path = dir.path().join("new.bin");
        let mut w = Writer::create(&new_path, rules).unwrap();
        let fresh = w.record(b"fresh").unwrap();
        // Records 0, 1 and 3 kept (two runs: 2 was dropped).
        let copied = w.copy(&mut old, &[at[0], at[1], at[3]]).unwrap();
        w.finish(dir.path(), &[], &[]).unwrap();
        let bytes = std::fs::read(&new_path).unwrap();
        let slice = |(o, n): (u64, u64)| bytes[o as usize..(o + n) as usize].to_vec();
        assert_eq!(slice(fresh), b"fresh");
        let got: Vec<Vec<u8>> = copied.into_iter().map(slice).collect();
        assert_eq!(got, [&records[0], &records[1], &records[3]].map(Vec::clone));
        // The index starts right after them: 5 + 10 + 11 + 13 bytes of records.
        let (_, index_at, _) = read_header(&bytes[..HEADER]).unwrap();
        assert_eq!(index_at, (HEADER + 39) as u64);
        assert!(!dir.path().join("new.bin.tmp").exists(), "renamed into place");

        // A run past the end of the old file is an error, not a short copy.
        let end = std::fs::metadata(&old_path).unwrap().len();
        let mut w = Writer::create(&new_path, rules).unwrap();
        assert!(w.copy(&mut old, &[(end - 5, 10)]).is_err());
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic_or_a_sum() {
        let raw = encode_record(&parts()[0]);
        let rules = SessionRules::default();
        for cut in [0, 10, raw.len() - 1] {
            assert!(decode_record(&raw[..cut], 10, &mut SessionStitch::new(rules)).is_err(), "cut at {cut}");
        }
        // Actor 9 beyond a dictionary of 5 names.
        assert!(decode_record(&raw, 5, &mut SessionStitch::new(rules)).is_err());
        // Totals smaller than the edges say.
        let mut p = parts()[0].clone();
        p.summary.session_count = 1;
        assert!(decode_record(&encode_record(&p), 10, &mut SessionStitch::new(rules)).is_err());
    }
}
