//! `nodestatus collect`: one collection from this node's BIRD daemons, printed as the `status`
//! the agent would write for a resource asking for `--classes` (with `lastUpdated`).

use anyhow::{Context, bail};
use nodestatus_api::NodeStatusClass;
use nodestatus_bird::{Outcome, collect, map_snapshot};

use crate::commands::agent::node_name;
use crate::commands::bird_args::{BirdSockets, BirdTimeout, require_a_daemon};
use crate::output::print;

/// Collect status from BIRD once and print it.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The node the status is for (Calico's NODENAME); default: the host name in lowercase,
    /// as the agent's.
    #[arg(long, env = "NODENAME", value_name = "NAME")]
    node: Option<String>,

    /// Classes to collect, comma-separated: Agent, BGP, Routes.
    #[arg(long, value_delimiter = ',', default_value = "Agent,BGP,Routes")]
    classes: Vec<NodeStatusClass>,

    #[command(flatten)]
    sockets: BirdSockets,

    #[command(flatten)]
    timeout: BirdTimeout,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
    output: Format,
}

/// How the status is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let node = node_name(args.node.clone())?;
    let mut classes = args.classes.clone();
    classes.sort();
    classes.dedup();
    let snapshot = collect(
        &args.sockets.endpoints(),
        &classes,
        &args.timeout.collect_options(),
    )
    .await;
    require_a_daemon(&snapshot)?;
    let mapped = map_snapshot(&snapshot, &classes);
    let mut status = mapped.merge_last_good(None);
    status.last_updated = Some(nodestatus_api::last_updated_at(jiff::Timestamp::now()));

    for family in snapshot.families_once_per_daemon() {
        let nodestatus_bird::Source::Daemon(d) = snapshot.source(family) else {
            continue;
        };
        for (command, unrecognised) in d.unrecognised() {
            eprintln!(
                "warning: node {}: BIRD at {}, `{command}`: {unrecognised}",
                node,
                d.socket.display()
            );
        }
    }

    let mut failures = Vec::new();
    let mut warned = Vec::new();
    for (class, family, outcome) in mapped.outcomes.iter() {
        match outcome {
            Outcome::Unreachable(why) if !warned.contains(&family) => {
                eprintln!(
                    "warning: node {}: {family} BIRD unreachable ({why}); {family} is NotReady",
                    node
                );
                warned.push(family);
            }
            Outcome::Failed(why) => failures.push(format!("{class} {family}: {why}")),
            _ => {}
        }
    }

    print(&match args.output {
        Format::Yaml => nodestatus_api::to_yaml(
            &serde_json::to_value(&status).context("writing the status as YAML")?,
        )?,
        Format::Json => {
            serde_json::to_string_pretty(&status).context("writing the status as JSON")? + "\n"
        }
    })?;
    failures.dedup();
    if !failures.is_empty() {
        bail!(
            "node {}: incomplete status:\n  {}",
            node,
            failures.join("\n  ")
        );
    }
    Ok(())
}
