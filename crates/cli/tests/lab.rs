//! `nodestatus lab up|status|down` with real BIRD 1.6, 2.0, 2.17 and 3: every node's status, read
//! back with `get -o yaml` through the command `lab up` prints, is what the lab's topology
//! implies; `down` leaves no namespace or process behind and can run twice.
//!
//! Needs root and BIRD (`sudo scripts/install-deps.sh`); without them the tests fail saying so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{BIN, Run, Watcher};
use nodestatus_api::{
    BgpDaemonState, BgpPeer, BgpPeerType, CalicoNodeStatus, Route, parse_documents,
};
use nodestatus_lab::{BirdVersion, ExpectedPeer, LabState, ProcessId, sort_routes};
use nodestatus_store_etcd::testing::EtcdServer;

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("`id` runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn require_lab_prerequisites(bird: BirdVersion) {
    assert!(
        is_root(),
        "the lab tests need root (network namespaces): run them as root, as CI does"
    );
    for binary in bird.binaries() {
        assert!(
            Path::new(binary).is_file(),
            "{binary} is missing: run `sudo scripts/install-deps.sh`"
        );
    }
}

/// This test's own current-context file (each test is a process of its own under nextest), so
/// that labs of tests running side by side, or a lab a person left up, never meet.
fn context_file() -> PathBuf {
    std::env::temp_dir().join(format!(
        "nodestatus-test-context-{}.json",
        std::process::id()
    ))
}

fn nodestatus(args: &[&str]) -> Run {
    Command::new(BIN)
        .args(args)
        .env_remove("DATASTORE_TYPE")
        .env_remove("NODESTATUS_SQLITE_PATH")
        .env_remove("NODESTATUS_LAB_DIR")
        .env_remove("ETCD_ENDPOINTS")
        .env("NODESTATUS_CONTEXT_FILE", context_file())
        .output()
        .expect("the binary runs")
        .into()
}

/// A lab directory that is taken down when the test ends, however it ends.
struct LabDir {
    dir: tempfile::TempDir,
}

impl LabDir {
    fn new() -> Self {
        LabDir {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().expect("a UTF-8 temporary path")
    }

    fn state(&self) -> LabState {
        LabState::load(self.dir.path())
            .expect("the state file reads")
            .expect("the lab is up")
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("nodestatus.db")
    }
}

impl Drop for LabDir {
    fn drop(&mut self) {
        nodestatus(&["lab", "down", "--dir", self.path()]);
    }
}

/// The status's peers are the expected ones (address and type), each in a state its
/// expectation allows (`Established` for the mesh; the lab's unreachable peers keep trying).
fn assert_peers(name: &str, seen: &[BgpPeer], expected: &[ExpectedPeer]) {
    let mut seen_ids: Vec<(String, Option<BgpPeerType>)> = seen
        .iter()
        .map(|p| (p.peer_ip.clone(), p.peer_type))
        .collect();
    let mut want_ids: Vec<(String, Option<BgpPeerType>)> = expected
        .iter()
        .map(|p| (p.peer_ip.clone(), Some(p.peer_type)))
        .collect();
    seen_ids.sort_by(|a, b| a.0.cmp(&b.0));
    want_ids.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen_ids, want_ids, "{name}: peers");
    for want in expected {
        let state = seen
            .iter()
            .find(|p| p.peer_ip == want.peer_ip)
            .map(|p| p.state.as_str())
            .unwrap_or_default();
        assert!(
            want.state.matches(state),
            "{name}: peer {} is {state:?}, expected {:?}",
            want.peer_ip,
            want.state
        );
    }
}

fn sorted(routes: &[Route]) -> Vec<Route> {
    let mut routes = routes.to_vec();
    sort_routes(&mut routes);
    routes
}

/// Runs `get`, the command `lab up` printed (checked), and returns the resources it prints.
fn read_back(up: &Run, get: &str) -> Vec<CalicoNodeStatus> {
    assert!(
        up.stdout.contains(get),
        "lab up did not print `{get}`:\n{}",
        up.stdout
    );
    let args: Vec<&str> = get.split(' ').skip(1).collect();
    let yaml = nodestatus(&args);
    assert!(yaml.ok, "{}", yaml.stderr);
    parse_documents(&yaml.stdout)
        .expect("get -o yaml prints valid resources")
        .into_iter()
        .map(|d| d.object)
        .collect()
}

/// Every node's resource has the status the lab's topology implies: daemons Ready with BIRD's
/// version and the node's router ID, exact session counts, the expected peers and routes.
fn assert_every_status(objects: &[CalicoNodeStatus], state: &LabState, bird: BirdVersion) {
    assert_eq!(objects.len(), state.nodes.len());
    for (node, expected) in state.nodes.iter().zip(state.expected()) {
        let name = format!("lab-{}", node.name);
        let obj = objects
            .iter()
            .find(|o| o.metadata.name.as_deref() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("no resource {name}"));
        assert_eq!(obj.spec.node, node.name);
        let status = obj
            .status
            .as_ref()
            .unwrap_or_else(|| panic!("{name} has no status"));
        assert!(status.last_updated.is_some(), "{name}: lastUpdated");
        let agent = status
            .agent
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: agent"));
        for daemon in [&agent.bird_v4, &agent.bird_v6] {
            assert_eq!(daemon.state, Some(BgpDaemonState::Ready), "{name}");
            assert!(
                daemon.version.starts_with(bird.version_prefix()),
                "{name}: version {}",
                daemon.version
            );
            assert_eq!(daemon.router_id, expected.router_id, "{name}");
        }
        let bgp = status.bgp.as_ref().unwrap_or_else(|| panic!("{name}: bgp"));
        assert_eq!(
            (
                bgp.number_established_v4,
                bgp.number_not_established_v4,
                bgp.number_established_v6,
                bgp.number_not_established_v6
            ),
            (
                expected.established_v4,
                expected.not_established_v4,
                expected.established_v6,
                expected.not_established_v6
            ),
            "{name}: counts"
        );
        assert!(
            expected.established_v4 > 0 && expected.established_v6 > 0,
            "the mesh has sessions in both families"
        );
        assert_peers(&format!("{name} IPv4"), &bgp.peers_v4, &expected.peers_v4);
        assert_peers(&format!("{name} IPv6"), &bgp.peers_v6, &expected.peers_v6);
        let routes = status
            .routes
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: routes"));
        assert!(!expected.routes_v4.is_empty() && !expected.routes_v6.is_empty());
        assert_eq!(
            sorted(&routes.routes_v4),
            expected.routes_v4,
            "{name}: IPv4 routes"
        );
        assert_eq!(
            sorted(&routes.routes_v6),
            expected.routes_v6,
            "{name}: IPv6 routes"
        );
    }
}

fn a_lab_reports_every_node_established_with_its_routes(bird: BirdVersion) {
    require_lab_prerequisites(bird);
    let lab = LabDir::new();
    let started = Instant::now();
    let up = nodestatus(&[
        "lab",
        "up",
        "--nodes",
        "3",
        "--bird",
        bird.as_str(),
        "--dir",
        lab.path(),
    ]);
    assert!(up.ok, "lab up failed:\n{}", up.stderr);
    // Printed for the report; timings are measured, never asserted.
    eprintln!(
        "lab up, 3 nodes, BIRD {bird}: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // `lab up` makes the lab the current context and prints the plain `get` that reads it;
    // run exactly that, which says on standard error which datastore it read.
    let db = lab.db();
    assert!(context_file().is_file(), "lab up sets the current context");
    let objects = read_back(&up, "nodestatus get -o yaml");
    let table = nodestatus(&["get"]);
    assert!(table.ok, "{}", table.stderr);
    assert_eq!(
        table.stderr,
        format!(
            "Using the datastore of the lab in {} (sqlite {}); datastore flags override it.\n",
            lab.path(),
            db.display()
        )
    );
    assert_eq!(table.stdout.lines().count(), 1 + 3, "{}", table.stdout);

    let state = lab.state();
    assert_every_status(&objects, &state, bird);

    a_watch_sees_an_agents_write(&db, lab.dir.path());

    let status = nodestatus(&["lab", "status", "--dir", lab.path()]);
    assert!(status.ok, "{}", status.stderr);
    let rows: Vec<Vec<&str>> = status
        .stdout
        .lines()
        .skip(2)
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), state.nodes.len(), "{}", status.stdout);
    for ((row, node), expected) in rows.iter().zip(&state.nodes).zip(state.expected()) {
        let up = expected.established_v4 + expected.established_v6;
        let all = up + expected.not_established_v4 + expected.not_established_v6;
        let peers = format!("{up}/{all} established");
        assert_eq!(
            row[..4],
            [
                node.name.as_str(),
                "v4 Ready, v6 Ready",
                "running",
                peers.as_str()
            ],
            "{}",
            status.stdout
        );
    }

    let processes = state.process_ids();
    assert_eq!(
        processes.len(),
        state.nodes.len() * (bird_daemons(bird) + 1)
    );
    let down = nodestatus(&["lab", "down", "--dir", lab.path()]);
    assert!(down.ok, "{}", down.stderr);
    assert_eq!(down.stdout, format!("The lab in {} is down.\n", lab.path()));
    assert_nothing_left(&state, &processes);
    assert!(!db.exists(), "the lab's datastore is removed");
    assert!(
        !context_file().exists(),
        "lab down clears the context it set"
    );
    let after = nodestatus(&["--sqlite-path", db.to_str().expect("a UTF-8 path"), "get"]);
    assert!(
        !after.ok,
        "get on the removed lab datastore fails: {}",
        after.stdout
    );

    let again = nodestatus(&["lab", "down", "--dir", lab.path()]);
    assert!(again.ok, "{}", again.stderr);
    assert_eq!(again.stdout, format!("No lab was up in {}.\n", lab.path()));
}

/// `get -w` in this process sees a write made by a lab agent: a resource first named for a node
/// no agent serves is moved to n1, whose agent collects and writes its status at once.
fn a_watch_sees_an_agents_write(db: &Path, dir: &Path) {
    let db = db.to_str().expect("a UTF-8 path");
    let resource = |node: &str| {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: CalicoNodeStatus\nmetadata: {{name: watched}}\n\
             spec: {{classes: [Agent], node: {node}, updatePeriodSeconds: 0}}\n"
        )
    };
    let file = dir.join("watched.yaml");
    let file = file.to_str().expect("a UTF-8 path");
    let apply = |node: &str| {
        std::fs::write(file, resource(node)).expect("the resource file is written");
        let run = nodestatus(&[
            "--datastore-type",
            "sqlite",
            "--sqlite-path",
            db,
            "apply",
            "-f",
            file,
        ]);
        assert!(run.ok, "{}", run.stderr);
    };
    apply("nobody-here");
    let mut command = Command::new(BIN);
    command.args([
        "--datastore-type",
        "sqlite",
        "--sqlite-path",
        db,
        "get",
        "-w",
        "-o",
        "yaml",
        "watched",
    ]);
    let mut watch = Watcher::start(command);
    let first = watch.lines_until("  updatePeriodSeconds: 0");
    assert!(
        !first.iter().any(|l| l == "status:"),
        "no agent serves that node: {first:#?}"
    );

    apply("n1");
    let lines = watch.lines_until("      state: Ready");
    let start = lines
        .iter()
        .rposition(|l| l == "---")
        .expect("a YAML document");
    let document = &lines[start..];
    assert!(
        document.contains(&"  name: watched".to_string()),
        "{document:#?}"
    );
    assert!(
        document.contains(&"  node: n1".to_string()),
        "{document:#?}"
    );
    assert!(document.contains(&"status:".to_string()), "{document:#?}");
    let (ok, stderr) = watch.stop_with("TERM");
    assert!(ok, "the watch exits with success on SIGTERM: {stderr}");
    let delete = nodestatus(&[
        "--datastore-type",
        "sqlite",
        "--sqlite-path",
        db,
        "delete",
        "watched",
    ]);
    assert!(delete.ok, "{}", delete.stderr);
}

/// After `lab down`: none of the processes runs and none of the lab's namespaces exists.
fn assert_nothing_left(state: &LabState, processes: &[ProcessId]) {
    let running: Vec<&ProcessId> = processes.iter().filter(|p| p.is_running()).collect();
    assert!(
        running.is_empty(),
        "still running after lab down: {running:?}"
    );
    let netns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip runs");
    let left: Vec<String> = String::from_utf8_lossy(&netns.stdout)
        .lines()
        .filter(|l| l.starts_with(&format!("{}-", state.prefix)))
        .map(str::to_string)
        .collect();
    assert!(left.is_empty(), "namespaces left after lab down: {left:?}");
}

fn bird_daemons(bird: BirdVersion) -> usize {
    if bird.daemon_per_family() { 2 } else { 1 }
}

#[test]
fn a_bird_1_6_lab_reports_every_node_established_with_its_routes() {
    a_lab_reports_every_node_established_with_its_routes(BirdVersion::V1_6);
}

#[test]
fn a_bird_2_lab_reports_every_node_established_with_its_routes() {
    a_lab_reports_every_node_established_with_its_routes(BirdVersion::V2);
}

#[test]
fn a_bird_2_17_lab_reports_every_node_established_with_its_routes() {
    a_lab_reports_every_node_established_with_its_routes(BirdVersion::V2_17);
}

#[test]
fn a_bird_3_lab_reports_every_node_established_with_its_routes() {
    a_lab_reports_every_node_established_with_its_routes(BirdVersion::V3);
}

/// With etcd on this machine's loopback (which the node namespaces cannot reach) the agents run
/// in the host's network: the statuses land in etcd under Calico's keys, each agent serves its
/// metrics on its own loopback port, and `down` deletes the lab's resources from etcd.
#[test]
fn a_lab_on_etcd_reports_into_etcd_and_down_deletes_its_resources() {
    let bird = BirdVersion::V2;
    require_lab_prerequisites(bird);
    let rt = common::runtime();
    let server = rt
        .block_on(EtcdServer::start())
        .expect("etcd starts (apt-get install etcd-server)");
    let endpoint = server.endpoint();
    let etcd = ["--datastore-type", "etcdv3", "--etcd-endpoints", &endpoint];
    let lab = LabDir::new();
    let up = nodestatus(
        &[
            &etcd[..],
            &["lab", "up", "--nodes", "2", "--bird", bird.as_str()],
            &["--dir", lab.path()],
        ]
        .concat(),
    );
    assert!(up.ok, "lab up failed:\n{}", up.stderr);
    // The current context is the lab's etcd: the plain `get` reads it.
    let objects = read_back(&up, "nodestatus get -o yaml");
    let state = lab.state();
    assert_every_status(&objects, &state, bird);
    let keys: Vec<String> = state
        .nodes
        .iter()
        .map(|n| {
            format!(
                "/calico/resources/v3/projectcalico.org/caliconodestatuses/lab-{}",
                n.name
            )
        })
        .collect();
    for key in &keys {
        let value = server.raw_value(key).expect("etcdctl reads");
        assert!(
            value.is_some_and(|v| v.contains("\"numberEstablishedV4\"")),
            "{key} holds the agent's status"
        );
    }

    // Each agent answers on the loopback port its command line names, in this network.
    let mut ports = Vec::new();
    for node in &state.nodes {
        let agent = node
            .processes
            .iter()
            .find(|p| p.name == "agent")
            .unwrap_or_else(|| panic!("{}: no agent", node.name));
        let listen = agent
            .command
            .iter()
            .skip_while(|a| *a != "--listen")
            .nth(1)
            .unwrap_or_else(|| panic!("{}: no --listen in {:?}", node.name, agent.command));
        let addr: std::net::SocketAddr = listen.parse().expect("a socket address");
        assert!(addr.ip().is_loopback(), "{addr}");
        ports.push(addr.port());
        let metrics = http_get(addr, "/metrics");
        assert!(
            metrics.contains("nodestatus_bgp_session_up"),
            "{}: /metrics of {addr}:\n{metrics}",
            node.name
        );
    }
    let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        state.nodes.len(),
        "distinct ports: {ports:?}"
    );

    // `lab status` needs no datastore flags (the lab recorded them) and names each agent's port.
    let status = nodestatus(&["lab", "status", "--dir", lab.path()]);
    assert!(status.ok, "{}", status.stderr);
    for (node, port) in state.nodes.iter().zip(&ports) {
        let row = status
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{} ", node.name)))
            .unwrap_or_else(|| panic!("no row for {}:\n{}", node.name, status.stdout));
        assert!(
            row.contains(&format!("running, 127.0.0.1:{port}"))
                && row.contains("v4 Ready, v6 Ready"),
            "{row}"
        );
    }

    let processes = state.process_ids();
    let down = nodestatus(&["lab", "down", "--dir", lab.path()]);
    assert!(down.ok, "{}", down.stderr);
    assert_nothing_left(&state, &processes);
    for key in &keys {
        assert_eq!(
            server.raw_value(key).expect("etcdctl reads"),
            None,
            "{key} is deleted"
        );
    }
}

/// The body of a plain HTTP/1.0 GET to a loopback address (the agent's HTTP server).
fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("the agent accepts");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("a read timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("the request is sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the response is read");
    response
}

#[test]
fn lab_up_without_root_says_to_run_it_as_root() {
    let lab = LabDir::new();
    // As root, drop to `nobody` for this one command; as anyone else, just run it. `nobody`
    // may not be able to reach the build directory, so it runs a link (or copy) of the binary
    // in a directory it can read.
    let public = tempfile::tempdir().expect("a temporary directory");
    let mut command = if is_root() {
        std::fs::set_permissions(
            public.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("making the directory readable");
        let bin = public.path().join("nodestatus");
        if std::fs::hard_link(BIN, &bin).is_err() {
            std::fs::copy(BIN, &bin).expect("copying the binary");
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin);
        c
    } else {
        Command::new(BIN)
    };
    let run: Run = command
        .args(["lab", "up", "--dir", lab.path()])
        .env_remove("DATASTORE_TYPE")
        .env_remove("NODESTATUS_SQLITE_PATH")
        .output()
        .expect("the binary runs")
        .into();
    assert!(!run.ok);
    assert_eq!(
        run.stderr,
        "error: bringing the lab up: the lab needs root (network namespaces, routes, BIRD); run it as root\n"
    );
    assert!(
        LabState::load(lab.dir.path())
            .expect("no state file to misread")
            .is_none()
    );
}

#[test]
fn lab_status_without_a_lab_fails_saying_so() {
    let lab = LabDir::new();
    let run = nodestatus(&["lab", "status", "--dir", lab.path()]);
    assert!(!run.ok);
    assert_eq!(
        run.stderr,
        format!(
            "error: no lab is up in {} (start one with `nodestatus lab up`)\n",
            lab.path()
        )
    );
}
