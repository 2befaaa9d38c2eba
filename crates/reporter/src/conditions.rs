//! The BIRD problems a snapshot shows, per address family, and which of them started or ended
//! since the previous snapshot: a problem is logged when it starts and when it ends, not on
//! every tick, and counted in metrics on every collection it affects.

use nodestatus_bird::{ClientError, CollectError, Family, Part, Snapshot, Source, Unrecognised};

/// One kind of problem with one family's daemon.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Problem {
    /// The command that failed; `None` when the daemon could not be reached at all.
    pub(crate) command: Option<&'static str>,
    /// `unreachable`, `timeout` (silence or a deadline), `query` (other I/O or framing
    /// failures), `parse`, `unrecognised` (lines left out of a reply that was used), or
    /// `descriptors` (this process could not open a socket to try).
    pub(crate) kind: &'static str,
}

/// The problems of one family in a snapshot, each with its message. Commands skipped because
/// an earlier one broke the connection are not problems of their own.
pub(crate) fn problems(snapshot: &Snapshot, family: Family) -> Vec<(Problem, String)> {
    let daemon = match snapshot.source(family) {
        Source::Unreachable(u) => {
            let problem = Problem {
                command: None,
                kind: if u.is_local_shortage() {
                    "descriptors"
                } else {
                    "unreachable"
                },
            };
            return vec![(problem, u.to_string())];
        }
        Source::Daemon(d) => d,
    };
    let mut out = Vec::new();
    let mut part = |failed: Option<&CollectError>| {
        let Some(e) = failed else { return };
        let (command, kind) = match e {
            CollectError::Query(q) => (query_command(q), query_kind(q)),
            CollectError::Parse { command, .. } => (Some(*command), "parse"),
            CollectError::Abandoned { .. } => return,
        };
        out.push((Problem { command, kind }, e.to_string()));
    };
    part(failed(&daemon.status));
    part(failed(&daemon.protocols));
    part(failed(&daemon.routes));
    for (command, unrecognised) in daemon.unrecognised() {
        let problem = Problem {
            command: Some(command),
            kind: "unrecognised",
        };
        out.push((problem, unrecognised.to_string()));
    }
    out
}

/// The replies of a snapshot with lines left out, once per daemon (a BIRD 2/3 daemon serves
/// both families and is counted under IPv4).
pub(crate) fn unrecognised(snapshot: &Snapshot) -> Vec<(Family, &'static str, &Unrecognised)> {
    let mut out = Vec::new();
    for family in snapshot.families_once_per_daemon() {
        let Source::Daemon(d) = snapshot.source(family) else {
            continue;
        };
        out.extend(
            d.unrecognised()
                .into_iter()
                .map(|(command, u)| (family, command, u)),
        );
    }
    out
}

fn failed<T>(part: &Part<T>) -> Option<&CollectError> {
    match part {
        Part::Failed(e) => Some(e),
        _ => None,
    }
}

fn query_kind(e: &ClientError) -> &'static str {
    match e {
        ClientError::Timeout { .. } | ClientError::Deadline { .. } => "timeout",
        _ => "query",
    }
}

fn query_command(e: &ClientError) -> Option<&'static str> {
    let command = match e {
        ClientError::Io { command, .. }
        | ClientError::Timeout { command, .. }
        | ClientError::Deadline { command, .. }
        | ClientError::Closed { command, .. }
        | ClientError::Frame { command, .. } => command.as_str(),
        ClientError::Connect { .. } | ClientError::Greeting { .. } => return None,
    };
    [
        nodestatus_bird::SHOW_STATUS,
        nodestatus_bird::SHOW_PROTOCOLS_ALL,
        nodestatus_bird::SHOW_ROUTE,
    ]
    .into_iter()
    .find(|c| *c == command)
}

/// What changed in one family's condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) family: Family,
    /// Problems that were not there in the previous snapshot, with their messages.
    pub(crate) started: Vec<(Problem, String)>,
    /// Problems of the previous snapshot that are gone.
    pub(crate) ended: Vec<Problem>,
}

/// The problems of the previous snapshot.
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    last: [Vec<Problem>; 2],
}

impl Conditions {
    /// Records `snapshot`'s problems and returns, per family with a change, what started and
    /// what ended. A BIRD 2/3 daemon's problems are its own, not one per family: they are
    /// reported once, under IPv4.
    pub(crate) fn observe(&mut self, snapshot: &Snapshot) -> Vec<Change> {
        let mut changes = Vec::new();
        for (i, family) in Family::ALL.into_iter().enumerate() {
            let now = if snapshot.families_once_per_daemon().any(|f| f == family) {
                problems(snapshot, family)
            } else {
                Vec::new()
            };
            let before = &self.last[i];
            let started: Vec<_> = now
                .iter()
                .filter(|(p, _)| !before.contains(p))
                .cloned()
                .collect();
            let ended: Vec<_> = before
                .iter()
                .filter(|p| !now.iter().any(|(q, _)| q == *p))
                .cloned()
                .collect();
            if !started.is_empty() || !ended.is_empty() {
                changes.push(Change {
                    family,
                    started,
                    ended,
                });
            }
            self.last[i] = now.into_iter().map(|(p, _)| p).collect();
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{ALL, Src, snapshot2, snapshot16};

    #[test]
    fn a_good_snapshot_has_no_problems() {
        let snapshot = snapshot16(Src::Set("bird1.6"), Src::Set("bird1.6"), ALL);
        assert_eq!(problems(&snapshot, Family::V4), vec![]);
        assert_eq!(problems(&snapshot, Family::V6), vec![]);
    }

    #[test]
    fn an_unparsable_reply_and_an_unreachable_daemon_are_problems_of_their_family() {
        let snapshot = snapshot16(Src::BrokenRoutes("bird1.6"), Src::Unreachable, ALL);
        let v4: Vec<Problem> = problems(&snapshot, Family::V4)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let v6: Vec<Problem> = problems(&snapshot, Family::V6)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let parse = Problem {
            command: Some(nodestatus_bird::SHOW_ROUTE),
            kind: "parse",
        };
        let unreachable = Problem {
            command: None,
            kind: "unreachable",
        };
        assert_eq!((v4, v6), (vec![parse], vec![unreachable]));
    }

    #[test]
    fn a_problem_is_reported_when_it_starts_and_when_it_ends_not_while_it_lasts() {
        let mut conditions = Conditions::default();
        let good = || snapshot16(Src::Set("bird1.6"), Src::Set("bird1.6"), ALL);
        let broken = || snapshot16(Src::BrokenRoutes("bird1.6"), Src::Set("bird1.6"), ALL);
        let parse = Problem {
            command: Some(nodestatus_bird::SHOW_ROUTE),
            kind: "parse",
        };
        assert_eq!(conditions.observe(&good()), vec![]);
        let started = conditions.observe(&broken());
        let message = problems(&broken(), Family::V4)
            .into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>();
        assert_eq!(
            started,
            vec![Change {
                family: Family::V4,
                started: vec![(parse.clone(), message.concat())],
                ended: vec![]
            }]
        );
        assert_eq!(conditions.observe(&broken()), vec![]);
        assert_eq!(
            conditions.observe(&good()),
            vec![Change {
                family: Family::V4,
                started: vec![],
                ended: vec![parse]
            }]
        );
    }

    #[test]
    fn unrecognised_lines_are_a_problem_with_the_first_as_example() {
        let snapshot = snapshot16(Src::UnrecognisedRoutes("bird1.6"), Src::Set("bird1.6"), ALL);
        assert_eq!(
            problems(&snapshot, Family::V4),
            vec![(
                Problem {
                    command: Some(nodestatus_bird::SHOW_ROUTE),
                    kind: "unrecognised"
                },
                "1 unrecognised line(s) left out, the first: line 4: expected `]` after `[protocol time`: \"10.99.102.0/26     via 10.99.0.12 on eth0 [Mesh_10_99_0_12\"".to_owned()
            )]
        );
        let counted: Vec<_> = unrecognised(&snapshot)
            .into_iter()
            .map(|(f, c, u)| (f, c, u.count))
            .collect();
        assert_eq!(counted, vec![(Family::V4, nodestatus_bird::SHOW_ROUTE, 1)]);
    }

    #[test]
    fn a_bird2_daemon_down_is_a_problem_of_both_families() {
        let snapshot = snapshot2(Src::Unreachable, ALL);
        let kinds: Vec<_> = Family::ALL
            .into_iter()
            .flat_map(|f| {
                problems(&snapshot, f)
                    .into_iter()
                    .map(move |(p, _)| (f, p.kind))
            })
            .collect();
        assert_eq!(
            kinds,
            vec![(Family::V4, "unreachable"), (Family::V6, "unreachable")]
        );
    }

    #[test]
    fn a_bird2_daemon_failure_is_reported_once_not_once_per_family() {
        let snapshot = snapshot2(Src::BrokenRoutes("bird2"), ALL);
        let started: Vec<_> = Conditions::default()
            .observe(&snapshot)
            .into_iter()
            .map(|c| {
                let kinds: Vec<_> = c.started.iter().map(|(p, _)| (p.command, p.kind)).collect();
                (c.family, kinds)
            })
            .collect();
        assert_eq!(
            started,
            vec![(
                Family::V4,
                vec![(Some(nodestatus_bird::SHOW_ROUTE), "parse")]
            )]
        );
    }
}
