//! The whole status nodestatus-bird collects from a real lab equals what the topology implies:
//! every peer with type, state and counts, every route with FIB/RIB, gateway, interface and
//! source, for every BIRD version (1.6, 2.0, 2.17, 3), converged and with one mesh session disabled. Times and the
//! version string cannot be predicted: their format is checked, everything else compared exactly.

mod common;

use nodestatus_api::{
    AgentStatus, BgpDaemonState, BgpDaemonStatus, BgpPeer, BgpStatus, CalicoNodeStatusStatus,
    NodeStatusClass, RouteStatus,
};
use nodestatus_bird::{CollectOptions, Endpoints, Outcome, collect, map_snapshot};
use nodestatus_lab::{BirdVersion, ExpectedNode, ExpectedState, Family, Lab, Node, sort_routes};

/// `HH:MM:SS` (BIRD 1.6) or `HH:MM:SS.mmm` (BIRD 2 and 3): BIRD's default time format for
/// protocols.
fn is_time(bird: BirdVersion, s: &str) -> bool {
    let digits = |part: &str, n: usize| part.len() == n && part.bytes().all(|b| b.is_ascii_digit());
    let (hms, millis) = if bird == BirdVersion::V1_6 {
        (s, None)
    } else {
        match s.split_once('.') {
            Some((hms, millis)) => (hms, Some(millis)),
            None => return false,
        }
    };
    let parts: Vec<&str> = hms.split(':').collect();
    parts.len() == 3 && parts.iter().all(|p| digits(p, 2)) && millis.is_none_or(|m| digits(m, 3))
}

/// `YYYY-MM-DD HH:MM:SS[.mmm]`: how `show status` prints boot and reconfiguration times.
fn is_date_time(bird: BirdVersion, s: &str) -> bool {
    let Some((date, time)) = s.split_once(' ') else {
        return false;
    };
    let parts: Vec<&str> = date.split('-').collect();
    parts.len() == 3
        && [4, 2, 2]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit()))
        && is_time(bird, time)
}

fn collect_status(node: &Node) -> CalicoNodeStatusStatus {
    let socket = |f| node.socket(f).map(ToOwned::to_owned);
    let endpoints = Endpoints::new(socket(Family::V4), socket(Family::V6));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let snapshot = runtime.block_on(collect(
        &endpoints,
        &NodeStatusClass::ALL,
        &CollectOptions::default(),
    ));
    let mapped = map_snapshot(&snapshot, &NodeStatusClass::ALL);
    for (class, family, outcome) in mapped.outcomes.iter() {
        assert_eq!(
            outcome,
            &Outcome::Collected,
            "{} {class} {family:?}",
            node.name
        );
    }
    mapped.status
}

/// The status `expected` describes, with the unpredictable fields (times, version, and the state
/// of peers that may be in one of several states) taken from `actual` once their form is checked.
fn predicted(
    bird: BirdVersion,
    expected: &ExpectedNode,
    actual: &CalicoNodeStatusStatus,
) -> CalicoNodeStatusStatus {
    let daemon = |got: Option<&BgpDaemonStatus>| {
        let got = got.cloned().unwrap_or_default();
        assert!(
            got.version.starts_with(bird.version_prefix()),
            "{}: version {:?}",
            expected.node,
            got.version
        );
        for time in [&got.last_boot_time, &got.last_reconfiguration_time] {
            assert!(
                is_date_time(bird, time),
                "{}: daemon time {time:?}",
                expected.node
            );
        }
        BgpDaemonStatus {
            state: Some(BgpDaemonState::Ready),
            router_id: expected.router_id.clone(),
            ..got
        }
    };
    let agent = actual.agent.as_ref();
    let bgp = actual.bgp.as_ref();
    let peers = |f: Family| -> Vec<BgpPeer> {
        let got = bgp.map_or(&[][..], |b| match f {
            Family::V4 => &b.peers_v4[..],
            Family::V6 => &b.peers_v6[..],
        });
        expected
            .peers(f)
            .iter()
            .enumerate()
            .map(|(k, want)| {
                let got = got.get(k).cloned().unwrap_or_default();
                assert!(
                    want.state.matches(&got.state),
                    "{} {}: state {:?}, expected {:?}",
                    expected.node,
                    want.protocol,
                    got.state,
                    want.state
                );
                assert!(
                    is_time(bird, &got.since),
                    "{} {}: since {:?}",
                    expected.node,
                    want.protocol,
                    got.since
                );
                BgpPeer {
                    peer_ip: want.peer_ip.clone(),
                    peer_type: Some(want.peer_type),
                    state: match want.state {
                        ExpectedState::Established => "Established".to_string(),
                        ExpectedState::Down => "Down".to_string(),
                        ExpectedState::Passive => "Passive".to_string(),
                        ExpectedState::Trying | ExpectedState::Refused => got.state,
                    },
                    since: got.since,
                }
            })
            .collect()
    };
    CalicoNodeStatusStatus {
        last_updated: None,
        agent: Some(AgentStatus {
            bird_v4: daemon(agent.map(|a| &a.bird_v4)),
            bird_v6: daemon(agent.map(|a| &a.bird_v6)),
        }),
        bgp: Some(BgpStatus {
            number_established_v4: expected.established_v4,
            number_not_established_v4: expected.not_established_v4,
            number_established_v6: expected.established_v6,
            number_not_established_v6: expected.not_established_v6,
            peers_v4: peers(Family::V4),
            peers_v6: peers(Family::V6),
        }),
        routes: Some(RouteStatus {
            routes_v4: expected.routes_v4.clone(),
            routes_v6: expected.routes_v6.clone(),
            truncated: None,
        }),
    }
}

fn assert_statuses(lab: &Lab, when: &str) {
    let bird = lab.bird();
    for (node, expected) in lab.nodes().iter().zip(lab.expected()) {
        let mut actual = collect_status(node);
        if let Some(routes) = &mut actual.routes {
            sort_routes(&mut routes.routes_v4);
            sort_routes(&mut routes.routes_v6);
        }
        assert_eq!(
            actual,
            predicted(bird, &expected, &actual),
            "BIRD {bird} {when}: status of {}",
            node.name
        );
    }
}

fn full_status_matches_the_topology(bird: BirdVersion) {
    let mut test = common::converged(bird, 3);
    assert_statuses(&test.lab, "converged");

    // n2 is the active side of its IPv4 session to n1; with BIRD 2 and 3 that session carries
    // IPv6 too.
    test.lab
        .disable_protocol("n2", "Mesh_10_99_0_11")
        .unwrap_or_else(|e| panic!("{e}"));
    test.lab
        .wait_established(common::CONVERGE)
        .unwrap_or_else(|e| panic!("{e}"));
    let expected = test.lab.expected();
    assert_eq!(expected[1].peers_v4[0].state, ExpectedState::Down);
    assert_eq!(expected[0].peers_v4[0].state, ExpectedState::Passive);
    assert_statuses(&test.lab, "with n2's Mesh_10_99_0_11 disabled");
}

#[test]
fn bird_1_6_status_matches_the_topology() {
    full_status_matches_the_topology(BirdVersion::V1_6);
}

#[test]
fn bird_2_status_matches_the_topology() {
    full_status_matches_the_topology(BirdVersion::V2);
}

#[test]
fn bird_2_17_status_matches_the_topology() {
    full_status_matches_the_topology(BirdVersion::V2_17);
}

#[test]
fn bird_3_status_matches_the_topology() {
    full_status_matches_the_topology(BirdVersion::V3);
}
