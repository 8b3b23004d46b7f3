//! API-key authentication as an extractor: a handler that takes
//! `Authenticated<Read>` (or `Write`, `Admin`) runs only for a request that
//! carries an active key allowed that scope.
//!
//! Keys come as `Authorization: Bearer <key>`; on write endpoints Segment's
//! form is accepted too: HTTP Basic with the write key as the user name and an
//! empty password. Failures are logged with the client address, the path and
//! the reason, never with the presented key.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use base64::Engine;
use tenure_store::keys::{self, ApiKey, Scope};

use crate::AppState;
use crate::error::ApiError;

/// The scope an endpoint requires, as a type (see [`Authenticated`]).
pub trait RequiredScope: Send + Sync + 'static {
    const SCOPE: Scope;
}

/// Ingest endpoints.
pub struct Write;
/// Reading metrics and accounts.
pub struct Read;
/// Everything, and ad-hoc SQL.
pub struct Admin;

impl RequiredScope for Write {
    const SCOPE: Scope = Scope::Write;
}
impl RequiredScope for Read {
    const SCOPE: Scope = Scope::Read;
}
impl RequiredScope for Admin {
    const SCOPE: Scope = Scope::Admin;
}

/// The key a request was authenticated with (its id, name and scope; never the secret).
pub struct Authenticated<S> {
    pub key: ApiKey,
    _scope: PhantomData<S>,
}

impl<S: RequiredScope> FromRequestParts<AppState> for Authenticated<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = authenticate(parts, state.keys(), S::SCOPE)?;
        Ok(Authenticated { key, _scope: PhantomData })
    }
}

/// Any valid key, whatever its scope (for the API's description).
pub struct AnyKey(pub ApiKey);

impl FromRequestParts<AppState> for AnyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Every key allows its own scope; without a valid key, authenticate explains what is missing.
        let scope = presented_key(parts, false)
            .and_then(|secret| keys::verify(&state.keys().current(), &secret).map(|k| k.scope))
            .unwrap_or(Scope::Read);
        authenticate(parts, state.keys(), scope).map(AnyKey)
    }
}

/// Check a request's key against the workspace's keys for `required`.
pub fn authenticate(parts: &Parts, keys: &KeyCache, required: Scope) -> Result<ApiKey, ApiError> {
    let path = parts.uri.path();
    let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string()).unwrap_or_default();
    let deny = |status: StatusCode, reason: &str, message: String| {
        tracing::warn!(client, path, reason, "authentication failed");
        ApiError::new(status, message)
    };
    let Some(secret) = presented_key(parts, required == Scope::Write) else {
        let basic = if required == Scope::Write { " (or HTTP Basic with the write key as user name)" } else { "" };
        return Err(deny(
            StatusCode::UNAUTHORIZED,
            "no key",
            format!(
                "an API key is required: send `Authorization: Bearer <key>`{basic}; create one with `tenure keys create`"
            ),
        ));
    };
    let all = keys.current();
    let Some(key) = keys::verify(&all, &secret) else {
        return Err(deny(
            StatusCode::UNAUTHORIZED,
            "unknown or revoked key",
            "the API key is not valid (unknown or revoked); see `tenure keys list`".into(),
        ));
    };
    if !key.scope.allows(required) {
        let reason = format!("key {} has scope {}", key.id, key.scope.name());
        return Err(deny(
            StatusCode::FORBIDDEN,
            &reason,
            format!(
                "this key has scope {}; this endpoint needs a {} key (or admin)",
                key.scope.name(),
                required.name()
            ),
        ));
    }
    Ok(key.clone())
}

/// The key from `Authorization`: a Bearer token, or (where allowed) the user name of HTTP Basic.
fn presented_key(parts: &Parts, basic_allowed: bool) -> Option<String> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") && basic_allowed {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
        return (!user.is_empty()).then(|| user.to_string());
    }
    None
}

/// The workspace's keys, re-read when `api_keys.json` changes, so that a key
/// created or revoked with `tenure keys` takes effect on a running server.
pub struct KeyCache {
    path: PathBuf,
    root: PathBuf,
    cached: Mutex<(Option<FileStamp>, Arc<Vec<ApiKey>>)>,
}

/// When the key file was last changed, and its length.
type FileStamp = (SystemTime, u64);

impl KeyCache {
    pub fn new(root: &Path) -> KeyCache {
        KeyCache {
            path: root.join(keys::KEYS_FILE),
            root: root.to_path_buf(),
            cached: Mutex::new((None, Arc::new(Vec::new()))),
        }
    }

    pub fn current(&self) -> Arc<Vec<ApiKey>> {
        let stamp = std::fs::metadata(&self.path).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if cached.0 != stamp || stamp.is_none() {
            let keys = match keys::list(&self.root) {
                Ok(k) => k,
                Err(e) => {
                    // Deny rather than serve with a stale or empty idea of who may do what.
                    tracing::error!("cannot read the API keys: {e}");
                    Vec::new()
                }
            };
            *cached = (stamp, Arc::new(keys));
        }
        cached.1.clone()
    }
}
