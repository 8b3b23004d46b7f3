//! Everything the CLI prints to stdout goes through here.
#![allow(clippy::print_stdout)]

use std::io::Write;

use anyhow::Result;
use datafusion_arrow::array::RecordBatch;
use datafusion_arrow::datatypes::SchemaRef;

use tenure_engine::datafusion_arrow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

pub fn line(s: impl AsRef<str>) {
    emit(&format!("{}\n", s.as_ref()));
}

/// Print a JSON document (pretty, one trailing newline).
pub fn json(v: &serde_json::Value) {
    emit(&format!("{}\n", serde_json::to_string_pretty(v).expect("JSON values serialise")));
}

/// Write to stdout. A closed pipe (`tenure ... | head`) ends the program
/// quietly, as Unix tools do, instead of panicking like `println!`.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        exit_on_broken_pipe(&e);
    }
}

fn exit_on_broken_pipe(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
}

/// Print a text table: a header, a rule, then the rows; numbers are aligned
/// right and text left, so columns of figures line up.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    print_table(header, || rows.iter().map(|r| r.iter().map(String::as_str)));
}

/// The cell separator of [`packed_table`]'s rows.
pub const CELL_SEP: char = '\u{1f}';

/// [`table`] of rows packed into one string each, cells separated by
/// [`CELL_SEP`]: a million rows cost a million strings instead of one per cell.
pub fn packed_table(header: &[&str], rows: &[String]) {
    print_table(header, || rows.iter().map(|r| r.split(CELL_SEP)));
}

/// [`table`] over rows that can be walked twice: once for the widths, once to print.
fn print_table<'a, R, I>(header: &[&str], rows: impl Fn() -> I)
where
    R: Iterator<Item = &'a str>,
    I: Iterator<Item = R>,
{
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows() {
        for (i, c) in r.enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let numeric = |c: &str| {
        let t = c.trim_end_matches('%');
        !t.is_empty() && t.parse::<f64>().is_ok() || c == "-"
    };
    let fmt = |cells: &mut dyn Iterator<Item = &str>| {
        cells
            .enumerate()
            .map(|(i, c)| {
                let width = w.get(i).copied().unwrap_or(0);
                if numeric(c) { format!("{c:>width$}") } else { format!("{c:<width$}") }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut text = String::new();
    text.push_str(fmt(&mut header.iter().copied()).trim_end());
    text.push('\n');
    text.push_str(&w.iter().map(|n| "-".repeat(*n)).collect::<Vec<_>>().join("  "));
    text.push('\n');
    for mut r in rows() {
        text.push_str(fmt(&mut r).trim_end());
        text.push('\n');
        // Written in pieces: the text of a million rows need not be held at once.
        if text.len() >= 1 << 16 {
            emit(&text);
            text.clear();
        }
    }
    emit(&text);
}

/// Print a JSON document too big to hold as one value (pretty, one trailing
/// newline, as [`json`] prints): `v` may compute its parts while it is
/// written. The serialiser's result is returned (a closed pipe ends the
/// program quietly, as in [`emit`]).
pub fn json_streamed(v: &impl serde::Serialize) -> serde_json::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, v)
        .and_then(|_| out.write_all(b"\n").and_then(|_| out.flush()).map_err(serde_json::Error::io));
    if let Err(e) = &written
        && e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe)
    {
        std::process::exit(0);
    }
    written
}

/// Print query results as a table, a JSON array of objects, or CSV.
pub fn batches(schema: &SchemaRef, batches: &[RecordBatch], format: OutputFormat) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        OutputFormat::Table => {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            if rows == 0 {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                writeln!(out, "(no rows; columns: {})", names.join(", "))?;
            } else {
                writeln!(out, "{}", datafusion_arrow::util::pretty::pretty_format_batches(batches)?)?;
                writeln!(out, "{rows} row(s)")?;
            }
        }
        OutputFormat::Json if batches.iter().all(|b| b.num_rows() == 0) => writeln!(out, "[]")?,
        OutputFormat::Json => {
            let mut w = datafusion_arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, datafusion_arrow::json::writer::JsonArray>(&mut out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            drop(w);
            writeln!(out)?;
        }
        OutputFormat::Csv => {
            let mut w = datafusion_arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            if batches.is_empty() {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                writeln!(w.into_inner(), "{}", names.join(","))?;
            } else {
                for b in batches {
                    w.write(b)?;
                }
            }
        }
    }
    Ok(())
}
