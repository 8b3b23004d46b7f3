//! Text tables of `tenure metrics support` (the document comes from
//! `tenure_query::support`).

use serde_json::Value;

use super::voice::{cell, period_label};
use crate::output;

const ROWS: &[(&str, &str, Option<&str>)] = &[
    ("tickets", "tickets", None),
    ("resolved tickets", "resolved_tickets", None),
    ("FCR strict %", "fcr_strict_rate_pct", Some("fcr_strict_tickets")),
    ("FCR Freshservice %", "fcr_freshservice_rate_pct", Some("fcr_freshservice_tickets")),
    ("one-touch %", "one_touch_rate_pct", Some("one_touch_tickets")),
    ("zero-touch %", "zero_touch_rate_pct", Some("zero_touch_tickets")),
    ("reopen rate %", "reopen_rate_pct", Some("reopened_tickets")),
    ("replied", "replied_count", None),
    ("unreplied", "unreplied_count", Some("unreplied_tickets")),
    ("FRT from creation mean s", "frt_from_creation_mean_seconds", None),
    ("FRT from creation median s", "frt_from_creation_median_seconds", None),
    ("FRT from creation p90 s", "frt_from_creation_p90_seconds", None),
    ("FRT from hand-off mean s", "frt_from_handoff_mean_seconds", None),
    ("FRT from hand-off median s", "frt_from_handoff_median_seconds", None),
    ("FRT from hand-off p90 s", "frt_from_handoff_p90_seconds", None),
    ("resolution mean s", "time_to_resolution_mean_seconds", None),
    ("resolution median s", "time_to_resolution_median_seconds", None),
    ("resolution p90 s", "time_to_resolution_p90_seconds", None),
    ("tickets per account", "tickets_per_account", None),
    ("rated tickets", "satisfaction_rated", None),
    ("satisfaction mean", "satisfaction_average", None),
];

pub fn print_tables(doc: &Value, list: bool) {
    output::line(format!("Support ({}, calendar hours)", period_label(&doc["period"])));
    super::metric_by_segment_table(doc, ROWS.iter().map(|(label, key, _)| (*label, *key)), |_, v| cell(v));
    if list {
        for (label, _, ids) in ROWS {
            if let Some(ids) = ids {
                let v: Vec<String> = doc["overall"][*ids].as_array().into_iter().flatten().map(cell).collect();
                output::line(format!("{label} ({}): {}", v.len(), v.join(" ")));
            }
        }
    }
}
