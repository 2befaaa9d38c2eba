//! A fake BIRD 2 control socket for fault tests: it answers `show status`, `show protocols
//! all` and `show route` in BIRD 2's grammar with one established mesh session and `routes`
//! IPv4 routes, or misbehaves as told (trickles every reply a byte at a time). The behaviour
//! can be switched while the agent runs, so a test sees both the fault and the recovery.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// How the fake answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Whole, well-formed replies.
    Healthy = 0,
    /// Every reply one byte every 20 ms, never ending (the greeting is whole).
    Trickle = 1,
}

/// A running fake; its listener task ends with the test's runtime.
pub struct FakeBird {
    pub socket: PathBuf,
    mode: Arc<AtomicU8>,
}

impl FakeBird {
    /// Listens on `dir/bird.ctl`, answering `show route` with `routes` routes.
    pub fn start(dir: &Path, routes: usize, mode: Mode) -> FakeBird {
        let socket = dir.join("bird.ctl");
        let listener = UnixListener::bind(&socket)
            .unwrap_or_else(|e| panic!("binding {}: {e}", socket.display()));
        let mode = Arc::new(AtomicU8::new(mode as u8));
        let route_reply: Arc<str> = route_reply(routes).into();
        let shared = mode.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone(), route_reply.clone()));
            }
        });
        FakeBird { socket, mode }
    }

    /// Changes how every later reply is sent.
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }
}

const STATUS: &str = "1000-BIRD 2.0.12\n\
1011-Router ID is 10.99.0.11\n \
Hostname is n1\n \
Current server time is 2026-01-01 00:00:10.000\n \
Last reboot on 2026-01-01 00:00:00.000\n \
Last reconfiguration on 2026-01-01 00:00:00.000\n\
0013 Daemon is up and running\n";

const PROTOCOLS: &str = "2002-Name       Proto      Table      State  Since         Info\n\
1002-Mesh_10_99_0_12 BGP        ---        up     00:00:01.000  Established\n\
1006-  BGP state:          Established\n    \
Neighbor address: 10.99.0.12\n    \
Neighbor AS:      64512\n\
0000 \n";

/// `show route` with `n` IPv4 routes learned over the mesh session.
fn route_reply(n: usize) -> String {
    let mut reply = String::with_capacity(n * 90 + 64);
    reply.push_str("1007-Table master4:\n");
    for i in 0..n {
        let (a, b) = ((i >> 8) & 0xff, i & 0xff);
        let c = i >> 16;
        reply.push_str(&format!(
            " 10.{c}.{a}.{b}/32           unicast [Mesh_10_99_0_12 00:00:01.000] * (100/0) [i]\n \tvia 10.99.0.12 on eth0\n"
        ));
    }
    reply.push_str("0000 \n");
    reply
}

async fn serve(stream: UnixStream, mode: Arc<AtomicU8>, routes: Arc<str>) {
    let (read, mut write) = stream.into_split();
    if write.write_all(b"0001 BIRD 2.0.12 ready.\n").await.is_err() {
        return;
    }
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(command)) = lines.next_line().await {
        let reply: &str = match command.trim() {
            "show status" => STATUS,
            "show protocols all" => PROTOCOLS,
            "show route" => &routes,
            _ => "9001 syntax error\n",
        };
        if mode.load(Ordering::Relaxed) == Mode::Trickle as u8 {
            for byte in reply.bytes().cycle() {
                if write.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        } else if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
