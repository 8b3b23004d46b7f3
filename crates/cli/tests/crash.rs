//! An import killed with SIGKILL midway leaves the previous state intact, and
//! the next import cleans up after it.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{Ws, example, tenure_cmd};

fn parquet_files(ws: &Ws) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "parquet") {
                out.push(p.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(&ws.data().join("tables"), &mut out);
    out.sort();
    out
}

#[test]
fn import_killed_midway_leaves_the_previous_state_intact() {
    let ws = Ws::new();
    ws.ok(&["import", "events", &example("events.jsonl")]);
    ws.ok(&["import", "customers", &example("customers.csv")]);
    let before = ws.snapshot();
    let files_before = parquet_files(&ws);

    // 300,000 events over 60 days; flushed every 20,000 rows, so data files
    // are written long before the import would commit.
    let big = ws.path("big.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        for i in 0..300_000u32 {
            writeln!(
                f,
                r#"{{"messageId":"big-{i}","type":"track","userId":"u{}","event":"Report Created","timestamp":"2024-04-{:02}T{:02}:{:02}:00Z","groupId":"cus_00{}"}}"#,
                i % 997,
                1 + i % 30,
                i % 24,
                i % 60,
                1 + i % 4
            )
            .unwrap();
        }
    }
    let mut child = tenure_cmd()
        .arg("--data")
        .arg(ws.data())
        .args(["import", "events", big.to_str().unwrap()])
        .env("TENURE_EVENT_FLUSH_ROWS", "20000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if parquet_files(&ws).len() > files_before.len() + 2 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the import finished before it could be killed");
        assert!(Instant::now() < deadline, "the import wrote no data files in time");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(parquet_files(&ws).len() > files_before.len(), "uncommitted files are on disk");

    // Readers see exactly the previous state.
    assert_eq!(ws.count("events"), 6);
    assert_eq!(ws.count("customers"), 4);
    let after: Vec<_> = ws.snapshot().into_iter().filter(|(k, _)| !k.contains("part-000003")).collect();
    assert_eq!(after, before.into_iter().collect::<Vec<_>>(), "committed files and manifest are unchanged");

    // The next writer removes the leftovers and works normally.
    ws.ok(&["import", "events", big.to_str().unwrap()]);
    assert_eq!(ws.count("events"), 300_006);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.data().join("manifest.json")).unwrap()).unwrap();
    let referenced: std::collections::BTreeSet<String> = manifest["tables"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|t| {
            t["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| ws.data().join(f["path"].as_str().unwrap()).to_string_lossy().into_owned())
        })
        .collect();
    let on_disk: std::collections::BTreeSet<String> = parquet_files(&ws).into_iter().collect();
    assert_eq!(on_disk, referenced, "no unreferenced data files remain");
    // And it is idempotent.
    let out = ws.ok(&["import", "events", big.to_str().unwrap()]);
    assert!(out.contains("0 new, 300000 already stored"), "{out}");
}
