//! `tenure alerts`: evaluate the scorecard's alert rules (SPEC 2.5) and work
//! the tasks they create: list, acknowledge, close with a note; webhook calls
//! that failed are kept on their task and retried with `deliver`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use jiff::civil::Date;
use serde_json::Value;
use tenure_query::health::{self, Task};
use tenure_store::Workspace;

use crate::output;

pub const AFTER_HELP: &str = "\
Rules live in the scorecard ([[health.alerts]] in tenure.toml, or --scorecard FILE; the
default scorecard has: entered red, dropped 20 points in 30 days, renewal within 60 days
while red). Each firing creates one task per rule and account; while it is open or
acknowledged, and for the rule's cooldown_days (default 30) after it, the same rule does not
fire again for that account. With alert_tasks = \"per_account\" an account has one task that
lists every rule that fired for it. With [health.webhook] url = \"https://...\" (ca_file =
\"ca.pem\" for a private CA) every new or updated task is POSTed as JSON, retried with
backoff; a failed delivery is kept on the task.
When tenure.toml has [[health.alerts]], alerts are also evaluated after every `tenure import`
and, while `tenure serve` runs, after API ingest commits (at most once per
alerts_every_seconds, default 60).

Examples:
  tenure alerts                          open and acknowledged tasks
  tenure alerts evaluate                 run the rules as of the last day with data
  tenure alerts ack 3
  tenure alerts close 3 --note \"called the champion; renewal confirmed\"
  tenure alerts list --all --json
  tenure alerts deliver                  retry webhook calls that failed";

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    command: Option<AlertsCommand>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Args, Default)]
struct ListArgs {
    /// Include closed tasks.
    #[arg(long)]
    all: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Run the alert rules and create tasks for what fires.
    Evaluate {
        /// Evaluate as of the end of this day (default: the last day with data).
        #[arg(long, value_name = "DATE")]
        as_of: Option<Date>,
        /// A scorecard TOML file instead of tenure.toml's [health].
        #[arg(long, value_name = "FILE")]
        scorecard: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// List tasks (open and acknowledged; --all for closed too).
    List(ListArgs),
    /// Acknowledge a task (someone is on it).
    Ack { id: u64 },
    /// Close a task with a note on what was done.
    Close {
        id: u64,
        #[arg(long)]
        note: String,
    },
    /// Retry the webhook of every task whose delivery failed.
    Deliver {
        #[arg(long, value_name = "FILE")]
        scorecard: Option<PathBuf>,
    },
}

pub fn run(data: &Path, args: AlertsArgs) -> Result<ExitCode> {
    let ws = Workspace::open(data)?;
    match args.command {
        None => list(&ws, args.list),
        Some(AlertsCommand::List(l)) => list(&ws, l),
        Some(AlertsCommand::Evaluate { as_of, scorecard, json }) => {
            let e = health::evaluate_alerts(&ws, scorecard.as_deref(), as_of)?;
            warn_failed(e.failed_deliveries());
            if json {
                output::json(&serde_json::json!({
                    "as_of": e.as_of.to_string(),
                    "accounts": e.accounts,
                    "already_open": e.already_open,
                    "cooling_down": e.cooling_down,
                    "created": e.created.iter().map(Task::to_json).collect::<Vec<_>>(),
                    "updated": e.updated.iter().map(Task::to_json).collect::<Vec<_>>(),
                }));
            } else {
                output::line(format!(
                    "Alerts as of {}: {} account(s) evaluated, {} new task(s), {} updated, {} still open from before, \
                     {} within their cooldown",
                    e.as_of,
                    e.accounts,
                    e.created.len(),
                    e.updated.len(),
                    e.already_open,
                    e.cooling_down
                ));
                print_tasks(&[e.created, e.updated].concat());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(AlertsCommand::Ack { id }) => {
            let t = health::update_task(ws.root(), id, None)?;
            output::line(format!("task {}: acknowledged ({})", t.id, t.message));
            Ok(ExitCode::SUCCESS)
        }
        Some(AlertsCommand::Close { id, note }) => {
            let t = health::update_task(ws.root(), id, Some(&note))?;
            output::line(format!("task {}: closed ({})", t.id, t.message));
            Ok(ExitCode::SUCCESS)
        }
        Some(AlertsCommand::Deliver { scorecard }) => {
            let tried = health::redeliver(&ws, scorecard.as_deref())?;
            warn_failed(tried.iter());
            let ok = tried.iter().filter(|t| delivery(t) == "delivered").count();
            output::line(format!(
                "{} webhook call(s) retried: {ok} delivered, {} failed",
                tried.len(),
                tried.len() - ok
            ));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Evaluate the alert rules after an import, when the workspace configures
/// some ([`health::evaluate_alerts_if_configured`]). The import itself has
/// succeeded: a failure here is a warning.
pub fn after_import(data: &Path) {
    let run = || -> Result<()> {
        let Some(e) = health::evaluate_alerts_if_configured(&Workspace::open(data)?)? else {
            return Ok(());
        };
        warn_failed(e.failed_deliveries());
        if !e.created.is_empty() || !e.updated.is_empty() {
            eprintln!(
                "{} new and {} updated health alert task(s) as of {}: see `tenure alerts`",
                e.created.len(),
                e.updated.len(),
                e.as_of
            );
        }
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("warning: health alerts were not evaluated after the import: {e:#}");
    }
}

fn warn_failed<'a>(tasks: impl Iterator<Item = &'a Task>) {
    for t in tasks {
        if let Some(d) = t.webhook.as_ref().filter(|d| d.status != "delivered") {
            eprintln!(
                "warning: webhook for task {} failed after {} attempt(s): {}; kept, retry with `tenure alerts deliver`",
                t.id,
                d.attempts,
                d.last_error.as_deref().unwrap_or("unknown error")
            );
        }
    }
}

fn delivery(t: &Task) -> &str {
    t.webhook.as_ref().map_or("-", |d| d.status.as_str())
}

fn list(ws: &Workspace, args: ListArgs) -> Result<ExitCode> {
    let tasks: Vec<Task> = health::tasks(ws.root())?.into_iter().filter(|t| args.all || t.status != "closed").collect();
    if args.json {
        output::json(&Value::from(tasks.iter().map(Task::to_json).collect::<Vec<_>>()));
    } else if tasks.is_empty() {
        output::line(if args.all { "No alert tasks yet: tenure alerts evaluate" } else { "No open alert tasks." });
    } else {
        print_tasks(&tasks);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_tasks(tasks: &[Task]) {
    if tasks.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.status.clone(),
                t.as_of.to_string(),
                t.account.clone(),
                t.rule.clone(),
                t.message.clone(),
                delivery(t).to_string(),
                t.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(&["id", "status", "as of", "account", "rule", "message", "webhook", "note"], &rows);
}
