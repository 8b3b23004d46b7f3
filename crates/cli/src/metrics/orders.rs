//! `tenure metrics orders`: transactional (non-subscription) revenue from the
//! stored orders (SPEC 2.1 last bullets, purchases as in SPEC 2.6): repeat
//! purchase ratio, purchase frequency, average order value.
//!
//! An order is in the period when its date falls in `[--from, --to)`; amounts
//! are converted to the reporting currency at the rate of the order's month.

use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use serde_json::{Value, json};
use tenure_metrics::revenue::FxTable;
use tenure_metrics::revenue::transactional::order_metrics;
use tenure_model::{FxRate, Order};
use tenure_store::Workspace;

use super::voice::{Filter, cell, group_by_segment, segments_of};
use crate::output;

#[derive(Args, Clone, Debug)]
pub struct OrdersArgs {
    #[command(flatten)]
    pub filter: Filter,
}

pub fn run(ws: &Workspace, args: OrdersArgs) -> Result<ExitCode> {
    let f = &args.filter;
    if let (Some(a), Some(b)) = (f.from, f.to)
        && b <= a
    {
        bail!("--to {b} must be after --from {a} (the end is exclusive)");
    }
    let all = tenure_store::load::<Order>(ws)?;
    let orders: Vec<&Order> =
        all.iter().filter(|o| f.from.is_none_or(|a| o.date >= a) && f.to.is_none_or(|b| o.date < b)).collect();
    let rates = tenure_store::load::<FxRate>(ws)?;
    let fx = FxTable::new(ws.settings().workspace.reporting_currency, &rates);
    let overall = order_metrics(orders.iter().copied(), &fx).map_err(|e| anyhow!("{e}"))?;
    let mut doc = json!({
        "metric": "orders",
        "period": {"from": f.from.map(|d| d.to_string()), "to": f.to.map(|d| d.to_string())},
        "reporting_currency": fx.reporting().to_string(),
        "overall": overall.to_json(),
    });
    if let Some(attr) = &f.segment {
        let seg = segments_of(ws, attr)?;
        let groups = group_by_segment(&orders, |o| Some(o.customer_id.as_str()), &seg);
        let mut segments = Vec::new();
        for (s, os) in &groups {
            let mut v = json!({ "segment": s });
            if let (Some(o), Value::Object(m)) =
                (v.as_object_mut(), order_metrics(os.iter().copied(), &fx).map_err(|e| anyhow!("{e}"))?.to_json())
            {
                o.extend(m);
            }
            segments.push(v);
        }
        doc["segment_attribute"] = json!(attr);
        doc["segments"] = Value::Array(segments);
    }
    if f.json {
        output::json(&doc);
    } else {
        print_table(&doc);
    }
    Ok(ExitCode::SUCCESS)
}

const ROWS: &[(&str, &str)] = &[
    ("orders", "orders"),
    ("purchases (customer-days)", "purchases"),
    ("customers who purchased", "customers"),
    ("customers with 2+ purchases", "repeat_customers"),
    ("repeat purchase ratio", "repeat_purchase_ratio"),
    ("purchase frequency", "purchase_frequency"),
    ("revenue (cents)", "revenue_cents"),
    ("average order value (cents)", "average_order_value_cents"),
    ("average purchase value (cents)", "average_purchase_value_cents"),
];

/// A table cell: ratios and the frequency with their 4 decimals, money with 2.
fn fmt(key: &str, v: &Value) -> String {
    match v.as_f64() {
        Some(x) if key == "repeat_purchase_ratio" || key == "purchase_frequency" => format!("{x:.4}"),
        _ => cell(v),
    }
}

fn print_table(doc: &Value) {
    let period = super::voice::period_label(&doc["period"]);
    output::line(format!("Orders ({period}, {})", cell(&doc["reporting_currency"])));
    super::metric_by_segment_table(doc, ROWS.iter().map(|(label, key)| (*label, *key)), fmt);
}
