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

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use nodestatus_api::{
    BgpDaemonState, CalicoNodeStatus, CalicoNodeStatusSpec, NodeStatusClass, columns,
};
use nodestatus_lab::{
    BirdVersion, ExpectedNode, Family, Lab, LabError, LabSpec, LabState, Node, ProcessNetwork,
    ProcessSpec,
};
use nodestatus_store::{Datastore, NodeFilter, StoreError};

use crate::context::{self, CurrentContext};
use crate::datastore::{DatastoreArgs, DatastoreType, shell_quote};
use crate::output::{Shutdown, error_text, print};
use crate::table;

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
    Up(UpArgs),
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

#[derive(clap::Args, Debug)]
struct UpArgs {
    #[command(flatten)]
    dir: DirArgs,

    /// Number of nodes (full BGP mesh, IPv4 and IPv6).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=nodestatus_lab::MAX_NODES as i64))]
    nodes: u8,

    /// BIRD version: 1.6 (bird + bird6), or one daemon for both families: 2 (2.0), 2.17 or 3
    /// (Debian 13's, see scripts/install-bird-current.sh).
    #[arg(long, default_value = "1.6", value_name = "VERSION")]
    bird: BirdVersion,

    /// spec.updatePeriodSeconds of the resources the lab creates.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    period: u32,

    /// How long to wait for sessions and statuses before giving up (and taking the lab down).
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    timeout: u64,
}

pub(crate) async fn run(args: Args, datastore: &DatastoreArgs) -> anyhow::Result<()> {
    match args.command {
        LabCommand::Up(up_args) => up(up_args, datastore).await,
        LabCommand::Status(dir) => status(&dir.dir, datastore).await,
        LabCommand::Down(dir) => down(&dir.dir).await,
    }
}

/// The name of the resource the lab creates for a node.
fn resource_name(node: &str) -> String {
    format!("lab-{node}")
}

async fn up(args: UpArgs, global: &DatastoreArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut shutdown = Shutdown::catch()?;
    let dir = std::path::absolute(&args.dir.dir)
        .with_context(|| format!("resolving the lab directory {}", args.dir.dir.display()))?;
    let datastore = lab_datastore(global, &dir);
    let exe =
        std::env::current_exe().context("finding the nodestatus binary to run as the agent")?;
    let progress = Progress::new();

    progress.say(format!(
        "starting BIRD {} in {} nodes",
        args.bird, args.nodes
    ));
    let spec = LabSpec {
        nodes: usize::from(args.nodes),
        bird: args.bird,
        dir: dir.clone(),
        prefix: prefix_for(&dir),
    };
    let lab = match tokio::task::spawn_blocking(move || Lab::up(spec))
        .await
        .context("bringing the lab up")?
    {
        Ok(lab) => lab,
        Err(LabError::AlreadyUp { dir, .. }) => {
            bail!(
                "a lab is already up in {}; take it down first: {}",
                dir.display(),
                lab_command("down", &dir)
            )
        }
        Err(e) => return Err(e).context("bringing the lab up"),
    };
    let mut up = Up {
        lab: Some(lab),
        dir: dir.clone(),
        datastore: datastore.clone(),
    };
    let result = tokio::select! {
        result = up.finish(&args, &exe, &progress) => result,
        () = shutdown.recv() => Err(anyhow!("interrupted")),
    };
    progress.clear();
    match result {
        Ok(store) => {
            let state = up.keep().context("the lab is gone")?;
            print(&summary(&state, store.as_ref(), &datastore).await?)?;
            let current = CurrentContext {
                lab_dir: dir.clone(),
                datastore: datastore.clone(),
            };
            // Without the context the lab still works; the commands then name its datastore.
            let (context_line, get) = match context::set(&current) {
                Ok(file) => (
                    format!(
                        "It is the current context ({}): commands without datastore flags use \
                         its datastore until `lab down`.",
                        file.display()
                    ),
                    "nodestatus get -o yaml".to_string(),
                ),
                Err(e) => (
                    format!(
                        "warning: the current context is unchanged: {}",
                        error_text(&e)
                    ),
                    next_command(&datastore, "get -o yaml")?,
                ),
            };
            print(&format!(
                "\nThe lab is up ({:.1} s). {context_line}\nNext:\n  {get}\n  {}\n  {}\n",
                started.elapsed().as_secs_f64(),
                lab_command("status", &dir),
                lab_command("down", &dir),
            ))
        }
        Err(e) => match up.teardown().await {
            Ok(()) => Err(anyhow!("{}\nThe lab was taken down.", error_text(&e))),
            Err(t) => Err(anyhow!(
                "{}\nTaking the lab down failed too ({}); run: {}",
                error_text(&e),
                error_text(&t),
                lab_command("down", &dir)
            )),
        },
    }
}

/// A lab being brought up: taken down again unless [`Up::keep`] is called.
struct Up {
    lab: Option<Lab>,
    dir: PathBuf,
    datastore: DatastoreArgs,
}

impl Up {
    fn lab(&self) -> anyhow::Result<&Lab> {
        self.lab.as_ref().context("the lab is gone")
    }

    /// Everything after the namespaces and daemons: agents, resources, the waits.
    async fn finish(
        &mut self,
        args: &UpArgs,
        exe: &Path,
        progress: &Progress,
    ) -> anyhow::Result<Arc<dyn Datastore>> {
        write_datastore_file(&self.dir, &self.datastore)?;
        progress.say("opening the datastore");
        let store = self.datastore.open().await?;
        progress.say("starting the agents");
        let datastore_args = self.datastore.to_args()?;
        let lab = self.lab.as_mut().context("the lab is gone")?;
        let names: Vec<String> = lab.nodes().iter().map(|n| n.name.clone()).collect();
        let network = agent_network(&self.datastore);
        let listen = agent_listen_addresses(network, names.len())?;
        for (name, listen) in names.iter().zip(listen) {
            let node = lab.node(name)?.clone();
            lab.spawn(
                name,
                agent_process(exe, &datastore_args, &node, network, listen)?,
            )
            .with_context(|| format!("starting the agent of {name}"))?;
        }
        let deadline = Instant::now() + Duration::from_secs(args.timeout);
        self.wait_established(progress, deadline).await?;
        progress.say("creating one CalicoNodeStatus per node");
        for name in &names {
            recreate(store.as_ref(), name, args.period).await?;
        }
        self.wait_statuses(store.as_ref(), progress, deadline)
            .await?;
        Ok(store)
    }

    /// Waits until BIRD shows every session Established and every route exchanged (asked of
    /// BIRD itself, before the agents report it).
    async fn wait_established(&self, progress: &Progress, deadline: Instant) -> anyhow::Result<()> {
        let state = self.lab()?.state().clone();
        loop {
            self.check_agents()?;
            let check = state.clone();
            // A zero timeout makes one check: Ok, or the first difference found.
            match tokio::task::spawn_blocking(move || check.wait_established(Duration::ZERO))
                .await?
            {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(e).context("waiting for the BGP sessions to be Established");
                }
                Err(LabError::Timeout { last, .. }) => {
                    progress.say(format!("waiting for BGP: {last}"));
                }
                Err(e) => progress.say(format!("waiting for BGP: {e}")),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until every node's resource has a status written by its agent that shows the
    /// sessions and route counts the topology implies.
    async fn wait_statuses(
        &self,
        store: &dyn Datastore,
        progress: &Progress,
        deadline: Instant,
    ) -> anyhow::Result<()> {
        let expected = self.lab()?.expected();
        loop {
            self.check_agents()?;
            let listing = store
                .list(&NodeFilter::All)
                .await
                .context("reading the statuses")?;
            let by_name: BTreeMap<&str, &CalicoNodeStatus> = listing
                .items
                .iter()
                .filter_map(|o| Some((o.metadata.name.as_deref()?, o)))
                .collect();
            let first = expected.iter().find_map(|e| {
                status_mismatch(by_name.get(resource_name(&e.node).as_str()).copied(), e)
            });
            match first {
                None => return Ok(()),
                Some(m) if Instant::now() >= deadline => {
                    bail!("timed out waiting for the agents' statuses: {m}")
                }
                Some(m) => progress.say(format!("waiting for statuses: {m}")),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Fails when an agent has exited, with the end of its log: waiting longer would not help.
    fn check_agents(&self) -> anyhow::Result<()> {
        for node in self.lab()?.nodes() {
            for agent in node.processes.iter().filter(|p| p.name == "agent") {
                if !agent.process.is_running() {
                    bail!(
                        "the agent of {} exited; the end of {}:\n{}",
                        node.name,
                        agent.log.display(),
                        log_tail(&agent.log, 20)
                    );
                }
            }
        }
        Ok(())
    }

    /// Leaves the lab running.
    fn keep(&mut self) -> Option<LabState> {
        self.lab.take().map(Lab::keep)
    }

    /// Takes the lab down (processes, namespaces, files) and removes what `up` added.
    async fn teardown(&mut self) -> anyhow::Result<()> {
        let mut nodes = Vec::new();
        if let Some(lab) = self.lab.take() {
            nodes = lab.nodes().iter().map(|n| n.name.clone()).collect();
            tokio::task::spawn_blocking(move || lab.down()).await??;
        }
        remove_lab_datastore(&self.dir, &self.datastore, &nodes).await
    }
}

/// The datastore of a lab: the global flags, except that SQLite without an explicit path is
/// the lab's own file.
fn lab_datastore(global: &DatastoreArgs, dir: &Path) -> DatastoreArgs {
    let mut datastore = global.clone();
    if datastore.datastore_type == DatastoreType::Sqlite && datastore.sqlite_path.is_none() {
        datastore.sqlite_path = Some(dir.join(LAB_DB));
    }
    datastore
}

/// Where the agents run: see the module docs.
fn agent_network(datastore: &DatastoreArgs) -> ProcessNetwork {
    match datastore.datastore_type {
        DatastoreType::Sqlite => ProcessNetwork::Node,
        DatastoreType::Etcdv3 | DatastoreType::Kubernetes => ProcessNetwork::Host,
    }
}

/// The `--listen` address of each of `count` agents: the agent's default inside node namespaces
/// (each has its own loopback); in this machine's network, distinct free loopback ports, found by
/// binding them all at once and released just before the agents start.
fn agent_listen_addresses(
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

/// `nodestatus [datastore flags] agent --node N --bird-socket S [--bird6-socket S6]
/// [--listen A]` for one node, in `network`. Without `listen` its HTTP endpoint stays on the
/// agent's default loopback address, which inside a node namespace is the namespace's own.
fn agent_process(
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

/// Creates the node's resource afresh (a stale one from an earlier lab on the same datastore
/// is deleted first, so every status seen was written by this lab's agent).
async fn recreate(store: &dyn Datastore, node: &str, period: u32) -> anyhow::Result<()> {
    let name = resource_name(node);
    match store.delete(&name, None).await {
        Ok(_) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e).with_context(|| format!("deleting the stale resource {name}")),
    }
    let obj = CalicoNodeStatus {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..ObjectMeta::default()
        },
        spec: CalicoNodeStatusSpec {
            classes: NodeStatusClass::ALL.to_vec(),
            node: node.to_string(),
            update_period_seconds: period,
        },
        status: None,
    };
    store
        .create(&obj)
        .await
        .with_context(|| format!("creating {name}"))?;
    Ok(())
}

/// What a node's status still lacks, if anything: written, both daemons Ready, the expected
/// sessions Established and counted, and the expected number of routes per family.
fn status_mismatch(obj: Option<&CalicoNodeStatus>, expected: &ExpectedNode) -> Option<String> {
    let node = &expected.node;
    let Some(obj) = obj else {
        return Some(format!("{node}: no resource {}", resource_name(node)));
    };
    let Some(status) = obj.status.as_ref().filter(|s| s.last_updated.is_some()) else {
        return Some(format!("{node}: no status written yet"));
    };
    let agent = status.agent.as_ref();
    for (family, daemon) in [
        ("v4", agent.map(|a| &a.bird_v4)),
        ("v6", agent.map(|a| &a.bird_v6)),
    ] {
        if daemon.and_then(|d| d.state) != Some(BgpDaemonState::Ready) {
            return Some(format!("{node}: BIRD {family} is not Ready"));
        }
    }
    let Some(bgp) = status.bgp.as_ref() else {
        return Some(format!("{node}: no BGP status"));
    };
    let seen = (
        bgp.number_established_v4,
        bgp.number_not_established_v4,
        bgp.number_established_v6,
        bgp.number_not_established_v6,
    );
    let want = (
        expected.established_v4,
        expected.not_established_v4,
        expected.established_v6,
        expected.not_established_v6,
    );
    if seen != want {
        return Some(format!(
            "{node}: sessions established/not (v4, v6) are {}/{}, {}/{}; expected {}/{}, {}/{}",
            seen.0, seen.1, seen.2, seen.3, want.0, want.1, want.2, want.3
        ));
    }
    let routes = status.routes.as_ref();
    let counts = (
        routes.map_or(0, |r| r.routes_v4.len()),
        routes.map_or(0, |r| r.routes_v6.len()),
    );
    let want = (expected.routes_v4.len(), expected.routes_v6.len());
    if counts != want {
        return Some(format!(
            "{node}: {} IPv4 and {} IPv6 routes, expected {} and {}",
            counts.0, counts.1, want.0, want.1
        ));
    }
    None
}

async fn status(dir: &Path, global: &DatastoreArgs) -> anyhow::Result<()> {
    let dir = std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let Some(state) = nodestatus_lab::status(&dir).context("reading the lab state")? else {
        bail!(
            "no lab is up in {} (start one with `nodestatus lab up`)",
            dir.display()
        );
    };
    let datastore = read_datastore_file(&dir)?.unwrap_or_else(|| lab_datastore(global, &dir));
    let store = datastore.open().await?;
    print(&summary(&state, store.as_ref(), &datastore).await?)
}

/// The lab's header line and one table row per node.
async fn summary(
    state: &LabState,
    store: &dyn Datastore,
    datastore: &DatastoreArgs,
) -> anyhow::Result<String> {
    let listing = store
        .list(&NodeFilter::All)
        .await
        .context("reading the statuses")?;
    let now = Timestamp::now();
    let rows: Vec<Vec<String>> = state
        .nodes
        .iter()
        .map(|node| {
            let name = resource_name(&node.name);
            let obj = listing
                .items
                .iter()
                .find(|o| o.metadata.name.as_deref() == Some(name.as_str()));
            node_row(node, obj, now)
        })
        .collect();
    Ok(format!(
        "Lab in {}: {} nodes, BIRD {}, namespaces {}-*, datastore {}\n{}",
        state.dir.display(),
        state.nodes.len(),
        state.bird,
        state.prefix,
        datastore.describe(),
        table::render(
            &["NODE", "BIRD", "AGENT", "PEERS", "ROUTES", "LAST UPDATED"],
            &rows
        )
    ))
}

fn node_row(node: &Node, obj: Option<&CalicoNodeStatus>, now: Timestamp) -> Vec<String> {
    let stopped: Vec<&str> = node
        .daemons
        .iter()
        .filter(|d| !d.process.is_some_and(|p| p.is_running()))
        .map(|d| d.name.as_str())
        .collect();
    // The status cells are the ones `nodestatus get` shows (`nodestatus_api::columns`).
    let shown = obj.map(|o| columns::cells(o, now));
    let cell = |header: &str| {
        let index = columns::COLUMNS.iter().position(|c| c.header == header);
        shown
            .as_ref()
            .zip(index)
            .and_then(|(cells, i)| cells.get(i).cloned())
            .unwrap_or_else(|| columns::NONE.to_string())
    };
    let bird = if stopped.is_empty() {
        cell("BIRD")
    } else {
        format!("stopped: {}", stopped.join(", "))
    };
    let agent = match node.processes.iter().find(|p| p.name == "agent") {
        // An agent in this machine's network names its own port; one in a node namespace
        // serves the agent's default address there.
        Some(p) if p.process.is_running() => match flag_value(&p.command, "--listen") {
            Some(listen) => format!("running, {listen}"),
            None => "running".to_string(),
        },
        Some(_) => "exited".to_string(),
        None => columns::NONE.to_string(),
    };
    vec![
        node.name.clone(),
        bird,
        agent,
        cell("BGP"),
        cell("ROUTES"),
        cell("LAST UPDATED"),
    ]
}

/// The word after `flag` in a command line.
fn flag_value<'a>(command: &'a [String], flag: &str) -> Option<&'a str> {
    command
        .iter()
        .skip_while(|a| *a != flag)
        .nth(1)
        .map(String::as_str)
}

async fn down(dir: &Path) -> anyhow::Result<()> {
    let dir = std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let state = nodestatus_lab::status(&dir).context("reading the lab state")?;
    let datastore = read_datastore_file(&dir)?;
    let was_up = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || nodestatus_lab::down(&dir)
    })
    .await?
    .with_context(|| format!("taking the lab in {} down", dir.display()))?;
    if let Some(datastore) = datastore {
        let nodes: Vec<String> = state
            .iter()
            .flat_map(|s| s.nodes.iter().map(|n| n.name.clone()))
            .collect();
        remove_lab_datastore(&dir, &datastore, &nodes).await?;
    }
    context::clear_if_set_by(&dir)?;
    if was_up {
        print(&format!("The lab in {} is down.\n", dir.display()))
    } else {
        // Nothing to stop is not a failure: `down` must be safe to run twice.
        print(&format!("No lab was up in {}.\n", dir.display()))
    }
}

/// Removes what `up` added besides the lab itself: the lab's own SQLite file, or, in a
/// datastore the lab does not own, the resources it created (best effort: a datastore that
/// cannot be reached leaves them, with a warning).
async fn remove_lab_datastore(
    dir: &Path,
    datastore: &DatastoreArgs,
    nodes: &[String],
) -> anyhow::Result<()> {
    let own_db = dir.join(LAB_DB);
    if datastore.datastore_type == DatastoreType::Sqlite
        && datastore.sqlite_path.as_deref() == Some(own_db.as_path())
    {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = own_db.clone().into_os_string();
            path.push(suffix);
            remove_file(Path::new(&path))?;
        }
    } else if !nodes.is_empty() {
        match datastore.open().await {
            Ok(store) => {
                for node in nodes {
                    let name = resource_name(node);
                    match store.delete(&name, None).await {
                        Ok(_) | Err(StoreError::NotFound { .. }) => {}
                        Err(e) => eprintln!(
                            "warning: could not delete {name} from {}: {e}",
                            datastore.describe()
                        ),
                    }
                }
            }
            Err(e) => eprintln!(
                "warning: the lab's resources stay in {}: {}",
                datastore.describe(),
                error_text(&e)
            ),
        }
    }
    remove_file(&dir.join(DATASTORE_FILE))
}

fn remove_file(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn write_datastore_file(dir: &Path, datastore: &DatastoreArgs) -> anyhow::Result<()> {
    let path = dir.join(DATASTORE_FILE);
    let text =
        serde_json::to_vec_pretty(datastore).context("encoding the lab's datastore settings")?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

fn read_datastore_file(dir: &Path) -> anyhow::Result<Option<DatastoreArgs>> {
    let path = dir.join(DATASTORE_FILE);
    match std::fs::read(&path) {
        Ok(text) => serde_json::from_slice(&text)
            .map(Some)
            .with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The last lines of a log file, indented.
fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..]
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Err(e) => format!("  (cannot read it: {e})"),
    }
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

/// A spinner with the current step on standard error; drawn only when it is a terminal.
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>3} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        Self { bar }
    }

    fn say(&self, message: impl Into<std::borrow::Cow<'static, str>>) {
        self.bar.set_message(message);
    }

    fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
