//! Simple CLV (seed 004): average purchase value x purchase frequency x
//! expected lifespan, margin-adjusted and discounted; and, for subscriptions,
//! the revenue engine's LTV (ARPA x gross margin / customer churn rate),
//! read from `tenure_query::revenue` so that there is one definition.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use serde_json::{Value, json};
use tenure_models::TimeUnit;
use tenure_query::revenue::RevenueArgs;
use tenure_store::Workspace;

use super::{Book, ClvModel, ClvOptions, rfm_row};

/// Σ_{i=1..months} 1 / (1 + monthly rate)^i: what a steady value per month
/// over the lifespan is worth today.
pub(super) fn discount_factor(months: u32, monthly_rate: f64) -> f64 {
    (1..=months).map(|i| 1.0 / (1.0 + monthly_rate).powi(i as i32)).sum()
}

/// Per customer: the average purchase value (all purchases, same-day orders
/// summed), purchases per month over the customer's observed life (at least
/// one month), the lifespan (`--horizon` months) and the margin:
/// CLV = value x purchases per month x margin x Σ_{i=1..lifespan} (1 + monthly rate)^-i,
/// which is value x frequency x lifespan x margin when the rate is 0.
pub(super) fn predictions(ws: &Workspace, o: &ClvOptions, book: &Book) -> Result<Value> {
    let mut doc = o.header(ws, ClvModel::Simple);
    book.describe(&mut doc, o);
    let margin = o.margin(ws);
    let discount = discount_factor(o.horizon, o.monthly_discount_rate());
    let unit_months = book.unit.days() / TimeUnit::Month.days();
    let mut rows: Vec<(f64, Value)> = book
        .customers
        .iter()
        .map(|c| {
            let age_months = (c.rfm.t * unit_months).max(1.0);
            let purchases = f64::from(c.rfm.frequency) + 1.0;
            let average = book.totals.get(&c.customer_id).copied().unwrap_or(0.0) / purchases;
            let per_month = purchases / age_months;
            let clv = average * per_month * margin * discount;
            let mut row = rfm_row(c, |d| per_month * d * unit_months);
            row["p_alive"] = Value::Null;
            row["average_purchase_value"] = json!(average);
            row["purchases_per_month"] = json!(per_month);
            row["expected_purchases"] = json!(per_month * f64::from(o.horizon));
            row["expected_spend"] = json!(average);
            row["clv"] = json!(clv);
            (clv, row)
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    doc["predictions"] = Value::Array(rows.into_iter().map(|(_, r)| r).collect());
    doc["subscriptions"] = subscription_ltv(ws, o)?;
    Ok(doc)
}

/// The subscription LTV of the revenue report's last month (the month of
/// `--as-of` when given), overall and per `--segment` value. `--margin`
/// is passed to the revenue engine as its `gross_margin` rule.
fn subscription_ltv(ws: &Workspace, o: &ClvOptions) -> Result<Value> {
    if ws.rows("subscription_events") == 0 && ws.rows("invoices") == 0 {
        return Ok(Value::Null);
    }
    let args = RevenueArgs {
        to: o.as_of.map(|d| format!("{:04}-{:02}", d.year(), d.month())),
        segment: o.segment.clone(),
        set: o.margin.map(|m| format!("gross_margin={m}")).into_iter().collect(),
        ..RevenueArgs::default()
    };
    let report = tenure_query::revenue::compute(ws, &args)?;
    let last = |r: &Value| -> Value {
        let Some((month, m)) = r["months"].as_object().and_then(|ms| ms.iter().next_back()) else {
            return Value::Null;
        };
        let mut out = json!({"month": month});
        for k in ["arpa_cents", "customer_churn_rate", "subscribers", "ltv_simple_cents", "ltv_gross_margin_cents"] {
            out[k] = m[k].clone();
        }
        out
    };
    let mut doc = last(&report);
    if let Some(segments) = report["segments"].as_object() {
        doc["segments"] = segments.iter().map(|(k, r)| (k.clone(), last(r))).collect::<serde_json::Map<_, _>>().into();
    }
    Ok(doc)
}

/// Customers, total and mean CLV per value of the customer attribute `attr`
/// (`of`: customer id -> value), largest total first; each row gets its segment.
pub(super) fn segment_totals(doc: &mut Value, attr: &str, of: &HashMap<String, String>) {
    let none = tenure_query::filter::NONE.to_string();
    let mut totals: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for r in doc["predictions"].as_array_mut().into_iter().flatten() {
        let seg = of.get(r["customer_id"].as_str().unwrap_or("")).unwrap_or(&none).clone();
        let e = totals.entry(seg.clone()).or_default();
        e.0 += 1;
        e.1 += r["clv"].as_f64().unwrap_or(0.0);
        r["segment"] = json!(seg);
    }
    let mut rows: Vec<(String, (usize, f64))> = totals.into_iter().collect();
    rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    doc["segment_attribute"] = json!(attr);
    doc["segments"] = rows
        .into_iter()
        .map(|(seg, (n, total))| json!({"segment": seg, "customers": n, "total_clv": total, "mean_clv": total / n as f64}))
        .collect();
}
