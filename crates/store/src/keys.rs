//! API keys of a workspace (`tenure keys`, checked by `tenure serve`).
//!
//! A key is shown once, when it is created; the workspace keeps only its
//! BLAKE3 hash in `api_keys.json`. A key is 256 random bits, so a fast hash is
//! enough: there is nothing to brute-force that a slow password hash would
//! protect. Checking a presented key hashes it and compares the hash with
//! every stored one in constant time (`blake3::Hash`'s equality), so neither
//! the comparison nor which key matched leaks through timing.

use std::path::{Path, PathBuf};

use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::manifest::write_atomic;

pub const KEYS_FILE: &str = "api_keys.json";
/// Every key starts with this, so a leaked one is recognisable in logs and
/// secret scanners.
pub const KEY_PREFIX: &str = "tnr_";

/// What a key may do. `admin` may do everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Send data (the ingest endpoints); cannot read customer data.
    Write,
    /// Read metrics and accounts; cannot send data.
    Read,
    /// Both, plus ad-hoc SQL.
    Admin,
}

impl Scope {
    pub const NAMES: &'static [&'static str] = &["write", "read", "admin"];

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "write" => Some(Scope::Write),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scope::Write => "write",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    /// Whether a key of this scope may call an endpoint that requires `required`.
    pub fn allows(self, required: Scope) -> bool {
        self == Scope::Admin || self == required
    }
}

/// A stored key: everything but the secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// A short public id (`key_` and the first 8 hex digits of the hash), for
    /// listing and revoking without the secret.
    pub id: String,
    pub name: String,
    pub scope: Scope,
    /// BLAKE3 of the key, hex.
    pub hash: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl ApiKey {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

#[derive(Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<ApiKey>,
}

fn keys_path(root: &Path) -> PathBuf {
    root.join(KEYS_FILE)
}

/// Every key of the workspace, revoked ones included (none if the file does not exist).
pub fn list(root: &Path) -> Result<Vec<ApiKey>> {
    let path = keys_path(root);
    let text = match fs_err::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| StoreError::Settings {
        path: path.clone(),
        reason: format!("the API key file is not valid JSON ({e}); it is written by `tenure keys`, not by hand"),
    })?;
    Ok(file.keys)
}

/// Create a key; returns what is stored and the secret, which nothing keeps.
pub fn create(root: &Path, name: &str, scope: Scope) -> Result<(ApiKey, String)> {
    let mut bytes = [0u8; 32];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", hex(&bytes));
    let hash = blake3::hash(secret.as_bytes());
    let key = ApiKey {
        id: format!("key_{}", &hash.to_hex()[..8]),
        name: name.to_string(),
        scope,
        hash: hash.to_hex().to_string(),
        created_at: now(),
        revoked_at: None,
    };
    update(root, |keys| {
        keys.push(key.clone());
        Ok(())
    })?;
    Ok((key, secret))
}

/// Revoke the key with this id, or the one active key with this name.
pub fn revoke(root: &Path, id_or_name: &str) -> Result<ApiKey> {
    let mut revoked = None;
    update(root, |keys| {
        let by_id: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].id == id_or_name).collect();
        let by_name: Vec<usize> =
            (0..keys.len()).filter(|&i| keys[i].name == id_or_name && keys[i].is_active()).collect();
        let i = match (by_id.as_slice(), by_name.as_slice()) {
            ([i], _) | ([], [i]) => *i,
            ([], []) => {
                return Err(not_found(id_or_name, "no key has this id or (active) name; see `tenure keys list`"));
            }
            _ => return Err(not_found(id_or_name, "several active keys have this name: revoke one by its id")),
        };
        if keys[i].revoked_at.is_none() {
            keys[i].revoked_at = Some(now());
        }
        revoked = Some(keys[i].clone());
        Ok(())
    })?;
    Ok(revoked.expect("set on success"))
}

fn not_found(what: &str, why: &str) -> StoreError {
    StoreError::Io(std::io::Error::new(std::io::ErrorKind::NotFound, format!("API key {what:?}: {why}")))
}

/// The active key a presented secret belongs to. Hashes first, then compares
/// with every key (no early exit), in constant time.
pub fn verify<'k>(keys: &'k [ApiKey], presented: &str) -> Option<&'k ApiKey> {
    let hash = blake3::hash(presented.as_bytes());
    let mut found = None;
    for key in keys {
        let Ok(stored) = blake3::Hash::from_hex(&key.hash) else { continue };
        if stored == hash && key.is_active() {
            found = Some(key);
        }
    }
    found
}

/// Read-modify-write the key file under its own lock, replacing it atomically.
fn update(root: &Path, change: impl FnOnce(&mut Vec<ApiKey>) -> Result<()>) -> Result<()> {
    if !root.join(crate::manifest::MANIFEST_FILE).is_file() {
        return Err(StoreError::NotAWorkspace(root.to_path_buf()));
    }
    let lock_path = root.join(".keys.lock");
    let lock = fs_err::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?.into_parts().0;
    lock.lock()?;
    let mut keys = list(root)?;
    change(&mut keys)?;
    write_atomic(&keys_path(root), serde_json::to_string_pretty(&KeyFile { keys }).expect("keys serialise"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).expect("rounds").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workspace;

    #[test]
    fn created_keys_verify_until_revoked_and_only_hashes_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        Workspace::init(dir.path()).unwrap();
        let (w, w_secret) = create(dir.path(), "segment", Scope::Write).unwrap();
        let (r, r_secret) = create(dir.path(), "dashboard", Scope::Read).unwrap();
        assert!(w_secret.starts_with(KEY_PREFIX) && w_secret.len() == KEY_PREFIX.len() + 64);
        assert_ne!(w_secret, r_secret);
        let stored = fs_err::read_to_string(dir.path().join(KEYS_FILE)).unwrap();
        assert!(!stored.contains(&w_secret[KEY_PREFIX.len()..]), "the secret is not stored");
        assert!(stored.contains(&w.hash));

        let keys = list(dir.path()).unwrap();
        assert_eq!(verify(&keys, &w_secret).map(|k| &k.id), Some(&w.id));
        assert_eq!(verify(&keys, &r_secret).map(|k| k.scope), Some(Scope::Read));
        assert!(verify(&keys, "tnr_0000").is_none());
        assert!(verify(&keys, &w_secret[..w_secret.len() - 1]).is_none());

        // By name, then by id; revoking twice keeps the first time.
        let gone = revoke(dir.path(), "segment").unwrap();
        assert_eq!(gone.id, w.id);
        let again = revoke(dir.path(), &w.id).unwrap();
        assert_eq!(again.revoked_at, gone.revoked_at);
        let keys = list(dir.path()).unwrap();
        assert!(verify(&keys, &w_secret).is_none());
        assert_eq!(verify(&keys, &r_secret).map(|k| &k.id), Some(&r.id));
        assert!(revoke(dir.path(), "nobody").unwrap_err().to_string().contains("tenure keys list"));
    }

    #[test]
    fn scopes() {
        assert!(Scope::Admin.allows(Scope::Read) && Scope::Admin.allows(Scope::Write));
        assert!(!Scope::Read.allows(Scope::Write) && !Scope::Write.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Admin) && !Scope::Write.allows(Scope::Admin));
        for n in Scope::NAMES {
            assert_eq!(Scope::parse(n).unwrap().name(), *n);
        }
    }
}
