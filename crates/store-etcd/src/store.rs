//! `EtcdStore`: the `Datastore` operations as etcd requests and transactions, with Calico's
//! compare-and-swap rules (create if the key has version 0, update and delete if its mod
//! revision is the expected one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{
    Compare, CompareOp, DeleteOptions, GetOptions, KeyValue, Txn, TxnOp, TxnOpResponse, TxnResponse,
};
use k8s_openapi::jiff::Timestamp;
use nodestatus_api::{CalicoNodeStatus, CalicoNodeStatusStatus};
use nodestatus_store::{
    Change, Datastore, Listing, NodeFilter, Result, StoreError, WatchStream, retry,
};

use crate::config::EtcdConfig;
use crate::error::is_too_large;
use crate::layout::{
    INDEX_CHECKED_KEY, INDEX_PREFIX, KEY_PREFIX, decode, encode, index_entry, index_key,
    is_storable_name, key, name_of, node_index_prefix, stamp_new,
};
use crate::members::Members;
use crate::watch;

/// How often `update_spec` without an expected version retries when the object keeps changing
/// between its read and its write (Calico's clients retry an apply 10 times too).
const SPEC_UPDATE_ATTEMPTS: usize = 10;

/// What a write transaction adds to the value in the request etcd checks against
/// `--max-request-bytes` (the raft request header, the compare and the put, each naming the
/// key), rounded up.
const REQUEST_OVERHEAD: usize = 64;

/// How many objects [`EtcdStore`] remembers as last written by its `write_status`. An agent
/// writes the few resources naming its node; past this many names (a CLI or a test writing
/// many) the memory is cleared and refills as it goes.
const LAST_WRITTEN_LIMIT: usize = 1024;

/// What each index operation adds to a write request beyond its key, rounded up.
const INDEX_OP_OVERHEAD: usize = 16;

/// The CalicoNodeStatus store in etcd, in Calico's etcdv3 layout. Cheap to share: clones
/// share the members' connections (one per endpoint) and the failover state.
#[derive(Clone)]
pub struct EtcdStore {
    members: Arc<Members>,
    request_timeout: Duration,
    max_request_bytes: usize,
    index_relist_interval: Duration,
    /// Each object this store last wrote with `write_status`, by name, with its mod revision,
    /// without its status (which the next write replaces; so an entry stays small).
    /// An agent's next status write names that revision, and then the object need not be read
    /// first: at one mod revision a key holds one value, the one written then (a deleted and
    /// recreated key gets a later revision), and the write's compare on the mod revision
    /// still refuses it if anything changed since. One round trip instead of two.
    last_written: Arc<Mutex<HashMap<String, (i64, CalicoNodeStatus)>>>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("request_timeout", &self.request_timeout)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects and checks that etcd answers within `config.connect_timeout`. A bad
    /// configuration (unreadable TLS files, bad endpoints) is `Internal`; an etcd that does not
    /// answer is `Unavailable`.
    pub async fn connect(config: EtcdConfig) -> Result<EtcdStore> {
        config
            .check()
            .map_err(|e| StoreError::internal("checking the etcd configuration", e))?;
        let options = config.connect_options()?;
        // Connecting is lazy: this only builds the channels, so an error here is configuration.
        let members = Members::new(&config.endpoints, &options).await?;
        let store = EtcdStore {
            members: Arc::new(members),
            request_timeout: config.request_timeout,
            max_request_bytes: config.max_request_bytes,
            index_relist_interval: config.index_relist_interval,
            last_written: Arc::default(),
        };
        let endpoints = config.endpoints.join(",");
        store
            .members
            .kv(
                config.connect_timeout,
                || format!("connecting to etcd at {endpoints}"),
                |mut kv| async move {
                    kv.get(KEY_PREFIX, Some(GetOptions::new().with_count_only()))
                        .await
                },
            )
            .await?;
        Ok(store)
    }

    /// The store revision now.
    pub(crate) async fn current_revision(&self) -> Result<i64> {
        let resp = self
            .members
            .kv(
                self.request_timeout,
                || "reading the etcd revision".into(),
                |mut kv| async move {
                    kv.get(KEY_PREFIX, Some(GetOptions::new().with_count_only()))
                        .await
                },
            )
            .await?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    async fn read(&self, name: &str) -> Result<Option<CalicoNodeStatus>> {
        if !is_storable_name(name) {
            return Ok(None);
        }
        let resp = self
            .members
            .kv(
                self.request_timeout,
                || format!("reading caliconodestatus {name:?}"),
                |mut kv| async move { kv.get(key(name), None).await },
            )
            .await?;
        resp.kvs().first().map(|kv| decode_kv(name, kv)).transpose()
    }

    /// The object as this store last wrote it, if that was at `revision`.
    fn written_at(&self, name: &str, revision: i64) -> Option<CalicoNodeStatus> {
        let last = self.last_written.lock().unwrap_or_else(|p| p.into_inner());
        last.get(name)
            .filter(|(at, _)| *at == revision)
            .map(|(_, obj)| obj.clone())
    }

    /// Remembers what a status write stored (`Some`), or forgets it after a failed one.
    fn remember(&self, name: &str, written: Option<(i64, CalicoNodeStatus)>) {
        let mut last = self.last_written.lock().unwrap_or_else(|p| p.into_inner());
        match written {
            Some(written) => {
                if last.len() >= LAST_WRITTEN_LIMIT && !last.contains_key(name) {
                    last.clear();
                }
                last.insert(name.to_owned(), written);
            }
            None => {
                last.remove(name);
            }
        }
    }

    /// Fails with `TooLarge` when the write request would exceed etcd's limit.
    fn check_size(&self, name: &str, value: &[u8], index_ops: &[String]) -> Result<usize> {
        let index: usize = index_ops.iter().map(|k| k.len() + INDEX_OP_OVERHEAD).sum();
        let size = value.len() + key(name).len() + REQUEST_OVERHEAD + index;
        StoreError::check_size(name, size, self.max_request_bytes)?;
        Ok(size)
    }

    /// Runs a write transaction; etcd refusing it for its size is `TooLarge`.
    async fn write_txn(&self, name: &str, size: usize, txn: Txn) -> Result<TxnResponse> {
        let sent = self
            .members
            .kv(
                self.request_timeout,
                || format!("writing caliconodestatus {name:?}"),
                |mut kv| {
                    let txn = txn.clone();
                    async move {
                        match kv.txn(txn).await {
                            // Not a member's failure: no other member would take it either.
                            Err(err) if is_too_large(&err) => Ok(Err(err)),
                            other => other.map(Ok),
                        }
                    }
                },
            )
            .await?;
        match sent {
            Ok(resp) => Ok(resp),
            Err(err) => {
                tracing::warn!(
                    name,
                    size,
                    configured_limit = self.max_request_bytes,
                    error = %err,
                    "etcd refused a write as too large: its --max-request-bytes is below max_request_bytes"
                );
                Err(StoreError::TooLarge {
                    name: name.into(),
                    size,
                    limit: self.max_request_bytes,
                })
            }
        }
    }

    /// Writes `obj` if its key is still at mod revision `revision`, in the same transaction
    /// deleting the index keys `unindex` and putting `index`; returns the new revision.
    async fn compare_and_put(
        &self,
        name: &str,
        obj: &CalicoNodeStatus,
        revision: i64,
        unindex: Option<String>,
        index: Option<String>,
    ) -> Result<i64> {
        let value =
            encode(obj).map_err(|e| StoreError::internal(format!("encoding {name:?}"), e))?;
        let index_keys: Vec<String> = unindex.iter().chain(&index).cloned().collect();
        let size = self.check_size(name, &value, &index_keys)?;
        let key = key(name);
        let mut ops = vec![TxnOp::put(key.clone(), value.clone(), None)];
        ops.extend(unindex.map(|k| TxnOp::delete(k, None)));
        ops.extend(index.map(|k| TxnOp::put(k, "", None)));
        let txn = Txn::new()
            .when([Compare::mod_revision(
                key.clone(),
                CompareOp::Equal,
                revision,
            )])
            .and_then(ops)
            .or_else([TxnOp::get(key, None)]);
        let resp = self.write_txn(name, size, txn).await?;
        if resp.succeeded() {
            return Ok(resp.header().map_or(0, |h| h.revision()));
        }
        if let Some(revision) = already_written(&resp, &value) {
            return Ok(revision);
        }
        Err(conflict_or_missing(name, &revision.to_string(), &resp))
    }
}

/// Lists every object passing `filter`, sorted by name, with the revision of that snapshot.
/// Values that cannot be read are skipped with a warning (as Calico's list does), so one bad
/// value does not hide the others. A node's list reads that node's index and then its objects
/// at the index's revision, so it costs what the node has, not what the cluster has.
pub(crate) async fn list_objects(
    members: &Members,
    timeout: Duration,
    filter: &NodeFilter,
) -> Result<(Vec<CalicoNodeStatus>, i64)> {
    let (mut items, revision) = match filter {
        NodeFilter::All => list_all(members, timeout).await?,
        NodeFilter::Node(node) => list_node(members, timeout, node).await?,
    };
    items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok((items, revision))
}

async fn list_all(members: &Members, timeout: Duration) -> Result<(Vec<CalicoNodeStatus>, i64)> {
    let resp = members
        .kv(
            timeout,
            || "listing caliconodestatuses".into(),
            |mut kv| async move {
                kv.get(KEY_PREFIX, Some(GetOptions::new().with_prefix()))
                    .await
            },
        )
        .await?;
    let items = resp.kvs().iter().filter_map(decode_listed).collect();
    Ok((items, resp.header().map_or(0, |h| h.revision())))
}

async fn list_node(
    members: &Members,
    timeout: Duration,
    node: &str,
) -> Result<(Vec<CalicoNodeStatus>, i64)> {
    let prefix = node_index_prefix(node);
    let resp = members
        .kv(
            timeout,
            || format!("listing the caliconodestatus index of node {node:?}"),
            |mut kv| {
                let prefix = prefix.clone();
                async move {
                    kv.get(
                        prefix,
                        Some(GetOptions::new().with_prefix().with_keys_only()),
                    )
                    .await
                }
            },
        )
        .await?;
    let revision = resp.header().map_or(0, |h| h.revision());
    let names: Vec<&str> = resp
        .kvs()
        .iter()
        .filter_map(|kv| index_entry(kv.key()))
        .filter(|(indexed, _)| *indexed == node)
        .map(|(_, name)| name)
        .collect();
    let reads = names
        .iter()
        .map(|name| read_at(members, timeout, name, revision));
    let found = futures::future::try_join_all(reads).await?;
    let mut items = Vec::with_capacity(names.len());
    for (name, obj) in names.iter().zip(found) {
        match obj {
            Some(obj) if obj.spec.node == node => items.push(obj),
            other => fix_stale_entry(members, timeout, node, name, other.as_ref()).await,
        }
    }
    Ok((items, revision))
}

/// Object `name` as it was at `revision` (0: now); `None` when it did not exist then or its
/// value cannot be read (skipped with a warning, as a list does). A compacted revision is an
/// `Internal` error.
pub(crate) async fn read_at(
    members: &Members,
    timeout: Duration,
    name: &str,
    revision: i64,
) -> Result<Option<CalicoNodeStatus>> {
    let resp = members
        .kv(
            timeout,
            || format!("reading caliconodestatus {name:?} at revision {revision}"),
            |mut kv| async move {
                kv.get(key(name), Some(GetOptions::new().with_revision(revision)))
                    .await
            },
        )
        .await?;
    Ok(resp.kvs().first().and_then(decode_listed))
}

/// Moves or removes an index entry of `node` whose object is gone (`None`) or now names
/// another node (another tool changed or deleted it without the index), unless the object
/// changed again since it was read. Best effort: a failure is logged and the next relist tries
/// again.
async fn fix_stale_entry(
    members: &Members,
    timeout: Duration,
    node: &str,
    name: &str,
    obj: Option<&CalicoNodeStatus>,
) {
    let object_key = key(name);
    let (unchanged, moved_to) = match obj {
        Some(obj) => (
            Compare::mod_revision(
                object_key,
                CompareOp::Equal,
                revision_of(obj.metadata.resource_version.as_deref().unwrap_or_default()),
            ),
            Some(obj.spec.node.clone()),
        ),
        None => (Compare::version(object_key, CompareOp::Equal, 0), None),
    };
    let mut ops = vec![TxnOp::delete(index_key(node, name), None)];
    ops.extend(
        moved_to
            .as_deref()
            .map(|to| TxnOp::put(index_key(to, name), "", None)),
    );
    let txn = Txn::new().when([unchanged]).and_then(ops);
    let result = members
        .kv(
            timeout,
            || format!("repairing the index entry of caliconodestatus {name:?}"),
            |mut kv| {
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            },
        )
        .await;
    match result {
        Ok(resp) if resp.succeeded() => {
            tracing::info!(resource = name, from = node, to = ?moved_to, "moved a stale index entry written by another tool");
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(resource = name, error = %err, "cannot repair an index entry"),
    }
}

/// Runs [`index_unindexed`] unless a watcher (of any node, in any process) did less than
/// `interval` ago. The check reads every key of both prefixes, so if every agent ran it each
/// interval the cluster would pay O(N²) for it (and at once, when agents start together); with
/// the claim one watcher per interval does: it compares-and-swaps [`INDEX_CHECKED_KEY`] from
/// the last check's time to now, and only the one whose swap succeeds checks.
pub(crate) async fn index_unindexed_once_per(
    members: &Members,
    timeout: Duration,
    interval: Duration,
) -> Result<()> {
    let read = Txn::new().and_then([TxnOp::get(INDEX_CHECKED_KEY, None)]);
    let answer = run_txn(
        members,
        timeout,
        "reading when the index was last checked",
        &read,
    )
    .await?;
    let last = gets(&answer)
        .first()
        .and_then(|get| get.kvs().first())
        .map(|kv| {
            let millis = std::str::from_utf8(kv.value())
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            (millis, kv.mod_revision())
        });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    let unchanged = match last {
        Some((checked, _)) if now.saturating_sub(checked) < interval_ms => return Ok(()),
        Some((_, revision)) => Compare::mod_revision(INDEX_CHECKED_KEY, CompareOp::Equal, revision),
        None => Compare::version(INDEX_CHECKED_KEY, CompareOp::Equal, 0),
    };
    let claim = Txn::new().when([unchanged]).and_then([TxnOp::put(
        INDEX_CHECKED_KEY,
        now.to_string(),
        None,
    )]);
    if run_txn(members, timeout, "claiming the index check", &claim)
        .await?
        .succeeded()
    {
        index_unindexed(members, timeout).await
    } else {
        Ok(())
    }
}

/// Gives every object that has no index entry (written by a tool that does not keep the index,
/// such as calicoctl) one, and removes entries whose object is gone. Cheap when nothing is
/// missing: one request counting the objects and the entries; only when the counts differ are
/// the keys (not the values) listed. Best effort, as [`fix_stale_entry`].
pub(crate) async fn index_unindexed(members: &Members, timeout: Duration) -> Result<()> {
    let counts = Txn::new().and_then([
        TxnOp::get(
            KEY_PREFIX,
            Some(GetOptions::new().with_prefix().with_count_only()),
        ),
        TxnOp::get(
            INDEX_PREFIX,
            Some(GetOptions::new().with_prefix().with_count_only()),
        ),
    ]);
    let counted = run_txn(
        members,
        timeout,
        "counting caliconodestatuses and index entries",
        &counts,
    )
    .await?;
    if let [objects, entries] = gets(&counted).as_slice()
        && objects.count() == entries.count()
    {
        return Ok(());
    }
    let keys = GetOptions::new().with_prefix().with_keys_only();
    let listing = Txn::new().and_then([
        TxnOp::get(KEY_PREFIX, Some(keys.clone())),
        TxnOp::get(INDEX_PREFIX, Some(keys)),
    ]);
    let listed = run_txn(
        members,
        timeout,
        "listing caliconodestatus and index keys",
        &listing,
    )
    .await?;
    let listed = gets(&listed);
    let [objects, entries] = listed.as_slice() else {
        return Ok(());
    };
    let object_names: std::collections::HashSet<&str> = objects
        .kvs()
        .iter()
        .filter_map(|kv| name_of(kv.key()))
        .collect();
    let indexed: Vec<(&str, &str)> = entries
        .kvs()
        .iter()
        .filter_map(|kv| index_entry(kv.key()))
        .collect();
    let indexed_names: std::collections::HashSet<&str> = indexed.iter().map(|(_, n)| *n).collect();
    for name in object_names.iter().filter(|n| !indexed_names.contains(*n)) {
        let Some(obj) = read_at(members, timeout, name, 0).await? else {
            continue;
        };
        let entry = index_key(&obj.spec.node, name);
        let txn = Txn::new()
            .when([
                Compare::mod_revision(
                    key(name),
                    CompareOp::Equal,
                    revision_of(obj.metadata.resource_version.as_deref().unwrap_or_default()),
                ),
                Compare::version(entry.clone(), CompareOp::Equal, 0),
            ])
            .and_then([TxnOp::put(entry, "", None)]);
        if run_txn(members, timeout, "indexing a caliconodestatus", &txn)
            .await?
            .succeeded()
        {
            tracing::info!(
                resource = name,
                node = obj.spec.node,
                "indexed a caliconodestatus written without the index"
            );
        }
    }
    for (node, name) in indexed.iter().filter(|(_, n)| !object_names.contains(n)) {
        fix_stale_entry(members, timeout, node, name, None).await;
    }
    Ok(())
}

async fn run_txn(
    members: &Members,
    timeout: Duration,
    what: &str,
    txn: &Txn,
) -> Result<TxnResponse> {
    members
        .kv(
            timeout,
            || what.to_owned(),
            |mut kv| {
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            },
        )
        .await
}

/// The range answers of a transaction, in order.
fn gets(resp: &TxnResponse) -> Vec<etcd_client::GetResponse> {
    resp.op_responses()
        .into_iter()
        .filter_map(|op| match op {
            TxnOpResponse::Get(get) => Some(get),
            _ => None,
        })
        .collect()
}

/// The mod revision of the key when a failed compare found it holding exactly `value`: a
/// retried write whose first attempt was applied after all (the member failed before it
/// answered). Another writer storing the very same bytes (random uid, timestamps) would leave
/// the key as this write wanted it anyway.
fn already_written(resp: &TxnResponse, value: &[u8]) -> Option<i64> {
    resp.op_responses().into_iter().find_map(|op| match op {
        TxnOpResponse::Get(get) => get
            .kvs()
            .first()
            .filter(|kv| kv.value() == value)
            .map(KeyValue::mod_revision),
        _ => None,
    })
}

/// The error for a failed compare: the key is gone (`NotFound`) or at another revision.
fn conflict_or_missing(name: &str, expected: &str, resp: &TxnResponse) -> StoreError {
    let current = resp.op_responses().into_iter().find_map(|op| match op {
        TxnOpResponse::Get(get) => get.kvs().first().map(KeyValue::mod_revision),
        _ => None,
    });
    match current {
        None => StoreError::NotFound { name: name.into() },
        Some(actual) => StoreError::Conflict {
            name: name.into(),
            expected: expected.into(),
            actual: actual.to_string(),
        },
    }
}

fn decode_kv(name: &str, kv: &KeyValue) -> Result<CalicoNodeStatus> {
    decode(kv.value(), kv.mod_revision()).map_err(|e| {
        StoreError::internal(
            format!("decoding caliconodestatus {name:?} stored in etcd"),
            e,
        )
    })
}

/// Decodes a listed key-value, or logs why it is skipped.
pub(crate) fn decode_listed(kv: &KeyValue) -> Option<CalicoNodeStatus> {
    let name = name_of(kv.key())?;
    match decode_kv(name, kv) {
        Ok(obj) => Some(obj),
        Err(err) => {
            tracing::warn!(error = %err, "skipping a caliconodestatus value that cannot be read");
            None
        }
    }
}

/// A resource version as an etcd revision; one that is not a number can match no key, so it
/// becomes -1 (etcd revisions start at 1) and the compare fails as a conflict.
fn revision_of(version: &str) -> i64 {
    version.parse().unwrap_or(-1)
}

#[async_trait::async_trait]
impl Datastore for EtcdStore {
    fn kind(&self) -> &'static str {
        "etcdv3"
    }

    async fn create(&self, obj: &CalicoNodeStatus) -> Result<CalicoNodeStatus> {
        let name = obj.metadata.name.clone().unwrap_or_default();
        StoreError::check_valid(obj)?;
        let mut stored = obj.clone();
        stamp_new(&mut stored, Timestamp::now());
        stored.metadata.resource_version = None;
        let value =
            encode(&stored).map_err(|e| StoreError::internal(format!("encoding {name:?}"), e))?;
        let entry = index_key(&stored.spec.node, &name);
        let size = self.check_size(&name, &value, std::slice::from_ref(&entry))?;
        let key = key(&name);
        let txn = Txn::new()
            .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
            .and_then([
                TxnOp::put(key.clone(), value.clone(), None),
                TxnOp::put(entry, "", None),
            ])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.write_txn(&name, size, txn).await?;
        let revision = if resp.succeeded() {
            resp.header().map(|h| h.revision())
        } else {
            // The value has this create's random uid: found there, it is this create's.
            Some(
                already_written(&resp, &value)
                    .ok_or(StoreError::AlreadyExists { name: name.clone() })?,
            )
        };
        stored.metadata.resource_version = revision.map(|r| r.to_string());
        stored.metadata.self_link = None;
        Ok(stored)
    }

    async fn get(&self, name: &str) -> Result<CalicoNodeStatus> {
        self.read(name)
            .await?
            .ok_or_else(|| StoreError::NotFound { name: name.into() })
    }

    async fn list(&self, filter: &NodeFilter) -> Result<Listing> {
        let (items, revision) = list_objects(&self.members, self.request_timeout, filter).await?;
        Ok(Listing {
            items,
            revision: revision.to_string(),
        })
    }

    async fn watch(&self, filter: &NodeFilter, revision: Option<&str>) -> Result<WatchStream> {
        let after = match revision {
            Some(r) => r.parse::<i64>().map_err(|e| {
                StoreError::internal(format!("watching from resource version {r:?}"), e)
            })?,
            None => self.current_revision().await?,
        };
        Ok(watch::start(
            self.members.clone(),
            self.request_timeout,
            self.index_relist_interval,
            filter.clone(),
            after,
        ))
    }

    async fn update_with(
        &self,
        name: &str,
        change: Change<'_>,
        expected_version: Option<&str>,
    ) -> Result<CalicoNodeStatus> {
        StoreError::check_valid(&change.candidate(name))?;
        retry::on_conflict(
            SPEC_UPDATE_ATTEMPTS,
            expected_version.is_none(),
            |e| matches!(e, StoreError::Conflict { .. }),
            || async move {
                let mut obj = self.get(name).await?;
                let actual = obj.metadata.resource_version.clone().unwrap_or_default();
                StoreError::check_version(name, expected_version, &actual)?;
                // The index entry is put even when the node stays: that put is what the node's
                // agent sees of a change (labels too: the agent's cache holds the object).
                let node = &change.spec().node;
                let unindex = (obj.spec.node != *node).then(|| index_key(&obj.spec.node, name));
                let index = Some(index_key(node, name));
                change.apply(&mut obj);
                let revision = self
                    .compare_and_put(name, &obj, revision_of(&actual), unindex, index)
                    .await?;
                obj.metadata.resource_version = Some(revision.to_string());
                Ok(obj)
            },
        )
        .await
    }

    async fn write_status(
        &self,
        name: &str,
        status: &CalicoNodeStatusStatus,
        expected_version: &str,
    ) -> Result<String> {
        let expected = revision_of(expected_version);
        let mut obj = match self.written_at(name, expected) {
            Some(obj) if expected.to_string() == expected_version => obj,
            _ => {
                let obj = self.get(name).await?;
                let actual = obj.metadata.resource_version.clone().unwrap_or_default();
                if actual != expected_version {
                    return Err(StoreError::Conflict {
                        name: name.into(),
                        expected: expected_version.into(),
                        actual,
                    });
                }
                obj
            }
        };
        obj.status = Some(status.clone());
        // A status write leaves the index alone: no agent's watch hears of it.
        match self.compare_and_put(name, &obj, expected, None, None).await {
            Ok(revision) => {
                obj.status = None;
                self.remember(name, Some((revision, obj)));
                Ok(revision.to_string())
            }
            Err(e) => {
                self.remember(name, None);
                Err(e)
            }
        }
    }

    async fn delete(&self, name: &str, expected_version: Option<&str>) -> Result<CalicoNodeStatus> {
        // The node's index entry goes in the same transaction, so the object is read first to
        // learn its node; the delete is conditional on that read (and retried if it raced).
        for _ in 0..SPEC_UPDATE_ATTEMPTS {
            let current = self.get(name).await?;
            let actual = current
                .metadata
                .resource_version
                .clone()
                .unwrap_or_default();
            StoreError::check_version(name, expected_version, &actual)?;
            let key = key(name);
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    key.clone(),
                    CompareOp::Equal,
                    revision_of(&actual),
                )])
                .and_then([
                    TxnOp::delete(key.clone(), Some(DeleteOptions::new().with_prev_key())),
                    TxnOp::delete(index_key(&current.spec.node, name), None),
                ])
                .or_else([TxnOp::get(key, None)]);
            let resp = run_txn(
                &self.members,
                self.request_timeout,
                &format!("deleting caliconodestatus {name:?}"),
                &txn,
            )
            .await?;
            if !resp.succeeded() {
                match conflict_or_missing(name, &actual, &resp) {
                    StoreError::Conflict { .. } if expected_version.is_none() => continue,
                    StoreError::Conflict { actual: now, .. } => {
                        return Err(StoreError::Conflict {
                            name: name.into(),
                            expected: expected_version.unwrap_or_default().into(),
                            actual: now,
                        });
                    }
                    err => return Err(err),
                }
            }
            let previous = resp.op_responses().into_iter().find_map(|op| match op {
                TxnOpResponse::Delete(mut del) => del.take_prev_kvs().into_iter().next(),
                _ => None,
            });
            let Some(previous) = previous else {
                return Err(StoreError::NotFound { name: name.into() });
            };
            // The last state, at the revision of the deletion (what its `Deleted` event carries).
            let mut last = decode_kv(name, &previous)?;
            last.metadata.resource_version = resp.header().map(|h| h.revision().to_string());
            return Ok(last);
        }
        Err(StoreError::Conflict {
            name: name.into(),
            expected: String::new(),
            actual: "changing".into(),
        })
    }
}
