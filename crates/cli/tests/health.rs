//! `tenure health` and `tenure alerts` end to end on a small hand-made
//! workspace (every expected number computed by hand in the comments), and
//! the default scorecard on a small demo company.

mod common;
mod serve_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Ws;
use serde_json::{Value, json};
use serve_support::{Served, key};

/// No billing data, so every customer is scored. Pulse group (weight 3):
/// the `csm_pulse` attribute as it is; plan group (weight 1): tiers.
const CUSTOMERS: &str = "\
id,name,plan_tier,segment,csm_pulse
a,Acme,enterprise,ent,80
b,Bolt,starter,smb,
c,Crux,unknown,smb,60
d,Dyno,,ent,50.5
";

const CARD: &str = r#"
[[groups]]
name = "pulse"
weight = 3
  [[groups.measures]]
  input = "csm_pulse"
  identity = true
[[groups]]
name = "plan"
weight = 1
  [[groups.measures]]
  input = "plan_tier"
  tiers = { enterprise = 100, starter = 20 }
"#;

fn setup() -> Ws {
    let ws = Ws::new();
    let f = ws.file("customers.csv", CUSTOMERS);
    ws.ok(&["import", "customers", &f]);
    ws
}

fn by_account(doc: &Value) -> std::collections::BTreeMap<String, Value> {
    doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["account"].as_str().unwrap().to_string(), a.clone()))
        .collect()
}

#[test]
fn hand_computed_scores_reweighting_bands_and_ranks() {
    let ws = setup();
    let card = ws.file("card.toml", CARD);
    let doc = ws.json(&["health", "--scorecard", &card, "--as-of", "2025-03-10", "--json"]);
    let a = by_account(&doc);
    // a: (3 x 80 + 1 x 100) / 4 = 85, green, grade B.
    assert_eq!(a["a"]["overall_score"], json!(85.0));
    assert_eq!((a["a"]["color"].as_str(), a["a"]["grade"].as_str()), (Some("green"), Some("B")));
    // b: no pulse -> the plan group alone: 20, red; the plan group carries 100 %.
    assert_eq!(a["b"]["overall_score"], json!(20.0));
    assert_eq!(a["b"]["missing_inputs"], json!(["csm_pulse"]));
    assert_eq!(a["b"]["effective_group_weights_pct"], json!({"pulse": 0.0, "plan": 100.0}));
    assert_eq!(a["b"]["color"], "red");
    // c: tier "unknown" is not listed -> missing; pulse alone: 60, yellow.
    assert_eq!((a["c"]["overall_score"].clone(), a["c"]["color"].clone()), (json!(60.0), json!("yellow")));
    assert_eq!(a["c"]["missing_inputs"], json!(["plan_tier"]));
    // d: 50.5 rounds half away from zero to 51: yellow, not red.
    assert_eq!(a["d"]["overall_score_rounded"], json!(51));
    assert_eq!(a["d"]["color"], "yellow");
    let ranks: Vec<(String, u64)> = doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["account"].as_str().unwrap().into(), x["rank"].as_u64().unwrap()))
        .collect();
    assert_eq!(ranks, vec![("a".into(), 1), ("c".into(), 2), ("d".into(), 3), ("b".into(), 4)]);
    assert_eq!(doc["accounts_by_color"], json!({"red": 1, "yellow": 2, "green": 1}));

    // Missing counts as 0: b = (3 x 0 + 20) / 4 = 5; d = (3 x 50.5 + 0) / 4 = 37.875.
    let zero = ws.file("zero.toml", format!("missing = \"zero\"\n{CARD}"));
    let a = by_account(&ws.json(&["health", "--scorecard", &zero, "--as-of", "2025-03-10", "--json"]));
    assert_eq!(a["b"]["overall_score"], json!(5.0));
    assert_eq!(a["d"]["overall_score"], json!(37.88));

    // Segment profiles: ent = {a 85, d 50.5}, smb = {b 20, c 60}.
    let doc = ws.json(&["health", "--scorecard", &card, "--as-of", "2025-03-10", "--segment", "segment", "--json"]);
    let segs = doc["segments"].as_array().unwrap();
    assert_eq!((segs[0]["segment"].as_str(), segs[0]["mean_score"].as_f64()), (Some("ent"), Some(67.75)));
    assert_eq!((segs[1]["segment"].as_str(), segs[1]["mean_score"].as_f64()), (Some("smb"), Some(40.0)));

    // CSV: a header and one row per account, in rank order.
    let csv = ws.ok(&["health", "--scorecard", &card, "--as-of", "2025-03-10", "--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("account,name,overall_score,overall_score_rounded,color,grade,rank"), "{csv}");
    assert_eq!(lines.len(), 5);
    assert!(lines[1].starts_with("a,Acme,85.0,85,green,B,1"), "{csv}");
    // The table names the scorecard and the counts per color.
    let table = ws.ok(&["health", "--scorecard", &card, "--as-of", "2025-03-10"]);
    assert!(table.contains("1 red, 2 yellow, 1 green"), "{table}");
}

#[test]
fn an_override_replaces_the_score_until_it_expires() {
    let ws = setup();
    let card = ws.file("card.toml", CARD);
    let score =
        |day: &str| by_account(&ws.json(&["health", "--scorecard", &card, "--as-of", day, "--json"]))["b"].clone();
    ws.ok(&[
        "health",
        "override",
        "set",
        "b",
        "--score",
        "90",
        "--reason",
        "new exec sponsor",
        "--from",
        "2025-03-01",
        "--expires",
        "2025-04-01",
    ]);
    let b = score("2025-03-31");
    assert_eq!((b["overall_score"].clone(), b["computed_score"].clone()), (json!(90.0), json!(20.0)));
    assert_eq!((b["color"].as_str(), b["rank"].as_u64()), (Some("green"), Some(1)));
    assert_eq!(b["override"]["reason"], "new exec sponsor");
    // The expiry day is the first without it.
    let b = score("2025-04-01");
    assert_eq!((b["overall_score"].clone(), b["override"].clone()), (json!(20.0), Value::Null));
    let list = ws.json(&["health", "override", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let e = ws.fails(&["health", "override", "set", "b", "--score", "120", "--reason", "x", "--expires", "2030-01-01"]);
    assert!(e.contains("0 to 100"), "{e}");
    let e = ws.fails(&["health", "override", "set", "zz", "--score", "50", "--reason", "x", "--expires", "2030-01-01"]);
    assert!(e.contains("no customer with id \"zz\""), "{e}");
    ws.ok(&["health", "override", "clear", "b"]);
    assert_eq!(score("2025-03-31")["overall_score"], json!(20.0));
}

#[test]
fn inputs_from_tickets_and_surveys_as_of_a_day() {
    let ws = setup();
    let tickets = ws.file(
        "tickets.csv",
        "id,customer_id,created_at,first_reply_at,solved_at,status\n\
         t1,a,2025-03-01T09:00:00Z,2025-03-01T10:00:00Z,,open\n\
         t2,a,2025-02-20T09:00:00Z,2025-02-21T15:00:00Z,2025-02-22T09:00:00Z,solved\n\
         t3,a,2025-03-05T09:00:00Z,,2025-03-20T09:00:00Z,solved\n\
         t4,a,2024-01-05T09:00:00Z,2024-01-05T10:00:00Z,2024-01-06T09:00:00Z,closed\n",
    );
    ws.ok(&["import", "tickets", &tickets]);
    let surveys = ws.file(
        "surveys.csv",
        "id,survey_id,survey_type,customer_id,submitted_at,score\n\
         r1,s,nps,a,2025-03-02T09:00:00Z,10\n\
         r2,s,nps,a,2025-03-03T09:00:00Z,6\n\
         r3,s,nps,a,2025-03-03T09:00:00Z,9\n\
         r4,s,nps,a,2023-03-03T09:00:00Z,0\n",
    );
    ws.ok(&["import", "survey_responses", &surveys]);
    let doc = ws.json(&["health", "--account", "a", "--as-of", "2025-03-10", "--json"]);
    let inputs = &doc["accounts"][0]["inputs"];
    // Open on 03-10: t1 (never solved) and t3 (solved on 03-20).
    assert_eq!(inputs["open_tickets"], json!(2.0));
    // In the 90 days: t1, t2, t3; slow: t2 (30 h to reply) and t3 (no reply after 5 days).
    assert_eq!((inputs["tickets_90d"].clone(), inputs["slow_tickets_90d"].clone()), (json!(3.0), json!(2.0)));
    // NPS of the last 365 days: 2 promoters, 1 detractor of 3 = 33.33 (the 2023 answer is out).
    assert_eq!(inputs["nps"], json!(33.33));
    // Other accounts have no tickets in a workspace that has some: 0, not missing.
    let b = ws.json(&["health", "--account", "b", "--as-of", "2025-03-10", "--json"]);
    assert_eq!(b["accounts"][0]["inputs"]["open_tickets"], json!(0.0));
    assert_eq!(b["history"].as_array().unwrap().len(), 31, "30 days of look-back and the day itself");
    let e = ws.fails(&["health", "--account", "nobody"]);
    assert!(e.contains("no customer with id \"nobody\""), "{e}");
}

#[test]
fn scorecard_mistakes_name_the_file_and_key() {
    let ws = setup();
    let bad = ws.file(
        "bad.toml",
        "[[groups]]\nname = \"g\"\nweight = 1\n[[groups.measures]]\ninput = \"x\"\nthresholds = [1, 2]\n",
    );
    let e = ws.fails(&["health", "--scorecard", &bad]);
    assert!(e.contains("bad.toml") && e.contains("groups[0].measures[0].direction"), "{e}");
    std::fs::write(ws.data().join("tenure.toml"), "[health]\nmissing = \"maybe\"\n").unwrap();
    let e = ws.fails(&["health"]);
    assert!(e.contains("tenure.toml") && e.contains("[health]") && e.contains("reweight, zero"), "{e}");
}

/// A webhook receiver on 127.0.0.1 that answers 500 to the first `fail`
/// requests and 200 after, sending each body it receives on the channel.
fn receiver(fail: usize) -> (String, mpsc::Receiver<(u16, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/tenure", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let mut s = conn.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then the body by Content-Length.
            let body = loop {
                let n = s.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap();
                    if buf.len() >= end + 4 + len {
                        break serde_json::from_slice::<Value>(&buf[end + 4..end + 4 + len]).unwrap();
                    }
                }
                if n == 0 {
                    break Value::Null;
                }
            };
            let code = if i < fail { 500 } else { 200 };
            let _ =
                s.write_all(format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
            tx.send((code, body)).unwrap();
        }
    });
    (url, rx)
}

fn alert_card(url: &str) -> String {
    format!(
        "{CARD}\n[[alerts]]\nname = \"entered red\"\nwhen = \"enters_band\"\nband = \"red\"\n\
         [webhook]\nurl = \"{url}\"\nretries = 2\nbackoff_ms = 10\n"
    )
}

#[test]
fn alerts_create_tasks_and_call_the_webhook_with_a_retry() {
    let ws = setup();
    let (url, rx) = receiver(1);
    let card = ws.file("alerts.toml", alert_card(&url));
    let out = ws.json(&["alerts", "evaluate", "--scorecard", &card, "--as-of", "2025-03-10", "--json"]);
    // Only b is red (20).
    let created = out["created"].as_array().unwrap();
    assert_eq!(created.len(), 1, "{out}");
    assert_eq!((created[0]["account"].as_str(), created[0]["rule"].as_str()), (Some("b"), Some("entered red")));
    assert_eq!(created[0]["webhook"]["status"], "delivered");
    assert_eq!(created[0]["webhook"]["attempts"], 2, "failed once, then delivered");
    let (first, body1) = rx.recv().unwrap();
    let (second, body2) = rx.recv().unwrap();
    assert_eq!((first, second), (500, 200));
    assert_eq!(body1, body2, "the retry sends the same payload");
    assert_eq!((body2["type"].as_str(), body2["account"].as_str()), (Some("tenure.health_alert"), Some("b")));
    assert_eq!(body2["details"]["score"], json!(20.0));

    // Evaluating again: b was already red at the last evaluation: it did not enter red again.
    let again = ws.json(&["alerts", "evaluate", "--scorecard", &card, "--as-of", "2025-03-10", "--json"]);
    assert_eq!((again["created"].as_array().unwrap().len(), again["already_open"].as_u64()), (0, Some(0)));

    // Work the task.
    let id = created[0]["id"].as_u64().unwrap().to_string();
    ws.ok(&["alerts", "ack", &id]);
    let tasks = ws.json(&["alerts", "list", "--json"]);
    assert_eq!(tasks[0]["status"], "acknowledged");
    let e = ws.fails(&["alerts", "close", &id, "--note", " "]);
    assert!(e.contains("--note"), "{e}");
    ws.ok(&["alerts", "close", &id, "--note", "called the champion"]);
    assert_eq!(ws.json(&["alerts", "list", "--json"]), json!([]), "closed tasks are hidden by default");
    let all = ws.json(&["alerts", "list", "--all", "--json"]);
    assert_eq!((all[0]["status"].as_str(), all[0]["note"].as_str()), (Some("closed"), Some("called the champion")));
    let e = ws.fails(&["alerts", "close", &id, "--note", "again"]);
    assert!(e.contains("already closed"), "{e}");
}

#[test]
fn a_drop_within_the_window_makes_one_task_until_it_is_closed() {
    let ws = setup();
    // b scores 20; overridden to 90 on 2025-02-01..2025-02-19, so 30 days
    // before 2025-03-10 (02-08) it was 90: a drop of 70 points.
    ws.ok(&[
        "health",
        "override",
        "set",
        "b",
        "--score",
        "90",
        "--reason",
        "pilot",
        "--from",
        "2025-02-01",
        "--expires",
        "2025-02-20",
    ]);
    let card = ws.file(
        "drop.toml",
        format!("{CARD}\n[[alerts]]\nname = \"drop\"\nwhen = \"drops\"\npoints = 70\nwithin_days = 30\n"),
    );
    let eval = || ws.json(&["alerts", "evaluate", "--scorecard", &card, "--as-of", "2025-03-10", "--json"]);
    let first = eval();
    assert_eq!(first["created"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(
        (first["created"][0]["account"].as_str(), first["created"][0]["details"]["score_before"].as_f64()),
        (Some("b"), Some(90.0))
    );
    // Still dropped, task still open: not repeated.
    let second = eval();
    assert_eq!((second["created"].as_array().unwrap().len(), second["already_open"].as_u64()), (0, Some(1)));
    ws.ok(&["alerts", "close", "1", "--note", "expected: the pilot ended"]);
    // Closed, but the task is from 03-10: the rule's default 30-day cooldown
    // holds a new one back, the next day too (30 days before 03-11 is 02-09,
    // still inside the override: 90 -> 20, the drop goes on).
    let at = |card: &str, day: &str| ws.json(&["alerts", "evaluate", "--scorecard", card, "--as-of", day, "--json"]);
    for day in ["2025-03-10", "2025-03-11"] {
        let out = at(&card, day);
        assert_eq!((out["created"].as_array().unwrap().len(), out["cooling_down"].as_u64()), (0, Some(1)), "{day}");
    }
    // With a one-day cooldown the next day makes a new task.
    let short = ws.file(
        "short.toml",
        format!(
            "{CARD}\n[[alerts]]\nname = \"drop\"\nwhen = \"drops\"\npoints = 70\nwithin_days = 30\ncooldown_days = 1\n"
        ),
    );
    assert_eq!(at(&short, "2025-03-10")["cooling_down"], 1, "03-10 is not after the 03-10 task's one-day cooldown");
    assert_eq!(at(&short, "2025-03-11")["created"].as_array().unwrap().len(), 1, "closed and cooled down: a new task");
    // 71 points is more than the drop.
    let strict = ws.file(
        "strict.toml",
        format!("{CARD}\n[[alerts]]\nname = \"drop71\"\nwhen = \"drops\"\npoints = 71\nwithin_days = 30\n"),
    );
    let out = ws.json(&["alerts", "evaluate", "--scorecard", &strict, "--as-of", "2025-03-10", "--json"]);
    assert_eq!(out["created"], json!([]));
}

#[test]
fn a_failed_delivery_is_kept_and_retried_later() {
    let ws = setup();
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let card = ws.file("down.toml", alert_card(&format!("http://127.0.0.1:{port}/")));
    let out = ws.run(&["alerts", "evaluate", "--scorecard", &card, "--as-of", "2025-03-10"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("webhook for task 1 failed after 3 attempt(s)") && stderr.contains("tenure alerts deliver"),
        "{stderr}"
    );
    let tasks = ws.json(&["alerts", "list", "--json"]);
    assert_eq!(
        (tasks[0]["webhook"]["status"].as_str(), tasks[0]["webhook"]["attempts"].as_u64()),
        (Some("failed"), Some(3))
    );
    // The receiver is up now: `deliver` sends it.
    let (url, rx) = receiver(0);
    let card = ws.file("up.toml", alert_card(&url));
    let out = ws.ok(&["alerts", "deliver", "--scorecard", &card]);
    assert!(out.contains("1 webhook call(s) retried: 1 delivered"), "{out}");
    assert_eq!(rx.recv().unwrap().1["task_id"], 1);
    assert_eq!(ws.json(&["alerts", "list", "--json"])[0]["webhook"]["status"], "delivered");
}

#[test]
fn the_default_scorecard_scores_the_demo_company() {
    let ws = Ws::uninitialised();
    let headline = ws.ok(&["demo", "--customers", "60", "--events", "8000"]);
    let doc = ws.json(&["health", "--json"]);
    the_headline_agrees_with_the_document(&headline, &doc);
    the_table_and_csv_agree_with_the_document(&ws, &doc);
    assert_eq!(doc["scorecard"], "default");
    let accounts = doc["accounts"].as_array().unwrap();
    assert!(accounts.len() >= 20, "the demo's subscribers are scored: {}", accounts.len());
    for a in accounts {
        assert!(a["overall_score"].is_number(), "{a}");
        let w: f64 = a["effective_group_weights_pct"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
        assert!((w - 100.0).abs() < 0.02, "effective weights sum to 100: {a}");
    }
    let colors: Vec<&str> = accounts.iter().map(|a| a["color"].as_str().unwrap()).collect();
    assert!(colors.len() > 1);
    // Ranks run 1.. in order.
    assert_eq!(accounts[0]["rank"], 1);
    let table = ws.ok(&["health"]);
    assert!(table.contains("accounts scored"), "{table}");
    let out = ws.json(&["alerts", "evaluate", "--json"]);
    assert_eq!(out["accounts"].as_u64().unwrap() as usize, accounts.len());
}

/// `tenure demo`'s health lines (computed without the document's rows) are
/// the document's counts and its five worst red accounts, worst first.
fn the_headline_agrees_with_the_document(headline: &str, doc: &Value) {
    let colors: Vec<String> =
        doc["accounts_by_color"].as_object().unwrap().iter().map(|(c, n)| format!("{n} {c}")).collect();
    let scored = format!("accounts scored                   {} ({})", doc["accounts_scored"], colors.join(", "));
    assert!(headline.contains(&scored), "{scored:?} in\n{headline}");
    let mut red: Vec<&Value> = doc["accounts"].as_array().unwrap().iter().filter(|a| a["color"] == "red").collect();
    red.sort_by(|a, b| a["overall_score"].as_f64().unwrap().total_cmp(&b["overall_score"].as_f64().unwrap()));
    let expected: Vec<String> = red
        .iter()
        .take(5)
        .map(|a| {
            let moved = a["top_mover"]["measure"].as_str().map(|m| format!(", most moved: {m}")).unwrap_or_default();
            let label = format!("  at risk: {}", a["name"].as_str().unwrap());
            format!(
                "  {label:<34}{} ({}{moved})",
                a["overall_score_rounded"],
                a["trend"].as_str().unwrap_or("no trend")
            )
        })
        .collect();
    let printed: Vec<&str> = headline.lines().filter(|l| l.starts_with("    at risk: ")).collect();
    assert!(!expected.is_empty(), "the demo has red accounts: {headline}");
    assert_eq!(printed, expected);
}

/// The table and the CSV (rows streamed as they are computed) list the
/// document's accounts in its order, with its scores.
fn the_table_and_csv_agree_with_the_document(ws: &Ws, doc: &Value) {
    let rows: Vec<(String, String)> = doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["account"].as_str().unwrap().to_string(), format!("{:.2}", a["overall_score"].as_f64().unwrap())))
        .collect();
    let table = ws.ok(&["health"]);
    let listed: Vec<(String, String)> = table
        .lines()
        .skip(3)
        .map(|l| {
            let cells: Vec<&str> = l.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
            // rank, account, name, score, ...: no cell of the demo holds two spaces.
            (cells[1].to_string(), cells[3].to_string())
        })
        .collect();
    assert_eq!(listed, rows);
    let csv = ws.ok(&["health", "--csv"]);
    let ids: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids, rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>());
}

#[test]
fn alerts_are_evaluated_after_an_import_when_configured() {
    let ws = Ws::new();
    let f = ws.file("customers.csv", CUSTOMERS);
    // No rules configured: the import does no health work and says nothing.
    let out = ws.run(&["import", "customers", &f]);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(ws.json(&["alerts", "list", "--json"]), json!([]));

    let health =
        CARD.replace("[[groups]]", "[[health.groups]]").replace("[[groups.measures]]", "[[health.groups.measures]]");
    let rules = "[[health.alerts]]\nname = \"entered red\"\nwhen = \"enters_band\"\nband = \"red\"\n";
    std::fs::write(ws.data().join("tenure.toml"), format!("{health}\n{rules}")).unwrap();
    // d's pulse drops to 10: d = (3 x 10) / 3 = 10, red; b is red as before.
    let f = ws.file("update.csv", "id,name,plan_tier,segment,csm_pulse\nd,Dyno,,ent,10\n");
    let out = ws.run(&["import", "customers", &f]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("2 new and 0 updated health alert task(s)"), "{stderr}");
    let accounts: Vec<String> = ws
        .json(&["alerts", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["account"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(accounts, vec!["b", "d"]);
}

/// The `[health]` of tenure.toml: [`CARD`] and `extra` keys and tables
/// (written with `health.` prefixes).
fn health_settings(extra: &str) -> String {
    let groups =
        CARD.replace("[[groups]]", "[[health.groups]]").replace("[[groups.measures]]", "[[health.groups.measures]]");
    format!("[health]\n{extra}\n{groups}")
}

fn task_accounts(ws: &Ws) -> Vec<String> {
    let tasks = ws.json(&["alerts", "list", "--json"]);
    tasks.as_array().unwrap().iter().map(|t| t["account"].as_str().unwrap().to_string()).collect()
}

/// Poll `until` every 100 ms for at most 30 s.
#[track_caller]
fn wait_for(what: &str, mut until: impl FnMut() -> bool) {
    let start = Instant::now();
    while !until() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A workspace whose tenure.toml has an "entered red" rule, the webhook at
/// `url` and `alerts_every_seconds = every`, with [`CUSTOMERS`] imported (the
/// import evaluated: b, 20, is red), and a write key for the API.
fn ingest_alerts(every: u64, url: &str) -> (Ws, String) {
    let ws = Ws::new();
    std::fs::write(
        ws.data().join("tenure.toml"),
        format!(
            "{}\n[[health.alerts]]\nname = \"entered red\"\nwhen = \"enters_band\"\nband = \"red\"\n\
             [health.webhook]\nurl = \"{url}\"\nretries = 0\n",
            health_settings(&format!("alerts_every_seconds = {every}"))
        ),
    )
    .unwrap();
    let f = ws.file("customers.csv", CUSTOMERS);
    ws.ok(&["import", "customers", &f]);
    assert_eq!(task_accounts(&ws), vec!["b"]);
    let write = key(&ws, "crm", "write");
    (ws, write)
}

fn created_at(ws: &Ws, account: &str) -> jiff::Timestamp {
    let tasks = ws.json(&["alerts", "list", "--json"]);
    let t = tasks.as_array().unwrap().iter().find(|t| t["account"] == account).unwrap();
    t["created_at"].as_str().unwrap().parse().unwrap()
}

#[test]
fn alerts_are_evaluated_after_api_ingest_at_most_once_per_interval() {
    let (url, rx) = receiver(0);
    // An hour between evaluations: the first commit after the start is evaluated at once, the next one waits.
    let (ws, write) = ingest_alerts(3600, &url);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap().1["account"], "b");
    let server = Served::start(&ws, &[]);
    // d's pulse drops from 50.5 to 10 through the API: d = 10, red.
    let (status, answer) =
        server.post_key("/api/v1/customers", &write, json!([{"id": "d", "name": "Dyno", "csm_pulse": 10}]).to_string());
    assert_eq!(status, 200, "{answer}");
    wait_for("the task of d", || task_accounts(&ws).contains(&"d".to_string()));
    assert_eq!(task_accounts(&ws), vec!["b", "d"], "b is still red, not a new task");
    let (_, body) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((body["account"].as_str(), body["details"]["score"].as_f64()), (Some("d"), Some(10.0)));
    wait_for("the evaluation to be logged", || server.log_text().contains("health alerts after ingest: 1 new"));

    // A new red account e within the hour: committed, but not evaluated yet.
    let (status, _) =
        server.post_key("/api/v1/customers", &write, json!([{"id": "e", "name": "Echo", "csm_pulse": 5}]).to_string());
    assert_eq!(status, 200);
    wait_for("e in the table", || ws.count("customers") == 5);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(task_accounts(&ws), vec!["b", "d"], "debounced");
    server.stop();
    // The next start evaluates what the last run committed and did not evaluate.
    let server = Served::start(&ws, &[]);
    wait_for("the task of e", || task_accounts(&ws).contains(&"e".to_string()));
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap().1["account"], "e");
    server.stop();
    assert!(rx.try_recv().is_err(), "one call per new task");
}

#[test]
fn commits_held_back_by_the_interval_are_evaluated_when_it_has_passed() {
    let (url, rx) = receiver(0);
    let (ws, write) = ingest_alerts(2, &url);
    let server = Served::start(&ws, &[]);
    for (id, n) in [("d", 1), ("e", 2)] {
        let row = json!([{"id": id, "csm_pulse": 10}]).to_string();
        assert_eq!(server.post_key("/api/v1/customers", &write, row).0, 200);
        if n == 1 {
            wait_for("the task of d", || task_accounts(&ws).contains(&"d".to_string()));
        }
    }
    wait_for("the task of e", || task_accounts(&ws).contains(&"e".to_string()));
    let gap = created_at(&ws, "e").duration_since(created_at(&ws, "d"));
    assert!(gap.as_secs_f64() > 1.5, "evaluations 2 s apart at least (less a load time): {gap:?}");
    let posted: Vec<Value> =
        (0..3).map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap().1["account"].clone()).collect();
    assert_eq!(posted, vec![json!("b"), json!("d"), json!("e")]);
    server.stop();
}

#[test]
fn a_broken_alert_setup_is_logged_and_never_fails_ingest() {
    let ws = Ws::new();
    std::fs::write(
        ws.data().join("tenure.toml"),
        format!("{}\n[[health.alerts]]\nwhen = \"sometimes\"\n", health_settings("")),
    )
    .unwrap();
    let write = key(&ws, "crm", "write");
    let server = Served::start(&ws, &[]);
    let (status, answer) = server.post_key("/api/v1/customers", &write, json!([{"id": "z"}]).to_string());
    assert_eq!(status, 200, "{answer}");
    wait_for("the row", || ws.count("customers") == 1);
    wait_for("the log line", || server.log_text().contains("health alerts were not evaluated after ingest"));
    let log = server.log_text();
    assert!(log.contains("alerts[0].when") && log.contains("\"sometimes\""), "{log}");
    server.stop();
}

/// A certificate authority and a certificate for 127.0.0.1 signed by it, made with the openssl CLI.
fn private_ca(ws: &Ws) -> (String, String, String) {
    let dir = ws.path("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let steps: Vec<Vec<String>> = vec![
        [
            &["req", "-x509"][..],
            &ec,
            &["-keyout", &p("ca.key"), "-out", &p("ca.pem"), "-days", "2", "-subj", "/CN=Tenure Test CA"],
        ]
        .concat()
        .into_iter()
        .map(String::from)
        .collect(),
        [&["req"][..], &ec, &["-keyout", &p("leaf.key"), "-out", &p("leaf.csr"), "-subj", "/CN=127.0.0.1"]]
            .concat()
            .into_iter()
            .map(String::from)
            .collect(),
        ["x509", "-req", "-in", &p("leaf.csr"), "-CA", &p("ca.pem"), "-CAkey", &p("ca.key"), "-CAcreateserial"]
            .into_iter()
            .chain(["-out", &p("leaf.pem"), "-days", "2", "-extfile", &p("ext.cnf")])
            .map(String::from)
            .collect(),
    ];
    for args in steps {
        let out = Command::new("openssl").args(&args).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    (p("ca.pem"), p("leaf.pem"), p("leaf.key"))
}

/// An HTTPS webhook receiver (Python's http.server behind ssl) that answers
/// 200 and prints each body on a line; returns its URL.
struct TlsReceiver {
    child: Child,
    url: String,
    bodies: mpsc::Receiver<Value>,
}

impl TlsReceiver {
    fn start(cert: &str, key: &str) -> TlsReceiver {
        const SERVER: &str = r#"
import http.server, ssl, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        print(body.decode(), flush=True)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = tls.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", SERVER, cert, key])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines.next().expect("the port").unwrap();
        let (tx, bodies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = tx.send(serde_json::from_str(&line).unwrap());
            }
        });
        TlsReceiver { child, url: format!("https://127.0.0.1:{}/hooks/tenure", port.trim()), bodies }
    }
}

impl Drop for TlsReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_https_webhook_behind_a_private_ca_needs_its_ca_file() {
    let ws = setup();
    let (ca, cert, key) = private_ca(&ws);
    let hook = TlsReceiver::start(&cert, &key);
    let rule = "[[alerts]]\nname = \"entered red\"\nwhen = \"enters_band\"\nband = \"red\"\n";
    let webhook = format!("[webhook]\nurl = \"{}\"\nretries = 1\nbackoff_ms = 10\n", hook.url);
    // Without the CA the receiver's certificate is not trusted: refused, logged, kept.
    let public = ws.file("public.toml", format!("{CARD}\n{rule}{webhook}"));
    let out = ws.run(&["alerts", "evaluate", "--scorecard", &public, "--as-of", "2025-03-10"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("webhook for task 1 failed after 2 attempt(s)"), "{stderr}");
    let task = &ws.json(&["alerts", "list", "--json"])[0];
    assert_eq!(task["webhook"]["status"], "failed");
    let error = task["webhook"]["last_error"].as_str().unwrap();
    assert!(error.contains("certificate") || error.contains("UnknownIssuer"), "{error}");
    assert!(hook.bodies.try_recv().is_err(), "nothing reached the receiver");

    // With ca_file (relative to the workspace directory) it is delivered.
    std::fs::copy(&ca, ws.data().join("private-ca.pem")).unwrap();
    let private = ws.file("private.toml", format!("{CARD}\n{rule}{webhook}ca_file = \"private-ca.pem\"\n"));
    let out = ws.ok(&["alerts", "deliver", "--scorecard", &private]);
    assert!(out.contains("1 webhook call(s) retried: 1 delivered"), "{out}");
    let body = hook.bodies.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((body["task_id"].as_u64(), body["account"].as_str()), (Some(1), Some("b")));
    let task = &ws.json(&["alerts", "list", "--json"])[0];
    assert_eq!(
        (task["webhook"]["status"].as_str(), task["webhook"]["attempts"].as_u64()),
        (Some("delivered"), Some(3))
    );
}

/// d's pulse is 10 (d = 10, red) and d was overridden to 90 from 2025-02-01
/// to 2025-02-20: as of 2025-03-10 d entered red and dropped 80 points in 30
/// days (from 90 on 02-08); b (20) entered red and did not drop.
fn two_rules_for_d(alert_tasks: &str) -> (Ws, String) {
    let ws = setup();
    let f = ws.file("update.csv", "id,name,plan_tier,segment,csm_pulse\nd,Dyno,,ent,10\n");
    ws.ok(&["import", "customers", &f]);
    let o = ["health", "override", "set", "d", "--score", "90", "--reason", "pilot"];
    ws.ok(&[&o[..], &["--from", "2025-02-01", "--expires", "2025-02-20"]].concat());
    let card = ws.file(
        "two.toml",
        format!(
            "alert_tasks = \"{alert_tasks}\"\n{CARD}\n[[alerts]]\nname = \"entered red\"\nwhen = \"enters_band\"\n\
             band = \"red\"\n[[alerts]]\nname = \"drop\"\nwhen = \"drops\"\npoints = 30\nwithin_days = 30\n"
        ),
    );
    (ws, card)
}

#[test]
fn one_task_per_account_lists_every_rule_that_fired() {
    let eval =
        |ws: &Ws, card: &str| ws.json(&["alerts", "evaluate", "--scorecard", card, "--as-of", "2025-03-10", "--json"]);
    // Per rule: b entered red; d entered red; d dropped: 3 tasks.
    let (ws, card) = two_rules_for_d("per_rule");
    let out = eval(&ws, &card);
    let made: Vec<(&str, &str)> = out["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["account"].as_str().unwrap(), t["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(made, vec![("b", "entered red"), ("d", "entered red"), ("d", "drop")]);

    // Per account: one task for d with both reasons.
    let (ws, card) = two_rules_for_d("per_account");
    let out = eval(&ws, &card);
    let created = out["created"].as_array().unwrap();
    assert_eq!(created.len(), 2, "{out}");
    let d = &created[1];
    assert_eq!((d["account"].as_str(), d["rule"].as_str()), (Some("d"), Some("entered red, drop")));
    assert_eq!(d["reasons"].as_array().unwrap().len(), 2);
    assert_eq!(d["details"]["reasons"][1]["score_before"], json!(90.0));
    assert_eq!(d["message"], "d entered red (score 10); d dropped 80 points in 30 days (90 -> 10)");
    assert_eq!(created[0]["reasons"].as_array().unwrap().len(), 1);

    // The second rule fires later, while d's task is open: its reason is added to that task.
    let (ws, two) = two_rules_for_d("per_account");
    let one = ws
        .file("one.toml", std::fs::read_to_string(&two).unwrap().split("[[alerts]]\nname = \"drop\"").next().unwrap());
    let first = eval(&ws, &one);
    assert_eq!(first["created"].as_array().unwrap().len(), 2);
    ws.ok(&["alerts", "ack", "2"]);
    // The update is POSTed too, with every reason.
    let (url, rx) = receiver(0);
    let two =
        ws.file("hooked.toml", format!("{}\n[webhook]\nurl = \"{url}\"\n", std::fs::read_to_string(&two).unwrap()));
    let second = eval(&ws, &two);
    // b and d were red at the last evaluation: "entered red" does not fire again; "drop" fires for d.
    assert_eq!((second["created"].as_array().unwrap().len(), second["already_open"].as_u64()), (0, Some(0)));
    let updated = second["updated"].as_array().unwrap();
    assert_eq!(updated.len(), 1);
    assert_eq!((updated[0]["id"].as_u64(), updated[0]["rule"].as_str()), (Some(2), Some("entered red, drop")));
    assert_eq!(updated[0]["status"], "acknowledged", "someone is on it already");
    assert!(updated[0]["updated_at"].is_string());
    let (_, body) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((body["event"].as_str(), body["task_id"].as_u64()), (Some("updated"), Some(2)));
    assert_eq!(body["reasons"].as_array().unwrap().len(), 2);
    assert!(rx.try_recv().is_err(), "only the updated task is POSTed");
    ws.ok(&["alerts", "close", "2", "--note", "pilot ended"]);
    assert_eq!(task_accounts(&ws), vec!["b"]);
}

#[test]
fn slow_tickets_count_business_hours_when_the_scorecard_says_so() {
    let ws = setup();
    // Mon-Fri 09:00-17:00 UTC; a first reply later than 8 hours is slow.
    std::fs::write(
        ws.data().join("tenure.toml"),
        "[workspace]\ntimezone = \"UTC\"\n[support]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n\
         hours = \"09:00-17:00\"\nfirst_response_target = \"8h\"\n",
    )
    .unwrap();
    // As of the end of Monday 2025-03-10:
    // t1 Fri 16:00 -> Mon 10:00: 66 h calendar (slow); 1 h Fri + 1 h Mon = 2 business hours.
    // t2 Mon 03-03 09:00 -> Tue 10:00: 25 h (slow); 8 h + 1 h = 9 business hours (slow).
    // t3 Wed 09:00 -> Wed 17:00: 8 h on both clocks, exactly the target: not slow.
    // t4 Mon 03-10 12:00, no reply at the end of the day: 12 h (slow); 5 business hours, not yet.
    let tickets = ws.file(
        "tickets.csv",
        "id,customer_id,created_at,first_reply_at,status\n\
         t1,a,2025-03-07T16:00:00Z,2025-03-10T10:00:00Z,open\n\
         t2,a,2025-03-03T09:00:00Z,2025-03-04T10:00:00Z,open\n\
         t3,a,2025-03-05T09:00:00Z,2025-03-05T17:00:00Z,open\n\
         t4,a,2025-03-10T12:00:00Z,,open\n",
    );
    ws.ok(&["import", "tickets", &tickets]);
    let slow = |clock: &str| {
        let card = ws.file(&format!("{clock}.toml"), format!("slow_tickets_clock = \"{clock}\"\n{CARD}"));
        let doc = ws.json(&["health", "--account", "a", "--scorecard", &card, "--as-of", "2025-03-10", "--json"]);
        doc["accounts"][0]["inputs"]["slow_tickets_90d"].as_f64().unwrap()
    };
    assert_eq!(slow("calendar"), 3.0);
    assert_eq!(slow("business"), 1.0);
}
