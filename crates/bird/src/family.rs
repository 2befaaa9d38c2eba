//! How a BGP protocol named by Calico (`Mesh_10_0_0_2`, `Node_fd00__1_port_180`) gives away its
//! kind and peer address. [`Family`] itself lives in `nodestatus-api`, with the status it indexes.

use std::net::{Ipv4Addr, Ipv6Addr};

use nodestatus_api::{BgpPeerType, Family};

/// The Calico session kind from a protocol name's prefix; `None` for any other name.
pub fn peer_type(name: &str) -> Option<BgpPeerType> {
    let (prefix, _) = name.split_once('_')?;
    match prefix {
        "Mesh" => Some(BgpPeerType::NodeMesh),
        "Node" => Some(BgpPeerType::NodePeer),
        "Global" => Some(BgpPeerType::GlobalPeer),
        _ => None,
    }
}

/// The peer address encoded in a Calico session name: `Mesh_10_128_0_242` → `10.128.0.242`,
/// `Mesh_fd80_24e2_f998_72d7__2` → `fd80:24e2:f998:72d7::2`, `Global_10_0_0_1_port_180` →
/// `10.0.0.1`. The address itself says whether `_` stands for `.` or `:`; when neither reads as
/// an address, `_` is replaced by `fallback`'s separator, as Calico does.
pub fn peer_address_from_name(name: &str, fallback: Family) -> Option<String> {
    let (_, encoded) = name.split_once('_')?;
    let encoded = match encoded.rfind("_port_") {
        Some(i) if encoded[i + 6..].bytes().all(|b| b.is_ascii_digit()) => &encoded[..i],
        _ => encoded,
    };
    let dotted = encoded.replace('_', ".");
    if dotted.parse::<Ipv4Addr>().is_ok() {
        return Some(dotted);
    }
    let coloned = encoded.replace('_', ":");
    if let Ok(v6) = coloned.parse::<Ipv6Addr>() {
        // Canonical text, as BIRD prints `Neighbor address:`.
        return Some(v6.to_string());
    }
    Some(match fallback {
        Family::V4 => dotted,
        Family::V6 => coloned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calico_names_give_their_peer_type() {
        assert_eq!(peer_type("Mesh_10_0_0_1"), Some(BgpPeerType::NodeMesh));
        assert_eq!(peer_type("Node_10_0_0_1"), Some(BgpPeerType::NodePeer));
        assert_eq!(peer_type("Global_10_0_0_1"), Some(BgpPeerType::GlobalPeer));
        assert_eq!(peer_type("Mesh"), None);
        assert_eq!(peer_type("bgp1"), None);
        assert_eq!(peer_type("Local_Workload_10_0_0_1"), None);
    }

    #[test]
    fn calico_names_give_their_peer_address() {
        let cases = [
            ("Mesh_10_128_0_242", Family::V4, "10.128.0.242"),
            (
                "Mesh_fd80_24e2_f998_72d7__2",
                Family::V6,
                "fd80:24e2:f998:72d7::2",
            ),
            ("Node_2001_20__8", Family::V6, "2001:20::8"),
            ("Global_10_0_0_1_port_180", Family::V4, "10.0.0.1"),
            ("Node_fd00__1_port_1790", Family::V6, "fd00::1"),
            // A v4 session seen while mapping IPv6 routes (BIRD 2) still reads as IPv4.
            ("Mesh_10_0_0_2", Family::V6, "10.0.0.2"),
            // Not an address: Calico's replacement by the family's separator.
            ("Mesh_not_an_ip", Family::V4, "not.an.ip"),
            ("Mesh_not_an_ip", Family::V6, "not:an:ip"),
        ];
        for (name, family, ip) in cases {
            assert_eq!(
                peer_address_from_name(name, family).as_deref(),
                Some(ip),
                "{name}"
            );
        }
        assert_eq!(peer_address_from_name("kernel1", Family::V4), None);
    }

    #[test]
    fn family_of_addresses_and_prefixes() {
        assert_eq!(Family::of("10.0.0.0/8"), Family::V4);
        assert_eq!(Family::of("fd00::/64"), Family::V6);
        assert_eq!(Family::of("::ffff:10.0.0.1"), Family::V6);
    }
}
