//! Replay tests of the core: sequences of events (watch changes, snapshots built from BIRD
//! replies recorded in a real lab, datastore replies, ticks) at given times, and the exact
//! actions each one must produce.

use std::time::Duration;

use nodestatus_api::{
    BgpDaemonState, BgpDaemonStatus, CalicoNodeStatus, CalicoNodeStatusStatus, NodeStatusClass,
};
use nodestatus_bird::{Snapshot, map_snapshot};
use nodestatus_store::StoreError;

use crate::backoff::Backoff;
use crate::core::{Action, Core, Event, Settings};
use crate::testkit::{ALL, Src, at, resource, snapshot2, snapshot16, written};

const AGENT: NodeStatusClass = NodeStatusClass::Agent;
const BGP: NodeStatusClass = NodeStatusClass::Bgp;
const ROUTES: NodeStatusClass = NodeStatusClass::Routes;

/// Retry delays of these tests: 1 s doubling to 8 s, jitter from seed 1.
const BACKOFF: Backoff = Backoff {
    min: Duration::from_secs(1),
    max: Duration::from_secs(8),
};

struct Replay {
    core: Core,
}

impl Replay {
    fn new() -> Self {
        Self::with_phase(Duration::ZERO)
    }

    /// A core whose ticks fall `phase` after the grid's (a node's jitter).
    fn with_phase(phase: Duration) -> Self {
        Self {
            core: Core::new(Settings {
                node: "n1".to_owned(),
                backoff: BACKOFF,
                max_conflicts: 3,
                max_routes: usize::MAX,
                seed: 1,
                phase,
            }),
        }
    }

    fn step(&mut self, t: f64, event: Event) -> Vec<Action> {
        self.core.handle(event, at(t))
    }

    /// Handles a `Tick` at the core's next wake-up time, which must be `t`.
    fn wake(&mut self, t: f64) -> Vec<Action> {
        assert_eq!(
            self.core.next_wake(),
            Some(Duration::from_secs_f64(t)),
            "next wake-up"
        );
        self.step(t, Event::Tick)
    }
}

fn collect(classes: &[NodeStatusClass], resources: &[&str]) -> Vec<Action> {
    vec![Action::Collect {
        classes: classes.to_vec(),
        resources: resources.iter().map(|s| s.to_string()).collect(),
    }]
}

/// The one write in `actions`: its ticket and status.
fn the_write(actions: &[Action]) -> (u64, CalicoNodeStatusStatus) {
    match actions {
        [Action::Write { ticket, status, .. }] => (*ticket, (**status).clone()),
        other => panic!("expected one write, got {other:?}"),
    }
}

/// The ticket of the one re-read of `name` in `actions`.
fn the_reread(actions: &[Action], name: &str) -> u64 {
    match actions {
        [Action::Reread { name: n, ticket }] if n == name => *ticket,
        other => panic!("expected a re-read of {name}, got {other:?}"),
    }
}

fn write(
    name: &str,
    ticket: u64,
    status: CalicoNodeStatusStatus,
    expected_version: u64,
) -> Vec<Action> {
    vec![Action::Write {
        name: name.to_owned(),
        ticket,
        status: Box::new(status),
        expected_version: expected_version.to_string(),
    }]
}

fn written_ok(name: &str, ticket: u64, version: u64) -> Event {
    Event::Written {
        name: name.to_owned(),
        ticket,
        result: Ok(version.to_string()),
    }
}

fn conflict(name: &str) -> StoreError {
    StoreError::Conflict {
        name: name.to_owned(),
        expected: "6".to_owned(),
        actual: "7".to_owned(),
    }
}

fn outage() -> StoreError {
    StoreError::unavailable("writing status", "connection refused")
}

fn good16(classes: &[NodeStatusClass]) -> Snapshot {
    snapshot16(Src::Set("bird1.6"), Src::Set("bird1.6"), classes)
}

fn disabled16(classes: &[NodeStatusClass]) -> Snapshot {
    snapshot16(
        Src::Set("bird1.6-disabled"),
        Src::Set("bird1.6-disabled"),
        classes,
    )
}

/// Lists `obj`, collects `snapshot` for it at 0.1 s and confirms the write as version 6 at
/// 0.2 s; returns the status written.
fn first_write(
    replay: &mut Replay,
    obj: CalicoNodeStatus,
    snapshot: Snapshot,
) -> CalicoNodeStatusStatus {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let classes = obj.spec.classes.clone();
    assert_eq!(
        replay.step(0.0, Event::Listed(vec![obj])),
        collect(&classes, &[&name])
    );
    let actions = replay.step(0.1, Event::Collected(snapshot));
    let (ticket, status) = the_write(&actions);
    assert_eq!(replay.step(0.2, written_ok(&name, ticket, 6)), vec![]);
    status
}

#[test]
fn a_new_resource_is_collected_and_written_at_once_then_refreshed_each_period_only_when_bird_changed()
 {
    let mut r = Replay::new();
    let obj = resource("r1", "n1", ALL, 2, 5, None);
    assert_eq!(r.step(0.0, Event::Listed(vec![obj])), collect(ALL, &["r1"]));
    let actions = r.step(0.1, Event::Collected(good16(ALL)));
    let (ticket, _) = the_write(&actions);
    let first = written(&good16(ALL), ALL, at(0.1));
    assert_eq!(actions, write("r1", ticket, first.clone(), 5));
    assert_eq!(r.step(0.2, written_ok("r1", ticket, 6)), vec![]);
    // The watch reports the agent's own write: nothing to do.
    let echo = resource("r1", "n1", ALL, 2, 6, Some(first));
    assert_eq!(r.step(0.25, Event::Upserted(echo)), vec![]);

    // Same BIRD state at the next tick: no write.
    assert_eq!(r.wake(2.0), collect(ALL, &["r1"]));
    assert_eq!(r.step(2.05, Event::Collected(good16(ALL))), vec![]);

    // A session went down: written at the tick that sees it, against the known version.
    assert_eq!(r.wake(4.0), collect(ALL, &["r1"]));
    let actions = r.step(4.05, Event::Collected(disabled16(ALL)));
    let (ticket, _) = the_write(&actions);
    assert_eq!(
        actions,
        write("r1", ticket, written(&disabled16(ALL), ALL, at(4.05)), 6)
    );
}

#[test]
fn with_a_node_phase_new_resources_and_spec_changes_are_collected_at_once_and_ticks_follow_the_phase()
 {
    // The node's phase is 1,203.5 s: 3.5 s into every 10 s period, 1.5 s into every 2 s one.
    let mut r = Replay::with_phase(Duration::from_secs_f64(1203.5));
    let status = first_write(&mut r, resource("r1", "n1", ALL, 10, 5, None), good16(ALL));
    assert_eq!(r.wake(3.5), collect(ALL, &["r1"]));
    assert_eq!(r.step(3.6, Event::Collected(good16(ALL))), vec![]);
    assert_eq!(r.core.next_wake(), Some(Duration::from_secs_f64(13.5)));

    // A new resource is collected when it arrives, not at the next tick, then shares r1's.
    assert_eq!(
        r.step(
            5.0,
            Event::Upserted(resource("r2", "n1", &[ROUTES], 10, 8, None))
        ),
        collect(&[ROUTES], &["r2"])
    );
    let actions = r.step(5.1, Event::Collected(good16(&[ROUTES])));
    let (ticket, _) = the_write(&actions);
    assert_eq!(r.step(5.2, written_ok("r2", ticket, 9)), vec![]);
    assert_eq!(r.wake(13.5), collect(ALL, &["r1", "r2"]));
    assert_eq!(r.step(13.6, Event::Collected(good16(ALL))), vec![]);

    // A spec change (period 2 s) is collected at once too; its ticks are r1's and more.
    let edited = resource("r1", "n1", ALL, 2, 7, Some(status));
    assert_eq!(r.step(14.0, Event::Upserted(edited)), collect(ALL, &["r1"]));
    assert_eq!(r.step(14.1, Event::Collected(good16(ALL))), vec![]);
    assert_eq!(r.wake(15.5), collect(ALL, &["r1"]));
    assert_eq!(r.step(15.6, Event::Collected(good16(ALL))), vec![]);
    assert_eq!(r.wake(17.5), collect(ALL, &["r1"]));
    assert_eq!(r.step(17.6, Event::Collected(good16(ALL))), vec![]);
    assert_eq!(r.wake(19.5), collect(ALL, &["r1"]));
    assert_eq!(r.step(19.6, Event::Collected(good16(ALL))), vec![]);
    assert_eq!(r.wake(21.5), collect(ALL, &["r1"]));
    assert_eq!(r.step(21.6, Event::Collected(good16(ALL))), vec![]);
    assert_eq!(r.wake(23.5), collect(ALL, &["r1", "r2"]));
}

#[test]
fn an_agent_restarting_over_an_up_to_date_status_writes_nothing() {
    let mut r = Replay::new();
    let mut stored = written(&good16(ALL), ALL, at(0.0));
    stored.last_updated = Some("2027-01-15T07:00:00Z".to_owned());
    let obj = resource("r1", "n1", ALL, 10, 5, Some(stored));
    assert_eq!(r.step(0.0, Event::Listed(vec![obj])), collect(ALL, &["r1"]));
    assert_eq!(r.step(0.1, Event::Collected(good16(ALL))), vec![]);
    assert_eq!(r.core.next_wake(), Some(Duration::from_secs(10)));
}

#[test]
fn period_zero_collects_once_then_never_again() {
    let mut r = Replay::new();
    first_write(&mut r, resource("r1", "n1", ALL, 0, 5, None), good16(ALL));
    assert_eq!(r.core.next_wake(), None);
    assert_eq!(r.step(3600.0, Event::Tick), vec![]);
}

#[test]
fn a_period_changed_to_zero_collects_once_more_then_stops() {
    let mut r = Replay::new();
    let status = first_write(&mut r, resource("r1", "n1", ALL, 1, 5, None), good16(ALL));
    let edited = resource("r1", "n1", ALL, 0, 7, Some(status));
    assert_eq!(r.step(0.5, Event::Upserted(edited)), collect(ALL, &["r1"]));
    assert_eq!(r.step(0.6, Event::Collected(good16(ALL))), vec![]);
    assert_eq!(r.core.next_wake(), None);
}

#[test]
fn changed_classes_are_collected_at_once_and_a_removed_class_disappears() {
    let mut r = Replay::new();
    let status = first_write(&mut r, resource("r1", "n1", ALL, 10, 5, None), good16(ALL));
    let edited = resource("r1", "n1", &[AGENT], 10, 7, Some(status));
    assert_eq!(
        r.step(1.0, Event::Upserted(edited)),
        collect(&[AGENT], &["r1"])
    );
    let actions = r.step(1.1, Event::Collected(good16(&[AGENT])));
    let (ticket, status) = the_write(&actions);
    assert_eq!(
        actions,
        write(
            "r1",
            ticket,
            written(&good16(&[AGENT]), &[AGENT], at(1.1)),
            7
        )
    );
    assert!(status.agent.is_some() && status.bgp.is_none() && status.routes.is_none());
}

#[test]
fn a_deleted_resource_is_not_written_even_when_its_collection_was_under_way() {
    let mut r = Replay::new();
    assert_eq!(
        r.step(
            0.0,
            Event::Listed(vec![resource("r1", "n1", ALL, 1, 5, None)])
        ),
        collect(ALL, &["r1"])
    );
    assert_eq!(r.step(0.05, Event::Deleted("r1".to_owned())), vec![]);
    assert_eq!(r.step(0.1, Event::Collected(good16(ALL))), vec![]);
    assert_eq!(r.core.next_wake(), None);
    assert_eq!(r.core.len(), 0);
}

#[test]
fn resources_of_other_nodes_are_ignored() {
    let mut r = Replay::new();
    assert_eq!(
        r.step(
            0.0,
            Event::Listed(vec![resource("other", "n2", ALL, 1, 5, None)])
        ),
        vec![]
    );
    assert_eq!(
        r.step(
            0.1,
            Event::Upserted(resource("moved", "n3", ALL, 1, 6, None))
        ),
        vec![]
    );
    assert_eq!((r.core.len(), r.core.next_wake()), (0, None));
}

#[test]
fn a_resource_moved_to_another_node_is_dropped() {
    let mut r = Replay::new();
    first_write(&mut r, resource("r1", "n1", ALL, 1, 5, None), good16(ALL));
    assert_eq!(
        r.step(0.5, Event::Upserted(resource("r1", "n2", ALL, 1, 7, None))),
        vec![]
    );
    assert_eq!((r.core.len(), r.core.next_wake()), (0, None));
}

#[test]
fn resources_due_together_share_one_collection_of_the_union_of_their_classes() {
    let mut r = Replay::new();
    // r1 (Agent) from the start, r2 (Routes) 0.7 s later: each is collected at once, then
    // both fall on the 2 s grid.
    let s1 = first_write(
        &mut r,
        resource("r1", "n1", &[AGENT], 2, 5, None),
        good16(&[AGENT]),
    );
    assert_eq!(
        r.step(
            0.7,
            Event::Upserted(resource("r2", "n1", &[ROUTES], 2, 8, None))
        ),
        collect(&[ROUTES], &["r2"])
    );
    let actions = r.step(0.8, Event::Collected(good16(&[ROUTES])));
    let (ticket, s2) = the_write(&actions);
    assert_eq!(r.step(0.9, written_ok("r2", ticket, 9)), vec![]);

    assert_eq!(r.wake(2.0), collect(&[AGENT, ROUTES], &["r1", "r2"]));
    // One snapshot, mapped per resource: r1's Agent status is unchanged, r2's routes are not.
    let shared = disabled16(&[AGENT, ROUTES]);
    assert_eq!(
        map_snapshot(&shared, &[AGENT]).merge_last_good(None).agent,
        s1.agent
    );
    let actions = r.step(2.1, Event::Collected(shared));
    let (ticket, status) = the_write(&actions);
    assert_eq!(
        actions,
        write(
            "r2",
            ticket,
            written(&disabled16(&[ROUTES]), &[ROUTES], at(2.1)),
            9
        )
    );
    assert_ne!(status.routes, s2.routes);
}

#[test]
fn resources_due_while_a_collection_runs_wait_for_it_then_share_the_next() {
    let mut r = Replay::new();
    assert_eq!(
        r.step(
            0.0,
            Event::Listed(vec![resource("r1", "n1", &[BGP], 1, 5, None)])
        ),
        collect(&[BGP], &["r1"])
    );
    // r2 and r3 arrive while the first collection runs (BIRD is slow): no second collection.
    assert_eq!(
        r.step(
            0.2,
            Event::Upserted(resource("r2", "n1", &[AGENT], 1, 6, None))
        ),
        vec![]
    );
    assert_eq!(
        r.step(
            0.3,
            Event::Upserted(resource("r3", "n1", &[ROUTES], 1, 7, None))
        ),
        vec![]
    );
    assert_eq!(r.core.next_wake(), None);
    let actions = r.step(0.9, Event::Collected(good16(&[BGP])));
    assert_eq!(&actions[1..], collect(&[AGENT, ROUTES], &["r2", "r3"]));
    assert!(matches!(&actions[0], Action::Write { name, .. } if name == "r1"));
}

#[test]
fn a_spec_change_during_a_collection_discards_its_result_and_collects_again() {
    let mut r = Replay::new();
    assert_eq!(
        r.step(
            0.0,
            Event::Listed(vec![resource("r1", "n1", ALL, 1, 5, None)])
        ),
        collect(ALL, &["r1"])
    );
    assert_eq!(
        r.step(
            0.1,
            Event::Upserted(resource("r1", "n1", &[BGP], 1, 6, None))
        ),
        vec![]
    );
    assert_eq!(
        r.step(0.2, Event::Collected(good16(ALL))),
        collect(&[BGP], &["r1"])
    );
    let actions = r.step(0.3, Event::Collected(good16(&[BGP])));
    let (ticket, _) = the_write(&actions);
    assert_eq!(
        actions,
        write("r1", ticket, written(&good16(&[BGP]), &[BGP], at(0.3)), 6)
    );
}

#[test]
fn an_unparsable_reply_keeps_the_last_good_part_and_updates_the_rest() {
    let mut r = Replay::new();
    let good = first_write(&mut r, resource("r1", "n1", ALL, 1, 5, None), good16(ALL));
    // Next tick: a session went down, and the IPv4 `show route` reply cannot be parsed.
    assert_eq!(r.wake(1.0), collect(ALL, &["r1"]));
    let broken = snapshot16(
        Src::BrokenRoutes("bird1.6-disabled"),
        Src::Set("bird1.6-disabled"),
        ALL,
    );
    let actions = r.step(1.1, Event::Collected(broken));
    let (ticket, _) = the_write(&actions);
    let mut expected = written(&disabled16(ALL), ALL, at(1.1));
    if let (Some(routes), Some(last)) = (expected.routes.as_mut(), good.routes.as_ref()) {
        routes.routes_v4 = last.routes_v4.clone();
    }
    assert_ne!(
        expected.routes,
        written(&disabled16(ALL), ALL, at(1.1)).routes
    );
    assert_eq!(actions, write("r1", ticket, expected, 6));
}

#[test]
fn an_unparsable_reply_alone_writes_nothing() {
    let mut r = Replay::new();
    first_write(&mut r, resource("r1", "n1", ALL, 1, 5, None), good16(ALL));
    assert_eq!(r.wake(1.0), collect(ALL, &["r1"]));
    let broken = snapshot16(Src::BrokenRoutes("bird1.6"), Src::Set("bird1.6"), ALL);
    assert_eq!(r.step(1.1, Event::Collected(broken)), vec![]);
}

#[test]
fn an_unrecognised_route_line_costs_that_route_and_the_rest_is_written() {
    let mut r = Replay::new();
    first_write(&mut r, resource("r1", "n1", ALL, 1, 5, None), good16(ALL));
    assert_eq!(r.wake(1.0), collect(ALL, &["r1"]));
    let one_line_off = snapshot16(Src::UnrecognisedRoutes("bird1.6"), Src::Set("bird1.6"), ALL);
    let (_, status) = the_write(&r.step(1.1, Event::Collected(one_line_off)));
    let mut expected = written(&good16(ALL), ALL, at(1.1));
    if let Some(routes) = expected.routes.as_mut() {
        routes
            .routes_v4
            .retain(|route| route.destination != "10.99.102.0/26");
    }
    assert_eq!(status, expected);
}

#[test]
fn an_unreachable_daemon_makes_its_family_not_ready_with_no_peers_or_routes() {
    let mut r = Replay::new();
    let good = first_write(&mut r, resource("r1", "n1", ALL, 1, 5, None), good16(ALL));
    assert_eq!(r.wake(1.0), collect(ALL, &["r1"]));
    let actions = r.step(
        1.1,
        Event::Collected(snapshot16(Src::Set("bird1.6"), Src::Unreachable, ALL)),
    );
    let (_, status) = the_write(&actions);
    let (agent, bgp, routes) = (
        status.agent.unwrap_or_default(),
        status.bgp.unwrap_or_default(),
        status.routes.unwrap_or_default(),
    );
    let (good_agent, good_bgp, good_routes) = (
        good.agent.unwrap_or_default(),
        good.bgp.unwrap_or_default(),
        good.routes.unwrap_or_default(),
    );
    let not_ready = BgpDaemonStatus {
        state: Some(BgpDaemonState::NotReady),
        ..BgpDaemonStatus::default()
    };
    assert_eq!(
        (agent.bird_v4, agent.bird_v6),
        (good_agent.bird_v4, not_ready)
    );
    assert_eq!(
        (bgp.peers_v4, bgp.number_established_v4),
        (good_bgp.peers_v4, good_bgp.number_established_v4)
    );
    assert_eq!(
        (
            bgp.peers_v6,
            bgp.number_established_v6,
            bgp.number_not_established_v6
        ),
        (vec![], 0, 0)
    );
    assert_eq!(
        (routes.routes_v4, routes.routes_v6),
        (good_routes.routes_v4, vec![])
    );
}

#[test]
fn bird2_one_daemon_serves_both_families() {
    let mut r = Replay::new();
    let status = first_write(
        &mut r,
        resource("r1", "n1", ALL, 1, 5, None),
        snapshot2(Src::Set("bird2"), ALL),
    );
    assert_eq!(
        status,
        written(&snapshot2(Src::Set("bird2"), ALL), ALL, at(0.1))
    );
    assert_eq!(r.wake(1.0), collect(ALL, &["r1"]));
    let actions = r.step(
        1.1,
        Event::Collected(snapshot2(Src::Set("bird2-disabled"), ALL)),
    );
    let (ticket, _) = the_write(&actions);
    assert_eq!(
        actions,
        write(
            "r1",
            ticket,
            written(&snapshot2(Src::Set("bird2-disabled"), ALL), ALL, at(1.1)),
            6
        )
    );
}

#[test]
fn a_conflict_rereads_after_a_backoff_and_a_new_spec_wins() {
    let mut r = Replay::new();
    assert_eq!(
        r.step(
            0.0,
            Event::Listed(vec![resource("r1", "n1", ALL, 10, 5, None)])
        ),
        collect(ALL, &["r1"])
    );
    let (ticket, _) = the_write(&r.step(0.1, Event::Collected(good16(ALL))));
    let failed = Event::Written {
        name: "r1".to_owned(),
        ticket,
        result: Err(conflict("r1")),
    };
    assert_eq!(r.step(0.2, failed), vec![]);
    // First retry: within [min/2, min] of the failure.
    let wake = r
        .core
        .next_wake()
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    assert!((0.7..=1.2).contains(&wake), "re-read at {wake}");
    let ticket = the_reread(&r.wake(wake), "r1");
    // The operator changed the classes meanwhile: collect for them, drop the old status.
    let event = Event::Reread {
        name: "r1".to_owned(),
        ticket,
        result: Ok(resource("r1", "n1", &[BGP], 10, 7, None)),
    };
    assert_eq!(r.step(wake + 0.1, event), collect(&[BGP], &["r1"]));
    let actions = r.step(wake + 0.2, Event::Collected(good16(&[BGP])));
    let (ticket, _) = the_write(&actions);
    assert_eq!(
        actions,
        write(
            "r1",
            ticket,
            written(&good16(&[BGP]), &[BGP], at(wake + 0.2)),
            7
        )
    );
}

#[test]
fn a_conflict_with_the_same_spec_writes_again_on_the_new_version() {
    let mut r = Replay::new();
    assert_eq!(
        r.step(
            0.0,
            Event::Listed(vec![resource("r1", "n1", ALL, 10, 5, None)])
        ),
        collect(ALL, &["r1"])
    );
    let (ticket, _) = the_write(&r.step(0.1, Event::Collected(good16(ALL))));
    let failed = Event::Written {
        name: "r1".to_owned(),
        ticket,
        result: Err(conflict("r1")),
    };
    assert_eq!(r.step(0.2, failed), vec![]);
    let wake = r
        .core
        .next_wake()
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let ticket = the_reread(&r.wake(wake), "r1");
    // Only a label changed (version 7): the same status is written on version 7, stamped now.
    let event = Event::Reread {
        name: "r1".to_owned(),
        ticket,
        result: Ok(resource("r1", "n1", ALL, 10, 7, None)),
    };
    let actions = r.step(wake + 0.1, event);
    let (ticket, _) = the_write(&actions);
    assert_eq!(
        actions,
        write("r1", ticket, written(&good16(ALL), ALL, at(wake + 0.1)), 7)
    );
}

#[test]
fn write_conflicts_are_bounded_then_the_next_collection_tries_again() {
    let mut r = Replay::new();
    assert_eq!(
        r.step(
            0.0,
            Event::Listed(vec![resource("r1", "n1", ALL, 60, 5, None)])
        ),
        collect(ALL, &["r1"])
    );
    let (mut ticket, _) = the_write(&r.step(0.1, Event::Collected(good16(ALL))));
    let mut t = 0.2;
    let mut wakes = Vec::new();
    // max_conflicts is 3: three re-reads and rewrites, then the fourth conflict drops it.
    for version in 6..9 {
        let failed = Event::Written {
            name: "r1".to_owned(),
            ticket,
            result: Err(conflict("r1")),
        };
        assert_eq!(r.step(t, failed), vec![]);
        let wake = r
            .core
            .next_wake()
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        wakes.push(wake - t);
        let reread = the_reread(&r.wake(wake), "r1");
        let event = Event::Reread {
            name: "r1".to_owned(),
            ticket: reread,
            result: Ok(resource("r1", "n1", ALL, 60, version, None)),
        };
        t = wake + 0.1;
        (ticket, _) = the_write(&r.step(t, event));
        t += 0.1;
    }
    let failed = Event::Written {
        name: "r1".to_owned(),
        ticket,
        result: Err(conflict("r1")),
    };
    assert_eq!(r.step(t, failed), vec![]);
    assert_eq!(r.core.next_wake(), Some(Duration::from_secs(60)));
    // The delays grew: about 1, 2, 4 s.
    for (delay, base) in wakes.iter().zip([1.0, 2.0, 4.0]) {
        assert!(
            (base / 2.0..=base).contains(delay),
            "delay {delay} for base {base}"
        );
    }
    assert_eq!(r.wake(60.0), collect(ALL, &["r1"]));
    assert_eq!(
        the_write(&r.step(60.1, Event::Collected(good16(ALL)))).1,
        written(&good16(ALL), ALL, at(60.1))
    );
}

#[test]
fn during_an_outage_collection_goes_on_and_recovery_writes_only_the_latest_status() {
    let mut r = Replay::new();
    first_write(&mut r, resource("r1", "n1", ALL, 1, 5, None), good16(ALL));
    // Three BIRD states, all different from the stored one, seen while the datastore is down.
    let states = [
        || disabled16(ALL),
        || snapshot16(Src::Set("bird1.6-disabled"), Src::Unreachable, ALL),
        || snapshot16(Src::Unreachable, Src::Set("bird1.6-disabled"), ALL),
    ];
    let down = |ticket| Event::Written {
        name: "r1".to_owned(),
        ticket,
        result: Err(outage()),
    };
    // Every retry due before `until` sends the newest status and fails.
    let fail_retries_before = |r: &mut Replay, until: f64, latest: &Snapshot| {
        let mut retries = 0;
        while let Some(wake) = r
            .core
            .next_wake()
            .map(|d| d.as_secs_f64())
            .filter(|w| *w < until)
        {
            let (ticket, status) = the_write(&r.wake(wake));
            assert_eq!(status, written(latest, ALL, at(wake)));
            assert_eq!(r.step(wake, down(ticket)), vec![]);
            retries += 1;
        }
        retries
    };
    assert_eq!(r.wake(1.0), collect(ALL, &["r1"]));
    let (ticket, _) = the_write(&r.step(1.1, Event::Collected(states[0]())));
    assert_eq!(r.step(1.2, down(ticket)), vec![]);
    let mut retries = 0;
    let mut latest = states[0]();
    for t in 2..12 {
        let t = f64::from(t);
        retries += fail_retries_before(&mut r, t, &latest);
        assert_eq!(r.wake(t), collect(ALL, &["r1"]));
        retries += fail_retries_before(&mut r, t + 0.1, &latest);
        latest = states[(t as usize / 4).min(2)]();
        assert_eq!(
            r.step(t + 0.1, Event::Collected(latest.clone())),
            vec![],
            "no write of its own at {t}"
        );
    }
    // Backoff: 1, 2, 4, 8, 8 s (halved at worst) fit at most 5 retries into 10 s, not 10.
    assert!((2..=5).contains(&retries), "{retries} retries");
    // The datastore is back: ticks collect as before, and the next retry writes once, the
    // latest status, stamped then.
    loop {
        let wake = r
            .core
            .next_wake()
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let actions = r.wake(wake);
        if actions == collect(ALL, &["r1"]) {
            assert_eq!(r.step(wake, Event::Collected(states[2]())), vec![]);
            continue;
        }
        let (ticket, status) = the_write(&actions);
        assert_eq!(status, written(&states[2](), ALL, at(wake)));
        assert_eq!(r.step(wake + 0.1, written_ok("r1", ticket, 7)), vec![]);
        break;
    }
    assert_eq!(
        r.wake(
            r.core
                .next_wake()
                .map(|d| d.as_secs_f64())
                .unwrap_or_default()
        ),
        collect(ALL, &["r1"])
    );
}

#[test]
fn an_outage_over_which_bird_returned_to_the_stored_state_writes_nothing() {
    let mut r = Replay::new();
    first_write(&mut r, resource("r1", "n1", ALL, 1, 5, None), good16(ALL));
    assert_eq!(r.wake(1.0), collect(ALL, &["r1"]));
    let (mut ticket, _) = the_write(&r.step(1.1, Event::Collected(disabled16(ALL))));
    let mut failed_at = 1.1;
    // Retries before the next tick fail too.
    loop {
        let failed = Event::Written {
            name: "r1".to_owned(),
            ticket,
            result: Err(outage()),
        };
        assert_eq!(r.step(failed_at, failed), vec![]);
        let wake = r
            .core
            .next_wake()
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        if wake >= 2.0 {
            break;
        }
        (ticket, _) = the_write(&r.wake(wake));
        failed_at = wake;
    }
    // BIRD is back as stored: neither ticks nor the pending retry write anything.
    let mut wakes = 0;
    while let Some(wake) = r
        .core
        .next_wake()
        .map(|d| d.as_secs_f64())
        .filter(|w| *w < 20.0)
    {
        let actions = r.wake(wake);
        if !actions.is_empty() {
            assert_eq!(actions, collect(ALL, &["r1"]));
            assert_eq!(r.step(wake, Event::Collected(good16(ALL))), vec![]);
        }
        wakes += 1;
    }
    assert_eq!(wakes, 19, "18 ticks from 2 s to 19 s, and the retry");
}

fn too_large(size: usize) -> StoreError {
    StoreError::TooLarge {
        name: "r1".to_owned(),
        size,
        limit: 1_572_864,
    }
}

#[test]
fn a_status_the_datastore_refuses_without_routes_to_cut_is_not_sent_again() {
    let mut r = Replay::new();
    let no_routes = [AGENT, BGP];
    assert_eq!(
        r.step(
            0.0,
            Event::Listed(vec![resource("r1", "n1", &no_routes, 1, 5, None)])
        ),
        collect(&no_routes, &["r1"])
    );
    let (ticket, _) = the_write(&r.step(0.1, Event::Collected(good16(&no_routes))));
    let failed = Event::Written {
        name: "r1".to_owned(),
        ticket,
        result: Err(too_large(2_000_000)),
    };
    assert_eq!(r.step(0.2, failed), vec![]);
    assert_eq!(r.wake(1.0), collect(&no_routes, &["r1"]));
    assert_eq!(r.step(1.1, Event::Collected(good16(&no_routes))), vec![]);
    // A different status is tried.
    assert_eq!(r.wake(2.0), collect(&no_routes, &["r1"]));
    assert_eq!(
        the_write(&r.step(2.1, Event::Collected(disabled16(&no_routes)))).1,
        written(&disabled16(&no_routes), &no_routes, at(2.1))
    );
}

#[test]
fn a_status_too_large_is_written_again_with_the_routes_that_fit_and_then_only_on_change() {
    let mut r = Replay::new();
    assert_eq!(
        r.step(
            0.0,
            Event::Listed(vec![resource("r1", "n1", ALL, 1, 5, None)])
        ),
        collect(ALL, &["r1"])
    );
    let (ticket, full) = the_write(&r.step(0.1, Event::Collected(good16(ALL))));
    let routes = full.routes.as_ref().map_or(0, |r| r.len());
    assert!(routes >= 4, "the lab's status has routes to cut: {routes}");
    // Twice the limit: the 90% that fit of half the routes.
    let failed = Event::Written {
        name: "r1".to_owned(),
        ticket,
        result: Err(too_large(2 * 1_572_864)),
    };
    let (ticket, cut) = the_write(&r.step(0.2, failed));
    let mut expected = full.clone();
    let kept = routes * 9 / 20;
    expected
        .routes
        .as_mut()
        .map(|r| r.truncate(kept))
        .unwrap_or_default();
    assert_eq!(cut, expected);
    assert_eq!(
        (cut.agent.as_ref(), cut.bgp.as_ref()),
        (full.agent.as_ref(), full.bgp.as_ref())
    );
    let truncated = cut.routes.as_ref().and_then(|r| r.truncated);
    assert_eq!(truncated.map(|t| t.total()), Some(routes as u64));
    assert_eq!(r.step(0.3, written_ok("r1", ticket, 6)), vec![]);
    // Unchanged BIRD: nothing written, the budget applies before the comparison.
    assert_eq!(r.wake(1.0), collect(ALL, &["r1"]));
    assert_eq!(r.step(1.1, Event::Collected(good16(ALL))), vec![]);
}

#[test]
fn a_stale_watch_event_does_not_roll_back_what_the_agent_wrote() {
    let mut r = Replay::new();
    first_write(&mut r, resource("r1", "n1", ALL, 1, 5, None), good16(ALL));
    // The watch lags: version 5 (before the write) arrives after the write's version 6.
    assert_eq!(
        r.step(0.3, Event::Upserted(resource("r1", "n1", ALL, 1, 5, None))),
        vec![]
    );
    assert_eq!(r.wake(1.0), collect(ALL, &["r1"]));
    assert_eq!(r.step(1.1, Event::Collected(good16(ALL))), vec![]);
}

#[test]
fn a_relist_without_a_resource_stops_reporting_on_it_and_adds_new_ones() {
    let mut r = Replay::new();
    first_write(&mut r, resource("r1", "n1", ALL, 1, 5, None), good16(ALL));
    let relisted = vec![resource("r2", "n1", &[AGENT], 1, 9, None)];
    assert_eq!(
        r.step(0.5, Event::Listed(relisted)),
        collect(&[AGENT], &["r2"])
    );
    assert_eq!(r.core.len(), 1);
}

#[test]
fn a_write_result_for_a_deleted_and_recreated_resource_is_ignored() {
    let mut r = Replay::new();
    assert_eq!(
        r.step(
            0.0,
            Event::Listed(vec![resource("r1", "n1", ALL, 1, 5, None)])
        ),
        collect(ALL, &["r1"])
    );
    let (old_ticket, _) = the_write(&r.step(0.1, Event::Collected(good16(ALL))));
    assert_eq!(r.step(0.2, Event::Deleted("r1".to_owned())), vec![]);
    assert_eq!(
        r.step(
            0.3,
            Event::Upserted(resource("r1", "n1", &[AGENT], 1, 8, None))
        ),
        collect(&[AGENT], &["r1"])
    );
    assert_eq!(r.step(0.4, written_ok("r1", old_ticket, 6)), vec![]);
    let actions = r.step(0.5, Event::Collected(good16(&[AGENT])));
    let (ticket, _) = the_write(&actions);
    assert_eq!(
        actions,
        write(
            "r1",
            ticket,
            written(&good16(&[AGENT]), &[AGENT], at(0.5)),
            8
        )
    );
}

#[test]
fn bird_1_6_times_wobbling_by_a_second_write_nothing() {
    let mut r = Replay::new();
    let jitter = |set| snapshot16(Src::Set(set), Src::Set(set), ALL);
    first_write(
        &mut r,
        resource("r1", "n1", ALL, 1, 5, None),
        jitter("bird1.6-jitter-a"),
    );
    assert_eq!(r.wake(1.0), collect(ALL, &["r1"]));
    assert_eq!(
        r.step(1.1, Event::Collected(jitter("bird1.6-jitter-b"))),
        vec![]
    );
    assert_eq!(r.wake(2.0), collect(ALL, &["r1"]));
    assert_eq!(
        r.step(2.1, Event::Collected(jitter("bird1.6-jitter-a"))),
        vec![]
    );
}
