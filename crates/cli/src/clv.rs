//! `tenure clv`: customer lifetime value from the stored orders (SPEC 2.6).
//!
//! Orders become RFM summaries (same-day orders are one purchase), a purchase
//! model (BG/NBD or Pareto/NBD) and the Gamma-Gamma spend model are fitted by
//! maximum likelihood, and each customer gets P(alive), expected purchases
//! over the horizon, expected spend per purchase and a discounted CLV.
//! `--model simple` skips the models: mean purchase value x observed purchase
//! rate x horizon, discounted.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use jiff::civil::Date;
use serde_json::{Value, json};
use tenure_metrics::revenue::{FxTable, month_idx};
use tenure_model::{FxRate, Money, Order};
use tenure_models::{
    BgNbd, CustomerRfm, Fit, GammaGamma, Parameters, ParetoNbd, Purchase, PurchaseModel, RfmOptions, TimeUnit,
    customer_lifetime_value,
};
use tenure_store::Workspace;

use crate::metrics::voice::table;
use crate::output;

pub const AFTER_HELP: &str = "\
Examples:
  tenure clv                               BG/NBD + Gamma-Gamma, weeks, up to the last order day
  tenure clv --model paretonbd --months 24 --discount-rate 0.01
  tenure clv --as-of 2025-06-30 --json     every customer, as JSON

CLV = sum over the next --months months of expected purchases in that month x expected
spend per purchase, discounted by (1 + --discount-rate)^month (as lifetimes computes it).
Amounts are in the workspace's reporting currency.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClvModel {
    /// BG/NBD purchases (Fader, Hardie & Lee 2005) with Gamma-Gamma spend.
    Bgnbd,
    /// Pareto/NBD purchases (Schmittlein et al. 1987) with Gamma-Gamma spend.
    Paretonbd,
    /// Mean purchase value x observed monthly purchase rate x horizon, discounted.
    Simple,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Unit {
    Day,
    Week,
    Month,
}

#[derive(Args, Clone, Debug)]
pub struct ClvArgs {
    /// The model.
    #[arg(long, value_enum, default_value = "bgnbd")]
    model: ClvModel,
    /// Time unit of recency, T and the fitted rates.
    #[arg(long, value_enum, default_value = "week")]
    unit: Unit,
    /// End of the observation period (inclusive; default: the last order's day).
    #[arg(long, value_name = "DATE")]
    as_of: Option<Date>,
    /// CLV horizon in months.
    #[arg(long, default_value_t = 12, value_name = "N")]
    months: u32,
    /// Monthly discount rate (0.01 = 1% a month).
    #[arg(long, default_value_t = 0.01, value_name = "RATE")]
    discount_rate: f64,
    /// Customers shown in the table, highest CLV first (JSON lists all).
    #[arg(long, default_value_t = 20, value_name = "N")]
    top: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(data: &std::path::Path, args: ClvArgs) -> Result<ExitCode> {
    if !(args.discount_rate > -1.0 && args.discount_rate.is_finite()) {
        bail!("--discount-rate {} must be a number above -1 (0.01 is 1% a month)", args.discount_rate);
    }
    let ws = Workspace::open(data)?;
    let orders = tenure_store::load::<Order>(&ws)?;
    if orders.is_empty() {
        bail!("the workspace has no orders: import them with `tenure import orders FILE`");
    }
    let as_of = match args.as_of {
        Some(d) => d,
        None => orders.iter().map(|o| o.date).max().expect("not empty"),
    };
    let rates = tenure_store::load::<FxRate>(&ws)?;
    let fx = FxTable::new(ws.settings().workspace.reporting_currency, &rates);
    let minor = 10f64.powi(i32::from(fx.reporting().exponent()));
    let mut values = Vec::with_capacity(orders.len());
    for o in &orders {
        let currency = o.currency.unwrap_or_else(|| fx.reporting());
        let v = fx
            .convert(Money::from_cents(o.amount_cents), currency, month_idx(o.date))
            .map_err(|e| anyhow!("order {}: {e}", o.id))?;
        values.push(v.cents_f64() / minor);
    }
    let unit = match args.unit {
        Unit::Day => TimeUnit::Day,
        Unit::Week => TimeUnit::Week,
        Unit::Month => TimeUnit::Month,
    };
    let opts = RfmOptions { unit, observation_end: as_of, calibration_end: None };
    let purchases = orders.iter().zip(&values).map(|(o, v)| Purchase {
        customer_id: o.customer_id.as_str(),
        date: o.date,
        value: *v,
    });
    let customers = tenure_models::rfm::summarise(purchases, &opts).map_err(|e| anyhow!("{e}"))?;
    if customers.is_empty() {
        bail!("no customer purchased on or before {as_of}: choose a later --as-of");
    }

    let mut doc = json!({
        "model": format!("{:?}", args.model).to_lowercase(),
        "unit": unit.as_str(),
        "as_of": as_of.to_string(),
        "customers": customers.len(),
        "repeat_customers": customers.iter().filter(|c| c.rfm.frequency > 0).count(),
        "horizon_months": args.months,
        "monthly_discount_rate": args.discount_rate,
        "reporting_currency": fx.reporting().to_string(),
    });
    let rows = match args.model {
        ClvModel::Simple => simple(&orders, &values, &customers, as_of, &args),
        ClvModel::Bgnbd => probabilistic(&customers, unit, &args, &mut doc, BgNbd::fit)?,
        ClvModel::Paretonbd => probabilistic(&customers, unit, &args, &mut doc, ParetoNbd::fit)?,
    };
    doc["predictions"] = Value::Array(rows);
    if args.json {
        output::json(&doc);
    } else {
        print_table(&doc, args.top);
    }
    Ok(ExitCode::SUCCESS)
}

fn fit_json<P: Parameters>(fit: &Fit<P>, seconds: f64) -> Value {
    let params: serde_json::Map<String, Value> =
        fit.params.named().into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    json!({
        "params": params,
        "log_likelihood": fit.log_likelihood,
        "converged": fit.converged,
        "boundary": fit.boundary,
        "iterations": fit.iterations,
        "evaluations": fit.evaluations,
        "observations": fit.observations,
        "seconds": seconds,
    })
}

fn probabilistic<M: PurchaseModel + Parameters + Copy>(
    customers: &[CustomerRfm],
    unit: TimeUnit,
    args: &ClvArgs,
    doc: &mut Value,
    fit: impl Fn(&[tenure_models::Rfm]) -> Result<Fit<M>, tenure_models::Error>,
) -> Result<Vec<Value>> {
    let rfm: Vec<tenure_models::Rfm> = customers.iter().map(|c| c.rfm).collect();
    let started = Instant::now();
    let purchase_fit = fit(&rfm).map_err(|e| anyhow!("{e}")).context("fitting the purchase model")?;
    doc["fit"] = fit_json(&purchase_fit, started.elapsed().as_secs_f64());
    let started = Instant::now();
    let spend = match GammaGamma::fit(&rfm) {
        Ok(f) => {
            doc["spend_fit"] = fit_json(&f, started.elapsed().as_secs_f64());
            Some(f.params)
        }
        Err(e) => {
            doc["spend_fit"] = Value::Null;
            doc["spend_note"] = json!(format!("no spend model, so no CLV: {e}"));
            None
        }
    };
    let model = purchase_fit.params;
    let per_month = unit.periods_per_month();
    let horizon = f64::from(args.months) * per_month;
    let mut rows: Vec<(f64, Value)> = customers
        .iter()
        .map(|c| {
            let expected = model.conditional_expected_purchases(horizon, &c.rfm);
            let value = spend.map(|g| g.conditional_expected_average_value(&c.rfm));
            let clv =
                value.map(|v| customer_lifetime_value(&model, &c.rfm, v, args.months, args.discount_rate, per_month));
            let row = json!({
                "customer_id": c.customer_id,
                "frequency": c.rfm.frequency,
                "recency": c.rfm.recency,
                "T": c.rfm.t,
                "monetary_value": c.rfm.monetary_value,
                "p_alive": model.p_alive(&c.rfm),
                "expected_purchases": expected,
                "expected_spend": value,
                "clv": clv,
            });
            (clv.unwrap_or(expected), row)
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

/// Mean purchase value x purchases per month over the customer's observed
/// life (at least one month) x the horizon, discounted month by month.
fn simple(orders: &[Order], values: &[f64], customers: &[CustomerRfm], as_of: Date, args: &ClvArgs) -> Vec<Value> {
    let mut totals: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for (o, v) in orders.iter().zip(values) {
        if o.date <= as_of {
            *totals.entry(o.customer_id.as_str()).or_default() += v;
        }
    }
    let discount: f64 = (1..=args.months).map(|i| 1.0 / (1.0 + args.discount_rate).powi(i as i32)).sum();
    let mut rows: Vec<(f64, Value)> = customers
        .iter()
        .map(|c| {
            // T is in the chosen unit; the rate is per month.
            let age_months = (c.rfm.t * unit_days(args.unit) / TimeUnit::Month.days()).max(1.0);
            let purchases = f64::from(c.rfm.frequency) + 1.0;
            let mean_value = totals.get(c.customer_id.as_str()).copied().unwrap_or(0.0) / purchases;
            let rate = purchases / age_months;
            let clv = mean_value * rate * discount;
            let row = json!({
                "customer_id": c.customer_id,
                "frequency": c.rfm.frequency,
                "recency": c.rfm.recency,
                "T": c.rfm.t,
                "monetary_value": c.rfm.monetary_value,
                "p_alive": Value::Null,
                "expected_purchases": rate * f64::from(args.months),
                "expected_spend": mean_value,
                "clv": clv,
            });
            (clv, row)
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    rows.into_iter().map(|(_, r)| r).collect()
}

fn unit_days(u: Unit) -> f64 {
    match u {
        Unit::Day => TimeUnit::Day.days(),
        Unit::Week => TimeUnit::Week.days(),
        Unit::Month => TimeUnit::Month.days(),
    }
}

fn num(v: &Value, dp: usize) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.dp$}"),
        None => "-".into(),
    }
}

fn print_table(doc: &Value, top: usize) {
    output::line(format!(
        "CLV ({} model, {} customers ({} with repeat purchases), as of {}, times in {}s, amounts in {})",
        doc["model"].as_str().unwrap_or(""),
        doc["customers"],
        doc["repeat_customers"],
        doc["as_of"].as_str().unwrap_or(""),
        doc["unit"].as_str().unwrap_or(""),
        doc["reporting_currency"].as_str().unwrap_or(""),
    ));
    for (label, key) in [("purchases", "fit"), ("spend (Gamma-Gamma)", "spend_fit")] {
        let f = &doc[key];
        if f.is_null() {
            continue;
        }
        let params: Vec<String> = f["params"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{k} = {}", num(v, 4))).collect())
            .unwrap_or_default();
        output::line(format!(
            "  {label}: {}; log-likelihood {}; {} after {} evaluations ({:.2} s)",
            params.join(", "),
            num(&f["log_likelihood"], 2),
            if f["converged"].as_bool() == Some(true) { "converged" } else { "NOT converged" },
            f["evaluations"],
            f["seconds"].as_f64().unwrap_or(0.0),
        ));
    }
    if let Some(note) = doc["spend_note"].as_str() {
        output::line(format!("  {note}"));
    }
    output::line(format!(
        "  horizon {} months, discount rate {} a month",
        doc["horizon_months"], doc["monthly_discount_rate"]
    ));
    let header = ["customer", "frequency", "recency", "T", "P(alive)", "expected purchases", "expected spend", "CLV"];
    let rows: Vec<Vec<String>> = doc["predictions"]
        .as_array()
        .into_iter()
        .flatten()
        .take(top)
        .map(|r| {
            vec![
                r["customer_id"].as_str().unwrap_or("").to_string(),
                r["frequency"].to_string(),
                num(&r["recency"], 2),
                num(&r["T"], 2),
                num(&r["p_alive"], 4),
                num(&r["expected_purchases"], 4),
                num(&r["expected_spend"], 2),
                num(&r["clv"], 2),
            ]
        })
        .collect();
    table(&header, &rows);
    let total = doc["predictions"].as_array().map_or(0, |a| a.len());
    if total > top {
        output::line(format!("({} of {total} customers shown, highest CLV first; --top N or --json for more)", top));
    }
}
