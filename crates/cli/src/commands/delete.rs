//! `nodestatus delete NAME...`: deletes resources by name, like `kubectl delete`; the agent of
//! their node stops reporting at once.

use anyhow::bail;

use crate::datastore::DatastoreArgs;
use crate::output::print;

/// Delete resources by name.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The resources to delete.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

/// Deletes each name in turn; one that fails (not found, say) does not stop the others, and
/// makes the command fail.
pub(crate) async fn run(args: Args, datastore: &DatastoreArgs) -> anyhow::Result<()> {
    let store = datastore.open_existing().await?;
    let mut failed = 0;
    for name in &args.names {
        match store.delete(name, None).await {
            Ok(_) => print(&format!(
                "caliconodestatus.projectcalico.org/{name} deleted\n"
            ))?,
            Err(e) => {
                failed += 1;
                eprintln!("error: deleting {name}: {e}");
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} resources could not be deleted",
            args.names.len()
        );
    }
    Ok(())
}
