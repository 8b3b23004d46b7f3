//! Scale-out (SPEC 4): every metric query that runs on Spark gives exactly
//! the embedded engine's document on the same demo workspace: the same JSON
//! text (same keys in the same order, same numbers), and the same CSV.
//!
//! The Spark tests need python3 with pyspark and a JDK, and take a few
//! minutes: they are ignored in the normal suite and run by the CI stage
//! `scripts/test-spark` (which installs both). All queries of a check share
//! one Spark session (`export-sql --run --queries FILE`), so the JVM starts
//! once per check, not once per query.

mod common;

use common::Ws;
use serde_json::Value;

/// A small demo company, with an orphan events file that no manifest names
/// (as a killed import leaves): Spark must not read it.
fn demo() -> Ws {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "150", "--events", "20000", "--seed", "7"]);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.data().join("manifest.json")).unwrap()).unwrap();
    let first = manifest["tables"]["events"]["files"][0]["path"].as_str().expect("an events file");
    let src = ws.data().join(first);
    std::fs::copy(&src, src.with_file_name("part-999999-0000.parquet")).unwrap();
    ws
}

/// Paths where two JSON values differ (at most 20), `[]` when equal.
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if out.len() >= 20 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                diff(&format!("{path}.{k}"), x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), out);
                if x.contains_key(k) != y.contains_key(k) {
                    out.push(format!("{path}.{k}: present on one side only"));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), p, q, out);
            }
        }
        _ if a != b => out.push(format!("{path}: embedded {a} / spark {b}")),
        _ => {}
    }
}

/// The two documents are the same text: values equal and keys in the same order.
#[track_caller]
fn assert_same(what: &str, embedded: &Value, spark: &Value) {
    let mut out = Vec::new();
    diff("", embedded, spark, &mut out);
    assert!(out.is_empty(), "{what}: Spark differs from the embedded engine:\n{}", out.join("\n"));
    let (e, s) = (serde_json::to_string_pretty(embedded).unwrap(), serde_json::to_string_pretty(spark).unwrap());
    assert!(e == s, "{what}: the same values, but not the same JSON text (key order)");
}

/// Run every query on Spark in one session, then each with the embedded
/// engine (`tenure metrics <query> --json`), and compare. Returns Spark's documents.
fn check(ws: &Ws, queries: &[&[&str]]) -> Vec<Value> {
    let lines: Vec<String> = queries.iter().map(|q| q.join(" ")).collect();
    let file = ws.file("queries.txt", format!("# one query a line\n{}\n", lines.join("\n")));
    let spark: Value = serde_json::from_str(&ws.ok(&["export-sql", "--run", "--queries", &file])).unwrap();
    let spark = spark.as_array().expect("an array of documents").clone();
    assert_eq!(spark.len(), queries.len());
    for (q, doc) in queries.iter().zip(&spark) {
        let mut args = vec!["metrics"];
        args.extend(*q);
        args.push("--json");
        assert_same(&q.join(" "), &ws.json(&args), doc);
    }
    spark
}

/// Fixed so that trial-to-paid conversion does not depend on today.
const AS_OF: &[&str] = &["--as-of", "2026-06-30"];

#[test]
#[ignore = "needs Spark (pyspark and a JDK): run scripts/test-spark"]
fn spark_equals_the_embedded_engine_on_the_demo() {
    let ws = demo();
    let r = |extra: &[&'static str]| -> Vec<&'static str> { [&["revenue"], AS_OF, extra].concat() };
    let rev = r(&[]);
    let rev_cut = r(&[
        "--from",
        "2025-06",
        "--to",
        "2026-03",
        "--segment",
        "plan_tier",
        "--set",
        "churn_recognition=at_request",
        "--set",
        "gross_margin=0.8",
    ]);
    let docs = check(
        &ws,
        &[
            // Defaults: the whole data range, the workspace's time zone, users.
            &["engagement"],
            &["sessions"],
            &["retention"],
            &["nps"],
            &["csat"],
            &rev,
            // Another time zone (DST), accounts, month and recurring retention,
            // shorter sessions, a stricter NPS cut-off and another confidence level.
            &["engagement", "--timezone", "America/New_York", "--by", "account"],
            &[
                "sessions",
                "--timezone",
                "America/New_York",
                "--by",
                "account",
                "--timeout",
                "600",
                "--max-length",
                "3600",
            ],
            &[
                "retention",
                "--timezone",
                "America/New_York",
                "--by",
                "account",
                "--period",
                "month",
                "--type",
                "recurring",
            ],
            &["nps", "--detractor-max", "8", "--confidence", "0.9"],
            // A date range, daily retention with a named start event, a named active event.
            &["engagement", "--from", "2026-03-01", "--to", "2026-04-15", "--event", "login"],
            &["retention", "--from", "2026-03-01", "--to", "2026-04-15", "--period", "day", "--start-event", "login"],
            &["sessions", "--from", "2026-03-01", "--to", "2026-04-15"],
            &["nps", "--from", "2026-03-01", "--to", "2026-04-15"],
            &["csat", "--from", "2026-03-01", "--to", "2026-04-15"],
            // Revenue over a range, cut by plan tier, under other rules (churn
            // at request, a gross margin for LTV and CAC payback).
            &rev_cut,
        ],
    );
    // Not a vacuous comparison: the demo has every kind of revenue figure.
    let months: Vec<&Value> = docs[5]["months"].as_object().unwrap().values().collect();
    for (k, what) in [
        ("mrr_cents", "MRR"),
        ("nrr", "NRR"),
        ("nrr_trailing_12m", "trailing NRR"),
        ("ltv_simple_cents", "LTV"),
        ("cac_cents", "CAC"),
        ("renewals_due", "renewals"),
        ("trials_started", "trials"),
        ("refunds_cents", "refunds"),
    ] {
        assert!(months.iter().any(|m| m[k].as_f64().is_some_and(|x| x != 0.0)), "the demo has {what}");
    }
    assert!(months.iter().any(|m| m["movements"]["churn"].as_f64().unwrap_or(0.0) < 0.0), "the demo has churn");
    let cohorts = docs[5]["cohorts"].as_object().unwrap();
    assert!(cohorts.values().any(|c| c["customer_retention"].as_array().unwrap().len() > 6), "cohorts are followed");
    let segments = docs[15]["segments"].as_object().unwrap();
    assert!(segments.len() >= 2, "several plan tiers: {:?}", segments.keys().collect::<Vec<_>>());

    // `tenure metrics <group> --engine spark` prints what the embedded engine
    // prints: the same CSV, byte for byte.
    let args = ["metrics", "csat", "--csv"];
    let embedded = ws.ok(&args);
    assert_eq!(embedded, ws.ok(&[&args[..], &["--engine", "spark"]].concat()));
    assert!(embedded.lines().nth(1).is_some_and(|l| l.starts_with("all,")), "{embedded}");
}

#[test]
fn export_sql_takes_the_metrics_flags_and_refuses_what_spark_does_not_run() {
    let ws = Ws::new();
    let out =
        ws.ok(&["export-sql", "--dialect", "spark", "engagement", "--timezone", "Europe/Paris", "--event", "login"]);
    assert!(out.contains("CREATE OR REPLACE TEMPORARY VIEW ev AS"), "{out}");
    assert!(out.contains("from_utc_timestamp(timestamp, 'Europe/Paris')"), "{out}");
    assert!(out.contains("event = 'login'"), "{out}");
    assert!(out.contains("-- result: days"), "{out}");
    // The flags are those of `tenure metrics`: the same parser, the same messages.
    let err = ws.fails(&["export-sql", "sessions", "--timezone", "Mars/Olympus"]);
    assert!(err.contains("--timezone \"Mars/Olympus\""), "{err}");
    let err = ws.fails(&["export-sql", "retention", "--period", "quarter"]);
    assert_eq!(err, ws.fails(&["metrics", "retention", "--period", "quarter"]));
    // What Spark does not cover is refused by name, never ignored.
    let err = ws.fails(&["metrics", "funnel", "--steps", "a,b", "--engine", "spark"]);
    assert!(err.contains("`funnel` does not run on Spark yet; Spark runs engagement, sessions"), "{err}");
    let err = ws.fails(&["metrics", "sessions", "--list", "--engine", "spark"]);
    assert!(err.contains("`sessions --list` does not run on Spark yet"), "{err}");
    let err = ws.fails(&["metrics", "nps", "--spark-master", "local[1]"]);
    assert!(err.contains("--spark-master and --spark-data need --engine spark"), "{err}");
    let file = ws.file("q.txt", "engagement --by account\nretention --period fortnight\n");
    let err = ws.fails(&["export-sql", "--queries", &file]);
    assert!(err.contains("q.txt:2:") && err.contains("fortnight"), "{err}");
}
