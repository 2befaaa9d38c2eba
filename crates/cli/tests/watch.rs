//! `get -w` in one process sees writes made by other processes, as they happen, and ends
//! cleanly on SIGINT and SIGTERM.

mod common;

use common::{Env, Watcher};
use nodestatus_api::{BgpStatus, CalicoNodeStatusStatus};
use nodestatus_store::Datastore;

const RESOURCE: &str = "\
apiVersion: projectcalico.org/v3
kind: CalicoNodeStatus
metadata:
  name: status-a
spec:
  classes: [Agent, BGP, Routes]
  node: node-a
  updatePeriodSeconds: 10
";

#[test]
fn a_yaml_watch_prints_a_spec_change_applied_by_another_process() {
    let env = Env::new();
    env.ok(&["apply", "-f", &env.file("a.yaml", RESOURCE)]);
    let mut watch = Watcher::start(env.command(&["get", "-w", "-o", "yaml"]));
    let first = watch.lines_until("  updatePeriodSeconds: 10");
    assert_eq!(first[0], "---");

    let changed = env.file(
        "b.yaml",
        &RESOURCE.replace("updatePeriodSeconds: 10", "updatePeriodSeconds: 30"),
    );
    assert_eq!(
        env.ok(&["apply", "-f", &changed]),
        "caliconodestatus.projectcalico.org/status-a configured\n"
    );
    let document = watch.lines_until("  updatePeriodSeconds: 30");
    assert_eq!(document[0], "---");
    assert!(
        document.contains(&"  name: status-a".to_string()),
        "{document:#?}"
    );

    let (ok, stderr) = watch.stop_with("INT");
    assert!(ok, "the watch exits with success on SIGINT: {stderr}");
}

#[test]
fn a_table_watch_prints_a_row_when_a_status_is_written() {
    let env = Env::new();
    env.ok(&["apply", "-f", &env.file("a.yaml", RESOURCE)]);
    let mut watch = Watcher::start(env.command(&["get", "-w"]));
    assert_eq!(
        watch.next_lines(2),
        [
            "NAME       NODE     CLASSES            PERIOD   BGP      ROUTES   LAST UPDATED",
            "status-a   node-a   Agent,BGP,Routes   10s      <none>   <none>   <none>"
        ]
    );

    // Written as an agent writes: through the store API, from this (another) process.
    let store = env.store();
    let rt = common::runtime();
    let current = rt.block_on(store.get("status-a")).expect("status-a exists");
    let status = CalicoNodeStatusStatus {
        last_updated: Some(jiff::Timestamp::now().to_string()),
        bgp: Some(BgpStatus {
            number_established_v4: 2,
            number_not_established_v6: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let version = current
        .metadata
        .resource_version
        .expect("a resourceVersion");
    rt.block_on(store.write_status("status-a", &status, &version))
        .expect("status written");

    let row = watch.next_lines(1).remove(0);
    // The age is 0s or 1s, depending on how fast this machine is.
    let (fixed, age) = row.rsplit_once("   ").expect("columns");
    assert_eq!(
        fixed,
        "status-a   node-a   Agent,BGP,Routes   10s      2/3 established   <none>"
    );
    assert!(age == "0s" || age == "1s", "{row}");

    let (ok, stderr) = watch.stop_with("TERM");
    assert!(ok, "the watch exits with success on SIGTERM: {stderr}");
}

#[test]
fn a_watch_of_one_name_ignores_the_others() {
    let env = Env::new();
    env.ok(&["apply", "-f", &env.file("a.yaml", RESOURCE)]);
    let watch = Watcher::start(env.command(&["get", "status-a", "-w", "-o", "yaml"]));
    watch.lines_until("  updatePeriodSeconds: 10");
    let other = RESOURCE.replace("status-a", "status-b");
    env.ok(&["apply", "-f", &env.file("b.yaml", &other)]);
    env.ok(&["delete", "status-a"]);
    // The next document is status-a's deletion: status-b's creation, before it, is not shown.
    let next = watch.lines_until("  updatePeriodSeconds: 10");
    let names: Vec<&String> = next.iter().filter(|l| l.starts_with("  name: ")).collect();
    assert_eq!(names, ["  name: status-a"]);
}

/// `(name, resourceVersion)` of a printed object.
fn name_and_version(obj: &serde_json::Value) -> (String, u64) {
    let meta = &obj["metadata"];
    (
        meta["name"].as_str().unwrap_or_default().to_owned(),
        meta["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_default(),
    )
}

/// A watch that falls behind the store's event log (here: stopped while an object is deleted,
/// another changed and the log compacted) prints the change and the delete it missed, in
/// revision order, and nothing for the unchanged object — not the whole list again, which
/// lost the delete and went back in resource version.
#[test]
fn a_watch_behind_the_event_log_prints_missed_deletes_and_never_goes_back_in_version() {
    let env = Env::new();
    let store = env.store();
    let rt = common::runtime();
    for name in ["status-a", "status-b", "status-c"] {
        env.ok(&[
            "apply",
            "-f",
            &env.file("r.yaml", &RESOURCE.replace("status-a", name)),
        ]);
    }
    let watch = Watcher::start(env.command(&["get", "-w", "-o", "json"]));
    let first: Vec<_> = (0..3)
        .map(|_| name_and_version(&watch.next_json()))
        .collect();
    assert_eq!(
        first,
        [
            ("status-a".to_owned(), 1),
            ("status-b".to_owned(), 2),
            ("status-c".to_owned(), 3)
        ]
    );

    watch.signal("STOP");
    let status = CalicoNodeStatusStatus {
        bgp: Some(BgpStatus::default()),
        ..Default::default()
    };
    rt.block_on(async {
        store.write_status("status-b", &status, "2").await?;
        store.delete("status-a", None).await?;
        store.compact().await
    })
    .expect("writes while the watch is stopped");
    watch.signal("CONT");

    let missed: Vec<_> = (0..2)
        .map(|_| name_and_version(&watch.next_json()))
        .collect();
    assert_eq!(
        missed,
        [("status-b".to_owned(), 4), ("status-a".to_owned(), 5)]
    );
    env.ok(&[
        "apply",
        "-f",
        &env.file("d.yaml", &RESOURCE.replace("status-a", "status-d")),
    ]);
    assert_eq!(
        name_and_version(&watch.next_json()),
        ("status-d".to_owned(), 6)
    );
}
