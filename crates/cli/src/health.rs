//! `tenure health`: every account's health score (SPEC 2.5) as a table, JSON
//! (SPEC 2.4b keys) or CSV, one account's inputs and daily history, segment
//! profiles, and manual overrides. The computing is in `tenure_query::health`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use jiff::civil::Date;
use serde_json::Value;
use tenure_metrics::health::Override;
use tenure_query::health::{self, HealthQuery};
use tenure_store::Workspace;

use crate::metrics::csv_field;
use crate::metrics::voice::cell;
use crate::output;

pub const AFTER_HELP: &str = "\
Scores come from a scorecard: --scorecard FILE, else the [health] section of tenure.toml,
else the default scorecard (usage, surveys, support and billing inputs; docs/health.md).
Scored accounts are the subscribers on the --as-of day (default: the last day with data).
Colors: 0-50 red, 51-75 yellow, 76-100 green by default, on the score rounded half away
from zero. Missing inputs are dropped and their weight shared by the rest (docs/health.md).

Examples:
  tenure health                                 every account by rank, with trend and color
  tenure health --account cus_0042              one account: groups, measures, inputs, 30-day history
  tenure health --segment plan_tier             profiles per plan tier
  tenure health --as-of 2026-06-30 --csv        scores on a past day, as CSV
  tenure health --scorecard my-scorecard.toml   try a scorecard before putting it in tenure.toml
  tenure health override set cus_0042 --score 80 --reason \"exec sponsor re-engaged\" --expires 2026-12-01";

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HealthArgs {
    #[command(subcommand)]
    command: Option<HealthCommand>,
    /// Only this account, with its inputs and daily history over the look-back.
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// Score as of the end of this day (default: the last day with data).
    #[arg(long, value_name = "DATE")]
    as_of: Option<Date>,
    /// A scorecard TOML file instead of tenure.toml's [health].
    #[arg(long, value_name = "FILE")]
    scorecard: Option<PathBuf>,
    /// Also profile the scores per value of this customer attribute (segment, plan_tier, owner, ...).
    #[arg(long, value_name = "ATTR")]
    segment: Option<String>,
    /// Print the JSON document.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV, one row per account.
    #[arg(long)]
    csv: bool,
}

#[derive(Subcommand)]
enum HealthCommand {
    /// Manual overrides of an account's score, with a reason and an expiry.
    #[command(subcommand)]
    Override(OverrideCommand),
}

#[derive(Subcommand)]
enum OverrideCommand {
    /// Override an account's score until the day before --expires (replaces its earlier override).
    Set {
        account: String,
        /// The score shown instead of the computed one (0-100).
        #[arg(long)]
        score: f64,
        /// Why (shown beside the score).
        #[arg(long)]
        reason: String,
        /// The first day the override no longer applies (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        expires: Date,
        /// The first day it applies (default: today).
        #[arg(long, value_name = "DATE")]
        from: Option<Date>,
    },
    /// List the overrides, in force or not.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an account's override.
    Clear { account: String },
}

pub fn run(data: &Path, args: HealthArgs) -> Result<ExitCode> {
    let ws = Workspace::open(data)?;
    if let Some(HealthCommand::Override(cmd)) = args.command {
        return run_override(&ws, cmd);
    }
    let report = health::HealthReport::new(
        &ws,
        &HealthQuery {
            account: args.account.clone(),
            as_of: args.as_of,
            scorecard: args.scorecard,
            segment: args.segment,
        },
    )?;
    // The rows are computed as they are printed (a million accounts' rows do
    // not fit in memory as JSON); only one account's document is built whole.
    if args.json {
        let doc = report.streamed()?;
        doc.finish(output::json_streamed(&doc))?;
    } else if args.account.is_some() && !args.csv {
        let mut doc = report.document()?;
        doc["accounts"] = report.rows().collect::<Result<Vec<Value>>>()?.into();
        print_account(&doc);
    } else {
        let head = report.document()?;
        let mut rows = report.rows().peekable();
        let groups = match rows.peek() {
            Some(Ok(first)) => groups_of(first),
            _ => Vec::new(),
        };
        if args.csv {
            print_csv(&groups, rows)?;
        } else {
            print_table(&head, &groups, rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The groups of the scorecard, as an account row names them.
fn groups_of(row: &Value) -> Vec<String> {
    row["group_scores"].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

fn print_table(doc: &Value, groups: &[String], rows: impl Iterator<Item = Result<Value>>) -> Result<()> {
    let counts: Vec<String> =
        doc["accounts_by_color"].as_object().into_iter().flatten().map(|(k, v)| format!("{v} {k}")).collect();
    output::line(format!(
        "Health as of {} (scorecard: {}; trend against {} days before): {} accounts scored, {}",
        cell(&doc["as_of"]),
        cell(&doc["scorecard"]),
        cell(&doc["look_back_days"]),
        cell(&doc["accounts_scored"]),
        counts.join(", ")
    ));
    let mut header = vec!["rank", "account", "name", "score", "color", "grade", "trend", "change"];
    header.extend(groups.iter().map(String::as_str));
    header.extend(["moved most", "missing"]);
    // One string per row: the widths need every row before the first is printed.
    let mut packed = Vec::new();
    for a in rows {
        let a = a?;
        let mut r = vec![
            cell(&a["rank"]),
            cell(&a["account"]),
            cell(&a["name"]),
            score_cell(&a),
            cell(&a["color"]),
            cell(&a["grade"]),
            cell(&a["trend"]),
            cell(&a["trend_delta"]),
        ];
        r.extend(groups.iter().map(|g| cell(&a["group_scores"][g])));
        r.push(cell(&a["top_mover"]["measure"]));
        r.push(a["missing_inputs"].as_array().map_or(0, |m| m.len()).to_string());
        packed.push(r.join(&output::CELL_SEP.to_string()));
    }
    output::packed_table(&header, &packed);
    drop(packed);
    if let Some(segs) = doc["segments"].as_array() {
        output::line("");
        output::line(format!("Profiles by {}", cell(&doc["segment_attribute"])));
        let colors: Vec<String> =
            doc["accounts_by_color"].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        let mut header = vec!["segment", "accounts", "mean", "median"];
        header.extend(colors.iter().map(String::as_str));
        header.extend(groups.iter().map(String::as_str));
        let rows: Vec<Vec<String>> = segs
            .iter()
            .map(|s| {
                let mut r =
                    vec![cell(&s["segment"]), cell(&s["accounts"]), cell(&s["mean_score"]), cell(&s["median_score"])];
                r.extend(colors.iter().map(|c| cell(&s["accounts_by_color"][c])));
                r.extend(groups.iter().map(|g| cell(&s["mean_group_scores"][g])));
                r
            })
            .collect();
        output::table(&header, &rows);
    }
    Ok(())
}

/// The score, marked `*` when an override replaces it.
fn score_cell(a: &Value) -> String {
    let s = cell(&a["overall_score"]);
    if a["override"].is_null() { s } else { format!("{s}*") }
}

fn print_account(doc: &Value) {
    let Some(a) = doc["accounts"].as_array().and_then(|v| v.first()) else {
        output::line(format!("No score as of {}: the account is not a subscriber that day.", cell(&doc["as_of"])));
        return;
    };
    output::line(format!(
        "{} {}: health {} ({}, grade {}, rank {}) as of {}; trend {} ({} since {})",
        cell(&a["account"]),
        cell(&a["name"]),
        score_cell(a),
        cell(&a["color"]),
        cell(&a["grade"]),
        cell(&a["rank"]),
        cell(&doc["as_of"]),
        cell(&a["trend"]),
        cell(&a["trend_delta"]),
        cell(&a["look_back_date"]),
    ));
    if let Some(o) = a["override"].as_object() {
        output::line(format!(
            "* overridden (computed score {}): {} (until {})",
            cell(&a["computed_score"]),
            cell(&o["reason"]),
            cell(&o["expires"])
        ));
    }
    if !a["top_mover"].is_null() {
        let m = &a["top_mover"];
        output::line(format!(
            "Moved most: {} ({} -> {}), {} points",
            cell(&m["measure"]),
            cell(&m["value_look_back"]),
            cell(&m["value"]),
            cell(&m["points"])
        ));
    }
    output::line("");
    let rows: Vec<Vec<String>> = a["measures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            vec![
                cell(&m["group"]),
                cell(&m["measure"]),
                cell(&m["value"]),
                cell(&m["score"]),
                cell(&m["effective_weight_pct"]),
                cell(&a["group_scores"][m["group"].as_str().unwrap_or("")]),
            ]
        })
        .collect();
    output::table(&["group", "measure", "value", "score", "weight %", "group score"], &rows);
    let missing = a["missing_inputs"].as_array().map(|m| m.iter().map(cell).collect::<Vec<_>>().join(", "));
    if let Some(m) = missing.filter(|m| !m.is_empty()) {
        output::line(format!("Missing (weight shared by the others): {m}"));
    }
    output::line("");
    let rows: Vec<Vec<String>> = doc["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| vec![cell(&h["date"]), cell(&h["overall_score"]), cell(&h["color"])])
        .collect();
    output::table(&["date", "score", "color"], &rows);
}

/// The CSV columns taken as they are from each account's JSON.
const CSV_KEYS: &[&str] =
    &["account", "name", "overall_score", "overall_score_rounded", "color", "grade", "rank", "trend", "trend_delta"];

fn print_csv(groups: &[String], rows: impl Iterator<Item = Result<Value>>) -> Result<()> {
    let mut header: Vec<String> = CSV_KEYS.iter().map(|s| s.to_string()).collect();
    header.push("overridden".into());
    header.extend(groups.iter().map(|g| format!("group_{g}")));
    header.push("missing_inputs".into());
    output::line(header.iter().map(|h| csv_field(h)).collect::<Vec<_>>().join(","));
    let csv = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => csv_field(s),
        v => csv_field(&v.to_string()),
    };
    for a in rows {
        let a = a?;
        let mut r: Vec<String> = CSV_KEYS.iter().map(|k| csv(&a[*k])).collect();
        r.push((!a["override"].is_null()).to_string());
        r.extend(groups.iter().map(|g| csv(&a["group_scores"][g])));
        let missing: Vec<String> = a["missing_inputs"].as_array().into_iter().flatten().map(cell).collect();
        r.push(csv_field(&missing.join(" ")));
        output::line(r.join(","));
    }
    Ok(())
}

fn run_override(ws: &Workspace, cmd: OverrideCommand) -> Result<ExitCode> {
    match cmd {
        OverrideCommand::Set { account, score, reason, expires, from } => {
            let known = tenure_store::load::<tenure_model::Customer>(ws)?.iter().any(|c| c.id == account);
            if !known {
                anyhow::bail!("no customer with id {account:?} in the workspace");
            }
            let tz = jiff::tz::TimeZone::get(&ws.settings().workspace.timezone)?;
            let set_on = from.unwrap_or_else(|| jiff::Timestamp::now().to_zoned(tz).date());
            health::set_override(ws.root(), Override { account: account.clone(), score, reason, set_on, expires })?;
            output::line(format!("{account}: score overridden to {score} from {set_on} until {expires} (exclusive)"));
        }
        OverrideCommand::List { json } => {
            let all = health::load_overrides(ws.root())?;
            if json {
                output::json(&serde_json::to_value(&all)?);
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|o| {
                        vec![
                            o.account.clone(),
                            o.score.to_string(),
                            o.set_on.to_string(),
                            o.expires.to_string(),
                            o.reason.clone(),
                        ]
                    })
                    .collect();
                output::table(&["account", "score", "from", "expires", "reason"], &rows);
            }
        }
        OverrideCommand::Clear { account } => {
            if health::clear_override(ws.root(), &account)? {
                output::line(format!("{account}: override removed"));
            } else {
                anyhow::bail!("{account} has no override");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
