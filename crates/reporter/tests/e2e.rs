//! The agent end to end: real BIRD 1.6, 2.0, 2.17 and 3 daemons in network namespaces (nodestatus-lab),
//! real datastores (SQLite; etcd started by its crate's harness), the agent in-process with
//! its HTTP endpoints. Each test is one behaviour of SPEC.md / DESIGN.md; the main ones run
//! against both SQLite and etcd. Periods are 1-2 s so the suite stays fast; waits allow for a
//! loaded machine but stay within the behaviour's own bound (for "within one period": the
//! period plus 2 s for BIRD to settle and the collection and write to finish).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    ALL, Store, TestLab, get, lab, resource, spec, start_agent, wait_for, wait_for_lab_status,
};
use nodestatus_api::NodeStatusClass;
use nodestatus_lab::BirdVersion;
use nodestatus_store::Datastore;

const AGENT: NodeStatusClass = NodeStatusClass::Agent;
const BGP: NodeStatusClass = NodeStatusClass::Bgp;
const ROUTES: NodeStatusClass = NodeStatusClass::Routes;

/// Slack on top of a period: BIRD settling, one collection, one write, the poll.
const SLACK: Duration = Duration::from_secs(2);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn create(
    ds: &Arc<dyn Datastore>,
    obj: nodestatus_api::CalicoNodeStatus,
) -> nodestatus_api::CalicoNodeStatus {
    ds.create(&obj)
        .await
        .unwrap_or_else(|e| panic!("creating: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Scenarios, each run against one or both datastores.

async fn applied_resource_gets_the_labs_status_within_its_period(bird: BirdVersion, store: Store) {
    let test = lab(bird, 3);
    let ds = store.datastore();
    let agent = start_agent(&test.lab, "n1", ds.clone());
    let before = jiff::Timestamp::now();
    create(&ds, resource("n1-status", "n1", ALL, 2)).await;
    let obj = wait_for_lab_status(&ds, &test, "n1", "n1-status", ALL, secs(2) + SLACK).await;

    // lastUpdated: RFC 3339 UTC with whole seconds, the time of the write.
    let stamp = obj.status.and_then(|s| s.last_updated).unwrap_or_default();
    assert!(
        stamp.len() == 20 && stamp.ends_with('Z'),
        "lastUpdated {stamp:?}"
    );
    let written: jiff::Timestamp = stamp
        .parse()
        .unwrap_or_else(|e| panic!("lastUpdated {stamp:?}: {e}"));
    let after = jiff::Timestamp::now();
    assert!(
        written.as_second() >= before.as_second() && written.as_second() <= after.as_second(),
        "lastUpdated {written} not between {before} and {after}"
    );
    assert_eq!(agent.get("/readyz").await.0, 200);
    assert_eq!(agent.get("/healthz").await.0, 200);
    agent.stop().await;
}

async fn steady_bird_means_no_writes(bird: BirdVersion, store: Store) {
    let mut test = lab(bird, 2);
    test.quiet("n1");
    let ds = store.datastore();
    let agent = start_agent(&test.lab, "n1", ds.clone());
    create(&ds, resource("steady", "n1", ALL, 1)).await;
    wait_for_lab_status(&ds, &test, "n1", "steady", ALL, secs(1) + SLACK).await;
    // Let the write's own watch event pass, then watch ten periods.
    tokio::time::sleep(secs(1)).await;
    let revision = store.revision().await;
    let writes = agent.metric("nodestatus_status_writes_total").await;
    let collections = agent.metric("nodestatus_collections_total").await;
    tokio::time::sleep(secs(10)).await;
    assert_eq!(
        store.revision().await,
        revision,
        "the datastore revision moved"
    );
    assert_eq!(agent.metric("nodestatus_status_writes_total").await, writes);
    let collected = agent.metric("nodestatus_collections_total").await - collections;
    assert!(
        (9.0..=11.0).contains(&collected),
        "{collected} collections in 10 periods"
    );
    agent.stop().await;
}

async fn spec_edits_racing_the_agents_writes_are_never_lost(bird: BirdVersion, store: Store) {
    let test = lab(bird, 2);
    let ds = store.datastore();
    let agent = start_agent(&test.lab, "n1", ds.clone());
    create(&ds, resource("raced", "n1", &[AGENT], 1)).await;
    wait_for_lab_status(&ds, &test, "n1", "raced", &[AGENT], secs(1) + SLACK).await;
    // Every edit changes the classes, so the agent writes after each one. Edits come in
    // bursts of three, back to back, so that later ones land while the agent writes for
    // earlier ones; the bursts are 0 to 300 ms apart.
    let cycle: [&[NodeStatusClass]; 5] = [&[AGENT, BGP], &[BGP, ROUTES], &[ROUTES], ALL, &[AGENT]];
    let mut rng = 7u64;
    let mut last = spec("n1", &[AGENT], 1);
    for i in 0..45 {
        last = spec("n1", cycle[i % cycle.len()], 1 + (i % 2) as u32);
        let updated = ds
            .update_spec("raced", &last, None)
            .await
            .unwrap_or_else(|e| panic!("edit {i}: {e}"));
        assert_eq!(updated.spec, last, "edit {i} was not applied");
        if i % 3 == 2 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            tokio::time::sleep(Duration::from_millis((rng >> 33) % 300)).await;
        }
        assert_eq!(get(&ds, "raced").await.spec, last, "edit {i} was lost");
    }
    let obj = wait_for_lab_status(&ds, &test, "n1", "raced", &last.classes, secs(2) + SLACK).await;
    assert_eq!(obj.spec, last);
    let conflicts = agent.metric("nodestatus_write_conflicts_total").await;
    let writes = agent.metric("nodestatus_status_writes_total").await;
    eprintln!(
        "{} spec race: {writes} status writes, {conflicts} write conflicts",
        store_kind(&store)
    );
    agent.stop().await;
}

fn store_kind(store: &Store) -> &'static str {
    store.datastore().kind()
}

// ---------------------------------------------------------------------------------------------
// SQLite.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bird_1_6_applied_resource_gets_the_labs_status_within_its_period() {
    applied_resource_gets_the_labs_status_within_its_period(BirdVersion::V1_6, Store::sqlite())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bird_2_applied_resource_gets_the_labs_status_within_its_period() {
    applied_resource_gets_the_labs_status_within_its_period(BirdVersion::V2, Store::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bird_2_17_applied_resource_gets_the_labs_status_within_its_period() {
    applied_resource_gets_the_labs_status_within_its_period(BirdVersion::V2_17, Store::sqlite())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bird_3_applied_resource_gets_the_labs_status_within_its_period() {
    applied_resource_gets_the_labs_status_within_its_period(BirdVersion::V3, Store::sqlite()).await;
}

/// BIRD 3 prints nothing that changes between collections of a steady lab either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bird_3_steady_bird_means_no_writes_for_ten_periods() {
    steady_bird_means_no_writes(BirdVersion::V3, Store::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_steady_bird_means_no_writes_for_ten_periods() {
    steady_bird_means_no_writes(BirdVersion::V1_6, Store::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_spec_edits_racing_the_agents_writes_are_never_lost() {
    spec_edits_racing_the_agents_writes_are_never_lost(BirdVersion::V2, Store::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_disabled_session_shows_within_one_period() {
    let mut test = lab(BirdVersion::V2, 2);
    let store = Store::sqlite();
    let ds = store.datastore();
    let agent = start_agent(&test.lab, "n1", ds.clone());
    create(&ds, resource("watched", "n1", ALL, 2)).await;
    wait_for_lab_status(&ds, &test, "n1", "watched", ALL, secs(2) + SLACK).await;
    let mesh = "nodestatus_bgp_session_up{name=\"Mesh_10_99_0_12\",family=\"ipv4\",peer_ip=\"10.99.0.12\",type=\"NodeMesh\"}";
    assert_eq!(agent.metric(mesh).await, 1.0);

    // n2 is the active side of the session: disabling it there leaves n1 `Passive`, and the
    // routes n2 announced gone.
    test.disable("n2", "Mesh_10_99_0_11");
    wait_for_lab_status(&ds, &test, "n1", "watched", ALL, secs(2) + SLACK).await;
    assert_eq!(agent.metric(mesh).await, 0.0);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_period_zero_stops_refreshing_and_keeps_the_status() {
    let mut test = lab(BirdVersion::V1_6, 2);
    let store = Store::sqlite();
    let ds = store.datastore();
    let agent = start_agent(&test.lab, "n1", ds.clone());
    create(&ds, resource("once", "n1", ALL, 1)).await;
    wait_for_lab_status(&ds, &test, "n1", "once", ALL, secs(1) + SLACK).await;
    ds.update_spec("once", &spec("n1", ALL, 0), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The spec change is collected at once (and written if BIRD changed meanwhile), then no more.
    tokio::time::sleep(secs(1)).await;
    let kept = get(&ds, "once").await;
    let collections = agent.metric("nodestatus_collections_total").await;

    test.disable("n2", "Mesh_10_99_0_11");
    tokio::time::sleep(secs(3)).await;
    let now = get(&ds, "once").await;
    assert_eq!(
        now.metadata.resource_version, kept.metadata.resource_version,
        "written after period 0"
    );
    assert_eq!(now.status, kept.status);
    assert_eq!(
        agent.metric("nodestatus_collections_total").await,
        collections
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_changed_classes_are_followed_and_removed_ones_disappear() {
    let test = lab(BirdVersion::V2, 2);
    let store = Store::sqlite();
    let ds = store.datastore();
    let agent = start_agent(&test.lab, "n1", ds.clone());
    create(&ds, resource("classes", "n1", ALL, 30)).await;
    wait_for_lab_status(&ds, &test, "n1", "classes", ALL, SLACK).await;
    // A 30 s period: each change shows at once, not at the next tick.
    for classes in [&[AGENT][..], &[BGP, ROUTES], &[ROUTES], ALL] {
        ds.update_spec("classes", &spec("n1", classes, 30), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let obj = wait_for_lab_status(&ds, &test, "n1", "classes", classes, SLACK).await;
        let status = obj.status.unwrap_or_default();
        let present = [
            status.agent.is_some(),
            status.bgp.is_some(),
            status.routes.is_some(),
        ];
        let wanted = [AGENT, BGP, ROUTES].map(|c| classes.contains(&c));
        assert_eq!(present, wanted, "parts present for {classes:?}");
    }
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_deleted_resource_is_no_longer_written() {
    let mut test = lab(BirdVersion::V1_6, 2);
    let store = Store::sqlite();
    let ds = store.datastore();
    let agent = start_agent(&test.lab, "n1", ds.clone());
    create(&ds, resource("gone", "n1", ALL, 1)).await;
    wait_for_lab_status(&ds, &test, "n1", "gone", ALL, secs(1) + SLACK).await;
    ds.delete("gone", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for("the agent to drop the resource", SLACK, || async {
        (agent.metric("nodestatus_resources_watched").await == 0.0).then_some(())
    })
    .await;
    let revision = store.revision().await;
    let collections = agent.metric("nodestatus_collections_total").await;
    // BIRD changes; an agent still reporting would collect and write.
    test.disable("n2", "Mesh_10_99_0_11");
    tokio::time::sleep(secs(3)).await;
    assert_eq!(store.revision().await, revision);
    assert_eq!(
        agent.metric("nodestatus_collections_total").await,
        collections
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_resource_for_another_node_is_never_touched() {
    let test = lab(BirdVersion::V2, 2);
    let store = Store::sqlite();
    let ds = store.datastore();
    let agent = start_agent(&test.lab, "n1", ds.clone());
    let other = create(&ds, resource("theirs", "n2", ALL, 1)).await;
    create(&ds, resource("mine", "n1", &[AGENT], 1)).await;
    wait_for_lab_status(&ds, &test, "n1", "mine", &[AGENT], secs(1) + SLACK).await;
    tokio::time::sleep(secs(3)).await;
    assert_eq!(get(&ds, "theirs").await, other);
    assert_eq!(agent.metric("nodestatus_resources_watched").await, 1.0);
    // Moving a resource to the node makes the agent take it on; moving it away, let go.
    ds.update_spec("theirs", &spec("n1", &[AGENT], 1), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for_lab_status(&ds, &test, "n1", "theirs", &[AGENT], secs(1) + SLACK).await;
    let moved = ds
        .update_spec("mine", &spec("n2", &[AGENT], 1), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(secs(3)).await;
    assert_eq!(get(&ds, "mine").await, moved);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_resources_of_a_node_share_one_collection_per_tick() {
    let test = lab(BirdVersion::V1_6, 2);
    let store = Store::sqlite();
    let ds = store.datastore();
    let agent = start_agent(&test.lab, "n1", ds.clone());
    create(&ds, resource("bgp", "n1", &[BGP], 1)).await;
    create(&ds, resource("routes", "n1", &[ROUTES], 1)).await;
    wait_for_lab_status(&ds, &test, "n1", "bgp", &[BGP], secs(1) + SLACK).await;
    wait_for_lab_status(&ds, &test, "n1", "routes", &[ROUTES], secs(1) + SLACK).await;
    let collections = agent.metric("nodestatus_collections_total").await;
    let served = agent.metric("nodestatus_collection_resources_total").await;
    tokio::time::sleep(secs(5)).await;
    let collections = agent.metric("nodestatus_collections_total").await - collections;
    let served = agent.metric("nodestatus_collection_resources_total").await - served;
    assert!(
        (4.0..=6.0).contains(&collections),
        "{collections} collections in 5 periods"
    );
    assert_eq!(
        served,
        2.0 * collections,
        "every collection served both resources"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_locked_database_then_one_catch_up_write_of_the_latest_status() {
    let mut test = lab(BirdVersion::V2, 2);
    test.quiet("n1");
    let store = Store::sqlite();
    let ds = store.datastore();
    let agent = start_agent(&test.lab, "n1", ds.clone());
    create(&ds, resource("outage", "n1", ALL, 1)).await;
    wait_for_lab_status(&ds, &test, "n1", "outage", ALL, secs(1) + SLACK).await;
    tokio::time::sleep(secs(1)).await;
    let revision = store.revision().await;
    let writes = agent.metric("nodestatus_status_writes_total").await;

    // Another process holds SQLite's write lock: every write of the agent times out.
    let path = match &store {
        Store::Sqlite { store, .. } => store.path().to_owned(),
        Store::Etcd { .. } => unreachable!("a SQLite test"),
    };
    let (release, released) = std::sync::mpsc::channel::<()>();
    let locker = tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch("BEGIN IMMEDIATE")
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = released.recv();
        conn.execute_batch("COMMIT")
            .unwrap_or_else(|e| panic!("{e}"));
    });
    test.disable("n2", "Mesh_10_99_0_11");
    wait_for("failed writes", secs(5), || async {
        (agent
            .metric("nodestatus_datastore_errors_total{operation=\"write\"}")
            .await
            >= 2.0)
            .then_some(())
    })
    .await;
    test.disable("n1", "Mesh_fd99__12");
    tokio::time::sleep(secs(2)).await;
    let _ = release.send(());
    locker.await.unwrap_or_else(|e| panic!("{e}"));

    wait_for_lab_status(&ds, &test, "n1", "outage", ALL, BACKOFF_MAX + SLACK).await;
    tokio::time::sleep(secs(3)).await;
    assert_eq!(
        agent.metric("nodestatus_status_writes_total").await - writes,
        1.0
    );
    assert_eq!(store.revision().await, revision + 1);
    agent.stop().await;
}

const BACKOFF_MAX: Duration = common::BACKOFF.max;

// ---------------------------------------------------------------------------------------------
// etcd.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_bird_1_6_applied_resource_gets_the_labs_status_within_its_period() {
    applied_resource_gets_the_labs_status_within_its_period(BirdVersion::V1_6, Store::etcd().await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_steady_bird_means_no_writes_for_ten_periods() {
    steady_bird_means_no_writes(BirdVersion::V2, Store::etcd().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_spec_edits_racing_the_agents_writes_are_never_lost() {
    spec_edits_racing_the_agents_writes_are_never_lost(BirdVersion::V1_6, Store::etcd().await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_stopped_then_restarted_gets_one_catch_up_write_of_the_latest_status() {
    let mut test: TestLab = lab(BirdVersion::V1_6, 2);
    test.quiet("n1");
    let mut store = Store::etcd().await;
    let ds = store.datastore();
    let agent = start_agent(&test.lab, "n1", ds.clone());
    create(&ds, resource("outage", "n1", ALL, 1)).await;
    wait_for_lab_status(&ds, &test, "n1", "outage", ALL, secs(1) + SLACK).await;
    tokio::time::sleep(secs(1)).await;
    let revision = store.revision().await;
    let writes = agent.metric("nodestatus_status_writes_total").await;

    let Store::Etcd { server, .. } = &mut store else {
        unreachable!("an etcd test")
    };
    server
        .stop()
        .await
        .unwrap_or_else(|e| panic!("stopping etcd: {e}"));
    // BIRD changes twice while etcd is down; collection goes on.
    test.disable("n2", "Mesh_10_99_0_11");
    wait_for("failed writes", secs(10), || async {
        (agent
            .metric("nodestatus_datastore_errors_total{operation=\"write\"}")
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    test.disable("n1", "Mesh_fd99__12");
    let collections = agent.metric("nodestatus_collections_total").await;
    tokio::time::sleep(secs(2)).await;
    assert!(
        agent.metric("nodestatus_collections_total").await > collections,
        "collection stopped"
    );
    server
        .start_again()
        .await
        .unwrap_or_else(|e| panic!("restarting etcd: {e}"));

    wait_for_lab_status(
        &ds,
        &test,
        "n1",
        "outage",
        ALL,
        BACKOFF_MAX + secs(3) + SLACK,
    )
    .await;
    tokio::time::sleep(secs(3)).await;
    assert_eq!(
        agent.metric("nodestatus_status_writes_total").await - writes,
        1.0
    );
    assert_eq!(store.revision().await, revision + 1);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_not_ready_until_the_first_list_but_healthy_throughout() {
    let test = lab(BirdVersion::V2, 2);
    let mut store = Store::etcd().await;
    let ds = store.datastore();
    let Store::Etcd { server, .. } = &mut store else {
        unreachable!("an etcd test")
    };
    server
        .stop()
        .await
        .unwrap_or_else(|e| panic!("stopping etcd: {e}"));
    let agent = start_agent(&test.lab, "n1", ds.clone());
    tokio::time::sleep(secs(2)).await;
    assert_eq!(agent.get("/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(
        agent.get("/readyz").await,
        (503, "waiting for the first list of resources\n".to_owned())
    );
    assert!(
        agent
            .metric("nodestatus_datastore_errors_total{operation=\"list\"}")
            .await
            >= 1.0
    );
    server
        .start_again()
        .await
        .unwrap_or_else(|e| panic!("restarting etcd: {e}"));
    wait_for("readiness", BACKOFF_MAX + secs(5), || async {
        (agent.get("/readyz").await == (200, "ready\n".to_owned())).then_some(())
    })
    .await;
    create(&ds, resource("late", "n1", ALL, 1)).await;
    wait_for_lab_status(&ds, &test, "n1", "late", ALL, secs(1) + SLACK).await;
    agent.stop().await;
}
