//! What is particular to the SQLite store, beyond the shared conformance suite: opening files,
//! the revision numbers, the bounded event log and the metadata it sets.

use std::collections::BTreeMap;
use std::path::Path;

use futures::StreamExt;
use nodestatus_api::{
    CalicoNodeStatus, CalicoNodeStatusSpec, CalicoNodeStatusStatus, NodeStatusClass,
};
use nodestatus_store::{Datastore, Listing, NodeFilter, StoreError, WatchEvent, WatchStream};
use nodestatus_store_sqlite::{SqliteOptions, SqliteStore};

fn spec(node: &str) -> CalicoNodeStatusSpec {
    CalicoNodeStatusSpec {
        classes: vec![NodeStatusClass::Routes],
        node: node.to_owned(),
        update_period_seconds: 5,
    }
}

fn status(n: u32) -> CalicoNodeStatusStatus {
    CalicoNodeStatusStatus {
        last_updated: Some(format!("2024-05-01T10:00:{:02}Z", n % 60)),
        ..Default::default()
    }
}

#[track_caller]
fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: {e}"),
    }
}

fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("creating a temporary directory: {e}"),
    }
}

fn open(path: &Path, options: SqliteOptions) -> SqliteStore {
    ok(SqliteStore::open(path, options), "open")
}

async fn next_event(watch: &mut WatchStream) -> WatchEvent {
    // A guard against hanging forever, not a speed target.
    match tokio::time::timeout(std::time::Duration::from_secs(15), watch.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("the watch failed: {e}"),
        Ok(None) => panic!("the watch ended"),
        Err(_) => panic!("no event within 15 s"),
    }
}

fn version(obj: &CalicoNodeStatus) -> String {
    obj.metadata.resource_version.clone().unwrap_or_default()
}

#[test]
fn open_names_the_missing_directory() {
    let dir = tempdir();
    let path = dir.path().join("absent").join("nodestatus.db");
    let err = match SqliteStore::open(&path, SqliteOptions::default()) {
        Ok(store) => panic!("opened {store:?} in a missing directory"),
        Err(e) => e,
    };
    assert_eq!(
        err.to_string(),
        format!(
            "datastore error: opening SQLite database {}: directory {} does not exist; create it or choose another path",
            path.display(),
            dir.path().join("absent").display()
        )
    );
    assert!(!err.is_retryable());
}

#[test]
fn open_refuses_a_file_of_another_schema_version() {
    let dir = tempdir();
    let path = dir.path().join("nodestatus.db");
    let written =
        rusqlite::Connection::open(&path).and_then(|c| c.pragma_update(None, "user_version", 7));
    if let Err(e) = written {
        panic!("writing a file of schema version 7: {e}");
    }
    let err = match SqliteStore::open(&path, SqliteOptions::default()) {
        Ok(store) => panic!("opened {store:?}"),
        Err(e) => e,
    };
    assert_eq!(
        err.to_string(),
        format!(
            "datastore error: opening SQLite database {}: schema version 7 is not the supported version 1",
            path.display()
        )
    );
}

#[test]
fn many_openers_of_a_new_file_at_once_all_get_one_store() {
    let dir = tempdir();
    let path = dir.path().join("nodestatus.db");
    let openers: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                SqliteStore::open(&path, SqliteOptions::default()).map(|_| ())
            })
        })
        .collect();
    for opener in openers {
        match opener.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("a concurrent open failed: {e}"),
            Err(_) => panic!("a concurrent open panicked"),
        }
    }
}

#[tokio::test]
async fn revisions_count_every_write_of_every_handle_and_name_versions() {
    let dir = tempdir();
    let path = dir.path().join("nodestatus.db");
    let first = open(&path, SqliteOptions::default());
    let second = open(&path, SqliteOptions::default());
    assert_eq!(ok(first.list(&NodeFilter::All).await, "list").revision, "0");
    let a = ok(
        first
            .create(&CalicoNodeStatus::new("status-a", spec("node-1")))
            .await,
        "create a",
    );
    let b = ok(
        second
            .create(&CalicoNodeStatus::new("status-b", spec("node-1")))
            .await,
        "create b",
    );
    let v3 = ok(
        second
            .write_status("status-a", &status(1), &version(&a))
            .await,
        "status a",
    );
    let deleted = ok(
        first.delete("status-b", Some(&version(&b))).await,
        "delete b",
    );
    assert_eq!(
        [version(&a), version(&b), v3, version(&deleted)],
        ["1", "2", "3", "4"]
    );
    assert_eq!(
        ok(second.list(&NodeFilter::All).await, "list").revision,
        "4"
    );
}

#[tokio::test]
async fn create_sets_uid_and_creation_time_and_keeps_only_name_labels_annotations() {
    let dir = tempdir();
    let store = open(&dir.path().join("nodestatus.db"), SqliteOptions::default());
    let mut sent = CalicoNodeStatus::new("status-a", spec("node-1"));
    sent.metadata.labels = Some(BTreeMap::from([("team".to_owned(), "network".to_owned())]));
    sent.metadata.annotations = Some(BTreeMap::from([("note".to_owned(), "x".to_owned())]));
    sent.metadata.namespace = Some("kube-system".to_owned());
    sent.metadata.uid = Some("chosen-by-the-caller".to_owned());
    sent.metadata.resource_version = Some("99".to_owned());
    sent.metadata.generate_name = Some("status-".to_owned());

    let before = unix_seconds();
    let created = ok(store.create(&sent).await, "create");
    let after = unix_seconds();

    let meta = &created.metadata;
    let uid = meta.uid.clone().unwrap_or_default();
    assert!(is_uuid(&uid), "uid {uid:?} is not a UUID");
    let created_at = meta
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .unwrap_or_default();
    assert!(
        (before..=after).contains(&created_at),
        "creationTimestamp {created_at} not in {before}..={after}"
    );
    let mut expected = CalicoNodeStatus::new("status-a", spec("node-1"));
    expected.metadata.labels = sent.metadata.labels.clone();
    expected.metadata.annotations = sent.metadata.annotations.clone();
    expected.metadata.uid = Some(uid);
    expected.metadata.creation_timestamp = meta.creation_timestamp.clone();
    expected.metadata.resource_version = Some("1".to_owned());
    expected.metadata.generation = Some(1);
    assert_eq!(created, expected);
}

fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        })
}

#[tokio::test]
async fn watch_behind_the_trimmed_log_restarts_and_one_within_it_resumes() {
    let dir = tempdir();
    let options = SqliteOptions {
        history_events: 3,
        ..SqliteOptions::default()
    };
    let store = open(&dir.path().join("nodestatus.db"), options);
    let a = ok(
        store
            .create(&CalicoNodeStatus::new("status-a", spec("node-1")))
            .await,
        "create",
    );
    let mut v = version(&a);
    let mut written = Vec::new();
    for n in 1..=5 {
        v = ok(
            store.write_status("status-a", &status(n), &v).await,
            "status",
        );
        written.push(ok(store.get("status-a").await, "get"));
    }
    // Revisions 1..=6 were made; the log keeps the last three events (4, 5, 6).
    let mut within = ok(
        store.watch(&NodeFilter::All, Some("3")).await,
        "watch from 3",
    );
    for expected in &written[2..] {
        assert_eq!(
            next_event(&mut within).await,
            WatchEvent::Modified(expected.clone())
        );
    }
    let mut behind = ok(
        store.watch(&NodeFilter::All, Some("2")).await,
        "watch from 2",
    );
    let now: Listing = ok(store.list(&NodeFilter::All).await, "list");
    assert_eq!(next_event(&mut behind).await, WatchEvent::Restarted(now));
}

#[tokio::test]
async fn the_newest_event_is_kept_even_above_the_log_byte_bound() {
    let dir = tempdir();
    let options = SqliteOptions {
        history_bytes: 10,
        ..SqliteOptions::default()
    };
    let store = open(&dir.path().join("nodestatus.db"), options);
    let mut watch = ok(store.watch(&NodeFilter::All, None).await, "watch");
    // Every event is larger than the bound: a watch that keeps up still sees each one...
    let a = ok(
        store
            .create(&CalicoNodeStatus::new("status-a", spec("node-1")))
            .await,
        "create",
    );
    assert_eq!(next_event(&mut watch).await, WatchEvent::Added(a.clone()));
    let v1 = ok(
        store
            .write_status("status-a", &status(1), &version(&a))
            .await,
        "status 1",
    );
    let mut a1 = a.clone();
    a1.status = Some(status(1));
    a1.metadata.resource_version = Some(v1.clone());
    assert_eq!(next_event(&mut watch).await, WatchEvent::Modified(a1));
    // ...and one that falls behind by more than the newest event restarts.
    let v2 = ok(
        store.write_status("status-a", &status(2), &v1).await,
        "status 2",
    );
    ok(
        store.write_status("status-a", &status(3), &v2).await,
        "status 3",
    );
    let now: Listing = ok(store.list(&NodeFilter::All).await, "list");
    assert_eq!(next_event(&mut watch).await, WatchEvent::Restarted(now));
}

#[tokio::test]
async fn watch_from_a_revision_this_store_never_reached_restarts() {
    let dir = tempdir();
    let store = open(&dir.path().join("nodestatus.db"), SqliteOptions::default());
    ok(
        store
            .create(&CalicoNodeStatus::new("status-a", spec("node-1")))
            .await,
        "create",
    );
    let mut watch = ok(store.watch(&NodeFilter::All, Some("1000")).await, "watch");
    let now: Listing = ok(store.list(&NodeFilter::All).await, "list");
    assert_eq!(next_event(&mut watch).await, WatchEvent::Restarted(now));
}

#[tokio::test]
async fn watch_from_a_malformed_revision_is_refused() {
    let dir = tempdir();
    let store = open(&dir.path().join("nodestatus.db"), SqliteOptions::default());
    let err = match store.watch(&NodeFilter::All, Some("abc")).await {
        Ok(_) => panic!("watched from revision \"abc\""),
        Err(e) => e,
    };
    assert_eq!(
        err.to_string(),
        "datastore error: watching from revision \"abc\": not a revision of this store (a non-negative decimal number)"
    );
}

#[tokio::test]
async fn a_watch_far_behind_large_objects_reads_the_log_in_parts_and_misses_nothing() {
    use nodestatus_api::{Route, RouteStatus};
    let dir = tempdir();
    let store = open(&dir.path().join("nodestatus.db"), SqliteOptions::default());
    let a = ok(
        store
            .create(&CalicoNodeStatus::new("status-a", spec("node-1")))
            .await,
        "create",
    );
    let mut v = version(&a);
    let mut expected = Vec::new();
    // 12 statuses of about 0.7 MB: several times what one read of the log returns.
    for n in 0..12u32 {
        let mut s = status(n);
        let routes = (0..5_000u32)
            .map(|i| Route {
                destination: format!("10.{n}.{}.{}/32", i / 256, i % 256),
                gateway: "10.99.0.2".into(),
                interface: "eth0".into(),
                ..Route::default()
            })
            .collect();
        s.routes = Some(RouteStatus {
            routes_v4: routes,
            routes_v6: Vec::new(),
            truncated: None,
        });
        v = ok(store.write_status("status-a", &s, &v).await, "status");
        let mut obj = a.clone();
        obj.status = Some(s);
        obj.metadata.resource_version = Some(v.clone());
        expected.push(WatchEvent::Modified(obj));
    }
    let mut watch = ok(
        store.watch(&NodeFilter::All, Some(&version(&a))).await,
        "watch",
    );
    let mut seen = Vec::new();
    for _ in 0..expected.len() {
        seen.push(next_event(&mut watch).await);
    }
    assert_eq!(seen, expected);
}

/// Moves the database at `from` (with its `-wal`/`-shm`, if any) over `to`, as an operator
/// restoring a backup would; `to`'s own `-wal`/`-shm` go away.
fn replace_database(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let (src, dst) = (
            format!("{}{suffix}", from.display()),
            format!("{}{suffix}", to.display()),
        );
        let moved = if Path::new(&src).exists() {
            std::fs::rename(&src, &dst)
        } else {
            std::fs::remove_file(&dst).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
        };
        if let Err(e) = moved {
            panic!("replacing {dst}: {e}");
        }
    }
}

/// A file replaced under an open store (the old one keeps its descriptors) is noticed: a watch
/// restarts with the new file's objects, reads see them, writes land in the new file.
#[tokio::test]
async fn a_replaced_file_is_noticed_by_watches_reads_and_writes() {
    let dir = tempdir();
    let path = dir.path().join("nodestatus.db");
    let options = SqliteOptions {
        poll_interval: std::time::Duration::from_millis(20),
        ..SqliteOptions::default()
    };
    let store = open(&path, options.clone());
    ok(
        store
            .create(&CalicoNodeStatus::new("old", spec("node-1")))
            .await,
        "create old",
    );
    let seen = ok(store.list(&NodeFilter::All).await, "list");
    let mut watch = ok(
        store.watch(&NodeFilter::All, Some(&seen.revision)).await,
        "watch",
    );

    let other = dir.path().join("restored.db");
    {
        let restored = open(&other, options.clone());
        for name in ["new-1", "new-2"] {
            ok(
                restored
                    .create(&CalicoNodeStatus::new(name, spec("node-1")))
                    .await,
                name,
            );
        }
    }
    replace_database(&other, &path);
    let expected = ok(
        open(&path, options.clone()).list(&NodeFilter::All).await,
        "list",
    );
    assert_eq!(
        next_event(&mut watch).await,
        WatchEvent::Restarted(expected)
    );

    let names = |listing: Listing| -> Vec<String> {
        listing
            .items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect()
    };
    assert_eq!(
        names(ok(store.list(&NodeFilter::All).await, "list after")),
        ["new-1", "new-2"]
    );
    ok(
        store
            .create(&CalicoNodeStatus::new("after", spec("node-1")))
            .await,
        "create after",
    );
    let fresh = open(&path, options);
    assert_eq!(
        names(ok(
            fresh.list(&NodeFilter::All).await,
            "list by a fresh open"
        )),
        ["after", "new-1", "new-2"]
    );
    assert!(matches!(
        store.get("old").await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Polls an hour apart: a change another handle (another connection, as another process has)
/// makes can only arrive by the inotify wake-up.
fn hour_polls() -> SqliteOptions {
    let hour = std::time::Duration::from_secs(3600);
    SqliteOptions {
        poll_interval: hour,
        fallback_poll_interval: hour,
        ..SqliteOptions::default()
    }
}

/// Another handle's writes (its own connections and notifier, as another process would have)
/// reach a watch without waiting for a poll: a create, a status write and a delete, in order.
#[tokio::test]
async fn another_handle_s_writes_reach_a_watch_without_waiting_for_a_poll() {
    let dir = tempdir();
    let path = dir.path().join("nodestatus.db");
    let watcher = open(&path, hour_polls());
    let seen = ok(watcher.list(&NodeFilter::All).await, "list");
    let mut watch = ok(
        watcher
            .watch(&NodeFilter::Node("node-1".to_owned()), Some(&seen.revision))
            .await,
        "watch",
    );
    let other = open(&path, hour_polls());
    for round in 0..3 {
        let name = format!("r{round}");
        let created = ok(
            other
                .create(&CalicoNodeStatus::new(&name, spec("node-1")))
                .await,
            "create",
        );
        assert_eq!(
            next_event(&mut watch).await,
            WatchEvent::Added(created.clone())
        );
        let written = ok(
            other
                .write_status(&name, &status(round), &version(&created))
                .await,
            "write status",
        );
        match next_event(&mut watch).await {
            WatchEvent::Modified(obj) => assert_eq!(version(&obj), written),
            other => panic!("expected the status write, got {other:?}"),
        }
        let deleted = ok(other.delete(&name, None).await, "delete");
        assert_eq!(next_event(&mut watch).await, WatchEvent::Deleted(deleted));
    }
}
