//! `KubeStore`: every `Datastore` operation as requests on
//! `/apis/crd.projectcalico.org/v1/caliconodestatuses`, with the fallbacks for CRDs that lack
//! the status subresource or the `.spec.node` selectable field.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use either::Either;
use futures::{StreamExt, TryStreamExt};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, VersionMatch,
    WatchEvent, WatchParams,
};
use kube::core::ObjectList;
use nodestatus_api::{CRD_API_VERSION, CalicoNodeStatus, CalicoNodeStatusStatus, FieldError, KIND};
use nodestatus_store::{
    Change, Datastore, Listing, NodeFilter, Result, StoreError, WatchEvent as StoreEvent,
    WatchStream,
};

use crate::errors::{Failure, Op, classify, to_store_error};

/// Upper bound of one unary request (get, list, create, replace, delete), including kube's own
/// retries of 429/503/504: past it the call fails with `Unavailable` instead of hanging.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// TCP/TLS connect timeout to the API server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times `delete` without an expected version re-reads the object
/// after losing a race with another writer before giving up with `Conflict`.
const ATTEMPTS: usize = 5;
/// How long `delete` waits for the DELETED event that carries the deletion's resourceVersion.
const DELETED_EVENT_WAIT: Duration = Duration::from_secs(10);

/// The Kubernetes datastore: `CalicoNodeStatus` objects of the CRD
/// `caliconodestatuses.crd.projectcalico.org` (cluster-scoped), through the API server.
#[derive(Clone)]
pub struct KubeStore {
    inner: Arc<Inner>,
}

/// The state shared by the store and its watch tasks.
pub(crate) struct Inner {
    api: Api<CalicoNodeStatus>,
    /// False once the server rejected `fieldSelector=spec.node=...` (no `selectableFields` in
    /// the CRD): from then on lists and watches filter on the client.
    field_selector: AtomicBool,
    /// False once a `/status` write found the object but not the subresource (a CRD without
    /// `subresources.status`, such as Calico's own): from then on the status is written with a
    /// full update carrying the resourceVersion.
    status_subresource: AtomicBool,
}

/// A Kubernetes client from the kubeconfig file at `path` (its current context), or without
/// one from the configuration `kube` infers (`KUBECONFIG` or `~/.kube/config`, else the
/// in-cluster service account); connects time out after 10 s. The store and the API server's
/// delegated authorization both connect through it.
pub async fn client(path: Option<&std::path::Path>) -> Result<kube::Client> {
    let mut config = match path {
        Some(path) => {
            let context = format!("reading the kubeconfig {}", path.display());
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| StoreError::internal(&context, e))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| StoreError::internal(&context, e))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            StoreError::internal(
                "finding the Kubernetes client configuration (KUBECONFIG, ~/.kube/config or the in-cluster service account)",
                e,
            )
        })?,
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    kube::Client::try_from(config)
        .map_err(|e| StoreError::internal("building the Kubernetes client", e))
}

impl KubeStore {
    /// Connects with the configuration `kube` infers: `KUBECONFIG` (or `~/.kube/config`), else
    /// the in-cluster service account. Requests time out after 30 s, connects after 10 s.
    pub async fn connect() -> Result<Self> {
        Ok(Self::new(client(None).await?))
    }

    /// Connects with the kubeconfig file at `path` (its current context), like
    /// `kubectl --kubeconfig`; timeouts as for [`KubeStore::connect`].
    pub async fn connect_kubeconfig(path: &std::path::Path) -> Result<Self> {
        Ok(Self::new(client(Some(path)).await?))
    }

    /// A store on an existing client (any `tower` service: tests use an in-process fake).
    pub fn new(client: kube::Client) -> Self {
        KubeStore {
            inner: Arc::new(Inner {
                api: Api::all(client),
                field_selector: AtomicBool::new(true),
                status_subresource: AtomicBool::new(true),
            }),
        }
    }
}

impl KubeStore {
    /// Deletes what a failed create left, only at the version it created (best effort: a
    /// failure is logged, and the object stays for an operator to see).
    async fn take_back(&self, name: &str, created_version: &str) {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: Some(created_version.to_owned()),
                uid: None,
            }),
            ..DeleteParams::default()
        };
        if let Err(e) = timed(self.inner.api.delete(name, &params)).await {
            tracing::warn!(name, error = %e, "could not take back the object of a failed create");
        }
    }
}

/// Runs one unary request with `REQUEST_TIMEOUT`; a timeout is a transport failure.
pub(crate) async fn timed<T>(fut: impl Future<Output = kube::Result<T>>) -> kube::Result<T> {
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(result) => result,
        Err(elapsed) => Err(kube::Error::Service(Box::new(elapsed))),
    }
}

/// An object as the store gives it out: without `managedFields`, the API server's bookkeeping of
/// which client set which field. They are not part of the object in any other datastore, grow
/// with every writer, and change with each status write (so an object read back would never
/// equal the one written); the API server keeps its own copy whatever a write sends.
fn served(mut obj: CalicoNodeStatus) -> CalicoNodeStatus {
    obj.metadata.managed_fields = None;
    obj
}

fn served_listing(listing: Listing) -> Listing {
    Listing {
        items: listing.items.into_iter().map(served).collect(),
        revision: listing.revision,
    }
}

fn served_event(event: StoreEvent) -> StoreEvent {
    match event {
        StoreEvent::Added(obj) => StoreEvent::Added(served(obj)),
        StoreEvent::Modified(obj) => StoreEvent::Modified(served(obj)),
        StoreEvent::Deleted(obj) => StoreEvent::Deleted(served(obj)),
        StoreEvent::Restarted(listing) => StoreEvent::Restarted(served_listing(listing)),
    }
}

/// The resourceVersion of an object read from the server.
fn version(obj: &CalicoNodeStatus) -> String {
    obj.metadata.resource_version.clone().unwrap_or_default()
}

/// The name of an object read from the server.
fn name_of(obj: &CalicoNodeStatus) -> &str {
    obj.metadata.name.as_deref().unwrap_or_default()
}

/// Kubernetes object names are DNS-1123 subdomains: stricter than Calico's rule, which also
/// allows `_`. No object with another name can exist in this store.
fn kube_name_error(name: &str) -> Option<FieldError> {
    nodestatus_api::dns1123_subdomain(name)
        .err()
        .map(|why| FieldError {
            path: "metadata.name".into(),
            message: format!("{name:?} is not a valid Kubernetes object name: {why}"),
        })
}

/// Validates an object as Calico does, plus the Kubernetes name rule.
fn validate(obj: &CalicoNodeStatus) -> Result<()> {
    let mut errors = nodestatus_api::validate(obj).err().unwrap_or_default();
    let name = name_of(obj);
    let name_reported = errors.errors().iter().any(|e| e.path == "metadata.name");
    if !name.is_empty() && !name_reported {
        errors.0.extend(kube_name_error(name));
    }
    if errors.errors().is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            name: name.to_owned(),
            errors,
        })
    }
}

/// A field selector value with `\`, `,` and `=` escaped, as Kubernetes' `fields.EscapeValue`:
/// a node name can then never add a requirement to the selector.
fn escape_selector_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The field selector for a filter (`spec.node=<node>`), if any.
pub(crate) fn field_selector(filter: &NodeFilter) -> Option<String> {
    match filter {
        NodeFilter::All => None,
        NodeFilter::Node(node) => Some(format!("spec.node={}", escape_selector_value(node))),
    }
}

/// The body size of an object, for `TooLarge`.
fn encoded_len(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0)
}

impl Inner {
    pub(crate) fn api(&self) -> &Api<CalicoNodeStatus> {
        &self.api
    }

    /// True while the server is believed to accept `fieldSelector=spec.node=...`.
    pub(crate) fn uses_field_selector(&self) -> bool {
        self.field_selector.load(Ordering::Relaxed)
    }

    /// Switches lists and watches to client-side filtering, logging it once per store.
    pub(crate) fn disable_field_selector(&self, err: &kube::Error) {
        if self.field_selector.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                error = %err,
                "the API server rejects fieldSelector=spec.node (the CRD has no selectableFields: Kubernetes older than 1.31, or a CRD not installed from deploy/crd.yaml); filtering by node on the client, which lists and watches every caliconodestatus"
            );
        }
    }

    /// Lists the objects passing `filter` (server-side selector when possible), at `at` exactly
    /// when given (`resourceVersionMatch=Exact`), else a consistent read of the latest state.
    pub(crate) async fn list(
        &self,
        filter: &NodeFilter,
        at: Option<&str>,
    ) -> kube::Result<Listing> {
        let selector = field_selector(filter).filter(|_| self.uses_field_selector());
        let mut params = ListParams::default();
        if let Some(rv) = at {
            params = params.at(rv).matching(VersionMatch::Exact);
        }
        let list = match &selector {
            Some(sel) => match timed(self.api.list(&params.clone().fields(sel))).await {
                Err(e) if classify(&e) == Failure::FieldSelectorUnsupported => {
                    self.disable_field_selector(&e);
                    timed(self.api.list(&params)).await?
                }
                other => other?,
            },
            None => timed(self.api.list(&params)).await?,
        };
        Ok(listing(list, filter))
    }

    async fn get(&self, name: &str) -> Result<CalicoNodeStatus> {
        if kube_name_error(name).is_some() {
            return Err(StoreError::NotFound {
                name: name.to_owned(),
            });
        }
        timed(self.api.get(name)).await.map_err(|e| {
            to_store_error(
                e,
                &Op {
                    context: &format!("reading caliconodestatus {name:?}"),
                    name,
                    size: 0,
                },
            )
        })
    }

    /// The `Conflict` error for a write that expected `expected`, with the version stored now
    /// (read back; a read that finds nothing means the object was deleted in between).
    async fn conflict(&self, name: &str, expected: &str) -> StoreError {
        let actual = match self.get(name).await {
            Ok(obj) => version(&obj),
            Err(StoreError::NotFound { .. }) => {
                return StoreError::NotFound {
                    name: name.to_owned(),
                };
            }
            Err(e) => {
                tracing::debug!(name, error = %e, "reading the current resourceVersion after a conflict");
                "unknown".to_owned()
            }
        };
        StoreError::Conflict {
            name: name.to_owned(),
            expected: expected.to_owned(),
            actual,
        }
    }

    /// Replaces the whole object (spec, metadata, and status when the CRD has no status
    /// subresource) if it is still at its `metadata.resourceVersion`.
    async fn replace(
        &self,
        obj: &CalicoNodeStatus,
        context: &str,
    ) -> std::result::Result<CalicoNodeStatus, (Failure, StoreError)> {
        let name = name_of(obj);
        timed(self.api.replace(name, &PostParams::default(), obj))
            .await
            .map_err(|e| {
                let failure = classify(&e);
                (
                    failure,
                    to_store_error(
                        e,
                        &Op {
                            context,
                            name,
                            size: encoded_len(obj),
                        },
                    ),
                )
            })
    }

    /// Replaces the spec (and, for `SpecAndLabels`, the labels and annotations) with one JSON
    /// patch of `add` operations, which replace a member that exists; no resourceVersion, so
    /// no conflict.
    async fn patch_user_fields(
        &self,
        name: &str,
        change: Change<'_>,
        context: &str,
    ) -> Result<CalicoNodeStatus> {
        let mut ops =
            vec![serde_json::json!({"op": "add", "path": "/spec", "value": change.spec()})];
        if let Change::SpecAndLabels(obj) = change {
            for (field, map) in [
                ("labels", &obj.metadata.labels),
                ("annotations", &obj.metadata.annotations),
            ] {
                let value = map.clone().unwrap_or_default();
                ops.push(serde_json::json!({"op": "add", "path": format!("/metadata/{field}"), "value": value}));
            }
        }
        let size = ops.iter().map(|op| op.to_string().len()).sum();
        let op = Op {
            context,
            name,
            size,
        };
        let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(ops))
            .map_err(|e| StoreError::internal(context, e))?;
        timed(
            self.api
                .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch)),
        )
        .await
        .map_err(|e| to_store_error(e, &op))
    }

    /// The object as its deletion left it. Custom resources answer a DELETE with a bare
    /// `Status`, so the DELETED event of a short watch from the version just deleted supplies
    /// it, with the deletion's resourceVersion (as every watch consumer sees it). If that watch
    /// fails, the state read before the delete is returned.
    async fn deleted(&self, name: &str, before: CalicoNodeStatus) -> CalicoNodeStatus {
        let params = WatchParams::default()
            .fields(&format!("metadata.name={}", escape_selector_value(name)))
            .timeout(DELETED_EVENT_WAIT.as_secs() as u32)
            .disable_bookmarks();
        let from = version(&before);
        let event = async {
            let stream = self.api.watch(&params, &from).await?;
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.try_next().await? {
                if let WatchEvent::Deleted(obj) = event {
                    return Ok(Some(obj));
                }
            }
            Ok::<_, kube::Error>(None)
        };
        match tokio::time::timeout(DELETED_EVENT_WAIT, event).await {
            Ok(Ok(Some(obj))) => obj,
            Ok(Ok(None)) => {
                tracing::debug!(
                    name,
                    "no DELETED event after the delete; returning the state read before it"
                );
                before
            }
            Ok(Err(e)) => {
                tracing::debug!(name, error = %e, "watching for the DELETED event failed; returning the state read before the delete");
                before
            }
            Err(_) => {
                tracing::debug!(
                    name,
                    "no DELETED event within {DELETED_EVENT_WAIT:?}; returning the state read before the delete"
                );
                before
            }
        }
    }

    async fn write_status(
        &self,
        name: &str,
        status: &CalicoNodeStatusStatus,
        expected: &str,
    ) -> Result<CalicoNodeStatus> {
        if kube_name_error(name).is_some() {
            return Err(StoreError::NotFound {
                name: name.to_owned(),
            });
        }
        let context = format!("writing the status of caliconodestatus {name:?}");
        let mut current = None;
        if self.status_subresource.load(Ordering::Relaxed) {
            // Only status (and the resourceVersion, which makes the write compare-and-swap) is
            // sent: the server ignores everything else on /status.
            let body = serde_json::json!({
                "apiVersion": CRD_API_VERSION,
                "kind": KIND,
                "metadata": {"name": name, "resourceVersion": expected},
                "status": status,
            });
            match timed(
                self.api
                    .replace_subresource("status", name, &PostParams::default(), &body),
            )
            .await
            {
                Ok(obj) => return Ok(obj),
                Err(e) => match classify(&e) {
                    Failure::Conflict => return Err(self.conflict(name, expected).await),
                    // The same 404 answers "no such object" and "no such subresource".
                    Failure::NotFound => {
                        let obj = self.get(name).await?;
                        if self.status_subresource.swap(false, Ordering::Relaxed) {
                            tracing::warn!(
                                "caliconodestatuses has no /status subresource (a CRD not installed from deploy/crd.yaml, such as Calico's own); writing status with full updates, which needs `update` on caliconodestatuses"
                            );
                        }
                        current = Some(obj);
                    }
                    _ => {
                        return Err(to_store_error(
                            e,
                            &Op {
                                context: &context,
                                name,
                                size: encoded_len(&body),
                            },
                        ));
                    }
                },
            }
        }
        let mut obj = match current {
            Some(obj) => obj,
            None => self.get(name).await?,
        };
        let actual = version(&obj);
        StoreError::check_version(name, Some(expected), &actual)?;
        obj.status = Some(status.clone());
        match self.replace(&obj, &context).await {
            Ok(obj) => Ok(obj),
            Err((Failure::Conflict, _)) => Err(self.conflict(name, expected).await),
            Err((_, e)) => Err(e),
        }
    }
}

/// Turns a list response into a `Listing`: filtered (a no-op when the server selected),
/// sorted by name, with the list's resourceVersion.
fn listing(list: ObjectList<CalicoNodeStatus>, filter: &NodeFilter) -> Listing {
    let revision = list.metadata.resource_version.clone().unwrap_or_default();
    let mut items: Vec<CalicoNodeStatus> = list
        .items
        .into_iter()
        .filter(|o| filter.matches(o))
        .collect();
    items.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    Listing { items, revision }
}

/// The objects of a listing by name (the client-side filter's memory of what matches).
pub(crate) fn by_name(items: &[CalicoNodeStatus]) -> BTreeMap<String, CalicoNodeStatus> {
    items
        .iter()
        .map(|o| (name_of(o).to_owned(), o.clone()))
        .collect()
}

#[async_trait::async_trait]
impl Datastore for KubeStore {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    async fn create(&self, obj: &CalicoNodeStatus) -> Result<CalicoNodeStatus> {
        validate(obj)?;
        let name = name_of(obj).to_owned();
        let mut body = obj.clone();
        let meta = &mut body.metadata;
        // The server owns these; a resourceVersion on create is even an error.
        meta.resource_version = None;
        meta.uid = None;
        meta.creation_timestamp = None;
        meta.deletion_timestamp = None;
        meta.generation = None;
        meta.managed_fields = None;
        let context = format!("creating caliconodestatus {name:?}");
        let created = timed(self.inner.api.create(&PostParams::default(), &body))
            .await
            .map_err(|e| {
                to_store_error(
                    e,
                    &Op {
                        context: &context,
                        name: &name,
                        size: encoded_len(&body),
                    },
                )
            })?;
        // With the status subresource the server drops the status of a create: write it next.
        match &obj.status {
            Some(status) if created.status.as_ref() != Some(status) => {
                match self
                    .inner
                    .write_status(&name, status, &version(&created))
                    .await
                {
                    Ok(obj) => Ok(served(obj)),
                    Err(e) => {
                        // A create either stores the whole object or nothing: the object
                        // without its status (too large for etcd, say) is taken back.
                        self.take_back(&name, &version(&created)).await;
                        Err(e)
                    }
                }
            }
            _ => Ok(served(created)),
        }
    }

    async fn get(&self, name: &str) -> Result<CalicoNodeStatus> {
        self.inner.get(name).await.map(served)
    }

    async fn list(&self, filter: &NodeFilter) -> Result<Listing> {
        let listing = self.inner.list(filter, None).await.map_err(|e| {
            to_store_error(
                e,
                &Op {
                    context: "listing caliconodestatuses",
                    name: "",
                    size: 0,
                },
            )
        })?;
        Ok(served_listing(listing))
    }

    async fn watch(&self, filter: &NodeFilter, revision: Option<&str>) -> Result<WatchStream> {
        let stream = crate::watch::start(
            self.inner.clone(),
            filter.clone(),
            revision.filter(|r| !r.is_empty()),
        )
        .await?;
        Ok(stream.map_ok(served_event).boxed())
    }

    async fn update_with(
        &self,
        name: &str,
        change: Change<'_>,
        expected_version: Option<&str>,
    ) -> Result<CalicoNodeStatus> {
        validate(&change.candidate(name))?;
        let context = format!("updating the spec of caliconodestatus {name:?}");
        if expected_version.is_none() {
            // One atomic JSON patch: the server applies it to whatever version is current, so
            // concurrent status writes (an agent every few seconds) can never starve it.
            return self
                .inner
                .patch_user_fields(name, change, &context)
                .await
                .map(served);
        }
        let current = self.inner.get(name).await?;
        let actual = version(&current);
        StoreError::check_version(name, expected_version, &actual)?;
        // The whole object goes back (status kept, labels and annotations as the change says);
        // the resourceVersion in it makes the replace compare-and-swap. The API server keeps
        // metadata.generation and managedFields itself: they go back as read (a change's own
        // managedFields, the projectcalico.org/v3 API server's, are not this CRD object's).
        let mut updated = current;
        let (generation, managed) = (
            updated.metadata.generation,
            updated.metadata.managed_fields.clone(),
        );
        change.apply(&mut updated);
        updated.metadata.generation = generation;
        updated.metadata.managed_fields = managed;
        match self.inner.replace(&updated, &context).await {
            Ok(obj) => Ok(served(obj)),
            Err((Failure::Conflict, _)) => Err(self.inner.conflict(name, &actual).await),
            Err((_, e)) => Err(e),
        }
    }

    async fn write_status(
        &self,
        name: &str,
        status: &CalicoNodeStatusStatus,
        expected_version: &str,
    ) -> Result<String> {
        let obj = self
            .inner
            .write_status(name, status, expected_version)
            .await?;
        Ok(version(&obj))
    }

    async fn delete(&self, name: &str, expected_version: Option<&str>) -> Result<CalicoNodeStatus> {
        let context = format!("deleting caliconodestatus {name:?}");
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Delete exactly the version read, so that the last state returned is exact.
            let current = self.inner.get(name).await?;
            let actual = version(&current);
            StoreError::check_version(name, expected_version, &actual)?;
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: Some(actual.clone()),
                    uid: None,
                }),
                ..DeleteParams::default()
            };
            match timed(self.inner.api.delete(name, &params)).await {
                // An object with finalizers comes back with its deletionTimestamp set.
                Ok(Either::Left(obj)) => return Ok(served(obj)),
                Ok(Either::Right(_)) => {
                    return Ok(served(self.inner.deleted(name, current).await));
                }
                Err(e) => match classify(&e) {
                    Failure::Conflict if expected_version.is_none() && attempt < ATTEMPTS => {}
                    Failure::Conflict => return Err(self.inner.conflict(name, &actual).await),
                    _ => {
                        return Err(to_store_error(
                            e,
                            &Op {
                                context: &context,
                                name,
                                size: 0,
                            },
                        ));
                    }
                },
            }
        }
    }
}
