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

use serde::Serialize;
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};

use nodestatus_api::{
    AgentStatus, BgpDaemonState, BgpDaemonStatus, BgpPeer, BgpPeerType, BgpStatus,
    CalicoNodeStatusStatus, Family, LearnedFrom, NodeStatusClass, Route as ApiRoute, RouteFields,
    RouteSourceType, RouteStatus, RouteType, RoutesTruncated,
};

use crate::collect::{Daemon, Part, Snapshot, Source};
use crate::family::{peer_address_from_name, peer_type};
use crate::parse::show_protocols::Protocol;
use crate::parse::show_route::{RouteKind, RouteTable};

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
                *agent.daemon_mut(family) = last
                    .and_then(|l| l.agent.as_ref())
                    .map(|old| old.daemon(family).clone())
                    .unwrap_or_default();
            }
            if failed(NodeStatusClass::Bgp, family)
                && let Some(bgp) = status.bgp.as_mut()
            {
                match last.and_then(|l| l.bgp.as_ref()) {
                    Some(old) => {
                        let (established, not_established) = old.counts(family);
                        bgp.set_counts(family, established, not_established);
                        *bgp.peers_mut(family) = old.peers(family).to_vec();
                    }
                    None => bgp_unknown = true,
                }
            }
            if failed(NodeStatusClass::Routes, family) {
                let old = last
                    .and_then(|l| l.routes.as_ref())
                    .map(|r| r.routes(family).to_vec())
                    .unwrap_or_default();
                *status
                    .routes
                    .get_or_insert_with(RouteStatus::default)
                    .routes_mut(family) = old;
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
            *agent.daemon_mut(family) = daemon;
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
            bgp.set_counts(family, established, not_established);
            *bgp.peers_mut(family) = peers;
            outcomes.set(NodeStatusClass::Bgp, family, outcome);
        }
        status.bgp = Some(bgp);
    }
    if classes.contains(&NodeStatusClass::Routes) {
        let [v4, v6] = family_routes(snapshot, &mut outcomes);
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

/// [`map_snapshot`] for printing: the status without `routes`, and the route lists, sorted as
/// the status lists them, still in BIRD's reply text ([`RouteLists`] serializes them as the
/// status's `routes`). Nothing is copied per route, so printing 100,000 routes holds the reply,
/// its parse and one 64-byte entry per route, not a status of owned strings.
pub fn map_snapshot_lazy<'a>(
    snapshot: &'a Snapshot,
    classes: &[NodeStatusClass],
) -> (Mapped, RouteLists<'a>) {
    let without_routes: Vec<_> = classes
        .iter()
        .copied()
        .filter(|c| *c != NodeStatusClass::Routes)
        .collect();
    let mut mapped = map_snapshot(snapshot, &without_routes);
    let families = if classes.contains(&NodeStatusClass::Routes) {
        family_routes(snapshot, &mut mapped.outcomes)
    } else {
        Default::default()
    };
    (mapped, RouteLists { families })
}

/// The routes of both families, sorted, with the outcome of each recorded.
fn family_routes<'a>(snapshot: &'a Snapshot, outcomes: &mut Outcomes) -> [FamilyRoutes<'a>; 2] {
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
    views
}

/// The route lists of a snapshot, sorted, still in BIRD's reply text
/// ([`map_snapshot_lazy`]). Serializes as the status's `routes` ([`RouteStatus`]) with every
/// route, one entry at a time.
#[derive(Debug)]
pub struct RouteLists<'a> {
    families: [FamilyRoutes<'a>; 2],
}

impl RouteLists<'_> {
    /// True when neither family has a route (the status then has no `routes`).
    pub fn is_empty(&self) -> bool {
        self.families.iter().all(|f| f.views.is_empty())
    }

    /// The number of route entries of a family.
    pub fn len(&self, family: Family) -> usize {
        self.families[family.index()].views.len()
    }
}

impl Serialize for RouteLists<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let [v4, v6] = &self.families;
        let fields = usize::from(!v4.views.is_empty()) + usize::from(!v6.views.is_empty());
        let mut out = serializer.serialize_struct("RouteStatus", fields)?;
        // Field names and omissions as `RouteStatus`'s.
        for (name, family) in [("routesV4", v4), ("routesV6", v6)] {
            if family.views.is_empty() {
                out.skip_field(name)?;
            } else {
                out.serialize_field(name, family)?;
            }
        }
        out.end()
    }
}

/// Serializes the entries as a list of [`ApiRoute`]s, one at a time.
impl Serialize for FamilyRoutes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.views.len()))?;
        for view in &self.views {
            seq.serialize_element(&self.lookup.borrowed(view))?;
        }
        seq.end()
    }
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
pub fn peers<'a>(
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

/// One route entry (one next hop of a route) as indices into the parsed reply: 16 bytes where
/// three borrowed strings took 64, so 100,000 entries hold 1.6 MB.
#[derive(Clone, Copy, Debug)]
struct RouteView {
    /// Index of the route in the [`RouteTable`].
    route: u32,
    /// Index of the next hop among the route's; [`NO_HOP`] for a route without any.
    hop: u32,
    /// Index into [`FamilyRoutes::sources`].
    source: u32,
    fib: bool,
}

/// [`RouteView::hop`] of a route with no next hop.
const NO_HOP: u32 = u32::MAX;

/// The route entries of one family in status order, and the sources they refer to.
#[derive(Debug, Default)]
struct FamilyRoutes<'a> {
    lookup: EntryLookup<'a>,
    views: Vec<RouteView>,
}

/// What a [`RouteView`]'s fields are read from: the parsed reply and the sources.
#[derive(Debug, Default)]
struct EntryLookup<'a> {
    table: Option<&'a RouteTable>,
    sources: Vec<LearnedFrom>,
}

impl EntryLookup<'_> {
    /// The entry's fields, borrowed from the reply text.
    fn fields(&self, v: &RouteView) -> RouteFields<'_> {
        let Some((destination, kind, hop)) = self.table.map(|t| t.entry(v.route as usize, v.hop))
        else {
            return RouteFields {
                destination: "",
                fib: v.fib,
                gateway: "",
                interface: "",
                peer_ip: "",
            };
        };
        let (gateway, interface) = match (kind, hop) {
            (RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibited, _) => {
                ("N/A", kind.as_str())
            }
            (_, Some(hop)) => (
                hop.gateway.unwrap_or("N/A"),
                hop.interface.unwrap_or_default(),
            ),
            (_, None) => ("N/A", ""),
        };
        RouteFields {
            destination,
            fib: v.fib,
            gateway,
            interface,
            peer_ip: &self.sources[v.source as usize].peer_ip,
        }
    }

    fn route_type(v: &RouteView) -> RouteType {
        if v.fib {
            RouteType::Fib
        } else {
            RouteType::Rib
        }
    }

    /// One entry as the status's route.
    fn entry(&self, v: &RouteView) -> ApiRoute {
        let f = self.fields(v);
        ApiRoute {
            route_type: Some(Self::route_type(v)),
            destination: f.destination.to_owned(),
            gateway: f.gateway.to_owned(),
            interface: f.interface.to_owned(),
            learned_from: self.sources[v.source as usize].clone(),
        }
    }

    /// One entry as the status's route serializes, borrowed from the reply text.
    fn borrowed(&self, v: &RouteView) -> BorrowedRoute<'_> {
        let f = self.fields(v);
        BorrowedRoute {
            route_type: Self::route_type(v),
            destination: f.destination,
            gateway: f.gateway,
            interface: f.interface,
            learned_from: &self.sources[v.source as usize],
        }
    }
}

/// A route entry serialized as [`ApiRoute`] serializes (same names, order and omissions; the
/// type is always set), without copying its strings: printing 100,000 routes allocates nothing
/// per route. `lazy_route_lists_serialize_as_the_mapped_routes_on_every_capture` holds the two
/// to the same text.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BorrowedRoute<'a> {
    #[serde(rename = "type")]
    route_type: RouteType,
    #[serde(skip_serializing_if = "str::is_empty")]
    destination: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    gateway: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    interface: &'a str,
    learned_from: &'a LearnedFrom,
}

impl FamilyRoutes<'_> {
    /// The routes whose `keep` is true, as status entries.
    fn materialize(&self, keep: &[bool]) -> Vec<ApiRoute> {
        self.views
            .iter()
            .zip(keep)
            .filter(|(_, kept)| **kept)
            .map(|(v, _)| self.lookup.entry(v))
            .collect()
    }
}

/// The route entries of `family` on `daemon` (one per next hop), sorted as the status lists
/// them ([`nodestatus_api::sort_by_route_order`]).
fn route_views(daemon: &Daemon, family: Family) -> FamilyRoutes<'_> {
    let Some(table) = daemon.routes.collected() else {
        return FamilyRoutes::default();
    };
    let by_name: HashMap<&str, &Protocol> = daemon
        .protocols
        .collected()
        .map(|ps| ps.iter().map(|p| (p.name.as_str(), p)).collect())
        .unwrap_or_default();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut sources = Vec::new();
    // Sized once: a Vec grown by doubling would hold up to twice the entries.
    let entries = table
        .iter()
        .filter(|r| Family::of(r.destination) == family)
        .map(|r| r.next_hops.len().max(1))
        .sum();
    let mut views = Vec::with_capacity(entries);
    for (i, route) in table.iter().enumerate() {
        if Family::of(route.destination) != family {
            continue;
        }
        let source = *index.entry(route.protocol).or_insert_with(|| {
            sources.push(learned_from(
                route.protocol,
                by_name.get(route.protocol).copied(),
                family,
            ));
            (sources.len() - 1) as u32
        });
        // Replies are at most `MAX_REPLY_BYTES` (< 2^32), so route and hop counts fit.
        let entry = |hop| RouteView {
            route: i as u32,
            hop,
            source,
            fib: route.primary,
        };
        match route.kind {
            RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibited => {
                views.push(entry(NO_HOP));
            }
            _ if route.next_hops.len() == 0 => views.push(entry(NO_HOP)),
            _ => views.extend((0..route.next_hops.len() as u32).map(entry)),
        }
    }
    let lookup = EntryLookup {
        table: Some(table),
        sources,
    };
    nodestatus_api::sort_by_route_order(&mut views, &lookup, EntryLookup::fields);
    FamilyRoutes { lookup, views }
}

#[cfg(test)]
mod tests;
