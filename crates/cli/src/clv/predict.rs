//! The probabilistic models on the orders' RFM summary: BG/NBD or Pareto/NBD
//! purchases with Gamma-Gamma spend, per-customer predictions, and the
//! comparison of predicted with actual purchases in a holdout period.

use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};
use tenure_models::{
    BgNbd, Fit, GammaGamma, Parameters, ParetoNbd, PurchaseModel, Rfm, customer_lifetime_value, par_map,
};
use tenure_store::Workspace;

use super::{Book, ClvModel, ClvOptions, rfm_row};

/// The document of `tenure clv fit` for a model fitted on the RFM summary.
pub(super) fn fit(ws: &Workspace, o: &ClvOptions, book: &Book, model: ClvModel) -> Result<Value> {
    let rfm: Vec<Rfm> = book.customers.iter().map(|c| c.rfm).collect();
    let mut doc = o.header(ws, model);
    book.describe(&mut doc, o);
    doc["fit"] = match model {
        ClvModel::Bgnbd => timed(|| BgNbd::fit(&rfm))?.0,
        ClvModel::Paretonbd => timed(|| ParetoNbd::fit(&rfm))?.0,
        ClvModel::Gammagamma => timed(|| GammaGamma::fit(&rfm))?.0,
        ClvModel::Sbg | ClvModel::Simple => unreachable!("checked by the caller"),
    };
    Ok(doc)
}

/// Run a fit, timing it: its JSON (with `seconds`) and the fitted parameters.
fn timed<P: Parameters + Copy>(fit: impl FnOnce() -> Result<Fit<P>, tenure_models::Error>) -> Result<(Value, P)> {
    let started = Instant::now();
    let f = fit().map_err(|e| anyhow!("{e}"))?;
    Ok((fit_json(&f, started.elapsed().as_secs_f64()), f.params))
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
        "starts": fit.starts,
        "observations": fit.observations,
        "seconds": seconds,
    })
}

/// Fit the purchase and spend models and predict every customer.
pub(super) fn predictions(ws: &Workspace, o: &ClvOptions, book: &Book, model: ClvModel) -> Result<Value> {
    let mut doc = o.header(ws, model);
    book.describe(&mut doc, o);
    let rfm: Vec<Rfm> = book.customers.iter().map(|c| c.rfm).collect();
    let rows = match model {
        ClvModel::Bgnbd => per_customer(o, ws, book, &rfm, &mut doc, BgNbd::fit)?,
        ClvModel::Paretonbd => per_customer(o, ws, book, &rfm, &mut doc, ParetoNbd::fit)?,
        _ => unreachable!("checked by the caller"),
    };
    doc["predictions"] = Value::Array(rows);
    Ok(doc)
}

fn per_customer<M: PurchaseModel + Parameters + Copy + Sync>(
    o: &ClvOptions,
    ws: &Workspace,
    book: &Book,
    rfm: &[Rfm],
    doc: &mut Value,
    fit: impl FnOnce(&[Rfm]) -> Result<Fit<M>, tenure_models::Error>,
) -> Result<Vec<Value>> {
    let (fit_doc, model) = timed(|| fit(rfm)).context("fitting the purchase model")?;
    doc["fit"] = fit_doc;
    let spend = match timed(|| GammaGamma::fit(rfm)) {
        Ok((f, p)) => {
            doc["spend_fit"] = f;
            Some(p)
        }
        Err(e) => {
            doc["spend_fit"] = Value::Null;
            doc["spend_note"] = json!(format!("no spend model, so no CLV: {e}"));
            None
        }
    };
    let per_month = book.unit.periods_per_month();
    let horizon = f64::from(o.horizon) * per_month;
    let (months, rate, margin) = (o.horizon, o.monthly_discount_rate(), o.margin(ws));
    let started = Instant::now();
    let mut rows: Vec<(f64, Value)> = par_map(book.customers.len(), |i| {
        let c = &book.customers[i];
        let expected = model.conditional_expected_purchases(horizon, &c.rfm);
        let value = spend.map(|g| g.conditional_expected_average_value(&c.rfm));
        let clv = value.map(|v| margin * customer_lifetime_value(&model, &c.rfm, v, months, rate, per_month));
        let mut row = rfm_row(c, |d| model.conditional_expected_purchases(d, &c.rfm));
        row["p_alive"] = json!(model.p_alive(&c.rfm));
        row["expected_purchases"] = json!(expected);
        row["expected_spend"] = json!(value);
        row["clv"] = json!(clv);
        (clv.unwrap_or(expected), row)
    });
    doc["predict_seconds"] = json!(started.elapsed().as_secs_f64());
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

/// Predicted against actual holdout purchases (the test of lifetimes'
/// `calibration_and_holdout_data`): totals, the mean absolute error per
/// customer, and the means per calibration frequency (0 to 6 and 7+, as
/// lifetimes' `plot_calibration_purchases_vs_holdout_purchases` groups them).
pub(super) fn holdout_comparison(rows: &Value) -> Value {
    let rows: Vec<&Value> = rows.as_array().into_iter().flatten().collect();
    let pair = |r: &Value| {
        (
            r["frequency"].as_u64().unwrap_or(0),
            r["frequency_holdout"].as_f64().unwrap_or(0.0),
            r["predicted_holdout_purchases"].as_f64().unwrap_or(0.0),
        )
    };
    let n = rows.len().max(1) as f64;
    let (actual, predicted) = rows.iter().map(|r| pair(r)).fold((0.0, 0.0), |(a, p), (_, x, y)| (a + x, p + y));
    let mae = rows.iter().map(|r| pair(r)).map(|(_, x, y)| (x - y).abs()).sum::<f64>() / n;
    let by_frequency: Vec<Value> = (0..=7u64)
        .filter_map(|f| {
            let group: Vec<(u64, f64, f64)> =
                rows.iter().map(|r| pair(r)).filter(|(x, _, _)| if f == 7 { *x >= 7 } else { *x == f }).collect();
            let k = group.len() as f64;
            (!group.is_empty()).then(|| {
                json!({
                    "frequency": if f == 7 { json!("7+") } else { json!(f) },
                    "customers": group.len(),
                    "mean_actual": group.iter().map(|g| g.1).sum::<f64>() / k,
                    "mean_predicted": group.iter().map(|g| g.2).sum::<f64>() / k,
                })
            })
        })
        .collect();
    json!({
        "duration": rows.first().map(|r| r["duration_holdout"].clone()),
        "customers": rows.len(),
        "actual_purchases": actual,
        "predicted_purchases": predicted,
        "mean_absolute_error": mae,
        "by_calibration_frequency": by_frequency,
    })
}
