//! An in-process fake API server: a `tower-test` mock service under a real `kube::Client`.
//! Each test takes the requests one by one, checks method, path, query and body, and answers
//! with replies in the shapes a kube-apiserver sends (objects with server metadata, lists,
//! `Status` errors, watch streams of JSON lines).

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use kube::client::Body;
use nodestatus_store_kube::KubeStore;
use serde_json::{Value, json};
use tower_test::mock::{Handle, SendResponse};

/// The collection path of the CRD.
pub const BASE: &str = "/apis/crd.projectcalico.org/v1/caliconodestatuses";

/// A reply body: whole, or a stream that never ends (a watch connection left open).
pub type ReplyBody = UnsyncBoxBody<Bytes, Infallible>;

/// The fake server's side of the client.
pub struct FakeApi {
    handle: Handle<Request<Body>, Response<ReplyBody>>,
}

/// A request as the fake server received it.
#[derive(Debug)]
pub struct Received {
    pub method: Method,
    pub path: String,
    /// The query pairs in order, still percent-encoded (`("fieldSelector", "spec.node%3Dn1")`).
    pub query: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
    pub reply: SendResponse<Response<ReplyBody>>,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("request body is not JSON ({e}): {:?}", self.body))
    }

    /// Answers with a JSON document.
    pub fn respond(self, code: u16, body: &Value) {
        self.reply.send_response(json_response(code, body));
    }

    /// Answers with a watch stream: one JSON line per event, then the end of the stream.
    pub fn stream(self, events: &[Value]) {
        let mut text = String::new();
        for e in events {
            text.push_str(&e.to_string());
            text.push('\n');
        }
        let response = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(text)).boxed_unsync());
        self.reply
            .send_response(response.unwrap_or_else(|e| panic!("building a response: {e}")));
    }

    /// Answers with a watch stream that stays open and silent.
    pub fn stream_forever(self) {
        let body = StreamBody::new(futures::stream::pending::<
            Result<http_body::Frame<Bytes>, Infallible>,
        >());
        let response = Response::builder().status(200).body(body.boxed_unsync());
        self.reply
            .send_response(response.unwrap_or_else(|e| panic!("building a response: {e}")));
    }

    /// Answers with a plain-text body (what a bare 404 path gets).
    pub fn respond_text(self, code: u16, text: &str) {
        let response = Response::builder()
            .status(code)
            .header("content-type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(text.to_owned())).boxed_unsync());
        self.reply
            .send_response(response.unwrap_or_else(|e| panic!("building a response: {e}")));
    }

    /// Fails the request as a broken connection would.
    pub fn fail(self) {
        self.reply.send_error(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        ));
    }
}

fn json_response(code: u16, body: &Value) -> Response<ReplyBody> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed_unsync())
        .unwrap_or_else(|e| panic!("building a response: {e}"))
}

/// A store whose client talks to a fresh fake server.
pub fn store() -> (KubeStore, FakeApi) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<ReplyBody>>();
    let client = kube::Client::new(service, "default");
    (KubeStore::new(client), FakeApi { handle })
}

impl FakeApi {
    /// The next request the client sends.
    pub async fn next(&mut self) -> Received {
        let Some((request, reply)) = self.handle.next_request().await else {
            panic!("the client went away without sending a request");
        };
        let (parts, body) = request.into_parts();
        let body = body
            .collect_bytes()
            .await
            .unwrap_or_else(|e| panic!("reading a request body: {e}"));
        let query = parts
            .uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (p.to_owned(), String::new()),
            })
            .collect();
        Received {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query,
            body,
            reply,
        }
    }

    /// The next request, which must be `method path?query` exactly.
    pub async fn expect(&mut self, method: Method, path: &str, query: &[(&str, &str)]) -> Received {
        let received = self.next().await;
        let want: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(
            (&received.method, received.path.as_str(), &received.query),
            (&method, path, &want),
            "unexpected request"
        );
        received
    }

    /// True when no request is waiting (the client may also be gone).
    pub fn idle(&mut self) -> bool {
        !matches!(self.handle.poll_request(), std::task::Poll::Ready(Some(_)))
    }
}

/// An object as the API server returns it (server-owned metadata filled in).
pub fn object(name: &str, node: &str, rv: u64) -> Value {
    json!({
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": "CalicoNodeStatus",
        "metadata": {
            "name": name,
            "resourceVersion": rv.to_string(),
            "uid": format!("5f0c6a0e-0000-4000-8000-{:012}", name.len()),
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "generation": 1,
            "managedFields": [{
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "apiVersion": "crd.projectcalico.org/v1",
                "time": "2024-05-01T10:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {".": {}, "f:classes": {}, "f:node": {}, "f:updatePeriodSeconds": {}}}
            }]
        },
        "spec": {"classes": ["Agent", "BGP"], "node": node, "updatePeriodSeconds": 10}
    })
}

/// A status as an agent writes it.
pub fn status() -> Value {
    json!({
        "lastUpdated": "2024-05-01T10:00:05Z",
        "agent": {"birdV4": {"state": "Ready", "version": "v0.3.3+birdv1.6.8", "routerID": "10.99.0.1",
                              "lastBootTime": "2024-05-01 09:59:00", "lastReconfigurationTime": "2024-05-01 09:59:00"}},
        "bgp": {"numberEstablishedV4": 1, "numberNotEstablishedV4": 0, "numberEstablishedV6": 0,
                "numberNotEstablishedV6": 0,
                "peersV4": [{"peerIP": "10.99.0.2", "type": "NodeMesh", "state": "Established", "since": "09:59:03"}]}
    })
}

/// The same object with a status.
pub fn with_status(mut obj: Value) -> Value {
    obj["status"] = status();
    obj
}

/// A list reply.
pub fn list(rv: u64, items: &[Value]) -> Value {
    json!({
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": "CalicoNodeStatusList",
        "metadata": {"resourceVersion": rv.to_string(), "continue": ""},
        "items": items,
    })
}

/// A `Status` error reply, as the API server writes it.
pub fn failure(code: u16, reason: &str, message: &str, details: Value) -> Value {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if !details.is_null() {
        status["details"] = details;
    }
    status
}

/// The details of a failure about one object.
pub fn about(name: &str) -> Value {
    json!({"name": name, "group": "crd.projectcalico.org", "kind": "caliconodestatuses"})
}

/// A 404 for a missing object.
pub fn not_found(name: &str) -> Value {
    failure(
        404,
        "NotFound",
        &format!("caliconodestatuses.crd.projectcalico.org \"{name}\" not found"),
        about(name),
    )
}

/// A 409 for a stale resourceVersion.
pub fn conflict(name: &str) -> Value {
    failure(
        409,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on caliconodestatuses.crd.projectcalico.org \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        ),
        about(name),
    )
}

/// A watch event line.
pub fn event(kind: &str, obj: &Value) -> Value {
    json!({"type": kind, "object": obj})
}

/// A BOOKMARK event.
pub fn bookmark(rv: u64) -> Value {
    json!({"type": "BOOKMARK", "object": {
        "kind": "CalicoNodeStatus",
        "apiVersion": "crd.projectcalico.org/v1",
        "metadata": {"resourceVersion": rv.to_string(), "creationTimestamp": null}
    }})
}

/// The `ERROR` event a watch from a compacted revision gets.
pub fn expired(rv: u64, current: u64) -> Value {
    json!({"type": "ERROR", "object": failure(410, "Expired", &format!("too old resource version: {rv} ({current})"), Value::Null)})
}

/// The query of a watch request.
pub fn watch_query<'a>(selector: Option<&'a str>, rv: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut q = vec![("watch", "true"), ("timeoutSeconds", "290")];
    if let Some(s) = selector {
        q.push(("fieldSelector", s));
    }
    q.push(("allowWatchBookmarks", "true"));
    q.push(("resourceVersion", rv));
    q
}

/// Decodes a fixture into the typed object as the store gives it out: without `managedFields`
/// (the server's bookkeeping, which the store drops).
pub fn typed(value: &Value) -> nodestatus_api::CalicoNodeStatus {
    let mut obj: nodestatus_api::CalicoNodeStatus = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("fixture does not decode: {e}"));
    obj.metadata.managed_fields = None;
    obj
}
