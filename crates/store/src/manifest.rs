//! The manifest: the one file that says which Parquet files make up the
//! workspace now. A commit writes new data files first, fsyncs them, then
//! replaces the manifest with an atomic rename; a crash at any point leaves
//! either the old manifest or the new one, never a mix.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

pub const MANIFEST_FILE: &str = "manifest.json";
const FORMAT: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Increases by one with every commit.
    pub version: u64,
    pub tables: BTreeMap<String, TableFiles>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableFiles {
    /// Paths relative to the workspace root, in the order they were written.
    pub files: Vec<DataFile>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataFile {
    pub path: String,
    pub rows: u64,
    /// For day-partitioned tables: the day (`YYYY-MM-DD`) the file holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
}

impl TableFiles {
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}

impl Manifest {
    pub fn new() -> Manifest {
        Manifest { format: FORMAT, version: 0, tables: BTreeMap::new() }
    }

    pub fn load(root: &Path) -> Result<Manifest> {
        let path = root.join(MANIFEST_FILE);
        let text = fs_err::read_to_string(&path)?;
        let m: Manifest = serde_json::from_str(&text)
            .map_err(|e| StoreError::Manifest { path: path.clone(), reason: e.to_string() })?;
        if m.format != FORMAT {
            return Err(StoreError::Manifest {
                path,
                reason: format!("format {} is not supported by this tenure (expects {FORMAT})", m.format),
            });
        }
        Ok(m)
    }

    /// Atomically replace the manifest: write a temporary file, fsync it,
    /// rename it over the old one, fsync the directory.
    pub fn publish(&self, root: &Path) -> Result<()> {
        write_atomic(&root.join(MANIFEST_FILE), serde_json::to_string_pretty(self).expect("manifest serialises"))
    }
}

/// Replace a file so that a crash leaves the old or the new content, never a
/// mix: write `<name>.tmp` beside it, fsync it, rename it over the file, and
/// fsync the directory. The manifest, the API keys, health state and the churn
/// model are all written this way.
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = dir.join(name);
    let mut f = fs_err::File::create(&tmp)?;
    f.write_all(bytes.as_ref())?;
    f.sync_all()?;
    drop(f);
    fs_err::rename(&tmp, path)?;
    sync_dir(dir)
}

/// fsync a directory so that the names created or renamed in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs_err::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
