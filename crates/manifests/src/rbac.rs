//! The agent's identity and permissions: a ServiceAccount bound to a ClusterRole that reads
//! CalicoNodeStatus objects and writes only their status.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use nodestatus_api::PLURAL;

use crate::{NAME, NAMESPACE};

/// The API group of the CRD.
const GROUP: &str = "crd.projectcalico.org";

/// The ServiceAccount, the ClusterRole and the binding between them.
pub(crate) fn objects() -> (ServiceAccount, ClusterRole, ClusterRoleBinding) {
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            namespace: Some(NAMESPACE.into()),
            labels: Some(crate::daemonset::labels()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            labels: Some(crate::daemonset::labels()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![
            // Cluster-wide because the resource is cluster-scoped; the agent selects its own
            // node's objects with a field selector, which RBAC cannot express.
            rule(PLURAL, &["get", "list", "watch"]),
            // The status subresource only: an agent can never change what an operator asked.
            rule(&format!("{PLURAL}/status"), &["update", "patch"]),
        ]),
        ..ClusterRole::default()
    };
    let binding = bind_account(
        ObjectMeta {
            name: Some(NAME.into()),
            labels: Some(crate::daemonset::labels()),
            ..ObjectMeta::default()
        },
        NAME,
        NAME,
    );
    (account, role, binding)
}

fn rule(resource: &str, verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![GROUP.into()]),
        resources: Some(vec![resource.into()]),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

/// A ClusterRoleBinding (`metadata`) of the service account `account` in the manifests'
/// namespace to the ClusterRole `role`.
pub(crate) fn bind_account(metadata: ObjectMeta, role: &str, account: &str) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata,
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: account.into(),
            namespace: Some(NAMESPACE.into()),
            ..Subject::default()
        }]),
    }
}
