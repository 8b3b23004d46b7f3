//! The session rollup (`rollups/sessions.bin`): built by `tenure import
//! events` and the ingest of `tenure serve`, it must answer `tenure metrics
//! sessions` exactly like a scan of the events (`TENURE_NO_ROLLUPS=1`) and
//! like the totals computed by hand, across midnights, and really be what
//! answers (a copy of the workspace with blanked Parquet files still answers);
//! where its edges cannot tell (the 24-hour cut inside a joined session) it
//! must not answer, and the scan does.

mod common;
mod serve_support;

use std::path::Path;

use common::{Ws, json_with_rollups};
use serde_json::{Value, json};
use serve_support::{Served, key};

/// `tenure metrics sessions ARGS --json` on the workspace at `data`.
fn sessions(data: &Path, args: &[&str], rollups: bool) -> Result<Value, String> {
    json_with_rollups(data, &[&["metrics", "sessions", "--json"], args].concat(), rollups)
}

/// The cuts the rollup serves (whole history, any zone, either actor) and one it does not (a range).
const CUTS: &[&[&str]] = &[
    &[],
    &["--timezone", "UTC"],
    &["--by", "account"],
    &["--timezone", "America/New_York"],
    &["--timezone", "Asia/Tokyo"],
    &["--from", "2024-05-02"],
];

/// Rollup answer == scan answer for every cut; the default document.
#[track_caller]
fn same_with_and_without(ws: &Ws) -> Value {
    for cut in CUTS {
        let roll = sessions(&ws.data(), cut, true).unwrap();
        assert_eq!(roll, sessions(&ws.data(), cut, false).unwrap(), "{cut:?}");
    }
    sessions(&ws.data(), &[], true).unwrap()
}

/// The totals of a sessions document.
fn totals(v: &Value) -> Value {
    json!([
        v["session_count"],
        v["single_event_sessions"],
        v["total_time_seconds"],
        v["average_session_duration_seconds"]
    ])
}

/// A copy of the workspace whose events files are zeros of the same size:
/// only the rollup can answer on it.
fn blanked_copy(ws: &Ws) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path, blank: bool) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let q = to.join(p.file_name().unwrap());
            if p.is_dir() {
                copy(&p, &q, blank || p.ends_with("tables/events"));
            } else if blank && p.extension().is_some_and(|x| x == "parquet") {
                std::fs::write(&q, vec![0u8; std::fs::metadata(&p).unwrap().len() as usize]).unwrap();
            } else {
                std::fs::copy(&p, &q).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&ws.data(), &dir.path().join("ws"), false);
    dir
}

/// One event as a JSON line.
fn event(id: &str, user: Option<&str>, anonymous: Option<&str>, ts: &str) -> String {
    let mut v = json!({"messageId": id, "type": "track", "event": "Viewed", "timestamp": ts, "groupId": "acme"});
    if let Some(u) = user {
        v["userId"] = json!(u);
    }
    if let Some(a) = anonymous {
        v["anonymousId"] = json!(a);
    }
    v.to_string()
}

#[test]
fn the_session_rollup_answers_like_the_scan_across_midnights_imports_and_ingest() {
    let ws = Ws::new();
    let first = [
        // u1: 23:50 -> 00:10 across midnight (gap 20 min): one session of 1,200 s.
        event("m1", Some("u1"), None, "2024-05-01T23:50:00Z"),
        event("m2", Some("u1"), None, "2024-05-02T00:10:00Z"),
        // u2: a gap of exactly the timeout across midnight joins (1,800 s), then
        // 1,800.5 s later a single-event session (a gap over the timeout by 0.5 s).
        event("m3", Some("u2"), None, "2024-05-01T23:45:00Z"),
        event("m4", Some("u2"), None, "2024-05-02T00:15:00Z"),
        event("m5", Some("u2"), None, "2024-05-02T00:45:00.5Z"),
        // a1 anonymous, then identified as u4 (with a1 as anonymousId): two actors.
        event("m6", None, Some("a1"), "2024-05-02T10:00:00Z"),
        event("m7", Some("u4"), Some("a1"), "2024-05-02T10:05:00Z"),
        event("m8", Some("u4"), None, "2024-05-02T10:20:00Z"),
    ];
    ws.ok(&["import", "events", &ws.file("first.jsonl", first.join("\n"))]);
    assert!(ws.data().join("rollups/sessions.bin").is_file(), "the import builds the session rollup");
    let doc = same_with_and_without(&ws);
    // 5 sessions: u1 1,200 s; u2 1,800 s and 0 s (single); a1 0 s (single); u4 900 s.
    // Total 3,900 s, mean 780.00 s.
    assert_eq!(totals(&doc), json!([5, 2, 3900, 780.0]));
    assert_eq!((&doc["from"], &doc["to"]), (&json!("2024-05-01"), &json!("2024-05-03")));
    let blank = blanked_copy(&ws);
    assert_eq!(sessions(&blank.path().join("ws"), &[], true).unwrap(), doc, "the rollup answers");
    let ny = sessions(&blank.path().join("ws"), &["--timezone", "America/New_York"], true).unwrap();
    assert_eq!(ny, sessions(&ws.data(), &["--timezone", "America/New_York"], false).unwrap(), "in another zone too");
    assert!(sessions(&blank.path().join("ws"), &[], false).is_err(), "a scan reads the blanked files");

    // Ingest: a new file on 05-02 (u1 at 00:35, 25 min after 00:10: u1's
    // session becomes 2,700 s) and a new day (u5, one event).
    let write = key(&ws, "segment", "write");
    let served = Served::start(&ws, &[]);
    let batch = format!(
        r#"{{"batch":[{},{}]}}"#,
        event("m9", Some("u1"), None, "2024-05-02T00:35:00Z"),
        event("m10", Some("u5"), None, "2024-05-06T00:00:00Z")
    );
    let (status, answer) = served.post_key("/api/v1/batch", &write, batch);
    assert_eq!(status, 200, "{answer}");
    served.stop();
    let doc = same_with_and_without(&ws);
    // 6 sessions, singles u2's, a1, u5; total 2,700 + 1,800 + 900 = 5,400 s, mean 900.00.
    assert_eq!(totals(&doc), json!([6, 3, 5400, 900.0]));
    let after_ingest = blanked_copy(&ws);
    assert_eq!(sessions(&after_ingest.path().join("ws"), &[], true).unwrap(), doc, "the refreshed rollup answers");

    // A rollup older than the data (the copy made before the ingest): the
    // changed and new days are scanned, the others read from it.
    let stale = blanked_copy(&ws);
    let stale_ws = stale.path().join("ws");
    std::fs::copy(blank.path().join("ws/rollups/sessions.bin"), stale_ws.join("rollups/sessions.bin")).unwrap();
    for day in ["2024-05-02", "2024-05-06"] {
        for e in std::fs::read_dir(ws.data().join(format!("tables/events/day={day}"))).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, stale_ws.join(format!("tables/events/day={day}")).join(p.file_name().unwrap())).unwrap();
        }
    }
    assert_eq!(sessions(&stale_ws, &[], true).unwrap(), doc, "stale days scanned, the rest from the rollup");

    // A chain of events every 1,800 s for 30 hours over three days: the
    // 24-hour cut falls inside the joined session, which only the events
    // tell: 49 events over 86,400 s, then 12 over 19,800 s. The rollup does
    // not answer; the scan does, exactly.
    let chain: Vec<String> = (0..=60)
        .map(|k| {
            let ts = jiff::Timestamp::from_second(1_714_737_600 + k * 1800).unwrap(); // 2024-05-03T12:00:00Z
            event(&format!("c{k}"), Some("u3"), None, &ts.to_string())
        })
        .collect();
    ws.ok(&["import", "events", &ws.file("chain.jsonl", chain.join("\n"))]);
    let doc = same_with_and_without(&ws);
    // 8 sessions, 3 single; 5,400 + 86,400 + 19,800 = 111,600 s; mean 13,950.00.
    assert_eq!(totals(&doc), json!([8, 3, 111_600, 13_950.0]));
    let capped = blanked_copy(&ws);
    assert!(sessions(&capped.path().join("ws"), &[], true).is_err(), "the rollup declined: the scan answered");
}

/// The rollup also answers the demo's sessions exactly (thousands of users over two years).
#[test]
fn the_session_rollup_answers_the_demo_like_the_scan() {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "30", "--events", "6000"]);
    let doc = same_with_and_without(&ws);
    assert!(doc["session_count"].as_u64() > Some(1000), "{doc}");
    let blank = blanked_copy(&ws);
    assert_eq!(sessions(&blank.path().join("ws"), &[], true).unwrap(), doc, "the rollup answers");
    // --timeout is not rolled up: a scan, which fails on the blanked files.
    assert!(sessions(&blank.path().join("ws"), &["--timeout", "600"], true).is_err());
}

/// Both rollups built from nothing (`tenure rollups`: partitions split on
/// both cores, names interned in day order, the file written as it is made)
/// are byte for byte the ones built a day at a time by the imports (each
/// refresh scans one new day and copies the records it keeps); a damaged
/// file is rebuilt the same; and the progress bar stays off a pipe.
#[test]
fn rollups_built_from_nothing_on_both_cores_are_the_ones_built_day_by_day() {
    let ws = Ws::new();
    // Users appear over the days and come back in shuffled orders; a few
    // anonymous actors; some sessions cross midnight.
    let mut seed = 42u64;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    for day in 1..=8u64 {
        let start = 1_717_200_000 + (day - 1) * 86_400; // 2024-06-01T00:00:00Z
        let lines: Vec<String> = (0..120)
            .map(|k| {
                let user = format!("u{}", next(6 * day + 4));
                let anonymous = format!("a{}", next(5));
                let ts = jiff::Timestamp::from_second((start + next(86_400)) as i64).unwrap().to_string();
                let id = format!("d{day}-{k}");
                match next(10) {
                    0 => event(&id, None, Some(&anonymous), &ts),
                    _ => event(&id, Some(&user), None, &ts),
                }
            })
            .collect();
        ws.ok(&["import", "events", &ws.file(&format!("day{day}.jsonl"), lines.join("\n"))]);
    }
    let rollups = ws.data().join("rollups");
    let read = |name: &str| std::fs::read(rollups.join(name)).unwrap();
    let (sessions_by_day, active_by_day) = (read("sessions.bin"), read("active-days.bin"));
    let doc = same_with_and_without(&ws);
    assert!(doc["session_count"].as_u64() > Some(500), "{doc}");

    std::fs::remove_dir_all(&rollups).unwrap();
    let out = ws.run(&["rollups"]);
    assert!(out.status.success());
    // Off a terminal: the one line on stdout, nothing (no bar) on stderr.
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Rollups up to date (8 events file(s) scanned per time zone and rollup)\n"
    );
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
    assert!(read("sessions.bin") == sessions_by_day, "sessions.bin from nothing differs from day by day");
    assert!(read("active-days.bin") == active_by_day, "active-days.bin from nothing differs from day by day");
    assert_eq!(sessions(&ws.data(), &[], true).unwrap(), doc);

    // Cut in half (the records past the index offsets): rebuilt, the same.
    std::fs::write(rollups.join("sessions.bin"), &sessions_by_day[..sessions_by_day.len() / 2]).unwrap();
    assert!(ws.ok(&["rollups"]).contains("(0 events file(s)"), "active-days.bin was up to date");
    assert!(read("sessions.bin") == sessions_by_day, "a damaged sessions.bin is rebuilt the same");

    // The stored DAU/WAU/MAU are counted again only from the first new day:
    // a day two months on (zeros between), then one inside the history.
    let engagement = ["metrics", "engagement", "--timezone", "UTC", "--json"];
    for (id, ts) in [("late", "2024-08-01T12:00:00Z"), ("mid", "2024-06-04T12:00:00Z")] {
        ws.ok(&["import", "events", &ws.file("one.jsonl", event(id, Some("u-new"), None, ts))]);
        let counts = json_with_rollups(&ws.data(), &engagement, true).unwrap();
        assert_eq!(counts, json_with_rollups(&ws.data(), &engagement, false).unwrap(), "after {id}");
        assert!(counts["days"].as_array().unwrap().iter().any(|d| d["mau"].as_u64() > Some(20)), "{counts}");
    }
}
