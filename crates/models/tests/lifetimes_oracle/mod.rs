//! Runs `scripts/oracle/lifetimes_clv.py` in the Python environment made by
//! `scripts/setup-lifetimes` (the `lifetimes` package needs old numpy, pandas
//! and scipy, so it has its own virtual environment), and compares numbers.
//!
//! Shared by the models' CDNOW test and the CLI's demo test (`#[path]`).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The environment's interpreter: `$TENURE_LIFETIMES_VENV/bin/python`, by
/// default in `$HOME/.cache/tenure-venv-lifetimes` (what
/// `scripts/setup-lifetimes` makes). A missing environment fails the test with
/// what to run: these are the parity checks against the reference package,
/// and a silent skip would hide that they did not run.
pub fn python() -> PathBuf {
    let venv = match std::env::var_os("TENURE_LIFETIMES_VENV") {
        Some(p) => PathBuf::from(p),
        None => Path::new(&std::env::var_os("HOME").expect("HOME is set")).join(".cache/tenure-venv-lifetimes"),
    };
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "the lifetimes oracle needs its Python environment, and {} does not exist: run scripts/setup-lifetimes",
        python.display()
    );
    python
}

/// The oracle's answer to `request` (see the script's docstring).
pub fn run(request: &Value) -> Value {
    run_script("lifetimes_clv.py", request)
}

/// The answer of `scripts/oracle/SCRIPT` to `request`, in the environment.
pub fn run_script(script: &str, request: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oracle").join(script);
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the lifetimes oracle");
    child.stdin.take().expect("stdin").write_all(request.to_string().as_bytes()).expect("write the request");
    let out = child.wait_with_output().expect("run the lifetimes oracle");
    assert!(out.status.success(), "lifetimes oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}

/// Every `ours[i]` within `rel` of `theirs[i]`, relative to |theirs[i]| (or
/// absolute below 1e-12, where a relative error of two roundings means nothing).
pub fn assert_all_close(what: &str, ours: &[f64], theirs: &Value, rel: f64) {
    let theirs: Vec<f64> = theirs
        .as_array()
        .unwrap_or_else(|| panic!("{what}: the oracle gave no list"))
        .iter()
        .map(|v| v.as_f64().unwrap_or_else(|| panic!("{what}: {v} is not a number")))
        .collect();
    assert_eq!(ours.len(), theirs.len(), "{what}: customer counts differ");
    let mut worst = (0.0f64, 0usize);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let err = (a - b).abs() / b.abs().max(1e-12);
        assert!(err.is_finite() || a == b, "{what}, customer {i}: ours {a} vs lifetimes {b}");
        if err > worst.0 {
            worst = (err, i);
        }
    }
    let i = worst.1;
    eprintln!("{what}: worst relative difference {:.2e} (customer {i}: {} vs {})", worst.0, ours[i], theirs[i]);
    assert!(
        worst.0 <= rel,
        "{what}, customer {i}: ours {} vs lifetimes {} (relative {:.2e} > {rel:.0e})",
        ours[i],
        theirs[i],
        worst.0
    );
}
