//! End-to-end: `tenure reconcile` between presets and against exported MRR
//! files, on a small workspace whose numbers are computed by hand (cents).

mod common;

use common::Ws;
use serde_json::{Value, json};

/// March 2024, month-end MRR under chartmogul (the defaults):
/// c1  10000/month; cancel requested 03-10, service ends 04-01 (stripe churns it 03-10).
/// c2   5000/month, nothing happens.
/// c3  20000/month, 25% repeating until 04-01: 15000 (stripe ignores the discount: 20000).
/// c5  10000/month, 10% repeating until 03-15: expansion +1000 on 03-15 (not under stripe).
/// c7   3000/month from 03-05, service ends 03-25: new business and churn (profitwell: neither).
/// c9   6000/month, past due since 02-20 (baremetrics auto-churns it 30 days later, 03-21).
/// c11  4000/month, moved to a 0 price on 03-12: contraction (baremetrics: churn).
/// chartmogul: MRR 10000 + 5000 + 15000 + 10000 + 6000 = 46000; subscribers c1 c2 c3 c5 c9 c11 = 6;
/// new +3000, expansion +1000, contraction -4000, churn -3000.
const EVENTS: &str = "\
subscription_id,customer_id,type,date,currency,interval,unit_amount_cents,discount_percent_off,discount_duration,discount_ends_at,requested_at,ends_at
s1,c1,start,2024-01-01,USD,month,10000,,,,,
s1,c1,cancel,2024-03-10,,,,,,,2024-03-10,2024-04-01
s2,c2,start,2024-01-15,USD,month,5000,,,,,
s3,c3,start,2024-01-01,USD,month,20000,25,repeating,2024-04-01,,
s5,c5,start,2024-01-01,USD,month,10000,10,repeating,2024-03-15,,
s7,c7,start,2024-03-05,USD,month,3000,,,,,
s7,c7,cancel,2024-03-20,,,,,,,2024-03-20,2024-03-25
s9,c9,start,2024-01-01,USD,month,6000,,,,,
s9,c9,past_due,2024-02-20,,,,,,,,
s11,c11,start,2024-01-01,USD,month,4000,,,,,
s11,c11,change,2024-03-12,,,0,,,,,
";

fn workspace() -> Ws {
    let ws = Ws::new();
    let events = ws.file("subscription_events.csv", EVENTS);
    ws.ok(&["import", "subscription_events", &events]);
    ws
}

/// (mrr, subscribers, [new, expansion, contraction, churn, reactivation]) in cents.
type Figures = (f64, i64, [f64; 5]);
/// (customer, rule, figures).
type Row = (String, String, Figures);

fn figures(v: &Value) -> Figures {
    let mv = |k: &str| v["movements"][k].as_f64().unwrap();
    (
        v["mrr_cents"].as_f64().unwrap(),
        v["subscribers"].as_i64().unwrap(),
        [mv("new_business"), mv("expansion"), mv("contraction"), mv("churn"), mv("reactivation")],
    )
}

/// The rows as (customer, rule, figures), and a check that they sum to the difference.
fn rows(doc: &Value) -> Vec<Row> {
    let rows: Vec<_> = doc["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["customer_id"].as_str().unwrap().to_string(), r["rule"].as_str().unwrap().to_string(), figures(r)))
        .collect();
    let mut sum = (0.0, 0, [0.0; 5]);
    for (_, _, f) in &rows {
        sum.0 += f.0;
        sum.1 += f.1;
        for i in 0..5 {
            sum.2[i] += f.2[i];
        }
    }
    assert_eq!(sum, figures(&doc["difference"]), "the rows sum to the difference");
    let (a, b, d) = (figures(&doc["a"]["figures"]), figures(&doc["b"]["figures"]), figures(&doc["difference"]));
    assert_eq!(d.0, b.0 - a.0);
    assert_eq!(d.1, b.1 - a.1);
    rows
}

fn reconcile(ws: &Ws, a: &str, b: &str) -> Value {
    ws.json(&["reconcile", "--month", "2024-03", "--a", a, "--b", b, "--json"])
}

fn r(c: &str, rule: &str, f: Figures) -> Row {
    (c.to_string(), rule.to_string(), f)
}

#[test]
fn chartmogul_against_stripe() {
    let ws = workspace();
    let doc = reconcile(&ws, "chartmogul", "stripe");
    assert_eq!(figures(&doc["a"]["figures"]), (46_000.0, 6, [3_000.0, 1_000.0, -4_000.0, -3_000.0, 0.0]));
    // stripe: c1 churns 03-10 (-10000), c3 at 20000, c5 without its expansion:
    // MRR 5000 + 20000 + 10000 + 6000 = 41000; subscribers 5; churn -3000 - 10000.
    assert_eq!(figures(&doc["b"]["figures"]), (41_000.0, 5, [3_000.0, 0.0, -4_000.0, -13_000.0, 0.0]));
    assert_eq!(
        rows(&doc),
        vec![
            r("c1", "churn_recognition", (-10_000.0, -1, [0.0, 0.0, 0.0, -10_000.0, 0.0])),
            r("c3", "discount_policy", (5_000.0, 0, [0.0; 5])),
            r("c5", "discount_policy", (0.0, 0, [0.0, -1_000.0, 0.0, 0.0, 0.0])),
        ]
    );
    let why = doc["customers"][1]["explanation"].as_str().unwrap();
    assert!(
        why.contains("a discount (25% off) expiring 2024-04-01 on s3 from 2024-01-01 counted under chartmogul (all), not under stripe (forever_only)"),
        "{why}"
    );
    // Each side is what `metrics revenue` reports under the same rules.
    let report = |extra: &[&str]| {
        let mut args = vec!["metrics", "revenue", "--from", "2024-03", "--to", "2024-03", "--json"];
        args.extend_from_slice(extra);
        ws.json(&args)["months"]["2024-03"].clone()
    };
    assert_eq!(figures(&report(&[])), figures(&doc["a"]["figures"]));
    let stripe = report(&["--set", "churn_recognition=at_request", "--set", "discount_policy=forever_only"]);
    assert_eq!(figures(&stripe), figures(&doc["b"]["figures"]));
}

#[test]
fn chartmogul_against_profitwell_and_baremetrics() {
    let ws = workspace();
    let doc = reconcile(&ws, "chartmogul", "profitwell");
    assert_eq!(figures(&doc["b"]["figures"]), (46_000.0, 6, [0.0, 1_000.0, -4_000.0, 0.0, 0.0]));
    assert_eq!(rows(&doc), vec![r("c7", "same_month_new_churn", (0.0, 0, [-3_000.0, 0.0, 0.0, 3_000.0, 0.0]))]);

    // baremetrics: c9 auto-churned 03-21 (-6000), c11's move to 0 is churn:
    // MRR 40000; subscribers 4; contraction 0; churn -3000 - 6000 - 4000.
    let doc = reconcile(&ws, "chartmogul", "baremetrics");
    assert_eq!(figures(&doc["b"]["figures"]), (40_000.0, 4, [3_000.0, 1_000.0, 0.0, -13_000.0, 0.0]));
    assert_eq!(
        rows(&doc),
        vec![
            r("c9", "delinquency_auto_churn_days", (-6_000.0, -1, [0.0, 0.0, 0.0, -6_000.0, 0.0])),
            r("c11", "free_plan_handling", (0.0, -1, [0.0, 0.0, 4_000.0, -4_000.0, 0.0])),
        ]
    );
    // The other way round, every sign flips.
    let back = reconcile(&ws, "baremetrics", "chartmogul");
    assert_eq!(figures(&back["difference"]), (6_000.0, 2, [0.0, 0.0, -4_000.0, 13_000.0 - 3_000.0, 0.0]));
}

#[test]
fn the_preset_flag_of_metrics_revenue_gives_the_presets_numbers() {
    let ws = workspace();
    let month = |extra: &[&str]| {
        let mut args = vec!["metrics", "revenue", "--from", "2024-03", "--to", "2024-03"];
        args.extend(extra);
        ws.json(&args)["months"]["2024-03"].clone()
    };
    // The same month as preset = "stripe" in tenure.toml gives (next test), and
    // as chartmogul (the defaults) without it.
    assert_eq!(month(&["--preset", "stripe", "--json"])["mrr_cents"], json!(41_000.0));
    assert_eq!(month(&["--preset", "chartmogul", "--json"]), month(&["--json"]));
    // --set wins over --preset: stripe with chartmogul's two differing rules is chartmogul.
    let both = ["--preset", "stripe", "--set", "churn_recognition=at_end", "--set", "discount_policy=all", "--json"];
    assert_eq!(month(&both), month(&["--json"]));
    let err = ws.fails(&["metrics", "revenue", "--preset", "zuora"]);
    assert!(err.contains("--preset") && err.contains("zuora"), "{err}");
}

#[test]
fn a_preset_in_tenure_toml_is_the_workspace_rule_set() {
    let ws = workspace();
    let toml = ws.data().join("tenure.toml");
    let text = std::fs::read_to_string(&toml).unwrap().replace("# preset = \"chartmogul\"", "preset = \"stripe\"");
    std::fs::write(&toml, text).unwrap();
    // `metrics revenue` now reports Stripe's numbers...
    let mar = ws.json(&["metrics", "revenue", "--from", "2024-03", "--to", "2024-03", "--json"]);
    assert_eq!(mar["months"]["2024-03"]["mrr_cents"], json!(41_000.0));
    // ...and the workspace (the default --a) reconciles with chartmogul as stripe does.
    let doc = ws.json(&["reconcile", "--month", "2024-03", "--b", "chartmogul", "--json"]);
    assert_eq!(doc["a"]["name"], json!("workspace"));
    assert_eq!(figures(&doc["difference"]), (5_000.0, 1, [0.0, 1_000.0, 0.0, 10_000.0, 0.0]));
    // A rule written in the file wins over the preset.
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace("# churn_recognition = \"at_end\"", "churn_recognition = \"at_end\"");
    std::fs::write(&toml, text).unwrap();
    let doc = ws.json(&["reconcile", "--month", "2024-03", "--b", "chartmogul", "--json"]);
    let switched: Vec<&str> =
        doc["rules_switched"].as_array().unwrap().iter().map(|s| s["rule"].as_str().unwrap()).collect();
    assert_eq!(switched, ["discount_policy"]);
}

#[test]
fn text_and_csv_output() {
    let ws = workspace();
    let out = ws.ok(&["reconcile", "--month", "2024-03", "--a", "chartmogul", "--b", "stripe"]);
    assert!(out.contains("Reconciliation of 2024-03: chartmogul -> stripe (money in USD)"), "{out}");
    assert!(out.contains("churn_recognition            at_end -> at_request"), "{out}");
    assert!(out.contains("By customer and rule (3 rows"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("MRR") && l.contains("460.00") && l.contains("410.00") && l.contains("-50.00")),
        "{out}"
    );
    let csv = ws.ok(&["reconcile", "--month", "2024-03", "--a", "chartmogul", "--b", "stripe", "--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "customer_id,rule,mrr_cents,subscribers,new_business_cents,expansion_cents,contraction_cents,churn_cents,reactivation_cents,explanation"
    );
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("c1,churn_recognition,-10000.0,-1,0.0,0.0,0.0,-10000.0,0.0,"), "{}", lines[1]);
    let same = ws.ok(&["reconcile", "--month", "2024-03", "--a", "workspace", "--b", "chartmogul"]);
    assert!(same.contains("agree on every contested rule"), "{same}");
}

/// Against an export (Tenure under chartmogul): c1, c2, c5 match; c3 is 20000
/// in the export (its discount not subtracted); c9 is missing from the export
/// (baremetrics's auto-churn reproduces that); c99 is only in the export; c11
/// (a subscriber at 0) is absent from it, which matches.
/// Tenure 46000, export 10000 + 5000 + 20000 + 10000 + 2500 = 47500.
fn check_against(doc: &Value, layout: &str) {
    assert_eq!(doc["layout"], json!(layout));
    assert_eq!(doc["tenure_mrr_cents"], json!(46_000.0));
    assert_eq!(doc["export_mrr_cents"], json!(47_500.0));
    assert_eq!(doc["difference_cents"], json!(1_500.0));
    assert_eq!(doc["matched_customers"], json!(4));
    let got: Vec<(String, String, f64, String)> = doc["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["customer_id"].as_str().unwrap().into(),
                r["status"].as_str().unwrap().into(),
                r["difference_cents"].as_f64().unwrap(),
                r["likely_cause"].as_str().unwrap().into(),
            )
        })
        .collect();
    let ids: Vec<(&str, &str, f64)> = got.iter().map(|g| (g.0.as_str(), g.1.as_str(), g.2)).collect();
    assert_eq!(
        ids,
        [("c9", "missing_in_export", -6_000.0), ("c3", "different", 5_000.0), ("c99", "missing_in_tenure", 2_500.0)]
    );
    let sum: f64 = got.iter().map(|g| g.2).sum::<f64>() + doc["matched_difference_cents"].as_f64().unwrap();
    assert_eq!(sum, 1_500.0);
    assert_eq!(
        got[0].3,
        "reproduced by delinquency_auto_churn_days = 30 (as baremetrics): past-due subscriptions churn after 30 days"
    );
    assert_eq!(got[1].3, "reproduced by discount_policy = forever_only (as stripe): only forever discounts reduce MRR");
    assert!(got[2].3.starts_with("not in Tenure's data"), "{}", got[2].3);
}

#[test]
fn against_exported_files_of_each_layout() {
    let ws = workspace();
    let plain = ws.file("mrr.csv", "customer_id,mrr_cents\nc1,10000\nc2,5000\nc3,20000\nc5,10000\nc99,2500\n");
    let doc = ws.json(&["reconcile", "--month", "2024-03", "--against", &plain, "--json"]);
    check_against(&doc, "customer_id,mrr_cents");
    let stripe = ws.file(
        "stripe.csv",
        "customer_id,customer_email,2024-02,2024-03\nc1,a@x.io,100.00,100.00\nc2,b@x.io,50.00,50.00\n\
         c3,c@x.io,200.00,200.00\nc5,d@x.io,100.00,100.00\nc99,z@x.io,,25.00\n",
    );
    let doc = ws.json(&["reconcile", "--month", "2024-03", "--against", &stripe, "--json"]);
    check_against(&doc, "Stripe MRR per subscriber per month");
    let chartmogul = ws.file(
        "chartmogul.csv",
        "UUID,Name,External ID,MRR,Status\ncus_a,A,c1,$100.00,Active\ncus_b,B,c2,$50.00,Active\n\
         cus_c,C,c3,\"$200.00\",Active\ncus_d,D,c5,$100.00,Active\ncus_z,Z,c99,$25.00,Active\n",
    );
    let doc = ws.json(&["reconcile", "--month", "2024-03", "--against", &chartmogul, "--json"]);
    check_against(&doc, "ChartMogul customers export");
    // The text report names the causes; CSV has one row per customer that differs.
    let out = ws.ok(&["reconcile", "--month", "2024-03", "--against", &plain]);
    assert!(out.contains("MRR: Tenure 460.00, export 475.00, difference 15.00; 4 customers match"), "{out}");
    assert!(out.contains("missing in export"), "{out}");
    let csv = ws.ok(&["reconcile", "--month", "2024-03", "--against", &plain, "--csv"]);
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.starts_with("customer_id,status,tenure_mrr_cents,export_mrr_cents,difference_cents,likely_cause\n"));
}

#[test]
fn bad_input_is_a_clear_error() {
    let ws = workspace();
    let e = ws.fails(&["reconcile", "--month", "2024-13", "--b", "stripe"]);
    assert!(e.contains("--month"), "{e}");
    let e = ws.fails(&["reconcile", "--month", "2024-03", "--b", "chargebee"]);
    assert!(e.contains("--b") && e.contains("chartmogul, stripe, profitwell, baremetrics"), "{e}");
    let e = ws.fails(&["reconcile", "--month", "2024-03"]);
    assert!(e.contains("--b") || e.contains("--against"), "{e}");
    let bad = ws.file("bad.csv", "customer_id,mrr_cents\nc1,100\nc2,12.5\n");
    let e = ws.fails(&["reconcile", "--month", "2024-03", "--against", &bad]);
    assert!(e.contains("bad.csv:3: mrr_cents: \"12.5\" is not a whole number of cents"), "{e}");
    let odd = ws.file("odd.csv", "who,amount\nc1,1\n");
    let e = ws.fails(&["reconcile", "--month", "2024-03", "--against", &odd]);
    assert!(e.contains("cannot tell the layout"), "{e}");
    let json = ws.file("mrr.json", "[]");
    let e = ws.fails(&["reconcile", "--month", "2024-03", "--against", &json]);
    assert!(e.contains("expected a CSV file"), "{e}");
    let empty = Ws::new();
    let e = empty.fails(&["reconcile", "--month", "2024-03", "--b", "stripe"]);
    assert!(e.contains("no subscription events"), "{e}");
}
