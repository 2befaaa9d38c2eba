//! An API server for `projectcalico.org/v3` `CalicoNodeStatus`, in front of any
//! `nodestatus_store::Datastore`, following the Kubernetes API conventions the real `kubectl`
//! relies on: discovery, OpenAPI v2/v3, get/list/watch/create/update/patch/delete, the
//! `/status` subresource, the `Table` form of `kubectl get`, and errors as `metav1.Status`.
//! Objects are read and checked with the api crate's codec and validation and stored through
//! the `Datastore` trait only, so the agent, `nodestatus` and `kubectl` see one another's writes.
//!
//! # What is kept as Kubernetes keeps it, and what is not (yet)
//! - `metadata.uid`, `creationTimestamp`, `resourceVersion`, `generation` (1 on create, one more
//!   with each spec change), `labels` and `annotations` are the datastore's; an update or patch
//!   replaces the spec, labels and annotations (`Datastore::update`), so client-side
//!   `kubectl apply` keeps its `last-applied-configuration` current.
//! - `managedFields`: each write records its manager (`fieldManager`, else the User-Agent's
//!   first word) and the fields it changed; server-side apply (`application/apply-patch+yaml`)
//!   merges by field ownership, answers 409 with one cause per conflicting field unless
//!   `force=true`, removes the fields its manager stopped applying, and creates a missing object
//!   (see `ownership.rs`). The status is not tracked. On the Kubernetes datastore the CRD
//!   object's own `managedFields` are kube-apiserver's, and none are kept for this API.
//! - Paged lists (`limit`/`continue`) page in name order over a fresh read each time.
//!
//! # Security
//! Every request but the health probes (`/healthz`, `/livez`, `/readyz`) needs a bearer token
//! from the token file when one is configured (401 otherwise), unless it comes through the
//! front proxy: with a request-header client CA (kube-apiserver's
//! `--requestheader-client-ca-file`, in a cluster the `extension-apiserver-authentication`
//! ConfigMap), a client whose TLS certificate chains to that CA, and whose common name is one
//! of the allowed names when any are given (`--requestheader-allowed-names`), is
//! kube-apiserver's aggregation layer, and a request it sends with `X-Remote-User` (and
//! `X-Remote-Group`, `X-Remote-Extra-*`) is made for that user. With an [`Authorizer`], each
//! such request is then authorized by Kubernetes with a `SubjectAccessReview` (403 if
//! refused), as aggregated API servers do. The caller (the CLI) refuses a listener beyond
//! loopback without a token file or the front proxy. TLS always: the operator's certificate or
//! a self-signed one generated once ([`tls::ServingCert::load_or_generate`]).
//!
//! # Dependencies
//! `axum` (routing, extractors, streamed watch bodies); `kube` (the client that sends
//! `SubjectAccessReview`s); `x509-parser` (the front proxy certificate's common name); `hyper-util` (serving the router on
//! TLS connections, HTTP/1.1 and HTTP/2); `tokio-rustls` (TLS with rustls and ring, and its
//! PEM parsing); `rcgen` (the self-signed certificate); `json-patch` (RFC 6902 JSON patch and
//! RFC 7396 merge patch); `k8s-openapi` (metadata types);
//! `serde_yaml_ng` (YAML bodies and server-side apply's patches); `jiff` (ages in table cells);
//! `serde_json`, `futures`, `tokio`, `tracing`, `thiserror`; the workspace's `api` (types,
//! validation, CRD schema, table columns) and `store` (the `Datastore` trait).
//!
//! # Tests
//! Unit tests for selectors and patches; `tests/http.rs` drives the router over HTTP on a
//! temporary SQLite datastore (status codes and bodies of every verb and error); the CLI's
//! `tests/kubectl.rs` drives the real `kubectl` against `nodestatus apiserver`.

mod authz;
mod discovery;
mod errors;
mod openapi;
mod ownership;
mod patch;
mod resource;
mod select;
mod table;
pub mod tls;
mod watch;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nodestatus_api::PLURAL;
use nodestatus_store::Datastore;
use serde_json::Value;

pub use crate::authz::Authorizer;
use crate::authz::{Attributes, User};
use crate::errors::ApiError;
use crate::resource::{ParamsResult, Part, Store};

/// The API group served.
pub const GROUP: &str = "projectcalico.org";
/// The version served.
pub const VERSION: &str = "v3";
/// `projectcalico.org/v3`.
pub const GROUP_VERSION: &str = "projectcalico.org/v3";

/// The largest request body accepted: the SQLite datastore's default object limit (a status
/// with 100,000 routes is about 15 MB of JSON).
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// The file in the certificate directory holding the generated token.
pub const GENERATED_TOKEN_FILE: &str = "token";

/// The bearer tokens that may call the server; none means no token is asked for.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    list: Arc<Vec<String>>,
    /// Every request passes (no token configured and nothing else to check).
    anyone: bool,
}

/// A token file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file cannot be read.
    #[error("reading the token file {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The generated token cannot be written.
    #[error("writing the token file {}: {source}", path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It holds no token.
    #[error("the token file {} holds no token", path.display())]
    Empty {
        /// The file.
        path: std::path::PathBuf,
    },
}

impl Tokens {
    /// No token asked for: every request passes.
    pub fn none() -> Self {
        Self {
            list: Arc::default(),
            anyone: true,
        }
    }

    /// No token accepted: only the front proxy gets in (see [`FrontProxy`]).
    pub fn refuse_all() -> Self {
        Self::default()
    }

    /// The tokens of a file: one per line, the text before the first comma (so that
    /// kube-apiserver's `--token-auth-file` CSV, `token,user,uid,"groups"`, works too); empty
    /// lines and `#` comments are skipped.
    pub fn from_file(path: &Path) -> Result<Self, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let tokens: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split(',').next())
            .map(|t| t.trim().trim_matches('"').to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if tokens.is_empty() {
            return Err(TokenFileError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Self {
            list: Arc::new(tokens),
            anyone: false,
        })
    }

    /// The token kept in `dir/token`, generated there (256 random bits, hex, owner-only) when
    /// there is none yet: what the server asks for when no token file is given, so that the
    /// kubeconfig it prints carries a credential (kubectl prompts for a username and password
    /// when a kubeconfig has none) and other local users cannot call it. Processes starting
    /// at once (the server and `apiserver kubeconfig`) end up with the same token.
    pub fn load_or_generate(dir: &Path) -> Result<Self, TokenFileError> {
        let path = dir.join(GENERATED_TOKEN_FILE);
        if !path.exists() {
            let write_error = |source| TokenFileError::Write {
                path: path.clone(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(write_error)?;
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| write_error(std::io::Error::other(e)))?;
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            match tls::publish(&path, &format!("{token}\n")) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(write_error(e)),
            }
        }
        Self::from_file(&path)
    }

    /// The first token (the one a printed kubeconfig carries).
    pub fn first(&self) -> Option<&str> {
        self.list.first().map(String::as_str)
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        if self.anyone {
            return true;
        }
        let given = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        given.is_some_and(|given| {
            self.list
                .iter()
                .any(|t| same(t.as_bytes(), given.as_bytes()))
        })
    }
}

/// Compares in time independent of where the first difference is (a token is a secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON answer.
pub(crate) fn json_response(code: StatusCode, value: &Value) -> Response {
    let mut response = (code, value.to_string()).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The routes, authentication and limits, over `store`.
pub fn router(store: Arc<dyn Datastore>, access: impl Into<Access>) -> Router {
    let base = format!("/apis/{GROUP_VERSION}/{PLURAL}");
    let api = Router::new()
        .route("/api", get(discovery::core))
        .route("/apis", get(discovery::groups))
        .route(&format!("/apis/{GROUP}"), get(discovery::group_doc))
        .route(&format!("/apis/{GROUP_VERSION}"), get(discovery::resources))
        .route("/version", get(discovery::version))
        .route("/openapi/v2", get(openapi_v2))
        .route(
            "/openapi/v3",
            get(|| async { json_response(StatusCode::OK, &openapi::v3_root()) }),
        )
        .route(
            &format!("/openapi/v3/{}", openapi::V3_GROUP_PATH),
            get(openapi_v3_group),
        )
        .route(&base, get(resource::list).post(resource::create))
        .route(
            &format!("{base}/{{name}}"),
            get(resource::get)
                .put(resource::update)
                .patch(patch_spec)
                .delete(resource::delete),
        )
        .route(
            &format!("{base}/{{name}}/status"),
            get(resource::get)
                .put(resource::update_status)
                .patch(patch_status),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(access.into(), authenticate))
        .with_state(store);
    // Probes answer without a token (a kubelet has none).
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .merge(api)
}

/// Marks a connection whose client certificate chains to the request-header CA: the front
/// proxy (kube-apiserver's aggregation layer), which has authenticated the user it names in
/// `X-Remote-User` before proxying the request.
#[derive(Clone, Debug)]
pub struct FrontProxy {
    /// The common name of the client certificate.
    pub common_name: Option<String>,
}

/// Whom the server lets in: bearer tokens, and the front proxy (the certificate names it may
/// have, and whom Kubernetes authorizes).
#[derive(Clone, Debug, Default)]
pub struct Access {
    tokens: Tokens,
    allowed_names: Arc<Vec<String>>,
    authorizer: Option<Arc<Authorizer>>,
}

impl From<Tokens> for Access {
    fn from(tokens: Tokens) -> Self {
        Self {
            tokens,
            ..Self::default()
        }
    }
}

impl Access {
    /// The common names the front proxy's certificate may have (kube-apiserver's
    /// `--requestheader-allowed-names`); none means any certificate the CA signed.
    pub fn with_allowed_names(mut self, names: Vec<String>) -> Self {
        self.allowed_names = Arc::new(names);
        self
    }

    /// Requests through the front proxy are authorized by Kubernetes ([`Authorizer`]).
    pub fn with_authorizer(mut self, authorizer: Authorizer) -> Self {
        self.authorizer = Some(Arc::new(authorizer));
        self
    }

    /// The user the front proxy vouches for, if the request came through it from a certificate
    /// with an allowed name.
    fn proxied_user(&self, request: &Request) -> Option<User> {
        let proxy = request.extensions().get::<FrontProxy>()?;
        let name_allowed = self.allowed_names.is_empty()
            || proxy
                .common_name
                .as_ref()
                .is_some_and(|cn| self.allowed_names.contains(cn));
        if !name_allowed {
            tracing::info!(common_name = ?proxy.common_name, "refused: the front proxy's certificate name is not allowed");
            return None;
        }
        User::from_headers(request.headers())
    }
}

async fn authenticate(State(access): State<Access>, request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    if let Some(user) = access.proxied_user(&request) {
        if let Some(authorizer) = &access.authorizer {
            let attributes = Attributes::of(&method, &path, request.uri().query());
            if let Err(refused) = authorizer.check(&user, &attributes).await {
                return refused.into_response();
            }
        }
        let response = next.run(request).await;
        tracing::debug!(%method, %path, user = %user.name, status = response.status().as_u16(), "request through the front proxy");
        return response;
    }
    if !access.tokens.allows(request.headers()) {
        tracing::info!(%method, %path, "refused: no valid bearer token");
        return ApiError::unauthorized().into_response();
    }
    let response = next.run(request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), "request");
    response
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::no_route(uri.path())
}

async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::method_not_allowed(uri.path())
}

async fn patch_spec(
    State(store): State<Store>,
    UrlPath(name): UrlPath<String>,
    params: ParamsResult,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    resource::patch(store, Part::Spec, name, params, headers, body).await
}

async fn patch_status(
    State(store): State<Store>,
    UrlPath(name): UrlPath<String>,
    params: ParamsResult,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    resource::patch(store, Part::Status, name, params, headers, body).await
}

/// OpenAPI v2 as JSON; a client that accepts only protobuf gets 406 (client-go then says the
/// document is not there, rather than failing to decode JSON as protobuf).
async fn openapi_v2(headers: HeaderMap) -> Result<Response, ApiError> {
    let accept = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    let json_ok = accept
        .split(',')
        .map(|f| f.split(';').next().unwrap_or_default().trim())
        .any(|m| matches!(m, "application/json" | "*/*" | "application/*"));
    if !json_ok {
        return Err(ApiError::not_acceptable("/openapi/v2"));
    }
    Ok(json_response(StatusCode::OK, &openapi::v2()))
}

async fn openapi_v3_group() -> Response {
    let mut response = Body::from(openapi::v3_group_json()).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}

pub use tls::{ServingCert, TlsError, serve};
