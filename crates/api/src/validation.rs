//! Validation of a resource as the operator wrote it: every problem is reported at once, each
//! with the path of the field it concerns (`spec.classes[1]: "Foo" is not one of ...`).
//!
//! It works on the untyped document so that a wrong type or an unknown class is reported with
//! its path next to all the other problems, instead of stopping at the first deserialisation
//! error.

use std::fmt;

use serde_json::Value;

use crate::types::{
    CRD_API_VERSION, KIND, MAX_UPDATE_PERIOD_SECONDS, NodeStatusClass, V3_API_VERSION,
};

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Where: `spec.classes[1]`, `metadata.name`, ...
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in one resource, in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// The problems, in document order.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// The longest name Calico and Kubernetes accept.
const MAX_NAME_LEN: usize = 253;

/// Checks a whole resource document (apiVersion, kind, metadata.name, spec). `status` is not
/// the operator's to write and is not checked here.
pub fn validate_document(doc: &Value) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let Some(root) = doc.as_object() else {
        errs.push(
            "(root)",
            format!("must be a mapping, found {}", type_name(doc)),
        );
        return Err(errs);
    };
    match root.get("apiVersion") {
        None => errs.push("apiVersion", "is required"),
        Some(Value::String(v)) if v == V3_API_VERSION || v == CRD_API_VERSION => {}
        Some(v) => errs.push(
            "apiVersion",
            format!(
                "{} is not one of {V3_API_VERSION}, {CRD_API_VERSION}",
                show(v)
            ),
        ),
    }
    match root.get("kind") {
        None => errs.push("kind", "is required"),
        Some(Value::String(k)) if k == KIND => {}
        Some(v) => errs.push("kind", format!("{} is not {KIND}", show(v))),
    }
    match root.get("metadata") {
        None => errs.push("metadata.name", "is required"),
        Some(Value::Object(meta)) => match meta.get("name") {
            None => errs.push("metadata.name", "is required"),
            Some(Value::String(name)) => check_resource_name(&mut errs, "metadata.name", name),
            Some(v) => errs.push(
                "metadata.name",
                format!("must be a string, found {}", type_name(v)),
            ),
        },
        Some(v) => errs.push(
            "metadata",
            format!("must be a mapping, found {}", type_name(v)),
        ),
    }
    match root.get("spec") {
        None => errs.push("spec", "is required"),
        Some(Value::Object(spec)) => check_spec(&mut errs, spec),
        Some(v) => errs.push("spec", format!("must be a mapping, found {}", type_name(v))),
    }
    for key in root.keys() {
        if !matches!(
            key.as_str(),
            "apiVersion" | "kind" | "metadata" | "spec" | "status"
        ) {
            errs.push(key.clone(), "is not a known field");
        }
    }
    if errs.0.is_empty() { Ok(()) } else { Err(errs) }
}

/// What is valid but probably not what the operator meant, one entry per field: an empty
/// `spec.classes` (Calico accepts it, and so do we, but the agent then reports nothing).
pub fn warnings(obj: &crate::CalicoNodeStatus) -> Vec<FieldError> {
    let mut warnings = Vec::new();
    if obj.spec.classes.is_empty() {
        warnings.push(FieldError {
            path: "spec.classes".into(),
            message: "is empty: the agent collects and reports nothing for this resource \
                      (list one or more of Agent, BGP, Routes)"
                .into(),
        });
    }
    warnings
}

/// Checks a typed resource (its name and spec); used before a store writes anything.
pub fn validate(obj: &crate::CalicoNodeStatus) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::default();
    match obj.metadata.name.as_deref() {
        None | Some("") => errs.push("metadata.name", "is required"),
        Some(name) => check_resource_name(&mut errs, "metadata.name", name),
    }
    match serde_json::to_value(&obj.spec) {
        Ok(Value::Object(spec)) => check_spec(&mut errs, &spec),
        _ => errs.push("spec", "cannot be encoded"),
    }
    if errs.0.is_empty() { Ok(()) } else { Err(errs) }
}

fn check_spec(errs: &mut ValidationErrors, spec: &serde_json::Map<String, Value>) {
    match spec.get("classes") {
        None => errs.push("spec.classes", "is required"),
        Some(Value::Array(classes)) => {
            let mut seen: Vec<&str> = Vec::new();
            for (i, c) in classes.iter().enumerate() {
                let path = format!("spec.classes[{i}]");
                match c {
                    Value::String(s) => {
                        if s.parse::<NodeStatusClass>().is_err() {
                            errs.push(path, format!("{s:?} is not one of Agent, BGP, Routes"));
                        } else if seen.contains(&s.as_str()) {
                            errs.push(path, format!("{s:?} is listed more than once"));
                        } else {
                            seen.push(s);
                        }
                    }
                    v => errs.push(path, format!("must be a string, found {}", type_name(v))),
                }
            }
        }
        Some(v) => errs.push(
            "spec.classes",
            format!("must be a list, found {}", type_name(v)),
        ),
    }
    match spec.get("node") {
        None => errs.push("spec.node", "is required"),
        Some(Value::String(node)) => check_node_name(errs, "spec.node", node),
        Some(v) => errs.push(
            "spec.node",
            format!("must be a string, found {}", type_name(v)),
        ),
    }
    match spec.get("updatePeriodSeconds") {
        None => errs.push("spec.updatePeriodSeconds", "is required"),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(p) if (0..=i64::from(MAX_UPDATE_PERIOD_SECONDS)).contains(&p) => {}
            Some(p) => errs.push(
                "spec.updatePeriodSeconds",
                format!("{p} is out of range 0..{MAX_UPDATE_PERIOD_SECONDS}"),
            ),
            None => errs.push(
                "spec.updatePeriodSeconds",
                format!("{n} is not a whole number in range 0..{MAX_UPDATE_PERIOD_SECONDS}"),
            ),
        },
        Some(v) => errs.push(
            "spec.updatePeriodSeconds",
            format!("must be an integer, found {}", type_name(v)),
        ),
    }
    for key in spec.keys() {
        if !matches!(key.as_str(), "classes" | "node" | "updatePeriodSeconds") {
            errs.push(format!("spec.{key}"), "is not a known field");
        }
    }
}

/// Calico's resource-name rule: lowercase alphanumerics, `.`, `_` and `-`, starting and ending
/// with an alphanumeric, at most 253 characters.
fn check_resource_name(errs: &mut ValidationErrors, path: &str, name: &str) {
    if name.is_empty() {
        errs.push(path, "must not be empty");
        return;
    }
    if name.len() > MAX_NAME_LEN {
        errs.push(
            path,
            format!("{name:?} is longer than {MAX_NAME_LEN} characters"),
        );
        return;
    }
    let ok_char =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !name.chars().all(ok_char) || !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        errs.push(
            path,
            format!(
                "{name:?} must consist of lowercase alphanumerics, '.', '_' or '-', and start and end with an alphanumeric"
            ),
        );
    }
}

/// A Kubernetes node name: a DNS-1123 subdomain.
fn check_node_name(errs: &mut ValidationErrors, path: &str, name: &str) {
    if let Err(why) = dns1123_subdomain(name) {
        errs.push(path, format!("{name:?} is not a valid node name: {why}"));
    }
}

/// Checks the DNS-1123 subdomain rule Kubernetes applies to node and object names.
pub fn dns1123_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("must be at most {MAX_NAME_LEN} characters"));
    }
    for label in name.split('.') {
        let bytes = label.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let valid = !bytes.is_empty()
            && bytes.iter().all(|&b| alnum(b) || b == b'-')
            && bytes.first().copied().is_some_and(alnum)
            && bytes.last().copied().is_some_and(alnum);
        if !valid {
            return Err(
                "must be lowercase alphanumerics, '-' and '.', each dot-separated part starting and ending with an alphanumeric"
                    .into(),
            );
        }
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}
