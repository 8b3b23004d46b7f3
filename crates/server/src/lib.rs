//! `tenure serve`: the HTTP API over a workspace.
//!
//! - [`routes`] is the API's router, still waiting for its state, so that
//!   more routes (metrics, accounts, the dashboard) can be merged into it;
//!   [`app`] adds the layers every route gets and the state.
//! - [`AppState`] holds the workspace path, the API keys and the ingest log.
//! - [`auth::Authenticated`] is the extractor that requires a key of a scope:
//!   `async fn handler(_: Authenticated<Read>, State(state): State<AppState>)`.
//! - [`Server`] opens the ingest log (replaying what a crashed run left),
//!   binds the address, serves until a shutdown signal, then compacts the log
//!   into the store and stops.
//!
//! See docs/api.md for the endpoints and the durability contract.

pub mod auth;
pub mod body;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod ingest;
mod openapi;
pub mod read_api;
mod routes;
pub mod rows;
mod sql;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use tenure_store::{StoreError, Workspace};

pub use auth::{Admin, Authenticated, KeyCache, Read, RequiredScope, Write};
pub use error::ApiError;
use ingest::{Ingest, IngestThreads};

/// Request limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest request body, after gzip decompression (413 above it).
    pub max_body_bytes: usize,
    /// The largest single item of a request, as JSON.
    pub max_item_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_body_bytes: 16 << 20, max_item_bytes: 256 << 10 }
    }
}

/// See [`ServeConfig::max_backlog_bytes`].
pub const DEFAULT_MAX_BACKLOG_BYTES: u64 = 1 << 30;

pub struct ServeConfig {
    pub workspace: PathBuf,
    pub addr: SocketAddr,
    pub limits: Limits,
    /// How often the compactor moves the ingest log into the Parquet store.
    pub compact_every: Duration,
    /// The ingest log's segment size (see `tenure_store::log`).
    pub segment_bytes: u64,
    /// Writes are refused with 503 + Retry-After while this many bytes of
    /// the log wait for the compactor (back-pressure instead of a log, and
    /// a restart's replay, that grow without bound).
    pub max_backlog_bytes: u64,
}

impl ServeConfig {
    pub fn new(workspace: &Path, addr: SocketAddr) -> ServeConfig {
        ServeConfig {
            workspace: workspace.to_path_buf(),
            addr,
            limits: Limits::default(),
            compact_every: Duration::from_secs(1),
            segment_bytes: tenure_store::log::DEFAULT_SEGMENT_BYTES,
            max_backlog_bytes: DEFAULT_MAX_BACKLOG_BYTES,
        }
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    workspace: PathBuf,
    keys: KeyCache,
    ingest: Arc<Ingest>,
    limits: Limits,
}

impl AppState {
    /// The workspace directory (open it per request for reads: it only reads committed files).
    pub fn workspace(&self) -> &Path {
        &self.0.workspace
    }

    pub fn keys(&self) -> &KeyCache {
        &self.0.keys
    }

    pub fn ingest(&self) -> &Ingest {
        &self.0.ingest
    }

    pub fn limits(&self) -> Limits {
        self.0.limits
    }
}

/// The API's routes: `GET /healthz`, the Segment-compatible ingest paths
/// (`/v1/*` and `/api/v1/{batch,track,identify,group,page}`), the bulk
/// entity endpoints (`POST /api/v1/{entity}`), `POST /api/v1/sql` (admin),
/// the read API, the OpenAPI document, and the dashboard.
pub fn routes() -> Router<AppState> {
    api_routes().into_router().merge(dashboard::routes())
}

/// The API's routes (every one documented in openapi.json; the dashboard's pages are not API).
fn api_routes() -> openapi::ApiRoutes {
    routes::routes().merge(read_api::routes()).merge(openapi::routes())
}

/// Routes with the layers every endpoint gets (body limit, a 500 instead
/// of a dropped connection if a handler panics) and the state.
pub fn app(routes: Router<AppState>, state: AppState) -> Router {
    let limit = state.limits().max_body_bytes;
    routes
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log")
                .into_response()
        }))
        .with_state(state)
}

/// [`app`] over [`routes`].
pub fn router(state: AppState) -> Router {
    app(routes(), state)
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A server with its log opened and replayed and its address bound, not yet serving.
pub struct Server {
    listener: std::net::TcpListener,
    state: AppState,
    threads: IngestThreads,
}

impl Server {
    /// Open the workspace's ingest log, move what an earlier run left in it
    /// into the store, and bind the address. Blocking.
    pub fn open(config: ServeConfig) -> Result<Server, ServeError> {
        Workspace::open(&config.workspace)?;
        let (ingest, threads) =
            Ingest::start(&config.workspace, config.compact_every, config.segment_bytes, config.max_backlog_bytes)?;
        let listener = std::net::TcpListener::bind(config.addr)
            .map_err(|source| ServeError::Bind { addr: config.addr, source })?;
        let state = AppState(Arc::new(Shared {
            keys: KeyCache::new(&config.workspace),
            workspace: config.workspace,
            ingest,
            limits: config.limits,
        }));
        Ok(Server { listener, state, threads })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        Ok(self.listener.local_addr()?)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve `routes` until `shutdown` completes; requests in flight finish,
    /// then the log is compacted into the store and the threads stop.
    pub async fn run(
        self,
        routes: Router<AppState>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        dashboard::warm_up(self.state.workspace());
        self.listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let app = app(routes, self.state.clone());
        let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        let state = self.state;
        let threads = self.threads;
        tokio::task::spawn_blocking(move || state.ingest().stop(threads))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(served?)
    }
}
