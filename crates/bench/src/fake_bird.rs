//! Synthetic BIRD 2 control sockets, one per simulated node: `show status`, `show protocols
//! all` (mesh sessions with up to `peers` other nodes, all established) and `show route`
//! (20–200 IPv4 routes per node, plus one per [`Generation`] step, so bumping the generation
//! changes every node's status at once). Replies are built per command from the node's index,
//! so 5,000 sockets hold no copies of their replies.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

/// The fewest and most routes a node has before any generation step.
pub const MIN_ROUTES: u32 = 20;
/// See [`MIN_ROUTES`].
pub const MAX_ROUTES: u32 = 200;

/// What every fake BIRD adds to its routes; bumping it changes every node's status.
#[derive(Clone, Debug, Default)]
pub struct Generation(Arc<AtomicU32>);

impl Generation {
    /// The current step.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Moves every node to the next step.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// One simulated node's BIRD.
#[derive(Clone, Copy, Debug)]
pub struct NodeShape {
    /// The node's index in the fleet (0-based).
    pub index: u32,
    /// Nodes in the fleet.
    pub nodes: u32,
    /// The most mesh sessions shown (a full mesh is capped: route reflectors in real fleets).
    pub peers: u32,
}

impl NodeShape {
    /// The node's routes at generation 0: spread evenly over 20..=200 by the node's index.
    pub fn base_routes(&self) -> u32 {
        MIN_ROUTES + (self.index.wrapping_mul(7919)) % (MAX_ROUTES - MIN_ROUTES + 1)
    }

    /// Routes at `generation`.
    pub fn routes(&self, generation: u32) -> u32 {
        self.base_routes() + generation
    }

    fn peer_count(&self) -> u32 {
        self.peers.min(self.nodes.saturating_sub(1))
    }

    /// The address of node `i` (10.96.0.0/12 holds 2^20 nodes).
    fn address(i: u32) -> String {
        format!("10.{}.{}.{}", 96 + (i >> 16), (i >> 8) & 0xff, i & 0xff)
    }

    fn peer(&self, k: u32) -> u32 {
        (self.index + 1 + k) % self.nodes.max(1)
    }

    fn status(&self) -> String {
        format!(
            "1000-BIRD 2.0.12\n1011-Router ID is {}\n \
             Hostname is node-{}\n \
             Current server time is 2026-01-01 00:00:10.000\n \
             Last reboot on 2026-01-01 00:00:00.000\n \
             Last reconfiguration on 2026-01-01 00:00:00.000\n\
             0013 Daemon is up and running\n",
            Self::address(self.index),
            self.index
        )
    }

    fn protocols(&self) -> String {
        let mut reply =
            String::from("2002-Name       Proto      Table      State  Since         Info\n");
        for k in 0..self.peer_count() {
            let address = Self::address(self.peer(k));
            let name = format!("Mesh_{}", address.replace('.', "_"));
            let _ = write!(
                reply,
                "1002-{name} BGP        ---        up     00:00:01.000  Established\n\
                 1006-  BGP state:          Established\n    \
                 Neighbor address: {address}\n    \
                 Neighbor AS:      64512\n"
            );
        }
        reply.push_str("0000 \n");
        reply
    }

    fn route_table(&self, generation: u32) -> String {
        let routes = self.routes(generation);
        let mut reply = String::with_capacity(routes as usize * 100 + 32);
        reply.push_str("1007-Table master4:\n");
        let peers = self.peer_count().max(1);
        for j in 0..routes {
            let via = Self::address(self.peer(j % peers));
            let name = format!("Mesh_{}", via.replace('.', "_"));
            let _ = write!(
                reply,
                " 10.{}.{}.{}/32           unicast [{name} 00:00:01.000] * (100/0) [i]\n \tvia {via} on eth0\n",
                self.index & 0xff,
                j >> 8,
                j & 0xff
            );
        }
        reply.push_str("0000 \n");
        reply
    }
}

/// A listening fake; its task ends when the handle is dropped.
pub struct FakeBird {
    /// The control socket.
    pub socket: PathBuf,
    task: JoinHandle<()>,
}

impl Drop for FakeBird {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeBird {
    /// Listens on `dir/node-<index>.ctl` (needs a tokio runtime).
    pub fn start(dir: &Path, shape: NodeShape, generation: Generation) -> io::Result<FakeBird> {
        let socket = dir.join(format!("node-{}.ctl", shape.index));
        let listener = UnixListener::bind(&socket)?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shape, generation.clone()));
            }
        });
        Ok(FakeBird { socket, task })
    }
}

async fn serve(stream: UnixStream, shape: NodeShape, generation: Generation) {
    let (read, mut write) = stream.into_split();
    if write.write_all(b"0001 BIRD 2.0.12 ready.\n").await.is_err() {
        return;
    }
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(command)) = lines.next_line().await {
        let reply = match command.trim() {
            "show status" => shape.status(),
            "show protocols all" => shape.protocols(),
            "show route" => shape.route_table(generation.get()),
            _ => "9001 syntax error\n".to_owned(),
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
