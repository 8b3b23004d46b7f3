//! The real `tenure serve` on a loopback port, and a small HTTP client for it
//! (shared by the serve_*.rs tests).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Ws, tenure_cmd};

pub struct Served {
    pub child: Child,
    pub url: String,
    /// Everything the server wrote to stderr so far.
    pub log: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

/// A key created with `tenure keys create`.
pub fn key(ws: &Ws, name: &str, scope: &str) -> String {
    ws.ok(&["keys", "create", "--name", name, "--scope", scope]).trim().to_string()
}

impl Served {
    /// Start `tenure serve` on a free port and wait until it listens.
    pub fn start(ws: &Ws, extra: &[&str]) -> Served {
        let mut child = tenure_cmd()
            .arg("--data")
            .arg(ws.data())
            .args(["serve", "--addr", "127.0.0.1:0"])
            // Compact often so that tests see rows in the tables quickly.
            .args(if extra.contains(&"--compact-ms") { &[][..] } else { &["--compact-ms", "100"][..] })
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tenure serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(at) = line.find("listening on http://") {
                        let url = line[at + "listening on ".len()..].split_whitespace().next().unwrap().to_string();
                        let _ = tx.send(url);
                    }
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("tenure serve did not start:\n{}", log.lock().unwrap());
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Served { child, url, log, agent }
    }

    /// POST a body; returns the status and the JSON answer.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> (u16, Value) {
        let mut req = self.agent.post(format!("{}{path}", self.url));
        let mut typed = false;
        for (k, v) in headers {
            typed |= k.eq_ignore_ascii_case("content-type");
            req = req.header(*k, *v);
        }
        if !typed {
            req = req.header("Content-Type", "application/json");
        }
        let mut resp = req.send(body.as_ref()).unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let json =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path} -> {status}: not JSON ({e}): {text}"));
        (status, json)
    }

    /// POST with a Bearer key; also returns the answer's Retry-After header.
    pub fn post_retry_after(&self, path: &str, key: &str, body: impl AsRef<[u8]>) -> (u16, Option<String>, Value) {
        let mut resp = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/json")
            .send(body.as_ref())
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (resp.status().as_u16(), retry, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POST with a Bearer key.
    pub fn post_key(&self, path: &str, key: &str, body: impl AsRef<[u8]>) -> (u16, Value) {
        self.post(path, &[("Authorization", &format!("Bearer {key}"))], body)
    }

    /// GET with a Bearer key.
    pub fn get_key(&self, path: &str, key: &str) -> (u16, String) {
        let mut resp = self
            .agent
            .get(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {key}"))
            .call()
            .expect("GET");
        (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap_or_default())
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let mut resp = self.agent.get(format!("{}{path}", self.url)).call().expect("GET");
        (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap_or_default())
    }

    /// SIGTERM, then wait for a clean exit (panics with the server's log if it was not).
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let ok = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success();
        assert!(ok, "could not signal the server");
        let status = self.child.wait().expect("wait");
        // Let the reader thread take the last lines.
        std::thread::sleep(Duration::from_millis(50));
        assert!(status.success(), "tenure serve exited with {status}:\n{}", self.log_text());
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` track events `{prefix}-{i}` for one user and account.
pub fn tracks(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            serde_json::json!({"type": "track", "messageId": format!("{prefix}-{i}"), "userId": format!("u-{prefix}"),
                "event": "Report Created", "timestamp": format!("2024-05-{:02}T10:{:02}:00Z", 1 + i % 3, i % 60),
                "context": {"groupId": "acct-1"}})
        })
        .collect()
}

pub fn batch(messages: &[Value]) -> String {
    serde_json::json!({"batch": messages}).to_string()
}
