//! Text tables and CSV of `tenure metrics revenue` (the document comes from
//! `tenure_query::revenue`).

use serde_json::Value;

use super::csv_field;
use crate::output;

/// The overall table (or CSV), then one per segment.
pub fn print(report: &Value, csv: bool) {
    let attr = report["segment_attribute"].as_str().unwrap_or("segment");
    let parts: Vec<(String, Value)> = report["segments"]
        .as_object()
        .map(|m| m.iter().map(|(v, r)| (format!("{attr} = {v}"), r.clone())).collect())
        .unwrap_or_default();
    let currency = report["reporting_currency"].as_str().unwrap_or("");
    if csv {
        print_csv(report, &parts);
    } else {
        print_table(report, currency, "all customers");
        for (title, r) in &parts {
            output::line("");
            print_table(r, currency, title);
        }
    }
}

/// The month keys in output order, movements flattened as `movements.<type>`.
fn flat_keys(month: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(o) = month.as_object() {
        for (k, v) in o {
            match v {
                Value::Object(inner) => keys.extend(inner.keys().map(|ik| format!("{k}.{ik}"))),
                _ => keys.push(k.clone()),
            }
        }
    }
    keys
}

fn get<'a>(month: &'a Value, key: &str) -> &'a Value {
    match key.split_once('.') {
        Some((a, b)) => &month[a][b],
        None => &month[key],
    }
}

/// One CSV row per month (and per segment, after the overall rows, with a
/// leading `segment` column when --segment is given).
fn print_csv(report: &Value, segments: &[(String, Value)]) {
    let Some(months) = report["months"].as_object() else { return };
    let Some(first) = months.values().next() else { return };
    let keys = flat_keys(first);
    let seg_col = if segments.is_empty() { "" } else { "segment," };
    output::line(format!("{seg_col}month,{}", keys.join(",")));
    let rows = |seg: Option<&str>, months: &serde_json::Map<String, Value>| {
        for (label, m) in months {
            let cells: Vec<String> = keys
                .iter()
                .map(|k| match get(m, k) {
                    Value::Null => String::new(),
                    v => v.to_string(),
                })
                .collect();
            let prefix = seg.map(|s| format!("{},", csv_field(s))).unwrap_or_default();
            output::line(format!("{prefix}{label},{}", cells.join(",")));
        }
    };
    rows(if segments.is_empty() { None } else { Some("") }, months);
    for (title, r) in segments {
        if let Some(ms) = r["months"].as_object() {
            rows(Some(title), ms);
        }
    }
}

pub fn print_explain(v: &Value) {
    output::line(format!("Movements in {}:", v["month"].as_str().unwrap_or("")));
    let rows = v["movements"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        output::line("  (none)");
    }
    for r in &rows {
        output::line(format!(
            "  {:<12} {:<20} {:<13} {:>12.2}",
            r["date"].as_str().unwrap_or(""),
            r["customer_id"].as_str().unwrap_or(""),
            r["type"].as_str().unwrap_or(""),
            r["amount_cents"].as_f64().unwrap_or(0.0) / 100.0
        ));
    }
    for (key, title) in [
        ("subscribers_start", "Subscribers at the start"),
        ("subscribers", "Subscribers at the end"),
        ("past_due_subscribers", "Past-due subscribers at the end"),
    ] {
        let ids: Vec<&str> =
            v[key].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        output::line(format!("{title} ({}): {}", ids.len(), ids.join(", ")));
    }
}

fn print_table(report: &Value, currency: &str, title: &str) {
    let Some(months) = report["months"].as_object() else { return };
    let money = |v: &Value| v.as_f64().map_or("-".to_string(), |c| format!("{:.2}", c / 100.0));
    let rate = |v: &Value| v.as_f64().map_or("-".to_string(), |r| format!("{:.2}%", r * 100.0));
    let count = |v: &Value| v.as_u64().map_or("-".to_string(), |n| n.to_string());
    let header = [
        "month",
        "MRR",
        "net new",
        "new",
        "expansion",
        "contraction",
        "churn",
        "reactiv.",
        "FX",
        "subs",
        "cust churn",
        "MRR churn",
        "NRR",
        "ARPA",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for (label, m) in months {
        let mv = &m["movements"];
        rows.push(vec![
            label.clone(),
            money(&m["mrr_cents"]),
            money(&m["net_new_mrr_cents"]),
            money(&mv["new_business"]),
            money(&mv["expansion"]),
            money(&mv["contraction"]),
            money(&mv["churn"]),
            money(&mv["reactivation"]),
            money(&m["fx_impact_cents"]),
            count(&m["subscribers"]),
            rate(&m["customer_churn_rate"]),
            rate(&m["gross_mrr_churn_rate"]),
            rate(&m["nrr"]),
            money(&m["arpa_cents"]),
        ]);
    }
    let widths: Vec<usize> = (0..header.len()).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    output::line(format!("Revenue, {title} (money in {currency}, rates in %; - = no denominator)"));
    for (n, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 0 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) })
            .collect();
        output::line(cells.join("  "));
        if n == 0 {
            output::line(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        }
    }
}
