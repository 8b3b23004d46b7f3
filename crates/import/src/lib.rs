//! Importing files into a workspace: read (CSV, JSON Lines, JSON, Parquet),
//! map vendor shapes onto the data contract, validate every row, then write
//! all of it atomically or nothing.
//!
//! The same [`import_records`] pipeline serves files and (later) the HTTP
//! API, so a row is validated identically whatever its source.

mod csv_blocks;
mod events;
pub mod read;
pub mod vendor;

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tenure_model::{Entity, FieldError, Record};
use tenure_store::{AppendSummary, Stored, UpsertSummary, Workspace};

pub use events::{EventColumns, EventRow};
pub use read::Format;
pub use vendor::Vendor;

/// The rows of one input (a file, an API request), named for error messages.
pub type Source = (String, Rows);
/// Rows as they are read: a record, or why a row could not even be read.
pub type Rows = Box<dyn Iterator<Item = Result<Record, RowError>>>;

/// Called with the number of bytes read since the last call.
pub type Progress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// How many rejected rows an error report prints before summarising.
pub const MAX_PRINTED_ERRORS: usize = 20;

/// One rejected row: `file:line: field: reason`.
#[derive(Clone, Debug, PartialEq)]
pub struct RowError {
    pub file: String,
    pub line: u64,
    pub field: String,
    pub reason: String,
}

impl RowError {
    pub fn new(file: &str, line: u64, field: &str, reason: impl Into<String>) -> RowError {
        RowError { file: file.to_string(), line, field: field.to_string(), reason: reason.into() }
    }

    fn from_field(file: &str, line: u64, e: FieldError) -> RowError {
        RowError { file: file.to_string(), line, field: e.field, reason: e.reason }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.field, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("unknown entity {0:?}; expected one of: {list}", list = tenure_model::ENTITY_NAMES.join(", "))]
    UnknownEntity(String),
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("{} row(s) rejected; nothing was imported (fix them, or give --skip-invalid to import the valid rows)", .0.rejected.len())]
    Rejected(Box<ImportReport>),
    #[error(transparent)]
    Store(#[from] tenure_store::StoreError),
}

/// What an import did.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    pub entity: String,
    pub rows_read: u64,
    pub rows_valid: u64,
    pub rejected: Vec<RowError>,
    /// The raw records of rejected rows (for the rejects file).
    pub rejected_records: Vec<(String, Record, Vec<String>)>,
    pub warnings: Vec<String>,
    pub upsert: Option<UpsertSummary>,
    pub append: Option<AppendSummary>,
    /// New workspace version, `None` when nothing changed.
    pub version: Option<u64>,
}

impl ImportReport {
    /// The rejected rows as the CLI prints them: the first
    /// [`MAX_PRINTED_ERRORS`], then how many more.
    pub fn rejected_summary(&self) -> String {
        let mut s = String::new();
        for e in self.rejected.iter().take(MAX_PRINTED_ERRORS) {
            s.push_str(&e.to_string());
            s.push('\n');
        }
        if self.rejected.len() > MAX_PRINTED_ERRORS {
            s.push_str(&format!("... and {} more rejected row(s)\n", self.rejected.len() - MAX_PRINTED_ERRORS));
        }
        s
    }

    /// Write the rejected rows as JSON Lines: the original fields plus
    /// `_file`, `_line` and `_errors`.
    pub fn write_rejects(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        let mut out = std::io::BufWriter::new(fs_err::File::create(path)?);
        for (file, rec, errors) in &self.rejected_records {
            let mut m = rec.fields.clone();
            m.insert("_file".into(), Value::String(file.clone()));
            m.insert("_line".into(), Value::from(rec.line));
            m.insert("_errors".into(), Value::from(errors.clone()));
            writeln!(out, "{}", Value::Object(m))?;
        }
        out.flush()
    }
}

#[derive(Clone, Default)]
pub struct ImportOptions {
    /// Force a format instead of detecting it from the extension.
    pub format: Option<Format>,
    /// Map a vendor's export shape onto the data contract.
    pub vendor: Option<Vendor>,
    /// Import the valid rows even if some are rejected.
    pub skip_invalid: bool,
    pub progress: Option<Progress>,
}

/// Import files of one entity into the workspace, atomically.
pub fn import_files(
    ws: &mut Workspace,
    entity: &str,
    files: &[PathBuf],
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    if !tenure_model::ENTITY_NAMES.contains(&entity) {
        return Err(ImportError::UnknownEntity(entity.to_string()));
    }
    // Open every file first, so a missing or empty file fails before any work.
    let mut sources = Vec::new();
    for path in files {
        let format = match opts.format {
            Some(f) => f,
            None => match opts.vendor {
                Some(v) => v.default_format(path)?,
                None => Format::detect(path)?,
            },
        };
        let rows = read::open(path, format, opts.progress.clone())?;
        if format == Format::Csv && opts.vendor.is_none() {
            check_header(entity, &rows.header, path)?;
        }
        sources.push((rows, format));
    }
    let mut report = ImportReport { entity: entity.to_string(), ..Default::default() };
    for (src, _) in &sources {
        if !src.header.is_empty() && entity != "customers" && opts.vendor.is_none() {
            for col in &src.header {
                if !col.is_empty() && !known_field(entity, col) {
                    report.warnings.push(format!("{}: ignoring unknown column {col:?}", src.path.display()));
                }
            }
        }
    }
    let bulk_events = entity == "events"
        && opts.vendor.is_none()
        && sources.iter().all(|(_, f)| matches!(f, Format::Jsonl | Format::Csv));
    if bulk_events {
        let files: Vec<(PathBuf, Format)> = sources.into_iter().map(|(src, f)| (src.path, f)).collect();
        events::import_event_files(ws, &files, opts, &mut report)?;
        return Ok(report);
    }
    let records = sources.into_iter().map(|(src, _)| {
        let file = src.path.display().to_string();
        let vendor = opts.vendor;
        let entity = entity.to_string();
        let rows: Rows = match vendor {
            Some(v) => Box::new(src.rows.flat_map(move |r| match r {
                Ok(rec) => v.map(&entity, &file, rec),
                Err(e) => vec![Err(e)],
            })),
            None => src.rows,
        };
        (src.path.display().to_string(), rows)
    });
    let records: Vec<Source> = records.collect();
    import_records(ws, entity, records, opts.skip_invalid, &mut report)?;
    Ok(report)
}

/// Fields (and their aliases) a CSV header may use for each entity.
fn known_field(entity: &str, col: &str) -> bool {
    use tenure_model::*;
    let known: &[&str] = match entity {
        "plans" => Plan::KNOWN,
        "subscription_events" => SubscriptionEvent::KNOWN,
        "invoices" => Invoice::KNOWN,
        "orders" => Order::KNOWN,
        "events" => UsageEvent::KNOWN,
        "survey_responses" => SurveyResponse::KNOWN,
        "tickets" => Ticket::KNOWN,
        "cancellations" => Cancellation::KNOWN,
        "costs" => Cost::KNOWN,
        "fx_rates" => FxRate::KNOWN,
        _ => return true,
    };
    known.contains(&col) || aliases(entity, col).iter().any(|a| known.contains(a)) || col.starts_with("context.")
}

/// Other names a required column may have in a header.
fn aliases(entity: &str, col: &str) -> &'static [&'static str] {
    match (entity, col) {
        ("customers", "id") => &["customer_id"],
        ("customers", "customer_id") => &["id"],
        ("plans", "id") => &["plan_id"],
        ("plans", "plan_id") => &["id"],
        ("orders", "id") => &["order_id"],
        ("orders", "order_id") => &["id"],
        ("tickets", "id") => &["ticket_id"],
        ("tickets", "ticket_id") => &["id"],
        ("invoices", "external_id") => &["id"],
        ("invoices", "id") => &["external_id"],
        ("subscription_events", "id") => &["external_id"],
        ("survey_responses", "response_id") => &["id"],
        ("events", "timestamp") => &["originalTimestamp", "receivedAt"],
        ("fx_rates", "month") => &["date"],
        ("fx_rates", "date") => &["month"],
        _ => &[],
    }
}

fn required(entity: &str) -> &'static [&'static str] {
    use tenure_model::*;
    match entity {
        "customers" => Customer::REQUIRED,
        "plans" => Plan::REQUIRED,
        "subscription_events" => SubscriptionEvent::REQUIRED,
        "invoices" => Invoice::REQUIRED,
        "orders" => Order::REQUIRED,
        "events" => UsageEvent::REQUIRED,
        "survey_responses" => SurveyResponse::REQUIRED,
        "tickets" => Ticket::REQUIRED,
        "cancellations" => Cancellation::REQUIRED,
        "costs" => Cost::REQUIRED,
        "fx_rates" => FxRate::REQUIRED,
        _ => &[],
    }
}

/// A CSV header must name every required field (or an alias of it).
fn check_header(entity: &str, header: &[String], path: &Path) -> Result<(), ImportError> {
    let missing: Vec<&str> = required(entity)
        .iter()
        .copied()
        .filter(|r| !header.iter().any(|h| h == r || aliases(entity, r).contains(&h.as_str())))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ImportError::File {
        path: path.to_path_buf(),
        reason: format!(
            "line 1: header: missing required column(s) {} for {entity} (found: {}); see docs/import.md",
            missing.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", "),
            header.join(", ")
        ),
    })
}

/// Rows of one entity from any source (files, the API): validate them all,
/// then write the valid ones and commit, unless some were rejected and
/// `skip_invalid` is false, in which case nothing is written.
pub fn import_records(
    ws: &mut Workspace,
    entity: &str,
    sources: Vec<Source>,
    skip_invalid: bool,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    use tenure_model::*;
    match entity {
        "customers" => keyed::<Customer>(ws, sources, skip_invalid, report),
        "plans" => keyed::<Plan>(ws, sources, skip_invalid, report),
        "subscription_events" => keyed::<SubscriptionEvent>(ws, sources, skip_invalid, report),
        "invoices" => keyed::<Invoice>(ws, sources, skip_invalid, report),
        "orders" => keyed::<Order>(ws, sources, skip_invalid, report),
        "events" => events(ws, sources, skip_invalid, report),
        "survey_responses" => keyed::<SurveyResponse>(ws, sources, skip_invalid, report),
        "tickets" => keyed::<Ticket>(ws, sources, skip_invalid, report),
        "cancellations" => keyed::<Cancellation>(ws, sources, skip_invalid, report),
        "costs" => keyed::<Cost>(ws, sources, skip_invalid, report),
        "fx_rates" => keyed::<FxRate>(ws, sources, skip_invalid, report),
        other => Err(ImportError::UnknownEntity(other.to_string())),
    }
}

fn reject(report: &mut ImportReport, file: &str, rec: Option<Record>, errors: Vec<RowError>) {
    if let Some(rec) = rec {
        report.rejected_records.push((
            file.to_string(),
            rec,
            errors.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect(),
        ));
    }
    report.rejected.extend(errors);
}

/// Read one row and parse it as `E`; a row that fails either way is
/// recorded in the report and `None` returned.
fn parse_row<E: Entity + EntityExtras>(
    report: &mut ImportReport,
    file: &str,
    item: Result<Record, RowError>,
) -> Option<(Record, E)> {
    report.rows_read += 1;
    let rec = match item {
        Ok(rec) => rec,
        Err(e) => {
            reject(report, file, None, vec![e]);
            return None;
        }
    };
    match E::from_record(&rec) {
        Ok(entity) => {
            if let Some(w) = entity.warning() {
                report.warnings.push(format!("{file}:{}: {w}", rec.line));
            }
            Some((rec, entity))
        }
        Err(errs) => {
            let errs = errs.into_iter().map(|e| RowError::from_field(file, rec.line, e)).collect();
            reject(report, file, Some(rec), errs);
            None
        }
    }
}

/// Entities keyed by id: all rows are collected (these tables are small
/// next to events), checked for conflicting duplicates, then upserted.
fn keyed<E: Stored + PartialEq + Clone + EntityExtras>(
    ws: &mut Workspace,
    sources: Vec<Source>,
    skip_invalid: bool,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let mut rows: Vec<E> = Vec::new();
    // key -> (index in rows, file, line)
    let mut seen: HashMap<String, (usize, String, u64)> = HashMap::new();
    for (file, iter) in sources {
        for item in iter {
            let Some((rec, entity)) = parse_row::<E>(report, &file, item) else { continue };
            let key = entity.key();
            match seen.get(&key) {
                Some((i, first_file, first_line)) => {
                    if E::MERGES_ROWS {
                        // Flattened rows of one invoice: merge them.
                        let mut merged = rows[*i].clone();
                        match merged.merge_row(entity) {
                            Ok(()) => rows[*i] = merged,
                            Err(e) => {
                                let err = RowError::from_field(&file, rec.line, e);
                                reject(report, &file, Some(rec), vec![err]);
                            }
                        }
                    } else if rows[*i] != entity {
                        let where_ = if *first_file == file {
                            format!("line {first_line}")
                        } else {
                            format!("{first_file}:{first_line}")
                        };
                        let err = RowError::new(
                            &file,
                            rec.line,
                            E::KEY_FIELD,
                            format!("duplicate {} {key:?} with different values (first at {where_})", E::KEY_FIELD),
                        );
                        reject(report, &file, Some(rec), vec![err]);
                    }
                }
                None => {
                    seen.insert(key, (rows.len(), file.clone(), rec.line));
                    rows.push(entity);
                }
            }
        }
    }
    report.rows_valid = rows.len() as u64;
    finish(ws, report, skip_invalid, |w| {
        let s = w.upsert(&rows)?;
        Ok((Some(s), None))
    })
}

/// Usage events stream through: parsed in chunks and appended as they come,
/// but only committed if no row was rejected (or `skip_invalid`).
fn events(
    ws: &mut Workspace,
    sources: Vec<Source>,
    skip_invalid: bool,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    const CHUNK: usize = 100_000;
    let mut writer = ws.writer()?;
    let mut chunk: Vec<tenure_model::UsageEvent> = Vec::with_capacity(CHUNK);
    for (file, iter) in sources {
        for item in iter {
            let Some((_, event)) = parse_row::<tenure_model::UsageEvent>(report, &file, item) else { continue };
            report.rows_valid += 1;
            chunk.push(event);
            if chunk.len() >= CHUNK {
                // Once a row is rejected the import will not commit (unless
                // skipping): stop writing, keep validating.
                if report.rejected.is_empty() || skip_invalid {
                    writer.append_events(&chunk)?;
                }
                chunk.clear();
            }
        }
    }
    if !report.rejected.is_empty() && !skip_invalid {
        drop(writer);
        return Err(ImportError::Rejected(Box::new(std::mem::take(report))));
    }
    writer.append_events(&chunk)?;
    let summary = writer.commit()?;
    report.version = summary.version;
    report.append = Some(summary.events);
    Ok(())
}

fn finish(
    ws: &mut Workspace,
    report: &mut ImportReport,
    skip_invalid: bool,
    write: impl FnOnce(
        &mut tenure_store::Writer,
    ) -> Result<(Option<UpsertSummary>, Option<AppendSummary>), tenure_store::StoreError>,
) -> Result<(), ImportError> {
    if !report.rejected.is_empty() && !skip_invalid {
        return Err(ImportError::Rejected(Box::new(std::mem::take(report))));
    }
    let mut writer = ws.writer()?;
    let (upsert, append) = write(&mut writer)?;
    let summary = writer.commit()?;
    report.upsert = upsert;
    report.append = append;
    report.version = summary.version;
    Ok(())
}

/// Per-entity import behaviour beyond [`Entity`].
pub trait EntityExtras: Sized {
    /// The field named in duplicate-key errors.
    const KEY_FIELD: &'static str = "id";
    /// Rows with the same key are parts of one entity (flattened invoices).
    const MERGES_ROWS: bool = false;
    fn merge_row(&mut self, _other: Self) -> Result<(), FieldError> {
        Ok(())
    }
    /// A note about an accepted row (an out-of-range survey score).
    fn warning(&self) -> Option<String> {
        None
    }
}

impl EntityExtras for tenure_model::Customer {}
impl EntityExtras for tenure_model::Plan {}
impl EntityExtras for tenure_model::SubscriptionEvent {
    const KEY_FIELD: &'static str = "external_id";
}
impl EntityExtras for tenure_model::Invoice {
    const KEY_FIELD: &'static str = "external_id";
    const MERGES_ROWS: bool = true;
    fn merge_row(&mut self, other: Self) -> Result<(), FieldError> {
        self.merge(other)
    }
}
impl EntityExtras for tenure_model::Order {}
impl EntityExtras for tenure_model::UsageEvent {
    const KEY_FIELD: &'static str = "messageId";
}
impl EntityExtras for tenure_model::SurveyResponse {
    fn warning(&self) -> Option<String> {
        self.rejected_reason
            .as_ref()
            .map(|r| format!("score: {r}; the response is kept, flagged rejected and left out of every metric"))
    }
}
impl EntityExtras for tenure_model::Ticket {}
impl EntityExtras for tenure_model::Cancellation {
    const KEY_FIELD: &'static str = "subscription_id";
}
impl EntityExtras for tenure_model::Cost {
    const KEY_FIELD: &'static str = "month/category/currency";
}
impl EntityExtras for tenure_model::FxRate {
    const KEY_FIELD: &'static str = "currency/month";
}
