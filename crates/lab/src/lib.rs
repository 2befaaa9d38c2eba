//! A real-BGP lab: BIRD daemons with Calico-style configurations in network namespaces, for the
//! BIRD parser tests (real replies), the agent's end-to-end tests and `nodestatus lab`.
//!
//! [`Lab::up`] builds, for a [`LabSpec`] (1 to 20 nodes, a [`BirdVersion`], a directory, a name
//! prefix):
//! - a hub namespace `<prefix>-hub` with bridge `br0`, and per node `nI` a namespace `<prefix>-nI`
//!   whose `eth0` is a veth to the bridge; nothing touches the host's network;
//! - node `nI` has 10.99.0.(10+I)/24 and fd99::(10+I)/64 (IPv6 without duplicate address
//!   detection, so sessions start at once); its router ID is the IPv4 address;
//! - BIRD configs in the shape Calico's confd renders: `kernel1` (learn, scan time 2, graceful
//!   restart, merge paths), `device1`, `direct1`, `static1` (BIRD 2 and 3: also `kernel2`,
//!   `static2` for IPv6), a `bgp_template` and full-mesh iBGP (AS 64512) sessions `Mesh_<ip>` in both families,
//!   unidirectional like Calico's (the smaller address is passive);
//! - routes, per node I: its IPAM block 10.99.(100+I).0/26 / fd99:(100+I)::/122 (blackhole,
//!   exported to the mesh; the IP pool is 10.99.64.0/18 / fd99:100::/24); the block
//!   10.99.100.0/26 / fd99:100::/122 announced by both n1 and n2 (so other nodes hold one FIB and
//!   one RIB route for it); an unreachable 10.99.(200+I).0/26 / fd99:(200+I)::/122 (outside the
//!   pool, kept local); a kernel route 10.99.(30+I).0/24 / fd99:(30+I)::/64 via the next node,
//!   added with `ip route` for `kernel1` to learn;
//! - peers that never answer: `Node_10_99_0_(200+I)` / `Node_fd99__(200+I)` (per node) and
//!   `Global_10_99_0_250` / `Global_fd99__250` (AS 65001), addresses no namespace holds;
//! - with BIRD 2 and 3, the IPv4 session between n1 and n2 also carries IPv6 (multiprotocol), so
//!   IPv6 routes are learned over a session named after an IPv4 address.
//!
//! Versions ([`BirdVersion`], `nodestatus lab up --bird 1.6|2|2.17|3`): Debian 12's BIRD 1.6.8
//! (`/usr/sbin/bird`, `bird6`) and 2.0.12 (`/opt/nodestatus/bird2`), and Debian 13's 2.17 and 3.1,
//! which need Debian 13's C library: scripts/install-bird-current.sh unpacks both with it under
//! `/opt/nodestatus` and writes wrappers (`/opt/nodestatus/bird2.17/bin/bird`,
//! `/opt/nodestatus/bird3/bin/bird`, and `birdc` beside them) that `exec` the daemon through that
//! library's loader, so the PID the lab records is the daemon's. BIRD 2.17 and 3 run the BIRD 2
//! configuration unchanged: BIRD 3.1.8 accepts every line of it (functions, the filter, kernel
//! `learn`/`persist`/`scan time`/`graceful restart`/`merge paths`, device `scan time`, direct
//! interface patterns, the BGP template with channels, `add paths`, `next hop address`, the
//! timers, `passive`, `graceful restart time`) and behaves as BIRD 2 on it: the same sessions,
//! routes and status (`tests/full_status.rs`). Where BIRD 3's replies differ in form is listed
//! in nodestatus-bird's crate docs.
//!
//! BIRD 1.6 runs `bird` (IPv4, `bird.ctl`) and `bird6` (IPv6, `bird6.ctl`) per node, BIRD 2 and 3
//! one `bird` (`bird.ctl`); sockets, PID files, configs and logs live in `<dir>/nI/`. The state file
//! `<dir>/lab.json` lets another process find and stop everything ([`status`], [`down`]); processes
//! are stopped by PID and start time, never by name. [`LabState::expected`] computes, from the
//! topology alone, what each node's status must contain.
//!
//! Namespaces, links and routes are made with the `ip` command (see the `netns` module for why).
//!
//! Dependencies: `nodestatus-api` (the status types `expected` is written in), `nix` (signals,
//! effective UID), `serde`/`serde_json` (state file), `thiserror`, `tracing`. For tests only:
//! `nodestatus-bird` and `tokio` (collect the status from the lab), `tempfile` (lab directories).
//!
//! Tests: unit tests for the address plan and process handling; the integration tests (root and
//! BIRD required; they fail with the lab's message, never skip, without them) bring real labs
//! up with every BIRD version: `fixtures` records the golden replies nodestatus-bird parses
//! (`NODESTATUS_UPDATE_FIXTURES=1` rewrites them), `full_status` compares the whole status
//! nodestatus-bird collects with `expected`, `lifecycle` checks teardown leaves nothing behind,
//! state-file use from elsewhere, labs side by side and refused specs. Timing:
//! `cargo bench -p nodestatus-lab --bench lab_up`.

mod config;
mod control;
mod error;
mod expected;
mod lab;
mod netns;
mod process;
mod spec;
mod state;
mod topology;

pub use error::{LabError, Result};
pub use expected::{ExpectedNode, ExpectedPeer, ExpectedState};
pub use lab::{Lab, ProcessNetwork, ProcessSpec, down, status};
pub use nodestatus_api::sort_routes;
pub use process::ProcessId;
pub use spec::{BirdVersion, Family, LabSpec, MAX_NODES, unique_prefix};
pub use state::{Daemon, DisabledProtocol, LabState, Node, Process, STATE_FILE};
