//! The handlers of `caliconodestatuses` and its `/status` subresource: get, list, create,
//! update, patch and delete on the `Datastore`, with Kubernetes' request and answer forms.
//!
//! What the datastore keeps decides what an update can change: the spec, labels and
//! annotations (through `Datastore::update`, compare-and-swap on `metadata.resourceVersion`)
//! and the status (through `write_status`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nodestatus_api::{ApiVersion, CalicoNodeStatus, KIND, V3_API_VERSION, decode, to_value};
use nodestatus_store::{Change, Datastore, StoreError, retry};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::ownership::Ownership;
use crate::patch::PatchType;
use crate::select::Selection;
use crate::{json_response, table, watch};

/// How many times a write without a resourceVersion precondition (a patch, an unconditional
/// update) is retried when another writer got in between reading and writing.
const ATTEMPTS: usize = 5;

/// The query parameters the handlers read. Unknown ones are ignored, as Kubernetes does.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Params {
    watch: Option<String>,
    resource_version: Option<String>,
    limit: Option<usize>,
    #[serde(rename = "continue")]
    continue_token: Option<String>,
    field_selector: Option<String>,
    label_selector: Option<String>,
    allow_watch_bookmarks: Option<String>,
    timeout_seconds: Option<u64>,
    dry_run: Option<String>,
    field_validation: Option<String>,
    field_manager: Option<String>,
    force: Option<String>,
}

fn flag(value: &Option<String>) -> bool {
    matches!(value.as_deref(), Some("true" | "1"))
}

impl Params {
    fn dry_run(&self) -> bool {
        self.dry_run.as_deref() == Some("All")
    }

    fn strict(&self) -> bool {
        self.field_validation.as_deref() == Some("Strict")
    }

    /// Who writes, for `managedFields`: `fieldManager`, else the client's User-Agent up to its
    /// first `/` (`kubectl/v1.32.0 (linux/amd64) ...` is `kubectl`), as Kubernetes names them.
    fn manager(&self, headers: &HeaderMap) -> String {
        if let Some(manager) = self.field_manager.as_deref().filter(|m| !m.is_empty()) {
            return manager.to_owned();
        }
        headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|agent| agent.split('/').next())
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or("unknown")
            .to_owned()
    }
}

/// Records in `new` what `manager` changed from `old` (none for a create).
fn record_update(
    manager: &str,
    old: Option<&CalicoNodeStatus>,
    new: &mut CalicoNodeStatus,
) -> Result<(), ApiError> {
    let (old_value, mut ownership) = match old {
        Some(old) => (
            wire(old)?,
            Ownership::of(old.metadata.managed_fields.as_deref()),
        ),
        None => (Value::Null, Ownership::default()),
    };
    ownership.updated(manager, &old_value, &wire(new)?);
    new.metadata.managed_fields = Some(ownership.entries());
    Ok(())
}

/// The shared state of every handler.
pub(crate) type Store = Arc<dyn Datastore>;

/// Query parameters, or a 400 naming what cannot be read.
pub(crate) type ParamsResult = Result<Query<Params>, axum::extract::rejection::QueryRejection>;

fn params(result: ParamsResult) -> Result<Params, ApiError> {
    result
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// The object as served: `projectcalico.org/v3`.
pub(crate) fn wire(obj: &CalicoNodeStatus) -> Result<Value, ApiError> {
    to_value(obj, ApiVersion::V3).map_err(|e| ApiError::internal(e.to_string()))
}

fn object_response(code: StatusCode, obj: &CalicoNodeStatus, headers: &HeaderMap) -> Response {
    if table::wanted(headers) {
        let rv = obj.metadata.resource_version.as_deref();
        return json_response(
            code,
            &table::table(std::slice::from_ref(obj), rv, None, true),
        );
    }
    match wire(obj) {
        Ok(value) => json_response(code, &value),
        Err(e) => e.into_response(),
    }
}

/// Reads a request body (JSON, or YAML when the Content-Type says so).
fn read_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    let parsed = match mime {
        "application/json" => serde_json::from_slice::<Value>(body).map_err(|e| e.to_string()),
        "application/yaml" => serde_yaml_ng::from_slice::<Value>(body).map_err(|e| e.to_string()),
        _ => return Err(ApiError::unsupported_media_type(content_type)),
    };
    parsed.map_err(|e| ApiError::bad_request(format!("the request body cannot be read: {e}")))
}

/// Checks and types an object a client sent: the apiVersion of this endpoint (400), with
/// `fieldValidation=Strict` no unknown top-level field (400), then the api crate's validation
/// (422 with every invalid field).
fn decode_object(value: Value, strict: bool) -> Result<CalicoNodeStatus, ApiError> {
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match value.get("apiVersion").and_then(Value::as_str) {
        Some(V3_API_VERSION) | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({other}) does not match the expected API version ({V3_API_VERSION})"
            )));
        }
    }
    if strict && let Some(map) = value.as_object() {
        let unknown: Vec<&String> = map
            .keys()
            .filter(|k| {
                !matches!(
                    k.as_str(),
                    "apiVersion" | "kind" | "metadata" | "spec" | "status"
                )
            })
            .collect();
        if !unknown.is_empty() {
            let listed: Vec<String> = unknown
                .iter()
                .map(|k| format!("unknown field {k:?}"))
                .collect();
            return Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                listed.join(", ")
            )));
        }
    }
    let mut value = value;
    if let Some(map) = value.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| json!(V3_API_VERSION));
        map.entry("kind").or_insert_with(|| json!(KIND));
    }
    decode(value)
        .map(|doc| doc.object)
        .map_err(|(_, errors)| ApiError::invalid(&name, &errors))
}

/// `GET .../caliconodestatuses`: a list, a table, or with `watch=true` a watch.
pub(crate) async fn list(
    State(store): State<Store>,
    query: ParamsResult,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = params(query)?;
    let selection = Selection::parse(
        params.field_selector.as_deref(),
        params.label_selector.as_deref(),
    )?;
    let as_table = table::wanted(&headers);
    if flag(&params.watch) {
        return watch::serve(
            store,
            watch::Options {
                selection,
                resource_version: params.resource_version.clone(),
                bookmarks: flag(&params.allow_watch_bookmarks),
                timeout: params.timeout_seconds.map(std::time::Duration::from_secs),
                as_table,
            },
        )
        .await;
    }
    let listing = store.list(&selection.node_filter()).await?;
    // Pages follow the name order the datastore lists in; the continue token is the last name
    // of the page (names are URL-safe). Each page is read afresh: unlike etcd-backed
    // Kubernetes, later pages are not a snapshot at the first page's revision.
    let after = params.continue_token.as_deref().unwrap_or_default();
    let mut items: Vec<CalicoNodeStatus> = listing
        .items
        .into_iter()
        .filter(|o| selection.matches(o))
        .filter(|o| o.metadata.name.as_deref().unwrap_or_default() > after)
        .collect();
    let mut next = None;
    if let Some(limit) = params.limit.filter(|l| *l > 0)
        && items.len() > limit
    {
        items.truncate(limit);
        next = items.last().and_then(|o| o.metadata.name.clone());
    }
    if as_table {
        let table = table::table(&items, Some(&listing.revision), next.as_deref(), true);
        return Ok(json_response(StatusCode::OK, &table));
    }
    let mut metadata = serde_json::Map::new();
    metadata.insert("resourceVersion".into(), json!(listing.revision));
    if let Some(token) = next {
        metadata.insert("continue".into(), json!(token));
    }
    let list = json!({
        "apiVersion": V3_API_VERSION,
        "kind": format!("{KIND}List"),
        "metadata": metadata,
        "items": items.iter().map(wire).collect::<Result<Vec<_>, _>>()?,
    });
    Ok(json_response(StatusCode::OK, &list))
}

/// `GET .../caliconodestatuses/{name}` (and its `/status`).
pub(crate) async fn get(
    State(store): State<Store>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let obj = store.get(&name).await?;
    Ok(object_response(StatusCode::OK, &obj, &headers))
}

/// `POST .../caliconodestatuses`.
pub(crate) async fn create(
    State(store): State<Store>,
    query: ParamsResult,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = params(query)?;
    let mut obj = decode_object(read_body(&headers, &body)?, params.strict())?;
    // The status is the subresource's to write, as with a CRD that has one.
    obj.status = None;
    record_update(&params.manager(&headers), None, &mut obj)?;
    if params.dry_run() {
        StoreError::check_valid(&obj)?;
        return Ok(object_response(StatusCode::CREATED, &obj, &headers));
    }
    let created = store.create(&obj).await?;
    Ok(object_response(StatusCode::CREATED, &created, &headers))
}

/// The object's resourceVersion, when the client gave one (a precondition).
fn version_of(obj: &CalicoNodeStatus) -> Option<String> {
    obj.metadata
        .resource_version
        .clone()
        .filter(|v| !v.is_empty())
}

fn check_name(url: &str, obj: &CalicoNodeStatus) -> Result<(), ApiError> {
    match obj.metadata.name.as_deref() {
        Some(name) if name == url => Ok(()),
        other => Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({url})",
            other.unwrap_or_default()
        ))),
    }
}

/// The version a write compares with: the client's precondition, else the version just read.
fn expected_or_current(expected: Option<&str>, current: &CalicoNodeStatus) -> String {
    expected
        .or(current.metadata.resource_version.as_deref())
        .unwrap_or_default()
        .to_owned()
}

/// `PUT .../caliconodestatuses/{name}`: replaces the spec, labels and annotations (the status
/// is the subresource's);
/// with `metadata.resourceVersion` only if the object is still at it (409 if not).
pub(crate) async fn update(
    State(store): State<Store>,
    Path(name): Path<String>,
    query: ParamsResult,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = params(query)?;
    let obj = decode_object(read_body(&headers, &body)?, params.strict())?;
    check_name(&name, &obj)?;
    let manager = params.manager(&headers);
    let expected = version_of(&obj);
    let (store, name, obj, manager, expected) = (&store, &name, &obj, &manager, &expected);
    let dry_run = params.dry_run();
    let updated = retry::on_conflict(
        ATTEMPTS,
        expected.is_none(),
        ApiError::is_conflict,
        || async move {
            let current = store.get(name).await?;
            let mut new = obj.clone();
            record_update(manager, Some(&current), &mut new)?;
            if dry_run {
                let mut current = current;
                Change::SpecAndLabels(&new).apply(&mut current);
                return Ok(current);
            }
            let version = expected_or_current(expected.as_deref(), &current);
            Ok(store.update(&new, Some(&version)).await?)
        },
    )
    .await?;
    Ok(object_response(StatusCode::OK, &updated, &headers))
}

/// `PUT .../caliconodestatuses/{name}/status`: replaces the status, compare-and-swap on the
/// given resourceVersion, or on the current one when none is given.
pub(crate) async fn update_status(
    State(store): State<Store>,
    Path(name): Path<String>,
    query: ParamsResult,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = params(query)?;
    let obj = decode_object(read_body(&headers, &body)?, params.strict())?;
    check_name(&name, &obj)?;
    let expected = version_of(&obj);
    let dry_run = params.dry_run();
    let (store, name, obj, expected) = (&store, &name, &obj, &expected);
    let written = retry::on_conflict(
        ATTEMPTS,
        expected.is_none(),
        ApiError::is_conflict,
        || async move {
            let current = store.get(name).await?;
            let version = expected_or_current(expected.as_deref(), &current);
            write_status(store, current, obj.status.clone(), &version, dry_run).await
        },
    )
    .await?;
    Ok(object_response(StatusCode::OK, &written, &headers))
}

/// Writes `status` over `current` (at `version`), returning the object as stored.
async fn write_status(
    store: &Store,
    mut current: CalicoNodeStatus,
    status: Option<nodestatus_api::CalicoNodeStatusStatus>,
    version: &str,
    dry_run: bool,
) -> Result<CalicoNodeStatus, ApiError> {
    let name = current.metadata.name.clone().unwrap_or_default();
    let status = status.unwrap_or_default();
    if !dry_run {
        let revision = store.write_status(&name, &status, version).await?;
        current.metadata.resource_version = Some(revision);
    }
    current.status = Some(status);
    Ok(current)
}

/// Which part of the object a handler writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Spec,
    Status,
}

/// `PATCH .../caliconodestatuses/{name}` and `/status`: the patch is applied to the object as
/// served, the result validated like a sent object and written (the spec, or the status).
/// Retried on a concurrent write unless the patch itself sets a resourceVersion. Server-side
/// apply (which needs `fieldManager`, and takes fields from other managers only with `force`)
/// merges by field ownership ([`Ownership::apply`]) and creates the object when it does not
/// exist; other writes record what their manager changed.
pub(crate) async fn patch(
    store: Store,
    part: Part,
    name: String,
    query: ParamsResult,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = params(query)?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let kind = PatchType::from_content_type(content_type)?;
    let patch = kind.read(&body)?;
    let manager = params.manager(&headers);
    let apply = kind == PatchType::Apply && part == Part::Spec;
    if apply && params.field_manager.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::unprocessable(
            "fieldManager: Required value: is required for apply requests",
        ));
    }
    let force = flag(&params.force);
    if force && !apply {
        return Err(ApiError::unprocessable(
            "force: Forbidden: may not be specified for non-apply patch",
        ));
    }
    for _ in 0..ATTEMPTS {
        let current = match store.get(&name).await {
            Ok(obj) => obj,
            Err(StoreError::NotFound { .. }) if apply => {
                let mut ownership = Ownership::default();
                let value = ownership.apply(&manager, &Value::Null, &patch, force)?;
                let mut obj = decode_object(value, params.strict())?;
                check_name(&name, &obj)?;
                obj.status = None;
                obj.metadata.managed_fields = Some(ownership.entries());
                if params.dry_run() {
                    return Ok(object_response(StatusCode::CREATED, &obj, &headers));
                }
                let created = store.create(&obj).await?;
                return Ok(object_response(StatusCode::CREATED, &created, &headers));
            }
            Err(e) => return Err(e.into()),
        };
        let current_version = current
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        let served = wire(&current)?;
        let mut patched = if apply {
            let mut ownership = Ownership::of(current.metadata.managed_fields.as_deref());
            let value = ownership.apply(&manager, &served, &patch, force)?;
            let mut patched = decode_object(value, params.strict())?;
            patched.metadata.managed_fields = Some(ownership.entries());
            patched
        } else {
            let mut value = served;
            kind.apply(&mut value, &patch)?;
            decode_object(value, params.strict())?
        };
        check_name(&name, &patched)?;
        if part == Part::Spec && !apply {
            record_update(&manager, Some(&current), &mut patched)?;
        }
        let precondition = version_of(&patched).filter(|v| *v != current_version);
        let expected = precondition.clone().unwrap_or(current_version);
        let result = match part {
            Part::Spec if params.dry_run() => {
                let mut current = current;
                Change::SpecAndLabels(&patched).apply(&mut current);
                Ok(current)
            }
            Part::Spec if !Change::SpecAndLabels(&patched).changes(&current) => Ok(current),
            Part::Spec => store
                .update(&patched, Some(&expected))
                .await
                .map_err(ApiError::from),
            Part::Status => {
                write_status(&store, current, patched.status, &expected, params.dry_run()).await
            }
        };
        match result {
            Ok(obj) => return Ok(object_response(StatusCode::OK, &obj, &headers)),
            Err(e) if precondition.is_none() && e.is_conflict() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(&name))
}

/// The body of a `DELETE`: `DeleteOptions`, of which the preconditions are read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteOptions {
    #[serde(default)]
    preconditions: Option<Preconditions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Preconditions {
    resource_version: Option<String>,
    uid: Option<String>,
}

/// `DELETE .../caliconodestatuses/{name}`: answers with the object's last state, as
/// Kubernetes does for custom resources.
pub(crate) async fn delete(
    State(store): State<Store>,
    Path(name): Path<String>,
    query: ParamsResult,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = params(query)?;
    let options: DeleteOptions = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the DeleteOptions cannot be read: {e}")))?
    };
    let preconditions = options.preconditions.unwrap_or_default();
    if let Some(uid) = &preconditions.uid {
        let current = store.get(&name).await?;
        if current.metadata.uid.as_ref() != Some(uid) {
            return Err(ApiError::conflict(&name));
        }
    }
    if params.dry_run() {
        let current = store.get(&name).await?;
        return Ok(object_response(StatusCode::OK, &current, &headers));
    }
    let deleted = store
        .delete(&name, preconditions.resource_version.as_deref())
        .await?;
    Ok(object_response(StatusCode::OK, &deleted, &headers))
}
