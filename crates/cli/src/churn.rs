//! `tenure churn`: train a churn model on the workspace's history (or on any
//! table with a label column) and predict each current account's churn
//! probability with its drivers. The work is done in `tenure_query::churn`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use jiff::civil::Date;
use serde_json::Value;
use tenure_models::churn::ModelKind;
use tenure_query::churn::calibrate::CalibrateOptions;
use tenure_query::churn::{self, FileOptions, TrainOptions};
use tenure_store::Workspace;

use crate::metrics::csv_field;
use crate::output;

pub const AFTER_HELP: &str = "\
Examples:
  tenure churn train                         features as of each month start, churn within 90 days
  tenure churn train --horizon-days 60 --json
  tenure churn predict                       current subscribers, riskiest first, with their drivers
  tenure churn predict --account cus_0042 --json
  tenure churn train --from-file customers.csv --label churned    any table with a 0/1 column
  tenure churn calibrate                     does a red health score churn more? suggested weights

Two models are trained on snapshots before a hold-out date and tested on that date's accounts:
a logistic regression with an L2 penalty on standardised features, and gradient-boosted
shallow trees; the one with the higher hold-out AUC is kept (see docs/churn.md).";

#[derive(Subcommand)]
pub enum ChurnCommand {
    /// Train on past snapshots, report hold-out AUC, precision at top 10% and calibration; save the model.
    #[command(after_help = TRAIN_AFTER_HELP)]
    Train(TrainArgs),
    /// Each current subscriber's churn probability and its top drivers (uses the saved model).
    #[command(after_help = PREDICT_AFTER_HELP)]
    Predict(PredictArgs),
    /// Churn rate per health band and score decile at past dates, and a suggested re-weighting of the scorecard.
    #[command(after_help = CALIBRATE_AFTER_HELP)]
    Calibrate(CalibrateArgs),
}

const CALIBRATE_AFTER_HELP: &str = "\
Each subscriber at a past month start gets its health score as of the day before (the
scorecard in tenure.toml [health], or --scorecard; overrides are ignored) and the outcome
\"churned within --horizon-days\". The periods go back from the last month start whose label
window is inside the data, spaced so that their windows do not overlap. Accounts that had
already asked to cancel are left out (as in `tenure churn train`).

Reported: churn rate per band and per score decile, the AUC of the score (0.5 = no better
than chance) and churn among the 10% lowest scores. The suggested weights come from a
logistic regression of churn on each measure's 0-100 score: weight = minus the coefficient
per point (0 for a measure whose higher scores did not go with less churn), in percent.
They are checked out of time (fitted on the older periods, tested on the last one) and
printed as [[health.groups]] to paste into tenure.toml in place of the current groups.

Examples:
  tenure churn calibrate
  tenure churn calibrate --periods 6 --horizon-days 60
  tenure churn calibrate --date 2026-01-01 --date 2026-04-01 --json
  tenure churn calibrate --scorecard candidate.toml";

#[derive(Args)]
pub struct CalibrateArgs {
    /// Churn within this many days after each period start is the outcome.
    #[arg(long, default_value_t = 90, value_name = "DAYS")]
    horizon_days: i64,
    /// How many periods, going back from the last one with a full outcome window.
    #[arg(long, default_value_t = 4, value_name = "N", conflicts_with = "date")]
    periods: usize,
    /// A period start (repeatable): scores as of the day before, churn from this day.
    #[arg(long, value_name = "DATE")]
    date: Vec<Date>,
    /// A scorecard TOML file instead of tenure.toml's [health].
    #[arg(long, value_name = "FILE")]
    scorecard: Option<PathBuf>,
    /// The L2 penalty of the fit behind the suggested weights.
    #[arg(long, default_value_t = 1.0, value_name = "L2")]
    l2: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

const TRAIN_AFTER_HELP: &str = "\
Workspace mode: for each month start with 90 days of history before it, every subscriber gets
features from what was known before that date (usage, tickets, surveys, payments, MRR, tenure,
plan, segment) and the label \"churned within --horizon-days\". Snapshots whose label window
ends by the test date train the models; the test date's accounts measure them. Two models:
a logistic regression (L2) and gradient-boosted trees (depth 3, learning rate 0.1, rounds
chosen by early stopping on the latest training dates, never the hold-out). Both are
reported; the one with the higher hold-out AUC is kept (a tie keeps the logistic model)
unless --model picks one. The kept model (churn-model.json in the workspace) is refitted on
every labelled snapshot.

File mode (--from-file): every column but the label (and the id) is an attribute, numeric if
all its values are numbers, else categorical. A random --holdout-fraction of rows (by --seed)
measures the model.

Examples:
  tenure churn train --horizon-days 60
  tenure churn train --test-date 2026-06-01 --json
  tenure churn train --model logistic        keep the logistic model whatever the hold-out says
  tenure churn train --from-file telco.csv --label Churn --id customerID --holdout-fraction 0.3";

const PREDICT_AFTER_HELP: &str = "\
A driver is one feature's share of the account's log-odds relative to the model's baseline:
for the logistic model coefficient x standardised value (the baseline is the average training
account); for boosted trees the changes in node value along the account's path through each
tree, credited to the feature split on (Saabas). Baseline + drivers = the log-odds exactly;
positive raises the churn risk.

Examples:
  tenure churn predict --top 50
  tenure churn predict --account cus_0042
  tenure churn predict --csv > risk.csv";

#[derive(Args)]
pub struct TrainArgs {
    /// Churn within this many days after each snapshot date is the label.
    #[arg(long, default_value_t = 90, value_name = "DAYS")]
    horizon_days: i64,
    /// The L2 penalty on the standardised coefficients (0 = none).
    #[arg(long, default_value_t = 1.0, value_name = "L2")]
    l2: f64,
    /// The hold-out snapshot date (default: the last month start whose label window is inside the data).
    #[arg(long, value_name = "DATE", conflicts_with = "from_file")]
    test_date: Option<Date>,
    /// Keep this model whatever the hold-out says (default: the higher hold-out AUC).
    #[arg(long, value_enum, value_name = "MODEL", conflicts_with = "from_file")]
    model: Option<ModelChoice>,
    /// Train on this table (CSV, JSON Lines, JSON or Parquet) instead of the workspace.
    #[arg(long, value_name = "FILE", requires = "label")]
    from_file: Option<PathBuf>,
    /// With --from-file: the outcome column (1/0, true/false or yes/no).
    #[arg(long, value_name = "COLUMN", requires = "from_file")]
    label: Option<String>,
    /// With --from-file: the row id column, not an attribute (default: id, customer_id or account_id if present).
    #[arg(long, value_name = "COLUMN", requires = "from_file")]
    id: Option<String>,
    /// With --from-file: a column to leave out (repeatable).
    #[arg(long, value_name = "COLUMN", requires = "from_file")]
    ignore: Vec<String>,
    /// With --from-file: the share of rows held out to measure the model (0: report in-sample figures only).
    #[arg(long, default_value_t = 0.25, value_name = "FRACTION", requires = "from_file")]
    holdout_fraction: f64,
    /// With --from-file: the seed of the random hold-out.
    #[arg(long, default_value_t = 42, requires = "from_file")]
    seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModelChoice {
    /// Logistic regression with an L2 penalty.
    Logistic,
    /// Gradient-boosted trees.
    Gbm,
}

impl From<ModelChoice> for ModelKind {
    fn from(c: ModelChoice) -> ModelKind {
        match c {
            ModelChoice::Logistic => ModelKind::Logistic,
            ModelChoice::Gbm => ModelKind::Gbm,
        }
    }
}

#[derive(Args)]
pub struct PredictArgs {
    /// Only this account.
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// Drivers shown per account.
    #[arg(long, default_value_t = 3, value_name = "N")]
    drivers: usize,
    /// Accounts shown in the table, riskiest first (JSON and CSV list all).
    #[arg(long, default_value_t = 20, value_name = "N")]
    top: usize,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV (one row per account, drivers as feature=value (contribution)).
    #[arg(long)]
    csv: bool,
}

pub fn run(data: &std::path::Path, command: ChurnCommand) -> Result<ExitCode> {
    match command {
        ChurnCommand::Train(args) => {
            let doc = match (&args.from_file, &args.label) {
                (Some(file), Some(label)) => churn::train_file(
                    file,
                    &FileOptions {
                        label: label.clone(),
                        id: args.id.clone(),
                        ignore: args.ignore.clone(),
                        holdout_fraction: args.holdout_fraction,
                        seed: args.seed,
                        l2: args.l2,
                    },
                )?,
                _ => {
                    let ws = Workspace::open(data)?;
                    let opts = TrainOptions {
                        test_date: args.test_date,
                        model: args.model.map(ModelKind::from),
                        ..TrainOptions::new(args.horizon_days, args.l2)
                    };
                    churn::train(&ws, &opts)?
                }
            };
            if args.json {
                output::json(&doc);
            } else {
                print_train(&doc);
            }
        }
        ChurnCommand::Predict(args) => {
            let ws = Workspace::open(data)?;
            let doc = churn::predict(&ws, args.account.as_deref(), args.drivers)?;
            if args.json {
                output::json(&doc);
            } else if args.csv {
                print_predict_csv(&doc, args.drivers);
            } else {
                print_predict(&doc, args.top);
            }
        }
        ChurnCommand::Calibrate(args) => {
            let ws = Workspace::open(data)?;
            let doc = churn::calibrate::calibrate(
                &ws,
                &CalibrateOptions {
                    horizon_days: args.horizon_days,
                    periods: args.periods,
                    dates: args.date,
                    scorecard: args.scorecard,
                    l2: args.l2,
                },
            )?;
            if args.json {
                output::json(&doc);
            } else {
                print_calibrate(&doc);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn num(v: &Value, dp: usize) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.dp$}"))
}

fn pct(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{:.1}%", 100.0 * x))
}

fn print_evaluation(e: &Value) {
    let p = &e["precision_at_10pct"];
    output::line(format!("    ROC AUC                 {}", num(&e["auc"], 4)));
    output::line(format!(
        "    precision at top 10%    {} ({} of {} accounts; lift {}x)",
        pct(&p["precision"]),
        num(&p["churned"], 1),
        p["accounts"],
        num(&p["lift"], 2)
    ));
    output::line(format!("    Brier score             {}", num(&e["brier"], 4)));
    output::line(format!("    log loss                {}", num(&e["log_loss"], 4)));
    output::line("  Calibration (deciles of predicted probability):");
    let rows: Vec<Vec<String>> = e["calibration"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            vec![
                b["bin"].to_string(),
                b["accounts"].to_string(),
                pct(&b["mean_predicted"]),
                pct(&b["observed_rate"]),
                b["churned"].to_string(),
            ]
        })
        .collect();
    output::table(&["decile", "accounts", "mean predicted", "observed", "churned"], &rows);
}

fn print_train(doc: &Value) {
    let file_mode = doc["mode"] == "file";
    let what = if file_mode {
        format!("label {:?} of {}", doc["label"].as_str().unwrap_or(""), doc["file"].as_str().unwrap_or(""))
    } else {
        format!("churn within {} days", doc["horizon_days"])
    };
    if file_mode {
        output::line(format!("Churn model: logistic regression, L2 = {}; {what}", doc["l2"]));
    } else {
        output::line(format!(
            "Churn model: {}, kept for {}; {what}",
            model_kind(doc).describe(),
            doc["kept_because"].as_str().unwrap_or("")
        ));
    }
    let t = &doc["train"];
    if file_mode {
        output::line(format!(
            "  trained on {} of {} rows ({} churned; AUC in sample {})",
            t["rows"],
            doc["rows"],
            t["churned"],
            num(&t["auc"], 4)
        ));
    } else {
        let dates = t["snapshot_dates"].as_array().cloned().unwrap_or_default();
        output::line(format!(
            "  data {} to {}; trained on {} snapshot dates ({} to {}): {} account snapshots, {} churned (AUC in sample {})",
            doc["data"]["first_day"].as_str().unwrap_or(""),
            doc["data"]["last_day"].as_str().unwrap_or(""),
            dates.len(),
            dates.first().and_then(|d| d.as_str()).unwrap_or(""),
            dates.last().and_then(|d| d.as_str()).unwrap_or(""),
            t["rows"],
            t["churned"],
            num(&t["auc"], 4)
        ));
    }
    let (label, e) = if doc["holdout"].is_null() {
        ("in sample (no hold-out)".to_string(), &doc["in_sample"])
    } else if file_mode {
        (format!("hold-out ({} of rows, seed {})", pct(&doc["holdout_fraction"]), doc["seed"]), &doc["holdout"])
    } else {
        (format!("hold-out: accounts on {}", doc["holdout"]["snapshot_date"].as_str().unwrap_or("")), &doc["holdout"])
    };
    output::line(format!(
        "  {label}: {} accounts, {} churned ({})",
        e["accounts"],
        e["churned"],
        pct(&e["churn_rate"])
    ));
    print_evaluation(e);
    if !file_mode {
        print_candidates(&doc["candidates"]);
    }
    output::line("  Logistic coefficients (log-odds per standard deviation; positive raises churn risk):");
    let rows: Vec<Vec<String>> = doc["coefficients"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            vec![
                c["column"].as_str().unwrap_or("").to_string(),
                num(&c["coefficient"], 4),
                num(&c["odds_ratio_per_sd"], 3),
                num(&c["per_unit"], 6),
            ]
        })
        .collect();
    output::table(&["column", "coefficient", "odds ratio", "per unit"], &rows);
    for s in doc["skipped_columns"].as_array().into_iter().flatten() {
        output::line(format!(
            "  skipped column {}: {}",
            s["column"].as_str().unwrap_or(""),
            s["reason"].as_str().unwrap_or("")
        ));
    }
    if let Some(f) = doc["model_file"].as_str() {
        output::line(format!(
            "Saved the model (refitted on {} snapshots) to {f}; next: tenure churn predict",
            doc["saved_model_rows"]
        ));
    }
}

const CANDIDATE_HEADER: &[&str] =
    &["model", "ROC AUC", "precision at top 10%", "lift", "Brier", "log loss", "AUC in sample"];

/// The report's `model_kind` (a report without one is of the logistic model).
fn model_kind(doc: &Value) -> ModelKind {
    serde_json::from_value(doc["model_kind"].clone()).unwrap_or_default()
}

/// Both models on the same hold-out accounts, and how the trees were grown.
fn print_candidates(c: &Value) {
    output::line("  Both models on the same hold-out accounts:");
    let row = |name: &str, m: &Value| {
        let e = &m["holdout"];
        vec![
            name.to_string(),
            num(&e["auc"], 4),
            pct(&e["precision_at_10pct"]["precision"]),
            num(&e["precision_at_10pct"]["lift"], 2),
            num(&e["brier"], 4),
            num(&e["log_loss"], 4),
            num(&m["train_auc"], 4),
        ]
    };
    let mut rows = vec![row(ModelKind::Logistic.describe(), &c["logistic"])];
    let g = &c["gbm"];
    if let Some(e) = g["error"].as_str() {
        output::table(CANDIDATE_HEADER, &rows);
        output::line(format!("  {}: not trained ({e})", ModelKind::Gbm.describe()));
        return;
    }
    rows.push(row(ModelKind::Gbm.describe(), g));
    output::table(CANDIDATE_HEADER, &rows);
    let s = &g["early_stopping"];
    output::line(format!(
        "  trees: {} rounds of depth {} (learning rate {}), chosen on the {} account snapshots from {} \
         (log loss {} -> {}; fitted on {} earlier ones)",
        g["rounds"],
        g["options"]["max_depth"],
        g["options"]["learning_rate"],
        s["validation_rows"],
        s["validation_from"].as_str().unwrap_or(""),
        num(&s["base_log_loss"], 4),
        num(&s["best_log_loss"], 4),
        s["fit_rows"]
    ));
    let top: Vec<String> = g["importance"]
        .as_array()
        .into_iter()
        .flatten()
        .take(8)
        .map(|f| format!("{} {}", f["feature"].as_str().unwrap_or(""), pct(&f["gain_share"])))
        .collect();
    output::line(format!("  trees' split gain by feature: {}", top.join(", ")));
}

fn driver_text(d: &Value) -> String {
    format!(
        "{}={} ({:+.2})",
        d["feature"].as_str().unwrap_or(""),
        d["value"].as_str().unwrap_or("missing"),
        d["contribution"].as_f64().unwrap_or(0.0)
    )
}

fn print_predict(doc: &Value, top: usize) {
    let accounts = doc["accounts"].as_array().cloned().unwrap_or_default();
    output::line(format!(
        "Churn probability within {} days of {} ({} trained through {}, hold-out AUC {})",
        doc["horizon_days"],
        doc["as_of"].as_str().unwrap_or(""),
        model_kind(doc).describe(),
        doc["trained_through"].as_str().unwrap_or(""),
        num(&doc["holdout_auc"], 4)
    ));
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .take(top)
        .map(|a| {
            let drivers: Vec<String> = a["drivers"].as_array().into_iter().flatten().map(driver_text).collect();
            vec![
                a["account_id"].as_str().unwrap_or("").to_string(),
                pct(&a["churn_probability"]),
                num(&a["mrr"], 2),
                if a["cancellation_pending"] == true { "yes" } else { "" }.to_string(),
                drivers.join("; "),
            ]
        })
        .collect();
    output::table(&["account", "churn risk", "MRR", "cancelling", "top drivers (log-odds)"], &rows);
    if accounts.len() > top {
        output::line(format!(
            "({top} of {} accounts shown, riskiest first; --top N, --json or --csv for all)",
            accounts.len()
        ));
    }
}

fn print_predict_csv(doc: &Value, drivers: usize) {
    let mut header =
        vec!["account_id".to_string(), "churn_probability".into(), "mrr".into(), "cancellation_pending".into()];
    header.extend((1..=drivers).map(|i| format!("driver_{i}")));
    output::line(header.join(","));
    for a in doc["accounts"].as_array().into_iter().flatten() {
        let mut cells = vec![
            csv_field(a["account_id"].as_str().unwrap_or("")),
            a["churn_probability"].to_string(),
            a["mrr"].to_string(),
            a["cancellation_pending"].to_string(),
        ];
        let d: Vec<&Value> = a["drivers"].as_array().into_iter().flatten().collect();
        cells.extend((0..drivers).map(|i| d.get(i).map_or(String::new(), |d| csv_field(&driver_text(d)))));
        output::line(cells.join(","));
    }
}

fn pct100(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.1}%"))
}

fn print_calibrate(doc: &Value) {
    let c = &doc["calibration"];
    output::line(format!(
        "Health score vs churn within {} days (scorecard: {})",
        doc["horizon_days"],
        doc["scorecard"].as_str().unwrap_or("")
    ));
    let periods: Vec<Vec<String>> = doc["periods"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                p["date"].as_str().unwrap_or("").to_string(),
                p["scored_as_of"].as_str().unwrap_or("").to_string(),
                p["accounts"].to_string(),
                p["churned"].to_string(),
                pct100(&p["churn_rate_pct"]),
                num(&p["auc"], 3),
                pct(&p["precision_at_10pct"]["precision"]),
            ]
        })
        .collect();
    output::table(
        &["period from", "scored as of", "accounts", "churned", "churn rate", "AUC", "churn in lowest 10%"],
        &periods,
    );
    let left = &doc["left_out"];
    output::line(format!(
        "  all periods: {} accounts, {} churned ({}); AUC {}; churn in the lowest 10% {} (lift {}x)",
        c["accounts"],
        c["churned"],
        pct100(&c["churn_rate_pct"]),
        num(&c["auc"], 3),
        pct(&c["precision_at_10pct"]["precision"]),
        num(&c["precision_at_10pct"]["lift"], 2),
    ));
    output::line(format!(
        "  left out: {} with a cancellation already requested, {} without a score",
        left["cancellation_pending"], left["unscored"]
    ));
    output::line("Churn rate by band:");
    let bands: Vec<Vec<String>> = c["bands"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            vec![
                b["band"].as_str().unwrap_or("").to_string(),
                b["accounts"].to_string(),
                b["churned"].to_string(),
                pct100(&b["churn_rate_pct"]),
            ]
        })
        .collect();
    output::table(&["band", "accounts", "churned", "churn rate"], &bands);
    output::line("Churn rate by score decile (1 = lowest scores):");
    let deciles: Vec<Vec<String>> = c["deciles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            vec![
                d["decile"].to_string(),
                format!("{}-{}", num(&d["min_score"], 1), num(&d["max_score"], 1)),
                d["accounts"].to_string(),
                d["churned"].to_string(),
                pct100(&d["churn_rate_pct"]),
            ]
        })
        .collect();
    output::table(&["decile", "scores", "accounts", "churned", "churn rate"], &deciles);
    let s = &doc["suggestion"];
    if let Some(reason) = s["reason"].as_str() {
        output::line(format!("No suggested weights: {reason}."));
        return;
    }
    output::line(format!(
        "Suggested weights (from {} account-periods, {} churned; {}):",
        s["rows"],
        s["churned"],
        s["method"].as_str().unwrap_or("")
    ));
    let measures: Vec<Vec<String>> = s["measures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            vec![
                m["measure"].as_str().unwrap_or("").to_string(),
                m["group"].as_str().unwrap_or("").to_string(),
                pct100(&m["current_weight_pct"]),
                pct100(&m["suggested_weight_pct"]),
                num(&m["coefficient_per_point"], 4),
            ]
        })
        .collect();
    output::table(&["measure", "group", "current weight", "suggested", "log-odds per point"], &measures);
    output::line(format!(
        "  AUC on these periods: current {}, suggested {} (in sample: the suggestion was fitted here)",
        num(&s["auc_in_sample"]["current"], 3),
        num(&s["auc_in_sample"]["suggested"], 3)
    ));
    let o = &s["out_of_time"];
    if o.is_null() {
        output::line("  (no out-of-time check: it needs two periods and enough churn in the older ones)");
    } else {
        output::line(format!(
            "  out of time: fitted on the periods before {}, tested on its {} accounts: AUC current {}, suggested {}",
            o["tested_on"].as_str().unwrap_or(""),
            o["accounts"],
            num(&o["auc_current"], 3),
            num(&o["auc_suggested"], 3)
        ));
    }
    if s["churned"].as_u64().unwrap_or(0) < 50 {
        output::line("  fewer than 50 churns: treat these weights as a hint, not a measurement");
    }
    output::line("Paste into tenure.toml in place of the current [[health.groups]] (bands, alerts and the rest stay):");
    output::line(s["toml"].as_str().unwrap_or("").trim_end());
}
