//! The embedded default datastore: every `CalicoNodeStatus` in one SQLite file that any number
//! of processes share (an agent, CLI calls, several agents of a lab), with store-wide revisions
//! and watches that see other processes' changes.
//!
//! # Schema
//! - `store`: one row — `revision` (the last revision handed out), `compacted` (events up to
//!   this revision have been dropped from the log), `history_bytes` (size of the log).
//! - `objects`: one row per object — `name` (primary key), `node` (`spec.node`, indexed with the
//!   name for node-filtered lists), `revision`, and `metadata`, `spec`, `status` as JSON text
//!   (`status` NULL when there is none).
//! - `events`: the change log — `revision` (primary key), `name`, `node_before` / `node_after`
//!   (`spec.node` before and after the change, NULL for "did not exist"), `object` (the whole
//!   object after the change as JSON; for a delete, its last state) and `size`.
//! - `PRAGMA user_version` holds the schema version (1); a file with another version is refused.
//!
//! # Revisions
//! Every write (create, update_spec, write_status, delete) is one `BEGIN IMMEDIATE` transaction
//! that takes the next revision (`store.revision + 1`), changes the object, sets its
//! `metadata.resourceVersion` to that revision (decimal) and appends one event. Revisions are
//! therefore gapless and totally ordered across processes. Compare-and-swap compares the given
//! version with the stored one inside that transaction, and `update_spec` without a version
//! reads and writes in it, so it always lands on top of the current status. A deleted object
//! (returned by `delete` and in its watch event) carries the revision of its deletion, as in
//! Kubernetes, so the revision a consumer saw last is always the newest it knows.
//! `create` keeps the caller's name, labels, annotations and `managedFields` and sets `uid` (a random UUID),
//! `creationTimestamp` and `resourceVersion`; other metadata is not stored.
//!
//! # Watch
//! A watch remembers the last revision it delivered and reads `events` after it (filtered by
//! `node_before`/`node_after`, so an object whose `spec.node` moves into the filter is `Added`
//! and one moving out is `Deleted`, with the object after the change, as Kubernetes sends it).
//! It learns that there is something to read from a per-store notifier: this process's own
//! writes wake it at once, and one poller thread per opened store, while at least one watch is
//! open, reads `store.revision` on its own connection when inotify on the database's directory
//! reports a change of the file or its `-wal` (another process's commit appends to the `-wal`),
//! again 20 ms and 200 ms later (the event comes a moment before the writer publishes its
//! commit), and every `fallback_poll_interval` (2 s by default) as a safety net; without
//! inotify (it cannot be set up, or fails) it reads every `poll_interval` (100 ms by default)
//! instead. Before inotify the poll every 100 ms was the only way: on a busy 2-core machine
//! the `bench` example measured an idle process at 0.03 % of one CPU without a watch and
//! 0.08–0.10 % with one (60–75 µs per poll), with changes of another process after about
//! 50 ms on average, 100 ms at most; with inotify an idle watch reads once every 2 s and
//! another process's change is read at its event, not at the next poll. `inotify` (a thin binding of the
//! kernel API) is used rather than `notify` (a cross-platform framework with its own threads):
//! SQLite's WAL needs one host anyway, and this is Linux. Every watch of one store shares the poller. When the log no longer reaches
//! back to a watch's revision (it was trimmed, or `compact` ran), or the revision is beyond the
//! store's, or the file was replaced (below), the watch logs it and sends `Restarted` with the
//! full filtered list and continues from the store's revision (see `nodestatus_store::Resync`
//! for consumers that need the missed changes and deletes as events).
//!
//! # A replaced file
//! Every operation and every watch poll first checks which file the path names (device and
//! inode, one `stat`). When the file was replaced (moved over, or deleted and created again,
//! e.g. restored from a backup while an agent runs), the store logs a warning, opens the new
//! file (creating the schema if it is empty), closes its connections to the old one (SQLite
//! neither checkpoints into nor deletes the `-wal` of a moved database on close) and every
//! watch restarts with the new file's list (at the rename's inotify event, or within one poll
//! interval). While the
//! path names no file, calls fail with the retryable `Unavailable`; nothing is created there
//! until a write finds a file again. Replace the `-wal`/`-shm` files together with the database
//! (or have none: a database closed by every process has none), as SQLite requires.
//!
//! # Several processes
//! WAL mode lets readers and one writer work at the same time; writers of different processes
//! take turns, waiting up to `busy_timeout` (5 s by default) for the lock, after which the call
//! fails with the retryable `Unavailable`. Inside one process, writes are serialised on one
//! connection so they never wait in SQLite's sleeping busy handler. `synchronous=NORMAL`: a
//! process crash loses nothing; a power cut can lose the last commits. WAL needs every process
//! on the same host and a local filesystem (not NFS), and every process, readers included,
//! needs write access to the directory (for the `-wal` and `-shm` files). A new file is created
//! safely even when several processes open it at once.
//!
//! # Limits
//! - An encoded object larger than `max_object_bytes` (32 MiB by default) is refused with
//!   `TooLarge` (a status with 10,000 routes is about 1.5 MB of JSON, 100,000 about 15 MB).
//! - The event log keeps the last `history_events` events (10,000 by default) and at most
//!   `history_bytes` of objects (64 MiB by default; the newest event is always kept), trimmed
//!   on every write. The byte bound matters because every status write logs the whole object:
//!   10,000 writes of a 1.5 MB status would otherwise keep 15 GB. A watcher further behind gets
//!   `Restarted`. The file therefore stays near the size of the objects plus `history_bytes`.
//! - The `-wal` file is truncated back to 64 MiB after checkpoints.
//! - Calls run on tokio's blocking pool (`spawn_blocking`); nothing blocks the async runtime
//!   except [`SqliteStore::open`], which opens the file and is meant for start-up.
//!
//! # Dependencies
//! `rusqlite` with `bundled` (SQLite compiled in, one known version everywhere); `inotify` and
//! `libc` (`poll(2)` on its descriptor: an event or the fallback timeout); `tokio`
//! (blocking pool, the watch channel, retry sleeps); `serde`/`serde_json` (stored JSON);
//! `k8s-openapi` (the `ObjectMeta`/`Time` types of the metadata); `uuid` (`metadata.uid`);
//! `futures` (the watch stream); `async-trait` (the `Datastore` trait); `tracing`.
//!
//! # Tests
//! `tests/conformance.rs` runs the shared backend conformance suite
//! (`nodestatus-store-conformance`) on temporary files; `tests/cross_process.rs` runs a writer
//! and a watcher, and two racing writers, in separate processes on one file; `tests/sqlite.rs`
//! covers what is SQLite's own (opening, revision numbers, the bounded log, metadata).
//! `examples/bench.rs` measures write throughput, cross-process watch latency and the idle CPU
//! of a watcher, and fails if a cross-process change takes over a second to arrive.

mod db;
mod ops;
mod wakeup;
mod watch;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use nodestatus_api::{CalicoNodeStatus, CalicoNodeStatusStatus};
use nodestatus_store::{
    Change, Datastore, FIRST_GENERATION, Listing, NodeFilter, Result, StoreError, WatchStream,
};
use rusqlite::Connection;

use crate::ops::{Limits, NewObject, Written};
use crate::watch::{Notifier, PollTiming};

/// Where the store lives unless told otherwise (the CLI's `--sqlite-path` / `NODESTATUS_SQLITE_PATH`).
pub const DEFAULT_PATH: &str = "/var/lib/nodestatus/nodestatus.db";

/// Tunables of one opened store. Processes sharing a file may use different values; each
/// applies its own to the writes it makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How long a write waits for another process's write lock before `Unavailable`.
    pub busy_timeout: Duration,
    /// Largest encoded object accepted (`TooLarge` above).
    pub max_object_bytes: usize,
    /// Events kept in the log for watches to resume from (at least 1).
    pub history_events: u64,
    /// Most bytes of objects kept in the log (the newest event is kept even if larger).
    pub history_bytes: u64,
    /// How often a watching process checks for other processes' writes when inotify cannot
    /// tell it of them (inotify unavailable or failing).
    pub poll_interval: Duration,
    /// How often a watching process checks for other processes' writes although inotify tells
    /// it of them: a safety net for an event missed, not the way changes are normally seen.
    pub fallback_poll_interval: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            max_object_bytes: 32 << 20,
            history_events: 10_000,
            history_bytes: 64 << 20,
            poll_interval: Duration::from_millis(100),
            fallback_poll_interval: Duration::from_secs(2),
        }
    }
}

/// A `CalicoNodeStatus` store in one SQLite file. Cheap to clone; clones share connections and
/// the watch poller.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// What every handle and every watch stream of one opened store share.
pub(crate) struct Inner {
    path: PathBuf,
    options: SqliteOptions,
    limits: Limits,
    /// Which file the path names now (a replaced file is opened again).
    file: Arc<db::FileTracker>,
    /// All writes of this process go through this one connection, one at a time; with the
    /// file generation it was opened in.
    writer: Mutex<(Connection, u64)>,
    readers: db::Pool,
    /// Started by the first watch.
    notifier: Mutex<Option<Arc<Notifier>>>,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file and its schema when missing (the directory
    /// must exist). Blocks while opening: call it at start-up or from a blocking task.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<SqliteStore> {
        let invalid = |what: &str| {
            StoreError::internal(
                format!("opening SQLite database {}", path.display()),
                what.to_owned(),
            )
        };
        if options.history_events == 0 {
            return Err(invalid("history_events must be at least 1"));
        }
        if options.poll_interval.is_zero() || options.fallback_poll_interval.is_zero() {
            return Err(invalid(
                "poll_interval and fallback_poll_interval must be more than zero",
            ));
        }
        let writer = db::init(path, options.busy_timeout)?;
        let file = Arc::new(db::FileTracker::new(path.to_path_buf())?);
        let limits = Limits {
            max_object_bytes: options.max_object_bytes,
            history_events: i64::try_from(options.history_events).unwrap_or(i64::MAX),
            history_bytes: i64::try_from(options.history_bytes).unwrap_or(i64::MAX),
        };
        let inner = Inner {
            path: path.to_path_buf(),
            readers: db::Pool::new(path.to_path_buf(), options.busy_timeout),
            options,
            limits,
            file,
            writer: Mutex::new((writer, 0)),
            notifier: Mutex::new(None),
        };
        Ok(SqliteStore {
            inner: Arc::new(inner),
        })
    }

    /// The file this store uses.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Drops the whole event log up to the current revision (returned): watches behind it get
    /// `Restarted`. The log is trimmed on every write anyway; this is for tests and for
    /// reclaiming space at once.
    pub async fn compact(&self) -> Result<String> {
        let (revision, _) = self.inner.read_write(ops::compact).await?;
        Ok(revision.to_string())
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish()
    }
}

impl Inner {
    /// Runs a read on a pooled connection on the blocking pool.
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.read_at(move |conn, _| f(conn)).await
    }

    /// Runs a read on a pooled connection to the file the path names now, telling `f` that
    /// file's generation.
    pub(crate) async fn read_at<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection, u64) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.clone();
        tokio::task::spawn_blocking(move || inner.read_blocking(f))
            .await
            .map_err(|e| StoreError::internal("running a SQLite read", e))?
    }

    fn read_blocking<T>(&self, f: impl FnOnce(&mut Connection, u64) -> Result<T>) -> Result<T> {
        let generation = self.file.generation()?;
        self.readers.with(generation, |conn| f(conn, generation))
    }

    /// Runs `f` on the writer connection (to the file the path names now) on the blocking pool;
    /// returns the file generation too.
    async fn read_write<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<(T, u64)> {
        let inner = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let generation = inner.file.generation()?;
            if writer.1 != generation {
                *writer = (
                    db::init(&inner.path, inner.options.busy_timeout)?,
                    generation,
                );
            }
            Ok((f(&mut writer.0)?, generation))
        })
        .await
        .map_err(|e| StoreError::internal("running a SQLite write", e))?
    }

    /// Runs a write and wakes this process's watchers with its revision.
    async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection, &Limits) -> Result<Written<T>> + Send + 'static,
    ) -> Result<T> {
        let limits = self.limits;
        let (written, generation) = self.read_write(move |conn| f(conn, &limits)).await?;
        if let Some(notifier) = self
            .notifier
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            notifier.advance(generation, written.revision);
        }
        Ok(written.value)
    }

    /// The notifier, started on first use (blocking: opens a connection).
    fn notifier(&self) -> Result<Arc<Notifier>> {
        let mut slot = self.notifier.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(notifier) = slot.as_ref() {
            return Ok(notifier.clone());
        }
        let notifier = Notifier::start(
            self.file.clone(),
            self.path.clone(),
            self.options.busy_timeout,
            PollTiming {
                poll: self.options.poll_interval,
                fallback: self.options.fallback_poll_interval,
            },
        )?;
        *slot = Some(notifier.clone());
        Ok(notifier)
    }
}

/// A revision given by a caller: a `Listing::revision` or a resource version of this store.
fn parse_revision(revision: &str) -> Result<i64> {
    revision
        .parse::<i64>()
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            StoreError::internal(
                format!("watching from revision {revision:?}"),
                "not a revision of this store (a non-negative decimal number)",
            )
        })
}

#[async_trait::async_trait]
impl Datastore for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn create(&self, obj: &CalicoNodeStatus) -> Result<CalicoNodeStatus> {
        let name = obj.metadata.name.clone().unwrap_or_default();
        StoreError::check_valid(obj)?;
        let metadata = ObjectMeta {
            name: Some(name.clone()),
            labels: obj.metadata.labels.clone(),
            annotations: obj.metadata.annotations.clone(),
            managed_fields: obj
                .metadata
                .managed_fields
                .clone()
                .filter(|m| !m.is_empty()),
            uid: Some(uuid::Uuid::new_v4().to_string()),
            creation_timestamp: Some(Time(k8s_openapi::jiff::Timestamp::now())),
            generation: Some(FIRST_GENERATION),
            ..ObjectMeta::default()
        };
        let new = NewObject {
            name,
            node: obj.spec.node.clone(),
            metadata,
            spec: ops::encode("spec", &obj.spec)?,
            status: obj
                .status
                .as_ref()
                .map(|s| ops::encode("status", s))
                .transpose()?,
        };
        self.inner
            .write(move |conn, limits| ops::create(conn, limits, new))
            .await
    }

    async fn get(&self, name: &str) -> Result<CalicoNodeStatus> {
        let name = name.to_owned();
        self.inner.read(move |conn| ops::get(conn, &name)).await
    }

    async fn list(&self, filter: &NodeFilter) -> Result<Listing> {
        let filter = filter.clone();
        self.inner.read(move |conn| ops::list(conn, &filter)).await
    }

    async fn watch(&self, filter: &NodeFilter, revision: Option<&str>) -> Result<WatchStream> {
        let from = revision.map(parse_revision).transpose()?;
        let inner = self.inner.clone();
        let (notifier, after, generation) = tokio::task::spawn_blocking(move || {
            let notifier = inner.notifier()?;
            let (current, generation) = inner
                .read_blocking(|conn, generation| Ok((ops::current_revision(conn)?, generation)))?;
            Ok::<_, StoreError>((notifier, from.unwrap_or(current), generation))
        })
        .await
        .map_err(|e| StoreError::internal("starting a SQLite watch", e))??;
        Ok(watch::stream(
            self.inner.clone(),
            &notifier,
            filter.clone(),
            after,
            generation,
        ))
    }

    async fn update_with(
        &self,
        name: &str,
        change: Change<'_>,
        expected_version: Option<&str>,
    ) -> Result<CalicoNodeStatus> {
        StoreError::check_valid(&change.candidate(name))?;
        let spec = change.spec().clone();
        let encoded = ops::encode("spec", &spec)?;
        // The closure runs on a blocking thread and owns what it needs; the change is rebuilt
        // there from owned parts.
        let labels_from = match change {
            Change::Spec(_) => None,
            Change::SpecAndLabels(obj) => Some(obj.clone()),
        };
        let (name, expected) = (name.to_owned(), expected_version.map(str::to_owned));
        self.inner
            .write(move |conn, limits| {
                ops::update_spec(
                    conn,
                    limits,
                    &name,
                    ops::SpecUpdate {
                        spec: &spec,
                        encoded_spec: &encoded,
                        labels_from: labels_from.as_ref(),
                    },
                    expected.as_deref(),
                )
            })
            .await
    }

    async fn write_status(
        &self,
        name: &str,
        status: &CalicoNodeStatusStatus,
        expected_version: &str,
    ) -> Result<String> {
        let encoded = ops::encode("status", status)?;
        let (name, expected) = (name.to_owned(), expected_version.to_owned());
        self.inner
            .write(move |conn, limits| ops::write_status(conn, limits, &name, &encoded, &expected))
            .await
    }

    async fn delete(&self, name: &str, expected_version: Option<&str>) -> Result<CalicoNodeStatus> {
        let (name, expected) = (name.to_owned(), expected_version.map(str::to_owned));
        self.inner
            .write(move |conn, limits| ops::delete(conn, limits, &name, expected.as_deref()))
            .await
    }
}
