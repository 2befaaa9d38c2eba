//! `nodestatus bench fleet`: N simulated nodes (each a real agent on a synthetic BIRD, with its
//! own watch) against the configured datastore, reporting convergence time, writes, watch
//! deliveries per write and the datastore's and this process's cost (engine:
//! `nodestatus-bench`).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use nodestatus_bench::{FleetOptions, FleetReport, Progress, run};
use nodestatus_store::Datastore;

use crate::datastore::{DatastoreArgs, DatastoreType};
use crate::table::render;

/// Benchmarks of the datastore path.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(clap::Subcommand, Debug)]
enum Bench {
    /// Simulate N nodes in this process against the datastore and time a cluster-wide change.
    Fleet(FleetArgs),
}

#[derive(clap::Args, Debug)]
struct FleetArgs {
    /// Simulated nodes.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    nodes: u32,

    /// Mesh sessions per node (a full mesh is capped at this many).
    #[arg(long, default_value_t = 10)]
    peers: u32,

    /// Every resource's updatePeriodSeconds (the convergence includes up to one period).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=3600))]
    period_seconds: u32,

    /// Every node watches every object and filters on the client, as Calico's reporter does.
    #[arg(long)]
    calico_style: bool,

    /// Datastore client connections shared by the nodes (node i uses connection i mod this).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    connections: u32,

    /// The datastore's PID, for its CPU and RSS from /proc (default: from its /metrics).
    #[arg(long, value_name = "PID")]
    datastore_pid: Option<u32>,

    /// The datastore's Prometheus metrics URL (default for etcd: the first endpoint's /metrics).
    #[arg(long, value_name = "URL")]
    metrics_url: Option<String>,

    /// The longest wait for the first statuses and for the convergence, seconds.
    #[arg(long, default_value_t = 600)]
    timeout_seconds: u64,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

/// How the result is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A table.
    Table,
    /// One JSON object.
    Json,
}

pub(crate) async fn run_bench(args: Args, datastore: &DatastoreArgs) -> anyhow::Result<()> {
    let Bench::Fleet(args) = args.bench;
    let mut clients: Vec<Arc<dyn Datastore>> = Vec::new();
    for _ in 0..args.connections.min(args.nodes) {
        clients.push(datastore.open().await?);
    }
    let metrics_url = args.metrics_url.clone().or_else(|| {
        (datastore.datastore_type == DatastoreType::Etcdv3)
            .then(|| {
                datastore
                    .etcd_endpoints
                    .as_deref()?
                    .split(',')
                    .next()
                    .map(str::trim)
            })
            .flatten()
            .map(|endpoint| format!("{}/metrics", endpoint.trim_end_matches('/')))
    });
    let options = FleetOptions {
        nodes: args.nodes,
        peers: args.peers,
        period_seconds: args.period_seconds,
        calico_style: args.calico_style,
        timeout: Duration::from_secs(args.timeout_seconds),
        metrics_url,
        datastore_pid: args.datastore_pid,
    };
    let on_terminal = std::io::stderr().is_terminal();
    let progress: Progress = Box::new(move |line| {
        let mut err = std::io::stderr().lock();
        if on_terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
    });
    let report = run(clients, &options, &progress)
        .await
        .context("running the fleet")?;
    if on_terminal {
        eprintln!();
    }
    match args.output {
        Format::Json => println!("{}", serde_json::to_string(&report)?),
        Format::Table => print!("{}", table(&report)),
    }
    Ok(())
}

fn table(report: &FleetReport) -> String {
    let opt = |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    let rows = [
        ("nodes", report.nodes.to_string()),
        ("mode", report.mode.to_owned()),
        ("datastore", report.datastore.to_owned()),
        ("period (s)", report.period_seconds.to_string()),
        ("converge (s)", format!("{:.2}", report.converge_seconds)),
        ("status writes", report.status_writes.to_string()),
        ("writes/s", format!("{:.1}", report.writes_per_second)),
        (
            "deliveries/write",
            format!("{:.2}", report.deliveries_per_write),
        ),
        (
            "datastore received (bytes)",
            opt(report.datastore_received_bytes, 0),
        ),
        (
            "datastore sent (bytes)",
            opt(report.datastore_sent_bytes, 0),
        ),
        (
            "datastore sent/write (bytes)",
            opt(report.datastore_sent_bytes_per_write, 0),
        ),
        ("datastore watchers", opt(report.datastore_watchers, 0)),
        (
            "datastore CPU (% of a core)",
            opt(report.datastore_cpu_percent, 1),
        ),
        ("datastore RSS (MB)", opt(report.datastore_rss_mb, 1)),
        (
            "client CPU (% of a core)",
            format!("{:.1}", report.client_cpu_percent),
        ),
        ("client RSS (MB)", format!("{:.1}", report.client_rss_mb)),
        (
            "client CPU per node (%)",
            format!("{:.4}", report.client_cpu_percent_per_node),
        ),
        (
            "client RSS per node (KB)",
            format!("{:.0}", report.client_rss_kb_per_node),
        ),
    ];
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(name, value)| vec![name.to_owned(), value])
        .collect();
    render(&["FIGURE", "VALUE"], &rows)
}
