//! `nodestatus`: Calico's node status (the `CalicoNodeStatus` resource), cheap enough to leave on
//! for every node. One binary for the node agent, the operator's commands, a real-BGP lab and the
//! deploy manifests.
//!
//! Dependencies: `clap` (flags with Calico's environment variables as fallbacks), `anyhow`
//! (errors with context at the binary's edge), `tokio` (the runtime, signals), `comfy-table`
//! (kubectl-like tables), `jiff` (the time ages are counted to), `indicatif` (the lab's progress line
//! on a terminal), `serde_json` (the lab's record of its datastore), `k8s-openapi` (the metadata
//! of the resources `apply` and `lab` create), and the workspace crates: the API types, the
//! `Datastore` trait and its three backends, the BIRD client, the reporter, the lab, the
//! manifests and the API server.
//!
//! Tests: unit tests for pure parts (table rows, ages, flag round-trips); `tests/` drives the
//! built binary: apply/get/delete/watch on temporary SQLite files, the manifests against
//! `deploy/`, and `lab up`/`down` with real BIRD 1.6, 2.0, 2.17 and 3 (root needed; they fail, never skip,
//! without it).

mod commands;
mod context;
mod datastore;
mod output;
mod table;

use std::io::IsTerminal;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::datastore::DatastoreArgs;

/// Calico node status: BGP and route status from BIRD, stored as CalicoNodeStatus resources.
#[derive(Parser, Debug)]
#[command(name = "nodestatus", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    datastore: DatastoreArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the node agent: report this node's BIRD status into the resources naming it.
    Agent(commands::agent::Args),
    /// Create resources or update their spec from a file, like `kubectl apply -f`.
    Apply(commands::apply::Args),
    /// Show resources as a table, YAML or JSON; `-w` follows changes.
    Get(commands::get::Args),
    /// Delete resources by name.
    Delete(commands::delete::Args),
    /// Run a real-BGP lab on this machine: BIRD in network namespaces, one agent per node.
    Lab(commands::lab::Args),
    /// Run one collection from the local BIRD daemons and print the status the agent would write.
    Collect(commands::collect::Args),
    /// Show the local BIRD daemons' state, peers or routes as tables.
    Bird(commands::bird::Args),
    /// Print the Kubernetes manifests (CRD, RBAC, DaemonSet).
    Manifests(commands::manifests::Args),
    /// Serve projectcalico.org/v3 CalicoNodeStatus over the Kubernetes API, for kubectl.
    Apiserver(Box<commands::apiserver::Args>),
    /// Measure: `bench fleet` simulates N nodes against the datastore.
    Bench(commands::bench::Args),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only for a person: the lab's agents log to files.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let datastore_named = DatastoreArgs::named_in(&matches);
    // The agent runs on one thread: its work is one event loop, a collection and a few
    // datastore calls at a time, so worker threads would only add idle wake-ups and memory
    // (SQLite's blocking calls still run on tokio's blocking pool). Other commands (the API
    // server, the fleet bench's thousands of agents) get two workers.
    let runtime = if matches!(cli.command, Command::Agent(_)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let flags = &cli.datastore;
        // The commands that read or write resources follow the current context (a lab's
        // datastore) when no datastore is named; the lab keeps its own record of its datastore.
        let datastore = || context::datastore_for(flags, datastore_named);
        match cli.command {
            Command::Agent(args) => commands::agent::run(args, datastore()?.open().await?).await,
            Command::Apply(args) => commands::apply::run(args, &datastore()?).await,
            Command::Get(args) => commands::get::run(args, &datastore()?).await,
            Command::Delete(args) => commands::delete::run(args, &datastore()?).await,
            Command::Lab(args) => commands::lab::run(args, flags).await,
            Command::Collect(args) => commands::collect::run(args).await,
            Command::Bird(args) => commands::bird::run(args).await,
            Command::Manifests(args) => commands::manifests::run(args),
            Command::Apiserver(args) => commands::apiserver::run(*args, &datastore()?).await,
            Command::Bench(args) => commands::bench::run_bench(args, &datastore()?).await,
        }
    });
    // Watches and blocking SQLite calls may still be running; do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if output::is_closed_output(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", output::error_text(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
