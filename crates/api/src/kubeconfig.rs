//! A kubeconfig that reaches an API server: its URL, the CA that signs its certificate (carried
//! in the file) and the bearer token when there is one. Written by `nodestatus apiserver
//! kubeconfig` and by the local control plane of the tests and the lab.

use base64::Engine;
use serde_json::json;

/// The kubeconfig as YAML; `context` names its cluster, user and context.
pub fn kubeconfig(
    context: &str,
    server: &str,
    ca_pem: &str,
    token: Option<&str>,
) -> Result<String, crate::WriteError> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut user = json!({});
    if let Some(token) = token {
        user["token"] = json!(token);
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "preferences": {},
    });
    crate::to_yaml(&config)
}
