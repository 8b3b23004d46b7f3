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

/// Rows read from the nested `business_hours` and `sla` objects (flattened with these prefixes).
const BUSINESS_ROWS: &[(&str, &str)] = &[
    ("business FRT from creation mean s", "business_hours.frt_from_creation_mean_seconds"),
    ("business FRT from creation median s", "business_hours.frt_from_creation_median_seconds"),
    ("business FRT from creation p90 s", "business_hours.frt_from_creation_p90_seconds"),
    ("business FRT from hand-off median s", "business_hours.frt_from_handoff_median_seconds"),
    ("business resolution median s", "business_hours.time_to_resolution_median_seconds"),
    ("business resolution p90 s", "business_hours.time_to_resolution_p90_seconds"),
];
const SLA_ROWS: &[(&str, &str)] = &[
    ("first reply target s", "sla.first_response_target_seconds"),
    ("first reply breached (slow)", "sla.first_response_breached_count"),
    ("first reply breach rate %", "sla.first_response_breach_rate_pct"),
    ("first reply pending", "sla.first_response_pending_count"),
    ("resolution target s", "sla.resolution_target_seconds"),
    ("resolution breached", "sla.resolution_breached_count"),
    ("resolution breach rate %", "sla.resolution_breach_rate_pct"),
];

/// Copy `obj.key` of a nested object to a top-level `obj.key` key, so the
/// generic table reads it.
fn flatten(v: &mut Value, obj: &str) {
    if let Some(inner) = v.get(obj).and_then(Value::as_object).cloned()
        && let Some(o) = v.as_object_mut()
    {
        for (k, x) in inner {
            o.insert(format!("{obj}.{k}"), x);
        }
    }
}

pub fn print_tables(doc: &Value, list: bool) {
    let mut doc = doc.clone();
    let flat = |g: &mut Value| {
        flatten(g, "business_hours");
        flatten(g, "sla");
    };
    flat(&mut doc["overall"]);
    doc["segments"].as_array_mut().into_iter().flatten().for_each(flat);
    let doc = &doc;
    let business = !doc["schedule"].is_null();
    output::line(format!(
        "Support ({}, {} hours)",
        period_label(&doc["period"]),
        if business { "calendar and business" } else { "calendar" }
    ));
    let mut rows: Vec<(&str, &str)> = ROWS.iter().map(|(label, key, _)| (*label, *key)).collect();
    if business {
        rows.extend(BUSINESS_ROWS);
    }
    rows.extend(SLA_ROWS.iter().filter(|(_, k)| !doc["overall"][*k].is_null()));
    super::metric_by_segment_table(doc, rows.into_iter(), |_, v| cell(v));
    if let Some(sla) = doc["overall"]["sla"].as_object() {
        output::line(format!(
            "Targets on the {} clock, evaluated at {}",
            sla["clock"].as_str().unwrap_or("-"),
            sla["as_of"].as_str().unwrap_or("-")
        ));
    }
    if list {
        let sla = [
            ("slow first replies", "sla.first_response_breached_tickets"),
            ("slow resolutions", "sla.resolution_breached_tickets"),
        ];
        for (label, ids) in ROWS.iter().filter_map(|(l, _, ids)| Some((*l, (*ids)?))).chain(sla) {
            let v: Vec<String> = doc["overall"][ids].as_array().into_iter().flatten().map(cell).collect();
            output::line(format!("{label} ({}): {}", v.len(), v.join(" ")));
        }
    }
}
