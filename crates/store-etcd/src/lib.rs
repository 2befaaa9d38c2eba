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
//! # The per-node index (ours): O(1) fan-out
//! With only Calico's layout, an agent must watch the whole object prefix and filter by
//! `spec.node` itself, so every status write of every node reaches every agent (N deliveries
//! per write, N² per round of writes). Beside the objects we keep one empty key per object,
//! `/nodestatus/v1/caliconodestatuses-by-node/<node>/<name>`, outside `/calico/` so Calico's
//! tools never see it:
//! - `create`, `update_spec` and `delete` put / move / remove the entry in the same
//!   transaction as the object (a spec edit puts it even when the node stays: that put is how
//!   the agent hears of the edit); `delete` reads the object first to learn its node and is
//!   conditional on that read. `write_status` never touches the index.
//! - A node-filtered watch (an agent's) watches only its node's index prefix and, for each
//!   change, reads the object at the revision of that change (one small read per spec change,
//!   none per status write); a removed entry is `Deleted` with the object after the move, or
//!   its state just before the deletion. A node-filtered `list` reads the node's entries and
//!   then those objects at the entries' revision, so it costs what the node has.
//! - So no agent receives any status write, its own included (it learns its new version from
//!   `write_status`): one delivery per status write, to the operator's unfiltered watch if one
//!   is open. The unfiltered watch (`get -w`) is unchanged: the object prefix with previous values.
//! - Objects written by tools that do not keep the index (calicoctl, older versions of this
//!   store), and their deletes and node moves: every [`EtcdConfig::index_relist_interval`]
//!   (300 s by default; a watch's first time after a random half to one and a half of it, so
//!   agents started together spread out) a node-filtered watch relists. Before, it claims the
//!   index check for the whole cluster unless another watcher did less than an interval ago (a
//!   compare-and-swap of the last check's time in `/nodestatus/v1/index-checked`: one check per
//!   interval, not one per agent, which would be O(N²)); the claimant counts objects and
//!   entries (one request) and, when the counts differ, lists both key sets (keys only),
//!   indexes unindexed objects and removes entries without an object (each a compare-and-swap
//!   on the object's revision, so a race with a real write loses harmlessly). Then the watch
//!   relists its node (entries whose object moved to another node are moved there) and sends
//!   `Restarted`. A spec edit by such a tool of an
//!   indexed object is seen at the next relist by that node's agent; moved to another node, the
//!   old node's agent moves the entry. Changes made through this store are seen at once.
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
//! - The unfiltered watch uses the previous value etcd sends with each event; the node-filtered
//!   one follows the index (above): an object moving into the node is `Added`, one moving out
//!   `Deleted` (with its state after the move). Both reconnect with backoff (100 ms doubling to 5 s) from the
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
