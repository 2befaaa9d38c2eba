//! The etcd backend against a real etcd 3.4: Calico's key and value layout as etcdctl sees it,
//! size limits, watches across restarts and compaction, an unreachable or hung etcd, and TLS
//! client certificates.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use nodestatus_api::{
    CalicoNodeStatus, CalicoNodeStatusSpec, CalicoNodeStatusStatus, LearnedFrom, NodeStatusClass,
    Route, RouteSourceType, RouteStatus, RouteType,
};
use nodestatus_store::{Datastore, NodeFilter, StoreError, WatchEvent, WatchStream};
use nodestatus_store_etcd::testing::{EtcdServer, ServerTls, free_port};
use nodestatus_store_etcd::{EtcdConfig, EtcdStore};
use serde_json::{Value, json};

const KEY_PREFIX: &str = "/calico/resources/v3/projectcalico.org/caliconodestatuses/";
/// Guards awaits that must not hang; a test that reaches it fails instead of hanging CI.
const HANG_GUARD: Duration = Duration::from_secs(60);

async fn start() -> (EtcdServer, EtcdStore) {
    let server = EtcdServer::start()
        .await
        .unwrap_or_else(|e| panic!("starting etcd: {e}"));
    let store = EtcdStore::connect(server.config())
        .await
        .unwrap_or_else(|e| panic!("connecting to etcd: {e}"));
    (server, store)
}

fn object(name: &str, node: &str) -> CalicoNodeStatus {
    CalicoNodeStatus::new(
        name,
        CalicoNodeStatusSpec {
            classes: vec![
                NodeStatusClass::Agent,
                NodeStatusClass::Bgp,
                NodeStatusClass::Routes,
            ],
            node: node.into(),
            update_period_seconds: 10,
        },
    )
}

/// A status with `n` routes (about 150 bytes each in JSON).
fn status_with_routes(n: usize) -> CalicoNodeStatusStatus {
    let routes_v4 = (0..n)
        .map(|i| Route {
            route_type: Some(RouteType::Fib),
            destination: format!("10.{}.{}.0/24", i / 256, i % 256),
            gateway: "10.128.0.200".into(),
            interface: "eth0".into(),
            learned_from: LearnedFrom {
                source_type: Some(RouteSourceType::NodeMesh),
                peer_ip: "10.128.0.200".into(),
            },
        })
        .collect();
    CalicoNodeStatusStatus {
        last_updated: Some("2021-10-18T13:22:03Z".into()),
        routes: Some(RouteStatus {
            routes_v4,
            routes_v6: Vec::new(),
            truncated: None,
        }),
        ..CalicoNodeStatusStatus::default()
    }
}

/// The smallest status whose JSON is at least `bytes` long.
fn status_of_size(bytes: usize) -> CalicoNodeStatusStatus {
    let per_route = serde_json::to_vec(&status_with_routes(100))
        .expect("encode")
        .len()
        / 100;
    let mut n = bytes / per_route;
    loop {
        let status = status_with_routes(n);
        if serde_json::to_vec(&status).expect("encode").len() >= bytes {
            return status;
        }
        n += 10;
    }
}

/// The next event, skipping the retryable errors a watch yields while it reconnects.
async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    loop {
        match tokio::time::timeout(HANG_GUARD, stream.next()).await {
            Ok(Some(Ok(event))) => return event,
            Ok(Some(Err(err))) if err.is_retryable() => continue,
            Ok(Some(Err(err))) => panic!("watch error: {err}"),
            Ok(None) => panic!("watch ended"),
            Err(_) => panic!("no watch event within {HANG_GUARD:?}"),
        }
    }
}

fn unavailable(result: Result<impl std::fmt::Debug, StoreError>) -> bool {
    matches!(result, Err(StoreError::Unavailable { .. }))
}

#[tokio::test]
async fn the_key_is_calicos_and_the_value_is_the_v3_resource_json() {
    let (server, store) = start().await;
    let mut obj = object("status-1", "node-0");
    obj.metadata.labels = Some([("team".to_string(), "net".to_string())].into());
    let created = store.create(&obj).await.expect("create");
    let status = status_with_routes(1);
    store
        .write_status(
            "status-1",
            &status,
            created
                .metadata
                .resource_version
                .as_deref()
                .expect("version"),
        )
        .await
        .expect("write status");

    let keys = server
        .etcdctl(&["get", "--prefix", "--keys-only", "/calico/"])
        .expect("etcdctl");
    assert_eq!(
        keys.split_whitespace().collect::<Vec<_>>(),
        [format!("{KEY_PREFIX}status-1")]
    );

    let raw = server
        .raw_value(&format!("{KEY_PREFIX}status-1"))
        .expect("etcdctl")
        .expect("a value");
    let value: Value = serde_json::from_str(&raw).expect("the value is JSON");
    assert_eq!(
        value,
        json!({
            "apiVersion": "projectcalico.org/v3",
            "kind": "CalicoNodeStatus",
            "metadata": {
                "name": "status-1",
                "uid": created.metadata.uid.clone().expect("uid"),
                "creationTimestamp": serde_json::to_value(&created.metadata.creation_timestamp).expect("time"),
                "generation": 1,
                "labels": {"team": "net"},
            },
            "spec": {"classes": ["Agent", "BGP", "Routes"], "node": "node-0", "updatePeriodSeconds": 10},
            "status": {
                "lastUpdated": "2021-10-18T13:22:03Z",
                "routes": {"routesV4": [{
                    "type": "FIB",
                    "destination": "10.0.0.0/24",
                    "gateway": "10.128.0.200",
                    "interface": "eth0",
                    "learnedFrom": {"sourceType": "NodeMesh", "peerIP": "10.128.0.200"},
                }]},
            },
        })
    );
}

#[tokio::test]
async fn the_resource_version_is_the_keys_mod_revision() {
    let (server, store) = start().await;
    let created = store
        .create(&object("status-1", "node-0"))
        .await
        .expect("create");
    let written = store
        .write_status(
            "status-1",
            &status_with_routes(1),
            created
                .metadata
                .resource_version
                .as_deref()
                .expect("version"),
        )
        .await
        .expect("write status");
    let out = server
        .etcdctl(&["get", "-w", "json", &format!("{KEY_PREFIX}status-1")])
        .expect("etcdctl");
    let reply: Value = serde_json::from_str(&out).expect("etcdctl json");
    let revisions = (
        reply["kvs"][0]["create_revision"]
            .as_i64()
            .map(|r| r.to_string()),
        reply["kvs"][0]["mod_revision"]
            .as_i64()
            .map(|r| r.to_string()),
    );
    assert_eq!(
        revisions,
        (created.metadata.resource_version, Some(written))
    );
}

#[tokio::test]
async fn a_uid_and_creation_time_are_set_on_create() {
    let (_server, store) = start().await;
    let mut obj = object("status-1", "node-0");
    obj.metadata.uid = Some("from-the-user".into());
    obj.metadata.resource_version = Some("12345".into());
    let created = store.create(&obj).await.expect("create");
    let uid = created.metadata.uid.clone().expect("uid");
    assert_ne!(uid, "from-the-user");
    assert_eq!(uuid_version(&uid), Some('4'));
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(store.get("status-1").await.expect("get"), created);
}

fn uuid_version(uid: &str) -> Option<char> {
    // xxxxxxxx-xxxx-Vxxx-xxxx-xxxxxxxxxxxx
    (uid.len() == 36).then(|| uid.chars().nth(14)).flatten()
}

#[tokio::test]
async fn an_object_written_by_calico_is_read() {
    let (server, store) = start().await;
    // What calicoctl (Go's json.Marshal of apiv3.CalicoNodeStatus) stores.
    let calico = r#"{"kind":"CalicoNodeStatus","apiVersion":"projectcalico.org/v3","metadata":{"name":"from-calico","uid":"0b7e3a8e-5d5c-4f57-a3c5-8f1a1f7b0a11","creationTimestamp":"2021-10-18T13:22:03Z"},"spec":{"node":"node-0","classes":["Agent"],"updatePeriodSeconds":10},"status":{"lastUpdated":null,"agent":{"birdV4":{"state":"Ready","version":"v0.3.3+birdv1.6.8","routerID":"10.128.0.240","lastBootTime":"2021-10-18 09:23:19","lastReconfigurationTime":"2021-10-18 09:23:19"},"birdV6":{}},"bgp":{"numberEstablishedV4":0,"numberNotEstablishedV4":0,"numberEstablishedV6":0,"numberNotEstablishedV6":0},"routes":{}}}"#;
    server
        .put_raw(&format!("{KEY_PREFIX}from-calico"), calico)
        .expect("etcdctl put");
    let obj = store.get("from-calico").await.expect("get");
    let mut expected = serde_json::from_str::<Value>(calico).expect("json");
    expected["apiVersion"] = json!("crd.projectcalico.org/v1");
    expected["metadata"]["resourceVersion"] =
        json!(obj.metadata.resource_version.clone().expect("version"));
    let mut expected: CalicoNodeStatus = serde_json::from_value(expected).expect("typed");
    expected.status.get_or_insert_default().last_updated = None;
    assert_eq!(obj, expected);
    assert_eq!(
        obj.status
            .and_then(|s| s.agent)
            .map(|a| a.bird_v4.router_id),
        Some("10.128.0.240".to_string())
    );
}

#[tokio::test]
async fn a_value_that_cannot_be_read_is_skipped_by_list_and_reported_by_get() {
    let (server, store) = start().await;
    let good = store
        .create(&object("good", "node-0"))
        .await
        .expect("create");
    server
        .put_raw(&format!("{KEY_PREFIX}broken"), "{not json")
        .expect("etcdctl put");
    server
        .put_raw(&format!("{KEY_PREFIX}nested/key"), "{}")
        .expect("etcdctl put");
    let listing = store.list(&NodeFilter::All).await.expect("list");
    assert_eq!(listing.items, vec![good]);
    assert!(matches!(
        store.get("broken").await,
        Err(StoreError::Internal { .. })
    ));
}

#[tokio::test]
async fn a_status_over_the_configured_limit_is_too_large_and_the_old_status_stays() {
    let (_server, store) = start().await;
    let created = store
        .create(&object("big", "node-0"))
        .await
        .expect("create");
    let version = created.metadata.resource_version.clone().expect("version");
    let status = status_of_size(1_600_000);
    let result = store.write_status("big", &status, &version).await;
    match result {
        Err(StoreError::TooLarge { name, size, limit }) => {
            assert_eq!((name.as_str(), limit), ("big", 1_572_864));
            assert!(size > 1_600_000, "size {size} counts the whole value");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(store.get("big").await.expect("get"), created);
}

#[tokio::test]
async fn a_create_over_the_limit_is_too_large_without_asking_etcd() {
    let (server, store) = start().await;
    let mut obj = object("big", "node-0");
    obj.status = Some(status_of_size(1_600_000));
    // A frozen etcd answers nothing: a request that was sent would time out as Unavailable.
    server.pause().expect("SIGSTOP etcd");
    let result = tokio::time::timeout(HANG_GUARD, store.create(&obj))
        .await
        .expect("no hang");
    server.resume().expect("SIGCONT etcd");
    assert!(
        matches!(result, Err(StoreError::TooLarge { .. })),
        "{result:?}"
    );
    assert!(matches!(
        store.get("big").await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn etcds_own_refusals_for_size_are_too_large() {
    let server = EtcdServer::start()
        .await
        .unwrap_or_else(|e| panic!("starting etcd: {e}"));
    let mut config = server.config();
    // Above the server's 1.5 MiB: the server, not the client, refuses.
    config.max_request_bytes = 64 << 20;
    let store = EtcdStore::connect(config).await.expect("connect");
    let created = store
        .create(&object("big", "node-0"))
        .await
        .expect("create");
    let version = created.metadata.resource_version.clone().expect("version");
    // Over etcd's --max-request-bytes ("etcdserver: request is too large").
    let over_etcd = store
        .write_status("big", &status_of_size(1_700_000), &version)
        .await;
    // Over gRPC's receive limit, 512 KiB above it ("received message larger than max").
    let over_grpc = store
        .write_status("big", &status_of_size(3_000_000), &version)
        .await;
    assert!(
        matches!(over_etcd, Err(StoreError::TooLarge { .. })),
        "{over_etcd:?}"
    );
    assert!(
        matches!(over_grpc, Err(StoreError::TooLarge { .. })),
        "{over_grpc:?}"
    );
    // The connection is still good.
    assert_eq!(store.get("big").await.expect("get"), created);
}

#[tokio::test]
async fn a_status_just_under_the_limit_is_stored() {
    let (_server, store) = start().await;
    let created = store
        .create(&object("big", "node-0"))
        .await
        .expect("create");
    let status = status_of_size(1_500_000);
    let version = store
        .write_status(
            "big",
            &status,
            created
                .metadata
                .resource_version
                .as_deref()
                .expect("version"),
        )
        .await
        .expect("write status");
    let read = store.get("big").await.expect("get");
    assert_eq!(
        (read.status, read.metadata.resource_version),
        (Some(status), Some(version))
    );
}

#[tokio::test]
async fn a_watch_resumes_after_an_etcd_restart_without_losing_or_repeating_events() {
    let (mut server, store) = start().await;
    let mut watch = store.watch(&NodeFilter::All, None).await.expect("watch");
    let created = store
        .create(&object("status-1", "node-0"))
        .await
        .expect("create");
    assert_eq!(
        next_event(&mut watch).await,
        WatchEvent::Added(created.clone())
    );

    server.restart().await.expect("restart etcd");
    // Written through a separate client right after the restart, maybe before the watch is back.
    let other = EtcdStore::connect(server.config())
        .await
        .expect("connect again");
    let version = other
        .write_status(
            "status-1",
            &status_with_routes(2),
            created.metadata.resource_version.as_deref().expect("v"),
        )
        .await
        .expect("write status");
    let second = store
        .create(&object("status-2", "node-1"))
        .await
        .expect("create through the first store");

    let mut modified = created.clone();
    modified.status = Some(status_with_routes(2));
    modified.metadata.resource_version = Some(version);
    assert_eq!(next_event(&mut watch).await, WatchEvent::Modified(modified));
    assert_eq!(next_event(&mut watch).await, WatchEvent::Added(second));
}

#[tokio::test]
async fn a_watch_reports_etcd_being_down_and_goes_on_when_it_is_back() {
    let (mut server, store) = start().await;
    let mut watch = store.watch(&NodeFilter::All, None).await.expect("watch");
    server.stop().await.expect("stop etcd");
    let interrupted = tokio::time::timeout(HANG_GUARD, watch.next())
        .await
        .expect("no hang");
    assert!(
        matches!(interrupted, Some(Err(StoreError::Unavailable { .. }))),
        "{interrupted:?}"
    );
    // Long enough for several failed reconnects with growing backoff.
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.start_again().await.expect("start etcd again");
    let created = store
        .create(&object("status-1", "node-0"))
        .await
        .expect("create");
    assert_eq!(next_event(&mut watch).await, WatchEvent::Added(created));
}

#[tokio::test]
async fn an_unreachable_etcd_is_unavailable_at_connect() {
    let mut config = EtcdConfig::new([format!("http://127.0.0.1:{}", free_port().expect("port"))]);
    config.connect_timeout = Duration::from_secs(1);
    let result = tokio::time::timeout(HANG_GUARD, EtcdStore::connect(config))
        .await
        .expect("no hang");
    assert!(unavailable(result.map(|_| ())));
}

#[tokio::test]
async fn requests_to_a_stopped_etcd_are_unavailable_and_work_again_after_it_is_back() {
    let (mut server, store) = start().await;
    store
        .create(&object("status-1", "node-0"))
        .await
        .expect("create");
    server.stop().await.expect("stop etcd");
    let during = tokio::time::timeout(HANG_GUARD, store.get("status-1"))
        .await
        .expect("no hang");
    assert!(unavailable(during));
    server.start_again().await.expect("start etcd again");
    let after = tokio::time::timeout(HANG_GUARD, store.get("status-1"))
        .await
        .expect("no hang");
    assert_eq!(
        after.expect("get").metadata.name.as_deref(),
        Some("status-1")
    );
}

#[tokio::test]
async fn requests_to_a_hung_etcd_are_unavailable_after_the_request_timeout() {
    let (server, store) = start().await;
    let created = store
        .create(&object("status-1", "node-0"))
        .await
        .expect("create");
    let version = created.metadata.resource_version.clone().expect("version");
    server.pause().expect("SIGSTOP etcd");
    let read = tokio::time::timeout(HANG_GUARD, store.get("status-1"))
        .await
        .expect("no hang");
    let write = tokio::time::timeout(
        HANG_GUARD,
        store.write_status("status-1", &status_with_routes(1), &version),
    )
    .await
    .expect("no hang");
    let list = tokio::time::timeout(HANG_GUARD, store.list(&NodeFilter::All))
        .await
        .expect("no hang");
    server.resume().expect("SIGCONT etcd");
    assert!(unavailable(read) && unavailable(write) && unavailable(list));
    assert_eq!(
        store.get("status-1").await.expect("get after resume"),
        created
    );
}

/// CA, server and client certificates in `dir`.
fn certificates(dir: &Path) -> ServerTls {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair, KeyUsagePurpose,
    };
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).expect("write pem");
        path
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let leaf = |usage: ExtendedKeyUsagePurpose| {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &ca).expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf(ExtendedKeyUsagePurpose::ClientAuth);
    ServerTls {
        ca_file: write("ca.pem", ca.pem()),
        cert_file: write("server.pem", server_cert),
        key_file: write("server-key.pem", server_key),
        client_cert_file: write("client.pem", client_cert),
        client_key_file: write("client-key.pem", client_key),
    }
}

#[tokio::test]
async fn tls_client_certificates_are_presented_to_etcd() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = EtcdServer::start_tls(certificates(dir.path()))
        .await
        .expect("start etcd with TLS");
    let store = EtcdStore::connect(server.config())
        .await
        .expect("connect with TLS");
    let created = store
        .create(&object("status-1", "node-0"))
        .await
        .expect("create");
    assert_eq!(store.get("status-1").await.expect("get"), created);
    let raw = server
        .raw_value(&format!("{KEY_PREFIX}status-1"))
        .expect("etcdctl over TLS");
    assert!(raw.is_some());

    // Without the client certificate the server refuses the connection.
    let mut anonymous = server.config();
    anonymous.cert_file = None;
    anonymous.key_file = None;
    anonymous.connect_timeout = Duration::from_secs(2);
    let refused = tokio::time::timeout(HANG_GUARD, EtcdStore::connect(anonymous))
        .await
        .expect("no hang");
    // The server closes the connection in the handshake; the client cannot tell that from an
    // etcd going away.
    assert!(unavailable(refused.map(|_| ())));
}

/// After its own status write, a store writes the next status without reading the object
/// first. Another client's spec edit, or a delete and re-create, in between must still make a
/// write naming the old version a conflict, and a write naming the new one keep the edit.
#[tokio::test]
async fn status_writes_after_this_stores_own_write_still_see_other_clients_changes() {
    let (server, agent) = start().await;
    let operator = EtcdStore::connect(server.config())
        .await
        .unwrap_or_else(|e| panic!("connecting to etcd: {e}"));
    let created = agent
        .create(&object("s", "node-1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let created_at = created.metadata.resource_version.unwrap_or_default();
    let first = agent
        .write_status("s", &status_with_routes(1), &created_at)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Back to back, as an agent does: the second write names the first's version.
    let second = agent
        .write_status("s", &status_with_routes(2), &first)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let mut spec = object("s", "node-1").spec;
    spec.update_period_seconds = 60;
    let edited = operator
        .update_spec("s", &spec, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let edited_at = edited.metadata.resource_version.unwrap_or_default();
    match agent
        .write_status("s", &status_with_routes(3), &second)
        .await
    {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (second.clone(), edited_at.clone())),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let third = agent
        .write_status("s", &status_with_routes(3), &edited_at)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let read = operator.get("s").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read.spec.update_period_seconds, 60, "the spec edit is kept");
    assert_eq!(read.status, Some(status_with_routes(3)));
    assert_eq!(read.metadata.resource_version, Some(third.clone()));

    // Deleted and created again by someone else: the old version names nothing any more.
    operator
        .delete("s", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = operator
        .create(&object("s", "node-2"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        agent
            .write_status("s", &status_with_routes(4), &third)
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let read = operator.get("s").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read.spec.node, "node-2");
    assert_eq!(read.status, None);
    assert_eq!(
        read.metadata.resource_version,
        again.metadata.resource_version
    );
}

/// With a dead endpoint first or second, every request goes to the live one: etcd-client's
/// balancing gave each endpoint its share, and with the dead one first all 10 of 10 `get`s
/// failed (6 of 10 with it second).
#[tokio::test]
async fn a_dead_endpoint_first_or_second_does_not_fail_requests() {
    let server = EtcdServer::start()
        .await
        .unwrap_or_else(|e| panic!("starting etcd: {e}"));
    let dead = format!("http://127.0.0.1:{}", free_port().expect("port"));
    for endpoints in [
        vec![dead.clone(), server.endpoint()],
        vec![server.endpoint(), dead.clone()],
    ] {
        let mut config = server.config();
        config.endpoints = endpoints.clone();
        let store = tokio::time::timeout(HANG_GUARD, EtcdStore::connect(config))
            .await
            .expect("no hang")
            .unwrap_or_else(|e| panic!("connecting with {endpoints:?}: {e}"));
        let name = if endpoints[0] == dead {
            "dead-first"
        } else {
            "dead-second"
        };
        let created = store
            .create(&object(name, "node-0"))
            .await
            .unwrap_or_else(|e| panic!("create with {endpoints:?}: {e}"));
        let mut version = created.metadata.resource_version.clone().expect("version");
        for i in 0..10 {
            let got = store
                .get(name)
                .await
                .unwrap_or_else(|e| panic!("get {i} with {endpoints:?}: {e}"));
            assert_eq!(got.metadata.resource_version.as_ref(), Some(&version));
            version = store
                .write_status(name, &status_with_routes(i), &version)
                .await
                .unwrap_or_else(|e| panic!("status write {i} with {endpoints:?}: {e}"));
        }
    }
}

/// A server certificate from another CA than the configured one fails to connect, with an
/// error that says it is the certificate; and no key material reaches the logs or the error.
#[tokio::test]
async fn a_wrong_ca_fails_with_a_clear_error_and_no_secret_is_logged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let other = tempfile::tempdir().expect("temp dir");
    let tls = certificates(dir.path());
    let server = EtcdServer::start_tls(tls.clone())
        .await
        .expect("start etcd with TLS");
    let mut config = server.config();
    config.ca_cert_file = Some(certificates(other.path()).ca_file);
    config.connect_timeout = Duration::from_secs(2);

    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let result = tokio::time::timeout(HANG_GUARD, EtcdStore::connect(config))
        .await
        .expect("no hang");
    drop(guard);
    let Err(err) = result else {
        panic!("connected although the server's certificate is from another CA")
    };
    let message = err.to_string();
    assert!(
        message.contains("certificate") && message.contains(&server.endpoint()),
        "{message}"
    );

    let key = std::fs::read_to_string(&tls.client_key_file).expect("client key");
    let secret = key
        .lines()
        .find(|l| !l.starts_with("-----") && l.len() > 20)
        .expect("a key line");
    let logged = logs.text();
    for text in [&message, &logged] {
        assert!(
            !text.contains(secret) && !text.contains("PRIVATE KEY"),
            "{text}"
        );
    }
}

/// A log sink for one test.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

const INDEX_PREFIX: &str = "/nodestatus/v1/caliconodestatuses-by-node/";

/// The keys under `prefix`, as etcdctl lists them.
fn keys(server: &EtcdServer, prefix: &str) -> Vec<String> {
    server
        .etcdctl(&["get", "--prefix", "--keys-only", prefix])
        .expect("etcdctl")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A key's mod revision, as etcdctl reports it.
fn mod_revision(server: &EtcdServer, key: &str) -> i64 {
    let out = server
        .etcdctl(&["get", "-w", "json", key])
        .expect("etcdctl");
    let doc: Value = serde_json::from_str(&out).expect("etcdctl json");
    doc["kvs"][0]["mod_revision"]
        .as_i64()
        .expect("a mod revision")
}

/// The per-node index holds one empty key per (node, name), written with the object's create,
/// spec update (moved with the node) and delete, and never touched by a status write.
#[tokio::test]
async fn the_node_index_follows_create_spec_edits_and_delete_but_not_status_writes() {
    let (server, store) = start().await;
    let created = store
        .create(&object("status-1", "node-1"))
        .await
        .expect("create");
    let entry_1 = format!("{INDEX_PREFIX}node-1/status-1");
    assert_eq!(keys(&server, INDEX_PREFIX), std::slice::from_ref(&entry_1));
    assert_eq!(
        server.raw_value(&entry_1).expect("etcdctl"),
        Some(String::new())
    );
    let indexed_at = mod_revision(&server, &entry_1);

    let mut version = created.metadata.resource_version.clone().expect("version");
    for _ in 0..3 {
        version = store
            .write_status("status-1", &status_with_routes(2), &version)
            .await
            .expect("write status");
    }
    assert_eq!(mod_revision(&server, &entry_1), indexed_at);

    let moved = object("status-1", "node-2").spec;
    store
        .update_spec("status-1", &moved, None)
        .await
        .expect("move to node-2");
    assert_eq!(
        keys(&server, INDEX_PREFIX),
        [format!("{INDEX_PREFIX}node-2/status-1")]
    );
    store.delete("status-1", None).await.expect("delete");
    assert_eq!(keys(&server, INDEX_PREFIX), Vec::<String>::new());
}

/// An object another tool (calicoctl) writes without the index reaches its node's watch at the
/// next relist, as a `Restarted` list holding it, and is indexed from then on.
#[tokio::test]
async fn an_object_written_without_the_index_reaches_the_node_watch_at_the_next_relist() {
    let server = EtcdServer::start()
        .await
        .unwrap_or_else(|e| panic!("starting etcd: {e}"));
    let mut config = server.config();
    config.index_relist_interval = Duration::from_secs(1);
    let store = EtcdStore::connect(config).await.expect("connect");
    let node = NodeFilter::Node("node-0".into());
    let listing = store.list(&node).await.expect("list");
    let mut watch = store
        .watch(&node, Some(&listing.revision))
        .await
        .expect("watch");
    let calico = r#"{"kind":"CalicoNodeStatus","apiVersion":"projectcalico.org/v3","metadata":{"name":"from-calico","uid":"0b7e3a8e-5d5c-4f57-a3c5-8f1a1f7b0a11","creationTimestamp":"2021-10-18T13:22:03Z"},"spec":{"node":"node-0","classes":["Agent"],"updatePeriodSeconds":10}}"#;
    server
        .put_raw(&format!("{KEY_PREFIX}from-calico"), calico)
        .expect("etcdctl put");
    let stored = store.get("from-calico").await.expect("get");

    let WatchEvent::Restarted(relisted) = next_event(&mut watch).await else {
        panic!("expected a relist");
    };
    assert_eq!(relisted.items, vec![stored]);
    assert_eq!(
        keys(&server, INDEX_PREFIX),
        [format!("{INDEX_PREFIX}node-0/from-calico")]
    );
    // The check was claimed (one watcher per interval does it, not every agent).
    assert_eq!(
        keys(&server, "/nodestatus/v1/index-checked"),
        ["/nodestatus/v1/index-checked"]
    );

    // Within the interval of that claim, other watchers skip the check: an object written
    // without the index now is left for the next interval's check, while another node's watch
    // relists. (The interval is long here, so nothing else claims it meanwhile.)
    server
        .etcdctl(&["put", "/nodestatus/v1/index-checked", &u64::MAX.to_string()])
        .expect("etcdctl put");
    let other = NodeFilter::Node("node-1".into());
    let listing = store.list(&other).await.expect("list");
    let mut other_watch = store
        .watch(&other, Some(&listing.revision))
        .await
        .expect("watch");
    server
        .put_raw(
            &format!("{KEY_PREFIX}later"),
            &calico.replace("from-calico", "later"),
        )
        .expect("etcdctl put");
    let WatchEvent::Restarted(_) = next_event(&mut other_watch).await else {
        panic!("expected a relist");
    };
    assert_eq!(
        keys(&server, INDEX_PREFIX),
        [format!("{INDEX_PREFIX}node-0/from-calico")]
    );
}
