//! CSV records a block at a time, so that the blocks of one file can be
//! tokenised on several threads.
//!
//! The thread reading a file only cuts it into chunks of whole records
//! ([`CsvChunks`]); a chunk is tokenised (by csv-core, the csv crate's
//! tokeniser) wherever it goes: on the parse threads of a bulk event import,
//! on the reading thread for the other tables ([`CsvChunks::blocks`]).
//!
//! A chunk ends at a line break outside quotes, judged by the parity of the
//! quotes before it. That is exact for a well-formed file, where quotes only
//! open and close fields and are doubled inside them. A stray quote in an
//! unquoted field (`5" screen`, which csv-core keeps as a character) can
//! fool the count: the chunk then ends inside a record, its tokeniser says
//! so ([`CsvBlock::tail`]), and [`Realign`] reads that record again with
//! the next chunk, in file order. Either way the records, their line numbers
//! and their errors are those of one sequential read of the file.

use std::io::Read;
use std::path::Path;

use crate::read::count_byte;
use crate::{ImportError, RowError};

/// Bytes of a CSV file per chunk (about 40,000 event rows): large enough to
/// amortise the hand-over to a parse thread, small enough that the chunks in
/// flight stay a few MiB.
pub(crate) const CHUNK_BYTES: usize = 4 << 20;

/// Whole records of a CSV file after its header, about [`CHUNK_BYTES`] at a time.
pub(crate) struct CsvChunks<R> {
    reader: R,
    pub(crate) shape: CsvShape,
    /// Column names, trimmed, without a byte-order mark.
    pub(crate) header: Vec<String>,
    chunk_bytes: usize,
    /// Bytes read and not yet handed out.
    carry: Vec<u8>,
    /// The line `carry` starts on.
    next_line: u64,
    /// Quote characters in the bytes handed out (and the header).
    quotes: u64,
    eof: bool,
    /// A read error: the file is not read further.
    error: Option<RowError>,
}

/// How the records of a file are read: its name (for errors), the field
/// delimiter, and the header's width.
#[derive(Clone)]
pub(crate) struct CsvShape {
    pub(crate) file: String,
    delimiter: u8,
    width: usize,
}

/// Bytes of a CSV file from the start of a record.
pub(crate) struct CsvChunk {
    text: Vec<u8>,
    /// The line of `text[0]`.
    first_line: u64,
    /// The file ends with this text (a record still open ends with it).
    last: bool,
}

impl CsvChunk {
    /// The text from `at` on, which starts a record.
    fn rest(&self, at: usize) -> CsvChunk {
        let first_line = self.first_line + count_byte(&self.text[..at], b'\n');
        CsvChunk { text: self.text[at..].to_vec(), first_line, last: self.last }
    }
}

/// The records of a chunk: their cells back to back and where each cell
/// ends; per record, its line and its first cell, or why it is not a row.
#[derive(Default)]
pub(crate) struct CsvBlock {
    pub(crate) cells: Vec<u8>,
    pub(crate) ends: Vec<usize>,
    /// (An error is boxed: a row is 24 bytes, not 80, in a vector of 40,000.)
    pub(crate) rows: Vec<Result<(u64, usize), Box<RowError>>>,
    /// The line of the last record read, blank or not.
    last_line: Option<u64>,
    /// Where a record starts that the chunk's end cut (the chunk is not the
    /// file's last): it is read again with the next chunk.
    tail: Option<usize>,
}

impl CsvBlock {
    /// Where cell `i` (counted over the whole block) is in `cells`.
    pub(crate) fn span(&self, i: usize) -> std::ops::Range<usize> {
        (if i == 0 { 0 } else { self.ends[i - 1] })..self.ends[i]
    }

    /// The bytes of cell `i`.
    pub(crate) fn cell(&self, i: usize) -> &[u8] {
        &self.cells[self.span(i)]
    }
}

impl<R: Read> CsvChunks<R> {
    /// Open a CSV file (tab-separated if named `.tsv`) and read its header.
    pub(crate) fn open(path: &Path, reader: R) -> Result<CsvChunks<R>, ImportError> {
        CsvChunks::with_chunk_bytes(path, reader, CHUNK_BYTES)
    }

    fn with_chunk_bytes(path: &Path, reader: R, chunk_bytes: usize) -> Result<CsvChunks<R>, ImportError> {
        let delimiter = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv")) { b'\t' } else { b',' };
        let shape = CsvShape { file: path.display().to_string(), delimiter, width: 0 };
        let mut chunks = CsvChunks {
            reader,
            shape,
            header: Vec::new(),
            chunk_bytes,
            carry: Vec::new(),
            next_line: 1,
            quotes: 0,
            eof: false,
            error: None,
        };
        chunks.read_header(path)?;
        Ok(chunks)
    }

    fn read_header(&mut self, path: &Path) -> Result<(), ImportError> {
        let error = |reason: String| ImportError::File { path: path.to_path_buf(), reason };
        // The file's first bytes: csv-core skips a byte-order mark there.
        let mut t = Tokeniser::new(self.shape.delimiter, 1 << 10, false);
        let mut at = 0;
        let found = loop {
            if at == self.carry.len() && !self.eof {
                // More than a byte-order mark: csv-core takes a first input of
                // just the mark for the end of the file.
                let bytes = self.chunk_bytes.clamp(4, 64 << 10) as u64;
                let read = (&mut self.reader).take(bytes).read_to_end(&mut self.carry);
                match read {
                    Ok(0) => self.eof = true,
                    Ok(_) => {}
                    Err(e) => return Err(error(format!("cannot read the header: {e}"))),
                }
                continue;
            }
            let (step, n) = t.read(&self.carry[at..]);
            at += n;
            match step {
                Step::More => {}
                Step::Record { .. } => break true,
                Step::End => break false,
            }
        };
        let cells = if found { t.nends } else { 0 };
        let mut header = Vec::new();
        for i in 0..cells {
            let name = std::str::from_utf8(t.cell(i)).map_err(|_| {
                error(format!("line 1: header column {} is not valid UTF-8 (save the file as UTF-8)", i + 1))
            })?;
            // Spreadsheets like to write a byte-order mark before the first column.
            header.push(name.trim_start_matches('\u{feff}').trim().to_string());
        }
        if header.iter().all(|h| h.is_empty()) {
            return Err(error("line 1: the header row is empty".into()));
        }
        if let Some(dup) = header.iter().enumerate().find(|(i, h)| !h.is_empty() && header[..*i].contains(h)) {
            return Err(error(format!("line 1: column {:?} appears twice in the header", dup.1)));
        }
        self.quotes = count_byte(&self.carry[..at], b'"');
        self.next_line = 1 + count_byte(&self.carry[..at], b'\n');
        self.carry.drain(..at);
        self.shape.width = header.len();
        self.header = header;
        Ok(())
    }

    /// The next chunk of whole records (or of the rest of the file); `None` at the end.
    pub(crate) fn next_chunk(&mut self) -> Option<CsvChunk> {
        let mut text = std::mem::take(&mut self.carry);
        let cut = loop {
            if self.eof {
                break text.len();
            }
            text.reserve(self.chunk_bytes);
            match (&mut self.reader).take(self.chunk_bytes as u64).read_to_end(&mut text) {
                Ok(n) if n < self.chunk_bytes => {
                    self.eof = true;
                    break text.len();
                }
                Ok(_) => {
                    if let Some(cut) = self.cut(&text) {
                        break cut;
                    }
                }
                Err(e) => {
                    let line = self.next_line + count_byte(&text, b'\n');
                    self.error = Some(RowError::new(&self.shape.file, line, "file", e.to_string()));
                    self.eof = true;
                }
            }
        };
        if text.is_empty() {
            return None;
        }
        self.carry = text.split_off(cut);
        let first_line = self.next_line;
        self.next_line += count_byte(&text, b'\n');
        self.quotes += count_byte(&text, b'"');
        Some(CsvChunk { text, first_line, last: self.eof && self.carry.is_empty() })
    }

    /// Where a chunk of `text` ends: after its last line break outside
    /// quotes, by the parity of the quotes before it; failing that, after
    /// its last line break (the tokeniser will tell if that is inside a
    /// record); `None` if there is no line break.
    fn cut(&self, text: &[u8]) -> Option<usize> {
        let mut odd = (self.quotes + count_byte(text, b'"')) % 2 == 1;
        let mut last_break = None;
        for i in memchr::memrchr2_iter(b'"', b'\n', text) {
            if text[i] == b'"' {
                odd = !odd;
            } else if !odd {
                return Some(i + 1);
            } else if last_break.is_none() {
                last_break = Some(i + 1);
            }
        }
        last_break
    }

    /// The reasons the file could not be read to its end, after the last
    /// chunk: a read error, or a quote left open (odd quotes, typically a
    /// truncated file, which csv-core would take as one long last value),
    /// named at `last_line`, the line of the last record.
    pub(crate) fn end_errors(&mut self, last_line: u64) -> Option<RowError> {
        if let Some(e) = self.error.take() {
            return Some(e);
        }
        (self.quotes % 2 == 1).then(|| {
            RowError::new(
                &self.shape.file,
                last_line,
                "csv",
                "the file ends inside a quoted field that starts on this line (is the file truncated?)",
            )
        })
    }

    /// Every block of the file in order, tokenised on this thread; the
    /// errors of its end come last, as a block of their own.
    pub(crate) fn blocks(mut self) -> impl Iterator<Item = CsvBlock> {
        let mut realign = Realign::default();
        let mut ended = false;
        std::iter::from_fn(move || {
            loop {
                if ended {
                    return None;
                }
                let Some(chunk) = self.next_chunk() else {
                    ended = true;
                    let mut block = realign.finish(&self.shape, |b| b).unwrap_or_default();
                    let last_line = realign.last_line;
                    block.rows.extend(self.end_errors(last_line).map(|e| Err(Box::new(e))));
                    return (!block.rows.is_empty()).then_some(block);
                };
                let chunk = realign.join(chunk);
                let block = realign.keep(Made::new(chunk, &self.shape, |b| b));
                if !block.rows.is_empty() {
                    return Some(block);
                }
            }
        })
    }
}

/// `value` made of a chunk's block, with what [`Realign`] needs.
pub(crate) struct Made<T> {
    value: T,
    chunk: CsvChunk,
    tail: Option<usize>,
    last_line: Option<u64>,
}

impl<T> Made<T> {
    /// Tokenise `chunk` and make `value` of its block.
    pub(crate) fn new(chunk: CsvChunk, shape: &CsvShape, make: impl FnOnce(CsvBlock) -> T) -> Made<T> {
        let block = tokenise(&chunk, shape);
        let (tail, last_line) = (block.tail, block.last_line);
        Made { value: make(block), chunk, tail, last_line }
    }
}

/// Takes what was made of the chunks in file order. When a chunk ended
/// inside a record, what was made of the next one (which starts inside it)
/// is made again from the start of that record.
pub(crate) struct Realign {
    carry: Option<CsvChunk>,
    /// The line of the last record read so far (the header's at first).
    pub(crate) last_line: u64,
}

impl Default for Realign {
    fn default() -> Self {
        Realign { carry: None, last_line: 1 }
    }
}

impl Realign {
    /// The next chunk, after the start of a record the previous one cut.
    fn join(&mut self, chunk: CsvChunk) -> CsvChunk {
        match self.carry.take() {
            None => chunk,
            Some(mut cut) => {
                cut.text.extend_from_slice(&chunk.text);
                cut.last = chunk.last;
                cut
            }
        }
    }

    fn keep<T>(&mut self, made: Made<T>) -> T {
        if let Some(at) = made.tail {
            self.carry = Some(made.chunk.rest(at));
        }
        if let Some(line) = made.last_line {
            self.last_line = line;
        }
        made.value
    }

    /// The value of the next chunk in file order, made on another thread
    /// with `make` (and made again here if it starts inside a record).
    pub(crate) fn next<T>(&mut self, made: Made<T>, shape: &CsvShape, make: impl FnOnce(CsvBlock) -> T) -> T {
        if self.carry.is_none() {
            return self.keep(made);
        }
        let chunk = self.join(made.chunk);
        self.keep(Made::new(chunk, shape, make))
    }

    /// After the last chunk: the value of a record the last one cut, which
    /// the end of the file closes.
    pub(crate) fn finish<T>(&mut self, shape: &CsvShape, make: impl FnOnce(CsvBlock) -> T) -> Option<T> {
        let mut chunk = self.carry.take()?;
        chunk.last = true;
        Some(self.keep(Made::new(chunk, shape, make)))
    }
}

/// The records of a chunk: blank records skipped, records of the wrong
/// width as errors, and a record the end of the chunk cuts (unless the file
/// ends there) left as the block's tail.
fn tokenise(chunk: &CsvChunk, shape: &CsvShape) -> CsvBlock {
    let text = &chunk.text;
    let mut t = Tokeniser::new(shape.delimiter, text.len(), true);
    // Room for the records of an event file, grown like any vector beyond.
    let mut block = CsvBlock { rows: Vec::with_capacity(text.len() / 80 + 16), ..CsvBlock::default() };
    let (mut at, mut record_start) = (0, 0);
    // The line of `text[counted]`.
    let (mut line, mut counted) = (chunk.first_line, 0);
    loop {
        // At the end of the text, the call tells csv-core the input ended.
        let at_end = at == text.len();
        let (step, n) = t.read(&text[at..]);
        at += n;
        let (first_cell, cells_from) = match step {
            Step::More => continue,
            Step::End => break,
            Step::Record { first_end, cells_from } => (first_end, cells_from),
        };
        if at_end && !chunk.last {
            // Closed by the end of the chunk, not by a line break.
            t.truncate(cells_from, first_cell);
            block.tail = Some(record_start);
            break;
        }
        // The record's line is that of its first byte after the line
        // breaks before it (blank lines, the `\n` of a `\r\n`).
        let first =
            text[record_start..].iter().position(|b| *b != b'\n' && *b != b'\r').map_or(at, |p| record_start + p);
        line += count_byte(&text[counted..first], b'\n');
        counted = first;
        record_start = at;
        block.last_line = Some(line);
        let width = t.nends - first_cell;
        if t.out == cells_from {
            t.truncate(cells_from, first_cell); // blank: no cell holds anything
            continue;
        }
        if width != shape.width {
            t.truncate(cells_from, first_cell);
            block.rows.push(Err(Box::new(RowError::new(
                &shape.file,
                line,
                "csv",
                format!("has {width} fields but the header has {} (a quote left open, or a stray comma?)", shape.width),
            ))));
            continue;
        }
        block.rows.push(Ok((line, first_cell)));
    }
    t.cells.truncate(t.out);
    t.ends.truncate(t.nends);
    block.cells = t.cells;
    block.ends = t.ends;
    block
}

/// csv-core's reader with room for what it writes: the cells of the records
/// read so far back to back, and where each cell ends.
struct Tokeniser {
    core: csv_core::Reader,
    cells: Vec<u8>,
    ends: Vec<usize>,
    /// How much of `cells` and `ends` is written.
    out: usize,
    nends: usize,
    /// Where the record under way starts in `cells` and `ends`.
    record_out: usize,
    record_ends: usize,
    /// Whether the next call is csv-core's first on text from the middle of
    /// a file: it is given one byte, as csv-core skips a byte-order mark at
    /// the start of its first input.
    mid_file_start: bool,
}

enum Step {
    /// A record was read: its cells start at `cells_from` of `cells` and
    /// end at `ends[first_end..]`.
    Record { first_end: usize, cells_from: usize },
    /// The input ran out inside a record (or between records).
    More,
    /// The input ended (an empty call) with no record under way.
    End,
}

impl Tokeniser {
    fn new(delimiter: u8, bytes: usize, mid_file: bool) -> Tokeniser {
        Tokeniser {
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            // Cells never take more bytes than the text they come from.
            cells: vec![0; bytes.max(64)],
            // A cell of an event file takes 8 to 9 bytes with its comma.
            ends: vec![0; bytes / 6 + 64],
            out: 0,
            nends: 0,
            record_out: 0,
            record_ends: 0,
            mid_file_start: mid_file,
        }
    }

    /// Read on from `input` (empty: the input has ended) until a record
    /// ends or the input runs out: what happened and the bytes read.
    fn read(&mut self, input: &[u8]) -> (Step, usize) {
        let mut nin = 0;
        loop {
            if self.out == self.cells.len() {
                self.cells.resize(self.cells.len() * 2, 0);
            }
            if self.nends == self.ends.len() {
                self.ends.resize(self.ends.len() * 2, 0);
            }
            let mut rest = &input[nin..];
            if self.mid_file_start && !rest.is_empty() {
                rest = &rest[..1];
                self.mid_file_start = false;
            }
            let (result, i, o, e) =
                self.core.read_record(rest, &mut self.cells[self.out..], &mut self.ends[self.nends..]);
            nin += i;
            self.out += o;
            self.nends += e;
            match result {
                csv_core::ReadRecordResult::InputEmpty if nin < input.len() => {}
                csv_core::ReadRecordResult::InputEmpty => return (Step::More, nin),
                csv_core::ReadRecordResult::OutputFull | csv_core::ReadRecordResult::OutputEndsFull => {}
                csv_core::ReadRecordResult::Record => {
                    // csv-core counts a record's ends from the record's first byte.
                    for end in &mut self.ends[self.record_ends..self.nends] {
                        *end += self.record_out;
                    }
                    let step = Step::Record { first_end: self.record_ends, cells_from: self.record_out };
                    (self.record_out, self.record_ends) = (self.out, self.nends);
                    return (step, nin);
                }
                csv_core::ReadRecordResult::End => return (Step::End, nin),
            }
        }
    }

    /// Drop the records from `out` and `nends` on.
    fn truncate(&mut self, out: usize, nends: usize) {
        (self.out, self.nends, self.record_out, self.record_ends) = (out, nends, out, nends);
    }

    /// The bytes of cell `i`.
    fn cell(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.cells[start..self.ends[i]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as read: its line and cells, or an error's line and reason.
    type Row = Result<(u64, Vec<Vec<u8>>), (u64, String)>;

    fn rows_of(block: &CsvBlock, width: usize) -> Vec<Row> {
        let row = |r: &Result<(u64, usize), Box<RowError>>| match r {
            Ok((line, first)) => Ok((*line, (*first..first + width).map(|i| block.cell(i).to_vec()).collect())),
            Err(e) => Err((e.line, e.reason.clone())),
        };
        block.rows.iter().map(row).collect()
    }

    fn open(text: &[u8], chunk_bytes: usize) -> CsvChunks<&[u8]> {
        CsvChunks::with_chunk_bytes(Path::new("f.csv"), text, chunk_bytes)
            .unwrap_or_else(|e| panic!("{e}: chunks of {chunk_bytes}: {:?}", String::from_utf8_lossy(text)))
    }

    /// The header and rows read on one thread, `chunk_bytes` at a time.
    fn serial(text: &[u8], chunk_bytes: usize) -> (Vec<String>, Vec<Row>) {
        let chunks = open(text, chunk_bytes);
        let (header, width) = (chunks.header.clone(), chunks.header.len());
        (header, chunks.blocks().flat_map(|b| rows_of(&b, width)).collect())
    }

    /// The rows read as a bulk import reads them: every chunk tokenised on
    /// its own, as if on another thread, then taken in order.
    fn in_parallel(text: &[u8], chunk_bytes: usize) -> Vec<Row> {
        let mut chunks = open(text, chunk_bytes);
        let (shape, width) = (chunks.shape.clone(), chunks.header.len());
        let make = |b: CsvBlock| rows_of(&b, width);
        let made: Vec<Made<Vec<Row>>> =
            std::iter::from_fn(|| chunks.next_chunk()).map(|c| Made::new(c, &shape, make)).collect();
        let mut realign = Realign::default();
        let mut rows: Vec<Row> = Vec::new();
        for m in made {
            rows.extend(realign.next(m, &shape, make));
        }
        rows.extend(realign.finish(&shape, make).into_iter().flatten());
        rows.extend(chunks.end_errors(realign.last_line).map(|e| Err((e.line, e.reason))));
        rows
    }

    /// The csv crate's reading of the file, the way this reader replaced:
    /// a record's line is where csv started reading it plus the line breaks
    /// it skipped first; blank records skipped, other widths an error; and
    /// an odd number of quotes an error on the last record's line.
    fn by_the_csv_crate(text: &[u8]) -> (Vec<String>, Vec<Row>) {
        let mut rdr = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(text);
        let header: Vec<String> = rdr
            .byte_headers()
            .unwrap()
            .iter()
            .map(|h| std::str::from_utf8(h).unwrap().trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        let mut rows = Vec::new();
        let mut record = csv::ByteRecord::new();
        let mut last_line = 1;
        while rdr.read_byte_record(&mut record).unwrap() {
            let p = record.position().unwrap();
            let skipped = text[p.byte() as usize..].iter().take_while(|b| **b == b'\n' || **b == b'\r');
            let line = p.line() + skipped.filter(|b| **b == b'\n').count() as u64;
            last_line = line;
            if record.iter().all(|f| f.is_empty()) {
                continue;
            }
            rows.push(if record.len() == header.len() {
                Ok((line, record.iter().map(<[u8]>::to_vec).collect()))
            } else {
                Err((line, format!("has {} fields but the header has {}", record.len(), header.len())))
            });
        }
        if text.iter().filter(|b| **b == b'"').count() % 2 == 1 {
            rows.push(Err((last_line, "the file ends inside a quoted field that starts on this line".into())));
        }
        (header, rows)
    }

    /// A small CSV file of awkward records: quoted delimiters and line
    /// breaks, doubled quotes, stray quotes, byte-order marks, blank lines,
    /// rows of the wrong width, mixed line endings, sometimes cut short.
    fn awkward_file(seed: u64) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let fields = [
            "",
            "abc",
            "x y",
            "\"q,1\"",
            "\"a\"\"b\"",
            "\"l1\nl2\"",
            "\"c1\r\nc2\"",
            "é",
            "\"\"",
            "\u{feff}b",
            "5\" screen",
        ];
        let mut text = String::new();
        if next(4) == 0 {
            text.push('\u{feff}');
        }
        text.push_str("id,name,note\n");
        for _ in 0..next(30) {
            let end = ["\n", "\r\n", "\n", "\r"][next(4) as usize];
            if next(8) == 0 {
                text.push_str(end); // a blank line
                continue;
            }
            let width = [3, 3, 3, 3, 2, 4][next(6) as usize];
            let mut cells = Vec::new();
            for _ in 0..width {
                // The stray quote, which fools the quote count, now and then.
                let kinds = if next(6) == 0 { 11 } else { 10 };
                let k = next(kinds) as usize;
                cells.push(fields[k]);
            }
            text.push_str(&cells.join(","));
            text.push_str(end);
        }
        let mut bytes = text.into_bytes();
        match next(4) {
            0 => bytes.truncate(bytes.len() - next(bytes.len() as u64 / 2) as usize), // cut anywhere
            1 => bytes.truncate(bytes.len().saturating_sub(1)),                       // no last line break
            _ => {}
        }
        bytes
    }

    #[test]
    fn records_lines_and_errors_are_the_csv_crates_whatever_the_chunks() {
        let mut realigned = 0;
        for seed in 0..400 {
            let text = awkward_file(seed);
            let shown = String::from_utf8_lossy(&text).into_owned();
            let (header, want) = by_the_csv_crate(&text);
            let trimmed = |rows: Vec<Row>| -> Vec<Row> {
                // Error reasons compared by their start.
                rows.into_iter().map(|r| r.map_err(|(l, e)| (l, e.split(" (").next().unwrap().to_string()))).collect()
            };
            let want = trimmed(want);
            for chunk_bytes in [1, 2, 3, 5, 8, 13, 40, 1 << 20] {
                let (h, rows) = serial(&text, chunk_bytes);
                assert_eq!(h, header, "seed {seed}: {shown:?}");
                assert_eq!(trimmed(rows), want, "seed {seed}, chunks of {chunk_bytes}: {shown:?}");
                assert_eq!(trimmed(in_parallel(&text, chunk_bytes)), want, "seed {seed}, {chunk_bytes}: {shown:?}");
            }
            // How often a chunk was cut inside a record, read again with the next.
            let mut chunks = open(&text, 3);
            let shape = chunks.shape.clone();
            realigned +=
                std::iter::from_fn(|| chunks.next_chunk()).filter(|c| tokenise(c, &shape).tail.is_some()).count();
        }
        assert!(realigned > 20, "chunks ended inside a record {realigned} times");
    }
}
