//! The watch behind `Datastore::watch`. Unfiltered (the operator's `get -w`): one etcd prefix
//! watch of the objects with previous values. Filtered by node (an agent's): a watch of that
//! node's index prefix only, reading the object at the revision of each index change, so status
//! writes (which leave the index alone) and other nodes' changes never reach it; every
//! `index_relist_interval` it indexes objects other tools wrote and relists (`Restarted`).
//! Both reconnect with backoff from the revision after the last one delivered (yielding each
//! interruption as a retryable error item) and answer a compacted history with a relist.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Event, EventType, WatchOptions};
use futures::StreamExt;
use nodestatus_api::CalicoNodeStatus;
use nodestatus_store::backoff::{Backoff, Pauses};
use nodestatus_store::{
    Listing, NodeFilter, StoreError, WatchEvent, WatchStream, filter_transition,
};
use tokio::sync::mpsc;

use crate::error::{call, from_etcd};
use crate::layout::{KEY_PREFIX, index_entry, name_of, node_index_prefix};
use crate::members::Members;
use crate::store::{decode_listed, index_unindexed_once_per, list_objects, read_at};

/// The waits before reconnecting: 100 ms, doubling up to 5 s while etcd stays away.
const BACKOFF: Backoff = Backoff {
    min: Duration::from_millis(100),
    max: Duration::from_secs(5),
};
/// Events buffered for a slow consumer before the watch waits for it.
const BUFFER: usize = 256;

/// Starts watching changes after revision `after` in a task that lives until the stream is
/// dropped.
pub(crate) fn start(
    members: Arc<Members>,
    timeout: Duration,
    relist_interval: Duration,
    filter: NodeFilter,
    after: i64,
) -> WatchStream {
    let (tx, rx) = mpsc::channel(BUFFER);
    let relist_at = matches!(filter, NodeFilter::Node(_))
        .then(|| tokio::time::Instant::now() + spread(relist_interval));
    let watcher = Watcher {
        members,
        timeout,
        relist_interval,
        relist_at,
        filter,
        next: after + 1,
        tx,
    };
    tokio::spawn(watcher.run());
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed()
}

/// A random time between a half and one and a half of `interval`: when a watch first relists,
/// so that agents started together (a rollout) relist at different times; the relists after
/// keep the interval between them.
fn spread(interval: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS per instance: enough randomness for a jitter.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    let fraction = (hasher.finish() % 1_000) as f64 / 1_000.0;
    interval.mul_f64(0.5 + fraction)
}

struct Watcher {
    /// The watch follows the pinned member; when it fails, the next one.
    members: Arc<Members>,
    timeout: Duration,
    relist_interval: Duration,
    /// When a node-filtered watch next relists (`None` for an unfiltered one).
    relist_at: Option<tokio::time::Instant>,
    filter: NodeFilter,
    /// The first revision not yet delivered: where a new etcd watch starts.
    next: i64,
    tx: mpsc::Sender<Result<WatchEvent, StoreError>>,
}

/// Why following the etcd watch stopped.
enum Stop {
    /// The consumer dropped the stream.
    Closed,
    /// The history is gone (compacted) or an event lacks the previous value needed to filter
    /// it: only a relist can tell the consumer the truth.
    Resync,
    /// The relist was delivered.
    Relisted,
    /// A node's watch is due for its periodic relist (with the check for objects other tools
    /// wrote without the index).
    RelistDue,
    /// A request failed.
    Failed(StoreError),
}

/// An event whose meaning for a filtered watch cannot be known: etcd no longer had the value
/// before it.
struct PreviousValueMissing;

impl Watcher {
    async fn run(mut self) {
        let mut backoff = BACKOFF.pauses();
        let mut resync = false;
        let mut check_index = false;
        loop {
            let stop = if resync {
                self.relist(check_index).await
            } else {
                self.follow(&mut backoff).await
            };
            match stop {
                Stop::Closed => return,
                Stop::Resync => resync = true,
                Stop::RelistDue => {
                    resync = true;
                    check_index = true;
                }
                Stop::Relisted => {
                    resync = false;
                    check_index = false;
                    backoff.reset();
                }
                Stop::Failed(err) if err.is_retryable() => {
                    let pause = backoff.next_pause();
                    tracing::warn!(error = %err, next_revision = self.next, retry_in = ?pause, "etcd watch interrupted");
                    // Tell the consumer (e.g. for readiness) without waiting on a slow one; the
                    // stream goes on.
                    let _ = self.tx.try_send(Err(err));
                    if self.wait(pause).await {
                        return;
                    }
                }
                Stop::Failed(err) => {
                    tracing::error!(error = %err, "etcd watch failed");
                    let _ = self.tx.send(Err(err)).await;
                    return;
                }
            }
        }
    }

    /// Sleeps unless the consumer goes away first; true if it did.
    async fn wait(&self, delay: Duration) -> bool {
        tokio::select! {
            () = self.tx.closed() => true,
            () = tokio::time::sleep(delay) => false,
        }
    }

    /// Lists the watch's objects again and sends them as `Restarted`; with `check_index` (the
    /// periodic relist of a node's watch) first indexes objects other tools wrote.
    async fn relist(&mut self, check_index: bool) -> Stop {
        if let Some(at) = &mut self.relist_at {
            *at = tokio::time::Instant::now() + self.relist_interval;
        }
        // Best effort: the node's relist below does not depend on it, and the next interval's
        // check retries.
        if check_index
            && let Err(err) =
                index_unindexed_once_per(&self.members, self.timeout, self.relist_interval).await
        {
            tracing::warn!(error = %err, "checking the index for objects written without it failed");
        }
        match list_objects(&self.members, self.timeout, &self.filter).await {
            Ok((items, revision)) => {
                tracing::info!(revision, objects = items.len(), "etcd watch relisted");
                self.next = revision + 1;
                let listing = Listing {
                    items,
                    revision: revision.to_string(),
                };
                match self.tx.send(Ok(WatchEvent::Restarted(listing))).await {
                    Ok(()) => Stop::Relisted,
                    Err(_) => Stop::Closed,
                }
            }
            Err(err) => Stop::Failed(err),
        }
    }

    /// Follows one etcd watch on the pinned member from `self.next` until it fails or must be
    /// replaced by a relist; a failure that another member may not have moves the pin on, so
    /// the next attempt goes there.
    async fn follow(&mut self, backoff: &mut Pauses) -> Stop {
        let (member, client) = self.members.watch_client();
        let stop = self.follow_on(client, backoff).await;
        if let Stop::Failed(err) = &stop
            && err.is_retryable()
        {
            self.members.failed(member, err);
        }
        stop
    }

    async fn follow_on(
        &mut self,
        mut client: etcd_client::WatchClient,
        backoff: &mut Pauses,
    ) -> Stop {
        let start = self.next;
        let prefix = match &self.filter {
            NodeFilter::All => KEY_PREFIX.to_owned(),
            NodeFilter::Node(node) => node_index_prefix(node),
        };
        let context = || format!("watching {prefix} from revision {start}");
        let mut options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(self.next)
            // Progress notifications move `next` on while other keys change nothing here, so a
            // reconnect after a quiet spell starts from a recent, not yet compacted, revision.
            .with_progress_notify();
        if self.filter == NodeFilter::All {
            options = options.with_prev_key();
        }
        let mut stream = match call(
            self.timeout,
            context,
            client.watch(prefix.as_str(), Some(options)),
        )
        .await
        {
            Ok(stream) => stream,
            Err(err) => return Stop::Failed(err),
        };
        let relist_at = self.relist_at;
        let relist = async move {
            match relist_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(relist);
        loop {
            let message = tokio::select! {
                () = self.tx.closed() => return Stop::Closed,
                () = &mut relist => return Stop::RelistDue,
                message = stream.message() => message,
            };
            let resp = match message {
                Ok(Some(resp)) => resp,
                Ok(None) => {
                    return Stop::Failed(StoreError::unavailable(
                        context(),
                        "etcd ended the watch stream",
                    ));
                }
                Err(err) => return Stop::Failed(from_etcd(context(), err)),
            };
            if resp.canceled() {
                if resp.compact_revision() > 0 {
                    tracing::info!(
                        next_revision = self.next,
                        compacted = resp.compact_revision(),
                        "etcd history compacted past the watch"
                    );
                    return Stop::Resync;
                }
                let reason = format!("etcd cancelled the watch: {}", resp.cancel_reason());
                return Stop::Failed(if reason.contains("permission denied") {
                    StoreError::internal(context(), reason)
                } else {
                    StoreError::unavailable(context(), reason)
                });
            }
            if resp.created() {
                backoff.reset();
                continue;
            }
            if resp.events().is_empty() {
                // A progress notification: every change up to this revision has been sent.
                if let Some(header) = resp.header() {
                    self.next = self.next.max(header.revision() + 1);
                }
                continue;
            }
            for event in resp.events() {
                let converted = match &self.filter {
                    NodeFilter::All => self.convert(event).map_err(|PreviousValueMissing| None),
                    NodeFilter::Node(node) => self.convert_index(node, event).await.map_err(Some),
                };
                match converted {
                    Ok(Some(ev)) => {
                        if self.tx.send(Ok(ev)).await.is_err() {
                            return Stop::Closed;
                        }
                    }
                    Ok(None) => {}
                    Err(None) => return Stop::Resync,
                    // Reading at a compacted revision: only a relist can tell the truth.
                    Err(Some(err)) if !err.is_retryable() => return Stop::Resync,
                    Err(Some(err)) => return Stop::Failed(err),
                }
                if let Some(kv) = event.kv() {
                    self.next = kv.mod_revision() + 1;
                }
            }
        }
    }

    /// Turns a change of `node`'s index into what its agent sees: the object at the revision of
    /// the change (`Added` for a new entry, else `Modified`); for a removed entry the object
    /// after the change when it moved to another node, else its last state at the revision of
    /// the deletion. A read failure: retryable ones reconnect, a compacted revision relists.
    async fn convert_index(
        &self,
        node: &str,
        event: &Event,
    ) -> Result<Option<WatchEvent>, StoreError> {
        let Some(kv) = event.kv() else {
            return Ok(None);
        };
        let Some((indexed, name)) = index_entry(kv.key()) else {
            return Ok(None);
        };
        if indexed != node {
            return Ok(None);
        }
        let revision = kv.mod_revision();
        let now = read_at(&self.members, self.timeout, name, revision).await?;
        Ok(match event.event_type() {
            EventType::Put => {
                now.filter(|obj| obj.spec.node == node)
                    .map(|obj| match kv.version() {
                        1 => WatchEvent::Added(obj),
                        _ => WatchEvent::Modified(obj),
                    })
            }
            EventType::Delete => match now {
                Some(moved) => Some(WatchEvent::Deleted(moved)),
                None => read_at(&self.members, self.timeout, name, revision - 1)
                    .await?
                    .map(|mut last| {
                        last.metadata.resource_version = Some(revision.to_string());
                        WatchEvent::Deleted(last)
                    }),
            },
        })
    }

    /// Turns an etcd event into what the consumer of an unfiltered watch sees. Values that cannot
    /// be read count as not passing the filter, as `list` skips them. An object leaving the
    /// filter is `Deleted` with its state after the change; a deleted one with its last state
    /// at the revision of the deletion.
    fn convert(&self, event: &Event) -> Result<Option<WatchEvent>, PreviousValueMissing> {
        let Some(kv) = event.kv() else {
            return Ok(None);
        };
        if name_of(kv.key()).is_none() {
            return Ok(None);
        }
        let passing = |obj: CalicoNodeStatus| self.filter.matches(&obj).then_some(obj);
        // What the consumer knew: `None` nothing (or a value that did not pass).
        let before: Option<CalicoNodeStatus> = match event.event_type() {
            EventType::Put if kv.version() == 1 => None,
            _ => decode_listed(event.prev_kv().ok_or(PreviousValueMissing)?).and_then(passing),
        };
        let now = match event.event_type() {
            EventType::Put => decode_listed(kv),
            EventType::Delete => None,
        };
        let now_passes = now.as_ref().is_some_and(|obj| self.filter.matches(obj));
        let transition = filter_transition(before.is_some(), now_passes);
        // After the change when there is an after (a node moved out: the state that moved it),
        // else the last state at the revision of the deletion.
        let object = now.or_else(|| {
            before.map(|mut last| {
                last.metadata.resource_version = Some(kv.mod_revision().to_string());
                last
            })
        });
        Ok(transition.zip(object).map(|(event, object)| event(object)))
    }
}
