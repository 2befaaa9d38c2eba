//! `nodestatus bird`: a live look at this node's BIRD daemons, as tables for humans (daemon
//! status, BGP peers, routes), both address families.

use nodestatus_api::NodeStatusClass;
use nodestatus_bird::{Family, collect};

use crate::commands::bird_args::{BirdSockets, BirdTimeout, require_a_daemon};
use crate::commands::bird_tables;
use crate::output::print;

/// Show BIRD's status, BGP peers or routes as tables.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// What to show; all three when omitted.
    #[arg(value_enum)]
    view: Option<View>,

    #[command(flatten)]
    sockets: BirdSockets,

    #[command(flatten)]
    timeout: BirdTimeout,
}

/// One of the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum View {
    /// Daemon state, version, router ID and times per family.
    Status,
    /// BGP peers per family, like `calicoctl node status`.
    Peers,
    /// Routes per family, as the status reports them.
    Routes,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let views = match args.view {
        Some(v) => vec![v],
        None => vec![View::Status, View::Peers, View::Routes],
    };
    let classes: Vec<NodeStatusClass> = views
        .iter()
        .map(|v| match v {
            View::Status => NodeStatusClass::Agent,
            View::Peers => NodeStatusClass::Bgp,
            View::Routes => NodeStatusClass::Routes,
        })
        .collect();
    let snapshot = collect(
        &args.sockets.endpoints(),
        &classes,
        &args.timeout.collect_options(),
    )
    .await;
    require_a_daemon(&snapshot)?;
    let mut out = String::new();
    for view in views {
        let tables = match view {
            View::Status => vec![bird_tables::status_table(&snapshot)],
            View::Peers => Family::ALL
                .map(|f| bird_tables::peers_table(&snapshot, f))
                .to_vec(),
            View::Routes => Family::ALL
                .map(|f| bird_tables::routes_table(&snapshot, f))
                .to_vec(),
        };
        for table in tables {
            out.push_str(&table);
            out.push('\n');
        }
    }
    print(out.trim_end_matches('\n'))?;
    print("\n")
}
