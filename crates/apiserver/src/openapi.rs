//! OpenAPI documents built from the CRD schema the api crate generates from the Rust types (one
//! schema for the CRD, `kubectl explain` and validation): v3 (`/openapi/v3` and the group's
//! document) and v2 (`/openapi/v2`).
//!
//! What kubectl 1.32 reads in them: `kubectl explain` finds the schema by its
//! `x-kubernetes-group-version-kind`; `kubectl apply` looks at the PATCH operation of the
//! resource: a `fieldValidation` parameter means the server validates (kubectl then sends
//! `fieldValidation=Strict` and skips its own check), and a request body without
//! `application/strategic-merge-patch+json` makes client-side apply send a JSON merge patch.

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use nodestatus_api::{KIND, PLURAL};
use serde_json::{Value, json};

use crate::{GROUP, GROUP_VERSION, VERSION};

const SCHEMA_NAME: &str = "org.projectcalico.v3.CalicoNodeStatus";
const LIST_SCHEMA_NAME: &str = "org.projectcalico.v3.CalicoNodeStatusList";

/// The path of the group's v3 document, relative to `/openapi/v3/`.
pub(crate) const V3_GROUP_PATH: &str = "apis/projectcalico.org/v3";

fn gvk() -> Value {
    json!({"group": GROUP, "version": VERSION, "kind": KIND})
}

/// The resource's schema (from the CRD) with the extension that ties it to its kind.
fn object_schema() -> Value {
    let crd = nodestatus_api::crd();
    let mut schema = crd
        .spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_else(|| json!({"type": "object"}));
    schema["x-kubernetes-group-version-kind"] = json!([gvk()]);
    schema
}

fn list_schema(item_ref: &str) -> Value {
    json!({
        "description": format!("A list of {KIND}."),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "items": {"type": "array", "items": {"$ref": item_ref}},
        },
        "x-kubernetes-group-version-kind": [{"group": GROUP, "version": VERSION, "kind": format!("{KIND}List")}],
    })
}

/// The query parameters of writes, as Kubernetes documents them.
fn write_parameters() -> Value {
    let param = |name: &str, what: &str| json!({"name": name, "in": "query", "description": what, "schema": {"type": "string"}, "uniqueItems": true});
    json!([
        param(
            "dryRun",
            "When present (All), the request is checked but nothing is stored."
        ),
        param("fieldManager", "The name of the actor making the change."),
        param(
            "fieldValidation",
            "Ignore, Warn or Strict: Strict refuses fields the schema does not know."
        ),
    ])
}

fn operation(action: &str, body: Option<&[&str]>, reference: &str) -> Value {
    let mut op = json!({
        "description": format!("{action} {KIND}"),
        "operationId": format!("{action}ProjectcalicoOrgV3{KIND}"),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": reference}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(),
    });
    if let Some(types) = body {
        let content: serde_json::Map<String, Value> = types
            .iter()
            .map(|t| (t.to_string(), json!({"schema": {"type": "object"}})))
            .collect();
        op["requestBody"] = json!({"content": content, "required": true});
        op["parameters"] = write_parameters();
    }
    op
}

/// The group's OpenAPI v3 document.
fn v3_group() -> Value {
    let item = format!("#/components/schemas/{SCHEMA_NAME}");
    let list = format!("#/components/schemas/{LIST_SCHEMA_NAME}");
    let json_body: &[&str] = &["application/json", "application/yaml"];
    // No strategic merge patch: see the module docs.
    let patch_body: &[&str] = &[
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];
    let base = format!("/apis/{GROUP_VERSION}/{PLURAL}");
    let item_path = |suffix: &str| {
        json!({
            "get": operation("get", None, &item),
            "put": operation("put", Some(json_body), &item),
            "patch": operation("patch", Some(patch_body), &item),
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        })
        .as_object()
        .map(|o| {
            let mut o = o.clone();
            if suffix.is_empty() {
                o.insert("delete".into(), operation("delete", None, &item));
            }
            Value::Object(o)
        })
        .unwrap_or_default()
    };
    json!({
        "openapi": "3.0.0",
        "info": {"title": "nodestatus", "version": env!("CARGO_PKG_VERSION")},
        "paths": {
            base.clone(): {
                "get": operation("list", None, &list),
                "post": operation("post", Some(json_body), &item),
            },
            format!("{base}/{{name}}"): item_path(""),
            format!("{base}/{{name}}/status"): item_path("/status"),
        },
        "components": {"schemas": {
            SCHEMA_NAME: object_schema(),
            LIST_SCHEMA_NAME: list_schema(&item),
        }},
    })
}

/// The v3 group document as served (built once) and a hash of it for the root's URL.
fn v3_group_text() -> &'static (String, String) {
    static DOC: OnceLock<(String, String)> = OnceLock::new();
    DOC.get_or_init(|| {
        let text = v3_group().to_string();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut hasher);
        (text, format!("{:016X}", hasher.finish()))
    })
}

/// `/openapi/v3`: where each group's document is.
pub(crate) fn v3_root() -> Value {
    let hash = &v3_group_text().1;
    json!({"paths": {V3_GROUP_PATH: {"serverRelativeURL": format!("/openapi/v3/{V3_GROUP_PATH}?hash={hash}")}}})
}

/// `/openapi/v3/apis/projectcalico.org/v3`.
pub(crate) fn v3_group_json() -> &'static str {
    &v3_group_text().0
}

/// `/openapi/v2`: the same schema as a Swagger 2.0 definition.
pub(crate) fn v2() -> Value {
    let item = format!("#/definitions/{SCHEMA_NAME}");
    json!({
        "swagger": "2.0",
        "info": {"title": "nodestatus", "version": env!("CARGO_PKG_VERSION")},
        "paths": {},
        "definitions": {
            SCHEMA_NAME: object_schema(),
            LIST_SCHEMA_NAME: list_schema(&item),
        },
    })
}
