//! The nodestatus node agent: reports BIRD's state into the `CalicoNodeStatus` resources of
//! its node.
//!
//! It watches only the resources whose `spec.node` is its node, and keeps one schedule for all
//! of them, aligned so resources with the same period share ticks, and shifted by a phase
//! derived from the node name so that nodes started together spread their collections and
//! writes over the period (a new resource or a spec change is still collected at once, not at
//! the next tick). At each tick one BIRD
//! collection (one connection per daemon, one command per class, the union of the classes of
//! every resource due) serves every resource due; each gets the status for its own classes,
//! with parts whose reply was unusable kept from its last good status. A status is written
//! only when it reports a different state than the stored one (`lastUpdated` aside, and BIRD's
//! times may wobble by a second: BIRD 1.6 prints them so), status only and
//! compare-and-swap on the resource version; conflicts re-read and retry with jittered
//! backoff, a bounded number of times; an outage retries with backoff and then writes only
//! the latest status. `updatePeriodSeconds: 0` collects once, at creation or spec change.
//!
//! Size: a status holds at most `AgentConfig::max_status_routes` routes (20,000), and when
//! the datastore refuses a status as too large the agent learns how many routes fit and
//! writes Agent, BGP and those routes (FIB before RIB, IPv4 before IPv6, each by
//! destination), recording BIRD's totals in `status.routes.truncated`, which `nodestatus get`
//! shows as `kept/total (truncated)`; it logs a warning and counts
//! `nodestatus_status_too_large_total` and `nodestatus_status_routes_left_out{resource}`. The
//! route limit is kept until the spec changes, so an unchanged BIRD still writes nothing.
//!
//! Probes: `/healthz` fails when the event loop has not turned 30 s after the wake-up time it
//! set itself (its next tick; an idle loop sleeps until then, with no heartbeat) or a
//! collection runs past its deadline; `/readyz` fails until the first list, and while the last collection failed (a
//! part unusable, or no daemon reachable) or the last status write failed. The HTTP server
//! caps its connections and times out headers and connections (`HttpLimits`), so idle clients
//! cannot take the descriptors the BIRD socket needs. A status that could not be reconfirmed
//! stays in the datastore unchanged; `nodestatus_status_confirmed_timestamp_seconds{resource}`
//! says when a collection last read every part of it (no write is made to say so).
//!
//! Design: a pure core (`core`: events in, actions out, no I/O or clock; with `schedule`, the
//! aligned due times, and `compare`, when two statuses say the same) driven by one event loop
//! (`agent`) that owns the edges — the watch task (`watch`), the collection, datastore calls,
//! time — and turns every outcome into the next event. `conditions` logs BIRD problems once
//! per change, `metrics` counts everything, `http` serves `/metrics`, `/healthz`, `/readyz`.
//!
//! Dependencies: `nodestatus-api`, `nodestatus-bird`, `nodestatus-store` (the types, the BIRD
//! collection and mapping, the datastore trait); `tokio` (the loop, timers, channels);
//! `futures` (the watch stream, the set of datastore calls under way); `axum` (HTTP routes),
//! `hyper`/`hyper-util` (the HTTP/1 connections under them, served by our accept loop, which
//! caps connections and sets header timeouts that `axum::serve` does not offer);
//! `prometheus-client` (metrics in the Prometheus/OpenMetrics text format); `jiff`
//! (`lastUpdated` in RFC 3339 UTC); `fastrand` (backoff jitter, seedable for replay tests);
//! `thiserror`, `tracing`.
//!
//! Tests: unit tests per module, and replay tests of the core (`src/replay_tests.rs`): event
//! sequences with snapshots built from BIRD replies recorded in a real lab (the bird crate's
//! captures in `crates/bird/tests/fixtures`, and the reporter's own in `tests/fixtures`, see its
//! README) and the exact actions each step must produce. End to end
//! (`tests/e2e.rs`): the agent in-process against real BIRD 1.6, 2.0, 2.17 and 3 daemons in network
//! namespaces (`nodestatus-lab`) and real datastores — SQLite, and etcd started, stopped and
//! restarted by the etcd crate's harness; they need root, BIRD and etcd, as in CI, and fail
//! (never skip) without them. Faults (`tests/faults.rs`, `tests/fd_exhaustion.rs`, a fake BIRD
//! socket in `tests/common/fake_bird.rs`): a trickling BIRD (collections end at their deadline,
//! `/readyz` says so, nothing is claimed, recovery writes `Ready`), 100,000 routes on a real
//! etcd (Agent, BGP and the routes that fit, then no further writes), and 400 idle HTTP
//! connections under a lowered descriptor limit (the agent still reads BIRD and answers
//! `/healthz`; `libc` dev-dependency for `setrlimit`). Cost: `cargo bench -p nodestatus-reporter --bench agent` (CPU,
//! memory and collection time of an agent on a 3-node lab).

mod agent;
mod backoff;
mod compare;
mod conditions;
mod config;
mod core;
mod http;
mod metrics;
mod schedule;
mod watch;

#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod testkit;

pub use agent::{Agent, AgentError};
pub use backoff::Backoff;
pub use config::{AgentConfig, DEFAULT_LISTEN};
pub use http::HttpLimits;
