//! The fast path against the reference path: whenever the fast path answers,
//! its log rows (bytes) and group calls must be exactly the reference's; the
//! compactor's columns must equal `from_record` + `to_batches` of the same rows.

use serde_json::{Value, json};
use tenure_model::{Entity, Record, UsageEvent};
use tenure_store::Stored;

use super::*;
use crate::body::{self, Layout};
use crate::routes::{
    Checked, check_items, fast_bulk_events, fast_segment_batch, fast_segment_single, segment_items,
    segment_single_items,
};

fn no_groups(_: &str) -> Option<String> {
    None
}

fn known_groups(user: &str) -> Option<String> {
    (user == "known").then(|| "acct-known".to_string())
}

fn batch(segment: bool, group_of: &(dyn Fn(&str) -> Option<String> + Sync)) -> Batch<'_> {
    Batch {
        segment,
        max_item_bytes: 1000,
        max_depth: body::MAX_DEPTH,
        now: "2024-07-01T12:00:00Z".parse().unwrap(),
        group_of,
    }
}

fn reference_batch(b: &Batch, text: &str) -> Checked {
    check_items("events", b, segment_items(body::parse_document(text.as_bytes()).unwrap()).unwrap())
}

/// Runs both paths; returns whether the fast path answered.
fn agree(text: &str, group_of: &(dyn Fn(&str) -> Option<String> + Sync)) -> bool {
    let b = batch(true, group_of);
    let reference = reference_batch(&b, text);
    let Some(fast) = fast_segment_batch(&b, text) else { return false };
    assert_eq!(reference.rejected, Vec::<Value>::new(), "the fast path accepted what the reference rejects: {text}");
    assert_eq!(
        String::from_utf8(fast.rows_json).unwrap(),
        String::from_utf8(reference.rows_json).unwrap(),
        "rows differ for {text}"
    );
    assert_eq!(fast.groups, reference.groups, "{text}");
    assert_eq!(
        (fast.rows, fast.items, fast.accepted_items),
        (reference.rows, reference.items, reference.accepted_items)
    );
    true
}

fn track(id: &str) -> Value {
    json!({"type": "track", "messageId": id, "userId": "u1", "event": "Report Created",
        "timestamp": "2024-06-01T10:00:00Z", "context": {"groupId": "acct-1"}})
}

#[test]
fn plain_batches_take_the_fast_path_with_identical_rows() {
    let cases = [
        json!({"batch": [track("a"), track("b")]}).to_string(),
        // Whitespace, unicode, floats, big and negative integers, nesting, a batch context
        // merged into a message's context and into one without.
        r#"{ "batch" : [
            {"type":"track","messageId":"m1","userId":"u1","event":"Ünïcode ✓","timestamp":"2024-06-01T10:00:00+02:00",
             "properties": {"price": 9.99, "big": 12345678901234567890, "neg": -42, "exp": 1E+2, "tiny": 1.5e-7,
                "zero": -0, "one": 1.0, "list": [1, {"a": [true, false, null]}], "q": "say \"hi\"\n\tnow"},
             "context": {"library": {"name": "x"}}},
            {"type":"page","messageId":"m2","anonymousId":"anon-1","name":"Home","timestamp":"2024-06-01"},
            {"type":"identify","messageId":"m3","userId":42,"traits":{"plan":"pro"},"timestamp":1717236000}
          ], "context": {"groupId": "acct-9", "library": {"name": "shared"}}, "sentAt": "2024-06-01T10:00:01Z" }"#
            .to_string(),
        // No time of its own: receivedAt is the request's time.
        json!({"batch": [{"type": "track", "messageId": "r1", "userId": "u1", "event": "E"}]}).to_string(),
        // Attribution: a group call earlier in the batch, then the store's latest group call.
        json!({"batch": [
            {"type": "group", "messageId": "g1", "userId": "u7", "groupId": "acct-7", "timestamp": "2024-06-01T09:00:00Z"},
            {"type": "track", "messageId": "t1", "userId": "u7", "event": "E", "timestamp": "2024-06-01T10:00:00Z"},
            {"type": "track", "messageId": "t2", "userId": "known", "event": "E", "timestamp": "2024-06-01T10:00:00Z"},
            {"type": "track", "messageId": "t3", "userId": "stranger", "event": "E", "timestamp": "2024-06-01T10:00:00Z"}
        ]})
        .to_string(),
        json!({"batch": [], "context": {"a": 1}}).to_string(),
        json!({"batch": [track("c")], "context": null}).to_string(),
    ];
    for text in &cases {
        assert!(agree(text, &known_groups), "the fast path gave up on {text}");
    }
}

#[test]
fn anything_unusual_goes_the_reference_way() {
    let unusual = [
        // Errors: the reference path writes the messages.
        json!({"batch": [{"type": "track", "messageId": "x", "userId": "u"}]}),
        json!({"batch": [{"type": "bogus", "messageId": "x", "userId": "u", "timestamp": "2024-06-01"}]}),
        json!({"batch": [{"type": "track", "messageId": "x", "event": "E", "timestamp": "2024-06-01"}]}),
        json!({"batch": [{"type": "track", "messageId": "x", "userId": "u", "event": "E", "timestamp": "yesterday"}]}),
        json!({"batch": [{"type": "track", "messageId": "x", "userId": {"a": 1}, "event": "E", "timestamp": "2024-06-01"}]}),
        json!({"batch": [{"type": "track", "messageId": "x", "userId": "u", "event": "E", "timestamp": "2024-06-01",
            "properties": "{\"a\": 1}"}]}),
        json!({"batch": [{"type": "group", "messageId": "x", "userId": "u", "timestamp": "2024-06-01"}]}),
        json!({"batch": [1]}),
        json!([track("a")]),
        json!({"nobatch": []}),
        // Segment mappings: screen, alias, traits under context.
        json!({"batch": [{"type": "screen", "messageId": "x", "userId": "u", "name": "S", "timestamp": "2024-06-01"}]}),
        json!({"batch": [{"type": "alias", "messageId": "x", "userId": "u", "previousId": "p"}]}),
        json!({"batch": [{"type": "identify", "messageId": "x", "userId": "u", "timestamp": "2024-06-01",
            "context": {"traits": {"plan": "pro"}}}]}),
        json!({"batch": [{"type": "Track", "messageId": "x", "userId": "u", "event": "E", "timestamp": "2024-06-01"}]}),
        // A content hash as messageId, a dotted key, a null receivedAt to fill in, a null groupId to fill in.
        json!({"batch": [{"type": "track", "userId": "u", "event": "E", "timestamp": "2024-06-01"}]}),
        json!({"batch": [{"type": "track", "messageId": "x", "userId": "u", "event": "E", "timestamp": "2024-06-01",
            "context.groupId": "a"}]}),
        json!({"batch": [{"type": "track", "messageId": "x", "userId": "u", "event": "E", "receivedAt": null}]}),
        json!({"batch": [{"type": "track", "messageId": "x", "userId": "known", "event": "E", "timestamp": "2024-06-01",
            "groupId": ""}]}),
        // Too deep, too big.
        json!({"batch": [{"type": "track", "messageId": "x", "userId": "u", "event": "E", "timestamp": "2024-06-01",
            "properties": (0..40).fold(json!(1), |v, _| json!([v]))}]}),
        json!({"batch": [{"type": "track", "messageId": "x", "userId": "u", "event": "E", "timestamp": "2024-06-01",
            "properties": {"blob": "x".repeat(2000)}}]}),
    ];
    for v in &unusual {
        let text = v.to_string();
        let b = batch(true, &known_groups);
        assert!(fast_segment_batch(&b, &text).is_none(), "the fast path answered for {text}");
    }
    // Forms serde_json would write differently, and repeated keys.
    for text in [
        r#"{"batch":[{"type":"track","messageId":"x","userId":"u","event":"a\/b","timestamp":"2024-06-01"}]}"#,
        r#"{"batch":[{"type":"track","messageId":"x","userId":"u","event":"E","timestamp":"2024-06-01","properties":{"k":"\u0041"}}]}"#,
        r#"{"batch":[{"type":"track","messageId":"x","userId":"u","event":"E","timestamp":"2024-06-01","properties":{"k":1,"k":2}}]}"#,
        r#"{"batch":[{"type":"track","messageId":"x","userId":"u","userId":"v","event":"E","timestamp":"2024-06-01"}]}"#,
        r#"{"batch":[{"type":"track","messageId":"x","userId":"u","event":"E","timestamp":"2024-06-01"}],"batch":[]}"#,
    ] {
        let b = batch(true, &no_groups);
        assert!(fast_segment_batch(&b, text).is_none(), "the fast path answered for {text}");
        agree(text, &no_groups);
    }
}

#[test]
fn canonical_writes_what_serde_json_writes() {
    for text in [
        r#"{"a" : [1, 2.50, -3, 1e3, 1E-3, 0.1, 123456789012345678901234, -0, -0.0, 18446744073709551615]}"#,
        r#"  {"nested": {"x": {"y": [[], {}, [{}]]}}, "s": "tab\there \"q\" \\ back"}  "#,
        r#""plain""#,
        "true",
        "null",
        "-17",
        r#"{"é": "ü", "emoji": "😀"}"#,
    ] {
        let mut out = Vec::new();
        let depth = canonical(text, &mut out, &mut Vec::new()).unwrap();
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), v.to_string(), "{text}");
        assert_eq!(depth, body::depth(&v, 100), "{text}");
    }
}

#[test]
fn bulk_events_take_the_fast_path_too() {
    let rows = [track("a"), track("b")];
    let array = serde_json::to_string_pretty(&rows).unwrap();
    let lines = format!("{}\n\n{}\n", rows[0], rows[1]);
    for (layout, text) in [(Layout::Json, array.as_str()), (Layout::JsonLines, lines.as_str())] {
        let b = batch(false, &no_groups);
        let fast = fast_bulk_events(&b, layout, text).expect("fast");
        let reference = check_items("events", &b, body::bulk_items(layout, text.as_bytes()).unwrap());
        assert_eq!(fast.rows_json, reference.rows_json);
    }
    // Not Segment: a screen call is no event type here, so the reference answers.
    let screen = json!({"type": "screen", "messageId": "s", "userId": "u", "timestamp": "2024-06-01"}).to_string();
    assert!(fast_bulk_events(&batch(false, &no_groups), Layout::Json, &screen).is_none());
}

#[test]
fn compacted_columns_equal_the_entities_batches() {
    let text = r#"{"batch": [
        {"type":"track","messageId":"m1","userId":"u1","event":"E","timestamp":"2024-06-01T10:00:00Z",
         "properties":{"price":9.99,"tags":["a","b"]},"context":{"groupId":"acct-1","ip":"1.2.3.4"}},
        {"type":"identify","messageId":"m2","user_id":"u2","traits":{"plan":"pro"},"timestamp":"2024-06-02"},
        {"type":"page","messageId":"m3","anonymousId":"a3","name":"Home","groupId":"acct-3","receivedAt":"2024-06-03T00:00:00Z"},
        {"type":"track","messageId":"m4","userId":"known","event":"E"}
    ]}"#;
    let b = batch(true, &known_groups);
    let fast = fast_segment_batch(&b, text).expect("fast");
    let logged = [b"[", &fast.rows_json[..], b"]"].concat();
    let rows: Vec<&RawValue> = serde_json::from_slice(&logged).unwrap();
    let mut columns = EventColumns::default();
    let mut entities = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        columns.push(LoggedEvent::read(row.get()).expect("fast").row());
        let rec = Record::new(i as u64, serde_json::from_str(row.get()).unwrap());
        entities.push(UsageEvent::from_record(&rec).unwrap());
    }
    assert_eq!(columns.len(), 4);
    assert_eq!(columns.finish(), UsageEvent::to_batches(&entities).remove(0));
    assert!(columns.is_empty(), "finish starts again");
    // A row the fast reader is unsure of is left to `from_record`.
    assert!(matches!(LoggedEvent::read(r#"{"type":"track","userId":"u","event":"a\/b"}"#), Err(Unsure)));
}

#[test]
fn single_messages_take_the_fast_path_with_the_reference_rows() {
    let b = batch(true, &known_groups);
    let cases = [
        (
            "track",
            r#"{"type": "track", "messageId": "s1", "userId": "u1", "event": "E", "timestamp": "2024-06-01T10:00:00Z"}"#,
        ),
        // No type: the path gives it, as the last member.
        ("track", r#"{"messageId": "s2", "userId": "known", "event": "E", "timestamp": "2024-06-01T10:00:00Z"}"#),
        ("page", r#" {"messageId":"s3","anonymousId":"a","name":"Home","context":{"groupId":"g"}} "#),
        ("group", r#"{"messageId": "s4", "userId": "u1", "groupId": "acct-1", "timestamp": "2024-06-01T10:00:00Z"}"#),
    ];
    for (kind, text) in cases {
        let fast = fast_segment_single(&b, kind, text).unwrap_or_else(|| panic!("fast path for {text}"));
        let reference = segment_single_items(&b, kind, text).unwrap();
        assert_eq!(reference.rejected, Vec::<Value>::new(), "{text}");
        assert_eq!(String::from_utf8(fast.rows_json).unwrap(), String::from_utf8(reference.rows_json).unwrap());
        assert_eq!(fast.groups, reference.groups, "{text}");
    }
    // Left to the reference path: another type than the path's, a type in capitals, screen, a bad message.
    for (kind, text) in [
        ("track", r#"{"type": "page", "messageId": "x", "userId": "u1", "name": "N"}"#),
        ("track", r#"{"type": "Track", "messageId": "x", "userId": "u1", "event": "E"}"#),
        ("screen", r#"{"messageId": "x", "userId": "u1", "name": "N"}"#),
        ("track", r#"{"messageId": "x", "event": "E"}"#),
        ("track", r#"{}"#),
        ("track", r#"[1]"#),
    ] {
        assert!(fast_segment_single(&b, kind, text).is_none(), "{text}");
    }
}
