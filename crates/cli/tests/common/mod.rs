//! The one helper every end-to-end test uses: a temporary workspace and the
//! real `tenure` binary run on it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct Ws {
    pub dir: tempfile::TempDir,
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

pub fn example(name: &str) -> String {
    examples().join(name).to_string_lossy().into_owned()
}

pub fn tenure_cmd() -> Command {
    let mut c = Command::new(tenure_bin());
    c.env_remove("TENURE_DATA");
    c
}

/// `tenure --data DATA ARGS` read as the JSON it prints, or its stderr when it
/// fails; `rollups: false` sets `TENURE_NO_ROLLUPS=1` (the scan of the events).
#[allow(dead_code)]
pub fn json_with_rollups(data: &std::path::Path, args: &[&str], rollups: bool) -> Result<Value, String> {
    let mut c = tenure_cmd();
    c.arg("--data").arg(data).args(args);
    if !rollups {
        c.env("TENURE_NO_ROLLUPS", "1");
    }
    let out = c.output().expect("run tenure");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("JSON"))
}

/// The `tenure` binary this test process was built with, pinned by a hard
/// link. Cargo uplifts every build to the one path `target/debug/tenure`, so
/// another checkout (a `git worktree`) sharing the target directory can
/// replace it while this process's tests run; the link keeps our inode. Links
/// of test processes that have exited are removed here.
pub fn tenure_bin() -> &'static Path {
    static PINNED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PINNED.get_or_init(|| {
        let built = PathBuf::from(env!("CARGO_BIN_EXE_tenure"));
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pinned-tenure");
        if std::fs::create_dir_all(&dir).is_err() {
            return built;
        }
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let pid = entry.file_name().to_string_lossy().trim_start_matches("tenure-").to_string();
            if !Path::new("/proc").join(&pid).exists() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let pinned = dir.join(format!("tenure-{}", std::process::id()));
        let _ = std::fs::remove_file(&pinned);
        match std::fs::hard_link(&built, &pinned) {
            Ok(()) => pinned,
            Err(_) => built,
        }
    })
}

impl Ws {
    /// A fresh, initialised workspace.
    pub fn new() -> Ws {
        let ws = Ws { dir: tempfile::tempdir().expect("temp dir") };
        ws.ok(&["init"]);
        ws
    }

    /// A temp directory with no workspace in it yet.
    pub fn uninitialised() -> Ws {
        Ws { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write a file in the temp directory, returning its path.
    pub fn file(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let p = self.path(name);
        std::fs::write(&p, content).expect("write test file");
        p.to_string_lossy().into_owned()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        tenure_cmd().arg("--data").arg(self.data()).args(args).output().expect("run tenure")
    }

    /// Run and expect success; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tenure {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Run and expect failure; returns stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "tenure {args:?} should have failed:\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "tenure panicked: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }

    /// Run and expect success; parse stdout as JSON.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad json {e}: {out}"))
    }

    #[track_caller]
    pub fn sql(&self, query: &str) -> Vec<Value> {
        match self.json(&["sql", "--json", query]) {
            Value::Array(rows) => rows,
            other => panic!("expected an array: {other}"),
        }
    }

    #[track_caller]
    pub fn count(&self, table: &str) -> i64 {
        let rows = self.sql(&format!("select count(*) as n from {table}"));
        rows[0]["n"].as_i64().expect("count")
    }

    /// Every file of the workspace with its content, to prove a failed
    /// command changed nothing (the lock file aside).
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
            for e in std::fs::read_dir(dir).expect("read dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    walk(&p, root, out);
                } else if p.file_name().is_some_and(|n| n != ".lock") {
                    out.insert(
                        p.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                        std::fs::read(&p).expect("read"),
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.data(), &self.data(), &mut out);
        out
    }
}

/// Convert a JSON Lines file to Parquet with an inferred schema (nested
/// objects become structs and lists), as another tool would produce it.
pub fn jsonl_to_parquet(jsonl: &Path, parquet_path: &Path) {
    use std::io::BufReader;
    use std::sync::Arc;
    let file = std::fs::File::open(jsonl).expect("open jsonl");
    let (schema, _) = arrow::json::reader::infer_json_schema(BufReader::new(file), None).expect("infer schema");
    let schema = Arc::new(schema);
    let file = std::fs::File::open(jsonl).expect("open jsonl");
    let reader = arrow::json::ReaderBuilder::new(schema.clone()).build(BufReader::new(file)).expect("json reader");
    let out = std::fs::File::create(parquet_path).expect("create parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(out, schema, None).expect("writer");
    for b in reader {
        w.write(&b.expect("batch")).expect("write");
    }
    w.close().expect("close");
}
