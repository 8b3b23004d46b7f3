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

/// 40 monthly subscribers from 2024-01-01; account i has `pulse` = 10 + 2i
/// and `noise` = 80 (even i) or 20 (odd i). The 15 accounts with pulse < 40
/// (i < 15) cancel on 2024-05-15; a late customer starting 2024-07-01 makes
/// the data reach past the 60-day window from 2024-05-01.
fn planted_churn(ws: &Ws) {
    let mut customers = String::from("id,name,pulse,noise\n");
    let mut events = String::from(
        "subscription_id,customer_id,type,date,currency,interval,unit_amount_cents,quantity,requested_at,ends_at\n",
    );
    for i in 0..40 {
        customers.push_str(&format!("a{i:02},A{i},{},{}\n", 10 + 2 * i, if i % 2 == 0 { 80 } else { 20 }));
        events.push_str(&format!("s{i},a{i:02},start,2024-01-01,USD,month,10000,1,,\n"));
        if i < 15 {
            events.push_str(&format!("s{i},a{i:02},cancel,2024-05-15,,,,,2024-05-15,2024-05-15\n"));
        }
    }
    customers.push_str("late,Late,50,50\n");
    events.push_str("s99,late,start,2024-07-01,USD,month,10000,1,,\n");
    let c = ws.file("customers.csv", customers);
    ws.ok(&["import", "customers", &c]);
    let e = ws.file("subscription_events.csv", events);
    ws.ok(&["import", "subscription_events", &e]);
}

const PLANTED_CARD: &str = r#"
[[groups]]
name = "signals"
weight = 1
  [[groups.measures]]
  input = "pulse"
  identity = true
  [[groups.measures]]
  input = "noise"
  identity = true
"#;

#[test]
fn calibrate_finds_the_measure_that_drives_churn() {
    let ws = Ws::new();
    planted_churn(&ws);
    let card = ws.file("card.toml", PLANTED_CARD);
    let args = ["churn", "calibrate", "--scorecard", &card, "--date", "2024-05-01", "--horizon-days", "60"];
    let doc = ws.json(&[&args[..], &["--json"]].concat());
    assert_eq!(doc["periods"][0]["scored_as_of"], "2024-04-30");
    // Overall = (pulse + noise) / 2: even i: (10 + 2i + 80) / 2 = 45 + i; odd i: 15 + i.
    // red (<= 50): even i 0, 2, 4 and odd i 1..35 = 3 + 18 = 21; yellow (51-75):
    // even 6..30 (13) and odd 37, 39 (2) = 15; green: even 32..38 = 4.
    // Churners i < 15: even 0, 2, 4 red, 6..14 yellow (5); odd 1..13 red (7).
    let c = &doc["calibration"];
    assert_eq!((c["accounts"].as_u64(), c["churned"].as_u64()), (Some(40), Some(15)));
    let bands: Vec<(String, u64, u64)> = c["bands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (b["band"].as_str().unwrap().to_string(), b["accounts"].as_u64().unwrap(), b["churned"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(bands, [("red".into(), 21, 10), ("yellow".into(), 15, 5), ("green".into(), 4, 0)]);
    assert!((c["bands"][0]["churn_rate_pct"].as_f64().unwrap() - 1000.0 / 21.0).abs() < 1e-9);
    assert_eq!(c["deciles"].as_array().unwrap().iter().map(|d| d["accounts"].as_u64().unwrap()).sum::<u64>(), 40);

    // The fit puts the weight on pulse, which alone separates churners.
    let s = &doc["suggestion"];
    let weight = |m: &str| {
        s["measures"].as_array().unwrap().iter().find(|x| x["measure"] == m).unwrap()["suggested_weight_pct"]
            .as_f64()
            .unwrap()
    };
    assert!(weight("pulse") > 80.0 && weight("pulse") > 4.0 * weight("noise"), "{s}");
    assert_eq!(s["measures"][0]["current_weight_pct"], 50.0);
    let auc = &s["auc_in_sample"];
    assert!(auc["suggested"].as_f64().unwrap() > auc["current"].as_f64().unwrap(), "{auc}");
    assert!(s["out_of_time"].is_null(), "one period: nothing to test out of time");
    // The snippet is a scorecard: pasted under [health] it parses and scores.
    let snippet = s["toml"].as_str().unwrap();
    std::fs::write(ws.data().join("tenure.toml"), snippet).unwrap();
    let health = ws.json(&["health", "--as-of", "2024-04-30", "--json"]);
    assert_eq!(health["scorecard"], "tenure.toml [health]");
    assert_eq!(health["accounts_scored"], 40);

    let text = ws.ok(&args);
    for want in ["Churn rate by band", "red", "47.6%", "Suggested weights", "[[health.groups]]", "input = \"pulse\""] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    // A window past the data is refused with the dates.
    let e = ws.fails(&["churn", "calibrate", "--scorecard", &card, "--date", "2024-06-01", "--horizon-days", "60"]);
    assert!(e.contains("--date 2024-06-01") && e.contains("2024-07-30") && e.contains("2024-07-01"), "{e}");
}

/// `n` monthly subscribers from 2024-01-01 at twelve price points (10 to 120
/// USD a month), one late customer so the data runs to 2025-12-31. With
/// `banded`, customers at the four middle price points (50-80 USD) cancel at
/// a random later month and the others only rarely: churn is high in a band
/// of MRR, a shape a model linear in the log-odds of ln(MRR) cannot draw.
/// Without, every customer cancels with the same chance whatever its price.
fn price_band_churn(ws: &Ws, n: usize, banded: bool) {
    let mut state: u64 = 99;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut events = String::from(
        "subscription_id,customer_id,type,date,currency,interval,unit_amount_cents,quantity,requested_at,ends_at\n",
    );
    for i in 0..n {
        let level = i % 12;
        events.push_str(&format!("s{i},c{i:04},start,2024-01-01,USD,month,{},1,,\n", 1000 * (level + 1)));
        let cancels = uniform()
            < if !banded {
                0.3
            } else if (4..8).contains(&level) {
                0.9
            } else {
                0.05
            };
        // A month from 2024-04 to 2025-11 and a day in it.
        let (month, day) = (3 + (uniform() * 20.0) as usize, 1 + (uniform() * 28.0) as usize);
        if cancels {
            let date = format!("{}-{:02}-{day:02}", 2024 + month / 12, month % 12 + 1);
            events.push_str(&format!("s{i},c{i:04},cancel,{date},,,,,{date},{date}\n"));
        }
    }
    events.push_str("late,late,start,2025-12-31,USD,month,1000,1,,\n");
    let e = ws.file("subscription_events.csv", events);
    ws.ok(&["import", "subscription_events", &e]);
}

#[test]
fn boosted_trees_win_on_a_band_of_mrr_and_are_kept() {
    let ws = Ws::new();
    price_band_churn(&ws, 1200, true);
    let doc = ws.json(&["churn", "train", "--json"]);
    let auc = |m: &str| doc["candidates"][m]["holdout"]["auc"].as_f64().unwrap();
    assert!(auc("gbm") > 0.8 && auc("gbm") > auc("logistic") + 0.1, "{}", doc["candidates"]);
    assert_eq!(doc["model_kind"], "gbm");
    assert_eq!(doc["holdout"], doc["candidates"]["gbm"]["holdout"]);
    assert!(doc["kept_because"].as_str().unwrap().contains("higher hold-out AUC"), "{}", doc["kept_because"]);
    // The rounds were chosen on training dates before the hold-out date.
    let stop = &doc["candidates"]["gbm"]["early_stopping"];
    assert!(stop["validation_from"].as_str().unwrap() < doc["holdout"]["snapshot_date"].as_str().unwrap());
    assert_eq!(doc["candidates"]["gbm"]["importance"][0]["feature"], "mrr");
    // Determinism: a second training writes the same file, byte for byte.
    let model = ws.data().join("churn-model.json");
    let first = std::fs::read(&model).unwrap();
    ws.ok(&["churn", "train"]);
    assert_eq!(std::fs::read(&model).unwrap(), first);
    let saved: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(saved["model_kind"], "gbm");

    // predict uses the trees; baseline + every driver = the log-odds.
    let p = ws.json(&["churn", "predict", "--drivers", "50", "--json"]);
    assert_eq!(p["model_kind"], "gbm");
    let base = p["baseline_logit"].as_f64().unwrap();
    for a in p["accounts"].as_array().unwrap() {
        let prob = a["churn_probability"].as_f64().unwrap();
        let sum: f64 = a["drivers"].as_array().unwrap().iter().map(|d| d["contribution"].as_f64().unwrap()).sum();
        assert!((base + sum - (prob / (1.0 - prob)).ln()).abs() < 1e-9, "{a}");
    }
    let text = ws.ok(&["churn", "predict", "--top", "3"]);
    assert!(text.contains("gradient-boosted trees") && text.contains("mrr="), "{text}");

    // --model forces the logistic model, and predict follows the file.
    let forced = ws.json(&["churn", "train", "--model", "logistic", "--json"]);
    assert_eq!(
        (forced["model_kind"].as_str(), forced["kept_because"].as_str()),
        (Some("logistic"), Some("chosen with --model"))
    );
    assert_eq!(forced["holdout"], doc["candidates"]["logistic"]["holdout"]);
    assert_eq!(ws.json(&["churn", "predict", "--json"])["model_kind"], "logistic");
    let text = ws.ok(&["churn", "train", "--model", "gbm"]);
    for want in ["Both models on the same hold-out accounts", "gradient-boosted trees", "rounds of depth 3"] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
}

#[test]
fn boosted_trees_see_nothing_when_churn_ignores_the_features() {
    let ws = Ws::new();
    price_band_churn(&ws, 1200, false);
    let doc = ws.json(&["churn", "train", "--json"]);
    let holdout = &doc["candidates"]["gbm"]["holdout"];
    // About 1,000 hold-out accounts with ~50 churns: the AUC's standard
    // error is about 0.04, so 0.15 is a margin of more than three.
    let auc = holdout["auc"].as_f64().unwrap();
    assert!((auc - 0.5).abs() < 0.15, "AUC {auc} without any signal: {holdout}");
    assert!(holdout["churned"].as_u64().unwrap() > 20, "{holdout}");
    // Early stopping found no round that helped on the later training dates.
    let rounds = doc["candidates"]["gbm"]["rounds"].as_u64().unwrap();
    assert!(rounds < 20, "{rounds} rounds of trees on noise");
}

#[test]
fn a_model_file_from_before_the_trees_still_predicts() {
    let ws = Ws::new();
    price_band_churn(&ws, 300, true);
    ws.ok(&["churn", "train", "--model", "logistic"]);
    let path = ws.data().join("churn-model.json");
    let mut saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let before = ws.json(&["churn", "predict", "--json"]);
    saved.as_object_mut().unwrap().remove("model_kind");
    std::fs::write(&path, serde_json::to_vec(&saved).unwrap()).unwrap();
    let after = ws.json(&["churn", "predict", "--json"]);
    assert_eq!(after["model_kind"], "logistic");
    assert_eq!(after["accounts"], before["accounts"]);
    // A kind that contradicts the stored model is refused with the file named.
    saved["model_kind"] = "gbm".into();
    std::fs::write(&path, serde_json::to_vec(&saved).unwrap()).unwrap();
    let e = ws.fails(&["churn", "predict"]);
    assert!(e.contains("churn-model.json") && e.contains("model_kind"), "{e}");
}
