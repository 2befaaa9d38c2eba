//! Discovery and `/version`: what kubectl reads before anything else to learn that
//! `caliconodestatuses` exists in `projectcalico.org/v3`, its kind, scope and verbs.
//!
//! Only the legacy documents (`APIVersions`, `APIGroupList`, `APIGroup`, `APIResourceList`) are
//! served. kubectl 1.32 asks for the aggregated form first
//! (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,...,application/json`)
//! and, answered with plain `application/json`, reads the legacy documents instead: one list
//! and one resource list, which for a single group is no more requests.

use axum::response::Response;
use nodestatus_api::{KIND, PLURAL};
use serde_json::{Value, json};

use crate::{GROUP, GROUP_VERSION, VERSION};

fn ok(value: Value) -> Response {
    crate::json_response(axum::http::StatusCode::OK, &value)
}

/// `/api`: no core group here.
pub(crate) async fn core() -> Response {
    ok(json!({"kind": "APIVersions", "versions": [], "serverAddressByClientCIDRs": []}))
}

fn group() -> Value {
    let version = json!({"groupVersion": GROUP_VERSION, "version": VERSION});
    json!({
        "name": GROUP,
        "versions": [version],
        "preferredVersion": version,
    })
}

/// `/apis`.
pub(crate) async fn groups() -> Response {
    ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group()]}))
}

/// `/apis/projectcalico.org`.
pub(crate) async fn group_doc() -> Response {
    let mut g = group();
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    ok(g)
}

/// `/apis/projectcalico.org/v3`: the resource and its status subresource.
pub(crate) async fn resources() -> Response {
    ok(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [
            {
                "name": PLURAL,
                "singularName": KIND.to_lowercase(),
                "namespaced": false,
                "kind": KIND,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            },
            {
                "name": format!("{PLURAL}/status"),
                "singularName": "",
                "namespaced": false,
                "kind": KIND,
                "verbs": ["get", "patch", "update"],
            },
        ],
    }))
}

/// `/version`: this program's version in Kubernetes' `version.Info` shape.
pub(crate) async fn version() -> Response {
    let version = env!("CARGO_PKG_VERSION");
    ok(json!({
        "major": env!("CARGO_PKG_VERSION_MAJOR"),
        "minor": env!("CARGO_PKG_VERSION_MINOR"),
        "gitVersion": format!("v{version}"),
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    }))
}
