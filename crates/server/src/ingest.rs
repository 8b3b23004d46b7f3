//! Durable ingest: the group-committed log, the compactor that moves it into
//! the Parquet store, idempotency keys, and account attribution of events.
//!
//! A request's rows become one log frame (`{"entity", "idempotency", "rows"}`).
//! Frames go to one writer thread, which writes everything queued since its
//! last `fdatasync` and syncs once for all of them, so concurrent requests share
//! the cost of a sync; each request is answered after the sync that covered it.
//! The compactor seals the current segment every interval and writes the
//! sealed ones into the store through the store's `Writer` in one commit each,
//! then removes them. Replaying a segment that was committed just before a
//! crash changes nothing: events dedupe on `messageId`, entities upsert on
//! their ids, so `kill -9` at any moment neither loses nor duplicates a row.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tenure_model::Record;
use tenure_store::log::{IngestLog, Segment, segments};
use tenure_store::{StoreError, Workspace};

use crate::error::ApiError;
use crate::events::{EventColumns, LoggedEvent};
use crate::rows::{Rows, rows_for};

/// The frames one sync may carry at most, so a flood cannot hold every
/// waiting request behind one huge write.
const GROUP_BYTES: usize = 32 << 20;
/// Frames waiting for the writer at most (memory); past it writes get 503.
const MAX_QUEUED_BYTES: u64 = 256 << 20;
/// Events handed to the store's writer at a time while compacting (bounds memory).
const COMPACT_EVENT_CHUNK: usize = 100_000;
/// Sealed segments moved into the store in one commit, at most (bytes of log):
/// a compactor that fell behind catches up in few commits (each commit has a
/// fixed cost: fsyncs, the manifest, the rollups), with bounded memory.
const COMPACT_COMMIT_BYTES: u64 = 128 << 20;
/// Message ids the compactor keeps in memory at most (16 bytes each, plus the table).
const MAX_CACHED_IDS: usize = 4_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// How long a completed Idempotency-Key is remembered.
const IDEMPOTENCY_SECONDS: i64 = 24 * 3600;
const IDEMPOTENCY_FILE: &str = "idempotency.jsonl";

/// A log entry as the compactor reads it: rows stay slices of the log.
#[derive(Deserialize)]
struct LoggedEntry<'a> {
    #[serde(borrow)]
    entity: std::borrow::Cow<'a, str>,
    #[serde(default)]
    idempotency: Option<IdempotentResponse>,
    #[serde(borrow)]
    rows: Vec<&'a RawValue>,
}

/// One accepted request, as it is stored in the log.
#[derive(Serialize, Deserialize)]
pub struct LogEntry {
    pub entity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<IdempotentResponse>,
    pub rows: Vec<Map<String, Value>>,
}

/// The answer a request with an Idempotency-Key got, replayed for its retries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdempotentResponse {
    /// The id of the API key that sent it: keys are per client.
    pub scope: String,
    pub key: String,
    /// BLAKE3 of the method, path and body: a retry must be the same request.
    pub fingerprint: String,
    pub status: u16,
    pub response: Value,
    /// Unix seconds.
    pub at: i64,
}

type Waiter = tokio::sync::oneshot::Sender<Result<(), String>>;

enum LogRequest {
    Append { frame: Vec<u8>, done: Waiter },
    Rotate { done: tokio::sync::oneshot::Sender<Result<u64, String>> },
    Stop,
}

enum IdempotencyState {
    InFlight,
    Done(IdempotentResponse),
}

/// Counters for the log and the compactor.
#[derive(Default)]
pub struct IngestStats {
    pub requests_logged: AtomicU64,
    pub syncs: AtomicU64,
    pub rows_compacted: AtomicU64,
    pub compaction_failures: AtomicU64,
    /// Bytes of frames handed to the writer and not yet written (memory).
    pub queued_bytes: AtomicU64,
    /// Bytes of the log not yet compacted into the store (disk), counted
    /// from when this server started.
    pub backlog_bytes: AtomicU64,
    /// Requests answered 503 because the log or the compactor was behind.
    pub refused_busy: AtomicU64,
}

fn release(counter: &AtomicU64, bytes: u64) {
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(v.saturating_sub(bytes)));
}

/// The ingest side of the server state.
pub struct Ingest {
    log: Mutex<mpsc::Sender<LogRequest>>,
    /// user -> (timestamp µs, groupId) of the user's latest group call.
    groups: Mutex<HashMap<String, (i64, String)>>,
    idempotency: Mutex<HashMap<(String, String), IdempotencyState>>,
    /// Past this many bytes of log waiting for the compactor, writes get 503.
    max_backlog_bytes: u64,
    pub stats: Arc<IngestStats>,
}

/// The background threads, stopped by [`Ingest::stop`].
pub struct IngestThreads {
    writer: JoinHandle<()>,
    compactor: JoinHandle<()>,
    compactor_stop: mpsc::Sender<()>,
}

impl Ingest {
    /// Open the log, replay what an earlier run left in it into the store,
    /// learn the users' groups from the store, and start the writer and
    /// compactor threads.
    pub fn start(
        root: &Path,
        compact_every: Duration,
        segment_bytes: u64,
        max_backlog_bytes: u64,
    ) -> Result<(Arc<Ingest>, IngestThreads), StoreError> {
        let log = IngestLog::open(root, segment_bytes)?;
        let log_dir = log.dir().to_path_buf();
        let stats = Arc::new(IngestStats::default());
        let mut compactor = Compactor {
            ws: Workspace::open(root)?,
            log_dir: log_dir.clone(),
            stats: stats.clone(),
            ids: DayIds::default(),
        };
        let mut remembered = load_idempotency(&log_dir)?;
        let replayed = compactor.compact_below(log.current_seq())?;
        remembered.extend(replayed);
        let groups = latest_groups(&compactor.ws)?;
        let idempotency =
            remembered.into_iter().map(|r| ((r.scope.clone(), r.key.clone()), IdempotencyState::Done(r))).collect();

        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("ingest-log".into())
            .spawn({
                let stats = stats.clone();
                move || log_writer(log, rx, &stats)
            })
            .map_err(StoreError::Io)?;
        let ingest = Arc::new(Ingest {
            log: Mutex::new(tx),
            groups: Mutex::new(groups),
            idempotency: Mutex::new(idempotency),
            max_backlog_bytes,
            stats,
        });
        let (stop_tx, stop_rx) = mpsc::channel();
        let compactor = std::thread::Builder::new()
            .name("ingest-compactor".into())
            .spawn({
                let ingest = ingest.clone();
                move || compactor.run(&ingest, compact_every, stop_rx)
            })
            .map_err(StoreError::Io)?;
        Ok((ingest, IngestThreads { writer, compactor, compactor_stop: stop_tx }))
    }

    fn send(&self, req: LogRequest) -> bool {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).send(req).is_ok()
    }

    /// Append one frame and wait until it is on disk. A 503 (the client
    /// retries) when the writer or the compactor is too far behind, rather
    /// than letting memory or the log grow without bound.
    pub async fn append(&self, frame: Vec<u8>) -> Result<(), ApiError> {
        let len = frame.len() as u64;
        let stats = &self.stats;
        let backlog = stats.backlog_bytes.load(Ordering::Acquire);
        if backlog > 0 && backlog + len > self.max_backlog_bytes {
            stats.refused_busy.fetch_add(1, Ordering::Relaxed);
            return Err(busy(format!(
                "{} MB of acknowledged writes are waiting to be moved into the tables (the limit is {} MB)",
                backlog >> 20,
                self.max_backlog_bytes >> 20
            )));
        }
        let queued = stats.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if queued > 0 && queued + len > MAX_QUEUED_BYTES {
            release(&stats.queued_bytes, len);
            stats.refused_busy.fetch_add(1, Ordering::Relaxed);
            return Err(busy(format!("{} MB of writes are waiting for the disk", queued >> 20)));
        }
        stats.backlog_bytes.fetch_add(len, Ordering::AcqRel);
        let (done, wait) = tokio::sync::oneshot::channel();
        let result = if self.send(LogRequest::Append { frame, done }) {
            wait.await.unwrap_or_else(|_| Err("the ingest log writer stopped".into()))
        } else {
            release(&stats.queued_bytes, len);
            Err("the ingest log is closed (the server is shutting down)".into())
        };
        if result.is_err() {
            // Not written (the writer cuts a failed write off): not waiting for the compactor either.
            release(&stats.backlog_bytes, len);
        }
        result.map_err(|e| ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, e))
    }

    /// Seal the current segment; returns the new current sequence number.
    fn rotate_blocking(&self) -> Result<u64, String> {
        let (done, wait) = tokio::sync::oneshot::channel();
        if !self.send(LogRequest::Rotate { done }) {
            return Err("the ingest log is closed".into());
        }
        wait.blocking_recv().unwrap_or_else(|_| Err("the ingest log writer stopped".into()))
    }

    /// The account of a user's latest group call, if any.
    pub fn group_of(&self, user: &str) -> Option<String> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner()).get(user).map(|(_, g)| g.clone())
    }

    /// Remember group calls of an acknowledged request.
    pub fn learn_groups(&self, calls: impl IntoIterator<Item = (String, i64, String)>) {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        for (user, ts, group) in calls {
            remember_group(&mut groups, user, ts, group);
        }
    }

    /// Claim an Idempotency-Key: `Ok(None)` to go ahead (the caller must
    /// [`Ingest::finish_idempotent`] or [`Ingest::release_idempotent`]), the
    /// stored answer for a retry, or an error for a key in use or reused.
    pub fn claim_idempotent(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<IdempotentResponse>, (u16, String)> {
        let mut map = self.idempotency.lock().unwrap_or_else(|p| p.into_inner());
        let id = (scope.to_string(), key.to_string());
        match map.get(&id) {
            None => {
                map.insert(id, IdempotencyState::InFlight);
                Ok(None)
            }
            Some(IdempotencyState::InFlight) => {
                Err((409, "a request with this Idempotency-Key is still being processed; retry in a moment".into()))
            }
            Some(IdempotencyState::Done(r)) if r.fingerprint == fingerprint => Ok(Some(r.clone())),
            Some(IdempotencyState::Done(_)) => Err((
                422,
                "this Idempotency-Key was already used for a different request; use a new key for new data".into(),
            )),
        }
    }

    pub fn finish_idempotent(&self, response: IdempotentResponse) {
        let id = (response.scope.clone(), response.key.clone());
        self.idempotency.lock().unwrap_or_else(|p| p.into_inner()).insert(id, IdempotencyState::Done(response));
    }

    pub fn release_idempotent(&self, scope: &str, key: &str) {
        let mut map = self.idempotency.lock().unwrap_or_else(|p| p.into_inner());
        let id = (scope.to_string(), key.to_string());
        if matches!(map.get(&id), Some(IdempotencyState::InFlight)) {
            map.remove(&id);
        }
    }

    /// Stop accepting, compact everything logged, and end the threads.
    pub fn stop(&self, threads: IngestThreads) {
        let _ = threads.compactor_stop.send(());
        let _ = threads.compactor.join();
        self.send(LogRequest::Stop);
        let _ = threads.writer.join();
    }
}

fn busy(why: String) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        format!("the server is behind: {why}; nothing was written, retry in a moment"),
    )
}

fn remember_group(groups: &mut HashMap<String, (i64, String)>, user: String, ts: i64, group: String) {
    match groups.get(&user) {
        Some((at, _)) if *at > ts => {}
        _ => {
            groups.insert(user, (ts, group));
        }
    }
}

/// The writer thread: group commit.
fn log_writer(mut log: IngestLog, rx: mpsc::Receiver<LogRequest>, stats: &IngestStats) {
    let mut buf: Vec<u8> = Vec::new();
    let mut waiting: Vec<Waiter> = Vec::new();
    let flush = |log: &mut IngestLog, buf: &mut Vec<u8>, waiting: &mut Vec<Waiter>| {
        if waiting.is_empty() {
            return;
        }
        let result = log.append(buf).map_err(|e| format!("could not write the ingest log: {e}"));
        if let Err(e) = &result {
            tracing::error!("{e}");
        }
        stats.syncs.fetch_add(1, Ordering::Relaxed);
        stats.requests_logged.fetch_add(waiting.len() as u64, Ordering::Relaxed);
        release(&stats.queued_bytes, buf.len() as u64);
        for done in waiting.drain(..) {
            let _ = done.send(result.clone());
        }
        buf.clear();
    };
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(req) = next.take() {
            match req {
                LogRequest::Append { frame, done } => {
                    buf.extend_from_slice(&frame);
                    waiting.push(done);
                    if buf.len() < GROUP_BYTES {
                        next = rx.try_recv().ok();
                    }
                }
                LogRequest::Rotate { done } => {
                    flush(&mut log, &mut buf, &mut waiting);
                    let _ = done.send(log.rotate().map_err(|e| e.to_string()));
                    next = rx.try_recv().ok();
                }
                LogRequest::Stop => {
                    flush(&mut log, &mut buf, &mut waiting);
                    return;
                }
            }
        }
        flush(&mut log, &mut buf, &mut waiting);
    }
}

struct Compactor {
    ws: Workspace,
    log_dir: PathBuf,
    stats: Arc<IngestStats>,
    ids: DayIds,
}

/// A message id as the compactor remembers it: 128 bits of its BLAKE3 hash
/// (a collision, which would drop an event, is as likely as guessing a key).
type IdHash = u128;

/// The ids are hashes already: use their bits as the table's hash.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

type IdSet = HashSet<IdHash, std::hash::BuildHasherDefault<IdHasher>>;

/// Each day's stored message ids, kept by the compactor so that deduplicating
/// a commit's events costs a lookup per event instead of reading every id of
/// the day again. A day is loaded from the store the first time a commit
/// touches it, and checked against the day's files in the manifest at every
/// commit: when another writer (`tenure import`) changed them, it is loaded
/// again. After a failed commit everything is forgotten (the ids it added
/// were never stored), so the cache can only ever be exact.
#[derive(Default)]
struct DayIds {
    days: HashMap<i32, CachedDay>,
    /// Days checked against the manifest in the current commit.
    checked: HashSet<i32>,
}

struct CachedDay {
    /// The day's files (paths) the ids are those of.
    files: Vec<String>,
    ids: IdSet,
}

fn day_files(manifest: &tenure_store::Manifest, day: i32) -> Vec<String> {
    let date = tenure_store::schema::days_to_date(day).to_string();
    let mut files: Vec<String> = manifest
        .tables
        .get("events")
        .map(|t| t.files.iter().filter(|f| f.day.as_deref() == Some(date.as_str())).map(|f| f.path.clone()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn id_hash(id: &str) -> IdHash {
    let hash = blake3::hash(id.as_bytes());
    u128::from_le_bytes(hash.as_bytes()[..16].try_into().expect("16 bytes"))
}

impl DayIds {
    /// Whether an event is new: its id is neither stored on its day nor
    /// earlier in this commit (it is remembered as stored from now on).
    fn fresh(&mut self, root: &Path, manifest: &tenure_store::Manifest, id: &str, ts: i64) -> Result<bool, StoreError> {
        let day = ts.div_euclid(MICROS_PER_DAY) as i32;
        if self.checked.insert(day) {
            let files = day_files(manifest, day);
            if self.days.get(&day).is_none_or(|d| d.files != files) {
                let mut ids = IdSet::default();
                for f in &files {
                    for batch in tenure_store::read_parquet(&root.join(f), Some(&["message_id"]))? {
                        let col = batch.column(0).as_string::<i32>();
                        ids.extend(col.iter().flatten().map(id_hash));
                    }
                }
                self.days.insert(day, CachedDay { files, ids });
            }
        }
        Ok(self.days.get_mut(&day).expect("loaded").ids.insert(id_hash(id)))
    }

    /// After a commit: the touched days now hold the files the manifest names.
    fn committed(&mut self, manifest: &tenure_store::Manifest) {
        let touched = std::mem::take(&mut self.checked);
        for day in &touched {
            if let Some(d) = self.days.get_mut(day) {
                d.files = day_files(manifest, *day);
            }
        }
        if self.days.values().map(|d| d.ids.len()).sum::<usize>() > MAX_CACHED_IDS {
            self.days.retain(|day, _| touched.contains(day));
            if self.days.values().map(|d| d.ids.len()).sum::<usize>() > MAX_CACHED_IDS {
                self.days.clear();
            }
        }
    }

    fn forget(&mut self) {
        self.days.clear();
        self.checked.clear();
    }
}

impl Compactor {
    fn run(&mut self, ingest: &Ingest, every: Duration, stop: mpsc::Receiver<()>) {
        loop {
            let stopping = !matches!(stop.recv_timeout(every), Err(mpsc::RecvTimeoutError::Timeout));
            let result = ingest
                .rotate_blocking()
                .map_err(|e| StoreError::Io(std::io::Error::other(e)))
                .and_then(|current| self.compact_below(current));
            if let Err(e) = result {
                self.stats.compaction_failures.fetch_add(1, Ordering::Relaxed);
                // The segments stay; the next round tries again.
                tracing::error!("compacting the ingest log into the store failed: {e}");
            }
            if stopping {
                return;
            }
            // Health alert rules see what was committed (debounced, evaluated in the background).
            tenure_query::health::evaluate_alerts_after_ingest(&self.ws);
        }
    }

    /// Move every segment older than `current` into the store, oldest
    /// first, as few commits as [`COMPACT_COMMIT_BYTES`] allows. Returns the
    /// idempotency records they held.
    fn compact_below(&mut self, current: u64) -> Result<Vec<IdempotentResponse>, StoreError> {
        let mut remembered = Vec::new();
        let mut group: Vec<(Segment, u64)> = Vec::new();
        let mut group_bytes = 0;
        for segment in segments(&self.log_dir)?.into_iter().filter(|s| s.seq < current) {
            let size = fs_err::metadata(&segment.path).map(|m| m.len()).unwrap_or(0);
            if !group.is_empty() && group_bytes + size > COMPACT_COMMIT_BYTES {
                remembered.extend(self.compact_logged(&std::mem::take(&mut group))?);
                group_bytes = 0;
            }
            group_bytes += size;
            group.push((segment, size));
        }
        if !group.is_empty() {
            remembered.extend(self.compact_logged(&group)?);
        }
        Ok(remembered)
    }

    /// [`Compactor::compact`]; anything it remembered is forgotten if it fails.
    fn compact_logged(&mut self, segments: &[(Segment, u64)]) -> Result<Vec<IdempotentResponse>, StoreError> {
        let result = self.compact(segments);
        if result.is_err() {
            self.ids.forget();
        }
        result
    }

    /// Move sealed segments (with their sizes) into the store in one commit, then remove them.
    fn compact(&mut self, segments: &[(Segment, u64)]) -> Result<Vec<IdempotentResponse>, StoreError> {
        let mut logged = Vec::with_capacity(segments.len());
        for (segment, _) in segments {
            let frames = segment.read()?;
            if frames.torn_bytes > 0 {
                // Only the frame being written when the process died can be torn; it was never acknowledged.
                tracing::info!(
                    "{}: ignoring {} bytes of an unfinished write",
                    segment.path.display(),
                    frames.torn_bytes
                );
            }
            logged.push((segment, frames.payloads));
        }
        if logged.iter().all(|(_, payloads)| payloads.is_empty()) {
            // Nothing was acknowledged from them (an idle run, or a torn first write): no commit.
            for (segment, size) in segments {
                segment.remove()?;
                release(&self.stats.backlog_bytes, *size);
            }
            return Ok(Vec::new());
        }
        let mut tables: BTreeMap<String, Box<dyn Rows>> = BTreeMap::new();
        // Events go straight from the log's bytes to Arrow; the rest (and any
        // event the fast reader is unsure of) through `Rows`.
        let mut events = EventColumns::default();
        // Events that went through `Rows` are deduplicated by the store, not by `self.ids`.
        let mut reference_events = false;
        let mut remembered = Vec::new();
        let mut rows_total = 0u64;
        let root = self.ws.root().to_path_buf();
        let mut writer = self.ws.writer()?;
        for (segment, payloads) in &logged {
            for (request, payload) in payloads.iter().enumerate() {
                let entry: LoggedEntry = match std::str::from_utf8(payload)
                    .map_err(|e| e.to_string())
                    .and_then(|p| serde_json::from_str(p).map_err(|e| e.to_string()))
                {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::error!(
                            "{}: frame {request} is not a log entry ({e}); skipped",
                            segment.path.display()
                        );
                        continue;
                    }
                };
                let Some(rows) = table_rows(&mut tables, &entry.entity) else {
                    tracing::error!(
                        "{}: unknown entity {:?}; its rows are skipped",
                        segment.path.display(),
                        entry.entity
                    );
                    continue;
                };
                for (i, row) in entry.rows.iter().enumerate() {
                    rows_total += 1;
                    if entry.entity == "events"
                        && let Ok(event) = LoggedEvent::read(row.get())
                    {
                        if self.ids.fresh(&root, writer.manifest(), event.message_id, event.timestamp)? {
                            events.push(event.row());
                        }
                        continue;
                    }
                    reference_events |= entry.entity == "events";
                    let pushed = serde_json::from_str(row.get())
                        .map_err(|e| vec![tenure_model::FieldError::new("", format!("not a JSON object: {e}"))])
                        .and_then(|fields| rows.push(&Record::new(i as u64, fields), request as u64));
                    // Rows were validated before they were logged; a row that no
                    // longer validates (a newer tenure with stricter rules) must not
                    // block the log forever.
                    if let Err(errors) = pushed {
                        let why: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                        tracing::error!(
                            "{}: a logged row no longer validates ({}); skipped",
                            segment.path.display(),
                            why.join("; ")
                        );
                    }
                }
                if entry.entity == "events" && rows.len() + events.len() >= COMPACT_EVENT_CHUNK {
                    rows.write(&mut writer)?;
                    writer.append_checked_event_batch(&events.finish())?;
                }
                remembered.extend(entry.idempotency);
            }
        }
        writer.append_checked_event_batch(&events.finish())?;
        for rows in tables.values_mut() {
            rows.write(&mut writer)?;
        }
        writer.commit()?;
        if reference_events {
            // The store deduplicated those against the files; the cache does not know their ids.
            self.ids.forget();
        } else {
            self.ids.committed(self.ws.manifest());
        }
        append_idempotency(&self.log_dir, &remembered)?;
        for (segment, size) in segments {
            segment.remove()?;
            release(&self.stats.backlog_bytes, *size);
        }
        // The rollups are a cache: a failure only makes engagement queries scan.
        if let Err(e) = tenure_query::rollup::refresh(&self.ws) {
            tracing::error!("refreshing the engagement rollups failed: {e:#}");
        }
        self.stats.rows_compacted.fetch_add(rows_total, Ordering::Relaxed);
        Ok(remembered)
    }
}

/// The rows of `entity` in `tables`, created on first use; `None` for an unknown entity.
fn table_rows<'t>(tables: &'t mut BTreeMap<String, Box<dyn Rows>>, entity: &str) -> Option<&'t mut Box<dyn Rows>> {
    if !tables.contains_key(entity) {
        tables.insert(entity.to_string(), rows_for(entity)?);
    }
    tables.get_mut(entity)
}

fn jsonl(records: &[IdempotentResponse]) -> Vec<u8> {
    let mut text = Vec::new();
    for r in records {
        serde_json::to_writer(&mut text, r).expect("serialises");
        text.push(b'\n');
    }
    text
}

fn append_idempotency(dir: &Path, records: &[IdempotentResponse]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut f = fs_err::OpenOptions::new().create(true).append(true).open(dir.join(IDEMPOTENCY_FILE))?;
    f.write_all(&jsonl(records))?;
    f.sync_data()?;
    Ok(())
}

/// The idempotency records of the last day; older ones are dropped from the file.
fn load_idempotency(dir: &Path) -> Result<Vec<IdempotentResponse>, StoreError> {
    let path = dir.join(IDEMPOTENCY_FILE);
    let text = match fs_err::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let since = jiff::Timestamp::now().as_second() - IDEMPOTENCY_SECONDS;
    let all: Vec<IdempotentResponse> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let kept: Vec<IdempotentResponse> = all.iter().filter(|r| r.at >= since).cloned().collect();
    if kept.len() < all.len() {
        // Durably, like the manifest: a crash leaves the old file or the new one, never a torn one.
        let tmp = dir.join(format!("{IDEMPOTENCY_FILE}.tmp"));
        let mut f = fs_err::File::create(&tmp)?;
        f.write_all(&jsonl(&kept))?;
        f.sync_all()?;
        fs_err::rename(&tmp, &path)?;
        tenure_store::manifest::sync_dir(dir)?;
    }
    Ok(kept)
}

/// Each user's latest group call in the store (user id, else anonymous id).
fn latest_groups(ws: &Workspace) -> Result<HashMap<String, (i64, String)>, StoreError> {
    let mut groups = HashMap::new();
    let columns = ["type", "user_id", "anonymous_id", "group_id", "timestamp"];
    for path in ws.table_paths("events") {
        for batch in tenure_store::read_parquet(&path, Some(&columns))? {
            let col = |n: &str| batch.column_by_name(n).expect("projected column");
            let (kind, user, anon, group) = (
                col("type").as_string::<i32>(),
                col("user_id").as_string::<i32>(),
                col("anonymous_id").as_string::<i32>(),
                col("group_id").as_string::<i32>(),
            );
            let ts = col("timestamp").as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            for i in 0..batch.num_rows() {
                if kind.value(i) != "group" || group.is_null(i) {
                    continue;
                }
                let who = if user.is_valid(i) {
                    user.value(i)
                } else if anon.is_valid(i) {
                    anon.value(i)
                } else {
                    continue;
                };
                remember_group(&mut groups, who.to_string(), ts.value(i), group.value(i).to_string());
            }
        }
    }
    Ok(groups)
}
