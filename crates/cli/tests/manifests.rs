//! `nodestatus manifests` prints exactly the files checked in under `deploy/`.

use std::path::Path;
use std::process::Command;

fn manifests(which: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nodestatus"))
        .args(["manifests", which])
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 YAML")
}

fn deploy(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn each_manifest_equals_its_deploy_file() {
    for (which, file) in [
        ("crd", "crd.yaml"),
        ("rbac", "rbac.yaml"),
        ("daemonset", "daemonset.yaml"),
    ] {
        assert_eq!(
            manifests(which),
            deploy(file),
            "nodestatus manifests {which} vs deploy/{file}"
        );
    }
}

#[test]
fn all_is_every_manifest_as_one_multi_document_file() {
    let all: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&manifests("all"))
        .map(|doc| serde::Deserialize::deserialize(doc).expect("valid YAML"))
        .collect();
    let each: Vec<serde_yaml_ng::Value> = ["crd.yaml", "rbac.yaml", "daemonset.yaml"]
        .iter()
        .flat_map(|file| {
            let text = deploy(file);
            serde_yaml_ng::Deserializer::from_str(&text)
                .map(|doc| serde::Deserialize::deserialize(doc).expect("valid YAML"))
                .collect::<Vec<serde_yaml_ng::Value>>()
        })
        .collect();
    assert_eq!(all, each);
}
