//! The ingest log: where `tenure serve` puts every accepted write before it
//! answers, so that an acknowledged row survives `kill -9` and power loss.
//!
//! ```text
//! tenure-data/ingest/
//!   .lock                       held by the one server using the log
//!   segment-000000000007.log    sealed: waiting for the compactor
//!   segment-000000000008.log    current: appended to
//! ```
//!
//! A segment is a sequence of frames `[length: u32 LE][check: u32 LE][payload]`,
//! where `check` is the first four bytes of the payload's BLAKE3 hash. Appends
//! write whole frames and `fdatasync` before returning; one append may carry
//! the frames of many requests (group commit). A crash can leave a torn frame
//! at the end of the segment being written: it was never acknowledged, and the
//! reader stops there. A log opened again never appends to an old segment: it
//! starts a new one, so sealed segments only ever shrink to nothing (the
//! compactor moves them into the Parquet store and removes them).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::manifest::sync_dir;

pub const INGEST_DIR: &str = "ingest";
const HEADER: usize = 8;
/// A frame longer than this is corruption, not data (requests are limited far below it).
const MAX_FRAME: u32 = 1 << 30;

/// The current segment is sealed and a new one started once it is this big,
/// so that the compactor reads bounded pieces.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// The append side of the log (one per workspace, held by the server).
pub struct IngestLog {
    dir: PathBuf,
    _lock: std::fs::File,
    current: std::fs::File,
    seq: u64,
    bytes: u64,
    max_segment_bytes: u64,
    /// Set when a failed write could not be undone: appending after a
    /// partial frame would hide later frames from the reader.
    poisoned: bool,
}

/// A segment no longer appended to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub seq: u64,
    pub path: PathBuf,
}

/// The frames of a segment, and how many bytes after the last whole frame
/// were ignored (a torn write at a crash).
#[derive(Debug, Default)]
pub struct Frames {
    pub payloads: Vec<Vec<u8>>,
    pub torn_bytes: u64,
}

impl IngestLog {
    /// Open the log of the workspace at `root`, taking its lock (one server
    /// per workspace), and start a new segment after any left by an earlier run.
    pub fn open(root: &Path, max_segment_bytes: u64) -> Result<IngestLog> {
        let dir = root.join(INGEST_DIR);
        fs_err::create_dir_all(&dir)?;
        let lock_path = dir.join(".lock");
        let lock = fs_err::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?.into_parts().0;
        if lock.try_lock().is_err() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                format!(
                    "{}: another `tenure serve` is using this workspace's ingest log; stop it first",
                    lock_path.display()
                ),
            )));
        }
        let seq = segments(&dir)?.last().map_or(1, |s| s.seq + 1);
        let current = create_segment(&dir, seq)?;
        Ok(IngestLog { dir, _lock: lock, current, seq, bytes: 0, max_segment_bytes, poisoned: false })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sequence number of the segment being appended to.
    pub fn current_seq(&self) -> u64 {
        self.seq
    }

    /// Append whole frames (built with [`frame`]) and make them durable.
    pub fn append(&mut self, frames: &[u8]) -> Result<()> {
        if self.poisoned {
            return Err(StoreError::Io(std::io::Error::other(
                "the ingest log could not undo a failed write earlier; restart tenure serve",
            )));
        }
        let written = self.current.write_all(frames).and_then(|()| self.current.sync_data());
        if let Err(e) = written {
            // Cut the partial write off so later frames stay readable.
            if self.current.set_len(self.bytes).and_then(|()| self.current.sync_data()).is_err() {
                self.poisoned = true;
            }
            return Err(StoreError::Io(std::io::Error::new(e.kind(), format!("{}: {e}", self.dir.display()))));
        }
        self.bytes += frames.len() as u64;
        if self.bytes >= self.max_segment_bytes {
            self.rotate()?;
        }
        Ok(())
    }

    /// Seal the current segment if it holds anything and start a new one.
    /// Returns the sequence number of the segment now current: every
    /// segment below it is sealed.
    pub fn rotate(&mut self) -> Result<u64> {
        if self.bytes > 0 {
            let next = create_segment(&self.dir, self.seq + 1)?;
            self.current = next;
            self.seq += 1;
            self.bytes = 0;
        }
        Ok(self.seq)
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("segment-{seq:012}.log"))
}

/// Create an empty segment and make its name durable before anything is
/// acknowledged from it.
fn create_segment(dir: &Path, seq: u64) -> Result<std::fs::File> {
    let f = fs_err::OpenOptions::new().create_new(true).append(true).open(segment_path(dir, seq))?;
    sync_dir(dir)?;
    Ok(f.into_parts().0)
}

/// The segments in `dir` (`<root>/ingest`), oldest first.
pub fn segments(dir: &Path) -> Result<Vec<Segment>> {
    let mut out = Vec::new();
    let Ok(entries) = fs_err::read_dir(dir) else { return Ok(out) };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if let Some(seq) =
            name.strip_prefix("segment-").and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse().ok())
        {
            out.push(Segment { seq, path });
        }
    }
    out.sort_by_key(|s| s.seq);
    Ok(out)
}

impl Segment {
    /// Every whole frame, in order; reading stops at the first torn or
    /// damaged one.
    pub fn read(&self) -> Result<Frames> {
        let mut data = Vec::new();
        fs_err::File::open(&self.path)?.read_to_end(&mut data)?;
        let mut frames = Frames::default();
        let mut at = 0;
        while data.len() - at >= HEADER {
            let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"));
            let check = &data[at + 4..at + 8];
            let end = at + HEADER + len as usize;
            if len > MAX_FRAME || end > data.len() {
                break;
            }
            let payload = &data[at + HEADER..end];
            if blake3::hash(payload).as_bytes()[..4] != *check {
                break;
            }
            frames.payloads.push(payload.to_vec());
            at = end;
        }
        frames.torn_bytes = (data.len() - at) as u64;
        Ok(frames)
    }

    /// Remove a segment whose frames are all in the store.
    pub fn remove(&self) -> Result<()> {
        fs_err::remove_file(&self.path)?;
        Ok(())
    }
}

/// Append one frame holding `payload` to `out`.
pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).expect("a frame is smaller than 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&blake3::hash(payload).as_bytes()[..4]);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(payloads: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            frame(p.as_bytes(), &mut out);
        }
        out
    }

    fn read_all(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for s in segments(dir).unwrap() {
            out.extend(s.read().unwrap().payloads.into_iter().map(|p| String::from_utf8(p).unwrap()));
        }
        out
    }

    #[test]
    fn frames_survive_reopening_in_order_and_a_second_server_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let mut log = IngestLog::open(root.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        log.append(&frames(&["a", "b"])).unwrap();
        assert_eq!(log.rotate().unwrap(), 2);
        assert_eq!(log.rotate().unwrap(), 2, "an empty segment is not sealed");
        log.append(&frames(&["c"])).unwrap();
        let err = IngestLog::open(root.path(), DEFAULT_SEGMENT_BYTES).err().unwrap();
        assert!(err.to_string().contains("another `tenure serve`"), "{err}");
        drop(log);

        let log = IngestLog::open(root.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        assert_eq!(log.current_seq(), 3);
        assert_eq!(read_all(log.dir()), ["a", "b", "c"]);
    }

    #[test]
    fn a_torn_or_damaged_tail_ends_the_segment() {
        let root = tempfile::tempdir().unwrap();
        let mut log = IngestLog::open(root.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        log.append(&frames(&["first", "second"])).unwrap();
        let path = segment_path(log.dir(), 1);
        drop(log);
        let whole = fs_err::read(&path).unwrap();

        // Every cut inside the second frame keeps exactly the first.
        let first_len = HEADER + "first".len();
        for cut in first_len..whole.len() {
            fs_err::write(&path, &whole[..cut]).unwrap();
            let f = Segment { seq: 1, path: path.clone() }.read().unwrap();
            assert_eq!(f.payloads, [b"first".to_vec()], "cut at {cut}");
            assert_eq!(f.torn_bytes, (cut - first_len) as u64);
        }
        // A flipped byte in the payload fails its check.
        let mut bad = whole.clone();
        *bad.last_mut().unwrap() ^= 1;
        fs_err::write(&path, &bad).unwrap();
        assert_eq!(Segment { seq: 1, path: path.clone() }.read().unwrap().payloads.len(), 1);
        // A huge length is not trusted.
        let mut bad = whole;
        bad[first_len..first_len + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        fs_err::write(&path, &bad).unwrap();
        assert_eq!(Segment { seq: 1, path }.read().unwrap().payloads.len(), 1);
    }

    #[test]
    fn big_segments_are_sealed_by_size() {
        let root = tempfile::tempdir().unwrap();
        let mut log = IngestLog::open(root.path(), 20).unwrap();
        log.append(&frames(&["0123456789"])).unwrap();
        assert_eq!(log.current_seq(), 1);
        log.append(&frames(&["0123456789"])).unwrap();
        assert_eq!(log.current_seq(), 2);
        assert_eq!(segments(log.dir()).unwrap().len(), 2);
        assert_eq!(read_all(log.dir()).len(), 2);
    }
}
