//! The agent's Prometheus metrics (`prometheus-client`): collections and their duration, BIRD
//! problems by family and kind, status writes, conflicts, datastore errors, the resources
//! watched, and one gauge per BGP session like bird_exporter's `bird_protocol_up`.

use std::collections::BTreeMap;

use nodestatus_bird::{Daemon, Family, Part, Snapshot, Source, peer_address_from_name, peer_type};
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family as MetricFamily;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::conditions::Problem;

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BirdErrorLabels {
    family: String,
    kind: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CommandLabels {
    family: String,
    command: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResourceLabels {
    resource: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

/// The labels of one BGP session: `name`, `family`, `peer_ip`, `type`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SessionLabels {
    name: String,
    family: String,
    peer_ip: String,
    peer_type: String,
}

// By hand because one label is called `type`, a Rust keyword.
impl EncodeLabelSet for SessionLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [
            ("name", self.name.as_str()),
            ("family", self.family.as_str()),
            ("peer_ip", self.peer_ip.as_str()),
            ("type", self.peer_type.as_str()),
        ]
        .encode(encoder)
    }
}

/// Every metric, registered under the `nodestatus_` prefix.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) registry: Registry,
    collections: Counter,
    collection_resources: Counter,
    collection_duration: Histogram,
    bird_errors: MetricFamily<BirdErrorLabels, Counter>,
    status_writes: Counter,
    write_conflicts: Counter,
    datastore_errors: MetricFamily<OperationLabels, Counter>,
    resources: Gauge,
    sessions: MetricFamily<SessionLabels, Gauge>,
    unrecognised_lines: MetricFamily<CommandLabels, Counter>,
    status_too_large: Counter,
    routes_left_out: MetricFamily<ResourceLabels, Gauge>,
    confirmed: MetricFamily<ResourceLabels, Gauge>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("nodestatus");
        let collections = Counter::default();
        registry.register(
            "collections",
            "BIRD collections (one per tick, shared by every resource due)",
            collections.clone(),
        );
        let collection_resources = Counter::default();
        registry.register(
            "collection_resources",
            "Resources served by collections (each collection counts every resource it served)",
            collection_resources.clone(),
        );
        let collection_duration = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register_with_unit(
            "collection_duration",
            "Time to collect from every BIRD daemon",
            Unit::Seconds,
            collection_duration.clone(),
        );
        let bird_errors = MetricFamily::<BirdErrorLabels, Counter>::default();
        registry.register(
            "bird_errors",
            "BIRD problems per collection, by family and kind (unreachable, timeout, query, parse)",
            bird_errors.clone(),
        );
        let status_writes = Counter::default();
        registry.register(
            "status_writes",
            "Status writes that succeeded",
            status_writes.clone(),
        );
        let write_conflicts = Counter::default();
        registry.register(
            "write_conflicts",
            "Status writes refused because the resource changed first",
            write_conflicts.clone(),
        );
        let datastore_errors = MetricFamily::<OperationLabels, Counter>::default();
        registry.register(
            "datastore_errors",
            "Failed datastore calls other than write conflicts, by operation (list, watch, get, write)",
            datastore_errors.clone(),
        );
        let resources = Gauge::default();
        registry.register(
            "resources_watched",
            "CalicoNodeStatus resources for this node",
            resources.clone(),
        );
        let sessions = MetricFamily::<SessionLabels, Gauge>::default();
        registry.register(
            "bgp_session_up",
            "1 when the BGP session's protocol is up, else 0 (from the last collection that listed it)",
            sessions.clone(),
        );
        let unrecognised_lines = MetricFamily::<CommandLabels, Counter>::default();
        registry.register(
            "bird_unrecognised_lines",
            "Lines of used BIRD replies that were not recognised and left out, by family and command (not 0: a BIRD output format new to nodestatus)",
            unrecognised_lines.clone(),
        );
        let status_too_large = Counter::default();
        registry.register(
            "status_too_large",
            "Status writes the datastore refused for their size (each is written again with the routes that fit)",
            status_too_large.clone(),
        );
        let routes_left_out = MetricFamily::<ResourceLabels, Gauge>::default();
        registry.register(
            "status_routes_left_out",
            "Routes BIRD reported that the resource's stored status leaves out to fit the datastore's size limit",
            routes_left_out.clone(),
        );
        let confirmed = MetricFamily::<ResourceLabels, Gauge>::default();
        registry.register_with_unit(
            "status_confirmed_timestamp",
            "When a collection last read every part of the resource's status from BIRD (Unix time); the status in the datastore says that state since then, written or unchanged",
            Unit::Seconds,
            confirmed.clone(),
        );
        Self {
            registry,
            unrecognised_lines,
            status_too_large,
            routes_left_out,
            confirmed,
            collections,
            collection_resources,
            collection_duration,
            bird_errors,
            status_writes,
            write_conflicts,
            datastore_errors,
            resources,
            sessions,
        }
    }

    /// One collection, for `resources` resources, took `seconds`.
    pub(crate) fn collected(&self, resources: usize, seconds: f64) {
        self.collections.inc();
        self.collection_resources.inc_by(resources as u64);
        self.collection_duration.observe(seconds);
    }

    pub(crate) fn bird_problem(&self, family: Family, problem: &Problem) {
        let labels = BirdErrorLabels {
            family: family_label(family).to_owned(),
            kind: problem.kind.to_owned(),
        };
        self.bird_errors.get_or_create(&labels).inc();
    }

    pub(crate) fn unrecognised_lines(&self, family: Family, command: &str, lines: usize) {
        let labels = CommandLabels {
            family: family_label(family).to_owned(),
            command: command.to_owned(),
        };
        self.unrecognised_lines
            .get_or_create(&labels)
            .inc_by(lines as u64);
    }

    pub(crate) fn status_too_large(&self) {
        self.status_too_large.inc();
    }

    /// Publishes, per resource, the routes its stored status leaves out.
    pub(crate) fn set_routes_left_out<'a>(&self, left_out: impl Iterator<Item = (&'a str, u64)>) {
        self.routes_left_out.clear();
        for (resource, n) in left_out {
            let labels = ResourceLabels {
                resource: resource.to_owned(),
            };
            self.routes_left_out
                .get_or_create(&labels)
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Publishes, per resource, when its status was last confirmed.
    pub(crate) fn set_confirmed<'a>(
        &self,
        confirmed: impl Iterator<Item = (&'a str, jiff::Timestamp)>,
    ) {
        self.confirmed.clear();
        for (resource, at) in confirmed {
            let labels = ResourceLabels {
                resource: resource.to_owned(),
            };
            self.confirmed.get_or_create(&labels).set(at.as_second());
        }
    }

    pub(crate) fn status_written(&self) {
        self.status_writes.inc();
    }

    pub(crate) fn write_conflict(&self) {
        self.write_conflicts.inc();
    }

    pub(crate) fn datastore_error(&self, operation: &str) {
        let labels = OperationLabels {
            operation: operation.to_owned(),
        };
        self.datastore_errors.get_or_create(&labels).inc();
    }

    pub(crate) fn set_resources(&self, n: usize) {
        self.resources.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    fn set_sessions(&self, sessions: &BTreeMap<SessionLabels, i64>) {
        self.sessions.clear();
        for (labels, up) in sessions {
            self.sessions.get_or_create(labels).set(*up);
        }
    }
}

fn family_label(family: Family) -> &'static str {
    match family {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

/// The BGP sessions last seen per family: a family whose protocol list was not collected
/// this time keeps its sessions, one whose daemon is unreachable has none.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_family: [BTreeMap<SessionLabels, i64>; 2],
}

impl Sessions {
    /// Updates the sessions from `snapshot` and publishes them.
    pub(crate) fn observe(&mut self, snapshot: &Snapshot, metrics: &Metrics) {
        let mut fresh: [Option<BTreeMap<SessionLabels, i64>>; 2] = [None, None];
        for (i, family) in Family::ALL.into_iter().enumerate() {
            match snapshot.source(family) {
                Source::Unreachable(_) => fresh[i] = Some(BTreeMap::new()),
                Source::Daemon(d) => {
                    if let Some(sessions) = daemon_sessions(d, family) {
                        fresh[i] = Some(sessions);
                    }
                }
            }
        }
        for (slot, fresh) in self.by_family.iter_mut().zip(fresh) {
            if let Some(fresh) = fresh {
                *slot = fresh;
            }
        }
        let all = self
            .by_family
            .iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.clone(), *v)))
            .collect();
        metrics.set_sessions(&all);
    }
}

/// The Calico BGP sessions of `family` on a daemon, `None` when its protocol list was not
/// collected. A BIRD 2/3 daemon serves both families: a session belongs to its neighbor's.
fn daemon_sessions(daemon: &Daemon, family: Family) -> Option<BTreeMap<SessionLabels, i64>> {
    let Part::Collected(protocols) = &daemon.protocols else {
        return None;
    };
    let mut out = BTreeMap::new();
    for p in protocols.iter().filter(|p| p.proto == "BGP") {
        let Some(kind) = peer_type(&p.name) else {
            continue;
        };
        let peer_ip = p
            .bgp
            .as_ref()
            .and_then(|b| b.neighbor_address.clone())
            .or_else(|| peer_address_from_name(&p.name, family))
            .unwrap_or_default();
        let session_family = if daemon.serves_both_families() {
            Family::of(&peer_ip)
        } else {
            family
        };
        if session_family != family {
            continue;
        }
        let labels = SessionLabels {
            name: p.name.clone(),
            family: family_label(family).to_owned(),
            peer_ip,
            peer_type: format!("{kind:?}"),
        };
        out.insert(labels, i64::from(p.state == "up"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{ALL, Src, snapshot2, snapshot16};
    use nodestatus_api::NodeStatusClass;

    fn session_lines(metrics: &Metrics) -> Vec<String> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registry)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("nodestatus_bgp_session_up{"))
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    fn line(name: &str, family: &str, ip: &str, kind: &str, up: u8) -> String {
        format!(
            "nodestatus_bgp_session_up{{name=\"{name}\",family=\"{family}\",peer_ip=\"{ip}\",type=\"{kind}\"}} {up}"
        )
    }

    fn lab_sessions_v4(mesh12_up: u8) -> Vec<String> {
        vec![
            line("Global_10_99_0_250", "ipv4", "10.99.0.250", "GlobalPeer", 0),
            line(
                "Mesh_10_99_0_12",
                "ipv4",
                "10.99.0.12",
                "NodeMesh",
                mesh12_up,
            ),
            line("Mesh_10_99_0_13", "ipv4", "10.99.0.13", "NodeMesh", 1),
            line("Node_10_99_0_201", "ipv4", "10.99.0.201", "NodePeer", 0),
        ]
    }

    fn lab_sessions_v6() -> Vec<String> {
        vec![
            line("Global_fd99__250", "ipv6", "fd99::250", "GlobalPeer", 0),
            line("Mesh_fd99__12", "ipv6", "fd99::12", "NodeMesh", 1),
            line("Mesh_fd99__13", "ipv6", "fd99::13", "NodeMesh", 1),
            line("Node_fd99__201", "ipv6", "fd99::201", "NodePeer", 0),
        ]
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn every_calico_bgp_session_has_a_gauge_that_is_1_when_up() {
        for snapshot in [
            snapshot16(Src::Set("bird1.6"), Src::Set("bird1.6"), ALL),
            snapshot2(Src::Set("bird2"), ALL),
        ] {
            let metrics = Metrics::new();
            Sessions::default().observe(&snapshot, &metrics);
            assert_eq!(
                session_lines(&metrics),
                sorted([lab_sessions_v4(1), lab_sessions_v6()].concat())
            );
        }
    }

    #[test]
    fn sessions_follow_bird_and_vanish_with_their_daemon_but_not_when_not_collected() {
        let metrics = Metrics::new();
        let mut sessions = Sessions::default();
        sessions.observe(
            &snapshot16(Src::Set("bird1.6-disabled"), Src::Set("bird1.6"), ALL),
            &metrics,
        );
        assert_eq!(
            session_lines(&metrics),
            sorted([lab_sessions_v4(0), lab_sessions_v6()].concat())
        );
        sessions.observe(
            &snapshot16(Src::Set("bird1.6"), Src::Unreachable, ALL),
            &metrics,
        );
        assert_eq!(session_lines(&metrics), lab_sessions_v4(1));
        let agent_only = [NodeStatusClass::Agent];
        sessions.observe(
            &snapshot16(
                Src::Set("bird1.6-disabled"),
                Src::Set("bird1.6"),
                &agent_only,
            ),
            &metrics,
        );
        assert_eq!(session_lines(&metrics), lab_sessions_v4(1));
    }
}
