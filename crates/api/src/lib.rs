//! The `CalicoNodeStatus` resource: typed spec and status with Calico's exact field names, both
//! apiVersions (`projectcalico.org/v3` and the stored CRD form `crd.projectcalico.org/v1`),
//! validation that reports every problem with its field path, YAML/JSON reading and writing, and
//! the CRD manifest generated from the types, and the table columns every table of resources
//! (`nodestatus get`, `kubectl get` through the API server) shows, and the kubeconfig that
//! reaches an API server.
//!
//! Dependencies: `kube` (derive only) and `schemars` generate the CRD schema from the types;
//! `k8s-openapi` gives the typed `ObjectMeta` and CRD structs; `serde-saphyr` reads multi-document
//! YAML (and JSON) with the bounds outside input needs: a nesting-depth and node budget checked
//! while parsing, in linear time, and duplicate keys refused with their line (`serde_yaml_ng`,
//! used before, took 49 s to refuse a 200 KB nested list and let the last duplicate win);
//! `serde_ignored` names the fields the types do not know; YAML is written by this crate's own
//! streaming writer (`yaml.rs`: any `Serialize` value straight to an `io::Write`, quoting what a
//! YAML 1.1 reader, kubectl's or PyYAML's, would misread; why no crate, there), so a status of
//! 100,000 routes is printed without a document tree (`yaml-rust2`, the tree emitter it
//! replaces, stays as a dev-dependency: the tests hold the writer to its output byte for byte);
//! `serde_path_to_error` names the field of a type error; `jiff` counts the ages in table cells; `base64` carries a CA in a kubeconfig.
//!
//! Tested by unit tests on the seed's example in both forms, a table of invalid resources with
//! their exact errors, and a check of resources against the generated openAPIV3Schema.

pub mod columns;
mod crd;
mod document;
mod family;
pub mod kubeconfig;
mod types;
mod validation;
mod yaml;

pub use crd::{crd, crd_yaml};
pub use document::{
    ApiVersion, Document, DocumentError, DocumentsError, MAX_DEPTH, MAX_DOCUMENT_BYTES, WriteError,
    Written, WrittenList, decode, list_value, parse_documents, read_bounded, to_json, to_value,
    to_yaml, write_json, write_yaml,
};
pub use family::Family;
pub use types::*;
pub use validation::{
    FieldError, ValidationErrors, dns1123_subdomain, validate, validate_document, warnings,
};
pub use yaml::YamlError;
