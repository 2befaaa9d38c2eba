//! Address families, and per-family access to the status: the status spells every per-family
//! value twice (`birdV4`/`birdV6`, `peersV4`/`peersV6`, `routesV4`/`routesV6`, four counts), and
//! these accessors are the one place that chooses between the two spellings.

use serde::{Deserialize, Serialize};

use crate::types::{AgentStatus, BgpDaemonStatus, BgpPeer, BgpStatus, Route, RouteStatus};

/// IPv4 or IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    /// IPv4 (`bird` in BIRD 1.6, `master4` in BIRD 2/3).
    V4,
    /// IPv6 (`bird6` in BIRD 1.6, `master6` in BIRD 2/3).
    V6,
}

impl Family {
    /// Both families, IPv4 first.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The family of an address or prefix (`10.0.0.0/24`, `fd00::1`, `fe80::1%eth0`).
    pub fn of(address: &str) -> Family {
        if address.contains(':') {
            Family::V6
        } else {
            Family::V4
        }
    }

    /// `IPv4` or `IPv6`.
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// 0 for IPv4, 1 for IPv6: the position in [`Family::ALL`], for per-family arrays.
    pub fn index(self) -> usize {
        match self {
            Family::V4 => 0,
            Family::V6 => 1,
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl AgentStatus {
    /// The BIRD daemon status of one family (`birdV4` or `birdV6`).
    pub fn daemon(&self, family: Family) -> &BgpDaemonStatus {
        match family {
            Family::V4 => &self.bird_v4,
            Family::V6 => &self.bird_v6,
        }
    }

    /// The BIRD daemon status of one family, to change.
    pub fn daemon_mut(&mut self, family: Family) -> &mut BgpDaemonStatus {
        match family {
            Family::V4 => &mut self.bird_v4,
            Family::V6 => &mut self.bird_v6,
        }
    }
}

impl BgpStatus {
    /// The peers of one family (`peersV4` or `peersV6`).
    pub fn peers(&self, family: Family) -> &[BgpPeer] {
        match family {
            Family::V4 => &self.peers_v4,
            Family::V6 => &self.peers_v6,
        }
    }

    /// The peers of one family, to change.
    pub fn peers_mut(&mut self, family: Family) -> &mut Vec<BgpPeer> {
        match family {
            Family::V4 => &mut self.peers_v4,
            Family::V6 => &mut self.peers_v6,
        }
    }

    /// The session counts of one family: (established, not established).
    pub fn counts(&self, family: Family) -> (u32, u32) {
        match family {
            Family::V4 => (self.number_established_v4, self.number_not_established_v4),
            Family::V6 => (self.number_established_v6, self.number_not_established_v6),
        }
    }

    /// Sets the session counts of one family.
    pub fn set_counts(&mut self, family: Family, established: u32, not_established: u32) {
        match family {
            Family::V4 => {
                self.number_established_v4 = established;
                self.number_not_established_v4 = not_established;
            }
            Family::V6 => {
                self.number_established_v6 = established;
                self.number_not_established_v6 = not_established;
            }
        }
    }
}

impl RouteStatus {
    /// The routes of one family (`routesV4` or `routesV6`).
    pub fn routes(&self, family: Family) -> &[Route] {
        match family {
            Family::V4 => &self.routes_v4,
            Family::V6 => &self.routes_v6,
        }
    }

    /// The routes of one family, to change.
    pub fn routes_mut(&mut self, family: Family) -> &mut Vec<Route> {
        match family {
            Family::V4 => &mut self.routes_v4,
            Family::V6 => &mut self.routes_v6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_choose_the_family_spelling() {
        let peer = |ip: &str| BgpPeer {
            peer_ip: ip.to_owned(),
            ..BgpPeer::default()
        };
        let mut bgp = BgpStatus {
            peers_v4: vec![peer("10.0.0.1")],
            peers_v6: vec![peer("fd00::1")],
            ..BgpStatus::default()
        };
        bgp.set_counts(Family::V6, 3, 4);
        bgp.peers_mut(Family::V4).push(peer("10.0.0.2"));
        assert_eq!(
            bgp,
            BgpStatus {
                number_established_v4: 0,
                number_not_established_v4: 0,
                number_established_v6: 3,
                number_not_established_v6: 4,
                peers_v4: vec![peer("10.0.0.1"), peer("10.0.0.2")],
                peers_v6: vec![peer("fd00::1")],
            }
        );
        assert_eq!(bgp.counts(Family::V6), (3, 4));
        assert_eq!(bgp.peers(Family::V6), [peer("fd00::1")]);
        for family in Family::ALL {
            assert_eq!(Family::ALL[family.index()], family);
        }
        assert_eq!(Family::of("fe80::1%eth0"), Family::V6);
        assert_eq!(Family::of("10.0.0.0/24"), Family::V4);
    }
}
