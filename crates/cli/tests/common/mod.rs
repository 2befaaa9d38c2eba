//! Running the built `nodestatus` binary against a datastore of the test's own.

#![allow(dead_code)] // Each test file uses its own part of these helpers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_nodestatus");

/// How long a change may take to show up in another process's watch.
pub const SEEN_WITHIN: Duration = Duration::from_secs(10);

/// A temporary directory holding one SQLite datastore.
pub struct Env {
    pub dir: tempfile::TempDir,
}

/// What a finished command printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("store.db")
    }

    /// `nodestatus --sqlite-path <db> <args>`, with no datastore settings from the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--sqlite-path")
            .arg(self.db())
            .args(args)
            .env_remove("DATASTORE_TYPE")
            .env_remove("NODESTATUS_SQLITE_PATH")
            .env_remove("ETCD_ENDPOINTS");
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("the binary runs").into()
    }

    /// Runs a command that must succeed, returning its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert!(run.ok, "nodestatus {args:?} failed: {}", run.stderr);
        run.stdout
    }

    /// Writes a file in the temporary directory and returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("writing a test file");
        path.to_string_lossy().into_owned()
    }

    /// `get -o json` as a value.
    pub fn list(&self) -> Value {
        serde_json::from_str(&self.ok(&["get", "-o", "json"])).expect("get -o json prints JSON")
    }

    /// Opens the same datastore in this process, for writing statuses as an agent would.
    pub fn store(&self) -> nodestatus_store_sqlite::SqliteStore {
        open_store(&self.db())
    }
}

pub fn open_store(path: &Path) -> nodestatus_store_sqlite::SqliteStore {
    nodestatus_store_sqlite::SqliteStore::open(path, Default::default())
        .expect("the test datastore opens")
}

/// The object without what the store sets (uid, creationTimestamp, resourceVersion).
pub fn without_store_metadata(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in ["uid", "creationTimestamp", "resourceVersion", "generation"] {
            meta.remove(key);
        }
    }
    obj
}

/// A runtime for calling the store API from a synchronous test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A `get -w` process whose stdout lines arrive on a channel.
pub struct Watcher {
    child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl Watcher {
    pub fn start(mut command: Command) -> Watcher {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watcher { child, lines }
    }

    /// The next `n` lines, each within the time limit.
    pub fn next_lines(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                self.lines
                    .recv_timeout(SEEN_WITHIN)
                    .expect("the watch printed a line in time")
            })
            .collect()
    }

    /// Lines up to and including the first that equals `last`, each within the time limit.
    pub fn lines_until(&self, last: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(SEEN_WITHIN)
                .expect("the watch printed the line in time");
            let done = line == last;
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the watch and goes on.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// One JSON document of a `-o json` watch (pretty-printed: it ends at a line `}`).
    pub fn next_json(&self) -> Value {
        let text = self.lines_until("}").join("\n");
        serde_json::from_str(&text).expect("the watch printed JSON")
    }

    /// Sends a signal and returns whether the process then exited successfully.
    pub fn stop_with(&mut self, signal: &str) -> (bool, String) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("the watch exits");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("reading stderr");
        }
        (exit.success(), stderr)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
