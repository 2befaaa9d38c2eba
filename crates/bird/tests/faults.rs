//! What the client and a collection do when the peer on BIRD's socket misbehaves in ways a
//! healthy BIRD never does: it trickles a reply a byte at a time, greets and then says nothing,
//! or sends a reply that never ends. Each peer is a bare Unix socket played by the test, so
//! every fault is exact and quick to reproduce. The bounds: a reply ends by its deadline, a
//! collection by its own, memory stays bounded, and nothing is claimed that was not read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nodestatus_api::{CalicoNodeStatusStatus, NodeStatusClass};
use nodestatus_bird::{
    ClientError, ClientOptions, CollectError, CollectOptions, Connection, Endpoints, FrameError,
    Part, Snapshot, Source, collect, map_snapshot,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// What the fake peer does after greeting.
#[derive(Clone, Copy, Debug)]
enum Peer {
    /// Reads a command, then sends a never-ending reply one byte every 20 ms.
    Trickle,
    /// Reads commands and never answers.
    Stall,
    /// Reads a command, then sends reply lines as fast as the socket takes them, forever.
    Runaway,
}

/// A fake BIRD on `dir/name.ctl` greeting as `version`, serving every connection as `peer`.
fn fake_bird(dir: &Path, name: &str, version: &'static str, peer: Peer) -> PathBuf {
    let path = dir.join(format!("{name}.ctl"));
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(stream, version, peer));
        }
    });
    path
}

async fn serve(mut s: UnixStream, version: &str, peer: Peer) {
    let greeting = format!("0001 BIRD {version} ready.\n");
    if s.write_all(greeting.as_bytes()).await.is_err() {
        return;
    }
    let mut command = [0u8; 256];
    if !matches!(s.read(&mut command).await, Ok(n) if n > 0) {
        return;
    }
    match peer {
        Peer::Trickle => {
            let reply = b"1000-BIRD 1.6.8\n1011-Router ID is 10.99.0.11\n"
                .iter()
                .cycle();
            for byte in reply {
                if s.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Peer::Stall => {
            // Keep the connection open, reading whatever comes, answering nothing.
            while matches!(s.read(&mut command).await, Ok(n) if n > 0) {}
        }
        Peer::Runaway => {
            let line = format!(
                "1007-10.0.0.0/24 via 10.99.0.12 on eth0 [Mesh_10_99_0_12 09:23:19] * (100/0) [i]{}\n",
                " ".repeat(900)
            );
            let chunk = line.repeat(64);
            while s.write_all(chunk.as_bytes()).await.is_ok() {}
        }
    }
}

/// Fails the test instead of hanging it when the bound under test does not hold.
async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung: no deadline ended it"))
}

fn daemon(snapshot: &Snapshot) -> &nodestatus_bird::Daemon {
    match &snapshot.v4 {
        Source::Daemon(d) => d,
        Source::Unreachable(u) => panic!("the fake BIRD must be reached: {u}"),
    }
}

#[tokio::test]
async fn a_trickled_reply_fails_at_the_reply_deadline_although_bird_is_never_silent() {
    let dir = tempfile::tempdir().unwrap();
    let path = fake_bird(dir.path(), "trickle", "1.6.8", Peer::Trickle);
    let options = ClientOptions {
        timeout: Duration::from_millis(500),
        reply_deadline: Duration::from_secs(1),
        ..ClientOptions::default()
    };
    let mut conn = Connection::connect(&path, &options).await.unwrap();
    let err = bounded("a trickled reply", conn.query("show status"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Deadline { command, limit, .. }
            if command == "show status" && *limit == Duration::from_secs(1)),
        "{err}"
    );
}

#[tokio::test]
async fn a_collection_ends_at_its_deadline_and_abandons_the_commands_left() {
    let dir = tempfile::tempdir().unwrap();
    let bird = fake_bird(dir.path(), "bird", "1.6.8", Peer::Trickle);
    let bird6 = fake_bird(dir.path(), "bird6", "1.6.8", Peer::Trickle);
    let options = CollectOptions {
        deadline: Duration::from_secs(1),
        client: ClientOptions {
            reply_deadline: Duration::from_secs(600),
            ..ClientOptions::default()
        },
    };
    let endpoints = Endpoints::new(Some(bird), Some(bird6));
    let snapshot = bounded(
        "a collection from trickling daemons",
        collect(&endpoints, &NodeStatusClass::ALL, &options),
    )
    .await;
    for source in [&snapshot.v4, &snapshot.v6] {
        let Source::Daemon(d) = source else {
            panic!("both fake daemons greet: {source:?}");
        };
        assert!(
            matches!(&d.status, Part::Failed(CollectError::Query(ClientError::Deadline { command, .. })) if command == "show status"),
            "{:?}",
            d.status
        );
        for part in [format!("{:?}", d.protocols), format!("{:?}", d.routes)] {
            assert!(part.starts_with("Failed(Abandoned"), "{part}");
        }
    }
}

#[tokio::test]
async fn a_daemon_that_greets_then_stalls_gives_a_status_that_claims_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = fake_bird(dir.path(), "stall", "2.0.12", Peer::Stall);
    let mut options = CollectOptions::default();
    options.client.timeout = Duration::from_millis(300);
    let snapshot = bounded(
        "a collection from a stalled daemon",
        collect(
            &Endpoints::new(Some(path), None),
            &NodeStatusClass::ALL,
            &options,
        ),
    )
    .await;
    assert!(
        matches!(
            &daemon(&snapshot).status,
            Part::Failed(CollectError::Query(ClientError::Timeout { .. }))
        ),
        "{:?}",
        daemon(&snapshot).status
    );
    // A new resource: nothing was read, so no `Ready`, no peer counts, no routes.
    let mapped = map_snapshot(&snapshot, &NodeStatusClass::ALL);
    assert_eq!(
        mapped.merge_last_good(None),
        CalicoNodeStatusStatus::default()
    );
}

/// The peak resident memory of this test process (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test]
async fn a_runaway_reply_is_refused_at_the_default_limit_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = fake_bird(dir.path(), "runaway", "2.0.12", Peer::Runaway);
    let options = ClientOptions::default();
    let mut conn = Connection::connect(&path, &options).await.unwrap();
    let err = bounded("a runaway reply", conn.query("show route"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Frame { source: FrameError::TooLarge { limit }, .. }
            if *limit == ClientOptions::DEFAULT_MAX_REPLY_BYTES),
        "{err}"
    );
    // Well under the DaemonSet's memory limit (256Mi, `nodestatus-manifests`): a pod is not
    // killed for a runaway reply before the clean error.
    const DAEMONSET_MEMORY_LIMIT: u64 = 256 << 20;
    let peak = peak_rss();
    assert!(
        peak < DAEMONSET_MEMORY_LIMIT / 4,
        "peak RSS {} MiB",
        peak >> 20
    );
}
