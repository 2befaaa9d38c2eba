//! Spec and status types. Field names, casing and omission rules follow Calico's Go types
//! (`libcalico-go/lib/apis/v3/caliconodestatus.go`): empty optional parts are left out on output.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The group and version of Calico's own API form.
pub const V3_API_VERSION: &str = "projectcalico.org/v3";
/// The group and version under which the CRD is stored in Kubernetes.
pub const CRD_API_VERSION: &str = "crd.projectcalico.org/v1";
/// The kind, the same in both forms.
pub const KIND: &str = "CalicoNodeStatus";
/// The plural resource name, the same in both forms.
pub const PLURAL: &str = "caliconodestatuses";
/// The largest accepted `spec.updatePeriodSeconds` (one day).
pub const MAX_UPDATE_PERIOD_SECONDS: u32 = 86_400;

/// What the operator asks for: which node, which classes, how often.
#[derive(CustomResource, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "crd.projectcalico.org",
    version = "v1",
    kind = "CalicoNodeStatus",
    plural = "caliconodestatuses",
    status = "CalicoNodeStatusStatus",
    selectable = ".spec.node",
    derive = "PartialEq",
    doc = "CalicoNodeStatus asks the nodestatus agent on `spec.node` to report BIRD's BGP state and routes in `status`.",
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".spec.node"}"#,
    printcolumn = r#"{"name":"Period","type":"integer","jsonPath":".spec.updatePeriodSeconds"}"#,
    printcolumn = r#"{"name":"Last Updated","type":"date","jsonPath":".status.lastUpdated"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CalicoNodeStatusSpec {
    /// The classes of information to collect for this node.
    pub classes: Vec<NodeStatusClass>,
    /// The name of the node whose BIRD daemons are reported on.
    pub node: String,
    /// Seconds between refreshes; 0 stops refreshing. At most 86400.
    // The `int32` format Kubernetes knows (Calico's CRD has it too) instead of schemars' `uint32`.
    // The CRD's bounds print as `86400.0`: Kubernetes types them as floats.
    #[schemars(range(min = 0, max = 86400), extend("format" = "int32"))]
    pub update_period_seconds: u32,
}

/// A class of information the agent can collect.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum NodeStatusClass {
    /// BIRD daemon state per address family.
    Agent,
    /// BGP peer sessions.
    #[serde(rename = "BGP")]
    Bgp,
    /// Routes in BIRD's tables.
    Routes,
}

impl NodeStatusClass {
    /// Every class, in Calico's order.
    pub const ALL: [NodeStatusClass; 3] = [Self::Agent, Self::Bgp, Self::Routes];

    /// The name as written in a resource.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "Agent",
            Self::Bgp => "BGP",
            Self::Routes => "Routes",
        }
    }
}

impl std::fmt::Display for NodeStatusClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NodeStatusClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not one of Agent, BGP, Routes"))
    }
}

/// What the agent reports. Parts the spec did not ask for are absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalicoNodeStatusStatus {
    /// RFC 3339 UTC time of the last status write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub last_updated: Option<String>,
    /// BIRD daemon status per address family (class `Agent`).
    #[serde(
        default,
        deserialize_with = "none_if_empty",
        skip_serializing_if = "none_or_empty"
    )]
    pub agent: Option<AgentStatus>,
    /// BGP sessions (class `BGP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<BgpStatus>,
    /// Routes (class `Routes`).
    #[serde(
        default,
        deserialize_with = "none_if_empty",
        skip_serializing_if = "none_or_empty"
    )]
    pub routes: Option<RouteStatus>,
}

/// `lastUpdated` as Calico writes it: RFC 3339, UTC, whole seconds (`2027-01-15T08:01:01Z`).
pub fn last_updated_at(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Reads an empty `agent` or `routes` as absent. Calico's Go types have no `omitempty` that
/// works on these structs, so resources Calico wrote carry `agent: {birdV4: {}, birdV6: {}}`
/// and `routes: {}`, which say nothing; reading them as absent keeps them out of what we print
/// and makes them compare equal to what the agent builds for the same state.
fn none_if_empty<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default + PartialEq,
{
    Ok(Option::<T>::deserialize(deserializer)?.filter(|v| *v != T::default()))
}

/// True for an absent or empty part, which is omitted on output (SPEC: `agent` and `routes`
/// are omitted when empty).
fn none_or_empty<T: Default + PartialEq>(value: &Option<T>) -> bool {
    value.as_ref().is_none_or(|v| *v == T::default())
}

/// BIRD daemon status for both address families.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgentStatus {
    /// The IPv4 daemon (`bird` in BIRD 1.6; the one daemon in BIRD 2).
    #[serde(
        rename = "birdV4",
        default,
        skip_serializing_if = "BgpDaemonStatus::is_empty"
    )]
    pub bird_v4: BgpDaemonStatus,
    /// The IPv6 daemon (`bird6` in BIRD 1.6; the one daemon in BIRD 2).
    #[serde(
        rename = "birdV6",
        default,
        skip_serializing_if = "BgpDaemonStatus::is_empty"
    )]
    pub bird_v6: BgpDaemonStatus,
}

/// One BIRD daemon's status, strings as BIRD prints them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpDaemonStatus {
    /// `Ready` or `NotReady`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<BgpDaemonState>,
    /// BIRD's version, e.g. `v0.3.3+birdv1.6.8` or `2.0.12`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The router ID.
    #[serde(rename = "routerID", default, skip_serializing_if = "String::is_empty")]
    pub router_id: String,
    /// When the daemon last started.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_boot_time: String,
    /// When the daemon last reloaded its configuration.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_reconfiguration_time: String,
}

impl BgpDaemonStatus {
    /// True when no field is set (such a status is omitted on output).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Whether a BIRD daemon answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BgpDaemonState {
    /// The daemon answered.
    Ready,
    /// The daemon could not be reached.
    NotReady,
}

/// BGP sessions for both families. The four counts are always written, 0 included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpStatus {
    /// IPv4 sessions whose protocol state is `up`.
    #[serde(rename = "numberEstablishedV4", default)]
    pub number_established_v4: u32,
    /// IPv4 sessions in any other state.
    #[serde(rename = "numberNotEstablishedV4", default)]
    pub number_not_established_v4: u32,
    /// IPv6 sessions whose protocol state is `up`.
    #[serde(rename = "numberEstablishedV6", default)]
    pub number_established_v6: u32,
    /// IPv6 sessions in any other state.
    #[serde(rename = "numberNotEstablishedV6", default)]
    pub number_not_established_v6: u32,
    /// IPv4 peers.
    #[serde(rename = "peersV4", default, skip_serializing_if = "Vec::is_empty")]
    pub peers_v4: Vec<BgpPeer>,
    /// IPv6 peers.
    #[serde(rename = "peersV6", default, skip_serializing_if = "Vec::is_empty")]
    pub peers_v6: Vec<BgpPeer>,
}

/// One BGP session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpPeer {
    /// The peer's address.
    #[serde(rename = "peerIP", default, skip_serializing_if = "String::is_empty")]
    pub peer_ip: String,
    /// How Calico configured the session.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub peer_type: Option<BgpPeerType>,
    /// BIRD's BGP state word (`Established`, `Active`, ..., also `Down` and `Passive`), or
    /// empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state: String,
    /// The time of the last state change, as BIRD prints it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub since: String,
}

/// How a BGP session was configured in Calico.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BgpPeerType {
    /// Node-to-node mesh (`Mesh_` protocols).
    NodeMesh,
    /// A per-node BGPPeer (`Node_` protocols).
    NodePeer,
    /// A global BGPPeer (`Global_` protocols).
    GlobalPeer,
}

/// Routes for both families.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    /// IPv4 routes.
    #[serde(rename = "routesV4", default, skip_serializing_if = "Vec::is_empty")]
    pub routes_v4: Vec<Route>,
    /// IPv6 routes.
    #[serde(rename = "routesV6", default, skip_serializing_if = "Vec::is_empty")]
    pub routes_v6: Vec<Route>,
    /// Present only when not every route fit the status (the datastore's size limit, or the
    /// agent's bound on routes per status): how many routes BIRD reported. The lists then hold
    /// the routes that fit, FIB before RIB, IPv4 before IPv6, each by destination. An addition
    /// to Calico's schema; readers that do not know it ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<RoutesTruncated>,
}

/// How many routes a truncated [`RouteStatus`] stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoutesTruncated {
    /// IPv4 routes BIRD reported.
    #[serde(rename = "totalV4", default)]
    pub total_v4: u64,
    /// IPv6 routes BIRD reported.
    #[serde(rename = "totalV6", default)]
    pub total_v6: u64,
}

impl RoutesTruncated {
    /// Routes of both families BIRD reported.
    pub fn total(&self) -> u64 {
        self.total_v4 + self.total_v6
    }
}

impl RouteStatus {
    /// Routes of both families in the lists.
    pub fn len(&self) -> usize {
        self.routes_v4.len() + self.routes_v6.len()
    }

    /// True when both lists are empty.
    pub fn is_empty(&self) -> bool {
        self.routes_v4.is_empty() && self.routes_v6.is_empty()
    }

    /// Keeps at most `max` routes, recording the totals in `truncated` when some are left out.
    ///
    /// The order routes are kept in ([`select_routes`]): `FIB` routes (in use) before `RIB`
    /// ones (known only); within each, IPv4 before IPv6; within a family, the lists' order
    /// ([`sort_routes`]: by destination). The kept routes stay in the lists' order.
    /// Truncating a truncated status keeps its first totals.
    pub fn truncate(&mut self, max: usize) {
        if self.len() <= max {
            return;
        }
        let totals = self.truncated.unwrap_or(RoutesTruncated {
            total_v4: self.routes_v4.len() as u64,
            total_v6: self.routes_v6.len() as u64,
        });
        let mut left = max;
        let mut keep_v4 = vec![false; self.routes_v4.len()];
        let mut keep_v6 = vec![false; self.routes_v6.len()];
        for fib in [true, false] {
            for (list, keep) in [
                (&self.routes_v4, &mut keep_v4),
                (&self.routes_v6, &mut keep_v6),
            ] {
                for (route, kept) in list.iter().zip(keep.iter_mut()) {
                    if left == 0 {
                        break;
                    }
                    if (route.route_type == Some(RouteType::Fib)) == fib {
                        *kept = true;
                        left -= 1;
                    }
                }
            }
        }
        let mut v4 = keep_v4.into_iter();
        self.routes_v4.retain(|_| v4.next().unwrap_or(false));
        let mut v6 = keep_v6.into_iter();
        self.routes_v6.retain(|_| v6.next().unwrap_or(false));
        self.truncated = Some(totals);
    }
}

/// One route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// `FIB` for BIRD's primary (in use) route, `RIB` for the others.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub route_type: Option<RouteType>,
    /// The destination CIDR.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub destination: String,
    /// The next hop, or `N/A` when there is none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// The outgoing interface; `blackhole` / `unreachable` / `prohibited` for those routes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface: String,
    /// Where the route came from.
    #[serde(default)]
    pub learned_from: LearnedFrom,
}

/// FIB (in use) or RIB (known only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RouteType {
    /// The route BIRD uses (its primary route).
    #[serde(rename = "FIB")]
    Fib,
    /// A route BIRD knows but does not use.
    #[serde(rename = "RIB")]
    Rib,
}

/// The source of a route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LearnedFrom {
    /// The kind of protocol the route came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<RouteSourceType>,
    /// The BGP peer, for `NodeMesh` and `BGPPeer` routes.
    #[serde(rename = "peerIP", default, skip_serializing_if = "String::is_empty")]
    pub peer_ip: String,
}

/// The kind of protocol a route was learned from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RouteSourceType {
    /// A kernel protocol (routes read from the kernel table).
    Kernel,
    /// A static protocol.
    Static,
    /// A direct protocol (connected interfaces).
    Direct,
    /// A node-to-node mesh BGP session.
    NodeMesh,
    /// Any other Calico BGP session (`Node_` or `Global_`).
    #[serde(rename = "BGPPeer")]
    BgpPeer,
}

/// The fields of a route that decide its place in a status, borrowed from wherever the route
/// lives (a [`Route`], or a route still in BIRD's reply text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteFields<'a> {
    /// The destination CIDR.
    pub destination: &'a str,
    /// True for a `FIB` route.
    pub fib: bool,
    /// The gateway.
    pub gateway: &'a str,
    /// The interface.
    pub interface: &'a str,
    /// The source peer.
    pub peer_ip: &'a str,
}

impl Route {
    /// This route's [`RouteFields`].
    pub fn fields(&self) -> RouteFields<'_> {
        RouteFields {
            destination: &self.destination,
            fib: self.route_type == Some(RouteType::Fib),
            gateway: &self.gateway,
            interface: &self.interface,
            peer_ip: &self.learned_from.peer_ip,
        }
    }
}

/// Sorts routes into the order the status is written in: by destination (address, then prefix
/// length, IPv4 before IPv6), the FIB route before RIB ones, then by gateway and source peer.
/// BIRD lists routes in hash order, which can change without any route changing; a canonical
/// order keeps "write only what changed" from writing on a mere reordering.
pub fn sort_routes(routes: &mut [Route]) {
    sort_by_route_order(routes, &(), |_, r| r.fields());
}

/// [`sort_routes`] for anything whose [`RouteFields`] can be read from it and `context`. Only
/// the parsed destination is kept per item, packed with the item's index in 32 bytes: those are
/// sorted, the items then move once, and the strings are compared where they are, only for
/// equal destinations, so sorting copies none.
pub fn sort_by_route_order<T, C: ?Sized>(
    items: &mut [T],
    context: &C,
    fields: impl for<'x> Fn(&'x C, &'x T) -> RouteFields<'x>,
) {
    let mut keyed: Vec<Keyed> = items
        .iter()
        .enumerate()
        .map(|(i, item)| Keyed::new(fields(context, item).destination, i))
        .collect();
    keyed.sort_unstable_by(|a, b| {
        a.destination().cmp(&b.destination()).then_with(|| {
            let (x, y) = (
                fields(context, &items[a.index()]),
                fields(context, &items[b.index()]),
            );
            x.destination
                .cmp(y.destination)
                .then_with(|| y.fib.cmp(&x.fib))
                .then_with(|| x.gateway.cmp(y.gateway))
                .then_with(|| x.interface.cmp(y.interface))
                .then_with(|| x.peer_ip.cmp(y.peer_ip))
                // Equal routes keep their order, as in a stable sort.
                .then(a.index().cmp(&b.index()))
        })
    });
    apply_order(items, keyed.into_iter().map(|k| k.index()).collect());
}

/// An item's parsed destination and its index. The destination orders as
/// `Option<(IpAddr, u8)>` would: one that does not parse first, then IPv4, then IPv6; by
/// address, then prefix length.
#[derive(Clone, Copy, Debug)]
struct Keyed {
    address: u128,
    /// Family (0: not `address/length`, 1: IPv4, 2: IPv6) in the top 8 bits, prefix length in
    /// the next 8, the index in the low 48.
    rest: u64,
}

impl Keyed {
    const INDEX_BITS: u32 = 48;

    fn new(destination: &str, index: usize) -> Self {
        use std::net::IpAddr;
        let parsed = destination
            .split_once('/')
            .and_then(|(ip, len)| Some((ip.parse::<IpAddr>().ok()?, len.parse::<u8>().ok()?)));
        let (family, address, length) = match parsed {
            None => (0u64, 0, 0),
            Some((IpAddr::V4(ip), length)) => (1, u128::from(u32::from(ip)), length),
            Some((IpAddr::V6(ip), length)) => (2, u128::from(ip), length),
        };
        // No slice has 2^48 elements of any size on a 64-bit machine.
        let index = index as u64 & ((1 << Self::INDEX_BITS) - 1);
        Self {
            address,
            rest: (family << 56) | (u64::from(length) << Self::INDEX_BITS) | index,
        }
    }

    /// (family, address, length), in the order they are compared.
    fn destination(&self) -> (u64, u128, u64) {
        (
            self.rest >> 56,
            self.address,
            (self.rest >> Self::INDEX_BITS) & 0xff,
        )
    }

    fn index(&self) -> usize {
        (self.rest & ((1 << Self::INDEX_BITS) - 1)) as usize
    }
}

/// Moves `items[order[i]]` to position `i`, in place.
fn apply_order<T>(items: &mut [T], mut order: Vec<usize>) {
    for i in 0..order.len() {
        // Follow the cycle through `i`, swapping each item into place.
        let mut current = i;
        while order[current] != i {
            let next = order[current];
            items.swap(current, next);
            order[current] = current;
            current = next;
        }
        order[current] = current;
    }
}

/// Which routes of two families, each in status order, a status with room for `max` routes
/// keeps: `FIB` routes before `RIB` ones; within each, IPv4 before IPv6; within a family, in
/// list order. The one definition of the truncation order ([`RouteStatus::truncate`] and the
/// BIRD mapping use it).
pub fn select_routes<T>(
    v4: &[T],
    v6: &[T],
    is_fib: impl Fn(&T) -> bool,
    max: usize,
) -> (Vec<bool>, Vec<bool>) {
    let mut left = max;
    let mut keep = [vec![false; v4.len()], vec![false; v6.len()]];
    for fib in [true, false] {
        for (list, keep) in [v4, v6].into_iter().zip(keep.iter_mut()) {
            for (item, kept) in list.iter().zip(keep.iter_mut()) {
                if left > 0 && is_fib(item) == fib {
                    *kept = true;
                    left -= 1;
                }
            }
        }
    }
    let [keep_v4, keep_v6] = keep;
    (keep_v4, keep_v6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(route_type: RouteType, destination: &str, gateway: &str) -> Route {
        Route {
            route_type: Some(route_type),
            destination: destination.to_owned(),
            gateway: gateway.to_owned(),
            ..Route::default()
        }
    }

    fn names(routes: &[Route]) -> Vec<String> {
        routes
            .iter()
            .map(|r| {
                format!(
                    "{:?} {} {}",
                    r.route_type.unwrap(),
                    r.destination,
                    r.gateway
                )
            })
            .collect()
    }

    #[test]
    fn routes_sort_by_address_then_fib_first_then_gateway() {
        let mut routes = vec![
            route(RouteType::Rib, "10.0.0.0/24", "10.99.0.2"),
            route(RouteType::Fib, "10.0.0.0/8", "N/A"),
            route(RouteType::Rib, "10.0.0.0/24", "10.99.0.1"),
            route(RouteType::Fib, "10.0.0.0/24", "10.99.0.3"),
            route(RouteType::Fib, "9.0.0.0/8", "N/A"),
        ];
        sort_routes(&mut routes);
        assert_eq!(
            names(&routes),
            [
                "Fib 9.0.0.0/8 N/A",
                "Fib 10.0.0.0/8 N/A",
                "Fib 10.0.0.0/24 10.99.0.3",
                "Rib 10.0.0.0/24 10.99.0.1",
                "Rib 10.0.0.0/24 10.99.0.2",
            ]
        );
    }

    #[test]
    fn truncation_keeps_fib_before_rib_and_ipv4_before_ipv6_in_list_order() {
        let mut routes = RouteStatus {
            routes_v4: vec![
                route(RouteType::Fib, "10.0.0.0/24", "a"),
                route(RouteType::Rib, "10.0.0.0/24", "b"),
                route(RouteType::Fib, "10.0.1.0/24", "c"),
            ],
            routes_v6: vec![
                route(RouteType::Fib, "fd00::/64", "d"),
                route(RouteType::Rib, "fd00::/64", "e"),
            ],
            truncated: None,
        };
        routes.truncate(4);
        assert_eq!(
            (names(&routes.routes_v4), names(&routes.routes_v6)),
            (
                vec![
                    "Fib 10.0.0.0/24 a".to_owned(),
                    "Rib 10.0.0.0/24 b".to_owned(),
                    "Fib 10.0.1.0/24 c".to_owned()
                ],
                vec!["Fib fd00::/64 d".to_owned()]
            )
        );
        assert_eq!(
            routes.truncated,
            Some(RoutesTruncated {
                total_v4: 3,
                total_v6: 2
            })
        );
        // Truncating again keeps the totals BIRD reported.
        routes.truncate(2);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes.truncated.map(|t| t.total()), Some(5));
        // A status that fits is left alone.
        let before = routes.clone();
        routes.truncate(10);
        assert_eq!(routes, before);
    }

    #[test]
    fn truncated_routes_round_trip_through_json_and_are_omitted_when_whole() {
        let routes = RouteStatus {
            routes_v4: vec![route(RouteType::Fib, "10.0.0.0/24", "a")],
            routes_v6: vec![],
            truncated: Some(RoutesTruncated {
                total_v4: 100_000,
                total_v6: 0,
            }),
        };
        let json = serde_json::to_value(&routes).unwrap();
        assert_eq!(
            json["truncated"],
            serde_json::json!({"totalV4": 100000, "totalV6": 0})
        );
        assert_eq!(serde_json::from_value::<RouteStatus>(json).unwrap(), routes);
        let whole = RouteStatus {
            truncated: None,
            ..routes
        };
        assert!(
            serde_json::to_value(&whole)
                .unwrap()
                .get("truncated")
                .is_none()
        );
    }
}
