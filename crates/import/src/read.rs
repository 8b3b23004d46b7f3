//! File readers: CSV, JSON Lines and Parquet, each turned into [`Record`]s
//! with the line (or row) each came from. Rows that cannot even be read
//! (invalid UTF-8, broken JSON) become [`RowError`]s, not panics.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tenure_model::Record;
use tenure_model::record::json_kind;

use crate::csv_blocks::CsvChunks;
use crate::{ImportError, RowError};

/// Input file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
    /// One JSON document: an array of objects, or an object holding one
    /// (`{"batch": [...]}` from Segment, `{"data": [...]}` from Stripe).
    Json,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &["csv", "jsonl", "parquet", "json"];

    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json-lines" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// From the file extension (`.csv`, `.jsonl`/`.ndjson`, `.parquet`, `.json`).
    pub fn detect(path: &Path) -> Result<Format, ImportError> {
        let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("csv") | Some("tsv") => Ok(Format::Csv),
            Some("jsonl") | Some("ndjson") => Ok(Format::Jsonl),
            Some("parquet") | Some("pq") => Ok(Format::Parquet),
            Some("json") => Ok(Format::Json),
            _ => Err(ImportError::File {
                path: path.to_path_buf(),
                reason:
                    "cannot tell the format from the file name: use .csv, .jsonl, .parquet or .json, or give --format"
                        .into(),
            }),
        }
    }
}

/// Where the rows of one file are.
pub struct FileRows {
    pub path: PathBuf,
    /// Column names of a CSV header (for the header check); empty otherwise.
    pub header: Vec<String>,
    pub rows: crate::Rows,
}

fn file_error(path: &Path, reason: impl Into<String>) -> ImportError {
    ImportError::File { path: path.to_path_buf(), reason: reason.into() }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Open a file and iterate its rows. `progress` is told how many bytes were read.
pub fn open(path: &Path, format: Format, progress: Option<crate::Progress>) -> Result<FileRows, ImportError> {
    let meta = fs_err::metadata(path).map_err(|e| file_error(path, e.to_string()))?;
    if meta.is_dir() {
        return Err(file_error(path, "is a directory, not a file"));
    }
    if meta.len() == 0 {
        return Err(file_error(path, "the file is empty (no header, no rows)"));
    }
    let file = fs_err::File::open(path).map_err(|e| file_error(path, e.to_string()))?;
    let reader = CountingReader { inner: file, progress: progress.clone() };
    match format {
        Format::Csv => open_csv(path, reader),
        Format::Jsonl => Ok(open_jsonl(path, reader)),
        Format::Json => open_json(path, reader),
        Format::Parquet => open_parquet(path, progress),
    }
}

pub(crate) struct CountingReader<R> {
    pub(crate) inner: R,
    pub(crate) progress: Option<crate::Progress>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = &self.progress {
            p(n as u64);
        }
        Ok(n)
    }
}

/// How many times `byte` is in `text`. The thread reading a file counts
/// every byte of it (newlines of JSON Lines, quotes of CSV) before handing a
/// block on, so this is on the import's one serial path: counted in byte-wide
/// lanes, 255 bytes at a time (a lane cannot overflow), which the compiler
/// turns into wide compares and adds; the plain `filter().count()` widened
/// every byte to 64 bits and took 4 % of a JSON Lines import's CPU.
pub(crate) fn count_byte(text: &[u8], byte: u8) -> u64 {
    text.chunks(255).map(|c| u64::from(c.iter().fold(0u8, |n, b| n + u8::from(*b == byte)))).sum()
}

fn open_csv<R: Read + 'static>(path: &Path, reader: R) -> Result<FileRows, ImportError> {
    let chunks = CsvChunks::open(path, reader)?;
    let header = chunks.header.clone();
    let (file, cols) = (display(path), header.clone());
    let rows = chunks.blocks().flat_map(move |block| {
        let rows = block.rows.iter().map(|row| {
            let (line, first) = row.clone().map_err(|e| *e)?;
            csv_record(&file, line, &cols, (first..first + cols.len()).map(|i| block.cell(i)))
        });
        rows.collect::<Vec<_>>()
    });
    Ok(FileRows { path: path.to_path_buf(), header, rows: Box::new(rows) })
}

/// One CSV row as a record: every non-empty cell of a named column, as a string.
pub(crate) fn csv_record<'c>(
    file: &str,
    line: u64,
    cols: &[String],
    cells: impl Iterator<Item = &'c [u8]>,
) -> Result<Record, RowError> {
    let mut fields = Map::new();
    for (name, bytes) in cols.iter().zip(cells) {
        if name.is_empty() {
            continue;
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                if !s.is_empty() {
                    fields.insert(name.clone(), Value::String(s.to_string()));
                }
            }
            Err(e) => {
                return Err(RowError::new(
                    file,
                    line,
                    name,
                    format!("is not valid UTF-8 (byte {} of the field); save the file as UTF-8", e.valid_up_to() + 1),
                ));
            }
        }
    }
    Ok(Record::new(line, fields))
}

fn open_jsonl<R: Read + 'static>(path: &Path, reader: R) -> FileRows {
    let file = display(path);
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    let rows = std::iter::from_fn(move || {
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(RowError::new(&file, line_no + 1, "file", e.to_string()))),
            }
            line_no += 1;
            let text = match jsonl_text(&file, line_no, &buf) {
                Ok(t) => t,
                Err(e) => return Some(Err(e)),
            };
            if text.is_empty() {
                continue;
            }
            return Some(jsonl_record(&file, line_no, text));
        }
    });
    FileRows { path: path.to_path_buf(), header: Vec::new(), rows: Box::new(rows) }
}

/// One line of a JSON Lines file as text, trimmed (empty for a blank line).
pub(crate) fn jsonl_text<'b>(file: &str, line_no: u64, bytes: &'b [u8]) -> Result<&'b str, RowError> {
    match std::str::from_utf8(bytes) {
        Ok(t) => Ok(t.trim()),
        Err(e) => Err(RowError::new(
            file,
            line_no,
            "line",
            format!("is not valid UTF-8 (byte {}); save the file as UTF-8", e.valid_up_to() + 1),
        )),
    }
}

/// One line of a JSON Lines file (trimmed, not empty) as a record.
pub(crate) fn jsonl_record(file: &str, line_no: u64, text: &str) -> Result<Record, RowError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(Record::new(line_no, m)),
        Ok(other) => {
            Err(RowError::new(file, line_no, "line", format!("expected a JSON object, found {}", json_kind(&other))))
        }
        Err(e) if e.is_eof() => Err(RowError::new(file, line_no, "json", format!("truncated JSON: {e}"))),
        Err(e) => Err(RowError::new(file, line_no, "json", format!("invalid JSON: {e}"))),
    }
}

/// A whole JSON document: an array of objects, or an object whose `batch`,
/// `data` or `items` member is one. Lines are the item's position (1-based),
/// reported as the line of the document where each item starts when known.
fn open_json<R: Read>(path: &Path, mut reader: R) -> Result<FileRows, ImportError> {
    let mut text = String::new();
    reader.read_to_string(&mut text).map_err(|e| file_error(path, format!("{e} (is the file UTF-8?)")))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        let what = if e.is_eof() { "truncated JSON" } else { "invalid JSON" };
        file_error(path, format!("line {}: {what}: {e}", e.line()))
    })?;
    let items = match doc {
        Value::Array(a) => a,
        Value::Object(mut m) => {
            let key = ["batch", "data", "items", "tickets", "responses"]
                .into_iter()
                .find(|k| m.get(*k).is_some_and(Value::is_array));
            match key {
                Some(k) => match m.remove(k) {
                    Some(Value::Array(a)) => a,
                    _ => unreachable!("checked to be an array"),
                },
                None => vec![Value::Object(m)],
            }
        }
        other => return Err(file_error(path, format!("expected a JSON array or object, found {}", json_kind(&other)))),
    };
    let file = display(path);
    let rows = items.into_iter().enumerate().map(move |(i, v)| match v {
        Value::Object(m) => Ok(Record::new(i as u64 + 1, m)),
        other => Err(RowError::new(
            &file,
            i as u64 + 1,
            "item",
            format!("expected a JSON object, found {}", json_kind(&other)),
        )),
    });
    Ok(FileRows { path: path.to_path_buf(), header: Vec::new(), rows: Box::new(rows) })
}

/// Parquet rows are numbered from 1 ("line" means row for Parquet).
fn open_parquet(path: &Path, progress: Option<crate::Progress>) -> Result<FileRows, ImportError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let f = std::fs::File::open(path).map_err(|e| file_error(path, e.to_string()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| file_error(path, format!("not a readable Parquet file: {e}")))?;
    let total = builder.metadata().file_metadata().num_rows().max(1) as u64;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let reader = builder.with_batch_size(8192).build().map_err(|e| file_error(path, e.to_string()))?;
    let file = display(path);
    let mut row = 0u64;
    let rows = reader.flat_map(move |batch| -> Vec<Result<Record, RowError>> {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => return vec![Err(RowError::new(&file, row + 1, "parquet", e.to_string()))],
        };
        let mut out = Vec::with_capacity(batch.num_rows());
        let mut buf = Vec::new();
        {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
            if let Err(e) = w.write(&batch).and_then(|_| w.finish()) {
                return vec![Err(RowError::new(&file, row + 1, "parquet", e.to_string()))];
            }
        }
        for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            row += 1;
            out.push(match serde_json::from_slice::<Value>(line) {
                Ok(Value::Object(m)) => Ok(Record::new(row, m)),
                _ => Err(RowError::new(&file, row, "parquet", "row could not be converted")),
            });
        }
        if let Some(p) = &progress {
            p(size * batch.num_rows() as u64 / total);
        }
        out
    });
    Ok(FileRows { path: path.to_path_buf(), header: Vec::new(), rows: Box::new(rows) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_counted_across_lanes() {
        let mut text = Vec::new();
        for i in 0..3_000usize {
            text.extend(std::iter::repeat_n(b'x', i % 7));
            text.push(if i % 3 == 0 { b'\n' } else { b'y' });
        }
        text.extend([b'\n'; 600]);
        for end in [0, 1, 254, 255, 256, 511, 4_000, text.len()] {
            let naive = text[..end].iter().filter(|b| **b == b'\n').count() as u64;
            assert_eq!(count_byte(&text[..end], b'\n'), naive, "{end}");
        }
        assert_eq!(count_byte(&text, b'\n'), 1_000 + 600);
    }

    /// Each record's line and each error's, numbered as an editor shows them.
    fn lines(text: &str) -> Vec<Result<u64, (u64, String)>> {
        let chunks = CsvChunks::open(Path::new("f.csv"), text.as_bytes()).unwrap();
        let rows = chunks.blocks().flat_map(|b| b.rows);
        rows.map(|r| r.map(|(line, _)| line).map_err(|e| (e.line, e.reason.chars().take(12).collect()))).collect()
    }

    #[test]
    fn lines_are_counted_alike_with_lf_and_crlf_endings() {
        // Line 5 has a field too many; line 6 opens a quoted field over two lines;
        // line 9 is blank; the last line has no terminator.
        let lf = "id,name\nc1,A\nc2,B\nc3,C\nc4,D,extra\nc5,\"two\nlines\"\nc6,F\n\nc7,G";
        let want = vec![Ok(2), Ok(3), Ok(4), Err((5, "has 3 fields".to_string())), Ok(6), Ok(8), Ok(10)];
        assert_eq!(lines(lf), want);
        assert_eq!(lines(&lf.replace('\n', "\r\n")), want);
        assert_eq!(lines("id,name\r\n"), vec![]);
        // A file ending inside quotes names the line where the quote opened.
        let open = lines("id,name\r\nc1,A\r\nc2,\"B\r\nc3,C\r\n");
        assert_eq!(open.last(), Some(&Err((3, "the file end".to_string()))), "{open:?}");
    }
}
