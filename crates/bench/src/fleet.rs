//! One fleet run: set up N resources, agents and fake BIRDs, wait for the first statuses,
//! change every node's BIRD, time the convergence and read the costs (see the crate docs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use nodestatus_api::{CalicoNodeStatus, CalicoNodeStatusSpec, NodeStatusClass};
use nodestatus_bird::Endpoints;
use nodestatus_reporter::{Agent, AgentConfig};
use nodestatus_store::{Datastore, NodeFilter, StoreError, WatchEvent};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::counting::{Counters, Counting};
use crate::fake_bird::{FakeBird, Generation, NodeShape};
use crate::usage::{self, ProcessSample};

/// The name prefix of the fleet's resources (`bench-node-<i>`, for node `node-<i>`).
const NAME_PREFIX: &str = "bench-node-";
/// Datastore calls made at once while creating and deleting the resources.
const SETUP_CONCURRENCY: usize = 64;
/// How often the datastore's memory and the progress line are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// Simulated nodes.
    pub nodes: u32,
    /// Mesh sessions per node (capped at nodes - 1).
    pub peers: u32,
    /// Every resource's `updatePeriodSeconds`.
    pub period_seconds: u32,
    /// Every node watches every object (see the crate docs).
    pub calico_style: bool,
    /// The longest wait for the first statuses and for the convergence.
    pub timeout: Duration,
    /// The datastore's Prometheus metrics (etcd: `<client URL>/metrics`).
    pub metrics_url: Option<String>,
    /// The datastore's PID, for its CPU and RSS from `/proc` (else from its metrics).
    pub datastore_pid: Option<u32>,
}

/// What a run measured. Datastore figures are `None` when neither its metrics nor its
/// process could be read.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FleetReport {
    /// Simulated nodes.
    pub nodes: u32,
    /// `indexed` (each agent watches its node) or `calico-style`.
    pub mode: &'static str,
    /// The datastore kind.
    pub datastore: &'static str,
    /// Every resource's `updatePeriodSeconds` (the convergence includes up to one).
    pub period_seconds: u32,
    /// Seconds from the change of every node's BIRD until every node's new status was
    /// written and seen by the operator's watch.
    pub converge_seconds: f64,
    /// Status writes in that time.
    pub status_writes: u64,
    /// Status writes per second in that time.
    pub writes_per_second: f64,
    /// Watch events delivered (to agents and to the operator's watch) per status write.
    pub deliveries_per_write: f64,
    /// Bytes the datastore received from clients in that time (etcd's gRPC counter).
    pub datastore_received_bytes: Option<f64>,
    /// Bytes the datastore sent to clients in that time.
    pub datastore_sent_bytes: Option<f64>,
    /// Bytes sent per status write.
    pub datastore_sent_bytes_per_write: Option<f64>,
    /// Watchers open on the datastore at the end (etcd's `etcd_debugging_mvcc_watcher_total`).
    pub datastore_watchers: Option<f64>,
    /// The datastore's CPU in that time, percent of one core.
    pub datastore_cpu_percent: Option<f64>,
    /// The datastore's largest RSS sampled in that time, MB.
    pub datastore_rss_mb: Option<f64>,
    /// This process's CPU in that time, percent of one core.
    pub client_cpu_percent: f64,
    /// This process's RSS at the end, MB.
    pub client_rss_mb: f64,
    /// `client_cpu_percent` per simulated node.
    pub client_cpu_percent_per_node: f64,
    /// `client_rss_mb` per simulated node, KB.
    pub client_rss_kb_per_node: f64,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A datastore call failed.
    #[error("{context}: {source}")]
    Store {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: StoreError,
    },
    /// Sockets, listeners or the temporary directory.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An agent could not start.
    #[error("starting the agent of node-{node}: {source}")]
    Agent {
        /// The node index.
        node: u32,
        /// The error.
        #[source]
        source: nodestatus_reporter::AgentError,
    },
    /// The statuses did not arrive in time.
    #[error("{what}: {done} of {nodes} nodes within {timeout:?}")]
    Timeout {
        /// Which phase.
        what: &'static str,
        /// Nodes done.
        done: usize,
        /// Nodes in all.
        nodes: u32,
        /// The limit.
        timeout: Duration,
    },
}

/// Told what the run is doing, about twice a second.
pub type Progress = Box<dyn Fn(&str) + Send + Sync>;

fn store_error(context: impl Into<String>) -> impl FnOnce(StoreError) -> FleetError {
    let context = context.into();
    move |source| FleetError::Store { context, source }
}

fn resource(i: u32, period: u32) -> CalicoNodeStatus {
    CalicoNodeStatus::new(
        &format!("{NAME_PREFIX}{i}"),
        CalicoNodeStatusSpec {
            classes: vec![
                NodeStatusClass::Agent,
                NodeStatusClass::Bgp,
                NodeStatusClass::Routes,
            ],
            node: format!("node-{i}"),
            update_period_seconds: period,
        },
    )
}

fn index_of(obj: &CalicoNodeStatus) -> Option<u32> {
    obj.metadata
        .name
        .as_deref()?
        .strip_prefix(NAME_PREFIX)?
        .parse()
        .ok()
}

fn routes_of(obj: &CalicoNodeStatus) -> usize {
    obj.status
        .as_ref()
        .and_then(|s| s.routes.as_ref())
        .map_or(0, |r| r.routes_v4.len())
}

/// Runs one fleet on `clients` (node i uses `clients[i % len]`; at least one).
pub async fn run(
    clients: Vec<Arc<dyn Datastore>>,
    options: &FleetOptions,
    progress: &Progress,
) -> Result<FleetReport, FleetError> {
    let counters = Arc::new(Counters::default());
    let wrapped: Vec<Arc<dyn Datastore>> = clients
        .iter()
        .map(|c| {
            Arc::new(Counting::new(
                c.clone(),
                counters.clone(),
                options.calico_style,
            )) as Arc<dyn Datastore>
        })
        .collect();
    let operator: Arc<dyn Datastore> =
        Arc::new(Counting::new(clients[0].clone(), counters.clone(), false));
    let kind = clients[0].kind();

    progress("removing resources of an earlier run");
    remove_resources(&operator).await?;
    progress(&format!("creating {} resources", options.nodes));
    futures::stream::iter(0..options.nodes)
        .map(|i| {
            let store = operator.clone();
            let obj = resource(i, options.period_seconds);
            async move {
                store
                    .create(&obj)
                    .await
                    .map_err(store_error(format!("creating {NAME_PREFIX}{i}")))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;

    // The operator's view: routes per node, as its watch delivers them.
    let listing = operator
        .list(&NodeFilter::All)
        .await
        .map_err(store_error("listing the fleet"))?;
    let stream = operator
        .watch(&NodeFilter::All, Some(&listing.revision))
        .await
        .map_err(store_error("watching the fleet"))?;
    let (goal_tx, goal_rx) = mpsc::channel::<Goal>(1);
    let (done_tx, mut done_rx) = watch::channel(Done::default());
    let view = tokio::spawn(follow(stream, options.nodes, goal_rx, done_tx));

    let dir = tempfile::Builder::new()
        .prefix("nodestatus-bench-")
        .tempdir()
        .map_err(|source| FleetError::Io {
            context: "creating the sockets' directory".into(),
            source,
        })?;
    let generation = Generation::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut birds = Vec::with_capacity(options.nodes as usize);
    let mut agents = Vec::with_capacity(options.nodes as usize);
    progress(&format!("starting {} agents", options.nodes));
    for i in 0..options.nodes {
        let shape = NodeShape {
            index: i,
            nodes: options.nodes,
            peers: options.peers,
        };
        let bird = FakeBird::start(dir.path(), shape, generation.clone()).map_err(|source| {
            FleetError::Io {
                context: format!("listening on the BIRD socket of node-{i}"),
                source,
            }
        })?;
        let mut config = AgentConfig::new(format!("node-{i}"));
        config.endpoints = Endpoints {
            bird: vec![bird.socket.clone()],
            bird6: Vec::new(),
        };
        config.listen = "127.0.0.1:0".parse().unwrap_or(config.listen);
        let store = wrapped[i as usize % wrapped.len()].clone();
        let agent =
            Agent::new(config, store).map_err(|source| FleetError::Agent { node: i, source })?;
        let mut stop = stop_rx.clone();
        agents.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            };
            if let Err(e) = agent.run(shutdown).await {
                tracing::warn!(node = i, error = %e, "agent stopped");
            }
        }));
        birds.push(bird);
    }

    // Every node's first status.
    let _ = goal_tx
        .send(Goal {
            phase: 1,
            routes: vec![1; options.nodes as usize],
        })
        .await;
    let first = wait_all(&mut done_rx, 1, options, "first statuses", progress).await;
    let mut result = first.map(|_| ());
    let mut report = None;
    if result.is_ok() {
        let bases = view_bases(&listing_routes(&operator).await?, options.nodes);
        let before = Sample::take(options, &counters).await;
        let started = Instant::now();
        generation.bump();
        let _ = goal_tx
            .send(Goal {
                phase: 2,
                routes: bases.iter().map(|b| b + 1).collect(),
            })
            .await;
        let sampler = DatastoreRss::start(options.clone());
        let converged = wait_all(&mut done_rx, 2, options, "converging", progress).await;
        let seconds = started.elapsed().as_secs_f64();
        let peak_rss = sampler.stop().await;
        let after = Sample::take(options, &counters).await;
        match converged {
            Ok(()) => report = Some(report_of(options, kind, seconds, &before, &after, peak_rss)),
            Err(e) => result = Err(e),
        }
    }

    progress("stopping the agents");
    let _ = stop_tx.send(true);
    for agent in agents {
        let _ = agent.await;
    }
    drop(birds);
    view.abort();
    progress("removing the resources");
    remove_resources(&operator).await?;
    result?;
    report.ok_or(FleetError::Timeout {
        what: "converging",
        done: 0,
        nodes: options.nodes,
        timeout: options.timeout,
    })
}

/// Routes per fleet node as the datastore has them now.
async fn listing_routes(store: &Arc<dyn Datastore>) -> Result<Vec<(u32, usize)>, FleetError> {
    let listing = store
        .list(&NodeFilter::All)
        .await
        .map_err(store_error("listing the fleet"))?;
    Ok(listing
        .items
        .iter()
        .filter_map(|o| index_of(o).map(|i| (i, routes_of(o))))
        .collect())
}

fn view_bases(routes: &[(u32, usize)], nodes: u32) -> Vec<usize> {
    let mut bases = vec![0; nodes as usize];
    for &(i, n) in routes {
        if let Some(b) = bases.get_mut(i as usize) {
            *b = n;
        }
    }
    bases
}

/// The routes each node must show to be done, in a numbered phase.
struct Goal {
    phase: u32,
    routes: Vec<usize>,
}

/// How many nodes are done in a phase.
#[derive(Clone, Copy, Debug, Default)]
struct Done {
    phase: u32,
    nodes: usize,
}

/// Follows the operator's watch: how many nodes have at least their goal's routes.
async fn follow(
    mut stream: nodestatus_store::WatchStream,
    nodes: u32,
    mut goals: mpsc::Receiver<Goal>,
    done: watch::Sender<Done>,
) {
    let mut phase = 0;
    let mut routes: HashMap<u32, usize> = HashMap::new();
    let mut goal: Vec<usize> = vec![usize::MAX; nodes as usize];
    let count = |routes: &HashMap<u32, usize>, goal: &[usize]| {
        routes
            .iter()
            .filter(|(i, n)| goal.get(**i as usize).is_some_and(|g| *n >= g))
            .count()
    };
    loop {
        tokio::select! {
            new = goals.recv() => match new {
                Some(new) => {
                    goal = new.routes;
                    phase = new.phase;
                    let _ = done.send(Done { phase, nodes: count(&routes, &goal) });
                }
                None => return,
            },
            item = stream.next() => match item {
                Some(Ok(WatchEvent::Added(obj) | WatchEvent::Modified(obj))) => {
                    if let Some(i) = index_of(&obj) {
                        let n = routes_of(&obj);
                        let goal_i = goal.get(i as usize).copied().unwrap_or(usize::MAX);
                        let was = routes.insert(i, n).is_some_and(|old| old >= goal_i);
                        if !was && n >= goal_i {
                            done.send_modify(|d| d.nodes += 1);
                        }
                    }
                }
                Some(Ok(WatchEvent::Restarted(listing))) => {
                    routes = listing.items.iter().filter_map(|o| index_of(o).map(|i| (i, routes_of(o)))).collect();
                    let _ = done.send(Done { phase, nodes: count(&routes, &goal) });
                }
                Some(Ok(WatchEvent::Deleted(_)) | Err(_)) => {}
                None => return,
            }
        }
    }
}

async fn wait_all(
    done: &mut watch::Receiver<Done>,
    phase: u32,
    options: &FleetOptions,
    what: &'static str,
    progress: &Progress,
) -> Result<(), FleetError> {
    let started = Instant::now();
    let nodes = options.nodes as usize;
    loop {
        let now = match *done.borrow_and_update() {
            Done { phase: p, nodes } if p == phase => nodes,
            _ => 0,
        };
        progress(&format!(
            "{what}: {now}/{nodes} nodes, {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        if now >= nodes {
            return Ok(());
        }
        let left = options.timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(FleetError::Timeout {
                what,
                done: now,
                nodes: options.nodes,
                timeout: options.timeout,
            });
        }
        let _ = tokio::time::timeout(left.min(SAMPLE_EVERY), done.changed()).await;
    }
}

/// Counters and costs at one moment.
struct Sample {
    at: Instant,
    writes: u64,
    deliveries: u64,
    me: ProcessSample,
    datastore: Option<ProcessSample>,
    metrics: Option<usage::Metrics>,
}

impl Sample {
    async fn take(options: &FleetOptions, counters: &Counters) -> Sample {
        let metrics = match &options.metrics_url {
            Some(url) => usage::scrape(url, SCRAPE_TIMEOUT).await,
            None => None,
        };
        let (writes, deliveries) = counters.read();
        Sample {
            at: Instant::now(),
            writes,
            deliveries,
            me: usage::process("self").unwrap_or_default(),
            datastore: options
                .datastore_pid
                .and_then(|pid| usage::process(&pid.to_string())),
            metrics,
        }
    }

    fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.as_ref()?.get(name).copied()
    }

    /// The datastore's CPU seconds so far, from its process or its metrics.
    fn datastore_cpu(&self) -> Option<f64> {
        self.datastore
            .map(|p| p.cpu_seconds)
            .or_else(|| self.metric("process_cpu_seconds_total"))
    }
}

/// Samples the datastore's RSS while the convergence runs, keeping the largest.
struct DatastoreRss {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Option<f64>>,
}

impl DatastoreRss {
    fn start(options: FleetOptions) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut peak: Option<f64> = None;
            loop {
                let rss = match options.datastore_pid {
                    Some(pid) => usage::process(&pid.to_string()).map(|p| p.rss_bytes as f64),
                    None => match &options.metrics_url {
                        Some(url) => usage::scrape(url, SCRAPE_TIMEOUT)
                            .await
                            .and_then(|m| m.get("process_resident_memory_bytes").copied()),
                        None => None,
                    },
                };
                if let Some(rss) = rss {
                    peak = Some(peak.map_or(rss, |p| p.max(rss)));
                }
                if tokio::time::timeout(SAMPLE_EVERY, stopped.changed())
                    .await
                    .is_ok()
                {
                    return peak;
                }
            }
        });
        Self { stop, task }
    }

    async fn stop(self) -> Option<f64> {
        let _ = self.stop.send(true);
        self.task.await.ok().flatten()
    }
}

const MB: f64 = 1_000_000.0;

fn report_of(
    options: &FleetOptions,
    kind: &'static str,
    seconds: f64,
    before: &Sample,
    after: &Sample,
    datastore_peak_rss: Option<f64>,
) -> FleetReport {
    let wall = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
    let writes = after.writes.saturating_sub(before.writes);
    let deliveries = after.deliveries.saturating_sub(before.deliveries);
    let per_write = |x: f64| if writes == 0 { 0.0 } else { x / writes as f64 };
    let delta = |name: &str| Some(after.metric(name)? - before.metric(name)?);
    let sent = delta("etcd_network_client_grpc_sent_bytes_total");
    let nodes = f64::from(options.nodes.max(1));
    let client_cpu = (after.me.cpu_seconds - before.me.cpu_seconds) / wall * 100.0;
    let client_rss = after.me.rss_bytes as f64 / MB;
    FleetReport {
        nodes: options.nodes,
        mode: if options.calico_style {
            "calico-style"
        } else {
            "indexed"
        },
        datastore: kind,
        period_seconds: options.period_seconds,
        converge_seconds: seconds,
        status_writes: writes,
        writes_per_second: writes as f64 / seconds.max(1e-9),
        deliveries_per_write: per_write(deliveries as f64),
        datastore_received_bytes: delta("etcd_network_client_grpc_received_bytes_total"),
        datastore_sent_bytes: sent,
        datastore_sent_bytes_per_write: sent.map(per_write),
        datastore_watchers: after.metric("etcd_debugging_mvcc_watcher_total"),
        datastore_cpu_percent: after
            .datastore_cpu()
            .zip(before.datastore_cpu())
            .map(|(a, b)| (a - b) / wall * 100.0),
        datastore_rss_mb: datastore_peak_rss.map(|b| b / MB),
        client_cpu_percent: client_cpu,
        client_rss_mb: client_rss,
        client_cpu_percent_per_node: client_cpu / nodes,
        client_rss_kb_per_node: client_rss * 1000.0 / nodes,
    }
}

/// Deletes every resource a fleet run creates.
async fn remove_resources(store: &Arc<dyn Datastore>) -> Result<(), FleetError> {
    let listing = store
        .list(&NodeFilter::All)
        .await
        .map_err(store_error("listing resources to remove"))?;
    let names: Vec<String> = listing
        .items
        .iter()
        .filter_map(|o| o.metadata.name.clone())
        .filter(|n| n.starts_with(NAME_PREFIX))
        .collect();
    futures::stream::iter(names)
        .map(|name| {
            let store = store.clone();
            async move {
                match store.delete(&name, None).await {
                    Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
                    Err(e) => Err(store_error(format!("deleting {name}"))(e)),
                }
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}
