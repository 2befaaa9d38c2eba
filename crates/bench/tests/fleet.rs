//! A small fleet on a real etcd (started by the etcd crate's harness), in both modes: the
//! report has every field `bench fleet -o json` promises, the datastore's figures are read,
//! and a status write reaches about one watch (the operator's) with the per-node index, about
//! every node's in Calico's style.

use std::sync::Arc;
use std::time::Duration;

use nodestatus_bench::{FleetOptions, FleetReport, Progress, run};
use nodestatus_store::Datastore;
use nodestatus_store_etcd::EtcdStore;
use nodestatus_store_etcd::testing::EtcdServer;

const NODES: u32 = 6;

async fn fleet(server: &EtcdServer, calico_style: bool) -> FleetReport {
    let store = EtcdStore::connect(server.config())
        .await
        .unwrap_or_else(|e| panic!("connecting to etcd: {e}"));
    let options = FleetOptions {
        nodes: NODES,
        peers: 3,
        period_seconds: 1,
        calico_style,
        timeout: Duration::from_secs(60),
        metrics_url: Some(format!("{}/metrics", server.endpoint())),
        datastore_pid: server.pid(),
    };
    let quiet: Progress = Box::new(|_| {});
    let clients: Vec<Arc<dyn Datastore>> = vec![Arc::new(store)];
    run(clients, &options, &quiet)
        .await
        .unwrap_or_else(|e| panic!("fleet run: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_reports_every_field_and_one_delivery_per_write_unless_calico_style() {
    let server = EtcdServer::start()
        .await
        .unwrap_or_else(|e| panic!("starting etcd: {e}"));

    let indexed = fleet(&server, false).await;
    let json = serde_json::to_value(&indexed).expect("the report is JSON");
    for field in [
        "nodes",
        "converge_seconds",
        "writes_per_second",
        "deliveries_per_write",
        "datastore_cpu_percent",
        "datastore_rss_mb",
        "client_cpu_percent",
        "client_rss_mb",
    ] {
        assert!(
            json.get(field).is_some_and(|v| !v.is_null()),
            "{field} missing from {json}"
        );
    }
    assert_eq!((indexed.nodes, indexed.mode), (NODES, "indexed"));
    // Every node wrote its changed status at least once; each write reached the operator's
    // watch only (a status written twice in the window may be seen once).
    assert!(indexed.status_writes >= u64::from(NODES), "{indexed:?}");
    assert!(
        (0.5..=1.0).contains(&indexed.deliveries_per_write),
        "{indexed:?}"
    );
    assert!(indexed.datastore_sent_bytes.is_some_and(|b| b > 0.0));

    let calico = fleet(&server, true).await;
    assert_eq!(calico.mode, "calico-style");
    // Every write reaches every node's watch and the operator's: N + 1.
    let all = f64::from(NODES + 1);
    assert!(
        (all * 0.5..=all).contains(&calico.deliveries_per_write),
        "{calico:?}"
    );
}
