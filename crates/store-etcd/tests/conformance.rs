//! The shared datastore conformance suite against a real etcd 3.4, one fresh server per case.

use std::sync::Arc;

use nodestatus_store::Datastore;
use nodestatus_store_conformance::Fixture;
use nodestatus_store_etcd::EtcdStore;
use nodestatus_store_etcd::testing::EtcdServer;

struct EtcdFixture {
    server: EtcdServer,
    store: Arc<EtcdStore>,
}

async fn fixture() -> EtcdFixture {
    let server = EtcdServer::start()
        .await
        .unwrap_or_else(|e| panic!("starting etcd: {e}"));
    let store = connect(&server).await;
    EtcdFixture { server, store }
}

async fn connect(server: &EtcdServer) -> Arc<EtcdStore> {
    match EtcdStore::connect(server.config()).await {
        Ok(store) => Arc::new(store),
        Err(e) => panic!("connecting to etcd: {e}"),
    }
}

impl Fixture for EtcdFixture {
    fn store(&self) -> Arc<dyn Datastore> {
        self.store.clone()
    }

    fn max_object_bytes(&self) -> usize {
        self.server.config().max_request_bytes
    }

    async fn reconnect(&mut self) {
        self.store = connect(&self.server).await;
    }

    /// Stops etcd (SIGTERM) and starts it again on the same data; the store handle is kept and
    /// reconnects by itself.
    async fn restart_backend(&mut self) {
        if let Err(e) = self.server.restart().await {
            panic!("restarting etcd: {e}");
        }
    }

    /// An agent's watch follows the per-node index, which status writes leave alone.
    fn node_watch_sees_status_writes(&self) -> bool {
        false
    }

    async fn compact(&mut self) {
        if let Err(e) = self.server.compact().await {
            panic!("compacting etcd: {e}");
        }
    }
}

nodestatus_store_conformance::conformance_tests!(fixture());
