//! The CRD manifest `caliconodestatuses.crd.projectcalico.org`, generated from the types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::types::CalicoNodeStatus;

/// The CRD: cluster-scoped, with the status subresource, `.spec.node` as a selectable field and
/// a schema carrying the enums, the period's bounds and the required fields.
pub fn crd() -> CustomResourceDefinition {
    CalicoNodeStatus::crd()
}

/// The CRD as YAML, as checked in under `deploy/`.
pub fn crd_yaml() -> Result<String, crate::WriteError> {
    let value = serde_json::to_value(crd())?;
    crate::to_yaml(&value)
}
