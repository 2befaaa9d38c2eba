//! Measures the SQLite store: `write_status` throughput (small and route-heavy statuses), the
//! latency of a change made in one process reaching a watch in another, and the CPU an idle
//! watching process uses. Exits with an error when a cross-process change takes more than the
//! target of one second to arrive.
//!
//! Run with `cargo run --release -p nodestatus-store-sqlite --example bench`. The writer of the
//! latency run is this binary started again with `NODESTATUS_BENCH_WRITER` set.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use nodestatus_api::{
    BgpStatus, CalicoNodeStatus, CalicoNodeStatusSpec, CalicoNodeStatusStatus, LearnedFrom,
    NodeStatusClass, Route, RouteSourceType, RouteStatus, RouteType,
};
use nodestatus_store::{Datastore, NodeFilter, WatchEvent};
use nodestatus_store_sqlite::{SqliteOptions, SqliteStore};

/// Set in the writer child: the database file.
const WRITER_ENV: &str = "NODESTATUS_BENCH_WRITER";
/// Changes the writer makes in the latency run, and the pause between them (longer than the
/// poll interval, so each change is measured on its own).
const LATENCY_WRITES: u32 = 40;
const LATENCY_PAUSE: Duration = Duration::from_millis(137);
/// The cross-process delivery target.
const LATENCY_TARGET: Duration = Duration::from_secs(1);
/// How long the idle watcher is measured.
const IDLE: Duration = Duration::from_secs(10);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("starting tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match std::env::var_os(WRITER_ENV) {
        Some(db) => runtime
            .block_on(latency_writer(PathBuf::from(db)))
            .map(|()| true),
        None => runtime.block_on(bench()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn spec() -> CalicoNodeStatusSpec {
    CalicoNodeStatusSpec {
        classes: vec![
            NodeStatusClass::Agent,
            NodeStatusClass::Bgp,
            NodeStatusClass::Routes,
        ],
        node: "node-1".into(),
        update_period_seconds: 10,
    }
}

fn status(n: u32, routes: u32, stamp: String) -> CalicoNodeStatusStatus {
    let route = |i: u32| {
        let [_, a, b, c] = i.to_be_bytes();
        Route {
            route_type: Some(RouteType::Fib),
            destination: format!("10.{a}.{b}.{c}/32"),
            gateway: "10.99.0.2".into(),
            interface: "eth0".into(),
            learned_from: LearnedFrom {
                source_type: Some(RouteSourceType::NodeMesh),
                peer_ip: "10.99.0.2".into(),
            },
        }
    };
    CalicoNodeStatusStatus {
        last_updated: Some(stamp),
        bgp: Some(BgpStatus {
            number_established_v4: n,
            ..BgpStatus::default()
        }),
        routes: Some(RouteStatus {
            routes_v4: (0..routes).map(route).collect(),
            routes_v6: Vec::new(),
            truncated: None,
        }),
        ..CalicoNodeStatusStatus::default()
    }
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// CPU time of this process, every thread included (also threads that have ended, such as
/// idle blocking-pool threads), with nanosecond resolution.
fn cpu_time() -> Result<Duration, BoxError> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(Duration::new(
        u64::try_from(ts.tv_sec)?,
        u32::try_from(ts.tv_nsec)?,
    ))
}

async fn bench() -> Result<bool, BoxError> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let store = SqliteStore::open(&db, SqliteOptions::default())?;

    for (routes, writes) in [(0u32, 5_000u32), (100, 2_000), (10_000, 50)] {
        let name = format!("status-{routes}");
        let mut obj = CalicoNodeStatus::new(&name, spec());
        obj.metadata.name = Some(name.clone());
        let mut version = store
            .create(&obj)
            .await?
            .metadata
            .resource_version
            .unwrap_or_default();
        let statuses: Vec<_> = (0..writes)
            .map(|n| status(n, routes, "2024-05-01T10:00:00Z".into()))
            .collect();
        let size = serde_json::to_vec(&statuses[0])?.len();
        let start = Instant::now();
        for s in &statuses {
            version = store.write_status(&name, s, &version).await?;
        }
        let elapsed = start.elapsed();
        println!(
            "write_status, one task, status of {routes} routes ({size} bytes): {writes} writes in {elapsed:.2?} = {:.0} writes/s",
            f64::from(writes) / elapsed.as_secs_f64()
        );
    }

    // Contended: 4 tasks each re-reading and retrying on conflict, as agents do.
    let racing = 2_000u32;
    store
        .create(&CalicoNodeStatus::new("status-race", spec()))
        .await?;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..4u32 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut conflicts = 0u32;
            for n in 0..racing / 4 {
                loop {
                    let current = store.get("status-race").await?;
                    let version = current.metadata.resource_version.unwrap_or_default();
                    match store
                        .write_status(
                            "status-race",
                            &status(t * 10_000 + n, 0, String::new()),
                            &version,
                        )
                        .await
                    {
                        Ok(_) => break,
                        Err(nodestatus_store::StoreError::Conflict { .. }) => conflicts += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(conflicts)
        });
    }
    let mut conflicts = 0;
    while let Some(done) = tasks.join_next().await {
        conflicts += done??;
    }
    let elapsed = start.elapsed();
    println!(
        "write_status, 4 racing tasks (get + CAS, retry on conflict): {racing} writes in {elapsed:.2?} = {:.0} writes/s, {conflicts} conflicts",
        f64::from(racing) / elapsed.as_secs_f64()
    );

    let latencies = cross_process_latency(&db).await?;
    let within_target = latencies.iter().all(|l| *l <= LATENCY_TARGET);

    // The same process idle without and with a watch: the difference is the poller's cost.
    let before = cpu_time()?;
    tokio::time::sleep(IDLE).await;
    let baseline = cpu_time()? - before;
    let mut watch = store.watch(&NodeFilter::All, None).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_time()?;
    let idle = tokio::time::timeout(IDLE, watch.next()).await;
    let used = cpu_time()? - before;
    if let Ok(event) = idle {
        return Err(format!("the idle store produced an event: {event:?}").into());
    }
    let percent = |cpu: Duration| cpu.as_secs_f64() / IDLE.as_secs_f64() * 100.0;
    println!(
        "idle process over {IDLE:?}: without a watch {baseline:.2?} of CPU ({:.3}% of one CPU), with a watch {used:.2?} ({:.3}%)",
        percent(baseline),
        percent(used)
    );
    if !within_target {
        eprintln!("a cross-process change took longer than {LATENCY_TARGET:?} to arrive");
    }
    Ok(within_target)
}

/// Starts a writer process and measures, for each of its changes, the time from just before
/// its write to the event arriving here.
async fn cross_process_latency(db: &Path) -> Result<Vec<Duration>, BoxError> {
    let store = SqliteStore::open(db, SqliteOptions::default())?;
    store
        .create(&CalicoNodeStatus::new("status-latency", spec()))
        .await?;
    let mut watch = store
        .watch(&NodeFilter::Node("node-1".into()), None)
        .await?;
    let mut child = Command::new(std::env::current_exe()?)
        .env(WRITER_ENV, db)
        .stdout(Stdio::null())
        .spawn()?;
    let mut latencies = Vec::new();
    while latencies.len() < LATENCY_WRITES as usize {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .map_err(|_| "no event in 10 s")?;
        let Some(WatchEvent::Modified(obj)) = event.transpose()? else {
            return Err("unexpected watch event".into());
        };
        let sent: u128 = obj
            .status
            .and_then(|s| s.last_updated)
            .ok_or("no stamp")?
            .parse()?;
        latencies.push(Duration::from_nanos(u64::try_from(
            unix_nanos().saturating_sub(sent),
        )?));
    }
    if !child.wait()?.success() {
        return Err("the writer process failed".into());
    }
    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / u32::try_from(latencies.len())?;
    println!(
        "cross-process watch delivery ({} changes, poll interval {:?}): min {:.1?}, mean {:.1?}, p50 {:.1?}, max {:.1?}",
        latencies.len(),
        SqliteOptions::default().poll_interval,
        latencies[0],
        mean,
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    );
    Ok(latencies)
}

/// The writer process of the latency run: status writes stamped with the time just before each.
async fn latency_writer(db: PathBuf) -> Result<(), BoxError> {
    let store = SqliteStore::open(&db, SqliteOptions::default())?;
    for n in 0..LATENCY_WRITES {
        tokio::time::sleep(LATENCY_PAUSE).await;
        let current = store.get("status-latency").await?;
        let version = current.metadata.resource_version.unwrap_or_default();
        store
            .write_status(
                "status-latency",
                &status(n, 0, unix_nanos().to_string()),
                &version,
            )
            .await?;
    }
    Ok(())
}
