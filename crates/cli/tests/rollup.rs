//! The per-day rollups of active actors (`rollups/active-days.bin`): built by
//! `tenure demo` and `tenure import events`, they must answer exactly like a
//! scan of the events (`TENURE_NO_ROLLUPS=1`), and really be what answers.

mod common;

use common::{Ws, example, json_with_rollups};
use serde_json::Value;

fn json(ws: &Ws, args: &[&str], rollups: bool) -> Result<Value, String> {
    json_with_rollups(&ws.data(), args, rollups)
}

const QUERIES: &[&[&str]] = &[
    &["metrics", "engagement", "--timezone", "UTC", "--json"],
    &["metrics", "engagement", "--timezone", "UTC", "--by", "account", "--list", "--json"],
    &["metrics", "engagement", "--timezone", "UTC", "--from", "2025-02-01", "--to", "2025-03-01", "--list", "--json"],
    &["metrics", "stickiness", "--timezone", "UTC", "--interval", "week", "--list", "--json"],
    &["metrics", "retention", "--timezone", "UTC", "--period", "week", "--json"],
    &[
        "metrics",
        "retention",
        "--timezone",
        "UTC",
        "--period",
        "month",
        "--type",
        "recurring",
        "--by",
        "account",
        "--json",
    ],
];

#[test]
fn rollups_answer_like_a_scan_follow_imports_and_are_what_answers() {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "40", "--events", "8000"]);
    assert!(ws.data().join("rollups/active-days.bin").is_file(), "the demo builds the rollups");
    let check = |when: &str| -> Vec<Value> {
        QUERIES
            .iter()
            .map(|q| {
                let scan = json(&ws, q, false).unwrap();
                let roll = json(&ws, q, true).unwrap();
                assert_eq!(roll, scan, "{when}: {q:?}");
                roll
            })
            .collect()
    };
    let before = check("after the demo");
    let days = before[0]["days"].as_array().unwrap();
    assert!(days.len() > 300 && days.iter().any(|d| d["mau"].as_u64() > Some(10)), "a real answer was compared");

    // New events (some on days the demo already has) refresh the rollups.
    let roll = ws.data().join("rollups/active-days.bin");
    let old_rollups = std::fs::read(&roll).unwrap();
    ws.ok(&["import", "events", &example("events.jsonl")]);
    let after = check("after an import");
    assert_ne!(after[0], before[0], "the import changed the daily counts");

    // The rollups of before the import lack the new files: the stored DAU/WAU/MAU
    // counts must not answer (the sets do, with the new files scanned).
    let new_rollups = std::fs::read(&roll).unwrap();
    std::fs::write(&roll, &old_rollups).unwrap();
    assert_eq!(json(&ws, QUERIES[0], true).unwrap(), after[0], "stale rollups");
    // `tenure rollups` brings them up to date (as the import did), as it rebuilds a
    // missing or old-format file.
    ws.ok(&["rollups"]);
    assert_ne!(std::fs::read(&roll).unwrap(), old_rollups);
    assert_eq!(check("after tenure rollups"), after);
    std::fs::write(&roll, &new_rollups).unwrap();

    // Blank out every events file (same size): only the rollups can still
    // answer, with the same numbers; a scan and another time zone now fail.
    for entry in walk(&ws.data().join("tables/events")) {
        let len = std::fs::metadata(&entry).unwrap().len();
        std::fs::write(&entry, vec![0u8; len as usize]).unwrap();
    }
    for (q, want) in QUERIES.iter().zip(&after) {
        assert_eq!(&json(&ws, q, true).unwrap(), want, "from the rollups alone: {q:?}");
    }
    assert!(json(&ws, QUERIES[0], false).is_err(), "the scan reads the (now blank) files");
    let ny = ["metrics", "engagement", "--timezone", "America/New_York", "--json"];
    assert!(json(&ws, &ny, true).is_err(), "no rollups for that zone: it scans");
    // A named active event is not rolled up either.
    assert!(json(&ws, &["metrics", "engagement", "--timezone", "UTC", "--event", "x", "--json"], true).is_err());

    // A damaged rollup file is ignored, not trusted (the scan then fails on the blank files).
    let bytes = std::fs::read(&roll).unwrap();
    std::fs::write(&roll, &bytes[..bytes.len() / 2]).unwrap();
    assert!(json(&ws, QUERIES[0], true).is_err());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}
