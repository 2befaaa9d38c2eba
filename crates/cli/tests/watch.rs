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
