//! Shared set-up for the agent's end-to-end tests: a real BIRD lab, real datastores (SQLite in a
//! temporary directory, etcd started by the etcd crate's harness), the agent running in-process
//! on a free port, its HTTP endpoints, and the status the lab's topology predicts.
//! Without root, BIRD or etcd these tests fail with the harness's message; they never skip.

#![allow(dead_code)] // Each test binary uses its own part of this module.

pub mod fake_bird;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodestatus_api::{
    AgentStatus, BgpDaemonState, BgpDaemonStatus, BgpPeer, BgpPeerType, BgpStatus,
    CalicoNodeStatus, CalicoNodeStatusSpec, CalicoNodeStatusStatus, NodeStatusClass, RouteStatus,
};
use nodestatus_lab::{BirdVersion, ExpectedNode, ExpectedState, Family, Lab, LabSpec, sort_routes};
use nodestatus_reporter::{Agent, AgentConfig, AgentError, Backoff};
use nodestatus_store::{Datastore, NodeFilter};
use nodestatus_store_etcd::EtcdStore;
use nodestatus_store_etcd::testing::EtcdServer;
use nodestatus_store_sqlite::{SqliteOptions, SqliteStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Sessions establish in about a second, but CI machines can be slow and loaded.
pub const CONVERGE: Duration = Duration::from_secs(60);

/// Every class.
pub const ALL: &[NodeStatusClass] = &NodeStatusClass::ALL;

/// A converged lab and the temporary directory it lives in (the lab is dropped, and torn
/// down, first).
pub struct TestLab {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
}

/// A lab of `nodes` nodes, up and converged.
pub fn lab(bird: BirdVersion, nodes: usize) -> TestLab {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("creating a temporary directory: {e}"));
    let spec = LabSpec {
        nodes,
        ..LabSpec::new(bird, dir.path())
    };
    let lab = Lab::up(spec).unwrap_or_else(|e| panic!("BIRD {bird} lab up failed: {e}"));
    lab.wait_established(CONVERGE)
        .unwrap_or_else(|e| panic!("BIRD {bird} lab did not converge: {e}"));
    TestLab { lab, dir }
}

impl TestLab {
    /// Disables a session and waits until BIRD everywhere shows what the topology implies.
    pub fn disable(&mut self, node: &str, protocol: &str) {
        self.lab
            .disable_protocol(node, protocol)
            .unwrap_or_else(|e| panic!("disabling {protocol} on {node}: {e}"));
        self.lab.wait_established(CONVERGE).unwrap_or_else(|e| {
            panic!("lab did not settle after disabling {protocol} on {node}: {e}")
        });
    }

    /// Disables `node`'s sessions to peers that never answer, whose BGP state otherwise flips
    /// between `Active` and `Connect` every few seconds: after this nothing in the node's BIRD
    /// changes on its own.
    pub fn quiet(&mut self, node: &str) {
        let expected = self.expected(node);
        let trying: Vec<String> = Family::ALL
            .into_iter()
            .flat_map(|f| expected.peers(f).to_vec())
            .filter(|p| p.peer_type != BgpPeerType::NodeMesh)
            .map(|p| p.protocol)
            .collect();
        for protocol in trying {
            self.disable(node, &protocol);
        }
    }

    /// What `node`'s status must contain now.
    pub fn expected(&self, node: &str) -> ExpectedNode {
        self.lab
            .expected()
            .into_iter()
            .find(|e| e.node == node)
            .unwrap_or_else(|| panic!("no node {node} in the lab"))
    }
}

/// A datastore for a test, with what keeps it alive.
pub enum Store {
    /// A SQLite file in a temporary directory.
    Sqlite {
        store: SqliteStore,
        _dir: tempfile::TempDir,
    },
    /// A real etcd server.
    Etcd {
        store: Box<EtcdStore>,
        server: Box<EtcdServer>,
    },
}

impl Store {
    /// A fresh SQLite store whose writes give up after 300 ms on a held lock.
    pub fn sqlite() -> Store {
        let dir =
            tempfile::tempdir().unwrap_or_else(|e| panic!("creating a temporary directory: {e}"));
        let options = SqliteOptions {
            busy_timeout: Duration::from_millis(300),
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(&dir.path().join("nodestatus.db"), options)
            .unwrap_or_else(|e| panic!("opening SQLite: {e}"));
        Store::Sqlite { store, _dir: dir }
    }

    /// A fresh etcd server and a store connected to it.
    pub async fn etcd() -> Store {
        let server = EtcdServer::start()
            .await
            .unwrap_or_else(|e| panic!("starting etcd: {e}"));
        let store = EtcdStore::connect(server.config())
            .await
            .unwrap_or_else(|e| panic!("connecting to etcd: {e}"));
        Store::Etcd {
            store: Box::new(store),
            server: Box::new(server),
        }
    }

    pub fn datastore(&self) -> Arc<dyn Datastore> {
        match self {
            Store::Sqlite { store, .. } => Arc::new(store.clone()),
            Store::Etcd { store, .. } => Arc::new((**store).clone()),
        }
    }

    /// The store's current revision.
    pub async fn revision(&self) -> u64 {
        let listing = self
            .datastore()
            .list(&NodeFilter::All)
            .await
            .unwrap_or_else(|e| panic!("listing: {e}"));
        listing
            .revision
            .parse()
            .unwrap_or_else(|e| panic!("revision {:?}: {e}", listing.revision))
    }
}

/// The agent, running in this process.
pub struct RunningAgent {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), AgentError>>,
}

/// Retry bounds of the agents under test: short, so outages end quickly.
pub const BACKOFF: Backoff = Backoff {
    min: Duration::from_millis(100),
    max: Duration::from_secs(1),
};

/// Starts an agent for `node` of the lab on a free loopback port.
pub fn start_agent(lab: &Lab, node: &str, datastore: Arc<dyn Datastore>) -> RunningAgent {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let n = lab.node(node).unwrap_or_else(|e| panic!("{e}"));
    let mut config = AgentConfig::new(node);
    config.endpoints = nodestatus_bird::Endpoints::new(
        n.socket(Family::V4).map(ToOwned::to_owned),
        n.socket(Family::V6).map(ToOwned::to_owned),
    );
    start_agent_with(config, datastore)
}

/// Starts an agent with `config` (its listen address, backoff and datastore timeout replaced
/// by a free loopback port and the short test bounds).
pub fn start_agent_with(mut config: AgentConfig, datastore: Arc<dyn Datastore>) -> RunningAgent {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.backoff = BACKOFF;
    config.datastore_timeout = Duration::from_secs(3);
    let agent = Agent::new(config, datastore).unwrap_or_else(|e| panic!("starting the agent: {e}"));
    let addr = agent.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));
    RunningAgent {
        addr,
        stop: Some(stop),
        task,
    }
}

impl RunningAgent {
    /// `GET path`: the status code and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .unwrap_or_else(|e| panic!("connecting to the agent at {}: {e}", self.addr));
        let request = format!("GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
        stream
            .write_all(request.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("sending the request: {e}"));
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .unwrap_or_else(|e| panic!("reading the response: {e}"));
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status code in {head:?}"));
        (code, body.to_owned())
    }

    /// The value of one sample of `/metrics` (`name` with its labels as printed, e.g.
    /// `nodestatus_collections_total`), 0 when absent.
    pub async fn metric(&self, name: &str) -> f64 {
        let (code, body) = self.get("/metrics").await;
        assert_eq!(code, 200, "/metrics: {body}");
        body.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .map(|v| {
                v.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("{name} = {v:?}: {e}"))
            })
            .unwrap_or(0.0)
    }

    /// Stops the agent and checks it stopped cleanly within 2 seconds.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(Duration::from_secs(2), &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => panic!("the agent failed: {e}"),
            Ok(Err(e)) => panic!("the agent task failed: {e}"),
            Err(_) => panic!("the agent did not stop within 2 s"),
        }
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A resource as an operator applies it.
pub fn resource(
    name: &str,
    node: &str,
    classes: &[NodeStatusClass],
    period: u32,
) -> CalicoNodeStatus {
    CalicoNodeStatus::new(name, spec(node, classes, period))
}

pub fn spec(node: &str, classes: &[NodeStatusClass], period: u32) -> CalicoNodeStatusSpec {
    CalicoNodeStatusSpec {
        classes: classes.to_vec(),
        node: node.to_owned(),
        update_period_seconds: period,
    }
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads a resource.
pub async fn get(ds: &Arc<dyn Datastore>, name: &str) -> CalicoNodeStatus {
    ds.get(name)
        .await
        .unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

/// The status the lab's topology implies for `classes`, with what cannot be predicted (times,
/// BIRD's exact version, which of several states a trying peer is in) taken from `actual` once
/// its form is checked. `None` when `actual` lacks a part or disagrees on a state.
pub fn predicted(
    bird: BirdVersion,
    expected: &ExpectedNode,
    classes: &[NodeStatusClass],
    actual: &CalicoNodeStatusStatus,
) -> Option<CalicoNodeStatusStatus> {
    let daemon = |got: &BgpDaemonStatus| {
        let fits = got.version.starts_with(bird.version_prefix())
            && !got.last_boot_time.is_empty()
            && !got.last_reconfiguration_time.is_empty();
        fits.then(|| BgpDaemonStatus {
            state: Some(BgpDaemonState::Ready),
            router_id: expected.router_id.clone(),
            ..got.clone()
        })
    };
    let peers = |got: &[BgpPeer], f: Family| -> Option<Vec<BgpPeer>> {
        let want = expected.peers(f);
        if got.len() != want.len() {
            return None;
        }
        want.iter()
            .zip(got)
            .map(|(want, got)| {
                (want.state.matches(&got.state) && !got.since.is_empty()).then(|| BgpPeer {
                    peer_ip: want.peer_ip.clone(),
                    peer_type: Some(want.peer_type),
                    state: match want.state {
                        ExpectedState::Established => "Established".to_owned(),
                        ExpectedState::Down => "Down".to_owned(),
                        ExpectedState::Passive => "Passive".to_owned(),
                        ExpectedState::Trying | ExpectedState::Refused => got.state.clone(),
                    },
                    since: got.since.clone(),
                })
            })
            .collect()
    };
    let wants = |c| classes.contains(&c);
    let agent = match (wants(NodeStatusClass::Agent), &actual.agent) {
        (false, _) => None,
        (true, Some(a)) => Some(AgentStatus {
            bird_v4: daemon(&a.bird_v4)?,
            bird_v6: daemon(&a.bird_v6)?,
        }),
        (true, None) => return None,
    };
    let bgp = match (wants(NodeStatusClass::Bgp), &actual.bgp) {
        (false, _) => None,
        (true, Some(b)) => Some(BgpStatus {
            number_established_v4: expected.established_v4,
            number_not_established_v4: expected.not_established_v4,
            number_established_v6: expected.established_v6,
            number_not_established_v6: expected.not_established_v6,
            peers_v4: peers(&b.peers_v4, Family::V4)?,
            peers_v6: peers(&b.peers_v6, Family::V6)?,
        }),
        (true, None) => return None,
    };
    let routes = wants(NodeStatusClass::Routes).then(|| RouteStatus {
        routes_v4: expected.routes_v4.clone(),
        routes_v6: expected.routes_v6.clone(),
        truncated: None,
    });
    Some(CalicoNodeStatusStatus {
        last_updated: actual.last_updated.clone(),
        agent,
        bgp,
        routes,
    })
}

/// `status` with its routes in the order of the lab's `expected`.
pub fn sorted(mut status: CalicoNodeStatusStatus) -> CalicoNodeStatusStatus {
    if let Some(routes) = &mut status.routes {
        sort_routes(&mut routes.routes_v4);
        sort_routes(&mut routes.routes_v6);
    }
    status
}

/// True when `status` is what the lab implies for `classes` (routes compared in any order).
pub fn matches_lab(
    bird: BirdVersion,
    expected: &ExpectedNode,
    classes: &[NodeStatusClass],
    status: &CalicoNodeStatusStatus,
) -> bool {
    let status = sorted(status.clone());
    predicted(bird, expected, classes, &status).is_some_and(|p| p == status)
}

/// Waits until `name`'s stored status is what the lab implies for `classes`; returns it.
pub async fn wait_for_lab_status(
    ds: &Arc<dyn Datastore>,
    test: &TestLab,
    node: &str,
    name: &str,
    classes: &[NodeStatusClass],
    limit: Duration,
) -> CalicoNodeStatus {
    let expected = test.expected(node);
    let bird = test.lab.bird();
    let mut last = None;
    let found = tokio::time::timeout(limit, async {
        loop {
            let obj = get(ds, name).await;
            if obj
                .status
                .as_ref()
                .is_some_and(|s| matches_lab(bird, &expected, classes, s))
            {
                return obj;
            }
            last = obj.status;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    match found {
        Ok(obj) => obj,
        Err(_) => {
            let shown = last.map(sorted);
            let want = shown
                .as_ref()
                .and_then(|s| predicted(bird, &expected, classes, s));
            panic!(
                "BIRD {bird}: {name} did not get the lab's status for {classes:?} within {limit:?}\n\
                 last status: {shown:#?}\nwhat the lab implies: {want:#?}\nexpected: {expected:#?}"
            )
        }
    }
}
