//! The `Datastore` trait: what every backend (SQLite, etcd, Kubernetes) offers for
//! `CalicoNodeStatus`, with one set of semantics so the agent and the CLI never care which one
//! they talk to.
//!
//! Semantics every backend keeps (the conformance suite checks them):
//! - Resource versions are opaque strings; every stored change gives the object a new one.
//!   `list` also returns the store revision the list was taken at, and `watch` from that revision
//!   misses no change made after it.
//! - `write_status` changes only `status` and only if the object's resource version is still the
//!   one given (compare-and-swap); a spec edit in between makes it fail with `Conflict`, so an
//!   operator's edit is never overwritten by an agent.
//! - `update_spec` changes only `spec`; `update` the spec, labels and annotations (the status
//!   and the metadata the store owns are kept). `metadata.generation` is 1 on create and grows
//!   by one with each change of the spec, never otherwise (as Kubernetes keeps it).
//! - Objects are validated before anything is stored; invalid ones are rejected with every
//!   problem listed.
//! - Each watch event's object carries the revision of that change (a `Deleted` one the
//!   revision of the deletion), so resuming from the last revision seen is exact. An edit that
//!   moves `spec.node` into or out of a node filter is `Added` (the object after the change) or
//!   `Deleted` with the revision of the change; the content of that `Deleted` differs by
//!   backend (Kubernetes sends the object as it was before the edit, SQLite and etcd after it),
//!   so a consumer relies on its name and resource version only. A stream may yield a retryable error item and keep going.
//! - A node-filtered watch (an agent's) never delivers other nodes' changes, and may leave out
//!   changes to `status` alone (etcd's does, so that no agent receives status writes; an agent
//!   learns its own writes' versions from `write_status`). Every event it does deliver carries
//!   the object as it is at that revision, status included.
//! - A watch survives reconnects on its own (resuming from the last revision it delivered); when
//!   the backend can no longer replay from that revision (history compacted or trimmed, or the
//!   store replaced under it) it logs it and sends `Restarted` with the full current list, which
//!   replaces whatever the consumer knew. Every backend does this the same way (SQLite when its
//!   bounded event log no longer reaches back, etcd on a compacted revision, Kubernetes on
//!   410 Gone). A consumer that keeps a cache replaces it (the agent does); one that follows
//!   changes one by one (`get -w`) must not treat the list as changes: [`Resync`] /
//!   [`resynced`] turn it into the `Added`/`Modified` objects it missed, in resource-version
//!   order, and a `Deleted` for each object that vanished meanwhile, so no delete is lost and
//!   resource versions never go backwards.

pub mod backoff;
mod change;
mod resync;
pub mod retry;

use std::fmt;

use futures::stream::BoxStream;
use nodestatus_api::{CalicoNodeStatus, CalicoNodeStatusSpec, CalicoNodeStatusStatus};

pub use change::{Change, FIRST_GENERATION};
pub use resync::{Resync, resynced};

/// Which objects a list or watch returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeFilter {
    /// Every object.
    All,
    /// Only objects whose `spec.node` equals this name.
    Node(String),
}

impl NodeFilter {
    /// True when the object passes the filter.
    pub fn matches(&self, obj: &CalicoNodeStatus) -> bool {
        match self {
            NodeFilter::All => true,
            NodeFilter::Node(node) => obj.spec.node == *node,
        }
    }
}

/// What one change of an object is to a watch with a node filter, from whether the object
/// passed the filter before the change and whether it passes after (a deleted object does not):
/// into the filter `Added`, within it `Modified`, out of it `Deleted`, outside it nothing. The
/// backend chooses which state of the object the event carries.
pub fn filter_transition(passed: bool, passes: bool) -> Option<fn(CalicoNodeStatus) -> WatchEvent> {
    match (passed, passes) {
        (false, true) => Some(WatchEvent::Added),
        (true, true) => Some(WatchEvent::Modified),
        (true, false) => Some(WatchEvent::Deleted),
        (false, false) => None,
    }
}

/// A list of objects and the store revision it was read at (start a watch from it).
#[derive(Clone, Debug, PartialEq)]
pub struct Listing {
    /// The objects, sorted by name.
    pub items: Vec<CalicoNodeStatus>,
    /// The store revision of this snapshot.
    pub revision: String,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent {
    /// An object appeared (created, or edited so that it now passes the filter).
    Added(CalicoNodeStatus),
    /// An object that passed the filter changed and still does.
    Modified(CalicoNodeStatus),
    /// An object was deleted (its last state), or edited so that it no longer passes the filter
    /// (its name and the revision of the edit; the rest is the state before or after the edit,
    /// depending on the backend).
    Deleted(CalicoNodeStatus),
    /// The watch could not resume where it was (history compacted): this is the full current
    /// list, replacing everything the consumer knew (see [`Resync`] to get it as changes).
    Restarted(Listing),
}

/// A stream of watch events. It ends only on an error the backend cannot recover from.
pub type WatchStream = BoxStream<'static, Result<WatchEvent, StoreError>>;

/// A backend error. `Unavailable` is the only retryable one.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object with this name.
    #[error("caliconodestatus {name:?} not found")]
    NotFound {
        /// The object's name.
        name: String,
    },
    /// `create` of a name that exists.
    #[error("caliconodestatus {name:?} already exists")]
    AlreadyExists {
        /// The object's name.
        name: String,
    },
    /// The object's resource version is no longer the expected one.
    #[error(
        "caliconodestatus {name:?} was modified: expected resource version {expected}, found {actual}"
    )]
    Conflict {
        /// The object's name.
        name: String,
        /// The version the caller expected.
        expected: String,
        /// The version stored now.
        actual: String,
    },
    /// The object failed validation; nothing was stored.
    #[error("caliconodestatus {name:?} is invalid: {errors}")]
    Invalid {
        /// The object's name (may be empty when the name itself is missing).
        name: String,
        /// Every problem found.
        errors: nodestatus_api::ValidationErrors,
    },
    /// The write is larger than the backend accepts.
    #[error(
        "caliconodestatus {name:?} is too large for this datastore: {size} bytes, the limit is {limit}"
    )]
    TooLarge {
        /// The object's name.
        name: String,
        /// The encoded size.
        size: usize,
        /// The backend's limit.
        limit: usize,
    },
    /// The backend cannot be reached or failed in a way that may pass: retry with backoff.
    #[error("datastore unavailable: {context}: {source}")]
    Unavailable {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// Stored data or a reply that cannot be understood (not retryable).
    #[error("datastore error: {context}: {source}")]
    Internal {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

/// Any error, boxed, as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl StoreError {
    /// True for errors worth retrying with backoff.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// `Conflict` unless the object's `actual` version is the `expected` one; with no expected
    /// version any version passes. Backends call it before a conditional write.
    pub fn check_version(name: &str, expected: Option<&str>, actual: &str) -> Result<()> {
        match expected {
            Some(expected) if expected != actual => Err(StoreError::Conflict {
                name: name.to_owned(),
                expected: expected.to_owned(),
                actual: actual.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// `TooLarge` when a write of `size` bytes (as the backend counts them) exceeds its
    /// `limit`. Backends call it before a write is sent.
    pub fn check_size(name: &str, size: usize, limit: usize) -> Result<()> {
        if size > limit {
            return Err(StoreError::TooLarge {
                name: name.to_owned(),
                size,
                limit,
            });
        }
        Ok(())
    }

    /// `Invalid`, with every problem [`nodestatus_api::validate`] finds, unless `obj` is
    /// valid. Backends call it before anything is stored.
    pub fn check_valid(obj: &CalicoNodeStatus) -> Result<()> {
        nodestatus_api::validate(obj).map_err(|errors| StoreError::Invalid {
            name: obj.metadata.name.clone().unwrap_or_default(),
            errors,
        })
    }

    /// An `Unavailable` error with context.
    pub fn unavailable(context: impl fmt::Display, source: impl Into<BoxError>) -> Self {
        StoreError::Unavailable {
            context: context.to_string(),
            source: source.into(),
        }
    }

    /// An `Internal` error with context.
    pub fn internal(context: impl fmt::Display, source: impl Into<BoxError>) -> Self {
        StoreError::Internal {
            context: context.to_string(),
            source: source.into(),
        }
    }
}

/// The result type of every datastore call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A `CalicoNodeStatus` store. All methods are safe to call concurrently.
#[async_trait::async_trait]
pub trait Datastore: Send + Sync {
    /// A short name of the backend (`sqlite`, `etcdv3`, `kubernetes`).
    fn kind(&self) -> &'static str;

    /// Stores a new object (spec and, when given, status). Metadata the store owns
    /// (resourceVersion, uid, creationTimestamp) is set by the store. Fails with
    /// `AlreadyExists` when the name is taken.
    async fn create(&self, obj: &CalicoNodeStatus) -> Result<CalicoNodeStatus>;

    /// Reads one object by name.
    async fn get(&self, name: &str) -> Result<CalicoNodeStatus>;

    /// Lists the objects passing `filter`, sorted by name, with the store revision.
    async fn list(&self, filter: &NodeFilter) -> Result<Listing>;

    /// Streams changes to objects passing `filter` made after `revision` (a `Listing::revision`
    /// or an object's resource version); `None` means from now.
    async fn watch(&self, filter: &NodeFilter, revision: Option<&str>) -> Result<WatchStream>;

    /// Replaces the spec of an existing object, keeping its status and metadata.
    /// With `expected_version`, only if the object is still at that version (`Conflict` if not);
    /// without it, the store retries internally so the spec is applied on top of whatever
    /// status is there.
    async fn update_spec(
        &self,
        name: &str,
        spec: &CalicoNodeStatusSpec,
        expected_version: Option<&str>,
    ) -> Result<CalicoNodeStatus> {
        self.update_with(name, Change::Spec(spec), expected_version)
            .await
    }

    /// Replaces the spec, labels and annotations of the existing object named like `obj`,
    /// keeping its status and the metadata the store owns; `expected_version` as for
    /// [`Datastore::update_spec`].
    async fn update(
        &self,
        obj: &CalicoNodeStatus,
        expected_version: Option<&str>,
    ) -> Result<CalicoNodeStatus> {
        let name = obj.metadata.name.as_deref().unwrap_or_default();
        self.update_with(name, Change::SpecAndLabels(obj), expected_version)
            .await
    }

    /// What [`Datastore::update_spec`] and [`Datastore::update`] call: applies `change` to the
    /// stored object (validated first), compare-and-swap.
    async fn update_with(
        &self,
        name: &str,
        change: Change<'_>,
        expected_version: Option<&str>,
    ) -> Result<CalicoNodeStatus>;

    /// Replaces the status of an existing object if it is still at `expected_version`
    /// (`Conflict` if not), leaving everything else as it is. Returns the object's new
    /// resource version.
    async fn write_status(
        &self,
        name: &str,
        status: &CalicoNodeStatusStatus,
        expected_version: &str,
    ) -> Result<String>;

    /// Deletes an object (only if still at `expected_version`, when given). Returns its last
    /// state.
    async fn delete(&self, name: &str, expected_version: Option<&str>) -> Result<CalicoNodeStatus>;
}
