//! `tenure keys`: API keys for `tenure serve`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use tenure_store::Workspace;
use tenure_store::keys::{self, Scope};

use crate::output;

pub const AFTER_HELP: &str = "\
Scopes: write sends data (the ingest endpoints, Segment's /v1/* paths); read reads metrics
and accounts; admin does both and may run SQL. A write key cannot read customer data and a
read key cannot send any.

A key is printed once, when it is created: only its hash is kept in the workspace
(api_keys.json). Lost keys cannot be recovered: revoke them and create new ones.
Creating and revoking take effect on a running `tenure serve` at once.

Examples:
  tenure keys create --name segment --scope write
  KEY=$(tenure keys create --name dashboard --scope read)
  tenure keys list
  tenure keys revoke segment           (by name, or by id: tenure keys revoke key_3f9a0c1d)";

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (only once: only its hash is stored).
    Create {
        /// What the key is for (a team, an integration).
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Scope::NAMES))]
        scope: String,
        /// Print id, name, scope and key as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the keys (never their secrets).
    List {
        /// Print JSON (an array of objects).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id or name; requests with it are refused from then on.
    Revoke {
        /// The key's id (key_...) or its name.
        key: String,
    },
}

pub fn run(data: &Path, command: KeysCommand) -> Result<ExitCode> {
    // Keys belong to a workspace: fail early with the usual message if there is none.
    Workspace::open(data)?;
    match command {
        KeysCommand::Create { name, scope, json } => {
            let scope = Scope::parse(&scope).expect("clap checked the scope");
            let (key, secret) = keys::create(data, &name, scope)?;
            if json {
                output::json(
                    &serde_json::json!({"id": key.id, "name": key.name, "scope": scope.name(), "key": secret}),
                );
            } else {
                // The secret alone on stdout, so that `KEY=$(tenure keys create ...)` works.
                output::line(&secret);
                eprintln!(
                    "Created {} key {} ({}). It is shown only now: store it in your secrets manager.",
                    scope.name(),
                    key.id,
                    key.name
                );
            }
        }
        KeysCommand::List { json } => {
            let keys = keys::list(data)?;
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    vec![
                        k.id.clone(),
                        k.name.clone(),
                        k.scope.name().to_string(),
                        k.created_at.clone(),
                        k.revoked_at.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            let header = ["id", "name", "scope", "created_at", "revoked_at"];
            match json {
                false => output::table(&header, &rows),
                true => {
                    let values: Vec<serde_json::Value> = keys
                        .iter()
                        .map(|k| {
                            serde_json::json!({"id": k.id, "name": k.name, "scope": k.scope.name(),
                                "created_at": k.created_at, "revoked_at": k.revoked_at})
                        })
                        .collect();
                    output::json(&serde_json::Value::Array(values));
                }
            }
        }
        KeysCommand::Revoke { key } => {
            let k = keys::revoke(data, &key)?;
            output::line(format!("Revoked {} key {} ({})", k.scope.name(), k.id, k.name));
        }
    }
    Ok(ExitCode::SUCCESS)
}
