//! The dashboard (SPEC 3): HTML pages served by `tenure serve` from the
//! binary itself: maud templates, uPlot charts and a small stylesheet, all
//! embedded (`assets/`), so the pages work with no network at all.
//!
//! Every figure comes from the same documents as `tenure metrics <group>
//! --json` and the read API (`tenure_query::compute`), computed with the
//! page's filters as the same query parameters, so a page, the CLI and the
//! API cannot disagree. Documents are cached per workspace state (the
//! manifest, the health files and the churn model); any import or ingest
//! commit makes the next page compute afresh.
//!
//! Access: every page but `/login` and the static assets needs a session
//! (see [`session`]).

mod accounts;
mod pages;
pub mod session;
pub mod ui;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use tenure_query::MetricQuery;
use tenure_store::Workspace;

use crate::AppState;
use session::{Session, with_cookie};
use ui::{Ctx, Params};

const UPLOT_JS: &str = include_str!("../../assets/uplot.min.js");
const UPLOT_CSS: &str = include_str!("../../assets/uplot.min.css");
const DASHBOARD_JS: &str = include_str!("../../assets/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../../assets/dashboard.css");

/// The dashboard's routes, to merge into the API's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/revenue", get(pages::revenue))
        .route("/revenue/explain", get(pages::explain))
        .route("/engagement", get(pages::engagement))
        .route("/voice", get(pages::voice))
        .route("/voice/answers", get(pages::answers))
        .route("/support", get(pages::support))
        .route("/support/tickets", get(pages::support_tickets))
        .route("/accounts", get(accounts::list))
        .route("/accounts/{id}", get(accounts::one))
        .route("/accounts/{id}/override", post(accounts::override_score))
        .route("/alerts", get(accounts::alerts))
        .route("/alerts/{id}", post(accounts::update_alert))
        .route("/login", get(login_page).post(login_post))
        .route("/logout", post(logout))
        .route("/assets/{file}", get(asset))
}

/// A one-time login link for this server's dashboard, to print at start-up:
/// opening it gives the browser a session without typing a key.
pub fn login_link(state: &AppState, addr: SocketAddr) -> String {
    let token = session::new_login_token(state.workspace());
    let host = if addr.ip().is_unspecified() { SocketAddr::new([127, 0, 0, 1].into(), addr.port()) } else { addr };
    format!("http://{host}/login?token={token}")
}

/// Load the inputs the pages share in the background (see
/// [`tenure_query::cache::warm`]), so that the first page viewed after
/// start-up is served in well under a second instead of loading every usage
/// event first. Pages asked for meanwhile wait for the same load.
pub fn warm_up(workspace: &Path) {
    let root = workspace.to_path_buf();
    let spawned = std::thread::Builder::new().name("dashboard-warm-up".into()).spawn(move || {
        let started = std::time::Instant::now();
        if let Ok(ws) = Workspace::open(&root) {
            tenure_query::cache::warm(&ws);
            tracing::info!(seconds = started.elapsed().as_secs_f64(), "dashboard inputs loaded");
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the dashboard warm-up: {e}");
    }
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "uplot.min.js" => (UPLOT_JS, "text/javascript; charset=utf-8"),
        "uplot.min.css" => (UPLOT_CSS, "text/css; charset=utf-8"),
        "dashboard.js" => (DASHBOARD_JS, "text/javascript; charset=utf-8"),
        "dashboard.css" => (DASHBOARD_CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    ([(CONTENT_TYPE, kind), (CACHE_CONTROL, "max-age=3600")], body).into_response()
}

// ---------------------------------------------------------------- login

#[derive(Deserialize, Default)]
struct LoginQuery {
    token: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    key: String,
    next: Option<String>,
}

/// Only local paths are followed after a login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

async fn login_page(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    if let Some(token) = &q.token {
        if session::redeem_login_token(state.workspace(), token) {
            let to = safe_next(q.next.as_deref());
            return with_cookie(Redirect::to(&to).into_response(), session::link_session_cookie(state.workspace()));
        }
        return login_form(
            StatusCode::UNAUTHORIZED,
            q.next.as_deref(),
            Some(
                "This login link was already used or has expired. Log in with a read key, or restart `tenure serve` for a new link.",
            ),
        );
    }
    login_form(StatusCode::OK, q.next.as_deref(), None)
}

async fn login_post(State(state): State<AppState>, parts: Parts, Form(form): Form<LoginForm>) -> Response {
    if !session::same_origin(&parts) {
        return session::cross_site();
    }
    match session::login_with_key(&state, &form.key) {
        Ok(cookie) => {
            let to = safe_next(form.next.as_deref());
            with_cookie(Redirect::to(&to).into_response(), cookie)
        }
        Err(why) => {
            tracing::warn!(path = "/login", "dashboard login refused");
            login_form(StatusCode::UNAUTHORIZED, form.next.as_deref(), Some(why))
        }
    }
}

async fn logout() -> Response {
    with_cookie(Redirect::to("/login").into_response(), session::cleared_cookie())
}

fn login_form(status: StatusCode, next: Option<&str>, error: Option<&str>) -> Response {
    let body = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Log in · Tenure" }
                link rel="stylesheet" href="/assets/dashboard.css";
                link rel="icon" href="data:,";
            }
            body.login {
                form.login-box method="post" action="/login" {
                    h1 { "Tenure" }
                    p { "Customer data needs a session. Paste a " b { "read" } " (or admin) API key, or open the login link that " code { "tenure serve" } " printed." }
                    @if let Some(e) = error { p.error role="alert" { (e) } }
                    label { "API key" input type="password" name="key" autocomplete="off" autofocus required placeholder="tnr_…"; }
                    input type="hidden" name="next" value=(safe_next(next));
                    button type="submit" { "Log in" }
                    p.hint { "No key yet? " code { "tenure keys create --name me --scope read" } }
                }
            }
        }
    };
    (status, Html(body.into_string())).into_response()
}

// ---------------------------------------------------------------- documents

/// Files whose change invalidates the cached documents of a workspace.
fn stamp(root: &Path) -> Vec<Option<(SystemTime, u64)>> {
    let files = [
        root.join(tenure_store::manifest::MANIFEST_FILE),
        root.join(tenure_store::SETTINGS_FILE),
        root.join(tenure_query::health::HEALTH_DIR).join("overrides.json"),
        root.join(tenure_query::health::HEALTH_DIR).join("alerts.json"),
        root.join(tenure_query::churn::MODEL_FILE),
    ];
    files.iter().map(|p| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())))).collect()
}

type CacheKey = (PathBuf, String);
type Stamp = Vec<Option<(SystemTime, u64)>>;
/// One document's slot: locked while it is computed, so that concurrent
/// requests for it (a page and the part it deferred) wait for one computation.
type Slot = Arc<Mutex<Option<(Stamp, Arc<Value>)>>>;
static CACHE: Mutex<Option<HashMap<CacheKey, Slot>>> = Mutex::new(None);
/// Documents kept per process; the cache is emptied when it fills.
const CACHE_ENTRIES: usize = 128;

/// A document computed off the async threads, cached per workspace state.
/// Errors come back as the message a page shows. The computation runs to its
/// end (and is kept) even when the caller stops waiting ([`within`]).
pub async fn cached(
    state: &AppState,
    key: String,
    compute: impl FnOnce(&Workspace) -> anyhow::Result<Value> + Send + 'static,
) -> Result<Arc<Value>, String> {
    let root = state.workspace().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let slot = {
            let mut guard = CACHE.lock().unwrap_or_else(|p| p.into_inner());
            let map = guard.get_or_insert_with(HashMap::new);
            let k = (root.clone(), key);
            if map.len() >= CACHE_ENTRIES && !map.contains_key(&k) {
                map.clear();
            }
            map.entry(k).or_default().clone()
        };
        let mut kept = slot.lock().unwrap_or_else(|p| p.into_inner());
        // The stamp is taken before the workspace is opened: a commit in
        // between makes the stamp stale, never the cached document.
        let now = stamp(&root);
        if let Some((s, v)) = kept.as_ref()
            && *s == now
        {
            return Ok(v.clone());
        }
        let ws = Workspace::open(&root).map_err(|e| e.to_string())?;
        let v = Arc::new(compute(&ws).map_err(|e| format!("{e:#}"))?);
        *kept = Some((now, v.clone()));
        Ok(v)
    })
    .await
    .map_err(|e| format!("internal error: {e}"))?
}

/// How long a page waits for a slow part (one that reads every usage event)
/// before it is sent with a "loading" placeholder instead, which the browser
/// then fills from `?part=NAME` (see [`pending`]). Right after start-up the
/// shared inputs take seconds to load; later every part is ready at once.
/// `tenure serve --dashboard-wait-ms` sets it ([`set_part_budget`]).
pub const PART_BUDGET: Duration = Duration::from_millis(400);
static PART_BUDGET_MS: AtomicU64 = AtomicU64::new(PART_BUDGET.as_millis() as u64);

/// Set how long pages wait for their slow parts (0: always send placeholders).
pub fn set_part_budget(budget: Duration) {
    PART_BUDGET_MS.store(u64::try_from(budget.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

fn part_budget() -> Duration {
    Duration::from_millis(PART_BUDGET_MS.load(Ordering::Relaxed))
}

/// When a page started: its slow parts share one deadline, so a page with
/// four of them waits at most one budget, not four.
pub struct Deadline(Option<tokio::time::Instant>);

impl Deadline {
    /// No deadline for a part request or a CSV download (they need the
    /// figures themselves), else [`part_budget`] from now.
    pub fn for_page(p: &Params) -> Deadline {
        let whole = p.get("part").is_some() || p.get("csv").is_some();
        Deadline((!whole).then(|| tokio::time::Instant::now() + part_budget()))
    }

    /// The output of `work`, or `None` when the deadline passed first (the
    /// document it computes is still computed and cached for the part request).
    pub async fn within<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        match self.0 {
            None => Some(work.await),
            Some(at) => tokio::time::timeout_at(at, work).await.ok(),
        }
    }
}

/// A placeholder for the part `name` of the page at `ctx.path`, filled by the
/// browser from the same page with `part=NAME` (dashboard.js); `kpis`: the
/// part is KPI cards (the placeholder spans three of them in the KPI grid).
pub fn pending(ctx: &Ctx, name: &str, what: &str, kpis: bool) -> Markup {
    let url = format!("{}{}", ctx.path, ctx.params.without(&["part", "csv"]).with("part", name).query());
    let why = "Loading: the server is still reading the usage events (a few seconds after it starts). This fills in by itself.";
    html! {
        @if kpis {
            div.kpi.pending data-part=(url) aria-busy="true" {
                div.kpi-label { (what) }
                p.hint { span.spinner {} (why) }
            }
        } @else {
            section.card.pending data-part=(url) aria-busy="true" {
                h3 { (what) }
                p.hint { span.spinner {} (why) }
            }
        }
    }
}

/// A page whose whole body waits for one slow document (the health scores):
/// its title and body, with the status to answer.
pub struct Body {
    pub title: String,
    pub status: StatusCode,
    pub markup: Markup,
}

impl Body {
    pub fn ok(title: impl Into<String>, markup: Markup) -> Body {
        Body { title: title.into(), status: StatusCode::OK, markup }
    }
}

/// The page with its `ready` body, its body alone for `?part=body`, or (not
/// ready within the deadline) the page with a placeholder for the body.
pub fn deferred_page(ctx: Ctx, ready: Option<Body>, title: &str, what: &str) -> Response {
    match ready {
        // The page around it was answered already: a notice (an unknown
        // account) is shown in place, not refused.
        // Its title comes along for the page's heading.
        Some(b) if ctx.params.get("part") == Some("body") => {
            fragment(html! { div.part-body data-title=(b.title) { (b.markup) } })
        }
        Some(b) => {
            let mut r = respond(&b.title, ctx, b.markup);
            if r.status() == StatusCode::OK {
                *r.status_mut() = b.status;
            }
            r
        }
        None => {
            let m = pending(&ctx, "body", what, false);
            respond(title, ctx, m)
        }
    }
}

/// The answer to a `?part=NAME` request: the part's HTML alone.
pub fn fragment(part: Markup) -> Response {
    Html(part.into_string()).into_response()
}

/// A metric group's document with these parameters (what the read API returns).
pub async fn metric(state: &AppState, group: &str, params: Vec<(String, String)>) -> Result<Arc<Value>, String> {
    let query = MetricQuery::from_params(group, &params)?;
    let key = format!("metrics/{group}{}", Params(params).query());
    cached(state, key, move |ws| tenure_query::compute(ws, &query)).await
}

/// A page or, with `?csv=<table>`, one of its tables as CSV.
pub fn respond(title: &str, ctx: Ctx, body: Markup) -> Response {
    if let Some(id) = ctx.params.get("csv") {
        return match ctx.tables.iter().find(|t| t.id == id) {
            Some(t) => (
                [
                    (CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
                    (
                        CONTENT_DISPOSITION,
                        HeaderValue::from_str(&format!("attachment; filename=\"{}.csv\"", t.id))
                            .unwrap_or(HeaderValue::from_static("attachment")),
                    ),
                ],
                t.csv(),
            )
                .into_response(),
            None => (StatusCode::NOT_FOUND, format!("this page has no table {id:?}")).into_response(),
        };
    }
    Html(ui::page(title, &ctx.path, body).into_string()).into_response()
}

/// The session guard's type, re-exported for the page modules.
pub type Guard = Session;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_part_becomes_a_placeholder_and_a_part_request_waits() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            7
        };
        let page = Params(vec![("from".into(), "2026-01-01".into())]);
        rt.block_on(async {
            let passed = Deadline(Some(tokio::time::Instant::now()));
            assert_eq!(passed.within(slow()).await, None, "past the deadline: a placeholder");
            assert_eq!(passed.within(async { 1 }).await, Some(1), "what is ready is shown");
            for whole in ["part", "csv"] {
                let p = page.with(whole, "funnel");
                assert_eq!(Deadline::for_page(&p).within(slow()).await, Some(7), "{whole} waits");
            }
        });
        let ctx = Ctx::new("/engagement", page);
        let placeholder = pending(&ctx, "funnel", "Customer journey", false).into_string();
        assert!(placeholder.contains("data-part=\"/engagement?from=2026-01-01&amp;part=funnel\""), "{placeholder}");
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/revenue?from=2026-01")), "/revenue?from=2026-01");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
