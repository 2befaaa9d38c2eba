//! A `Datastore` wrapper that counts what crosses it — status writes, and watch events
//! delivered — and, in Calico's style, gives a node-filtered watch or list the unfiltered one
//! filtered here, so every node receives every object's changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use nodestatus_api::{CalicoNodeStatus, CalicoNodeStatusStatus};
use nodestatus_store::{Change, Datastore, Listing, NodeFilter, Result, WatchEvent, WatchStream};

/// Counts shared by every wrapped client of a fleet.
#[derive(Debug, Default)]
pub struct Counters {
    /// Successful `write_status` calls.
    pub writes: AtomicU64,
    /// Watch events delivered to any consumer (agents and the operator's watch); a
    /// `Restarted` counts its objects.
    pub deliveries: AtomicU64,
}

impl Counters {
    /// (writes, deliveries) now.
    pub fn read(&self) -> (u64, u64) {
        (
            self.writes.load(Ordering::Relaxed),
            self.deliveries.load(Ordering::Relaxed),
        )
    }
}

/// A counted client.
pub struct Counting {
    inner: Arc<dyn Datastore>,
    counters: Arc<Counters>,
    calico_style: bool,
}

impl Counting {
    /// Wraps `inner`; with `calico_style`, node filters are applied here on the unfiltered
    /// watch and list.
    pub fn new(inner: Arc<dyn Datastore>, counters: Arc<Counters>, calico_style: bool) -> Self {
        Self {
            inner,
            counters,
            calico_style,
        }
    }

    fn sent_filter<'a>(&self, filter: &'a NodeFilter) -> &'a NodeFilter {
        if self.calico_style {
            &NodeFilter::All
        } else {
            filter
        }
    }
}

/// Keeps `filter`'s objects of a delivered event, as a client-side filter does; an object
/// moving away from the node becomes `Deleted`.
fn filter_event(filter: &NodeFilter, event: WatchEvent) -> Option<WatchEvent> {
    match event {
        WatchEvent::Added(obj) => filter.matches(&obj).then_some(WatchEvent::Added(obj)),
        WatchEvent::Modified(obj) if filter.matches(&obj) => Some(WatchEvent::Modified(obj)),
        WatchEvent::Modified(obj) | WatchEvent::Deleted(obj) => Some(WatchEvent::Deleted(obj)),
        WatchEvent::Restarted(mut listing) => {
            listing.items.retain(|obj| filter.matches(obj));
            Some(WatchEvent::Restarted(listing))
        }
    }
}

#[async_trait::async_trait]
impl Datastore for Counting {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn create(&self, obj: &CalicoNodeStatus) -> Result<CalicoNodeStatus> {
        self.inner.create(obj).await
    }

    async fn get(&self, name: &str) -> Result<CalicoNodeStatus> {
        self.inner.get(name).await
    }

    async fn list(&self, filter: &NodeFilter) -> Result<Listing> {
        let mut listing = self.inner.list(self.sent_filter(filter)).await?;
        listing.items.retain(|obj| filter.matches(obj));
        Ok(listing)
    }

    async fn watch(&self, filter: &NodeFilter, revision: Option<&str>) -> Result<WatchStream> {
        let stream = self.inner.watch(self.sent_filter(filter), revision).await?;
        let counters = self.counters.clone();
        let filter = filter.clone();
        let calico_style = self.calico_style;
        Ok(stream
            .filter_map(move |item| {
                if let Ok(event) = &item {
                    let delivered = match event {
                        WatchEvent::Restarted(listing) => listing.items.len() as u64,
                        _ => 1,
                    };
                    counters.deliveries.fetch_add(delivered, Ordering::Relaxed);
                }
                let item = match item {
                    Ok(event) if calico_style => filter_event(&filter, event).map(Ok),
                    other => Some(other),
                };
                futures::future::ready(item)
            })
            .boxed())
    }

    async fn update_with(
        &self,
        name: &str,
        change: Change<'_>,
        expected_version: Option<&str>,
    ) -> Result<CalicoNodeStatus> {
        self.inner.update_with(name, change, expected_version).await
    }

    async fn write_status(
        &self,
        name: &str,
        status: &CalicoNodeStatusStatus,
        expected_version: &str,
    ) -> Result<String> {
        let written = self
            .inner
            .write_status(name, status, expected_version)
            .await?;
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        Ok(written)
    }

    async fn delete(&self, name: &str, expected_version: Option<&str>) -> Result<CalicoNodeStatus> {
        self.inner.delete(name, expected_version).await
    }
}
