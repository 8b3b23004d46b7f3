//! Text table of `tenure metrics orders` (the document comes from
//! `tenure_query::orders`).

use serde_json::Value;

use super::voice::cell;
use crate::output;

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
    ("customers at the start", "customers_start"),
    ("customers at the end", "customers_end"),
    ("new customers", "new_customers"),
    ("reactivated customers", "reactivated_customers"),
    ("customer retention rate", "customer_retention_rate"),
];

/// A table cell: ratios and the frequency with their 4 decimals, money with 2.
fn fmt(key: &str, v: &Value) -> String {
    match v.as_f64() {
        Some(x) if matches!(key, "repeat_purchase_ratio" | "purchase_frequency" | "customer_retention_rate") => {
            format!("{x:.4}")
        }
        _ => cell(v),
    }
}

pub fn print_table(doc: &Value) {
    let period = super::voice::period_label(&doc["period"]);
    output::line(format!("Orders ({period}, {})", cell(&doc["reporting_currency"])));
    super::metric_by_segment_table(doc, ROWS.iter().map(|(label, key)| (*label, *key)), fmt);
}
