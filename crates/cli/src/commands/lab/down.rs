//! `lab down`: stops the lab by PID, removes its namespaces and files, what it added to the
//! datastore, its Kubernetes control plane if it started one, and the current context when the
//! lab set it.

use std::path::Path;

use anyhow::Context;

use super::store::{read_datastore_file, remove_lab_datastore};
use crate::context;
use crate::output::print;

pub(super) async fn down(dir: &Path) -> anyhow::Result<()> {
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
    let had_cluster = super::cluster::stop(&dir)?;
    context::clear_if_set_by(&dir)?;
    if was_up || had_cluster {
        print(&format!("The lab in {} is down.\n", dir.display()))
    } else {
        // Nothing to stop is not a failure: `down` must be safe to run twice.
        print(&format!("No lab was up in {}.\n", dir.display()))
    }
}
