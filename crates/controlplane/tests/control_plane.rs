//! The local control plane starts, serves the Kubernetes release it was built from to the real
//! kubectl with the admin kubeconfig, refuses a request without a token, and stops by PID.

use std::process::Command;

use nodestatus_controlplane::{ControlPlane, KUBERNETES_VERSION};

fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("kubectl")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .output()
        .expect("kubectl runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_serves_its_release_to_kubectl_and_stops() {
    let mut plane = ControlPlane::start_temporary()
        .await
        .expect("control plane starts");
    let pids = plane.pids().expect("both running");

    let out = kubectl(&plane.admin_kubeconfig(), &["version", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(version["serverVersion"]["gitVersion"], KUBERNETES_VERSION);

    let out = kubectl(
        &plane.admin_kubeconfig(),
        &["auth", "can-i", "create", "clusterroles"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes");

    let anonymous = plane.dir().join("anonymous.kubeconfig");
    plane
        .write_kubeconfig(&anonymous, Some("not-a-token"))
        .expect("kubeconfig");
    let out = kubectl(&anonymous, &["get", "namespaces"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unauthorized"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    plane.stop().await.expect("stops");
    for pid in [pids.etcd, pids.kube_apiserver] {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{pid} still there"
        );
    }
}
