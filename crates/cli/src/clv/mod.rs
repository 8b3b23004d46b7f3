//! `tenure clv`: customer lifetime value from the stored orders and
//! subscriptions (SPEC 2.6).
//!
//! Orders become RFM summaries (same-day orders are one purchase). A purchase
//! model (BG/NBD or Pareto/NBD) and the Gamma-Gamma spend model are fitted by
//! maximum likelihood, and each customer gets P(alive), expected purchases
//! over the horizon, expected spend per purchase and a discounted CLV
//! ([`predict`]). `--model simple` needs no fit ([`simple`]), and `sbg` fits
//! the shifted-beta-geometric model on the monthly subscription cohorts
//! ([`cohorts`]).
//!
//! `tenure clv` is the summary, `tenure clv fit` one model's fit and
//! `tenure clv predict` the per-customer rows; all three take [`ClvOptions`].

mod cohorts;
mod predict;
mod render;
mod simple;

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use jiff::civil::Date;
use serde_json::{Value, json};
use tenure_metrics::revenue::{FxTable, month_idx};
use tenure_model::{FxRate, Money, Order};
use tenure_models::{CustomerRfm, Purchase, RfmOptions, TimeUnit};
use tenure_store::Workspace;

use crate::output;

pub const AFTER_HELP: &str = "\
Examples:
  tenure clv                               BG/NBD + Gamma-Gamma, weeks, up to the last order day
  tenure clv --model paretonbd --horizon 24 --discount-rate 0.08
  tenure clv --model simple --segment plan_tier    seed formula per customer and segment, and
                                                   the subscription LTV (ARPA x margin / churn)
  tenure clv --calibration-end 2025-12-31 --as-of 2026-06-30    predicted vs actual in the holdout
  tenure clv fit --model sbg               retention of the monthly subscription cohorts
  tenure clv predict --horizon 12 --discount-rate 0.1 --csv

CLV = sum over the next --horizon months of expected purchases in that month x expected
spend per purchase x margin, discounted by the monthly equivalent of the annual
--discount-rate, (1 + rate)^(month/12). Amounts are in the workspace's reporting currency.
See docs/clv.md.";

const FIT_AFTER_HELP: &str = "\
Examples:
  tenure clv fit                           BG/NBD on the orders' RFM summary
  tenure clv fit --model paretonbd --json
  tenure clv fit --model gammagamma        spend per purchase (customers with repeat purchases)
  tenure clv fit --model sbg --horizon 24  sBG on the monthly subscription cohorts: projected
                                           retention and discounted expected residual lifetime
  tenure clv fit --calibration-end 2025-12-31    fitted on the calibration period only

Reported: the parameters, the maximised log-likelihood, whether the optimiser converged,
how many evaluations it took and the fit time.";

const PREDICT_AFTER_HELP: &str = "\
Examples:
  tenure clv predict --horizon 12 --discount-rate 0.1 --csv > clv.csv
  tenure clv predict --model paretonbd --json
  tenure clv predict --model simple --margin 0.7 --segment country
  tenure clv predict --calibration-end 2025-12-31 --csv   adds the holdout purchases (actual
                                                          and predicted) per customer

One row per customer, highest CLV first: frequency, recency, T and monetary value (the RFM
summary), P(alive), expected purchases over the horizon, expected spend per purchase, CLV.";

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ClvArgs {
    #[command(subcommand)]
    command: Option<ClvCommand>,
    #[command(flatten)]
    options: ClvOptions,
}

#[derive(Subcommand, Debug)]
enum ClvCommand {
    /// Fit one model: parameters, log-likelihood, convergence and fit time.
    #[command(after_help = FIT_AFTER_HELP)]
    Fit(ClvOptions),
    /// Per customer: expected purchases, P(alive), expected spend and CLV.
    #[command(after_help = PREDICT_AFTER_HELP)]
    Predict(ClvOptions),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClvModel {
    /// BG/NBD purchases (Fader, Hardie & Lee 2005) with Gamma-Gamma spend.
    Bgnbd,
    /// Pareto/NBD purchases (Schmittlein et al. 1987) with Gamma-Gamma spend.
    Paretonbd,
    /// Gamma-Gamma spend per purchase alone (fit only).
    Gammagamma,
    /// Shifted-beta-geometric retention of the monthly subscription cohorts (fit only).
    Sbg,
    /// Average purchase value x purchases per month x lifespan (--horizon), margin-adjusted, discounted.
    Simple,
}

impl ClvModel {
    fn name(self) -> &'static str {
        match self {
            ClvModel::Bgnbd => "bgnbd",
            ClvModel::Paretonbd => "paretonbd",
            ClvModel::Gammagamma => "gammagamma",
            ClvModel::Sbg => "sbg",
            ClvModel::Simple => "simple",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Unit {
    Day,
    Week,
    Month,
}

/// The options of `tenure clv`, `tenure clv fit` and `tenure clv predict`.
#[derive(Args, Clone, Debug)]
pub struct ClvOptions {
    /// The model (default bgnbd). fit: bgnbd, paretonbd, gammagamma or sbg; the summary and predict:
    /// bgnbd, paretonbd or simple.
    #[arg(long, value_enum)]
    model: Option<ClvModel>,
    /// Time unit of recency, T and the fitted rates.
    #[arg(long, value_enum, default_value = "week")]
    unit: Unit,
    /// End of the observation period (inclusive; default: the last order's day).
    #[arg(long, value_name = "DATE")]
    as_of: Option<Date>,
    /// End of the calibration period: fit on the orders up to this day, then compare the
    /// predicted with the actual purchases after it, up to --as-of (the holdout period).
    #[arg(long, value_name = "DATE")]
    calibration_end: Option<Date>,
    /// CLV horizon in months (for the simple model, the expected lifespan).
    #[arg(long, alias = "months", default_value_t = 12, value_name = "MONTHS")]
    horizon: u32,
    /// Annual discount rate (0.1 = 10% a year), applied month by month as (1 + rate)^(1/12) - 1.
    #[arg(long, default_value_t = 0.1, value_name = "RATE")]
    discount_rate: f64,
    /// Gross margin applied to spend (default: [revenue] gross_margin in tenure.toml, else 1).
    #[arg(long, value_name = "SHARE")]
    margin: Option<f64>,
    /// Also total the CLV per value of this customer attribute (segment, plan_tier, country, ...).
    #[arg(long, value_name = "ATTR")]
    segment: Option<String>,
    /// Customers shown in tables, highest CLV first (JSON and CSV list all).
    #[arg(long, default_value_t = 20, value_name = "N")]
    top: usize,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV, one row per customer.
    #[arg(long)]
    csv: bool,
}

impl ClvOptions {
    /// The chosen model, which must be one of `allowed` for `command`.
    fn model(&self, allowed: &[ClvModel], command: &str) -> Result<ClvModel> {
        let m = self.model.unwrap_or(ClvModel::Bgnbd);
        if !allowed.contains(&m) {
            let names: Vec<&str> = allowed.iter().map(|a| a.name()).collect();
            bail!("--model {}: `{command}` takes {}", m.name(), names.join(", "));
        }
        Ok(m)
    }

    fn check(&self) -> Result<()> {
        if !(self.discount_rate > -1.0 && self.discount_rate.is_finite()) {
            bail!("--discount-rate {} must be a number above -1 (0.1 is 10% a year)", self.discount_rate);
        }
        if let Some(m) = self.margin
            && !(m > 0.0 && m <= 1.0)
        {
            bail!("--margin {m} must be more than 0 and at most 1 (0.8 is an 80% gross margin)");
        }
        if let (Some(cal), Some(end)) = (self.calibration_end, self.as_of)
            && cal >= end
        {
            bail!("--calibration-end {cal} must be before --as-of {end}");
        }
        Ok(())
    }

    /// The monthly rate equivalent to the annual `--discount-rate`.
    fn monthly_discount_rate(&self) -> f64 {
        (1.0 + self.discount_rate).powf(1.0 / 12.0) - 1.0
    }

    fn time_unit(&self) -> TimeUnit {
        match self.unit {
            Unit::Day => TimeUnit::Day,
            Unit::Week => TimeUnit::Week,
            Unit::Month => TimeUnit::Month,
        }
    }

    /// `--margin`, else the workspace's gross margin, else 1.
    fn margin(&self, ws: &Workspace) -> f64 {
        use rust_decimal::prelude::ToPrimitive;
        self.margin.or_else(|| ws.settings().revenue.gross_margin.and_then(|m| m.to_f64())).unwrap_or(1.0)
    }

    /// The settings every CLV document starts with.
    fn header(&self, ws: &Workspace, model: ClvModel) -> Value {
        json!({
            "model": model.name(),
            "horizon_months": self.horizon,
            "annual_discount_rate": self.discount_rate,
            "monthly_discount_rate": self.monthly_discount_rate(),
            "margin": self.margin(ws),
            "reporting_currency": ws.settings().workspace.reporting_currency.to_string(),
        })
    }
}

pub fn run(data: &std::path::Path, args: ClvArgs) -> Result<ExitCode> {
    let ws = Workspace::open(data)?;
    match args.command {
        None => {
            let o = &args.options;
            o.check()?;
            let model = o.model(&[ClvModel::Bgnbd, ClvModel::Paretonbd, ClvModel::Simple], "tenure clv")?;
            let doc = predictions(&ws, o, model)?;
            if o.csv {
                render::csv(&doc);
            } else if o.json {
                output::json(&doc);
            } else {
                render::summary(&doc, o.top);
            }
        }
        Some(ClvCommand::Fit(o)) => {
            o.check()?;
            let all = [ClvModel::Bgnbd, ClvModel::Paretonbd, ClvModel::Gammagamma, ClvModel::Sbg];
            let model = o.model(&all, "tenure clv fit")?;
            let doc = match model {
                ClvModel::Sbg => cohorts::fit(&ws, &o)?,
                _ => predict::fit(&ws, &o, &Book::load(&ws, &o)?, model)?,
            };
            if o.json {
                output::json(&doc);
            } else {
                render::fit(&doc);
            }
        }
        Some(ClvCommand::Predict(o)) => {
            o.check()?;
            let model = o.model(&[ClvModel::Bgnbd, ClvModel::Paretonbd, ClvModel::Simple], "tenure clv predict")?;
            let doc = predictions(&ws, &o, model)?;
            if o.json {
                output::json(&doc);
            } else if o.csv {
                render::csv(&doc);
            } else {
                render::predictions(&doc, o.top);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The per-customer document of the summary and of `predict`: the fits, the
/// predictions (highest CLV first), the holdout comparison with
/// `--calibration-end` and the segment totals with `--segment`.
fn predictions(ws: &Workspace, o: &ClvOptions, model: ClvModel) -> Result<Value> {
    let book = Book::load(ws, o)?;
    let mut doc = match model {
        ClvModel::Simple => simple::predictions(ws, o, &book)?,
        _ => predict::predictions(ws, o, &book, model)?,
    };
    if o.calibration_end.is_some() {
        doc["holdout"] = predict::holdout_comparison(&doc["predictions"]);
    }
    if let Some(attr) = &o.segment {
        let of = tenure_query::filter::segments_of(ws, attr)?;
        simple::segment_totals(&mut doc, attr, &of);
    }
    Ok(doc)
}

/// The orders as purchases in the reporting currency, summarised per customer.
struct Book {
    customers: Vec<CustomerRfm>,
    unit: TimeUnit,
    /// The observation end (`--as-of` or the last order's day).
    as_of: Date,
    /// Each customer's total spend and purchase days up to the end of the
    /// calibration period (the simple model's inputs).
    totals: HashMap<String, f64>,
}

impl Book {
    fn load(ws: &Workspace, o: &ClvOptions) -> Result<Book> {
        let orders = tenure_store::load::<Order>(ws)?;
        if orders.is_empty() {
            bail!("the workspace has no orders: import them with `tenure import orders FILE`");
        }
        let as_of = match o.as_of {
            Some(d) => d,
            None => orders.iter().map(|o| o.date).max().expect("not empty"),
        };
        if let Some(cal) = o.calibration_end
            && cal >= as_of
        {
            bail!(
                "--calibration-end {cal} must be before the observation end {as_of} (--as-of, default the last order's day)"
            );
        }
        let rates = tenure_store::load::<FxRate>(ws)?;
        let fx = FxTable::new(ws.settings().workspace.reporting_currency, &rates);
        let minor = 10f64.powi(i32::from(fx.reporting().exponent()));
        let mut values = Vec::with_capacity(orders.len());
        for ord in &orders {
            let currency = ord.currency.unwrap_or_else(|| fx.reporting());
            let v = fx
                .convert(Money::from_cents(ord.amount_cents), currency, month_idx(ord.date))
                .map_err(|e| anyhow!("order {}: {e}", ord.id))?;
            values.push(v.cents_f64() / minor);
        }
        let unit = o.time_unit();
        let opts = RfmOptions { unit, observation_end: as_of, calibration_end: o.calibration_end };
        let purchases = orders.iter().zip(&values).map(|(ord, v)| Purchase {
            customer_id: ord.customer_id.as_str(),
            date: ord.date,
            value: *v,
        });
        let customers = tenure_models::rfm::summarise(purchases, &opts).map_err(|e| anyhow!("{e}"))?;
        if customers.is_empty() {
            let flag = if o.calibration_end.is_some() { "--calibration-end" } else { "--as-of" };
            bail!("no customer purchased on or before {}: choose a later {flag}", o.calibration_end.unwrap_or(as_of));
        }
        let end = o.calibration_end.unwrap_or(as_of);
        let mut totals: HashMap<String, f64> = HashMap::new();
        for (ord, v) in orders.iter().zip(&values) {
            if ord.date <= end {
                *totals.entry(ord.customer_id.clone()).or_default() += v;
            }
        }
        Ok(Book { customers, unit, as_of, totals })
    }

    /// The settings of the summary, for the document.
    fn describe(&self, doc: &mut Value, o: &ClvOptions) {
        doc["unit"] = json!(self.unit.as_str());
        doc["as_of"] = json!(self.as_of.to_string());
        doc["calibration_end"] = json!(o.calibration_end.map(|d| d.to_string()));
        doc["customers"] = json!(self.customers.len());
        doc["repeat_customers"] = json!(self.customers.iter().filter(|c| c.rfm.frequency > 0).count());
    }
}

/// A prediction row's RFM columns; with a holdout period also its columns
/// and `predicted_holdout` (the model's purchases over the holdout duration).
fn rfm_row(c: &CustomerRfm, predicted_holdout: impl FnOnce(f64) -> f64) -> Value {
    let mut row = json!({
        "customer_id": c.customer_id,
        "frequency": c.rfm.frequency,
        "recency": c.rfm.recency,
        "T": c.rfm.t,
        "monetary_value": c.rfm.monetary_value,
    });
    if let Some(h) = c.holdout {
        row["frequency_holdout"] = json!(h.frequency);
        row["monetary_value_holdout"] = json!(h.monetary_value);
        row["duration_holdout"] = json!(h.duration);
        row["predicted_holdout_purchases"] = json!(predicted_holdout(h.duration));
    }
    row
}

/// A one-line CLV figure for `tenure demo`'s headline: BG/NBD + Gamma-Gamma
/// over 12 months at 10% a year, or `None` without orders.
pub fn headline(ws: &Workspace) -> Result<Option<String>> {
    if ws.rows("orders") == 0 {
        return Ok(None);
    }
    let o = ClvOptions {
        model: None,
        unit: Unit::Week,
        as_of: None,
        calibration_end: None,
        horizon: 12,
        discount_rate: 0.1,
        margin: None,
        segment: None,
        top: 0,
        json: false,
        csv: false,
    };
    let doc = predictions(ws, &o, ClvModel::Bgnbd)?;
    Ok(Some(render::headline(&doc)))
}
