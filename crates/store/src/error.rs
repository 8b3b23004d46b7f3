use std::path::PathBuf;

/// Errors of the workspace store. Every I/O error carries the path it was about.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "no Tenure workspace at {0}: run `tenure init {0}` first, or point --data (or TENURE_DATA) at an existing workspace"
    )]
    NotAWorkspace(PathBuf),
    #[error("{0} is already a Tenure workspace")]
    AlreadyExists(PathBuf),
    #[error("{path}: {reason}")]
    Settings { path: PathBuf, reason: String },
    #[error("{path}: the manifest is not valid ({reason}); the workspace may have been edited by hand")]
    Manifest { path: PathBuf, reason: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{path}: {source}")]
    Parquet { path: PathBuf, source: parquet::errors::ParquetError },
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("unknown table {0:?}")]
    UnknownTable(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
