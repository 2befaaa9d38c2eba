//! Latency of the etcd backend against a real local etcd 3.4 (data on the temp dir's disk):
//! status writes of a small and of a large status (after this store's own write, and after
//! another client's), reads, lists, and the delay from a write to its watch event. Run with `cargo bench -p nodestatus-store-etcd`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use nodestatus_api::{
    CalicoNodeStatus, CalicoNodeStatusSpec, CalicoNodeStatusStatus, LearnedFrom, NodeStatusClass,
    Route, RouteSourceType, RouteStatus, RouteType,
};
use nodestatus_store::{Datastore, NodeFilter, StoreError};
use nodestatus_store_etcd::EtcdStore;
use nodestatus_store_etcd::testing::EtcdServer;

const ROUNDS: usize = 300;

fn status(routes: usize, n: usize) -> CalicoNodeStatusStatus {
    let routes_v4 = (0..routes)
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
        last_updated: Some(format!("2024-05-01T10:{:02}:{:02}Z", (n / 60) % 60, n % 60)),
        routes: Some(RouteStatus {
            routes_v4,
            routes_v6: Vec::new(),
            truncated: None,
        }),
        ..CalicoNodeStatusStatus::default()
    }
}

fn object(name: &str) -> CalicoNodeStatus {
    CalicoNodeStatus::new(
        name,
        CalicoNodeStatusSpec {
            classes: NodeStatusClass::ALL.to_vec(),
            node: "node-0".into(),
            update_period_seconds: 10,
        },
    )
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{what:<58} n={:<4} mean={:>9.3?} p50={:>9.3?} p99={:>9.3?} max={:>9.3?}",
        samples.len(),
        mean,
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
}

/// Status writes taking turns among `stores`, each naming the version the previous one
/// returned. With one store that is an agent's steady state (the object is known from its own
/// last write: one CAS transaction); with two, each write follows another client's (a read
/// first, then the transaction).
async fn writes(
    stores: &[&EtcdStore],
    name: &str,
    routes: usize,
    rounds: usize,
) -> Result<Vec<Duration>, StoreError> {
    let mut version = stores[0]
        .create(&object(name))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut samples = Vec::with_capacity(rounds);
    for n in 0..rounds {
        let status = status(routes, n);
        let store = stores[n % stores.len()];
        let start = Instant::now();
        version = store.write_status(name, &status, &version).await?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let server = EtcdServer::start().await?;
    let store = EtcdStore::connect(server.config()).await?;
    let small = status(20, 0);
    let large = status(5_000, 0);
    println!(
        "status sizes: small {} bytes (20 routes), large {} bytes (5000 routes)",
        serde_json::to_vec(&small)?.len(),
        serde_json::to_vec(&large)?.len()
    );

    let other = EtcdStore::connect(server.config()).await?;
    report(
        "write_status, 20 routes, own last write (CAS txn)",
        writes(&[&store], "small", 20, ROUNDS).await?,
    );
    report(
        "write_status, 20 routes, after another's (get + CAS txn)",
        writes(&[&store, &other], "small-shared", 20, ROUNDS).await?,
    );
    report(
        "write_status, 5000 routes, own last write (CAS txn)",
        writes(&[&store], "large", 5_000, 50).await?,
    );
    report(
        "write_status, 5000 routes, after another's (get + CAS txn)",
        writes(&[&store, &other], "large-shared", 5_000, 50).await?,
    );

    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        store.get("small").await?;
        samples.push(start.elapsed());
    }
    report("get, 20 routes", samples);

    for i in 0..10 {
        let name = format!("node-{i}");
        let version = store
            .create(&object(&name))
            .await?
            .metadata
            .resource_version
            .unwrap_or_default();
        store.write_status(&name, &status(100, i), &version).await?;
    }
    let mut samples = Vec::new();
    let mut count = 0;
    for _ in 0..100 {
        let start = Instant::now();
        count = store.list(&NodeFilter::All).await?.items.len();
        samples.push(start.elapsed());
    }
    report(
        &format!("list, {count} objects (two of 5000 routes)"),
        samples,
    );

    let mut watch = store
        .watch(&NodeFilter::Node("node-0".into()), None)
        .await?;
    let mut version = store
        .get("small")
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut samples = Vec::new();
    for n in 0..ROUNDS {
        let start = Instant::now();
        version = store
            .write_status("small", &status(20, n + 1), &version)
            .await?;
        match tokio::time::timeout(Duration::from_secs(10), watch.next()).await {
            Ok(Some(Ok(_))) => samples.push(start.elapsed()),
            other => return Err(format!("watch: {other:?}").into()),
        }
    }
    report("write_status + its watch event arriving", samples);
    Ok(())
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}
