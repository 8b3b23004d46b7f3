//! `tenure demo`: a generated company, imported and summarised.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tenure_demo::DemoConfig;
use tenure_store::Workspace;

use crate::output;

/// Marks a workspace made by `tenure demo`, which a later demo may replace.
const DEMO_MARKER: &str = "demo.toml";

#[derive(Args)]
#[command(after_help = "\
The demo company: monthly and annual plans in USD, EUR and GBP, trials, seats, upgrades and
downgrades, discounts, past-due accounts, cancellations and reactivations, product usage with
weekday rhythms and real sessions, NPS/CSAT/CES answers with comments, support tickets and
monthly costs. Its churn is caused by what a customer-success team can see: falling usage,
detractor scores, slow support and failed payments.

Running the demo again replaces a workspace an earlier demo made; it refuses to touch a
workspace holding imported data unless --force is given.

Examples:
  tenure demo
  tenure demo --seed 7 --data /tmp/demo
  tenure demo --customers 100000 --events 10000000 --data /tmp/bench   # benchmark scale")]
pub struct DemoArgs {
    /// Random seed: the same seed gives the same company.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of customers.
    #[arg(long, default_value_t = 2000)]
    customers: usize,
    /// Approximate number of product usage events.
    #[arg(long, default_value_t = 3_000_000)]
    events: usize,
    /// Replace the workspace even if it holds data that a demo did not make.
    #[arg(long)]
    force: bool,
}

pub fn run(data: &Path, args: DemoArgs) -> Result<ExitCode> {
    prepare_workspace(data, args.force)?;
    let cfg = DemoConfig { seed: args.seed, customers: args.customers, events: args.events, ..DemoConfig::default() };
    let started = std::time::Instant::now();

    let spinner = ProgressBar::new_spinner().with_message(format!("generating {} customers", cfg.customers));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let demo = tenure_demo::generate(&cfg);
    spinner.finish_and_clear();

    let mut ws = Workspace::open(data)?;
    {
        let mut w = ws.writer()?;
        w.upsert(&demo.customers)?;
        w.upsert(&demo.plans)?;
        w.upsert(&demo.subscription_events)?;
        w.upsert(&demo.invoices)?;
        w.upsert(&demo.orders)?;
        w.upsert(&demo.survey_responses)?;
        w.upsert(&demo.tickets)?;
        w.upsert(&demo.cancellations)?;
        w.upsert(&demo.costs)?;
        w.upsert(&demo.fx_rates)?;

        let bar = ProgressBar::new(cfg.events as u64).with_style(
            ProgressStyle::with_template("usage events [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        let mut failed = None;
        tenure_demo::generate_events(&cfg, &demo, 20_000, |chunk| {
            if failed.is_none() {
                bar.inc(chunk.len() as u64);
                if let Err(e) = w.append_events(&chunk) {
                    failed = Some(e);
                }
            }
        });
        bar.finish_and_clear();
        if let Some(e) = failed {
            return Err(e.into());
        }
        w.commit()?;
    }
    let marker = format!("seed = {}\ncustomers = {}\nevents = {}\n", cfg.seed, cfg.customers, cfg.events);
    fs_err::write(data.join(DEMO_MARKER), marker)?;

    output::line(format!(
        "Demo company (seed {}) imported into {} in {:.1}s\n",
        cfg.seed,
        data.display(),
        started.elapsed().as_secs_f64()
    ));
    headline(&ws)?;
    output::line(format!(
        "\nNext: tenure --data {} sql \"select segment, count(*) from customers group by 1\"",
        data.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Make `data` an empty workspace: create it, or replace an earlier demo.
fn prepare_workspace(data: &Path, force: bool) -> Result<()> {
    match Workspace::open(data) {
        Ok(ws) => {
            let has_data = ws.manifest().tables.values().any(|t| t.rows() > 0);
            if has_data && !data.join(DEMO_MARKER).exists() && !force {
                bail!(
                    "{} holds imported data; the demo will not overwrite it. Use --data DIR for another directory, or --force to replace it",
                    data.display()
                );
            }
            fs_err::remove_dir_all(data).context("removing the previous demo workspace")?;
        }
        Err(tenure_store::StoreError::NotAWorkspace(_)) => {
            if data.exists() && fs_err::read_dir(data)?.next().is_some() && !force {
                bail!("{} exists and is not an empty directory; use --data DIR for another directory", data.display());
            }
        }
        Err(e) => return Err(e.into()),
    }
    Workspace::init(data)?;
    Ok(())
}

/// The headline numbers of a workspace, straight from SQL over its tables.
fn headline(ws: &Workspace) -> Result<()> {
    let engine = tenure_engine::Engine::new(ws)?;
    let one = |q: &str| -> Result<String> {
        use tenure_engine::datafusion_arrow::util::display::{ArrayFormatter, FormatOptions};
        let (_, batches) = engine.sql_blocking(q).with_context(|| format!("headline query failed: {q}"))?;
        let b = batches.iter().find(|b| b.num_rows() > 0).context("headline query returned no row")?;
        let opts = FormatOptions::default().with_null("n/a");
        let f = ArrayFormatter::try_new(b.column(0).as_ref(), &opts)?;
        Ok(f.value(0).to_string())
    };
    output::line("Data");
    for (label, table) in [
        ("customers", "customers"),
        ("subscription events", "subscription_events"),
        ("invoices", "invoices"),
        ("orders", "orders"),
        ("usage events", "events"),
        ("survey responses", "survey_responses"),
        ("support tickets", "tickets"),
    ] {
        output::line(format!("  {label:<22}{:>12}", ws.rows(table)));
    }
    output::line("\nFirst look");
    let period =
        one("select concat(cast(min(date) as varchar), ' to ', cast(max(date) as varchar)) from subscription_events")?;
    output::line(format!("  {:<38}{period}", "billing history"));
    let users = one("select count(distinct user_id) from events where type = 'track'")?;
    output::line(format!("  {:<38}{users}", "product users (ever active)"));
    let mau = one("select count(distinct user_id) from events where type = 'track' and timestamp >= \
         (select max(timestamp) from events) - interval '30 days'")?;
    output::line(format!("  {:<38}{mau}", "active users, last 30 days of data"));
    let nps = one(
        "select round(100.0 * (sum(case when score >= 9 then count else 0 end) - sum(case when score <= 6 then count else 0 end)) \
         / sum(count), 1) from survey_responses where survey_type = 'nps' and score is not null and rejected_reason is null",
    )?;
    output::line(format!("  {:<38}{nps}", "NPS, all answers"));
    let solved = one("select count(*) from tickets where status in ('solved', 'closed')")?;
    output::line(format!("  {:<38}{solved}", "tickets resolved"));
    Ok(())
}
