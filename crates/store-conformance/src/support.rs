//! Shared pieces of the cases: realistic objects and statuses, the expected form of stored
//! objects, errors as comparable values, and reading watch streams with a hang guard.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use nodestatus_api::{
    AgentStatus, BgpDaemonState, BgpDaemonStatus, BgpPeer, BgpPeerType, BgpStatus,
    CalicoNodeStatus, CalicoNodeStatusSpec, CalicoNodeStatusStatus, LearnedFrom, NodeStatusClass,
    Route, RouteSourceType, RouteStatus, RouteType, ValidationErrors,
};
use nodestatus_store::{StoreError, WatchEvent, WatchStream};

/// How long a case waits for one watch event before calling the watch hung. A guard against
/// hanging forever, not a speed target: backends deliver in well under a second.
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// A spec for `node` with every class.
pub(crate) fn spec(node: &str, period: u32) -> CalicoNodeStatusSpec {
    CalicoNodeStatusSpec {
        classes: vec![
            NodeStatusClass::Agent,
            NodeStatusClass::Bgp,
            NodeStatusClass::Routes,
        ],
        node: node.to_owned(),
        update_period_seconds: period,
    }
}

/// A new object as an operator writes it: name, a label, an annotation and a spec.
pub(crate) fn object(name: &str, node: &str) -> CalicoNodeStatus {
    let mut obj = CalicoNodeStatus::new(name, spec(node, 10));
    obj.metadata.labels = Some(BTreeMap::from([("team".to_owned(), "network".to_owned())]));
    obj.metadata.annotations = Some(BTreeMap::from([(
        "note".to_owned(),
        format!("status of {node}"),
    )]));
    obj
}

/// A status as an agent writes it; `n` makes it unique.
pub(crate) fn status(n: u32) -> CalicoNodeStatusStatus {
    let daemon = |version: &str| BgpDaemonStatus {
        state: Some(BgpDaemonState::Ready),
        version: version.to_owned(),
        router_id: "10.99.0.1".to_owned(),
        last_boot_time: "2024-05-01 09:23:19".to_owned(),
        last_reconfiguration_time: "2024-05-01 09:23:19".to_owned(),
    };
    CalicoNodeStatusStatus {
        last_updated: Some(format!("2024-05-01T10:{:02}:{:02}Z", (n / 60) % 60, n % 60)),
        agent: Some(AgentStatus {
            bird_v4: daemon("1.6.8"),
            bird_v6: daemon("1.6.8"),
        }),
        bgp: Some(BgpStatus {
            number_established_v4: n,
            number_not_established_v4: 1,
            number_established_v6: 0,
            number_not_established_v6: 0,
            peers_v4: vec![BgpPeer {
                peer_ip: "10.99.0.2".to_owned(),
                peer_type: Some(BgpPeerType::NodeMesh),
                state: "Established".to_owned(),
                since: "09:23:22".to_owned(),
            }],
            peers_v6: Vec::new(),
        }),
        routes: Some(RouteStatus {
            routes_v4: vec![route(n)],
            routes_v6: Vec::new(),
            truncated: None,
        }),
    }
}

/// A route learned over the node mesh; `n` picks the destination.
pub(crate) fn route(n: u32) -> Route {
    let [a, b, c, _] = n.to_be_bytes();
    Route {
        route_type: Some(RouteType::Fib),
        destination: format!("10.{a}.{b}.{c}/32"),
        gateway: "10.99.0.2".to_owned(),
        interface: "eth0".to_owned(),
        learned_from: LearnedFrom {
            source_type: Some(RouteSourceType::NodeMesh),
            peer_ip: "10.99.0.2".to_owned(),
        },
    }
}

/// The resource version of a stored object.
#[track_caller]
pub(crate) fn version(obj: &CalicoNodeStatus) -> String {
    match obj.metadata.resource_version.as_deref() {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => panic!(
            "stored object {:?} has no resourceVersion",
            obj.metadata.name
        ),
    }
}

/// What the store must return for `sent`: `sent` itself with the metadata the store owns taken
/// from `stored`. Also checks the store set resourceVersion, uid and creationTimestamp.
#[track_caller]
pub(crate) fn as_stored(sent: &CalicoNodeStatus, stored: &CalicoNodeStatus) -> CalicoNodeStatus {
    let meta = &stored.metadata;
    assert!(
        meta.resource_version
            .as_deref()
            .is_some_and(|v| !v.is_empty()),
        "no resourceVersion: {meta:?}"
    );
    assert!(
        meta.uid.as_deref().is_some_and(|v| !v.is_empty()),
        "no uid: {meta:?}"
    );
    assert!(
        meta.creation_timestamp.is_some(),
        "no creationTimestamp: {meta:?}"
    );
    let mut expected = sent.clone();
    expected.metadata.resource_version = meta.resource_version.clone();
    expected.metadata.uid = meta.uid.clone();
    expected.metadata.creation_timestamp = meta.creation_timestamp.clone();
    expected.metadata.generation = meta.generation;
    expected.metadata.managed_fields = meta.managed_fields.clone();
    expected
}

/// `obj` after a status write that returned `version`.
pub(crate) fn with_status(
    obj: &CalicoNodeStatus,
    status: &CalicoNodeStatusStatus,
    version: &str,
) -> CalicoNodeStatus {
    let mut next = obj.clone();
    next.status = Some(status.clone());
    next.metadata.resource_version = Some(version.to_owned());
    next
}

/// A store error as a value that can be compared whole.
#[derive(Debug, PartialEq)]
pub(crate) enum Failure {
    NotFound(String),
    AlreadyExists(String),
    Conflict {
        name: String,
        expected: String,
        actual: String,
    },
    Invalid {
        name: String,
        errors: ValidationErrors,
    },
    TooLarge {
        name: String,
        limit: usize,
        size_above_limit: bool,
    },
    Unavailable(String),
    Internal(String),
}

/// The error a call must have failed with.
#[track_caller]
pub(crate) fn failure<T: Debug>(result: Result<T, StoreError>) -> Failure {
    match result {
        Ok(value) => panic!("expected an error, the call returned {value:?}"),
        Err(StoreError::NotFound { name }) => Failure::NotFound(name),
        Err(StoreError::AlreadyExists { name }) => Failure::AlreadyExists(name),
        Err(StoreError::Conflict {
            name,
            expected,
            actual,
        }) => Failure::Conflict {
            name,
            expected,
            actual,
        },
        Err(StoreError::Invalid { name, errors }) => Failure::Invalid { name, errors },
        Err(StoreError::TooLarge { name, size, limit }) => Failure::TooLarge {
            name,
            limit,
            size_above_limit: size > limit,
        },
        Err(e @ StoreError::Unavailable { .. }) => Failure::Unavailable(e.to_string()),
        Err(e @ StoreError::Internal { .. }) => Failure::Internal(e.to_string()),
    }
}

/// The value of a call that must succeed.
#[track_caller]
pub(crate) fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// The next event of a watch; retryable errors are skipped, anything else fails the case.
pub(crate) async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    loop {
        match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
            Err(_) => panic!(
                "no watch event within {EVENT_TIMEOUT:?}: the watch hangs or missed a change"
            ),
            Ok(None) => panic!("the watch stream ended"),
            Ok(Some(Ok(event))) => return event,
            Ok(Some(Err(e))) if e.is_retryable() => continue,
            Ok(Some(Err(e))) => panic!("the watch stream failed: {e}"),
        }
    }
}

/// The next `n` events of a watch.
pub(crate) async fn next_events(stream: &mut WatchStream, n: usize) -> Vec<WatchEvent> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next_event(stream).await);
    }
    events
}

/// The object an event carries (a `Restarted` fails the case).
#[track_caller]
pub(crate) fn event_object(event: &WatchEvent) -> &CalicoNodeStatus {
    match event {
        WatchEvent::Added(obj) | WatchEvent::Modified(obj) | WatchEvent::Deleted(obj) => obj,
        WatchEvent::Restarted(listing) => {
            panic!("unexpected Restarted with {} objects", listing.items.len())
        }
    }
}
