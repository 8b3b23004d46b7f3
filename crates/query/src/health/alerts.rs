//! Alert tasks (SPEC 2.5): the scorecard's rules evaluated as of a day, each
//! firing kept as a task (listed, acknowledged, closed with a note) and POSTed
//! to the webhook; evaluated after `tenure import` and, debounced, after the
//! API's ingest commits ([`evaluate_alerts_after_ingest`]).
//!
//! A task stands for one rule firing for one account, or with
//! `alert_tasks = "per_account"` for every rule that fired for the account
//! while its task was not closed (its `reasons`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenure_metrics::health::{self, Firing, InputValue, Snapshot, TaskGrouping};
use tenure_store::Workspace;

use super::webhook::{Client, Delivery};
use super::{HEALTH_DIR, HealthData, load_overrides, load_scorecard, read_json, with_lock, write_json_atomic};

const ALERTS_FILE: &str = "alerts.json";

/// One rule firing that a task stands for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The firing's rule and account ([`Firing::key`]): an open task with it,
    /// or one younger than the rule's cooldown, keeps it from firing again.
    pub key: String,
    pub rule: String,
    pub measure: Option<String>,
    pub message: String,
    pub details: Value,
    /// The evaluation day that fired it.
    pub as_of: Date,
}

impl Reason {
    fn of(f: Firing, as_of: Date) -> Reason {
        Reason { key: f.key(), rule: f.rule, measure: f.measure, message: f.message, details: f.details, as_of }
    }
}

/// A task an alert created, and what happened to its webhook call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: u64,
    /// The rule and account of a one-reason task; `*|account` for several.
    pub key: String,
    /// The rules of its reasons, comma-separated.
    pub rule: String,
    pub account: String,
    pub measure: Option<String>,
    /// Its reasons' messages, `; `-separated.
    pub message: String,
    /// Its reason's details; with several reasons `{"reasons": [details...]}`.
    pub details: Value,
    /// The evaluation day that created it.
    pub as_of: Date,
    pub created_at: Timestamp,
    /// When a later firing added a reason (`alert_tasks = "per_account"`).
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// `open`, `acknowledged` or `closed`.
    pub status: String,
    pub acknowledged_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub note: Option<String>,
    pub webhook: Option<Delivery>,
    /// Every rule firing it stands for, oldest first.
    #[serde(default)]
    pub reasons: Vec<Reason>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct AlertState {
    next_id: u64,
    last_evaluated: Option<Date>,
    /// The manifest version the last evaluation saw (see [`evaluate_alerts_after_ingest`]).
    #[serde(default)]
    manifest_version: Option<u64>,
    /// What the last evaluation saw of each account.
    snapshots: BTreeMap<String, Snapshot>,
    tasks: Vec<Task>,
}

impl Task {
    fn new(id: u64, account: String, reason: Reason) -> Task {
        let mut t = Task {
            id,
            key: String::new(),
            rule: String::new(),
            account,
            measure: None,
            message: String::new(),
            details: Value::Null,
            as_of: reason.as_of,
            created_at: Timestamp::now(),
            updated_at: None,
            status: "open".into(),
            acknowledged_at: None,
            closed_at: None,
            note: None,
            webhook: None,
            reasons: vec![reason],
        };
        t.summarise();
        t
    }

    /// The task-level fields from its reasons.
    fn summarise(&mut self) {
        let r = &self.reasons;
        let join = |f: &dyn Fn(&Reason) -> Option<String>, sep: &str| {
            let v: Vec<String> = r.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| v.join(sep))
        };
        self.rule = join(&|x| Some(x.rule.clone()), ", ").unwrap_or_default();
        self.measure = join(&|x| x.measure.clone(), ", ");
        self.message = join(&|x| Some(x.message.clone()), "; ").unwrap_or_default();
        if let [one] = r.as_slice() {
            self.key = one.key.clone();
            self.details = one.details.clone();
        } else {
            self.key = format!("*|{}", self.account);
            self.details = json!({"reasons": r.iter().map(|x| x.details.clone()).collect::<Vec<_>>()});
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("tasks serialise")
    }

    /// The webhook's JSON body (`event`: `created`, or `updated` when a reason was added).
    pub fn payload(&self) -> Value {
        json!({
            "type": "tenure.health_alert",
            "event": if self.updated_at.is_some() { "updated" } else { "created" },
            "task_id": self.id,
            "rule": self.rule,
            "account": self.account,
            "measure": self.measure,
            "message": self.message,
            "details": self.details,
            "reasons": self.reasons,
            "status": self.status,
            "as_of": self.as_of.to_string(),
            "created_at": self.created_at.to_string(),
        })
    }
}

/// The alert state; tasks written before tasks had reasons get theirs from their own fields.
fn load_state(path: &Path) -> Result<AlertState> {
    let mut state: AlertState = read_json(path)?;
    for t in state.tasks.iter_mut().filter(|t| t.reasons.is_empty()) {
        t.reasons.push(Reason {
            key: t.key.clone(),
            rule: t.rule.clone(),
            measure: t.measure.clone(),
            message: t.message.clone(),
            details: t.details.clone(),
            as_of: t.as_of,
        });
    }
    Ok(state)
}

pub fn tasks(root: &Path) -> Result<Vec<Task>> {
    Ok(load_state(&root.join(HEALTH_DIR).join(ALERTS_FILE))?.tasks)
}

/// What an evaluation did.
pub struct Evaluation {
    pub as_of: Date,
    pub accounts: usize,
    pub created: Vec<Task>,
    /// Tasks not closed that a new firing added a reason to (`alert_tasks = "per_account"`).
    pub updated: Vec<Task>,
    /// Alerts that fired again while their task is still open.
    pub already_open: usize,
    /// Alerts that fired again within their rule's cooldown after an earlier task.
    pub cooling_down: usize,
}

impl Evaluation {
    /// The tasks whose webhook call failed in this evaluation.
    pub fn failed_deliveries(&self) -> impl Iterator<Item = &Task> {
        self.created.iter().chain(&self.updated).filter(|t| t.webhook.as_ref().is_some_and(|d| d.status != "delivered"))
    }
}

/// Evaluate the scorecard's alert rules as of a day. A firing whose rule and
/// account have a task that is not closed, or one made less than the rule's
/// `cooldown_days` before (by evaluation day), is not repeated. Otherwise it
/// becomes a new task, or with `alert_tasks = "per_account"` a reason added to
/// the account's task that is not closed, if any. New and updated tasks are
/// POSTed to the webhook when one is configured (delivery failures are kept
/// on the task).
pub fn evaluate_alerts(ws: &Workspace, scorecard: Option<&Path>, as_of: Option<Date>) -> Result<Evaluation> {
    let (card, _) = load_scorecard(ws, scorecard)?;
    let data = HealthData::shared(ws)?;
    let as_of = as_of.unwrap_or_else(|| data.default_as_of());
    let overrides = load_overrides(ws.root())?;
    let accounts = data.accounts(as_of);
    let now = data.scores(&card, &accounts, as_of, &overrides)?;
    // Earlier scores, only for the windows the `drops` rules use.
    let mut earlier: HashMap<u32, HashMap<String, Option<Decimal>>> = HashMap::new();
    for r in &card.alerts {
        if let health::AlertCondition::Drops { within_days, .. } = r.condition {
            let d = as_of.checked_sub((within_days as i64).days())?;
            let s = data.scores(&card, &accounts, d, &overrides)?;
            earlier.insert(within_days, s.into_iter().map(|(s, _)| (s.account.clone(), s.overall())).collect());
        }
    }
    let per_account = card.alert_tasks == TaskGrouping::PerAccount;
    let (mut already_open, mut cooling_down) = (0, 0);
    let (created, updated) = with_lock(ws.root(), |dir| {
        let path = dir.join(ALERTS_FILE);
        let mut state = load_state(&path)?;
        let first_new = state.tasks.len();
        let mut updated_ids = BTreeSet::new();
        for (s, inputs) in &now {
            let renewal = match inputs.get("days_to_renewal") {
                Some(InputValue::Number(d)) => Some(*d as i64),
                _ => None,
            };
            let before = |days: u32| earlier.get(&days).and_then(|m| m.get(&s.account).copied().flatten());
            for f in health::evaluate(&card, s, state.snapshots.get(&s.account), before, renewal) {
                let key = f.key();
                let with_key = |t: &Task| t.reasons.iter().any(|r| r.key == key);
                if state.tasks.iter().any(|t| t.status != "closed" && with_key(t)) {
                    already_open += 1;
                    continue;
                }
                let cooled = as_of.checked_sub((f.cooldown_days as i64).days())?;
                if state.tasks.iter().any(|t| t.reasons.iter().any(|r| r.key == key && r.as_of > cooled)) {
                    cooling_down += 1;
                    continue;
                }
                let account = f.account.clone();
                let open = |(_, t): &(usize, &mut Task)| t.status != "closed" && t.account == account;
                if per_account && let Some((i, t)) = state.tasks.iter_mut().enumerate().find(open) {
                    t.reasons.push(Reason::of(f, as_of));
                    t.summarise();
                    // A task made by this evaluation is still new, not updated.
                    if i < first_new {
                        t.updated_at = Some(Timestamp::now());
                        updated_ids.insert(t.id);
                    }
                    continue;
                }
                state.next_id += 1;
                state.tasks.push(Task::new(state.next_id, account, Reason::of(f, as_of)));
            }
            state.snapshots.insert(s.account.clone(), Snapshot::of(&card, s));
        }
        state.last_evaluated = Some(as_of);
        state.manifest_version = Some(ws.manifest().version);
        // Record the tasks before calling anyone: a crash during delivery
        // leaves them undelivered, never lost.
        write_json_atomic(&path, &state)?;
        let touched = |i: usize, t: &Task| i >= first_new || updated_ids.contains(&t.id);
        if let Some(hook) = &card.webhook {
            let client = Client::new(hook, ws.root());
            for (i, t) in state.tasks.iter_mut().enumerate() {
                if touched(i, t) {
                    t.webhook = Some(client.deliver(&t.payload()));
                }
            }
            write_json_atomic(&path, &state)?;
        }
        let (mut created, mut updated) = (Vec::new(), Vec::new());
        for (i, t) in state.tasks.iter().enumerate() {
            if i >= first_new {
                created.push(t.clone());
            } else if touched(i, t) {
                updated.push(t.clone());
            }
        }
        Ok((created, updated))
    })?;
    Ok(Evaluation { as_of, accounts: now.len(), created, updated, already_open, cooling_down })
}

/// [`evaluate_alerts`] as of the last day with data, when the workspace
/// configures rules (`[[health.alerts]]` in tenure.toml); `None` without
/// them, and then nothing is loaded, so imports and ingest into a workspace
/// that does not use alerts cost nothing more.
pub fn evaluate_alerts_if_configured(ws: &Workspace) -> Result<Option<Evaluation>> {
    if !alerts_configured(ws) {
        return Ok(None);
    }
    evaluate_alerts(ws, None, None).map(Some)
}

fn alerts_configured(ws: &Workspace) -> bool {
    let rules = ws.settings().health.as_ref().and_then(|h| h.get("alerts")).and_then(|a| a.as_array());
    rules.is_some_and(|r| !r.is_empty())
}

/// What [`evaluate_alerts_after_ingest`] knows of one workspace.
struct AfterIngest {
    /// The manifest version evaluated last (or being evaluated).
    evaluated: Option<u64>,
    started: Option<Instant>,
    running: bool,
}

static AFTER_INGEST: Mutex<Option<HashMap<PathBuf, AfterIngest>>> = Mutex::new(None);

/// Called by the ingest compactor after each round: when the workspace has
/// committed since the alerts were last evaluated (by the last evaluation's
/// manifest version, also one a `tenure import` ran) and rules are
/// configured, evaluate them in a background thread, so ingest never waits
/// for it and never fails because of it (failures are logged). Debounced: at
/// most one evaluation per `alerts_every_seconds` ([health], default 60) and
/// one at a time; commits in between are evaluated by a later round.
pub fn evaluate_alerts_after_ingest(ws: &Workspace) {
    let version = ws.manifest().version;
    let root = ws.root().to_path_buf();
    let mut guard = AFTER_INGEST.lock().unwrap_or_else(|p| p.into_inner());
    let st = guard.get_or_insert_with(HashMap::new).entry(root.clone()).or_insert_with(|| AfterIngest {
        evaluated: load_state(&root.join(HEALTH_DIR).join(ALERTS_FILE)).ok().and_then(|s| s.manifest_version),
        started: None,
        running: false,
    });
    if st.running || st.evaluated == Some(version) {
        return;
    }
    // The settings as they are now (tenure.toml may have changed since the server started).
    let fresh = match Workspace::open(&root) {
        Ok(ws) if alerts_configured(&ws) => ws,
        Ok(_) => {
            st.evaluated = Some(version);
            return;
        }
        Err(e) => {
            st.evaluated = Some(version);
            tracing::error!("health alerts were not evaluated after ingest: {e}");
            return;
        }
    };
    let every = match load_scorecard(&fresh, None) {
        Ok((card, _)) => Duration::from_secs(card.alerts_every_seconds),
        Err(e) => {
            st.evaluated = Some(version);
            tracing::error!("health alerts were not evaluated after ingest: {e:#}");
            return;
        }
    };
    if st.started.is_some_and(|t| t.elapsed() < every) {
        return;
    }
    st.evaluated = Some(version);
    st.started = Some(Instant::now());
    st.running = true;
    let spawned = std::thread::Builder::new().name("health-alerts".into()).spawn(move || {
        log_evaluation(&fresh, evaluate_alerts(&fresh, None, None), "after ingest");
        let mut guard = AFTER_INGEST.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(st) = guard.as_mut().and_then(|m| m.get_mut(fresh.root())) {
            st.running = false;
        }
    });
    if let Err(e) = spawned {
        st.running = false;
        tracing::error!("health alerts were not evaluated after ingest: {e}");
    }
}

fn log_evaluation(ws: &Workspace, result: Result<Evaluation>, when: &str) {
    match result {
        Ok(e) => {
            for t in e.failed_deliveries() {
                let d = t.webhook.as_ref().expect("a failed delivery");
                tracing::warn!(
                    "{}: webhook for task {} failed after {} attempt(s): {}; kept, retry with `tenure alerts deliver`",
                    ws.root().display(),
                    t.id,
                    d.attempts,
                    d.last_error.as_deref().unwrap_or("unknown error")
                );
            }
            if !e.created.is_empty() || !e.updated.is_empty() {
                tracing::info!(
                    "health alerts {when}: {} new and {} updated task(s) as of {}",
                    e.created.len(),
                    e.updated.len(),
                    e.as_of
                );
            }
        }
        Err(e) => tracing::error!("health alerts were not evaluated {when}: {e:#}"),
    }
}

/// Retry the webhook of every task whose delivery failed (or never ran).
pub fn redeliver(ws: &Workspace, scorecard: Option<&Path>) -> Result<Vec<Task>> {
    let (card, _) = load_scorecard(ws, scorecard)?;
    let hook =
        card.webhook.ok_or_else(|| anyhow!("no webhook is configured ([health.webhook] url = \"https://...\")"))?;
    let client = Client::new(&hook, ws.root());
    with_lock(ws.root(), |dir| {
        let path = dir.join(ALERTS_FILE);
        let mut state = load_state(&path)?;
        let mut out = Vec::new();
        for t in &mut state.tasks {
            if t.webhook.as_ref().is_none_or(|d| d.status != "delivered") {
                let mut d = client.deliver(&t.payload());
                d.attempts += t.webhook.as_ref().map_or(0, |p| p.attempts);
                t.webhook = Some(d);
                out.push(t.clone());
            }
        }
        write_json_atomic(&path, &state)?;
        Ok(out)
    })
}

/// Acknowledge or close a task (closing needs a note).
pub fn update_task(root: &Path, id: u64, close_note: Option<&str>) -> Result<Task> {
    with_lock(root, |dir| {
        let path = dir.join(ALERTS_FILE);
        let mut state = load_state(&path)?;
        let t = state
            .tasks
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| anyhow!("no task {id}: `tenure alerts list --all` shows every task"))?;
        if t.status == "closed" {
            bail!("task {id} is already closed");
        }
        match close_note {
            Some(note) => {
                if note.trim().is_empty() {
                    bail!("--note must say how the task was resolved");
                }
                t.status = "closed".into();
                t.closed_at = Some(Timestamp::now());
                t.note = Some(note.to_string());
            }
            None => {
                t.status = "acknowledged".into();
                t.acknowledged_at = Some(Timestamp::now());
            }
        }
        let t = t.clone();
        write_json_atomic(&path, &state)?;
        Ok(t)
    })
}
