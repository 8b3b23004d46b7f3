//! The dashboard against the real `tenure serve` on a loopback port, over a
//! small demo workspace: the login is enforced (HTTP), the read API serves
//! the CLI's JSON, and every page renders in a real headless Chromium with
//! its charts drawn, its tables filled and its numbers equal to the API's.
//!
//! Chromium comes from the Debian packages (`scripts/install-browser`). The
//! browser tests are skipped, loudly, only when it is missing outside CI.
//! Screenshots of every page are saved under the target directory
//! (`dashboard-screenshots/`).

mod common;
mod serve_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Ws;
use serde_json::Value;
use serve_support::{Served, key};

/// A small demo company (seconds to generate). Each test has its own: one
/// server per workspace.
fn demo() -> Ws {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "120", "--events", "30000", "--seed", "7"]);
    ws
}

/// An HTTP client that does not follow redirects (the login answers are
/// redirects with cookies) and keeps error statuses as answers.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

struct Answer {
    status: u16,
    location: String,
    cookie: String,
    content_type: String,
    body: String,
}

fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.call().unwrap_or_else(|e| panic!("GET {url}: {e}")))
}

fn post_form(url: &str, form: &str) -> Answer {
    post_form_as(url, form, "")
}

/// A form post with a session cookie (`name=value`, or empty for none).
fn post_form_as(url: &str, form: &str, cookie: &str) -> Answer {
    let mut req = agent().post(url).header("Content-Type", "application/x-www-form-urlencoded");
    if !cookie.is_empty() {
        req = req.header("Cookie", cookie);
    }
    answer(req.send(form.as_bytes()).unwrap_or_else(|e| panic!("POST {url}: {e}")))
}

/// The rows of an RFC 4180 CSV document (quoted fields may hold commas, quotes, newlines).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn num(s: &str) -> f64 {
    if s.is_empty() { 0.0 } else { s.parse().unwrap_or_else(|_| panic!("{s:?} is not a number")) }
}

fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
    let h = |k: &str| r.headers().get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (location, cookie, content_type) = (h("location"), h("set-cookie"), h("content-type"));
    Answer {
        status: r.status().as_u16(),
        location,
        cookie,
        content_type,
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// The `name=value` part of a Set-Cookie header.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").to_string()
}

/// The one-time login link `tenure serve` prints at start-up.
fn login_link(served: &Served) -> String {
    for _ in 0..100 {
        let log = served.log_text();
        if let Some(at) = log.find("/login?token=") {
            let start = log[..at].rfind("http://").expect("the link is a URL");
            return log[start..].split_whitespace().next().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "tenure serve did not print the dashboard's login link (tenure_server::dashboard::login_link); log:\n{}",
        served.log_text()
    );
}

#[test]
fn pages_need_a_session_and_the_read_api_serves_the_cli_json() {
    let ws = &demo();
    let read = key(ws, "dash-read", "read");
    let write = key(ws, "dash-write", "write");
    let served = Served::start(ws, &[]);
    let base = served.url.clone();
    let bearer = |k: &str| format!("Bearer {k}");

    // No customer data without a session: pages redirect to the login form,
    // tables as CSV too, and the API needs a key.
    for path in ["/", "/revenue", "/accounts", "/accounts/cus_0001", "/revenue?csv=months"] {
        let a = get(&format!("{base}{path}"), &[]);
        assert_eq!(a.status, 303, "{path} without a session");
        assert!(a.location.starts_with("/login?next="), "{path} -> {}", a.location);
        assert!(!a.body.contains("USD"), "{path} leaked figures");
    }
    assert_eq!(get(&format!("{base}/api/v1/metrics/revenue"), &[]).status, 401);
    assert_eq!(get(&format!("{base}/api/v1/metrics/revenue"), &[("Authorization", &bearer(&write))]).status, 403);
    assert_eq!(get(&format!("{base}/assets/uplot.min.js"), &[]).status, 200, "assets are public");

    // The read API: the same JSON as the CLI, the CLI's error messages.
    let api =
        get(&format!("{base}/api/v1/metrics/revenue?from=2025-01&to=2025-06"), &[("Authorization", &bearer(&read))]);
    assert_eq!(api.status, 200, "{}", api.body);
    let api_json: Value = serde_json::from_str(&api.body).unwrap();
    let cli_json = ws.json(&["metrics", "revenue", "--from", "2025-01", "--to", "2025-06", "--json"]);
    assert_eq!(api_json["months"], cli_json["months"]);
    assert_eq!(api_json["cohorts"], cli_json["cohorts"]);
    let nps_api: Value = serde_json::from_str(
        &get(&format!("{base}/api/v1/metrics/nps?detractor_max=8"), &[("Authorization", &bearer(&read))]).body,
    )
    .unwrap();
    assert_eq!(nps_api, ws.json(&["metrics", "nps", "--detractor-max", "8", "--json"]));
    let bad = get(&format!("{base}/api/v1/metrics/engagement?from=yesterday"), &[("Authorization", &bearer(&read))]);
    assert_eq!(bad.status, 400);
    let cli_err = ws.fails(&["metrics", "engagement", "--from", "yesterday"]);
    let msg: Value = serde_json::from_str(&bad.body).unwrap();
    let first_line = cli_err.lines().next().unwrap();
    assert!(msg["error"].as_str().unwrap().contains(first_line.trim_start_matches("error: ")), "{msg} vs {cli_err}");
    assert_eq!(get(&format!("{base}/api/v1/metrics/nope"), &[("Authorization", &bearer(&read))]).status, 400);
    let unknown = get(&format!("{base}/api/v1/accounts/no-such-account"), &[("Authorization", &bearer(&read))]);
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    // The account 360: its MRR is its share of the company's, month by month.
    let account: Value = serde_json::from_str(
        &get(&format!("{base}/api/v1/accounts/cus_0003"), &[("Authorization", &bearer(&read))]).body,
    )
    .unwrap();
    assert_eq!(account["account_id"], "cus_0003");
    let explain = ws.json(&["metrics", "revenue", "--explain", "2025-03", "--json"]);
    let in_explain = explain["subscribers"].as_array().unwrap().iter().any(|c| c == "cus_0003");
    let march = account["mrr_history"].as_array().unwrap().iter().find(|m| m["month"] == "2025-03");
    assert_eq!(
        march.is_some_and(|m| m["mrr_cents"].as_f64().unwrap() > 0.0),
        in_explain,
        "the account pays in March exactly when the company's March lists it: {account}"
    );

    // Logging in: a write key is refused, a read key gets an HttpOnly cookie.
    let refused = post_form(&format!("{base}/login"), &format!("key={write}&next=%2Frevenue"));
    assert_eq!(refused.status, 401);
    assert!(refused.cookie.is_empty());
    let ok = post_form(&format!("{base}/login"), &format!("key={read}&next=%2Frevenue"));
    assert_eq!((ok.status, ok.location.as_str()), (303, "/revenue"));
    assert!(ok.cookie.contains("HttpOnly") && ok.cookie.contains("SameSite=Strict"), "{}", ok.cookie);
    assert!(!ok.cookie.contains(&read), "the key itself never goes in the cookie");
    let session = cookie_pair(&ok.cookie);
    let page = get(&format!("{base}/revenue"), &[("Cookie", &session)]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Month by month"));
    // Every table downloads as CSV: one row per month of the API's document.
    let csv = get(&format!("{base}/revenue?from=2025-01&to=2025-06&csv=months"), &[("Cookie", &session)]);
    assert!(csv.content_type.starts_with("text/csv"), "{}", csv.content_type);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("month,MRR,"), "{}", lines[0]);
    assert_eq!(lines.len() - 1, api_json["months"].as_object().unwrap().len());
    let june = lines.iter().find(|l| l.starts_with("2025-06,")).expect("June row");
    let mrr: f64 = june.split(',').nth(1).unwrap().parse().unwrap();
    assert_eq!(mrr, api_json["months"]["2025-06"]["mrr_cents"].as_f64().unwrap());
    figures_follow_their_rules_and_lists(ws, &base, &session);
    overrides_need_an_admin_session(ws, &base, &session);
    parts_come_alone(ws, &base, &session);
    support_shows_business_hours_when_set(ws, &base, &session);

    // The session ends with its key.
    ws.ok(&["keys", "revoke", "dash-read"]);
    assert_eq!(get(&format!("{base}/revenue"), &[("Cookie", &session)]).status, 303);

    // The start-up login link works once.
    let link = login_link(&served);
    let first = get(&link, &[]);
    assert_eq!(first.status, 303);
    assert!(first.cookie.starts_with("tenure_session="));
    assert_eq!(get(&format!("{base}/accounts"), &[("Cookie", &cookie_pair(&first.cookie))]).status, 200);
    assert_eq!(get(&link, &[]).status, 401, "a login link is for one use");
    // A forged or altered cookie is no session.
    let forged = cookie_pair(&first.cookie).replace("login-link", "key_00000000");
    assert_eq!(get(&format!("{base}/"), &[("Cookie", &forged)]).status, 303);
}

/// The revenue page under a preset is `metrics revenue --preset`'s document;
/// its reconciliation is `tenure reconcile --json` row for row; survey and
/// support figures list the answers and tickets they count.
/// A slow part of a page on its own (what the browser fetches for a placeholder);
/// the journey's steps are `tenure metrics funnel`'s, per person and per account.
fn parts_come_alone(ws: &Ws, base: &str, session: &str) {
    let part = get(&format!("{base}/engagement?part=funnel"), &[("Cookie", session)]);
    assert_eq!(part.status, 200, "{}", part.body);
    assert!(part.body.contains("data-chart-for=\"c-funnel\"") && !part.body.contains("<html"), "{}", part.body);
    for by in ["user", "account"] {
        let cli = ws.json(&["metrics", "funnel", "--by", by, "--json"]);
        let steps = cli["steps"].as_array().unwrap();
        let csv = get(&format!("{base}/engagement?by={by}&csv=funnel"), &[("Cookie", session)]);
        let mut rows = csv_rows(&csv.body);
        assert_eq!(rows.remove(0)[2], "reached", "{}", csv.body);
        assert_eq!(rows.len(), steps.len(), "{}", csv.body);
        assert!(steps[0]["count"].as_u64().unwrap() > 0, "the demo's people sign up: {cli}");
        for (row, step) in rows.iter().zip(steps) {
            assert_eq!(row[1], step["name"].as_str().unwrap());
            for (col, key) in [
                (2, "count"),
                (3, "conversion_from_previous_pct"),
                (4, "conversion_from_first_pct"),
                (5, "dropped"),
                (6, "median_time_to_convert_seconds"),
            ] {
                assert_eq!(num(&row[col]), step[key].as_f64().unwrap_or(0.0), "{key} of {} by {by}", row[1]);
            }
        }
    }
    assert_eq!(get(&format!("{base}/engagement?part=nope"), &[("Cookie", session)]).status, 404);
    let body = get(&format!("{base}/accounts?part=body"), &[("Cookie", session)]);
    assert!(body.body.contains("href=\"/accounts/") && !body.body.contains("<html"), "the list alone");
}

/// The support page's business-hours KPIs are the CLI's `--business-hours`
/// figures while `[support]` is set, and an explained empty state without it.
fn support_shows_business_hours_when_set(ws: &Ws, base: &str, session: &str) {
    let cli = ws.json(&["metrics", "support", "--business-hours", "--json"]);
    let sla = &cli["overall"]["sla"];
    let page = get(&format!("{base}/support"), &[("Cookie", session)]).body;
    let within = 100.0 - sla["first_response_breach_rate_pct"].as_f64().unwrap();
    let card = text_after(&page, "data-kpi=\"sla_first_response\"");
    assert!(
        card.contains(&format!("{within:.2}%")),
        "{card:?} vs breach rate {}",
        sla["first_response_breach_rate_pct"]
    );
    let median = cli["overall"]["business_hours"]["frt_from_creation_median_seconds"].as_f64().unwrap();
    assert!(page.contains("data-kpi=\"bh_frt_median\""), "median first response in business hours ({median} s)");
    // The slow tickets behind the KPI are the CLI's breached ones.
    let slow = get(&format!("{base}/support/tickets?what=slow_first_response"), &[("Cookie", session)]).body;
    let breached = sla["first_response_breached_tickets"].as_array().unwrap();
    assert!(!breached.is_empty(), "the demo has slow first replies");
    assert!(slow.contains(breached[0].as_str().unwrap()), "the first slow ticket is listed");

    let toml_path = ws.data().join("tenure.toml");
    let settings = std::fs::read_to_string(&toml_path).unwrap();
    let start = settings.find("[support]").expect("the demo sets business hours");
    let end = settings[start + 1..].find("\n[").map_or(settings.len(), |i| start + 1 + i + 1);
    std::fs::write(&toml_path, format!("{}{}", &settings[..start], &settings[end..])).unwrap();
    let page = get(&format!("{base}/support"), &[("Cookie", session)]).body;
    assert!(!page.contains("data-kpi=\"sla_first_response\""), "no business-hours figures without [support]");
    assert!(page.contains("no business hours are set"), "the empty state says why");
    std::fs::write(&toml_path, settings).unwrap();
}

fn figures_follow_their_rules_and_lists(ws: &Ws, base: &str, session: &str) {
    let page_csv = |path: &str| {
        let a = get(&format!("{base}{path}"), &[("Cookie", session)]);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert!(a.content_type.starts_with("text/csv"), "{path}: {}", a.content_type);
        let mut rows = csv_rows(&a.body);
        let header = rows.remove(0);
        (header, rows)
    };
    let stripe = ws.json(&["metrics", "revenue", "--preset", "stripe", "--json"]);
    let (_, months) = page_csv("/revenue?preset=stripe&csv=months");
    assert_eq!(months.len(), stripe["months"].as_object().unwrap().len());
    for m in &months {
        assert_eq!(num(&m[1]), stripe["months"][&m[0]]["mrr_cents"].as_f64().unwrap(), "MRR of {} under stripe", m[0]);
    }

    // The reconciliation of the last month with a difference (the demo's
    // discounts and pending cancellations make some), against the CLI's.
    let month_names: Vec<String> = stripe["months"].as_object().unwrap().keys().cloned().collect();
    let (month, rec) = month_names
        .iter()
        .rev()
        .take(6)
        .map(|m| (m.clone(), ws.json(&["reconcile", "--month", m, "--a", "chartmogul", "--b", "stripe", "--json"])))
        .find(|(_, r)| !r["customers"].as_array().unwrap().is_empty())
        .expect("a month of the demo where ChartMogul's and Stripe's rules differ");
    let (header, rows) = page_csv(&format!("/revenue?month={month}&a=chartmogul&b=stripe&csv=reconcile"));
    let kinds = ["new_business", "expansion", "reactivation", "contraction", "churn"];
    assert_eq!(header[..4], ["customer", "rule", "MRR", "subscribers"]);
    let want = rec["customers"].as_array().unwrap();
    assert_eq!(rows.len(), want.len(), "one row per customer and rule, as the CLI");
    let mut mrr_sum = 0.0;
    for (row, w) in rows.iter().zip(want) {
        assert_eq!(row[0], w["customer_id"].as_str().unwrap());
        assert_eq!(row[1], w["rule"].as_str().unwrap());
        assert_eq!(num(&row[2]), w["mrr_cents"].as_f64().unwrap(), "{row:?}");
        assert_eq!(num(&row[3]), w["subscribers"].as_f64().unwrap(), "{row:?}");
        for (i, k) in kinds.iter().enumerate() {
            assert_eq!(num(&row[4 + i]), w["movements"][k].as_f64().unwrap(), "{k} of {row:?}");
        }
        assert_eq!(row[9], w["explanation"].as_str().unwrap());
        mrr_sum += num(&row[2]);
    }
    assert!((mrr_sum - rec["difference"]["mrr_cents"].as_f64().unwrap()).abs() < 1e-6, "rows sum to the difference");
    let (_, totals) = page_csv(&format!("/revenue?month={month}&a=chartmogul&b=stripe&csv=reconcile_totals"));
    assert_eq!(totals[0][0], "MRR");
    assert_eq!(num(&totals[0][1]), rec["a"]["figures"]["mrr_cents"].as_f64().unwrap());
    assert_eq!(num(&totals[0][2]), rec["b"]["figures"]["mrr_cents"].as_f64().unwrap());
    let page =
        get(&format!("{base}/revenue?preset=stripe&month={month}&a=chartmogul&b=stripe"), &[("Cookie", session)]);
    assert!(
        page.body.contains("Stripe&#39;s rules") || page.body.contains("Stripe's rules"),
        "the page says whose rules"
    );
    assert!(page.body.contains("preset=stripe"), "explain links keep the rules");

    // NPS: the promoters listed are the promoters counted; by month too.
    let nps = ws.json(&["metrics", "nps", "--json"]);
    let (_, promoters) = page_csv("/voice/answers?type=nps&group=promoter&csv=answers");
    assert_eq!(promoters.len() as f64, nps["overall"]["promoters"].as_f64().unwrap());
    let last = nps["months"].as_array().unwrap().last().unwrap();
    let m = last["month"].as_str().unwrap();
    let (_, in_month) = page_csv(&format!("/voice/answers?type=nps&month={m}&csv=answers"));
    let counted = in_month.iter().filter(|r| ["promoter", "passive", "detractor"].contains(&r[5].as_str())).count();
    assert_eq!(counted as f64, last["n"].as_f64().unwrap(), "the answers of {m}");

    // Support: every ticket of the period, and the reopened ones.
    let support = ws.json(&["metrics", "support", "--json"]);
    let (_, all) = page_csv("/support/tickets?what=all&csv=tickets");
    assert_eq!(all.len() as f64, support["overall"]["tickets"].as_f64().unwrap());
    let (_, reopened) = page_csv("/support/tickets?what=reopened&csv=tickets");
    assert_eq!(reopened.len(), support["overall"]["reopened_tickets"].as_array().unwrap().len());
    assert!(reopened.iter().all(|r| num(&r[7]) > 0.0), "reopened tickets were reopened");
    // By month and segment: each month's segments add up to the month.
    let (header, by_seg) = page_csv("/support?segment=segment&csv=support_month_segments");
    assert_eq!(header[..3], ["month", "value", "tickets"]);
    let (_, by_month) = page_csv("/support?segment=segment&csv=support_months");
    assert!(!by_seg.is_empty());
    for m in &by_month {
        let sum: f64 = by_seg.iter().filter(|r| r[0] == m[0]).map(|r| num(&r[2])).sum();
        assert_eq!(sum, num(&m[1]), "segments of {}", m[0]);
    }
}

/// The account page's override control: a read-key session cannot use it,
/// an admin-key session sets and removes the override `tenure health` sees.
fn overrides_need_an_admin_session(ws: &Ws, base: &str, read_session: &str) {
    let health = ws.json(&["health", "--json"]);
    let first = &health["accounts"][0];
    let (id, as_of) = (first["account"].as_str().unwrap(), health["as_of"].as_str().unwrap());
    let url = format!("{base}/accounts/{id}/override");
    let form = format!("action=set&score=12&reason=exec+sponsor+left&from={as_of}&expires=2099-01-01");
    let page = get(&format!("{base}/accounts/{id}"), &[("Cookie", read_session)]);
    assert!(page.body.contains("A read key only looks"), "a read session sees why it cannot override");
    assert_eq!(post_form_as(&url, &form, read_session).status, 403);

    let admin = key(ws, "dash-admin", "admin");
    let login = post_form(&format!("{base}/login"), &format!("key={admin}"));
    let admin_session = cookie_pair(&login.cookie);
    assert_eq!(
        post_form_as(&url, "action=set&score=150&reason=x&from=2025-01-01&expires=2099-01-01", &admin_session).status,
        400
    );
    let set = post_form_as(&url, &form, &admin_session);
    assert_eq!(set.status, 303, "{}", set.body);
    let after = ws.json(&["health", "--account", id, "--json"]);
    assert_eq!(after["accounts"][0]["override"]["score"], 12.0);
    assert_eq!(after["accounts"][0]["override"]["reason"], "exec sponsor left");
    assert_eq!(after["accounts"][0]["overall_score"], 12.0);
    let page = get(&format!("{base}/accounts/{id}"), &[("Cookie", &admin_session)]);
    assert!(page.body.contains("Overridden to"), "the page shows the override in force");
    assert_eq!(post_form_as(&url, "action=clear", &admin_session).status, 303);
    assert!(ws.json(&["health", "--account", id, "--json"])["accounts"][0]["override"].is_null());
    ws.ok(&["keys", "revoke", "dash-admin"]);
}

// ---------------------------------------------------------------- browser

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let out = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
        let path = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (!path.is_empty()).then(|| PathBuf::from(path))
    });
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the browser tests: run scripts/install-browser first");
        eprintln!("\n!!!!! SKIPPING the dashboard browser tests: no chromium (run scripts/install-browser) !!!!!\n");
    }
    found
}

struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    fn args(&self) -> Vec<String> {
        vec![
            "--headless".into(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            "--hide-scrollbars".into(),
            "--window-size=1440,900".into(),
            // Charts are drawn by script after load: give them virtual time.
            "--virtual-time-budget=3000".into(),
            "--enable-logging=stderr".into(),
            "--v=0".into(),
            format!("--user-data-dir={}", self.profile.path().display()),
        ]
    }

    /// The DOM after scripts ran, and the browser's console lines.
    fn dom(&self, url: &str) -> (String, String) {
        self.run(url, &[])
    }

    /// [`Browser::dom`], and a screenshot of what the 1440x900 window shows,
    /// from the same run (a browser start costs seconds).
    fn visit(&self, url: &str, name: &str) -> (String, String) {
        let path = self.shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&path);
        let got = self.run(url, &[format!("--screenshot={}", path.display())]);
        assert!(path.is_file(), "no screenshot of {url}");
        got
    }

    fn run(&self, url: &str, extra: &[String]) -> (String, String) {
        let out = Command::new(&self.bin)
            .args(self.args())
            .args(extra)
            .arg("--dump-dom")
            .arg(url)
            .output()
            .expect("run chromium");
        assert!(out.status.success(), "chromium failed on {url}: {}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Console errors and failed requests in chromium's log.
fn console_problems(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Failed to load resource"))
        .filter(|l| {
            let l = l.to_lowercase();
            l.contains("error") || l.contains("uncaught") || l.contains("failed")
        })
        .collect()
}

/// The text of the element after the first `marker`, tags stripped.
fn text_after(dom: &str, marker: &str) -> String {
    let at = dom.find(marker).unwrap_or_else(|| panic!("{marker} not on the page"));
    let rest = &dom[at + marker.len()..];
    let rest = &rest[rest.find('>').unwrap() + 1..];
    let mut out = String::new();
    let mut in_tag = false;
    for ch in rest.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(ch),
            _ => {}
        }
        if out.len() > 60 || (!in_tag && ch == '<' && !out.trim().is_empty()) {
            break;
        }
    }
    out.trim().to_string()
}

/// Every chart container of a page and how many series were drawn in it.
fn charts(dom: &str) -> Vec<(String, usize, usize, bool)> {
    dom.match_indices("class=\"chart\"")
        .map(|(at, _)| {
            let tag = &dom[at..at + dom[at..].find('>').unwrap()];
            let attr = |name: &str| {
                let k = format!("{name}=\"");
                tag.find(&k).map(|i| tag[i + k.len()..].split('"').next().unwrap().to_string())
            };
            let body_end = dom[at..].find("</section>").unwrap_or(dom.len() - at);
            let has_canvas = dom[at..at + body_end].contains("<canvas");
            (
                attr("id").unwrap_or_default(),
                attr("data-series").and_then(|v| v.parse().ok()).unwrap_or(0),
                attr("data-drawn").and_then(|v| v.parse().ok()).unwrap_or(0),
                has_canvas,
            )
        })
        .collect()
}

fn money_text(cents: f64) -> String {
    let units = (cents / 100.0).round() as i64;
    let s = units.abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if units < 0 { format!("-{out}") } else { out }
}

#[test]
fn every_page_renders_in_a_real_browser_with_charts_and_the_api_numbers() {
    let Some(bin) = chromium() else { return };
    let ws = &demo();
    let read = key(ws, "browser-read", "read");
    // Pages do not wait for their slow parts: every part comes as a
    // placeholder that the browser fills (what a page viewed right after
    // start-up on a big workspace does).
    let served = Served::start(ws, &["--dashboard-wait-ms", "0"]);
    let base = served.url.clone();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let browser = Browser { bin, profile: tempfile::tempdir().unwrap(), shots: shots.clone() };

    // Without a session the browser lands on the login form.
    let (dom, _) = browser.dom(&format!("{base}/revenue"));
    assert!(dom.contains("name=\"key\"") && !dom.contains("Month by month"), "the login form, not the data");

    // The login link gives this browser profile its session (kept across runs).
    let (overview, log) = browser.visit(&format!("{}&next=%2F", login_link(&served)), "overview");
    assert!(console_problems(&log).is_empty(), "overview: {:?}", console_problems(&log));
    let api = |path: &str| -> Value {
        let a = get(&format!("{base}{path}"), &[("Authorization", &format!("Bearer {read}"))]);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        serde_json::from_str(&a.body).unwrap()
    };
    let revenue = api("/api/v1/metrics/revenue");
    let (last_month, last) = revenue["months"].as_object().unwrap().iter().next_back().unwrap();
    let cur = revenue["reporting_currency"].as_str().unwrap();
    let mrr_card = text_after(&overview, "data-kpi=\"mrr\"");
    assert!(
        mrr_card.contains(&format!("{cur} {}", money_text(last["mrr_cents"].as_f64().unwrap()))),
        "overview MRR {mrr_card:?} vs API {}",
        last["mrr_cents"]
    );
    assert!(overview.contains(&format!("MRR bridge, {last_month}")), "the waterfall of the last month");
    let drawn = charts(&overview);
    assert!(drawn.len() >= 2 && drawn.iter().all(|(_, n, d, canvas)| *canvas && n == d && *n > 0), "{drawn:?}");

    // Every page: no console errors or failed requests, every chart drawn
    // with its series, tables filled.
    let pages = [
        ("revenue", "/revenue", 4),
        ("revenue-stripe-by-segment", "/revenue?preset=stripe&segment=segment", 5),
        ("engagement", "/engagement", 6),
        ("voice", "/voice", 3),
        ("voice-answers", "/voice/answers?type=nps&group=detractor", 0),
        ("support-by-segment", "/support?segment=plan_tier", 5),
        ("support-tickets", "/support/tickets?what=reopened", 0),
        ("accounts", "/accounts", 0),
        ("alerts", "/alerts?status=all", 0),
        ("explain", &format!("/revenue/explain?month={last_month}&preset=stripe"), 0),
    ];
    for (name, path, min_charts) in pages {
        let url = format!("{base}{path}");
        let (dom, log) = browser.visit(&url, name);
        assert!(!dom.contains("name=\"key\""), "{path}: the session was not kept");
        assert!(console_problems(&log).is_empty(), "{path}: {:?}", console_problems(&log));
        let cs = charts(&dom);
        assert!(cs.len() >= min_charts, "{path}: {} charts, expected at least {min_charts}", cs.len());
        for (id, series, drawn, canvas) in &cs {
            assert!(*canvas && drawn == series && *series > 0, "{path}: chart {id} drew {drawn} of {series} series");
        }
        assert!(!dom.contains("could not be drawn"), "{path}");
        assert!(!dom.contains("data-part="), "{path}: a part was not filled in");
    }
    // The parts themselves, and the engagement page's parts in it, by name.
    let (eng, _) = browser.dom(&format!("{base}/engagement"));
    for id in ["c-lifecycle", "c-adoption", "c-funnel", "data-kpi=\"sessions\""] {
        assert!(eng.contains(id), "engagement: {id} filled in");
    }

    // The revenue table shows the API's numbers, and the month filter changes it.
    let (dom, _) = browser.dom(&format!("{base}/revenue?from={last_month}&to={last_month}"));
    let month_rows = dom.matches(&format!("href=\"/revenue/explain?month={last_month}\">{last_month}<")).count();
    assert_eq!(month_rows, 1, "one month shown");
    assert!(!dom.contains(&format!(">{}<", revenue["months"].as_object().unwrap().keys().next().unwrap())));
    assert!(dom.contains(&format!("{cur} {}", money_text(last["mrr_cents"].as_f64().unwrap()))));

    // Accounts: the list links each account to its 360 page, whose MRR is the API's.
    let (list, _) = browser.dom(&format!("{base}/accounts"));
    let first = list.split("href=\"/accounts/").nth(1).and_then(|s| s.split('"').next()).expect("an account link");
    let account = api(&format!("/api/v1/accounts/{first}"));
    let (page, log) = browser.visit(&format!("{base}/accounts/{first}"), "account");
    assert!(console_problems(&log).is_empty(), "account page: {:?}", console_problems(&log));
    let card = text_after(&page, "data-kpi=\"mrr\"");
    assert!(
        card.contains(&money_text(account["mrr_cents"].as_f64().unwrap_or(0.0))),
        "{card:?} vs {}",
        account["mrr_cents"]
    );
    for (id, series, drawn, canvas) in charts(&page) {
        assert!(canvas && drawn == series, "account chart {id} drew {drawn} of {series}");
    }
    // Filtering the list by band shows only that band.
    let (green, _) = browser.dom(&format!("{base}/accounts?band=green"));
    assert!(green.contains("data-v=\"green\""), "green accounts are listed");
    assert!(!green.contains("data-v=\"red\"") && !green.contains("data-v=\"yellow\""), "only green accounts");
    eprintln!("dashboard screenshots: {}", shots.display());
}
