//! Alert webhooks: a JSON POST to `http://` or `https://` (rustls; the public
//! web roots, or the CA certificates of `ca_file` for a receiver behind a
//! private CA), retried with exponential backoff. A delivery that failed after
//! every retry is kept on its task, never dropped.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenure_metrics::health::Webhook;
use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// How long one attempt may take, connecting and answering.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook call: `delivered`, or `failed` after every retry (kept, and
/// tried again by `tenure alerts deliver`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub url: String,
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

/// A client for one webhook: built once per evaluation, reused by its calls.
pub struct Client {
    hook: Webhook,
    /// `Err` when the CA file cannot be used: every call then fails with it.
    agent: Result<ureq::Agent, String>,
}

impl Client {
    /// `root` is the workspace directory, which a relative `ca_file` is under.
    pub fn new(hook: &Webhook, root: &Path) -> Client {
        Client { hook: hook.clone(), agent: agent(hook, root) }
    }

    /// POST `body`, retrying with exponential backoff.
    pub fn deliver(&self, body: &Value) -> Delivery {
        let hook = &self.hook;
        let mut last_error = None;
        let mut wait = hook.backoff_ms;
        for attempt in 1..=hook.retries + 1 {
            match self.post(body) {
                Ok(()) => {
                    return Delivery {
                        url: hook.url.clone(),
                        status: "delivered".into(),
                        attempts: attempt,
                        last_error,
                        delivered_at: Some(Timestamp::now()),
                    };
                }
                Err(e) => last_error = Some(e),
            }
            if attempt <= hook.retries {
                std::thread::sleep(Duration::from_millis(wait));
                wait = wait.saturating_mul(2);
            }
        }
        Delivery {
            url: hook.url.clone(),
            status: "failed".into(),
            attempts: hook.retries + 1,
            last_error,
            delivered_at: None,
        }
    }

    /// One POST; success is a 2xx status (a redirect is not followed: it is a failure).
    fn post(&self, body: &Value) -> Result<(), String> {
        let agent = self.agent.as_ref().map_err(Clone::clone)?;
        let url = &self.hook.url;
        let resp = agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|e| format!("{url}: {e}"))?;
        let code = resp.status().as_u16();
        if (200..300).contains(&code) { Ok(()) } else { Err(format!("{url} answered HTTP {code}")) }
    }
}

fn agent(hook: &Webhook, root: &Path) -> Result<ureq::Agent, String> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(ATTEMPT_TIMEOUT))
        .user_agent(concat!("tenure/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &hook.ca_file {
        let path = root.join(ca);
        let pem = fs_err::read(&path).map_err(|e| format!("webhook.ca_file: {e}"))?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => return Err(format!("webhook.ca_file {}: not PEM: {e}", path.display())),
            }
        }
        if certs.is_empty() {
            return Err(format!("webhook.ca_file {}: no CERTIFICATE in it", path.display()));
        }
        config = config.tls_config(TlsConfig::builder().root_certs(RootCerts::Specific(Arc::new(certs))).build());
    }
    Ok(config.build().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(url: &str, ca_file: Option<&str>) -> Webhook {
        Webhook { url: url.into(), ca_file: ca_file.map(Into::into), retries: 1, backoff_ms: 1 }
    }

    #[test]
    fn an_unusable_ca_file_fails_every_attempt_naming_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
        let d = Client::new(&hook("https://127.0.0.1:9/", Some("ca.pem")), dir.path()).deliver(&Value::Null);
        assert_eq!((d.status.as_str(), d.attempts), ("failed", 2));
        let e = d.last_error.unwrap();
        assert!(e.contains("webhook.ca_file") && e.contains("no CERTIFICATE"), "{e}");
        let d = Client::new(&hook("https://127.0.0.1:9/", Some("missing.pem")), dir.path()).deliver(&Value::Null);
        assert!(d.last_error.unwrap().contains("missing.pem"));
    }

    #[test]
    fn a_refused_connection_is_retried_then_reported() {
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = Client::new(&hook(&format!("http://127.0.0.1:{port}/"), None), Path::new(".")).deliver(&Value::Null);
        assert_eq!((d.status.as_str(), d.attempts, d.delivered_at), ("failed", 2, None));
        assert!(d.last_error.unwrap().contains(&port.to_string()));
    }
}
