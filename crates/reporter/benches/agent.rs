//! What one agent costs on a real 3-node BIRD lab: CPU share, peak memory and wake-ups of an
//! agent reporting on 1 and 10 resources (all classes) of its node, with the SQLite and the
//! etcd datastore, and how long one collection of all classes takes. Needs root (the lab).
//!
//! ```sh
//! cargo bench -p nodestatus-reporter --bench agent
//! ```
//!
//! Settings (environment): `NODESTATUS_BENCH_SECONDS` the measuring window (default 60),
//! `NODESTATUS_BENCH_RUNS` runs per row, whose median is printed (default 3),
//! `NODESTATUS_BENCH_BIRD` the BIRD versions (default `1.6,2`), `NODESTATUS_BENCH_BACKENDS`
//! (default `sqlite,etcd`), `NODESTATUS_BENCH_RESOURCES` (default `1,10`),
//! `NODESTATUS_BENCH_PERIOD` the resources' update period in seconds (default 10).
//!
//! Each run is a child process (this binary again) holding only the agent, on a
//! `current_thread` runtime as `nodestatus agent` has, so its CPU time
//! (`CLOCK_PROCESS_CPUTIME_ID`: user plus system time of all its threads, as utime + stime in
//! `/proc/PID/stat` but to the nanosecond), its peak resident memory (`VmHWM`, the whole
//! process from its start) and its context switches (all threads, from `/proc`: each one is a
//! thread going to sleep or being preempted, so about one per wake-up) are the agent's own. The
//! resources are created and the first collection written before the window starts. etcd is a
//! fresh server per BIRD version, on free loopback ports (the etcd crate's test harness); each
//! etcd run deletes its resources at the end so the next one starts alike.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodestatus_api::{CalicoNodeStatus, CalicoNodeStatusSpec, NodeStatusClass};
use nodestatus_bird::{CollectOptions, Endpoints, collect};
use nodestatus_lab::{BirdVersion, Family, Lab, LabSpec};
use nodestatus_reporter::{Agent, AgentConfig};
use nodestatus_store::Datastore;
use nodestatus_store_etcd::testing::EtcdServer;
use nodestatus_store_etcd::{EtcdConfig, EtcdStore};
use nodestatus_store_sqlite::{SqliteOptions, SqliteStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Set in a child: what to run, as `Child::to_args` writes it.
const CHILD_ENV: &str = "NODESTATUS_BENCH_CHILD";
/// How long a child waits after starting the agent before its window.
const SETTLE: Duration = Duration::from_secs(3);

fn main() {
    if let Ok(args) = std::env::var(CHILD_ENV) {
        child(&args);
        return;
    }
    let window = env_or("NODESTATUS_BENCH_SECONDS", 60u64);
    let runs = env_or("NODESTATUS_BENCH_RUNS", 3usize);
    let period = env_or("NODESTATUS_BENCH_PERIOD", 10u32);
    let birds: Vec<BirdVersion> = env_list("NODESTATUS_BENCH_BIRD", "1.6,2")
        .iter()
        .map(|b| {
            b.parse()
                .unwrap_or_else(|e| panic!("BIRD version {b}: {e}"))
        })
        .collect();
    let backends = env_list("NODESTATUS_BENCH_BACKENDS", "sqlite,etcd");
    let counts: Vec<usize> = env_list("NODESTATUS_BENCH_RESOURCES", "1,10")
        .iter()
        .map(|n| {
            n.parse()
                .unwrap_or_else(|e| panic!("resource count {n}: {e}"))
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    println!(
        "window {window} s, period {period} s, median of {runs} runs; uptime: {}",
        uptime()
    );
    println!(
        "bird  backend  resources  cpu%    peak_rss_mb  wakeups/s  collections  mean_collection_ms  (runs' cpu%)"
    );
    for bird in birds {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let lab = Lab::up(LabSpec::new(bird, dir.path())).unwrap_or_else(|e| panic!("lab up: {e}"));
        lab.wait_established(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("lab did not converge: {e}"));
        let mut etcd = None;
        for backend in &backends {
            let target = match backend.as_str() {
                "sqlite" => Target::Sqlite,
                "etcd" => {
                    let server = etcd.get_or_insert_with(|| {
                        runtime
                            .block_on(EtcdServer::start())
                            .unwrap_or_else(|e| panic!("starting etcd: {e}"))
                    });
                    Target::Etcd(server.endpoint())
                }
                other => panic!("unknown backend {other} (sqlite or etcd)"),
            };
            for &resources in &counts {
                let mut results: Vec<Measured> = (0..runs)
                    .map(|_| {
                        let sqlite_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                        let setup = Child {
                            endpoints: endpoints(&lab),
                            target: target.clone(),
                            sqlite: sqlite_dir.path().join("bench.db").display().to_string(),
                            resources,
                            period,
                            window,
                        };
                        run_child(&setup)
                    })
                    .collect();
                let cpus: Vec<String> = results.iter().map(|r| format!("{:.3}", r.cpu)).collect();
                let median = |f: fn(&Measured) -> f64, results: &mut Vec<Measured>| {
                    results.sort_by(|a, b| f(a).total_cmp(&f(b)));
                    f(&results[results.len() / 2])
                };
                let cpu = median(|r| r.cpu, &mut results);
                let rss = median(|r| r.peak_rss_kb, &mut results);
                let wakeups = median(|r| r.switches_per_second, &mut results);
                let count = median(|r| r.collections, &mut results);
                let mean_ms = median(|r| r.mean_collection_ms, &mut results);
                println!(
                    "{:<5} {:<8} {resources:>9}  {cpu:>6.3}  {:>11.1}  {wakeups:>9.2}  {count:>11}  {mean_ms:>18.2}  ({})",
                    bird.as_str(),
                    target.name(),
                    rss / 1024.0,
                    cpus.join(" "),
                );
            }
        }
        if let Some(mut server) = etcd {
            let _ = runtime.block_on(server.stop());
        }
        runtime.block_on(collection_times(&lab, bird));
    }
    println!("uptime at the end: {}", uptime());
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn uptime() -> String {
    Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

#[derive(Clone)]
enum Target {
    Sqlite,
    Etcd(String),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Sqlite => "sqlite",
            Target::Etcd(_) => "etcd",
        }
    }
}

/// One run: what the child process is told.
struct Child {
    endpoints: (Option<PathBuf>, Option<PathBuf>),
    target: Target,
    sqlite: String,
    resources: usize,
    period: u32,
    window: u64,
}

impl Child {
    /// Tab-separated: v4 socket, v6 socket, backend, etcd endpoint or SQLite path, resources,
    /// period, window.
    fn to_args(&self) -> String {
        let (backend, at) = match &self.target {
            Target::Sqlite => ("sqlite", self.sqlite.clone()),
            Target::Etcd(endpoint) => ("etcd", endpoint.clone()),
        };
        [
            socket(self.endpoints.0.as_deref()),
            socket(self.endpoints.1.as_deref()),
            backend.to_owned(),
            at,
            self.resources.to_string(),
            self.period.to_string(),
            self.window.to_string(),
        ]
        .join("\t")
    }
}

/// A socket path as a child argument (empty: none).
fn socket(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string()).unwrap_or_default()
}

/// What one child measured.
struct Measured {
    cpu: f64,
    peak_rss_kb: f64,
    switches_per_second: f64,
    collections: f64,
    mean_collection_ms: f64,
}

fn run_child(setup: &Child) -> Measured {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(exe)
        .env(CHILD_ENV, setup.to_args())
        .output()
        .unwrap_or_else(|e| panic!("running the child: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "the child printed no result: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let values: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{v}: {e}")))
        .collect();
    Measured {
        cpu: values[0],
        peak_rss_kb: values[1],
        switches_per_second: values[2],
        collections: values[3],
        mean_collection_ms: values[4],
    }
}

/// The child: the agent alone, measured over the window; prints `RESULT cpu% peak_rss_kb
/// switches/s collections mean_ms`.
fn child(args: &str) {
    let fields: Vec<&str> = args.split('\t').collect();
    let [v4, v6, backend, at, resources, period, window] = fields[..] else {
        panic!("bad child arguments {args:?}");
    };
    let some = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
    let endpoints = Endpoints::new(some(v4), some(v6));
    let resources: usize = resources.parse().unwrap_or_else(|e| panic!("{e}"));
    let period: u32 = period.parse().unwrap_or_else(|e| panic!("{e}"));
    let window = Duration::from_secs(window.parse().unwrap_or_else(|e| panic!("{e}")));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    runtime.block_on(async {
        let ds: Arc<dyn Datastore> = match backend {
            "sqlite" => Arc::new(
                SqliteStore::open(Path::new(at), SqliteOptions::default())
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            _ => Arc::new(
                EtcdStore::connect(EtcdConfig::new([at]))
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
        };
        let names: Vec<String> = (0..resources).map(|i| format!("bench-{i}")).collect();
        for name in &names {
            let spec = CalicoNodeStatusSpec {
                classes: NodeStatusClass::ALL.to_vec(),
                node: "n1".to_owned(),
                update_period_seconds: period,
            };
            ds.create(&CalicoNodeStatus::new(name, spec))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut config = AgentConfig::new("n1");
        config.endpoints = endpoints;
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let agent = Agent::new(config, ds.clone()).unwrap_or_else(|e| panic!("{e}"));
        let addr = agent.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(agent.run(async {
            let _ = stopped.await;
        }));
        tokio::time::sleep(SETTLE).await;
        let (n0, sum0) = collections(addr).await;
        let (cpu0, switches0, t0) = (cpu_seconds(), context_switches(), Instant::now());
        tokio::time::sleep(window).await;
        let elapsed = t0.elapsed().as_secs_f64();
        let cpu = (cpu_seconds() - cpu0) / elapsed * 100.0;
        let switches = (context_switches() - switches0) as f64 / elapsed;
        let peak = peak_rss_kb();
        let (n1, sum1) = collections(addr).await;
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        for name in &names {
            let _ = ds.delete(name, None).await;
        }
        let count = n1 - n0;
        let mean_ms = if count > 0.0 {
            (sum1 - sum0) / count * 1000.0
        } else {
            0.0
        };
        println!("RESULT {cpu} {peak} {switches} {count} {mean_ms}");
    });
}

fn endpoints(lab: &Lab) -> (Option<PathBuf>, Option<PathBuf>) {
    let node = lab.node("n1").unwrap_or_else(|e| panic!("{e}"));
    (
        node.socket(Family::V4).map(ToOwned::to_owned),
        node.socket(Family::V6).map(ToOwned::to_owned),
    )
}

/// Collection time of all classes from n1's daemons, directly: median and 99th percentile.
async fn collection_times(lab: &Lab, bird: BirdVersion) {
    let (v4, v6) = endpoints(lab);
    let endpoints = Endpoints::new(v4, v6);
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

/// User plus system CPU time of this process (all threads), in seconds.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Voluntary plus involuntary context switches of every thread of this process.
fn context_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// Peak resident set size of this process (`VmHWM`) in KiB.
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_else(|e| panic!("{e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
