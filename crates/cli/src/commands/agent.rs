//! `nodestatus agent`: the node agent. Reports this node's BIRD status into the
//! `CalicoNodeStatus` resources naming the node, until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use nodestatus_bird::{CollectOptions, Endpoints};
use nodestatus_reporter::{Agent, AgentConfig, DEFAULT_LISTEN};
use nodestatus_store::Datastore;
use tokio::signal::unix::{SignalKind, signal};

/// Run the node agent.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// This node's name, as in `spec.node`; default: the host name in lowercase, as Calico does.
    #[arg(long, env = "NODENAME", value_name = "NAME")]
    node: Option<String>,

    /// BIRD's control socket (IPv4 for BIRD 1.6, both families for BIRD 2/3); default
    /// /var/run/calico/bird.ctl, then /var/run/bird/bird.ctl.
    #[arg(long, value_name = "PATH")]
    bird_socket: Option<PathBuf>,

    /// BIRD 1.6's IPv6 control socket; default /var/run/calico/bird6.ctl, then
    /// /var/run/bird/bird6.ctl.
    #[arg(long, value_name = "PATH")]
    bird6_socket: Option<PathBuf>,

    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "NODESTATUS_LISTEN", value_name = "ADDR", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Time allowed for each BIRD reply.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    bird_timeout_seconds: u64,
}

pub(crate) async fn run(args: Args, datastore: Arc<dyn Datastore>) -> anyhow::Result<()> {
    let node = match args.node {
        Some(node) => node,
        None => host_name()?,
    };
    let mut config = AgentConfig::new(node);
    config.endpoints = Endpoints::new(args.bird_socket, args.bird6_socket);
    config.collect = CollectOptions {
        timeout: Duration::from_secs(args.bird_timeout_seconds),
        ..CollectOptions::default()
    };
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

/// The kernel's host name in lowercase (Calico's default node name).
fn host_name() -> anyhow::Result<String> {
    let path = "/proc/sys/kernel/hostname";
    let name = std::fs::read_to_string(path)
        .with_context(|| format!("reading the host name from {path}; set --node or NODENAME"))?;
    Ok(name.trim().to_lowercase())
}
