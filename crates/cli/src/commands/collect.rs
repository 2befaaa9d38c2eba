//! `nodestatus collect`: one collection from this node's BIRD daemons, printed as the `status`
//! the agent would write for a resource asking for `--classes` (with `lastUpdated`).

use anyhow::{Context, bail};
use nodestatus_api::CalicoNodeStatusStatus;
use nodestatus_api::NodeStatusClass;
use nodestatus_bird::{Outcome, RouteLists, collect, map_snapshot_lazy};

use crate::commands::agent::node_name;
use crate::commands::bird_args::{BirdSockets, BirdTimeout, require_a_daemon};
use crate::output::print_with;

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
    // The routes stay in BIRD's reply text and are printed from there, one at a time.
    let (mapped, routes) = map_snapshot_lazy(&snapshot, &classes);
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

    let printed = Printed {
        status: &status,
        routes: (!routes.is_empty()).then_some(&routes),
    };
    print_with(|out| match args.output {
        Format::Yaml => Ok(nodestatus_api::write_yaml(out, &printed)?),
        Format::Json => Ok(nodestatus_api::write_json(out, &printed)?),
    })
    .context("writing the status")?;
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

/// The status as printed: `status` (without `routes`, which `map_snapshot_lazy` leaves out)
/// and the routes, serialized from BIRD's reply text. Serializes as `CalicoNodeStatusStatus`
/// with its routes: the same fields in the same order, `routes` last.
#[derive(serde::Serialize)]
struct Printed<'a> {
    #[serde(flatten)]
    status: &'a CalicoNodeStatusStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    routes: Option<&'a RouteLists<'a>>,
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use nodestatus_bird::{
        Daemon, Part, Reply, RouteTable, Snapshot, Source, map_snapshot, parse_protocols,
        parse_status,
    };

    use super::*;

    /// A lab capture of BIRD 2.x/3.x (node n1) with its `show route` grown to `extra` more
    /// routes from a mesh peer, so the lists are long.
    fn snapshot(version: &str, extra: usize) -> Snapshot {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bird/tests/fixtures");
        let read = |file: &str| std::fs::read_to_string(dir.join(version).join(file)).unwrap();
        let mut routes = read("n1-bird-show_route.txt");
        let end = routes.rfind("0000").unwrap();
        let mut more = String::new();
        for i in 0..extra {
            let dst = format!("10.{}.{}.0/24", 200 + (i >> 8), i & 255);
            more += &format!(
                "1007-{dst:<18} unicast [Mesh_10_99_0_12 09:23:22] * (100/0) [i]\n1007-\tvia 10.99.0.{} on eth0\n",
                i % 200
            );
        }
        routes.insert_str(end, &more);
        let daemon = Arc::new(Daemon {
            socket: PathBuf::from("/run/test.ctl"),
            version: "2.0.12".into(),
            status: Part::Collected(
                parse_status(&Reply::from_bytes(read("n1-bird-show_status.txt")).unwrap()).unwrap(),
            ),
            protocols: Part::Collected(
                parse_protocols(
                    &Reply::from_bytes(read("n1-bird-show_protocols_all.txt")).unwrap(),
                )
                .unwrap(),
            ),
            routes: Part::Collected(RouteTable::parse(Reply::from_bytes(routes).unwrap()).unwrap()),
        });
        Snapshot {
            v4: Source::Daemon(daemon.clone()),
            v6: Source::Daemon(daemon),
        }
    }

    #[test]
    fn the_streamed_status_is_the_tree_written_one_in_json_and_yaml() {
        let classes = NodeStatusClass::ALL;
        for (version, extra) in [("bird2", 0), ("bird2", 3_000), ("bird3", 0)] {
            let snapshot = snapshot(version, extra);
            let at = Some("2027-01-15T08:01:01Z".to_owned());
            // Before: the whole status, then a JSON text, or a JSON value and a YAML text.
            let mut whole = map_snapshot(&snapshot, &classes).merge_last_good(None);
            whole.last_updated = at.clone();
            assert!(whole.routes.as_ref().unwrap().routes_v4.len() > extra);
            let json_before = serde_json::to_string_pretty(&whole).unwrap() + "\n";
            let yaml_before =
                nodestatus_api::to_yaml(&serde_json::to_value(&whole).unwrap()).unwrap();
            // Now: the routes serialized from the reply, as the command prints them.
            let (mapped, routes) = map_snapshot_lazy(&snapshot, &classes);
            let mut status = mapped.merge_last_good(None);
            status.last_updated = at;
            let printed = Printed {
                status: &status,
                routes: (!routes.is_empty()).then_some(&routes),
            };
            let mut json = Vec::new();
            nodestatus_api::write_json(&mut json, &printed).unwrap();
            assert_eq!(String::from_utf8(json).unwrap(), json_before, "{version}");
            let mut yaml = Vec::new();
            nodestatus_api::write_yaml(&mut yaml, &printed).unwrap();
            let yaml = String::from_utf8(yaml).unwrap();
            // Keys in the status's field order rather than sorted; the same document.
            let read = |text: &str| serde_saphyr::from_str::<serde_json::Value>(text).unwrap();
            assert_eq!(read(&yaml), read(&yaml_before), "{version}");
            assert_eq!(
                read(&yaml),
                serde_json::to_value(&whole).unwrap(),
                "{version}"
            );
            let typed: CalicoNodeStatusStatus = serde_saphyr::from_str(&yaml).unwrap();
            assert_eq!(typed, whole, "{version}");
        }
    }
}
