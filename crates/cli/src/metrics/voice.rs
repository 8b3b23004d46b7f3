//! Text tables of `tenure metrics nps|csat|ces` (the documents come from
//! `tenure_query::voice`).

use serde_json::Value;

use crate::output;

/// A period as a title: "all time", "from A", "before B" or "A to B (exclusive)".
pub fn period_label(period: &Value) -> String {
    match (period["from"].as_str(), period["to"].as_str()) {
        (None, None) => "all time".into(),
        (Some(a), None) => format!("from {a}"),
        (None, Some(b)) => format!("before {b}"),
        (Some(a), Some(b)) => format!("{a} to {b}, exclusive"),
    }
}

pub use crate::output::table;

/// A JSON value as a table cell ("-" for null).
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        // Every fractional figure here has 2 decimals (SPEC 2 conventions).
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or(f64::NAN)),
        v => v.to_string(),
    }
}

pub fn print_tables(metric: &str, doc: &Value) {
    let (cols, header): (&[&str], &[&str]) = match metric {
        "nps" => (
            &[
                "n",
                "promoters_pct",
                "passives_pct",
                "detractors_pct",
                "nps",
                "margin_of_error",
                "ci_low",
                "ci_high",
                "low_sample",
                "skipped",
                "rejected",
            ],
            &[
                "n",
                "promoters %",
                "passives %",
                "detractors %",
                "NPS",
                "+-",
                "CI low",
                "CI high",
                "low n",
                "skipped",
                "rejected",
            ],
        ),
        "csat" => (
            &[
                "n",
                "satisfied",
                "csat_pct",
                "average",
                "top_box_threshold",
                "response_rate_pct",
                "skipped",
                "rejected",
                "error",
            ],
            &["n", "satisfied", "CSAT %", "average", "top box >=", "response %", "skipped", "rejected", "note"],
        ),
        _ => (
            &[
                "ces_variant",
                "n",
                "average",
                "direction",
                "agree_pct",
                "disagree_pct",
                "neutral_count",
                "response_rate_pct",
                "skipped",
                "rejected",
            ],
            &[
                "variant",
                "n",
                "average",
                "direction",
                "agree %",
                "disagree %",
                "neutral",
                "response %",
                "skipped",
                "rejected",
            ],
        ),
    };
    // Rows of (label, metric object); CES objects are lists of variants.
    let rows_of = |label: String, v: &Value| -> Vec<Vec<String>> {
        let objs: Vec<&Value> = match v.get("variants").or(if v.is_array() { Some(v) } else { None }) {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => vec![v],
        };
        objs.into_iter()
            .map(|o| std::iter::once(label.clone()).chain(cols.iter().map(|c| cell(&o[*c]))).collect())
            .collect()
    };
    fn with_label<'a>(first: &'a str, header: &[&'a str]) -> Vec<&'a str> {
        std::iter::once(first).chain(header.iter().copied()).collect()
    }
    let mut rows = rows_of("all".into(), &doc["overall"]);
    for s in doc["surveys"].as_array().into_iter().flatten() {
        rows.extend(rows_of(cell(&s["survey_id"]), s));
    }
    output::line(format!("{} ({})", metric.to_uppercase(), period_label(&doc["period"])));
    table(&with_label("survey", header), &rows);
    if let Some(segs) = doc["segments"].as_array() {
        output::line("");
        let rows: Vec<Vec<String>> = segs.iter().flat_map(|s| rows_of(cell(&s["segment"]), s)).collect();
        table(&with_label(doc["segment_attribute"].as_str().unwrap_or("segment"), header), &rows);
    }
    if let Some(months) = doc["months"].as_array() {
        output::line("");
        let rows: Vec<Vec<String>> = months
            .iter()
            .map(|m| {
                ["month", "n", "nps", "margin_of_error", "change", "change_standard_error", "change_significant"]
                    .iter()
                    .map(|k| cell(&m[*k]))
                    .collect()
            })
            .collect();
        table(&["month", "n", "NPS", "+-", "change", "change SE", "significant"], &rows);
    }
    if let Some(themes) = doc["themes"].as_array() {
        output::line("");
        output::line(format!("Themes over {} comment(s)", cell(&doc["comments"])));
        let rows: Vec<Vec<String>> = themes
            .iter()
            .map(|t| {
                vec![
                    cell(&t["theme"]),
                    cell(&t["comments"]),
                    cell(&t["comments_pct"]),
                    t["by_group"]
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default(),
                    t["examples"].get(0).map(cell).unwrap_or_default(),
                ]
            })
            .collect();
        table(&["theme", "comments", "%", "by group", "example"], &rows);
    }
}
