//! The agent under faults that once froze it or made it lie (issue 17), against a fake BIRD
//! socket (`common::fake_bird`) and real datastores: a BIRD that trickles its replies, and a
//! route table whose status is larger than etcd accepts. The agent keeps collecting, says
//! the truth in its probes, claims nothing it could not read, and writes only on change.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_bird::{FakeBird, Mode};
use common::{ALL, RunningAgent, Store, get, resource, start_agent_with, wait_for};
use nodestatus_api::{BgpDaemonState, CalicoNodeStatusStatus, RouteType, RoutesTruncated};
use nodestatus_bird::Endpoints;
use nodestatus_reporter::AgentConfig;
use nodestatus_store::Datastore;

/// An agent for node `n1` reading `bird`, with a collection deadline of `deadline`.
fn agent(bird: &FakeBird, ds: Arc<dyn Datastore>, deadline: Duration) -> RunningAgent {
    let mut config = AgentConfig::new("n1");
    config.endpoints = Endpoints::new(Some(bird.socket.clone()), None);
    config.collect.deadline = deadline;
    config.collect.client.timeout = Duration::from_millis(500);
    start_agent_with(config, ds)
}

/// The peak resident memory of this test process (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    kb * 1024
}

async fn status(ds: &Arc<dyn Datastore>) -> Option<CalicoNodeStatusStatus> {
    get(ds, "r1").await.status
}

#[tokio::test]
async fn a_trickling_bird_fails_each_collection_at_its_deadline_and_readyz_says_so_until_it_recovers()
 {
    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), 3, Mode::Trickle);
    let store = Store::sqlite();
    let ds = store.datastore();
    ds.create(&resource("r1", "n1", ALL, 1)).await.unwrap();
    let agent = agent(&bird, ds.clone(), Duration::from_secs(1));

    // Collections keep ending (at their deadline) and starting: the agent is not frozen.
    wait_for("three collections", Duration::from_secs(20), || async {
        (agent.metric("nodestatus_collections_total").await >= 3.0).then_some(())
    })
    .await;
    assert_eq!(
        agent.get("/readyz").await,
        (
            503,
            "the last BIRD collection failed (see the log and nodestatus_bird_errors)\n".to_owned()
        )
    );
    assert_eq!(agent.get("/healthz").await, (200, "ok\n".to_owned()));
    assert!(
        agent
            .metric("nodestatus_bird_errors_total{family=\"ipv4\",kind=\"timeout\"}")
            .await
            >= 3.0
    );
    // Nothing was read, so nothing is claimed: no `Ready` from the greeting alone.
    assert_eq!(status(&ds).await, None);

    bird.set(Mode::Healthy);
    let recovering = Instant::now();
    let written = wait_for(
        "a status after recovery",
        Duration::from_secs(20),
        || async { status(&ds).await },
    )
    .await;
    eprintln!("recovered in {:?}", recovering.elapsed());
    let agent_status = written.agent.unwrap();
    assert_eq!(agent_status.bird_v4.state, Some(BgpDaemonState::Ready));
    assert_eq!(agent_status.bird_v4.router_id, "10.99.0.11");
    assert_eq!(written.bgp.unwrap().number_established_v4, 1);
    assert_eq!(written.routes.unwrap().routes_v4.len(), 3);
    wait_for("/readyz 200", Duration::from_secs(10), || async {
        (agent.get("/readyz").await == (200, "ready\n".to_owned())).then_some(())
    })
    .await;
    agent.stop().await;
}

#[tokio::test]
async fn a_status_too_large_for_etcd_keeps_agent_bgp_and_the_routes_that_fit_and_says_so() {
    // NODESTATUS_OVERSIZE_ROUTES sets another table size, for measuring memory by hand.
    let total: usize = std::env::var("NODESTATUS_OVERSIZE_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), total, Mode::Healthy);
    let store = Store::etcd().await;
    let ds = store.datastore();
    ds.create(&resource("r1", "n1", ALL, 1)).await.unwrap();
    // A debug build on a loaded machine reads 100,000 routes in well under 10 s.
    let agent = agent(&bird, ds.clone(), Duration::from_secs(10));
    // The whole table would be about 15 MB of status; etcd takes 1.5 MiB.
    let written = wait_for("a truncated status", Duration::from_secs(30), || async {
        status(&ds).await
    })
    .await;
    let agent_status = written.agent.unwrap();
    assert_eq!(agent_status.bird_v4.state, Some(BgpDaemonState::Ready));
    assert_eq!(written.bgp.unwrap().number_established_v4, 1);
    let routes = written.routes.unwrap();
    assert_eq!(
        routes.truncated,
        Some(RoutesTruncated {
            total_v4: total as u64,
            total_v6: 0
        })
    );
    let kept = routes.routes_v4.len();
    eprintln!(
        "kept {kept} of {total} routes; peak RSS {} MiB",
        peak_rss() >> 20
    );
    assert!((1_000..total).contains(&kept), "{kept}");
    assert!(
        routes
            .routes_v4
            .iter()
            .all(|r| r.route_type == Some(RouteType::Fib))
    );
    assert_eq!(
        agent
            .metric("nodestatus_status_routes_left_out{resource=\"r1\"}")
            .await,
        (total - kept) as f64
    );
    assert!(agent.metric("nodestatus_status_too_large_total").await >= 1.0);
    assert_eq!(agent.get("/readyz").await, (200, "ready\n".to_owned()));

    // BIRD unchanged: further collections write nothing.
    let writes = agent.metric("nodestatus_status_writes_total").await;
    let collections = agent.metric("nodestatus_collections_total").await;
    wait_for("two more collections", Duration::from_secs(20), || async {
        (agent.metric("nodestatus_collections_total").await >= collections + 2.0).then_some(())
    })
    .await;
    assert_eq!(agent.metric("nodestatus_status_writes_total").await, writes);
    agent.stop().await;
}
