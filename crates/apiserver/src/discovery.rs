//! Discovery and `/version`: what kubectl reads before anything else to learn that
//! `caliconodestatuses` exists in `projectcalico.org/v3`, its kind, scope and verbs.
//!
//! `/api` and `/apis` answer in the aggregated form (`apidiscovery.k8s.io/v2`
//! `APIGroupDiscoveryList`, every group's resources in one document) when the client asks for
//! it, as kubectl 1.32 and kube-apiserver's aggregator do
//! (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,...`), and
//! in the legacy form (`APIVersions`, `APIGroupList`) otherwise; the group and version
//! documents (`APIGroup`, `APIResourceList`) are served too.

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use axum::response::Response;
use nodestatus_api::{KIND, PLURAL};
use serde_json::{Value, json};

use crate::{GROUP, GROUP_VERSION, VERSION};

fn ok(value: Value) -> Response {
    crate::json_response(axum::http::StatusCode::OK, &value)
}

/// The media type of the aggregated discovery document.
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// The verbs of the resource and of its `/status` subresource.
const VERBS: [&str; 7] = [
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const STATUS_VERBS: [&str; 3] = ["get", "patch", "update"];

/// True when the client accepts the aggregated form (`g=apidiscovery.k8s.io;v=v2;
/// as=APIGroupDiscoveryList` on any of its media ranges).
fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let params: Vec<String> = range
                .split(';')
                .skip(1)
                .map(|p| p.trim().replace(' ', ""))
                .collect();
            ["g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"]
                .iter()
                .all(|wanted| params.iter().any(|p| p == wanted))
        })
}

/// The aggregated discovery document listing `groups`.
fn aggregated(groups: Vec<Value>) -> Response {
    let mut response = ok(json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": groups,
    }));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(AGGREGATED));
    response
}

/// This server's group in the aggregated form.
fn group_discovery() -> Value {
    let kind = json!({"group": GROUP, "version": VERSION, "kind": KIND});
    json!({
        "metadata": {"name": GROUP},
        "versions": [{
            "version": VERSION,
            "freshness": "Current",
            "resources": [{
                "resource": PLURAL,
                "responseKind": kind,
                "scope": "Cluster",
                "singularResource": KIND.to_lowercase(),
                "verbs": VERBS,
                "subresources": [{
                    "subresource": "status",
                    "responseKind": kind,
                    "verbs": STATUS_VERBS,
                }],
            }],
        }],
    })
}

/// `/api`: no core group here.
pub(crate) async fn core(headers: HeaderMap) -> Response {
    if wants_aggregated(&headers) {
        return aggregated(Vec::new());
    }
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
pub(crate) async fn groups(headers: HeaderMap) -> Response {
    if wants_aggregated(&headers) {
        return aggregated(vec![group_discovery()]);
    }
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
                "verbs": VERBS,
            },
            {
                "name": format!("{PLURAL}/status"),
                "singularName": "",
                "namespaced": false,
                "kind": KIND,
                "verbs": STATUS_VERBS,
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
