//! The lab's datastore: the global flags with the lab's own SQLite file as the default, the
//! record of the choice in `<dir>/datastore.json`, and removing what `up` added to it.

use std::path::Path;

use anyhow::Context;
use nodestatus_store::StoreError;

use super::{DATASTORE_FILE, LAB_DB, resource_name};
use crate::datastore::{DatastoreArgs, DatastoreType};
use crate::output::error_text;

/// The datastore of a lab: the global flags, except that SQLite without an explicit path is
/// the lab's own file.
pub(super) fn lab_datastore(global: &DatastoreArgs, dir: &Path) -> DatastoreArgs {
    let mut datastore = global.clone();
    if datastore.datastore_type == DatastoreType::Sqlite && datastore.sqlite_path.is_none() {
        datastore.sqlite_path = Some(dir.join(LAB_DB));
    }
    datastore
}

/// Removes what `up` added besides the lab itself: the lab's own SQLite file, or, in a
/// datastore the lab does not own, the resources it created (best effort: a datastore that
/// cannot be reached leaves them, with a warning).
pub(super) async fn remove_lab_datastore(
    dir: &Path,
    datastore: &DatastoreArgs,
    nodes: &[String],
) -> anyhow::Result<()> {
    let own_db = dir.join(LAB_DB);
    if datastore.datastore_type == DatastoreType::Sqlite
        && datastore.sqlite_path.as_deref() == Some(own_db.as_path())
    {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = own_db.clone().into_os_string();
            path.push(suffix);
            remove_file(Path::new(&path))?;
        }
    } else if !nodes.is_empty() {
        match datastore.open().await {
            Ok(store) => {
                for node in nodes {
                    let name = resource_name(node);
                    match store.delete(&name, None).await {
                        Ok(_) | Err(StoreError::NotFound { .. }) => {}
                        Err(e) => eprintln!(
                            "warning: could not delete {name} from {}: {e}",
                            datastore.describe()
                        ),
                    }
                }
            }
            Err(e) => eprintln!(
                "warning: the lab's resources stay in {}: {}",
                datastore.describe(),
                error_text(&e)
            ),
        }
    }
    remove_file(&dir.join(DATASTORE_FILE))
}

pub(super) fn remove_file(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

pub(super) fn write_datastore_file(dir: &Path, datastore: &DatastoreArgs) -> anyhow::Result<()> {
    let path = dir.join(DATASTORE_FILE);
    let text =
        serde_json::to_vec_pretty(datastore).context("encoding the lab's datastore settings")?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

pub(super) fn read_datastore_file(dir: &Path) -> anyhow::Result<Option<DatastoreArgs>> {
    let path = dir.join(DATASTORE_FILE);
    match std::fs::read(&path) {
        Ok(text) => serde_json::from_slice(&text)
            .map(Some)
            .with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
