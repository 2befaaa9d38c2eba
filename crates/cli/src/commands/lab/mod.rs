//! `nodestatus lab up|status|down`: a real-BGP lab on this machine (BIRD in network namespaces,
//! from `nodestatus-lab`) with one `nodestatus agent` per node writing into one datastore, so
//! that the whole path, BIRD to `nodestatus get`, can be watched working.
//!
//! - Directory: `/var/run/nodestatus-lab` by default (`--dir`, `NODESTATUS_LAB_DIR`): tmpfs, so
//!   like the namespaces it is gone after a reboot, and root's, as the lab needs root anyway.
//!   Namespace names are derived from it, so labs in different directories never collide.
//! - Datastore: the global flags; SQLite without `--sqlite-path` means the lab's own file
//!   `<dir>/nodestatus.db`. `up` records the choice in `<dir>/datastore.json`, so `status` and
//!   `down` need no flags. `up` also makes the lab the current context (`crate::context`), so
//!   that `get`, `apply`, `delete` without datastore flags use the lab's datastore; `down` clears
//!   it (when this lab set it), removes the lab's own file, or deletes the lab's resources from
//!   any other datastore.
//! - Agents: with SQLite each runs inside its node's namespace, like a node's own agent, serving
//!   `/metrics` on the namespace's loopback (`127.0.0.1:9094` there). A node namespace sees only
//!   the lab's subnet, so with etcd or Kubernetes the agents run in this machine's network, where
//!   the datastore the flags name is reachable (an etcd on loopback included), each on its own
//!   free loopback port; they reach their node's BIRD through its Unix socket either way.
//! - Resources: `lab-<node>` (`lab-n1`, ...), every class, `--period` seconds.
//! - `up` waits until BIRD itself shows every mesh session Established and every route
//!   exchanged, then until every agent's status shows the sessions and route counts the topology
//!   implies; on failure, timeout or Ctrl-C it takes the lab down again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::datastore::{DatastoreArgs, shell_quote};

mod agents;
mod cluster;
mod down;
mod status;
mod store;
#[cfg(test)]
mod tests;
mod up;

/// The default lab directory: on tmpfs, so that like the namespaces it is gone after a reboot,
/// and root's (the lab needs root anyway).
const DEFAULT_DIR: &str = "/var/run/nodestatus-lab";

/// The lab's own SQLite datastore, inside the lab directory.
const LAB_DB: &str = "nodestatus.db";

/// Where `up` records the datastore the lab uses.
const DATASTORE_FILE: &str = "datastore.json";

/// How often the waits look again.
const POLL: Duration = Duration::from_millis(200);

/// Run a real-BGP lab: BIRD daemons in network namespaces, one agent per node.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(clap::Subcommand, Debug)]
enum LabCommand {
    /// Build the nodes, start BIRD and one agent per node, create one CalicoNodeStatus per
    /// node, and wait until every session is Established and every status is written.
    ///
    /// The datastore is the global one; SQLite without --sqlite-path means the lab's own file,
    /// `<dir>/nodestatus.db`, removed by `lab down`. Prints the command that reads it.
    Up(up::UpArgs),
    /// Show the lab's nodes with their daemons, agents and statuses.
    Status(DirArgs),
    /// Stop every process of the lab by PID and remove its namespaces and files (harmless when
    /// no lab is up).
    Down(DirArgs),
}

#[derive(clap::Args, Debug)]
struct DirArgs {
    /// The lab directory: state file, BIRD configs, sockets and logs, and the lab's SQLite
    /// datastore.
    #[arg(long, env = "NODESTATUS_LAB_DIR", value_name = "DIR", default_value = DEFAULT_DIR)]
    dir: PathBuf,
}

pub(crate) async fn run(args: Args, datastore: &DatastoreArgs) -> anyhow::Result<()> {
    match args.command {
        LabCommand::Up(up_args) => up::up(up_args, datastore).await,
        LabCommand::Status(dir) => status::status(&dir.dir, datastore).await,
        LabCommand::Down(dir) => down::down(&dir.dir).await,
    }
}

/// The name of the resource the lab creates for a node.
fn resource_name(node: &str) -> String {
    format!("lab-{node}")
}

/// Namespace names must not collide between labs running at the same time: a lab is known by
/// its directory (one lab per directory), so the prefix is derived from it.
fn prefix_for(dir: &Path) -> String {
    // FNV-1a: stable across runs and Rust versions, unlike the std hasher.
    let hash = dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        });
    format!("nsl-{hash:08x}")
}

fn next_command(datastore: &DatastoreArgs, command: &str) -> anyhow::Result<String> {
    Ok(format!(
        "nodestatus {} {command}",
        datastore.to_command_line()?
    ))
}

fn lab_command(command: &str, dir: &Path) -> String {
    let dir = dir.to_string_lossy();
    if dir == DEFAULT_DIR {
        format!("nodestatus lab {command}")
    } else {
        format!("nodestatus lab {command} --dir {}", shell_quote(&dir))
    }
}
