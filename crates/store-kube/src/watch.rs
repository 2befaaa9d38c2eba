//! The watch: one task per `watch()` call follows the API server's watch stream, resumes from
//! the last resourceVersion it saw (event or bookmark) whenever the stream ends, relists and
//! sends `Restarted` on 410 Gone, and filters by node itself when the server cannot.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{WatchEvent as KubeEvent, WatchParams};
use nodestatus_api::CalicoNodeStatus;
use nodestatus_store::backoff::{Backoff, Pauses};
use nodestatus_store::{NodeFilter, Result, StoreError, WatchEvent, WatchStream};
use tokio::sync::mpsc;

use crate::errors::{Failure, Op, classify, classify_status, to_store_error};
use crate::store::{Inner, by_name, field_selector, timed};

/// `timeoutSeconds` of each watch request: the server ends the stream after it and the task
/// resumes from the last revision (kube's default, below common proxy idle limits).
const WATCH_TIMEOUT_SECS: u32 = 290;
/// With no byte from the server for this long the connection is taken as dead (it should have
/// ended at `WATCH_TIMEOUT_SECS`) and the watch resumes on a new one.
const WATCH_IDLE: Duration = Duration::from_secs(WATCH_TIMEOUT_SECS as u64 + 30);
/// Pauses between attempts after a retryable failure: 0.5 s doubling up to 30 s.
const BACKOFF: Backoff = Backoff {
    min: Duration::from_millis(500),
    max: Duration::from_secs(30),
};
/// Events buffered for a slow consumer before the task waits.
const CHANNEL: usize = 16;

/// Starts a watch from `revision`, or from a fresh list's revision when there is none.
pub(crate) async fn start(
    inner: Arc<Inner>,
    filter: NodeFilter,
    revision: Option<&str>,
) -> Result<WatchStream> {
    let (tx, rx) = mpsc::channel(CHANNEL);
    let mut watcher = Watcher {
        inner,
        filter,
        revision: revision.unwrap_or_default().to_owned(),
        known: None,
        tx,
        backoff: BACKOFF.pauses(),
    };
    if revision.is_none() {
        let listing = watcher
            .inner
            .list(&watcher.filter, None)
            .await
            .map_err(|e| {
                to_store_error(
                    e,
                    &Op {
                        context: "listing caliconodestatuses to start a watch",
                        name: "",
                        size: 0,
                    },
                )
            })?;
        watcher.revision = listing.revision;
        if watcher.client_side() {
            watcher.known = Some(by_name(&listing.items));
        }
    }
    tokio::spawn(watcher.run());
    Ok(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed())
}

/// What to do after one watch connection.
enum Step {
    /// The stream ended normally; resume from the last revision (after a pause when it
    /// delivered nothing, so a server that closes at once is not hammered).
    Resume { progress: bool },
    /// A retryable failure: pause, then resume from the last revision.
    Retry(kube::Error),
    /// The revision is compacted: relist and send `Restarted`.
    Relist,
    /// A failure retrying cannot fix: report it and end the stream.
    Fatal(StoreError),
    /// The consumer dropped the stream.
    Closed,
}

struct Watcher {
    inner: Arc<Inner>,
    filter: NodeFilter,
    /// The last revision seen; every (re)connection starts from it.
    revision: String,
    /// With client-side filtering: the objects currently passing the filter, by name, to turn
    /// edits into `Added`/`Deleted` as the server's selector would. `None` until seeded.
    known: Option<BTreeMap<String, CalicoNodeStatus>>,
    tx: mpsc::Sender<Result<WatchEvent>>,
    backoff: Pauses,
}

impl Watcher {
    /// True when this watch must filter by node itself.
    fn client_side(&self) -> bool {
        matches!(self.filter, NodeFilter::Node(_)) && !self.inner.uses_field_selector()
    }

    async fn run(mut self) {
        loop {
            let pause = match self.follow().await {
                Step::Resume { progress: true } => {
                    self.backoff.reset();
                    continue;
                }
                Step::Resume { progress: false } => self.backoff.next_pause(),
                Step::Retry(err) => {
                    tracing::warn!(error = %err, revision = %self.revision, "caliconodestatus watch failed; resuming");
                    self.backoff.next_pause()
                }
                Step::Relist => {
                    if self.relist().await {
                        continue;
                    }
                    return;
                }
                Step::Fatal(err) => {
                    // The stream ends here whether or not the consumer still listens.
                    let _ = self.tx.send(Err(err)).await;
                    return;
                }
                Step::Closed => return,
            };
            if !self.pause(pause).await {
                return;
            }
        }
    }

    /// Sleeps unless the consumer goes away first (then false).
    async fn pause(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = self.tx.closed() => false,
            _ = tokio::time::sleep(duration) => true,
        }
    }

    /// Opens one watch connection from `self.revision` and forwards its events until it ends.
    async fn follow(&mut self) -> Step {
        let client_side = self.client_side();
        if client_side && self.known.is_none() {
            // What passed the filter at the revision we resume from, read at exactly that
            // revision: the base for turning edits into Added/Deleted.
            match self.inner.list(&self.filter, Some(&self.revision)).await {
                Ok(listing) => self.known = Some(by_name(&listing.items)),
                Err(e) => return self.step_for(e),
            }
        }
        let mut params = WatchParams::default().timeout(WATCH_TIMEOUT_SECS);
        if let Some(selector) = field_selector(&self.filter).filter(|_| !client_side) {
            params = params.fields(&selector);
        }
        let stream = match timed(self.inner.api().watch(&params, &self.revision)).await {
            Ok(stream) => stream,
            Err(e) => return self.step_for(e),
        };
        let mut stream = std::pin::pin!(stream);
        let mut progress = false;
        loop {
            let next = tokio::select! {
                _ = self.tx.closed() => return Step::Closed,
                next = tokio::time::timeout(WATCH_IDLE, stream.next()) => next,
            };
            let event = match next {
                Err(_) => {
                    tracing::debug!(revision = %self.revision, "caliconodestatus watch silent for {WATCH_IDLE:?}; reconnecting");
                    return Step::Resume { progress };
                }
                Ok(None) => return Step::Resume { progress },
                Ok(Some(Err(e))) => return self.step_for(e),
                Ok(Some(Ok(event))) => event,
            };
            progress = true;
            let out = match event {
                KubeEvent::Added(obj) => self.change(Change::Upsert { added: true }, obj),
                KubeEvent::Modified(obj) => self.change(Change::Upsert { added: false }, obj),
                KubeEvent::Deleted(obj) => self.change(Change::Delete, obj),
                KubeEvent::Bookmark(bookmark) => {
                    self.revision = bookmark.metadata.resource_version;
                    None
                }
                KubeEvent::Error(status) => {
                    return match classify_status(&status) {
                        Failure::Gone => Step::Relist,
                        _ => self.step_for(kube::Error::Api(status)),
                    };
                }
            };
            if let Some(event) = out
                && self.tx.send(Ok(event)).await.is_err()
            {
                return Step::Closed;
            }
        }
    }

    /// Records the event's revision and returns what the consumer sees, if anything.
    fn change(&mut self, change: Change, obj: CalicoNodeStatus) -> Option<WatchEvent> {
        if let Some(rv) = &obj.metadata.resource_version {
            self.revision.clone_from(rv);
        }
        let Some(known) = self.known.as_mut() else {
            // The server filtered (and turned edits across the filter into ADDED/DELETED).
            return Some(match change {
                Change::Upsert { added: true } => WatchEvent::Added(obj),
                Change::Upsert { added: false } => WatchEvent::Modified(obj),
                Change::Delete => WatchEvent::Deleted(obj),
            });
        };
        let name = obj.metadata.name.clone().unwrap_or_default();
        let passes = self.filter.matches(&obj);
        match change {
            Change::Upsert { .. } if passes => Some(match known.insert(name, obj.clone()) {
                Some(_) => WatchEvent::Modified(obj),
                None => WatchEvent::Added(obj),
            }),
            // Edited out of the filter: deleted as far as the consumer knows, with its last
            // state that passed and the new revision (what the API server sends).
            Change::Upsert { .. } => known.remove(&name).map(|mut last| {
                last.metadata.resource_version = obj.metadata.resource_version;
                WatchEvent::Deleted(last)
            }),
            Change::Delete => {
                (known.remove(&name).is_some() || passes).then_some(WatchEvent::Deleted(obj))
            }
        }
    }

    /// What a failed request or an ERROR event means for the watch.
    fn step_for(&self, err: kube::Error) -> Step {
        match classify(&err) {
            Failure::Gone => Step::Relist,
            Failure::FieldSelectorUnsupported => {
                self.inner.disable_field_selector(&err);
                // Nothing to wait for: the next connection filters on the client.
                Step::Resume { progress: true }
            }
            Failure::Unavailable => Step::Retry(err),
            _ => Step::Fatal(to_store_error(
                err,
                &Op {
                    context: "watching caliconodestatuses",
                    name: "",
                    size: 0,
                },
            )),
        }
    }

    /// Lists again after a 410 and sends `Restarted`; false when the watch must end.
    async fn relist(&mut self) -> bool {
        loop {
            match self.inner.list(&self.filter, None).await {
                Ok(listing) => {
                    tracing::info!(from = %self.revision, to = %listing.revision, "caliconodestatus watch revision compacted; relisted");
                    self.revision.clone_from(&listing.revision);
                    self.known = self.client_side().then(|| by_name(&listing.items));
                    self.backoff.reset();
                    return self
                        .tx
                        .send(Ok(WatchEvent::Restarted(listing)))
                        .await
                        .is_ok();
                }
                Err(e) if classify(&e) == Failure::Unavailable => {
                    tracing::warn!(error = %e, "relisting caliconodestatuses after a compacted watch failed; retrying");
                    let pause = self.backoff.next_pause();
                    if !self.pause(pause).await {
                        return false;
                    }
                }
                Err(e) => {
                    let err = to_store_error(
                        e,
                        &Op {
                            context: "relisting caliconodestatuses",
                            name: "",
                            size: 0,
                        },
                    );
                    let _ = self.tx.send(Err(err)).await;
                    return false;
                }
            }
        }
    }
}

/// An object event as the API server reports it.
#[derive(Clone, Copy)]
enum Change {
    Upsert { added: bool },
    Delete,
}
