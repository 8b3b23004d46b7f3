//! Dashboard sessions: who may see customer data in a browser.
//!
//! A browser gets a session in one of two ways: by typing a read (or admin)
//! API key into the login form, or by opening the one-time login link that
//! `tenure serve` prints at start-up (as Jupyter does). Either way the server
//! answers with an HttpOnly, SameSite=Strict cookie and never puts a key in
//! it: the cookie is `<key id>.<expiry>.<MAC>`, signed with a secret that
//! lives only in this process, so a restart logs everyone out and a cookie
//! cannot be forged or extended. A session made with a key ends as soon as
//! that key is revoked (it is checked on every request against the key
//! file); a session from the login link lasts until it expires.

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use rand::{RngCore, SeedableRng};
use tenure_store::keys::{self, Scope};

use crate::AppState;
use crate::auth::authenticate;
use crate::error::ApiError;

pub const COOKIE_NAME: &str = "tenure_session";
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long the start-up login link can be used (once).
const LINK_TTL: Duration = Duration::from_secs(24 * 3600);
/// The key id recorded in sessions opened with the login link.
const LINK_SESSION: &str = "login-link";

/// This process's signing secret.
static SECRET: LazyLock<[u8; 32]> = LazyLock::new(random_bytes);

/// Login links not used yet: (workspace, BLAKE3 of the token, expiry).
static LINKS: Mutex<Vec<(PathBuf, blake3::Hash, SystemTime)>> = Mutex::new(Vec::new());

fn random_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut b);
    b
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn mac(workspace: &Path, key_id: &str, expires: u64) -> blake3::Hash {
    let msg = format!("{}\n{key_id}\n{expires}", workspace.display());
    blake3::keyed_hash(&SECRET, msg.as_bytes())
}

/// A new one-time login token for this workspace's dashboard.
pub fn new_login_token(workspace: &Path) -> String {
    let token = hex(&random_bytes());
    let mut links = LINKS.lock().unwrap_or_else(|p| p.into_inner());
    let now = SystemTime::now();
    links.retain(|l| l.2 > now);
    links.push((workspace.to_path_buf(), blake3::hash(token.as_bytes()), now + LINK_TTL));
    token
}

/// Use a login token: true once per token, within its lifetime.
pub fn redeem_login_token(workspace: &Path, token: &str) -> bool {
    let hash = blake3::hash(token.as_bytes());
    let mut links = LINKS.lock().unwrap_or_else(|p| p.into_inner());
    let now = SystemTime::now();
    // blake3::Hash compares in constant time.
    let found = links.iter().position(|l| l.0 == workspace && l.1 == hash && l.2 > now);
    found.map(|i| links.remove(i)).is_some()
}

/// The `Set-Cookie` value of a new session for `key_id`.
pub fn session_cookie(workspace: &Path, key_id: &str) -> HeaderValue {
    let expires = now_secs() + SESSION_TTL.as_secs();
    let value = format!("{key_id}.{expires}.{}", mac(workspace, key_id, expires).to_hex());
    let cookie = format!("{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", SESSION_TTL.as_secs());
    HeaderValue::from_str(&cookie).expect("cookie is ASCII")
}

/// The `Set-Cookie` value that ends a session.
pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("tenure_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Start a session with a presented API key; the key must allow reading.
pub fn login_with_key(state: &AppState, secret: &str) -> Result<HeaderValue, &'static str> {
    let all = state.keys().current();
    match keys::verify(&all, secret.trim()) {
        Some(k) if k.scope.allows(Scope::Read) => Ok(session_cookie(state.workspace(), &k.id)),
        Some(_) => Err("this is a write key: it can send data but not read it. Log in with a read or admin key."),
        None => Err("this key is not valid (unknown or revoked); see `tenure keys list`."),
    }
}

/// The session's key id when the request carries a valid session cookie.
pub fn session_of(parts: &Parts, state: &AppState) -> Option<String> {
    let value = parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE_NAME)?.strip_prefix('='))?
        .to_string();
    let mut it = value.rsplitn(3, '.');
    let (sig, expires, key_id) = (it.next()?, it.next()?, it.next()?);
    let expires: u64 = expires.parse().ok()?;
    let sig = blake3::Hash::from_hex(sig).ok()?;
    if sig != mac(state.workspace(), key_id, expires) || expires <= now_secs() {
        return None;
    }
    if key_id != LINK_SESSION {
        // A revoked key's sessions end with it.
        let all = state.keys().current();
        all.iter().find(|k| k.id == key_id && k.is_active() && k.scope.allows(Scope::Read))?;
    }
    Some(key_id.to_string())
}

/// The cookie of a session opened with the login link.
pub fn link_session_cookie(workspace: &Path) -> HeaderValue {
    session_cookie(workspace, LINK_SESSION)
}

/// A dashboard page's guard: a browser without a session is sent to the
/// login form, which brings it back afterwards.
pub struct Session {
    pub key_id: String,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match session_of(parts, state) {
            Some(key_id) => Ok(Session { key_id }),
            None => {
                let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let to = format!("/login?next={}", urlencode(next));
                Err(Redirect::to(&to).into_response())
            }
        }
    }
}

/// Whether a session may change what everyone sees (a health override): one
/// opened with an admin key, or with the login link (whoever started `tenure
/// serve` can change the workspace from its command line anyway). A read key
/// only looks. Checked against the key file on every request, like the session.
pub fn may_change(state: &AppState, session: &Session) -> bool {
    session.key_id == LINK_SESSION
        || state.keys().current().iter().any(|k| k.id == session.key_id && k.is_active() && k.scope == Scope::Admin)
}

/// The read API's guard: a read (or admin) key as for every API endpoint, or
/// a dashboard session (so the dashboard's "JSON" links work in the browser).
pub struct Reader;

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if session_of(parts, state).is_some() {
            return Ok(Reader);
        }
        authenticate(parts, state.keys(), Scope::Read).map(|_| Reader)
    }
}

/// A state-changing form post must come from our own pages: the cookie is
/// SameSite=Strict already; an `Origin` header naming another site is refused too.
pub fn same_origin(parts: &Parts) -> bool {
    let (Some(origin), Some(host)) = (parts.headers.get("origin"), parts.headers.get("host")) else {
        return true;
    };
    let origin = origin.to_str().unwrap_or("");
    let host = host.to_str().unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    origin != "null" && origin_host == host
}

/// The answer to a form post refused by [`same_origin`].
pub fn cross_site() -> Response {
    (StatusCode::FORBIDDEN, "cross-site form post refused").into_response()
}

/// Percent-encode a value for a URL query string.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Add a `Set-Cookie` header to a response.
pub fn with_cookie(mut r: Response, cookie: HeaderValue) -> Response {
    r.headers_mut().append(SET_COOKIE, cookie);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_tokens_work_once_and_only_for_their_workspace() {
        let a = Path::new("/tmp/ws-a");
        let t = new_login_token(a);
        assert!(!redeem_login_token(Path::new("/tmp/ws-b"), &t));
        assert!(!redeem_login_token(a, "not-the-token"));
        assert!(redeem_login_token(a, &t));
        assert!(!redeem_login_token(a, &t), "a second use fails");
    }

    #[test]
    fn cookies_are_signed_for_their_workspace() {
        let c = session_cookie(Path::new("/tmp/ws-a"), "key_1");
        let value = c.to_str().unwrap().split(';').next().unwrap().strip_prefix("tenure_session=").unwrap();
        let mut it = value.rsplitn(3, '.');
        let (sig, exp, id) = (it.next().unwrap(), it.next().unwrap().parse().unwrap(), it.next().unwrap());
        assert_eq!(id, "key_1");
        assert_eq!(blake3::Hash::from_hex(sig).unwrap(), mac(Path::new("/tmp/ws-a"), "key_1", exp));
        assert_ne!(blake3::Hash::from_hex(sig).unwrap(), mac(Path::new("/tmp/ws-b"), "key_1", exp));
        assert_ne!(blake3::Hash::from_hex(sig).unwrap(), mac(Path::new("/tmp/ws-a"), "key_1", exp + 1));
    }
}
