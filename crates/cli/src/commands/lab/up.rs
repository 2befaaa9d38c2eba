//! `lab up`: the namespaces and daemons (from `nodestatus-lab`), then the agents, one resource
//! per node, and the waits until BIRD and every status agree with the topology; taken down
//! again on failure, timeout or Ctrl-C.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use nodestatus_api::{BgpDaemonState, CalicoNodeStatus, CalicoNodeStatusSpec, NodeStatusClass};
use nodestatus_lab::{BirdVersion, ExpectedNode, Lab, LabError, LabSpec, LabState};
use nodestatus_store::{Datastore, NodeFilter, StoreError};

use super::agents::{agent_listen_addresses, agent_network, agent_process};
use super::cluster;
use super::status::summary;
use super::store::{lab_datastore, remove_lab_datastore, write_datastore_file};
use super::{DirArgs, POLL, lab_command, next_command, prefix_for, resource_name};
use crate::context::{self, CurrentContext};
use crate::datastore::{DatastoreArgs, shell_quote};
use crate::output::{Shutdown, error_text, print};

#[derive(clap::Args, Debug)]
pub(super) struct UpArgs {
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

pub(super) async fn up(args: UpArgs, global: &DatastoreArgs) -> anyhow::Result<()> {
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
        result = async {
            if cluster::wanted(&up.datastore) {
                progress.say("starting a Kubernetes control plane (kube-apiserver, etcd)");
                up.datastore.kubeconfig = Some(cluster::start(&dir).await?);
            }
            up.finish(&args, &exe, &progress).await
        } => result,
        () = shutdown.recv() => Err(anyhow!("interrupted")),
    };
    progress.clear();
    let datastore = up.datastore.clone();
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
            let kubectl = match &datastore.kubeconfig {
                Some(kubeconfig) if kubeconfig.starts_with(&dir) => format!(
                    "  kubectl --kubeconfig {} get caliconodestatuses.crd.projectcalico.org\n",
                    shell_quote(&kubeconfig.to_string_lossy())
                ),
                _ => String::new(),
            };
            print(&format!(
                "\nThe lab is up ({:.1} s). {context_line}\nNext:\n  {get}\n{kubectl}  {}\n  {}\n",
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
pub(super) struct Up {
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
        remove_lab_datastore(&self.dir, &self.datastore, &nodes).await?;
        cluster::stop(&self.dir)?;
        Ok(())
    }
}

/// Creates the node's resource afresh (a stale one from an earlier lab on the same datastore
/// is deleted first, so every status seen was written by this lab's agent).
pub(super) async fn recreate(store: &dyn Datastore, node: &str, period: u32) -> anyhow::Result<()> {
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
pub(super) fn status_mismatch(
    obj: Option<&CalicoNodeStatus>,
    expected: &ExpectedNode,
) -> Option<String> {
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

/// The last lines of a log file, indented.
pub(super) fn log_tail(path: &Path, lines: usize) -> String {
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

/// A spinner with the current step on standard error; drawn only when it is a terminal.
pub(super) struct Progress {
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
