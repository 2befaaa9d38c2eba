//! The same commands against a real etcd (`--datastore-type etcdv3`), its settings given by
//! flags or by Calico's environment variables: resources land in Calico's etcdv3 keys and a
//! watch in one process sees another process's apply.

mod common;

use std::process::Command;

use common::{BIN, Run, Watcher, without_store_metadata};
use nodestatus_store_etcd::testing::EtcdServer;
use serde_json::{Value, json};

const RESOURCE: &str = "\
apiVersion: crd.projectcalico.org/v1
kind: CalicoNodeStatus
metadata:
  name: status-e
spec:
  classes: [Agent, BGP, Routes]
  node: node-e
  updatePeriodSeconds: 10
";

/// `nodestatus` with the etcd endpoint given as a flag.
fn with_flags(server: &EtcdServer, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args([
            "--datastore-type",
            "etcdv3",
            "--etcd-endpoints",
            &server.endpoint(),
        ])
        .args(args)
        .env_remove("DATASTORE_TYPE")
        .env_remove("ETCD_ENDPOINTS");
    command
}

/// `nodestatus` with the etcd endpoint given in Calico's environment variables.
fn with_env(server: &EtcdServer, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("DATASTORE_TYPE", "etcdv3")
        .env("ETCD_ENDPOINTS", server.endpoint());
    command
}

fn run(mut command: Command) -> Run {
    command.output().expect("the binary runs").into()
}

#[test]
fn apply_get_watch_and_delete_work_on_etcd() {
    let rt = common::runtime();
    let server = rt
        .block_on(EtcdServer::start())
        .expect("etcd starts (apt-get install etcd-server)");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("e.yaml");
    std::fs::write(&file, RESOURCE).expect("writing the resource");
    let file = file.to_string_lossy().into_owned();

    let applied = run(with_flags(&server, &["apply", "-f", &file]));
    assert!(applied.ok, "{}", applied.stderr);
    assert_eq!(
        applied.stdout,
        "caliconodestatus.projectcalico.org/status-e created\n"
    );
    let key = "/calico/resources/v3/projectcalico.org/caliconodestatuses/status-e";
    assert!(
        server.raw_value(key).expect("etcdctl reads").is_some(),
        "{key} is written"
    );

    let got = run(with_env(&server, &["get", "status-e", "-o", "json"]));
    assert!(got.ok, "{}", got.stderr);
    let obj: Value = serde_json::from_str(&got.stdout).expect("JSON");
    assert_eq!(
        without_store_metadata(obj),
        json!({
            "apiVersion": "projectcalico.org/v3",
            "kind": "CalicoNodeStatus",
            "metadata": {"name": "status-e"},
            "spec": {"classes": ["Agent", "BGP", "Routes"], "node": "node-e", "updatePeriodSeconds": 10}
        })
    );

    let mut watch = Watcher::start(with_env(&server, &["get", "-w", "-o", "yaml"]));
    watch.lines_until("  updatePeriodSeconds: 10");
    std::fs::write(
        &file,
        RESOURCE.replace("updatePeriodSeconds: 10", "updatePeriodSeconds: 20"),
    )
    .expect("writing the resource");
    let applied = run(with_flags(&server, &["apply", "-f", &file]));
    assert_eq!(
        applied.stdout,
        "caliconodestatus.projectcalico.org/status-e configured\n"
    );
    watch.lines_until("  updatePeriodSeconds: 20");
    let (ok, stderr) = watch.stop_with("TERM");
    assert!(ok, "{stderr}");

    let deleted = run(with_env(&server, &["delete", "status-e"]));
    assert_eq!(
        deleted.stdout,
        "caliconodestatus.projectcalico.org/status-e deleted\n"
    );
    assert_eq!(server.raw_value(key).expect("etcdctl reads"), None);
}

#[test]
fn an_unreachable_etcd_fails_naming_the_endpoint() {
    let port = nodestatus_store_etcd::testing::free_port().expect("a free port");
    let endpoint = format!("http://127.0.0.1:{port}");
    let got = run({
        let mut c = Command::new(BIN);
        c.args(["get"])
            .env("DATASTORE_TYPE", "etcdv3")
            .env("ETCD_ENDPOINTS", &endpoint);
        c
    });
    assert!(!got.ok);
    assert!(
        got.stderr
            .starts_with(&format!("error: connecting to etcd at {endpoint}: ")),
        "{}",
        got.stderr
    );
}
