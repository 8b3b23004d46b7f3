//! `tenure metrics <group>`: the documents are computed by the query layer
//! (`tenure_query`, shared with the HTTP API); this module only prints them as
//! JSON, CSV or text tables.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::{Map, Value};
use tenure_query::MetricQuery;
use tenure_store::Workspace;

pub mod engagement;
pub mod journey;
pub mod orders;
pub mod revenue;
pub mod support;
pub mod voice;

/// How `tenure metrics <group>` prints its document, and where it computes it
/// (the flags may follow the group).
#[derive(Args, Clone, Debug)]
pub struct MetricsFormat {
    /// Print the JSON document (the same as GET /api/v1/metrics/<group>).
    #[arg(long, global = true, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV: one row per month, day, interval, cohort, step or feature (per segment with --segment).
    #[arg(long, global = true)]
    pub csv: bool,
    /// Where to compute: embedded (here), or spark (the same metric definitions as Spark SQL, run through
    /// pyspark; engagement, sessions, retention, nps, csat, revenue; docs/scale-out.md).
    #[arg(long, global = true, value_enum, default_value_t = crate::spark::Engine::Embedded)]
    pub engine: crate::spark::Engine,
    #[command(flatten)]
    pub spark: crate::spark::SparkTarget,
}

/// Print a document with `overall` and `segments[]` (each with `segment`) as
/// one row per metric and one column per group: all, then each segment.
pub(crate) fn metric_by_segment_table<'a>(
    doc: &serde_json::Value,
    rows: impl Iterator<Item = (&'a str, &'a str)>,
    fmt: impl Fn(&str, &serde_json::Value) -> String,
) {
    let mut groups: Vec<(String, &serde_json::Value)> = vec![("all".into(), &doc["overall"])];
    for s in doc["segments"].as_array().into_iter().flatten() {
        groups.push((voice::cell(&s["segment"]), s));
    }
    let mut header: Vec<&str> = vec!["metric"];
    header.extend(groups.iter().map(|(g, _)| g.as_str()));
    let cells: Vec<Vec<String>> = rows
        .map(|(label, key)| {
            std::iter::once(label.to_string()).chain(groups.iter().map(|(_, v)| fmt(key, &v[key]))).collect()
        })
        .collect();
    crate::output::table(&header, &cells);
}

pub fn run(data: &Path, query: MetricQuery, format: MetricsFormat) -> Result<ExitCode> {
    let ws = Workspace::open(data)?;
    let doc = match format.engine {
        crate::spark::Engine::Spark => crate::spark::compute(&ws, &query, &format.spark)?,
        crate::spark::Engine::Embedded if format.spark.is_set() => {
            anyhow::bail!("--spark-master and --spark-data need --engine spark")
        }
        crate::spark::Engine::Embedded => tenure_query::compute(&ws, &query)?,
    };
    if format.json {
        crate::output::json(&doc);
        return Ok(ExitCode::SUCCESS);
    }
    match &query {
        MetricQuery::Revenue(a) if a.explain.is_some() => revenue::print_explain(&doc),
        MetricQuery::Revenue(_) => revenue::print(&doc, format.csv),
        _ if format.csv => print_csv(&csv_rows(&query, &doc)),
        MetricQuery::Nps(_) => voice::print_tables("nps", &doc),
        MetricQuery::Csat(_) => voice::print_tables("csat", &doc),
        MetricQuery::Ces(_) => voice::print_tables("ces", &doc),
        MetricQuery::Engagement(a) => per_segment(&doc, |d| engagement::print_active(d, a.list)),
        MetricQuery::Stickiness(a) => per_segment(&doc, |d| engagement::print_stickiness(d, a)),
        MetricQuery::Sessions(a) => per_segment(&doc, |d| engagement::print_sessions(d, a)),
        MetricQuery::Retention(a) => per_segment(&doc, |d| engagement::print_retention(d, a)),
        MetricQuery::Lifecycle(a) => per_segment(&doc, |d| engagement::print_lifecycle(d, a)),
        MetricQuery::Adoption(a) => per_segment(&doc, |d| journey::print_adoption(d, a.list)),
        MetricQuery::Funnel(a) => per_segment(&doc, |d| journey::print_funnel(d, a.list)),
        MetricQuery::Support(a) => support::print_tables(&doc, a.list),
        MetricQuery::Orders(_) => orders::print_table(&doc),
    }
    Ok(ExitCode::SUCCESS)
}

/// An engagement document and, with `--segment`, one document per segment:
/// the header keys of the whole with the segment's body (`segments[]`).
fn segment_docs(doc: &Value) -> Vec<(Option<String>, Value)> {
    let mut base = doc.clone();
    let segments = base.as_object_mut().and_then(|o| o.remove("segments"));
    let mut out = vec![(None, base.clone())];
    for s in segments.as_ref().and_then(Value::as_array).into_iter().flatten() {
        let mut d = base.clone();
        if let (Some(o), Some(body)) = (d.as_object_mut(), s.as_object()) {
            o.extend(body.iter().filter(|(k, _)| k.as_str() != "segment").map(|(k, v)| (k.clone(), v.clone())));
        }
        out.push((Some(voice::cell(&s["segment"])), d));
    }
    out
}

/// Print the whole, then each segment as a block of its own.
fn per_segment(doc: &Value, print: impl Fn(&Value)) {
    for (segment, d) in segment_docs(doc) {
        if let Some(s) = segment {
            crate::output::line("");
            crate::output::line(format!("Segment {} = {s}", voice::cell(&doc["segment_attribute"])));
        }
        print(&d);
    }
}

/// The rows of a group's main table, for CSV: each a flat object.
fn csv_rows(query: &MetricQuery, doc: &Value) -> Vec<Map<String, Value>> {
    let engagement_like = matches!(
        query,
        MetricQuery::Engagement(_)
            | MetricQuery::Stickiness(_)
            | MetricQuery::Sessions(_)
            | MetricQuery::Retention(_)
            | MetricQuery::Lifecycle(_)
            | MetricQuery::Adoption(_)
            | MetricQuery::Funnel(_)
    );
    if engagement_like && doc.get("segments").is_some() {
        // The whole (segment "all"), then each segment's rows, with a segment column first.
        let mut out = Vec::new();
        for (segment, d) in segment_docs(doc) {
            for row in main_rows(query, &d) {
                let mut m = Map::new();
                m.insert("segment".into(), Value::from(segment.clone().unwrap_or_else(|| "all".into())));
                m.extend(row);
                out.push(m);
            }
        }
        return out;
    }
    main_rows(query, doc)
}

fn main_rows(query: &MetricQuery, doc: &Value) -> Vec<Map<String, Value>> {
    let array = |key: &str| -> Vec<Value> { doc[key].as_array().cloned().unwrap_or_default() };
    let list: Vec<Value> = match query {
        MetricQuery::Engagement(_) => array("days"),
        MetricQuery::Lifecycle(_) => array("intervals"),
        MetricQuery::Retention(_) => array("cohorts"),
        MetricQuery::Adoption(_) => array("features"),
        MetricQuery::Funnel(_) => array("steps"),
        MetricQuery::Stickiness(_) => {
            let (a, c) = (array("actors"), array("cumulative_actors"));
            let unit = doc["interval"].as_str().unwrap_or("interval").to_string();
            (0..a.len())
                .map(|i| {
                    let mut m = Map::new();
                    m.insert(unit.clone(), Value::from(i + 1));
                    m.insert("actors".into(), a[i].clone());
                    m.insert("cumulative_actors".into(), c.get(i).cloned().unwrap_or(Value::Null));
                    Value::Object(m)
                })
                .collect()
        }
        MetricQuery::Sessions(a) if a.list => array("sessions"),
        MetricQuery::Sessions(a) if a.breakdown => array(&format!("by_{}", a.range.by.name())),
        MetricQuery::Sessions(_) => {
            let keys =
                ["session_count", "average_session_duration_seconds", "total_time_seconds", "single_event_sessions"];
            vec![Value::Object(keys.iter().map(|k| (k.to_string(), doc[*k].clone())).collect())]
        }
        // overall, then each segment: one row per group (per CES variant).
        _ => {
            let mut out = Vec::new();
            let mut push = |label: &str, v: &Value| {
                let items: Vec<&Value> = match v.get("variants").or(v.is_array().then_some(v)) {
                    Some(Value::Array(a)) => a.iter().collect(),
                    _ => vec![v],
                };
                for it in items {
                    let mut m = Map::new();
                    m.insert("segment".into(), Value::from(label));
                    if let Some(o) = it.as_object() {
                        m.extend(
                            o.iter().filter(|(k, _)| k.as_str() != "segment").map(|(k, v)| (k.clone(), v.clone())),
                        );
                    }
                    out.push(Value::Object(m));
                }
            };
            push("all", &doc["overall"]);
            for s in doc["segments"].as_array().into_iter().flatten() {
                push(s["segment"].as_str().unwrap_or(""), s);
            }
            out
        }
    };
    list.iter().map(flatten).collect()
}

/// One CSV row from a JSON object: nested objects as `key.sub`, arrays of
/// numbers as `key_0, key_1, ...`, arrays of ids joined by spaces.
fn flatten(v: &Value) -> Map<String, Value> {
    fn go(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    go(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, x, out);
                }
            }
            Value::Array(a) if a.iter().all(|x| x.is_number() || x.is_null()) => {
                for (i, x) in a.iter().enumerate() {
                    out.insert(format!("{prefix}_{i}"), x.clone());
                }
            }
            Value::Array(a) => {
                let ids: Vec<String> = a.iter().map(engagement::opt).collect();
                out.insert(prefix.to_string(), Value::from(ids.join(" ")));
            }
            x => {
                out.insert(prefix.to_string(), x.clone());
            }
        }
    }
    let mut out = Map::new();
    go("", v, &mut out);
    out
}

/// CSV with a header row: the union of the rows' columns in first-seen order.
fn print_csv(rows: &[Map<String, Value>]) {
    let mut cols: Vec<&str> = Vec::new();
    for r in rows {
        for k in r.keys() {
            if !cols.contains(&k.as_str()) {
                cols.push(k);
            }
        }
    }
    crate::output::line(cols.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
    for r in rows {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match r.get(*c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => csv_field(s),
                Some(v) => csv_field(&v.to_string()),
            })
            .collect();
        crate::output::line(cells.join(","));
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}
