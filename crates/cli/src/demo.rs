//! `tenure demo`: a generated company, imported and summarised.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tenure_demo::DemoConfig;
use tenure_store::{Stored, Workspace};

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
  tenure demo                         then serves the dashboard (from a terminal; --no-serve to skip)
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
    /// Then serve the dashboard and the API (`tenure serve`; a one-time login link is printed; Ctrl-C stops).
    /// This is the default when run from a terminal.
    #[arg(long, conflicts_with = "no_serve")]
    serve: bool,
    /// Stop after the headline numbers, even in a terminal (scripts and pipes never serve unless --serve).
    #[arg(long)]
    no_serve: bool,
}

pub fn run(data: &Path, args: DemoArgs) -> Result<ExitCode> {
    prepare_workspace(data, args.force)?;
    let cfg = DemoConfig { seed: args.seed, customers: args.customers, events: args.events, ..DemoConfig::default() };
    let started = std::time::Instant::now();

    let mut ws = Workspace::open(data)?;
    {
        let mut w = ws.writer()?;
        // The company is generated and upserted a batch of customers at a
        // time: holding a million customers' rows at once took ~13 GB
        // (issue 10), a batch a few hundred MB. Customer ids are unique
        // across batches, so each batch takes the Writer's insert path and
        // the tables are the same as from one upsert.
        let bar = progress_bar("customers", cfg.customers);
        let mut failed = None;
        let demo =
            tenure_demo::generate_batches(&cfg, demo_env_count("TENURE_DEMO_BATCH_CUSTOMERS", 50_000), |batch| {
                bar.inc(batch.customers.len() as u64);
                if failed.is_none()
                    && let Err(e) = upsert_company(&mut w, &batch)
                {
                    failed = Some(e);
                }
            });
        if let Some(e) = failed {
            return Err(e.into());
        }
        upsert_company(&mut w, &demo)?;
        bar.finish_and_clear();

        // Events stream in chunks straight into the Writer, which writes
        // them to Parquet every 2 M rows: memory does not grow with events.
        // Their ids (customer, user, count) are unique and the workspace was
        // empty, so the ids stored on each day need not be read again per
        // flush (at 100 M events: 50 flushes over 730 days).
        let bar = progress_bar("usage events", cfg.events);
        let mut failed = None;
        tenure_demo::generate_events(&cfg, &demo, demo_env_count("TENURE_DEMO_EVENT_CHUNK", 20_000), |chunk| {
            if failed.is_none() {
                bar.inc(chunk.len() as u64);
                let batch = tenure_model::UsageEvent::to_batches(&chunk).remove(0);
                if let Err(e) = w.append_checked_event_batch(&batch) {
                    failed = Some(e);
                }
            }
        });
        bar.finish_and_clear();
        if let Some(e) = failed {
            return Err(e.into());
        }
        let spinner = progress_spinner("writing the workspace (merging each day's event files)");
        w.commit()?;
        spinner.finish_and_clear();
    }
    crate::refresh_rollups(&ws)?;
    let marker = format!("seed = {}\ncustomers = {}\nevents = {}\n", cfg.seed, cfg.customers, cfg.events);
    fs_err::write(data.join(DEMO_MARKER), marker)?;

    output::line(format!(
        "Demo company (seed {}) imported into {} in {:.1}s\n",
        cfg.seed,
        data.display(),
        started.elapsed().as_secs_f64()
    ));
    headline(&ws)?;
    let d = data.display();
    // Serving blocks until Ctrl-C: a person at a terminal wants the dashboard
    // (the "demo ends by serving"), a script or a test wants the exit.
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if args.serve || (interactive && !args.no_serve) {
        output::line("");
        drop(ws);
        return crate::serve::run(data, crate::serve::ServeArgs::default());
    }
    output::line(format!(
        "\nNext:\n  tenure --data {d} serve                     the dashboard (open the login link it prints)\n  tenure --data {d} health\n  tenure --data {d} metrics revenue --from 2026-01\n  tenure --data {d} metrics retention --period month\n  tenure --data {d} sql \"select segment, count(*) from customers group by 1\""
    ));
    Ok(ExitCode::SUCCESS)
}

/// A batch size the environment may override: `TENURE_DEMO_BATCH_CUSTOMERS`
/// (customers generated and upserted at a time) and `TENURE_DEMO_EVENT_CHUNK`
/// (events generated and appended at a time). Tests use tiny ones to compare
/// with one batch.
fn demo_env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(default)
}

/// A bar for long work (a million customers and 100 M events take many
/// minutes); hidden when stderr is not a terminal.
fn progress_bar(what: &str, len: usize) -> ProgressBar {
    ProgressBar::new(len as u64).with_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:30}}] {{human_pos}}/{{human_len}} {{per_sec}} eta {{eta}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    )
}

fn progress_spinner(what: &str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner().with_message(what.to_string());
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}

/// Upsert every non-empty entity of a demo batch (a batch holds the
/// per-customer rows, the company-wide rest its plans, costs and FX rates).
fn upsert_company(w: &mut tenure_store::Writer<'_>, demo: &tenure_demo::DemoData) -> tenure_store::Result<()> {
    fn put<E: Stored>(w: &mut tenure_store::Writer<'_>, rows: &[E]) -> tenure_store::Result<()> {
        if !rows.is_empty() {
            w.upsert(rows)?;
        }
        Ok(())
    }
    put(w, &demo.customers)?;
    put(w, &demo.plans)?;
    put(w, &demo.subscription_events)?;
    put(w, &demo.invoices)?;
    put(w, &demo.orders)?;
    put(w, &demo.survey_responses)?;
    put(w, &demo.tickets)?;
    put(w, &demo.cancellations)?;
    put(w, &demo.costs)?;
    put(w, &demo.fx_rates)
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

/// The headline numbers of a workspace: what it holds, then the latest month's
/// revenue, engagement, survey and support figures, computed by the same
/// `tenure metrics` commands a user would run (so the headline can never
/// disagree with them).
fn headline(ws: &Workspace) -> Result<()> {
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
    let health = health_headline(ws)?;
    let currency = ws.settings().workspace.reporting_currency;
    let money = |v: &Value| v.as_f64().map(|c| format_money(c, currency.as_str())).unwrap_or_else(|| "n/a".into());
    let pct = |v: &Value| v.as_f64().map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_else(|| "n/a".into());
    let num = |v: &Value| if v.is_null() { "n/a".to_string() } else { v.to_string() };
    let row = |label: &str, value: String| output::line(format!("  {label:<34}{value}"));

    let revenue = metrics_json(ws, "revenue")?;
    if let Some((month, m)) = revenue["months"].as_object().and_then(|months| months.iter().next_back()) {
        output::line(format!("\nRevenue, {month} (tenure metrics revenue)"));
        row("MRR", money(&m["mrr_cents"]));
        row("ARR", money(&m["arr_cents"]));
        row("subscribers", num(&m["subscribers"]));
        row("ARPA", money(&m["arpa_cents"]));
        row("net new MRR", money(&m["net_new_mrr_cents"]));
        row("customer churn rate", pct(&m["customer_churn_rate"]));
        row("NRR, month / trailing 12 months", format!("{} / {}", pct(&m["nrr"]), pct(&m["nrr_trailing_12m"])));
        row("GRR, month / trailing 12 months", format!("{} / {}", pct(&m["grr"]), pct(&m["grr_trailing_12m"])));
    }

    let engagement = metrics_json(ws, "engagement")?;
    if let Some(day) = engagement["days"].as_array().and_then(|d| d.last()) {
        output::line(format!("\nProduct usage, {} (tenure metrics engagement)", day["date"].as_str().unwrap_or("?")));
        row("DAU / WAU / MAU", format!("{} / {} / {}", num(&day["dau"]), num(&day["wau"]), num(&day["mau"])));
        row("DAU/MAU", num(&day["dau_mau_ratio"]));
    }

    let nps = metrics_json(ws, "nps")?;
    let o = &nps["overall"];
    output::line("\nVoice of the customer (tenure metrics nps)");
    row(
        "NPS, all answers",
        format!(
            "{} ± {} (n = {}, {} skipped)",
            num(&o["nps"]),
            num(&o["margin_of_error"]),
            num(&o["n"]),
            num(&o["skipped"])
        ),
    );

    let support = metrics_json(ws, "support")?;
    let o = &support["overall"];
    output::line("\nSupport (tenure metrics support)");
    row("tickets resolved", num(&o["resolved_tickets"]));
    row("first contact resolution", format!("{}%", num(&o["fcr_strict_rate_pct"])));
    row(
        "median first response",
        match o["frt_from_creation_median_seconds"].as_f64() {
            Some(s) => format!("{:.0} min", s / 60.0),
            None => "n/a".into(),
        },
    );

    if let Some(clv) = crate::clv::headline(ws)? {
        output::line("\nCustomer lifetime value, from orders (tenure clv)");
        row("12-month CLV", clv);
    }

    for line in health {
        output::line(line);
    }
    Ok(())
}

/// The JSON document of `tenure metrics GROUP --json` on the workspace, from
/// the same query layer (so the headline and the commands cannot disagree).
fn metrics_json(ws: &Workspace, group: &str) -> Result<Value> {
    let query = tenure_query::MetricQuery::from_params(group, &[]).map_err(anyhow::Error::msg)?;
    let doc = tenure_query::compute(ws, &query).with_context(|| format!("tenure metrics {group}"));
    // Each headline figure is computed once: what its command loaded (revenue
    // rows, tickets, ...) is let go before the next one loads its own. Kept,
    // they add up: 9.8 GiB peak at 1,000,000 customers and 100 M events
    // where no single command needs more than 3.5 GiB.
    tenure_query::cache::forget(ws);
    doc
}

/// The health lines of the headline: the figures of `tenure health`'s
/// document, from the same report, without building its rows (a million
/// accounts' rows do not fit in memory). Computed before the other figures
/// though printed last: at 1,000,000 customers / 100 M events health alone
/// peaks at 2.9 GiB, and after the revenue, support and CLV steps its
/// process held ~1.7 GiB more (docs/benchmarks.md, session 7).
fn health_headline(ws: &Workspace) -> Result<Vec<String>> {
    let health = tenure_query::health::HealthReport::new(ws, &tenure_query::health::HealthQuery::default())?;
    let mut lines = vec![format!("\nAccount health, {} (tenure health; default scorecard)", health.as_of())];
    let row = |label: &str, value: String| format!("  {label:<34}{value}");
    let colors: Vec<String> = health.accounts_by_color().iter().map(|(c, n)| format!("{n} {c}")).collect();
    lines.push(row("accounts scored", format!("{} ({})", health.accounts_scored(), colors.join(", "))));
    // At risk: the lowest scores, worst first.
    for a in health.at_risk(5)? {
        let who = a.name.as_deref().unwrap_or(&a.account);
        let moved = a.top_mover.map(|m| format!(", most moved: {m}")).unwrap_or_default();
        let score = a.overall_score_rounded.map_or_else(|| "n/a".to_string(), |s| s.to_string());
        lines.push(row(&format!("  at risk: {who}"), format!("{score} ({}{moved})", a.trend.unwrap_or("no trend"))));
    }
    drop(health);
    // What health kept in the shared cache is let go before the next figures.
    tenure_query::cache::forget(ws);
    Ok(lines)
}

/// Whole units with thousands separators: `1234567.5` cents in USD -> `USD 12,346`.
fn format_money(cents: f64, currency: &str) -> String {
    let units = (cents / 100.0).round() as i64;
    let sign = if units < 0 { "-" } else { "" };
    let digits = units.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{currency} {sign}{grouped}")
}
