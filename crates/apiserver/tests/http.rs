//! The router over a real SQLite datastore, request by request: what each verb answers, with
//! whole Status bodies for the errors kubectl shows.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use http_body_util::BodyExt;
use nodestatus_apiserver::{Tokens, router};
use nodestatus_store::Datastore;
use nodestatus_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::{Value, json};
use tower::ServiceExt;

const BASE: &str = "/apis/projectcalico.org/v3/caliconodestatuses";

struct Server {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    app: axum::Router,
}

fn server(tokens: Tokens) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqliteStore::open(&dir.path().join("s.db"), SqliteOptions::default()).unwrap());
    let app = router(store.clone() as Arc<dyn Datastore>, tokens);
    Server {
        _dir: dir,
        store,
        app,
    }
}

impl Server {
    async fn call(&self, method: &str, uri: &str, content_type: &str, body: Value) -> (u16, Value) {
        let body = if body.is_null() {
            Body::empty()
        } else {
            Body::from(body.to_string())
        };
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type)
            .body(body)
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let code = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn get(&self, uri: &str) -> (u16, Value) {
        self.call("GET", uri, "application/json", Value::Null).await
    }
}

fn resource(name: &str, period: u64) -> Value {
    json!({
        "apiVersion": "projectcalico.org/v3",
        "kind": "CalicoNodeStatus",
        "metadata": {"name": name, "labels": {"team": "net"}},
        "spec": {"classes": ["Agent", "BGP"], "node": "node-1", "updatePeriodSeconds": period},
    })
}

/// The object without what the store sets (uid, creationTimestamp, resourceVersion).
fn without_store_metadata(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "uid",
            "creationTimestamp",
            "resourceVersion",
            "generation",
            "managedFields",
        ] {
            assert!(meta.remove(key).is_some(), "{key} is set in {meta:?}");
        }
    }
    obj
}

#[tokio::test]
async fn discovery_names_the_resource_its_scope_and_verbs() {
    let s = server(Tokens::none());
    let (code, list) = s.get("/apis/projectcalico.org/v3").await;
    assert_eq!(code, 200);
    assert_eq!(
        list["resources"],
        json!([
            {"name": "caliconodestatuses", "singularName": "caliconodestatus", "namespaced": false,
             "kind": "CalicoNodeStatus", "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
            {"name": "caliconodestatuses/status", "singularName": "", "namespaced": false,
             "kind": "CalicoNodeStatus", "verbs": ["get", "patch", "update"]},
        ])
    );
    let (_, groups) = s.get("/apis").await;
    assert_eq!(
        groups["groups"][0]["preferredVersion"]["groupVersion"],
        "projectcalico.org/v3"
    );
    let (_, root) = s.get("/openapi/v3").await;
    let url = root["paths"]["apis/projectcalico.org/v3"]["serverRelativeURL"]
        .as_str()
        .unwrap();
    let (code, doc) = s.get(url).await;
    assert_eq!(code, 200);
    let schema = &doc["components"]["schemas"]["org.projectcalico.v3.CalicoNodeStatus"];
    assert_eq!(
        schema["properties"]["spec"]["properties"]["updatePeriodSeconds"]["maximum"],
        json!(86400.0)
    );
}

#[tokio::test]
async fn aggregated_discovery_is_served_to_a_client_that_asks_for_it() {
    let s = server(Tokens::none());
    // What kubectl 1.32 sends.
    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    let request = Request::builder()
        .uri("/apis")
        .header("accept", accept)
        .body(Body::empty())
        .unwrap();
    let response = s.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["kind"], "APIGroupDiscoveryList");
    let resource = &doc["items"][0]["versions"][0]["resources"][0];
    assert_eq!(doc["items"][0]["metadata"]["name"], "projectcalico.org");
    assert_eq!(
        (
            &resource["resource"],
            &resource["scope"],
            &resource["responseKind"]["kind"]
        ),
        (
            &json!("caliconodestatuses"),
            &json!("Cluster"),
            &json!("CalicoNodeStatus")
        )
    );
    assert_eq!(resource["subresources"][0]["subresource"], "status");
    // Without asking, the legacy list.
    let (_, legacy) = s.get("/apis").await;
    assert_eq!(legacy["kind"], "APIGroupList");
}

#[tokio::test]
async fn create_get_update_and_delete_keep_kubernetes_metadata() {
    let s = server(Tokens::none());
    let (code, created) = s
        .call("POST", BASE, "application/json", resource("a", 10))
        .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(without_store_metadata(created.clone()), resource("a", 10));
    // The creator (no fieldManager, no User-Agent) owns every field it set.
    let managed = &created["metadata"]["managedFields"];
    assert_eq!(
        (&managed[0]["manager"], &managed[0]["operation"]),
        (&json!("unknown"), &json!("Update"))
    );
    assert_eq!(
        managed[0]["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:team": {}}},
               "f:spec": {"f:classes": {}, "f:node": {}, "f:updatePeriodSeconds": {}}})
    );
    let (code, got) = s.get(&format!("{BASE}/a")).await;
    assert_eq!((code, &got), (200, &created));

    let mut update = resource("a", 30);
    update["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"].clone();
    let (code, updated) = s
        .call(
            "PUT",
            &format!("{BASE}/a"),
            "application/json",
            update.clone(),
        )
        .await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["spec"]["updatePeriodSeconds"], 30);
    assert_eq!(updated["metadata"]["uid"], created["metadata"]["uid"]);
    // The spec changed: one generation more.
    assert_eq!(
        (
            &created["metadata"]["generation"],
            &updated["metadata"]["generation"]
        ),
        (&json!(1), &json!(2))
    );

    // The same stale resourceVersion again: somebody else's write is not overwritten.
    let (code, status) = s
        .call("PUT", &format!("{BASE}/a"), "application/json", update)
        .await;
    assert_eq!(code, 409);
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Operation cannot be fulfilled on caliconodestatuses.projectcalico.org \"a\": the object has been modified; please apply your changes to the latest version and try again",
               "reason": "Conflict", "code": 409,
               "details": {"name": "a", "group": "projectcalico.org", "kind": "caliconodestatuses"}})
    );

    let (code, again) = s
        .call("POST", BASE, "application/json", resource("a", 10))
        .await;
    assert_eq!(
        (code, again["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );

    let (code, deleted) = s
        .call(
            "DELETE",
            &format!("{BASE}/a"),
            "application/json",
            Value::Null,
        )
        .await;
    assert_eq!((code, &deleted["spec"]), (200, &updated["spec"]));
    let (code, missing) = s.get(&format!("{BASE}/a")).await;
    assert_eq!(code, 404);
    assert_eq!(
        missing["message"],
        "caliconodestatuses.projectcalico.org \"a\" not found"
    );
}

#[tokio::test]
async fn an_invalid_object_is_refused_with_one_cause_per_field_and_nothing_is_stored() {
    let s = server(Tokens::none());
    let mut bad = resource("bad", 100_000);
    bad["spec"]["classes"] = json!(["Agent", "Foo"]);
    let (code, status) = s.call("POST", BASE, "application/json", bad).await;
    assert_eq!(code, 422);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(
        status["details"]["causes"],
        json!([
            {"reason": "FieldValueInvalid", "message": "\"Foo\" is not one of Agent, BGP, Routes", "field": "spec.classes[1]"},
            {"reason": "FieldValueInvalid", "message": "100000 is out of range 0..86400", "field": "spec.updatePeriodSeconds"},
        ])
    );
    assert_eq!(
        status["message"],
        "CalicoNodeStatus.projectcalico.org \"bad\" is invalid: [spec.classes[1]: \"Foo\" is not one of Agent, BGP, Routes, spec.updatePeriodSeconds: 100000 is out of range 0..86400]"
    );
    assert_eq!(
        s.store
            .list(&nodestatus_store::NodeFilter::All)
            .await
            .unwrap()
            .items,
        []
    );
}

#[tokio::test]
async fn lists_page_and_select_by_field() {
    let s = server(Tokens::none());
    for (name, node) in [("a", "n1"), ("b", "n2"), ("c", "n1")] {
        let mut obj = resource(name, 10);
        obj["spec"]["node"] = json!(node);
        assert_eq!(s.call("POST", BASE, "application/json", obj).await.0, 201);
    }
    let names = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, page) = s.get(&format!("{BASE}?limit=2")).await;
    assert_eq!(names(&page), ["a", "b"]);
    let token = page["metadata"]["continue"].as_str().unwrap();
    let (_, rest) = s.get(&format!("{BASE}?limit=2&continue={token}")).await;
    assert_eq!(names(&rest), ["c"]);
    assert_eq!(rest["metadata"].get("continue"), None);
    let (_, n1) = s.get(&format!("{BASE}?fieldSelector=spec.node%3Dn1")).await;
    assert_eq!(names(&n1), ["a", "c"]);
    let (_, c) = s
        .get(&format!("{BASE}?fieldSelector=metadata.name%3Dc"))
        .await;
    assert_eq!(names(&c), ["c"]);
    let (code, bad) = s.get(&format!("{BASE}?fieldSelector=status.x%3D1")).await;
    assert_eq!((code, bad["reason"].as_str()), (400, Some("BadRequest")));
}

#[tokio::test]
async fn patches_change_the_spec_and_the_status_subresource_the_status() {
    let s = server(Tokens::none());
    s.call("POST", BASE, "application/json", resource("a", 10))
        .await;
    let (code, merged) = s
        .call(
            "PATCH",
            &format!("{BASE}/a"),
            "application/merge-patch+json",
            json!({"spec": {"updatePeriodSeconds": 20}}),
        )
        .await;
    assert_eq!(
        (code, &merged["spec"]["updatePeriodSeconds"]),
        (200, &json!(20))
    );
    let (code, patched) = s
        .call(
            "PATCH",
            &format!("{BASE}/a"),
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/spec/classes", "value": ["Routes"]}]),
        )
        .await;
    assert_eq!(
        (code, &patched["spec"]["classes"]),
        (200, &json!(["Routes"]))
    );
    let (code, invalid) = s
        .call(
            "PATCH",
            &format!("{BASE}/a"),
            "application/merge-patch+json",
            json!({"spec": {"node": "Not_A_Node"}}),
        )
        .await;
    assert_eq!(
        (code, &invalid["details"]["causes"][0]["field"]),
        (422, &json!("spec.node"))
    );

    let status = json!({"lastUpdated": "2025-01-01T00:00:00Z", "bgp": {"numberEstablishedV4": 1, "numberNotEstablishedV4": 0, "numberEstablishedV6": 0, "numberNotEstablishedV6": 0}});
    let (code, written) = s
        .call(
            "PATCH",
            &format!("{BASE}/a/status"),
            "application/merge-patch+json",
            json!({"status": status, "spec": {"updatePeriodSeconds": 1}}),
        )
        .await;
    assert_eq!(code, 200, "{written}");
    assert_eq!(written["status"], status);
    // A status write leaves the spec alone.
    assert_eq!(written["spec"]["updatePeriodSeconds"], 20);
    let (_, got) = s.get(&format!("{BASE}/a")).await;
    assert_eq!(got, written);
}

#[tokio::test]
async fn the_table_form_has_the_columns_of_nodestatus_get() {
    let s = server(Tokens::none());
    s.call("POST", BASE, "application/json", resource("a", 10))
        .await;
    let request = Request::builder()
        .uri(BASE)
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Body::empty())
        .unwrap();
    let response = s.app.clone().oneshot(request).await.unwrap();
    let table: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let columns: Vec<(&str, u64)> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["priority"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        columns,
        [
            ("Name", 0),
            ("Node", 0),
            ("Classes", 0),
            ("Period", 0),
            ("BIRD", 1),
            ("BGP", 0),
            ("BGP V4", 1),
            ("BGP V6", 1),
            ("Routes", 0),
            ("Routes V4", 1),
            ("Routes V6", 1),
            ("Last Updated", 0)
        ]
    );
    assert_eq!(
        table["rows"][0]["cells"],
        json!([
            "a",
            "node-1",
            "Agent,BGP",
            "10s",
            "<none>",
            "<none>",
            "<none>",
            "<none>",
            "<none>",
            "<none>",
            "<none>",
            "<none>"
        ])
    );
}

#[tokio::test]
async fn a_watch_streams_changes_and_answers_410_from_a_compacted_version() {
    let s = server(Tokens::none());
    let (_, created) = s
        .call("POST", BASE, "application/json", resource("a", 10))
        .await;
    let version = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let request = Request::builder()
        .uri(format!("{BASE}?watch=true&resourceVersion={version}"))
        .body(Body::empty())
        .unwrap();
    let response = s.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    s.call(
        "PATCH",
        &format!("{BASE}/a"),
        "application/merge-patch+json",
        json!({"spec": {"updatePeriodSeconds": 5}}),
    )
    .await;
    let line = body.next().await.unwrap().unwrap();
    let event: Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(event["type"], "MODIFIED");
    assert_eq!(event["object"]["spec"]["updatePeriodSeconds"], 5);

    s.store.compact().await.unwrap();
    let request = Request::builder()
        .uri(format!("{BASE}?watch=true&resourceVersion={version}"))
        .body(Body::empty())
        .unwrap();
    let response = s.app.clone().oneshot(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let event: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(event["type"], "ERROR");
    assert_eq!(
        (
            event["object"]["code"].as_u64(),
            event["object"]["reason"].as_str()
        ),
        (Some(410), Some("Expired"))
    );
}

#[tokio::test]
async fn without_the_token_every_request_but_the_probes_gets_401() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(&file, "# operators\nsecret-1,admin,1,\"system:masters\"\n").unwrap();
    let s = server(Tokens::from_file(&file).unwrap());
    let (code, status) = s.get("/apis").await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (401, Some("Unauthorized"))
    );
    assert_eq!(s.get("/healthz").await.0, 200);
    let request = Request::builder()
        .uri("/apis")
        .header("authorization", "Bearer secret-1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        s.app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::OK
    );
}

#[test]
fn a_generated_token_is_kept_owner_only_and_reused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let first = Tokens::load_or_generate(dir.path()).unwrap();
    let token = first.first().unwrap().to_string();
    assert_eq!(token.len(), 64, "{token}");
    let path = dir.path().join(nodestatus_apiserver::GENERATED_TOKEN_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = Tokens::load_or_generate(dir.path()).unwrap();
    assert_eq!(again.first(), Some(token.as_str()));
    let elsewhere = tempfile::tempdir().unwrap();
    assert_ne!(
        Tokens::load_or_generate(elsewhere.path()).unwrap().first(),
        Some(token.as_str())
    );
}
