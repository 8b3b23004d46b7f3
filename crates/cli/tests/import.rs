//! End-to-end tests of `tenure init`, `tenure import` and `tenure sql` on the
//! real binary: every entity from every format, idempotent re-imports, and
//! bad input that is reported precisely and changes nothing.

mod common;

use common::{Ws, example, examples, jsonl_to_parquet};

/// (entity, distinct rows in the example files, a SQL check and its answer)
const ENTITIES: &[(&str, i64, &str, &str)] = &[
    ("customers", 4, "select count(*) as v from customers where segment = 'smb'", "2"),
    ("plans", 4, "select interval_count as v from plans where id = 'scale_quarterly'", "3"),
    (
        "subscription_events",
        9,
        "select sum(unit_amount_cents * coalesce(quantity, 1)) as v from subscription_events where type = 'start'",
        "930200",
    ),
    ("invoices", 4, "select sum(amount_cents) as v from invoice_line_items", "58100"),
    ("orders", 4, "select sum(amount_cents) as v from orders where customer_id = 'cus_003'", "6500"),
    ("events", 6, "select count(*) as v from events where group_id = 'cus_001' and type = 'track'", "2"),
    (
        "survey_responses",
        6,
        "select count(*) as v from survey_responses where submitted_at is not null and score is null",
        "1",
    ),
    ("tickets", 4, "select count(*) as v from tickets where status in ('solved', 'closed')", "3"),
    (
        "cancellations",
        2,
        "select cast(cancelled_at as varchar) as v from cancellations where subscription_id = 'sub_004'",
        "2024-06-20",
    ),
    ("costs", 5, "select sum(amount_cents) as v from costs where month = date '2024-01-01'", "2040000"),
    (
        "fx_rates",
        5,
        "select cast(rate_to_reporting as varchar) as v from fx_rates where currency = 'GBP' and month = date '2024-02-01'",
        "1.263700000000",
    ),
];

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A table's full content as JSON text, for comparing workspaces.
fn dump(ws: &Ws, table: &str, except: &[&str]) -> String {
    let rows = ws.sql(&format!("select * from {table}"));
    let mut rows: Vec<String> = rows
        .into_iter()
        .map(|mut r| {
            for c in except {
                r.as_object_mut().unwrap().remove(*c);
            }
            r.to_string()
        })
        .collect();
    rows.sort();
    rows.join("\n")
}

#[test]
fn every_entity_imports_from_csv_jsonl_and_parquet_with_the_same_result() {
    let csv = Ws::new();
    let jsonl = Ws::new();
    let parquet = Ws::new();
    for &(entity, rows, check, answer) in ENTITIES {
        let pq = parquet.path(&format!("{entity}.parquet"));
        jsonl_to_parquet(&examples().join(format!("{entity}.jsonl")), &pq);
        let out = csv.ok(&["import", entity, &example(&format!("{entity}.csv"))]);
        assert!(out.contains(&format!("{entity}: ")), "{out}");
        jsonl.ok(&["import", entity, &example(&format!("{entity}.jsonl"))]);
        parquet.ok(&["import", entity, pq.to_str().unwrap()]);
        for (name, ws) in [("csv", &csv), ("jsonl", &jsonl), ("parquet", &parquet)] {
            assert_eq!(ws.count(entity), rows, "{entity} from {name}");
            let got = ws.sql(check);
            assert_eq!(value_text(&got[0]["v"]), answer, "{entity} from {name}: {check}");
        }
    }
    for table in tenure_tables() {
        // CSV cells are text, so CSV customers' extra attributes are strings; the
        // CSV example events carry the account as groupId rather than context.
        let except: &[&str] = match table {
            "customers" => &["attributes"],
            "events" => &["context"],
            _ => &[],
        };
        assert_eq!(dump(&csv, table, except), dump(&jsonl, table, except), "{table}: csv vs jsonl");
        assert_eq!(dump(&parquet, table, &[]), dump(&jsonl, table, &[]), "{table}: parquet vs jsonl");
    }
    // Invoices are stored as three joinable tables.
    assert_eq!(jsonl.count("invoice_line_items"), 5);
    assert_eq!(jsonl.count("invoice_transactions"), 5);
    // Customer attributes keep their JSON types from JSON Lines.
    let attrs = jsonl.sql("select attributes from customers where id = 'cus_001'");
    let attrs: serde_json::Value = serde_json::from_str(attrs[0]["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(attrs["seats_purchased"], 120);
}

fn tenure_tables() -> Vec<&'static str> {
    vec![
        "customers",
        "plans",
        "subscription_events",
        "invoices",
        "invoice_line_items",
        "invoice_transactions",
        "orders",
        "events",
        "survey_responses",
        "tickets",
        "cancellations",
        "costs",
        "fx_rates",
    ]
}

#[test]
fn reimporting_the_same_rows_changes_nothing() {
    let ws = Ws::new();
    for &(entity, rows, _, _) in ENTITIES {
        ws.ok(&["import", entity, &example(&format!("{entity}.csv"))]);
        let before = ws.snapshot();
        let out = ws.ok(&["import", entity, &example(&format!("{entity}.csv"))]);
        assert!(out.contains("nothing changed"), "{entity}: {out}");
        // The same rows in another format are the same rows.
        ws.ok(&["import", entity, &example(&format!("{entity}.jsonl"))]);
        assert_eq!(ws.count(entity), rows, "{entity}");
        if !matches!(entity, "customers" | "events") {
            assert_eq!(ws.snapshot(), before, "{entity}: re-import in another format rewrote data");
        }
    }
    let out = ws.ok(&["import", "events", &example("events.jsonl")]);
    assert!(out.contains("0 new, 6 already stored"), "{out}");
}

#[test]
fn a_changed_row_replaces_the_stored_one() {
    let ws = Ws::new();
    ws.ok(&["import", "customers", &example("customers.csv")]);
    let f = ws.file("update.csv", "id,name,segment\ncus_003,Katherine G. Johnson,mid_market\ncus_005,New Co,smb\n");
    let out = ws.ok(&["import", "customers", &f]);
    assert!(out.contains("1 new, 1 updated, 0 unchanged"), "{out}");
    assert_eq!(ws.count("customers"), 5);
    let rows = ws.sql("select name, segment from customers where id = 'cus_003'");
    assert_eq!(rows[0]["name"], "Katherine G. Johnson");
    assert_eq!(rows[0]["segment"], "mid_market");
    // Replacing an invoice replaces its line items and transactions too.
    ws.ok(&["import", "invoices", &example("invoices.jsonl")]);
    let f = ws.file(
        "inv.jsonl",
        r#"{"external_id":"in_002","customer_id":"cus_003","date":"2024-03-01","currency":"USD","line_items":[{"type":"one_time","amount_cents":100}]}"#,
    );
    ws.ok(&["import", "invoices", &f]);
    assert_eq!(ws.sql("select count(*) as n from invoice_line_items where invoice_external_id = 'in_002'")[0]["n"], 1);
    assert_eq!(
        ws.sql("select count(*) as n from invoice_transactions where invoice_external_id = 'in_002'")[0]["n"],
        0
    );
    assert_eq!(ws.count("invoice_line_items"), 4);
}

/// One malformed file per failure kind: a precise error, a non-zero exit,
/// and a workspace identical to what it was.
#[test]
fn bad_input_is_rejected_precisely_and_changes_nothing() {
    let ws = Ws::new();
    ws.ok(&["import", "customers", &example("customers.csv")]);
    ws.ok(&["import", "subscription_events", &example("subscription_events.csv")]);
    ws.ok(&["import", "events", &example("events.jsonl")]);
    let before = ws.snapshot();

    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("customers", "empty.csv", b"".to_vec(), "empty.csv: the file is empty"),
        ("customers", "wrong_header.csv", b"name,email\nAda,ada@x.example\n".to_vec(), "missing required column(s) \"id\""),
        ("customers", "latin1.csv", b"id,name\ncus_9,Ren\xe9\n".to_vec(), "latin1.csv:2: name: is not valid UTF-8"),
        (
            "subscription_events",
            "negative.csv",
            b"subscription_id,customer_id,type,date,currency,interval,unit_amount_cents,quantity\nsub_9,cus_1,start,2024-01-01,USD,month,1000,2\nsub_9,cus_1,change,2024-02-01,,,,-3\n".to_vec(),
            "negative.csv:3: quantity: must not be negative (got -3)",
        ),
        (
            "subscription_events",
            "currency.jsonl",
            br#"{"subscription_id":"s","customer_id":"c","type":"start","date":"2024-01-01","currency":"ZZZ","interval":"month","unit_amount_cents":100}"#.to_vec(),
            "currency.jsonl:1: currency: unknown currency \"ZZZ\"",
        ),
        (
            "subscription_events",
            "end_before_start.csv",
            b"subscription_id,customer_id,type,date,requested_at,ends_at\nsub_1,cus_1,cancel,2024-05-01,2024-05-01,2024-04-01\n".to_vec(),
            "end_before_start.csv:2: ends_at: 2024-04-01 is before requested_at 2024-05-01",
        ),
        (
            "tickets",
            "solved_before.jsonl",
            br#"{"id":"t1","created_at":"2024-03-01T10:00:00Z","solved_at":"2024-03-01T09:00:00Z"}"#.to_vec(),
            "solved_before.jsonl:1: solved_at: 2024-03-01T09:00:00Z is before created_at",
        ),
        (
            "events",
            "truncated.jsonl",
            b"{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"A\",\"timestamp\":\"2024-03-01T00:00:00Z\"}\n{\"type\":\"track\",\"userId\":\"u1\",\"ev".to_vec(),
            "truncated.jsonl:2: json: truncated JSON",
        ),
        (
            "orders",
            "wrong_type.csv",
            b"id,customer_id,date,amount_cents\no1,c1,2024-01-01,12.50\no2,c1,2024-13-01,100\n".to_vec(),
            "wrong_type.csv:2: amount_cents: \"12.50\" is not a whole number",
        ),
        (
            "orders",
            "bad_date.csv",
            b"id,customer_id,date,amount_cents\no2,c1,2024-13-01,100\n".to_vec(),
            "bad_date.csv:2: date: \"2024-13-01\" is not a date",
        ),
        (
            "customers",
            "dupes.csv",
            b"id,name\ncus_7,One\ncus_8,Two\ncus_7,Three\n".to_vec(),
            "dupes.csv:4: id: duplicate id \"cus_7\" with different values (first at line 2)",
        ),
        (
            "invoices",
            "bad_line.jsonl",
            br#"{"external_id":"i1","customer_id":"c","date":"2024-01-01","currency":"USD","line_items":[{"type":"subscription","subscription_id":"s","service_period_start":"2024-02-01","service_period_end":"2024-01-01","amount_cents":100}]}"#.to_vec(),
            "bad_line.jsonl:1: line_items[0].service_period_end: 2024-01-01 is not after service_period_start",
        ),
        (
            "events",
            "not_object.jsonl",
            b"[1,2,3]\n".to_vec(),
            "not_object.jsonl:1: line: expected a JSON object, found an array",
        ),
        ("events", "missing_user.jsonl", br#"{"type":"track","event":"A","timestamp":"2024-03-01T00:00:00Z"}"#.to_vec(), "missing_user.jsonl:1: userId: a userId or an anonymousId is required"),
        (
            "customers",
            "truncated.csv",
            b"id,name\ncus_1,\"Ada\ncus_2,Bob\n".to_vec(),
            "truncated.csv:2: csv: the file ends inside a quoted field that starts on this line",
        ),
        ("costs", "ragged.csv", b"month,category,amount_cents,currency\n2024-01,cogs,100,USD,extra\n".to_vec(), "ragged.csv:2: csv: has 5 fields but the header has 4"),
        ("fx_rates", "garbage.parquet", b"PAR1 this is not parquet".to_vec(), "not a readable Parquet file"),
    ];
    for (entity, name, content, expected) in cases {
        let path = ws.file(name, &content);
        let err = ws.fails(&["import", entity, &path]);
        assert!(err.contains(expected), "{name}: expected {expected:?} in:\n{err}");
        assert_eq!(ws.snapshot(), before, "{name}: the workspace changed");
    }
    assert_eq!(ws.count("customers"), 4);
}

#[test]
fn many_bad_rows_print_twenty_then_a_count() {
    let ws = Ws::new();
    let mut csv = String::from("id,customer_id,date,amount_cents\n");
    for i in 0..30 {
        csv.push_str(&format!("o{i},c1,2024-01-01,-{i}1\n"));
    }
    csv.push_str("ok1,c1,2024-01-01,100\n");
    let f = ws.file("orders.csv", &csv);
    let err = ws.fails(&["import", "orders", &f]);
    assert_eq!(err.lines().filter(|l| l.contains("amount_cents: must not be negative")).count(), 20, "{err}");
    assert!(err.contains("... and 10 more rejected row(s)"), "{err}");
    assert!(err.contains("30 of 31 row(s) rejected; nothing was imported"), "{err}");
    assert_eq!(ws.count("orders"), 0);
}

#[test]
fn skip_invalid_imports_the_valid_rows_and_writes_the_rejects() {
    let ws = Ws::new();
    let f = ws.file(
        "orders.csv",
        "id,customer_id,date,amount_cents\no1,c1,2024-01-01,100\no2,c1,someday,200\no3,c1,2024-01-03,300\n",
    );
    let rejects = ws.path("rejects.jsonl");
    let out = ws.run(&["import", "orders", &f, "--skip-invalid", "--rejects", rejects.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("orders.csv:3: date:"));
    assert_eq!(ws.count("orders"), 2);
    let text = std::fs::read_to_string(&rejects).unwrap();
    let rej: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(rej["id"], "o2");
    assert_eq!(rej["_line"], 3);
    assert!(rej["_errors"][0].as_str().unwrap().starts_with("date:"));
}

#[test]
fn out_of_range_survey_scores_are_kept_flagged_and_warned() {
    let ws = Ws::new();
    let f = ws.file(
        "nps.csv",
        "survey_id,respondent_id,submitted_at,score\nq1,u1,2024-01-01T00:00:00Z,11\nq1,u2,2024-01-01T00:00:00Z,9\n",
    );
    let out = ws.run(&["import", "survey_responses", &f]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nps.csv:2: score: score 11 is outside the scale 0-10"), "{err}");
    let rows = ws.sql("select respondent_id, rejected_reason from survey_responses order by respondent_id");
    assert_eq!(rows[0]["rejected_reason"], "score 11 is outside the scale 0-10");
    assert!(rows[1]["rejected_reason"].is_null());
}

#[test]
fn commands_explain_what_is_wrong() {
    let ws = Ws::uninitialised();
    let err = ws.fails(&["sql", "select 1"]);
    assert!(err.contains("no Tenure workspace at") && err.contains("tenure init"), "{err}");
    let ws = Ws::new();
    let err = ws.fails(&["init"]);
    assert!(err.contains("already a Tenure workspace"), "{err}");
    let err = ws.fails(&["import", "customers", "/nonexistent/file.csv"]);
    assert!(err.contains("/nonexistent/file.csv"), "{err}");
    let f = ws.file("data.txt", "id\n1\n");
    let err = ws.fails(&["import", "customers", &f]);
    assert!(err.contains("--format"), "{err}");
    let err = ws.fails(&["import", "widgets", &f]);
    assert!(err.contains("customers"), "{err}");
    let err = ws.fails(&["sql", "select * from nope"]);
    assert!(err.contains("nope"), "{err}");
    // Forcing a format works whatever the extension.
    ws.ok(&["import", "customers", &f, "--format", "csv"]);
    assert_eq!(ws.count("customers"), 1);
}

#[test]
fn sql_answers_in_table_json_and_csv() {
    let ws = Ws::new();
    ws.ok(&["import", "subscription_events", &example("subscription_events.csv")]);
    let table = ws.ok(&["sql", "select count(*) as n from subscription_events"]);
    assert!(table.contains("| 9 "), "{table}");
    let csv =
        ws.ok(&["sql", "--csv", "select type, count(*) as n from subscription_events group by type order by type"]);
    assert!(csv.starts_with("type,n\ncancel,1\nchange,1\n"), "{csv}");
    assert_eq!(ws.sql("select count(*) as n from subscription_events")[0]["n"], 9);
    // Empty tables exist and answer 0.
    assert_eq!(ws.count("tickets"), 0);
    assert_eq!(ws.ok(&["sql", "--json", "select * from tickets"]).trim(), "[]");
}
