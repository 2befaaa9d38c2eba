//! Turning a watch's `Restarted` into the events a consumer missed, for consumers that follow
//! changes one by one (a printing `get -w`) rather than keep a cache they can replace.

use std::collections::BTreeMap;

use futures::StreamExt;
use nodestatus_api::CalicoNodeStatus;

use crate::{Listing, WatchEvent, WatchStream};

/// What a watch consumer has seen, by name: enough to tell, when the watch restarts with a
/// full list, which objects changed, appeared or vanished meanwhile.
///
/// It holds the last state of every object seen (as an informer's cache does), so a vanished
/// one can be reported as `Deleted` with its last known state.
#[derive(Clone, Debug, Default)]
pub struct Resync {
    known: BTreeMap<String, CalicoNodeStatus>,
}

impl Resync {
    /// Starts from the list the watch was started after.
    pub fn new(listing: &Listing) -> Self {
        let mut resync = Self::default();
        resync.replace(&listing.items);
        resync
    }

    /// Takes in one event and returns what it means as changes, never `Restarted`:
    /// `Added`/`Modified`/`Deleted` pass through; a `Restarted` list becomes `Added` for new
    /// objects and `Modified` for changed ones (in resource-version order; objects at the
    /// version already seen are left out), then `Deleted` for every known object that is no
    /// longer listed, carrying the list's revision (the deletion happened at or before it). So
    /// resource versions never go backwards and no delete is lost.
    pub fn apply(&mut self, event: WatchEvent) -> Vec<WatchEvent> {
        match event {
            WatchEvent::Added(obj) | WatchEvent::Modified(obj)
                if !self.known.contains_key(name(&obj)) =>
            {
                self.known.insert(name(&obj).to_owned(), obj.clone());
                vec![WatchEvent::Added(obj)]
            }
            WatchEvent::Added(obj) | WatchEvent::Modified(obj) => {
                self.known.insert(name(&obj).to_owned(), obj.clone());
                vec![WatchEvent::Modified(obj)]
            }
            WatchEvent::Deleted(obj) => {
                self.known.remove(name(&obj));
                vec![WatchEvent::Deleted(obj)]
            }
            WatchEvent::Restarted(listing) => self.restart(listing),
        }
    }

    fn restart(&mut self, listing: Listing) -> Vec<WatchEvent> {
        let mut changed: Vec<WatchEvent> = listing
            .items
            .iter()
            .filter_map(|obj| match self.known.get(name(obj)) {
                None => Some(WatchEvent::Added(obj.clone())),
                Some(seen) if version(seen) != version(obj) => {
                    Some(WatchEvent::Modified(obj.clone()))
                }
                Some(_) => None,
            })
            .collect();
        // Resource versions are opaque in general, but every backend's are decimal revisions;
        // a version that is not keeps its place (the list's name order).
        changed.sort_by_key(|event| match event {
            WatchEvent::Added(obj) | WatchEvent::Modified(obj) => {
                version(obj).parse::<u64>().unwrap_or(0)
            }
            _ => 0,
        });
        let listed: std::collections::BTreeSet<&str> = listing.items.iter().map(name).collect();
        let deleted = self
            .known
            .values()
            .filter(|obj| !listed.contains(name(obj)))
            .map(|obj| {
                let mut last = obj.clone();
                last.metadata.resource_version = Some(listing.revision.clone());
                WatchEvent::Deleted(last)
            });
        changed.extend(deleted.collect::<Vec<_>>());
        self.replace(&listing.items);
        changed
    }

    fn replace(&mut self, items: &[CalicoNodeStatus]) {
        self.known = items
            .iter()
            .map(|obj| (name(obj).to_owned(), obj.clone()))
            .collect();
    }
}

/// `stream` (a watch started after `listing`) with every `Restarted` turned into the changes
/// it stands for (see [`Resync::apply`]); errors pass through.
pub fn resynced(listing: &Listing, stream: WatchStream) -> WatchStream {
    let resync = Resync::new(listing);
    stream
        .scan(resync, |resync, item| {
            let events: Vec<_> = match item {
                Ok(event) => resync.apply(event).into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::future::ready(Some(futures::stream::iter(events)))
        })
        .flatten()
        .boxed()
}

fn name(obj: &CalicoNodeStatus) -> &str {
    obj.metadata.name.as_deref().unwrap_or_default()
}

fn version(obj: &CalicoNodeStatus) -> &str {
    obj.metadata.resource_version.as_deref().unwrap_or_default()
}
