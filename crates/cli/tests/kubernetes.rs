//! nodestatus on a real Kubernetes API server (kube-apiserver built from its Go modules by
//! `scripts/install-k8s.sh`, see the controlplane crate):
//! - the generated CRD and RBAC applied with the real kubectl; the agent's service account
//!   (a real token from `kubectl create token`) may read resources and write their status,
//!   and is refused a spec change; its node-filtered watch is served by the API server's field
//!   selector and receives no other node's object;
//! - `nodestatus lab up --datastore-type kubernetes` with no cluster configured starts the
//!   local control plane, its agents write the real BIRD lab's statuses, `kubectl get
//!   caliconodestatuses.crd.projectcalico.org -o yaml` reads them, and `lab down` stops it all.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, Run};
use futures::StreamExt;
use nodestatus_api::{CalicoNodeStatus, parse_documents};
use nodestatus_controlplane::ControlPlane;
use nodestatus_store::{Datastore, NodeFilter, StoreError, WatchEvent};
use nodestatus_store_kube::KubeStore;

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy");

/// Runs the real kubectl with `kubeconfig`, `stdin` piped in.
fn kubectl(kubeconfig: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new("kubectl")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("kubectl reads");
    }
    child.wait_with_output().expect("kubectl ends").into()
}

fn kubectl_ok(kubeconfig: &Path, args: &[&str], stdin: &str) -> String {
    let run = kubectl(kubeconfig, args, stdin);
    assert!(run.ok, "kubectl {args:?}: {}", run.stderr);
    run.stdout
}

fn resource(name: &str, node: &str) -> String {
    format!(
        "apiVersion: crd.projectcalico.org/v1\nkind: CalicoNodeStatus\nmetadata:\n  name: {name}\n\
         spec:\n  node: {node}\n  classes: [Agent, BGP, Routes]\n  updatePeriodSeconds: 10\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_under_the_generated_rbac_writes_status_only_and_sees_only_its_node() {
    let plane = ControlPlane::start_temporary()
        .await
        .expect("control plane");
    let admin = plane.admin_kubeconfig();
    for file in ["crd.yaml", "rbac.yaml"] {
        kubectl_ok(&admin, &["apply", "-f", &format!("{DEPLOY}/{file}")], "");
    }
    kubectl_ok(
        &admin,
        &[
            "wait",
            "--for=condition=established",
            "--timeout=60s",
            "crd/caliconodestatuses.crd.projectcalico.org",
        ],
        "",
    );
    kubectl_ok(
        &admin,
        &["apply", "-f", "-"],
        &format!(
            "{}---\n{}",
            resource("status-a", "node-a"),
            resource("status-b", "node-b")
        ),
    );

    // The agent's credentials: a real service-account token for the generated ServiceAccount.
    let token = kubectl_ok(
        &admin,
        &["create", "token", "nodestatus", "-n", "kube-system"],
        "",
    );
    let agent = plane.dir().join("agent.kubeconfig");
    plane
        .write_kubeconfig(&agent, Some(token.trim()))
        .expect("agent kubeconfig");
    let can_i = |args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        kubectl(&agent, &all, "").stdout.trim().to_owned()
    };
    assert_eq!(
        can_i(&["watch", "caliconodestatuses.crd.projectcalico.org"]),
        "yes"
    );
    assert_eq!(
        can_i(&[
            "update",
            "caliconodestatuses.crd.projectcalico.org",
            "--subresource=status"
        ]),
        "yes"
    );
    assert_eq!(
        can_i(&["update", "caliconodestatuses.crd.projectcalico.org"]),
        "no"
    );
    assert_eq!(
        can_i(&["create", "caliconodestatuses.crd.projectcalico.org"]),
        "no"
    );
    let refused = kubectl(
        &agent,
        &[
            "patch",
            "caliconodestatuses.crd.projectcalico.org",
            "status-a",
            "--type=merge",
            "-p",
            r#"{"spec":{"updatePeriodSeconds":0}}"#,
        ],
        "",
    );
    assert!(!refused.ok);
    assert!(refused.stderr.contains("Forbidden"), "{}", refused.stderr);

    // The node filter is the API server's: a list with the field selector answers, under the
    // agent's token, with its node's object only.
    let raw = kubectl_ok(
        &agent,
        &[
            "get",
            "--raw",
            "/apis/crd.projectcalico.org/v1/caliconodestatuses?fieldSelector=spec.node%3Dnode-a",
        ],
        "",
    );
    let list: serde_json::Value = serde_json::from_str(&raw).expect("a list");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["status-a"]);

    // The store under the agent's token, as the agent uses it.
    let store = KubeStore::connect_kubeconfig(&agent).await.expect("store");
    let filter = NodeFilter::Node("node-a".into());
    let listing = store.list(&filter).await.expect("list");
    assert_eq!(listing.items.len(), 1);
    let mut watch = store
        .watch(&filter, Some(&listing.revision))
        .await
        .expect("watch");
    let a = &listing.items[0];
    let status = nodestatus_api::CalicoNodeStatusStatus {
        last_updated: Some("2024-05-01T10:00:00Z".into()),
        ..Default::default()
    };
    let a_version = store
        .write_status(
            "status-a",
            &status,
            a.metadata.resource_version.as_deref().unwrap_or_default(),
        )
        .await
        .expect("the agent writes status");
    // Another node's object changes: the agent's watch must not hear of it.
    kubectl_ok(
        &admin,
        &[
            "annotate",
            "caliconodestatuses.crd.projectcalico.org",
            "status-b",
            "seen=no",
        ],
        "",
    );
    kubectl_ok(
        &admin,
        &[
            "annotate",
            "caliconodestatuses.crd.projectcalico.org",
            "status-a",
            "seen=yes",
        ],
        "",
    );
    let mut seen = Vec::new();
    for _ in 0..2 {
        let event = tokio::time::timeout(Duration::from_secs(15), watch.next())
            .await
            .expect("an event within 15 s")
            .expect("the watch goes on")
            .expect("no error");
        seen.push(match event {
            WatchEvent::Modified(obj) => (
                obj.metadata.name.clone().unwrap_or_default(),
                obj.metadata.resource_version.clone().unwrap_or_default(),
            ),
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(seen[0], ("status-a".to_owned(), a_version));
    assert_eq!(
        seen[1].0, "status-a",
        "the second event is status-a's annotation, never status-b"
    );

    let spec_change = store
        .update_spec("status-a", &a.spec, None)
        .await
        .expect_err("the agent may not change a spec");
    assert!(
        matches!(spec_change, StoreError::Internal { .. }),
        "{spec_change:?}"
    );
    assert!(
        spec_change.to_string().contains("forbidden"),
        "{spec_change}"
    );
}

fn nodestatus(home: &Path, args: &[&str]) -> Run {
    Command::new(BIN)
        .args(args)
        .env_remove("DATASTORE_TYPE")
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("NODESTATUS_SQLITE_PATH")
        .env_remove("ETCD_ENDPOINTS")
        .env("HOME", home)
        .env("NODESTATUS_CONTEXT_FILE", home.join("context.json"))
        .output()
        .expect("the binary runs")
        .into()
}

#[test]
fn lab_up_with_kubernetes_and_no_cluster_brings_its_own_and_kubectl_reads_the_statuses() {
    let home = tempfile::tempdir().expect("a home without ~/.kube/config");
    let dir = home.path().join("lab");
    let dir_arg = dir.to_str().expect("UTF-8");
    let up = nodestatus(
        home.path(),
        &[
            "lab",
            "up",
            "--datastore-type",
            "kubernetes",
            "--nodes",
            "2",
            "--dir",
            dir_arg,
        ],
    );
    let kubeconfig = dir.join("k8s/admin.kubeconfig");
    let result = std::panic::catch_unwind(|| {
        assert!(up.ok, "lab up: {}\n{}", up.stdout, up.stderr);
        assert!(
            up.stdout.contains(&format!(
                "kubectl --kubeconfig {} get caliconodestatuses.crd.projectcalico.org",
                kubeconfig.display()
            )),
            "{}",
            up.stdout
        );
        let yaml = kubectl_ok(
            &kubeconfig,
            &[
                "get",
                "caliconodestatuses.crd.projectcalico.org",
                "-o",
                "yaml",
            ],
            "",
        );
        // kubectl prints a v1 List; each item is a CalicoNodeStatus in the CRD form.
        let list: serde_json::Value = serde_json::from_str(&kubectl_ok(
            &kubeconfig,
            &[
                "get",
                "caliconodestatuses.crd.projectcalico.org",
                "-o",
                "json",
            ],
            "",
        ))
        .expect("JSON");
        let items: Vec<CalicoNodeStatus> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| serde_json::from_value(i.clone()).expect("a CalicoNodeStatus"))
            .collect();
        assert_eq!(items.len(), 2, "{yaml}");
        for item in &items {
            let bgp = item
                .status
                .as_ref()
                .and_then(|s| s.bgp.as_ref())
                .unwrap_or_else(|| panic!("no BGP status in {yaml}"));
            assert!(bgp.number_established_v4 >= 1, "{yaml}");
        }
        // `nodestatus get` uses the lab's context: the same objects.
        let get = nodestatus(home.path(), &["get", "-o", "yaml"]);
        assert!(get.ok, "{}", get.stderr);
        assert_eq!(parse_documents(&get.stdout).expect("YAML").len(), 2);
    });
    let pids: Vec<u32> = std::fs::read_to_string(dir.join("k8s/processes.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|p| p[1]["pid"].as_u64())
                    .map(|p| p as u32)
                    .collect()
            })
        })
        .unwrap_or_default();
    let down = nodestatus(home.path(), &["lab", "down", "--dir", dir_arg]);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(down.ok, "{}", down.stderr);
    assert_eq!(pids.len(), 2, "kube-apiserver and etcd were recorded");
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{pid} still runs"
        );
    }
}
