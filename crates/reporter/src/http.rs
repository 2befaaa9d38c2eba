//! The agent's HTTP endpoints (axum): `/metrics` in Prometheus text (OpenMetrics), `/healthz`
//! (the process is up and its event loop turns) and `/readyz` (the first list of resources
//! has been read).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::time::Instant;

use crate::metrics::Metrics;

/// How long the event loop may go without turning before `/healthz` fails. The loop wakes at
/// least every [`HEARTBEAT`](crate::agent::HEARTBEAT), and nothing in it blocks.
pub(crate) const STUCK_AFTER: Duration = Duration::from_secs(30);

/// Liveness and readiness, written by the event loop, read by the HTTP handlers.
#[derive(Debug)]
pub(crate) struct Health {
    start: Instant,
    /// Milliseconds from `start` to the event loop's last turn.
    beat_ms: AtomicU64,
    ready: AtomicBool,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            beat_ms: AtomicU64::new(0),
            ready: AtomicBool::new(false),
        }
    }

    /// The event loop turned.
    pub(crate) fn beat(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.beat_ms.store(ms, Ordering::Relaxed);
    }

    /// The first list of resources was handled.
    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    fn since_beat(&self) -> Duration {
        let beat = Duration::from_millis(self.beat_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(beat)
    }
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
    let idle = state.health.since_beat();
    if idle > STUCK_AFTER {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("event loop stuck for {}s\n", idle.as_secs()),
        )
    } else {
        (StatusCode::OK, "ok\n".to_owned())
    }
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.health.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first list of resources\n",
        )
    }
}
