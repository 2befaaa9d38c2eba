//! The shared datastore conformance suite against a real Kubernetes API server: kube-apiserver
//! and etcd built from their Go modules (`scripts/install-k8s.sh`), one fresh control plane per
//! case, our CRD applied with the real kubectl.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use nodestatus_controlplane::ControlPlane;
use nodestatus_store::Datastore;
use nodestatus_store_conformance::Fixture;
use nodestatus_store_kube::KubeStore;

/// etcd's default request limit, which the API server's writes of one object meet first.
const ETCD_REQUEST_LIMIT: usize = 1_572_864;

struct KubeFixture {
    plane: ControlPlane,
    store: Arc<KubeStore>,
}

/// Runs the real kubectl with the admin kubeconfig, `stdin` piped in; panics with its stderr
/// on failure.
fn kubectl(plane: &ControlPlane, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new("kubectl")
        .arg(format!(
            "--kubeconfig={}",
            plane.admin_kubeconfig().display()
        ))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running kubectl: {e}"));
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .unwrap_or_else(|e| panic!("writing to kubectl: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for kubectl: {e}"));
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn fixture() -> KubeFixture {
    // The store's own logs (reconnects, relists) go to the case's captured output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("nodestatus_store_kube=debug")
        .with_test_writer()
        .try_init();
    let plane = ControlPlane::start_temporary()
        .await
        .unwrap_or_else(|e| panic!("starting the control plane: {e}"));
    let crd = nodestatus_api::crd_yaml().unwrap_or_else(|e| panic!("the CRD as YAML: {e}"));
    kubectl(&plane, &["apply", "-f", "-"], &crd);
    kubectl(
        &plane,
        &[
            "wait",
            "--for=condition=established",
            "--timeout=60s",
            "crd/caliconodestatuses.crd.projectcalico.org",
        ],
        "",
    );
    let store = connect(&plane).await;
    KubeFixture { plane, store }
}

async fn connect(plane: &ControlPlane) -> Arc<KubeStore> {
    let client = plane
        .client()
        .await
        .unwrap_or_else(|e| panic!("a client for the control plane: {e}"));
    Arc::new(KubeStore::new(client))
}

impl Fixture for KubeFixture {
    fn store(&self) -> Arc<dyn Datastore> {
        self.store.clone()
    }

    fn max_object_bytes(&self) -> usize {
        ETCD_REQUEST_LIMIT
    }

    async fn reconnect(&mut self) {
        self.store = connect(&self.plane).await;
    }

    /// Stops kube-apiserver (SIGTERM) and starts it again on the same etcd; the store handle
    /// is kept and its watches reconnect by themselves.
    async fn restart_backend(&mut self) {
        if let Err(e) = self.plane.restart_apiserver().await {
            panic!("restarting kube-apiserver: {e}");
        }
    }

    /// Compacts etcd's history up to its current revision, then restarts kube-apiserver so that
    /// its watch cache, which would otherwise still serve the compacted revisions, starts at
    /// the current one: a watch from an older version then gets 410 Gone, as after Kubernetes'
    /// own periodic compaction.
    async fn compact(&mut self) {
        let endpoint = format!("--endpoints={}", self.plane.etcd_url());
        let etcdctl = |args: &[&str]| {
            let out = Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .arg(&endpoint)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("running etcdctl: {e}"));
            assert!(
                out.status.success(),
                "etcdctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let status: serde_json::Value =
            serde_json::from_str(&etcdctl(&["endpoint", "status", "-w", "json"]))
                .unwrap_or_else(|e| panic!("etcdctl endpoint status: {e}"));
        let revision = status[0]["Status"]["header"]["revision"]
            .as_i64()
            .unwrap_or_else(|| panic!("no revision in {status}"));
        etcdctl(&["compact", &revision.to_string(), "--physical"]);
        self.restart_backend().await;
    }
}

nodestatus_store_conformance::conformance_tests!(fixture());
