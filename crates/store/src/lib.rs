//! The Tenure workspace on disk.
//!
//! ```text
//! tenure-data/
//!   tenure.toml                     settings
//!   manifest.json                   which files make up every table now
//!   .lock                           held by the one writer
//!   tables/customers/part-000003-0000.parquet
//!   tables/events/day=2024-03-01/part-000002-0001.parquet
//! ```
//!
//! Writers never modify a file: they write new Parquet files, fsync them and
//! publish a new manifest with an atomic rename ([`manifest`]). Files no
//! manifest names (left by a crashed import, or replaced by a later one) are
//! removed by the next writer. Readers only ever see committed states.

pub mod error;
pub mod keys;
pub mod load;
pub mod log;
pub mod manifest;
pub mod schema;
mod write;

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tenure_model::Settings;

pub use error::{Result, StoreError};
pub use load::{Loaded, load};
pub use manifest::{DataFile, Manifest, TableFiles};
pub use schema::{Stored, TABLES, TableDef, WriteMode};
pub use write::{AppendSummary, CommitSummary, UpsertSummary, Writer};

pub const SETTINGS_FILE: &str = "tenure.toml";
pub const TABLES_DIR: &str = "tables";

/// An opened workspace: its settings and the committed state it was opened at.
pub struct Workspace {
    root: PathBuf,
    settings: Settings,
    manifest: Manifest,
}

impl Workspace {
    /// Create a workspace in `root` (created if missing; it may exist and be
    /// empty of Tenure files).
    pub fn init(root: &Path) -> Result<Workspace> {
        if root.join(manifest::MANIFEST_FILE).exists() {
            return Err(StoreError::AlreadyExists(root.to_path_buf()));
        }
        fs_err::create_dir_all(root.join(TABLES_DIR))?;
        let settings_path = root.join(SETTINGS_FILE);
        if !settings_path.exists() {
            fs_err::write(&settings_path, Settings::default_file())?;
        }
        let manifest = Manifest::new();
        manifest.publish(root)?;
        Workspace::open(root)
    }

    pub fn open(root: &Path) -> Result<Workspace> {
        if !root.join(manifest::MANIFEST_FILE).is_file() {
            return Err(StoreError::NotAWorkspace(root.to_path_buf()));
        }
        let settings_path = root.join(SETTINGS_FILE);
        let settings = match fs_err::read_to_string(&settings_path) {
            Ok(text) => {
                Settings::parse(&text).map_err(|reason| StoreError::Settings { path: settings_path, reason })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(e) => return Err(e.into()),
        };
        let manifest = Manifest::load(root)?;
        Ok(Workspace { root: root.to_path_buf(), settings, manifest })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Number of rows of a table in the committed state.
    pub fn rows(&self, table: &str) -> u64 {
        self.manifest.tables.get(table).map(|t| t.rows()).unwrap_or(0)
    }

    /// Absolute paths of a table's files.
    pub fn table_paths(&self, table: &str) -> Vec<PathBuf> {
        self.manifest
            .tables
            .get(table)
            .map(|t| t.files.iter().map(|f| self.root.join(&f.path)).collect())
            .unwrap_or_default()
    }

    /// Read a whole table (for small tables and tests; metrics use the engine).
    pub fn read_table(&self, table: &str) -> Result<Vec<RecordBatch>> {
        schema::table(table).ok_or_else(|| StoreError::UnknownTable(table.to_string()))?;
        let mut out = Vec::new();
        for path in self.table_paths(table) {
            out.extend(read_parquet(&path, None)?);
        }
        Ok(out)
    }

    /// Start writing. Takes the workspace's write lock (waiting for another
    /// writer to finish) and removes files left by interrupted writers.
    pub fn writer(&mut self) -> Result<Writer<'_>> {
        Writer::begin(self)
    }
}

/// Read some columns of a Parquet file, the `Utf8` ones among `as_dictionary`
/// as `Dictionary(Int32, Utf8)`: a dictionary-encoded column then decodes to
/// keys into its dictionary instead of one string per row (ids repeat a lot).
pub fn read_parquet_dictionary(path: &Path, columns: &[&str], as_dictionary: &[&str]) -> Result<Vec<RecordBatch>> {
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    let pq = |source| StoreError::Parquet { path: path.to_path_buf(), source };
    let file = fs_err::File::open(path)?.into_parts().0;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(pq)?;
    let meta = with_dictionary_ids(&meta, as_dictionary).map_err(pq)?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta);
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let reader = builder.with_projection(mask).with_batch_size(64 * 1024).build().map_err(pq)?;
    let mut out = Vec::new();
    for b in reader {
        out.push(b?);
    }
    Ok(out)
}

/// A Parquet file's reader metadata with its `Utf8` columns among
/// `as_dictionary` read as `Dictionary(Int32, Utf8)` (see [`read_parquet_dictionary`]).
pub fn with_dictionary_ids(
    meta: &parquet::arrow::arrow_reader::ArrowReaderMetadata,
    as_dictionary: &[&str],
) -> std::result::Result<parquet::arrow::arrow_reader::ArrowReaderMetadata, parquet::errors::ParquetError> {
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    let fields: Vec<Field> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 if as_dictionary.contains(&f.name().as_str()) => f
                .as_ref()
                .clone()
                .with_data_type(DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))),
            _ => f.as_ref().clone(),
        })
        .collect();
    let schema = std::sync::Arc::new(Schema::new_with_metadata(fields, meta.schema().metadata().clone()));
    ArrowReaderMetadata::try_new(meta.metadata().clone(), ArrowReaderOptions::new().with_schema(schema))
}

/// Read a Parquet file, optionally only some columns.
pub fn read_parquet(path: &Path, columns: Option<&[&str]>) -> Result<Vec<RecordBatch>> {
    let pq = |source| StoreError::Parquet { path: path.to_path_buf(), source };
    let file = fs_err::File::open(path)?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file.into_parts().0).map_err(pq)?;
    if let Some(cols) = columns {
        let mask = ProjectionMask::columns(builder.parquet_schema(), cols.iter().copied());
        builder = builder.with_projection(mask);
    }
    let reader = builder.with_batch_size(64 * 1024).build().map_err(pq)?;
    let mut out = Vec::new();
    for b in reader {
        out.push(b?);
    }
    Ok(out)
}
