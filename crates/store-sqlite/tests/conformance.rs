//! The shared backend conformance suite on a SQLite file in a temporary directory.

use std::path::PathBuf;
use std::sync::Arc;

use nodestatus_store::Datastore;
use nodestatus_store_conformance::{Fixture, conformance_tests};
use nodestatus_store_sqlite::{SqliteOptions, SqliteStore};

/// Small enough that the too-large case builds its object quickly.
const MAX_OBJECT_BYTES: usize = 1 << 20;

/// A store in its own temporary directory, and a handle to it.
struct SqliteFixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
}

fn options() -> SqliteOptions {
    SqliteOptions {
        max_object_bytes: MAX_OBJECT_BYTES,
        ..SqliteOptions::default()
    }
}

async fn open(path: PathBuf) -> SqliteStore {
    let opened = tokio::task::spawn_blocking(move || SqliteStore::open(&path, options())).await;
    match opened {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => panic!("opening the SQLite store: {e}"),
        Err(e) => panic!("opening the SQLite store: {e}"),
    }
}

async fn fixture() -> SqliteFixture {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("creating a temporary directory: {e}"),
    };
    let path = dir.path().join("nodestatus.db");
    let store = open(path.clone()).await;
    SqliteFixture {
        _dir: dir,
        path,
        store,
    }
}

impl Fixture for SqliteFixture {
    fn store(&self) -> Arc<dyn Datastore> {
        Arc::new(self.store.clone())
    }

    fn max_object_bytes(&self) -> usize {
        MAX_OBJECT_BYTES
    }

    async fn reconnect(&mut self) {
        self.store = open(self.path.clone()).await;
    }

    /// SQLite has no server: restarting is closing this handle's connections and opening the
    /// file again; watches opened before keep their own connections and poller.
    async fn restart_backend(&mut self) {
        self.store = open(self.path.clone()).await;
    }

    async fn compact(&mut self) {
        if let Err(e) = self.store.compact().await {
            panic!("compacting: {e}");
        }
    }
}

conformance_tests!(fixture());
