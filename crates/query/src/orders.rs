//! `orders`: transactional (non-subscription) revenue from the stored orders
//! (SPEC 2.1 last bullets, purchases as in SPEC 2.6): repeat purchase ratio,
//! purchase frequency, average order value, and customer retention rate by
//! the seed formula (see [`tenure_metrics::revenue::transactional`]).
//!
//! An order is in the period when its date falls in `[--from, --to)`; amounts
//! are converted to the reporting currency at the rate of the order's month.
//! Retention looks at orders before the period too (who was a customer at
//! its start); without `--from` the period starts on the first order day, and
//! without `--to` it ends after the last order day.

use anyhow::{Result, anyhow};
use clap::Args;
use serde_json::{Value, json};
use tenure_metrics::revenue::FxTable;
use tenure_metrics::revenue::transactional::{OrderRetention, order_metrics, order_retention};
use tenure_model::{FxRate, Order};
use tenure_store::Workspace;

use crate::filter::{Filter, group_by_segment, merge, segments_of};

/// Definitions and examples for `tenure metrics orders --help`.
const AFTER_HELP: &str = "\
A purchase is all orders of one customer on one day. Repeat purchase ratio = customers with 2+
purchases / customers who purchased; purchase frequency = purchases / customers; average order
value = revenue / orders (reporting currency, each order at its month's rate).
Customer retention rate = (customers at the end - new customers) / customers at the start, where
a buyer is a customer while it has an order in the --active-days before the date, and new
customers are those at the end who were not at the start (first-time and returning buyers).

Examples:
  tenure metrics orders --from 2024-01-01 --to 2025-01-01
  tenure metrics orders --from 2024-07-01 --to 2024-10-01 --active-days 90 --segment country --json";

#[derive(Args, Clone, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct OrdersArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// A buyer counts as a customer while it has an order in this many days before a date (customer retention rate).
    #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..))]
    pub active_days: u32,
}

/// The document of `tenure metrics orders --json`.
pub fn compute(ws: &Workspace, args: &OrdersArgs) -> Result<Value> {
    let f = &args.filter;
    f.check()?;
    let all = tenure_store::load::<Order>(ws)?;
    let all: Vec<&Order> = all.iter().collect();
    let rates = tenure_store::load::<FxRate>(ws)?;
    let fx = FxTable::new(ws.settings().workspace.reporting_currency, &rates);
    let first = all.iter().map(|o| o.date).min();
    let after_last = all.iter().map(|o| o.date).max().and_then(|d| d.tomorrow().ok());
    let period = f.from.or(first).zip(f.to.or(after_last));
    // The period's figures and retention of a set of orders (all of them: the
    // period is cut here).
    let figures = |os: &[&Order]| -> Result<Value> {
        let in_period =
            os.iter().copied().filter(|o| f.from.is_none_or(|a| o.date >= a) && f.to.is_none_or(|b| o.date < b));
        let mut v = order_metrics(in_period, &fx).map_err(|e| anyhow!("{e}"))?.to_json();
        let retention = match period {
            Some((a, b)) => order_retention(os.iter().copied(), a, b, args.active_days),
            None => OrderRetention { active_days: args.active_days, ..OrderRetention::default() },
        };
        merge(&mut v, retention.to_json());
        Ok(v)
    };
    let mut doc = json!({
        "metric": "orders",
        "period": {"from": f.from.map(|d| d.to_string()), "to": f.to.map(|d| d.to_string())},
        "reporting_currency": fx.reporting().to_string(),
        "overall": figures(&all)?,
    });
    if let Some(attr) = &f.segment {
        let seg = segments_of(ws, attr)?;
        let groups = group_by_segment(&all, |o| Some(o.customer_id.as_str()), &seg);
        let mut segments = Vec::new();
        for (s, os) in &groups {
            let mut v = json!({ "segment": s });
            merge(&mut v, figures(os)?);
            segments.push(v);
        }
        doc["segment_attribute"] = json!(attr);
        doc["segments"] = Value::Array(segments);
    }
    Ok(doc)
}
