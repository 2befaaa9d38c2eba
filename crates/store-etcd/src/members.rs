//! The etcd members a store talks to, and failover between them.
//!
//! etcd-client balances requests over all endpoints on one tonic channel; a member that is
//! down still gets its share, and each such request fails (with one dead endpoint of two, 6 to
//! 10 requests in 10 failed). etcd's own Go client (3.4) instead pins one healthy endpoint and
//! moves to the next when it fails, retrying the request there. This does the same: one
//! channel per endpoint; every request goes to the pinned member; a failure that another
//! member may not have (refused or reset connection, no answer in the member's share of the
//! time, `no leader` during an election) moves the pin on and retries on the next member, with
//! a short pause after a full round, until the request's deadline. A failover is one log line.
//!
//! A write retried after a failure may have been applied by the first attempt. Every write is
//! a compare-and-swap transaction whose failure branch reads the key, so the store recognises
//! its own value there (`EtcdStore` treats "compare failed, the key holds exactly the value I
//! wrote" as success): nothing is written twice and no spurious conflict surfaces.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, Error as EtcdError, KvClient, WatchClient};
use nodestatus_store::StoreError;

use crate::error::{TimedOut, from_etcd};

/// The first pause after every member failed once; it doubles per round, up to `ROUND_MAX`.
const ROUND_PAUSE: Duration = Duration::from_millis(50);
const ROUND_MAX: Duration = Duration::from_millis(800);

/// One member's clients (each endpoint has its own connection).
struct Member {
    endpoint: String,
    kv: KvClient,
    watch: WatchClient,
}

/// Every configured member and the one requests go to now.
pub(crate) struct Members {
    members: Vec<Member>,
    pinned: AtomicUsize,
}

impl Members {
    /// Builds one lazily connecting client per endpoint (nothing is sent yet).
    pub(crate) async fn new(
        endpoints: &[String],
        options: &ConnectOptions,
    ) -> Result<Members, StoreError> {
        let mut members = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let client = Client::connect([endpoint], Some(options.clone()))
                .await
                .map_err(|e| {
                    StoreError::internal(format!("setting up the etcd client for {endpoint}"), e)
                })?;
            // Lists and watch replies may hold many objects of up to `max_request_bytes` each:
            // the default 4 MiB decoding limit would fail on a dozen large statuses.
            members.push(Member {
                endpoint: endpoint.clone(),
                kv: client.kv_client().max_decoding_message_size(usize::MAX),
                watch: client.watch_client().max_decoding_message_size(usize::MAX),
            });
        }
        Ok(Members {
            members,
            pinned: AtomicUsize::new(0),
        })
    }

    /// The pinned member's index and watch client (a watch follows one member until it fails).
    pub(crate) fn watch_client(&self) -> (usize, WatchClient) {
        let i = self.pinned.load(Ordering::Relaxed) % self.members.len();
        (i, self.members[i].watch.clone())
    }

    /// Moves the pin off member `failed` (unless another caller already did), logging it.
    pub(crate) fn failed(&self, failed: usize, error: &dyn std::fmt::Display) {
        let next = (failed + 1) % self.members.len();
        if next != failed
            && self
                .pinned
                .compare_exchange(failed, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                failed = %self.members[failed].endpoint,
                next = %self.members[next].endpoint,
                error = %error,
                "etcd member failed; switching to the next endpoint"
            );
        }
    }

    /// Runs a KV request on the pinned member, failing over as described in the module docs,
    /// within `timeout` in all. Each attempt gets an equal share of the time with several
    /// members (so a hung member costs a share, not the whole deadline), all of it with one.
    pub(crate) async fn kv<T, F, Fut>(
        &self,
        timeout: Duration,
        context: impl Fn() -> String,
        mut request: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut(KvClient) -> Fut,
        Fut: Future<Output = Result<T, EtcdError>>,
    {
        let deadline = Instant::now() + timeout;
        let count = u32::try_from(self.members.len()).unwrap_or(u32::MAX).max(1);
        let share = timeout / count;
        let mut pause = ROUND_PAUSE;
        let mut last: Option<StoreError> = None;
        for attempt in 1.. {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            let i = self.pinned.load(Ordering::Relaxed) % self.members.len();
            let limit = if count == 1 {
                remaining
            } else {
                remaining.min(share)
            };
            let error = match tokio::time::timeout(limit, request(self.members[i].kv.clone())).await
            {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(err)) => from_etcd(context(), err),
                // With one member the whole deadline passed: say so, not the few ms left.
                Err(_) if count == 1 => StoreError::unavailable(context(), TimedOut(timeout)),
                Err(_) => StoreError::unavailable(context(), TimedOut(limit)),
            };
            if !error.is_retryable() {
                return Err(error);
            }
            self.failed(i, &error);
            last = Some(error);
            if attempt % self.members.len() == 0 {
                let remaining = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(remaining)).await;
                pause = (pause * 2).min(ROUND_MAX);
            }
        }
        Err(last.unwrap_or_else(|| StoreError::unavailable(context(), TimedOut(timeout))))
    }
}
