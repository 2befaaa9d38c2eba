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
    // The aggregated API server's manifest is one the real server accepts, every object.
    let dry_run = kubectl_ok(
        &admin,
        &[
            "apply",
            "--dry-run=server",
            "-f",
            &format!("{DEPLOY}/apiserver.yaml"),
        ],
        "",
    );
    assert_eq!(
        dry_run.lines().count(),
        7,
        "ServiceAccount, ClusterRole, two ClusterRoleBindings, Deployment, Service, APIService: {dry_run}"
    );
    assert!(
        dry_run.lines().all(|l| l.ends_with("(server dry run)")),
        "{dry_run}"
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
        // Gone, or a zombie its new parent has not reaped yet (`lab up` exited long ago).
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                stat.rsplit_once(") ")
                    .and_then(|(_, rest)| rest.chars().next())
            });
        assert!(
            matches!(state, None | Some('Z' | 'X')),
            "{pid} still runs ({state:?})"
        );
    }
}

/// `nodestatus apiserver` registered as the `APIService` for `v3.projectcalico.org` behind the
/// real kube-apiserver (its aggregation layer and front-proxy certificate), as Calico's API
/// server is: Calico's documented flow, `kubectl apply` of the `projectcalico.org/v3` example
/// and `kubectl get caliconodestatus NAME -o yaml`, through Kubernetes, stored in our datastore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calicos_documented_flow_works_through_kubernetes_with_our_apiserver_aggregated() {
    let plane = ControlPlane::start_temporary()
        .await
        .expect("control plane");
    let admin = plane.admin_kubeconfig();
    let dir = plane.dir();
    // kube-apiserver checks the aggregated server's certificate for <service>.<namespace>.svc.
    let (cert, key) = plane
        .pki()
        .issue_serving_cert(&[
            "nodestatus-apiserver.kube-system.svc",
            "localhost",
            "127.0.0.1",
        ])
        .expect("serving certificate");
    let (cert_file, key_file) = (dir.join("ours.pem"), dir.join("ours-key.pem"));
    std::fs::write(&cert_file, cert).expect("write");
    std::fs::write(&key_file, key).expect("write");
    let port = nodestatus_controlplane::free_port().expect("a port");
    let db = dir.join("nodestatus.db");
    /// Ends our API server by PID however the test ends.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _ours = Kill(
        Command::new(BIN)
            .args(["apiserver", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--tls-cert-file")
            .arg(&cert_file)
            .arg("--tls-private-key-file")
            .arg(&key_file)
            // Only the front proxy (kube-apiserver's aggregation layer) gets in: no token file.
            .arg("--requestheader-client-ca-file")
            .arg(plane.pki().front_proxy_ca_cert())
            // As kube-apiserver publishes it in extension-apiserver-authentication.
            .args(["--requestheader-allowed-names", r#"["front-proxy-client"]"#])
            // Requests through the front proxy are authorized by this cluster.
            .arg("--authorization-kubeconfig")
            .arg(&admin)
            .args(["--datastore-type", "sqlite", "--sqlite-path"])
            .arg(&db)
            .env("NODESTATUS_CONTEXT_FILE", dir.join("context.json"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nodestatus apiserver runs"),
    );

    let ca = std::fs::read(plane.pki().ca_cert()).expect("CA");
    use base64::Engine as _;
    let ca_bundle = base64::engine::general_purpose::STANDARD.encode(ca);
    // No kube-proxy runs here: the Service is an ExternalName for this machine, which the
    // aggregator resolves to a host and the APIService's port.
    let registration = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: nodestatus-apiserver\n  namespace: kube-system\n\
         spec:\n  type: ExternalName\n  externalName: localhost\n---\n\
         apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: v3.projectcalico.org\n\
         spec:\n  group: projectcalico.org\n  version: v3\n  groupPriorityMinimum: 1500\n  versionPriority: 200\n\
         \x20 caBundle: {ca_bundle}\n  service:\n    name: nodestatus-apiserver\n    namespace: kube-system\n    port: {port}\n"
    );
    kubectl_ok(&admin, &["apply", "-f", "-"], &registration);
    kubectl_ok(
        &admin,
        &[
            "wait",
            "--for=condition=Available",
            "--timeout=60s",
            "apiservice/v3.projectcalico.org",
        ],
        "",
    );

    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/spec-example.yaml"
    ))
    .expect("SPEC's example");
    let applied = kubectl_ok(&admin, &["apply", "-f", "-"], &example);
    assert_eq!(
        applied,
        "caliconodestatus.projectcalico.org/my-caliconodestatus-1 created\n"
    );
    let yaml = kubectl_ok(
        &admin,
        &[
            "get",
            "caliconodestatus",
            "my-caliconodestatus-1",
            "-o",
            "yaml",
        ],
        "",
    );
    let served: CalicoNodeStatus = parse_documents(&yaml)
        .expect("kubectl prints the resource")
        .into_iter()
        .next()
        .expect("one")
        .object;
    assert_eq!(served.spec.node, "my-kadm-node-0");
    // Stored in our datastore, as the agent and the CLI see it.
    let stored = common::open_store(&db)
        .get("my-caliconodestatus-1")
        .await
        .expect("stored through the aggregated API");
    assert_eq!(stored.spec, served.spec);

    // Straight to our server, without the front proxy's certificate: refused.
    let direct = dir.join("direct.kubeconfig");
    // (A token kubectl sends, as a client without credentials would be prompted for a password.)
    plane
        .write_kubeconfig(&direct, Some("not-a-token"))
        .expect("kubeconfig");
    let refused = kubectl(
        &direct,
        &[
            &format!("--server=https://127.0.0.1:{port}"),
            "get",
            "caliconodestatus",
        ],
        "",
    );
    assert!(!refused.ok);
    // kubectl's words for a 401.
    assert!(
        refused
            .stderr
            .contains("the server has asked for the client to provide credentials"),
        "{}",
        refused.stderr
    );

    // With the front proxy's own certificate, a request is made for the user it names, and
    // Kubernetes decides (SubjectAccessReview): holding the certificate is not holding RBAC.
    let proxy = FrontProxyClient {
        url: format!("https://127.0.0.1:{port}/apis/projectcalico.org/v3/caliconodestatuses"),
        ca: plane.pki().ca_cert(),
        cert: plane.pki().front_proxy_client_cert(),
        key: plane.pki().front_proxy_client_key(),
    };
    let (code, body) = proxy.call("GET", "", &["X-Remote-User: nobody"]);
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(
            r#"caliconodestatuses.projectcalico.org is forbidden: User \"nobody\" cannot list resource \"caliconodestatuses\" in API group \"projectcalico.org\" at the cluster scope"#
        ),
        "{body}"
    );
    let (code, _) = proxy.call(
        "GET",
        "",
        &["X-Remote-User: nobody", "X-Remote-Group: system:masters"],
    );
    assert_eq!(code, 200);
    // A user RBAC lets read, not delete.
    kubectl_ok(
        &admin,
        &[
            "create",
            "clusterrole",
            "calico-status-reader",
            "--verb=get,list",
            "--resource=caliconodestatuses.projectcalico.org",
        ],
        "",
    );
    kubectl_ok(
        &admin,
        &[
            "create",
            "clusterrolebinding",
            "calico-status-reader",
            "--clusterrole=calico-status-reader",
            "--user=reader",
        ],
        "",
    );
    let (code, body) = proxy.call("GET", "/my-caliconodestatus-1", &["X-Remote-User: reader"]);
    assert_eq!(code, 200, "{body}");
    let (code, body) = proxy.call(
        "DELETE",
        "/my-caliconodestatus-1",
        &["X-Remote-User: reader"],
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        common::open_store(&db)
            .get("my-caliconodestatus-1")
            .await
            .is_ok(),
        "a refused delete deleted"
    );
    // A certificate from the same CA with a name that is not allowed is not the front proxy.
    let (other_cert, other_key) = plane
        .pki()
        .issue_front_proxy_client_cert("someone-else")
        .expect("a client certificate");
    let other = FrontProxyClient {
        cert: dir.join("other.pem"),
        key: dir.join("other-key.pem"),
        ..proxy
    };
    std::fs::write(&other.cert, other_cert).expect("write");
    std::fs::write(&other.key, other_key).expect("write");
    let (code, _) = other.call(
        "GET",
        "",
        &["X-Remote-User: admin", "X-Remote-Group: system:masters"],
    );
    assert_eq!(code, 401);
}

/// Calls our API server as kube-apiserver's front proxy does: its client certificate and the
/// `X-Remote-*` headers (with curl).
struct FrontProxyClient {
    url: String,
    ca: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl FrontProxyClient {
    /// The HTTP status and body of `method` on the collection URL plus `path`.
    fn call(&self, method: &str, path: &str, headers: &[&str]) -> (u16, String) {
        let mut curl = Command::new("curl");
        curl.args(["--silent", "--show-error", "--request", method])
            .arg("--cacert")
            .arg(&self.ca)
            .arg("--cert")
            .arg(&self.cert)
            .arg("--key")
            .arg(&self.key)
            .args(["--write-out", "\n%{http_code}"]);
        for header in headers {
            curl.args(["--header", header]);
        }
        let out = curl
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (
            code.trim().parse().unwrap_or_else(|_| {
                panic!("curl: {text} {}", String::from_utf8_lossy(&out.stderr))
            }),
            body.to_owned(),
        )
    }
}
