//! The current context: the datastore that commands use when none is named. `lab up` makes its
//! lab's datastore the current context, the way `kind create cluster` sets kubectl's current
//! context, so that a newcomer's `nodestatus lab up && nodestatus get` shows the lab; `lab down`
//! clears it again. Datastore flags and their environment variables always win over it.
//!
//! The context is one small JSON file, `/run/nodestatus/context.json` by default
//! (`NODESTATUS_CONTEXT_FILE`): on tmpfs like the lab's namespaces, so that after a reboot
//! neither is left. A context whose lab is no longer up is ignored with a warning.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::datastore::DatastoreArgs;

/// Where the current context is kept unless `NODESTATUS_CONTEXT_FILE` names another file.
pub(crate) const DEFAULT_CONTEXT_FILE: &str = "/run/nodestatus/context.json";
/// The environment variable naming the context file (tests and side-by-side set-ups).
pub(crate) const CONTEXT_FILE_ENV: &str = "NODESTATUS_CONTEXT_FILE";

/// The datastore of a lab, recorded as the current context.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct CurrentContext {
    /// The lab that set it (its directory, absolute).
    pub(crate) lab_dir: PathBuf,
    /// The datastore the lab's agents write to.
    pub(crate) datastore: DatastoreArgs,
}

/// The context file in use.
pub(crate) fn file() -> PathBuf {
    std::env::var_os(CONTEXT_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CONTEXT_FILE), PathBuf::from)
}

/// The current context, if one is set.
pub(crate) fn read() -> anyhow::Result<Option<CurrentContext>> {
    read_from(&file())
}

fn read_from(path: &Path) -> anyhow::Result<Option<CurrentContext>> {
    match std::fs::read(path) {
        Ok(text) => serde_json::from_slice(&text)
            .map(Some)
            .with_context(|| format!("reading the current context {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading the current context {}", path.display())),
    }
}

/// Makes `context` the current one (written to a temporary file and renamed, so that a reader
/// never sees half of it).
pub(crate) fn set(context: &CurrentContext) -> anyhow::Result<PathBuf> {
    let path = file();
    set_at(&path, context)?;
    Ok(path)
}

fn set_at(path: &Path, context: &CurrentContext) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the directory of {}", path.display()))?;
    }
    let text = serde_json::to_vec_pretty(context).context("encoding the current context")?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".part");
    std::fs::write(&partial, text)
        .with_context(|| format!("writing {}", Path::new(&partial).display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}

/// The datastore a command uses: the flags when any datastore flag or its environment variable
/// was given (`named`), else the current context's when a lab set one and is still up, else the
/// flags' defaults. Says on standard error when the context decides, so that nobody wonders
/// which datastore they are reading.
pub(crate) fn datastore_for(flags: &DatastoreArgs, named: bool) -> anyhow::Result<DatastoreArgs> {
    if named {
        return Ok(flags.clone());
    }
    let Some(context) = read()? else {
        return Ok(flags.clone());
    };
    let lab_up = nodestatus_lab::status(&context.lab_dir)
        .map(|state| state.is_some())
        .unwrap_or(false);
    if !lab_up {
        eprintln!(
            "warning: ignoring the current context {}: the lab in {} is no longer up",
            file().display(),
            context.lab_dir.display()
        );
        return Ok(flags.clone());
    }
    eprintln!(
        "Using the datastore of the lab in {} ({}); datastore flags override it.",
        context.lab_dir.display(),
        context.datastore.describe()
    );
    Ok(context.datastore)
}

/// Clears the current context if the lab in `lab_dir` set it; a context another lab set stays.
/// Returns whether it was cleared.
pub(crate) fn clear_if_set_by(lab_dir: &Path) -> anyhow::Result<bool> {
    clear_at_if_set_by(&file(), lab_dir)
}

fn clear_at_if_set_by(path: &Path, lab_dir: &Path) -> anyhow::Result<bool> {
    match read_from(path) {
        Ok(Some(context)) if context.lab_dir == lab_dir => {}
        // An unreadable file is not this lab's to keep; anything else is another lab's.
        Ok(_) => return Ok(false),
        Err(_) => {}
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::DatastoreType;

    fn lab(dir: &str) -> CurrentContext {
        CurrentContext {
            lab_dir: PathBuf::from(dir),
            datastore: DatastoreArgs {
                datastore_type: DatastoreType::Sqlite,
                sqlite_path: Some(PathBuf::from(dir).join("nodestatus.db")),
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_context_round_trips_and_only_its_own_lab_clears_it() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("sub/context.json");
        assert_eq!(read_from(&path).unwrap_or_else(|e| panic!("{e}")), None);

        set_at(&path, &lab("/tmp/a")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            read_from(&path).unwrap_or_else(|e| panic!("{e}")),
            Some(lab("/tmp/a"))
        );
        assert!(!clear_at_if_set_by(&path, Path::new("/tmp/b")).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            read_from(&path).unwrap_or_else(|e| panic!("{e}")),
            Some(lab("/tmp/a"))
        );
        assert!(clear_at_if_set_by(&path, Path::new("/tmp/a")).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(read_from(&path).unwrap_or_else(|e| panic!("{e}")), None);
        assert!(!clear_at_if_set_by(&path, Path::new("/tmp/a")).unwrap_or_else(|e| panic!("{e}")));
    }

    #[test]
    fn a_damaged_context_is_an_error_naming_the_file_and_any_lab_may_clear_it() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("context.json");
        std::fs::write(&path, "{not json").unwrap_or_else(|e| panic!("{e}"));
        let err = format!("{:#}", read_from(&path).unwrap_err());
        assert!(err.starts_with(&format!("reading the current context {}", path.display())));
        assert!(clear_at_if_set_by(&path, Path::new("/tmp/a")).unwrap_or_else(|e| panic!("{e}")));
        assert!(!path.exists());
    }
}
