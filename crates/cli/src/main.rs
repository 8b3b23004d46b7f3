//! `tenure`: customer-success metrics from billing, usage, surveys and support.

mod alerts;
mod churn;
mod clv;
mod demo;
mod feedback;
mod health;
mod import;
mod keys;
mod metrics;
mod output;
mod reconcile;
mod serve;
mod spark;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use tenure_store::Workspace;

use crate::output::OutputFormat;

/// mimalloc gives freed memory back to the system within milliseconds; glibc's
/// malloc kept most of it, so a process that runs one big step after another
/// (`tenure demo`'s headline at 1,000,000 customers: revenue, support, health)
/// held the sum of their leftovers (docs/benchmarks.md, session 7).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const AFTER_HELP: &str = "\
Getting started:
  tenure demo                      a demo company in ./tenure-data, with its headline numbers
  tenure init                      an empty workspace in ./tenure-data
  tenure import customers crm.csv  import a file (CSV, JSON Lines, JSON or Parquet)
  tenure metrics revenue           MRR, movements, churn, NRR per month
  tenure sql \"select segment, count(*) from customers group by 1\"

Every command works on the workspace given by --data (or TENURE_DATA), default ./tenure-data.";

#[derive(Parser)]
#[command(name = "tenure", version, about = "Customer-success metrics from billing, product usage, surveys and support tickets", after_help = AFTER_HELP)]
struct Cli {
    /// The workspace directory.
    #[arg(long, global = true, env = "TENURE_DATA", default_value = "tenure-data", value_name = "DIR")]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an empty workspace (a directory with tenure.toml and the data tables).
    Init {
        /// Where to create it (default: the --data directory).
        dir: Option<PathBuf>,
    },
    /// Import files of one entity; all rows are validated before anything is written.
    #[command(after_help = import::AFTER_HELP)]
    Import(import::ImportArgs),
    /// Run a SQL query over the workspace's tables (DataFusion SQL).
    #[command(
        after_help = "Tables: customers, plans, subscription_events, invoices, invoice_line_items, invoice_transactions, orders, events, survey_responses, tickets, cancellations, costs, fx_rates.\nList columns with: tenure sql \"select table_name, column_name, data_type from information_schema.columns\""
    )]
    Sql {
        /// The query, e.g. "select count(*) from subscription_events".
        query: String,
        #[command(flatten)]
        format: FormatArgs,
    },
    /// List the workspace's tables and their row counts.
    Tables {
        #[command(flatten)]
        format: FormatArgs,
    },
    /// Churn prediction: train on past snapshots (or any labelled table), predict each account's risk and drivers.
    #[command(after_help = churn::AFTER_HELP)]
    Churn {
        #[command(subcommand)]
        command: churn::ChurnCommand,
    },
    /// Health scores: every account's 0-100 score, color, grade, rank and trend from a scorecard; overrides.
    #[command(after_help = health::AFTER_HELP)]
    Health(health::HealthArgs),
    /// Health alerts: evaluate the rules, list, acknowledge and close the tasks they create.
    #[command(after_help = alerts::AFTER_HELP)]
    Alerts(alerts::AlertsArgs),
    /// Customer lifetime value: BG/NBD or Pareto/NBD purchases and Gamma-Gamma spend fitted on the orders, per customer.
    #[command(after_help = clv::AFTER_HELP)]
    Clv(clv::ClvArgs),
    /// Generate a realistic demo company, import it and print its headline numbers.
    Demo(demo::DemoArgs),
    /// Bring the per-day rollups of the events up to date (`tenure import events`, the demo and
    /// `tenure serve` do it themselves; run it after an upgrade that changed their format, which
    /// queries otherwise answer by scanning the events)
    #[command(
        after_help = "Example:\n  tenure --data ./data rollups\nOnly events files without a valid entry are scanned (on a terminal a bar shows each scan); TENURE_NO_ROLLUPS=1 makes queries ignore the rollups."
    )]
    Rollups,
    /// List and search survey comments with their scores, themes and customers; count them per theme.
    #[command(after_help = feedback::AFTER_HELP)]
    Feedback(feedback::FeedbackArgs),
    /// Why two revenue rule sets (presets), or Tenure and a billing system's MRR export, differ in a month.
    #[command(after_help = reconcile::AFTER_HELP)]
    Reconcile(reconcile::ReconcileArgs),
    /// Compute a group of metrics (revenue, engagement, surveys, support).
    Metrics {
        #[command(subcommand)]
        command: tenure_query::MetricQuery,
        #[command(flatten)]
        format: metrics::MetricsFormat,
    },
    /// Print a metric group as SQL for a distributed engine (Spark), or run it there with --run.
    #[command(after_help = spark::AFTER_HELP)]
    ExportSql(Box<spark::ExportSqlArgs>),
    /// Serve the HTTP API: Segment-compatible event ingest and bulk rows of every entity, durable and authenticated.
    #[command(after_help = serve::AFTER_HELP)]
    Serve(serve::ServeArgs),
    /// Create, list and revoke the API keys `tenure serve` accepts.
    #[command(after_help = keys::AFTER_HELP)]
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
}

#[derive(Args, Clone, Copy)]
struct FormatArgs {
    /// Print JSON (an array of objects).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV with a header row.
    #[arg(long)]
    csv: bool,
}

impl FormatArgs {
    fn format(self) -> OutputFormat {
        if self.json {
            OutputFormat::Json
        } else if self.csv {
            OutputFormat::Csv
        } else {
            OutputFormat::Table
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // `tenure sql ... | head`: the reader went away; not an error.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.to_string().contains("Broken pipe")
    })
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init { dir } => {
            let dir = dir.unwrap_or(cli.data);
            Workspace::init(&dir)?;
            output::line(format!("Created an empty Tenure workspace in {}", dir.display()));
            output::line(format!("Next: tenure --data {} import customers FILE   (or: tenure demo)", dir.display()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(args) => import::run(&cli.data, args),
        Command::Rollups => {
            let ws = Workspace::open(&cli.data)?;
            let scanned = refresh_rollups(&ws)?;
            output::line(format!("Rollups up to date ({scanned} events file(s) scanned per time zone and rollup)"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql { query, format } => {
            let ws = Workspace::open(&cli.data)?;
            let engine = tenure_engine::Engine::new(&ws)?;
            let (schema, batches) = engine.sql_blocking(&query).context("the query failed")?;
            output::batches(&schema, &batches, format.format())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tables { format } => {
            let ws = Workspace::open(&cli.data)?;
            let engine = tenure_engine::Engine::new(&ws)?;
            let query = tenure_store::TABLES
                .iter()
                .map(|t| format!("select '{0}' as table_name, count(*) as rows from {0}", t.name))
                .collect::<Vec<_>>()
                .join(" union all ");
            let (schema, batches) = engine.sql_blocking(&format!("select * from ({query}) order by table_name"))?;
            output::batches(&schema, &batches, format.format())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Churn { command } => churn::run(&cli.data, command),
        Command::Serve(args) => serve::run(&cli.data, args),
        Command::Keys { command } => keys::run(&cli.data, command),
        Command::Health(args) => health::run(&cli.data, args),
        Command::Alerts(args) => alerts::run(&cli.data, args),
        Command::Clv(args) => clv::run(&cli.data, args),
        Command::Demo(args) => demo::run(&cli.data, args),
        Command::Feedback(args) => feedback::run(&cli.data, args),
        Command::Reconcile(args) => reconcile::run(&cli.data, args),
        Command::Metrics { command, format } => metrics::run(&cli.data, command, format),
        Command::ExportSql(args) => spark::run_export(&cli.data, *args),
    }
}

/// Bring the rollups up to date with a bar per scan (from nothing at 100 M
/// events that is over half a minute; hidden when stderr is not a terminal):
/// `tenure rollups`, the demo and `tenure import events`.
fn refresh_rollups(ws: &Workspace) -> Result<usize> {
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let scanned = tenure_query::rollup::refresh_with(ws, &|what, done, total| {
        let what = format!("rollups: scanning {what}");
        if bar.message() != what {
            // A new scan: its own count and eta.
            bar.reset();
            bar.set_length(total as u64);
            bar.set_message(what);
        }
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    scanned
}
