//! `tenure import`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tenure_import::{Format, ImportError, ImportOptions, Vendor};
use tenure_store::Workspace;

use crate::output;

pub const AFTER_HELP: &str = "\
Entities: customers, plans, subscription_events, invoices, orders, events, survey_responses,
tickets, cancellations, costs, fx_rates. Field names and CSV columns: docs/import.md;
one example file per entity in examples/.
Vendor exports (--from): segment, stripe, zendesk, delighted, typeform: docs/import.md.

Every row is validated before anything is written. If any row is rejected, each is
reported as FILE:LINE: FIELD: REASON, nothing is imported and the exit code is 1;
with --skip-invalid the valid rows are imported and the rejected ones are written to a
rejects file (JSON Lines). Importing the same rows again changes nothing; a row whose id
is already stored replaces it (events: a messageId already stored is skipped).

Examples:
  tenure import customers examples/customers.csv
  tenure import events export-2024-*.jsonl
  tenure import events segment-batch.json --from segment
  tenure import tickets tickets.parquet --skip-invalid";

#[derive(Args)]
pub struct ImportArgs {
    /// What the files hold.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(tenure_model::ENTITY_NAMES))]
    entity: String,
    /// One or more files (.csv, .jsonl, .json, .parquet).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Read the files as this format whatever their extension.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Format::NAMES))]
    format: Option<String>,
    /// The files are a vendor's export (mapped onto Tenure's fields).
    #[arg(long = "from", value_parser = clap::builder::PossibleValuesParser::new(Vendor::NAMES))]
    vendor: Option<String>,
    /// Import the valid rows and write the rejected ones to a rejects file.
    #[arg(long)]
    skip_invalid: bool,
    /// Where --skip-invalid writes rejected rows (default: DATA/rejects/ENTITY-TIME.jsonl).
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
}

pub fn run(data: &Path, args: ImportArgs) -> Result<ExitCode> {
    let mut ws = Workspace::open(data)?;
    let total: u64 = args.files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("importing {}", args.entity));
    let progress_bar = bar.clone();
    let opts = ImportOptions {
        format: args.format.as_deref().and_then(Format::parse),
        vendor: args.vendor.as_deref().and_then(Vendor::parse),
        skip_invalid: args.skip_invalid,
        progress: Some(Arc::new(move |n| progress_bar.inc(n))),
    };
    let result = tenure_import::import_files(&mut ws, &args.entity, &args.files, &opts);
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(ImportError::Rejected(report)) => {
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            eprint!("{}", report.rejected_summary());
            bail!(
                "{} of {} row(s) rejected; nothing was imported. Fix the rows above, or give --skip-invalid to import the {} valid row(s)",
                report.rejected.len(),
                report.rows_read,
                report.rows_valid
            );
        }
        Err(e) => return Err(e.into()),
    };
    if args.entity == "events" {
        crate::refresh_rollups(&ws)?;
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if !report.rejected.is_empty() {
        let path = args.rejects.clone().unwrap_or_else(|| {
            let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
            data.join("rejects").join(format!("{}-{stamp}.jsonl", args.entity))
        });
        report.write_rejects(&path)?;
        eprint!("{}", report.rejected_summary());
        eprintln!("{} row(s) rejected and written to {}", report.rejected.len(), path.display());
    }
    let what = match (&report.upsert, &report.append) {
        (Some(u), _) => format!("{} new, {} updated, {} unchanged", u.inserted, u.updated, u.unchanged),
        (None, Some(a)) => format!("{} new, {} already stored or repeated (skipped)", a.appended, a.duplicates),
        (None, None) => format!("{} valid", report.rows_valid),
    };
    let version = match report.version {
        Some(v) => format!("workspace version {v}"),
        None => "nothing changed".to_string(),
    };
    output::line(format!("{}: {} row(s) read; {what}; {version}", args.entity, report.rows_read));
    if report.version.is_some() {
        crate::alerts::after_import(data);
    }
    Ok(ExitCode::SUCCESS)
}
