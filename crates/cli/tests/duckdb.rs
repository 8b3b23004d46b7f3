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

    // NPS per month of submitted_at (the demo's zone is UTC), tallied from the
    // Arrow columns, against DuckDB's sums.
    let nps = ws.json(&["metrics", "nps", "--json"]);
    let out =
        Command::new("python3").args(["-c", NPS_ORACLE, ws.data().to_str().unwrap()]).output().expect("python3 runs");
    assert!(out.status.success(), "duckdb oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let duck: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let months = nps["months"].as_array().unwrap();
    assert_eq!(months.len(), duck.as_object().unwrap().len());
    for m in months {
        let want = &duck[m["month"].as_str().unwrap()];
        for (i, key) in ["n", "promoters", "passives", "detractors", "skipped", "rejected"].iter().enumerate() {
            assert_eq!(m[key], want[i], "{key} of {}", m["month"]);
        }
    }
    // The drill-down reads whole rows: the same figures beside its answers.
    let mut listed = ws.json(&["metrics", "nps", "--list", "--json"]);
    assert!(listed.as_object_mut().unwrap().remove("answers").is_some());
    assert_eq!(listed, nps);
    let one = nps["surveys"][0]["survey_id"].as_str().unwrap();
    let mut listed = ws.json(&["metrics", "nps", "--survey", one, "--from", "2025-01-01", "--list", "--json"]);
    listed.as_object_mut().unwrap().remove("answers");
    assert_eq!(listed, ws.json(&["metrics", "nps", "--survey", one, "--from", "2025-01-01", "--json"]));
}

const NPS_ORACLE: &str = r#"
import duckdb, json, sys
root = sys.argv[1]
manifest = json.load(open(root + "/manifest.json"))
files = [root + "/" + f["path"] for f in manifest["tables"]["survey_responses"]["files"]]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
rows = con.execute(f"""
  select strftime(submitted_at, '%Y-%m'),
    coalesce(sum(count) filter (where score is not null and rejected_reason is null), 0),
    coalesce(sum(count) filter (where score >= 9 and rejected_reason is null), 0),
    coalesce(sum(count) filter (where score in (7, 8) and rejected_reason is null), 0),
    coalesce(sum(count) filter (where score <= 6 and rejected_reason is null), 0),
    coalesce(sum(count) filter (where score is null), 0),
    coalesce(sum(count) filter (where score is not null and rejected_reason is not null), 0)
  from read_parquet({files!r}) where survey_type = 'nps' and submitted_at is not null group by 1""").fetchall()
print(json.dumps({m: [int(x) for x in r] for m, *r in rows}))
"#;
