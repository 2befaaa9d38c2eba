//! BIRD's control socket for nodestatus: reply framing, exact parsers for BIRD 1.6, 2.x and 3.x,
//! an async client, one-connection-per-daemon collection, and the pure mapping to the
//! `CalicoNodeStatus` status.
//!
//! Layers, bottom up (one straight stack: each uses only the ones above it in this list):
//! - `parse/` (no I/O), [`reply`]: framing of BIRD's reply codes into [`Reply`]s, incrementally ([`Framer`]); no I/O.
//! - `parse/show_status.rs` ([`parse_status`]), `parse/show_protocols.rs` ([`parse_protocols`]),
//!   `parse/show_route.rs` ([`RouteTable::parse`]), with [`ParseError`] in `parse/error.rs`:
//!   typed parsers for `show status`, `show protocols [all]`, `show route [all]`; no I/O. Lenient where it is
//!   safe: a `show route` line that cannot be understood costs that line and its route, an
//!   unknown `show status` field costs nothing, and both are counted with the first as an
//!   example ([`Unrecognised`]), so a new BIRD format shows up instead of emptying the table.
//!   Strict where it is not: a `show protocols` row (the session counts are totals over the
//!   rows), BIRD's error replies and framing. Unknown codes are skipped. Route tables keep the
//!   reply text and offsets into it, so 100,000 routes parse in a few milliseconds without a
//!   string copy per line.
//! - [`Connection`]: tokio Unix socket, greeting, one command per round-trip, every reply
//!   bounded by silence (`timeout`), by a whole-reply deadline (a peer trickling a byte a second
//!   is cut) and by size (32 MiB by default, well under the DaemonSet's 256Mi with the memory
//!   the rest of a collection takes; the read buffer never grows past the bound).
//! - [`collect`]: finds the daemons ([`Endpoints`]; BIRD 1.6's `bird.ctl` + `bird6.ctl`, or one
//!   BIRD 2/3 daemon for both families, told apart by the greeting), runs one command per
//!   requested class per daemon and records every outcome in a [`Snapshot`]; the collection as
//!   a whole has a deadline too ([`CollectOptions::deadline`]), so it always ends.
//! - [`map_snapshot`]: snapshot + classes → status, with per class and family [`Outcome`]s so
//!   the reporter knows what to keep from the last good status ([`Mapped::merge_last_good`]);
//!   a failed part without a last good value claims nothing (no `Ready` from a greeting
//!   alone). [`map_snapshot_within`] keeps at most a number of routes, sorted and chosen while
//!   still in the reply text, so only the kept routes take memory. [`map_snapshot_lazy`] leaves the
//!   routes there ([`RouteLists`], 16 bytes an entry, serialized one borrowed entry at a time),
//!   for printing 100,000 routes without a status of owned strings (`nodestatus collect`).
//!
//! No presentation here: the agent links this crate, and the `calicoctl node status`-like
//! tables of `nodestatus bird` live in the CLI (`cli/src/commands/bird_tables.rs`), built on
//! [`peers`] and [`map_snapshot`].
//!
//! BIRD 2.17 and 3.1 against 2.0 (Debian 13's `bird2` 2.17.6 and `bird3` 3.1.8, captured in
//! `tests/fixtures/bird2.17*`, `bird3*` and `loopback-bird3`): the status every version maps to
//! is the same, field for field, in every capture. What they print differently, and why nothing
//! of it is mapped:
//! - `show status`, `show protocols`, `show route`, `show route count` and the `0024`
//!   graceful-restart lines: no difference in form. BIRD 3 lists protocols in an order that is
//!   stable for a daemon but not always the configuration's (on loopback, `device1` and
//!   `direct1`, declared first, came last); BGP sessions kept their configuration order among
//!   themselves in every capture, and peers are written in BIRD's order as before.
//! - `show protocols all`, all detail lines skipped by the parser, which reads only the lines it
//!   maps: BIRD 3 adds `Created:` to every protocol and aligns `Description:` wider; BGP adds
//!   `Neighbor port:` (a non-default port), `TX pending:` and `Send hold timer:` (also 2.17), and
//!   per channel `Pending N attribute sets ...`; channels add `Import state:` and `Export
//!   state:` (`UP`, `DOWN`, `READY`, ...: the channel's `State:` is kept, these say only how far
//!   route exchange got) and two columns (`RX limit`, `limit`) in `Route change stats`.
//! - `show route all` (not used for the status; `show route` is): BIRD 3 prints attributes under
//!   their filter names (`preference:`, `source:`, `from:`, `igp_metric:`, `hostentry:`,
//!   `bgp_origin:`, `bgp_path:`, `bgp_next_hop:`, `bgp_local_pref:`, `krt_source:`,
//!   `krt_metric:`) instead of `Type:`, `BGP.origin:`, `Kernel.source:`..., and adds `1008
//!   Internal route handling values: ...`; attribute lines (`1008`, `1012`) are skipped in
//!   every version.
//! - No new protocol or BGP state appeared in the captures (sessions `up`/`start`/`down`,
//!   `Established`, `Active`, `Connect`, `Passive`, `Down`); BIRD 3's `Flush` is mapped from
//!   its printing code.
//!
//! Dependencies: `nodestatus-api` (the status types mapped to), `tokio` (socket, timeouts),
//! `memchr` (fast line splitting of multi-megabyte replies), `serde` (parsed values as JSON for
//! golden tests and tools), `thiserror` (typed errors), `tracing` (logs).
//!
//! Tests: unit tests per module with replies in BIRD's real grammar (framing split at every byte,
//! continuation lines, error replies, `0013`/`0014`/`0024`; 1.6 and 2.x/3.x rows and routes:
//! `down`/`Passive` sessions, error reasons, `iso long` times, multipath, `onlink`, `weight`,
//! `from`, blackhole/unreachable/prohibited, alternatives, networks of other types, every
//! built-in `timeformat`, BIRD 3's `Flush` state), built with BIRD's own format strings where
//! no capture exists; golden tests (`tests/golden.rs`) on
//! replies captured from real BIRD 1.6, 2.0, 2.17 and 3.1 (`tests/fixtures/`, written by the lab
//! crate and by hand on loopback) against reviewed expected JSON in `tests/golden/`
//! (`NODESTATUS_BLESS=1` rewrites them after a recapture); tests against real `bird`, `bird6`,
//! BIRD 2.0, 2.17 and 3.1 daemons started on temporary sockets (`tests/daemon.rs`: both families
//! from one daemon, error replies, a 20,000-route table, graceful-restart recovery); property tests
//! (`tests/robustness.rs`, dev-dependency `proptest` for generated inputs that shrink to a
//! minimal failing case, seeds kept in `tests/robustness.proptest-regressions`): framing of any
//! bytes is the same in any pieces and ends every reply at its first last line, and arbitrary
//! bytes, BIRD-shaped lines and the captures with lines deleted, duplicated, swapped, inserted
//! or made very long, bytes replaced and cuts anywhere give the parsers and the mapping a
//! value or an error, never a panic; a failed part keeps the last good value.
//! Faults (`tests/faults.rs`, a bare socket playing the peer): a trickled reply fails at its
//! deadline, a collection from trickling daemons at its own, a daemon that greets and stalls
//! gives a status claiming nothing, a runaway reply is refused at the bound with a peak RSS
//! under a quarter of the DaemonSet's limit.
//! Speed and memory: `cargo bench -p nodestatus-bird --bench parse`.

mod client;
mod collect;
mod family;
mod mapping;
mod parse;

pub use client::{ClientError, ClientOptions, Connection};
pub use collect::{
    CollectError, CollectOptions, DEFAULT_BIRD_SOCKETS, DEFAULT_BIRD6_SOCKETS, Daemon, Endpoints,
    Part, SHOW_PROTOCOLS_ALL, SHOW_ROUTE, SHOW_STATUS, Snapshot, Source, Unreachable, collect,
    major_version,
};
pub use family::{peer_address_from_name, peer_type};
pub use mapping::{
    Mapped, Outcome, Outcomes, RouteLists, map_snapshot, map_snapshot_lazy, map_snapshot_within,
    peers,
};
pub use nodestatus_api::Family;
pub use parse::error::{ParseError, Unrecognised};
pub use parse::reply;
pub use parse::reply::{BirdError, FrameError, Framer, Reply};
pub use parse::show_protocols::{BGP_STATES, Bgp, Channel, Protocol, RouteCounts, parse_protocols};
pub use parse::show_route::{NextHop, NextHops, Route, RouteKind, RouteTable};
pub use parse::show_status::{Status, parse_status};
