//! `lab status`: the lab's header line and one row per node, with the status cells `get` shows.

use std::path::Path;

use anyhow::{Context, bail};
use jiff::Timestamp;
use nodestatus_api::{CalicoNodeStatus, columns};
use nodestatus_lab::{LabState, Node};
use nodestatus_store::{Datastore, NodeFilter};

use super::resource_name;
use super::store::{lab_datastore, read_datastore_file};
use crate::datastore::DatastoreArgs;
use crate::output::print;
use crate::table;

pub(super) async fn status(dir: &Path, global: &DatastoreArgs) -> anyhow::Result<()> {
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
pub(super) async fn summary(
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

pub(super) fn node_row(node: &Node, obj: Option<&CalicoNodeStatus>, now: Timestamp) -> Vec<String> {
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
pub(super) fn flag_value<'a>(command: &'a [String], flag: &str) -> Option<&'a str> {
    command
        .iter()
        .skip_while(|a| *a != flag)
        .nth(1)
        .map(String::as_str)
}
