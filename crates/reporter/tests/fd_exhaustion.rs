//! Idle HTTP connections must not starve the agent of descriptors (issue 17, item 8): with a
//! descriptor limit 200 above what the agent holds at start, a client (another process, as an
//! attacker would be) opens 400 idle connections to the metrics port. The agent serves a capped
//! number of them, times the idle ones out, reads BIRD (a fake socket) and writes `Ready`, and
//! `/healthz` answers. Its own binary: the limit is set for the whole test process.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_bird::{FakeBird, Mode};
use common::{ALL, Store, get, resource, start_agent_with, wait_for};
use nodestatus_api::BgpDaemonState;
use nodestatus_bird::Endpoints;
use nodestatus_reporter::{AgentConfig, HttpLimits};

/// Descriptors this process has open now.
fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap_or_else(|e| panic!("listing /proc/self/fd: {e}"))
        .count() as u64
}

/// Lowers this process's soft descriptor limit to `limit`.
fn limit_descriptors(limit: u64) {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) };
    assert_eq!(got, 0, "getrlimit: {}", std::io::Error::last_os_error());
    current.rlim_cur = limit.min(current.rlim_max);
    // SAFETY: as above.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &current) };
    assert_eq!(set, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// A bash process that opens up to `n` TCP connections to `port` and holds them, idle; killed
/// by PID when dropped.
struct IdleClients(Child);

impl IdleClients {
    fn open(port: u16, n: usize) -> IdleClients {
        let script = format!(
            "for i in $(seq {n}); do exec {{fd}}<>/dev/tcp/127.0.0.1/{port} || break; done; sleep 600"
        );
        let child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting bash: {e}"));
        IdleClients(child)
    }
}

impl Drop for IdleClients {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn idle_http_connections_do_not_keep_the_agent_from_bird() {
    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), 3, Mode::Healthy);
    let store = Store::sqlite();
    let ds = store.datastore();
    let mut config = AgentConfig::new("n1");
    config.endpoints = Endpoints::new(Some(bird.socket.clone()), None);
    config.http = HttpLimits {
        header_timeout: Duration::from_secs(1),
        ..HttpLimits::DEFAULT
    };
    let agent = start_agent_with(config, ds.clone());
    assert_eq!(agent.get("/healthz").await.0, 200);
    limit_descriptors(open_descriptors() + 200);

    let _clients = IdleClients::open(agent.addr.port(), 400);
    // Let the connections pile up before the resource asks for a collection.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    ds.create(&resource("r1", "n1", ALL, 1)).await.unwrap();
    let status = wait_for("the first status", Duration::from_secs(30), || async {
        get(&ds, "r1").await.status
    })
    .await;
    eprintln!("first status after {:?}", started.elapsed());
    let agent_status = status.agent.unwrap();
    assert_eq!(agent_status.bird_v4.state, Some(BgpDaemonState::Ready));
    assert_eq!(status.bgp.unwrap().number_established_v4, 1);
    let answered = Instant::now();
    let health = tokio::time::timeout(Duration::from_secs(30), agent.get("/healthz"))
        .await
        .unwrap_or_else(|_| panic!("/healthz did not answer in 30 s"));
    eprintln!("/healthz answered after {:?}", answered.elapsed());
    assert_eq!(health, (200, "ok\n".to_owned()));
    agent.stop().await;
}
