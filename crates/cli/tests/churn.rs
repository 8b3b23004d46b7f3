//! `tenure churn` on the real binary: the generic mode on a small CSV checked
//! against an independent fit (scripts/oracle/churn_logistic.py, plain
//! Python), and train / predict on a small demo workspace.

mod common;

use std::path::Path;
use std::process::Command;

use common::Ws;
use serde_json::Value;

/// A deterministic table of 400 accounts: churn rises with tickets and falls
/// with usage; the `plan` column adds risk for `starter`; `usage` is missing
/// on some rows; `noise` carries nothing.
fn accounts_csv() -> String {
    let mut state: u64 = 12345;
    let mut uniform = move || {
        // A 64-bit LCG (Knuth's MMIX constants): plenty for test data.
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = String::from("id,usage,tickets,plan,noise,churned\n");
    for i in 0..400 {
        let usage = (uniform() * 100.0).round();
        let tickets = (uniform() * 5.0).floor();
        let plan = ["starter", "growth", "enterprise"][(uniform() * 3.0) as usize % 3];
        let noise = (uniform() * 1000.0).round() / 10.0;
        let z = -0.5 - 0.03 * usage + 0.5 * tickets + if plan == "starter" { 0.7 } else { 0.0 };
        let churned = uniform() < 1.0 / (1.0 + (-z).exp());
        let usage = if i % 13 == 0 { String::new() } else { usage.to_string() };
        out.push_str(&format!("acc{i},{usage},{tickets},{plan},{noise},{}\n", u8::from(churned)));
    }
    out
}

fn oracle(csv: &str, label: &str, l2: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oracle/churn_logistic.py");
    let out = Command::new("python3").arg(script).args([csv, label, l2]).output().expect("python3 runs");
    assert!(out.status.success(), "oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}

#[test]
fn file_mode_matches_an_independent_fit() {
    let ws = Ws::uninitialised();
    let csv = ws.file("accounts.csv", accounts_csv());
    for l2 in ["1", "0.25"] {
        let doc = ws.json(&[
            "churn",
            "train",
            "--from-file",
            &csv,
            "--label",
            "churned",
            "--holdout-fraction",
            "0",
            "--l2",
            l2,
            "--json",
        ]);
        let reference = oracle(&csv, "churned", l2);
        assert_eq!(doc["rows"], 400);
        assert_eq!(doc["id_column"], "id");
        assert!(doc["holdout"].is_null());
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6 * (1.0 + b.abs());
        assert!(close(doc["intercept"].as_f64().unwrap(), reference["intercept"].as_f64().unwrap()), "intercept");
        let ours = doc["coefficients"].as_array().unwrap();
        let theirs = reference["coefficients"].as_object().unwrap();
        assert_eq!(ours.len(), theirs.len(), "same design columns: {ours:?} vs {theirs:?}");
        for c in ours {
            let col = c["column"].as_str().unwrap();
            let want = theirs.get(col).unwrap_or_else(|| panic!("oracle has no column {col}")).as_f64().unwrap();
            assert!(close(c["coefficient"].as_f64().unwrap(), want), "{col}: {} vs {want}", c["coefficient"]);
        }
    }
}

#[test]
fn file_mode_holdout_finds_the_signal_and_prints_a_report() {
    let ws = Ws::uninitialised();
    let csv = ws.file("accounts.csv", accounts_csv());
    let doc = ws.json(&["churn", "train", "--from-file", &csv, "--label", "churned", "--json"]);
    let holdout = &doc["holdout"];
    assert!(holdout["accounts"].as_u64().unwrap() > 60, "{holdout}");
    assert!(holdout["auc"].as_f64().unwrap() > 0.7, "{holdout}");
    assert_eq!(holdout["calibration"].as_array().unwrap().len(), 10);
    // The same seed gives the same split and figures; another seed another split.
    let again = ws.json(&["churn", "train", "--from-file", &csv, "--label", "churned", "--json"]);
    assert_eq!(again["holdout"], doc["holdout"]);
    let other = ws.json(&["churn", "train", "--from-file", &csv, "--label", "churned", "--seed", "7", "--json"]);
    assert_ne!(other["holdout"]["accounts"], Value::Null);
    assert_ne!(other["holdout"], doc["holdout"]);
    let text = ws.ok(&["churn", "train", "--from-file", &csv, "--label", "churned"]);
    for want in ["ROC AUC", "precision at top 10%", "decile", "plan=starter", "tickets"] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
}

#[test]
fn file_mode_errors_name_the_problem() {
    let ws = Ws::uninitialised();
    let csv = ws.file("accounts.csv", accounts_csv());
    let e = ws.fails(&["churn", "train", "--from-file", &csv, "--label", "left"]);
    assert!(e.contains("accounts.csv") && e.contains("\"left\"") && e.contains("churned"), "{e}");
    let bad = ws.file("bad.csv", "id,usage,churned\na,1,1\nb,2,maybe\n");
    let e = ws.fails(&["churn", "train", "--from-file", &bad, "--label", "churned"]);
    assert!(e.contains("bad.csv") && e.contains("line 3") && e.contains("maybe"), "{e}");
    let e = ws.fails(&["churn", "train", "--label", "churned"]);
    assert!(e.contains("--from-file"), "{e}");
}

#[test]
fn train_and_predict_on_a_demo_workspace() {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "150", "--events", "40000", "--seed", "3"]);
    let e = ws.fails(&["churn", "predict"]);
    assert!(e.contains("tenure churn train"), "{e}");

    let doc = ws.json(&["churn", "train", "--horizon-days", "90", "--json"]);
    let holdout = &doc["holdout"];
    assert!(holdout["auc"].is_number(), "{holdout}");
    assert!(holdout["accounts"].as_u64().unwrap() > 30, "{holdout}");
    let test_date = holdout["snapshot_date"].as_str().unwrap();
    for d in doc["train"]["snapshot_dates"].as_array().unwrap() {
        // Label windows of training snapshots end by the test date (90 days <= 3 months).
        assert!(d.as_str().unwrap() < test_date);
    }
    assert!(ws.data().join("churn-model.json").is_file());
    let names: Vec<&str> =
        doc["coefficients"].as_array().unwrap().iter().map(|c| c["feature"].as_str().unwrap()).collect();
    assert!(names.contains(&"usage_trend_30d") && names.contains(&"slow_tickets_90d"), "{names:?}");

    let p = ws.json(&["churn", "predict", "--json"]);
    let accounts = p["accounts"].as_array().unwrap();
    assert!(accounts.len() > 30);
    let probs: Vec<f64> = accounts.iter().map(|a| a["churn_probability"].as_f64().unwrap()).collect();
    assert!(probs.iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert!(probs.windows(2).all(|w| w[0] >= w[1]), "riskiest first");
    assert_eq!(accounts[0]["drivers"].as_array().unwrap().len(), 3);

    let id = accounts[5]["account_id"].as_str().unwrap();
    let one = ws.json(&["churn", "predict", "--account", id, "--json"]);
    assert_eq!(one["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(one["accounts"][0], accounts[5]);
    let e = ws.fails(&["churn", "predict", "--account", "nobody"]);
    assert!(e.contains("nobody"), "{e}");

    let csv = ws.ok(&["churn", "predict", "--csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("account_id,churn_probability,mrr,cancellation_pending,driver_1,driver_2,driver_3"));
    assert_eq!(lines.count(), accounts.len());
    let table = ws.ok(&["churn", "predict", "--top", "5"]);
    assert!(
        table.contains("top drivers") && table.contains(&format!("of {} accounts shown", accounts.len())),
        "{table}"
    );
}
