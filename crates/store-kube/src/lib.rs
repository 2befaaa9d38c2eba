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
//! - `update_spec` / `update`: with an expected version, `GET` (a different current version
//!   fails at once with `Conflict`) then `PUT .../NAME` of the whole object with the new spec
//!   (and labels and annotations for `update`), carrying that resourceVersion; without one, a
//!   JSON patch of `add` operations on `/spec` (and `/metadata/labels`, `/metadata/annotations`),
//!   which cannot conflict. `metadata.generation` is the server's.
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
//! `tests/conformance.rs`: the shared suite on a real kube-apiserver (above).
//! `tests/fake_apiserver.rs` drives a real `kube::Client` over an in-process fake API server (a
//! `tower-test` mock service) that checks each request's method, path, query and body and
//! answers with canned API-server replies in the real shapes: objects with server metadata,
//! lists, `Status` errors with reason, code and causes, watch streams of JSON lines with
//! BOOKMARK and `ERROR` 410 events. Time-dependent cases (backoff, request timeout, the idle
//! watch limit) run on tokio's paused clock. `tests/connect.rs` runs `KubeStore::connect` with a
//! `KUBECONFIG` pointing at a loopback HTTP server and checks the raw request lines and bearer
//! token of a list, a chunked watch stream and its resumption from the stream's bookmark.
//!
//! # Verified against a real API server
//! `tests/conformance.rs` runs the shared conformance suite on kube-apiserver v1.34.4 and etcd
//! 3.6.4 built from their Go modules (`scripts/install-k8s.sh`, the `nodestatus-controlplane`
//! crate), our CRD applied with the real kubectl; the CLI's `tests/kubernetes.rs` runs the agent's
//! service account under the generated RBAC and the lab on it. What the real server showed:
//! - `selectableFields` makes `fieldSelector=spec.node=...` work on list and watch;
//! - `managedFields` change with every write (a status write adds an entry), so the store drops
//!   them from every object it gives out: they are the server's bookkeeping, and other
//!   backends have none;
//! - an unconditional spec update lost races against frequent status writes with GET+PUT
//!   retries: it is one JSON patch (`add /spec`, and `/metadata/labels|annotations` for
//!   `update`), which the server applies to the current version and which cannot conflict;
//! - a create of an object whose status is too large for etcd stored the object (the POST
//!   drops the status) and failed on the status: the object is now taken back;
//! - a move out of a node filter arrives as DELETED with the object's content *before* the
//!   edit and the edit's resourceVersion (the trait promises name and version only);
//! - a restarted API server's watch cache starts at the current revision: a watch resuming
//!   from before the restart gets 410 and relists (`Restarted`).
//!
//! # Not verified here
//! - that a server before 1.31 (or a CRD without `selectableFields`, such as Calico's own)
//!   answers the field selector with exactly 400 "field label not supported" (the fallback
//!   keys on that text; tested against the fake server only);
//! - a CRD without the status subresource (Calico's own): the 404 on `/status` and the full
//!   update fallback (fake server only);
//! - the in-cluster service account and its token rotation, exec/OIDC credentials and client
//!   certificates (the tests use bearer tokens: a static admin token and a service-account
//!   token from `kubectl create token`), and a DaemonSet scheduled by a kubelet: no kubelet or
//!   controller manager runs here.

mod errors;
mod store;
mod watch;

pub use store::{KubeStore, client};
