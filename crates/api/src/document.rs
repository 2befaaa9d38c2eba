//! Reading resources from YAML or JSON (one or many documents, or a `List`) in either
//! apiVersion, and writing them back in the form the operator asks for.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::types::{CRD_API_VERSION, CalicoNodeStatus, KIND, V3_API_VERSION};
use crate::validation::{ValidationErrors, validate_document};

/// The two forms of the resource; `spec` and `status` are the same in both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// `projectcalico.org/v3`, Calico's API form (what calicoctl prints).
    #[default]
    V3,
    /// `crd.projectcalico.org/v1`, the form stored as a Kubernetes CRD.
    CrdV1,
}

impl ApiVersion {
    /// The `apiVersion` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V3 => V3_API_VERSION,
            ApiVersion::CrdV1 => CRD_API_VERSION,
        }
    }
}

/// One resource read from a file, with the apiVersion it was written in.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The form it was written in.
    pub api_version: ApiVersion,
    /// The resource.
    pub object: CalicoNodeStatus,
}

/// What is wrong with one document of a file.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Not YAML/JSON at all; the message carries the line and column.
    #[error("document {index}: {message}")]
    Syntax {
        /// 1-based position of the document in the file.
        index: usize,
        /// The parser's message, with its location.
        message: String,
    },
    /// Well-formed, but the resource is not valid.
    #[error("document {index}{}: {errors}", name_suffix(name))]
    Invalid {
        /// 1-based position of the document in the file (items of a List count one each).
        index: usize,
        /// `metadata.name`, when there is one.
        name: Option<String>,
        /// Every problem found.
        errors: ValidationErrors,
    },
}

fn name_suffix(name: &Option<String>) -> String {
    name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
}

/// Every problem of every document of a file; when there is any, no document is returned.
#[derive(Debug, thiserror::Error)]
pub struct DocumentsError(pub Vec<DocumentError>);

impl fmt::Display for DocumentsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Reads every resource of a YAML or JSON text: several `---`-separated documents, a single
/// object, or a `List`/`CalicoNodeStatusList` with `items`. Empty documents are skipped. Either
/// every document is valid and all are returned, or every problem is.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, DocumentsError> {
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        match Value::deserialize(de) {
            Ok(Value::Null) => {}
            Ok(v) => values.push(v),
            Err(e) => {
                errors.push(DocumentError::Syntax {
                    index: i + 1,
                    message: e.to_string(),
                });
                // A syntax error ends the stream: later documents cannot be located reliably.
                break;
            }
        }
    }
    let mut docs = Vec::new();
    for (i, value) in values.into_iter().flat_map(expand_list).enumerate() {
        match decode(value) {
            Ok(doc) => docs.push(doc),
            Err((name, errs)) => errors.push(DocumentError::Invalid {
                index: i + 1,
                name,
                errors: errs,
            }),
        }
    }
    if errors.is_empty() {
        Ok(docs)
    } else {
        Err(DocumentsError(errors))
    }
}

/// A `List` (kubectl) or `CalicoNodeStatusList` (calicoctl) stands for its items.
fn expand_list(value: Value) -> Vec<Value> {
    let is_list = matches!(
        value.get("kind").and_then(Value::as_str),
        Some(k) if k == "List" || k == format!("{KIND}List")
    );
    match (is_list, value) {
        (true, Value::Object(mut map)) => match map.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        (_, v) => vec![v],
    }
}

/// Validates one untyped document and turns it into a typed resource.
pub fn decode(mut value: Value) -> Result<Document, (Option<String>, ValidationErrors)> {
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    validate_document(&value).map_err(|e| (name.clone(), e))?;
    let api_version = match value.get("apiVersion").and_then(Value::as_str) {
        Some(V3_API_VERSION) => ApiVersion::V3,
        _ => ApiVersion::CrdV1,
    };
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(CRD_API_VERSION.into()));
    }
    match serde_path_to_error::deserialize::<_, CalicoNodeStatus>(value) {
        Ok(object) => Ok(Document {
            api_version,
            object,
        }),
        Err(e) => {
            let path = e.path().to_string();
            let errors = ValidationErrors(vec![crate::FieldError {
                path: if path == "." { "(root)".into() } else { path },
                message: e.into_inner().to_string(),
            }]);
            Err((name, errors))
        }
    }
}

/// The resource as a JSON value in the given form (keys sorted, as kubectl and calicoctl print).
pub fn to_value(obj: &CalicoNodeStatus, api_version: ApiVersion) -> Value {
    let mut value = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "apiVersion".into(),
            Value::String(api_version.as_str().into()),
        );
        map.insert("kind".into(), Value::String(KIND.into()));
    }
    value
}

/// Several resources as one `CalicoNodeStatusList` value, as `calicoctl get -o yaml` prints.
pub fn list_value(
    objs: &[CalicoNodeStatus],
    api_version: ApiVersion,
    revision: Option<&str>,
) -> Value {
    let items: Vec<Value> = objs.iter().map(|o| to_value(o, api_version)).collect();
    let mut meta = serde_json::Map::new();
    if let Some(rev) = revision {
        meta.insert("resourceVersion".into(), Value::String(rev.into()));
    }
    serde_json::json!({
        "apiVersion": api_version.as_str(),
        "kind": format!("{KIND}List"),
        "metadata": meta,
        "items": items,
    })
}

/// A value as YAML text, block style, keys in the value's order. Strings that a YAML 1.1 reader
/// would read as a number, a time or a boolean (`09:23:22`, `2021-10-18 09:23:19`, `yes`) are
/// quoted, so kubectl, calicoctl and PyYAML read back exactly the strings written.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    let mut emitter = yaml_rust2::YamlEmitter::new(&mut out);
    if emitter.dump(&yaml_of(value)).is_err() {
        return String::new();
    }
    let mut text = out.strip_prefix("---\n").unwrap_or(&out).to_owned();
    text.push('\n');
    text
}

fn yaml_of(value: &Value) -> yaml_rust2::Yaml {
    use yaml_rust2::Yaml;
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(yaml_of).collect()),
        Value::Object(map) => Yaml::Hash(
            map.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), yaml_of(v)))
                .collect(),
        ),
    }
}

/// A value as indented JSON text, ending with a newline.
pub fn to_json(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}
