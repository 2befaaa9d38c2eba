//! `nodestatus manifests`: prints the Kubernetes manifests (CRD, RBAC, agent DaemonSet) that
//! `deploy/` holds, generated from the same types, for `kubectl apply -f -`.

use crate::output::print;

/// Print Kubernetes manifests as YAML.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Which manifest.
    #[arg(value_enum)]
    which: Which,
}

/// The manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Which {
    /// The CustomResourceDefinition caliconodestatuses.crd.projectcalico.org.
    Crd,
    /// The agent's ServiceAccount, ClusterRole and ClusterRoleBinding.
    Rbac,
    /// The agent's DaemonSet.
    Daemonset,
    /// All of them, as one multi-document file.
    All,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    print(&match args.which {
        Which::Crd => nodestatus_manifests::crd(),
        Which::Rbac => nodestatus_manifests::rbac(),
        Which::Daemonset => nodestatus_manifests::daemonset(),
        Which::All => nodestatus_manifests::all(),
    })
}
