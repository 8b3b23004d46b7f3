//! kill -9 at a random moment while several clients send batches: after a
//! restart, every acknowledged event (and entity row) is stored exactly once.
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

/// What a client sends: the path and body of its `b`-th batch, and the
/// acknowledged ids it adds (`table:id`).
type MakeBatch = fn(round: usize, client: usize, b: usize, rng: &mut XorShift) -> (&'static str, String, Vec<String>);

/// Kill the server `TENURE_CRASH_ROUNDS` times at random moments while
/// clients send `make` batches, restart it once more and stop it cleanly;
/// returns the acknowledged `table:id`s and the seed.
fn crash_rounds(ws: &Ws, make: MakeBatch) -> (HashSet<String>, u64) {
    let rounds: usize = std::env::var("TENURE_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let seed = std::env::var("TENURE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    eprintln!("crash test: {rounds} rounds, TENURE_CRASH_SEED={seed}");
    let mut rng = XorShift(seed);
    let write = key(ws, "writer", "write");
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut sent_batches = 0usize;

    for round in 0..rounds {
        // Compaction at different rhythms, so kills land before, during and after it.
        let compact_ms = (20 + rng.below(300)).to_string();
        let server = Served::start(ws, &["--compact-ms", &compact_ms]);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (url, write, acked, stop) = (server.url.clone(), write.clone(), acked.clone(), stop.clone());
                let mut rng = XorShift(rng.next() | 1);
                std::thread::spawn(move || client(round, c, &url, &write, &acked, &stop, &mut rng, make))
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
    let server = Served::start(ws, &[]);
    server.stop();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= rounds * BATCH, "the clients got acknowledgements ({} rows)", acked.len());
    eprintln!("{} acknowledged rows in {sent_batches} batches", acked.len());
    (acked, seed)
}

/// Every acknowledged id of `table` is stored, exactly once.
fn assert_exactly_once(ws: &Ws, table: &str, id_column: &str, acked: &HashSet<String>, seed: u64) {
    let dupes = ws.sql(&format!(
        "select {id_column}, count(*) as n from {table} group by {id_column} having count(*) > 1 limit 10"
    ));
    assert!(dupes.is_empty(), "{table} stored twice (seed {seed}): {dupes:?}");
    let stored: HashSet<String> = ws
        .sql(&format!("select {id_column} from {table}"))
        .into_iter()
        .map(|r| format!("{table}:{}", r[id_column].as_str().unwrap()))
        .collect();
    let mine: Vec<&String> = acked.iter().filter(|id| id.starts_with(&format!("{table}:"))).collect();
    assert!(!mine.is_empty(), "no {table} row was acknowledged (seed {seed})");
    let lost: Vec<&&String> = mine.iter().filter(|id| !stored.contains(**id)).take(10).collect();
    assert!(lost.is_empty(), "acknowledged {table} rows lost (seed {seed}): {lost:?} of {}", mine.len());
    // Stored may exceed acknowledged: a request logged just before the kill was never answered.
}

#[test]
fn acknowledged_events_survive_kill_9_exactly_once() {
    let ws = Ws::new();
    let (acked, seed) = crash_rounds(&ws, |round, c, b, rng| {
        let ids: Vec<String> = (0..BATCH).map(|i| format!("r{round}-c{c}-b{b}-{i}")).collect();
        let messages: Vec<_> = ids
            .iter()
            .map(|id| {
                json!({"type": "track", "messageId": id, "userId": format!("u{}", rng.below(50)),
                    "event": "Report Created", "context": {"groupId": format!("acct-{}", rng.below(5))},
                    "timestamp": format!("2024-05-{:02}T{:02}:00:00Z", 1 + rng.below(3), rng.below(24))})
            })
            .collect();
        ("/v1/batch", json!({"batch": messages}).to_string(), ids.iter().map(|id| format!("events:{id}")).collect())
    });
    assert_exactly_once(&ws, "events", "message_id", &acked, seed);
}

/// The same for entity rows (bulk POSTs of customers and subscription
/// events): upserts keyed by id, so a replayed log neither loses nor doubles.
#[test]
fn acknowledged_entity_rows_survive_kill_9_exactly_once() {
    let ws = Ws::new();
    let (acked, seed) = crash_rounds(&ws, |round, c, b, rng| {
        let ids: Vec<String> = (0..BATCH).map(|i| format!("r{round}-c{c}-b{b}-{i}")).collect();
        let (table, rows): (&str, Vec<_>) = if b % 2 == 0 {
            let rows = ids
                .iter()
                .map(|id| json!({"id": id, "name": format!("Customer {id}"), "created_at": "2024-01-03T09:00:00Z"}))
                .collect();
            ("customers", rows)
        } else {
            let rows = ids
                .iter()
                .map(|id| {
                    json!({"external_id": id, "subscription_id": format!("sub-{id}"), "customer_id": "cus-1",
                        "type": "start", "date": format!("2024-02-{:02}", 1 + rng.below(28)), "currency": "EUR",
                        "plan_id": "pro", "interval": "month", "interval_count": 1,
                        "unit_amount_cents": 1000 + rng.below(9000), "quantity": 1})
                })
                .collect();
            ("subscription_events", rows)
        };
        let path = if table == "customers" { "/api/v1/customers" } else { "/api/v1/subscription_events" };
        (path, json!(rows).to_string(), ids.iter().map(|id| format!("{table}:{id}")).collect())
    });
    assert_exactly_once(&ws, "customers", "id", &acked, seed);
    assert_exactly_once(&ws, "subscription_events", "external_id", &acked, seed);
}

/// Send batches until the server dies; every fifth batch resends the previous
/// one (a client retry). Returns how many batches were acknowledged.
#[allow(clippy::too_many_arguments)]
fn client(
    round: usize,
    c: usize,
    url: &str,
    key: &str,
    acked: &Mutex<HashSet<String>>,
    stop: &AtomicBool,
    rng: &mut XorShift,
    make: MakeBatch,
) -> usize {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut ok = 0;
    let mut previous: Option<(&str, String, Vec<String>)> = None;
    for b in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (path, body, ids) = match previous.take() {
            Some(p) if b % 5 == 0 => p,
            _ => make(round, c, b, rng),
        };
        let sent = agent
            .post(format!("{url}{path}"))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/json")
            .send(body.as_bytes());
        match sent {
            Ok(resp) if resp.status() == 200 => {
                acked.lock().unwrap().extend(ids.iter().cloned());
                ok += 1;
                previous = Some((path, body, ids));
            }
            Ok(mut resp) => panic!(
                "unexpected status {} from a live server: {}",
                resp.status(),
                resp.body_mut().read_to_string().unwrap_or_default()
            ),
            // Killed: this request may or may not have been logged; it was not acknowledged.
            Err(_) => break,
        }
    }
    ok
}
