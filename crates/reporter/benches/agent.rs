//! What one agent costs on a real 3-node BIRD lab (BIRD 1.6, 2.0, 2.17 and 3), with the SQLite datastore:
//! CPU share and resident memory at 10 s and 1 s periods, and how long one collection of all
//! classes takes. Needs root (the lab). Run with
//! `cargo bench -p nodestatus-reporter --bench agent`; `NODESTATUS_BENCH_SECONDS` sets the
//! measuring window (default 60).
//!
//! The agent runs in this process, so the figures include the SQLite store (its watch poller)
//! and the tokio runtime, as in the real agent; the memory baseline is taken before the agent
//! starts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodestatus_api::{CalicoNodeStatus, CalicoNodeStatusSpec, NodeStatusClass};
use nodestatus_bird::{CollectOptions, Endpoints, collect};
use nodestatus_lab::{BirdVersion, Family, Lab, LabSpec};
use nodestatus_reporter::{Agent, AgentConfig};
use nodestatus_store::Datastore;
use nodestatus_store_sqlite::{SqliteOptions, SqliteStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let window = std::env::var("NODESTATUS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_secs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    println!("bird  period  cpu%    rss_mb  rss_delta_mb  collections  mean_collection_ms");
    for bird in BirdVersion::ALL {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let lab = Lab::up(LabSpec::new(bird, dir.path())).unwrap_or_else(|e| panic!("lab up: {e}"));
        lab.wait_established(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("lab did not converge: {e}"));
        for period in [10, 1] {
            runtime.block_on(measure(&lab, bird, period, window));
        }
        runtime.block_on(collection_times(&lab, bird));
    }
}

fn endpoints(lab: &Lab) -> Endpoints {
    let node = lab.node("n1").unwrap_or_else(|e| panic!("{e}"));
    Endpoints::new(
        node.socket(Family::V4).map(ToOwned::to_owned),
        node.socket(Family::V6).map(ToOwned::to_owned),
    )
}

async fn measure(lab: &Lab, bird: BirdVersion, period: u32, window: Duration) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = SqliteStore::open(&dir.path().join("bench.db"), SqliteOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let ds: Arc<dyn Datastore> = Arc::new(store);
    let spec = CalicoNodeStatusSpec {
        classes: NodeStatusClass::ALL.to_vec(),
        node: "n1".to_owned(),
        update_period_seconds: period,
    };
    ds.create(&CalicoNodeStatus::new("n1", spec))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let rss_before = rss_kb();
    let mut config = AgentConfig::new("n1");
    config.endpoints = endpoints(lab);
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let agent = Agent::new(config, ds.clone()).unwrap_or_else(|e| panic!("{e}"));
    let addr = agent.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));
    // Settle: the first collection and write.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let (n0, sum0) = collections(addr).await;
    tokio::time::sleep(window).await;
    let cpu = (cpu_seconds() - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    let (n1, sum1) = collections(addr).await;
    let rss = rss_kb();
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    let count = n1 - n0;
    let mean_ms = if count > 0.0 {
        (sum1 - sum0) / count * 1000.0
    } else {
        0.0
    };
    println!(
        "{:<5} {:>5}s  {cpu:>5.2}  {:>7.1}  {:>12.1}  {count:>11}  {mean_ms:>18.2}",
        bird.as_str(),
        period,
        rss as f64 / 1024.0,
        (rss as f64 - rss_before as f64) / 1024.0,
    );
}

/// Collection time of all classes from n1's daemons, directly: median and 99th percentile.
async fn collection_times(lab: &Lab, bird: BirdVersion) {
    let endpoints = endpoints(lab);
    let options = CollectOptions::default();
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let snapshot = collect(&endpoints, &NodeStatusClass::ALL, &options).await;
        times.push(start.elapsed());
        drop(snapshot);
    }
    times.sort();
    println!(
        "bird {}: one collection (all classes, both families): p50 {:?}, p99 {:?}",
        bird.as_str(),
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
}

/// `nodestatus_collections_total` and the duration histogram's sum, from `/metrics`.
async fn collections(addr: SocketAddr) -> (f64, f64) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut body = String::new();
    stream
        .read_to_string(&mut body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let value = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        value("nodestatus_collections_total"),
        value("nodestatus_collection_duration_seconds_sum"),
    )
}

/// User plus system CPU time of this process, from /proc/self/stat (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_else(|e| panic!("{e}"));
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident set size of this process in KiB.
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_else(|e| panic!("{e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
