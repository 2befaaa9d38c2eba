//! The address plan and the BGP sessions of a lab, derived from the spec alone. Configs and the
//! expected status are both computed from this one description, so they cannot disagree.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::spec::{BirdVersion, Family};

/// The AS of every node (Calico's default).
pub(crate) const NODE_AS: u32 = 64512;
/// The AS of the global peer (an eBGP router that never answers).
pub(crate) const GLOBAL_PEER_AS: u32 = 65001;
/// The interface every node has on the lab subnet.
pub(crate) const NODE_IFACE: &str = "eth0";

/// A prefix (CIDR), printed as BIRD prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Net {
    pub addr: IpAddr,
    pub len: u8,
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn v4(c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 99, c, d))
}

/// `fd99:<group>::<host>` where both numbers are written with their decimal digits as hex digits
/// (node 1 is `fd99::11` next to `10.99.0.11`), which keeps the two plans readable side by side.
fn v6(group: usize, host: usize) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(
        0xfd99,
        hex_digits(group),
        0,
        0,
        0,
        0,
        0,
        hex_digits(host),
    ))
}

/// `n`'s decimal digits read as hex digits (231 -> 0x231). Numbers here stay below 1000 (see
/// MAX_NODES), so three digits hold them.
fn hex_digits(n: usize) -> u16 {
    (((n / 100) << 8) | ((n / 10 % 10) << 4) | (n % 10)) as u16
}

fn net(addr: IpAddr, len: u8) -> Net {
    Net { addr, len }
}

/// The lab subnet every node interface is on: 10.99.0.0/24, fd99::/64.
pub(crate) fn subnet(f: Family) -> Net {
    match f {
        Family::V4 => net(v4(0, 0), 24),
        Family::V6 => net(v6(0, 0), 64),
    }
}

/// The IP pool whose routes are exported over BGP (Calico's IPPool): 10.99.64.0/18, fd99:100::/24.
pub(crate) fn pool(f: Family) -> Net {
    match f {
        Family::V4 => net(v4(64, 0), 18),
        Family::V6 => net(v6(100, 0), 24),
    }
}

/// Node `i`'s address: 10.99.0.(10+i), fd99::(10+i).
pub(crate) fn node_ip(i: usize, f: Family) -> IpAddr {
    match f {
        Family::V4 => IpAddr::V4(node_v4(i)),
        Family::V6 => IpAddr::V6(node_v6(i)),
    }
}

pub(crate) fn node_v4(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, (10 + i) as u8)
}

pub(crate) fn node_v6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, hex_digits(10 + i))
}

/// Node `i`'s router ID: its IPv4 address (Calico's default), for both daemons.
pub(crate) fn router_id(i: usize) -> Ipv4Addr {
    node_v4(i)
}

/// Node `i`'s IPAM block, a blackhole route exported to the mesh: 10.99.(100+i).0/26,
/// fd99:(100+i)::/122.
pub(crate) fn block(i: usize, f: Family) -> Net {
    match f {
        Family::V4 => net(v4((100 + i) as u8, 0), 26),
        Family::V6 => net(v6(100 + i, 0), 122),
    }
}

/// A block announced by two nodes (anycast): 10.99.100.0/26, fd99:100::/122.
pub(crate) fn shared_block(f: Family) -> Net {
    match f {
        Family::V4 => net(v4(100, 0), 26),
        Family::V6 => net(v6(100, 0), 122),
    }
}

/// The nodes announcing the shared block: n1 and n2 (n1 alone in a one-node lab).
pub(crate) fn shares_block(i: usize) -> bool {
    i == 1 || i == 2
}

/// Node `i`'s unreachable route, outside the pool so it is not exported: 10.99.(200+i).0/26,
/// fd99:(200+i)::/122.
pub(crate) fn unreachable_block(i: usize, f: Family) -> Net {
    match f {
        Family::V4 => net(v4((200 + i) as u8, 0), 26),
        Family::V6 => net(v6(200 + i, 0), 122),
    }
}

/// The route `ip route add` installs in node `i`'s namespace for `kernel1` to learn:
/// 10.99.(30+i).0/24, fd99:(30+i)::/64, via the next node (ring order), or on `eth0` without a
/// gateway in a one-node lab. Outside the pool, so not exported.
pub(crate) fn kernel_route(i: usize, nodes: usize, f: Family) -> (Net, Option<IpAddr>) {
    let dst = match f {
        Family::V4 => net(v4((30 + i) as u8, 0), 24),
        Family::V6 => net(v6(30 + i, 0), 64),
    };
    let gateway = (nodes > 1).then(|| node_ip(i % nodes + 1, f));
    (dst, gateway)
}

/// How Calico configured a BGP session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SessionKind {
    /// Node-to-node mesh.
    Mesh,
    /// A per-node BGPPeer (here: an address no namespace holds).
    Node,
    /// A global BGPPeer (here: an address no namespace holds).
    Global,
}

/// One BGP protocol in a node's config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    /// Calico's name: `Mesh_10_99_0_12`, `Node_fd99__201`, ...
    pub name: String,
    pub kind: SessionKind,
    /// The neighbor address; its family is the session's family.
    pub neighbor: IpAddr,
    pub neighbor_as: u32,
    /// The mesh peer node.
    pub peer_node: Option<usize>,
    /// Calico makes the mesh unidirectional: the side whose address is the smaller *string*
    /// waits for the other to connect.
    pub passive: bool,
    /// The families the session carries; a BIRD 2 multiprotocol session carries both.
    pub carries: Vec<Family>,
}

impl Session {
    pub(crate) fn family(&self) -> Family {
        family_of(self.neighbor)
    }
}

pub(crate) fn family_of(ip: IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

/// Calico's protocol name: `<kind>_<ip with . and : replaced by _>`.
pub(crate) fn protocol_name(kind: SessionKind, ip: IpAddr) -> String {
    let prefix = match kind {
        SessionKind::Mesh => "Mesh",
        SessionKind::Node => "Node",
        SessionKind::Global => "Global",
    };
    format!("{prefix}_{}", ip.to_string().replace(['.', ':'], "_"))
}

/// The per-node peer of node `i`: 10.99.0.(200+i), fd99::(200+i), same AS (never answers).
pub(crate) fn node_peer(i: usize, f: Family) -> IpAddr {
    match f {
        Family::V4 => v4(0, (200 + i) as u8),
        Family::V6 => v6(0, 200 + i),
    }
}

/// The global peer of every node: 10.99.0.250, fd99::250, AS 65001 (never answers).
pub(crate) fn global_peer(f: Family) -> IpAddr {
    match f {
        Family::V4 => v4(0, 250),
        Family::V6 => v6(0, 250),
    }
}

/// With BIRD 2 and 3, the IPv4 mesh session between n1 and n2 also carries IPv6 (so IPv6 routes
/// are learned over a session named after an IPv4 address), besides their own IPv6 session.
pub(crate) fn multiprotocol(bird: BirdVersion, a: usize, b: usize) -> bool {
    !bird.daemon_per_family() && a.min(b) == 1 && a.max(b) == 2
}

/// The BGP sessions of node `i`: the mesh (IPv4 then IPv6), then the global peer and the node
/// peer of each family (configs list each family's sessions in this order, as Calico does).
pub(crate) fn sessions(bird: BirdVersion, nodes: usize, i: usize) -> Vec<Session> {
    let mut out = Vec::new();
    for f in Family::ALL {
        let own = node_ip(i, f).to_string();
        for j in (1..=nodes).filter(|&j| j != i) {
            let neighbor = node_ip(j, f);
            let carries = if f == Family::V4 && multiprotocol(bird, i, j) {
                vec![Family::V4, Family::V6]
            } else {
                vec![f]
            };
            out.push(Session {
                name: protocol_name(SessionKind::Mesh, neighbor),
                kind: SessionKind::Mesh,
                neighbor,
                neighbor_as: NODE_AS,
                peer_node: Some(j),
                passive: neighbor.to_string() > own,
                carries,
            });
        }
    }
    for f in Family::ALL {
        for (kind, neighbor, neighbor_as) in [
            (SessionKind::Global, global_peer(f), GLOBAL_PEER_AS),
            (SessionKind::Node, node_peer(i, f), NODE_AS),
        ] {
            out.push(Session {
                name: protocol_name(kind, neighbor),
                kind,
                neighbor,
                neighbor_as,
                peer_node: None,
                passive: false,
                carries: vec![f],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_documented_plan() {
        assert_eq!(node_ip(1, Family::V4).to_string(), "10.99.0.11");
        assert_eq!(node_ip(1, Family::V6).to_string(), "fd99::11");
        assert_eq!(node_ip(20, Family::V6).to_string(), "fd99::30");
        assert_eq!(block(3, Family::V4).to_string(), "10.99.103.0/26");
        assert_eq!(block(3, Family::V6).to_string(), "fd99:103::/122");
        assert_eq!(shared_block(Family::V6).to_string(), "fd99:100::/122");
        assert_eq!(
            unreachable_block(2, Family::V6).to_string(),
            "fd99:202::/122"
        );
        assert_eq!(pool(Family::V6).to_string(), "fd99:100::/24");
        assert_eq!(
            kernel_route(3, 3, Family::V6),
            (net(v6(33, 0), 64), Some(node_ip(1, Family::V6)))
        );
        assert_eq!(kernel_route(1, 1, Family::V4), (net(v4(31, 0), 24), None));
    }

    #[test]
    fn protocol_names_are_calicos() {
        assert_eq!(
            protocol_name(SessionKind::Mesh, node_ip(2, Family::V4)),
            "Mesh_10_99_0_12"
        );
        assert_eq!(
            protocol_name(SessionKind::Mesh, node_ip(2, Family::V6)),
            "Mesh_fd99__12"
        );
        assert_eq!(
            protocol_name(SessionKind::Global, global_peer(Family::V6)),
            "Global_fd99__250"
        );
    }

    #[test]
    fn the_smaller_address_waits_for_the_larger_to_connect() {
        let n2 = sessions(BirdVersion::V1_6, 3, 2);
        let passive: Vec<(&str, bool)> = n2
            .iter()
            .filter(|s| s.kind == SessionKind::Mesh)
            .map(|s| (s.name.as_str(), s.passive))
            .collect();
        assert_eq!(
            passive,
            [
                ("Mesh_10_99_0_11", false),
                ("Mesh_10_99_0_13", true),
                ("Mesh_fd99__11", false),
                ("Mesh_fd99__13", true),
            ]
        );
    }

    #[test]
    fn with_bird_2_and_3_only_the_n1_n2_ipv4_session_carries_ipv6() {
        let multi = |bird| {
            (1..=3)
                .flat_map(|i| sessions(bird, 3, i).into_iter().map(move |s| (i, s)))
                .filter(|(_, s)| s.carries.len() == 2)
                .map(|(i, s)| format!("n{i}:{}", s.name))
                .collect::<Vec<_>>()
        };
        for bird in [BirdVersion::V2, BirdVersion::V2_17, BirdVersion::V3] {
            assert_eq!(
                multi(bird),
                ["n1:Mesh_10_99_0_12", "n2:Mesh_10_99_0_11"],
                "BIRD {bird}"
            );
        }
        assert!(multi(BirdVersion::V1_6).is_empty());
    }
}
