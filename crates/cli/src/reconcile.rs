//! `tenure reconcile`: why two rule sets (presets), or Tenure and a billing
//! system's MRR export, differ for one month, customer by customer
//! (SPEC 2.1 "Presets"; docs/presets.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::Value;
use tenure_metrics::revenue::{MovementKind, preset};
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
    let doc = match (&args.b, &args.against) {
        (Some(b), _) => tenure_query::reconcile::rules_doc(&ws, &args.month, &args.a, b)?,
        (None, Some(file)) => {
            let (header, records) = tenure_query::reconcile::read_export_file(file)?;
            let name = file.display().to_string();
            tenure_query::reconcile::export_doc(&ws, &args.month, &args.a, &name, &header, &records)?
        }
        (None, None) => bail!("give --b NAME (a preset or workspace) or --against FILE"),
    };
    let currency = ws.settings().workspace.reporting_currency;
    if args.json {
        output::json(&doc);
    } else if args.against.is_some() {
        print_export(&doc, currency.as_str(), args.csv);
    } else {
        print_rules(&doc, currency.as_str(), args.csv);
    }
    Ok(ExitCode::SUCCESS)
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
