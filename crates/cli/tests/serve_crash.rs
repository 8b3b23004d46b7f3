//! kill -9 at a random moment while several clients send batches: after a
//! restart, every acknowledged event is stored exactly once.
//!
//! `TENURE_CRASH_ROUNDS` sets the number of kills (bench/ingest_crash runs 20+).

mod common;
mod serve_support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::Ws;
use serde_json::json;
use serve_support::{Served, key};

const CLIENTS: usize = 4;
const BATCH: usize = 25;

/// A small deterministic generator (the seed is printed to replay a failure).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn acknowledged_events_survive_kill_9_exactly_once() {
    let rounds: usize = std::env::var("TENURE_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let seed = std::env::var("TENURE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    eprintln!("crash test: {rounds} rounds, TENURE_CRASH_SEED={seed}");
    let mut rng = XorShift(seed);
    let ws = Ws::new();
    let write = key(&ws, "segment", "write");
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut sent_batches = 0usize;

    for round in 0..rounds {
        // Compaction at different rhythms, so kills land before, during and after it.
        let compact_ms = (20 + rng.below(300)).to_string();
        let server = Served::start(&ws, &["--compact-ms", &compact_ms]);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (url, write, acked, stop) = (server.url.clone(), write.clone(), acked.clone(), stop.clone());
                let mut rng = XorShift(rng.next() | 1);
                std::thread::spawn(move || client(round, c, &url, &write, &acked, &stop, &mut rng))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150 + rng.below(700)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            sent_batches += c.join().expect("client thread");
        }
    }
    // The restart replays the log; a clean stop compacts everything.
    let server = Served::start(&ws, &[]);
    server.stop();

    let acked = acked.lock().unwrap();
    assert!(acked.len() >= rounds * BATCH, "the clients got acknowledgements ({} events)", acked.len());
    let dupes = ws.sql("select message_id, count(*) as n from events group by message_id having count(*) > 1");
    assert!(dupes.is_empty(), "events stored twice: {dupes:?}");
    let stored: HashSet<String> = ws
        .sql("select message_id from events")
        .into_iter()
        .map(|r| r["message_id"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).take(10).collect();
    assert!(lost.is_empty(), "acknowledged events lost (seed {seed}): {lost:?} of {}", acked.len());
    eprintln!(
        "{} acknowledged events in {sent_batches} batches, {} stored, none lost or doubled",
        acked.len(),
        stored.len()
    );
}

/// Send batches until the server dies; every fifth batch resends the previous
/// one (a client retry). Returns how many batches were acknowledged.
fn client(
    round: usize,
    c: usize,
    url: &str,
    key: &str,
    acked: &Mutex<HashSet<String>>,
    stop: &AtomicBool,
    rng: &mut XorShift,
) -> usize {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut ok = 0;
    let mut previous: Option<(String, Vec<String>)> = None;
    for b in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (body, ids) = match previous.take() {
            Some(p) if b % 5 == 0 => p,
            _ => {
                let ids: Vec<String> = (0..BATCH).map(|i| format!("r{round}-c{c}-b{b}-{i}")).collect();
                let messages: Vec<_> = ids
                    .iter()
                    .map(|id| {
                        json!({"type": "track", "messageId": id, "userId": format!("u{}", rng.below(50)),
                            "event": "Report Created", "context": {"groupId": format!("acct-{}", rng.below(5))},
                            "timestamp": format!("2024-05-{:02}T{:02}:00:00Z", 1 + rng.below(3), rng.below(24))})
                    })
                    .collect();
                (json!({"batch": messages}).to_string(), ids)
            }
        };
        let sent = agent
            .post(format!("{url}/v1/batch"))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/json")
            .send(body.as_bytes());
        match sent {
            Ok(resp) if resp.status() == 200 => {
                acked.lock().unwrap().extend(ids.iter().cloned());
                ok += 1;
                previous = Some((body, ids));
            }
            Ok(resp) => panic!("unexpected status {} from a live server", resp.status()),
            // Killed: this request may or may not have been logged; it was not acknowledged.
            Err(_) => break,
        }
    }
    ok
}
