//! Reading resources from YAML or JSON (one or many documents, or a `List`) in either
//! apiVersion, and writing them back in the form the operator asks for.

use std::fmt;

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

/// The largest text [`parse_documents`] reads. A resource is well under a kilobyte; a `get -o
/// yaml` of a few resources with large statuses (10,000 routes are about 1.5 MB) still fits. A
/// reader should stop at this many bytes plus one (see [`read_bounded`]) so that a huge file
/// costs nothing but the refusal.
pub const MAX_DOCUMENT_BYTES: usize = 8 << 20;

/// The deepest nesting accepted. The resource's own deepest field
/// (`status.routes.routesV4[i].learnedFrom.peerIP`) is 6 levels down; a `List` adds 2.
pub const MAX_DEPTH: usize = 24;

/// What is wrong with one document of a file.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The text is larger than [`MAX_DOCUMENT_BYTES`]; nothing of it was parsed.
    #[error("the input is larger than {limit} bytes (the most apply reads)")]
    TooLarge {
        /// The limit, [`MAX_DOCUMENT_BYTES`].
        limit: usize,
    },
    /// Not YAML/JSON at all, nested too deeply, or a mapping with a key twice; the message
    /// carries the line and column.
    #[error("document {index}: {message}")]
    Syntax {
        /// 1-based position of the document in the file (counted by `---` lines).
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

/// Reads at most [`MAX_DOCUMENT_BYTES`] + 1 bytes of `reader` as text: a larger input is
/// refused as soon as the limit is passed, without reading (or holding) the rest.
pub fn read_bounded(reader: impl std::io::Read) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    reader
        .take(MAX_DOCUMENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            DocumentError::TooLarge {
                limit: MAX_DOCUMENT_BYTES,
            },
        ));
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Reads every resource of a YAML or JSON text: several `---`-separated documents, a single
/// object, or a `List`/`CalicoNodeStatusList` with `items`. Empty documents are skipped. Either
/// every document is valid and all are returned, or every problem is.
///
/// Bounded: a text over [`MAX_DOCUMENT_BYTES`], nesting deeper than [`MAX_DEPTH`] and YAML
/// aliases expanding past the parser's budget are refused before any value is built, in time
/// linear in the text. A key given twice in one mapping is an error naming its line (YAML
/// forbids it; kubectl refuses it too), not "the last one wins".
pub fn parse_documents(text: &str) -> Result<Vec<Document>, DocumentsError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentsError(vec![DocumentError::TooLarge {
            limit: MAX_DOCUMENT_BYTES,
        }]));
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            // The scanner's own limit for `[[[...`, met before the budget's otherwise.
            flow_nesting_limit: MAX_DEPTH + 1,
            // The size bound comes first; these only keep the parser's defaults from refusing a
            // large but legitimate file (about one node per 2 bytes at worst).
            max_nodes: MAX_DOCUMENT_BYTES / 2,
            max_events: MAX_DOCUMENT_BYTES,
        },
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        with_snippet: false,
    };
    let values: Vec<Value> =
        match serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(text, options) {
            Ok(values) => values,
            Err(e) => {
                let line = e.location().map_or(1, |l| l.line());
                let mut message = e.to_string();
                let lower = message.to_lowercase();
                if lower.contains("recursion limit") || lower.contains("depth") {
                    message = format!("nested deeper than {MAX_DEPTH} levels: {message}");
                }
                return Err(DocumentsError(vec![DocumentError::Syntax {
                    index: document_at(text, line),
                    message,
                }]));
            }
        };
    let mut errors = Vec::new();
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

/// Which document (1-based) holds 1-based `line`: one more than the `---` lines before it, not
/// counting a `---` that opens the text.
fn document_at(text: &str, line: u64) -> usize {
    let before = usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX);
    let mut index = 1;
    let mut content_seen = false;
    for l in text.lines().take(before) {
        let is_marker = l == "---" || l.starts_with("--- ") || l.starts_with("---\t");
        if is_marker && content_seen {
            index += 1;
        }
        let trimmed = l.trim_start();
        if is_marker || !(trimmed.is_empty() || trimmed.starts_with('#')) {
            content_seen = true;
        }
    }
    index
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
    // Checked above; the typed root has no such fields (its serializer writes them).
    if let Some(map) = value.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    // Fields the types do not know (in `metadata` and `status`; the top level and `spec` are
    // checked above) are reported like any other invalid field rather than dropped silently.
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| unknown.push(field_path(&path));
    let ignored = serde_ignored::Deserializer::new(value, &mut record);
    let decoded = serde_path_to_error::deserialize::<_, CalicoNodeStatus>(ignored);
    match decoded {
        Ok(object) if unknown.is_empty() => Ok(Document {
            api_version,
            object,
        }),
        Ok(_) => {
            let errors = unknown
                .into_iter()
                .map(|path| crate::FieldError {
                    path,
                    message: "is not a known field".into(),
                })
                .collect();
            Err((name, ValidationErrors(errors)))
        }
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

/// A field path as validation errors write it: `status.routes.routesV4[0].gateway`.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => match field_path(parent) {
            p if p.is_empty() => key.to_string(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

/// A value could not be written as JSON or YAML: the output failed, or (not expected for the
/// types of this crate, whose map keys are all strings) the value has a shape the writers do not
/// write. Said when it happens rather than written as an empty document.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// serde_json refused the value, or writing it failed.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The YAML writer failed.
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
}

/// The resource as a JSON value in the given form (keys sorted, as kubectl and calicoctl print).
pub fn to_value(obj: &CalicoNodeStatus, api_version: ApiVersion) -> Result<Value, WriteError> {
    Ok(serde_json::to_value(Written {
        object: obj,
        api_version,
    })?)
}

/// Several resources as one `CalicoNodeStatusList` value, as `calicoctl get -o yaml` prints.
pub fn list_value(
    objs: &[CalicoNodeStatus],
    api_version: ApiVersion,
    revision: Option<&str>,
) -> Result<Value, WriteError> {
    Ok(serde_json::to_value(WrittenList {
        items: objs,
        api_version,
        revision,
    })?)
}

/// A resource as written in one form: serializes as `apiVersion`, `kind`, `metadata`, `spec`
/// and `status` (when there is one), the rest as the types serialize it. Give it to
/// [`write_yaml`] or [`write_json`] to print a resource without building a value of it first.
#[derive(Clone, Copy, Debug)]
pub struct Written<'a> {
    /// The resource.
    pub object: &'a CalicoNodeStatus,
    /// The form to write it in.
    pub api_version: ApiVersion,
}

impl serde::Serialize for Written<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let obj = self.object;
        let fields = 4 + usize::from(obj.status.is_some());
        let mut out = serializer.serialize_struct(KIND, fields)?;
        out.serialize_field("apiVersion", self.api_version.as_str())?;
        out.serialize_field("kind", KIND)?;
        out.serialize_field("metadata", &obj.metadata)?;
        out.serialize_field("spec", &obj.spec)?;
        match &obj.status {
            Some(status) => out.serialize_field("status", status)?,
            None => out.skip_field("status")?,
        }
        out.end()
    }
}

/// Several resources as one `CalicoNodeStatusList` (as `calicoctl get -o yaml` prints):
/// `apiVersion`, `items` ([`Written`] each), `kind`, `metadata` (`resourceVersion` when given),
/// serialized one item at a time.
#[derive(Clone, Copy, Debug)]
pub struct WrittenList<'a> {
    /// The resources.
    pub items: &'a [CalicoNodeStatus],
    /// The form to write them in.
    pub api_version: ApiVersion,
    /// The list's `metadata.resourceVersion`.
    pub revision: Option<&'a str>,
}

impl serde::Serialize for WrittenList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeStruct};

        struct Items<'a>(&'a WrittenList<'a>);
        impl serde::Serialize for Items<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.items.iter().map(|object| Written {
                    object,
                    api_version: self.0.api_version,
                }))
            }
        }
        struct Meta<'a>(Option<&'a str>);
        impl serde::Serialize for Meta<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(usize::from(self.0.is_some())))?;
                if let Some(rev) = self.0 {
                    map.serialize_entry("resourceVersion", rev)?;
                }
                map.end()
            }
        }

        let mut out = serializer.serialize_struct("CalicoNodeStatusList", 4)?;
        out.serialize_field("apiVersion", self.api_version.as_str())?;
        out.serialize_field("items", &Items(self))?;
        out.serialize_field("kind", &format!("{KIND}List"))?;
        out.serialize_field("metadata", &Meta(self.revision))?;
        out.end()
    }
}

/// A value as YAML text, block style, keys in the value's order ([`write_yaml`] into memory).
/// Strings that a YAML 1.1 reader would read as a number, a time or a boolean (`09:23:22`,
/// `2021-10-18 09:23:19`, `yes`) are quoted, so kubectl, calicoctl and PyYAML read back exactly
/// the strings written.
pub fn to_yaml(value: &Value) -> Result<String, WriteError> {
    let mut out = Vec::new();
    write_yaml(&mut out, value)?;
    // The writer writes only what `str`s and its own ASCII give it.
    String::from_utf8(out)
        .map_err(|e| WriteError::Yaml(crate::yaml::YamlError::Value(e.to_string())))
}

/// Writes any serializable value as one YAML document, ending with a newline, as it is
/// serialized: no document tree is built, so a status of 100,000 routes is written holding one
/// route at a time. Keys in the value's order (a struct's declaration order; a JSON value's are
/// sorted); quoting as [`to_yaml`]. Wrap `out` in a `BufWriter` when it is a file or a pipe.
pub fn write_yaml<T: serde::Serialize + ?Sized>(
    out: impl std::io::Write,
    value: &T,
) -> Result<(), WriteError> {
    Ok(crate::yaml::to_writer(out, value)?)
}

/// A value as indented JSON text, ending with a newline.
pub fn to_json(value: &Value) -> Result<String, WriteError> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}

/// Writes any serializable value as indented JSON (as [`to_json`]), ending with a newline, as it
/// is serialized, without building a JSON value first.
pub fn write_json<T: serde::Serialize + ?Sized>(
    mut out: impl std::io::Write,
    value: &T,
) -> Result<(), WriteError> {
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n").map_err(serde_json::Error::io)?;
    Ok(())
}
