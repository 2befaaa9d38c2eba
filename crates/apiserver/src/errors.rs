//! Errors as Kubernetes reports them: a `metav1.Status` body with the HTTP code, a reason
//! kubectl understands (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, ...) and, for an
//! invalid object, one cause per invalid field path.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nodestatus_api::{KIND, PLURAL, ValidationErrors};
use nodestatus_store::StoreError;
use serde_json::{Value, json};

use crate::GROUP;

/// A failed request, answered as a `Status`.
#[derive(Debug)]
pub(crate) struct ApiError {
    code: StatusCode,
    reason: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, name: &str, causes: Option<Vec<Value>>) -> Self {
        let mut details = json!({"name": name, "group": GROUP, "kind": PLURAL});
        if let Some(causes) = causes {
            details["kind"] = json!(KIND);
            details["causes"] = Value::Array(causes);
        }
        self.details = Some(details);
        self
    }

    /// True for a 409 Conflict of a write that lost a race (worth retrying when no
    /// precondition was given); not for an apply's field conflicts.
    pub(crate) fn is_conflict(&self) -> bool {
        self.reason == "Conflict"
            && self
                .details
                .as_ref()
                .is_none_or(|d| d.get("causes").is_none())
    }

    /// 400: the request itself is malformed.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 401: no valid bearer token.
    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
    }

    /// 403: the user may not do this.
    pub(crate) fn forbidden(message: String) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    /// 404 for a path this server does not serve.
    pub(crate) fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 404 for a missing object.
    pub(crate) fn not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{PLURAL}.{GROUP} {name:?} not found"),
        )
        .with_details(name, None)
    }

    /// 405 for a verb the resource does not support.
    pub(crate) fn method_not_allowed(what: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({what})"),
        )
    }

    /// 406 when the client accepts none of the forms this server writes.
    pub(crate) fn not_acceptable(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            format!("only application/json is served for {what}"),
        )
    }

    /// 409 when the object's resourceVersion is not the one the client gave.
    pub(crate) fn conflict(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {PLURAL}.{GROUP} {name:?}: the object has been \
                 modified; please apply your changes to the latest version and try again"
            ),
        )
        .with_details(name, None)
    }

    /// 409 for a server-side apply that would change fields other managers own: one cause per
    /// (field, manager). Not a lost race, so never retried.
    pub(crate) fn apply_conflict(message: String, causes: Vec<Value>) -> Self {
        let mut error = Self::new(StatusCode::CONFLICT, "Conflict", message);
        error.details = Some(json!({"causes": causes}));
        error
    }

    /// 410 for a watch from a version the datastore no longer has the history of.
    pub(crate) fn expired(version: &str) -> Self {
        Self::new(
            StatusCode::GONE,
            "Expired",
            format!("too old resource version: {version}"),
        )
    }

    /// 415 for a body or patch type this server does not read.
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format: {content_type:?}"),
        )
    }

    /// 422 with one cause per invalid field.
    pub(crate) fn invalid(name: &str, errors: &ValidationErrors) -> Self {
        let causes: Vec<Value> = errors
            .errors()
            .iter()
            .map(|e| json!({"reason": "FieldValueInvalid", "message": e.message, "field": e.path}))
            .collect();
        let listed: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
        let listed = match listed.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{KIND}.{GROUP} {name:?} is invalid: {listed}"),
        )
        .with_details(name, Some(causes))
    }

    /// 422 for a patch that cannot be applied (a failed JSON-patch `test`, a missing path).
    pub(crate) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
    }

    /// 500 for what should not happen.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    /// The `Status` object, also sent as the object of a watch's ERROR event.
    pub(crate) fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match &err {
            StoreError::NotFound { name } => Self::not_found(name),
            StoreError::AlreadyExists { name } => Self::new(
                StatusCode::CONFLICT,
                "AlreadyExists",
                format!("{PLURAL}.{GROUP} {name:?} already exists"),
            )
            .with_details(name, None),
            StoreError::Conflict { name, .. } => Self::conflict(name),
            StoreError::Invalid { name, errors } => Self::invalid(name, errors),
            StoreError::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                err.to_string(),
            ),
            StoreError::Unavailable { .. } => {
                tracing::warn!(error = %err, "datastore unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    err.to_string(),
                )
            }
            StoreError::Internal { .. } => {
                tracing::error!(error = %err, "datastore error");
                Self::internal(err.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::json_response(self.code, &self.status())
    }
}
