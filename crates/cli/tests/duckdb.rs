//! The workspace's Parquet files are real Parquet that an independent engine
//! reads: DuckDB (Python) computes the same aggregates from the files the
//! manifest names as `tenure sql` does.

mod common;

use std::process::Command;

use common::Ws;

const CHECKS: &[(&str, &str)] = &[
    ("customers", "count(*)"),
    ("subscription_events", "sum(unit_amount_cents * coalesce(quantity, 1))"),
    ("subscription_events", "count(distinct subscription_id)"),
    ("invoice_line_items", "sum(amount_cents)"),
    ("invoice_transactions", "sum(case when result = 'successful' then amount_cents else 0 end)"),
    ("events", "count(*)"),
    ("events", "count(distinct user_id)"),
    ("events", "count(distinct cast(timestamp as date))"),
    ("survey_responses", "sum(case when score >= 9 then 1 else 0 end)"),
    ("tickets", "sum(coalesce(replies, 0))"),
    ("costs", "sum(amount_cents)"),
];

const ORACLE: &str = r#"
import duckdb, json, sys
root, checks = sys.argv[1], json.loads(sys.argv[2])
manifest = json.load(open(root + "/manifest.json"))
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
out = []
for table, expr in checks:
    files = [root + "/" + f["path"] for f in manifest["tables"][table]["files"]]
    v = con.execute(f"select {expr} from read_parquet({files!r})").fetchone()[0]
    out.append(None if v is None else int(v))
print(json.dumps(out))
"#;

#[test]
fn duckdb_reads_the_same_numbers_from_the_workspace_files() {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "80", "--events", "30000", "--seed", "11"]);
    let checks: Vec<(String, String)> = CHECKS.iter().map(|(t, e)| (t.to_string(), e.to_string())).collect();
    let out = Command::new("python3")
        .args(["-c", ORACLE, ws.data().to_str().unwrap(), &serde_json::to_string(&checks).unwrap()])
        .output()
        .expect("python3 runs (./scripts/test installs duckdb)");
    assert!(out.status.success(), "duckdb oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let duck: Vec<Option<i64>> = serde_json::from_slice(&out.stdout).unwrap();
    for ((table, expr), expected) in CHECKS.iter().zip(duck) {
        let got = ws.sql(&format!("select cast({expr} as bigint) as v from {table}"))[0]["v"].as_i64();
        assert_eq!(got, expected, "{table}: {expr}");
        assert!(expected.is_some_and(|v| v > 0), "{table}: {expr} should not be empty in the demo");
    }
}
