//! Writing to a workspace: upserts of keyed entities, day-partitioned appends
//! of usage events, and the atomic commit that publishes them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, sort_to_indices, take_record_batch};
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use arrow::row::{RowConverter, SortField};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{Result, StoreError};
use crate::manifest::{DataFile, Manifest, TableFiles, sync_dir};
use crate::schema::{self, KEY, Stored, WriteMode};
use crate::{TABLES_DIR, Workspace, read_parquet};

/// Buffered event rows that trigger a flush to Parquet within one import
/// (bounds an import's memory); `TENURE_EVENT_FLUSH_ROWS` overrides it.
const EVENT_FLUSH_ROWS: usize = 2_000_000;

fn event_flush_rows() -> usize {
    std::env::var("TENURE_EVENT_FLUSH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(EVENT_FLUSH_ROWS)
}
/// A day's files are compacted by tier (files within a factor 4 of each
/// other in rows): a tier with more files than this becomes one file at
/// commit. Merging only like-sized files keeps a day that grows by a small
/// file per commit (live ingest) from being rewritten whole every time: a
/// row is rewritten about log4(day / file) times, not once per commit.
const MAX_FILES_PER_DAY: usize = 4;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// What an upsert did, by the key of the entity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpsertSummary {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendSummary {
    pub appended: u64,
    pub duplicates: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitSummary {
    /// The new manifest version, or `None` when nothing changed.
    pub version: Option<u64>,
    pub files_written: usize,
    /// Usage events appended and dropped as duplicates.
    pub events: AppendSummary,
}

/// The one writer of a workspace. Changes become visible only at
/// [`Writer::commit`]; dropping a writer without committing leaves the
/// workspace as it was (its files are removed by the next writer).
pub struct Writer<'w> {
    ws: &'w mut Workspace,
    _lock: std::fs::File,
    next: Manifest,
    version: u64,
    seq: u32,
    written: Vec<PathBuf>,
    dirs: BTreeSet<PathBuf>,
    events: BTreeMap<i32, Vec<RecordBatch>>,
    /// Days with buffered rows whose ids still need checking against the
    /// stored ones (rows of [`Writer::append_event_batch`]).
    unchecked_days: BTreeSet<i32>,
    buffered_events: usize,
    event_summary: AppendSummary,
    changed: bool,
    committed: bool,
}

impl<'w> Writer<'w> {
    pub(crate) fn begin(ws: &'w mut Workspace) -> Result<Writer<'w>> {
        let lock_path = ws.root.join(".lock");
        let lock = fs_err::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
        let lock = lock.into_parts().0;
        lock.lock()
            .map_err(|e| StoreError::Io(std::io::Error::new(e.kind(), format!("{}: {e}", lock_path.display()))))?;
        // Another writer may have committed while we waited.
        ws.manifest = Manifest::load(&ws.root)?;
        remove_unreferenced_files(&ws.root, &ws.manifest)?;
        let next = ws.manifest.clone();
        let version = next.version + 1;
        Ok(Writer {
            ws,
            _lock: lock,
            next,
            version,
            seq: 0,
            written: Vec::new(),
            dirs: BTreeSet::new(),
            events: BTreeMap::new(),
            unchecked_days: BTreeSet::new(),
            buffered_events: 0,
            event_summary: AppendSummary::default(),
            changed: false,
            committed: false,
        })
    }

    /// Insert or replace rows of a keyed entity (every entity but events).
    /// Rows whose key and content are already stored change nothing.
    pub fn upsert<E: Stored>(&mut self, rows: &[E]) -> Result<UpsertSummary> {
        let incoming = E::to_batches(rows);
        let tables: Vec<&'static schema::TableDef> =
            E::TABLES.iter().map(|t| schema::table(t).expect("stored entity tables exist")).collect();
        debug_assert!(tables.iter().all(|t| t.mode == WriteMode::Upsert));
        if let Some(summary) = self.insert_new_keys(&tables, &incoming)? {
            return Ok(summary);
        }

        // Rows per key, as comparable bytes, for incoming and stored data of each table.
        let mut changed_keys: HashSet<String> = HashSet::new();
        let mut existing_keys: HashSet<String> = HashSet::new();
        let mut stored_batches = Vec::new();
        let mut last_row_of_key: Vec<HashMap<String, Vec<u32>>> = Vec::new();
        for (def, new_batch) in tables.iter().zip(&incoming) {
            let stored = self.read_current(def.name, def.schema)?;
            let conv =
                RowConverter::new(def.schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect())?;
            let stored_rows = conv.convert_columns(stored.columns())?;
            let mut stored_by_key: HashMap<&str, Vec<&[u8]>> = HashMap::new();
            let stored_keys = stored.column_by_name(KEY).expect("key column").as_string::<i32>();
            for r in 0..stored.num_rows() {
                stored_by_key.entry(stored_keys.value(r)).or_default().push(stored_rows.row(r).data());
            }
            // For incoming keys repeated across rows of the main table, the
            // last occurrence wins; child tables keep all rows of that last
            // parent occurrence (to_batches emits them in parent order).
            let new_rows = conv.convert_columns(new_batch.columns())?;
            let new_keys = new_batch.column_by_name(KEY).expect("key column").as_string::<i32>();
            let mut new_by_key: HashMap<String, Vec<u32>> = HashMap::new();
            for r in 0..new_batch.num_rows() {
                new_by_key.entry(new_keys.value(r).to_string()).or_default().push(r as u32);
            }
            if def.name == tables[0].name {
                for k in stored_by_key.keys() {
                    existing_keys.insert((*k).to_string());
                }
                for v in new_by_key.values_mut() {
                    let last = *v.last().expect("non-empty");
                    *v = vec![last];
                }
            }
            for (k, idx) in &new_by_key {
                let new_bytes: Vec<&[u8]> = idx.iter().map(|&i| new_rows.row(i as usize).data()).collect();
                let same = stored_by_key.get(k.as_str()).is_some_and(|old| *old == new_bytes);
                if !same {
                    changed_keys.insert(k.clone());
                }
            }
            stored_batches.push(stored);
            last_row_of_key.push(new_by_key);
        }
        // A child row set may be empty for a key whose stored child rows exist.
        let main_keys: Vec<String> = last_row_of_key[0].keys().cloned().collect();
        for (t, stored) in stored_batches.iter().enumerate().skip(1) {
            let stored_keys = stored.column_by_name(KEY).expect("key column").as_string::<i32>();
            let with_rows: HashSet<&str> = (0..stored.num_rows()).map(|r| stored_keys.value(r)).collect();
            for k in &main_keys {
                if !last_row_of_key[t].contains_key(k) && with_rows.contains(k.as_str()) {
                    changed_keys.insert(k.clone());
                }
            }
        }
        let summary = UpsertSummary {
            inserted: main_keys.iter().filter(|k| !existing_keys.contains(*k)).count() as u64,
            updated: main_keys.iter().filter(|k| existing_keys.contains(*k) && changed_keys.contains(*k)).count()
                as u64,
            unchanged: main_keys.iter().filter(|k| !changed_keys.contains(*k)).count() as u64,
        };
        if changed_keys.is_empty() {
            return Ok(summary);
        }
        for (t, def) in tables.iter().enumerate() {
            let stored = &stored_batches[t];
            let stored_keys = stored.column_by_name(KEY).expect("key column").as_string::<i32>();
            let keep: BooleanArray =
                (0..stored.num_rows()).map(|r| Some(!changed_keys.contains(stored_keys.value(r)))).collect();
            let kept = filter_record_batch(stored, &keep)?;
            let mut take: Vec<u32> = last_row_of_key[t]
                .iter()
                .filter(|(k, _)| changed_keys.contains(*k))
                .flat_map(|(_, idx)| idx.iter().copied())
                .collect();
            take.sort_unstable();
            let added = take_record_batch(&incoming[t], &UInt32Array::from(take))?;
            let merged = concat_batches(def.schema, [&kept, &added])?;
            let merged = sort_by_key(&merged)?;
            let rel = format!("{TABLES_DIR}/{}/{}", def.name, self.next_file_name());
            let file = self.write_file(&rel, &merged, None)?;
            self.next.tables.insert(def.name.to_string(), TableFiles { files: vec![file] });
        }
        self.changed = true;
        Ok(summary)
    }

    /// The insert path of [`Writer::upsert`]: when every incoming key is new
    /// (no key repeated, none in a stored file of the entity's tables), the
    /// rows become one more file per table, without reading or rewriting the
    /// stored rows; [`Writer::commit`] merges each table back into one file.
    /// `tenure demo` upserts a million customers in 20 batches: each batch
    /// then costs its own rows, not the whole table written so far (issue 10).
    /// `None` when some key is repeated or stored: the caller merges.
    fn insert_new_keys(
        &mut self,
        tables: &[&'static schema::TableDef],
        incoming: &[RecordBatch],
    ) -> Result<Option<UpsertSummary>> {
        let keys: HashSet<&str> =
            incoming[0].column_by_name(KEY).expect("key column").as_string::<i32>().iter().flatten().collect();
        if keys.len() != incoming[0].num_rows() {
            return Ok(None);
        }
        let (Some(lo), Some(hi)) = (keys.iter().min(), keys.iter().max()) else {
            return Ok(Some(UpsertSummary::default()));
        };
        for def in tables {
            for f in self.next.tables.get(def.name).map(|t| t.files.as_slice()).unwrap_or_default() {
                if file_holds_any_key(&self.ws.root.join(&f.path), &keys, lo, hi)? {
                    return Ok(None);
                }
            }
        }
        for (def, batch) in tables.iter().zip(incoming) {
            if batch.num_rows() == 0 {
                continue;
            }
            let rel = format!("{TABLES_DIR}/{}/{}", def.name, self.next_file_name());
            let file = self.write_file(&rel, &sort_by_key(batch)?, None)?;
            self.next.tables.entry(def.name.to_string()).or_default().files.push(file);
        }
        self.changed = true;
        Ok(Some(UpsertSummary { inserted: keys.len() as u64, updated: 0, unchanged: 0 }))
    }

    /// Merge each keyed table that [`Writer::insert_new_keys`] left in
    /// several files into one sorted by key, as an upsert leaves it. Files
    /// whose key ranges follow one another (a demo's batches come in id order)
    /// are copied one after the other, one file in memory at a time; any
    /// other table is read whole and sorted.
    fn merge_keyed_tables(&mut self) -> Result<()> {
        let split: Vec<(String, Vec<DataFile>)> = self
            .next
            .tables
            .iter()
            .filter(|(name, t)| t.files.len() > 1 && schema::table(name).is_some_and(|d| d.mode == WriteMode::Upsert))
            .map(|(name, t)| (name.clone(), t.files.clone()))
            .collect();
        for (name, files) in split {
            let def = schema::table(&name).expect("keyed table");
            let paths: Vec<PathBuf> = files.iter().map(|f| self.ws.root.join(&f.path)).collect();
            let rel = format!("{TABLES_DIR}/{name}/{}", self.next_file_name());
            let file = if key_ranges_follow(&paths)? {
                let rows = files.iter().map(|f| f.rows).sum();
                self.write_file_with(&rel, rows, None, |path| write_parquet_files(path, &paths))?
            } else {
                let merged = sort_by_key(&self.read_current(&name, def.schema)?)?;
                self.write_file(&rel, &merged, None)?
            };
            self.next.tables.insert(name, TableFiles { files: vec![file] });
            // The parts this writer wrote were never published: they can go now.
            for path in paths {
                if let Some(i) = self.written.iter().position(|w| *w == path) {
                    fs_err::remove_file(self.written.swap_remove(i))?;
                }
            }
        }
        Ok(())
    }

    /// Append usage events, dropping those whose `message_id` is already
    /// stored or already appended in this import. Events are buffered and
    /// written per UTC day.
    pub fn append_events(&mut self, rows: &[tenure_model::UsageEvent]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.append_event_batch(&tenure_model::UsageEvent::to_batches(rows).remove(0))
    }

    /// [`Writer::append_events`] for rows already in the `events` schema
    /// (the ingest compactor builds them straight from its log).
    pub fn append_event_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.buffer_events(batch, false)
    }

    /// [`Writer::append_event_batch`] for rows whose `message_id`s the caller
    /// has already checked: unique, and not stored on their day (the ingest
    /// compactor keeps each day's ids in memory). The day's stored ids are
    /// not read again, unless unchecked rows of the same day are buffered too.
    pub fn append_checked_event_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.buffer_events(batch, true)
    }

    /// The committed state this writer started from, with what it staged so far.
    pub fn manifest(&self) -> &Manifest {
        &self.next
    }

    fn buffer_events(&mut self, batch: &RecordBatch, checked: bool) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let ts = batch.column_by_name("timestamp").expect("timestamp").as_primitive::<TimestampMicrosecondType>();
        // Rows mostly come in time order, so each day is usually one run of
        // rows: a slice of the batch, not a copy.
        let mut runs: Vec<(i32, usize, usize)> = Vec::new();
        for (r, t) in ts.values().iter().enumerate() {
            let day = t.div_euclid(MICROS_PER_DAY) as i32;
            match runs.last_mut() {
                Some((d, _, len)) if *d == day => *len += 1,
                _ => runs.push((day, r, 1)),
            }
        }
        let days: BTreeSet<i32> = runs.iter().map(|r| r.0).collect();
        let parts: Vec<(i32, RecordBatch)> = if days.len() == runs.len() {
            runs.into_iter().map(|(day, start, len)| (day, batch.slice(start, len))).collect()
        } else {
            let mut by_day: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
            for (r, t) in ts.values().iter().enumerate() {
                by_day.entry(t.div_euclid(MICROS_PER_DAY) as i32).or_default().push(r as u32);
            }
            let mut parts = Vec::with_capacity(by_day.len());
            for (day, idx) in by_day {
                parts.push((day, take_record_batch(batch, &UInt32Array::from(idx))?));
            }
            parts
        };
        for (day, part) in parts {
            if !checked {
                self.unchecked_days.insert(day);
            }
            self.events.entry(day).or_default().push(part);
        }
        self.buffered_events += batch.num_rows();
        if self.buffered_events >= event_flush_rows() {
            self.flush_events()?;
        }
        Ok(())
    }

    /// The event rows appended and dropped as duplicates so far (complete after commit).
    pub fn event_summary(&self) -> &AppendSummary {
        &self.event_summary
    }

    /// Write the buffered events, one file per day. A day's work (its ids
    /// checked against the stored ones, its rows sorted, encoded, fsynced)
    /// does not depend on another day's, so the days are shared among the
    /// cores: a bulk import's parse threads wait for the flush, and on one
    /// thread it was a third of the import's time. File names are given in
    /// day order beforehand, so what is written does not depend on which
    /// thread wrote it.
    fn flush_events(&mut self) -> Result<()> {
        let days = std::mem::take(&mut self.events);
        let unchecked = std::mem::take(&mut self.unchecked_days);
        self.buffered_events = 0;
        let mut jobs = Vec::with_capacity(days.len());
        for (day, parts) in days {
            let day_str = schema::days_to_date(day).to_string();
            let stored: Option<Vec<PathBuf>> = unchecked
                .contains(&day)
                .then(|| self.day_files(&day_str).iter().map(|f| self.ws.root.join(&f.path)).collect());
            let rel = format!("{TABLES_DIR}/events/day={day_str}/{}", self.next_file_name());
            let path = self.ws.root.join(&rel);
            // Known before it is written: if the import fails or dies half-way
            // through the flush, it is removed.
            self.written.push(path.clone());
            jobs.push(DayFile { rel, path, day: day_str, parts, sources: Vec::new(), stored });
        }
        let results = tenure_model::par_map(&jobs, DayFile::write);
        for (job, result) in jobs.into_iter().zip(results) {
            let (rows, duplicates) = result?;
            self.event_summary.appended += rows;
            self.event_summary.duplicates += duplicates;
            if rows == 0 {
                self.written.retain(|p| *p != job.path);
                continue;
            }
            self.note_dirs(&job.path);
            let file = DataFile { path: job.rel, rows, day: Some(job.day) };
            self.next.tables.entry("events".to_string()).or_default().files.push(file);
            self.changed = true;
        }
        Ok(())
    }

    fn day_files(&self, day: &str) -> Vec<DataFile> {
        self.next
            .tables
            .get("events")
            .map(|t| t.files.iter().filter(|f| f.day.as_deref() == Some(day)).cloned().collect())
            .unwrap_or_default()
    }

    /// Merge, day by day, the files this writer flushed into one. Rows that
    /// are not in time order (the demo's generator writes customer after
    /// customer; an export may be sorted by user) put every day in every
    /// flush, and a day read from several interleaved files is slower to
    /// scan: sessions at 10 M events took 1.29 s on 2,488 files against
    /// 0.7 s on 735. Nobody can read these files yet, so the merged ones are
    /// removed at once. One writer's rows of a day are deduplicated already.
    fn merge_flushed_days(&mut self) -> Result<()> {
        let written: HashSet<&PathBuf> = self.written.iter().collect();
        let Some(events) = self.next.tables.get("events") else { return Ok(()) };
        let mut flushed: BTreeMap<String, (Vec<String>, u64)> = BTreeMap::new();
        for f in &events.files {
            if let Some(day) = &f.day
                && written.contains(&self.ws.root.join(&f.path))
            {
                let (files, rows) = flushed.entry(day.clone()).or_default();
                files.push(f.path.clone());
                *rows += f.rows;
            }
        }
        // A day is merged in memory, one per core: a day bigger than a few
        // flushes is left to the tiers, so that memory stays bounded.
        let most = 4 * event_flush_rows() as u64;
        let flushed: BTreeMap<String, Vec<String>> = flushed
            .into_iter()
            .filter(|(_, (files, rows))| files.len() > 1 && *rows <= most)
            .map(|(day, (files, _))| (day, files))
            .collect();
        if flushed.is_empty() {
            return Ok(());
        }
        let mut jobs = Vec::with_capacity(flushed.len());
        for (day, files) in &flushed {
            let rel = format!("{TABLES_DIR}/events/day={day}/{}", self.next_file_name());
            let path = self.ws.root.join(&rel);
            self.written.push(path.clone());
            let sources = files.iter().map(|f| self.ws.root.join(f)).collect();
            jobs.push(DayFile { rel, path, day: day.clone(), parts: Vec::new(), sources, stored: None });
        }
        let results = tenure_model::par_map(&jobs, DayFile::write);
        let merged: HashSet<String> = flushed.into_values().flatten().collect();
        let t = self.next.tables.get_mut("events").expect("events table");
        t.files.retain(|f| !merged.contains(&f.path));
        for (job, result) in jobs.into_iter().zip(results) {
            let (rows, _) = result?;
            t.files.push(DataFile { path: job.rel, rows, day: Some(job.day) });
        }
        let merged: HashSet<PathBuf> = merged.iter().map(|f| self.ws.root.join(f)).collect();
        for path in &merged {
            fs_err::remove_file(path)?;
        }
        self.written.retain(|p| !merged.contains(p));
        Ok(())
    }

    /// Merge each day's like-sized files once a tier has too many (see [`MAX_FILES_PER_DAY`]).
    fn compact_events(&mut self) -> Result<()> {
        let Some(events) = self.next.tables.get("events") else { return Ok(()) };
        let days: BTreeSet<String> = events.files.iter().filter_map(|f| f.day.clone()).collect();
        for day in days {
            // A merged file can fill the next tier up: repeat until no tier is crowded.
            while let Some(tier) = crowded_tier(&self.day_files(&day)) {
                let files: Vec<DataFile> =
                    self.day_files(&day).into_iter().filter(|f| file_tier(f.rows) == tier).collect();
                let mut parts = Vec::new();
                for f in &files {
                    parts.extend(read_parquet(&self.ws.root.join(&f.path), None)?);
                }
                let merged = sort_by_timestamp(&concat_batches(&schema::EVENTS, &parts)?)?;
                let rel = format!("{TABLES_DIR}/events/day={day}/{}", self.next_file_name());
                let file = self.write_file(&rel, &merged, Some(day.clone()))?;
                let gone: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
                let t = self.next.tables.get_mut("events").expect("events table");
                t.files.retain(|f| !gone.contains(f.path.as_str()));
                t.files.push(file);
            }
        }
        Ok(())
    }

    /// Publish everything written: fsync the new files' directories, then
    /// swap the manifest. Nothing is visible before this returns.
    pub fn commit(mut self) -> Result<CommitSummary> {
        self.flush_events()?;
        if !self.changed {
            return Ok(CommitSummary { version: None, files_written: 0, events: self.event_summary.clone() });
        }
        self.merge_keyed_tables()?;
        self.merge_flushed_days()?;
        self.compact_events()?;
        for dir in &self.dirs {
            sync_dir(dir)?;
        }
        sync_dir(&self.ws.root.join(TABLES_DIR))?;
        self.next.version = self.version;
        self.next.publish(&self.ws.root)?;
        self.committed = true;
        self.ws.manifest = self.next.clone();
        Ok(CommitSummary {
            version: Some(self.version),
            files_written: self.written.len(),
            events: self.event_summary.clone(),
        })
    }

    /// A file name no committed or staged file has: the version this writer
    /// will commit and a sequence number within it.
    fn next_file_name(&mut self) -> String {
        self.seq += 1;
        format!("part-{:06}-{:04}.parquet", self.version, self.seq)
    }

    /// The current content of a table as of this writer (committed plus
    /// anything this writer replaced it with).
    fn read_current(&self, table: &str, schema: &SchemaRef) -> Result<RecordBatch> {
        let mut parts = Vec::new();
        if let Some(t) = self.next.tables.get(table) {
            for f in &t.files {
                parts.extend(read_parquet(&self.ws.root.join(&f.path), None)?);
            }
        }
        Ok(concat_batches(schema, &parts)?)
    }

    fn write_file(&mut self, rel: &str, batch: &RecordBatch, day: Option<String>) -> Result<DataFile> {
        self.write_file_with(rel, batch.num_rows() as u64, day, |path| write_parquet(path, batch))
    }

    /// Remember the directories of a new file, to be fsynced at commit.
    fn note_dirs(&mut self, path: &Path) {
        let dir = path.parent().expect("file in a directory");
        if let Some(table_dir) = dir.parent() {
            self.dirs.insert(table_dir.to_path_buf());
        }
        self.dirs.insert(dir.to_path_buf());
    }

    /// [`Writer::write_file`] for a file of `rows` rows that `write` makes.
    fn write_file_with(
        &mut self,
        rel: &str,
        rows: u64,
        day: Option<String>,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<DataFile> {
        let path = self.ws.root.join(rel);
        fs_err::create_dir_all(path.parent().expect("file in a directory"))?;
        write(&path)?;
        self.note_dirs(&path);
        self.written.push(path);
        Ok(DataFile { path: rel.to_string(), rows, day })
    }
}

impl Drop for Writer<'_> {
    /// An abandoned writer (rejected rows, an error) removes what it wrote;
    /// if the process dies instead, the next writer does.
    fn drop(&mut self) {
        if !self.committed {
            for path in &self.written {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// One day's buffered events, to be written as one file.
struct DayFile {
    rel: String,
    path: PathBuf,
    day: String,
    parts: Vec<RecordBatch>,
    /// Files whose rows come after `parts`, read on the thread that writes
    /// the day (one day's rows in memory per core).
    sources: Vec<PathBuf>,
    /// The day's stored files, whose ids the rows are checked against;
    /// `None` when the caller checked them.
    stored: Option<Vec<PathBuf>>,
}

impl DayFile {
    /// Write the day's new rows (none: no file); the rows written and the
    /// duplicates dropped.
    fn write(&self) -> Result<(u64, u64)> {
        // Batches are shared buffers: the clone copies no rows.
        let mut parts = self.parts.clone();
        for source in &self.sources {
            parts.extend(read_parquet(source, None)?);
        }
        let batch = match parts.as_slice() {
            [one] => one.clone(),
            parts => concat_batches(&schema::EVENTS, parts)?,
        };
        let fresh = match &self.stored {
            Some(stored) => fresh_events(stored, &batch)?,
            None => batch.clone(),
        };
        let duplicates = (batch.num_rows() - fresh.num_rows()) as u64;
        if fresh.num_rows() > 0 {
            fs_err::create_dir_all(self.path.parent().expect("file in a directory"))?;
            write_parquet(&self.path, &sort_by_timestamp(&fresh)?)?;
        }
        Ok((fresh.num_rows() as u64, duplicates))
    }
}

/// The rows of `batch` (all of one day) whose ids are neither in the day's
/// `stored` files nor earlier in the batch.
fn fresh_events(stored: &[PathBuf], batch: &RecordBatch) -> Result<RecordBatch> {
    // Ids stored (committed or flushed earlier in this import) on that day,
    // borrowed from their columns: no string copied per row.
    let mut stored_ids = Vec::new();
    for path in stored {
        stored_ids.extend(read_parquet(path, Some(&["message_id"]))?);
    }
    let stored_rows: usize = stored_ids.iter().map(|b| b.num_rows()).sum();
    // foldhash, not the default SipHash: the ids are not chosen by an
    // attacker who could profit from collisions, and SipHash was 2 % of a
    // bulk import.
    let mut seen: HashSet<&str, foldhash::fast::RandomState> =
        HashSet::with_capacity_and_hasher(stored_rows + batch.num_rows(), Default::default());
    for b in &stored_ids {
        seen.extend(b.column(0).as_string::<i32>().iter().flatten());
    }
    let ids = batch.column_by_name("message_id").expect("message_id").as_string::<i32>();
    let keep: BooleanArray = ids.iter().map(|id| Some(seen.insert(id.unwrap_or_default()))).collect();
    if keep.true_count() == batch.num_rows() {
        return Ok(batch.clone());
    }
    Ok(filter_record_batch(batch, &keep)?)
}

/// A file's size class: files within a factor 4 of each other in rows share a tier.
fn file_tier(rows: u64) -> u32 {
    rows.max(1).ilog(4)
}

/// The smallest tier of a day's files holding more than [`MAX_FILES_PER_DAY`] files.
fn crowded_tier(files: &[DataFile]) -> Option<u32> {
    let mut per_tier: BTreeMap<u32, usize> = BTreeMap::new();
    for f in files {
        *per_tier.entry(file_tier(f.rows)).or_default() += 1;
    }
    per_tier.into_iter().find(|(_, n)| *n > MAX_FILES_PER_DAY).map(|(t, _)| t)
}

fn sort_by_key(batch: &RecordBatch) -> Result<RecordBatch> {
    let key = batch.column_by_name(KEY).expect("key column");
    let idx = sort_to_indices(key, None, None)?;
    Ok(take_record_batch(batch, &idx)?)
}

fn sort_by_timestamp(batch: &RecordBatch) -> Result<RecordBatch> {
    let ts = batch.column_by_name("timestamp").expect("timestamp column");
    // Imports and the ingest log mostly arrive in time order: no copy then.
    let times = ts.as_primitive::<TimestampMicrosecondType>().values();
    if times.windows(2).all(|w| w[0] <= w[1]) {
        return Ok(batch.clone());
    }
    let idx = sort_to_indices(ts, None, None)?;
    Ok(take_record_batch(batch, &idx)?)
}

/// Write one Parquet file and fsync it. Statistics are kept per page so that
/// scans can skip row groups and pages by time.
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let pq = |source| StoreError::Parquet { path: path.to_path_buf(), source };
    let file = fs_err::File::create(path)?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(writer_properties())).map_err(pq)?;
    w.write(batch).map_err(pq)?;
    let file = w.into_inner().map_err(pq)?;
    file.sync_all()?;
    Ok(())
}

fn writer_properties() -> WriterProperties {
    // Message ids and event times are (nearly) all distinct: a dictionary of
    // them saves nothing and took 5-6 % of a bulk import's CPU (perf, 10 M events).
    let distinct = |b: parquet::file::properties::WriterPropertiesBuilder, column: &str| {
        b.set_column_dictionary_enabled(ColumnPath::from(column), false)
    };
    let builder = ["message_id", "timestamp"].into_iter().fold(WriterProperties::builder(), distinct);
    builder
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(1 << 20))
        .build()
}

/// Write the rows of `sources` (Parquet files of one schema), in order, as
/// one file: one source's batches in memory at a time.
fn write_parquet_files(path: &Path, sources: &[PathBuf]) -> Result<()> {
    let pq = |source| StoreError::Parquet { path: path.to_path_buf(), source };
    let mut w = None;
    for src in sources {
        for b in read_parquet(src, None)? {
            let w = match &mut w {
                Some(w) => w,
                None => w.insert(
                    ArrowWriter::try_new(fs_err::File::create(path)?, b.schema(), Some(writer_properties()))
                        .map_err(pq)?,
                ),
            };
            w.write(&b).map_err(pq)?;
        }
    }
    let w = w.ok_or_else(|| StoreError::Io(std::io::Error::other(format!("{}: no rows to write", path.display()))))?;
    w.into_inner().map_err(pq)?.sync_all()?;
    Ok(())
}

/// The smallest and largest `_key` of a row group, as bytes.
type KeyRange = (Vec<u8>, Vec<u8>);

/// The `_key` range of each row group of a keyed table's file, from the
/// Parquet statistics (`None` for a row group without them).
fn key_ranges(path: &Path) -> Result<Vec<Option<KeyRange>>> {
    let pq = |source| StoreError::Parquet { path: path.to_path_buf(), source };
    let file = fs_err::File::open(path)?.into_parts().0;
    let meta = ParquetMetaDataReader::new().parse_and_finish(&file).map_err(pq)?;
    let col = meta.file_metadata().schema_descr().columns().iter().position(|c| c.name() == KEY);
    Ok(meta
        .row_groups()
        .iter()
        .map(|rg| {
            let s = rg.column(col?).statistics()?;
            Some((s.min_bytes_opt()?.to_vec(), s.max_bytes_opt()?.to_vec()))
        })
        .collect())
}

/// Whether a keyed table's file holds one of `keys` (all within `lo..=hi`).
/// Row groups whose key range misses `lo..=hi` are not read: new keys past
/// the stored ones (ids in sign-up order) cost only the file's footer.
fn file_holds_any_key(path: &Path, keys: &HashSet<&str>, lo: &str, hi: &str) -> Result<bool> {
    let overlaps = key_ranges(path)?.iter().any(|r| {
        r.as_ref().is_none_or(|(min, max)| min.as_slice() <= hi.as_bytes() && lo.as_bytes() <= max.as_slice())
    });
    if !overlaps {
        return Ok(false);
    }
    Ok(read_parquet(path, Some(&[KEY]))?
        .iter()
        .any(|b| b.column(0).as_string::<i32>().iter().flatten().any(|k| keys.contains(k))))
}

/// Whether the files' key ranges follow one another (each file's last key at
/// most the next one's first), so that copying them in order keeps the rows
/// sorted by key. False when a file has no statistics.
fn key_ranges_follow(paths: &[PathBuf]) -> Result<bool> {
    let mut prev_max: Option<Vec<u8>> = None;
    for path in paths {
        let ranges: Option<Vec<KeyRange>> = key_ranges(path)?.into_iter().collect();
        let Some(ranges) = ranges else { return Ok(false) };
        let (Some(min), Some(max)) =
            (ranges.iter().map(|r| &r.0).min().cloned(), ranges.iter().map(|r| &r.1).max().cloned())
        else {
            continue;
        };
        if prev_max.as_ref().is_some_and(|p| *p > min) {
            return Ok(false);
        }
        prev_max = Some(max);
    }
    Ok(true)
}

/// Remove data files no manifest names: leftovers of an interrupted import,
/// or files a later commit replaced. Only called with the write lock held.
fn remove_unreferenced_files(root: &Path, manifest: &Manifest) -> Result<()> {
    let referenced: HashSet<PathBuf> =
        manifest.tables.values().flat_map(|t| t.files.iter().map(|f| root.join(&f.path))).collect();
    let tmp = root.join(format!("{}.tmp", crate::manifest::MANIFEST_FILE));
    if tmp.exists() {
        fs_err::remove_file(&tmp)?;
    }
    fn walk(dir: &Path, referenced: &HashSet<PathBuf>) -> Result<bool> {
        let mut empty = true;
        let Ok(entries) = fs_err::read_dir(dir) else { return Ok(false) };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                if walk(&path, referenced)? {
                    fs_err::remove_dir(&path)?;
                } else {
                    empty = false;
                }
            } else if !referenced.contains(&path) {
                fs_err::remove_file(&path)?;
            } else {
                empty = false;
            }
        }
        Ok(empty)
    }
    walk(&root.join(TABLES_DIR), &referenced)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tenure_model::{Customer, Entity, Invoice, Record, UsageEvent};

    fn rec<E: Entity>(v: serde_json::Value) -> E {
        E::from_record(&Record::new(1, v.as_object().unwrap().clone())).unwrap()
    }

    fn customer(id: &str, name: &str) -> Customer {
        rec(json!({"id": id, "name": name}))
    }

    fn event(id: &str, ts: &str) -> UsageEvent {
        rec(json!({"messageId": id, "type": "track", "userId": "u", "event": "E", "timestamp": ts}))
    }

    #[test]
    fn upsert_inserts_updates_and_leaves_identical_rows_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::init(dir.path()).unwrap();
        let mut w = ws.writer().unwrap();
        let s = w.upsert(&[customer("a", "A"), customer("b", "B")]).unwrap();
        assert_eq!(s, UpsertSummary { inserted: 2, updated: 0, unchanged: 0 });
        assert_eq!(w.commit().unwrap().version, Some(1));

        let mut w = ws.writer().unwrap();
        let s = w.upsert(&[customer("a", "A"), customer("b", "B")]).unwrap();
        assert_eq!(s, UpsertSummary { inserted: 0, updated: 0, unchanged: 2 });
        assert_eq!(w.commit().unwrap().version, None, "nothing changed, no new version");

        let mut w = ws.writer().unwrap();
        // The last row of a repeated key wins.
        let s = w.upsert(&[customer("b", "B2"), customer("c", "C"), customer("c", "C2")]).unwrap();
        assert_eq!(s, UpsertSummary { inserted: 1, updated: 1, unchanged: 0 });
        w.commit().unwrap();
        assert_eq!(ws.rows("customers"), 3);
        assert_eq!(customer_names(&ws), ["A", "B2", "C2"]);
        assert_eq!(ws.table_paths("customers").len(), 1, "one file per keyed table");
    }

    /// The names of the stored customers, in stored order.
    fn customer_names(ws: &Workspace) -> Vec<String> {
        let batches = ws.read_table("customers").unwrap();
        batches
            .iter()
            .flat_map(|b| {
                let n = b.column_by_name("name").unwrap().as_string::<i32>().clone();
                (0..b.num_rows()).map(move |i| n.value(i).to_string()).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn new_keys_are_inserted_without_a_rewrite_and_merged_into_one_sorted_file_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::init(dir.path()).unwrap();
        let inserted = |n| UpsertSummary { inserted: n, updated: 0, unchanged: 0 };
        let mut w = ws.writer().unwrap();
        assert_eq!(w.upsert(&[customer("b", "B"), customer("d", "D")]).unwrap(), inserted(2));
        w.commit().unwrap();
        let stored = ws.table_paths("customers");

        // New keys inside the stored range (c) and out of order across batches
        // (a after e): each batch is a file of its own, then one sorted file.
        let mut w = ws.writer().unwrap();
        assert_eq!(w.upsert(&[customer("e", "E"), customer("c", "C")]).unwrap(), inserted(2));
        assert_eq!(w.upsert(&[customer("a", "A")]).unwrap(), inserted(1));
        assert_eq!(w.manifest().tables["customers"].files.len(), 3, "the stored file is not rewritten per batch");
        w.commit().unwrap();
        assert_eq!(ws.table_paths("customers").len(), 1, "one file per keyed table");
        assert_eq!(customer_names(&ws), ["A", "B", "C", "D", "E"]);
        assert_eq!(
            walk_count(&dir.path().join(TABLES_DIR)),
            2,
            "the parts are gone; the replaced file stays until the next writer"
        );
        assert!(stored[0].exists());

        // Batches in key order are copied one after the other.
        let mut w = ws.writer().unwrap();
        assert_eq!(w.upsert(&[customer("f", "F")]).unwrap(), inserted(1));
        assert_eq!(w.upsert(&[customer("g", "G"), customer("h", "H")]).unwrap(), inserted(2));
        w.commit().unwrap();
        assert_eq!(ws.table_paths("customers").len(), 1);
        assert_eq!(customer_names(&ws), ["A", "B", "C", "D", "E", "F", "G", "H"]);

        // A stored key, or a key repeated in a batch, takes the merging path.
        let mut w = ws.writer().unwrap();
        let s = w.upsert(&[customer("i", "I"), customer("a", "A2")]).unwrap();
        assert_eq!(s, UpsertSummary { inserted: 1, updated: 1, unchanged: 0 });
        assert_eq!(w.upsert(&[customer("j", "J"), customer("j", "J2")]).unwrap(), inserted(1));
        w.commit().unwrap();
        assert_eq!(customer_names(&ws), ["A2", "B", "C", "D", "E", "F", "G", "H", "I", "J2"]);
    }

    /// Rows out of time order put every day in every flush: at commit, the
    /// files one writer flushed for a day become one file, sorted by time;
    /// another writer's file of the day is left alone (tiers decide).
    #[test]
    fn the_files_a_writer_flushed_for_a_day_become_one_sorted_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::init(dir.path()).unwrap();
        let mut w = ws.writer().unwrap();
        w.append_events(&[event("early", "2024-03-01T01:00:00Z")]).unwrap();
        w.commit().unwrap();
        let stored = ws.table_paths("events");

        let mut w = ws.writer().unwrap();
        for k in 0..3 {
            let at = |day: u32| format!("2024-03-0{day}T{:02}:00:00Z", 20 - k);
            w.append_events(&[event(&format!("a{k}"), &at(1)), event(&format!("b{k}"), &at(2))]).unwrap();
            w.flush_events().unwrap();
        }
        assert_eq!(w.manifest().tables["events"].files.len(), 1 + 3 * 2, "a file per day and flush");
        let summary = w.commit().unwrap();
        assert_eq!(summary.files_written, 2);
        assert_eq!(summary.events.appended, 6);
        let files = ws.table_paths("events");
        assert_eq!(files.len(), 3, "the stored file, and one per day for the new rows");
        assert!(files.contains(&stored[0]));
        assert_eq!(walk_count(&dir.path().join(TABLES_DIR)), 3, "the flushed files are gone");
        for path in files.iter().filter(|p| **p != stored[0]) {
            let batches = crate::read_parquet(path, None).unwrap();
            let times: Vec<i64> = batches
                .iter()
                .flat_map(|b| {
                    b.column_by_name("timestamp").unwrap().as_primitive::<TimestampMicrosecondType>().values().to_vec()
                })
                .collect();
            assert_eq!(times.len(), 3);
            assert!(times.windows(2).all(|t| t[0] < t[1]), "sorted by time: {times:?}");
        }
        assert_eq!(ws.rows("events"), 7);
    }

    #[test]
    fn invoice_children_are_replaced_with_their_invoice() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::init(dir.path()).unwrap();
        let inv = |lines: serde_json::Value| -> Invoice {
            rec(
                json!({"external_id": "i1", "customer_id": "c", "date": "2024-01-01", "currency": "USD", "line_items": lines}),
            )
        };
        let mut w = ws.writer().unwrap();
        w.upsert(&[inv(json!([{"type": "one_time", "amount_cents": 1}, {"type": "one_time", "amount_cents": 2}]))])
            .unwrap();
        w.commit().unwrap();
        assert_eq!(ws.rows("invoice_line_items"), 2);
        let mut w = ws.writer().unwrap();
        // Same invoice row, different lines: an update.
        let s = w.upsert(&[inv(json!([{"type": "one_time", "amount_cents": 3}]))]).unwrap();
        assert_eq!(s.updated, 1);
        w.commit().unwrap();
        assert_eq!(ws.rows("invoice_line_items"), 1);
        assert_eq!(ws.rows("invoices"), 1);
        // No lines at all: the stored lines go.
        let mut w = ws.writer().unwrap();
        assert_eq!(w.upsert(&[inv(json!([]))]).unwrap().updated, 1);
        w.commit().unwrap();
        assert_eq!(ws.rows("invoice_line_items"), 0);
    }

    #[test]
    fn events_are_partitioned_by_day_and_deduplicated_by_message_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::init(dir.path()).unwrap();
        let mut w = ws.writer().unwrap();
        w.append_events(&[event("m1", "2024-03-01T10:00:00Z"), event("m2", "2024-03-02T10:00:00Z")]).unwrap();
        w.append_events(&[event("m1", "2024-03-01T10:00:00Z")]).unwrap();
        let s = w.commit().unwrap();
        assert_eq!(s.events, AppendSummary { appended: 2, duplicates: 1 });
        let files = &ws.manifest().tables["events"].files;
        let days: Vec<_> = files.iter().map(|f| f.day.clone().unwrap()).collect();
        assert_eq!(days, ["2024-03-01", "2024-03-02"]);
        assert!(files[0].path.contains("events/day=2024-03-01/"));

        let mut w = ws.writer().unwrap();
        w.append_events(&[event("m2", "2024-03-02T10:00:00Z"), event("m3", "2024-03-02T11:00:00Z")]).unwrap();
        let s = w.commit().unwrap();
        assert_eq!(s.events, AppendSummary { appended: 1, duplicates: 1 });
        assert_eq!(ws.rows("events"), 3);
    }

    /// The days of a flush are written on several threads: the files are
    /// still named in day order, a day whose rows are all stored gets no
    /// file, and the counts add up.
    #[test]
    fn a_flush_of_many_days_names_its_files_in_day_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::init(dir.path()).unwrap();
        let mut w = ws.writer().unwrap();
        w.append_events(&[event("s1", "2024-01-03T10:00:00Z")]).unwrap();
        w.commit().unwrap();
        let mut rows = Vec::new();
        for day in (1..=28).rev() {
            rows.push(event(&format!("m{day}"), &format!("2024-01-{day:02}T10:00:00Z")));
            rows.push(event(&format!("m{day}"), &format!("2024-01-{day:02}T11:00:00Z")));
        }
        // Day 3 only holds the stored id: no file for it.
        rows.retain(|e| !e.message_id.ends_with("m3"));
        rows.push(event("s1", "2024-01-03T10:00:00Z"));
        let mut w = ws.writer().unwrap();
        w.append_events(&rows).unwrap();
        let s = w.commit().unwrap();
        assert_eq!(s.events, AppendSummary { appended: 27, duplicates: 28 });
        let files = &ws.manifest().tables["events"].files;
        let new: Vec<(&str, &str)> =
            files[1..].iter().map(|f| (f.day.as_deref().unwrap(), f.path.rsplit('/').next().unwrap())).collect();
        let days: Vec<String> = (1..=28).filter(|d| *d != 3).map(|d| format!("2024-01-{d:02}")).collect();
        assert_eq!(new.iter().map(|f| f.0).collect::<Vec<_>>(), days);
        assert!(new.windows(2).all(|f| f[0].1 < f[1].1), "names in day order: {new:?}");
        assert_eq!(walk_count(&dir.path().join(TABLES_DIR)), 28, "27 new files, none for day 3");
        assert_eq!(ws.rows("events"), 28);
    }

    #[test]
    fn crowded_days_are_compacted_and_uncommitted_files_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::init(dir.path()).unwrap();
        for i in 0..(MAX_FILES_PER_DAY + 1) {
            let mut w = ws.writer().unwrap();
            w.append_events(&[event(&format!("m{i}"), "2024-03-01T10:00:00Z")]).unwrap();
            w.commit().unwrap();
        }
        assert_eq!(ws.manifest().tables["events"].files.len(), 1, "compacted into one file");
        assert_eq!(ws.rows("events"), MAX_FILES_PER_DAY as u64 + 1);

        // Files replaced by the compaction go when the next writer starts.
        let leftovers = || walk_count(&dir.path().join(TABLES_DIR));
        assert_eq!(leftovers(), MAX_FILES_PER_DAY + 2);
        // A writer dropped without commit removes what it wrote.
        let mut w = ws.writer().unwrap();
        w.upsert(&[customer("a", "A")]).unwrap();
        assert_eq!(leftovers(), 2, "the compacted events file and the uncommitted customers file");
        drop(w);
        assert_eq!(ws.rows("customers"), 0);
        assert_eq!(leftovers(), 1, "only the referenced file is left");
    }

    #[test]
    fn only_like_sized_files_of_a_day_are_merged() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::init(dir.path()).unwrap();
        let big: Vec<UsageEvent> = (0..64).map(|i| event(&format!("big{i}"), "2024-03-01T09:00:00Z")).collect();
        let mut w = ws.writer().unwrap();
        w.append_events(&big).unwrap();
        w.commit().unwrap();
        let big_file = ws.manifest().tables["events"].files[0].path.clone();
        for i in 0..(MAX_FILES_PER_DAY + 1) {
            let mut w = ws.writer().unwrap();
            w.append_events(&[event(&format!("m{i}"), "2024-03-01T10:00:00Z")]).unwrap();
            w.commit().unwrap();
        }
        let files = &ws.manifest().tables["events"].files;
        let rows: Vec<u64> = files.iter().map(|f| f.rows).collect();
        assert_eq!(rows, [64, MAX_FILES_PER_DAY as u64 + 1], "the small files merged, the big one kept");
        assert_eq!(files[0].path, big_file, "the big file was not rewritten");
    }

    #[test]
    fn checked_event_rows_skip_the_stored_ids_unless_unchecked_rows_share_their_day() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::init(dir.path()).unwrap();
        let batch = |ids: &[&str], ts: &str| {
            UsageEvent::to_batches(&ids.iter().map(|id| event(id, ts)).collect::<Vec<_>>()).remove(0)
        };
        let mut w = ws.writer().unwrap();
        w.append_checked_event_batch(&batch(&["m1", "m2"], "2024-03-01T10:00:00Z")).unwrap();
        w.commit().unwrap();
        let mut w = ws.writer().unwrap();
        // Day 1 also gets an unchecked row, so its stored ids are read: m1 is dropped.
        w.append_checked_event_batch(&batch(&["m1", "m3"], "2024-03-01T11:00:00Z")).unwrap();
        w.append_events(&[event("m4", "2024-03-01T12:00:00Z")]).unwrap();
        w.append_checked_event_batch(&batch(&["m5"], "2024-03-02T10:00:00Z")).unwrap();
        let s = w.commit().unwrap();
        assert_eq!(s.events, AppendSummary { appended: 3, duplicates: 1 });
        assert_eq!(ws.rows("events"), 5);
    }

    fn walk_count(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                if p.is_dir() { walk_count(&p) } else { 1 }
            })
            .sum()
    }
}
