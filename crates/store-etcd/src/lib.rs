//! The etcdv3 datastore for `CalicoNodeStatus`: [`EtcdStore`] implements
//! [`nodestatus_store::Datastore`] with the keys and values Calico's own etcdv3 backend uses, so
//! `calicoctl` and calico-node see the same objects we write, and we see theirs.
//!
//! # Layout (as in projectcalico/calico, read at commit `87c15906f20c`)
//! - **Key**: `/calico/resources/v3/projectcalico.org/caliconodestatuses/<metadata.name>`.
//!   `libcalico-go/lib/backend/model/resource.go`: `ResourceKey.defaultDeletePath` builds
//!   `/calico/resources/v3/projectcalico.org/<plural>/<name>` for a cluster-scoped kind (the
//!   namespaced form adds `/<namespace>`; `libcalico-go/lib/namespace/resource.go` does not list
//!   CalicoNodeStatus as namespaced), with the plural registered as `caliconodestatuses`. Keys
//!   under the prefix that are not `<prefix><name>` (with no further `/`) are skipped, as
//!   Calico's `matchGlobalResource` regex does.
//! - **Value**: the v3 resource as JSON (`model.SerializeValue` is `json.Marshal` of
//!   `apiv3.CalicoNodeStatus`): `apiVersion: projectcalico.org/v3`, `kind: CalicoNodeStatus`,
//!   `metadata`, `spec`, `status`. Before writing, `libcalico-go/lib/clientv3/resources.go`
//!   (`resourceToKVPair`) clears `metadata.resourceVersion` and `metadata.selfLink`, so neither
//!   is stored; `resources.Create` sets `metadata.creationTimestamp` (whole seconds, UTC,
//!   `2021-10-18T13:22:03Z`) and `metadata.uid` (a random UUID). Labels and annotations are
//!   stored as given.
//! - **Resource version** = the key's etcd mod revision as a decimal string
//!   (`etcdv3/conversion.go`, `etcdToKVPair`); a list's revision is the response header's
//!   (`etcdv3/etcdv3.go`, `List`).
//! - **Writes** (`etcdv3/etcdv3.go`): create is a transaction `If Version(key) = 0 Then Put`
//!   (the same as create revision = 0); a status or spec write is `If ModRevision(key) = rev Then
//!   Put Else Get` (the `Get` tells `NotFound` from `Conflict`); delete is `If ModRevision(key) =
//!   rev` when a version is given, then `Delete` with the previous value.
//! - **Watch** (`etcdv3/watcher.go`): a prefix watch from revision + 1 with previous values.
//!
//! Differences a reader of the raw values may notice, none of which changes what a JSON reader
//! gets: our keys are in alphabetical order (Go writes `kind, apiVersion, metadata, spec,
//! status`), and empty parts of `status` are left out where Go writes `"lastUpdated": null`,
//! empty `agent.birdV4`, zero counts and an empty `routes`. Values in Go's exact form are read
//! (tested). On `create` the store always sets a new `uid` and `creationTimestamp` (the
//! `Datastore` contract), where Calico keeps ones the caller gives.
//!
//! # Behaviour
//! - Objects are validated before anything is sent. A write request larger than
//!   [`EtcdConfig::max_request_bytes`] (etcd's `--max-request-bytes`, 1.5 MiB by default;
//!   counted as value + key + 64 bytes of transaction overhead) fails with `TooLarge` without
//!   being sent; etcd's own refusals ("request is too large", gRPC's "larger than max") are
//!   `TooLarge` too.
//! - Every request has a deadline ([`EtcdConfig::request_timeout`]); a down, hung or
//!   unreachable etcd gives `Unavailable`, never a hang. HTTP/2 keep-alive pings detect a dead
//!   connection under a quiet watch.
//! - Several endpoints: one connection per endpoint, and requests pinned to one member, as
//!   etcd's own Go client does (etcd-client's balancing sent every endpoint its share, so one
//!   dead endpoint failed about half the requests). A member that refuses, resets, does not
//!   answer within its share of the deadline (`request_timeout` / number of endpoints) or has
//!   no leader moves the pin to the next endpoint and the request is retried there, pausing
//!   50 ms (doubling to 800 ms) after each full round, until the deadline; each switch is one
//!   warning. A write retried after a failure whose first attempt was applied anyway is
//!   recognised by its failure branch finding exactly the value written, and succeeds: no
//!   duplicate, no spurious conflict. (A `delete` retried that way reports `NotFound`.) A watch
//!   follows the pinned member and, when it fails, resumes on the next one from the revision
//!   after the last it delivered. The reporter's `tests/etcd_cluster.rs` kills members and
//!   the leader of a 3-member cluster under a running agent.
//! - `update_spec` without a version is read + compare-and-swap, retried up to 10 times.
//! - `write_status` is read + compare-and-swap, except right after this store's own status
//!   write of the object: then it is the compare-and-swap alone, built from the object as
//!   written (remembered without its status, for up to 1,024 names), since at one mod revision
//!   a key holds one value. An agent's steady state; measured with `benches/latency.rs`:
//!   p50 0.49 ms instead of 0.72 ms (20 routes) and 8.1 ms instead of 16.1 ms (5,000 routes).
//! - `delete` returns the last state at the revision of the deletion, as the `Deleted` event does.
//! - The watch filters by `spec.node` on the client, using the previous value etcd sends with
//!   each event: an object moving into the node is `Added`, one moving out `Deleted` (with its
//!   state after the move). It reconnects with backoff (100 ms doubling to 5 s) from the
//!   revision after the last one it delivered, yielding each interruption as an `Unavailable`
//!   item (the stream goes on); progress notifications move that revision on
//!   while only other keys change. When the revision is compacted (or an event lacks the
//!   previous value it needs) it relists and sends `Restarted`. Values that cannot be decoded
//!   are skipped with a warning by list and watch (as Calico's list does) and are `Internal`
//!   for `get`.
//!
//! # Dependencies
//! `etcd-client` (the etcd v3 gRPC client, with `tls` for rustls client certificates), `tonic`
//! (the gRPC status codes in its errors), `k8s-openapi` (the `Time` of `creationTimestamp`),
//! `uuid` (v4 UIDs). Feature `testing`: `nix` (signals to the etcd child by PID) and `tempfile`
//! (its data directory).
//!
//! # Tests
//! Against a real etcd 3.4 (`/usr/bin/etcd`, `/usr/bin/etcdctl`; Debian `etcd-server` and
//! `etcd-client`) started by the `testing` module (feature `testing`) on free loopback ports:
//! the shared conformance suite (`tests/conformance.rs`), and `tests/etcd.rs` for what is
//! etcd's own — the key and value read back with `etcdctl`, values written in Calico's form,
//! size limits on both sides, watches across an etcd restart and downtime, a stopped and a hung
//! (SIGSTOP) etcd, TLS client certificates and a wrong CA (with no key material in the logs), and
//! a dead endpoint before or after a live one. The testing module also runs a multi-member
//! cluster (`testing::EtcdCluster`) whose members tests kill by PID. Unit tests cover the layout, configuration and
//! error mapping. `benches/latency.rs` measures write, read, list and watch latency.

mod config;
mod error;
mod layout;
mod members;
mod store;
mod watch;

pub use config::{ConfigError, DEFAULT_MAX_REQUEST_BYTES, EtcdConfig};
pub use store::EtcdStore;

#[cfg(feature = "testing")]
pub mod testing;
