//! The pure mapping from a [`Snapshot`] to the `CalicoNodeStatus` status (SPEC.md), with, per
//! class and family, whether the part was collected, the daemon was unreachable, or the part
//! failed and the reporter should keep the last good value.
//!
//! Choices, where Calico leaves room:
//! - Peers are listed in BIRD's order (configuration order). Routes are sorted with
//!   `nodestatus_api::sort_routes` (destination, FIB first, gateway): `show route` prints them
//!   in hash order, which can change with no route changing, and the reporter writes only when
//!   the status changes.
//! - `FIB` is BIRD's primary route, `*`, and also `!` (primary, but the kernel refused it: it is
//!   still the route BIRD selected); every other route for the destination is `RIB`.
//! - A multipath route gives one route entry per next hop, each with the route's type and
//!   source: the status has one gateway/interface per entry, and dropping next hops would hide
//!   paths in use.
//! - A peer's family is its neighbor address's family, so with BIRD 2/3 a session over IPv4
//!   that also carries IPv6 routes is an IPv4 peer; its IPv6 routes are IPv6 routes whose
//!   `learnedFrom.peerIP` is that IPv4 neighbor.
//! - `state` is BIRD's BGP state word, `Down` and `Passive` included (Calico writes `""` there).
//! - `routes` is omitted when both route lists are empty (SPEC: omitted when empty); `agent`
//!   and `bgp` are always present when requested (a state and four counts are always written).

use std::collections::HashMap;

use nodestatus_api::{
    AgentStatus, BgpDaemonState, BgpDaemonStatus, BgpPeer, BgpPeerType, BgpStatus,
    CalicoNodeStatusStatus, LearnedFrom, NodeStatusClass, Route as ApiRoute, RouteFields,
    RouteSourceType, RouteStatus, RouteType, RoutesTruncated,
};

use crate::collect::{Daemon, Part, Snapshot, Source};
use crate::family::{Family, peer_address_from_name, peer_type};
use crate::protocols::Protocol;
use crate::routes::RouteKind;

/// What happened to one class of one family in a collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The spec does not ask for the class: it is absent from the status.
    NotRequested,
    /// Collected and mapped.
    Collected,
    /// No daemon for the family: `NotReady`, no peers, no routes.
    Unreachable(String),
    /// The daemon answered but the part could not be had (error reply, unparsable reply,
    /// timeout, oversized reply): keep the last good value.
    Failed(String),
}

/// The outcome of every class and family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcomes {
    by_class: [[Outcome; 2]; 3],
}

fn class_index(class: NodeStatusClass) -> usize {
    match class {
        NodeStatusClass::Agent => 0,
        NodeStatusClass::Bgp => 1,
        NodeStatusClass::Routes => 2,
    }
}

impl Outcomes {
    /// The outcome of one class for one family.
    pub fn get(&self, class: NodeStatusClass, family: Family) -> &Outcome {
        &self.by_class[class_index(class)][family.index()]
    }

    /// Every (class, family, outcome), classes in Calico's order, IPv4 first.
    pub fn iter(&self) -> impl Iterator<Item = (NodeStatusClass, Family, &Outcome)> {
        NodeStatusClass::ALL
            .into_iter()
            .flat_map(|c| Family::ALL.into_iter().map(move |f| (c, f)))
            .map(|(c, f)| (c, f, self.get(c, f)))
    }

    /// True when some part should be taken from the last good status.
    pub fn any_failed(&self) -> bool {
        self.iter().any(|(_, _, o)| matches!(o, Outcome::Failed(_)))
    }

    fn set(&mut self, class: NodeStatusClass, family: Family, outcome: Outcome) {
        self.by_class[class_index(class)][family.index()] = outcome;
    }
}

impl Default for Outcomes {
    fn default() -> Self {
        let none = || [Outcome::NotRequested, Outcome::NotRequested];
        Self {
            by_class: [none(), none(), none()],
        }
    }
}

/// A mapped status (without `lastUpdated`) and how each part was obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapped {
    /// The status computed from this snapshot alone. A failed part holds what could be
    /// derived without it (for Agent: `Ready` and the greeting's version; else empty); write
    /// [`Mapped::merge_last_good`], which never claims what a failed part could not read.
    pub status: CalicoNodeStatusStatus,
    /// Per class and family.
    pub outcomes: Outcomes,
}

impl Mapped {
    /// The status to write: every [`Outcome::Failed`] part is replaced by the same part of
    /// `last` (the last status written). Without a last value for it, a failed part claims
    /// nothing: its daemon status is left out (no `Ready` for a daemon whose `show status`
    /// failed), `bgp` is left out (its counts would claim 0 sessions), its routes are empty.
    /// `lastUpdated` is left as `None`.
    pub fn merge_last_good(&self, last: Option<&CalicoNodeStatusStatus>) -> CalicoNodeStatusStatus {
        let mut status = self.status.clone();
        status.last_updated = None;
        let failed = |class, family| matches!(self.outcomes.get(class, family), Outcome::Failed(_));
        let mut bgp_unknown = false;
        for family in Family::ALL {
            if failed(NodeStatusClass::Agent, family)
                && let Some(agent) = status.agent.as_mut()
            {
                *daemon_mut(agent, family) = last
                    .and_then(|l| l.agent.as_ref())
                    .map(|old| daemon_ref(old, family).clone())
                    .unwrap_or_default();
            }
            if failed(NodeStatusClass::Bgp, family)
                && let Some(bgp) = status.bgp.as_mut()
            {
                match last.and_then(|l| l.bgp.as_ref()) {
                    Some(old) => copy_bgp_family(bgp, old, family),
                    None => bgp_unknown = true,
                }
            }
            if failed(NodeStatusClass::Routes, family) {
                let old = last
                    .and_then(|l| l.routes.as_ref())
                    .map(|r| routes_ref(r, family).clone())
                    .unwrap_or_default();
                *routes_mut(
                    status.routes.get_or_insert_with(RouteStatus::default),
                    family,
                ) = old;
            }
        }
        if bgp_unknown {
            status.bgp = None;
        }
        if status
            .agent
            .as_ref()
            .is_some_and(|a| *a == AgentStatus::default())
        {
            status.agent = None;
        }
        if status
            .routes
            .as_ref()
            .is_some_and(|r| r.routes_v4.is_empty() && r.routes_v6.is_empty())
        {
            status.routes = None;
        }
        status
    }
}

fn daemon_mut(agent: &mut AgentStatus, family: Family) -> &mut BgpDaemonStatus {
    match family {
        Family::V4 => &mut agent.bird_v4,
        Family::V6 => &mut agent.bird_v6,
    }
}

fn daemon_ref(agent: &AgentStatus, family: Family) -> &BgpDaemonStatus {
    match family {
        Family::V4 => &agent.bird_v4,
        Family::V6 => &agent.bird_v6,
    }
}

fn routes_mut(routes: &mut RouteStatus, family: Family) -> &mut Vec<ApiRoute> {
    match family {
        Family::V4 => &mut routes.routes_v4,
        Family::V6 => &mut routes.routes_v6,
    }
}

fn routes_ref(routes: &RouteStatus, family: Family) -> &Vec<ApiRoute> {
    match family {
        Family::V4 => &routes.routes_v4,
        Family::V6 => &routes.routes_v6,
    }
}

fn copy_bgp_family(bgp: &mut BgpStatus, old: &BgpStatus, family: Family) {
    match family {
        Family::V4 => {
            bgp.number_established_v4 = old.number_established_v4;
            bgp.number_not_established_v4 = old.number_not_established_v4;
            bgp.peers_v4 = old.peers_v4.clone();
        }
        Family::V6 => {
            bgp.number_established_v6 = old.number_established_v6;
            bgp.number_not_established_v6 = old.number_not_established_v6;
            bgp.peers_v6 = old.peers_v6.clone();
        }
    }
}

/// Maps a snapshot to the status for `classes` (other classes are left out even when the
/// snapshot has them, so one collection can serve resources asking for different classes).
pub fn map_snapshot(snapshot: &Snapshot, classes: &[NodeStatusClass]) -> Mapped {
    map_snapshot_within(snapshot, classes, usize::MAX)
}

/// [`map_snapshot`] keeping at most `max_routes` routes, chosen by
/// [`nodestatus_api::select_routes`] and recorded in `routes.truncated`. Routes are sorted and
/// chosen while still in BIRD's reply text, so only the kept ones take memory of their own.
pub fn map_snapshot_within(
    snapshot: &Snapshot,
    classes: &[NodeStatusClass],
    max_routes: usize,
) -> Mapped {
    let mut outcomes = Outcomes::default();
    let mut status = CalicoNodeStatusStatus::default();
    if classes.contains(&NodeStatusClass::Agent) {
        let mut agent = AgentStatus::default();
        for family in Family::ALL {
            let (daemon, outcome) = agent_status(snapshot.source(family));
            *daemon_mut(&mut agent, family) = daemon;
            outcomes.set(NodeStatusClass::Agent, family, outcome);
        }
        status.agent = Some(agent);
    }
    if classes.contains(&NodeStatusClass::Bgp) {
        let mut bgp = BgpStatus::default();
        for family in Family::ALL {
            let (peers, established, outcome) = match snapshot.source(family) {
                Source::Unreachable(u) => (Vec::new(), 0, unreachable(u)),
                Source::Daemon(d) => match &d.protocols {
                    Part::Collected(protocols) => {
                        let peers: Vec<_> = peers(d, protocols, family).collect();
                        let established = peers.iter().filter(|(p, _)| p.state == "up").count();
                        (
                            peers.into_iter().map(|(_, p)| p).collect(),
                            established,
                            Outcome::Collected,
                        )
                    }
                    Part::Failed(e) => (Vec::new(), 0, Outcome::Failed(e.to_string())),
                    Part::NotRequested => (Vec::new(), 0, not_collected(NodeStatusClass::Bgp)),
                },
            };
            let established = u32::try_from(established).unwrap_or(u32::MAX);
            let not_established = u32::try_from(peers.len()).unwrap_or(u32::MAX) - established;
            match family {
                Family::V4 => {
                    bgp.number_established_v4 = established;
                    bgp.number_not_established_v4 = not_established;
                    bgp.peers_v4 = peers;
                }
                Family::V6 => {
                    bgp.number_established_v6 = established;
                    bgp.number_not_established_v6 = not_established;
                    bgp.peers_v6 = peers;
                }
            }
            outcomes.set(NodeStatusClass::Bgp, family, outcome);
        }
        status.bgp = Some(bgp);
    }
    if classes.contains(&NodeStatusClass::Routes) {
        let mut views: [FamilyRoutes<'_>; 2] = Default::default();
        for family in Family::ALL {
            let outcome = match snapshot.source(family) {
                Source::Unreachable(u) => unreachable(u),
                Source::Daemon(d) => match &d.routes {
                    Part::Collected(_) => {
                        views[family.index()] = route_views(d, family);
                        Outcome::Collected
                    }
                    Part::Failed(e) => Outcome::Failed(e.to_string()),
                    Part::NotRequested => not_collected(NodeStatusClass::Routes),
                },
            };
            outcomes.set(NodeStatusClass::Routes, family, outcome);
        }
        let [v4, v6] = &views;
        let total = v4.views.len() + v6.views.len();
        let (keep_v4, keep_v6) = if total > max_routes {
            nodestatus_api::select_routes(&v4.views, &v6.views, |v| v.fib, max_routes)
        } else {
            (vec![true; v4.views.len()], vec![true; v6.views.len()])
        };
        let routes = RouteStatus {
            routes_v4: v4.materialize(&keep_v4),
            routes_v6: v6.materialize(&keep_v6),
            truncated: (total > max_routes).then_some(RoutesTruncated {
                total_v4: v4.views.len() as u64,
                total_v6: v6.views.len() as u64,
            }),
        };
        if !routes.is_empty() || routes.truncated.is_some() {
            status.routes = Some(routes);
        }
    }
    Mapped { status, outcomes }
}

/// A daemon that did not answer is `Unreachable`; one this process lacked the descriptors to
/// try is a failed part: the agent's own trouble says nothing about BIRD.
fn unreachable(u: &crate::collect::Unreachable) -> Outcome {
    if u.is_local_shortage() {
        Outcome::Failed(format!("no BIRD socket could be opened here: {u}"))
    } else {
        Outcome::Unreachable(u.to_string())
    }
}

fn not_collected(class: NodeStatusClass) -> Outcome {
    Outcome::Failed(format!("class {class} was not collected in this snapshot"))
}

fn agent_status(source: &Source) -> (BgpDaemonStatus, Outcome) {
    let daemon = match source {
        Source::Unreachable(u) if u.is_local_shortage() => {
            return (BgpDaemonStatus::default(), unreachable(u));
        }
        Source::Unreachable(u) => {
            let status = BgpDaemonStatus {
                state: Some(BgpDaemonState::NotReady),
                ..BgpDaemonStatus::default()
            };
            return (status, unreachable(u));
        }
        Source::Daemon(d) => d,
    };
    let mut status = BgpDaemonStatus {
        state: Some(BgpDaemonState::Ready),
        version: daemon.version.clone(),
        ..BgpDaemonStatus::default()
    };
    let outcome = match &daemon.status {
        Part::Collected(s) => {
            status.version = s.version.clone();
            status.router_id = s.router_id.clone().unwrap_or_default();
            status.last_boot_time = s.last_reboot.clone().unwrap_or_default();
            status.last_reconfiguration_time = s.last_reconfiguration.clone().unwrap_or_default();
            Outcome::Collected
        }
        Part::Failed(e) => Outcome::Failed(e.to_string()),
        Part::NotRequested => not_collected(NodeStatusClass::Agent),
    };
    (status, outcome)
}

/// The family a protocol's session runs over: its neighbor address, else the address in its
/// name; `None` when neither says.
fn session_family(protocol: &Protocol) -> Option<Family> {
    if let Some(addr) = protocol
        .bgp
        .as_ref()
        .and_then(|b| b.neighbor_address.as_deref())
    {
        return Some(Family::of(addr));
    }
    let encoded = peer_address_from_name(&protocol.name, Family::V4)?;
    encoded
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| if ip.is_ipv4() { Family::V4 } else { Family::V6 })
}

/// True when the protocol's session belongs to `family` on this daemon. A BIRD 1.6 daemon
/// serves one family, so all its sessions are of that family whatever they say.
fn in_family(daemon: &Daemon, protocol: &Protocol, family: Family) -> bool {
    if !daemon.serves_both_families() {
        return true;
    }
    session_family(protocol).unwrap_or(Family::V4) == family
}

/// The peer address: `Neighbor address:` when known, else decoded from the name.
fn peer_address(protocol: &Protocol, family: Family) -> String {
    protocol
        .bgp
        .as_ref()
        .and_then(|b| b.neighbor_address.clone())
        .or_else(|| peer_address_from_name(&protocol.name, family))
        .unwrap_or_default()
}

/// The Calico BGP sessions of one family with their status entries, in BIRD's order. Other
/// BGP protocols (not named `Mesh_`, `Node_`, `Global_`) are left out, as Calico does.
pub(crate) fn peers<'a>(
    daemon: &'a Daemon,
    protocols: &'a [Protocol],
    family: Family,
) -> impl Iterator<Item = (&'a Protocol, BgpPeer)> + 'a {
    protocols
        .iter()
        .filter(|p| p.proto == "BGP")
        .filter_map(|p| peer_type(&p.name).map(|t| (p, t)))
        .filter(move |(p, _)| in_family(daemon, p, family))
        .map(move |(p, t)| {
            let peer = BgpPeer {
                peer_ip: peer_address(p, family),
                peer_type: Some(t),
                state: p
                    .bgp
                    .as_ref()
                    .and_then(|b| b.state.clone())
                    .unwrap_or_default(),
                since: p.since.clone(),
            };
            (p, peer)
        })
}

/// Where a protocol's routes come from, in the status's terms.
fn learned_from(protocol_name: &str, protocol: Option<&Protocol>, family: Family) -> LearnedFrom {
    let bgp = |mesh: bool| LearnedFrom {
        source_type: Some(if mesh {
            RouteSourceType::NodeMesh
        } else {
            RouteSourceType::BgpPeer
        }),
        peer_ip: match protocol {
            Some(p) => peer_address(p, family),
            None => peer_address_from_name(protocol_name, family).unwrap_or_default(),
        },
    };
    let source = |t| LearnedFrom {
        source_type: Some(t),
        peer_ip: String::new(),
    };
    match protocol.map(|p| p.proto.as_str()) {
        Some("Kernel") => source(RouteSourceType::Kernel),
        Some("Static") => source(RouteSourceType::Static),
        Some("Direct") => source(RouteSourceType::Direct),
        Some("BGP") => bgp(peer_type(protocol_name) == Some(BgpPeerType::NodeMesh)),
        Some(_) => LearnedFrom::default(),
        // Protocol list unavailable (or the protocol appeared after it was read, during a
        // reconfiguration): fall back to Calico's names.
        None => match peer_type(protocol_name) {
            Some(t) => bgp(t == BgpPeerType::NodeMesh),
            None if protocol_name.starts_with("kernel") => source(RouteSourceType::Kernel),
            None if protocol_name.starts_with("static") => source(RouteSourceType::Static),
            None if protocol_name.starts_with("direct") => source(RouteSourceType::Direct),
            None => LearnedFrom::default(),
        },
    }
}

/// The routes of one family in BIRD's order (the caller sorts them), one entry per next hop.
/// One route entry (one next hop of a route) still in BIRD's reply text.
#[derive(Debug)]
struct RouteView<'a> {
    destination: &'a str,
    fib: bool,
    gateway: &'a str,
    interface: &'a str,
    /// Index into [`FamilyRoutes::sources`].
    source: usize,
}

/// The route entries of one family in status order, and the sources they refer to.
#[derive(Debug, Default)]
struct FamilyRoutes<'a> {
    views: Vec<RouteView<'a>>,
    sources: Vec<LearnedFrom>,
}

impl FamilyRoutes<'_> {
    /// The routes whose `keep` is true, as status entries.
    fn materialize(&self, keep: &[bool]) -> Vec<ApiRoute> {
        self.views
            .iter()
            .zip(keep)
            .filter(|(_, kept)| **kept)
            .map(|(v, _)| ApiRoute {
                route_type: Some(if v.fib {
                    RouteType::Fib
                } else {
                    RouteType::Rib
                }),
                destination: v.destination.to_owned(),
                gateway: v.gateway.to_owned(),
                interface: v.interface.to_owned(),
                learned_from: self.sources[v.source].clone(),
            })
            .collect()
    }
}

/// The route entries of `family` on `daemon`, sorted as the status lists them
/// ([`nodestatus_api::sort_by_route_order`]).
fn route_views(daemon: &Daemon, family: Family) -> FamilyRoutes<'_> {
    let Some(table) = daemon.routes.collected() else {
        return FamilyRoutes::default();
    };
    let by_name: HashMap<&str, &Protocol> = daemon
        .protocols
        .collected()
        .map(|ps| ps.iter().map(|p| (p.name.as_str(), p)).collect())
        .unwrap_or_default();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut sources = Vec::new();
    let mut views = Vec::new();
    for route in table.iter() {
        if Family::of(route.destination) != family {
            continue;
        }
        let source = *index.entry(route.protocol).or_insert_with(|| {
            sources.push(learned_from(
                route.protocol,
                by_name.get(route.protocol).copied(),
                family,
            ));
            sources.len() - 1
        });
        let entry = |gateway, interface| RouteView {
            destination: route.destination,
            fib: route.primary,
            gateway,
            interface,
            source,
        };
        match route.kind {
            RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibited => {
                views.push(entry("N/A", route.kind.as_str()));
            }
            _ if route.next_hops.len() == 0 => views.push(entry("N/A", "")),
            _ => {
                for hop in route.next_hops.clone() {
                    views.push(entry(
                        hop.gateway.unwrap_or("N/A"),
                        hop.interface.unwrap_or_default(),
                    ));
                }
            }
        }
    }
    nodestatus_api::sort_by_route_order(&mut views, &sources, |sources, v| RouteFields {
        destination: v.destination,
        fib: v.fib,
        gateway: v.gateway,
        interface: v.interface,
        peer_ip: &sources[v.source].peer_ip,
    });
    FamilyRoutes { views, sources }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use nodestatus_api::NodeStatusClass::{Agent, Bgp, Routes};

    use super::*;
    use crate::client::ClientError;
    use crate::collect::{CollectError, Unreachable};
    use crate::error::ParseError;
    use crate::protocols::parse_protocols;
    use crate::reply::Reply;
    use crate::routes::RouteTable;
    use crate::status::parse_status;

    const ALL: [NodeStatusClass; 3] = NodeStatusClass::ALL;

    fn reply(text: &str) -> Reply {
        Reply::from_bytes(text).unwrap()
    }

    fn daemon(
        version: &str,
        status: Option<&str>,
        protocols: Option<&str>,
        routes: Option<&str>,
    ) -> Arc<Daemon> {
        Arc::new(Daemon {
            socket: PathBuf::from("/run/test.ctl"),
            version: version.into(),
            status: status.map_or(Part::NotRequested, |t| {
                Part::Collected(parse_status(&reply(t)).unwrap())
            }),
            protocols: protocols.map_or(Part::NotRequested, |t| {
                Part::Collected(parse_protocols(&reply(t)).unwrap())
            }),
            routes: routes.map_or(Part::NotRequested, |t| {
                Part::Collected(RouteTable::parse(reply(t)).unwrap())
            }),
        })
    }

    fn unreachable() -> Source {
        Source::Unreachable(Arc::new(Unreachable {
            errors: vec![ClientError::Connect {
                path: PathBuf::from("/run/bird6.ctl"),
                source: std::io::ErrorKind::NotFound.into(),
            }],
        }))
    }

    fn peer(ip: &str, t: BgpPeerType, state: &str, since: &str) -> BgpPeer {
        BgpPeer {
            peer_ip: ip.into(),
            peer_type: Some(t),
            state: state.into(),
            since: since.into(),
        }
    }

    fn route(
        t: RouteType,
        dst: &str,
        gw: &str,
        iface: &str,
        source: RouteSourceType,
        peer: &str,
    ) -> ApiRoute {
        ApiRoute {
            route_type: Some(t),
            destination: dst.into(),
            gateway: gw.into(),
            interface: iface.into(),
            learned_from: LearnedFrom {
                source_type: Some(source),
                peer_ip: peer.into(),
            },
        }
    }

    fn ready(version: &str, router_id: &str, boot: &str) -> BgpDaemonStatus {
        BgpDaemonStatus {
            state: Some(BgpDaemonState::Ready),
            version: version.into(),
            router_id: router_id.into(),
            last_boot_time: boot.into(),
            last_reconfiguration_time: boot.into(),
        }
    }

    use BgpPeerType::{GlobalPeer, NodeMesh, NodePeer};
    use RouteSourceType::{BgpPeer as Peer, Direct, Kernel, NodeMesh as Mesh, Static};
    use RouteType::{Fib, Rib};

    #[test]
    fn one_bird_2_daemon_serves_both_families() {
        let d = daemon(
            "2.0.12",
            Some(include_str!(
                "../tests/fixtures/loopback-bird2/c-bird-show_status.txt"
            )),
            Some(include_str!(
                "../tests/fixtures/loopback-bird2/c-bird-show_protocols_all.txt"
            )),
            Some(include_str!(
                "../tests/fixtures/loopback-bird2/c-bird-show_route.txt"
            )),
        );
        let snapshot = Snapshot {
            v4: Source::Daemon(d.clone()),
            v6: Source::Daemon(d),
        };
        let mapped = map_snapshot(&snapshot, &ALL);
        let t = "00:51:27.899";
        let status = CalicoNodeStatusStatus {
            last_updated: None,
            agent: Some(AgentStatus {
                bird_v4: ready("2.0.12", "127.0.0.1", "2026-11-25 00:51:27.899"),
                bird_v6: ready("2.0.12", "127.0.0.1", "2026-11-25 00:51:27.899"),
            }),
            bgp: Some(BgpStatus {
                number_established_v4: 1,
                number_not_established_v4: 3,
                number_established_v6: 0,
                number_not_established_v6: 1,
                peers_v4: vec![
                    peer("127.0.0.2", NodeMesh, "Established", "00:51:31.930"),
                    peer("127.0.0.3", NodePeer, "Active", t),
                    peer("127.0.0.4", GlobalPeer, "Passive", t),
                    peer("127.0.0.5", NodeMesh, "Down", t),
                ],
                peers_v6: vec![peer("::1", NodeMesh, "Passive", t)],
            }),
            routes: Some(RouteStatus {
                routes_v4: vec![
                    route(Fib, "192.168.10.0/26", "N/A", "blackhole", Static, ""),
                    route(Fib, "192.168.10.64/26", "N/A", "unreachable", Static, ""),
                    route(Fib, "192.168.10.128/26", "N/A", "prohibited", Static, ""),
                    route(Fib, "192.168.20.0/26", "N/A", "blackhole", Static, ""),
                    route(
                        Rib,
                        "192.168.20.0/26",
                        "N/A",
                        "unreachable",
                        Mesh,
                        "127.0.0.2",
                    ),
                    route(
                        Fib,
                        "192.168.30.0/26",
                        "N/A",
                        "unreachable",
                        Mesh,
                        "127.0.0.2",
                    ),
                ],
                routes_v6: vec![
                    route(Fib, "fd00:10::/64", "N/A", "blackhole", Static, ""),
                    route(Fib, "fd00:20::/64", "N/A", "unreachable", Static, ""),
                ],
                truncated: None,
            }),
        };
        assert_eq!(mapped.status, status);
        assert!(
            mapped
                .outcomes
                .iter()
                .all(|(_, _, o)| *o == Outcome::Collected)
        );
    }

    #[test]
    fn two_bird_1_6_daemons_one_per_family_other_sessions_skipped() {
        let v4 = daemon(
            "1.6.8",
            Some(include_str!(
                "../tests/fixtures/loopback-bird1.6/a-bird-show_status.txt"
            )),
            Some(include_str!(
                "../tests/fixtures/loopback-bird1.6/a-bird-show_protocols_all.txt"
            )),
            Some(include_str!(
                "../tests/fixtures/loopback-bird1.6/a-bird-show_route.txt"
            )),
        );
        let v6 = daemon(
            "1.6.8",
            Some(include_str!(
                "../tests/fixtures/loopback-bird1.6/a-bird6-show_status.txt"
            )),
            Some(include_str!(
                "../tests/fixtures/loopback-bird1.6/a-bird6-show_protocols_all.txt"
            )),
            Some(include_str!(
                "../tests/fixtures/loopback-bird1.6/a-bird6-show_route.txt"
            )),
        );
        let mapped = map_snapshot(
            &Snapshot {
                v4: Source::Daemon(v4),
                v6: Source::Daemon(v6),
            },
            &[Bgp, Routes],
        );
        let t = "00:50:48";
        let t6 = "00:51:51";
        assert_eq!(
            mapped.status.bgp,
            Some(BgpStatus {
                number_established_v4: 1,
                number_not_established_v4: 3,
                number_established_v6: 0,
                number_not_established_v6: 3,
                peers_v4: vec![
                    peer("127.0.0.2", NodeMesh, "Established", "00:50:52"),
                    peer("127.0.0.3", NodePeer, "Active", t),
                    peer("127.0.0.4", GlobalPeer, "Passive", t),
                    peer("127.0.0.5", NodeMesh, "Down", t),
                ],
                peers_v6: vec![
                    peer("::1", NodeMesh, "Active", t6),
                    peer("::1", GlobalPeer, "Passive", t6),
                    peer("::1", NodePeer, "Down", t6),
                ],
            })
        );
        assert_eq!(
            mapped.status.routes,
            Some(RouteStatus {
                routes_v4: vec![
                    route(Fib, "192.168.10.0/26", "N/A", "blackhole", Static, ""),
                    route(Fib, "192.168.10.64/26", "N/A", "unreachable", Static, ""),
                    route(Fib, "192.168.10.128/26", "N/A", "prohibited", Static, ""),
                    route(Fib, "192.168.20.0/26", "N/A", "blackhole", Static, ""),
                    route(
                        Rib,
                        "192.168.20.0/26",
                        "N/A",
                        "unreachable",
                        Mesh,
                        "127.0.0.2"
                    ),
                    route(
                        Fib,
                        "192.168.30.0/26",
                        "N/A",
                        "unreachable",
                        Mesh,
                        "127.0.0.2"
                    ),
                ],
                routes_v6: vec![
                    route(Fib, "fd00:10::/64", "N/A", "blackhole", Static, ""),
                    route(Fib, "fd00:20::/64", "N/A", "unreachable", Static, ""),
                    route(Fib, "fd00:30::/64", "N/A", "prohibited", Static, ""),
                ],
                truncated: None,
            })
        );
        assert_eq!(mapped.status.agent, None);
        assert_eq!(
            *mapped.outcomes.get(Agent, Family::V4),
            Outcome::NotRequested
        );
    }

    const BIRD2_PROTOCOLS: &str = "2002-Name       Proto      Table      State  Since         Info
1002-kernel1    Kernel     master4    up     09:23:19.120  
 kernel2    Kernel     master6    up     09:23:19.120  
 direct1    Direct     ---        up     09:23:19.120  
 static1    Static     master4    up     09:23:19.120  
 Mesh_10_99_0_3 BGP        ---        up     09:23:22.500  Established   
1006-  BGP state:          Established
     Neighbor address: 10.99.0.3
     Neighbor AS:      64512
 
1002-Global_10_99_0_4_port_180 BGP        ---        up     09:23:25.001  Established   
1006-  BGP state:          Established
     Neighbor address: 10.99.0.4
     Neighbor AS:      65001
 
0000 
";

    const BIRD2_ROUTES: &str = "1007-Table master4:
 0.0.0.0/0            unicast [kernel1 09:23:19.120] * (10)
 \tvia 10.99.0.1 on eth0
 192.168.82.0/26      unicast [Mesh_10_99_0_3 09:23:22.500] * (100/0) [i]
 \tvia 10.99.0.3 on eth0
                      unicast [Global_10_99_0_4_port_180 09:23:25.001] (100/0) [AS65001i]
 \tvia 10.99.0.4 on eth0
 10.99.0.0/24         unicast [direct1 09:23:19.120] * (240)
 \tdev eth0
 10.201.0.0/16        unicast [static1 09:23:19.120] * (200)
 \tvia 10.99.0.2 on eth0 weight 1
 \tvia 10.99.0.3 on eth1 weight 2
 
 Table master6:
 fd00:10::/64         unicast [Mesh_10_99_0_3 09:23:22.500] * (100/0) [i]
 \tvia fd99::3 on eth0
 fd99::/64            unicast [direct1 09:23:19.120] * (240)
 \tdev eth0
 fd00:20::/64         unicast [kernel2 09:23:19.120] * (10)
 \tdev cali1234
0000 
";

    #[test]
    fn multipath_gives_an_entry_per_next_hop_and_ipv6_routes_keep_their_ipv4_session_peer() {
        let d = daemon("2.0.12", None, Some(BIRD2_PROTOCOLS), Some(BIRD2_ROUTES));
        let mapped = map_snapshot(
            &Snapshot {
                v4: Source::Daemon(d.clone()),
                v6: Source::Daemon(d),
            },
            &[Routes],
        );
        assert_eq!(
            mapped.status.routes,
            Some(RouteStatus {
                routes_v4: vec![
                    route(Fib, "0.0.0.0/0", "10.99.0.1", "eth0", Kernel, ""),
                    route(Fib, "10.99.0.0/24", "N/A", "eth0", Direct, ""),
                    route(Fib, "10.201.0.0/16", "10.99.0.2", "eth0", Static, ""),
                    route(Fib, "10.201.0.0/16", "10.99.0.3", "eth1", Static, ""),
                    route(
                        Fib,
                        "192.168.82.0/26",
                        "10.99.0.3",
                        "eth0",
                        Mesh,
                        "10.99.0.3"
                    ),
                    route(
                        Rib,
                        "192.168.82.0/26",
                        "10.99.0.4",
                        "eth0",
                        Peer,
                        "10.99.0.4"
                    ),
                ],
                routes_v6: vec![
                    route(Fib, "fd00:10::/64", "fd99::3", "eth0", Mesh, "10.99.0.3"),
                    route(Fib, "fd00:20::/64", "N/A", "cali1234", Kernel, ""),
                    route(Fib, "fd99::/64", "N/A", "eth0", Direct, ""),
                ],
                truncated: None,
            })
        );
        assert_eq!(mapped.status.bgp, None);
        assert_eq!(mapped.status.agent, None);
    }

    /// `BIRD2_ROUTES` with the networks of each table in another order, as `show route` may
    /// print them after a rehash with no route changing.
    const BIRD2_ROUTES_REORDERED: &str = "1007-Table master4:
 10.201.0.0/16        unicast [static1 09:23:19.120] * (200)
 \tvia 10.99.0.2 on eth0 weight 1
 \tvia 10.99.0.3 on eth1 weight 2
 10.99.0.0/24         unicast [direct1 09:23:19.120] * (240)
 \tdev eth0
 192.168.82.0/26      unicast [Mesh_10_99_0_3 09:23:22.500] * (100/0) [i]
 \tvia 10.99.0.3 on eth0
                      unicast [Global_10_99_0_4_port_180 09:23:25.001] (100/0) [AS65001i]
 \tvia 10.99.0.4 on eth0
 0.0.0.0/0            unicast [kernel1 09:23:19.120] * (10)
 \tvia 10.99.0.1 on eth0
 
 Table master6:
 fd00:20::/64         unicast [kernel2 09:23:19.120] * (10)
 \tdev cali1234
 fd00:10::/64         unicast [Mesh_10_99_0_3 09:23:22.500] * (100/0) [i]
 \tvia fd99::3 on eth0
 fd99::/64            unicast [direct1 09:23:19.120] * (240)
 \tdev eth0
0000 
";

    #[test]
    fn the_same_routes_in_another_show_route_order_map_to_an_equal_status() {
        let map = |routes| {
            let d = daemon("2.0.12", None, Some(BIRD2_PROTOCOLS), Some(routes));
            map_snapshot(
                &Snapshot {
                    v4: Source::Daemon(d.clone()),
                    v6: Source::Daemon(d),
                },
                &[Bgp, Routes],
            )
        };
        assert_eq!(map(BIRD2_ROUTES_REORDERED), map(BIRD2_ROUTES));
    }

    #[test]
    fn without_the_protocol_list_route_sources_come_from_calico_names() {
        let mut d = Arc::try_unwrap(daemon("2.0.12", None, None, Some(BIRD2_ROUTES))).unwrap();
        d.protocols = Part::Failed(CollectError::Parse {
            socket: PathBuf::from("/run/test.ctl"),
            command: "show protocols all",
            source: ParseError::Missing("anything"),
        });
        let d = Arc::new(d);
        let mapped = map_snapshot(
            &Snapshot {
                v4: Source::Daemon(d.clone()),
                v6: Source::Daemon(d),
            },
            &[Routes],
        );
        let routes = mapped.status.routes.unwrap();
        let sources: Vec<_> = routes
            .routes_v4
            .iter()
            .chain(&routes.routes_v6)
            .map(|r| (r.learned_from.source_type, r.learned_from.peer_ip.as_str()))
            .collect();
        assert_eq!(
            sources,
            [
                (Some(Kernel), ""),
                (Some(Direct), ""),
                (Some(Static), ""),
                (Some(Static), ""),
                (Some(Mesh), "10.99.0.3"),
                (Some(Peer), "10.99.0.4"),
                (Some(Mesh), "10.99.0.3"),
                (Some(Kernel), ""),
                (Some(Direct), ""),
            ]
        );
        assert_eq!(*mapped.outcomes.get(Routes, Family::V6), Outcome::Collected);
    }

    #[test]
    fn an_unreachable_family_is_not_ready_with_no_peers_or_routes() {
        let v4 = daemon(
            "1.6.8",
            Some(include_str!(
                "../tests/fixtures/loopback-bird1.6/isolong-bird-show_status.txt"
            )),
            Some(include_str!(
                "../tests/fixtures/loopback-bird1.6/isolong-bird-show_protocols_all.txt"
            )),
            Some(include_str!(
                "../tests/fixtures/loopback-bird1.6/isolong-bird-show_route.txt"
            )),
        );
        let mapped = map_snapshot(
            &Snapshot {
                v4: Source::Daemon(v4),
                v6: unreachable(),
            },
            &ALL,
        );
        let t = "2026-11-25 00:52:02";
        assert_eq!(
            mapped.status,
            CalicoNodeStatusStatus {
                last_updated: None,
                agent: Some(AgentStatus {
                    bird_v4: ready("1.6.8", "127.0.0.1", t),
                    bird_v6: BgpDaemonStatus {
                        state: Some(BgpDaemonState::NotReady),
                        ..BgpDaemonStatus::default()
                    },
                }),
                bgp: Some(BgpStatus {
                    number_established_v4: 0,
                    number_not_established_v4: 2,
                    number_established_v6: 0,
                    number_not_established_v6: 0,
                    peers_v4: vec![
                        peer("127.0.0.7", NodeMesh, "Passive", t),
                        peer("127.0.0.8", NodePeer, "Down", t)
                    ],
                    peers_v6: vec![],
                }),
                routes: Some(RouteStatus {
                    routes_v4: vec![route(
                        Fib,
                        "192.168.40.0/26",
                        "N/A",
                        "blackhole",
                        Static,
                        ""
                    )],
                    routes_v6: vec![],
                    truncated: None,
                }),
            }
        );
        let error = "cannot connect to BIRD at /run/bird6.ctl: entity not found".to_owned();
        for class in ALL {
            assert_eq!(
                *mapped.outcomes.get(class, Family::V6),
                Outcome::Unreachable(error.clone())
            );
            assert_eq!(*mapped.outcomes.get(class, Family::V4), Outcome::Collected);
        }
    }

    #[test]
    fn a_failed_part_takes_the_last_good_value_and_the_rest_is_fresh() {
        let mut d = Arc::try_unwrap(daemon(
            "2.0.12",
            Some(include_str!(
                "../tests/fixtures/loopback-bird2/c-bird-show_status.txt"
            )),
            Some(BIRD2_PROTOCOLS),
            None,
        ))
        .unwrap();
        d.routes = Part::Failed(CollectError::Parse {
            socket: PathBuf::from("/run/test.ctl"),
            command: "show route",
            source: ParseError::Missing("anything"),
        });
        d.status = Part::Failed(CollectError::Abandoned {
            socket: PathBuf::from("/run/test.ctl"),
            command: "show status",
        });
        let d = Arc::new(d);
        let mapped = map_snapshot(
            &Snapshot {
                v4: Source::Daemon(d.clone()),
                v6: Source::Daemon(d),
            },
            &ALL,
        );
        assert!(mapped.outcomes.any_failed());
        assert_eq!(
            *mapped.outcomes.get(Routes, Family::V6),
            Outcome::Failed("BIRD at /run/test.ctl, `show route`: reply has no anything".into())
        );
        // Without a last status the failed parts claim nothing: a greeting is no `Ready`.
        let alone = mapped.merge_last_good(None);
        assert_eq!(alone.agent, None);
        assert_eq!(alone.routes, None);
        assert!(alone.bgp.is_some(), "BGP was collected");

        let last = CalicoNodeStatusStatus {
            last_updated: Some("2021-10-18T13:22:03Z".into()),
            agent: Some(AgentStatus {
                bird_v4: ready("2.0.11", "10.0.0.1", "yesterday"),
                bird_v6: ready("2.0.11", "10.0.0.1", "yesterday"),
            }),
            bgp: Some(BgpStatus {
                number_established_v4: 7,
                peers_v4: vec![peer("10.0.0.7", NodeMesh, "Idle", "old")],
                ..BgpStatus::default()
            }),
            routes: Some(RouteStatus {
                routes_v4: vec![route(Fib, "10.0.0.0/8", "N/A", "blackhole", Static, "")],
                routes_v6: vec![],
                truncated: None,
            }),
        };
        let merged = mapped.merge_last_good(Some(&last));
        assert_eq!(
            merged,
            CalicoNodeStatusStatus {
                last_updated: None,
                agent: last.agent.clone(),
                bgp: mapped.status.bgp.clone(),
                routes: last.routes.clone(),
            }
        );
        assert_eq!(merged.bgp.map(|b| b.number_established_v4), Some(2));
    }
}
