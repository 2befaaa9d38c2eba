//! One conformance suite for every `Datastore` backend: the semantics written in
//! `nodestatus-store`'s docs as executable cases, so SQLite, etcd and Kubernetes behave the
//! same for the agent and the CLI.
//!
//! # Plugging a backend in
//! Implement [`Fixture`] for a test fixture that owns one fresh, empty backing store (a temp
//! file, an etcd started for the test, ...) and a handle to it, then generate one test per case
//! in the backend's `tests/conformance.rs`:
//!
//! ```ignore
//! struct MyFixture { /* the backing store and a handle */ }
//!
//! impl nodestatus_store_conformance::Fixture for MyFixture {
//!     fn store(&self) -> Arc<dyn Datastore> { /* the current handle */ }
//!     fn max_object_bytes(&self) -> usize { /* the limit this fixture configured */ }
//!     async fn reconnect(&mut self) { /* drop the handle, open a new one on the same store */ }
//!     async fn restart_backend(&mut self) { /* stop and start the backend itself */ }
//!     async fn compact(&mut self) { /* drop all history up to the current revision */ }
//! }
//!
//! async fn fixture() -> MyFixture { /* start an empty backend */ }
//!
//! nodestatus_store_conformance::conformance_tests!(fixture());
//! ```
//!
//! The macro makes one `#[test]` per case (named after the case in [`cases`]), each running on
//! its own multi-threaded tokio runtime with a fresh fixture, so a test runner can run them in
//! parallel and name the one that fails. The cases are also plain `async fn`s in [`cases`] for
//! a backend that wants to call them another way.
//!
//! # What the cases pin down beyond the trait's docs
//! - `create` keeps the caller's name, labels, annotations, spec and status; the store sets
//!   `resourceVersion`, `uid` and `creationTimestamp` (and may set `generation`/`managedFields`).
//!   Whatever a write returns is exactly what a later `get` returns.
//! - Every change gives a new resource version, and the object in its watch event carries it.
//!   A deleted object, both as returned by `delete` and in its `Deleted` event, carries the
//!   revision of the deletion (as Kubernetes does), so resuming from the last revision a
//!   consumer saw never replays the deletion.
//! - A node-filtered watch sees `Added` when `spec.node` moves into the filter and `Deleted`
//!   when it moves out, with the revision of the change (its content is the state before the
//!   edit on Kubernetes, after it on SQLite and etcd; only name and version are checked).
//!   It never delivers anything for another node's status writes, and may leave out status
//!   writes of its own node's objects ([`Fixture::node_watch_sees_status_writes`]).
//! - `Restarted` holds exactly what `list` with the watch's filter returns at that point.
//! - A watch stream may yield retryable (`Unavailable`) errors while it reconnects; the cases
//!   skip them, but every change must still arrive, once, in order.
//!
//! # Tests
//! The suite is run by each backend's `tests/conformance.rs`; this crate has no tests of its
//! own. Dependencies: `tokio` (runtime, concurrent writers, the hang guard on watch reads),
//! `futures` (reading streams).

pub mod cases;
mod support;

use std::future::Future;
use std::sync::Arc;

use nodestatus_store::Datastore;

/// One fresh backing store for one case, with the hooks the reconnect, restart and compaction
/// cases need. Implemented by each backend's test.
pub trait Fixture: Send + 'static {
    /// The current handle. Cases clone it and drop their clones before `reconnect` and
    /// `restart_backend`.
    fn store(&self) -> Arc<dyn Datastore>;

    /// The largest encoded object the store accepts (the too-large case writes more).
    fn max_object_bytes(&self) -> usize;

    /// Drops the fixture's handle and opens a new one on the same backing store, as a client
    /// restarting would. Watch streams opened earlier may be dropped by the case before this.
    fn reconnect(&mut self) -> impl Future<Output = ()> + Send;

    /// Stops and restarts the backend itself (for SQLite: every handle is closed and the file
    /// reopened; for etcd: the etcd process). Returns once the backend serves again; watch
    /// streams opened before must keep delivering afterwards.
    fn restart_backend(&mut self) -> impl Future<Output = ()> + Send;

    /// Drops all history up to the current revision, so a watch from an older revision
    /// cannot be resumed.
    fn compact(&mut self) -> impl Future<Output = ()> + Send;

    /// Whether a node-filtered watch delivers writes of `status` alone. The trait allows
    /// either (an agent learns its own writes' versions from `write_status`); etcd's does not,
    /// so that status writes reach no agent.
    fn node_watch_sees_status_writes(&self) -> bool {
        true
    }
}

/// Runs one case on a fresh multi-threaded runtime (used by [`conformance_tests!`]).
#[doc(hidden)]
pub fn run<F: Future<Output = ()>>(case: F) {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(case),
        Err(e) => panic!("cannot start a tokio runtime: {e}"),
    }
}

/// Generates one `#[test]` per conformance case for a backend. The argument is an expression
/// evaluating to a future of a fresh [`Fixture`] (e.g. `my_fixture()` for an `async fn`); it is
/// evaluated once per test.
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:expr) => {
        $crate::conformance_tests!(@cases $fixture;
            crud_round_trip,
            invalid_object_is_rejected_and_nothing_is_stored,
            write_status_changes_only_the_status,
            update_spec_keeps_the_status,
            update_replaces_labels_and_annotations_and_generation_counts_spec_changes,
            write_status_after_a_spec_edit_conflicts,
            stale_version_conflicts_on_update_spec_and_delete,
            watch_from_list_revision_sees_later_changes_in_order,
            watch_from_now_sees_only_later_changes,
            watch_filtered_by_node_sees_only_that_node,
            watch_filtered_by_node_hears_nothing_of_other_nodes_status_writes,
            watch_resumes_after_reconnect_with_exactly_the_missed_events,
            watch_keeps_delivering_after_backend_restart,
            watch_from_compacted_revision_restarts_with_the_full_list,
            restarted_watch_resynced_gives_missed_changes_and_deletes_in_order,
            concurrent_status_writes_never_lose_a_spec_edit,
            too_large_object_is_rejected,
        );
    };
    (@cases $fixture:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run(async { $crate::cases::$case($fixture.await).await });
            }
        )*
    };
}
