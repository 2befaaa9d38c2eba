//! The cases, one `async fn` per behaviour, each taking a fresh [`Fixture`].
//! Each asserts whole values: objects as returned by the store, events in order, errors with
//! every field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nodestatus_api::{CalicoNodeStatus, CalicoNodeStatusStatus, RouteStatus, validate};
use nodestatus_store::{Datastore, Listing, NodeFilter, StoreError, WatchEvent, resynced};
use tokio::task::JoinSet;

use crate::Fixture;
use crate::support::{
    Failure, as_stored, event_object, failure, next_event, next_events, object, ok, route, spec,
    status, version, with_status,
};

/// Create, get, list (sorted by name, filtered by node), update the spec, delete; and the
/// `AlreadyExists` / `NotFound` errors of each call.
pub async fn crud_round_trip(fx: impl Fixture) {
    let store = fx.store();
    assert_eq!(
        ok(store.list(&NodeFilter::All).await, "list").items,
        Vec::<CalicoNodeStatus>::new()
    );

    let sent_b = object("status-b", "node-1");
    let b = ok(store.create(&sent_b).await, "create b");
    assert_eq!(b, as_stored(&sent_b, &b));
    let mut sent_a = object("status-a", "node-2");
    sent_a.status = Some(status(1));
    let a = ok(store.create(&sent_a).await, "create a");
    assert_eq!(a, as_stored(&sent_a, &a));
    assert_ne!(version(&a), version(&b));

    assert_eq!(ok(store.get("status-a").await, "get a"), a);
    assert_eq!(ok(store.get("status-b").await, "get b"), b);
    assert_eq!(
        ok(store.list(&NodeFilter::All).await, "list").items,
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        ok(
            store.list(&NodeFilter::Node("node-1".into())).await,
            "list node-1"
        )
        .items,
        vec![b.clone()]
    );
    assert_eq!(
        ok(
            store.list(&NodeFilter::Node("node-3".into())).await,
            "list node-3"
        )
        .items,
        Vec::new()
    );

    let mut sent_a2 = a.clone();
    sent_a2.spec = spec("node-2", 30);
    let a2 = ok(
        store
            .update_spec("status-a", &sent_a2.spec, Some(&version(&a)))
            .await,
        "update a",
    );
    assert_eq!(a2, as_stored(&sent_a2, &a2));
    assert_ne!(version(&a2), version(&a));
    assert_eq!(ok(store.get("status-a").await, "get a"), a2);

    let deleted = ok(store.delete("status-b", None).await, "delete b");
    let mut last_b = b.clone();
    last_b.metadata.resource_version = deleted.metadata.resource_version.clone();
    assert_eq!(deleted, last_b);
    assert!(
        ![version(&a), version(&b), version(&a2)].contains(&version(&deleted)),
        "delete made no new version"
    );
    assert_eq!(
        failure(store.get("status-b").await),
        Failure::NotFound("status-b".into())
    );
    assert_eq!(
        ok(store.list(&NodeFilter::All).await, "list").items,
        vec![a2.clone()]
    );

    assert_eq!(
        failure(store.create(&sent_a).await),
        Failure::AlreadyExists("status-a".into())
    );
    assert_eq!(ok(store.get("status-a").await, "get a"), a2);
    let missing = || Failure::NotFound("missing".into());
    assert_eq!(failure(store.get("missing").await), missing());
    assert_eq!(
        failure(store.update_spec("missing", &spec("node-1", 5), None).await),
        missing()
    );
    assert_eq!(
        failure(
            store
                .write_status("missing", &status(2), &version(&a2))
                .await
        ),
        missing()
    );
    assert_eq!(failure(store.delete("missing", None).await), missing());
}

/// An invalid object is rejected with every problem the validator finds, and nothing is
/// stored; an invalid spec edit leaves the object as it was.
pub async fn invalid_object_is_rejected_and_nothing_is_stored(fx: impl Fixture) {
    let store = fx.store();
    let mut bad = object("Bad_Name!", "Node_1");
    bad.spec.update_period_seconds = 100_000;
    let expected_errors = match validate(&bad) {
        Err(errors) if errors.errors().len() == 3 => errors,
        other => panic!("the invalid object must have three problems, validation gave {other:?}"),
    };
    assert_eq!(
        failure(store.create(&bad).await),
        Failure::Invalid {
            name: "Bad_Name!".into(),
            errors: expected_errors
        }
    );
    assert_eq!(
        ok(store.list(&NodeFilter::All).await, "list").items,
        Vec::new()
    );

    let good = ok(store.create(&object("status-a", "node-1")).await, "create");
    let bad_spec = spec("not a node", 5);
    let mut bad_obj = good.clone();
    bad_obj.spec = bad_spec.clone();
    let expected_errors = match validate(&bad_obj) {
        Err(errors) => errors,
        Ok(()) => panic!("the bad spec must fail validation"),
    };
    assert_eq!(
        failure(store.update_spec("status-a", &bad_spec, None).await),
        Failure::Invalid {
            name: "status-a".into(),
            errors: expected_errors
        }
    );
    assert_eq!(
        ok(store.list(&NodeFilter::All).await, "list").items,
        vec![good]
    );
}

/// `write_status` replaces the status only, and returns the object's new resource version.
pub async fn write_status_changes_only_the_status(fx: impl Fixture) {
    let store = fx.store();
    let created = ok(store.create(&object("status-a", "node-1")).await, "create");
    let v1 = ok(
        store
            .write_status("status-a", &status(1), &version(&created))
            .await,
        "write status 1",
    );
    assert_ne!(v1, version(&created));
    let after_first = with_status(&created, &status(1), &v1);
    assert_eq!(ok(store.get("status-a").await, "get"), after_first);

    let v2 = ok(
        store.write_status("status-a", &status(2), &v1).await,
        "write status 2",
    );
    assert!(
        ![version(&created), v1.clone()].contains(&v2),
        "status write 2 made no new version"
    );
    assert_eq!(
        ok(store.get("status-a").await, "get"),
        with_status(&created, &status(2), &v2)
    );

    let empty = CalicoNodeStatusStatus::default();
    let v3 = ok(
        store.write_status("status-a", &empty, &v2).await,
        "write an empty status",
    );
    assert_eq!(
        ok(store.get("status-a").await, "get"),
        with_status(&created, &empty, &v3)
    );
}

/// `update_spec` replaces the spec and keeps the status an agent wrote.
pub async fn update_spec_keeps_the_status(fx: impl Fixture) {
    let store = fx.store();
    let mut sent = object("status-a", "node-1");
    sent.status = Some(status(7));
    let created = ok(store.create(&sent).await, "create");
    let v1 = ok(
        store
            .write_status("status-a", &status(8), &version(&created))
            .await,
        "write status",
    );

    let mut expected = with_status(&created, &status(8), &v1);
    expected.spec = spec("node-1", 60);
    let updated = ok(
        store.update_spec("status-a", &expected.spec, None).await,
        "update spec",
    );
    assert_eq!(updated, as_stored(&expected, &updated));
    assert_eq!(ok(store.get("status-a").await, "get"), updated);
}

/// `update` replaces the spec, labels and annotations (removing absent ones) and keeps the
/// status; `metadata.generation` is 1 on create and grows with each spec change only (a status
/// write or a label edit leaves it); a stale version conflicts and changes nothing.
pub async fn update_replaces_labels_and_annotations_and_generation_counts_spec_changes(
    fx: impl Fixture,
) {
    let store = fx.store();
    let created = ok(store.create(&object("status-a", "node-1")).await, "create");
    assert_eq!(created.metadata.generation, Some(1), "generation on create");
    let v1 = ok(
        store
            .write_status("status-a", &status(3), &version(&created))
            .await,
        "write status",
    );
    let after_status = ok(store.get("status-a").await, "get");
    assert_eq!(
        after_status.metadata.generation,
        Some(1),
        "after a status write"
    );

    let mut relabelled = with_status(&created, &status(3), &v1);
    relabelled.metadata.labels = Some(BTreeMap::from([("team".to_owned(), "bgp".to_owned())]));
    relabelled.metadata.annotations = None;
    let updated = ok(store.update(&relabelled, Some(&v1)).await, "update labels");
    assert_eq!(updated, as_stored(&relabelled, &updated));
    assert_eq!(updated.metadata.generation, Some(1), "after a label edit");
    assert_eq!(ok(store.get("status-a").await, "get"), updated);

    let mut respecced = updated.clone();
    respecced.spec = spec("node-1", 60);
    let updated = ok(
        store.update(&respecced, None).await,
        "update spec and labels",
    );
    assert_eq!(updated.metadata.generation, Some(2), "after a spec change");
    assert_eq!(updated.metadata.labels, respecced.metadata.labels);
    assert_eq!(updated.status, Some(status(3)));

    let by_spec = ok(
        store
            .update_spec("status-a", &spec("node-1", 0), None)
            .await,
        "update spec",
    );
    assert_eq!(by_spec.metadata.generation, Some(3), "after update_spec");
    assert_eq!(by_spec.metadata.labels, respecced.metadata.labels);

    assert_eq!(
        failure(store.update(&relabelled, Some(&v1)).await),
        Failure::Conflict {
            name: "status-a".into(),
            expected: v1.clone(),
            actual: version(&by_spec)
        }
    );
    assert_eq!(ok(store.get("status-a").await, "get"), by_spec);
}

/// A status write based on the version before an operator's spec edit fails with `Conflict`
/// and leaves the edit in place.
pub async fn write_status_after_a_spec_edit_conflicts(fx: impl Fixture) {
    let store = fx.store();
    let created = ok(store.create(&object("status-a", "node-1")).await, "create");
    let edited = ok(
        store
            .update_spec("status-a", &spec("node-1", 0), None)
            .await,
        "edit spec",
    );
    assert_eq!(
        failure(
            store
                .write_status("status-a", &status(1), &version(&created))
                .await
        ),
        Failure::Conflict {
            name: "status-a".into(),
            expected: version(&created),
            actual: version(&edited)
        }
    );
    assert_eq!(ok(store.get("status-a").await, "get"), edited);
}

/// `update_spec` and `delete` with a stale version fail with `Conflict` and change nothing;
/// with the current version they succeed.
pub async fn stale_version_conflicts_on_update_spec_and_delete(fx: impl Fixture) {
    let store = fx.store();
    let created = ok(store.create(&object("status-a", "node-1")).await, "create");
    let v1 = ok(
        store
            .write_status("status-a", &status(1), &version(&created))
            .await,
        "write status",
    );
    let current = with_status(&created, &status(1), &v1);
    let conflict = Failure::Conflict {
        name: "status-a".into(),
        expected: version(&created),
        actual: v1.clone(),
    };

    assert_eq!(
        failure(
            store
                .update_spec("status-a", &spec("node-2", 5), Some(&version(&created)))
                .await
        ),
        conflict
    );
    assert_eq!(
        failure(store.delete("status-a", Some(&version(&created))).await),
        conflict
    );
    assert_eq!(ok(store.get("status-a").await, "get"), current);

    let updated = ok(
        store
            .update_spec("status-a", &spec("node-2", 5), Some(&v1))
            .await,
        "update spec",
    );
    let mut expected = current.clone();
    expected.spec = spec("node-2", 5);
    assert_eq!(updated, as_stored(&expected, &updated));
    let deleted = ok(
        store.delete("status-a", Some(&version(&updated))).await,
        "delete",
    );
    let mut expected = updated.clone();
    expected.metadata.resource_version = deleted.metadata.resource_version.clone();
    assert_eq!(deleted, expected);
    assert_eq!(
        ok(store.list(&NodeFilter::All).await, "list").items,
        Vec::new()
    );
}

/// A watch from a list's revision sees every later change (create, status, spec, delete) once,
/// in order, with the objects the writes returned.
pub async fn watch_from_list_revision_sees_later_changes_in_order(fx: impl Fixture) {
    let store = fx.store();
    let a = ok(
        store.create(&object("status-a", "node-1")).await,
        "create a",
    );
    let listing = ok(store.list(&NodeFilter::All).await, "list");
    assert_eq!(listing.items, vec![a.clone()]);
    let mut watch = ok(
        store.watch(&NodeFilter::All, Some(&listing.revision)).await,
        "watch",
    );

    let b = ok(
        store.create(&object("status-b", "node-2")).await,
        "create b",
    );
    let va = ok(
        store
            .write_status("status-a", &status(1), &version(&a))
            .await,
        "write status a",
    );
    let b2 = ok(
        store
            .update_spec("status-b", &spec("node-2", 0), None)
            .await,
        "update b",
    );
    let a_deleted = ok(store.delete("status-a", None).await, "delete a");
    let b_deleted = ok(
        store.delete("status-b", Some(&version(&b2))).await,
        "delete b",
    );

    assert_eq!(
        next_events(&mut watch, 5).await,
        vec![
            WatchEvent::Added(b),
            WatchEvent::Modified(with_status(&a, &status(1), &va)),
            WatchEvent::Modified(b2),
            WatchEvent::Deleted(a_deleted),
            WatchEvent::Deleted(b_deleted),
        ]
    );
}

/// A watch without a revision starts now: earlier changes are not replayed.
pub async fn watch_from_now_sees_only_later_changes(fx: impl Fixture) {
    let store = fx.store();
    let a = ok(
        store.create(&object("status-a", "node-1")).await,
        "create a",
    );
    ok(
        store
            .write_status("status-a", &status(1), &version(&a))
            .await,
        "write status a",
    );
    let mut watch = ok(store.watch(&NodeFilter::All, None).await, "watch");
    let b = ok(
        store.create(&object("status-b", "node-1")).await,
        "create b",
    );
    assert_eq!(next_event(&mut watch).await, WatchEvent::Added(b));
}

/// A node-filtered watch never shows objects of other nodes; an object whose `spec.node` moves
/// into the node is `Added`, one moving out is `Deleted` with the resource version of the move.
/// The content of that `Deleted` is not pinned down: Kubernetes sends the object as it was
/// before the move (what the watcher last saw), SQLite and etcd the object after it; a consumer
/// may rely on its name and resource version only (see `nodestatus_store::WatchEvent`).
pub async fn watch_filtered_by_node_sees_only_that_node(fx: impl Fixture) {
    let store = fx.store();
    let node = NodeFilter::Node("node-1".into());
    let a = ok(
        store.create(&object("status-a", "node-1")).await,
        "create a",
    );
    let b = ok(
        store.create(&object("status-b", "node-2")).await,
        "create b",
    );
    let listing = ok(store.list(&node).await, "list node-1");
    assert_eq!(listing.items, vec![a.clone()]);
    let mut watch = ok(
        store.watch(&node, Some(&listing.revision)).await,
        "watch node-1",
    );

    ok(
        store
            .write_status("status-b", &status(1), &version(&b))
            .await,
        "status b (node-2)",
    );
    let va = ok(
        store
            .write_status("status-a", &status(2), &version(&a))
            .await,
        "status a (node-1)",
    );
    let b_in = ok(
        store
            .update_spec("status-b", &spec("node-1", 10), None)
            .await,
        "move b to node-1",
    );
    let a_out = ok(
        store
            .update_spec("status-a", &spec("node-2", 10), None)
            .await,
        "move a to node-2",
    );
    ok(
        store
            .write_status("status-a", &status(3), &version(&a_out))
            .await,
        "status a (node-2)",
    );
    let c = ok(
        store.create(&object("status-c", "node-2")).await,
        "create c (node-2)",
    );
    let d = ok(
        store.create(&object("status-d", "node-1")).await,
        "create d (node-1)",
    );
    ok(
        store.delete("status-c", Some(&version(&c))).await,
        "delete c (node-2)",
    );
    let b_deleted = ok(store.delete("status-b", None).await, "delete b (node-1)");

    let sees_status = fx.node_watch_sees_status_writes();
    let mut events = next_events(&mut watch, if sees_status { 5 } else { 4 }).await;
    // The move-out: its name and resource version are what every backend agrees on.
    let out_at = if sees_status { 2 } else { 1 };
    let moved_out = match events.get(out_at) {
        Some(WatchEvent::Deleted(obj)) => (obj.metadata.name.clone(), version(obj)),
        other => panic!("event {out_at} is not the move-out Deleted: {other:?}"),
    };
    assert_eq!(moved_out, (a_out.metadata.name.clone(), version(&a_out)));
    events.remove(out_at);
    let mut expected = Vec::new();
    if sees_status {
        expected.push(WatchEvent::Modified(with_status(&a, &status(2), &va)));
    }
    expected.extend([
        WatchEvent::Added(b_in),
        WatchEvent::Added(d.clone()),
        WatchEvent::Deleted(b_deleted),
    ]);
    assert_eq!(events, expected);
    assert_eq!(ok(store.list(&node).await, "list node-1").items, vec![d]);
}

/// How many status writes another node makes while a node's watch is open.
const OTHER_NODE_WRITES: u32 = 50;

/// A node's watch gets no event at all for another node's status writes: after 50 of them,
/// the first event it delivers is the next change of its own node.
pub async fn watch_filtered_by_node_hears_nothing_of_other_nodes_status_writes(fx: impl Fixture) {
    let store = fx.store();
    let node = NodeFilter::Node("node-1".into());
    ok(
        store.create(&object("status-a", "node-1")).await,
        "create a",
    );
    let b = ok(
        store.create(&object("status-b", "node-2")).await,
        "create b",
    );
    let listing = ok(store.list(&node).await, "list node-1");
    let mut watch = ok(
        store.watch(&node, Some(&listing.revision)).await,
        "watch node-1",
    );
    let mut at = version(&b);
    for n in 0..OTHER_NODE_WRITES {
        at = ok(
            store.write_status("status-b", &status(n), &at).await,
            "status b (node-2)",
        );
    }
    let c = ok(
        store.create(&object("status-c", "node-1")).await,
        "create c (node-1)",
    );
    assert_eq!(next_event(&mut watch).await, WatchEvent::Added(c));
}

/// A client that drops its watch and its handle, reconnects and watches from the last revision
/// it saw gets exactly the changes it missed, then the live ones.
pub async fn watch_resumes_after_reconnect_with_exactly_the_missed_events(mut fx: impl Fixture) {
    let store = fx.store();
    let listing = ok(store.list(&NodeFilter::All).await, "list");
    let mut watch = ok(
        store.watch(&NodeFilter::All, Some(&listing.revision)).await,
        "watch",
    );
    let a = ok(
        store.create(&object("status-a", "node-1")).await,
        "create a",
    );
    let va = ok(
        store
            .write_status("status-a", &status(1), &version(&a))
            .await,
        "status a",
    );
    let a1 = with_status(&a, &status(1), &va);
    assert_eq!(
        next_events(&mut watch, 2).await,
        vec![
            WatchEvent::Added(a.clone()),
            WatchEvent::Modified(a1.clone())
        ]
    );
    let last_seen = va;
    drop(watch);

    let b = ok(
        store.create(&object("status-b", "node-2")).await,
        "create b (missed)",
    );
    let va2 = ok(
        store.write_status("status-a", &status(2), &last_seen).await,
        "status a (missed)",
    );
    let a_deleted = ok(store.delete("status-a", None).await, "delete a (missed)");
    drop(store);
    fx.reconnect().await;

    let store = fx.store();
    let mut watch = ok(
        store.watch(&NodeFilter::All, Some(&last_seen)).await,
        "watch again",
    );
    let c = ok(
        store.create(&object("status-c", "node-1")).await,
        "create c (live)",
    );
    assert_eq!(
        next_events(&mut watch, 4).await,
        vec![
            WatchEvent::Added(b),
            WatchEvent::Modified(with_status(&a1, &status(2), &va2)),
            WatchEvent::Deleted(a_deleted),
            WatchEvent::Added(c),
        ]
    );
}

/// A watch opened before the backend restarts keeps delivering changes made after the restart:
/// as they are, or (a backend whose watch history does not survive its restart) through
/// `Restarted`, which `resynced` turns into the same changes.
pub async fn watch_keeps_delivering_after_backend_restart(mut fx: impl Fixture) {
    let store = fx.store();
    let listing = ok(store.list(&NodeFilter::All).await, "list");
    let stream = ok(
        store.watch(&NodeFilter::All, Some(&listing.revision)).await,
        "watch",
    );
    // A backend that cannot replay across its restart (a restarted Kubernetes API server's
    // watch cache starts at the current revision) sends `Restarted`; resynced, that is the
    // same changes.
    let mut watch = resynced(&listing, stream);
    let a = ok(
        store.create(&object("status-a", "node-1")).await,
        "create a",
    );
    assert_eq!(next_event(&mut watch).await, WatchEvent::Added(a.clone()));
    drop(store);

    fx.restart_backend().await;
    let store = fx.store();
    let current = get_when_serving(store.as_ref(), "status-a").await;
    assert_eq!(current, a);
    let va = ok(
        store
            .write_status("status-a", &status(1), &version(&a))
            .await,
        "status a after restart",
    );
    let b = ok(
        store.create(&object("status-b", "node-1")).await,
        "create b after restart",
    );
    assert_eq!(
        next_events(&mut watch, 2).await,
        vec![
            WatchEvent::Modified(with_status(&a, &status(1), &va)),
            WatchEvent::Added(b)
        ]
    );
}

/// Reads an object, retrying while a restarted backend still answers `Unavailable`.
async fn get_when_serving(store: &dyn Datastore, name: &str) -> CalicoNodeStatus {
    let mut last_error = None;
    for _ in 0..300 {
        match store.get(name).await {
            Ok(obj) => return obj,
            Err(e) if e.is_retryable() => {
                last_error = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("get {name} after the restart: {e}"),
        }
    }
    panic!("the backend still does not serve 30 s after the restart: {last_error:?}")
}

/// A consumer that follows changes (not a cache) and falls behind compacted history gets,
/// through `resynced`, exactly what it missed: the changed object, then the deleted one (at
/// the list's revision), not the unchanged one, resource versions never going backwards.
pub async fn restarted_watch_resynced_gives_missed_changes_and_deletes_in_order(
    mut fx: impl Fixture,
) {
    let store = fx.store();
    for name in ["status-a", "status-b", "status-c"] {
        ok(store.create(&object(name, "node-1")).await, name);
    }
    let seen = ok(store.list(&NodeFilter::All).await, "list");
    let b = seen.items[1].clone();
    let vb = ok(
        store
            .write_status("status-b", &status(1), &version(&b))
            .await,
        "status b",
    );
    ok(store.delete("status-a", None).await, "delete a");
    drop(store);
    fx.compact().await;

    let store = fx.store();
    let now = ok(store.list(&NodeFilter::All).await, "list now");
    let watch = ok(
        store.watch(&NodeFilter::All, Some(&seen.revision)).await,
        "watch from the compacted revision",
    );
    let mut changes = resynced(&seen, watch);
    let mut a_deleted = seen.items[0].clone();
    a_deleted.metadata.resource_version = Some(now.revision.clone());
    assert_eq!(
        next_events(&mut changes, 2).await,
        [
            WatchEvent::Modified(with_status(&b, &status(1), &vb)),
            WatchEvent::Deleted(a_deleted),
        ]
    );

    let c = seen.items[2].clone();
    let vc = ok(
        store
            .write_status("status-c", &status(2), &version(&c))
            .await,
        "status c",
    );
    assert_eq!(
        next_event(&mut changes).await,
        WatchEvent::Modified(with_status(&c, &status(2), &vc))
    );
}

/// A watch from a revision whose history was compacted starts with `Restarted` holding exactly
/// the current (filtered) list, then continues with later changes.
pub async fn watch_from_compacted_revision_restarts_with_the_full_list(mut fx: impl Fixture) {
    let store = fx.store();
    let a = ok(
        store.create(&object("status-a", "node-1")).await,
        "create a",
    );
    ok(
        store.create(&object("status-b", "node-2")).await,
        "create b",
    );
    let old = ok(store.list(&NodeFilter::All).await, "list").revision;
    ok(
        store
            .write_status("status-a", &status(1), &version(&a))
            .await,
        "status a",
    );
    ok(
        store.create(&object("status-c", "node-1")).await,
        "create c",
    );
    ok(store.delete("status-b", None).await, "delete b");
    drop(store);
    fx.compact().await;

    let store = fx.store();
    let node = NodeFilter::Node("node-1".into());
    let all_now: Listing = ok(store.list(&NodeFilter::All).await, "list");
    let node_now: Listing = ok(store.list(&node).await, "list node-1");
    let mut watch_all = ok(
        store.watch(&NodeFilter::All, Some(&old)).await,
        "watch all from the old revision",
    );
    let mut watch_node = ok(
        store.watch(&node, Some(&old)).await,
        "watch node-1 from the old revision",
    );
    assert_eq!(
        next_event(&mut watch_all).await,
        WatchEvent::Restarted(all_now.clone())
    );
    assert_eq!(
        next_event(&mut watch_node).await,
        WatchEvent::Restarted(node_now)
    );

    let c = all_now
        .items
        .iter()
        .find(|o| o.metadata.name.as_deref() == Some("status-c"))
        .cloned();
    let Some(c) = c else {
        panic!("status-c missing from {all_now:?}")
    };
    let vc = ok(
        store
            .write_status("status-c", &status(2), &version(&c))
            .await,
        "status c",
    );
    let status_written = WatchEvent::Modified(with_status(&c, &status(2), &vc));
    let edited = ok(
        store
            .update_spec("status-c", &spec("node-1", 20), Some(&vc))
            .await,
        "edit c",
    );
    let spec_edited = WatchEvent::Modified(edited);
    assert_eq!(
        next_events(&mut watch_all, 2).await,
        vec![status_written.clone(), spec_edited.clone()]
    );
    let mut expected = Vec::new();
    if fx.node_watch_sees_status_writes() {
        expected.push(status_written);
    }
    expected.push(spec_edited);
    assert_eq!(next_events(&mut watch_node, expected.len()).await, expected);
}

/// How many status writes race the spec edits.
const STATUS_WRITES: usize = 1_000;
/// How many tasks share the status writes.
const WRITERS: usize = 4;
/// How many spec edits an operator makes meanwhile (the last sets `updatePeriodSeconds` to this).
const SPEC_EDITS: u32 = 20;

/// 1,000 status writes from several tasks (read, compare-and-swap, re-read and retry on
/// `Conflict`) race a series of spec edits: every write is one event, in order; no spec edit
/// is ever undone by a status write; the last edit and one of the written statuses remain.
pub async fn concurrent_status_writes_never_lose_a_spec_edit(fx: impl Fixture) {
    let store = fx.store();
    let mut sent = object("status-a", "node-1");
    sent.spec = spec("node-1", 0);
    let created = ok(store.create(&sent).await, "create");
    let mut watch = ok(
        store
            .watch(&NodeFilter::All, Some(&version(&created)))
            .await,
        "watch",
    );
    let done = Arc::new(AtomicUsize::new(0));

    let mut writers = JoinSet::new();
    for task in 0..WRITERS {
        let (store, done) = (store.clone(), done.clone());
        writers.spawn(async move {
            let mut written = Vec::new();
            for i in 0..STATUS_WRITES / WRITERS {
                let status = status(u32::try_from(task * 100_000 + i).unwrap_or(u32::MAX));
                let version = write_with_retry(store.as_ref(), &status).await;
                done.fetch_add(1, Ordering::Relaxed);
                written.push((version, status));
            }
            written
        });
    }
    let editor = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let mut edits = Vec::new();
            for period in 1..=SPEC_EDITS {
                // Spread the edits over the whole run of status writes.
                let due = STATUS_WRITES * period as usize / (SPEC_EDITS as usize + 1);
                while done.load(Ordering::Relaxed) < due {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                edits.push(ok(
                    store
                        .update_spec("status-a", &spec("node-1", period), None)
                        .await,
                    "spec edit",
                ));
            }
            edits
        })
    };
    let mut statuses: HashMap<String, CalicoNodeStatusStatus> = HashMap::new();
    while let Some(written) = writers.join_next().await {
        let written = match written {
            Ok(written) => written,
            Err(e) => panic!("a status writer failed: {e}"),
        };
        for (version, status) in written {
            assert!(
                statuses.insert(version.clone(), status).is_none(),
                "version {version} returned twice"
            );
        }
    }
    let edits = match editor.await {
        Ok(edits) => edits,
        Err(e) => panic!("the spec editor failed: {e}"),
    };
    assert_eq!(statuses.len(), STATUS_WRITES);
    let final_obj = ok(store.get("status-a").await, "get");
    assert_eq!(final_obj.spec, spec("node-1", SPEC_EDITS));

    let events = next_events(&mut watch, STATUS_WRITES + SPEC_EDITS as usize).await;
    let edits_by_version: HashMap<String, CalicoNodeStatus> =
        edits.into_iter().map(|e| (version(&e), e)).collect();
    let mut periods_seen = Vec::new();
    let mut seen_versions = HashSet::new();
    for event in &events {
        let WatchEvent::Modified(obj) = event else {
            panic!("expected only Modified events, got {event:?}")
        };
        let v = version(obj);
        assert!(
            seen_versions.insert(v.clone()),
            "version {v} delivered twice"
        );
        match (statuses.get(&v), edits_by_version.get(&v)) {
            (Some(status), None) => {
                assert_eq!(obj.status.as_ref(), Some(status), "status of version {v}")
            }
            (None, Some(edit)) => assert_eq!(obj, edit, "spec edit at version {v}"),
            _ => panic!("event at version {v} matches no write"),
        }
        if periods_seen.last() != Some(&obj.spec.update_period_seconds) {
            periods_seen.push(obj.spec.update_period_seconds);
        }
    }
    // Every edit appears, in order, and no status write brought an older spec back.
    assert_eq!(periods_seen, (0..=SPEC_EDITS).collect::<Vec<_>>());
    assert_eq!(events.last().map(event_object), Some(&final_obj));
    let final_status = final_obj.status.as_ref();
    assert!(
        statuses.values().any(|s| Some(s) == final_status),
        "final status was never written: {final_status:?}"
    );
}

/// Reads the object and writes `status` on its version, re-reading after each `Conflict`.
async fn write_with_retry(store: &dyn Datastore, status: &CalicoNodeStatusStatus) -> String {
    loop {
        let current = ok(store.get("status-a").await, "get before a status write");
        match store
            .write_status("status-a", status, &version(&current))
            .await
        {
            Ok(version) => return version,
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => panic!("status write: {e}"),
        }
    }
}

/// An object above the store's size limit is refused with `TooLarge` (not a hang, not a
/// partial write): on create nothing is stored, on a status write the old status stays.
pub async fn too_large_object_is_rejected(fx: impl Fixture) {
    let store = fx.store();
    let limit = fx.max_object_bytes();
    // Each route encodes to more than 100 bytes of JSON.
    let routes = u32::try_from(limit / 100 + 1).unwrap_or(u32::MAX);
    let mut huge = status(1);
    huge.routes = Some(RouteStatus {
        routes_v4: (0..routes).map(route).collect(),
        routes_v6: Vec::new(),
        truncated: None,
    });
    let too_large = |name: &str| Failure::TooLarge {
        name: name.into(),
        limit,
        size_above_limit: true,
    };

    let mut sent = object("status-big", "node-1");
    sent.status = Some(huge.clone());
    assert_eq!(failure(store.create(&sent).await), too_large("status-big"));
    assert_eq!(
        failure(store.get("status-big").await),
        Failure::NotFound("status-big".into())
    );

    let created = ok(store.create(&object("status-a", "node-1")).await, "create");
    let v1 = ok(
        store
            .write_status("status-a", &status(2), &version(&created))
            .await,
        "write status",
    );
    assert_eq!(
        failure(store.write_status("status-a", &huge, &v1).await),
        too_large("status-a")
    );
    assert_eq!(
        ok(store.get("status-a").await, "get"),
        with_status(&created, &status(2), &v1)
    );
}
