//! The seed example from SPEC.md read in both apiVersions and written back, and a table of
//! invalid resources with the exact field-path errors they produce.

use nodestatus_api::{
    ApiVersion, BgpDaemonState, BgpPeerType, DocumentError, MAX_DOCUMENT_BYTES, NodeStatusClass,
    RouteSourceType, RouteType, parse_documents, read_bounded, warnings,
};
use serde_json::{Value, json};

const SEED: &str = include_str!("../../../testdata/spec-example.yaml");

/// [`nodestatus_api::to_value`], failing the test when the resource cannot be written.
fn to_value(obj: &nodestatus_api::CalicoNodeStatus, api_version: ApiVersion) -> Value {
    nodestatus_api::to_value(obj, api_version).unwrap_or_else(|e| panic!("{e}"))
}

/// [`nodestatus_api::to_yaml`], failing the test when the value cannot be written.
fn to_yaml(value: &Value) -> String {
    nodestatus_api::to_yaml(value).unwrap_or_else(|e| panic!("{e}"))
}

/// The seed's fields as plain JSON: what must come back out, whatever the form.
fn seed_expected(api_version: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "CalicoNodeStatus",
        "metadata": {"name": "my-caliconodestatus-1"},
        "spec": {"classes": ["Agent", "BGP", "Routes"], "node": "my-kadm-node-0", "updatePeriodSeconds": 10},
        "status": {
            "lastUpdated": "2021-10-18T13:22:03Z",
            "agent": {"birdV4": {"state": "Ready", "version": "v0.3.3+birdv1.6.8", "routerID": "10.128.0.240",
                                 "lastBootTime": "2021-10-18 09:23:19", "lastReconfigurationTime": "2021-10-18 09:23:19"}},
            "bgp": {
                "numberEstablishedV4": 2, "numberNotEstablishedV4": 1,
                "numberEstablishedV6": 0, "numberNotEstablishedV6": 0,
                "peersV4": [{"peerIP": "10.128.0.242", "type": "NodeMesh", "state": "Established", "since": "09:23:22"}]
            },
            "routes": {"routesV4": [
                {"type": "FIB", "destination": "192.168.82.0/26", "gateway": "10.128.0.200", "interface": "eth0",
                 "learnedFrom": {"sourceType": "NodeMesh", "peerIP": "10.128.0.200"}},
                {"type": "FIB", "destination": "10.128.0.5/16", "gateway": "N/A", "interface": "eth0",
                 "learnedFrom": {"sourceType": "Direct"}}
            ]}
        }
    })
}

#[test]
fn seed_example_round_trips_in_the_v3_form() {
    let docs = parse_documents(SEED).expect("seed parses");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].api_version, ApiVersion::V3);
    let obj = &docs[0].object;
    assert_eq!(obj.spec.classes, NodeStatusClass::ALL.to_vec());
    let status = obj.status.as_ref().expect("status");
    let agent = status.agent.as_ref().expect("agent");
    assert_eq!(agent.bird_v4.state, Some(BgpDaemonState::Ready));
    assert!(agent.bird_v6.is_empty());
    let bgp = status.bgp.as_ref().expect("bgp");
    assert_eq!(bgp.peers_v4[0].peer_type, Some(BgpPeerType::NodeMesh));
    let routes = status.routes.as_ref().expect("routes");
    assert_eq!(routes.routes_v4[1].route_type, Some(RouteType::Fib));
    assert_eq!(
        routes.routes_v4[1].learned_from.source_type,
        Some(RouteSourceType::Direct)
    );
    assert_eq!(
        to_value(obj, ApiVersion::V3),
        seed_expected("projectcalico.org/v3")
    );
}

#[test]
fn seed_example_reads_in_the_crd_form_and_prints_back_in_either() {
    let crd_form = SEED.replace("projectcalico.org/v3", "crd.projectcalico.org/v1");
    let docs = parse_documents(&crd_form).expect("crd form parses");
    assert_eq!(docs[0].api_version, ApiVersion::CrdV1);
    assert_eq!(
        to_value(&docs[0].object, ApiVersion::CrdV1),
        seed_expected("crd.projectcalico.org/v1")
    );
    assert_eq!(
        to_value(&docs[0].object, ApiVersion::V3),
        seed_expected("projectcalico.org/v3")
    );
}

#[test]
fn yaml_output_reads_back_to_the_same_resource() {
    let docs = parse_documents(SEED).expect("seed parses");
    let yaml = to_yaml(&to_value(&docs[0].object, ApiVersion::V3));
    let again = parse_documents(&yaml).expect("own output parses");
    assert_eq!(again, docs);
}

#[test]
fn json_input_is_accepted() {
    let json = serde_json::to_string(&seed_expected("projectcalico.org/v3")).expect("json");
    let docs = parse_documents(&json).expect("json parses");
    assert_eq!(
        to_value(&docs[0].object, ApiVersion::V3),
        seed_expected("projectcalico.org/v3")
    );
}

#[test]
fn multi_document_yaml_and_lists_give_every_resource() {
    let text = "\
apiVersion: projectcalico.org/v3
kind: CalicoNodeStatus
metadata: {name: a}
spec: {classes: [BGP], node: n1, updatePeriodSeconds: 0}
---
---
apiVersion: v1
kind: List
items:
- apiVersion: crd.projectcalico.org/v1
  kind: CalicoNodeStatus
  metadata: {name: b}
  spec: {classes: [Routes, Agent], node: n2, updatePeriodSeconds: 86400}
";
    let docs = parse_documents(text).expect("parses");
    let names: Vec<_> = docs
        .iter()
        .map(|d| d.object.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        docs[1].object.spec.classes,
        [NodeStatusClass::Routes, NodeStatusClass::Agent]
    );
    assert_eq!(docs[1].object.spec.update_period_seconds, 86400);
}

/// Each invalid resource and the exact errors it must produce.
#[test]
fn invalid_resources_report_every_problem_with_its_field_path() {
    let base = |spec: &str| {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: CalicoNodeStatus\nmetadata: {{name: x}}\nspec: {spec}\n"
        )
    };
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            base("{classes: [Agent], node: n1, updatePeriodSeconds: 90000}"),
            vec!["spec.updatePeriodSeconds: 90000 is out of range 0..86400"],
        ),
        (
            base("{classes: [Agent], node: n1, updatePeriodSeconds: -1}"),
            vec!["spec.updatePeriodSeconds: -1 is out of range 0..86400"],
        ),
        (
            base("{classes: [Agent], node: n1, updatePeriodSeconds: 1.5}"),
            vec!["spec.updatePeriodSeconds: 1.5 is not a whole number in range 0..86400"],
        ),
        (
            base("{classes: [Agent], node: n1, updatePeriodSeconds: \"10\"}"),
            vec!["spec.updatePeriodSeconds: must be an integer, found a string"],
        ),
        (
            base("{classes: [Agent, Foo], node: n1, updatePeriodSeconds: 10}"),
            vec![r#"spec.classes[1]: "Foo" is not one of Agent, BGP, Routes"#],
        ),
        (
            base("{classes: [BGP, Routes, BGP], node: n1, updatePeriodSeconds: 10}"),
            vec![r#"spec.classes[2]: "BGP" is listed more than once"#],
        ),
        (
            base("{classes: BGP, node: n1, updatePeriodSeconds: 10}"),
            vec!["spec.classes: must be a list, found a string"],
        ),
        (
            base("{node: Node_1, updatePeriodSeconds: 100000, color: red}"),
            vec![
                "spec.classes: is required",
                r#"spec.node: "Node_1" is not a valid node name: must be lowercase alphanumerics, '-' and '.', each dot-separated part starting and ending with an alphanumeric"#,
                "spec.updatePeriodSeconds: 100000 is out of range 0..86400",
                "spec.color: is not a known field",
            ],
        ),
        (base("{classes: [], updatePeriodSeconds: 5}"), vec!["spec.node: is required"]),
        (base("{classes: [], node: n1}"), vec!["spec.updatePeriodSeconds: is required"]),
        (
            "apiVersion: projectcalico.org/v3\nkind: CalicoNodeStatus\nmetadata: {name: My_Status}\nspec: {classes: [], node: n1, updatePeriodSeconds: 1}\n".into(),
            vec![r#"metadata.name: "My_Status" must consist of lowercase alphanumerics, '.', '_' or '-', and start and end with an alphanumeric"#],
        ),
        (
            "apiVersion: projectcalico.org/v3\nkind: CalicoNodeStatus\nmetadata: {}\nspec: {classes: [], node: n1, updatePeriodSeconds: 1}\n".into(),
            vec!["metadata.name: is required"],
        ),
        (
            "apiVersion: projectcalico.org/v2\nkind: BGPPeer\nmetadata: {name: x}\n".into(),
            vec![
                r#"apiVersion: "projectcalico.org/v2" is not one of projectcalico.org/v3, crd.projectcalico.org/v1"#,
                r#"kind: "BGPPeer" is not CalicoNodeStatus"#,
                "spec: is required",
            ],
        ),
        ("kind: CalicoNodeStatus\nmetadata: {name: x}\nspec: []\n".into(), vec!["apiVersion: is required", "spec: must be a mapping, found a list"]),
    ];
    for (text, expected) in cases {
        let err = parse_documents(&text).expect_err(&text);
        assert_eq!(err.0.len(), 1, "{text}");
        let DocumentError::Invalid { index, errors, .. } = &err.0[0] else {
            panic!("expected a validation error for {text}, got {err}");
        };
        assert_eq!(*index, 1);
        let got: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
        assert_eq!(got, expected, "{text}");
    }
}

#[test]
fn errors_name_the_document_and_resource_and_nothing_is_returned() {
    let text = "\
apiVersion: projectcalico.org/v3
kind: CalicoNodeStatus
metadata: {name: good}
spec: {classes: [BGP], node: n1, updatePeriodSeconds: 10}
---
apiVersion: projectcalico.org/v3
kind: CalicoNodeStatus
metadata: {name: bad}
spec: {classes: [BGP], node: n1, updatePeriodSeconds: 86401}
";
    let err = parse_documents(text).expect_err("second document is invalid");
    assert_eq!(
        err.to_string(),
        "document 2 (bad): spec.updatePeriodSeconds: 86401 is out of range 0..86400"
    );
}

#[test]
fn yaml_syntax_errors_give_the_line() {
    let err = parse_documents("apiVersion: projectcalico.org/v3\nkind: [unclosed\n")
        .expect_err("bad yaml");
    let msg = err.to_string();
    assert!(msg.starts_with("document 1: "), "{msg}");
    assert!(msg.contains("line 3") || msg.contains("line 2"), "{msg}");
}

#[test]
fn yaml_output_quotes_strings_a_yaml_1_1_reader_would_misread() {
    let docs = parse_documents(SEED).expect("seed parses");
    let yaml = to_yaml(&to_value(&docs[0].object, ApiVersion::V3));
    for line in [
        r#"      lastBootTime: "2021-10-18 09:23:19""#,
        r#"        since: "09:23:22""#,
        r#"  lastUpdated: "2021-10-18T13:22:03Z""#,
        "      version: v0.3.3+birdv1.6.8",
        "    numberEstablishedV4: 2",
    ] {
        assert!(yaml.lines().any(|l| l == line), "{line:?} not in:\n{yaml}");
    }
}

/// A resource as Calico's own Go types write it (`kubectl get caliconodestatus -o yaml` on a
/// Calico cluster): the status structs are not `omitempty`, so a fresh resource carries
/// `lastUpdated: null`, empty daemon statuses, zero counts and an empty `routes`; every route
/// has a `learnedFrom`, empty for none; a peer in a state Calico has no word for has no `state`;
/// plus the server's metadata.
const CALICO_WRITTEN: &str = r#"
apiVersion: crd.projectcalico.org/v1
kind: CalicoNodeStatus
metadata:
  annotations:
    projectcalico.org/metadata: '{"creationTimestamp":null}'
  creationTimestamp: "2021-10-18T13:21:53Z"
  generation: 1
  name: fresh
  resourceVersion: "1234"
  uid: 8f6f3c1e-4a0b-4c55-9d7e-2f1b9c8e7a61
spec:
  classes:
  - Agent
  - BGP
  - Routes
  node: my-kadm-node-0
  updatePeriodSeconds: 0
status:
  agent:
    birdV4: {}
    birdV6: {}
  bgp:
    numberEstablishedV4: 0
    numberEstablishedV6: 0
    numberNotEstablishedV4: 0
    numberNotEstablishedV6: 0
  lastUpdated: null
  routes: {}
---
apiVersion: crd.projectcalico.org/v1
kind: CalicoNodeStatus
metadata: {name: reported}
spec: {classes: [BGP, Routes], node: my-kadm-node-0, updatePeriodSeconds: 10}
status:
  agent:
    birdV4: {}
    birdV6: {}
  bgp:
    numberEstablishedV4: 1
    numberEstablishedV6: 0
    numberNotEstablishedV4: 1
    numberNotEstablishedV6: 0
    peersV4:
    - {peerIP: 10.128.0.242, since: "09:23:22", state: Established, type: NodeMesh}
    - {peerIP: 10.128.0.243, since: "09:23:19", type: GlobalPeer}
  lastUpdated: "2021-10-18T13:22:03Z"
  routes:
    routesV4:
    - destination: 10.128.0.5/16
      gateway: N/A
      interface: eth0
      learnedFrom: {sourceType: Direct}
      type: FIB
    - destination: 192.168.82.0/26
      gateway: N/A
      interface: blackhole
      learnedFrom: {}
      type: FIB
"#;

#[test]
fn resources_written_by_calico_itself_are_read_and_printed_back_without_empty_noise() {
    let docs = parse_documents(CALICO_WRITTEN).expect("Calico's own output parses");
    let values: Vec<Value> = docs
        .iter()
        .map(|d| to_value(&d.object, ApiVersion::V3))
        .collect();
    assert_eq!(values[0]["spec"]["updatePeriodSeconds"], json!(0));
    assert_eq!(values[0]["metadata"]["resourceVersion"], json!("1234"));
    assert_eq!(
        values[0]["status"],
        json!({"bgp": {"numberEstablishedV4": 0, "numberNotEstablishedV4": 0,
                       "numberEstablishedV6": 0, "numberNotEstablishedV6": 0}})
    );
    assert_eq!(
        values[1]["status"],
        json!({
            "lastUpdated": "2021-10-18T13:22:03Z",
            "bgp": {
                "numberEstablishedV4": 1, "numberNotEstablishedV4": 1,
                "numberEstablishedV6": 0, "numberNotEstablishedV6": 0,
                "peersV4": [
                    {"peerIP": "10.128.0.242", "type": "NodeMesh", "state": "Established", "since": "09:23:22"},
                    {"peerIP": "10.128.0.243", "type": "GlobalPeer", "since": "09:23:19"}
                ]
            },
            "routes": {"routesV4": [
                {"type": "FIB", "destination": "10.128.0.5/16", "gateway": "N/A", "interface": "eth0",
                 "learnedFrom": {"sourceType": "Direct"}},
                {"type": "FIB", "destination": "192.168.82.0/26", "gateway": "N/A", "interface": "blackhole",
                 "learnedFrom": {}}
            ]}
        })
    );
}

/// Every problem of a text as the operator reads it (`DocumentsError`'s lines).
fn problems(text: &str) -> Vec<String> {
    match parse_documents(text) {
        Ok(docs) => panic!("expected errors, got {} documents", docs.len()),
        Err(err) => err.to_string().lines().map(str::to_owned).collect(),
    }
}

const VALID: &str = "apiVersion: projectcalico.org/v3\nkind: CalicoNodeStatus\n\
                     metadata: {name: x}\nspec: {classes: [BGP], node: n1, updatePeriodSeconds: 10}\n";

#[test]
fn nesting_deeper_than_the_limit_is_a_syntax_error_naming_the_line() {
    // 100 levels: under the old parser's recursion limit (128), so it was read whole and
    // reported as unknown fields; 100,000 levels (200 KB) took the old parser 49 s.
    for depth in [100, 100_000] {
        let text = format!(
            "{VALID}status:\n  a: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let err = parse_documents(&text).expect_err("too deep");
        let [DocumentError::Syntax { index: 1, message }] = err.0.as_slice() else {
            panic!("expected one syntax error, got {err}");
        };
        assert!(message.contains("line 6"), "{message}");
        assert!(
            message.contains("nested deeper than 24 levels"),
            "{message}"
        );
    }
}

#[test]
fn a_key_given_twice_is_an_error_naming_its_line() {
    let twice_spec =
        format!("{VALID}spec: {{classes: [Routes], node: n2, updatePeriodSeconds: 1}}\n");
    let twice_node = "apiVersion: projectcalico.org/v3\nkind: CalicoNodeStatus\nmetadata: {name: x}\n\
                      spec:\n  classes: [BGP]\n  node: n1\n  node: n2\n  updatePeriodSeconds: 10\n";
    let second_document = format!("{VALID}---\n{twice_node}");
    for (text, line, document) in [
        (twice_spec.as_str(), "line 5", 1),
        (twice_node, "line 7", 1),
        (second_document.as_str(), "line 12", 2),
    ] {
        let err = parse_documents(text).expect_err(text);
        let [DocumentError::Syntax { index, message }] = err.0.as_slice() else {
            panic!("expected one syntax error for {text}, got {err}");
        };
        assert_eq!(*index, document, "{message}");
        assert!(message.contains(line), "{line} not in {message}");
        assert!(message.to_lowercase().contains("duplicate"), "{message}");
    }
}

#[test]
fn unknown_fields_at_the_top_in_metadata_and_in_status_are_reported() {
    let text = "apiVersion: projectcalico.org/v3\nkind: CalicoNodeStatus\nextra: 1\n\
                metadata: {name: x, junk: zzz, labels: {a: b}}\n\
                spec: {classes: [BGP], node: n1, updatePeriodSeconds: 10}\n";
    assert_eq!(
        problems(text),
        ["document 1 (x): extra: is not a known field"]
    );
    let text = "apiVersion: projectcalico.org/v3\nkind: CalicoNodeStatus\n\
                metadata: {name: x, junk: zzz, labels: {a: b}}\n\
                spec: {classes: [BGP], node: n1, updatePeriodSeconds: 10}\n\
                status: {bgp: {numberEstablishedV4: 1, numberNotEstablishedV4: 0, numberEstablishedV6: 0,\n\
                  numberNotEstablishedV6: 0, peersV4: [{peerIP: 10.0.0.1, type: NodeMesh, colour: red}]}}\n";
    assert_eq!(
        problems(text),
        ["document 1 (x): metadata.junk: is not a known field; \
          status.bgp.peersV4[0].colour: is not a known field"]
    );
}

#[test]
fn metadata_kubectl_and_calicoctl_print_is_accepted() {
    let text = concat!(
        "apiVersion: projectcalico.org/v3\n",
        "kind: CalicoNodeStatus\n",
        "metadata:\n",
        "  name: x\n",
        "  labels: {team: net}\n",
        "  annotations: {note: hi}\n",
        "  resourceVersion: \"12\"\n",
        "  uid: 6a8f5d2e-0c39-4f0e-9d59-0c1f3b0b8a11\n",
        "  creationTimestamp: \"2021-10-18T13:22:03Z\"\n",
        "  generation: 1\n",
        "  finalizers: [a/b]\n",
        "  managedFields: []\n",
        "spec: {classes: [BGP], node: n1, updatePeriodSeconds: 10}\n",
        "status: {lastUpdated: \"2021-10-18T13:22:03Z\"}\n",
    );
    let docs = parse_documents(text).expect("kubectl's metadata is accepted");
    assert_eq!(
        to_value(&docs[0].object, ApiVersion::V3)["metadata"],
        json!({"name": "x", "labels": {"team": "net"}, "annotations": {"note": "hi"},
               "resourceVersion": "12", "uid": "6a8f5d2e-0c39-4f0e-9d59-0c1f3b0b8a11",
               "creationTimestamp": "2021-10-18T13:22:03Z", "generation": 1,
               "finalizers": ["a/b"], "managedFields": []})
    );
}

#[test]
fn a_text_over_the_size_limit_is_refused_before_parsing() {
    let mut text = String::from(VALID);
    text.push_str(&"#".repeat(MAX_DOCUMENT_BYTES));
    assert_eq!(
        problems(&text),
        [format!(
            "the input is larger than {MAX_DOCUMENT_BYTES} bytes (the most apply reads)"
        )]
    );
    let read = read_bounded(text.as_bytes()).map_err(|e| e.to_string());
    assert_eq!(
        read,
        Err(format!(
            "the input is larger than {MAX_DOCUMENT_BYTES} bytes (the most apply reads)"
        ))
    );
    assert_eq!(read_bounded(VALID.as_bytes()).ok().as_deref(), Some(VALID));
}

#[test]
fn empty_classes_are_accepted_with_a_warning() {
    let text = "apiVersion: projectcalico.org/v3\nkind: CalicoNodeStatus\nmetadata: {name: x}\n\
                spec: {classes: [], node: n1, updatePeriodSeconds: 10}\n";
    let docs = parse_documents(text).expect("valid, as in Calico");
    let got: Vec<String> = warnings(&docs[0].object)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            "spec.classes: is empty: the agent collects and reports nothing for this resource \
          (list one or more of Agent, BGP, Routes)"
        ]
    );
    let docs = parse_documents(VALID).expect("valid");
    assert_eq!(warnings(&docs[0].object), []);
}
