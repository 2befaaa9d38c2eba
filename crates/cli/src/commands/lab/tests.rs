//! Tests of the lab command's pure parts: namespace prefixes, the lab's datastore, where agents run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nodestatus_lab::ProcessNetwork;

use super::agents::{agent_listen_addresses, agent_network};
use super::prefix_for;
use super::store::lab_datastore;
use crate::datastore::{DatastoreArgs, DatastoreType};

#[test]
fn the_prefix_depends_on_the_directory_only() {
    let a = prefix_for(Path::new("/var/run/nodestatus-lab"));
    assert_eq!(a, prefix_for(Path::new("/var/run/nodestatus-lab")));
    assert_ne!(a, prefix_for(Path::new("/tmp/other-lab")));
    assert_eq!(a.len(), "nsl-".len() + 8);
}

#[test]
fn sqlite_without_a_path_is_the_lab_file() {
    let lab = lab_datastore(&DatastoreArgs::default(), Path::new("/tmp/l"));
    assert_eq!(lab.sqlite_path, Some(PathBuf::from("/tmp/l/nodestatus.db")));
    let explicit = DatastoreArgs {
        sqlite_path: Some("/x.db".into()),
        ..Default::default()
    };
    assert_eq!(lab_datastore(&explicit, Path::new("/tmp/l")), explicit);
}

#[test]
fn agents_run_in_the_node_namespaces_with_sqlite_and_on_distinct_host_ports_otherwise() {
    let of = |datastore_type| DatastoreArgs {
        datastore_type,
        ..Default::default()
    };
    assert_eq!(
        agent_network(&of(DatastoreType::Sqlite)),
        ProcessNetwork::Node
    );
    for remote in [DatastoreType::Etcdv3, DatastoreType::Kubernetes] {
        assert_eq!(agent_network(&of(remote)), ProcessNetwork::Host);
    }
    assert_eq!(
        agent_listen_addresses(ProcessNetwork::Node, 3).unwrap_or_else(|e| panic!("{e}")),
        vec![None; 3]
    );
    let host: Vec<SocketAddr> = agent_listen_addresses(ProcessNetwork::Host, 3)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(host.len(), 3);
    assert!(host.iter().all(|a| a.ip().is_loopback() && a.port() != 0));
    let ports: std::collections::BTreeSet<u16> = host.iter().map(SocketAddr::port).collect();
    assert_eq!(ports.len(), 3, "{host:?}");
}
