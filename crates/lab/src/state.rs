//! The lab's state file (`<dir>/lab.json`): namespaces, addresses, daemons with their sockets and
//! PIDs, extra processes and disabled sessions. Another process (`nodestatus lab status|down`)
//! finds everything through it; the operations that only need this description live here.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::control;
use crate::error::{LabError, Result};
use crate::expected::{self, ExpectedNode, ExpectedState};
use crate::netns;
use crate::process::ProcessId;
use crate::spec::{BirdVersion, Family};
use crate::topology;

/// The state file's name inside the lab directory.
pub const STATE_FILE: &str = "lab.json";

/// Everything needed to find, use and stop a lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    /// The namespace name prefix.
    pub prefix: String,
    /// The BIRD version the nodes run.
    pub bird: BirdVersion,
    /// The lab directory (absolute).
    pub dir: PathBuf,
    /// The namespace holding the bridge `br0` that connects the nodes.
    pub hub_namespace: String,
    /// The nodes, `n1` first.
    pub nodes: Vec<Node>,
    /// BGP sessions disabled with `disable_protocol` and not enabled again.
    pub disabled: Vec<DisabledProtocol>,
}

/// A BGP session disabled on one node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DisabledProtocol {
    /// The node name.
    pub node: String,
    /// The protocol name.
    pub protocol: String,
}

/// One node: a namespace with interface `eth0` on the lab subnet and its BIRD daemons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `n1`, `n2`, ...
    pub name: String,
    /// The node's number, 1 for `n1`.
    pub index: usize,
    /// The network namespace.
    pub namespace: String,
    /// The IPv4 address on `eth0` (10.99.0.(10+index)/24).
    pub ipv4: Ipv4Addr,
    /// The IPv6 address on `eth0` (fd99::(10+index)/64).
    pub ipv6: Ipv6Addr,
    /// BIRD's router ID (the IPv4 address).
    pub router_id: Ipv4Addr,
    /// `bird` and `bird6` (BIRD 1.6) or one `bird` (BIRD 2 and 3).
    pub daemons: Vec<Daemon>,
    /// Processes started in the namespace with `Lab::spawn`.
    pub processes: Vec<Process>,
}

/// One BIRD daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Daemon {
    /// `bird` or `bird6`.
    pub name: String,
    /// The families it serves (both for BIRD 2 and 3).
    pub families: Vec<Family>,
    /// Its control socket: what a BIRD client connects to.
    pub socket: PathBuf,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its PID file.
    pub pid_file: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    /// The running process, once started.
    pub process: Option<ProcessId>,
}

/// A process started in a node's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Its name, unique on the node (also its log file name).
    pub name: String,
    /// The program and arguments.
    pub command: Vec<String>,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    /// The process.
    pub process: ProcessId,
}

impl Node {
    /// The daemon serving a family (every node built by `Lab::up` has one for each).
    pub fn daemon(&self, f: Family) -> Option<&Daemon> {
        self.daemons.iter().find(|d| d.families.contains(&f))
    }

    /// The control socket to query for a family: `bird.ctl` / `bird6.ctl` (BIRD 1.6) or the
    /// one `bird.ctl` (BIRD 2 and 3).
    pub fn socket(&self, f: Family) -> Option<&Path> {
        self.daemon(f).map(|d| d.socket.as_path())
    }

    /// The node's address in a family.
    pub fn address(&self, f: Family) -> IpAddr {
        match f {
            Family::V4 => IpAddr::V4(self.ipv4),
            Family::V6 => IpAddr::V6(self.ipv6),
        }
    }

    /// True when the node's namespace exists.
    pub fn namespace_exists(&self) -> bool {
        netns::exists(&self.namespace)
    }
}

impl LabState {
    pub(crate) fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Every process the lab started and [`crate::down`] stops: each node's BIRD daemons, then
    /// the processes spawned for it.
    pub fn process_ids(&self) -> Vec<ProcessId> {
        self.nodes
            .iter()
            .flat_map(|n| {
                n.daemons
                    .iter()
                    .filter_map(|d| d.process)
                    .chain(n.processes.iter().map(|p| p.process))
            })
            .collect()
    }

    /// Reads the state file in `dir`; `None` when there is none (no lab up there).
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = Self::path(dir);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LabError::io("reading the lab state", path, e)),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| LabError::State { path, source })
    }

    /// Writes the state file atomically (write, then rename), so a reader never sees half of it.
    pub(crate) fn save(&self) -> Result<()> {
        let path = Self::path(&self.dir);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self).map_err(|source| LabError::State {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&tmp, text).map_err(|e| LabError::io("writing the lab state", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| LabError::io("writing the lab state", &path, e))
    }

    /// The node with that name.
    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| LabError::UnknownNode(name.to_string()))
    }

    /// Sends one command to a node's daemon for `family` and returns the raw reply (every line
    /// with its code, as on the socket). A reply with an `8xxx`/`9xxx` code is an error.
    pub fn birdc(&self, node: &str, family: Family, command: &str) -> Result<String> {
        let daemon = self
            .node(node)?
            .daemon(family)
            .ok_or_else(|| LabError::NoDaemon {
                node: node.to_string(),
                family,
            })?;
        let reply = control::query(&daemon.socket, command)?;
        if control::is_error(&reply) {
            return Err(LabError::Bird {
                node: node.to_string(),
                daemon: daemon.name.clone(),
                command: command.to_string(),
                reply: reply.trim_end().to_string(),
            });
        }
        Ok(reply)
    }

    /// The family of one of a node's BGP sessions (which daemon has it).
    fn session_family(&self, node: &Node, protocol: &str) -> Result<Family> {
        topology::sessions(self.bird, self.nodes.len(), node.index)
            .into_iter()
            .find(|s| s.name == protocol)
            .map(|s| s.family())
            .ok_or_else(|| LabError::UnknownProtocol {
                node: node.name.clone(),
                protocol: protocol.to_string(),
            })
    }

    /// `disable <protocol>` on a node's BGP session; `expected` then shows it `Down` (and its
    /// other side `Passive` or trying). Recorded in the state file.
    pub fn disable_protocol(&mut self, node: &str, protocol: &str) -> Result<()> {
        let family = self.session_family(self.node(node)?, protocol)?;
        self.birdc(node, family, &format!("disable {protocol}"))?;
        let entry = DisabledProtocol {
            node: node.to_string(),
            protocol: protocol.to_string(),
        };
        if !self.disabled.contains(&entry) {
            self.disabled.push(entry);
            self.disabled.sort();
        }
        self.save()
    }

    /// `enable <protocol>`: undoes [`disable_protocol`](Self::disable_protocol).
    pub fn enable_protocol(&mut self, node: &str, protocol: &str) -> Result<()> {
        let family = self.session_family(self.node(node)?, protocol)?;
        self.birdc(node, family, &format!("enable {protocol}"))?;
        self.disabled
            .retain(|d| !(d.node == node && d.protocol == protocol));
        self.save()
    }

    /// What every node's status must contain, given the topology and the disabled sessions.
    pub fn expected(&self) -> Vec<ExpectedNode> {
        let disabled: expected::Disabled = self
            .disabled
            .iter()
            .filter_map(|d| {
                let node = self.nodes.iter().find(|n| n.name == d.node)?;
                Some((node.index, d.protocol.clone()))
            })
            .collect::<BTreeSet<_>>();
        expected::expected(self.bird, self.nodes.len(), &disabled)
    }

    /// Waits until the lab is what [`expected`](Self::expected) describes: every mesh session
    /// Established (both families) except the disabled ones (`Down`, their other side
    /// `Passive`), and every BIRD table holding the expected number of routes (so route
    /// exchange is complete, not only the sessions).
    pub fn wait_established(&self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let mismatch = match self.first_mismatch() {
                Ok(None) => return Ok(()),
                Ok(Some(m)) => m,
                Err(e) => e.to_string(),
            };
            if start.elapsed() >= timeout {
                return Err(LabError::Timeout {
                    what: "BGP sessions and routes to match the expected state".to_string(),
                    seconds: start.elapsed().as_secs_f64(),
                    last: mismatch,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The first difference between the lab and its expected state, if any.
    fn first_mismatch(&self) -> Result<Option<String>> {
        for (node, expected) in self.nodes.iter().zip(self.expected()) {
            for daemon in &node.daemons {
                let rows =
                    control::protocol_rows(&control::query(&daemon.socket, "show protocols")?);
                for f in &daemon.families {
                    for peer in expected.peers(*f) {
                        if matches!(peer.state, ExpectedState::Trying | ExpectedState::Refused) {
                            continue;
                        }
                        let seen = rows
                            .iter()
                            .find(|r| r.name == peer.protocol)
                            .map(|r| {
                                if r.state == "down" && r.bgp_state.is_empty() {
                                    "Down".to_string()
                                } else {
                                    r.bgp_state.clone()
                                }
                            })
                            .unwrap_or_default();
                        if !peer.state.matches(&seen) {
                            return Ok(Some(format!(
                                "{} {} is {seen:?}, expected {:?}",
                                node.name, peer.protocol, peer.state
                            )));
                        }
                    }
                }
                let counts =
                    control::route_counts(&control::query(&daemon.socket, "show route count")?);
                for f in &daemon.families {
                    let table = match (self.bird.daemon_per_family(), f) {
                        (true, _) => "",
                        (false, Family::V4) => "master4",
                        (false, Family::V6) => "master6",
                    };
                    let seen = counts.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
                    let want = expected.routes(*f).len();
                    if seen != Some(want) {
                        return Ok(Some(format!(
                            "{} {} has {seen:?} {f:?} routes, expected {want}",
                            node.name, daemon.name
                        )));
                    }
                }
            }
        }
        Ok(None)
    }
}
