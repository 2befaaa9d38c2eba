//! The datastore operations as synchronous SQLite transactions: every write is one
//! `BEGIN IMMEDIATE` transaction that changes the object, takes the next revision, appends to
//! the event log and trims it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use nodestatus_api::{
    CRD_API_VERSION, CalicoNodeStatus, CalicoNodeStatusSpec, CalicoNodeStatusStatus, KIND,
};
use nodestatus_store::{Change, Listing, NodeFilter, StoreError, WatchEvent};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Deserialize;

use crate::db::sql_error;

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The bounds a write enforces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Largest encoded object, in bytes.
    pub(crate) max_object_bytes: usize,
    /// Events kept in the log.
    pub(crate) history_events: i64,
    /// Total size of the objects kept in the log, in bytes (the newest event is always kept).
    pub(crate) history_bytes: i64,
}

/// A write's result and the revision it made.
pub(crate) struct Written<T> {
    pub(crate) value: T,
    pub(crate) revision: i64,
}

/// An object to create, already validated and encoded outside the write lock.
pub(crate) struct NewObject {
    pub(crate) name: String,
    pub(crate) node: String,
    /// The metadata the store keeps, with uid and creationTimestamp set; resourceVersion is set here.
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: String,
    pub(crate) status: Option<String>,
}

/// The singleton `store` row.
struct StoreRow {
    revision: i64,
    compacted: i64,
    history_bytes: i64,
}

/// The object as stored (the JSON of `objects.object` and of `events.object`).
#[derive(Deserialize)]
struct Stored {
    metadata: ObjectMeta,
    spec: CalicoNodeStatusSpec,
    #[serde(default)]
    status: Option<CalicoNodeStatusStatus>,
}

/// An `objects` row, JSON still encoded.
struct Row {
    node: String,
    revision: i64,
    metadata: String,
    spec: String,
    status: Option<String>,
}

pub(crate) fn create(
    conn: &mut Connection,
    limits: &Limits,
    new: NewObject,
) -> Result<Written<CalicoNodeStatus>> {
    let tx = begin_write(conn)?;
    if read_row(&tx, &new.name)?.is_some() {
        return Err(StoreError::AlreadyExists { name: new.name });
    }
    let store = store_row(&tx)?;
    let revision = store.revision + 1;
    let mut metadata = new.metadata;
    metadata.resource_version = Some(revision.to_string());
    let metadata = encode("metadata", &metadata)?;
    let object = object_json(&metadata, &new.spec, new.status.as_deref());
    check_size(limits, &new.name, &object)?;
    tx.execute(
        "INSERT INTO objects (name, node, revision, metadata, spec, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![new.name, new.node, revision, metadata, new.spec, new.status],
    )
    .map_err(|e| sql_error(format!("inserting {:?}", new.name), e))?;
    log_event(
        &tx,
        limits,
        &store,
        &new.name,
        None,
        Some(&new.node),
        &object,
    )?;
    commit(tx)?;
    Ok(Written {
        value: decode(&object)?,
        revision,
    })
}

pub(crate) fn get(conn: &Connection, name: &str) -> Result<CalicoNodeStatus> {
    let row = read_row(conn, name)?.ok_or_else(|| not_found(name))?;
    row_object(name, &row)
}

pub(crate) fn list(conn: &mut Connection, filter: &NodeFilter) -> Result<Listing> {
    let tx = conn
        .transaction()
        .map_err(|e| sql_error("starting a read", e))?;
    let listing = list_in(&tx, filter)?;
    tx.commit().map_err(|e| sql_error("ending a read", e))?;
    Ok(listing)
}

/// Lists inside a read transaction, so the revision matches the items.
fn list_in(conn: &Connection, filter: &NodeFilter) -> Result<Listing> {
    let revision = store_row(conn)?.revision;
    let (sql, node) = match filter {
        NodeFilter::All => (
            "SELECT name, metadata, spec, status FROM objects ORDER BY name",
            None,
        ),
        NodeFilter::Node(node) => (
            "SELECT name, metadata, spec, status FROM objects WHERE node = ?1 ORDER BY name",
            Some(node.as_str()),
        ),
    };
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| sql_error("listing", e))?;
    let mut rows = match node {
        Some(node) => stmt.query([node]),
        None => stmt.query([]),
    }
    .map_err(|e| sql_error("listing", e))?;
    let mut items = Vec::new();
    while let Some(r) = rows.next().map_err(|e| sql_error("listing", e))? {
        let name: String = r.get(0).map_err(|e| sql_error("listing", e))?;
        let metadata: String = r.get(1).map_err(|e| sql_error("listing", e))?;
        let spec: String = r.get(2).map_err(|e| sql_error("listing", e))?;
        let status: Option<String> = r.get(3).map_err(|e| sql_error("listing", e))?;
        items.push(
            decode(&object_json(&metadata, &spec, status.as_deref()))
                .map_err(|e| StoreError::internal(format!("reading {name:?}"), e))?,
        );
    }
    Ok(Listing {
        items,
        revision: revision.to_string(),
    })
}

/// What `update_spec` writes: the spec (and its encoding), and the object whose labels and
/// annotations replace the stored ones (`None`: kept).
pub(crate) struct SpecUpdate<'a> {
    pub(crate) spec: &'a CalicoNodeStatusSpec,
    pub(crate) encoded_spec: &'a str,
    pub(crate) labels_from: Option<&'a CalicoNodeStatus>,
}

pub(crate) fn update_spec(
    conn: &mut Connection,
    limits: &Limits,
    name: &str,
    update: SpecUpdate<'_>,
    expected: Option<&str>,
) -> Result<Written<CalicoNodeStatus>> {
    let SpecUpdate {
        spec: new_spec,
        encoded_spec: spec,
        labels_from,
    } = update;
    let node = new_spec.node.as_str();
    let tx = begin_write(conn)?;
    let row = read_row(&tx, name)?.ok_or_else(|| not_found(name))?;
    if let Some(expected) = expected {
        check_version(name, expected, row.revision)?;
    }
    let store = store_row(&tx)?;
    let revision = store.revision + 1;
    let mut meta = parse_metadata(&row.metadata)?;
    // The stored spec and the new one are encoded by the same serialiser, so equal specs are
    // equal strings.
    let spec_changed = row.spec != spec;
    let change = match labels_from {
        Some(obj) => Change::SpecAndLabels(obj),
        None => Change::Spec(new_spec),
    };
    change.apply_to_metadata(&mut meta, spec_changed);
    meta.resource_version = Some(revision.to_string());
    let metadata = encode("metadata", &meta)?;
    let object = object_json(&metadata, spec, row.status.as_deref());
    check_size(limits, name, &object)?;
    tx.execute(
        "UPDATE objects SET node = ?2, revision = ?3, metadata = ?4, spec = ?5 WHERE name = ?1",
        params![name, node, revision, metadata, spec],
    )
    .map_err(|e| sql_error(format!("updating the spec of {name:?}"), e))?;
    log_event(
        &tx,
        limits,
        &store,
        name,
        Some(&row.node),
        Some(node),
        &object,
    )?;
    commit(tx)?;
    Ok(Written {
        value: decode(&object)?,
        revision,
    })
}

pub(crate) fn write_status(
    conn: &mut Connection,
    limits: &Limits,
    name: &str,
    status: &str,
    expected: &str,
) -> Result<Written<String>> {
    let tx = begin_write(conn)?;
    let row = read_row(&tx, name)?.ok_or_else(|| not_found(name))?;
    check_version(name, expected, row.revision)?;
    let store = store_row(&tx)?;
    let revision = store.revision + 1;
    let metadata = with_version(&row.metadata, revision)?;
    let object = object_json(&metadata, &row.spec, Some(status));
    check_size(limits, name, &object)?;
    tx.execute(
        "UPDATE objects SET revision = ?2, metadata = ?3, status = ?4 WHERE name = ?1",
        params![name, revision, metadata, status],
    )
    .map_err(|e| sql_error(format!("writing the status of {name:?}"), e))?;
    log_event(
        &tx,
        limits,
        &store,
        name,
        Some(&row.node),
        Some(&row.node),
        &object,
    )?;
    commit(tx)?;
    Ok(Written {
        value: revision.to_string(),
        revision,
    })
}

/// Deletes; the returned object (and the event) carries the revision of the deletion as its
/// resourceVersion, as Kubernetes does, so a consumer's last seen revision stays current.
pub(crate) fn delete(
    conn: &mut Connection,
    limits: &Limits,
    name: &str,
    expected: Option<&str>,
) -> Result<Written<CalicoNodeStatus>> {
    let tx = begin_write(conn)?;
    let row = read_row(&tx, name)?.ok_or_else(|| not_found(name))?;
    if let Some(expected) = expected {
        check_version(name, expected, row.revision)?;
    }
    let store = store_row(&tx)?;
    let revision = store.revision + 1;
    let metadata = with_version(&row.metadata, revision)?;
    let object = object_json(&metadata, &row.spec, row.status.as_deref());
    tx.execute("DELETE FROM objects WHERE name = ?1", [name])
        .map_err(|e| sql_error(format!("deleting {name:?}"), e))?;
    log_event(&tx, limits, &store, name, Some(&row.node), None, &object)?;
    commit(tx)?;
    Ok(Written {
        value: decode(&object)?,
        revision,
    })
}

/// Drops the whole event log up to the current revision.
pub(crate) fn compact(conn: &mut Connection) -> Result<i64> {
    let tx = begin_write(conn)?;
    let revision = store_row(&tx)?.revision;
    tx.execute("DELETE FROM events", [])
        .map_err(|e| sql_error("compacting the event log", e))?;
    tx.execute(
        "UPDATE store SET compacted = ?1, history_bytes = 0",
        [revision],
    )
    .map_err(|e| sql_error("compacting the event log", e))?;
    commit(tx)?;
    Ok(revision)
}

pub(crate) fn current_revision(conn: &Connection) -> Result<i64> {
    Ok(store_row(conn)?.revision)
}

/// What a watch reads in one go.
pub(crate) struct Batch {
    /// The events, in revision order.
    pub(crate) events: Vec<WatchEvent>,
    /// The revision the watch has now seen everything up to.
    pub(crate) last: i64,
    /// Whether `last` is the store's revision (false when the byte budget cut the read short).
    pub(crate) complete: bool,
}

/// Reads the events after `after` that concern `filter`, up to about `max_bytes` of objects, or
/// a `Restarted` list when the log no longer reaches back to `after`. A revision beyond the
/// store's own did not come from this file (it was replaced): that also restarts.
pub(crate) fn read_events(
    conn: &mut Connection,
    filter: &NodeFilter,
    after: i64,
    max_bytes: i64,
) -> Result<Batch> {
    let tx = conn
        .transaction()
        .map_err(|e| sql_error("starting a read", e))?;
    let store = store_row(&tx)?;
    if after < store.compacted || after > store.revision {
        return restart_in(&tx, filter);
    }
    let context = "reading the event log";
    let (sql, node) = match filter {
        NodeFilter::All => (
            "SELECT revision, node_before, node_after, object, size FROM events WHERE revision > ?1 ORDER BY revision",
            None,
        ),
        NodeFilter::Node(node) => (
            "SELECT revision, node_before, node_after, object, size FROM events \
             WHERE revision > ?1 AND (node_before = ?2 OR node_after = ?2) ORDER BY revision",
            Some(node.as_str()),
        ),
    };
    let mut stmt = tx.prepare_cached(sql).map_err(|e| sql_error(context, e))?;
    let mut rows = match node {
        Some(node) => stmt.query(params![after, node]),
        None => stmt.query(params![after]),
    }
    .map_err(|e| sql_error(context, e))?;
    let mut events = Vec::new();
    let mut bytes = 0;
    let mut last = store.revision;
    let mut complete = true;
    while let Some(r) = rows.next().map_err(|e| sql_error(context, e))? {
        let revision: i64 = r.get(0).map_err(|e| sql_error(context, e))?;
        let before: Option<String> = r.get(1).map_err(|e| sql_error(context, e))?;
        let after_node: Option<String> = r.get(2).map_err(|e| sql_error(context, e))?;
        let object: String = r.get(3).map_err(|e| sql_error(context, e))?;
        let size: i64 = r.get(4).map_err(|e| sql_error(context, e))?;
        let object = decode(&object)
            .map_err(|e| StoreError::internal(format!("reading event {revision}"), e))?;
        if let Some(event) = classify(filter, before.as_deref(), after_node.as_deref(), object) {
            events.push(event);
        }
        bytes += size;
        if bytes >= max_bytes {
            last = revision;
            complete = revision == store.revision;
            break;
        }
    }
    drop(rows);
    drop(stmt);
    tx.commit().map_err(|e| sql_error("ending a read", e))?;
    Ok(Batch {
        events,
        last,
        complete,
    })
}

/// The full filtered list as a `Restarted` batch, for a watch that cannot resume.
pub(crate) fn relist(conn: &mut Connection, filter: &NodeFilter) -> Result<Batch> {
    let tx = conn
        .transaction()
        .map_err(|e| sql_error("starting a read", e))?;
    let batch = restart_in(&tx, filter)?;
    tx.commit().map_err(|e| sql_error("ending a read", e))?;
    Ok(batch)
}

fn restart_in(conn: &Connection, filter: &NodeFilter) -> Result<Batch> {
    let listing = list_in(conn, filter)?;
    let last = listing
        .revision
        .parse()
        .map_err(|e| StoreError::internal("reading the store revision", e))?;
    Ok(Batch {
        events: vec![WatchEvent::Restarted(listing)],
        last,
        complete: true,
    })
}

/// Turns a logged change into what a watch with `filter` sees: a node moving into the filter is
/// `Added`, out of it `Deleted` (with the object after the change, as Kubernetes does).
fn classify(
    filter: &NodeFilter,
    before: Option<&str>,
    after: Option<&str>,
    object: CalicoNodeStatus,
) -> Option<WatchEvent> {
    let passes = |node: Option<&str>| match (filter, node) {
        (_, None) => false,
        (NodeFilter::All, Some(_)) => true,
        (NodeFilter::Node(want), Some(node)) => want == node,
    };
    match (passes(before), passes(after)) {
        (false, true) => Some(WatchEvent::Added(object)),
        (true, true) => Some(WatchEvent::Modified(object)),
        (true, false) => Some(WatchEvent::Deleted(object)),
        (false, false) => None,
    }
}

fn begin_write(conn: &mut Connection) -> Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql_error("starting a write transaction", e))
}

fn commit(tx: Transaction<'_>) -> Result<()> {
    tx.commit().map_err(|e| sql_error("committing", e))
}

fn store_row(conn: &Connection) -> Result<StoreRow> {
    conn.prepare_cached("SELECT revision, compacted, history_bytes FROM store WHERE id = 1")
        .and_then(|mut stmt| {
            stmt.query_row([], |r| {
                Ok(StoreRow {
                    revision: r.get(0)?,
                    compacted: r.get(1)?,
                    history_bytes: r.get(2)?,
                })
            })
        })
        .map_err(|e| sql_error("reading the store revision", e))
}

fn read_row(conn: &Connection, name: &str) -> Result<Option<Row>> {
    conn.prepare_cached(
        "SELECT node, revision, metadata, spec, status FROM objects WHERE name = ?1",
    )
    .and_then(|mut stmt| {
        stmt.query_row([name], |r| {
            Ok(Row {
                node: r.get(0)?,
                revision: r.get(1)?,
                metadata: r.get(2)?,
                spec: r.get(3)?,
                status: r.get(4)?,
            })
        })
        .optional()
    })
    .map_err(|e| sql_error(format!("reading {name:?}"), e))
}

/// Appends the change at the next revision to the log, then trims the log to its bounds.
/// Revisions have no gaps and each has one event, so the log holds `revision - compacted`
/// events.
fn log_event(
    tx: &Transaction<'_>,
    limits: &Limits,
    store: &StoreRow,
    name: &str,
    node_before: Option<&str>,
    node_after: Option<&str>,
    object: &str,
) -> Result<()> {
    let context = "appending to the event log";
    let revision = store.revision + 1;
    let size = i64::try_from(object.len()).unwrap_or(i64::MAX);
    tx.prepare_cached(
        "INSERT INTO events (revision, name, node_before, node_after, object, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| stmt.execute(params![revision, name, node_before, node_after, object, size]))
    .map_err(|e| sql_error(context, e))?;
    let mut compacted = store.compacted;
    let mut bytes = store.history_bytes.saturating_add(size);
    let over = |compacted: i64, bytes: i64| {
        revision - compacted > limits.history_events || bytes > limits.history_bytes
    };
    if over(compacted, bytes) {
        let context = "trimming the event log";
        let mut stmt = tx
            .prepare_cached("SELECT revision, size FROM events WHERE revision > ?1 AND revision < ?2 ORDER BY revision")
            .map_err(|e| sql_error(context, e))?;
        let mut rows = stmt
            .query([compacted, revision])
            .map_err(|e| sql_error(context, e))?;
        while over(compacted, bytes) {
            let Some(r) = rows.next().map_err(|e| sql_error(context, e))? else {
                break;
            };
            compacted = r.get(0).map_err(|e| sql_error(context, e))?;
            bytes -= r.get::<_, i64>(1).map_err(|e| sql_error(context, e))?;
        }
        drop(rows);
        tx.execute("DELETE FROM events WHERE revision <= ?1", [compacted])
            .map_err(|e| sql_error(context, e))?;
    }
    tx.prepare_cached(
        "UPDATE store SET revision = ?1, compacted = ?2, history_bytes = ?3 WHERE id = 1",
    )
    .and_then(|mut stmt| stmt.execute(params![revision, compacted, bytes]))
    .map_err(|e| sql_error("advancing the store revision", e))?;
    Ok(())
}

fn check_version(name: &str, expected: &str, revision: i64) -> Result<()> {
    StoreError::check_version(name, Some(expected), &revision.to_string())
}

fn check_size(limits: &Limits, name: &str, object: &str) -> Result<()> {
    StoreError::check_size(name, object.len(), limits.max_object_bytes)
}

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        name: name.to_owned(),
    }
}

/// The stored metadata with a new resourceVersion.
fn with_version(metadata: &str, revision: i64) -> Result<String> {
    let mut meta = parse_metadata(metadata)?;
    meta.resource_version = Some(revision.to_string());
    encode("metadata", &meta)
}

fn parse_metadata(metadata: &str) -> Result<ObjectMeta> {
    serde_json::from_str(metadata).map_err(|e| StoreError::internal("reading stored metadata", e))
}

fn row_object(name: &str, row: &Row) -> Result<CalicoNodeStatus> {
    decode(&object_json(
        &row.metadata,
        &row.spec,
        row.status.as_deref(),
    ))
    .map_err(|e| StoreError::internal(format!("reading {name:?}"), e))
}

pub(crate) fn encode<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::internal(format!("encoding {what}"), e))
}

/// The whole object as JSON from its stored parts, without decoding them again.
fn object_json(metadata: &str, spec: &str, status: Option<&str>) -> String {
    let mut out =
        String::with_capacity(metadata.len() + spec.len() + status.map_or(0, str::len) + 96);
    out.push_str(&format!(
        r#"{{"apiVersion":"{CRD_API_VERSION}","kind":"{KIND}","metadata":"#
    ));
    out.push_str(metadata);
    out.push_str(r#","spec":"#);
    out.push_str(spec);
    if let Some(status) = status {
        out.push_str(r#","status":"#);
        out.push_str(status);
    }
    out.push('}');
    out
}

fn decode(object: &str) -> Result<CalicoNodeStatus> {
    let stored: Stored = serde_json::from_str(object)
        .map_err(|e| StoreError::internal("decoding a stored object", e))?;
    Ok(CalicoNodeStatus {
        metadata: stored.metadata,
        spec: stored.spec,
        status: stored.status,
    })
}
