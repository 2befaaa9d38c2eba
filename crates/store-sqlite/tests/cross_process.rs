//! Several processes on one SQLite file, as an agent, CLI calls and the agents of a lab share
//! it. The child processes are this test binary started again with an environment variable
//! that gives them their role; each test is both the parent and, in the child, the writer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nodestatus_api::{
    BgpStatus, CalicoNodeStatus, CalicoNodeStatusSpec, CalicoNodeStatusStatus, NodeStatusClass,
};
use nodestatus_store::{Datastore, NodeFilter, StoreError, WatchEvent, WatchStream};
use nodestatus_store_sqlite::{SqliteOptions, SqliteStore};

/// Set in a child: its role (`writer` or `racer-<n>`).
const ROLE: &str = "NODESTATUS_TEST_ROLE";
/// Set in a child: the database file.
const DB: &str = "NODESTATUS_TEST_DB";
/// Set in a child: where it writes what it did, as JSON.
const OUT: &str = "NODESTATUS_TEST_OUT";

/// Status writes of the writer process.
const WRITES: u32 = 30;
/// Status writes of each racing process.
const RACE_WRITES: u32 = 150;

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("starting tokio: {e}"),
    }
}

fn open(path: &Path) -> SqliteStore {
    match SqliteStore::open(path, SqliteOptions::default()) {
        Ok(store) => store,
        Err(e) => panic!("opening {}: {e}", path.display()),
    }
}

fn spec(node: &str, period: u32) -> CalicoNodeStatusSpec {
    CalicoNodeStatusSpec {
        classes: vec![NodeStatusClass::Agent, NodeStatusClass::Bgp],
        node: node.to_owned(),
        update_period_seconds: period,
    }
}

fn status(writer: u32, n: u32) -> CalicoNodeStatusStatus {
    CalicoNodeStatusStatus {
        last_updated: Some(format!("2024-05-01T10:00:{:02}Z", n % 60)),
        bgp: Some(BgpStatus {
            number_established_v4: writer,
            number_not_established_v4: n,
            ..BgpStatus::default()
        }),
        ..CalicoNodeStatusStatus::default()
    }
}

/// The value of a call that must succeed.
#[track_caller]
fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: {e}"),
    }
}

fn version(obj: &CalicoNodeStatus) -> String {
    obj.metadata.resource_version.clone().unwrap_or_default()
}

/// Starts this test again in a child process with `role`.
fn spawn_child(test: &str, role: &str, db: &Path, out: &Path) -> Child {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => panic!("locating the test binary: {e}"),
    };
    let child = Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DB, db)
        .env(OUT, out)
        // The child's own test-harness lines would interleave with the parent's.
        .stdout(Stdio::null())
        .spawn();
    match child {
        Ok(child) => child,
        Err(e) => panic!("starting the {role} process: {e}"),
    }
}

fn wait_child(mut child: Child, role: &str) {
    match child.wait() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("the {role} process failed: {status}"),
        Err(e) => panic!("waiting for the {role} process: {e}"),
    }
}

/// The child's environment: its role, database and output file, when this process is a child.
fn child_role() -> Option<(String, PathBuf, PathBuf)> {
    let role = std::env::var(ROLE).ok()?;
    let db = std::env::var_os(DB).map(PathBuf::from)?;
    let out = std::env::var_os(OUT).map(PathBuf::from)?;
    Some((role, db, out))
}

async fn next_event(watch: &mut WatchStream) -> WatchEvent {
    use futures::StreamExt;
    // A guard against hanging forever, not a speed target (see examples/bench.rs).
    match tokio::time::timeout(std::time::Duration::from_secs(15), watch.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("the watch failed: {e}"),
        Ok(None) => panic!("the watch ended"),
        Err(_) => panic!("no event within 15 s"),
    }
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) {
    let written = serde_json::to_vec(value)
        .map_err(|e| e.to_string())
        .and_then(|json| {
            std::fs::write(path, json).map_err(|e| format!("writing {}: {e}", path.display()))
        });
    if let Err(e) = written {
        panic!("{e}");
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let read = std::fs::read(path)
        .map_err(|e| format!("reading {}: {e}", path.display()))
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
    match read {
        Ok(value) => value,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn watcher_in_another_process_sees_every_write_in_order() {
    if let Some((_, db, out)) = child_role() {
        return runtime().block_on(writer(&db, &out));
    }
    runtime().block_on(async {
        let dir = ok(
            tempfile::tempdir().map_err(|e| StoreError::internal("tempdir", e)),
            "tempdir",
        );
        let (db, out) = (
            dir.path().join("nodestatus.db"),
            dir.path().join("writes.json"),
        );
        let store = open(&db);
        let a = ok(
            store
                .create(&CalicoNodeStatus::new("status-a", spec("node-1", 10)))
                .await,
            "create a",
        );
        let mut watch = ok(
            store.watch(&NodeFilter::All, Some(&version(&a))).await,
            "watch",
        );

        let child = spawn_child(
            "watcher_in_another_process_sees_every_write_in_order",
            "writer",
            &db,
            &out,
        );
        let mut seen = Vec::new();
        // The writer's script: create b, WRITES status writes and WRITES / 10 spec edits on a,
        // move b to another node, delete b.
        for _ in 0..WRITES + WRITES / 10 + 3 {
            seen.push(next_event(&mut watch).await);
        }
        wait_child(child, "writer");

        let done: Vec<(String, CalicoNodeStatus)> = read_json(&out);
        let expected: Vec<WatchEvent> = done
            .into_iter()
            .map(|(kind, obj)| match kind.as_str() {
                "Added" => WatchEvent::Added(obj),
                "Deleted" => WatchEvent::Deleted(obj),
                _ => WatchEvent::Modified(obj),
            })
            .collect();
        assert_eq!(seen, expected);
    });
}

/// The writer process: a script of every kind of change, recorded as the watch must see it.
async fn writer(db: &Path, out: &Path) {
    let store = open(db);
    let mut done = Vec::new();
    let b = ok(
        store
            .create(&CalicoNodeStatus::new("status-b", spec("node-1", 10)))
            .await,
        "create b",
    );
    done.push(("Added", b));
    for n in 1..=WRITES {
        let a = ok(store.get("status-a").await, "get a");
        let v = ok(
            store
                .write_status("status-a", &status(0, n), &version(&a))
                .await,
            "write status",
        );
        done.push(("Modified", ok(store.get("status-a").await, "get a")));
        assert_eq!(done.last().map(|(_, o)| version(o)), Some(v));
        if n % 10 == 0 {
            done.push((
                "Modified",
                ok(
                    store
                        .update_spec("status-a", &spec("node-1", n), None)
                        .await,
                    "edit a",
                ),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    done.push((
        "Modified",
        ok(
            store
                .update_spec("status-b", &spec("node-2", 10), None)
                .await,
            "move b",
        ),
    ));
    done.push((
        "Deleted",
        ok(store.delete("status-b", None).await, "delete b"),
    ));
    write_json(out, &done);
}

#[test]
fn status_writers_in_two_processes_never_lose_a_write() {
    if let Some((role, db, out)) = child_role() {
        let racer = role
            .strip_prefix("racer-")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        return runtime().block_on(racer_writes(racer, &db, &out));
    }
    runtime().block_on(async {
        let dir = ok(
            tempfile::tempdir().map_err(|e| StoreError::internal("tempdir", e)),
            "tempdir",
        );
        let db = dir.path().join("nodestatus.db");
        let store = open(&db);
        let a = ok(
            store
                .create(&CalicoNodeStatus::new("status-a", spec("node-1", 10)))
                .await,
            "create a",
        );
        let mut watch = ok(
            store.watch(&NodeFilter::All, Some(&version(&a))).await,
            "watch",
        );

        let test = "status_writers_in_two_processes_never_lose_a_write";
        let outs = [
            dir.path().join("racer-1.json"),
            dir.path().join("racer-2.json"),
        ];
        let children = [
            spawn_child(test, "racer-1", &db, &outs[0]),
            spawn_child(test, "racer-2", &db, &outs[1]),
        ];
        let mut seen = Vec::new();
        for _ in 0..2 * RACE_WRITES {
            match next_event(&mut watch).await {
                WatchEvent::Modified(obj) => {
                    seen.push((version(&obj), obj.status.unwrap_or_default()))
                }
                other => panic!("expected only status writes, got {other:?}"),
            }
        }
        for child in children {
            wait_child(child, "racer");
        }

        let mut written: Vec<(String, CalicoNodeStatusStatus)> = Vec::new();
        for out in &outs {
            written.extend(read_json::<Vec<(String, CalicoNodeStatusStatus)>>(out));
        }
        // Revisions are decimal and gapless: ordering the writes by revision is commit order.
        written.sort_by_key(|(v, _)| v.parse::<u64>().unwrap_or(u64::MAX));
        assert_eq!(seen, written);
        let last = ok(store.get("status-a").await, "get a");
        assert_eq!(
            Some((version(&last), last.status.unwrap_or_default())),
            seen.last().cloned()
        );
    });
}

/// A racing process: status writes on one object, each a read and a compare-and-swap retried
/// on conflict, recording the version each write made.
async fn racer_writes(racer: u32, db: &Path, out: &Path) {
    let store = open(db);
    let mut written = Vec::new();
    for n in 1..=RACE_WRITES {
        let status = status(racer, n);
        loop {
            let a = ok(store.get("status-a").await, "get a");
            match store.write_status("status-a", &status, &version(&a)).await {
                Ok(v) => {
                    written.push((v, status));
                    break;
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => panic!("status write: {e}"),
            }
        }
    }
    write_json(out, &written);
}
