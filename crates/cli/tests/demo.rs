//! `tenure demo` on a small company: it imports, prints its headline, is
//! deterministic by seed, re-runs cleanly, and never overwrites real data.

mod common;

use common::{Ws, example};

const SMALL: &[&str] = &["demo", "--customers", "60", "--events", "20000"];

fn fingerprint(ws: &Ws) -> Vec<serde_json::Value> {
    ws.sql(
        "select (select count(*) from customers) as customers, \
                (select count(*) from subscription_events) as subscription_events, \
                (select sum(unit_amount_cents * coalesce(quantity, 1)) from subscription_events) as terms, \
                (select sum(amount_cents) from invoice_line_items) as billed, \
                (select count(*) from events) as events, \
                (select count(distinct user_id) from events) as users, \
                (select max(timestamp) from events) as last_event, \
                (select sum(score) from survey_responses) as scores, \
                (select count(*) from tickets) as tickets",
    )
}

#[test]
fn demo_imports_a_company_and_prints_its_headline() {
    let ws = Ws::uninitialised();
    let out = ws.ok(&[SMALL, &["--seed", "5"]].concat());
    assert!(out.contains("Demo company (seed 5) imported into"), "{out}");
    for label in
        ["customers", "subscription events", "usage events", "survey responses", "support tickets", "NPS, all answers"]
    {
        assert!(out.contains(label), "missing {label}: {out}");
    }
    assert_eq!(ws.count("customers"), 60);
    let events = ws.count("events");
    assert!((15_000..=25_000).contains(&events), "about 20,000 events, got {events}");
    for table in [
        "plans",
        "subscription_events",
        "invoices",
        "invoice_line_items",
        "survey_responses",
        "tickets",
        "costs",
        "fx_rates",
    ] {
        assert!(ws.count(table) > 0, "{table} is empty");
    }
    // Three currencies, trials, cancellations and past-due episodes exist.
    assert_eq!(ws.sql("select count(distinct currency) as n from subscription_events")[0]["n"], 3);
    for t in ["trial_start", "start", "cancel"] {
        let n = ws.sql(&format!("select count(*) as n from subscription_events where type = '{t}'"))[0]["n"]
            .as_i64()
            .unwrap();
        assert!(n > 0, "no {t} events");
    }

    // Same seed, same company; running again replaces the earlier demo.
    let first = fingerprint(&ws);
    ws.ok(&[SMALL, &["--seed", "5"]].concat());
    assert_eq!(fingerprint(&ws), first);
    let other = Ws::uninitialised();
    other.ok(&[SMALL, &["--seed", "5"]].concat());
    assert_eq!(fingerprint(&other), first);
    other.ok(&[SMALL, &["--seed", "6"]].concat());
    assert_ne!(fingerprint(&other), first);
}

#[test]
fn demo_does_not_overwrite_imported_data() {
    let ws = Ws::new();
    ws.ok(&["import", "customers", &example("customers.csv")]);
    let err = ws.fails(SMALL);
    assert!(err.contains("holds imported data") && err.contains("--force"), "{err}");
    assert_eq!(ws.count("customers"), 4);
    ws.ok(&[SMALL, &["--force"]].concat());
    assert_eq!(ws.count("customers"), 60);
}

/// Every demo row passes the importer's validation: each table exported to
/// CSV by `tenure sql "COPY ..."` imports into an empty workspace with no
/// rejected row and reads back identical.
#[test]
fn demo_data_passes_import_validation_and_round_trips_through_csv() {
    let demo = Ws::uninitialised();
    demo.ok(&[SMALL, &["--seed", "9"]].concat());
    let copy = Ws::new();
    for table in [
        "customers",
        "plans",
        "subscription_events",
        "orders",
        "survey_responses",
        "tickets",
        "cancellations",
        "costs",
        "fx_rates",
        "events",
    ] {
        let csv = demo.path(&format!("{table}.csv"));
        demo.ok(&["sql", &format!("COPY (SELECT * FROM {table}) TO '{}' STORED AS CSV", csv.display())]);
        let out = copy.run(&["import", table, csv.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{table}: {stderr}");
        assert!(!stderr.contains("row(s) rejected") && !stderr.contains("unknown column"), "{table}: {stderr}");
        assert_eq!(sorted_rows(&copy, table), sorted_rows(&demo, table), "{table} differs after the round trip");
    }
}

/// The company is generated and upserted a batch of customers at a time,
/// and events generated and written a chunk at a time (bounded memory at a
/// million customers and 100 M events): tiny batches, chunks and event
/// flushes give exactly the rows of one batch, table by table.
#[test]
fn demo_in_customer_batches_matches_one_batch() {
    let run = |customers: &str, events: &str, flush: &str| {
        let ws = Ws::uninitialised();
        let out = common::tenure_cmd()
            .env("TENURE_DEMO_BATCH_CUSTOMERS", customers)
            .env("TENURE_DEMO_EVENT_CHUNK", events)
            .env("TENURE_EVENT_FLUSH_ROWS", flush)
            .arg("--data")
            .arg(ws.data())
            .args([SMALL, &["--seed", "3"]].concat())
            .output()
            .expect("run tenure");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        ws
    };
    // About 20,000 events: 3 flushes over the 730 days instead of one.
    let (whole, batched) = (run("1000000", "1000000", "1000000"), run("7", "7", "7000"));
    // Every stored table, the events and the invoice children included.
    for table in tenure_store::TABLES.iter().map(|t| t.name) {
        let rows = sorted_rows(&whole, table);
        assert!(!rows.is_empty() || table == "invoice_transactions", "{table} is empty");
        assert_eq!(sorted_rows(&batched, table), rows, "{table} differs between batch sizes");
    }
}

/// A table's rows as JSON text, sorted (row order is not part of a table's content).
fn sorted_rows(ws: &Ws, table: &str) -> Vec<String> {
    let mut rows: Vec<String> = ws.sql(&format!("select * from {table}")).iter().map(|r| r.to_string()).collect();
    rows.sort();
    rows
}
