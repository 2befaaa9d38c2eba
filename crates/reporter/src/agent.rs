//! The agent: one event loop joining the pure [`Core`] to its edges — the watch task, the BIRD
//! collection (one at a time), datastore writes and re-reads (at most one per resource), the
//! clock — plus the HTTP server. Every outcome comes back into the loop as an event.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use nodestatus_api::NodeStatusClass;
use nodestatus_bird::{CollectOptions, Endpoints, Snapshot, collect};
use nodestatus_store::{Datastore, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;

use crate::conditions::Conditions;
use crate::config::AgentConfig;
use crate::core::{Action, Core, Event, Now, Settings};
use crate::http::{Health, router, serve};
use crate::metrics::{Metrics, Sessions};
use crate::schedule::phase_of;
use crate::watch::{Watcher, timed};

/// The longest the event loop sleeps with nothing due (no resource, or periods of zero). It
/// does not need to wake to show it is alive: `/healthz` compares the time with the wake-up
/// time the loop set itself at its last turn, so an idle agent sleeps until its next tick.
pub(crate) const LONGEST_SLEEP: Duration = Duration::from_secs(60);
/// Watch events waiting for the loop; when full, the watch waits.
const WATCH_QUEUE: usize = 64;
/// How long open HTTP connections get to finish at shutdown.
const HTTP_DRAIN: Duration = Duration::from_secs(1);

/// Why the agent could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The node name is not a valid Kubernetes node name.
    #[error("invalid node name {node:?}: {reason}")]
    InvalidNode {
        /// The name given.
        node: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Http(#[source] io::Error),
    /// The watch task ended, which it never does on its own.
    #[error("the watch task ended unexpectedly")]
    WatchEnded,
}

/// The node agent, bound to its HTTP address and ready to run.
pub struct Agent {
    config: AgentConfig,
    datastore: Arc<dyn Datastore>,
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
}

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What woke the loop.
enum Input {
    Shutdown,
    Event(Box<Event>),
    Collected {
        snapshot: Snapshot,
        took: Duration,
        resources: usize,
    },
    Server(io::Result<()>),
    WatchEnded,
}

impl Agent {
    /// Checks the configuration and binds the HTTP address (so a port in use fails here, not
    /// later).
    pub fn new(config: AgentConfig, datastore: Arc<dyn Datastore>) -> Result<Self, AgentError> {
        nodestatus_api::dns1123_subdomain(&config.node).map_err(|reason| {
            AgentError::InvalidNode {
                node: config.node.clone(),
                reason,
            }
        })?;
        let addr = config.listen;
        let listen_error = |source| AgentError::Listen { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(listen_error)?;
        listener.set_nonblocking(true).map_err(listen_error)?;
        let local_addr = listener.local_addr().map_err(listen_error)?;
        Ok(Self {
            config,
            datastore,
            listener,
            local_addr,
        })
    }

    /// The bound HTTP address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Runs until `shutdown` completes, then stops within about a second: the collection and
    /// datastore calls under way are dropped (a status write is atomic, so none is half done)
    /// and open HTTP connections get a second to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), AgentError> {
        let Agent {
            config,
            datastore,
            listener,
            local_addr,
        } = self;
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::new());

        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|source| AgentError::Listen {
                addr: local_addr,
                source,
            })?;
        let (stop_http, http_stopped) = oneshot::channel::<()>();
        let app = router(metrics.clone(), health.clone());
        let mut server = tokio::spawn(serve(
            listener,
            app,
            config.http,
            async {
                let _ = http_stopped.await;
            },
            HTTP_DRAIN,
        ));
        tracing::info!(node = %config.node, listen = %local_addr, datastore = datastore.kind(), "agent started");

        let (tx, mut rx) = mpsc::channel(WATCH_QUEUE);
        let watcher = tokio::spawn(
            Watcher {
                datastore: datastore.clone(),
                node: config.node.clone(),
                backoff: config.backoff,
                timeout: config.datastore_timeout,
                metrics: metrics.clone(),
            }
            .run(tx),
        );

        let mut core = Core::new(Settings {
            node: config.node.clone(),
            backoff: config.backoff,
            max_conflicts: config.max_conflicts,
            max_routes: config.max_status_routes,
            seed: fastrand::u64(..),
            phase: phase_of(&config.node),
        });
        let mut conditions = Conditions::default();
        let mut sessions = Sessions::default();
        let start = Instant::now();
        let mut collection: Option<Boxed<(Snapshot, Duration, usize)>> = None;
        let mut calls: FuturesUnordered<Boxed<Event>> = FuturesUnordered::new();
        let mut shutdown = std::pin::pin!(shutdown);

        let result = loop {
            let longest = Instant::now() + LONGEST_SLEEP;
            let deadline = core
                .next_wake()
                .map_or(longest, |at| (start + at).min(longest));
            health.turned(deadline);
            let input = tokio::select! {
                () = &mut shutdown => Input::Shutdown,
                event = rx.recv() => event.map_or(Input::WatchEnded, |e| Input::Event(Box::new(e))),
                Some(event) = calls.next(), if !calls.is_empty() => Input::Event(Box::new(event)),
                (snapshot, took, resources) = async {
                    match collection.as_mut() {
                        Some(running) => running.await,
                        None => std::future::pending().await,
                    }
                }, if collection.is_some() => Input::Collected { snapshot, took, resources },
                served = &mut server => Input::Server(served.unwrap_or_else(|e| Err(io::Error::other(e)))),
                () = tokio::time::sleep_until(deadline) => Input::Event(Box::new(Event::Tick)),
            };
            let event = match input {
                Input::Shutdown => break Ok(()),
                Input::WatchEnded => break Err(AgentError::WatchEnded),
                Input::Server(result) => {
                    break Err(AgentError::Http(
                        result.err().unwrap_or_else(|| io::Error::other("stopped")),
                    ));
                }
                Input::Collected {
                    snapshot,
                    took,
                    resources,
                } => {
                    collection = None;
                    metrics.collected(resources, took.as_secs_f64());
                    health.collection_ended(collection_succeeded(&snapshot));
                    observe_bird(&snapshot, &mut conditions, &mut sessions, &metrics);
                    Event::Collected(snapshot)
                }
                Input::Event(event) => *event,
            };
            count_datastore_result(&event, &metrics);
            match &event {
                Event::Listed(_) => health.set_listed(),
                Event::Written { result, .. } => health.write_ended(match result {
                    // A conflict re-reads and retries; a deleted resource needs no status; a
                    // status too large is written again with fewer routes.
                    Ok(_)
                    | Err(
                        StoreError::Conflict { .. }
                        | StoreError::NotFound { .. }
                        | StoreError::TooLarge { .. },
                    ) => true,
                    Err(_) => false,
                }),
                _ => {}
            }
            let now = Now {
                mono: start.elapsed(),
                wall: jiff::Timestamp::now(),
            };
            for action in core.handle(event, now) {
                match action {
                    Action::Collect { classes, resources } => {
                        health.collection_started(config.collect.deadline);
                        collection = Some(start_collection(
                            &config.endpoints,
                            &config.collect,
                            classes,
                            resources,
                        ));
                    }
                    Action::Write {
                        name,
                        ticket,
                        status,
                        expected_version,
                    } => {
                        let ds = datastore.clone();
                        let limit = config.datastore_timeout;
                        calls.push(Box::pin(async move {
                            let result = timed(
                                limit,
                                "writing status",
                                ds.write_status(&name, &status, &expected_version),
                            )
                            .await;
                            Event::Written {
                                name,
                                ticket,
                                result,
                            }
                        }));
                    }
                    Action::Reread { name, ticket } => {
                        let ds = datastore.clone();
                        let limit = config.datastore_timeout;
                        calls.push(Box::pin(async move {
                            let result =
                                timed(limit, "re-reading the resource", ds.get(&name)).await;
                            Event::Reread {
                                name,
                                ticket,
                                result,
                            }
                        }));
                    }
                }
            }
            metrics.set_resources(core.len());
            metrics.set_routes_left_out(core.routes_left_out());
            metrics.set_confirmed(core.confirmed());
        };

        watcher.abort();
        drop(collection);
        drop(calls);
        let _ = stop_http.send(());
        // A server that already ended (the error above) must not be awaited again.
        if !server.is_finished()
            && tokio::time::timeout(2 * HTTP_DRAIN, &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
        tracing::info!("agent stopped");
        result
    }
}

fn start_collection(
    endpoints: &Endpoints,
    options: &CollectOptions,
    classes: Vec<NodeStatusClass>,
    resources: Vec<String>,
) -> Boxed<(Snapshot, Duration, usize)> {
    let endpoints = endpoints.clone();
    let options = options.clone();
    let span = tracing::debug_span!("collect", ?classes, ?resources);
    let served = resources.len();
    Box::pin(
        async move {
            let started = Instant::now();
            let snapshot = collect(&endpoints, &classes, &options).await;
            let took = started.elapsed();
            tracing::debug!(?took, "collected");
            (snapshot, took, served)
        }
        .instrument(span),
    )
}

/// True when the collection read every part it asked for from at least one daemon: a part
/// that failed, or no daemon reachable at all, is a failed collection. One family's daemon
/// absent is not (a BIRD 1.6 node without IPv6 runs no `bird6`).
fn collection_succeeded(snapshot: &Snapshot) -> bool {
    let mut reachable = false;
    for family in nodestatus_bird::Family::ALL {
        for (problem, _) in crate::conditions::problems(snapshot, family) {
            match problem.kind {
                "unreachable" | "unrecognised" => {}
                _ => return false,
            }
        }
        reachable |= matches!(snapshot.source(family), nodestatus_bird::Source::Daemon(_));
    }
    reachable
}

/// Logs BIRD problems when they start and end, counts them, and updates the session gauges.
fn observe_bird(
    snapshot: &Snapshot,
    conditions: &mut Conditions,
    sessions: &mut Sessions,
    metrics: &Metrics,
) {
    for family in snapshot.families_once_per_daemon() {
        for (problem, _) in crate::conditions::problems(snapshot, family) {
            metrics.bird_problem(family, &problem);
        }
    }
    for (family, command, unrecognised) in crate::conditions::unrecognised(snapshot) {
        metrics.unrecognised_lines(family, command, unrecognised.count);
    }
    for change in conditions.observe(snapshot) {
        for (problem, message) in &change.started {
            let family = change.family;
            let (kind, command) = (problem.kind, problem.command);
            match kind {
                "unreachable" => {
                    tracing::warn!(%family, kind, error = %message, "BIRD unreachable; the family is reported NotReady, without peers or routes")
                }
                "unrecognised" => {
                    tracing::warn!(%family, kind, command, error = %message, "BIRD reply lines not recognised were left out (a BIRD output format new to nodestatus?); the rest of the reply is used")
                }
                _ => {
                    tracing::warn!(%family, kind, command, error = %message, "BIRD reply unusable; keeping the last good status for that part (a resource without one gets nothing for it)")
                }
            }
        }
        for problem in &change.ended {
            tracing::info!(family = %change.family, kind = problem.kind, command = problem.command, "BIRD problem over");
        }
    }
    sessions.observe(snapshot, metrics);
}

fn count_datastore_result(event: &Event, metrics: &Metrics) {
    match event {
        Event::Written { result: Ok(_), .. } => metrics.status_written(),
        Event::Written {
            result: Err(StoreError::Conflict { .. }),
            ..
        } => metrics.write_conflict(),
        Event::Written {
            result: Err(StoreError::NotFound { .. }),
            ..
        } => {}
        Event::Written {
            result: Err(StoreError::TooLarge { .. }),
            ..
        } => metrics.status_too_large(),
        Event::Written { result: Err(_), .. } => metrics.datastore_error("write"),
        Event::Reread {
            result: Err(StoreError::NotFound { .. }) | Ok(_),
            ..
        } => {}
        Event::Reread { result: Err(_), .. } => metrics.datastore_error("get"),
        _ => {}
    }
}
