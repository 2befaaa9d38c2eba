//! The watch edge: lists this node's resources, watches from the list's revision, and on any
//! failure lists again after a backoff. Everything it learns goes to the event loop through a
//! bounded channel, so a slow loop slows the watch instead of growing a queue.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use nodestatus_store::{Datastore, NodeFilter, StoreError, WatchEvent};
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::core::Event;
use crate::metrics::Metrics;

/// What the watcher needs.
pub(crate) struct Watcher {
    pub(crate) datastore: Arc<dyn Datastore>,
    pub(crate) node: String,
    pub(crate) backoff: Backoff,
    pub(crate) timeout: Duration,
    pub(crate) metrics: Arc<Metrics>,
}

impl Watcher {
    /// Runs until the receiving loop goes away.
    pub(crate) async fn run(self, tx: mpsc::Sender<Event>) {
        let filter = NodeFilter::Node(self.node.clone());
        let mut rng = fastrand::Rng::new();
        let mut attempt = 0u32;
        loop {
            if attempt > 0 {
                tokio::time::sleep(self.backoff.delay(attempt, &mut rng)).await;
            }
            attempt += 1;
            let listing = match timed(
                self.timeout,
                "listing resources",
                self.datastore.list(&filter),
            )
            .await
            {
                Ok(listing) => listing,
                Err(e) => {
                    self.failed("list", &e, attempt);
                    continue;
                }
            };
            let revision = listing.revision.clone();
            if tx.send(Event::Listed(listing.items)).await.is_err() {
                return;
            }
            let mut stream = match timed(
                self.timeout,
                "starting a watch",
                self.datastore.watch(&filter, Some(&revision)),
            )
            .await
            {
                Ok(stream) => stream,
                Err(e) => {
                    self.failed("watch", &e, attempt);
                    continue;
                }
            };
            while let Some(item) = stream.next().await {
                let event = match item {
                    Ok(event) => event,
                    Err(e) => {
                        self.failed("watch", &e, attempt);
                        break;
                    }
                };
                // The watch works: the next failure starts the backoff over.
                attempt = 1;
                let event = match event {
                    WatchEvent::Added(obj) | WatchEvent::Modified(obj) => Event::Upserted(obj),
                    WatchEvent::Deleted(obj) => match obj.metadata.name {
                        Some(name) => Event::Deleted(name),
                        None => continue,
                    },
                    WatchEvent::Restarted(listing) => Event::Listed(listing.items),
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            tracing::debug!("watch ended, listing again");
        }
    }

    fn failed(&self, operation: &str, e: &StoreError, attempt: u32) {
        self.metrics.datastore_error(operation);
        if attempt <= 1 {
            tracing::warn!(error = %e, "datastore {operation} failed, retrying with backoff");
        } else {
            tracing::debug!(error = %e, attempt, "datastore {operation} failed again");
        }
    }
}

/// Runs a datastore call with a time limit; running out of time is `Unavailable`.
pub(crate) async fn timed<T>(
    limit: Duration,
    context: &str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::unavailable(
            context,
            format!("no answer within {limit:?}"),
        )),
    }
}
