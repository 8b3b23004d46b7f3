//! `tenure reconcile`: why two rule sets (presets), or Tenure and a billing
//! system's MRR export, differ for one month, customer by customer
//! (SPEC 2.1 "Presets"; docs/presets.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use serde_json::Value;
use tenure_metrics::revenue::reconcile::{self, Side};
use tenure_metrics::revenue::{self, MovementKind, Rules, preset};
use tenure_model::SubscriptionEvent;
use tenure_query::ledger::RevenueData;
use tenure_store::Workspace;

use crate::metrics::csv_field;
use crate::output;

pub const AFTER_HELP: &str = "\
Examples:
  tenure reconcile --month 2024-03 --a chartmogul --b stripe
  tenure reconcile --month 2024-03 --b profitwell        tenure.toml's rules against ProfitWell's
  tenure reconcile --month 2024-03 --against stripe.csv  against Stripe's MRR per subscriber report
  tenure reconcile --month 2024-03 --a stripe --against mrr.csv --json

Rule sets: chartmogul (the defaults), stripe, profitwell, baremetrics, or workspace
(tenure.toml as configured). The rules that differ are switched from --a to --b one at a
time and each customer's change is put on the rule switched: the rows sum exactly to the
total difference.

An export is a CSV file: customer_id,mrr_cents; Stripe's \"MRR per subscriber per month\"
report (customer_id and one column per month, in currency units); or ChartMogul's customers
export (External ID, MRR). Each customer that differs gets a likely cause: a rule or preset
that reproduces the exported amount, FX, past-due, a trial, a discount, or its absence from
the data. See docs/presets.md.";

#[derive(Args, Clone, Debug)]
pub struct ReconcileArgs {
    /// The month to reconcile, measured at its end (YYYY-MM).
    #[arg(long, value_name = "YYYY-MM")]
    pub month: String,
    /// The first rule set: a preset (chartmogul, stripe, profitwell, baremetrics) or workspace.
    #[arg(long, value_name = "NAME", default_value = preset::WORKSPACE)]
    pub a: String,
    /// The second rule set, compared with --a.
    #[arg(long, value_name = "NAME", required_unless_present = "against", conflicts_with = "against")]
    pub b: Option<String>,
    /// A billing system's per-customer MRR export (CSV) to compare the workspace (under --a) with.
    #[arg(long, value_name = "FILE")]
    pub against: Option<PathBuf>,
    /// Print the JSON document.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print one CSV row per customer (and rule).
    #[arg(long)]
    pub csv: bool,
}

pub fn run(data_dir: &Path, args: ReconcileArgs) -> Result<ExitCode> {
    let ws = Workspace::open(data_dir)?;
    let m = revenue::month_idx(tenure_model::time::parse_month(&args.month).map_err(|e| anyhow!("--month: {e}"))?);
    let data = RevenueData::load(&ws)?;
    if data.date_range().is_none() {
        bail!(
            "no subscription events or invoices in the workspace: import some with `tenure import subscription_events FILE`"
        );
    }
    let base = &ws.settings().revenue;
    let a = preset::settings_for(base, &args.a).map_err(|e| anyhow!("--a: {e}"))?;
    let reporting = ws.settings().workspace.reporting_currency;
    let fx = data.fx(reporting);
    let build = |rules: &Rules| data.ledger(rules, &fx).map_err(|e| e.to_string());
    let doc = match (&args.b, &args.against) {
        (Some(b_name), _) => {
            let b = preset::settings_for(base, b_name).map_err(|e| anyhow!("--b: {e}"))?;
            let r = reconcile::reconcile_rules(
                Side { name: &args.a, settings: &a },
                Side { name: b_name, settings: &b },
                m,
                &fx,
                &data.events,
                build,
            )
            .map_err(|e| anyhow!("{e}"))?;
            r.to_json()
        }
        (None, Some(file)) => {
            let (header, records) = read_csv(file)?;
            let name = file.display().to_string();
            let (layout, rows) =
                reconcile::read_export(&name, &header, &records, m, reporting).map_err(|e| anyhow!("{e}"))?;
            let rules = Rules::from_settings(&a).map_err(|e| anyhow!("{e}"))?;
            let ledger = data.ledger(&rules, &fx)?;
            let ours = reconcile::month_figures(&ledger, &fx, m).map_err(|e| anyhow!("{e}"))?;
            // The same data without any discount tells "the export ignores this discount" apart.
            let events = data.events.iter().cloned().map(|e| SubscriptionEvent { discount: None, ..e }).collect();
            let without = RevenueData { events, ..data.clone() };
            let alternatives = reconcile::alternatives(&a, m, &fx, |rules, without_discounts| {
                if without_discounts { without.ledger(rules, &fx).map_err(|e| e.to_string()) } else { build(rules) }
            })
            .map_err(|e| anyhow!("{e}"))?;
            let r = reconcile::reconcile_export(&ours, &ledger, (layout, &rows), &alternatives, &data.events, &fx, m)
                .map_err(|e| anyhow!("{e}"))?;
            let mut doc = r.to_json();
            doc["tenure"] = Value::from(args.a.as_str());
            doc["file"] = Value::from(name);
            doc
        }
        (None, None) => bail!("give --b NAME (a preset or workspace) or --against FILE"),
    };
    let currency = reporting.as_str();
    if args.json {
        output::json(&doc);
    } else if args.against.is_some() {
        print_export(&doc, currency, args.csv);
    } else {
        print_rules(&doc, currency, args.csv);
    }
    Ok(ExitCode::SUCCESS)
}

/// The header and rows of a CSV export, read like an import (errors name the line).
fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<tenure_model::Record>)> {
    let is_csv = tenure_import::Format::detect(path).is_ok_and(|f| f == tenure_import::Format::Csv);
    if !is_csv {
        bail!("--against {}: expected a CSV file (.csv)", path.display());
    }
    let file = tenure_import::read::open(path, tenure_import::Format::Csv, None)?;
    let mut records = Vec::new();
    for row in file.rows {
        records.push(row.map_err(|e| anyhow!("{e}"))?);
    }
    Ok((file.header, records))
}

/// Cents as currency units with two decimals (`-` for null).
fn units(v: &Value) -> String {
    v.as_f64().map_or("-".to_string(), |c| format!("{:.2}", c / 100.0))
}

fn print_rules(doc: &Value, currency: &str, csv: bool) {
    let rows = doc["customers"].as_array().cloned().unwrap_or_default();
    let kinds = MovementKind::ALL;
    if csv {
        let mut head = vec!["customer_id".to_string(), "rule".into(), "mrr_cents".into(), "subscribers".into()];
        head.extend(kinds.iter().map(|k| format!("{}_cents", k.as_str())));
        head.push("explanation".into());
        output::line(head.join(","));
        for r in &rows {
            let mut cells = vec![csv_field(str_of(&r["customer_id"])), csv_field(str_of(&r["rule"]))];
            cells.push(r["mrr_cents"].to_string());
            cells.push(r["subscribers"].to_string());
            cells.extend(kinds.iter().map(|k| r["movements"][k.as_str()].to_string()));
            cells.push(csv_field(str_of(&r["explanation"])));
            output::line(cells.join(","));
        }
        return;
    }
    let (a, b) = (str_of(&doc["a"]["name"]), str_of(&doc["b"]["name"]));
    output::line(format!("Reconciliation of {}: {a} -> {b} (money in {currency})", str_of(&doc["month"])));
    let switched = doc["rules_switched"].as_array().cloned().unwrap_or_default();
    if switched.is_empty() {
        output::line("The two rule sets agree on every contested rule: nothing differs.");
        return;
    }
    output::line("Rules that differ (switched in this order):");
    for s in &switched {
        output::line(format!(
            "  {:<28} {} -> {} ({})",
            str_of(&s["rule"]),
            str_of(&s["a"]),
            str_of(&s["b"]),
            str_of(&s["b_means"])
        ));
    }
    output::line("");
    let (fa, fb, fd) = (&doc["a"]["figures"], &doc["b"]["figures"], &doc["difference"]);
    let mut totals = vec![
        vec!["MRR".to_string(), units(&fa["mrr_cents"]), units(&fb["mrr_cents"]), units(&fd["mrr_cents"])],
        vec![
            "subscribers".to_string(),
            fa["subscribers"].to_string(),
            fb["subscribers"].to_string(),
            fd["subscribers"].to_string(),
        ],
    ];
    for k in kinds {
        let get = |f: &Value| units(&f["movements"][k.as_str()]);
        totals.push(vec![k.as_str().replace('_', " "), get(fa), get(fb), get(fd)]);
    }
    output::table(&["figure", a, b, "difference"], &totals);
    output::line("");
    output::line(format!("By customer and rule ({} rows; they sum to the differences above):", rows.len()));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let moves: Vec<String> = kinds
                .iter()
                .filter(|k| r["movements"][k.as_str()].as_f64().is_some_and(|x| x != 0.0))
                .map(|k| format!("{} {}", k.as_str(), units(&r["movements"][k.as_str()])))
                .collect();
            vec![
                str_of(&r["customer_id"]).to_string(),
                str_of(&r["rule"]).to_string(),
                units(&r["mrr_cents"]),
                r["subscribers"].to_string(),
                if moves.is_empty() { "-".into() } else { moves.join(", ") },
                str_of(&r["explanation"]).to_string(),
            ]
        })
        .collect();
    output::table(&["customer", "rule", "MRR", "subscribers", "movements", "why"], &cells);
}

fn print_export(doc: &Value, currency: &str, csv: bool) {
    let rows = doc["customers"].as_array().cloned().unwrap_or_default();
    let keys = ["customer_id", "status", "tenure_mrr_cents", "export_mrr_cents", "difference_cents", "likely_cause"];
    if csv {
        output::line(keys.join(","));
        for r in &rows {
            let cells: Vec<String> = keys
                .iter()
                .map(|k| match &r[*k] {
                    Value::Null => String::new(),
                    Value::String(s) => csv_field(s),
                    v => v.to_string(),
                })
                .collect();
            output::line(cells.join(","));
        }
        return;
    }
    output::line(format!(
        "Reconciliation of {}: Tenure ({}) against {} ({}; money in {currency})",
        str_of(&doc["month"]),
        str_of(&doc["tenure"]),
        str_of(&doc["file"]),
        str_of(&doc["layout"])
    ));
    output::line(format!(
        "MRR: Tenure {}, export {}, difference {}; {} customers match within a cent (together {}).",
        units(&doc["tenure_mrr_cents"]),
        units(&doc["export_mrr_cents"]),
        units(&doc["difference_cents"]),
        doc["matched_customers"],
        units(&doc["matched_difference_cents"])
    ));
    if rows.is_empty() {
        output::line("Every customer matches.");
        return;
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                str_of(&r["customer_id"]).to_string(),
                str_of(&r["status"]).replace('_', " "),
                units(&r["tenure_mrr_cents"]),
                units(&r["export_mrr_cents"]),
                units(&r["difference_cents"]),
                str_of(&r["likely_cause"]).to_string(),
            ]
        })
        .collect();
    output::table(&["customer", "status", "Tenure", "export", "difference", "likely cause"], &cells);
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}
