//! The lab's agents: where they run (a node's namespace or this machine's network), the
//! address each serves `/metrics` on, and the command line each is started with.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use anyhow::Context;
use nodestatus_lab::{Family, Node, ProcessNetwork, ProcessSpec};

use crate::datastore::{DatastoreArgs, DatastoreType};

/// Where the agents run: see the module docs.
pub(super) fn agent_network(datastore: &DatastoreArgs) -> ProcessNetwork {
    match datastore.datastore_type {
        DatastoreType::Sqlite => ProcessNetwork::Node,
        DatastoreType::Etcdv3 | DatastoreType::Kubernetes => ProcessNetwork::Host,
    }
}

/// The `--listen` address of each of `count` agents: the agent's default inside node namespaces
/// (each has its own loopback); in this machine's network, distinct free loopback ports, found by
/// binding them all at once and released just before the agents start.
pub(super) fn agent_listen_addresses(
    network: ProcessNetwork,
    count: usize,
) -> anyhow::Result<Vec<Option<SocketAddr>>> {
    match network {
        ProcessNetwork::Node => Ok(vec![None; count]),
        ProcessNetwork::Host => {
            let held = (0..count)
                .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
                .collect::<std::io::Result<Vec<_>>>()
                .context("finding free loopback ports for the agents' /metrics")?;
            held.iter()
                .map(|l| l.local_addr().map(Some))
                .collect::<std::io::Result<_>>()
                .context("reading a free loopback port")
        }
    }
}

/// `nodestatus [datastore flags] agent --node N --bird-socket S [--bird6-socket S6]
/// [--listen A]` for one node, in `network`. Without `listen` its HTTP endpoint stays on the
/// agent's default loopback address, which inside a node namespace is the namespace's own.
pub(super) fn agent_process(
    exe: &Path,
    datastore_args: &[OsString],
    node: &Node,
    network: ProcessNetwork,
    listen: Option<SocketAddr>,
) -> anyhow::Result<ProcessSpec> {
    let v4 = node
        .socket(Family::V4)
        .with_context(|| format!("{} has no IPv4 BIRD daemon", node.name))?;
    let v6 = node
        .socket(Family::V6)
        .with_context(|| format!("{} has no IPv6 BIRD daemon", node.name))?;
    let mut args: Vec<OsString> = datastore_args.to_vec();
    args.extend([
        "agent".into(),
        "--node".into(),
        node.name.clone().into(),
        "--bird-socket".into(),
        v4.into(),
    ]);
    // BIRD 2 serves both families on one socket; BIRD 1.6's bird6 has its own.
    if v6 != v4 {
        args.extend(["--bird6-socket".into(), v6.into()]);
    }
    if let Some(listen) = listen {
        args.extend(["--listen".into(), listen.to_string().into()]);
    }
    Ok(ProcessSpec {
        name: "agent".into(),
        program: exe.to_path_buf(),
        args,
        env: vec![("RUST_LOG".into(), "info".into())],
        network,
    })
}
