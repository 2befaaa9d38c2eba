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

#[test]
fn image_names_the_agents_image_in_the_daemonset_and_is_refused_elsewhere() {
    let image = "registry.example:5000/nodestatus:0.1.0";
    for which in ["daemonset", "all"] {
        let out = Command::new(env!("CARGO_BIN_EXE_nodestatus"))
            .args(["manifests", which, "--image", image])
            .output()
            .expect("the binary runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("UTF-8 YAML");
        let daemonset: serde_yaml_ng::Value = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|doc| serde::Deserialize::deserialize(doc).expect("valid YAML"))
            .find(|doc: &serde_yaml_ng::Value| doc["kind"] == "DaemonSet")
            .expect("a DaemonSet");
        assert_eq!(
            daemonset["spec"]["template"]["spec"]["containers"][0]["image"],
            serde_yaml_ng::Value::from(image),
            "{which}"
        );
        // Nothing else changes.
        let default = manifests(which);
        assert_eq!(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter(|l| !l.contains(image))
                .count(),
            default
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter(|l| !l.contains("nodestatus:latest"))
                .count(),
            "{which}"
        );
    }
    for (args, error) in [
        (
            vec!["manifests", "crd", "--image", image],
            "error: --image is for the DaemonSet and the API server: use it with `daemonset`, `all` or `apiserver`\n",
        ),
        (
            vec!["manifests", "daemonset", "--image", "a b"],
            "error: --image \"a b\": an image reference has no spaces and is not empty\n",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_nodestatus"))
            .args(&args)
            .output()
            .expect("the binary runs");
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), error, "{args:?}");
    }
}
