//! Watches: one poller thread per opened store notices new revisions (its own process's writes
//! at once, other processes' when inotify reports their write, or within one poll interval
//! without inotify) and a replaced file, and each watch
//! stream reads the event log from its last revision when told, or relists when it cannot.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use nodestatus_store::backoff::Backoff;
use nodestatus_store::{NodeFilter, StoreError, WatchEvent, WatchStream};
use rusqlite::Connection;
use tokio::sync::watch;

use crate::Inner;
use crate::db::FileTracker;
use crate::wakeup::Wakeup;
use crate::{db, ops};

/// Where the store is: the generation of its file (see [`FileTracker`]) and that file's
/// revision. Ordered: a new file comes after everything of the old one.
type Position = (u64, i64);

/// The newest position known to this process, shared by every watch of one store.
pub(crate) struct Notifier {
    tx: watch::Sender<Position>,
}

impl Notifier {
    /// Opens the poller's connection and starts its thread. The thread ends once the notifier
    /// is dropped (with the last store handle and watch stream), at its next wake-up.
    pub(crate) fn start(
        file: Arc<FileTracker>,
        path: PathBuf,
        busy_timeout: Duration,
        timing: PollTiming,
    ) -> Result<Arc<Notifier>, StoreError> {
        // Watch before reading the revision, so no write falls between the two unseen.
        let wakeup = match Wakeup::watch(&path) {
            Ok(wakeup) => Some(wakeup),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, interval = ?timing.poll, "cannot watch the SQLite database with inotify; polling it instead");
                None
            }
        };
        let generation = file.generation()?;
        let conn = db::connect(&path, busy_timeout)?;
        let current = ops::current_revision(&conn)?;
        let notifier = Arc::new(Notifier {
            tx: watch::channel((generation, current)).0,
        });
        let weak = Arc::downgrade(&notifier);
        let poller = Poller {
            file,
            path,
            busy_timeout,
            conn,
            generation,
            wakeup,
        };
        std::thread::Builder::new()
            .name("nodestatus-sqlite-poll".into())
            .spawn(move || poller.run(&weak, timing))
            .map_err(|e| StoreError::internal("starting the SQLite watch poller", e))?;
        Ok(notifier)
    }

    /// Records a revision written by this process in file `generation`, waking its watchers
    /// without waiting for a poll.
    pub(crate) fn advance(&self, generation: u64, revision: i64) {
        self.tx.send_if_modified(|known| {
            let newer = (generation, revision) > *known;
            if newer {
                *known = (generation, revision);
            }
            newer
        });
    }
}

/// When the poller reads the store revision.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PollTiming {
    /// Without inotify: every this often.
    pub(crate) poll: Duration,
    /// With inotify: at each event, and every this often in case an event was missed.
    pub(crate) fallback: Duration,
}

/// After an inotify event the revision is read at once and again after these pauses: the event
/// comes with the `-wal` write, a moment before the writer publishes the commit in the shared
/// index, so the first read may still see the old revision.
const RECHECKS: [Duration; 2] = [Duration::from_millis(20), Duration::from_millis(200)];

/// The poller thread's own connection, reopened when the file is replaced.
struct Poller {
    file: Arc<FileTracker>,
    path: PathBuf,
    busy_timeout: Duration,
    conn: Connection,
    /// The file generation `conn` is open on.
    generation: u64,
    /// Inotify on the database's directory; None when it could not be set up or failed.
    wakeup: Option<Wakeup>,
}

impl Poller {
    /// Reads the store revision while anyone watches: woken by inotify when another process
    /// writes (then again after each of [`RECHECKS`]), and every `timing.fallback` in case
    /// an event was missed; every `timing.poll` without inotify. A read is one `stat` of the
    /// path and one indexed read of a single-row table in WAL mode (shared memory and the page
    /// cache), tens of microseconds.
    fn run(mut self, notifier: &Weak<Notifier>, timing: PollTiming) {
        let mut failing = false;
        let mut rechecks: &[Duration] = &[];
        loop {
            let woken = match self.wakeup.as_mut() {
                Some(wakeup) => {
                    let timeout = rechecks.first().copied().unwrap_or(timing.fallback);
                    match wakeup.wait(timeout) {
                        Ok(woken) => woken,
                        Err(e) => {
                            tracing::warn!(path = %self.path.display(), error = %e, interval = ?timing.poll, "inotify on the SQLite database failed; polling it instead");
                            self.wakeup = None;
                            false
                        }
                    }
                }
                None => {
                    std::thread::sleep(timing.poll);
                    false
                }
            };
            rechecks = if woken {
                &RECHECKS
            } else {
                rechecks.get(1..).unwrap_or(&[])
            };
            let Some(notifier) = notifier.upgrade() else {
                return;
            };
            if notifier.tx.receiver_count() == 0 {
                continue;
            }
            match self.position() {
                Ok((generation, revision)) => {
                    if failing {
                        tracing::info!(path = %self.path.display(), "SQLite watch poll works again");
                        failing = false;
                    }
                    notifier.advance(generation, revision);
                }
                Err(e) if !failing => {
                    tracing::warn!(path = %self.path.display(), error = %e, "SQLite watch poll failed; retrying");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }

    fn position(&mut self) -> Result<Position, StoreError> {
        let generation = self.file.generation()?;
        if generation != self.generation {
            self.conn = db::connect(&self.path, self.busy_timeout)?;
            self.generation = generation;
        }
        Ok((generation, ops::current_revision(&self.conn)?))
    }
}

/// Most bytes of objects one read of the event log returns, so a watcher far behind a store
/// of large objects does not load the whole log at once.
const BATCH_BYTES: i64 = 4 << 20;

/// Waits between retries of a failing read: 100 ms doubling up to 5 s.
const BACKOFF: Backoff = Backoff {
    min: Duration::from_millis(100),
    max: Duration::from_secs(5),
};

/// A watch's position and what it has read but not yet delivered.
struct Cursor {
    inner: Arc<Inner>,
    filter: NodeFilter,
    /// The file generation `last` belongs to.
    generation: u64,
    last: i64,
    known: watch::Receiver<Position>,
    pending: VecDeque<WatchEvent>,
    /// Whether the last read reached the end of the log. Until then the next read happens at
    /// once, whatever the notifier knows (so the first read also catches a revision this store
    /// never reached, and a long catch-up does not wait for polls).
    caught_up: bool,
    ended: bool,
}

/// The stream of changes after revision `after`.
pub(crate) fn stream(
    inner: Arc<Inner>,
    notifier: &Notifier,
    filter: NodeFilter,
    after: i64,
    generation: u64,
) -> WatchStream {
    let cursor = Cursor {
        inner,
        filter,
        generation,
        last: after,
        known: notifier.tx.subscribe(),
        pending: VecDeque::new(),
        caught_up: false,
        ended: false,
    };
    futures::stream::unfold(cursor, |mut cursor| async move {
        let item = next(&mut cursor).await?;
        Some((item, cursor))
    })
    .boxed()
}

async fn next(cursor: &mut Cursor) -> Option<Result<WatchEvent, StoreError>> {
    let mut backoff = BACKOFF.pauses();
    loop {
        if let Some(event) = cursor.pending.pop_front() {
            return Some(Ok(event));
        }
        if cursor.ended {
            return None;
        }
        while cursor.caught_up
            && *cursor.known.borrow_and_update() <= (cursor.generation, cursor.last)
        {
            if cursor.known.changed().await.is_err() {
                // Cannot happen while the cursor holds the store (and so the notifier).
                cursor.ended = true;
                return Some(Err(StoreError::internal(
                    "watching",
                    "the SQLite poller stopped",
                )));
            }
        }
        let inner = cursor.inner.clone();
        let filter = cursor.filter.clone();
        let after = cursor.last;
        let generation = cursor.generation;
        let read = inner
            .read_at(move |conn, now| {
                let batch = if now == generation {
                    ops::read_events(conn, &filter, after, BATCH_BYTES)?
                } else {
                    // Another file: its revisions say nothing about the old one's.
                    ops::relist(conn, &filter)?
                };
                Ok((batch, now))
            })
            .await;
        match read {
            Ok((batch, now)) => {
                if let Some(WatchEvent::Restarted(listing)) = batch.events.first() {
                    tracing::info!(
                        after,
                        revision = %listing.revision,
                        objects = listing.items.len(),
                        file_replaced = now != generation,
                        "SQLite watch cannot resume from its revision; restarting with the full list"
                    );
                }
                cursor.generation = now;
                cursor.caught_up = batch.complete;
                cursor.last = batch.last;
                cursor.pending.extend(batch.events);
                backoff.reset();
            }
            Err(e) if e.is_retryable() => {
                let pause = backoff.next_pause();
                tracing::warn!(error = %e, retry_in = ?pause, "reading the SQLite event log failed");
                tokio::time::sleep(pause).await;
            }
            Err(e) => {
                cursor.ended = true;
                return Some(Err(e));
            }
        }
    }
}
