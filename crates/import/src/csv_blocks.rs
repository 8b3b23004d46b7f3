//! CSV records a block at a time, so that the blocks of one file can be
//! tokenised on several threads.
//!
//! The thread reading a file only cuts it into chunks of whole records
//! ([`CsvChunks`]); a chunk is tokenised (by csv-core, the csv crate's
//! tokeniser) wherever it goes: on the parse threads of a bulk event import,
//! on the reading thread for the other tables ([`CsvChunks::blocks`]).
//!
//! A chunk ends at a line break outside quotes, judged by the parity of the
//! quotes between the chunk's start and the break. That is exact for a
//! well-formed file, where quotes only open and close fields and are doubled
//! inside them. A stray quote in an unquoted field (`5" screen`, which
//! csv-core keeps as a character) or a quote left open can fool the count:
//! the chunk then ends inside a record, its tokeniser stops there and says
//! so ([`CsvBlock::paused`]), and [`Realign`] goes on with that tokeniser
//! over the next chunk, in file order. Either way the records, their line
//! numbers and their errors are those of one sequential read of the file.

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
    /// Why the file could not be read to its end: it is not read further.
    error: Option<String>,
}

/// How the records of a file are read: its name (for errors), the field
/// delimiter, and the header's width.
#[derive(Clone)]
pub(crate) struct CsvShape {
    pub(crate) file: String,
    delimiter: u8,
    width: usize,
}

/// Bytes of a CSV file from the start of a record (unless the previous
/// chunk was cut inside one).
pub(crate) struct CsvChunk {
    text: Vec<u8>,
    /// The line of `text[0]`.
    first_line: u64,
    /// The file ends with this text (a record still open ends with it).
    last: bool,
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
    /// The record the chunk's end cut (it is not the file's last), to be
    /// read on from the next chunk.
    paused: Option<Paused>,
}

impl CsvBlock {
    /// Where cell `i` (counted over the whole block) is in `cells`.
    pub(crate) fn span(&self, i: usize) -> std::ops::Range<usize> {
        span(&self.ends, i)
    }

    /// The bytes of cell `i`.
    pub(crate) fn cell(&self, i: usize) -> &[u8] {
        &self.cells[self.span(i)]
    }
}

/// Where cell `i` is among cells written back to back that end at `ends`.
fn span(ends: &[usize], i: usize) -> std::ops::Range<usize> {
    (if i == 0 { 0 } else { ends[i - 1] })..ends[i]
}

/// A record cut by the end of a chunk: the tokeniser stopped inside it,
/// holding its cells so far, and the line it starts on.
pub(crate) struct Paused {
    tokeniser: Tokeniser,
    line: u64,
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
                if let Some(e) = &self.error {
                    // The header's end was not read.
                    return Err(error(format!("cannot read the header: {e}")));
                }
                // More than a byte-order mark: csv-core takes a first input of
                // just the mark for the end of the file.
                let bytes = self.chunk_bytes.clamp(4, 64 << 10) as u64;
                match (&mut self.reader).take(bytes).read_to_end(&mut self.carry) {
                    Ok(0) => self.eof = true,
                    Ok(_) => {}
                    // What was read before the error is in `carry`: the header may be whole.
                    Err(e) => self.error = Some(e.to_string()),
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
        self.eof |= self.error.is_some();
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
        let mut quotes = count_byte(&text, b'"');
        let mut scanned = 0;
        let cut = loop {
            if self.eof {
                break text.len();
            }
            let start = text.len();
            text.reserve(self.chunk_bytes);
            let read = (&mut self.reader).take(self.chunk_bytes as u64).read_to_end(&mut text);
            quotes += count_byte(&text[start..], b'"');
            match read {
                Ok(n) if n < self.chunk_bytes => {
                    self.eof = true;
                    break text.len();
                }
                Ok(_) => {
                    if let Some(cut) = cut(&text, quotes, scanned) {
                        break cut;
                    }
                    scanned = text.len();
                }
                Err(e) => {
                    // The bytes read before the error are handed on.
                    self.error = Some(e.to_string());
                    self.eof = true;
                    break text.len();
                }
            }
        };
        if text.is_empty() {
            return None;
        }
        self.carry = text.split_off(cut);
        let quotes = quotes - count_byte(&self.carry, b'"');
        // After a read error the file does not end there: a record the
        // bytes end inside is not a record.
        let last = self.eof && self.error.is_none() && self.carry.is_empty();
        Some(self.hand_out(text, quotes, last))
    }

    fn hand_out(&mut self, text: Vec<u8>, quotes: u64, last: bool) -> CsvChunk {
        let first_line = self.next_line;
        self.next_line += count_byte(&text, b'\n');
        self.quotes += quotes;
        CsvChunk { text, first_line, last }
    }

    /// After the last chunk: the value of a record the last chunk cut
    /// (which the end of the file closes), and why the file could not be
    /// read to its end: a read error, or a quote left open (odd quotes,
    /// typically a truncated file, which csv-core would take as one long
    /// last value), named on the line of the last record.
    pub(crate) fn finish<T>(
        &mut self,
        realign: &mut Realign,
        make: impl FnOnce(CsvBlock) -> T,
    ) -> (Option<T>, Option<RowError>) {
        let error = |reason: &str, line: u64| Some(RowError::new(&self.shape.file, line, "csv", reason));
        if let Some(e) = self.error.take() {
            // The record under way when reading failed is not a record.
            realign.paused = None;
            return (None, error(&e, realign.last_line));
        }
        let value = realign.finish(&self.shape, make);
        let open = "the file ends inside a quoted field that starts on this line (is the file truncated?)";
        (value, if self.quotes % 2 == 1 { error(open, realign.last_line) } else { None })
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
                    let (block, error) = self.finish(&mut realign, |b| b);
                    let mut block = block.unwrap_or_default();
                    block.rows.extend(error.map(|e| Err(Box::new(e))));
                    return (!block.rows.is_empty()).then_some(block);
                };
                let paused = realign.paused.take();
                let block = realign.keep(Made::new(chunk, &self.shape, paused, |b| b));
                if !block.rows.is_empty() {
                    return Some(block);
                }
            }
        })
    }
}

/// Where a chunk of `text` holding `quotes` quote characters ends: after
/// its last line break (`\n`, or `\r` of old Mac files) with an even number
/// of quotes before it; failing that, after its last line break (the
/// tokeniser will tell if that is inside a record); `None` if there is no
/// line break. `text[..scanned]` was looked at before and holds none.
fn cut(text: &[u8], quotes: u64, scanned: usize) -> Option<usize> {
    let mut odd = quotes % 2 == 1;
    let mut last_break = None;
    for i in memchr::memrchr3_iter(b'"', b'\n', b'\r', &text[scanned..]).map(|i| scanned + i) {
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

/// `value` made of a chunk's block, with what [`Realign`] needs.
pub(crate) struct Made<T> {
    value: T,
    chunk: CsvChunk,
    paused: Option<Paused>,
    last_line: Option<u64>,
}

impl<T> Made<T> {
    /// Tokenise `chunk`, going on with `paused` if the previous chunk ended
    /// inside a record, and make `value` of its block.
    pub(crate) fn new(
        chunk: CsvChunk,
        shape: &CsvShape,
        paused: Option<Paused>,
        make: impl FnOnce(CsvBlock) -> T,
    ) -> Made<T> {
        let mut block = tokenise(&chunk, shape, paused);
        let (paused, last_line) = (block.paused.take(), block.last_line);
        Made { value: make(block), chunk, paused, last_line }
    }
}

/// Takes what was made of the chunks in file order. When a chunk ended
/// inside a record, what was made of the next one (which starts inside it)
/// is made again, going on with the tokeniser where it stopped.
pub(crate) struct Realign {
    paused: Option<Paused>,
    /// The line of the last record read so far (the header's at first).
    pub(crate) last_line: u64,
}

impl Default for Realign {
    fn default() -> Self {
        Realign { paused: None, last_line: 1 }
    }
}

impl Realign {
    fn keep<T>(&mut self, made: Made<T>) -> T {
        self.paused = made.paused;
        if let Some(line) = made.last_line {
            self.last_line = line;
        }
        made.value
    }

    /// The value of the next chunk in file order, made on another thread
    /// with `make` (and made again here if it starts inside a record).
    pub(crate) fn next<T>(&mut self, made: Made<T>, shape: &CsvShape, make: impl FnOnce(CsvBlock) -> T) -> T {
        match self.paused.take() {
            None => self.keep(made),
            Some(paused) => self.keep(Made::new(made.chunk, shape, Some(paused), make)),
        }
    }

    /// After the last chunk: the value of a record the last one cut, which
    /// the end of the file closes.
    fn finish<T>(&mut self, shape: &CsvShape, make: impl FnOnce(CsvBlock) -> T) -> Option<T> {
        let paused = self.paused.take()?;
        let chunk = CsvChunk { text: Vec::new(), first_line: 0, last: true };
        Some(self.keep(Made::new(chunk, shape, Some(paused), make)))
    }
}

/// The records of a chunk (going on with `paused`, the record the previous
/// chunk cut): blank records skipped, records of the wrong width as errors,
/// and a record the end of the chunk cuts (unless the file ends there)
/// left paused.
fn tokenise(chunk: &CsvChunk, shape: &CsvShape, paused: Option<Paused>) -> CsvBlock {
    let text = &chunk.text;
    #[cfg(test)]
    TOKENISED.with(|t| t.set(t.get() + text.len()));
    let (mut t, mut paused_line) = match paused {
        Some(p) => (p.tokeniser.with_room(text.len()), Some(p.line)),
        None => (Tokeniser::new(shape.delimiter, text.len(), true), None),
    };
    // Room for the records of an event file, grown like any vector beyond.
    let mut block = CsvBlock { rows: Vec::with_capacity(text.len() / 80 + 16), ..CsvBlock::default() };
    let (mut at, mut record_start) = (0, 0);
    // The line of `text[counted]`.
    let (mut line, mut counted) = (chunk.first_line, 0);
    // The line of the record starting at `from`, once its first byte is read.
    let mut line_of = |from: usize, paused_line: &mut Option<u64>| -> Option<u64> {
        if let Some(l) = paused_line.take() {
            return Some(l);
        }
        // A record's line is that of its first byte after the line breaks
        // before it (blank lines, the `\n` of a `\r\n`).
        let first = from + text[from..].iter().position(|b| *b != b'\n' && *b != b'\r')?;
        line += count_byte(&text[counted..first], b'\n');
        counted = first;
        Some(line)
    };
    loop {
        if at == text.len() && !chunk.last {
            // The chunk ends inside a record if a byte after the last record
            // is not a line break (csv-core skips those between records).
            if let Some(line) = line_of(record_start, &mut paused_line) {
                block.paused = Some(Paused { tokeniser: t.pause(), line });
            }
            break;
        }
        // At the end of the file's text, the call tells csv-core the input ended.
        let (step, n) = t.read(&text[at..]);
        at += n;
        let (first_cell, cells_from) = match step {
            Step::More => continue,
            Step::End => break,
            Step::Record { first_end, cells_from } => (first_end, cells_from),
        };
        let line = line_of(record_start, &mut paused_line).expect("a record has a first byte");
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
        let core = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
        let t = Tokeniser {
            core,
            cells: Vec::new(),
            ends: Vec::new(),
            out: 0,
            nends: 0,
            record_out: 0,
            record_ends: 0,
            mid_file_start: mid_file,
        };
        t.with_room(bytes)
    }

    /// Room for the cells of `bytes` more of text: they never take more
    /// bytes than the text, and a cell of an event file takes 8 to 9 bytes
    /// with its comma (more is made when needed).
    fn with_room(mut self, bytes: usize) -> Tokeniser {
        self.cells.resize(self.out + bytes.max(64), 0);
        self.ends.resize(self.nends + bytes / 6 + 64, 0);
        self
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

    /// Stop inside the record under way: a tokeniser holding it, to go on
    /// with the next chunk; this one keeps the records before it.
    fn pause(&mut self) -> Tokeniser {
        let cells = self.cells[self.record_out..self.out].to_vec();
        let ends = self.ends[self.record_ends..self.nends].to_vec();
        let (out, nends) = (cells.len(), ends.len());
        // Moved, not cloned: csv-core's `Clone` of its DFA loses the states
        // (csv-core 0.1.13 copies the transitions only).
        let core = std::mem::replace(&mut self.core, csv_core::ReaderBuilder::new().build());
        let paused = Tokeniser { core, cells, ends, out, nends, record_out: 0, record_ends: 0, mid_file_start: false };
        self.truncate(self.record_out, self.record_ends);
        paused
    }

    /// The bytes of cell `i`.
    fn cell(&self, i: usize) -> &[u8] {
        &self.cells[span(&self.ends, i)]
    }
}

#[cfg(test)]
thread_local! {
    /// Bytes tokenised on this thread, for the tests of the cost.
    pub(crate) static TOKENISED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as read: its line and cells, or an error's line, field and reason.
    type Row = Result<(u64, Vec<Vec<u8>>), (u64, String, String)>;
    /// The header and the rows, or why the file cannot be read.
    type Read = Result<(Vec<String>, Vec<Row>), String>;

    fn rows_of(block: &CsvBlock, width: usize) -> Vec<Row> {
        let row = |r: &Result<(u64, usize), Box<RowError>>| match r {
            Ok((line, first)) => Ok((*line, (*first..first + width).map(|i| block.cell(i).to_vec()).collect())),
            Err(e) => Err((e.line, e.field.clone(), e.reason.clone())),
        };
        block.rows.iter().map(row).collect()
    }

    fn open<R: std::io::Read>(text: R, name: &str, chunk_bytes: usize) -> Result<CsvChunks<R>, String> {
        CsvChunks::with_chunk_bytes(Path::new(name), text, chunk_bytes).map_err(|e| e.to_string())
    }

    /// The header and rows read on one thread, `chunk_bytes` at a time.
    fn serial<R: std::io::Read>(text: R, name: &str, chunk_bytes: usize) -> Read {
        let chunks = open(text, name, chunk_bytes)?;
        let (header, width) = (chunks.header.clone(), chunks.header.len());
        Ok((header, chunks.blocks().flat_map(|b| rows_of(&b, width)).collect()))
    }

    /// The rows read as a bulk import reads them: every chunk tokenised on
    /// its own from a record's start, as if on another thread, then taken
    /// in order.
    fn in_parallel<R: std::io::Read>(text: R, name: &str, chunk_bytes: usize) -> Read {
        let mut chunks = open(text, name, chunk_bytes)?;
        let (shape, width) = (chunks.shape.clone(), chunks.header.len());
        let make = |b: CsvBlock| rows_of(&b, width);
        let made: Vec<Made<Vec<Row>>> =
            std::iter::from_fn(|| chunks.next_chunk()).map(|c| Made::new(c, &shape, None, make)).collect();
        let mut realign = Realign::default();
        let mut rows: Vec<Row> = Vec::new();
        for m in made {
            rows.extend(realign.next(m, &shape, make));
        }
        let (last, error) = chunks.finish(&mut realign, make);
        rows.extend(last.into_iter().flatten());
        rows.extend(error.map(|e| Err((e.line, e.field, e.reason))));
        Ok((chunks.header.clone(), rows))
    }

    /// The file read by the csv crate, the way this reader replaced: a
    /// record's line is where csv started reading it plus the line breaks
    /// it skipped first; blank records skipped, other widths an error; an
    /// odd number of quotes an error on the last record's line. The header
    /// rules are Tenure's own (a byte-order mark and spaces trimmed; empty,
    /// repeated or non-UTF-8 names refused).
    fn by_the_csv_crate(text: &[u8], name: &str) -> Read {
        let delimiter = if name.ends_with(".tsv") { b'\t' } else { b',' };
        let mut rdr = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text);
        let mut header = Vec::new();
        for (i, h) in rdr.byte_headers().unwrap().iter().enumerate() {
            let h = std::str::from_utf8(h).map_err(|_| {
                format!("{name}: line 1: header column {} is not valid UTF-8 (save the file as UTF-8)", i + 1)
            })?;
            header.push(h.trim_start_matches('\u{feff}').trim().to_string());
        }
        if header.iter().all(String::is_empty) {
            return Err(format!("{name}: line 1: the header row is empty"));
        }
        if let Some(dup) = header.iter().enumerate().find(|(i, h)| !h.is_empty() && header[..*i].contains(h)) {
            return Err(format!("{name}: line 1: column {:?} appears twice in the header", dup.1));
        }
        let mut rows = Vec::new();
        let mut record = csv::ByteRecord::new();
        let mut last_line = 1;
        let error = |line, reason: String| Err((line, "csv".to_string(), reason));
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
                let reason = format!("has {} fields but the header has {}", record.len(), header.len());
                error(line, reason + " (a quote left open, or a stray comma?)")
            });
        }
        if text.iter().filter(|b| **b == b'"').count() % 2 == 1 {
            let reason = "the file ends inside a quoted field that starts on this line (is the file truncated?)";
            rows.push(error(last_line, reason.into()));
        }
        Ok((header, rows))
    }

    /// A generator of small numbers (xorshift), the same for a seed.
    struct Dice(u64);

    impl Dice {
        fn new(seed: u64) -> Dice {
            Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        fn roll(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// A small CSV file of awkward records: quoted delimiters and line
    /// breaks, doubled quotes, stray quotes, byte-order marks, blank lines,
    /// rows of the wrong width, mixed line endings, sometimes cut short.
    fn awkward_file(dice: &mut Dice) -> Vec<u8> {
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
            "\"r\rs\"",
            "5\" screen",
            "\"a\"b\"",
        ];
        let mut text = String::new();
        if dice.roll(4) == 0 {
            text.push('\u{feff}');
        }
        text.push_str(
            ["id,name,note\n", "id,\"name\",note\r\n", "\n\nid,name,note\r", "id , name,note\n"][dice.roll(4) as usize],
        );
        for _ in 0..dice.roll(30) {
            let end = ["\n", "\r\n", "\n", "\r"][dice.roll(4) as usize];
            if dice.roll(8) == 0 {
                text.push_str(end); // a blank line
                continue;
            }
            let width = [3, 3, 3, 3, 2, 4][dice.roll(6) as usize];
            let mut cells = Vec::new();
            for _ in 0..width {
                // Stray quotes, which fool the quote count, now and then.
                let kinds = if dice.roll(6) == 0 { 13 } else { 11 };
                cells.push(fields[dice.roll(kinds) as usize]);
            }
            text.push_str(&cells.join(","));
            text.push_str(end);
        }
        let mut bytes = text.into_bytes();
        match dice.roll(4) {
            0 => bytes.truncate(bytes.len() - dice.roll(bytes.len() as u64 / 2) as usize), // cut anywhere
            1 => bytes.truncate(bytes.len().saturating_sub(1)),                            // no last line break
            _ => {}
        }
        bytes
    }

    /// Bytes that CSV is made of, in any order: quotes, delimiters, line
    /// breaks, byte-order marks, halves of a UTF-8 character, invalid bytes.
    fn byte_soup(dice: &mut Dice) -> Vec<u8> {
        let atoms: [&[u8]; 18] = [
            b"a",
            b"b",
            b",",
            b",",
            b"\"",
            b"\"",
            b"\n",
            b"\n",
            b"\r",
            b"\r\n",
            b"\t",
            b" ",
            b"\xef\xbb\xbf",
            b"\xc3",
            b"\xa9",
            b"\xc3\xa9",
            b"\xff",
            b"\"\"",
        ];
        let mut text = Vec::new();
        if dice.roll(3) == 0 {
            text.extend_from_slice(b"id,name,x\n");
        }
        for _ in 0..dice.roll(60) {
            text.extend_from_slice(atoms[dice.roll(atoms.len() as u64) as usize]);
        }
        text
    }

    fn shown(text: &[u8]) -> String {
        format!("{:?}", String::from_utf8_lossy(text))
    }

    #[test]
    fn records_lines_and_errors_are_the_csv_crates_whatever_the_chunks() {
        for seed in 0..2_000 {
            let mut dice = Dice::new(seed);
            let text = if seed % 3 == 0 { awkward_file(&mut dice) } else { byte_soup(&mut dice) };
            let name = if dice.roll(5) == 0 { "f.tsv" } else { "f.csv" };
            let want = by_the_csv_crate(&text, name);
            for chunk_bytes in [1, 2, 3, 5, 8, 13, 40, 1 << 20] {
                let at = || format!("seed {seed}, chunks of {chunk_bytes}: {}", shown(&text));
                assert_eq!(serial(&text[..], name, chunk_bytes), want, "{}", at());
                assert_eq!(in_parallel(&text[..], name, chunk_bytes), want, "{}", at());
            }
        }
    }

    /// A reader that fails after `good` bytes.
    struct Failing<'a> {
        text: &'a [u8],
        good: usize,
    }

    impl std::io::Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.good == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.good).min(self.text.len());
            buf[..n].copy_from_slice(&self.text[..n]);
            (self.text, self.good) = (&self.text[n..], self.good - n);
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_ends_the_rows_at_the_last_whole_record() {
        let rows: String = (1..=3_000).map(|i| format!("{i},\"Acme {i}\",{}\n", i * 100)).collect();
        let text = format!("id,name,amount\n{rows}");
        let line = |i: u64| -> Row {
            Ok((i + 1, vec![i.to_string().into(), format!("Acme {i}").into(), (i * 100).to_string().into()]))
        };
        // Reading fails 10 bytes into row 2,000 (line 2,001): the row is cut
        // within its name, and is no row at all.
        let good = text.find("2000,").unwrap() + 10;
        let mut want: Vec<Row> = (1..2_000).map(line).collect();
        want.push(Err((2_000, "csv".into(), "disk on fire".into())));
        for chunk_bytes in [7, 4096, 1 << 20] {
            let failing = || Failing { text: text.as_bytes(), good };
            for (how, (header, rows)) in [
                ("serial", serial(failing(), "f.csv", chunk_bytes).unwrap()),
                ("parallel", in_parallel(failing(), "f.csv", chunk_bytes).unwrap()),
            ] {
                assert_eq!(header, ["id", "name", "amount"]);
                let differ = rows.iter().zip(&want).position(|(a, b)| a != b);
                let at = differ.map(|i| (&rows[i], &want[i]));
                assert_eq!((rows.len(), at), (want.len(), None), "{how}, chunks of {chunk_bytes}");
            }
        }
        // Failing right after the header: no rows, the error; failing inside
        // the header: the file cannot be read.
        let good = text.find('\n').unwrap() + 1;
        let (_, rows) = serial(Failing { text: text.as_bytes(), good }, "f.csv", 1 << 20).unwrap();
        assert_eq!(rows, [Err((1, "csv".into(), "disk on fire".into()))]);
        let failed = serial(Failing { text: text.as_bytes(), good: 5 }, "f.csv", 1 << 20).unwrap_err();
        assert_eq!(failed, "f.csv: cannot read the header: disk on fire");
    }

    /// Bytes tokenised while reading `text` one way.
    fn tokenised(read: impl FnOnce() -> Read) -> usize {
        TOKENISED.with(|t| t.set(0));
        read().unwrap();
        TOKENISED.with(|t| t.get())
    }

    #[test]
    fn a_quote_left_open_early_costs_one_more_reading_not_one_per_chunk() {
        // The quote opened on line 2 is never closed: the rest of the file
        // is one value, cut by every chunk.
        let rows: String = (0..20_000).map(|i| format!("{i},plain,x\n")).collect();
        let text = format!("id,name,note\n0,\"Acme, Inc,x\n{rows}");
        let chunk_bytes = text.len() / 40;
        let (_, read) = serial(text.as_bytes(), "f.csv", chunk_bytes).unwrap();
        // One long record of two fields, then the quote left open, both on line 2.
        let reasons: Vec<(u64, &str)> =
            read.iter().map(|r| r.as_ref().map_err(|(l, _, e)| (*l, &e[..12])).unwrap_err()).collect();
        assert_eq!(reasons, [(2, "has 2 fields"), (2, "the file end")]);
        assert_eq!(
            in_parallel(text.as_bytes(), "f.csv", chunk_bytes),
            Ok((vec!["id".into(), "name".into(), "note".into()], read))
        );
        // Read again from the record's start with every chunk, it was 20 times the file.
        let body = text.len() - "id,name,note\n".len();
        assert!(tokenised(|| serial(text.as_bytes(), "f.csv", chunk_bytes)) <= body);
        assert!(tokenised(|| in_parallel(text.as_bytes(), "f.csv", chunk_bytes)) <= 2 * body);
    }

    #[test]
    fn a_file_of_carriage_returns_is_cut_into_chunks_too() {
        let rows: String = (0..2_000).map(|i| format!("{i},\"a\rb\",x\r")).collect();
        let text = format!("id,name,note\r{rows}");
        let mut chunks = open(text.as_bytes(), "f.csv", 1_000).unwrap();
        let sizes: Vec<usize> = std::iter::from_fn(|| chunks.next_chunk()).map(|c| c.text.len()).collect();
        assert!(sizes.len() > 20 && sizes.iter().all(|n| *n <= 2_000), "{sizes:?}");
        let (_, read) = serial(text.as_bytes(), "f.csv", 1_000).unwrap();
        assert_eq!(read.len(), 2_000);
        assert_eq!(read[1], Ok((1, vec![b"1".to_vec(), b"a\rb".to_vec(), b"x".to_vec()])), "no \\n: all on line 1");
    }
}
