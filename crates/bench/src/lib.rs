//! The engine of `nodestatus bench fleet`: N simulated nodes in one process against one real
//! datastore. Each node is the real agent (`nodestatus-reporter`: its watch, schedule,
//! collection over a BIRD control socket, mapping, compare-and-swap writes) on its own
//! synthetic BIRD 2 socket ([`fake_bird`]: capped mesh peers, 20–200 routes per node), with
//! its own watch on a real datastore client; one operator watch sees every object.
//!
//! A run: create one resource per node, start the agents, wait until every node's first
//! status is visible to the operator's watch; then change every node's BIRD at once (one more
//! route each) and time how long until every new status is written and visible
//! (`converge_seconds`; it includes up to one `updatePeriodSeconds`, the agents' next tick).
//! Meanwhile it counts status writes and watch deliveries (to the agents and the operator) in
//! a wrapper around each client ([`counting`]), and reads the datastore's cost from its
//! Prometheus `/metrics` (etcd: gRPC bytes received and sent, watchers, process CPU and RSS)
//! or from `/proc/<pid>`, and our own from `/proc/self` ([`usage`]).
//!
//! `calico_style` runs the comparison in the same process: every agent's watch is the
//! unfiltered one filtered on the client, so every node receives every object's writes (what
//! Calico's reporter and, before its per-node index, our etcd store did), and writes are PUTs
//! of the whole object (as our etcd store's always are).
//!
//! Dependencies: the workspace crates (agent, BIRD options, datastore trait, API types);
//! `tokio` (the runtime, the fake sockets, the metrics HTTP GET), `futures` (streams),
//! `async-trait` (the datastore wrapper), `serde` (the JSON report), `tempfile` (the sockets'
//! directory), `thiserror`, `tracing`.
//!
//! Tests: `tests/fleet.rs` runs a small fleet on a real etcd in both modes and checks the
//! report's fields and the deliveries per write (about 1, and about N in Calico's style).

pub mod counting;
pub mod fake_bird;
mod fleet;
pub mod usage;

pub use fleet::{FleetError, FleetOptions, FleetReport, Progress, run};
