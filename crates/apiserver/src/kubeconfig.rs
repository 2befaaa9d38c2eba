//! A kubeconfig that reaches the server: its URL, the CA that signs its certificate (carried
//! in the file) and the bearer token when there is one.

use base64::Engine;
use serde_json::json;

/// The name of the cluster, user and context in the kubeconfig.
pub const CONTEXT: &str = "nodestatus";

/// The kubeconfig as YAML.
pub fn kubeconfig(
    server: &str,
    ca_pem: &str,
    token: Option<&str>,
) -> Result<String, nodestatus_api::WriteError> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut user = json!({});
    if let Some(token) = token {
        user["token"] = json!(token);
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": CONTEXT, "user": user}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
        "current-context": CONTEXT,
        "preferences": {},
    });
    nodestatus_api::to_yaml(&config)
}
