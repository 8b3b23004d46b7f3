//! The bulk path for usage events from JSON Lines and CSV files, the largest
//! imports by far. Blocks of rows are parsed on every core while this thread
//! reads the file and the writer encodes Parquet; results are taken back in
//! file order, so errors, line numbers and the "first message id wins" rule
//! are those of a sequential read.
//!
//! A row written the common way (the data contract's own field names, plain
//! strings, a message id, a valid row) goes straight into Arrow columns,
//! borrowed from the input: no JSON tree, no record, no entity. Any other
//! row (an alias field name, a number where a string is expected, an escaped
//! or nested object to re-serialise, an invalid row) takes the general path,
//! [`crate::parse_row`] and [`UsageEvent::from_record`], so what it means and
//! how it is rejected is decided in one place for every import.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};

use arrow::array::{ArrayRef, RecordBatch, StringBuilder, TimestampMicrosecondArray};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tenure_model::time::parse_timestamp;
use tenure_model::{UsageEvent, UsageEventType};
use tenure_store::Workspace;

use crate::csv_blocks::{CsvBlock, CsvChunks, Made, Realign};
use crate::read::{CountingReader, count_byte, csv_record, jsonl_record, jsonl_text};
use crate::{Format, ImportError, ImportOptions, ImportReport, RowError, parse_row};

/// Bytes of JSON Lines per block handed to a parse thread (about 17,000
/// events): large enough to amortise the hand-over, small enough that the
/// blocks in flight stay a few MiB.
const BLOCK_BYTES: usize = 4 << 20;

/// Import usage event files (JSON Lines or CSV, no vendor mapping) into
/// the workspace: all of them or, if a row is rejected and `skip_invalid`
/// is not given, nothing.
pub(crate) fn import_event_files(
    ws: &mut Workspace,
    files: &[(PathBuf, Format)],
    opts: &ImportOptions,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let mut writer = ws.writer()?;
    for (path, format) in files {
        let file = path.display().to_string();
        let mut write = |parsed: Parsed| -> Result<(), ImportError> {
            report.rows_read += parsed.report.rows_read;
            report.rows_valid += parsed.report.rows_valid;
            report.rejected.extend(parsed.report.rejected);
            report.rejected_records.extend(parsed.report.rejected_records);
            // Once a row is rejected the import will not commit (unless
            // skipping): stop writing, keep validating.
            if report.rejected.is_empty() || opts.skip_invalid {
                writer.append_event_batch(&parsed.batch)?;
            }
            Ok(())
        };
        let read_error = match format {
            Format::Jsonl => {
                let mut blocks = JsonlBlocks::open(path, opts.progress.clone())?;
                pipeline(|| blocks.next(), |b| parse_jsonl(&file, b), &mut write)?;
                blocks.error
            }
            Format::Csv => {
                let reader = CountingReader { inner: open(path)?, progress: opts.progress.clone() };
                let mut chunks = CsvChunks::open(path, reader)?;
                let cols = CsvColumns::new(&chunks.header);
                let shape = chunks.shape.clone();
                let parse = |block: CsvBlock| parse_csv(&file, &cols, block);
                let mut realign = Realign::default();
                pipeline(
                    || chunks.next_chunk(),
                    |chunk| Made::new(chunk, &shape, None, parse),
                    |made| write(realign.next(made, &shape, parse)),
                )?;
                let (last, error) = chunks.finish(&mut realign, parse);
                if let Some(parsed) = last {
                    write(parsed)?;
                }
                error
            }
            _ => unreachable!("only JSON Lines and CSV take this path"),
        };
        if let Some(e) = read_error {
            report.rows_read += 1;
            report.rejected.push(e);
        }
    }
    if !report.rejected.is_empty() && !opts.skip_invalid {
        drop(writer);
        return Err(ImportError::Rejected(Box::new(std::mem::take(report))));
    }
    let summary = writer.commit()?;
    report.version = summary.version;
    report.append = Some(summary.events);
    Ok(())
}

fn open(path: &Path) -> Result<fs_err::File, ImportError> {
    fs_err::File::open(path).map_err(|e| ImportError::File { path: path.to_path_buf(), reason: e.to_string() })
}

/// Run `parse` over the blocks `next_block` reads, on every core, and give
/// the results to `write` in the order the blocks were read. At most a few
/// blocks are in flight, so memory stays bounded whatever the file size.
fn pipeline<B: Send, P: Send>(
    mut next_block: impl FnMut() -> Option<B>,
    parse: impl Fn(B) -> P + Sync,
    mut write: impl FnMut(P) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let workers = tenure_model::cores();
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, B)>(workers);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<(u64, P)>();
    std::thread::scope(|s| {
        // Owned here so that an early return (a write error) closes the
        // job queue and the parse threads end instead of waiting forever.
        let job_tx = job_tx;
        for _ in 0..workers {
            let (job_rx, done_tx, parse) = (&job_rx, done_tx.clone(), &parse);
            s.spawn(move || {
                loop {
                    let job = job_rx.lock().expect("no parse thread panicked").recv();
                    let Ok((seq, block)) = job else { break };
                    if done_tx.send((seq, parse(block))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut pending: BTreeMap<u64, P> = BTreeMap::new();
        let mut next_to_write = 0u64;
        let mut deliver = |pending: &mut BTreeMap<u64, P>| -> Result<(), ImportError> {
            while let Some(p) = pending.remove(&next_to_write) {
                write(p)?;
                next_to_write += 1;
            }
            Ok(())
        };
        let mut seq = 0u64;
        while let Some(block) = next_block() {
            job_tx.send((seq, block)).expect("parse threads run until the jobs end");
            seq += 1;
            pending.extend(done_rx.try_iter());
            deliver(&mut pending)?;
        }
        drop(job_tx);
        for (n, p) in done_rx {
            pending.insert(n, p);
            deliver(&mut pending)?;
        }
        Ok(())
    })
}

/// What a parse thread makes of one block: the valid rows as a batch in the
/// `events` schema, and the counts and rejected rows.
struct Parsed {
    batch: RecordBatch,
    report: ImportReport,
}

// ---------------------------------------------------------------- JSON Lines

/// Whole lines of a JSON Lines file, `BLOCK_BYTES` at a time.
struct JsonlBlocks {
    file: fs_err::File,
    path: String,
    progress: Option<crate::Progress>,
    /// The start of a line the previous block cut.
    carry: Vec<u8>,
    next_line: u64,
    eof: bool,
    /// A read error: the file is not read further.
    error: Option<RowError>,
}

/// Lines of a JSON Lines file; `first_line` is the number of the first.
struct JsonlBlock {
    text: Vec<u8>,
    first_line: u64,
}

impl JsonlBlocks {
    fn open(path: &Path, progress: Option<crate::Progress>) -> Result<JsonlBlocks, ImportError> {
        let file = open(path)?;
        let path = path.display().to_string();
        Ok(JsonlBlocks { file, path, progress, carry: Vec::new(), next_line: 1, eof: false, error: None })
    }

    fn next(&mut self) -> Option<JsonlBlock> {
        let mut text = std::mem::take(&mut self.carry);
        while !self.eof {
            text.reserve(BLOCK_BYTES);
            match (&mut self.file).take(BLOCK_BYTES as u64).read_to_end(&mut text) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    if let Some(p) = &self.progress {
                        p(n as u64);
                    }
                    // A line longer than a block: read on until it ends.
                    if let Some(end) = text.iter().rposition(|b| *b == b'\n') {
                        self.carry = text.split_off(end + 1);
                        break;
                    }
                }
                Err(e) => {
                    let line = self.next_line + count_byte(&text, b'\n');
                    self.error = Some(RowError::new(&self.path, line, "file", e.to_string()));
                    self.eof = true;
                }
            }
        }
        if text.is_empty() {
            return None;
        }
        let first_line = self.next_line;
        self.next_line += count_byte(&text, b'\n');
        Some(JsonlBlock { text, first_line })
    }
}

/// One event line as written, borrowing its strings (unless they hold
/// escapes) and the text of its objects. Any other member is skipped
/// unread; a member of the wrong type fails the line, which then takes the
/// general path.
#[derive(Deserialize)]
struct JsonLine<'a> {
    #[serde(rename = "messageId", borrow)]
    message_id: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "userId", borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(rename = "anonymousId", borrow)]
    anonymous_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "groupId", borrow)]
    group_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    traits: Option<&'a RawValue>,
    #[serde(borrow)]
    context: Option<&'a RawValue>,
    // The other names `UsageEvent::from_record` reads a field from.
    #[serde(rename = "message_id", borrow)]
    message_id_: Option<&'a RawValue>,
    #[serde(rename = "user_id", borrow)]
    user_id_: Option<&'a RawValue>,
    #[serde(rename = "anonymous_id", borrow)]
    anonymous_id_: Option<&'a RawValue>,
    #[serde(rename = "group_id", borrow)]
    group_id_: Option<&'a RawValue>,
    #[serde(rename = "originalTimestamp", borrow)]
    original_timestamp: Option<&'a RawValue>,
    #[serde(rename = "receivedAt", borrow)]
    received_at: Option<&'a RawValue>,
    #[serde(rename = "context.groupId", borrow)]
    context_group_id: Option<&'a RawValue>,
    #[serde(rename = "context.group_id", borrow)]
    context_group_id_: Option<&'a RawValue>,
}

impl<'a> JsonLine<'a> {
    /// The fields as the fast path reads them.
    fn fields(self) -> EventFields<'a> {
        let mut other = false;
        let mut pick = |v: Option<Cow<'a, str>>, alias: bool| {
            let v = v.and_then(trimmed);
            other |= v.is_none() && alias;
            v
        };
        let message_id = pick(self.message_id, self.message_id_.is_some());
        let user_id = pick(self.user_id, self.user_id_.is_some());
        let anonymous_id = pick(self.anonymous_id, self.anonymous_id_.is_some());
        let timestamp = pick(self.timestamp, self.original_timestamp.is_some() || self.received_at.is_some());
        let group_id = pick(
            self.group_id,
            self.group_id_.is_some() || self.context_group_id.is_some() || self.context_group_id_.is_some(),
        );
        let mut object = |v: Option<&'a RawValue>| {
            let text = v.map(RawValue::get);
            other |= text.is_some_and(|t| !t.starts_with('{'));
            text
        };
        let (properties, traits, context) = (object(self.properties), object(self.traits), object(self.context));
        EventFields {
            message_id,
            kind: self.kind.and_then(trimmed),
            user_id,
            anonymous_id,
            event: self.event.and_then(trimmed),
            name: self.name.and_then(trimmed),
            timestamp,
            group_id,
            properties,
            traits,
            context,
            other,
        }
    }
}

/// A string field as `Fields::opt_str` reads it: trimmed, absent if blank.
fn trimmed(s: Cow<'_, str>) -> Option<Cow<'_, str>> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    Some(match s {
        Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
        Cow::Owned(o) if o.len() == t.len() => Cow::Owned(o),
        Cow::Owned(o) => Cow::Owned(o.trim().to_string()),
    })
}

fn parse_jsonl(file: &str, block: JsonlBlock) -> Parsed {
    let mut cols = EventColumns::with_capacity(block.text.len());
    let mut report = ImportReport::default();
    let mut scratch = Scratch::default();
    for (i, bytes) in block.text.split(|b| *b == b'\n').enumerate() {
        let line = block.first_line + i as u64;
        let text = match jsonl_text(file, line, bytes) {
            Ok("") => continue,
            Ok(t) => t,
            Err(e) => {
                parse_row::<UsageEvent>(&mut report, file, Err(e));
                continue;
            }
        };
        if let Ok(fields) = serde_json::from_str::<JsonLine>(text)
            && cols.push_fields(&fields.fields(), &mut scratch)
        {
            report.rows_read += 1;
            report.rows_valid += 1;
            continue;
        }
        if let Some((_, event)) = parse_row::<UsageEvent>(&mut report, file, jsonl_record(file, line, text)) {
            report.rows_valid += 1;
            cols.push_event(&event);
        }
    }
    Parsed { batch: cols.finish(), report }
}

// ---------------------------------------------------------------- CSV

/// Where the fields the fast path reads are in a CSV header.
struct CsvColumns {
    header: Vec<String>,
    /// messageId, type, userId, anonymousId, event, name, timestamp,
    /// groupId, properties, traits, context.
    at: [Option<usize>; 11],
    /// The header names a field another way too (`user_id`, `context.groupId`):
    /// every row takes the general path.
    general: bool,
}

impl CsvColumns {
    const NAMES: [&'static str; 11] = [
        "messageId",
        "type",
        "userId",
        "anonymousId",
        "event",
        "name",
        "timestamp",
        "groupId",
        "properties",
        "traits",
        "context",
    ];
    const OTHER_NAMES: [&'static str; 6] =
        ["message_id", "user_id", "anonymous_id", "group_id", "originalTimestamp", "receivedAt"];

    fn new(header: &[String]) -> CsvColumns {
        let at = Self::NAMES.map(|n| header.iter().position(|h| h == n));
        let general = header.iter().any(|h| Self::OTHER_NAMES.contains(&h.as_str()) || h.starts_with("context."));
        CsvColumns { header: header.to_vec(), at, general }
    }
}

fn parse_csv(file: &str, cols: &CsvColumns, mut block: CsvBlock) -> Parsed {
    let mut out = EventColumns::with_capacity(block.cells.len() * 5 / 4);
    let mut report = ImportReport::default();
    let mut scratch = Scratch::default();
    let width = cols.header.len();
    let rows = std::mem::take(&mut block.rows);
    // The block's cells are checked as one text: a cell of it is then UTF-8
    // if it starts and ends on a character boundary. Checked cell by cell,
    // the check was a tenth of a CSV import's time.
    let text = std::str::from_utf8(&block.cells).ok();
    for row in rows {
        let (line, first) = match row {
            Ok(r) => r,
            Err(e) => {
                parse_row::<UsageEvent>(&mut report, file, Err(*e));
                continue;
            }
        };
        let cell_text = |i: usize| match text {
            Some(t) => t.get(block.span(first + i)),
            None => std::str::from_utf8(block.cell(first + i)).ok(),
        };
        if !cols.general
            && let Some(fields) = csv_fields(cols, &cell_text)
            && out.push_fields(&fields, &mut scratch)
        {
            report.rows_read += 1;
            report.rows_valid += 1;
            continue;
        }
        let record = csv_record(file, line, &cols.header, (0..width).map(|i| block.cell(first + i)));
        if let Some((_, event)) = parse_row::<UsageEvent>(&mut report, file, record) {
            report.rows_valid += 1;
            out.push_event(&event);
        }
    }
    Parsed { batch: out.finish(), report }
}

/// A CSV row's fields as the fast path reads them, given each cell's text;
/// `None` if a named cell is not UTF-8 (the general path says which).
fn csv_fields<'c>(cols: &CsvColumns, cell: &impl Fn(usize) -> Option<&'c str>) -> Option<EventFields<'c>> {
    for (i, name) in cols.header.iter().enumerate() {
        if !name.is_empty() {
            cell(i)?;
        }
    }
    let text = |k: usize| -> Option<&'c str> {
        let s = cell(cols.at[k]?)?.trim();
        (!s.is_empty()).then_some(s)
    };
    let mut other = false;
    let mut object = |k: usize| {
        let t = text(k)?;
        // A cell holding a JSON object, as `Fields::opt_object` reads it.
        let json_trimmed = cell(cols.at[k]?)?.trim_matches([' ', '\t', '\n', '\r']);
        let ok = json_trimmed.len() == t.len() && t.starts_with('{') && serde_json::from_str::<&RawValue>(t).is_ok();
        other |= !ok;
        Some(t)
    };
    let (properties, traits, context) = (object(8), object(9), object(10));
    Some(EventFields {
        message_id: text(0).map(Cow::Borrowed),
        kind: text(1).map(Cow::Borrowed),
        user_id: text(2).map(Cow::Borrowed),
        anonymous_id: text(3).map(Cow::Borrowed),
        event: text(4).map(Cow::Borrowed),
        name: text(5).map(Cow::Borrowed),
        timestamp: text(6).map(Cow::Borrowed),
        group_id: text(7).map(Cow::Borrowed),
        properties,
        traits,
        context,
        other,
    })
}

// ---------------------------------------------------------------- Arrow columns

/// An event's fields as written (strings trimmed, blank ones absent; the
/// JSON text of each object), before validation.
struct EventFields<'a> {
    message_id: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    anonymous_id: Option<Cow<'a, str>>,
    event: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    timestamp: Option<Cow<'a, str>>,
    group_id: Option<Cow<'a, str>>,
    properties: Option<&'a str>,
    traits: Option<&'a str>,
    context: Option<&'a str>,
    /// Something only the general path reads (another name for a field, an
    /// object given as a string).
    other: bool,
}

/// Buffers reused from row to row by the object check.
#[derive(Default)]
struct Scratch {
    keys: Vec<(usize, usize)>,
    objects: Vec<usize>,
}

/// The `events` table's columns, built row by row: the one builder behind
/// both bulk import and the server's ingest compactor, so that the two
/// store the same rows for the same events.
pub struct EventColumns {
    message_id: StringBuilder,
    kind: StringBuilder,
    user_id: StringBuilder,
    anonymous_id: StringBuilder,
    event: StringBuilder,
    name: StringBuilder,
    timestamp: Vec<i64>,
    group_id: StringBuilder,
    properties: StringBuilder,
    traits: StringBuilder,
    context: StringBuilder,
}

impl Default for EventColumns {
    fn default() -> Self {
        EventColumns::with_capacity(0)
    }
}

impl EventColumns {
    /// Room for the rows of `bytes` of input (about 240 bytes a row).
    pub fn with_capacity(bytes: usize) -> EventColumns {
        let rows = bytes / 200 + 16;
        let text = |per_row: usize| StringBuilder::with_capacity(rows, rows * per_row);
        EventColumns {
            message_id: text(16),
            kind: text(8),
            user_id: text(16),
            anonymous_id: text(4),
            event: text(12),
            name: text(4),
            timestamp: Vec::with_capacity(rows),
            group_id: text(12),
            properties: text(32),
            traits: text(16),
            context: text(4),
        }
    }

    /// Append a row that needs nothing of the general path; `false` (and
    /// nothing appended) if it does.
    fn push_fields(&mut self, f: &EventFields, scratch: &mut Scratch) -> bool {
        if f.other {
            return false;
        }
        let Some(kind) = f.kind.as_deref().and_then(|k| {
            UsageEventType::NAMES.iter().position(|n| n.eq_ignore_ascii_case(k)).map(|i| UsageEventType::ALL[i])
        }) else {
            return false;
        };
        let (Some(message_id), Some(timestamp)) = (f.message_id.as_deref(), f.timestamp.as_deref()) else {
            return false;
        };
        if (f.user_id.is_none() && f.anonymous_id.is_none())
            || (kind == UsageEventType::Track && f.event.is_none())
            // `context.groupId` stands in for a missing groupId.
            || (f.group_id.is_none() && (kind == UsageEventType::Group || f.context.is_some()))
        {
            return false;
        }
        let Ok(timestamp) = parse_timestamp(timestamp) else { return false };
        let mut object = |text: Option<&str>| -> Option<Option<String>> {
            match text {
                Some(t) if !canonical_object(t, scratch) => {
                    let map: Map<String, Value> = serde_json::from_str(t).ok()?;
                    Some(Some(serde_json::to_string(&map).expect("json serialises")))
                }
                _ => Some(None),
            }
        };
        let (Some(properties), Some(traits), Some(context)) =
            (object(f.properties), object(f.traits), object(f.context))
        else {
            return false;
        };
        self.push(EventRow {
            message_id,
            kind: kind.as_str(),
            user_id: f.user_id.as_deref(),
            anonymous_id: f.anonymous_id.as_deref(),
            event: f.event.as_deref(),
            name: f.name.as_deref(),
            timestamp: timestamp.as_microsecond(),
            group_id: f.group_id.as_deref(),
            properties: properties.as_deref().or(f.properties),
            traits: traits.as_deref().or(f.traits),
            context: context.as_deref().or(f.context),
        });
        true
    }

    /// Append a row of the general path, as `UsageEvent::to_batches` writes it.
    fn push_event(&mut self, e: &UsageEvent) {
        let json = |m: &Option<Map<String, Value>>| m.as_ref().map(|m| serde_json::to_string(m).expect("serialises"));
        let (properties, traits, context) = (json(&e.properties), json(&e.traits), json(&e.context));
        self.push(EventRow {
            message_id: &e.message_id,
            kind: e.kind.as_str(),
            user_id: e.user_id.as_deref(),
            anonymous_id: e.anonymous_id.as_deref(),
            event: e.event.as_deref(),
            name: e.name.as_deref(),
            timestamp: tenure_store::schema::ts_to_micros(e.timestamp),
            group_id: e.group_id.as_deref(),
            properties: properties.as_deref(),
            traits: traits.as_deref(),
            context: context.as_deref(),
        });
    }

    pub fn len(&self) -> usize {
        self.timestamp.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamp.is_empty()
    }

    /// Append one row, its object members already in the text the store keeps
    /// (what `serde_json::to_string` writes for the parsed object).
    pub fn push(&mut self, r: EventRow) {
        self.message_id.append_value(r.message_id);
        self.kind.append_value(r.kind);
        self.user_id.append_option(r.user_id);
        self.anonymous_id.append_option(r.anonymous_id);
        self.event.append_option(r.event);
        self.name.append_option(r.name);
        self.timestamp.push(r.timestamp);
        self.group_id.append_option(r.group_id);
        self.properties.append_option(r.properties);
        self.traits.append_option(r.traits);
        self.context.append_option(r.context);
    }

    /// The rows so far as one batch; the builders start again empty.
    pub fn finish(&mut self) -> RecordBatch {
        let ts = TimestampMicrosecondArray::from(std::mem::take(&mut self.timestamp)).with_timezone("UTC");
        let s = |b: &mut StringBuilder| -> ArrayRef { std::sync::Arc::new(b.finish()) };
        let columns = vec![
            s(&mut self.message_id),
            s(&mut self.kind),
            s(&mut self.user_id),
            s(&mut self.anonymous_id),
            s(&mut self.event),
            s(&mut self.name),
            std::sync::Arc::new(ts),
            s(&mut self.group_id),
            s(&mut self.properties),
            s(&mut self.traits),
            s(&mut self.context),
        ];
        RecordBatch::try_new(tenure_store::schema::EVENTS.clone(), columns).expect("columns match the events schema")
    }
}

/// One row of the `events` table, borrowed.
pub struct EventRow<'r> {
    pub message_id: &'r str,
    pub kind: &'static str,
    pub user_id: Option<&'r str>,
    pub anonymous_id: Option<&'r str>,
    pub event: Option<&'r str>,
    pub name: Option<&'r str>,
    /// Microseconds since the epoch.
    pub timestamp: i64,
    pub group_id: Option<&'r str>,
    pub properties: Option<&'r str>,
    pub traits: Option<&'r str>,
    pub context: Option<&'r str>,
}

/// Whether the text of a valid JSON object is exactly what serde_json
/// writes for it (`serde_json::to_string` of the parsed map), so it can be
/// stored as it is: no whitespace, no escapes, integers only (a float may be
/// written another way), and no key twice in one object (the last would
/// win). A `false` only costs a parse and a write.
fn canonical_object(text: &str, scratch: &mut Scratch) -> bool {
    let b = text.as_bytes();
    scratch.keys.clear();
    scratch.objects.clear();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i + 1;
                let Some(len) = b[start..].iter().position(|c| *c == b'"' || *c == b'\\') else { return false };
                let end = start + len;
                if b[end] == b'\\' {
                    return false;
                }
                if b.get(end + 1) == Some(&b':') {
                    let Some(&first) = scratch.objects.last() else { return false };
                    let key = &b[start..end];
                    if scratch.keys[first..].iter().any(|&(s, e)| &b[s..e] == key) {
                        return false;
                    }
                    scratch.keys.push((start, end));
                }
                i = end + 1;
            }
            b'{' => {
                scratch.objects.push(scratch.keys.len());
                i += 1;
            }
            b'}' => {
                let Some(first) = scratch.objects.pop() else { return false };
                scratch.keys.truncate(first);
                i += 1;
            }
            b'[' | b']' | b':' | b',' => i += 1,
            b't' | b'n' => i += 4,
            b'f' => i += 5,
            b'-' | b'0'..=b'9' => {
                let len = b[i..].iter().position(|c| !(c.is_ascii_digit() || *c == b'-')).unwrap_or(b.len() - i);
                // Up to 18 digits is an i64 or u64, written back alike; not -0.
                if len > 18 || &b[i..i + len] == b"-0" {
                    return false;
                }
                i += len;
            }
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use tenure_model::{Entity, Record};
    use tenure_store::Stored;

    fn reserialised(text: &str) -> String {
        serde_json::to_string(&serde_json::from_str::<Map<String, Value>>(text).unwrap()).unwrap()
    }

    #[test]
    fn an_object_is_kept_as_written_only_when_serde_json_writes_it_alike() {
        let canonical = [
            r#"{}"#,
            r#"{"plan":"growth","seats":12,"ok":true,"x":null,"tags":["a","b"],"n":{"a":{"b":[1,-2]}}}"#,
            r#"{"a":{"k":1},"b":{"k":2}}"#,
            r#"{"name":"Zoë"}"#,
        ];
        for t in canonical {
            assert!(canonical_object(t, &mut Scratch::default()), "{t}");
            assert_eq!(reserialised(t), t);
        }
        // Each with whether serde_json happens to write it alike (left to the
        // general path all the same: floats and wide integers are not checked).
        let other = [
            (r#"{ "a": 1 }"#, false),
            (r#"{"a":1e3}"#, false),
            (r#"{"a":-0}"#, false),
            (r#"{"a":"\u00e9"}"#, false),
            (r#"{"a":"x\/y"}"#, false),
            (r#"{"a":1,"a":2}"#, false),
            (r#"{"n":{"a":1,"a":2}}"#, false),
            (r#"{"a":1.0}"#, true),
            (r#"{"a":12345678901234567890}"#, true),
        ];
        for (t, alike) in other {
            assert!(!canonical_object(t, &mut Scratch::default()), "{t}");
            assert_eq!(reserialised(t) == t, alike, "{t}");
        }
    }

    /// Every line, through the fast path or the general one, gives the rows
    /// `UsageEvent::from_record` and `to_batches` give.
    #[test]
    fn jsonl_blocks_give_the_rows_of_the_general_path() {
        let lines = [
            r#"{"messageId":"m1","type":"track","userId":"u1","event":"Login","timestamp":"2024-03-01T10:00:00.123456Z","groupId":"g1","properties":{"a":1},"context":null}"#,
            r#"{"messageId":" m2 ","type":"PAGE","anonymousId":"a1","name":"Home","timestamp":"2024-03-01T10:00:00Z","properties":{ "b" : 2.50 }}"#,
            r#"{"message_id":"m3","type":"identify","user_id":"u3","originalTimestamp":"2024-03-02","traits":{"email":"x@y"}}"#,
            r#"{"type":"track","userId":"u4","event":"E","timestamp":"2024-03-01T11:00:00+02:00"}"#,
            r#"{"messageId":"m5","type":"group","userId":"u5","timestamp":"2024-03-01T12:00:00Z","context":{"groupId":"g5"}}"#,
            r#"{"messageId":"m6","type":"track","userId":7,"event":"E","timestamp":1709290800,"properties":"{\"c\":3}"}"#,
            r#"{"messageId":"m7","type":"track","userId":"u\u00e9","event":"E\n","timestamp":"2024-03-01T10:00:00Z","integrations":{"x":[1,{"y":2}]}}"#,
        ];
        let text = lines.join("\n");
        let parsed = parse_jsonl("f.jsonl", JsonlBlock { text: text.into_bytes(), first_line: 1 });
        assert!(parsed.report.rejected.is_empty(), "{:?}", parsed.report.rejected);
        assert_eq!((parsed.report.rows_read, parsed.report.rows_valid), (7, 7));
        let events: Vec<UsageEvent> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| UsageEvent::from_record(&jsonl_record("f", i as u64 + 1, l).unwrap()).unwrap())
            .collect();
        assert_eq!(parsed.batch, UsageEvent::to_batches(&events).remove(0));
    }

    #[test]
    fn the_pipeline_writes_in_read_order_and_stops_at_a_write_error() {
        let mut blocks = 0..200u64;
        let mut written = Vec::new();
        // Later blocks parse faster, so they finish out of order.
        let slow = |b: u64| {
            std::thread::sleep(std::time::Duration::from_micros(200 - b));
            b * 10
        };
        pipeline(
            || blocks.next(),
            slow,
            |p| {
                written.push(p);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(written, (0..200).map(|b| b * 10).collect::<Vec<_>>());

        let mut blocks = 0..200u64;
        let err = pipeline(
            || blocks.next(),
            |b| b,
            |b| if b == 3 { Err(ImportError::UnknownEntity("stop".into())) } else { Ok(()) },
        );
        assert!(matches!(err, Err(ImportError::UnknownEntity(_))), "returns, does not wait on the parse threads");
    }

    /// A file of several blocks: rows handed back in order, line numbers
    /// counted across block boundaries, ids deduplicated across blocks, and
    /// one bad row anywhere leaves the workspace untouched.
    #[test]
    fn a_file_of_many_blocks_imports_in_order_or_not_at_all() {
        let line = |i: usize| {
            // The last 1,000 lines repeat the ids (and days) of the first ones, from other users.
            let j = i % 29_000;
            format!(
                r#"{{"messageId":"m{j}","type":"track","userId":"u{}","event":"E","timestamp":"2024-03-{:02}T10:00:{:02}Z","properties":{{"pad":"{}"}}}}"#,
                i % 7,
                1 + j / 10_000,
                j % 60,
                "x".repeat(200)
            )
        };
        let rows = 30_000;
        let mut lines: Vec<String> = (0..rows).map(line).collect();
        assert!(lines.iter().map(|l| l.len() + 1).sum::<usize>() > 2 * BLOCK_BYTES, "three blocks at least");
        let bad_at = 25_001; // 1-based line, in the third block
        let good = std::mem::replace(
            &mut lines[bad_at - 1],
            r#"{"messageId":"x","type":"track","userId":"u","event":"E"}"#.into(),
        );
        lines.insert(20_000, String::new()); // a blank line still counts as a line
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        let mut ws = Workspace::init(&dir.path().join("ws")).unwrap();
        let opts = ImportOptions::default();
        let Err(ImportError::Rejected(report)) =
            crate::import_files(&mut ws, "events", std::slice::from_ref(&path), &opts)
        else {
            panic!("the bad row is rejected")
        };
        let e = &report.rejected;
        assert_eq!((e.len(), e[0].line, e[0].field.as_str()), (1, bad_at as u64 + 1, "timestamp"), "{e:?}");
        assert_eq!(report.rows_read, rows as u64);
        assert_eq!(ws.rows("events"), 0, "nothing written");

        lines[bad_at] = good;
        std::fs::write(&path, lines.join("\n")).unwrap();
        let report = crate::import_files(&mut ws, "events", &[path], &opts).unwrap();
        let append = report.append.unwrap();
        assert_eq!((append.appended, append.duplicates), (29_000, 1_000));
        assert_eq!(ws.rows("events"), 29_000);
        // The first of two rows with one id is the one kept.
        let kept: Vec<String> = ws
            .read_table("events")
            .unwrap()
            .iter()
            .flat_map(|b| {
                let ids = b.column_by_name("message_id").unwrap().as_string::<i32>().clone();
                let users = b.column_by_name("user_id").unwrap().as_string::<i32>().clone();
                (0..b.num_rows())
                    .filter(|&r| ids.value(r) == "m5")
                    .map(|r| users.value(r).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(kept, ["u5"], "m5 of line 6 (u5), not of line 29,006 (u{})", 29_005 % 7);
    }

    /// A CSV file of several chunks whose stray quotes (kept as characters
    /// in unquoted cells) fool the quote count, next to quoted cells that
    /// span lines: some chunks end inside a record and are read again in
    /// order, and every row is imported once, as the csv crate reads it.
    #[test]
    fn a_csv_file_cut_inside_records_imports_every_row_once() {
        let mut text = String::from("messageId,type,userId,event,timestamp,properties\n");
        for i in 0..160_000 {
            // 160 stray quotes: an odd count would read as a truncated file.
            let event = if i % 997 == 0 && i > 0 { "TV 55\" screen".to_string() } else { format!("E{}", i % 7) };
            let properties = if i % 997 == 1 {
                format!("\"{{\"\"n\"\":{i},\n\"\"note\"\":\"\"two lines\"\"}}\"")
            } else {
                format!("\"{{\"\"n\"\":{i}}}\"")
            };
            let time = format!("2024-03-{:02}T10:{:02}:{:02}Z", 1 + i % 28, (i / 60) % 60, i % 60);
            text += &format!("m{i},track,u{},{event},{time},{properties}\n", i % 50);
        }
        assert!(text.len() > 2 * crate::csv_blocks::CHUNK_BYTES, "three chunks at least");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.csv");
        std::fs::write(&path, &text).unwrap();

        // What the csv crate reads, through the general path.
        let mut want: Vec<(String, String, String)> = Vec::new();
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
        for (i, record) in rdr.byte_records().enumerate() {
            let record = record.unwrap();
            let rec = csv_record("f", i as u64 + 2, &header, record.iter()).unwrap();
            let e = UsageEvent::from_record(&rec).unwrap();
            let properties = serde_json::to_string(e.properties.as_ref().unwrap()).unwrap();
            want.push((e.message_id, e.event.unwrap(), properties));
        }
        assert_eq!(want.len(), 160_000);

        let mut ws = Workspace::init(&dir.path().join("ws")).unwrap();
        crate::csv_blocks::TOKENISED.with(|t| t.set(0));
        let report = crate::import_files(&mut ws, "events", &[path], &ImportOptions::default()).unwrap();
        let again = crate::csv_blocks::TOKENISED.with(|t| t.get());
        assert!(again > 0, "some chunk was read again on this (the writing) thread");
        assert_eq!(report.append.unwrap().appended, 160_000);
        let mut got: Vec<(String, String, String)> = Vec::new();
        for b in ws.read_table("events").unwrap() {
            let column = |name: &str| b.column_by_name(name).unwrap().as_string::<i32>().clone();
            let (ids, events, properties) = (column("message_id"), column("event"), column("properties"));
            for r in 0..b.num_rows() {
                got.push((ids.value(r).into(), events.value(r).into(), properties.value(r).into()));
            }
        }
        got.sort();
        want.sort();
        assert!(got == want, "the imported rows differ from the csv crate's");
    }

    #[test]
    fn csv_blocks_give_the_rows_of_the_general_path() {
        let text = "messageId,type,userId,anonymousId,event,name,timestamp,groupId,properties,traits,context,extra\n\
                    m1,track,u1,,Login,,2024-03-01T10:00:00Z,g1,\"{\"\"a\"\":1}\",,,x\n\
                    m2,Page, ,a2,,Home,2024-03-01 10:00:00,,\"{ \"\"b\"\": 1.5 }\",,,\n\
                    m3,group,u3,,,,2024-03-01T10:00:00Z,,,,\"{\"\"groupId\"\":\"\"g3\"\"}\",\n\
                    m4,track,u4,,E,,2024-03-01T10:00:00Z,,\"[1]\",,,\n";
        let chunks = CsvChunks::open(Path::new("f.csv"), text.as_bytes()).unwrap();
        let (cols, header) = (CsvColumns::new(&chunks.header), chunks.header.clone());
        let blocks: Vec<CsvBlock> = chunks.blocks().collect();
        assert_eq!(blocks.len(), 1);
        let mut events = Vec::new();
        for row in &blocks[0].rows {
            let (line, first) = row.clone().unwrap();
            let cells = (first..first + header.len()).map(|i| blocks[0].cell(i));
            let rec: Record = csv_record("f.csv", line, &header, cells).unwrap();
            if let Ok(e) = UsageEvent::from_record(&rec) {
                events.push(e);
            }
        }
        let parsed = parse_csv("f.csv", &cols, blocks.into_iter().next().unwrap());
        // A CSV `context` cell is text: its groupId does not stand in for the column.
        let e: Vec<(u64, &str)> = parsed.report.rejected.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(e, [(4, "groupId"), (5, "properties")]);
        assert_eq!((parsed.report.rows_read, parsed.report.rows_valid), (4, 2));
        assert_eq!(parsed.batch, UsageEvent::to_batches(&events).remove(0));
    }
}
