//! `tenure serve` and `tenure keys` against the real binary on a loopback port:
//! authentication, Segment ingest, bulk entities, idempotency, bad input.

mod common;
mod serve_support;

use std::io::Write;
use std::time::Duration;

use base64_basic::basic;
use common::{Ws, example};
use serde_json::{Value, json};
use serve_support::{Served, batch, key, tracks};

/// HTTP Basic with the key as user name and no password, as Segment's libraries send it.
mod base64_basic {
    pub fn basic(user: &str) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let input = format!("{user}:");
        let mut out = String::new();
        for chunk in input.as_bytes().chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        format!("Basic {out}")
    }
}

#[test]
fn keys_are_shown_once_stored_hashed_listed_and_revoked() {
    let ws = Ws::new();
    let secret = key(&ws, "segment", "write");
    assert!(secret.starts_with("tnr_") && secret.len() == 68, "{secret}");
    let stored = std::fs::read_to_string(ws.data().join("api_keys.json")).unwrap();
    assert!(!stored.contains(&secret[4..]), "only a hash is stored");
    let listed = ws.json(&["keys", "list", "--json"]);
    assert_eq!(listed[0]["name"], "segment");
    assert_eq!(listed[0]["scope"], "write");
    assert!(listed[0]["revoked_at"].is_null());
    assert!(!ws.ok(&["keys", "list"]).contains(&secret[4..]));
    let out = ws.ok(&["keys", "revoke", "segment"]);
    assert!(out.contains("Revoked write key key_"), "{out}");
    assert!(ws.json(&["keys", "list", "--json"])[0]["revoked_at"].is_string());
    let err = ws.fails(&["keys", "revoke", "nobody"]);
    assert!(err.contains("tenure keys list"), "{err}");
    let err = ws.fails(&["keys", "create", "--name", "x", "--scope", "owner"]);
    assert!(err.contains("possible values: write, read, admin"), "{err}");
}

#[test]
fn auth_matrix_no_key_wrong_key_revoked_key_and_scopes() {
    let ws = Ws::new();
    let write = key(&ws, "segment", "write");
    let read = key(&ws, "dashboard", "read");
    let admin = key(&ws, "ops", "admin");
    let server = Served::start(&ws, &[]);
    let body = batch(&tracks("auth", 1));

    assert_eq!(server.get("/healthz").0, 200, "health needs no key");
    // The OpenAPI document: any key, no key refused.
    assert_eq!(server.get("/api/v1/openapi.json").0, 401);
    for k in [&write, &read, &admin] {
        let (status, doc) = server.get_key("/api/v1/openapi.json", k);
        assert_eq!(status, 200, "{doc}");
        let doc: Value = serde_json::from_str(&doc).unwrap();
        assert!(doc["paths"]["/v1/batch"]["post"].is_object(), "{doc}");
    }
    let (status, answer) = server.post("/api/v1/batch", &[], &body);
    assert_eq!(status, 401);
    assert!(answer["error"].as_str().unwrap().contains("tenure keys create"), "{answer}");
    assert_eq!(server.post_key("/api/v1/batch", "tnr_0123", &body).0, 401);
    assert_eq!(server.post_key("/api/v1/batch", &write[..write.len() - 1], &body).0, 401);
    let (status, answer) = server.post_key("/api/v1/batch", &read, &body);
    assert_eq!(status, 403, "a read key cannot write");
    assert!(answer["error"].as_str().unwrap().contains("needs a write key"), "{answer}");
    assert_eq!(server.post_key("/api/v1/batch", &write, &body).0, 200);
    assert_eq!(server.post_key("/api/v1/batch", &admin, &body).0, 200);

    // Segment's form: the write key as the Basic user name; not for a read key.
    assert_eq!(server.post("/v1/batch", &[("Authorization", &basic(&write))], &body).0, 200);
    assert_eq!(server.post("/v1/batch", &[("Authorization", &basic(&read))], &body).0, 403);
    assert_eq!(server.post("/v1/batch", &[("Authorization", &basic("tnr_nope"))], &body).0, 401);

    // SQL reads customer data: admin keys only.
    let query = json!({"query": "select count(*) as n from events"}).to_string();
    let (status, answer) = server.post_key("/api/v1/sql", &write, &query);
    assert_eq!(status, 403, "a write key cannot read: {answer}");
    assert_eq!(server.post_key("/api/v1/sql", &read, &query).0, 403);
    assert_eq!(server.post("/api/v1/sql", &[("Authorization", &basic(&admin))], &query).0, 401, "Basic only on ingest");
    let (status, answer) = server.post_key("/api/v1/sql", &admin, &query);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["columns"], json!(["n"]));
    let (status, answer) =
        server.post_key("/api/v1/sql", &admin, json!({"query": "create table t as select 1"}).to_string());
    assert_eq!(status, 400, "the API's SQL is read-only: {answer}");

    // Revoked while the server runs: refused from the next request on.
    ws.ok(&["keys", "revoke", "segment"]);
    assert_eq!(server.post_key("/api/v1/batch", &write, &body).0, 401);
    assert_eq!(server.post("/v1/batch", &[("Authorization", &basic(&write))], &body).0, 401);
    // A key created while it runs works at once.
    let late = key(&ws, "late", "write");
    assert_eq!(server.post_key("/v1/track", &late, tracks("late", 1)[0].to_string()).0, 200);

    let log = server.log_text();
    assert!(log.contains("authentication failed"), "{log}");
    for secret in [&write, &read, &admin, &late] {
        assert!(!log.contains(&secret[4..]), "a key leaked into the log:\n{log}");
    }
    server.stop();
}

#[test]
fn segment_messages_are_stored_once_attributed_and_gzip_is_accepted() {
    let ws = Ws::new();
    let write = key(&ws, "segment", "write");
    let server = Served::start(&ws, &[]);
    let auth = basic(&write);
    let h = [("Authorization", auth.as_str())];

    // u1 joins acct-9 in this batch; its later track names no account.
    let messages = json!([
        {"type": "identify", "messageId": "m-id", "userId": "u1", "traits": {"created_at": "2024-05-01T09:00:00Z"}, "timestamp": "2024-05-01T09:00:00Z"},
        {"type": "group", "messageId": "m-grp", "userId": "u1", "groupId": "acct-9", "timestamp": "2024-05-01T09:01:00Z"},
        {"type": "track", "messageId": "m-t1", "userId": "u1", "event": "Report Created", "timestamp": "2024-05-01T09:02:00Z"},
        {"type": "track", "messageId": "m-t2", "userId": "u2", "event": "Report Created", "timestamp": "2024-05-01T09:03:00Z", "context": {"groupId": "acct-2"}},
        {"type": "alias", "userId": "u1", "previousId": "anon-1"}
    ]);
    let body = json!({"batch": messages, "context": {"library": {"name": "analytics-node"}}}).to_string();
    let (status, answer) = server.post("/v1/batch", &h, &body);
    assert_eq!((status, &answer["accepted"]), (200, &json!(5)), "{answer}");
    // A retried batch is acknowledged again and stored once.
    assert_eq!(server.post("/v1/batch", &h, &body).0, 200);

    // A later track of u1 in another request: attributed through the group call.
    let (status, _) = server.post(
        "/v1/track",
        &h,
        json!({"messageId": "m-t3", "userId": "u1", "event": "Export", "timestamp": "2024-05-02T10:00:00Z"})
            .to_string(),
    );
    assert_eq!(status, 200);
    let (status, answer) = server.post("/v1/page", &h, json!({"type": "track", "userId": "u1"}).to_string());
    assert_eq!(status, 400, "a message's type must match its path: {answer}");

    // gzip, as Segment's libraries send batches.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(batch(&tracks("gz", 50)).as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let (status, answer) = server.post("/v1/batch", &[h[0], ("Content-Encoding", "gzip")], gz);
    assert_eq!((status, &answer["accepted"]), (200, &json!(50)), "{answer}");
    // The same messages under /api/v1: duplicates of the gzip batch.
    assert_eq!(server.post("/api/v1/batch", &h, batch(&tracks("gz", 50))).0, 200);

    server.stop();
    let leftovers: Vec<_> = std::fs::read_dir(ws.data().join("ingest"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("segment-") && std::fs::metadata(ws.data().join("ingest").join(n)).unwrap().len() > 0)
        .collect();
    assert!(leftovers.is_empty(), "a clean stop leaves no log behind: {leftovers:?}");

    // 4 messages of the first batch (alias is not activity) + m-t3 + 50.
    assert_eq!(ws.count("events"), 4 + 1 + 50);
    let rows = ws.sql("select message_id, group_id from events where user_id = 'u1' order by message_id");
    let got: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|r| (r["message_id"].as_str().unwrap().to_string(), r["group_id"].as_str().map(String::from)))
        .collect();
    let acct = Some("acct-9".to_string());
    assert_eq!(
        got,
        [
            ("m-grp".to_string(), acct.clone()),
            ("m-id".to_string(), None),
            ("m-t1".to_string(), acct.clone()),
            ("m-t3".to_string(), acct.clone())
        ],
        "events after the group call carry its account; the identify before it has none"
    );
    let u2 = ws.sql("select group_id from events where message_id = 'm-t2'");
    assert_eq!(u2[0]["group_id"], "acct-2", "context.groupId");
}

#[test]
fn bulk_entities_validate_like_import_all_or_nothing_unless_partial() {
    let ws = Ws::new();
    let write = key(&ws, "crm", "write");
    let server = Served::start(&ws, &[]);

    // The example file, as JSON Lines, is accepted whole.
    let jsonl = std::fs::read_to_string(example("customers.jsonl")).unwrap();
    let lines = jsonl.lines().filter(|l| !l.trim().is_empty()).count();
    let h = [("Authorization", &*format!("Bearer {write}")), ("Content-Type", "application/x-ndjson")];
    let (status, answer) = server.post("/api/v1/customers", &h, &jsonl);
    assert_eq!((status, &answer["accepted"]), (200, &json!(lines)), "{answer}");

    // One bad row: 400 naming its index, field and reason; nothing written.
    let rows = json!([
        {"id": "c-new-1", "name": "Northwind"},
        {"name": "no id"},
        {"id": "c-new-2", "created_at": "yesterday"}
    ]);
    let (status, answer) = server.post_key("/api/v1/customers", &write, rows.to_string());
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["accepted"], 0);
    let rejected = answer["rejected"].as_array().unwrap();
    assert_eq!(rejected.iter().map(|r| r["index"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(rejected[0]["field"], "id");
    assert_eq!(rejected[1]["field"], "created_at");
    // The same reason `tenure import` gives for that row.
    let file = ws.file("bad.jsonl", "{\"id\": \"c-new-2\", \"created_at\": \"yesterday\"}\n");
    let import_err = ws.fails(&["import", "customers", &file]);
    assert!(import_err.contains(rejected[1]["reason"].as_str().unwrap()), "{import_err}\nvs {answer}");

    // ?partial=true: the valid row goes in, the bad ones are listed.
    let (status, answer) = server.post_key("/api/v1/customers?partial=true", &write, rows.to_string());
    assert_eq!((status, &answer["accepted"]), (200, &json!(1)), "{answer}");
    assert_eq!(answer["rejected"].as_array().unwrap().len(), 2);

    // Idempotency-Key: a retry is answered the same without being applied again;
    // the key reused for other data is refused.
    let plan = json!([{"id": "pro", "name": "Pro", "interval": "month", "interval_count": 1}]).to_string();
    let auth = format!("Bearer {write}");
    let idem = [("Authorization", auth.as_str()), ("Idempotency-Key", "req-7")];
    let first = server.post("/api/v1/plans", &idem, &plan);
    assert_eq!(first.0, 200);
    assert_eq!(server.post("/api/v1/plans", &idem, &plan), first);
    let (status, answer) = server.post("/api/v1/plans", &idem, plan.replace("Pro", "Max"));
    assert_eq!(status, 422, "{answer}");

    let (status, answer) = server.post_key("/api/v1/accounts", &write, "[]");
    assert_eq!(status, 404);
    assert!(answer["error"].as_str().unwrap().contains("customers, plans"), "{answer}");

    server.stop();
    assert_eq!(ws.count("customers"), lines as i64 + 1);
    assert_eq!(ws.count("plans"), 1);
    assert_eq!(ws.sql("select name from plans")[0]["name"], "Pro");
}

#[test]
fn malformed_input_is_a_clear_4xx_and_writes_nothing() {
    let ws = Ws::new();
    let write = key(&ws, "segment", "write");
    let server = Served::start(&ws, &["--max-body", "20000"]);
    let auth = format!("Bearer {write}");
    let a = ("Authorization", auth.as_str());
    let post = |path: &str, extra: &[(&str, &str)], body: Vec<u8>| {
        let mut h = vec![a];
        h.extend_from_slice(extra);
        server.post(path, &h, body)
    };
    let mut deep = "{\"a\":".repeat(200);
    deep.push('1');
    deep.push_str(&"}".repeat(200));
    let mut nested_item = json!(1);
    for _ in 0..40 {
        nested_item = json!({"x": nested_item});
    }
    let nested = batch(&[json!({"type": "track", "userId": "u", "event": "E", "timestamp": "2024-05-01T00:00:00Z",
        "properties": nested_item})]);
    /// (what, path, headers, body, expected status, expected message part)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("malformed JSON", "/api/v1/batch", vec![], b"{\"batch\": [".to_vec(), 400, "not valid JSON"),
        (
            "wrong content type",
            "/api/v1/batch",
            vec![("Content-Type", "application/x-www-form-urlencoded")],
            b"a=b".to_vec(),
            415,
            "Content-Type",
        ),
        ("too large", "/api/v1/batch", vec![], batch(&tracks("big", 200)).into_bytes(), 413, "larger than 20000 bytes"),
        ("nested past serde's limit", "/api/v1/batch", vec![], deep.into_bytes(), 400, "nested more than 128"),
        ("nested item", "/api/v1/batch", vec![], nested.into_bytes(), 400, "nested more than 32"),
        (
            "invalid UTF-8",
            "/api/v1/batch",
            vec![],
            b"{\"batch\": [{\"type\": \"track\", \"event\": \"\xff\"}]}".to_vec(),
            400,
            "UTF-8",
        ),
        (
            "not gzip",
            "/api/v1/batch",
            vec![("Content-Encoding", "gzip")],
            b"{\"batch\": []}".to_vec(),
            400,
            "not valid gzip",
        ),
        (
            "unknown encoding",
            "/api/v1/batch",
            vec![("Content-Encoding", "zstd")],
            b"{}".to_vec(),
            415,
            "Content-Encoding",
        ),
        ("no batch", "/api/v1/batch", vec![], b"{\"messages\": []}".to_vec(), 400, "no \\\"batch\\\" array"),
        (
            "not an object",
            "/api/v1/batch",
            vec![],
            b"{\"batch\": [42]}".to_vec(),
            400,
            "expected a JSON object, got a number",
        ),
        ("empty body", "/api/v1/customers", vec![], Vec::new(), 400, "empty"),
        (
            "bad JSON line",
            "/api/v1/customers",
            vec![("Content-Type", "application/x-ndjson")],
            b"{\"id\": \"c1\"}\n{oops\n".to_vec(),
            400,
            "item(s) rejected",
        ),
        ("bad query", "/api/v1/customers?partial=maybe", vec![], b"[]".to_vec(), 400, "partial=true"),
        (
            "empty idempotency key",
            "/api/v1/customers",
            vec![("Idempotency-Key", "")],
            b"[]".to_vec(),
            400,
            "Idempotency-Key",
        ),
    ];
    for (what, path, headers, body, status, needle) in cases {
        let (got, answer) = post(path, &headers, body);
        assert_eq!(got, status, "{what}: {answer}");
        // The whole answer: per-item reasons are in "rejected".
        let text = answer.to_string();
        assert!(answer["error"].is_string() && text.contains(needle), "{what}: {text} should mention {needle:?}");
    }
    // Per-item detail for the bad line: its index and line.
    let (_, answer) =
        post("/api/v1/customers", &[("Content-Type", "application/x-ndjson")], b"{\"id\": \"c1\"}\n\n{oops\n".to_vec());
    assert_eq!(answer["rejected"][0]["index"], 1);
    assert_eq!(answer["rejected"][0]["line"], 3);

    assert_eq!(server.get("/healthz").0, 200, "still serving");
    let log = server.log.clone();
    server.stop();
    assert!(!log.lock().unwrap().contains("panicked"), "{}", log.lock().unwrap());
    assert_eq!(ws.count("events"), 0, "no partial write");
    assert_eq!(ws.count("customers"), 0);
}

#[test]
fn a_second_server_on_the_same_workspace_is_refused_and_reads_work_while_serving() {
    let ws = Ws::new();
    let write = key(&ws, "segment", "write");
    let server = Served::start(&ws, &[]);
    let out =
        common::tenure_cmd().arg("--data").arg(ws.data()).args(["serve", "--addr", "127.0.0.1:0"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another `tenure serve`"), "{err}");

    assert_eq!(server.post_key("/api/v1/batch", &write, batch(&tracks("live", 10))).0, 200);
    // Compaction runs every 100 ms here; the CLI reads while the server holds the log.
    let mut seen = 0;
    for _ in 0..100 {
        seen = ws.count("events");
        if seen == 10 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(seen, 10, "acknowledged events reach the tables while serving");
    let value: Value = ws.json(&["tables", "--json"]);
    assert!(value.as_array().unwrap().iter().any(|t| t["table_name"] == "events" && t["rows"] == 10), "{value}");
    server.stop();
}

#[test]
fn a_server_behind_answers_503_with_retry_after_writes_nothing_and_recovers() {
    let ws = Ws::new();
    let write = key(&ws, "segment", "write");
    // A backlog of one small batch is already too much; the compactor catches up every 700 ms.
    let server = Served::start(&ws, &["--compact-ms", "700", "--max-backlog", "1000"]);
    let mut accepted = 0;
    let mut refused = None;
    for round in 0..5 {
        let (status, retry, answer) =
            server.post_retry_after("/v1/batch", &write, batch(&tracks(&format!("bp{round}"), 10)));
        match status {
            200 => accepted += 10,
            503 => {
                refused = Some((retry, answer));
                break;
            }
            other => panic!("status {other}: {answer}"),
        }
    }
    let (retry, answer) = refused.expect("a second batch before compaction is refused");
    assert_eq!(retry.as_deref(), Some("1"), "Segment's libraries retry after Retry-After");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("waiting to be moved into the tables") && error.contains("nothing was written"), "{error}");

    // Once the compactor caught up, the same request goes through.
    let mut status = 0;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        status = server.post_key("/v1/batch", &write, batch(&tracks("bp-retry", 10))).0;
        if status == 200 {
            accepted += 10;
            break;
        }
    }
    assert_eq!(status, 200, "writes resume when the backlog is gone");
    server.stop();
    assert_eq!(ws.count("events"), accepted, "a refused request wrote nothing");
}

/// `tenure metrics engagement` (the CLI, another process) runs while the
/// server ingests: every run succeeds and sees a committed state. Each batch
/// is BATCH new users active on one day, so a consistent snapshot has a DAU
/// that is a whole number of batches, and snapshots only grow.
#[test]
fn the_cli_queries_a_consistent_snapshot_while_ingest_runs() {
    const BATCH: usize = 20;
    const BATCHES: usize = 60;
    let ws = Ws::new();
    let write = key(&ws, "segment", "write");
    let server = Served::start(&ws, &["--compact-ms", "50"]);
    let url = server.url.clone();
    let writer = std::thread::spawn(move || {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(30))).build().into();
        for b in 0..BATCHES {
            let messages: Vec<Value> = (0..BATCH)
                .map(|i| {
                    json!({"type": "track", "messageId": format!("live-{b}-{i}"), "userId": format!("u-{b}-{i}"),
                        "event": "Report Created", "timestamp": "2024-05-01T10:00:00Z", "context": {"groupId": "acct-1"}})
                })
                .collect();
            let resp = agent
                .post(format!("{url}/v1/batch"))
                .header("Authorization", format!("Bearer {write}"))
                .send(batch(&messages).as_bytes())
                .expect("batch acknowledged");
            assert_eq!(resp.status(), 200);
            std::thread::sleep(Duration::from_millis(25));
        }
    });
    let dau = || {
        let e = ws.json(&["metrics", "engagement", "--as-of", "2024-05-01", "--timezone", "UTC", "--json"]);
        e["days"][0]["dau"].as_u64().unwrap_or_else(|| panic!("no DAU: {e}")) as usize
    };
    let mut seen = Vec::new();
    while !writer.is_finished() {
        seen.push(dau());
    }
    writer.join().expect("the writer");
    assert!(!seen.is_empty(), "the CLI ran while the server ingested");
    for pair in seen.windows(2) {
        assert!(pair[0] <= pair[1], "a later snapshot saw less: {seen:?}");
    }
    assert!(seen.iter().all(|n| n % BATCH == 0), "a snapshot saw part of a batch: {seen:?}");
    server.stop();
    assert_eq!(dau(), BATCH * BATCHES, "after the stop everything is compacted (runs during the load: {seen:?})");
}
