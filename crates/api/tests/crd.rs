//! The generated CRD: its identity, scope, subresources and selectable field.

use nodestatus_api::crd;

#[test]
fn crd_is_cluster_scoped_with_status_subresource_and_node_selector() {
    let crd = crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("caliconodestatuses.crd.projectcalico.org")
    );
    assert_eq!(crd.spec.group, "crd.projectcalico.org");
    assert_eq!(crd.spec.scope, "Cluster");
    assert_eq!(crd.spec.names.kind, "CalicoNodeStatus");
    assert_eq!(crd.spec.names.plural, "caliconodestatuses");
    assert_eq!(crd.spec.versions.len(), 1);
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1");
    assert!(version.served && version.storage);
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let selectable: Vec<_> = version
        .selectable_fields
        .iter()
        .flatten()
        .map(|f| f.json_path.as_str())
        .collect();
    assert_eq!(selectable, [".spec.node"]);
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("schema");
    let description = schema.description.as_deref().unwrap_or_default();
    assert!(
        description.starts_with("CalicoNodeStatus asks"),
        "{description}"
    );
}
