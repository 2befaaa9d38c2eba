//! `apply`, `get` and `delete` driven through the built binary on a temporary SQLite datastore:
//! what they print, what they store, and how they fail.

mod common;

use common::{Env, without_store_metadata};
use nodestatus_api::{
    AgentStatus, BgpDaemonState, BgpDaemonStatus, BgpPeer, BgpPeerType, BgpStatus,
    CalicoNodeStatusStatus, LearnedFrom, Route, RouteSourceType, RouteStatus, RouteType,
};
use nodestatus_store::Datastore;
use serde_json::{Value, json};

const V3_ONE: &str = "\
apiVersion: projectcalico.org/v3
kind: CalicoNodeStatus
metadata:
  name: status-a
spec:
  classes: [Agent, BGP, Routes]
  node: node-a
  updatePeriodSeconds: 10
";

const CRD_ONE: &str = "\
apiVersion: crd.projectcalico.org/v1
kind: CalicoNodeStatus
metadata:
  name: status-b
  labels: {team: net}
spec:
  classes: [BGP]
  node: node-b
  updatePeriodSeconds: 0
";

fn v3(name: &str, labels: Option<Value>, spec: Value) -> Value {
    let mut metadata = json!({"name": name});
    if let Some(labels) = labels {
        metadata["labels"] = labels;
    }
    json!({"apiVersion": "projectcalico.org/v3", "kind": "CalicoNodeStatus", "metadata": metadata, "spec": spec})
}

fn spec_a() -> Value {
    json!({"classes": ["Agent", "BGP", "Routes"], "node": "node-a", "updatePeriodSeconds": 10})
}

fn spec_b() -> Value {
    json!({"classes": ["BGP"], "node": "node-b", "updatePeriodSeconds": 0})
}

#[test]
fn both_api_versions_go_in_and_come_out_as_v3() {
    let env = Env::new();
    let a = env.file("a.yaml", V3_ONE);
    let b = env.file("b.yaml", CRD_ONE);
    assert_eq!(
        env.ok(&["apply", "-f", &a]),
        "caliconodestatus.projectcalico.org/status-a created\n"
    );
    assert_eq!(
        env.ok(&["apply", "-f", &b]),
        "caliconodestatus.projectcalico.org/status-b created\n"
    );

    let list: Value =
        serde_yaml_ng::from_str(&env.ok(&["get", "-o", "yaml"])).expect("get -o yaml prints YAML");
    assert_eq!(list["apiVersion"], "projectcalico.org/v3");
    assert_eq!(list["kind"], "CalicoNodeStatusList");
    let items: Vec<Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .cloned()
        .map(without_store_metadata)
        .collect();
    assert_eq!(
        items,
        [
            v3("status-a", None, spec_a()),
            v3("status-b", Some(json!({"team": "net"})), spec_b())
        ]
    );

    let one: Value =
        serde_json::from_str(&env.ok(&["get", "status-b", "-o", "json"])).expect("JSON");
    assert_eq!(
        without_store_metadata(one),
        v3("status-b", Some(json!({"team": "net"})), spec_b())
    );
}

#[test]
fn a_multi_document_file_applies_every_document() {
    let env = Env::new();
    let third = V3_ONE
        .replace("status-a", "status-c")
        .replace("node-a", "node-c");
    let file = env.file("all.yaml", &format!("{V3_ONE}---\n{CRD_ONE}---\n{third}"));
    assert_eq!(
        env.ok(&["apply", "-f", &file]),
        "caliconodestatus.projectcalico.org/status-a created\n\
         caliconodestatus.projectcalico.org/status-b created\n\
         caliconodestatus.projectcalico.org/status-c created\n"
    );
    let names: Vec<Value> = env.list()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metadata"]["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("status-a"), json!("status-b"), json!("status-c")]
    );
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let env = Env::new();
    let mut child = env
        .command(&["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), V3_ONE.as_bytes())
        .expect("writing stdin");
    let out = child.wait_with_output().expect("apply ends");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "caliconodestatus.projectcalico.org/status-a created\n"
    );
}

#[test]
fn an_invalid_file_stores_nothing_and_names_every_bad_field() {
    let env = Env::new();
    let a = env.file("a.yaml", V3_ONE);
    env.ok(&["apply", "-f", &a]);
    let before = env.ok(&["get", "-o", "json"]);

    // The first document is valid and would change status-a: it must not be applied either.
    let changed = V3_ONE.replace("updatePeriodSeconds: 10", "updatePeriodSeconds: 30");
    let bad = "\
apiVersion: projectcalico.org/v3
kind: CalicoNodeStatus
metadata:
  name: Bad_Name
spec:
  classes: [Agent, Foo]
  node: node-x
  updatePeriodSeconds: 90000
---
apiVersion: crd.projectcalico.org/v1
kind: CalicoNodeStatus
metadata: {}
spec:
  classes: [BGP]
  updatePeriodSeconds: 5
";
    let file = env.file("bad.yaml", &format!("{changed}---\n{bad}"));
    let run = env.run(&["apply", "-f", &file]);
    assert!(!run.ok);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "error: {file}: document 2 (Bad_Name): metadata.name: \"Bad_Name\" must consist of lowercase alphanumerics, '.', '_' or '-', and start and end with an alphanumeric\n\
             error: {file}: document 2 (Bad_Name): spec.classes[1]: \"Foo\" is not one of Agent, BGP, Routes\n\
             error: {file}: document 2 (Bad_Name): spec.updatePeriodSeconds: 90000 is out of range 0..86400\n\
             error: {file}: document 3: metadata.name: is required\n\
             error: {file}: document 3: spec.node: is required\n\
             error: nothing was applied: 2 invalid documents in {file}\n"
        )
    );
    assert_eq!(env.ok(&["get", "-o", "json"]), before);
}

#[test]
fn a_file_that_is_not_yaml_stores_nothing() {
    let env = Env::new();
    let file = env.file("broken.yaml", "apiVersion: [unclosed\n");
    let run = env.run(&["apply", "-f", &file]);
    assert!(!run.ok);
    assert!(
        run.stderr
            .starts_with(&format!("error: {file}: document 1: ")),
        "{}",
        run.stderr
    );
    // Not even the datastore file is created for a file that does not parse.
    assert!(!env.db().exists());
}

#[test]
fn applying_again_is_unchanged_and_a_new_spec_is_configured_keeping_the_status() {
    let env = Env::new();
    let a = env.file("a.yaml", V3_ONE);
    env.ok(&["apply", "-f", &a]);
    let first = env.list();
    assert_eq!(
        env.ok(&["apply", "-f", &a]),
        "caliconodestatus.projectcalico.org/status-a unchanged\n"
    );
    assert_eq!(env.list(), first, "an unchanged apply writes nothing");

    let status = CalicoNodeStatusStatus {
        last_updated: Some("2025-01-01T00:00:00Z".into()),
        bgp: Some(BgpStatus {
            number_established_v4: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let version = first["items"][0]["metadata"]["resourceVersion"]
        .as_str()
        .expect("a resourceVersion")
        .to_string();
    let store = env.store();
    common::runtime()
        .block_on(store.write_status("status-a", &status, &version))
        .expect("status written");

    let changed = env.file("a2.yaml", &V3_ONE.replace("[Agent, BGP, Routes]", "[BGP]"));
    assert_eq!(
        env.ok(&["apply", "-f", &changed]),
        "caliconodestatus.projectcalico.org/status-a configured\n"
    );
    let obj = without_store_metadata(env.list()["items"][0].clone());
    let mut want = v3(
        "status-a",
        None,
        json!({"classes": ["BGP"], "node": "node-a", "updatePeriodSeconds": 10}),
    );
    want["status"] = json!({
        "lastUpdated": "2025-01-01T00:00:00Z",
        "bgp": {"numberEstablishedV4": 1, "numberNotEstablishedV4": 0, "numberEstablishedV6": 0, "numberNotEstablishedV6": 0}
    });
    assert_eq!(obj, want);
}

#[test]
fn new_labels_on_an_existing_resource_are_left_alone_with_a_warning() {
    let env = Env::new();
    let b = env.file("b.yaml", CRD_ONE);
    env.ok(&["apply", "-f", &b]);
    let relabelled = env.file(
        "b2.yaml",
        &CRD_ONE
            .replace("{team: net}", "{team: ops}")
            .replace("updatePeriodSeconds: 0", "updatePeriodSeconds: 30"),
    );
    let run = env.run(&["apply", "-f", &relabelled]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "caliconodestatus.projectcalico.org/status-b configured\n"
    );
    assert_eq!(
        run.stderr,
        "warning: status-b: labels and annotations of an existing resource are not changed by \
         apply (only its spec is); delete it and apply again to replace them\n"
    );
    let obj = without_store_metadata(env.list()["items"][0].clone());
    assert_eq!(
        obj,
        v3(
            "status-b",
            Some(json!({"team": "net"})),
            json!({"classes": ["BGP"], "node": "node-b", "updatePeriodSeconds": 30})
        )
    );
    // The same labels again: no warning.
    let run = env.run(&["apply", "-f", &b]);
    assert_eq!((run.ok, run.stderr.as_str()), (true, ""));
}

#[test]
fn delete_removes_resources_and_a_missing_name_fails() {
    let env = Env::new();
    let file = env.file("all.yaml", &format!("{V3_ONE}---\n{CRD_ONE}"));
    env.ok(&["apply", "-f", &file]);
    assert_eq!(
        env.ok(&["delete", "status-a"]),
        "caliconodestatus.projectcalico.org/status-a deleted\n"
    );

    let run = env.run(&["delete", "status-a", "status-b"]);
    assert!(!run.ok);
    assert_eq!(
        run.stdout,
        "caliconodestatus.projectcalico.org/status-b deleted\n"
    );
    assert_eq!(
        run.stderr,
        "error: deleting status-a: caliconodestatus \"status-a\" not found\n\
         error: 1 of 2 resources could not be deleted\n"
    );
    assert_eq!(env.list()["items"], json!([]));
}

#[test]
fn get_of_a_missing_name_fails() {
    let env = Env::new();
    env.store(); // an empty datastore: `get` never creates one
    let run = env.run(&["get", "nope"]);
    assert!(!run.ok);
    assert_eq!(
        run.stderr,
        "error: getting nope: caliconodestatus \"nope\" not found\n"
    );
}

/// A status with known counts, written `hours` ago.
fn reported_status(hours: i64) -> CalicoNodeStatusStatus {
    let when = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours);
    let peer = |ip: &str, state: &str| BgpPeer {
        peer_ip: ip.into(),
        peer_type: Some(BgpPeerType::NodeMesh),
        state: state.into(),
        since: "09:23:22".into(),
    };
    let route = |dst: &str| Route {
        route_type: Some(RouteType::Fib),
        destination: dst.into(),
        gateway: "N/A".into(),
        interface: "eth0".into(),
        learned_from: LearnedFrom {
            source_type: Some(RouteSourceType::Direct),
            peer_ip: String::new(),
        },
    };
    CalicoNodeStatusStatus {
        last_updated: Some(when.to_string()),
        agent: Some(AgentStatus {
            bird_v4: BgpDaemonStatus {
                state: Some(BgpDaemonState::Ready),
                ..Default::default()
            },
            bird_v6: BgpDaemonStatus {
                state: Some(BgpDaemonState::NotReady),
                ..Default::default()
            },
        }),
        bgp: Some(BgpStatus {
            number_established_v4: 2,
            number_not_established_v4: 1,
            number_established_v6: 0,
            number_not_established_v6: 0,
            peers_v4: vec![
                peer("10.0.0.2", "Established"),
                peer("10.0.0.3", "Established"),
                peer("10.0.0.4", "Active"),
            ],
            peers_v6: vec![],
        }),
        routes: Some(RouteStatus {
            routes_v4: vec![route("10.0.0.0/24"), route("10.0.1.0/24")],
            routes_v6: vec![route("fd00::/64")],
            truncated: None,
        }),
    }
}

#[test]
fn the_tables_show_sessions_routes_and_age() {
    let env = Env::new();
    let file = env.file("all.yaml", &format!("{V3_ONE}---\n{CRD_ONE}"));
    env.ok(&["apply", "-f", &file]);
    let store = env.store();
    let rt = common::runtime();
    let current = rt.block_on(store.get("status-a")).expect("status-a exists");
    let version = current
        .metadata
        .resource_version
        .clone()
        .expect("a resourceVersion");
    rt.block_on(store.write_status("status-a", &reported_status(3), &version))
        .expect("status written");

    assert_eq!(
        env.ok(&["get"]),
        "NAME       NODE     CLASSES            PERIOD   BGP               ROUTES   LAST UPDATED\n\
         status-a   node-a   Agent,BGP,Routes   10s      2/3 established   3        3h\n\
         status-b   node-b   BGP                off      <none>            <none>   <none>\n"
    );
    assert_eq!(
        env.ok(&["get", "-o", "wide", "--node", "node-a"]),
        "NAME       NODE     CLASSES            PERIOD   BIRD                    BGP               BGP V4            BGP V6            ROUTES   ROUTES V4   ROUTES V6   LAST UPDATED\n\
         status-a   node-a   Agent,BGP,Routes   10s      v4 Ready, v6 NotReady   2/3 established   2/3 established   0/0 established   3        2           1           3h\n"
    );
}

#[test]
fn an_empty_table_says_so_on_stderr() {
    let env = Env::new();
    env.store(); // an empty datastore: `get` never creates one
    let run = env.run(&["get"]);
    assert!(run.ok);
    assert_eq!(
        (run.stdout.as_str(), run.stderr.as_str()),
        ("", "No resources found.\n")
    );
}
