//! The `Table` form (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`) that `kubectl get`
//! prints: the columns and cells `nodestatus get` prints (from the api crate), the wide-only
//! ones at priority 1 so that `kubectl get -o wide` shows them.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;
use jiff::Timestamp;
use nodestatus_api::CalicoNodeStatus;
use nodestatus_api::columns::{COLUMNS, cells};
use serde_json::{Value, json};

/// True when the client asks for a `Table` (kubectl lists it first among the forms it accepts).
pub(crate) fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|form| {
            let params: Vec<&str> = form.split(';').map(str::trim).collect();
            params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io")
        })
}

fn column_definitions() -> Value {
    COLUMNS
        .iter()
        .map(|c| {
            let mut def = json!({
                "name": c.name,
                "type": c.kind,
                "format": "",
                "description": c.description,
                "priority": u8::from(c.wide_only),
            });
            if c.header == "NAME" {
                def["format"] = json!("name");
            }
            def
        })
        .collect()
}

fn row(obj: &CalicoNodeStatus, now: Timestamp) -> Value {
    json!({
        "cells": cells(obj, now),
        // kubectl reads the object's metadata (for -w and --show-labels): what Kubernetes
        // sends by default, the metadata alone.
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": serde_json::to_value(&obj.metadata).unwrap_or_default(),
        },
    })
}

/// A table of these objects; `headers` false leaves out the column definitions (later events
/// of a watch, so that kubectl prints the header once).
pub(crate) fn table(
    objs: &[CalicoNodeStatus],
    resource_version: Option<&str>,
    continue_token: Option<&str>,
    headers: bool,
) -> Value {
    let now = Timestamp::now();
    let mut metadata = serde_json::Map::new();
    if let Some(rv) = resource_version {
        metadata.insert("resourceVersion".into(), json!(rv));
    }
    if let Some(token) = continue_token {
        metadata.insert("continue".into(), json!(token));
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": if headers { column_definitions() } else { json!([]) },
        "rows": objs.iter().map(|o| row(o, now)).collect::<Vec<_>>(),
    })
}
