//! The agent and an operator on a three-member etcd cluster (real `etcd` processes on
//! loopback, started by the etcd crate's harness and killed by PID) while members die: first
//! one member, which then comes back, then the leader. Each operator edit must succeed without
//! an error and be followed by the agent's status for it, written through the survivors:
//! nothing lost, nothing surfaced but log lines. The recovery times are printed (not asserted).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{lab, resource, spec, start_agent, wait_for_lab_status};
use nodestatus_api::NodeStatusClass;
use nodestatus_lab::BirdVersion;
use nodestatus_store::Datastore;
use nodestatus_store_etcd::EtcdStore;
use nodestatus_store_etcd::testing::EtcdCluster;

const AGENT: NodeStatusClass = NodeStatusClass::Agent;
const BGP: NodeStatusClass = NodeStatusClass::Bgp;
const ROUTES: NodeStatusClass = NodeStatusClass::Routes;

/// How long the agent may take to write the status for an edit: the watch event, one
/// collection and one write, plus an etcd election when the leader just died.
const FOLLOWS_WITHIN: Duration = Duration::from_secs(15);

async fn connect(cluster: &EtcdCluster) -> Arc<dyn Datastore> {
    Arc::new(
        EtcdStore::connect(cluster.config())
            .await
            .unwrap_or_else(|e| panic!("connecting to the etcd cluster: {e}")),
    )
}

/// One operator edit (alternating the classes, so the agent must write) and the agent's
/// status for it; returns how long the edit took to be accepted.
async fn edit_and_follow(
    operator: &Arc<dyn Datastore>,
    agent_view: &Arc<dyn Datastore>,
    test: &common::TestLab,
    round: usize,
) -> Duration {
    let classes: &[NodeStatusClass] = if round.is_multiple_of(2) {
        &[AGENT, BGP]
    } else {
        &[AGENT, BGP, ROUTES]
    };
    let start = Instant::now();
    operator
        .update_spec("n1-status", &spec("n1", classes, 0), None)
        .await
        .unwrap_or_else(|e| panic!("operator edit {round} failed: {e}"));
    let accepted = start.elapsed();
    wait_for_lab_status(agent_view, test, "n1", "n1-status", classes, FOLLOWS_WITHIN).await;
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_and_operator_keep_writing_while_a_member_and_then_the_leader_die() {
    let test = lab(BirdVersion::V1_6, 2);
    let mut cluster = EtcdCluster::start(3)
        .await
        .unwrap_or_else(|e| panic!("starting a 3-member etcd cluster: {e}"));
    let agent_store = connect(&cluster).await;
    let operator = connect(&cluster).await;
    let agent = start_agent(&test.lab, "n1", agent_store.clone());
    operator
        .create(&resource("n1-status", "n1", &[AGENT, BGP, ROUTES], 0))
        .await
        .unwrap_or_else(|e| panic!("creating the resource: {e}"));
    let mut round = 0;
    for _ in 0..2 {
        round += 1;
        edit_and_follow(&operator, &agent_store, &test, round).await;
    }

    // Both stores send to the first endpoint: kill it unless it leads, so the stores fail
    // over; when it leads, the leader kill below does that.
    let leader = cluster.leader().await.unwrap_or_else(|e| panic!("{e}"));
    let member = if leader == 0 { 1 } else { 0 };
    cluster.kill(member).unwrap_or_else(|e| panic!("{e}"));
    let killed = Instant::now();
    round += 1;
    let accepted = edit_and_follow(&operator, &agent_store, &test, round).await;
    eprintln!(
        "member m{member} killed: next edit accepted after {accepted:?}, agent's status after {:?}",
        killed.elapsed()
    );
    for _ in 0..2 {
        round += 1;
        edit_and_follow(&operator, &agent_store, &test, round).await;
    }
    cluster
        .start_again(member)
        .await
        .unwrap_or_else(|e| panic!("restarting member m{member}: {e}"));

    let leader = cluster.leader().await.unwrap_or_else(|e| panic!("{e}"));
    cluster.kill(leader).unwrap_or_else(|e| panic!("{e}"));
    let killed = Instant::now();
    round += 1;
    let accepted = edit_and_follow(&operator, &agent_store, &test, round).await;
    eprintln!(
        "leader m{leader} killed: next edit accepted after {accepted:?}, agent's status after {:?}",
        killed.elapsed()
    );
    for _ in 0..2 {
        round += 1;
        edit_and_follow(&operator, &agent_store, &test, round).await;
    }

    // Nothing lost: the last edit and its status are what a fresh client reads.
    let fresh = connect(&cluster).await;
    let last = &[AGENT, BGP, ROUTES][..if round.is_multiple_of(2) { 2 } else { 3 }];
    let stored = wait_for_lab_status(&fresh, &test, "n1", "n1-status", last, FOLLOWS_WITHIN).await;
    assert_eq!(stored.spec, spec("n1", last, 0));
    assert_eq!(agent.get("/healthz").await.0, 200);
    assert_eq!(
        agent
            .metric("nodestatus_datastore_errors_total{operation=\"write\"}")
            .await,
        0.0,
        "the agent saw a failed status write"
    );
    agent.stop().await;
}
