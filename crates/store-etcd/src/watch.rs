//! The watch behind `Datastore::watch`: one etcd prefix watch with previous values, filtered by
//! node on the client, that reconnects with backoff from the revision after the last one it
//! delivered (yielding each interruption as a retryable error item) and answers a compacted
//! history with a full relist (`Restarted`).

use std::time::Duration;

use std::sync::Arc;

use etcd_client::{Event, EventType, WatchOptions};
use futures::StreamExt;
use nodestatus_api::CalicoNodeStatus;
use nodestatus_store::backoff::{Backoff, Pauses};
use nodestatus_store::{
    Listing, NodeFilter, StoreError, WatchEvent, WatchStream, filter_transition,
};
use tokio::sync::mpsc;

use crate::error::{call, from_etcd};
use crate::layout::{KEY_PREFIX, name_of};
use crate::members::Members;
use crate::store::{decode_listed, list_objects};

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
    filter: NodeFilter,
    after: i64,
) -> WatchStream {
    let (tx, rx) = mpsc::channel(BUFFER);
    let watcher = Watcher {
        members,
        timeout,
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

struct Watcher {
    /// The watch follows the pinned member; when it fails, the next one.
    members: Arc<Members>,
    timeout: Duration,
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
        loop {
            let stop = if resync {
                self.relist().await
            } else {
                self.follow(&mut backoff).await
            };
            match stop {
                Stop::Closed => return,
                Stop::Resync => resync = true,
                Stop::Relisted => {
                    resync = false;
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

    async fn relist(&mut self) -> Stop {
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
        let context = || format!("watching {KEY_PREFIX} from revision {start}");
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(self.next)
            .with_prev_key()
            // Progress notifications move `next` on while other keys change nothing here, so a
            // reconnect after a quiet spell starts from a recent, not yet compacted, revision.
            .with_progress_notify();
        let mut stream = match call(
            self.timeout,
            context,
            client.watch(KEY_PREFIX, Some(options)),
        )
        .await
        {
            Ok(stream) => stream,
            Err(err) => return Stop::Failed(err),
        };
        loop {
            let message = tokio::select! {
                () = self.tx.closed() => return Stop::Closed,
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
                match self.convert(event) {
                    Ok(Some(ev)) => {
                        if self.tx.send(Ok(ev)).await.is_err() {
                            return Stop::Closed;
                        }
                    }
                    Ok(None) => {}
                    Err(PreviousValueMissing) => return Stop::Resync,
                }
                if let Some(kv) = event.kv() {
                    self.next = kv.mod_revision() + 1;
                }
            }
        }
    }

    /// Turns an etcd event into what the consumer of a filtered watch sees. Values that cannot
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
