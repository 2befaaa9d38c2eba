//! The CRD's `openAPIV3Schema`, read back from the generated YAML, accepts what Calico
//! accepts and rejects what it must: checked with a JSON Schema validator, not by reading text.

use serde_json::{Value, json};

/// The schema of version v1, from `crd()`'s YAML.
fn schema() -> Value {
    let crd: Value = serde_yaml_ng::from_str(&nodestatus_manifests::crd())
        .unwrap_or_else(|e| panic!("crd() is not YAML: {e}"));
    assert_eq!(crd.pointer("/spec/versions/0/name"), Some(&json!("v1")));
    crd.pointer("/spec/versions/0/schema/openAPIV3Schema")
        .cloned()
        .unwrap_or_else(|| panic!("no openAPIV3Schema in {crd}"))
}

/// Where the schema rejects `instance` (JSON pointers of the offending values), empty if valid.
/// OpenAPI 3.0 schemas are JSON Schema draft 4 with extensions the validator ignores. Formats
/// are checked, as the API server checks those it knows (`date-time`; `int32` is not one the
/// validator knows, and is ignored).
fn rejections(instance: &Value) -> Vec<String> {
    let schema = schema();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("the CRD schema does not compile: {e}"));
    validator
        .iter_errors(instance)
        .map(|e| e.instance_path().to_string())
        .collect()
}

/// The seed's example (SPEC.md), in the stored CRD form.
fn seed_example() -> Value {
    serde_yaml_ng::from_str(
        &include_str!("../../../testdata/spec-example.yaml").replace(
            "apiVersion: projectcalico.org/v3",
            "apiVersion: crd.projectcalico.org/v1",
        ),
    )
    .unwrap_or_else(|e| panic!("the seed example is not YAML: {e}"))
}

fn with_spec(field: &str, value: Value) -> Value {
    let mut obj = seed_example();
    obj["spec"][field] = value;
    obj
}

#[test]
fn the_seed_example_is_accepted() {
    assert_eq!(rejections(&seed_example()), Vec::<String>::new());
}

#[test]
fn the_longest_period_one_day_is_accepted() {
    assert_eq!(
        rejections(&with_spec("updatePeriodSeconds", json!(86_400))),
        Vec::<String>::new()
    );
}

#[test]
fn a_period_over_one_day_is_rejected() {
    assert_eq!(
        rejections(&with_spec("updatePeriodSeconds", json!(86_401))),
        ["/spec/updatePeriodSeconds"]
    );
}

#[test]
fn a_negative_period_is_rejected() {
    assert_eq!(
        rejections(&with_spec("updatePeriodSeconds", json!(-1))),
        ["/spec/updatePeriodSeconds"]
    );
}

#[test]
fn an_unknown_class_is_rejected() {
    assert_eq!(
        rejections(&with_spec("classes", json!(["Foo"]))),
        ["/spec/classes/0"]
    );
}

#[test]
fn a_spec_without_node_is_rejected() {
    let mut obj = seed_example();
    if let Some(spec) = obj["spec"].as_object_mut() {
        spec.remove("node");
    }
    assert_eq!(rejections(&obj), ["/spec"]);
}

#[test]
fn last_updated_must_be_an_rfc_3339_time() {
    let mut obj = seed_example();
    obj["status"]["lastUpdated"] = json!("2021-10-18 13:22:03");
    assert_eq!(rejections(&obj), ["/status/lastUpdated"]);
    obj["status"]["lastUpdated"] = json!("2021-10-18T13:22:03.5Z");
    assert_eq!(rejections(&obj), Vec::<String>::new());
}
