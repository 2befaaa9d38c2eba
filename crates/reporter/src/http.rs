//! The agent's HTTP endpoints (axum): `/metrics` in Prometheus text (OpenMetrics), `/healthz`
//! (the event loop turns and no collection runs past its deadline) and `/readyz` (the first
//! list of resources was read, and the last collection and the last status write succeeded);
//! and the server they run on, bounded so that clients cannot starve the agent: at most
//! [`HttpLimits::max_connections`] connections (further ones wait in the kernel's backlog,
//! holding none of the agent's descriptors), a request's headers must arrive within
//! [`HttpLimits::header_timeout`], and a connection lives at most
//! [`HttpLimits::connection_lifetime`] (idle keep-alive connections included).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::metrics::Metrics;

/// How long past the wake-up time it set itself the event loop may go without turning before
/// `/healthz` fails. The loop sleeps until its next due time (at most
/// [`LONGEST_SLEEP`](crate::agent::LONGEST_SLEEP)) or an event, and nothing in it blocks, so
/// a loop that has not turned by then is stuck, however long it meant to sleep.
pub(crate) const STUCK_AFTER: Duration = Duration::from_secs(30);

/// How far past its own deadline a collection may run before `/healthz` fails: the deadline
/// ends every collection, so one still running then means the agent is broken.
pub(crate) const COLLECTION_GRACE: Duration = Duration::from_secs(10);

/// Bounds of the HTTP server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time for a request's headers to arrive.
    pub header_timeout: Duration,
    /// Time a connection may stay open, requests and idle time together.
    pub connection_lifetime: Duration,
}

impl HttpLimits {
    /// 32 connections (Prometheus and the kubelet's probes need a few), 5 s for headers, 60 s
    /// per connection.
    pub const DEFAULT: HttpLimits = HttpLimits {
        max_connections: 32,
        header_timeout: Duration::from_secs(5),
        connection_lifetime: Duration::from_secs(60),
    };
}

/// Liveness and readiness, written by the event loop, read by the HTTP handlers.
#[derive(Debug)]
pub(crate) struct Health {
    start: Instant,
    /// Milliseconds from `start` to the time the event loop, at its last turn, meant to wake
    /// by at the latest.
    wake_by_ms: AtomicU64,
    /// Milliseconds from `start` by which the running collection must end, 0 when none runs.
    collection_due_ms: AtomicU64,
    listed: AtomicBool,
    collection_ok: AtomicBool,
    write_ok: AtomicBool,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            wake_by_ms: AtomicU64::new(0),
            collection_due_ms: AtomicU64::new(0),
            listed: AtomicBool::new(false),
            collection_ok: AtomicBool::new(true),
            write_ok: AtomicBool::new(true),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The event loop turned and will wake again by `wake_by` at the latest (sooner on an
    /// event). Nothing needs to wake it just to say it is alive.
    pub(crate) fn turned(&self, wake_by: Instant) {
        let ms = wake_by.saturating_duration_since(self.start).as_millis();
        self.wake_by_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The first list of resources was handled.
    pub(crate) fn set_listed(&self) {
        self.listed.store(true, Ordering::Relaxed);
    }

    /// A collection started that must end within `deadline`.
    pub(crate) fn collection_started(&self, deadline: Duration) {
        let due = self.now_ms() + u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX / 2);
        self.collection_due_ms.store(due.max(1), Ordering::Relaxed);
    }

    /// The collection ended; `ok` when every requested part was read.
    pub(crate) fn collection_ended(&self, ok: bool) {
        self.collection_due_ms.store(0, Ordering::Relaxed);
        self.collection_ok.store(ok, Ordering::Relaxed);
    }

    /// A status write ended; `ok` unless the datastore failed it.
    pub(crate) fn write_ended(&self, ok: bool) {
        self.write_ok.store(ok, Ordering::Relaxed);
    }

    /// How long the event loop is past the time it meant to wake by (zero when it is not).
    fn loop_late(&self) -> Duration {
        let wake_by = Duration::from_millis(self.wake_by_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(wake_by)
    }

    /// How long the running collection is past its deadline, if it is.
    fn collection_overdue(&self) -> Option<Duration> {
        let due = self.collection_due_ms.load(Ordering::Relaxed);
        let now = self.now_ms();
        (due != 0 && now > due).then(|| Duration::from_millis(now - due))
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes; open connections
/// then get `drain` to finish. Fails only if accepting fails for a reason other than a lack of
/// descriptors or memory (which pass: the loop waits a moment and accepts again).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let result = loop {
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            () = &mut shutdown => break Ok(()),
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break Ok(()),
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break Ok(()),
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_resource_shortage(&e) => {
                tracing::warn!(error = %e, "cannot accept an HTTP connection; retrying shortly");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            // Errors of one connection (reset before accept, ...): the next may be fine.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => break Err(e),
        };
        let service = TowerToHyperService::new(app.clone());
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            // Ends idle keep-alive connections and clients that read slowly alike.
            let _ = tokio::time::timeout(limits.connection_lifetime, connection).await;
            drop(slot);
        });
    };
    let _ = tokio::time::timeout(drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
    result
}

/// Out of descriptors or memory: passes when connections close.
fn is_resource_shortage(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_codes::EMFILE | libc_codes::ENFILE | libc_codes::ENOBUFS | libc_codes::ENOMEM)
    )
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Linux errno values (the agent runs on Linux, as BIRD does).
mod libc_codes {
    pub(super) const ENOMEM: i32 = 12;
    pub(super) const ENFILE: i32 = 23;
    pub(super) const EMFILE: i32 = 24;
    pub(super) const ENOBUFS: i32 = 105;
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

pub(crate) fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health })
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.metrics.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("encoding metrics failed: {e}\n"),
        ),
    }
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, String) {
    let late = state.health.loop_late();
    if late > STUCK_AFTER {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "event loop stuck: {}s past its wake-up time\n",
                late.as_secs()
            ),
        );
    }
    match state.health.collection_overdue() {
        Some(late) if late > COLLECTION_GRACE => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("BIRD collection {}s past its deadline\n", late.as_secs()),
        ),
        _ => (StatusCode::OK, "ok\n".to_owned()),
    }
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let health = &state.health;
    if !health.listed.load(Ordering::Relaxed) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first list of resources\n",
        )
    } else if !health.collection_ok.load(Ordering::Relaxed) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the last BIRD collection failed (see the log and nodestatus_bird_errors)\n",
        )
    } else if !health.write_ok.load(Ordering::Relaxed) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the last status write failed (see the log and nodestatus_datastore_errors)\n",
        )
    } else {
        (StatusCode::OK, "ready\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(health: &Arc<Health>) -> State<AppState> {
        State(AppState {
            metrics: Arc::new(Metrics::new()),
            health: health.clone(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn healthz_judges_the_loop_by_the_wake_up_time_it_set_itself_not_by_how_long_it_slept() {
        let health = Arc::new(Health::new());
        // An idle loop sleeping a minute until its next tick is alive all that time.
        health.turned(Instant::now() + Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(
            healthz(state(&health)).await,
            (StatusCode::OK, "ok\n".to_owned())
        );
        // Late by up to STUCK_AFTER (a busy machine) is still alive; more is stuck.
        tokio::time::advance(Duration::from_secs(1) + STUCK_AFTER).await;
        assert_eq!(healthz(state(&health)).await.0, StatusCode::OK);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            healthz(state(&health)).await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "event loop stuck: 31s past its wake-up time\n".to_owned()
            )
        );
        // A turn clears it.
        health.turned(Instant::now() + Duration::from_secs(10));
        assert_eq!(healthz(state(&health)).await.0, StatusCode::OK);
    }

    #[tokio::test(start_paused = true)]
    async fn healthz_fails_when_a_collection_runs_past_its_deadline_and_grace() {
        let health = Arc::new(Health::new());
        health.turned(Instant::now() + Duration::from_secs(1));
        health.collection_started(Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(30) + COLLECTION_GRACE).await;
        health.turned(Instant::now() + Duration::from_secs(1));
        assert_eq!(
            healthz(state(&health)).await,
            (StatusCode::OK, "ok\n".to_owned())
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        health.turned(Instant::now() + Duration::from_secs(1));
        assert_eq!(
            healthz(state(&health)).await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "BIRD collection 12s past its deadline\n".to_owned()
            )
        );
        health.collection_ended(false);
        assert_eq!(
            healthz(state(&health)).await,
            (StatusCode::OK, "ok\n".to_owned())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn readyz_follows_the_first_list_the_last_collection_and_the_last_write() {
        let health = Arc::new(Health::new());
        let code = |h: &Arc<Health>| {
            let s = state(h);
            async move { readyz(s).await.0 }
        };
        assert_eq!(code(&health).await, StatusCode::SERVICE_UNAVAILABLE);
        health.set_listed();
        assert_eq!(code(&health).await, StatusCode::OK);
        health.collection_ended(false);
        assert_eq!(code(&health).await, StatusCode::SERVICE_UNAVAILABLE);
        health.collection_ended(true);
        health.write_ended(false);
        assert_eq!(code(&health).await, StatusCode::SERVICE_UNAVAILABLE);
        health.write_ended(true);
        assert_eq!(code(&health).await, StatusCode::OK);
    }
}
