//! The Kubernetes manifests of nodestatus, as YAML: the CRD `caliconodestatuses.crd.projectcalico.org`,
//! the agent's least-privilege RBAC and its DaemonSet, and `nodestatus apiserver` aggregated as
//! `v3.projectcalico.org` (`deploy/apiserver.yaml`). They are built from typed `k8s-openapi`
//! structs (the CRD from the `CalicoNodeStatus` types in `nodestatus-api`), never from text
//! templates, and checked in as `deploy/crd.yaml`, `deploy/rbac.yaml` and `deploy/daemonset.yaml`.
//! `nodestatus manifests crd|rbac|daemonset|all` prints them.
//!
//! Choices (the reasons are next to each in the code):
//! - Namespace `kube-system`: it exists in every cluster (`calico-system` only where the Tigera
//!   operator installed Calico) and, like Calico's own node pods there, the agent needs a
//!   namespace whose Pod Security level allows hostPath volumes (`privileged`).
//! - The agent reaches BIRD through its Unix control sockets in the host's `/var/run/calico`,
//!   so it needs that directory, not the host network: the pod has its own network namespace
//!   and its HTTP port (9094: `/metrics`, `/healthz`, `/readyz`) is not opened on the node.
//! - RBAC: `get`/`list`/`watch` on `caliconodestatuses` and `update`/`patch` on
//!   `caliconodestatuses/status`, nothing else: the agent can never change a spec. This fits
//!   our CRD; with Calico's own CRD (no status subresource) the agent writes status with a full
//!   update, which also needs `update` on `caliconodestatuses`.
//! - The agent runs as user 65534, group 0, no capabilities, read-only root filesystem and a
//!   read-only mount of `/var/run/calico`: BIRD's sockets are `root:root` mode 0660, and
//!   `connect()` needs write permission on the socket inode, which a read-only mount keeps
//!   (checked with BIRD 1.6.8 and `birdc` through a read-only bind mount, as uid 65534/gid 0
//!   without capabilities).
//!
//! Dependencies: `k8s-openapi` (typed RBAC, apps/v1 and core/v1 objects), `nodestatus-api`
//! (the CRD), `serde_yaml_ng` (YAML output; the maintained successor of `serde_yaml`),
//! `serde` for the generic serialiser.
//!
//! Tested by: the checked-in files equal the functions' output byte for byte
//! (`NODESTATUS_UPDATE_DEPLOY=1 cargo test -p nodestatus-manifests` rewrites them); the CRD's
//! `openAPIV3Schema`, read back from the YAML, run through the `jsonschema` crate on the seed's
//! example and on invalid objects; the RBAC rules compared whole; the DaemonSet's wiring
//! (downward-API node name, datastore, sockets, probes on the listening port, security context).

mod apiserver;
mod daemonset;
mod rbac;

use serde::Serialize;

/// The namespace of the agent's ServiceAccount and DaemonSet.
const NAMESPACE: &str = "kube-system";
/// The name of the ServiceAccount, ClusterRole, ClusterRoleBinding and DaemonSet.
const NAME: &str = "nodestatus";

/// The CustomResourceDefinition `caliconodestatuses.crd.projectcalico.org`.
pub fn crd() -> String {
    format!(
        "# The CalicoNodeStatus resource: cluster-scoped, status subresource, `.spec.node` selectable\n\
         # (Kubernetes 1.31+; on 1.30 only with the CustomResourceFieldSelectors gate). Older servers\n\
         # do not know `selectableFields`: apply with `kubectl apply --validate=false` there, and the\n\
         # agent filters by node itself.\n\
         {GENERATED}{}",
        nodestatus_api::crd_yaml()
            .unwrap_or_else(|e| panic!("the typed CRD failed to serialise: {e}"))
    )
}

/// The agent's ServiceAccount, ClusterRole and ClusterRoleBinding.
pub fn rbac() -> String {
    let (account, role, binding) = rbac::objects();
    format!(
        "# Least privilege for the nodestatus agent: read CalicoNodeStatus objects, write their status only.\n\
         {GENERATED}{}---\n{}---\n{}",
        to_yaml(&account),
        to_yaml(&role),
        to_yaml(&binding)
    )
}

/// The image the checked-in DaemonSet names. It is not published: an operator builds an image
/// with the `nodestatus` binary on its PATH and names it with [`daemonset_with_image`]
/// (`nodestatus manifests daemonset --image ...`).
pub const DEFAULT_IMAGE: &str = "nodestatus:latest";

/// The agent's DaemonSet (one pod per node, every node), with [`DEFAULT_IMAGE`].
pub fn daemonset() -> String {
    daemonset_with_image(DEFAULT_IMAGE)
}

/// The agent's DaemonSet running `image`.
pub fn daemonset_with_image(image: &str) -> String {
    let header = if image == DEFAULT_IMAGE {
        "# The nodestatus agent on every node. The image `nodestatus:latest` is not published: build an\n\
         # image with the `nodestatus` binary on its PATH, push it where the nodes can pull it, and set\n\
         # `image:` below to it (`nodestatus manifests daemonset --image ...` does).\n"
    } else {
        "# The nodestatus agent on every node.\n"
    };
    format!("{header}{GENERATED}{}", to_yaml(&daemonset::object(image)))
}

/// `nodestatus apiserver` in the cluster as Calico's API server runs (ServiceAccount,
/// ClusterRole and binding, the binding to `system:auth-delegator`, Deployment, Service, and the `APIService` `v3.projectcalico.org`),
/// with [`DEFAULT_IMAGE`].
pub fn apiserver() -> String {
    apiserver_with_image(DEFAULT_IMAGE)
}

/// [`apiserver`] running `image`.
pub fn apiserver_with_image(image: &str) -> String {
    let o = apiserver::objects(image);
    format!(
        "# `nodestatus apiserver` behind kube-apiserver's aggregation layer, serving projectcalico.org/v3\n\
         # CalicoNodeStatus from the CRD (needs crd.yaml). Not with Calico's own API server in the same\n\
         # cluster: both register v3.projectcalico.org. Set `image:` as for the DaemonSet.\n\
         {GENERATED}{}---\n{}---\n{}---\n{}---\n{}---\n{}---\n{}",
        to_yaml(&o.account),
        to_yaml(&o.role),
        to_yaml(&o.binding),
        to_yaml(&o.auth_delegator),
        to_yaml(&o.deployment),
        to_yaml(&o.service),
        to_yaml(&o.api_service),
    )
}

/// The CRD, the RBAC and the DaemonSet as one multi-document YAML file, in that order.
pub fn all() -> String {
    all_with_image(DEFAULT_IMAGE)
}

/// [`all`] with the DaemonSet running `image`.
pub fn all_with_image(image: &str) -> String {
    format!(
        "{}---\n{}---\n{}",
        crd(),
        rbac(),
        daemonset_with_image(image)
    )
}

const GENERATED: &str =
    "# Generated by `nodestatus manifests` (crates/manifests): edit the code, not this file.\n";

/// A typed object as YAML. Typed Kubernetes objects always serialise: a failure is a bug.
fn to_yaml(value: &impl Serialize) -> String {
    serde_yaml_ng::to_string(value)
        .unwrap_or_else(|e| panic!("a typed Kubernetes object failed to serialise: {e}"))
}
