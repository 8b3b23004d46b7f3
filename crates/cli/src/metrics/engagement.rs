//! Text tables of `tenure metrics engagement|stickiness|sessions|retention|
//! lifecycle` (the documents come from `tenure_query::engagement`).

use serde_json::Value;
use tenure_query::engagement::{LifecycleArgs, RetentionArgs, SessionsArgs, StickinessArgs};

use crate::output;
pub(crate) use crate::output::table;

pub(crate) fn opt(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// A session figure for a table cell: means with 2 decimals.
fn cell(key: &str, v: &Value) -> String {
    if key.starts_with("average") { dec2(v) } else { opt(v) }
}

/// A percentage or mean for a table cell: 2 decimals, `-` for null.
pub(crate) fn dec2(v: &Value) -> String {
    v.as_f64().map_or_else(|| "-".to_string(), |f| format!("{f:.2}"))
}

fn list_text(v: &Value) -> String {
    v.as_array().map(|a| a.iter().map(opt).collect::<Vec<_>>().join(", ")).unwrap_or_default()
}

pub(crate) fn rows<'a>(doc: &'a Value, key: &str) -> &'a [Value] {
    doc[key].as_array().map(Vec::as_slice).unwrap_or_default()
}

pub fn print_active(doc: &Value, list: bool) {
    output::line(format!(
        "Active {}s ({}; days in {})",
        opt(&doc["by"]),
        opt(&doc["active_event"]),
        opt(&doc["timezone"])
    ));
    let cols = ["date", "dau", "wau", "mau", "dau_mau_ratio", "wau_mau_ratio"];
    let cells: Vec<Vec<String>> =
        rows(doc, "days").iter().map(|v| cols.iter().map(|c| cell(c, &v[*c])).collect()).collect();
    table(&cols, &cells);
    if list {
        for v in rows(doc, "days") {
            for key in ["dau_users", "wau_users", "mau_users"] {
                output::line(format!("{} {key}: {}", opt(&v["date"]), list_text(&v[key])));
            }
        }
    }
}

pub fn print_stickiness(doc: &Value, _a: &StickinessArgs) {
    let p = opt(&doc["interval"]);
    let by = opt(&doc["by"]);
    output::line(format!(
        "Stickiness: {by}s active on n {p}s ({}; {} {by}s)",
        opt(&doc["active_event"]),
        opt(&doc["total_actors"]),
    ));
    let (actors, cumulative) = (rows(doc, "actors"), rows(doc, "cumulative_actors"));
    let cells: Vec<Vec<String>> = (0..actors.len())
        .map(|i| vec![(i + 1).to_string(), opt(&actors[i]), cumulative.get(i).map(opt).unwrap_or_default()])
        .collect();
    table(&[p.as_str(), "actors", "cumulative_actors"], &cells);
}

pub fn print_sessions(doc: &Value, a: &SessionsArgs) {
    output::line(format!(
        "Sessions (all events of a user; split after more than {} s idle, at most {} s long; days in {})",
        a.timeout,
        a.max_length,
        opt(&doc["timezone"])
    ));
    let cols = ["session_count", "average_session_duration_seconds", "total_time_seconds", "single_event_sessions"];
    table(&["measure", "value"], &cols.iter().map(|k| vec![k.to_string(), cell(k, &doc[*k])]).collect::<Vec<_>>());
    let by = a.range.by.name();
    for (first, key, id) in [(by, format!("by_{by}"), "id"), ("date", "by_day".to_string(), "date")] {
        if doc.get(&key).is_none() {
            continue;
        }
        output::line("");
        let mut head = vec![first];
        head.extend(cols);
        let cells: Vec<Vec<String>> = rows(doc, &key)
            .iter()
            .map(|v| std::iter::once(opt(&v[id])).chain(cols.iter().map(|c| cell(c, &v[*c]))).collect())
            .collect();
        table(&head, &cells);
    }
    if a.list {
        output::line("");
        let cols = ["user_id", "start", "end", "event_count", "duration_seconds"];
        let cells: Vec<Vec<String>> =
            rows(doc, "sessions").iter().map(|v| cols.iter().map(|c| cell(c, &v[*c])).collect()).collect();
        table(&cols, &cells);
    }
}

pub fn print_retention(doc: &Value, _a: &RetentionArgs) {
    output::line(format!(
        "Retention ({}, by {}; {}s in {}; start: {}; return: {}); % of cohort",
        opt(&doc["retention_type"]),
        opt(&doc["by"]),
        opt(&doc["period"]),
        opt(&doc["timezone"]),
        opt(&doc["start_event"]),
        opt(&doc["return_event"]),
    ));
    let n = rows(doc, "cohorts").len();
    let mut head: Vec<String> = vec!["cohort".into(), "size".into()];
    head.extend((0..n).map(|k| k.to_string()));
    let mut cells: Vec<Vec<String>> = rows(doc, "cohorts")
        .iter()
        .map(|c| {
            let mut r = vec![opt(&c["cohort_date"]), opt(&c["cohort_size"])];
            r.extend(rows(c, "retained_pct").iter().map(dec2));
            r.resize(n + 2, String::new());
            r
        })
        .collect();
    for (label, key) in
        [("mean (weighted)", "mean_retained_pct_weighted"), ("mean (simple)", "mean_retained_pct_simple")]
    {
        let mut r = vec![label.to_string(), String::new()];
        r.extend(rows(doc, key).iter().map(dec2));
        cells.push(r);
    }
    let head_refs: Vec<&str> = head.iter().map(|s| s.as_str()).collect();
    table(&head_refs, &cells);
}

pub fn print_lifecycle(doc: &Value, a: &LifecycleArgs) {
    output::line(format!(
        "Lifecycle of {}s by {} ({}; days in {}; dormant = active the interval before, not in this one)",
        opt(&doc["by"]),
        opt(&doc["period"]),
        opt(&doc["active_event"]),
        opt(&doc["timezone"]),
    ));
    let cols = ["date", "new", "returning", "resurrecting", "dormant"];
    let cells: Vec<Vec<String>> =
        rows(doc, "intervals").iter().map(|v| cols.iter().map(|c| opt(&v[*c])).collect()).collect();
    table(&cols, &cells);
    if a.list {
        for v in rows(doc, "intervals") {
            for status in ["new", "returning", "resurrecting", "dormant"] {
                output::line(format!("{} {status}: {}", opt(&v["date"]), list_text(&v["users"][status])));
            }
        }
    }
}
