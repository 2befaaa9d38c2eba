//! `nodestatus manifests`: prints the Kubernetes manifests (CRD, RBAC, agent DaemonSet) that
//! `deploy/` holds, generated from the same types, for `kubectl apply -f -`.

use anyhow::bail;

use crate::output::print;

/// Print Kubernetes manifests as YAML.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Which manifest.
    #[arg(value_enum)]
    which: Which,

    /// The image, for `daemonset`, `all` and `apiserver` (default: nodestatus:latest, not
    /// published).
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
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
    /// `nodestatus apiserver` aggregated as v3.projectcalico.org: ServiceAccount, ClusterRole
    /// and binding, Deployment, Service, APIService (not part of `all`).
    Apiserver,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let image = args
        .image
        .as_deref()
        .unwrap_or(nodestatus_manifests::DEFAULT_IMAGE);
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("--image {image:?}: an image reference has no spaces and is not empty");
    }
    print(&match args.which {
        Which::Crd | Which::Rbac if args.image.is_some() => {
            bail!(
                "--image is for the DaemonSet and the API server: use it with `daemonset`, `all` or `apiserver`"
            )
        }
        Which::Crd => nodestatus_manifests::crd(),
        Which::Rbac => nodestatus_manifests::rbac(),
        Which::Daemonset => nodestatus_manifests::daemonset_with_image(image),
        Which::All => nodestatus_manifests::all_with_image(image),
        Which::Apiserver => nodestatus_manifests::apiserver_with_image(image),
    })
}
