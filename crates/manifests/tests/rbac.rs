//! The agent's RBAC grants exactly: read CalicoNodeStatus objects, write their status.

use serde_json::{Value, json};

fn documents() -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(&nodestatus_manifests::rbac())
        .map(|doc| {
            serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("rbac() is not YAML: {e}"))
        })
        .collect()
}

fn kinds(docs: &[Value]) -> Vec<&str> {
    docs.iter()
        .map(|d| d["kind"].as_str().unwrap_or_default())
        .collect()
}

#[test]
fn rbac_is_one_service_account_one_cluster_role_and_their_binding() {
    assert_eq!(
        kinds(&documents()),
        ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]
    );
}

#[test]
fn the_cluster_role_grants_only_reading_the_resource_and_writing_its_status() {
    let docs = documents();
    assert_eq!(
        docs[1]["rules"],
        json!([
            {"apiGroups": ["crd.projectcalico.org"], "resources": ["caliconodestatuses"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["crd.projectcalico.org"], "resources": ["caliconodestatuses/status"], "verbs": ["update", "patch"]},
        ])
    );
    // Nothing beside the rules can widen the role (aggregation would pull in other roles' rules).
    let keys: Vec<&String> = docs[1]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["apiVersion", "kind", "metadata", "rules"]);
}

#[test]
fn the_binding_gives_the_role_to_the_agents_service_account_only() {
    let docs = documents();
    assert_eq!(docs[0]["metadata"]["name"], json!("nodestatus"));
    let namespace = docs[0]["metadata"]["namespace"].clone();
    assert_eq!(
        (&docs[2]["roleRef"], &docs[2]["subjects"]),
        (
            &json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": docs[1]["metadata"]["name"]}),
            &json!([{"kind": "ServiceAccount", "name": "nodestatus", "namespace": namespace}]),
        )
    );
}
