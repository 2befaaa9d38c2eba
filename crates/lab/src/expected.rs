//! What each node's status must contain, computed from the topology alone (never from BIRD's
//! output): peers with type and state, the counts, and every route with FIB/RIB, gateway,
//! interface and source. Route selection follows BIRD's rules for the cases the lab creates:
//! highest preference wins (direct 240, static 200, BGP 100, kernel 10); between BGP routes the
//! lowest router ID, then the lowest neighbor address (IPv4 before IPv6).

use std::collections::BTreeSet;
use std::net::IpAddr;

use nodestatus_api::{BgpPeerType, LearnedFrom, Route, RouteSourceType, RouteType, sort_routes};

use crate::spec::{BirdVersion, Family};
use crate::topology::{self, Net, Session, SessionKind};

/// The state a peer must be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedState {
    /// The session is up: BIRD prints `Established`.
    Established,
    /// Disabled on this node: BIRD prints `Down`.
    Down,
    /// Waiting for the other side, which disabled the session: BIRD prints `Passive`.
    Passive,
    /// A peer that never answers: BIRD alternates between `Active` and `Connect`.
    Trying,
    /// The active side of a mesh session its passive peer disabled: the peer accepts the
    /// connection and resets it, so BIRD cycles through `Active`, `Connect` and `OpenSent`.
    /// (Disable a session on its active side, the larger address, for stable states.)
    Refused,
}

impl ExpectedState {
    /// True when BIRD's state word is one this expectation allows.
    pub fn matches(self, state: &str) -> bool {
        match self {
            Self::Established => state == "Established",
            Self::Down => state == "Down",
            Self::Passive => state == "Passive",
            Self::Trying => state == "Active" || state == "Connect",
            Self::Refused => ["Active", "Connect", "OpenSent"].contains(&state),
        }
    }
}

/// One BGP session as the status must show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedPeer {
    /// BIRD's protocol name (`Mesh_10_99_0_12`).
    pub protocol: String,
    /// `peerIP`.
    pub peer_ip: String,
    /// `type`.
    pub peer_type: BgpPeerType,
    /// `state`.
    pub state: ExpectedState,
}

/// Everything a node's status must contain, except times and BIRD's version string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedNode {
    /// The node name (`n1`).
    pub node: String,
    /// `routerID` of both daemon statuses.
    pub router_id: String,
    /// IPv4 sessions, in config order.
    pub peers_v4: Vec<ExpectedPeer>,
    /// IPv6 sessions (by neighbor address: a BIRD 2 IPv4 session carrying IPv6 is only here
    /// in `peers_v4`), in config order.
    pub peers_v6: Vec<ExpectedPeer>,
    /// `numberEstablishedV4`.
    pub established_v4: u32,
    /// `numberNotEstablishedV4`.
    pub not_established_v4: u32,
    /// `numberEstablishedV6`.
    pub established_v6: u32,
    /// `numberNotEstablishedV6`.
    pub not_established_v6: u32,
    /// IPv4 routes, in [`nodestatus_api::sort_routes`] order.
    pub routes_v4: Vec<Route>,
    /// IPv6 routes, in [`nodestatus_api::sort_routes`] order.
    pub routes_v6: Vec<Route>,
}

impl ExpectedNode {
    /// The peers of one family.
    pub fn peers(&self, f: Family) -> &[ExpectedPeer] {
        match f {
            Family::V4 => &self.peers_v4,
            Family::V6 => &self.peers_v6,
        }
    }

    /// The routes of one family.
    pub fn routes(&self, f: Family) -> &[Route] {
        match f {
            Family::V4 => &self.routes_v4,
            Family::V6 => &self.routes_v6,
        }
    }
}

/// The disabled BGP protocols, as (node index, protocol name).
pub(crate) type Disabled = BTreeSet<(usize, String)>;

/// The expected status of every node.
pub(crate) fn expected(bird: BirdVersion, nodes: usize, disabled: &Disabled) -> Vec<ExpectedNode> {
    (1..=nodes)
        .map(|i| node(bird, nodes, disabled, i))
        .collect()
}

/// Whether node `i`'s session `s` is established: a mesh session neither side disabled.
fn is_up(disabled: &Disabled, i: usize, s: &Session) -> bool {
    let Some(j) = s.peer_node else { return false };
    let reverse = topology::protocol_name(SessionKind::Mesh, topology::node_ip(i, s.family()));
    !disabled.contains(&(i, s.name.clone())) && !disabled.contains(&(j, reverse))
}

fn state(disabled: &Disabled, i: usize, s: &Session) -> ExpectedState {
    if disabled.contains(&(i, s.name.clone())) {
        ExpectedState::Down
    } else if is_up(disabled, i, s) {
        ExpectedState::Established
    } else if s.kind == SessionKind::Mesh && s.passive {
        ExpectedState::Passive
    } else if s.kind == SessionKind::Mesh {
        ExpectedState::Refused
    } else {
        ExpectedState::Trying
    }
}

fn node(bird: BirdVersion, nodes: usize, disabled: &Disabled, i: usize) -> ExpectedNode {
    let sessions = topology::sessions(bird, nodes, i);
    let peers = |f: Family| -> Vec<ExpectedPeer> {
        sessions
            .iter()
            .filter(|s| s.family() == f)
            .map(|s| ExpectedPeer {
                protocol: s.name.clone(),
                peer_ip: s.neighbor.to_string(),
                peer_type: match s.kind {
                    SessionKind::Mesh => BgpPeerType::NodeMesh,
                    SessionKind::Node => BgpPeerType::NodePeer,
                    SessionKind::Global => BgpPeerType::GlobalPeer,
                },
                state: state(disabled, i, s),
            })
            .collect()
    };
    let (peers_v4, peers_v6) = (peers(Family::V4), peers(Family::V6));
    let count = |peers: &[ExpectedPeer], up: bool| {
        peers
            .iter()
            .filter(|p| (p.state == ExpectedState::Established) == up)
            .count() as u32
    };
    let routes = |f: Family| {
        let up: Vec<&Session> = sessions
            .iter()
            .filter(|s| s.carries.contains(&f) && is_up(disabled, i, s))
            .collect();
        routes(nodes, i, f, &up)
    };
    ExpectedNode {
        node: format!("n{i}"),
        router_id: topology::router_id(i).to_string(),
        established_v4: count(&peers_v4, true),
        not_established_v4: count(&peers_v4, false),
        established_v6: count(&peers_v6, true),
        not_established_v6: count(&peers_v6, false),
        peers_v4,
        peers_v6,
        routes_v4: routes(Family::V4),
        routes_v6: routes(Family::V6),
    }
}

/// A route before selection: its preference and, for BGP, the tie-breakers.
struct Candidate {
    route: Route,
    preference: u32,
    /// (router ID of the announcing node, neighbor address of the session).
    tie: Option<(u32, IpAddr)>,
}

fn local(
    net: Net,
    gateway: Option<IpAddr>,
    interface: &str,
    source: RouteSourceType,
    preference: u32,
) -> Candidate {
    Candidate {
        route: Route {
            route_type: None,
            destination: net.to_string(),
            gateway: gateway.map_or_else(|| "N/A".to_string(), |g| g.to_string()),
            interface: interface.to_string(),
            learned_from: LearnedFrom {
                source_type: Some(source),
                peer_ip: String::new(),
            },
        },
        preference,
        tie: None,
    }
}

/// The prefixes node `j` exports over BGP: its block and, if it has it, the shared block
/// (everything else it knows lies outside the pool or was learned over iBGP).
fn exported(j: usize, f: Family) -> Vec<Net> {
    let mut nets = vec![topology::block(j, f)];
    if topology::shares_block(j) {
        nets.push(topology::shared_block(f));
    }
    nets
}

fn routes(nodes: usize, i: usize, f: Family, up: &[&Session]) -> Vec<Route> {
    let mut candidates = vec![
        local(
            topology::subnet(f),
            None,
            topology::NODE_IFACE,
            RouteSourceType::Direct,
            240,
        ),
        local(
            topology::block(i, f),
            None,
            "blackhole",
            RouteSourceType::Static,
            200,
        ),
        local(
            topology::unreachable_block(i, f),
            None,
            "unreachable",
            RouteSourceType::Static,
            200,
        ),
    ];
    if topology::shares_block(i) {
        candidates.push(local(
            topology::shared_block(f),
            None,
            "blackhole",
            RouteSourceType::Static,
            200,
        ));
    }
    let (kernel_net, kernel_gateway) = topology::kernel_route(i, nodes, f);
    candidates.push(local(
        kernel_net,
        kernel_gateway,
        topology::NODE_IFACE,
        RouteSourceType::Kernel,
        10,
    ));
    for s in up {
        let Some(j) = s.peer_node else { continue };
        for net in exported(j, f) {
            let mut c = local(
                net,
                Some(topology::node_ip(j, f)),
                topology::NODE_IFACE,
                RouteSourceType::NodeMesh,
                100,
            );
            c.route.learned_from.peer_ip = s.neighbor.to_string();
            c.tie = Some((u32::from(topology::router_id(j)), s.neighbor));
            candidates.push(c);
        }
    }
    select(candidates)
}

/// Marks BIRD's choice per destination FIB and the others RIB.
fn select(mut candidates: Vec<Candidate>) -> Vec<Route> {
    // Best first within each destination: highest preference, then the smallest tie-breakers
    // (IPv4 neighbor addresses sort before IPv6 ones, as in BIRD 2's address comparison).
    candidates.sort_by(|a, b| {
        a.route
            .destination
            .cmp(&b.route.destination)
            .then(b.preference.cmp(&a.preference))
            .then(a.tie.cmp(&b.tie))
    });
    let mut out: Vec<Route> = Vec::with_capacity(candidates.len());
    let mut previous: Option<String> = None;
    for c in candidates {
        let first = previous.as_deref() != Some(c.route.destination.as_str());
        previous = Some(c.route.destination.clone());
        out.push(Route {
            route_type: Some(if first {
                RouteType::Fib
            } else {
                RouteType::Rib
            }),
            ..c.route
        });
    }
    sort_routes(&mut out);
    out
}
