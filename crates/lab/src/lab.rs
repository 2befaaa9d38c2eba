//! Bringing a lab up (namespaces, bridge, veths, addresses, kernel routes, configs, daemons) and
//! tearing it down (by PID, then namespaces, then files), from the owning `Lab` or from the
//! state file in another process.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config;
use crate::error::{LabError, Result};
use crate::expected::ExpectedNode;
use crate::netns;
use crate::process::ProcessId;
use crate::spec::{BirdVersion, Family, LabSpec};
use crate::state::{Daemon, LabState, Node, Process};
use crate::topology::{self, NODE_IFACE};

/// The bridge in the hub namespace.
const BRIDGE: &str = "br0";
/// How long a daemon gets to write its PID file after `bird` returned.
const PID_FILE_WAIT: Duration = Duration::from_secs(5);

/// A process to start for a node with [`Lab::spawn`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Name, unique on the node: letters, digits, `-` and `_`. Its output goes to
    /// `<dir>/<node>/<name>.log`.
    pub name: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Environment variables added to the lab process's own.
    pub env: Vec<(OsString, OsString)>,
    /// The network it runs in.
    pub network: ProcessNetwork,
}

/// The network a node's process runs in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProcessNetwork {
    /// The node's namespace, like the node's BIRD: it sees only the lab's network.
    #[default]
    Node,
    /// The host's: for a process that must reach a service the node namespaces cannot (an etcd
    /// on this machine's loopback, an API server) and that reaches the node's BIRD through its
    /// Unix socket alone, which is a path in the file system and not in a network namespace.
    Host,
}

/// A running lab. Dropping it tears the lab down; [`Lab::keep`] leaves it running for
/// [`down`] to stop later.
#[derive(Debug)]
pub struct Lab {
    state: LabState,
    /// Processes started by this `Lab`, reaped after they are stopped.
    children: Vec<Child>,
    armed: bool,
}

impl Lab {
    /// Builds the lab the spec describes and waits until every daemon runs (not until sessions
    /// are established: see [`LabState::wait_established`]). Anything created before a failure
    /// is removed again.
    pub fn up(spec: LabSpec) -> Result<Lab> {
        spec.validate()?;
        if !nix::unistd::geteuid().is_root() {
            return Err(LabError::NotRoot);
        }
        for (daemon, _) in config::daemons(spec.bird) {
            let path = config::binary(spec.bird, daemon);
            if !Path::new(path).is_file() {
                return Err(LabError::MissingBinary {
                    what: format!("BIRD {} ({daemon})", spec.bird),
                    path: PathBuf::from(path),
                });
            }
        }
        if std::process::Command::new("ip")
            .arg("-V")
            .output()
            .map_or(true, |o| !o.status.success())
        {
            return Err(LabError::MissingBinary {
                what: "iproute2 (ip)".to_string(),
                path: PathBuf::from("ip"),
            });
        }
        let dir = std::path::absolute(&spec.dir)
            .map_err(|e| LabError::io("resolving the lab directory", &spec.dir, e))?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| LabError::io("creating the lab directory", &dir, e))?;
        if let Some(existing) = LabState::load(&dir)? {
            return Err(LabError::AlreadyUp {
                dir,
                prefix: existing.prefix,
            });
        }
        let state = plan(&spec, dir);
        // Never touch a namespace this lab did not create (teardown deletes the planned ones).
        if let Some(taken) = namespaces(&state).find(|ns| netns::exists(ns)) {
            return Err(LabError::NamespaceExists {
                namespace: taken.to_string(),
            });
        }
        let started = Instant::now();
        let mut lab = Lab {
            state,
            children: Vec::new(),
            armed: true,
        };
        // Saved before anything exists, so that `down(dir)` can clean up after a crash midway.
        lab.state.save()?;
        if let Err(e) = build(&mut lab.state) {
            if let Err(cleanup) = teardown(&lab.state, &mut lab.children) {
                tracing::error!(error = %cleanup, "cleaning up after a failed lab up");
            }
            lab.armed = false;
            return Err(e);
        }
        tracing::info!(
            prefix = lab.state.prefix,
            bird = %lab.state.bird,
            nodes = lab.state.nodes.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "lab up"
        );
        Ok(lab)
    }

    /// The lab's description (also in its state file).
    pub fn state(&self) -> &LabState {
        &self.state
    }

    /// The lab directory.
    pub fn dir(&self) -> &Path {
        &self.state.dir
    }

    /// The BIRD version.
    pub fn bird(&self) -> BirdVersion {
        self.state.bird
    }

    /// The nodes, `n1` first.
    pub fn nodes(&self) -> &[Node] {
        &self.state.nodes
    }

    /// The node with that name.
    pub fn node(&self, name: &str) -> Result<&Node> {
        self.state.node(name)
    }

    /// See [`LabState::birdc`].
    pub fn birdc(&self, node: &str, family: Family, command: &str) -> Result<String> {
        self.state.birdc(node, family, command)
    }

    /// See [`LabState::disable_protocol`].
    pub fn disable_protocol(&mut self, node: &str, protocol: &str) -> Result<()> {
        self.state.disable_protocol(node, protocol)
    }

    /// See [`LabState::enable_protocol`].
    pub fn enable_protocol(&mut self, node: &str, protocol: &str) -> Result<()> {
        self.state.enable_protocol(node, protocol)
    }

    /// See [`LabState::wait_established`].
    pub fn wait_established(&self, timeout: Duration) -> Result<()> {
        self.state.wait_established(timeout)
    }

    /// See [`LabState::expected`].
    pub fn expected(&self) -> Vec<ExpectedNode> {
        self.state.expected()
    }

    /// Starts a process for a node, in the network [`ProcessSpec::network`] says (in its own
    /// process group, stdin closed, output to its log file), records it in the state file so
    /// [`down`] stops it, and returns its record.
    pub fn spawn(&mut self, node: &str, spec: ProcessSpec) -> Result<Process> {
        let valid_name = !spec.name.is_empty()
            && spec
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let index = self
            .state
            .nodes
            .iter()
            .position(|n| n.name == node)
            .ok_or_else(|| LabError::UnknownNode(node.to_string()))?;
        let n = &self.state.nodes[index];
        if !valid_name || n.processes.iter().any(|p| p.name == spec.name) {
            return Err(LabError::InvalidSpec(format!(
                "process name {:?} must be letters, digits, - and _, and unique on {node}",
                spec.name
            )));
        }
        let log = self
            .state
            .dir
            .join(&n.name)
            .join(format!("{}.log", spec.name));
        let out =
            File::create(&log).map_err(|e| LabError::io("creating a process log", &log, e))?;
        let err = out
            .try_clone()
            .map_err(|e| LabError::io("creating a process log", &log, e))?;
        let mut command = match spec.network {
            ProcessNetwork::Node => netns::exec_in(&n.namespace, &spec.program),
            ProcessNetwork::Host => Command::new(&spec.program),
        };
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group: a Ctrl-C meant for the caller does not reach it.
            .process_group(0);
        let line = netns::command_line(&command);
        let child = command.spawn().map_err(|e| LabError::Command {
            command: line.clone(),
            detail: format!("could not start: {e}"),
        })?;
        let id = ProcessId::of(child.id());
        self.children.push(child);
        let process = id.ok_or_else(|| LabError::Command {
            command: line,
            detail: "exited at once".to_string(),
        })?;
        let record = Process {
            name: spec.name,
            command: std::iter::once(spec.program.into_os_string())
                .chain(spec.args)
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            log,
            process,
        };
        self.state.nodes[index].processes.push(record.clone());
        self.state.save()?;
        Ok(record)
    }

    /// Tears the lab down now, reporting failures (dropping it does the same, logging them).
    pub fn down(mut self) -> Result<()> {
        self.armed = false;
        teardown(&self.state, &mut self.children)
    }

    /// Leaves the lab running after this `Lab` is gone; [`down`] with its directory stops it.
    pub fn keep(mut self) -> LabState {
        self.armed = false;
        self.state.clone()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = teardown(&self.state, &mut self.children)
        {
            tracing::error!(dir = %self.state.dir.display(), error = %e, "tearing down the lab");
        }
    }
}

/// The lab in `dir`, from its state file: nodes, sockets, PIDs, disabled sessions; `None` when no
/// lab is up there. [`Node::namespace_exists`] and `ProcessId::is_running` tell what still runs.
pub fn status(dir: &Path) -> Result<Option<LabState>> {
    LabState::load(dir)
}

/// Stops the lab in `dir` from its state file: processes and daemons by PID, then namespaces, then
/// its files. Returns whether there was a lab; running it again is harmless.
pub fn down(dir: &Path) -> Result<bool> {
    match LabState::load(dir)? {
        Some(state) => teardown(&state, &mut Vec::new()).map(|()| true),
        None => Ok(false),
    }
}

fn namespaces(state: &LabState) -> impl Iterator<Item = &str> {
    std::iter::once(state.hub_namespace.as_str())
        .chain(state.nodes.iter().map(|n| n.namespace.as_str()))
}

/// The full description of the lab, before anything is created.
fn plan(spec: &LabSpec, dir: PathBuf) -> LabState {
    let nodes = (1..=spec.nodes)
        .map(|i| {
            let name = format!("n{i}");
            let node_dir = dir.join(&name);
            let daemons = config::daemons(spec.bird)
                .iter()
                .map(|(daemon, families)| Daemon {
                    name: daemon.to_string(),
                    families: families.to_vec(),
                    socket: node_dir.join(format!("{daemon}.ctl")),
                    config: node_dir.join(format!("{daemon}.conf")),
                    pid_file: node_dir.join(format!("{daemon}.pid")),
                    log: node_dir.join(format!("{daemon}.log")),
                    process: None,
                })
                .collect();
            Node {
                namespace: format!("{}-{name}", spec.prefix),
                name,
                index: i,
                ipv4: topology::node_v4(i),
                ipv6: topology::node_v6(i),
                router_id: topology::router_id(i),
                daemons,
                processes: Vec::new(),
            }
        })
        .collect();
    LabState {
        prefix: spec.prefix.clone(),
        bird: spec.bird,
        hub_namespace: format!("{}-hub", spec.prefix),
        dir,
        nodes,
        disabled: Vec::new(),
    }
}

/// Creates the network, writes the configs and starts the daemons, saving PIDs as they come.
fn build(state: &mut LabState) -> Result<()> {
    let hub = state.hub_namespace.clone();
    netns::add(&hub)?;
    // No multicast snooping: IPv6 neighbour discovery must reach every port from the start.
    netns::ip_in(
        &hub,
        &[
            "link",
            "add",
            BRIDGE,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ],
    )?;
    netns::ip_in(&hub, &["link", "set", BRIDGE, "up"])?;
    let count = state.nodes.len();
    for node in &state.nodes {
        wire(node, &hub, count)?;
    }
    for k in 0..state.nodes.len() {
        let node_dir = state.dir.join(&state.nodes[k].name);
        std::fs::create_dir_all(&node_dir)
            .map_err(|e| LabError::io("creating a node directory", &node_dir, e))?;
        let texts = config::render(state.bird, count, state.nodes[k].index, &node_dir);
        for (d, text) in texts.into_iter().enumerate() {
            let daemon = &state.nodes[k].daemons[d];
            std::fs::write(&daemon.config, text)
                .map_err(|e| LabError::io("writing a BIRD config", &daemon.config, e))?;
            let process = start_daemon(state.bird, &state.nodes[k].namespace, daemon)?;
            state.nodes[k].daemons[d].process = Some(process);
            state.save()?;
        }
    }
    Ok(())
}

/// The node's namespace, its veth to the hub bridge, addresses and the kernel route.
fn wire(node: &Node, hub: &str, nodes: usize) -> Result<()> {
    let ns = node.namespace.as_str();
    netns::add(ns)?;
    // Created inside the node namespace with the peer sent straight to the hub: no name is ever
    // used in the host namespace, so parallel labs cannot collide.
    netns::ip_in(
        ns,
        &[
            "link", "add", NODE_IFACE, "type", "veth", "peer", "name", &node.name, "netns", hub,
        ],
    )?;
    netns::ip_in(hub, &["link", "set", &node.name, "master", BRIDGE, "up"])?;
    netns::ip_in(ns, &["link", "set", "lo", "up"])?;
    netns::ip_in(ns, &["link", "set", NODE_IFACE, "up"])?;
    let v4 = format!("{}/24", node.ipv4);
    let v6 = format!("{}/64", node.ipv6);
    netns::ip_in(ns, &["addr", "add", &v4, "dev", NODE_IFACE])?;
    // No duplicate address detection: the address is usable at once, so IPv6 sessions start now.
    netns::ip_in(ns, &["addr", "add", &v6, "dev", NODE_IFACE, "nodad"])?;
    for f in Family::ALL {
        let (net, gateway) = topology::kernel_route(node.index, nodes, f);
        let net = net.to_string();
        let mut args = vec![
            if f == Family::V4 { "-4" } else { "-6" },
            "route",
            "add",
            &net,
        ];
        let gateway = gateway.map(|g| g.to_string());
        match &gateway {
            Some(g) => args.extend(["via", g]),
            None => args.extend(["dev", NODE_IFACE]),
        }
        netns::ip_in(ns, &args)?;
    }
    Ok(())
}

/// Starts one BIRD daemon in the namespace (it daemonizes) and returns it once its PID file names it.
fn start_daemon(bird: BirdVersion, ns: &str, daemon: &Daemon) -> Result<ProcessId> {
    let binary = config::binary(bird, &daemon.name);
    for stale in [&daemon.socket, &daemon.pid_file] {
        match std::fs::remove_file(stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LabError::io("removing a stale file", stale, e)),
        }
    }
    netns::run(
        netns::exec_in(ns, binary)
            .arg("-c")
            .arg(&daemon.config)
            .arg("-s")
            .arg(&daemon.socket)
            .arg("-P")
            .arg(&daemon.pid_file),
    )?;
    // BIRD writes its PID file after forking, so it may appear just after the parent exits.
    let start = Instant::now();
    loop {
        if let Some(id) = read_pid_file(&daemon.pid_file).and_then(ProcessId::of) {
            return Ok(id);
        }
        if start.elapsed() > PID_FILE_WAIT {
            return Err(LabError::Command {
                command: format!("{binary} -c {}", daemon.config.display()),
                detail: format!(
                    "no running process named in {} after {PID_FILE_WAIT:?}; see {}",
                    daemon.pid_file.display(),
                    daemon.log.display()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn read_pid_file(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A daemon's process: the recorded one, or, when `up` failed between starting it and saving
/// its PID, the one its PID file names if that process is BIRD with this daemon's socket.
fn daemon_process(daemon: &Daemon) -> Option<ProcessId> {
    daemon.process.or_else(|| {
        let id = read_pid_file(&daemon.pid_file).and_then(ProcessId::of)?;
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", id.pid)).ok()?;
        let socket = daemon.socket.as_os_str().as_encoded_bytes();
        cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == socket)
            .then_some(id)
    })
}

/// Stops everything the state names, then deletes namespaces and files. Keeps going after a
/// failure so that as much as possible is removed, and reports the first one.
fn teardown(state: &LabState, children: &mut Vec<Child>) -> Result<()> {
    let mut first: Option<LabError> = None;
    for node in &state.nodes {
        for p in &node.processes {
            keep_first(
                &mut first,
                p.process.stop(&format!("{}/{}", node.name, p.name)),
            );
        }
        for d in &node.daemons {
            if let Some(id) = daemon_process(d) {
                keep_first(&mut first, id.stop(&format!("{}/{}", node.name, d.name)));
            }
        }
    }
    for mut child in children.drain(..) {
        // Stopped above: reap it so that no zombie is left.
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
    for ns in namespaces(state) {
        keep_first(&mut first, netns::delete(ns));
    }
    for node in &state.nodes {
        keep_first(&mut first, remove_dir(&state.dir.join(&node.name)));
    }
    // The state file goes last, and only when all else went: it is how a retry finds the rest.
    if first.is_none() {
        let path = LabState::path(&state.dir);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            first = Some(LabError::io("removing the lab state", path, e));
        }
    }
    first.map_or(Ok(()), Err)
}

fn keep_first(first: &mut Option<LabError>, result: Result<()>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "lab teardown");
        first.get_or_insert(e);
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LabError::io("removing a node directory", dir, e))
        }
        _ => Ok(()),
    }
}
