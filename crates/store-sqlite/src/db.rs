//! Opening SQLite connections with the settings every connection needs (WAL, busy timeout),
//! creating the schema, noticing a file replaced under the store, a small pool of reader
//! connections, and the mapping of SQLite errors to `StoreError`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nodestatus_store::StoreError;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

/// The schema version kept in `PRAGMA user_version`; a file with another version is refused.
const SCHEMA_VERSION: i64 = 1;

/// Bytes the `-wal` file is truncated back to after a checkpoint.
const JOURNAL_SIZE_LIMIT: i64 = 64 << 20;

/// The tables. `store` is a single row; `events` is the bounded change log watches read.
const SCHEMA: &str = "
CREATE TABLE store (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    revision      INTEGER NOT NULL,  -- the last revision handed out
    compacted     INTEGER NOT NULL,  -- events up to and including this revision are gone
    history_bytes INTEGER NOT NULL   -- sum of events.size
);
INSERT INTO store (id, revision, compacted, history_bytes) VALUES (1, 0, 0, 0);
CREATE TABLE objects (
    name     TEXT PRIMARY KEY,
    node     TEXT NOT NULL,     -- spec.node, for node-filtered lists
    revision INTEGER NOT NULL,  -- the revision of the last change = metadata.resourceVersion
    metadata TEXT NOT NULL,     -- ObjectMeta as JSON, resourceVersion included
    spec     TEXT NOT NULL,     -- JSON
    status   TEXT               -- JSON; NULL when the object has no status
);
CREATE INDEX objects_by_node ON objects (node, name);
CREATE TABLE events (
    revision    INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    node_before TEXT,           -- spec.node before the change; NULL on create
    node_after  TEXT,           -- spec.node after the change; NULL on delete
    object      TEXT NOT NULL,  -- the whole object after the change (before it, for a delete) as JSON
    size        INTEGER NOT NULL
);
";

/// Opens a connection with the per-connection settings. The file must already hold the schema
/// (see `init`), except for the first connection, which creates it.
pub(crate) fn connect(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| sql_error(format!("opening SQLite database {}", path.display()), e))?;
    conn.busy_timeout(busy_timeout)
        .map_err(|e| sql_error("setting the busy timeout", e))?;
    // NORMAL is durable across process crashes in WAL mode; only a power loss can lose the last
    // commits, which a status store can afford for far fewer fsyncs.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| sql_error("setting synchronous=NORMAL", e))?;
    // Without a limit the -wal file keeps the size of the largest burst of writes (a few large
    // statuses make it tens of MiB) forever; with it, checkpoints shrink it back.
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
        .map_err(|e| sql_error("setting journal_size_limit", e))?;
    Ok(conn)
}

/// Checks the parent directory, switches the file to WAL and creates the schema when the file
/// is new. Safe when several processes open a new file at the same moment.
pub(crate) fn init(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(StoreError::internal(
            format!("opening SQLite database {}", path.display()),
            format!(
                "directory {} does not exist; create it or choose another path",
                parent.display()
            ),
        ));
    }
    let mut conn = connect(path, busy_timeout)?;
    // Switching to WAL takes an exclusive lock and does not always wait on the busy handler, so
    // a process that races another one opening the same new file retries here.
    let deadline = Instant::now() + busy_timeout;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
            row.get::<_, String>(0)
        }) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => break,
            Ok(mode) => {
                return Err(StoreError::internal(
                    format!("switching {} to WAL", path.display()),
                    format!("SQLite kept journal mode {mode:?}"),
                ));
            }
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(sql_error(format!("switching {} to WAL", path.display()), e)),
        }
    }
    // An existing store needs no write here (so a process that may only read can open it).
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| sql_error("reading the schema version", e))?;
    if version == SCHEMA_VERSION {
        return Ok(conn);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql_error("starting the schema transaction", e))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| sql_error("reading the schema version", e))?;
    match version {
        0 => {
            tx.execute_batch(SCHEMA)
                .map_err(|e| sql_error("creating the schema", e))?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(|e| sql_error("writing the schema version", e))?;
        }
        SCHEMA_VERSION => {}
        other => {
            return Err(StoreError::internal(
                format!("opening SQLite database {}", path.display()),
                format!("schema version {other} is not the supported version {SCHEMA_VERSION}"),
            ));
        }
    }
    tx.commit()
        .map_err(|e| sql_error("committing the schema", e))?;
    Ok(conn)
}

/// Which file a path names: device and inode. A file replaced under the store (moved over,
/// or deleted and created again) has another, while open connections keep reading the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

fn file_id(path: &Path) -> Result<FileId, StoreError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        // Gone (deleted, or between a delete and its replacement): retry until it is back.
        StoreError::unavailable(format!("checking SQLite database {}", path.display()), e)
    })?;
    Ok(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// Tells which file the store's path names now, as a generation number that grows each time
/// the file is found replaced. Connections remember the generation they were opened in and
/// are opened again when it changes; watches restart with the new file's list.
///
/// One `stat` per call (about a microsecond): every operation and every watch poll checks, so
/// a replacement is noticed by the next call, never acted on with the old file's descriptors.
pub(crate) struct FileTracker {
    path: PathBuf,
    state: Mutex<(FileId, u64)>,
}

impl FileTracker {
    /// Tracks `path`, whose current file is generation 0.
    pub(crate) fn new(path: PathBuf) -> Result<Self, StoreError> {
        let id = file_id(&path)?;
        Ok(FileTracker {
            path,
            state: Mutex::new((id, 0)),
        })
    }

    /// The generation of the file the path names now.
    pub(crate) fn generation(&self) -> Result<u64, StoreError> {
        let id = file_id(&self.path)?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.0 != id {
            *state = (id, state.1 + 1);
            tracing::warn!(
                path = %self.path.display(),
                generation = state.1,
                "the SQLite database file was replaced; reopening it (watches restart with its objects)"
            );
        }
        Ok(state.1)
    }
}

/// Reader connections, reused so that a read does not pay for opening the file.
pub(crate) struct Pool {
    path: PathBuf,
    busy_timeout: Duration,
    /// Idle connections with the file generation they were opened in.
    idle: Mutex<Vec<(Connection, u64)>>,
}

/// How many idle reader connections are kept; more are opened when needed and closed after.
const MAX_IDLE: usize = 4;

impl Pool {
    pub(crate) fn new(path: PathBuf, busy_timeout: Duration) -> Self {
        Pool {
            path,
            busy_timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a pooled connection to the file of `generation` (blocking; call from a
    /// blocking thread). Connections to an older file are closed.
    pub(crate) fn with<T>(
        &self,
        generation: u64,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            idle.retain(|(_, g)| *g == generation);
            idle.pop()
        };
        let mut conn = match taken {
            Some((conn, _)) => conn,
            None => connect(&self.path, self.busy_timeout)?,
        };
        let result = f(&mut conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push((conn, generation));
        }
        result
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Maps a SQLite error: lock timeouts and I/O trouble may pass (`Unavailable`); anything else
/// (a read-only file, a corrupt database, a schema mismatch) will not (`Internal`).
pub(crate) fn sql_error(context: impl std::fmt::Display, e: rusqlite::Error) -> StoreError {
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::OutOfMemory
        )
    );
    if retryable {
        StoreError::unavailable(context, e)
    } else {
        StoreError::internal(context, e)
    }
}
