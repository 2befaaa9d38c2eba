//! `watch=true`: the datastore's watch as Kubernetes' stream of JSON events
//! (`{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}`, one per line).
//!
//! Without a resourceVersion (or with `0`) the current objects come first as ADDED, then every
//! change after the listing's revision. From a version the datastore can no longer replay (its
//! history was compacted: the datastore's `Restarted`) the stream sends an ERROR event with a
//! `410 Expired` Status and ends, so that the client lists again, as Kubernetes does.
//! BOOKMARKs (with `allowWatchBookmarks`) carry the last revision delivered, once a minute.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use futures::StreamExt;
use nodestatus_api::{CalicoNodeStatus, KIND, V3_API_VERSION};
use nodestatus_store::{WatchEvent, WatchStream};
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::resource::{Store, wire};
use crate::select::Selection;
use crate::table;

/// How often a bookmark is sent to a client that asked for them.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

/// What the client asked for.
pub(crate) struct Options {
    pub(crate) selection: Selection,
    pub(crate) resource_version: Option<String>,
    pub(crate) bookmarks: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) as_table: bool,
}

/// A watch in progress.
struct Watch {
    events: WatchStream,
    options: Options,
    /// Events to send before reading the datastore's stream (the initial ADDED ones).
    initial: std::vec::IntoIter<CalicoNodeStatus>,
    last_version: String,
    bookmark: tokio::time::Interval,
    deadline: Option<tokio::time::Instant>,
    /// Whether the table's column definitions were sent already.
    headers_sent: bool,
    ended: bool,
}

/// Starts the watch and answers with its stream.
pub(crate) async fn serve(store: Store, options: Options) -> Result<Response, ApiError> {
    let filter = options.selection.node_filter();
    let from = options
        .resource_version
        .clone()
        .filter(|v| !v.is_empty() && v != "0");
    let (initial, last_version, events) = match from {
        Some(version) => {
            let events = store.watch(&filter, Some(&version)).await?;
            (Vec::new(), version, events)
        }
        None => {
            let listing = store.list(&filter).await?;
            let events = store.watch(&filter, Some(&listing.revision)).await?;
            let initial = listing
                .items
                .into_iter()
                .filter(|o| options.selection.matches(o))
                .collect();
            (initial, listing.revision, events)
        }
    };
    let mut bookmark = tokio::time::interval(BOOKMARK_EVERY);
    bookmark.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    bookmark.reset();
    let watch = Watch {
        events,
        deadline: options.timeout.map(|t| tokio::time::Instant::now() + t),
        options,
        initial: initial.into_iter(),
        last_version,
        bookmark,
        headers_sent: false,
        ended: false,
    };
    let body = futures::stream::unfold(watch, |mut watch| async move {
        let line = watch.next_line().await?;
        Some((Ok::<_, Infallible>(line), watch))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .map_err(|e| ApiError::internal(format!("starting the watch: {e}")))
}

impl Watch {
    /// The next event line, or `None` when the stream ends.
    async fn next_line(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        if let Some(obj) = self.initial.next() {
            return Some(self.event("ADDED", &obj));
        }
        loop {
            let deadline = async {
                match self.deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = deadline => return None,
                _ = self.bookmark.tick(), if self.options.bookmarks => {
                    let object = json!({
                        "kind": KIND,
                        "apiVersion": V3_API_VERSION,
                        "metadata": {"resourceVersion": self.last_version},
                    });
                    return Some(line("BOOKMARK", &object));
                }
                item = self.events.next() => match item {
                    None => {
                        self.ended = true;
                        return None;
                    }
                    Some(Ok(WatchEvent::Restarted(_))) => {
                        self.ended = true;
                        let error = ApiError::expired(&self.last_version);
                        return Some(line("ERROR", &error.status()));
                    }
                    Some(Ok(event)) => {
                        let (kind, obj) = match event {
                            WatchEvent::Added(o) => ("ADDED", o),
                            WatchEvent::Modified(o) => ("MODIFIED", o),
                            WatchEvent::Deleted(o) => ("DELETED", o),
                            WatchEvent::Restarted(_) => continue,
                        };
                        if let Some(v) = &obj.metadata.resource_version {
                            self.last_version.clone_from(v);
                        }
                        if self.options.selection.matches(&obj) {
                            return Some(self.event(kind, &obj));
                        }
                    }
                    Some(Err(e)) if e.is_retryable() => {
                        tracing::warn!(error = %e, "the datastore's watch failed for now; it resumes on its own");
                    }
                    Some(Err(e)) => {
                        self.ended = true;
                        let error = ApiError::from(e);
                        return Some(line("ERROR", &error.status()));
                    }
                }
            }
        }
    }

    fn event(&mut self, kind: &str, obj: &CalicoNodeStatus) -> Bytes {
        let object = if self.options.as_table {
            let headers = !self.headers_sent;
            self.headers_sent = true;
            table::table(
                std::slice::from_ref(obj),
                obj.metadata.resource_version.as_deref(),
                None,
                headers,
            )
        } else {
            match wire(obj) {
                Ok(value) => value,
                Err(e) => {
                    self.ended = true;
                    return line("ERROR", &e.status());
                }
            }
        };
        line(kind, &object)
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}
