//! The Kubernetes datastore for `CalicoNodeStatus`: objects of the CRD
//! `caliconodestatuses.crd.projectcalico.org` (cluster-scoped, `crd.projectcalico.org/v1`)
//! read and written through the API server, behind the `Datastore` trait.
//!
//! # How each operation maps to the API
//! - `get`, `list`: `GET .../caliconodestatuses[/NAME]`; a list's `metadata.resourceVersion` is
//!   the `Listing::revision`. Lists are not paginated (a cluster has a handful of these objects;
//!   Calico recommends fewer than 10 reporting at once).
//! - Node filter: `fieldSelector=spec.node=<node>`, served because the CRD declares
//!   `selectableFields: [{jsonPath: .spec.node}]`. A selectable field rather than a node label
//!   because there is nothing to keep in sync: objects created by any tool (kubectl, calicoctl,
//!   an operator) are selected by what their spec says, and a label that disagreed with
//!   `spec.node` could make an agent miss or steal a resource. Selectable fields for CRDs are
//!   beta (on by default) in Kubernetes 1.31 and GA in 1.32; 1.30 had them alpha behind the
//!   `CustomResourceFieldSelectors` gate. On an older server, or with a CRD installed without
//!   `selectableFields` (Calico's own manifest), the server answers 400 "field label not
//!   supported": the store then logs it once and filters on the client, listing and watching
//!   every object (correct, but each agent then receives every change of every node).
//! - `watch`: `GET ...?watch=true&allowWatchBookmarks=true&timeoutSeconds=290&resourceVersion=R`
//!   (plus the field selector). A task follows the stream, remembers the last revision (objects
//!   and BOOKMARKs), and reconnects from it when the stream ends (every `timeoutSeconds`, or on a
//!   transport error after a backoff of 0.5 s doubling to 30 s, or after 320 s of silence). A
//!   410 Gone (HTTP status or `ERROR` event) relists and sends `Restarted`. With client-side
//!   filtering the task first lists at exactly the start revision (`resourceVersionMatch=Exact`)
//!   so that edits moving an object out of (into) the filter become `Deleted` (`Added`), as the
//!   server's selector does. A watch from "now" lists first and starts from the list's revision.
//! - `write_status`: `PUT .../NAME/status` with a body of `metadata.name`,
//!   `metadata.resourceVersion` (the expected version: the server rejects any other with 409)
//!   and `status`. A 404 there is read back with a `GET`: if the object exists, the CRD has no
//!   status subresource (Calico's own CRD), and from then on the status is written by a full
//!   `PUT .../NAME` of the object read, still at the expected resourceVersion (logged once).
//! - `update_spec`: `GET` then `PUT .../NAME` of the whole object with the new spec, carrying
//!   the object's resourceVersion (labels, annotations and status kept). With an expected version
//!   a different current version fails at once with `Conflict`; without, a lost race is retried
//!   on the fresh object (5 attempts).
//! - `create`: `POST`; when the object has a status, it is written next through `/status`
//!   (with the subresource the server drops the status of a create). Not atomic: if that second
//!   write fails the object exists without status and the error is returned.
//! - `delete`: `GET`, then `DELETE` with `preconditions.resourceVersion` (the expected version, or
//!   the one read, retried like `update_spec`). Custom resources answer a delete with a bare
//!   `Status`, so the object as deleted (with the deletion's resourceVersion, as watchers see it)
//!   comes from the DELETED event of a short watch (`fieldSelector=metadata.name=NAME`) from the
//!   version deleted; if that watch fails (e.g. no `watch` permission) the state read before the
//!   delete is returned.
//!
//! Errors: 404 → `NotFound` (a 404 without an object name means the CRD is not installed:
//! `Internal`), 409 `AlreadyExists` → `AlreadyExists`, 409 `Conflict` → `Conflict` (with the
//! current version read back), 422 → `Invalid` (the Status causes, with their field paths),
//! 413 or a "too large"/"larger than max" message (etcd's request limit) → `TooLarge`,
//! transport errors, timeouts, 401, 408, 429 and 5xx → `Unavailable`, 403 and the rest →
//! `Internal`. Objects are validated before anything is sent (`nodestatus_api::validate`, plus
//! the Kubernetes rule that names are DNS-1123 subdomains: Calico's `_` is refused).
//! Unary requests time out after 30 s (kube's retries of 429/503/504 included), connects after
//! 10 s; kube's read timeout stays off because it would also cut quiet watch streams.
//!
//! # Dependencies
//! `kube` (client, rustls) is the Kubernetes client; `k8s-openapi` gives the metadata types;
//! `either` is the type of kube's delete answer; `tokio` runs the watch task and timeouts;
//! `futures` builds the watch stream; `serde`/`serde_json` build the `/status` body;
//! `async-trait` implements the trait; `tracing` logs.
//!
//! # Tests
//! `tests/fake_apiserver.rs` drives a real `kube::Client` over an in-process fake API server (a
//! `tower-test` mock service) that checks each request's method, path, query and body and
//! answers with canned API-server replies in the real shapes: objects with server metadata,
//! lists, `Status` errors with reason, code and causes, watch streams of JSON lines with
//! BOOKMARK and `ERROR` 410 events. Time-dependent cases (backoff, request timeout, the idle
//! watch limit) run on tokio's paused clock. `tests/connect.rs` runs `KubeStore::connect` with a
//! `KUBECONFIG` pointing at a loopback HTTP server and checks the raw request lines and bearer
//! token of a list, a chunked watch stream and its resumption from the stream's bookmark.
//!
//! # Not verified against a real API server
//! No kube-apiserver runs where this was written; the fake replies follow the Kubernetes API
//! conventions and source, not recordings. Unverified in particular:
//! - that `selectableFields` in our CRD makes a 1.31/1.32 server accept
//!   `fieldSelector=spec.node=...` on list and watch, and that an older server rejects it with
//!   exactly 400 "field label not supported" (the fallback keys on that text);
//! - that a `/status` PUT with a body lacking `spec` is accepted, and that a CRD without the
//!   subresource answers 404 `NotFound` naming the object;
//! - that a DELETE of a custom resource answers a `Status` (no object), and that a watch from the
//!   deleted version replays the DELETED event;
//! - that the server's selector turns an edit moving an object out of the filter into a DELETED
//!   event carrying the object's previous content with the new resourceVersion (so says the
//!   apiserver's `cacheWatcher` source; the client-side fallback does the same);
//! - the exact 410 shape (HTTP 410 on open vs. an `ERROR` event; both are handled), bookmark
//!   frequency, and that `resourceVersionMatch=Exact` lists work at a bookmark's revision;
//! - the 413 / etcd "request is too large" messages and limits;
//! - TLS (server CA, client certificates), the in-cluster service account and its token
//!   rotation, exec/OIDC credentials, and the connect timeout: `tests/connect.rs` covers only a
//!   plain-HTTP server and a bearer token from a kubeconfig.

mod errors;
mod store;
mod watch;

pub use store::KubeStore;
