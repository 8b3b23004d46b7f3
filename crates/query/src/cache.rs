//! Loaded inputs shared between documents, per workspace state.
//!
//! Loading three million usage events takes seconds; the dashboard's
//! engagement page alone computes seven documents from them, an account page
//! three (usage, health, churn features). [`shared`] keeps what a loader
//! returned for as long as the workspace state it was loaded from is current:
//! the state is the manifest (which data files make up the workspace; every
//! commit changes it) and the settings, so an import, an ingest commit or an
//! edit of tenure.toml makes the next call load afresh. Concurrent callers of
//! the same key wait for one load instead of each running it.
//!
//! Only the newest state of each workspace is kept (a loader on an older
//! state still runs, but its result is not kept), so a long-running server
//! holds one copy of each input, not one per commit.

use std::any::Any;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use tenure_store::Workspace;

type Value = Arc<dyn Any + Send + Sync>;
type Slot = Arc<Mutex<Option<Value>>>;

/// One workspace's kept inputs: its state (manifest version, fingerprint) and a slot per key.
struct Kept {
    version: u64,
    fingerprint: u64,
    slots: HashMap<String, Slot>,
}

static KEPT: Mutex<Option<HashMap<PathBuf, Kept>>> = Mutex::new(None);

/// What the workspace's committed state and settings look like, as one number.
fn fingerprint(ws: &Workspace) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(ws.manifest()).unwrap_or_default().hash(&mut h);
    format!("{:?}", ws.settings()).hash(&mut h);
    h.finish()
}

/// The slot of `key` for this workspace state, or none when the state is
/// older than one already kept (its result is then not kept).
fn slot(ws: &Workspace, key: &str) -> Option<Slot> {
    let (version, fp) = (ws.manifest().version, fingerprint(ws));
    let mut guard = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    let all = guard.get_or_insert_with(HashMap::new);
    let kept =
        all.entry(ws.root().to_path_buf()).or_insert_with(|| Kept { version, fingerprint: fp, slots: HashMap::new() });
    if kept.fingerprint != fp {
        if version < kept.version {
            return None;
        }
        // A newer state (or the same version with other settings): forget the old one.
        *kept = Kept { version, fingerprint: fp, slots: HashMap::new() };
    }
    Some(kept.slots.entry(key.to_string()).or_default().clone())
}

/// `load()`'s result for this workspace state, loaded once and shared.
/// `key` names what is loaded and with which parameters; the same key must
/// always name the same type.
pub fn shared<T: Any + Send + Sync>(ws: &Workspace, key: &str, load: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
    let Some(slot) = slot(ws, key) else {
        return Ok(Arc::new(load()?));
    };
    let mut value = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(v) = value.as_ref()
        && let Ok(t) = v.clone().downcast::<T>()
    {
        return Ok(t);
    }
    // Errors are not kept: the next call tries again.
    let t = Arc::new(load()?);
    *value = Some(t.clone());
    Ok(t)
}

/// What [`shared`] keeps under `key` for this workspace state, if it is
/// loaded already (nothing is loaded).
pub fn peek<T: Any + Send + Sync>(ws: &Workspace, key: &str) -> Option<Arc<T>> {
    let slot = slot(ws, key)?;
    let value = slot.lock().unwrap_or_else(|p| p.into_inner());
    value.as_ref()?.clone().downcast::<T>().ok()
}

/// Load what most documents share (the events table, the revenue inputs,
/// the health inputs, and the churn history when a model is trained), so
/// that a server's first page view does not wait for it. Errors are left for
/// the documents that need the input to report.
///
/// One events table only: the funnel runs on it too unless it has
/// anonymous visitors to merge or a `page:NAME` step; that table (page names,
/// identities merged) is built per funnel document and dropped once the
/// document is computed, not kept beside the shared one for the server's
/// lifetime (it held a second copy of every event).
pub fn warm(ws: &Workspace) {
    if let Ok(tz) = jiff::tz::TimeZone::get(&ws.settings().workspace.timezone) {
        let _ = crate::engagement::load_events(ws, tz, tenure_metrics::engagement::ActiveEvent::AnyTrack);
    }
    let _ = crate::ledger::RevenueData::shared(ws);
    if let Ok(health) = crate::health::HealthData::shared(ws) {
        let _ = health.warm_history(ws);
    }
    if crate::churn::model_path(ws).is_file() {
        let _ = crate::churn::predict(ws, None, 0);
    }
    // Last: only the funnel needs it, and the funnel runs on the events table above.
    let _ = crate::journey::shared_identities(ws);
}

/// Forget everything kept for this workspace (tests, and memory after a big import).
pub fn forget(ws: &Workspace) {
    if let Some(all) = KEPT.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        all.remove(ws.root());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_load_is_shared_until_the_workspace_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        Workspace::init(&root).unwrap();
        let loads = AtomicUsize::new(0);
        let get = |ws: &Workspace| {
            shared(ws, "n", || {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok(ws.manifest().version)
            })
            .unwrap()
        };
        let ws = Workspace::open(&root).unwrap();
        let first = get(&ws);
        assert_eq!(get(&Workspace::open(&root).unwrap()), first);
        assert_eq!(loads.load(Ordering::SeqCst), 1, "the same state loads once");

        // A commit changes the manifest: the next call loads again.
        let mut w = Workspace::open(&root).unwrap();
        let customers: Vec<tenure_model::Customer> = vec![
            tenure_model::Entity::from_record(&tenure_model::Record::new(
                1,
                serde_json::json!({"id": "c1"}).as_object().unwrap().clone(),
            ))
            .unwrap(),
        ];
        let mut writer = w.writer().unwrap();
        writer.upsert(&customers).unwrap();
        writer.commit().unwrap();
        let newer = Workspace::open(&root).unwrap();
        assert_eq!(*get(&newer), *first + 1);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        // The old state is not kept any more, and does not displace the new one.
        assert_eq!(*get(&ws), *first);
        assert_eq!(*get(&newer), *first + 1);
        assert_eq!(loads.load(Ordering::SeqCst), 3, "only the old state's call loaded again");

        // An error is not kept.
        let failed: Result<Arc<u64>> = shared(&newer, "e", || anyhow::bail!("no"));
        assert!(failed.is_err());
        assert_eq!(*shared(&newer, "e", || Ok(7u64)).unwrap(), 7);
        forget(&newer);
        assert_eq!(*shared(&newer, "e", || Ok(8u64)).unwrap(), 8, "forgotten");
    }
}
