//! `tenure serve`: the HTTP API over the workspace.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use tenure_server::{Limits, ServeConfig, Server};

pub const AFTER_HELP: &str = "\
Endpoints (docs/api.md): GET /healthz; Segment's tracking API at /v1/batch, /v1/track,
/v1/identify, /v1/group, /v1/page (write key as HTTP Basic user name, gzip bodies) and at
/api/v1/batch, /api/v1/track, ...; bulk rows of any entity at POST /api/v1/{entity}
(a JSON array or JSON Lines, validated like `tenure import`).

Every request needs an API key (tenure keys create). A write is answered only once its rows
are fsynced to the ingest log (workspace/ingest/); they reach the tables, and `tenure sql`,
within about --compact-ms. `tenure sql` and `tenure metrics` work while the server runs.
Ctrl-C or SIGTERM stops it after the requests in flight, with everything moved into the tables.

Examples:
  tenure serve
  tenure serve --addr 0.0.0.0:8080
  curl -H \"Authorization: Bearer $KEY\" -d '{\"batch\": [...]}' http://127.0.0.1:8080/v1/batch";

#[derive(Args)]
pub struct ServeArgs {
    /// Where to listen (loopback by default; 0.0.0.0:PORT listens on every interface; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The largest request body, in bytes after gzip decompression (413 above it).
    #[arg(long, default_value_t = Limits::default().max_body_bytes, value_name = "BYTES")]
    max_body: usize,
    /// How often acknowledged writes move from the ingest log into the tables, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    compact_ms: u64,
    /// Answer writes 503 (with Retry-After) while this many bytes of the ingest log wait to be
    /// moved into the tables: back-pressure when clients send faster than the tables take rows.
    #[arg(long, default_value_t = tenure_server::DEFAULT_MAX_BACKLOG_BYTES, value_name = "BYTES")]
    max_backlog: u64,
    /// How long a dashboard page waits for a part that reads every usage event (right after
    /// start-up they load for seconds) before it is sent with a "loading" placeholder that the
    /// browser fills when the part is ready. 0: always placeholders.
    #[arg(long, default_value_t = tenure_server::dashboard::PART_BUDGET.as_millis() as u64, value_name = "MS")]
    dashboard_wait_ms: u64,
}

impl Default for ServeArgs {
    /// What `tenure serve` with no flags does.
    fn default() -> ServeArgs {
        <ServeArgs as clap::FromArgMatches>::from_arg_matches(
            &<ServeArgs as clap::Args>::augment_args(clap::Command::new("serve")).get_matches_from(["serve"]),
        )
        .expect("the defaults parse")
    }
}

pub fn run(data: &Path, args: ServeArgs) -> Result<ExitCode> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).init();
    let mut config = ServeConfig::new(data, args.addr);
    config.limits.max_body_bytes = args.max_body;
    config.compact_every = Duration::from_millis(args.compact_ms.max(1));
    config.max_backlog_bytes = args.max_backlog;
    tenure_server::dashboard::set_part_budget(Duration::from_millis(args.dashboard_wait_ms));
    let server = Server::open(config).with_context(|| format!("cannot serve {}", data.display()))?;
    let addr = server.local_addr()?;
    if tenure_store::keys::list(data)?.iter().all(|k| !k.is_active()) {
        eprintln!(
            "No API key yet: every request will be refused. Create one with: tenure keys create --name NAME --scope write"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Handlers are installed before the address is announced: a SIGTERM sent
    // as soon as the line appears must stop the server cleanly, not kill it.
    let shutdown = {
        let _runtime = runtime.enter();
        shutdown_signal()?
    };
    // Tests and scripts read the address from this line.
    eprintln!("Tenure is listening on http://{addr} (workspace {}; Ctrl-C stops)", data.display());
    eprintln!("Dashboard: {} (one-time login link)", tenure_server::dashboard::login_link(server.state(), addr));
    runtime.block_on(server.run(tenure_server::routes(), shutdown))?;
    eprintln!("Stopped; every acknowledged write is in the workspace's tables.");
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM (what service managers and `kill` send).
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight");
    })
}
