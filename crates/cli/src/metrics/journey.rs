//! Text tables of `tenure metrics adoption|funnel` (the documents come from
//! `tenure_query::journey`).

use serde_json::Value;

use super::engagement::{dec2, opt, rows, table};
use crate::output;

pub fn print_adoption(doc: &Value, list: bool) {
    output::line(format!(
        "Feature adoption: {} active account(s) ({}; days in {}); {} feature(s) used; breadth mean {}, median {}",
        opt(&doc["active_accounts"]),
        opt(&doc["active_event"]),
        opt(&doc["timezone"]),
        opt(&doc["features_used"]),
        dec2(&doc["average_breadth"]),
        dec2(&doc["median_breadth"]),
    ));
    let cells: Vec<Vec<String>> = rows(doc, "features")
        .iter()
        .map(|f| {
            vec![opt(&f["feature"]), opt(&f["accounts"]), dec2(&f["adoption_pct"]), opt(&f["uses"]), opt(&f["users"])]
        })
        .collect();
    table(&["feature", "accounts", "adoption_pct", "uses", "users"], &cells);
    if list {
        output::line("");
        let cells: Vec<Vec<String>> = rows(doc, "accounts")
            .iter()
            .map(|acc| {
                let depth = acc["depth"]
                    .as_object()
                    .map(|m| m.iter().map(|(f, d)| format!("{f}: {}", opt(&d["uses"]))).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                vec![
                    opt(&acc["account"]),
                    opt(&acc["breadth"]),
                    opt(&acc["total_uses"]),
                    dec2(&acc["uses_per_feature"]),
                    depth,
                ]
            })
            .collect();
        table(&["account", "breadth", "total_uses", "uses_per_feature", "depth"], &cells);
    }
}

pub fn print_funnel(doc: &Value, list: bool) {
    output::line(format!(
        "Funnel by {} (ordered; window {} s from the first step; days in {}): {} entered, {}% converted",
        opt(&doc["by"]),
        opt(&doc["window_seconds"]),
        opt(&doc["timezone"]),
        opt(&doc["entered"]),
        dec2(&doc["overall_conversion_pct"])
    ));
    let cells: Vec<Vec<String>> = rows(doc, "steps")
        .iter()
        .map(|s| {
            let name = match s["label"].as_str() {
                Some(l) => format!("{} ({l})", opt(&s["name"])),
                None => opt(&s["name"]),
            };
            vec![
                opt(&s["step"]),
                name,
                opt(&s["count"]),
                dec2(&s["conversion_from_previous_pct"]),
                dec2(&s["conversion_from_first_pct"]),
                opt(&s["dropped"]),
                dec2(&s["median_time_to_convert_seconds"]),
            ]
        })
        .collect();
    table(&["#", "step", "count", "from_previous_%", "from_first_%", "dropped", "median_time_s"], &cells);
    if list {
        for s in rows(doc, "steps") {
            let ids: Vec<String> = s["actors"].as_array().map(|v| v.iter().map(opt).collect()).unwrap_or_default();
            output::line(format!("step {} {}: {}", opt(&s["step"]), opt(&s["name"]), ids.join(", ")));
        }
    }
}
