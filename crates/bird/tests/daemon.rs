//! The client, discovery and collection against real BIRD daemons (Debian 12's `bird`/`bird6`
//! 1.6.8 and BIRD 2.0.12, Debian 13's BIRD 2.17 and 3.1 through the wrappers
//! scripts/install-bird-current.sh writes), each started in the foreground on a socket in a
//! temporary directory and stopped by its PID. BGP sessions only ever go to loopback addresses,
//! on a free port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodestatus_api::{
    BgpDaemonState, BgpPeer, BgpPeerType, LearnedFrom, NodeStatusClass, Route, RouteSourceType,
    RouteType,
};
use nodestatus_bird::{
    ClientError, ClientOptions, CollectError, CollectOptions, Connection, Endpoints, Family,
    FrameError, Outcome, Part, Snapshot, Source, collect, map_snapshot,
};

const BIRD: &str = "/usr/sbin/bird";
const BIRD6: &str = "/usr/sbin/bird6";
const BIRD2: &str = "/opt/nodestatus/bird2/usr/sbin/bird";
/// Debian 13's BIRD 2.17 and 3.1, run by wrappers through Debian 13's loader (`exec`, so the
/// child's PID is the daemon's).
const BIRD2_17: &str = "/opt/nodestatus/bird2.17/bin/bird";
const BIRD3: &str = "/opt/nodestatus/bird3/bin/bird";

/// What `<binary> --version` prints after `BIRD version ` (on stderr): the version the daemon
/// must report on its socket. The Debian 13 versions are whatever trixie served at set-up.
fn version_of(binary: &str) -> String {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{binary} --version: {e}"));
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    text.trim()
        .strip_prefix("BIRD version ")
        .unwrap_or_else(|| panic!("{binary} --version printed {text:?}"))
        .to_string()
}

/// A BIRD daemon running in the foreground; killed (by PID) when dropped.
struct Bird {
    child: Child,
    socket: PathBuf,
}

impl Bird {
    fn start(binary: &str, dir: &Path, name: &str, config: &str) -> Bird {
        Self::start_with(binary, dir, name, config, &[])
    }

    /// Started with `extra` arguments after BIRD's usual ones (`-R`: graceful restart recovery).
    fn start_with(binary: &str, dir: &Path, name: &str, config: &str, extra: &[&str]) -> Bird {
        assert!(
            Path::new(binary).exists(),
            "{binary} is missing: run scripts/install-deps.sh as root (BIRD 1.6 from Debian 12, \
             2.0.12 unpacked into /opt/nodestatus/bird2, 2.17 and 3.1 from Debian 13 into \
             /opt/nodestatus/bird2.17 and /opt/nodestatus/bird3)"
        );
        let conf = dir.join(format!("{name}.conf"));
        let socket = dir.join(format!("{name}.ctl"));
        std::fs::write(&conf, config).unwrap();
        let child = Command::new(binary)
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&socket)
            .arg("-P")
            .arg(dir.join(format!("{name}.pid")))
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{binary} did not open {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Bird { child, socket }
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port free on both 127.0.0.1 and 127.0.0.2.
fn free_port() -> u16 {
    loop {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.2", port)).is_ok()
            && TcpListener::bind(("::1", port)).is_ok()
        {
            return port;
        }
    }
}

fn options() -> CollectOptions {
    CollectOptions::default()
}

/// Collects until `done` holds (BGP sessions take a moment to establish).
async fn collect_until(endpoints: &Endpoints, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let started = Instant::now();
    loop {
        let snapshot = collect(endpoints, &NodeStatusClass::ALL, &options()).await;
        if done(&snapshot) || started.elapsed() > Duration::from_secs(30) {
            return snapshot;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Peers without their `since` (a time of day that changes every run).
fn without_since(peers: &[BgpPeer]) -> Vec<BgpPeer> {
    peers
        .iter()
        .map(|p| BgpPeer {
            since: String::new(),
            ..p.clone()
        })
        .collect()
}

fn peer(ip: &str, t: BgpPeerType, state: &str) -> BgpPeer {
    BgpPeer {
        peer_ip: ip.into(),
        peer_type: Some(t),
        state: state.into(),
        since: String::new(),
    }
}

fn route(t: RouteType, dst: &str, iface: &str, source: RouteSourceType, peer: &str) -> Route {
    Route {
        route_type: Some(t),
        destination: dst.into(),
        gateway: "N/A".into(),
        interface: iface.into(),
        learned_from: LearnedFrom {
            source_type: Some(source),
            peer_ip: peer.into(),
        },
    }
}

/// Routes sorted: BIRD lists them in its hash order, which is stable for one table but not
/// something to assert on across runs.
fn sorted(mut routes: Vec<Route>) -> Vec<Route> {
    routes.sort_by(|a, b| (&a.destination, &a.interface).cmp(&(&b.destination, &b.interface)));
    routes
}

const BIRD2_A: &str = r#"
router id 127.0.0.1;
protocol device { scan time 10; }
protocol static static1 { ipv4; route 192.168.10.0/26 blackhole; }
protocol static static2 { ipv6; route fd00:10::/64 blackhole; }
protocol bgp Mesh_127_0_0_2 {
  local 127.0.0.1 port PORT as 64512; neighbor 127.0.0.2 port PORT as 64512;
  multihop; strict bind; connect delay time 1;
  ipv4 { import all; export where proto = "static1"; };
  ipv6 { import all; export where proto = "static2"; next hop address fd99::1; };
}
protocol bgp Node_127_0_0_3 {
  disabled; local 127.0.0.1 port PORT as 64512; neighbor 127.0.0.3 port PORT as 64513; multihop; strict bind;
  ipv4 { import all; export none; };
}
protocol bgp Global___1 {
  local ::1 port PORT as 64512; neighbor ::1 port 1 as 64514; multihop; strict bind; passive;
  ipv6 { import all; export none; };
}
protocol bgp bgp_other {
  disabled; local 127.0.0.1 port PORT as 64512; neighbor 127.0.0.4 port PORT as 64515; multihop; strict bind;
  ipv4 { import all; export none; };
}
"#;

const BIRD2_B: &str = r#"
router id 127.0.0.2;
protocol device { scan time 10; }
protocol static static1 { ipv4; route 192.168.30.0/26 blackhole; route 192.168.10.0/26 blackhole; }
protocol static static2 { ipv6; route fd00:30::/64 blackhole; }
protocol bgp Mesh_127_0_0_1 {
  local 127.0.0.2 port PORT as 64512; neighbor 127.0.0.1 port PORT as 64512;
  multihop; strict bind; connect delay time 1;
  ipv4 { import all; export all; };
  ipv6 { import all; export all; next hop address fd99::2; };
}
"#;

#[tokio::test]
async fn bird_2_one_daemon_serves_both_families() {
    one_daemon_serves_both_families(BIRD2, "2.0.12").await;
}

#[tokio::test]
async fn bird_2_17_one_daemon_serves_both_families() {
    one_daemon_serves_both_families(BIRD2_17, &version_of(BIRD2_17)).await;
}

#[tokio::test]
async fn bird_3_one_daemon_serves_both_families() {
    let version = version_of(BIRD3);
    assert!(version.starts_with("3."), "{version}");
    one_daemon_serves_both_families(BIRD3, &version).await;
}

/// Two BIRD 2 or 3 daemons with a multiprotocol session between them, a disabled session, a
/// passive one that never gets a connection; collected through the IPv4 socket alone.
async fn one_daemon_serves_both_families(binary: &str, version: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let a = Bird::start(binary, dir.path(), "a", &BIRD2_A.replace("PORT", &port));
    let _b = Bird::start(binary, dir.path(), "b", &BIRD2_B.replace("PORT", &port));
    // The IPv6 socket must not be used: the daemon on the IPv4 socket is BIRD 2.
    let endpoints = Endpoints::new(Some(a.socket.clone()), Some(dir.path().join("absent6.ctl")));
    let snapshot = collect_until(&endpoints, |s| {
        let m = map_snapshot(s, &NodeStatusClass::ALL);
        m.status
            .routes
            .is_some_and(|r| r.routes_v4.len() == 3 && r.routes_v6.len() == 2)
    })
    .await;
    let (Source::Daemon(v4), Source::Daemon(v6)) = (&snapshot.v4, &snapshot.v6) else {
        panic!("both families must come from the BIRD 2 daemon: {snapshot:?}");
    };
    assert!(Arc::ptr_eq(v4, v6));
    assert_eq!(v4.version, version);
    assert_eq!(v4.socket, a.socket);

    let mapped = map_snapshot(&snapshot, &NodeStatusClass::ALL);
    assert!(
        mapped
            .outcomes
            .iter()
            .all(|(_, _, o)| *o == Outcome::Collected),
        "{:?}",
        mapped.outcomes
    );
    let status = mapped.status;
    let agent = status.agent.unwrap();
    for d in [&agent.bird_v4, &agent.bird_v6] {
        assert_eq!(d.state, Some(BgpDaemonState::Ready));
        assert_eq!(d.version, version);
        assert_eq!(d.router_id, "127.0.0.1");
        assert!(!d.last_boot_time.is_empty() && d.last_reconfiguration_time == d.last_boot_time);
    }
    let bgp = status.bgp.unwrap();
    assert_eq!(
        (
            bgp.number_established_v4,
            bgp.number_not_established_v4,
            bgp.number_established_v6,
            bgp.number_not_established_v6
        ),
        (1, 1, 0, 1)
    );
    assert_eq!(
        without_since(&bgp.peers_v4),
        [
            peer("127.0.0.2", BgpPeerType::NodeMesh, "Established"),
            peer("127.0.0.3", BgpPeerType::NodePeer, "Down")
        ]
    );
    assert_eq!(
        without_since(&bgp.peers_v6),
        [peer("::1", BgpPeerType::GlobalPeer, "Passive")]
    );
    assert!(bgp.peers_v4.iter().all(|p| !p.since.is_empty()));

    use RouteSourceType::{NodeMesh, Static};
    use RouteType::{Fib, Rib};
    let routes = status.routes.unwrap();
    assert_eq!(
        sorted(routes.routes_v4),
        [
            route(Fib, "192.168.10.0/26", "blackhole", Static, ""),
            route(Rib, "192.168.10.0/26", "unreachable", NodeMesh, "127.0.0.2"),
            route(Fib, "192.168.30.0/26", "unreachable", NodeMesh, "127.0.0.2"),
        ]
    );
    // An IPv6 route learned over the IPv4 session: an IPv6 route, its peer the IPv4 neighbor.
    assert_eq!(
        sorted(routes.routes_v6),
        [
            route(Fib, "fd00:10::/64", "blackhole", Static, ""),
            route(Fib, "fd00:30::/64", "unreachable", NodeMesh, "127.0.0.2"),
        ]
    );
}

const BIRD16_V4: &str = r#"
router id 127.0.0.1;
listen bgp address 127.0.0.1 port PORT;
protocol device device1 { scan time 10; }
protocol static static1 { route 192.168.10.0/26 blackhole; route 192.168.10.64/26 unreachable; }
protocol bgp Mesh_127_0_0_2 { local as 64512; neighbor 127.0.0.2 port PORT as 64512; multihop; passive; import all; export none; }
protocol bgp Node_127_0_0_3 { disabled; local as 64512; neighbor 127.0.0.3 port PORT as 64513; multihop; import all; export none; }
"#;

const BIRD16_V6: &str = r#"
router id 127.0.0.1;
listen bgp address ::1 port PORT;
protocol device device1 { scan time 10; }
protocol static static1 { route fd00:10::/64 blackhole; route fd00:20::/64 prohibit; }
protocol bgp Mesh_fd00__2 { local as 64512; neighbor ::1 port 1 as 64512; multihop; passive; import all; export none; }
"#;

#[tokio::test]
async fn bird_1_6_two_daemons_one_per_family() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let v4 = Bird::start(BIRD, dir.path(), "bird", &BIRD16_V4.replace("PORT", &port));
    let v6 = Bird::start(
        BIRD6,
        dir.path(),
        "bird6",
        &BIRD16_V6.replace("PORT", &port),
    );
    let endpoints = Endpoints::new(Some(v4.socket.clone()), Some(v6.socket.clone()));
    let snapshot = collect(&endpoints, &NodeStatusClass::ALL, &options()).await;
    let (Source::Daemon(d4), Source::Daemon(d6)) = (&snapshot.v4, &snapshot.v6) else {
        panic!("both daemons must answer: {snapshot:?}");
    };
    assert!(!Arc::ptr_eq(d4, d6));
    assert_eq!(
        (d4.socket.as_path(), d6.socket.as_path()),
        (v4.socket.as_path(), v6.socket.as_path())
    );

    let mapped = map_snapshot(&snapshot, &NodeStatusClass::ALL);
    assert!(
        mapped
            .outcomes
            .iter()
            .all(|(_, _, o)| *o == Outcome::Collected),
        "{:?}",
        mapped.outcomes
    );
    let status = mapped.status;
    let agent = status.agent.unwrap();
    assert_eq!(
        (
            agent.bird_v4.version.as_str(),
            agent.bird_v6.version.as_str()
        ),
        ("1.6.8", "1.6.8")
    );
    let bgp = status.bgp.unwrap();
    assert_eq!(
        without_since(&bgp.peers_v4),
        [
            peer("127.0.0.2", BgpPeerType::NodeMesh, "Passive"),
            peer("127.0.0.3", BgpPeerType::NodePeer, "Down")
        ]
    );
    assert_eq!(
        without_since(&bgp.peers_v6),
        [peer("::1", BgpPeerType::NodeMesh, "Passive")]
    );
    assert_eq!(
        (
            bgp.number_established_v4,
            bgp.number_not_established_v4,
            bgp.number_established_v6,
            bgp.number_not_established_v6
        ),
        (0, 2, 0, 1)
    );
    let routes = status.routes.unwrap();
    use RouteSourceType::Static;
    use RouteType::Fib;
    assert_eq!(
        sorted(routes.routes_v4),
        [
            route(Fib, "192.168.10.0/26", "blackhole", Static, ""),
            route(Fib, "192.168.10.64/26", "unreachable", Static, "")
        ]
    );
    assert_eq!(
        sorted(routes.routes_v6),
        [
            route(Fib, "fd00:10::/64", "blackhole", Static, ""),
            route(Fib, "fd00:20::/64", "prohibited", Static, "")
        ]
    );
}

#[tokio::test]
async fn bird_1_6_without_bird6_leaves_ipv6_unreachable_and_asks_only_for_requested_classes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let v4 = Bird::start(BIRD, dir.path(), "bird", &BIRD16_V4.replace("PORT", &port));
    let absent = dir.path().join("bird6.ctl");
    let endpoints = Endpoints::new(Some(v4.socket.clone()), Some(absent.clone()));
    let snapshot = collect(&endpoints, &[NodeStatusClass::Agent], &options()).await;
    let Source::Daemon(d4) = &snapshot.v4 else {
        panic!("bird must answer: {snapshot:?}");
    };
    assert!(matches!(d4.status, Part::Collected(_)));
    assert!(matches!(d4.protocols, Part::NotRequested));
    assert!(matches!(d4.routes, Part::NotRequested));
    let Source::Unreachable(u) = &snapshot.v6 else {
        panic!("bird6 is not running: {snapshot:?}");
    };
    assert_eq!(
        u.to_string(),
        format!(
            "cannot connect to BIRD at {}: No such file or directory (os error 2)",
            absent.display()
        )
    );

    let mapped = map_snapshot(&snapshot, &[NodeStatusClass::Agent]);
    let agent = mapped.status.agent.unwrap();
    assert_eq!(agent.bird_v4.state, Some(BgpDaemonState::Ready));
    assert_eq!(agent.bird_v6.state, Some(BgpDaemonState::NotReady));
    assert_eq!((mapped.status.bgp, mapped.status.routes), (None, None));
}

#[tokio::test]
async fn no_daemon_at_all_makes_both_families_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let endpoints = Endpoints::new(
        Some(dir.path().join("bird.ctl")),
        Some(dir.path().join("bird6.ctl")),
    );
    let snapshot = collect(&endpoints, &NodeStatusClass::ALL, &options()).await;
    let mapped = map_snapshot(&snapshot, &NodeStatusClass::ALL);
    let agent = mapped.status.agent.unwrap();
    assert_eq!(
        (agent.bird_v4.state, agent.bird_v6.state),
        (
            Some(BgpDaemonState::NotReady),
            Some(BgpDaemonState::NotReady)
        )
    );
    let bgp = mapped.status.bgp.unwrap();
    assert_eq!(bgp, nodestatus_api::BgpStatus::default());
    assert_eq!(mapped.status.routes, None);
    assert!(
        mapped
            .outcomes
            .iter()
            .all(|(_, _, o)| matches!(o, Outcome::Unreachable(_)))
    );
}

#[tokio::test]
async fn the_client_returns_bird_error_replies_as_replies() {
    client_returns_bird_error_replies_as_replies(BIRD2, "2.0.12").await;
}

#[tokio::test]
async fn the_client_returns_bird_3_error_replies_as_replies() {
    client_returns_bird_error_replies_as_replies(BIRD3, &version_of(BIRD3)).await;
}

async fn client_returns_bird_error_replies_as_replies(binary: &str, version: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let bird = Bird::start(binary, dir.path(), "a", &BIRD2_A.replace("PORT", &port));
    let mut conn = Connection::connect(&bird.socket, &ClientOptions::default())
        .await
        .unwrap();
    assert_eq!(conn.version(), version);
    let not_found = conn.query("show route for 10.99.99.99").await.unwrap();
    assert_eq!(not_found.text(), "8001 Network not found\n");
    let syntax = conn.query("show route foo").await.unwrap();
    assert!(syntax.text().starts_with("9001 "), "{}", syntax.text());
    // The connection still works after error replies.
    let status = conn.query("show status").await.unwrap();
    assert_eq!(
        nodestatus_bird::parse_status(&status)
            .unwrap()
            .router_id
            .as_deref(),
        Some("127.0.0.1")
    );
}

#[tokio::test]
async fn an_oversized_reply_fails_its_part_and_abandons_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let bird = Bird::start(BIRD2, dir.path(), "a", &BIRD2_A.replace("PORT", &port));
    let mut small = CollectOptions::default();
    small.client.max_reply_bytes = 600;
    let endpoints = Endpoints::new(Some(bird.socket.clone()), None);
    let snapshot = collect(&endpoints, &NodeStatusClass::ALL, &small).await;
    let Source::Daemon(d) = &snapshot.v4 else {
        panic!("BIRD must answer: {snapshot:?}");
    };
    assert!(matches!(d.status, Part::Collected(_)), "{:?}", d.status);
    assert!(
        matches!(
            &d.protocols,
            Part::Failed(CollectError::Query(ClientError::Frame {
                source: FrameError::TooLarge { limit: 600 },
                command,
                ..
            })) if command == "show protocols all"
        ),
        "{:?}",
        d.protocols
    );
    assert!(
        matches!(
            &d.routes,
            Part::Failed(CollectError::Abandoned {
                command: "show route",
                ..
            })
        ),
        "{:?}",
        d.routes
    );
    let mapped = map_snapshot(&snapshot, &NodeStatusClass::ALL);
    assert!(matches!(
        mapped.outcomes.get(NodeStatusClass::Bgp, Family::V4),
        Outcome::Failed(_)
    ));
    assert_eq!(
        *mapped.outcomes.get(NodeStatusClass::Agent, Family::V6),
        Outcome::Collected
    );
}

/// Transport failures a healthy BIRD never produces, played by a bare socket peer.
#[tokio::test]
async fn a_silent_socket_times_out_and_a_closed_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.ctl");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move {
        // Accepts and says nothing; then accepts, greets, starts a reply and hangs up.
        let (_silent, _) = listener.accept().await.unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(b"0001 BIRD 2.0.12 ready.\n").await.unwrap();
        let mut cmd = [0u8; 64];
        let _ = s.read(&mut cmd).await.unwrap();
        s.write_all(b"1007-Table master4:\n").await.unwrap();
        drop(s);
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    let quick = ClientOptions {
        timeout: Duration::from_millis(300),
        ..ClientOptions::default()
    };
    let started = Instant::now();
    let err = Connection::connect(&path, &quick).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Timeout { command, .. } if command == "(greeting)"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let mut conn = Connection::connect(&path, &quick).await.unwrap();
    let err = conn.query("show route").await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Closed { command, .. } if command == "show route"),
        "{err}"
    );
    server.abort();
}

/// A session with graceful restart that never comes up (passive, the peer never connects), so
/// a daemon started with `-R` keeps waiting for it to recover.
const GRACEFUL_16: &str = r#"
router id 127.0.0.1;
listen bgp address 127.0.0.1 port PORT;
protocol device { scan time 10; }
protocol bgp Mesh_127_0_0_2 { local as 64512; neighbor 127.0.0.2 port PORT as 64512; multihop; passive; graceful restart; import all; export all; }
"#;

const GRACEFUL_2: &str = r#"
router id 127.0.0.1;
protocol device { scan time 10; }
protocol bgp Mesh_127_0_0_2 {
  local 127.0.0.1 port PORT as 64512; neighbor 127.0.0.2 port PORT as 64512;
  multihop; strict bind; passive; graceful restart;
  ipv4 { import all; export all; };
}
"#;

/// `0024` lines: every version, started in graceful restart recovery (`-R`), says so in
/// `show status` before its last line until the session recovers or the wait timer (240 s)
/// runs out; the parser keeps them and the daemon is Ready meanwhile.
#[tokio::test]
async fn every_version_in_graceful_restart_recovery_says_so_and_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    for (k, (binary, config, unit)) in [
        (BIRD, GRACEFUL_16, "protocols"),
        (BIRD2, GRACEFUL_2, "channels"),
        (BIRD2_17, GRACEFUL_2, "channels"),
        (BIRD3, GRACEFUL_2, "channels"),
    ]
    .into_iter()
    .enumerate()
    {
        let port = free_port().to_string();
        let name = format!("gr{k}");
        let bird = Bird::start_with(
            binary,
            dir.path(),
            &name,
            &config.replace("PORT", &port),
            &["-R"],
        );
        let endpoints = Endpoints::new(
            Some(bird.socket.clone()),
            Some(dir.path().join("absent6.ctl")),
        );
        let snapshot = collect(&endpoints, &[NodeStatusClass::Agent], &options()).await;
        let Source::Daemon(d) = &snapshot.v4 else {
            panic!("{binary} must answer: {snapshot:?}");
        };
        let Part::Collected(status) = &d.status else {
            panic!("{binary}: {:?}", d.status);
        };
        let [progress, waiting, timer] = &status.graceful_restart[..] else {
            panic!(
                "{binary}: graceful restart lines {:?}",
                status.graceful_restart
            );
        };
        assert_eq!(
            (progress.as_str(), waiting.as_str(), status.daemon.as_str()),
            (
                "Graceful restart recovery in progress",
                format!("Waiting for 1 {unit} to recover").as_str(),
                "Daemon is up and running"
            ),
            "{binary}"
        );
        // `Wait timer is 239/240` (1.6) or `239.486/240`: the time left changes.
        assert!(
            timer.starts_with("Wait timer is ") && timer.ends_with("/240"),
            "{binary}: {timer:?}"
        );
        let agent = map_snapshot(&snapshot, &[NodeStatusClass::Agent])
            .status
            .agent
            .unwrap();
        assert_eq!(agent.bird_v4.state, Some(BgpDaemonState::Ready), "{binary}");
        assert_eq!(agent.bird_v4.router_id, "127.0.0.1", "{binary}");
    }
}

/// A static protocol with `n` IPv4 blackhole routes (and, for BIRD 2 and 3, `n / 4` IPv6 ones).
fn large_config(bird2: bool, n: u32) -> String {
    let mut conf = String::from("router id 127.0.0.1;\nprotocol device { scan time 10; }\n");
    conf += if bird2 {
        "protocol static static1 {\n  ipv4;\n"
    } else {
        "protocol static static1 {\n"
    };
    for i in 0..n {
        conf += &format!("  route 10.{}.{}.0/24 blackhole;\n", i >> 8, i & 255);
    }
    conf += "}\n";
    if bird2 {
        conf += "protocol static static2 {\n  ipv6;\n";
        for i in 0..n / 4 {
            conf += &format!("  route fd00:{i:x}::/64 unreachable;\n");
        }
        conf += "}\n";
    }
    conf
}

#[tokio::test]
async fn a_large_table_arrives_and_parses_whole() {
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000;
    for (binary, name, bird2) in [
        (BIRD, "b16", false),
        (BIRD2, "b2", true),
        (BIRD3, "b3", true),
    ] {
        let bird = Bird::start(binary, dir.path(), name, &large_config(bird2, n));
        let endpoints = Endpoints::new(
            Some(bird.socket.clone()),
            Some(dir.path().join("absent6.ctl")),
        );
        let snapshot = collect(&endpoints, &[NodeStatusClass::Routes], &options()).await;
        let Source::Daemon(d) = &snapshot.v4 else {
            panic!("{binary} must answer: {snapshot:?}");
        };
        let Part::Collected(table) = &d.routes else {
            panic!("{binary}: {:?}", d.routes);
        };
        assert!(
            table.reply().len() > 1 << 20,
            "{binary}: the reply is large enough to be read in many pieces"
        );
        let routes = map_snapshot(&snapshot, &[NodeStatusClass::Routes])
            .status
            .routes
            .unwrap();
        assert_eq!(routes.routes_v4.len(), n as usize, "{binary}");
        assert_eq!(
            routes.routes_v6.len(),
            if bird2 { n as usize / 4 } else { 0 },
            "{binary}"
        );
        assert!(
            routes
                .routes_v4
                .iter()
                .all(|r| r.interface == "blackhole" && r.route_type == Some(RouteType::Fib))
        );
    }
}
