//! End-to-end: `tenure metrics revenue` on a small hand-built workspace, checked
//! against numbers computed by hand (amounts in cents).

mod common;

use common::Ws;
use serde_json::{Value, json};

/// c1: yearly 1200.00 from 2024-01-10 => 120000 / 12 = 10000 a month; cancel
///     requested 2024-02-20, service ends 2024-03-10 (churn on 03-10 at_end).
/// c2: monthly 50.00 x 2 from 2024-01-15 => 10000; quantity 3 on 2024-02-01
///     => 15000: expansion +5000.
/// c3: trial from 2024-02-03; weekly 15.00 from 2024-02-17 => 1500 x 52 / 12 = 6500.
/// c4: monthly 100.00 in EUR from 2024-03-05; rate EUR 1.10 (Feb, carried to Mar),
///     1.20 in Apr => New Business 10000 x 1.10 = 11000 in March; April MRR
///     12000 with no movement: fx_impact +1000.
const EVENTS: &str = "\
subscription_id,customer_id,type,date,currency,interval,unit_amount_cents,quantity,requested_at,ends_at
s1,c1,start,2024-01-10,USD,year,120000,1,,
s2,c2,start,2024-01-15,USD,month,5000,2,,
s2,c2,change,2024-02-01,,,,3,,
s3,c3,trial_start,2024-02-03,USD,,,,,
s3,c3,start,2024-02-17,USD,week,1500,1,,
s1,c1,cancel,2024-02-20,,,,,2024-02-20,2024-03-10
s4,c4,start,2024-03-05,EUR,month,10000,1,,
";

const FX: &str = "currency,month,rate_to_reporting\nEUR,2024-02,1.10\nEUR,2024-04,1.20\n";

fn workspace() -> Ws {
    let ws = Ws::new();
    let events = ws.file("subscription_events.csv", EVENTS);
    ws.ok(&["import", "subscription_events", &events]);
    let fx = ws.file("fx_rates.csv", FX);
    ws.ok(&["import", "fx_rates", &fx]);
    ws
}

fn report(ws: &Ws, extra: &[&str]) -> Value {
    let mut args =
        vec!["metrics", "revenue", "--from", "2024-01", "--to", "2024-04", "--as-of", "2024-12-31", "--json"];
    args.extend_from_slice(extra);
    ws.json(&args)
}

#[test]
fn revenue_months_by_hand() {
    let ws = workspace();
    let r = report(&ws, &[]);
    let m = &r["months"];
    // January: c1 10000 + c2 10000.
    assert_eq!(m["2024-01"]["mrr_cents"], json!(20_000.0));
    assert_eq!(m["2024-01"]["arr_cents"], json!(240_000.0));
    assert_eq!(m["2024-01"]["movements"]["new_business"], json!(20_000.0));
    assert_eq!(m["2024-01"]["new_business_customers"], json!(2));
    assert_eq!(m["2024-01"]["arpa_cents"], json!(10_000.0));
    // February: 10000 + 15000 + 6500 = 31500; new 6500, expansion 5000; c1 still a subscriber (at_end).
    let feb = &m["2024-02"];
    assert_eq!(feb["mrr_cents"], json!(31_500.0));
    assert_eq!(feb["movements"]["new_business"], json!(6_500.0));
    assert_eq!(feb["movements"]["expansion"], json!(5_000.0));
    assert_eq!(feb["net_new_mrr_cents"], json!(11_500.0));
    assert_eq!(feb["subscribers"], json!(3));
    assert_eq!(feb["subscribers_start"], json!(2));
    assert_eq!(feb["trials_started"], json!(1));
    assert_eq!(feb["trial_to_paid_conversion_rate"], json!(1.0));
    assert_eq!(feb["nrr"], json!(1.25)); // (20000 + 5000) / 20000
    assert_eq!(feb["grr"], json!(1.0));
    assert_eq!(feb["churned_customers"], json!(0));
    // March: c1 churns -10000 on 03-10; c4 new 11000 (EUR 10000 x 1.10).
    // MRR 15000 + 6500 + 11000 = 32500.
    let mar = &m["2024-03"];
    assert_eq!(mar["movements"]["churn"], json!(-10_000.0));
    assert_eq!(mar["movements"]["new_business"], json!(11_000.0));
    assert_eq!(mar["mrr_cents"], json!(32_500.0));
    assert_eq!(mar["fx_impact_cents"], json!(0.0));
    assert_eq!(mar["subscribers"], json!(3)); // c2, c3, c4
    assert_eq!(mar["churned_customers"], json!(1));
    assert_eq!(mar["customer_churn_rate"], json!(0.3333)); // 1 / 3
    assert_eq!(mar["gross_mrr_churn_rate"], json!(0.3175)); // 10000 / 31500 = 0.31746
    assert_eq!(mar["nrr"], json!(0.6825)); // (31500 - 10000) / 31500 = 0.68254
    assert_eq!(mar["quick_ratio"], json!(1.1)); // 11000 / 10000
    // ARPA 32500 / 3 = 10833.33; LTV = ARPA / (1/3) = 32500 exactly.
    assert_eq!(mar["arpa_cents"], json!(10_833.33));
    assert_eq!(mar["ltv_simple_cents"], json!(32_500.0));
    // April: EUR at 1.20: c4 12000; no movements; fx_impact = 33500 - 32500 - 0 = 1000.
    let apr = &m["2024-04"];
    assert_eq!(apr["mrr_cents"], json!(33_500.0));
    assert_eq!(apr["net_new_mrr_cents"], json!(0.0));
    assert_eq!(apr["fx_impact_cents"], json!(1_000.0));
    // Cohorts: Jan (c1, c2; value 20000): retention 1, 1, 0.5, 0.5; MRR 20000, 25000, 15000, 15000.
    let jan = &r["cohorts"]["2024-01"];
    assert_eq!(jan["size"], json!(2));
    assert_eq!(jan["cohort_value_cents"], json!(20_000.0));
    assert_eq!(jan["customer_retention"], json!([1.0, 1.0, 0.5, 0.5]));
    assert_eq!(jan["net_mrr_retention"], json!([1.0, 1.25, 0.75, 0.75]));
    // Mar (c4, value 11000): April 12000 / 11000 = 1.0909 (FX included).
    assert_eq!(r["cohorts"]["2024-03"]["net_mrr_retention"], json!([1.0, 1.0909]));
}

#[test]
fn settings_override_on_the_command_line() {
    let ws = workspace();
    // at_request: c1's churn is dated 2024-02-20 (February) instead of 03-10.
    let r = report(&ws, &["--set", "churn_recognition=at_request"]);
    assert_eq!(r["months"]["2024-02"]["movements"]["churn"], json!(-10_000.0));
    assert_eq!(r["months"]["2024-02"]["mrr_cents"], json!(21_500.0));
    assert_eq!(r["months"]["2024-03"]["churned_customers"], json!(0));
    let err = ws.fails(&["metrics", "revenue", "--set", "churn_recognition=later"]);
    assert!(err.contains("at_request"), "{err}");
    let err = ws.fails(&["metrics", "revenue", "--set", "colour=blue"]);
    assert!(err.contains("unknown revenue setting"), "{err}");
}

#[test]
fn table_and_csv_output() {
    let ws = workspace();
    let table = ws.ok(&["metrics", "revenue", "--from", "2024-01", "--to", "2024-04"]);
    assert!(table.contains("2024-03"), "{table}");
    assert!(table.contains("325.00"), "{table}"); // March MRR in dollars
    let csv = ws.ok(&["metrics", "revenue", "--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("month,mrr_cents,"), "{csv}");
    // default range: the months of the data, 2024-01 (first start) to 2024-03 (last change, the churn)
    assert!(lines[1].starts_with("2024-01,20000.0,"), "{csv}");
    assert_eq!(lines.len(), 4, "{csv}");
}

#[test]
fn empty_workspace_says_what_to_do() {
    let ws = Ws::new();
    let err = ws.fails(&["metrics", "revenue"]);
    assert!(err.contains("import"), "{err}");
}

#[test]
fn segments_and_explain() {
    let ws = workspace();
    let customers = ws.file("customers.csv", "id,name,segment\nc1,One,smb\nc2,Two,smb\nc3,Three,enterprise\n");
    ws.ok(&["import", "customers", &customers]);
    let r = report(&ws, &["--segment", "segment"]);
    let smb = &r["segments"]["smb"]["months"];
    // smb = c1 + c2: January 20000; March 15000 after c1's churn (-10000): NRR (25000 - 10000) / 25000 = 0.6.
    assert_eq!(smb["2024-01"]["mrr_cents"], json!(20_000.0));
    assert_eq!(smb["2024-03"]["mrr_cents"], json!(15_000.0));
    assert_eq!(smb["2024-03"]["nrr"], json!(0.6));
    assert_eq!(smb["2024-03"]["cac_cents"], Value::Null);
    // enterprise = c3 (6500 from February); c4 has no customer row: "(none)", 11000 from March.
    assert_eq!(r["segments"]["enterprise"]["months"]["2024-02"]["mrr_cents"], json!(6_500.0));
    assert_eq!(r["segments"]["(none)"]["months"]["2024-03"]["mrr_cents"], json!(11_000.0));
    // the overall figures are unchanged
    assert_eq!(r["months"]["2024-03"]["mrr_cents"], json!(32_500.0));

    let out = ws.ok(&["metrics", "revenue", "--explain", "2024-03", "--json"]);
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        e["movements"],
        json!([
            {"customer_id": "c1", "date": "2024-03-10", "type": "churn", "amount_cents": -10_000.0, "subscriptions": ["s1"]},
            {"customer_id": "c4", "date": "2024-03-05", "type": "new_business", "amount_cents": 11_000.0, "subscriptions": ["s4"]}
        ])
    );
    assert_eq!(e["subscribers_start"], json!(["c1", "c2", "c3"]));
    assert_eq!(e["subscribers"], json!(["c2", "c3", "c4"]));
    let out = ws.ok(&["metrics", "revenue", "--explain", "2024-03", "--movement", "churn"]);
    assert!(out.contains("c1") && out.contains("-100.00") && !out.contains("new_business"), "{out}");
}

#[test]
fn invoices_only() {
    // k1 is invoiced 30.00 for January and March (a 31-day period: monthly => 3000 MRR);
    // February has no invoice (not churn); a 10.00 refund in March; cancelled for
    // 2024-04-01: churn -3000 in April.
    let ws = Ws::new();
    let invoices = ws.file(
        "invoices.csv",
        "external_id,customer_id,date,currency,line_type,line_subscription_id,line_service_period_start,line_service_period_end,line_amount_cents,line_tax_cents,transaction_type,transaction_date,transaction_amount_cents,transaction_result
i1,k1,2024-01-01,USD,subscription,sk1,2024-01-01,2024-02-01,3000,600,payment,2024-01-01T00:05:00Z,3600,successful
i2,k1,2024-03-01,USD,subscription,sk1,2024-03-01,2024-04-01,3000,600,refund,2024-03-05T10:00:00Z,1000,successful
",
    );
    ws.ok(&["import", "invoices", &invoices]);
    let cancellations =
        ws.file("cancellations.csv", "subscription_id,cancelled_at,requested_at\nsk1,2024-04-01,2024-03-20\n");
    ws.ok(&["import", "cancellations", &cancellations]);
    let out = ws.ok(&["metrics", "revenue", "--from", "2024-01", "--to", "2024-04", "--json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    let m = &r["months"];
    assert_eq!(m["2024-01"]["movements"]["new_business"], json!(3_000.0));
    assert_eq!(m["2024-02"]["mrr_cents"], json!(3_000.0));
    assert_eq!(m["2024-02"]["subscribers"], json!(1));
    assert_eq!(m["2024-03"]["refunds_cents"], json!(1_000.0));
    assert_eq!(m["2024-03"]["mrr_cents"], json!(3_000.0)); // tax and the refund never change MRR
    assert_eq!(m["2024-04"]["movements"]["churn"], json!(-3_000.0));
    assert_eq!(m["2024-04"]["subscribers"], json!(0));
}

#[test]
fn reporting_currency_on_the_command_line() {
    // One USD subscription of 100.00 a month from 2024-01-10; USD -> EUR at 0.90 in January:
    // reported in EUR its MRR is 10000 x 0.90 = 9000 cents.
    let ws = Ws::new();
    let events = ws.file(
        "subscription_events.csv",
        "subscription_id,customer_id,type,date,currency,interval,unit_amount_cents\ns1,c1,start,2024-01-10,USD,month,10000\n",
    );
    ws.ok(&["import", "subscription_events", &events]);
    let fx = ws.file("fx_rates.csv", "currency,month,rate_to_reporting\nUSD,2024-01,0.90\n");
    ws.ok(&["import", "fx_rates", &fx]);
    let args = ["metrics", "revenue", "--from", "2024-01", "--to", "2024-01", "--json"];
    let usd = ws.json(&args);
    assert_eq!(usd["reporting_currency"], json!("USD"));
    assert_eq!(usd["months"]["2024-01"]["mrr_cents"], json!(10_000.0));
    let eur = ws.json(&[&args[..], &["--set", "reporting_currency=EUR"]].concat());
    assert_eq!(eur["reporting_currency"], json!("EUR"));
    assert_eq!(eur["months"]["2024-01"]["mrr_cents"], json!(9_000.0));
    let err = ws.fails(&[&args[..], &["--set", "reporting_currency=EURO"]].concat());
    assert!(err.contains("reporting_currency"), "{err}");
}
