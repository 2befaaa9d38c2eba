//! How API-server failures map onto `StoreError`: the Kubernetes `Status` (code, reason,
//! details) decides, so that callers see the same errors as with every other backend.

use kube::core::Status;
use nodestatus_api::{FieldError, ValidationErrors};
use nodestatus_store::StoreError;

/// The API server's default limit on a request body (`--max-request-bytes` is etcd's, this one
/// is fixed in the apiserver): used when a 413 does not say its limit.
const APISERVER_BODY_LIMIT: usize = 3 * 1024 * 1024;
/// etcd's default request limit (`--max-request-bytes`), behind "etcdserver: request is too large".
const ETCD_REQUEST_LIMIT: usize = 1_572_864;

/// What went wrong, as far as the store's semantics are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 404 for a named object (or its missing `/status` subresource: same answer).
    NotFound,
    /// 404 for the resource type itself: the CRD is not installed.
    NoSuchResource,
    /// 409 `AlreadyExists` on create.
    AlreadyExists,
    /// 409 `Conflict`: the resourceVersion (or a delete precondition) no longer matches.
    Conflict,
    /// 410: the watch or list revision was compacted away.
    Gone,
    /// 400 "field label not supported": the CRD has no `selectableFields` (server older than
    /// Kubernetes 1.31, or a CRD installed by someone else, such as Calico's own).
    FieldSelectorUnsupported,
    /// 422: the server rejected the object; field paths from the Status causes.
    Invalid(ValidationErrors),
    /// 413 or a storage "too large": the object does not fit; the limit, when known.
    TooLarge(usize),
    /// Transport failure, timeout, 401 (token rotation), 408, 429 or 5xx: retry with backoff.
    Unavailable,
    /// Anything else (403, other 4xx, undecodable replies): retrying will not help.
    Other,
}

/// Classifies a client error.
pub(crate) fn classify(err: &kube::Error) -> Failure {
    match err {
        kube::Error::Api(status) => classify_status(status),
        kube::Error::HyperError(_)
        | kube::Error::Service(_)
        | kube::Error::ReadEvents(_)
        | kube::Error::Auth(_) => Failure::Unavailable,
        _ => Failure::Other,
    }
}

/// Classifies a Kubernetes `Status` (an error response or a watch `ERROR` event).
pub(crate) fn classify_status(status: &Status) -> Failure {
    let message = status.message.to_ascii_lowercase();
    let too_large = message.contains("too large") || message.contains("larger than max");
    match status.code {
        404 if status.reason == "NotFound"
            && status.details.as_ref().is_some_and(|d| !d.name.is_empty()) =>
        {
            Failure::NotFound
        }
        404 => Failure::NoSuchResource,
        409 if status.reason == "AlreadyExists" => Failure::AlreadyExists,
        409 => Failure::Conflict,
        410 => Failure::Gone,
        400 if message.contains("field label not supported") => Failure::FieldSelectorUnsupported,
        422 => Failure::Invalid(causes(status)),
        413 => Failure::TooLarge(limit_in(&message).unwrap_or(APISERVER_BODY_LIMIT)),
        _ if too_large => Failure::TooLarge(limit_in(&message).unwrap_or(ETCD_REQUEST_LIMIT)),
        401 | 408 | 429 | 500..=599 => Failure::Unavailable,
        _ => Failure::Other,
    }
}

/// The field errors of a 422, one per cause; the whole message when there is no cause.
fn causes(status: &Status) -> ValidationErrors {
    let causes: Vec<FieldError> = status
        .details
        .iter()
        .flat_map(|d| d.causes.iter())
        .map(|c| FieldError {
            path: if c.field.is_empty() {
                "(root)".into()
            } else {
                c.field.clone()
            },
            message: c.message.clone(),
        })
        .collect();
    if causes.is_empty() {
        ValidationErrors(vec![FieldError {
            path: "(root)".into(),
            message: status.message.clone(),
        }])
    } else {
        ValidationErrors(causes)
    }
}

/// The number after "limit is " in a 413 message (`Request entity too large: limit is 3145728`).
fn limit_in(message: &str) -> Option<usize> {
    let rest = &message[message.find("limit is ")? + "limit is ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// What a request was about, to turn a failure into a `StoreError` with context.
pub(crate) struct Op<'a> {
    /// What was being done, e.g. `replacing the status of caliconodestatus "a"`.
    pub(crate) context: &'a str,
    /// The object's name (empty for list and watch).
    pub(crate) name: &'a str,
    /// The size of the request body, for `TooLarge`.
    pub(crate) size: usize,
}

/// The `StoreError` for a failure that the operation does not handle itself. `Conflict` is
/// normally turned into `StoreError::Conflict` by the caller, which knows the expected version;
/// here it can only be reported as it is.
pub(crate) fn to_store_error(err: kube::Error, op: &Op<'_>) -> StoreError {
    let name = op.name.to_owned();
    match classify(&err) {
        Failure::NotFound => StoreError::NotFound { name },
        Failure::AlreadyExists => StoreError::AlreadyExists { name },
        Failure::Invalid(errors) => StoreError::Invalid { name, errors },
        Failure::TooLarge(limit) => StoreError::TooLarge {
            name,
            size: op.size,
            limit,
        },
        Failure::Unavailable => StoreError::unavailable(op.context, err),
        Failure::NoSuchResource => StoreError::internal(
            format!(
                "{}: the API server does not serve caliconodestatuses.crd.projectcalico.org (is the CRD installed? `nodestatus manifests crd | kubectl apply -f -`)",
                op.context
            ),
            err,
        ),
        Failure::Other if is_forbidden(&err) => StoreError::internal(
            format!(
                "{}: forbidden (check the RBAC bindings, `nodestatus manifests rbac`)",
                op.context
            ),
            err,
        ),
        Failure::Conflict | Failure::Gone | Failure::FieldSelectorUnsupported | Failure::Other => {
            StoreError::internal(op.context, err)
        }
    }
}

fn is_forbidden(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 403)
}
