//! `orders`: transactional (non-subscription) revenue from the stored orders
//! (SPEC 2.1 last bullets, purchases as in SPEC 2.6): repeat purchase ratio,
//! purchase frequency, average order value.
//!
//! An order is in the period when its date falls in `[--from, --to)`; amounts
//! are converted to the reporting currency at the rate of the order's month.

use anyhow::{Result, anyhow};
use clap::Args;
use serde_json::{Value, json};
use tenure_metrics::revenue::FxTable;
use tenure_metrics::revenue::transactional::order_metrics;
use tenure_model::{FxRate, Order};
use tenure_store::Workspace;

use crate::filter::{Filter, group_by_segment, merge, segments_of};

#[derive(Args, Clone, Debug)]
pub struct OrdersArgs {
    #[command(flatten)]
    pub filter: Filter,
}

/// The document of `tenure metrics orders --json`.
pub fn compute(ws: &Workspace, args: &OrdersArgs) -> Result<Value> {
    let f = &args.filter;
    f.check()?;
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
            merge(&mut v, order_metrics(os.iter().copied(), &fx).map_err(|e| anyhow!("{e}"))?.to_json());
            segments.push(v);
        }
        doc["segment_attribute"] = json!(attr);
        doc["segments"] = Value::Array(segments);
    }
    Ok(doc)
}
