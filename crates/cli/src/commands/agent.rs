//! `nodestatus agent`: the node agent. Reports this node's BIRD status into the
//! `CalicoNodeStatus` resources naming the node, until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use nodestatus_reporter::{Agent, AgentConfig, DEFAULT_LISTEN};
use nodestatus_store::Datastore;
use tokio::signal::unix::{SignalKind, signal};

use crate::commands::bird_args::{BirdSockets, BirdTimeout};

/// Run the node agent.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// This node's name, as in `spec.node`; default: the host name in lowercase, as Calico does.
    #[arg(long, env = "NODENAME", value_name = "NAME")]
    node: Option<String>,

    #[command(flatten)]
    sockets: BirdSockets,

    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "NODESTATUS_LISTEN", value_name = "ADDR", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,

    #[command(flatten)]
    timeout: BirdTimeout,
}

pub(crate) async fn run(args: Args, datastore: Arc<dyn Datastore>) -> anyhow::Result<()> {
    let node = node_name(args.node)?;
    let mut config = AgentConfig::new(node);
    config.endpoints = args.sockets.endpoints();
    config.collect = args.timeout.collect_options();
    config.listen = args.listen;
    let agent = Agent::new(config, datastore).context("starting the agent")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
    };
    agent.run(shutdown).await.context("agent failed")
}

/// The node name given (`--node`, `NODENAME`), else the kernel's host name in lowercase, as
/// Calico defaults it. Optional for clap, so that a usage line never presents `--node` as
/// missing when `NODENAME` sets it.
pub(crate) fn node_name(given: Option<String>) -> anyhow::Result<String> {
    match given {
        Some(node) => Ok(node),
        None => host_name(),
    }
}

/// The kernel's host name in lowercase (Calico's default node name).
fn host_name() -> anyhow::Result<String> {
    let path = "/proc/sys/kernel/hostname";
    let name = std::fs::read_to_string(path)
        .with_context(|| format!("reading the host name from {path}; set --node or NODENAME"))?;
    Ok(name.trim().to_lowercase())
}
