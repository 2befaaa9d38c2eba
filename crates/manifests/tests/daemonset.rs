//! The agent's DaemonSet: how the pod is wired to its node, BIRD and the datastore, and what
//! it may do.

use serde_json::{Value, json};

fn daemonset() -> Value {
    serde_yaml_ng::from_str(&nodestatus_manifests::daemonset())
        .unwrap_or_else(|e| panic!("daemonset() is not YAML: {e}"))
}

fn pod() -> Value {
    daemonset()["spec"]["template"]["spec"].clone()
}

fn agent() -> Value {
    let pod = pod();
    assert_eq!(pod["containers"].as_array().map(Vec::len), Some(1));
    pod["containers"][0].clone()
}

fn env(name: &str) -> Value {
    agent()["env"]
        .as_array()
        .and_then(|vars| vars.iter().find(|v| v["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no {name} in the agent's environment"))
}

#[test]
fn the_pod_runs_nodestatus_agent_under_its_service_account_in_the_rbac_namespace() {
    let rbac: Value = serde_yaml_ng::Deserializer::from_str(&nodestatus_manifests::rbac())
        .next()
        .map(|doc| {
            serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("rbac() is not YAML: {e}"))
        })
        .unwrap_or_default();
    assert_eq!(agent()["command"], json!(["nodestatus", "agent"]));
    assert_eq!(pod()["serviceAccountName"], rbac["metadata"]["name"]);
    assert_eq!(
        daemonset()["metadata"]["namespace"],
        rbac["metadata"]["namespace"]
    );
}

#[test]
fn the_agent_learns_its_node_name_from_the_downward_api() {
    assert_eq!(
        env("NODENAME"),
        json!({"name": "NODENAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}})
    );
}

#[test]
fn the_agent_uses_the_kubernetes_datastore() {
    assert_eq!(
        env("DATASTORE_TYPE"),
        json!({"name": "DATASTORE_TYPE", "value": "kubernetes"})
    );
}

#[test]
fn probes_reach_the_port_the_agent_listens_on_in_its_own_network_namespace() {
    let agent = agent();
    assert_eq!(env("NODESTATUS_LISTEN")["value"], json!("0.0.0.0:9094"));
    assert_eq!(
        agent["ports"],
        json!([{"name": "http", "containerPort": 9094, "protocol": "TCP"}])
    );
    assert_eq!(
        agent["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "http"})
    );
    assert_eq!(
        agent["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "http"})
    );
    assert_eq!(pod().get("hostNetwork"), None);
}

#[test]
fn bird_sockets_come_from_the_hosts_calico_run_directory() {
    let pod = pod();
    assert_eq!(
        pod["volumes"],
        json!([{"name": "bird-sockets", "hostPath": {"path": "/var/run/calico", "type": "Directory"}}])
    );
    assert_eq!(
        agent()["volumeMounts"],
        json!([{"name": "bird-sockets", "mountPath": "/var/run/calico", "readOnly": true}])
    );
}

#[test]
fn the_agent_runs_unprivileged() {
    assert_eq!(
        agent()["securityContext"],
        json!({"allowPrivilegeEscalation": false, "privileged": false, "readOnlyRootFilesystem": true,
               "capabilities": {"drop": ["ALL"]}})
    );
    assert_eq!(
        pod()["securityContext"],
        json!({"runAsNonRoot": true, "runAsUser": 65534, "runAsGroup": 0, "seccompProfile": {"type": "RuntimeDefault"}})
    );
}

#[test]
fn every_linux_node_runs_an_agent_whatever_its_taints() {
    let pod = pod();
    assert_eq!(pod["tolerations"], json!([{"operator": "Exists"}]));
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    let ds = daemonset();
    assert_eq!(
        ds["spec"]["selector"]["matchLabels"],
        ds["spec"]["template"]["metadata"]["labels"]
    );
}

#[test]
fn resources_are_bounded() {
    assert_eq!(
        agent()["resources"],
        json!({"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}})
    );
}
