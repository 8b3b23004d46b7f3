//! `tenure import events` and the ingest API of `tenure serve` build the
//! `events` table's columns with one builder (`tenure_import::EventColumns`),
//! each behind its own fast reader of raw JSON with a general path for what
//! that reader is unsure of. The same events must be stored as the same rows
//! whichever way they came: ids, times, and the exact text of properties,
//! traits and context.

mod common;
mod serve_support;

use common::Ws;
use serde_json::Value;
use serve_support::{Served, key};

/// Events written every way both readers meet: canonical objects kept as
/// written, and objects with whitespace, floats, escapes, wide or negative
/// integers, repeated keys or nesting that must be re-serialised; alias field
/// names, padded strings, numbers as ids, `context.groupId` standing in for
/// `groupId`, offsets and dates as times, a missing message id (a content hash).
/// No message relies on what only the API does (a receive time, a group call
/// attributing a later message), which import cannot know.
const LINES: [&str; 17] = [
    r#"{"messageId":"m01","type":"track","userId":"u1","event":"Login","timestamp":"2024-03-01T10:00:00Z","groupId":"g1","properties":{"plan":"growth","seats":12,"ok":true,"x":null,"tags":["a","b"]}}"#,
    r#"{"messageId":"m02","type":"page","anonymousId":"a2","name":"Home","timestamp":"2024-03-01T10:00:01.123456Z","properties":{ "b" : 2.50, "c": [1, 2] }}"#,
    r#"{"messageId":" m03 ","type":"track","userId":" u3 ","event":" Export ","timestamp":"2024-03-01T12:00:00+02:00","properties":{"big":12345678901234567890,"neg":-7,"zero":-0,"exp":1e3}}"#,
    r#"{"message_id":"m04","type":"identify","user_id":"u4","originalTimestamp":"2024-03-02","traits":{"email":"x@y.example","name":"Zoë"}}"#,
    r#"{"messageId":"m05","type":"group","userId":"u5","groupId":"g5","timestamp":"2024-03-02T08:00:00Z","traits":{"name":"Acme \"Intl\"","tier":1.5}}"#,
    r#"{"messageId":"m06","type":"track","userId":"u6","event":"E","timestamp":"2024-03-02T09:00:00Z","context":{"groupId":"g6","ip":"10.0.0.1"}}"#,
    r#"{"messageId":"m07","type":"track","userId":"u7","event":"Caf\u00e9 opened","timestamp":"2024-03-02T10:00:00Z","properties":{"path":"a\/b","note":"line\nbreak","u":"\u00e9\u2603"}}"#,
    r#"{"messageId":"m08","type":"track","userId":"u8","event":"E","timestamp":"2024-03-02T11:00:00Z","properties":{"a":1,"a":2,"n":{"k":{"k":[{"z":1}]}}}}"#,
    r#"{"messageId":"m09","type":"track","userId":9,"event":"E","timestamp":"2024-03-03T00:00:00Z","groupId":"g9"}"#,
    r#"{"type":"track","userId":"u10","event":"NoId","timestamp":"2024-03-03T01:00:00Z","properties":{"k":"v"}}"#,
    r#"{"messageId":"m11","type":"page","userId":"u11","anonymousId":"a11","name":"Pricing","timestamp":"2024-03-03T02:00:00.5Z","context":{"page":{"url":"https://x.example/p?q=1"}},"groupId":"g11"}"#,
    r#"{"messageId":"m12","type":"identify","anonymousId":"a12","timestamp":"2024-03-03T03:00:00Z","traits":{},"properties":null}"#,
    r#"{"messageId":"m13","type":"track","userId":"u13","event":"Seats Changed","timestamp":"2024-03-03T04:00:00Z","groupId":"g13","properties":{"from":3,"to":5,"ratio":0.1,"list":[true,false,null]},"integrations":{"All":true}}"#,
    r#"{ "messageId" : "m14", "type" : "track", "userId" : "u14", "event" : "Spaced", "timestamp" : "2024-03-03T05:00:00Z" , "properties" : { "k" : "v" } }"#,
    r#"{"messageId":"m01","type":"track","userId":"u-late","event":"Login","timestamp":"2024-03-01T23:00:00Z","groupId":"g1"}"#,
    r#"{"messageId":"m02","type":"track","userId":"u-next-day","event":"Login","timestamp":"2024-03-04T10:00:00Z","groupId":"g1"}"#,
    r#"{"messageId":"m16","type":"track","anonymousId":"a16","event":"E","timestamp":"2024-03-04T11:00:00Z","groupId":"g16","context":{"groupId":"other"},"traits":{"t":"v"}}"#,
];

/// The `events` table in a fixed order, every column as text.
fn events(ws: &Ws) -> Vec<Value> {
    ws.sql(
        "select message_id, type, user_id, anonymous_id, event, name, cast(timestamp as varchar) as timestamp, \
            group_id, properties, traits, context from events order by timestamp, message_id",
    )
}

#[test]
fn imported_and_ingested_events_are_stored_as_the_same_rows() {
    let imported = Ws::new();
    let file = imported.file("events.jsonl", LINES.join("\n"));
    imported.ok(&["import", "events", &file]);
    let stored = events(&imported);
    // Ids are unique per day: m01 again on its day is dropped, m02 on another day is kept.
    assert_eq!(stored.len(), LINES.len() - 1, "{stored:#?}");

    // One request per message (each read by the API's fast reader where it
    // can), and all of them in one batch (which one unsure message sends
    // the reference way as a whole).
    let single = Ws::new();
    let whole = Ws::new();
    let servers: Vec<(Served, String)> = [&single, &whole]
        .into_iter()
        .map(|ws| {
            let key = key(ws, "segment", "write");
            (Served::start(ws, &[]), key)
        })
        .collect();
    for line in LINES {
        let (status, answer) =
            servers[0].0.post_key("/api/v1/batch", &servers[0].1, format!(r#"{{"batch":[{line}]}}"#));
        assert_eq!(status, 200, "{line}: {answer}");
    }
    let (status, answer) =
        servers[1].0.post_key("/api/v1/batch", &servers[1].1, format!(r#"{{"batch":[{}]}}"#, LINES.join(",")));
    assert_eq!(status, 200, "{answer}");
    for (server, _) in servers {
        // SIGTERM compacts the rest of the ingest log into the tables.
        server.stop();
    }
    for (how, ws) in [("one request per message", &single), ("one batch", &whole)] {
        let ingested = events(ws);
        assert_eq!(ingested.len(), stored.len(), "{how}");
        for (i, (a, b)) in ingested.iter().zip(&stored).enumerate() {
            assert_eq!(a, b, "{how}: row {i} differs");
        }
    }
    // The rows are what the events say, not merely alike: a few by hand.
    let by_id = |id: &str| stored.iter().find(|r| r["message_id"] == id).unwrap_or_else(|| panic!("{id}"));
    assert_eq!(by_id("m01")["user_id"], "u1", "the first of two rows with one id is kept");
    assert_eq!(by_id("m02")["properties"], r#"{"b":2.5,"c":[1,2]}"#);
    assert_eq!(by_id("m03")["user_id"], "u3", "strings are trimmed");
    assert_eq!(by_id("m03")["timestamp"], "2024-03-01T10:00:00Z", "an offset is read as UTC");
    assert_eq!(by_id("m06")["group_id"], "g6", "context.groupId stands in for groupId");
    assert_eq!(by_id("m07")["event"], "Café opened");
    assert_eq!(by_id("m07")["properties"], r#"{"path":"a/b","note":"line\nbreak","u":"é☃"}"#);
    assert_eq!(by_id("m08")["properties"], r#"{"a":2,"n":{"k":{"k":[{"z":1}]}}}"#, "the last of a repeated key wins");
    assert_eq!(by_id("m09")["user_id"], "9");
    assert_eq!(by_id("m14")["properties"], r#"{"k":"v"}"#);
    assert_eq!(by_id("m16")["group_id"], "g16");
}
