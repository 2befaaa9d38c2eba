//! The files under `deploy/` are exactly what the code generates.
//! `NODESTATUS_UPDATE_DEPLOY=1 cargo test -p nodestatus-manifests` rewrites them.

use std::path::PathBuf;

#[test]
fn deploy_files_are_the_generated_manifests() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let update = std::env::var_os("NODESTATUS_UPDATE_DEPLOY").is_some_and(|v| v == "1");
    let manifests = [
        ("crd.yaml", nodestatus_manifests::crd()),
        ("rbac.yaml", nodestatus_manifests::rbac()),
        ("daemonset.yaml", nodestatus_manifests::daemonset()),
        ("apiserver.yaml", nodestatus_manifests::apiserver()),
    ];
    for (file, generated) in manifests {
        let path = dir.join(file);
        if update {
            std::fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
            std::fs::write(&path, &generated)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        }
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        assert!(
            on_disk == generated,
            "deploy/{file} differs from the generated manifest; regenerate with NODESTATUS_UPDATE_DEPLOY=1 cargo test -p nodestatus-manifests"
        );
    }
}

#[test]
fn all_is_the_three_manifests_in_apply_order() {
    let all = nodestatus_manifests::all();
    let kinds: Vec<String> = serde_yaml_ng::Deserializer::from_str(&all)
        .map(|doc| {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("all() is not YAML: {e}"));
            value["kind"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "DaemonSet"
        ]
    );
}
