//! The Kubernetes datastore against an in-process fake API server: the requests it sends
//! (method, path, query, body) and what it makes of the server's answers.

mod fake;

use std::time::Duration;

use fake::{
    BASE, about, bookmark, conflict, event, expired, failure, list, not_found, object, status,
    typed, watch_query, with_status,
};
use futures::StreamExt;
use http::Method;
use nodestatus_api::{
    CalicoNodeStatusSpec, CalicoNodeStatusStatus, FieldError, NodeStatusClass, ValidationErrors,
};
use nodestatus_store::{Datastore, Listing, NodeFilter, StoreError, WatchEvent, WatchStream};
use serde_json::{Value, json};

fn path(name: &str) -> String {
    format!("{BASE}/{name}")
}

fn status_path(name: &str) -> String {
    format!("{BASE}/{name}/status")
}

fn typed_status() -> CalicoNodeStatusStatus {
    serde_json::from_value(status())
        .unwrap_or_else(|e| panic!("status fixture does not decode: {e}"))
}

fn spec(node: &str, period: u32) -> CalicoNodeStatusSpec {
    CalicoNodeStatusSpec {
        classes: vec![NodeStatusClass::Routes],
        node: node.into(),
        update_period_seconds: period,
    }
}

fn node(name: &str) -> NodeFilter {
    NodeFilter::Node(name.into())
}

/// Runs a store call in the background while the test plays the server.
fn call<T: Send + 'static>(
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> tokio::task::JoinHandle<Result<T, StoreError>> {
    tokio::spawn(fut)
}

async fn outcome<T>(
    handle: tokio::task::JoinHandle<Result<T, StoreError>>,
) -> Result<T, StoreError> {
    handle
        .await
        .unwrap_or_else(|e| panic!("store call panicked: {e}"))
}

async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    match stream.next().await {
        Some(Ok(event)) => event,
        other => panic!("expected a watch event, got {other:?}"),
    }
}

// ---- get and list ----

#[tokio::test]
async fn get_reads_the_object_by_name() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.get("a").await });
    let obj = with_status(object("a", "n1", 7));
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(200, &obj);
    assert_eq!(outcome(got).await.ok(), Some(typed(&obj)));
}

#[tokio::test]
async fn get_of_a_missing_object_is_not_found() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.get("a").await });
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(404, &not_found("a"));
    assert!(matches!(outcome(got).await, Err(StoreError::NotFound { name }) if name == "a"));
}

#[tokio::test]
async fn a_name_kubernetes_cannot_hold_is_not_found_without_asking_the_server() {
    let (store, mut api) = fake::store();
    let got = store.get("my_status").await;
    assert!(matches!(got, Err(StoreError::NotFound { name }) if name == "my_status"));
    assert!(api.idle());
}

#[tokio::test]
async fn list_by_node_selects_on_the_server_and_returns_the_list_revision_sorted_by_name() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.list(&node("n1")).await });
    let (b, a) = (object("b", "n1", 12), object("a", "n1", 11));
    api.expect(Method::GET, BASE, &[("fieldSelector", "spec.node%3Dn1")])
        .await
        .respond(200, &list(20, &[b.clone(), a.clone()]));
    assert_eq!(
        outcome(got).await.ok(),
        Some(Listing {
            items: vec![typed(&a), typed(&b)],
            revision: "20".into()
        })
    );
}

#[tokio::test]
async fn list_of_all_sends_no_selector() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.list(&NodeFilter::All).await });
    let (a, b) = (object("a", "n1", 11), object("b", "n2", 12));
    api.expect(Method::GET, BASE, &[])
        .await
        .respond(200, &list(20, &[a.clone(), b.clone()]));
    assert_eq!(
        outcome(got).await.ok(),
        Some(Listing {
            items: vec![typed(&a), typed(&b)],
            revision: "20".into()
        })
    );
}

#[tokio::test]
async fn a_node_name_cannot_add_requirements_to_the_field_selector() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.list(&node("n1,metadata.name=x")).await });
    // `spec.node=n1\,metadata.name\=x`, percent-encoded.
    api.expect(
        Method::GET,
        BASE,
        &[("fieldSelector", "spec.node%3Dn1%5C%2Cmetadata.name%5C%3Dx")],
    )
    .await
    .respond(200, &list(20, &[]));
    assert_eq!(
        outcome(got).await.ok(),
        Some(Listing {
            items: vec![],
            revision: "20".into()
        })
    );
}

#[tokio::test]
async fn without_selectable_fields_lists_filter_on_the_client_from_then_on() {
    let (store, mut api) = fake::store();
    let first = call({
        let store = store.clone();
        async move { store.list(&node("n1")).await }
    });
    api.expect(Method::GET, BASE, &[("fieldSelector", "spec.node%3Dn1")]).await.respond(
        400,
        &failure(
            400,
            "BadRequest",
            "Unable to find \"crd.projectcalico.org/v1, Resource=caliconodestatuses\" that match label selector \"\", field selector \"spec.node=n1\": field label not supported: spec.node",
            Value::Null,
        ),
    );
    let (a, b) = (object("a", "n1", 11), object("b", "n2", 12));
    api.expect(Method::GET, BASE, &[])
        .await
        .respond(200, &list(20, &[a.clone(), b.clone()]));
    assert_eq!(
        outcome(first).await.ok(),
        Some(Listing {
            items: vec![typed(&a)],
            revision: "20".into()
        })
    );

    let second = call(async move { store.list(&node("n2")).await });
    api.expect(Method::GET, BASE, &[])
        .await
        .respond(200, &list(21, &[a.clone(), b.clone()]));
    assert_eq!(
        outcome(second).await.ok(),
        Some(Listing {
            items: vec![typed(&b)],
            revision: "21".into()
        })
    );
}

#[tokio::test]
async fn a_missing_crd_is_reported_as_such() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.list(&NodeFilter::All).await });
    api.expect(Method::GET, BASE, &[])
        .await
        .respond_text(404, "404 page not found\n");
    match outcome(got).await {
        Err(e @ StoreError::Internal { .. }) => {
            assert!(e.to_string().contains("is the CRD installed?"), "{e}");
        }
        other => panic!("expected Internal, got {other:?}"),
    }
}

// ---- create ----

#[tokio::test]
async fn create_posts_the_object_without_server_metadata_then_writes_its_status() {
    let (store, mut api) = fake::store();
    // A client re-applying an object it read: server-owned metadata must not go back on create.
    let input = typed(&with_status(object("a", "n1", 3)));
    let got = call(async move { store.create(&input).await });

    let post = api.expect(Method::POST, BASE, &[]).await;
    assert_eq!(
        post.json(),
        json!({
            "apiVersion": "crd.projectcalico.org/v1",
            "kind": "CalicoNodeStatus",
            "metadata": {"name": "a"},
            "spec": {"classes": ["Agent", "BGP"], "node": "n1", "updatePeriodSeconds": 10},
            "status": status(),
        })
    );
    // With the status subresource the server drops the status on create.
    post.respond(201, &object("a", "n1", 7));

    let put = api.expect(Method::PUT, &status_path("a"), &[]).await;
    assert_eq!(
        put.json(),
        json!({
            "apiVersion": "crd.projectcalico.org/v1",
            "kind": "CalicoNodeStatus",
            "metadata": {"name": "a", "resourceVersion": "7"},
            "status": status(),
        })
    );
    let stored = with_status(object("a", "n1", 8));
    put.respond(200, &stored);
    assert_eq!(outcome(got).await.ok(), Some(typed(&stored)));
}

#[tokio::test]
async fn create_of_a_taken_name_is_already_exists() {
    let (store, mut api) = fake::store();
    let input = typed(&object("a", "n1", 0));
    let got = call(async move { store.create(&input).await });
    api.expect(Method::POST, BASE, &[]).await.respond(
        409,
        &failure(
            409,
            "AlreadyExists",
            "caliconodestatuses.crd.projectcalico.org \"a\" already exists",
            about("a"),
        ),
    );
    assert!(matches!(outcome(got).await, Err(StoreError::AlreadyExists { name }) if name == "a"));
}

#[tokio::test]
async fn create_lists_every_problem_including_the_kubernetes_name_rule_before_sending() {
    let (store, mut api) = fake::store();
    let mut input = typed(&object("my_status", "N_1", 0));
    input.spec.update_period_seconds = 86_401;
    let got = store.create(&input).await;
    let paths = match got {
        Err(StoreError::Invalid { name, errors }) => {
            assert_eq!(name, "my_status");
            errors
                .errors()
                .iter()
                .map(|e| e.path.clone())
                .collect::<Vec<_>>()
        }
        other => panic!("expected Invalid, got {other:?}"),
    };
    assert_eq!(
        paths,
        ["spec.node", "spec.updatePeriodSeconds", "metadata.name"]
    );
    assert!(api.idle());
}

// ---- write_status ----

#[tokio::test]
async fn write_status_puts_only_the_status_and_the_expected_version_to_the_status_subresource() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.write_status("a", &typed_status(), "7").await });
    let put = api.expect(Method::PUT, &status_path("a"), &[]).await;
    assert_eq!(
        put.json(),
        json!({
            "apiVersion": "crd.projectcalico.org/v1",
            "kind": "CalicoNodeStatus",
            "metadata": {"name": "a", "resourceVersion": "7"},
            "status": status(),
        })
    );
    put.respond(200, &with_status(object("a", "n1", 8)));
    assert_eq!(outcome(got).await.ok(), Some("8".to_owned()));
}

#[tokio::test]
async fn write_status_at_a_stale_version_is_a_conflict_naming_the_current_version() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.write_status("a", &typed_status(), "7").await });
    api.expect(Method::PUT, &status_path("a"), &[])
        .await
        .respond(409, &conflict("a"));
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(200, &object("a", "n1", 9));
    match outcome(got).await {
        Err(StoreError::Conflict {
            name,
            expected,
            actual,
        }) => {
            assert_eq!(
                (name.as_str(), expected.as_str(), actual.as_str()),
                ("a", "7", "9")
            );
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn write_status_of_a_deleted_object_is_not_found() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.write_status("a", &typed_status(), "7").await });
    api.expect(Method::PUT, &status_path("a"), &[])
        .await
        .respond(404, &not_found("a"));
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(404, &not_found("a"));
    assert!(matches!(outcome(got).await, Err(StoreError::NotFound { name }) if name == "a"));
}

#[tokio::test]
async fn without_a_status_subresource_status_is_written_by_a_full_update_from_then_on() {
    let (store, mut api) = fake::store();
    let first = call({
        let store = store.clone();
        async move { store.write_status("a", &typed_status(), "7").await }
    });
    // The answer of a CRD without `subresources.status` (Calico's own): 404 naming the object.
    api.expect(Method::PUT, &status_path("a"), &[])
        .await
        .respond(404, &not_found("a"));
    let current = object("a", "n1", 7);
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(200, &current);
    let put = api.expect(Method::PUT, &path("a"), &[]).await;
    assert_eq!(put.json(), with_status(current.clone()));
    put.respond(200, &with_status(object("a", "n1", 8)));
    assert_eq!(outcome(first).await.ok(), Some("8".to_owned()));

    let second = call(async move { store.write_status("a", &typed_status(), "7").await });
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(200, &with_status(object("a", "n1", 8)));
    match outcome(second).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), ("7".into(), "8".into())),
        other => panic!("expected Conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn server_failures_map_to_store_errors() {
    let cases: Vec<(u16, Value, &str)> = vec![
        (
            413,
            failure(
                413,
                "RequestEntityTooLarge",
                "Request entity too large: limit is 3145728",
                Value::Null,
            ),
            "TooLarge 3145728",
        ),
        (
            500,
            failure(
                500,
                "InternalError",
                "Internal error occurred: etcdserver: request is too large",
                Value::Null,
            ),
            "TooLarge 1572864",
        ),
        (
            429,
            failure(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
                Value::Null,
            ),
            "Unavailable",
        ),
        (
            503,
            failure(
                503,
                "ServiceUnavailable",
                "The server is currently unable to handle the request",
                Value::Null,
            ),
            "Unavailable",
        ),
        (
            403,
            failure(
                403,
                "Forbidden",
                "caliconodestatuses.crd.projectcalico.org \"a\" is forbidden: User \"system:serviceaccount:calico-system:nodestatus\" cannot update resource \"caliconodestatuses/status\"",
                about("a"),
            ),
            "Internal",
        ),
        (
            422,
            failure(
                422,
                "Invalid",
                "CalicoNodeStatus.crd.projectcalico.org \"a\" is invalid: status.bgp.numberEstablishedV4: Invalid value: \"string\": must be integer",
                json!({"name": "a", "group": "crd.projectcalico.org", "kind": "CalicoNodeStatus", "causes": [
                    {"reason": "FieldValueTypeInvalid", "message": "Invalid value: \"string\": status.bgp.numberEstablishedV4 in body must be of type integer: \"string\"", "field": "status.bgp.numberEstablishedV4"}
                ]}),
            ),
            "Invalid status.bgp.numberEstablishedV4",
        ),
    ];
    for (code, reply, want) in cases {
        let (store, mut api) = fake::store();
        let got = call(async move { store.write_status("a", &typed_status(), "7").await });
        let put = api.expect(Method::PUT, &status_path("a"), &[]).await;
        let size = put.body.len();
        put.respond(code, &reply);
        let seen = match outcome(got).await {
            Err(StoreError::TooLarge {
                name,
                size: s,
                limit,
            }) if name == "a" && s == size => format!("TooLarge {limit}"),
            Err(StoreError::Unavailable { .. }) => "Unavailable".into(),
            Err(StoreError::Internal { .. }) => "Internal".into(),
            Err(StoreError::Invalid { name, errors }) if name == "a" => {
                assert_eq!(
                    errors,
                    ValidationErrors(vec![FieldError {
                        path: "status.bgp.numberEstablishedV4".into(),
                        message: "Invalid value: \"string\": status.bgp.numberEstablishedV4 in body must be of type integer: \"string\"".into(),
                    }])
                );
                "Invalid status.bgp.numberEstablishedV4".into()
            }
            other => format!("{other:?}"),
        };
        assert_eq!(seen, want, "HTTP {code}");
    }
}

#[tokio::test]
async fn a_broken_connection_is_unavailable() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.get("a").await });
    api.expect(Method::GET, &path("a"), &[]).await.fail();
    let err = outcome(got).await.err();
    assert!(
        matches!(&err, Some(e @ StoreError::Unavailable { .. }) if e.is_retryable()),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_the_server_never_answers_times_out_as_unavailable() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.get("a").await });
    let pending = api.expect(Method::GET, &path("a"), &[]).await;
    let err = outcome(got).await.err();
    assert!(
        matches!(&err, Some(StoreError::Unavailable { .. })),
        "{err:?}"
    );
    drop(pending);
}

// ---- update_spec ----

#[tokio::test]
async fn update_spec_replaces_the_whole_object_keeping_labels_and_status() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.update_spec("a", &spec("n2", 30), Some("7")).await });
    let mut current = with_status(object("a", "n1", 7));
    current["metadata"]["labels"] = json!({"team": "net"});
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(200, &current);
    let put = api.expect(Method::PUT, &path("a"), &[]).await;
    let mut want = current.clone();
    want["spec"] = json!({"classes": ["Routes"], "node": "n2", "updatePeriodSeconds": 30});
    assert_eq!(put.json(), want);
    let mut stored = want.clone();
    stored["metadata"]["resourceVersion"] = json!("8");
    put.respond(200, &stored);
    assert_eq!(outcome(got).await.ok(), Some(typed(&stored)));
}

#[tokio::test]
async fn update_spec_at_a_stale_version_is_a_conflict_and_writes_nothing() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.update_spec("a", &spec("n2", 30), Some("7")).await });
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(200, &object("a", "n1", 9));
    match outcome(got).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), ("7".into(), "9".into())),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(api.idle());
}

#[tokio::test]
async fn update_spec_without_a_version_is_one_json_patch_that_cannot_conflict() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.update_spec("a", &spec("n2", 30), None).await });
    // No read first and no resourceVersion: the server applies it to whatever is current, so
    // status writes racing with it can never make it fail.
    let patch = api.expect(Method::PATCH, &path("a"), &[]).await;
    let new_spec = json!({"classes": ["Routes"], "node": "n2", "updatePeriodSeconds": 30});
    assert_eq!(
        patch.json(),
        json!([{"op": "add", "path": "/spec", "value": new_spec}])
    );
    let mut want = with_status(object("a", "n1", 8));
    want["spec"] = new_spec;
    patch.respond(200, &want);
    assert_eq!(outcome(got).await.ok(), Some(typed(&want)));
}

#[tokio::test]
async fn update_spec_rejects_an_invalid_spec_before_sending() {
    let (store, mut api) = fake::store();
    let got = store.update_spec("a", &spec("n2", 86_401), None).await;
    match got {
        Err(StoreError::Invalid { errors, .. }) => {
            assert_eq!(
                errors
                    .errors()
                    .iter()
                    .map(|e| e.path.as_str())
                    .collect::<Vec<_>>(),
                ["spec.updatePeriodSeconds"]
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(api.idle());
}

// ---- delete ----

#[tokio::test]
async fn delete_sends_the_version_as_a_precondition_and_returns_the_object_as_deleted() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.delete("a", Some("7")).await });
    let current = with_status(object("a", "n1", 7));
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(200, &current);
    let delete = api.expect(Method::DELETE, &path("a"), &[]).await;
    assert_eq!(
        delete.json(),
        json!({"preconditions": {"resourceVersion": "7"}})
    );
    delete.respond(200, &deleted_status());
    // The Status carries no resourceVersion: the DELETED event of the deleted version does.
    let gone = with_status(object("a", "n1", 8));
    api.expect(
        Method::GET,
        BASE,
        &[
            ("watch", "true"),
            ("timeoutSeconds", "10"),
            ("fieldSelector", "metadata.name%3Da"),
            ("resourceVersion", "7"),
        ],
    )
    .await
    .stream(&[event("DELETED", &gone)]);
    assert_eq!(outcome(got).await.ok(), Some(typed(&gone)));
}

#[tokio::test]
async fn delete_returns_the_state_read_before_when_the_deleted_event_cannot_be_watched() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.delete("a", None).await });
    let current = with_status(object("a", "n1", 7));
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(200, &current);
    api.expect(Method::DELETE, &path("a"), &[])
        .await
        .respond(200, &deleted_status());
    api.next().await.respond(
        403,
        &failure(403, "Forbidden", "caliconodestatuses.crd.projectcalico.org is forbidden: User \"ops\" cannot watch resource \"caliconodestatuses\"", Value::Null),
    );
    assert_eq!(outcome(got).await.ok(), Some(typed(&current)));
}

/// What the API server answers a DELETE of a custom resource with: a Status, not the object.
fn deleted_status() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
           "details": {"name": "a", "group": "crd.projectcalico.org", "kind": "caliconodestatuses",
                       "uid": "5f0c6a0e-0000-4000-8000-000000000001"}})
}

#[tokio::test]
async fn delete_at_a_stale_version_is_a_conflict() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.delete("a", Some("7")).await });
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(200, &object("a", "n1", 7));
    // Changed between the read and the delete: the precondition fails.
    api.expect(Method::DELETE, &path("a"), &[]).await.respond(
        409,
        &failure(
            409,
            "Conflict",
            "Operation cannot be fulfilled on caliconodestatuses.crd.projectcalico.org \"a\": Precondition failed: ResourceVersion in precondition: 7, ResourceVersion in object meta: 9",
            about("a"),
        ),
    );
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(200, &object("a", "n1", 9));
    match outcome(got).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), ("7".into(), "9".into())),
        other => panic!("expected Conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn delete_of_a_missing_object_is_not_found() {
    let (store, mut api) = fake::store();
    let got = call(async move { store.delete("a", None).await });
    api.expect(Method::GET, &path("a"), &[])
        .await
        .respond(404, &not_found("a"));
    assert!(matches!(outcome(got).await, Err(StoreError::NotFound { name }) if name == "a"));
}

// ---- watch ----

#[tokio::test(start_paused = true)]
async fn watch_by_node_follows_the_stream_and_resumes_from_the_last_bookmark() {
    let (store, mut api) = fake::store();
    let mut stream = store
        .watch(&node("n1"), Some("10"))
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"));
    let (a11, a12, a16) = (
        object("a", "n1", 11),
        with_status(object("a", "n1", 12)),
        with_status(object("a", "n1", 16)),
    );
    api.expect(
        Method::GET,
        BASE,
        &watch_query(Some("spec.node%3Dn1"), "10"),
    )
    .await
    .stream(&[event("ADDED", &a11), event("MODIFIED", &a12), bookmark(15)]);
    assert_eq!(
        next_event(&mut stream).await,
        WatchEvent::Added(typed(&a11))
    );
    assert_eq!(
        next_event(&mut stream).await,
        WatchEvent::Modified(typed(&a12))
    );
    // The stream ended (as at timeoutSeconds): the next one starts at the bookmark.
    api.expect(
        Method::GET,
        BASE,
        &watch_query(Some("spec.node%3Dn1"), "15"),
    )
    .await
    .stream(&[event("DELETED", &a16)]);
    assert_eq!(
        next_event(&mut stream).await,
        WatchEvent::Deleted(typed(&a16))
    );
    api.expect(
        Method::GET,
        BASE,
        &watch_query(Some("spec.node%3Dn1"), "16"),
    )
    .await
    .stream_forever();
}

#[tokio::test]
async fn watch_from_now_starts_at_a_fresh_list_revision() {
    let (store, mut api) = fake::store();
    let started = call(async move { store.watch(&NodeFilter::All, None).await });
    api.expect(Method::GET, BASE, &[])
        .await
        .respond(200, &list(40, &[object("a", "n1", 11)]));
    let mut stream = outcome(started)
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"));
    let b = object("b", "n2", 41);
    api.expect(Method::GET, BASE, &watch_query(None, "40"))
        .await
        .stream(&[event("ADDED", &b)]);
    assert_eq!(next_event(&mut stream).await, WatchEvent::Added(typed(&b)));
}

#[tokio::test(start_paused = true)]
async fn an_expired_revision_relists_and_sends_restarted() {
    let (store, mut api) = fake::store();
    let mut stream = store
        .watch(&node("n1"), Some("10"))
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"));
    api.expect(
        Method::GET,
        BASE,
        &watch_query(Some("spec.node%3Dn1"), "10"),
    )
    .await
    .stream(&[expired(10, 500)]);
    let a = object("a", "n1", 480);
    api.expect(Method::GET, BASE, &[("fieldSelector", "spec.node%3Dn1")])
        .await
        .respond(200, &list(500, std::slice::from_ref(&a)));
    assert_eq!(
        next_event(&mut stream).await,
        WatchEvent::Restarted(Listing {
            items: vec![typed(&a)],
            revision: "500".into()
        })
    );
    api.expect(
        Method::GET,
        BASE,
        &watch_query(Some("spec.node%3Dn1"), "500"),
    )
    .await
    .stream_forever();
}

#[tokio::test(start_paused = true)]
async fn a_410_answer_to_the_watch_request_also_relists() {
    let (store, mut api) = fake::store();
    let mut stream = store
        .watch(&NodeFilter::All, Some("10"))
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"));
    api.expect(Method::GET, BASE, &watch_query(None, "10"))
        .await
        .respond(
            410,
            &failure(
                410,
                "Expired",
                "too old resource version: 10 (500)",
                Value::Null,
            ),
        );
    api.expect(Method::GET, BASE, &[])
        .await
        .respond(200, &list(500, &[]));
    assert_eq!(
        next_event(&mut stream).await,
        WatchEvent::Restarted(Listing {
            items: vec![],
            revision: "500".into()
        })
    );
    api.expect(Method::GET, BASE, &watch_query(None, "500"))
        .await
        .stream_forever();
}

#[tokio::test(start_paused = true)]
async fn a_watch_resumes_from_the_same_revision_after_a_broken_connection() {
    let (store, mut api) = fake::store();
    let mut stream = store
        .watch(&NodeFilter::All, Some("10"))
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"));
    api.expect(Method::GET, BASE, &watch_query(None, "10"))
        .await
        .fail();
    api.expect(Method::GET, BASE, &watch_query(None, "10"))
        .await
        .respond(
            503,
            &failure(
                503,
                "ServiceUnavailable",
                "etcd leader changed",
                Value::Null,
            ),
        );
    let a = object("a", "n1", 11);
    api.expect(Method::GET, BASE, &watch_query(None, "10"))
        .await
        .stream(&[event("ADDED", &a)]);
    assert_eq!(next_event(&mut stream).await, WatchEvent::Added(typed(&a)));
}

#[tokio::test(start_paused = true)]
async fn a_silent_watch_connection_is_replaced() {
    let (store, mut api) = fake::store();
    let _stream = store
        .watch(&NodeFilter::All, Some("10"))
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"));
    api.expect(Method::GET, BASE, &watch_query(None, "10"))
        .await
        .stream_forever();
    let before = tokio::time::Instant::now();
    api.expect(Method::GET, BASE, &watch_query(None, "10"))
        .await
        .stream_forever();
    // Not before the idle limit (timeoutSeconds + 30 s), with at most one backoff pause on top.
    let waited = before.elapsed();
    assert!(
        (Duration::from_secs(320)..Duration::from_secs(321)).contains(&waited),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn without_selectable_fields_a_watch_filters_on_the_client_like_the_server_would() {
    let (store, mut api) = fake::store();
    let mut stream = store
        .watch(&node("n1"), Some("10"))
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"));
    api.expect(
        Method::GET,
        BASE,
        &watch_query(Some("spec.node%3Dn1"), "10"),
    )
    .await
    .respond(
        400,
        &failure(
            400,
            "BadRequest",
            "field label not supported: spec.node",
            Value::Null,
        ),
    );
    // What passed the filter at the start revision, read at exactly that revision.
    let (a10, b10) = (object("a", "n1", 9), object("b", "n2", 10));
    api.expect(
        Method::GET,
        BASE,
        &[("resourceVersion", "10"), ("resourceVersionMatch", "Exact")],
    )
    .await
    .respond(200, &list(10, &[a10.clone(), b10]));
    let (b11, a12, c13, b14, a15) = (
        object("b", "n1", 11),
        object("a", "n2", 12),
        object("c", "n3", 13),
        object("b", "n1", 14),
        object("a", "n2", 15),
    );
    api.expect(Method::GET, BASE, &watch_query(None, "10"))
        .await
        .stream(&[
            event("MODIFIED", &b11), // moved onto n1
            event("MODIFIED", &a12), // moved away from n1
            event("ADDED", &c13),    // another node's
            event("DELETED", &b14),
            event("DELETED", &a15), // no longer ours
        ]);
    assert_eq!(
        next_event(&mut stream).await,
        WatchEvent::Added(typed(&b11))
    );
    let mut a_gone = typed(&a10);
    a_gone.metadata.resource_version = Some("12".into());
    assert_eq!(next_event(&mut stream).await, WatchEvent::Deleted(a_gone));
    assert_eq!(
        next_event(&mut stream).await,
        WatchEvent::Deleted(typed(&b14))
    );
    api.expect(Method::GET, BASE, &watch_query(None, "15"))
        .await
        .stream_forever();
}

#[tokio::test(start_paused = true)]
async fn a_forbidden_watch_ends_the_stream_with_the_error() {
    let (store, mut api) = fake::store();
    let mut stream = store
        .watch(&node("n1"), Some("10"))
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"));
    api.expect(Method::GET, BASE, &watch_query(Some("spec.node%3Dn1"), "10")).await.respond(
        403,
        &failure(
            403,
            "Forbidden",
            "caliconodestatuses.crd.projectcalico.org is forbidden: User \"system:anonymous\" cannot watch resource \"caliconodestatuses\" in API group \"crd.projectcalico.org\" at the cluster scope",
            json!({"group": "crd.projectcalico.org", "kind": "caliconodestatuses"}),
        ),
    );
    let err = stream.next().await;
    assert!(
        matches!(&err, Some(Err(e @ StoreError::Internal { .. })) if !e.is_retryable()),
        "{err:?}"
    );
    assert!(stream.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_stops_the_watch() {
    let (store, mut api) = fake::store();
    let stream = store
        .watch(&NodeFilter::All, Some("10"))
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"));
    api.expect(Method::GET, BASE, &watch_query(None, "10"))
        .await
        .stream_forever();
    drop(stream);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(api.idle());
}
