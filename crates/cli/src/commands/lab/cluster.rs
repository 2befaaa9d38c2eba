//! The lab's own Kubernetes control plane: `lab up --datastore-type kubernetes` with no cluster
//! configured (no `--kubeconfig`, no `KUBECONFIG`, no `~/.kube/config`, not in a pod) starts a
//! real kube-apiserver and etcd (`nodestatus-controlplane`) in `<lab dir>/k8s`, installs the
//! CRD, and gives the lab's datastore settings its admin kubeconfig; `lab down` stops both
//! processes by PID (and start time, so a reused PID is never signalled).

use std::path::{Path, PathBuf};

use anyhow::Context;
use nodestatus_controlplane::ControlPlane;
use nodestatus_lab::ProcessId;

use crate::datastore::{DatastoreArgs, DatastoreType};

/// The control plane's directory inside the lab's.
const DIR: &str = "k8s";
/// The processes to stop at `lab down`, as JSON.
const PROCESSES_FILE: &str = "processes.json";

/// True when the lab must bring its own cluster: Kubernetes is asked for and nothing says
/// which cluster.
pub(crate) fn wanted(datastore: &DatastoreArgs) -> bool {
    let home_config = std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".kube/config"))
        .is_some_and(|path| path.exists());
    datastore.datastore_type == DatastoreType::Kubernetes
        && datastore.kubeconfig.is_none()
        && std::env::var_os("KUBECONFIG").is_none_or(|v| v.is_empty())
        && std::env::var_os("KUBERNETES_SERVICE_HOST").is_none()
        && !home_config
}

/// Starts the control plane in the lab's directory, installs the CRD, and leaves it running;
/// returns its admin kubeconfig.
pub(crate) async fn start(lab_dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = lab_dir.join(DIR);
    let plane = ControlPlane::start_in(&dir)
        .await
        .context("starting the lab's Kubernetes control plane")?;
    let processes = plane
        .pids()
        .map(|pids| [("kube-apiserver", pids.kube_apiserver), ("etcd", pids.etcd)])
        .into_iter()
        .flatten()
        .filter_map(|(name, pid)| Some((name.to_owned(), ProcessId::of(pid)?)))
        .collect::<Vec<_>>();
    let path = dir.join(PROCESSES_FILE);
    let text =
        serde_json::to_vec_pretty(&processes).context("encoding the control plane's PIDs")?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    plane
        .install_crd(&nodestatus_api::crd())
        .await
        .context("installing the CRD in the lab's control plane")?;
    let kubeconfig = plane.admin_kubeconfig();
    plane.detach();
    Ok(kubeconfig)
}

/// Stops the lab's control plane if it has one; true when there was one.
pub(crate) fn stop(lab_dir: &Path) -> anyhow::Result<bool> {
    let path = lab_dir.join(DIR).join(PROCESSES_FILE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let processes: Vec<(String, ProcessId)> =
        serde_json::from_slice(&text).with_context(|| format!("reading {}", path.display()))?;
    for (name, process) in &processes {
        process
            .stop(name)
            .with_context(|| format!("stopping the lab's {name}"))?;
    }
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    Ok(true)
}
