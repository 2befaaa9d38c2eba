//! The agent's pure core: a state machine fed with events (watch changes, collected snapshots,
//! datastore replies, the passing of time) that returns the actions to take (collect, write,
//! re-read). No I/O and no clock of its own, so recorded event sequences replay exactly.
//!
//! Per resource it keeps the spec, the resource version and status last seen in the store, and
//! the status still to write. One collection at a time serves every resource due by then; each
//! gets `map_snapshot` for its own classes, merged with its last good status, and is written
//! only when it differs from the stored one ignoring `lastUpdated`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nodestatus_api::{
    CalicoNodeStatus, CalicoNodeStatusSpec, CalicoNodeStatusStatus, NodeStatusClass, RouteStatus,
    last_updated_at,
};
use nodestatus_bird::{Mapped, Snapshot, map_snapshot_within};
use nodestatus_store::StoreError;

use crate::backoff::Backoff;
use crate::compare::same_state;
use crate::schedule::{Schedule, next_aligned};

/// The time an event is handled at: monotonic (for scheduling, from the agent's start) and
/// wall-clock (for `lastUpdated`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Now {
    pub(crate) mono: Duration,
    pub(crate) wall: jiff::Timestamp,
}

/// Something that happened.
#[derive(Debug)]
pub(crate) enum Event {
    /// The full list of this node's resources (first list, relist, or a watch restart).
    Listed(Vec<CalicoNodeStatus>),
    /// A resource was added or changed.
    Upserted(CalicoNodeStatus),
    /// A resource was deleted.
    Deleted(String),
    /// The collection asked for by the last `Action::Collect` finished.
    Collected(Snapshot),
    /// A status write finished: the new resource version, or why not.
    Written {
        name: String,
        ticket: u64,
        result: Result<String, StoreError>,
    },
    /// A re-read after a write conflict finished.
    Reread {
        name: String,
        ticket: u64,
        result: Result<CalicoNodeStatus, StoreError>,
    },
    /// Time passed (a due time or retry time may have come).
    Tick,
}

/// Something to do.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Action {
    /// Collect these classes (the union of those of `resources`) from BIRD, once for all.
    Collect {
        classes: Vec<NodeStatusClass>,
        resources: Vec<String>,
    },
    /// Write `status` to `name` if it is still at `expected_version`.
    Write {
        name: String,
        ticket: u64,
        status: Box<CalicoNodeStatusStatus>,
        expected_version: String,
    },
    /// Read `name` again (its version moved under a write).
    Reread { name: String, ticket: u64 },
}

/// Whether a collection changes a resource's stored status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The stored status already says what the collection says.
    Unchanged,
    /// This status (without `lastUpdated`) should be written.
    Write(Box<CalicoNodeStatusStatus>),
}

/// The decision for one resource after one collection: the mapped status with failed parts
/// taken from `last_good` (the newest status known good: the one waiting to be written, else
/// the stored one), its routes cut to `route_budget` (see [`RouteStatus::truncate`]), compared
/// with `stored` (see [`same_state`]). A status that says nothing (every requested part
/// failed, without a last good value) is not written over no status.
pub(crate) fn decide(
    mapped: &Mapped,
    last_good: Option<&CalicoNodeStatusStatus>,
    stored: Option<&CalicoNodeStatusStatus>,
    route_budget: Option<usize>,
) -> Decision {
    let mut desired = mapped.merge_last_good(last_good);
    if let (Some(max), Some(routes)) = (route_budget, desired.routes.as_mut()) {
        routes.truncate(max);
    }
    // Nothing could be read and nothing is stored: a status saying nothing is not written.
    if stored.is_none() && desired == CalicoNodeStatusStatus::default() {
        return Decision::Unchanged;
    }
    if stored.is_some_and(|s| same_state(s, &desired)) {
        Decision::Unchanged
    } else {
        Decision::Write(Box::new(desired))
    }
}

/// How many routes should fit when `status`, `size` bytes once encoded, was refused for
/// exceeding `limit` bytes: its route count scaled by `limit / size`, less a tenth for what
/// is not routes and for routes longer than average. `None` when it holds no route to cut.
fn route_budget(status: &CalicoNodeStatusStatus, size: usize, limit: usize) -> Option<usize> {
    let routes = status.routes.as_ref().map_or(0, RouteStatus::len);
    if routes == 0 || size == 0 {
        return None;
    }
    let scaled = (routes as u128 * limit as u128 * 9 / 10 / size as u128) as usize;
    Some(scaled.min(routes - 1))
}

/// The routes a resource's stored status leaves out (0 when it holds them all).
pub(crate) fn routes_left_out(status: &CalicoNodeStatusStatus) -> u64 {
    status
        .routes
        .as_ref()
        .and_then(|r| {
            r.truncated
                .map(|t| t.total().saturating_sub(r.len() as u64))
        })
        .unwrap_or(0)
}

fn without_time(mut status: CalicoNodeStatusStatus) -> CalicoNodeStatusStatus {
    status.last_updated = None;
    status
}

/// True when both versions are numbers and `candidate` is the smaller: an event older than
/// what is already known (the datastores in use all give numeric versions; opaque ones are
/// taken in arrival order).
fn is_older(candidate: &str, known: &str) -> bool {
    match (candidate.parse::<u64>(), known.parse::<u64>()) {
        (Ok(c), Ok(k)) => c < k,
        _ => false,
    }
}

/// Tunables of the core.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// This agent's node.
    pub(crate) node: String,
    /// Retry delays after conflicts and outages.
    pub(crate) backoff: Backoff,
    /// Consecutive write conflicts after which the status is dropped until the next collection.
    pub(crate) max_conflicts: u32,
    /// The most routes one status holds (see `AgentConfig::max_status_routes`).
    pub(crate) max_routes: usize,
    /// Seed of the jitter.
    pub(crate) seed: u64,
    /// Where this node's ticks fall on the grid (see [`crate::schedule::phase_of`]).
    pub(crate) phase: Duration,
}

#[derive(Debug)]
enum WriteState {
    Idle,
    Writing {
        ticket: u64,
        status: Box<CalicoNodeStatusStatus>,
    },
    Rereading {
        ticket: u64,
    },
    Waiting {
        at: Duration,
        retry: Retry,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    Write,
    Reread,
}

#[derive(Debug)]
struct Resource {
    spec: CalicoNodeStatusSpec,
    /// Changes with every spec change, so a collection started for an older spec is not used.
    generation: u64,
    version: String,
    stored: Option<CalicoNodeStatusStatus>,
    /// The newest desired status (without `lastUpdated`) that may still need writing.
    pending: Option<CalicoNodeStatusStatus>,
    /// A status the store refused for good (too large, invalid): not sent again.
    rejected: Option<CalicoNodeStatusStatus>,
    /// The most routes a status may hold, learned when the store refused a status as too
    /// large; kept until the spec changes.
    route_budget: Option<usize>,
    /// When a collection last read every part of this resource's status.
    confirmed: Option<jiff::Timestamp>,
    write: WriteState,
    /// Consecutive failed writes or re-reads (the backoff attempt).
    failures: u32,
    /// Consecutive write conflicts.
    conflicts: u32,
}

impl Resource {
    fn needs_write(&self) -> bool {
        self.pending.as_ref().is_some_and(|p| {
            !self.stored.as_ref().is_some_and(|s| same_state(s, p))
                && self.rejected.as_ref() != Some(p)
        })
    }

    fn period(&self) -> Option<Duration> {
        (self.spec.update_period_seconds > 0)
            .then(|| Duration::from_secs(u64::from(self.spec.update_period_seconds)))
    }
}

/// The state machine.
#[derive(Debug)]
pub(crate) struct Core {
    settings: Settings,
    rng: fastrand::Rng,
    resources: BTreeMap<String, Resource>,
    schedule: Schedule,
    /// The resources (and their generation) the running collection is for.
    collecting: Option<Vec<(String, u64)>>,
    next_id: u64,
}

impl Core {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(settings.seed),
            settings,
            resources: BTreeMap::new(),
            schedule: Schedule::default(),
            collecting: None,
            next_id: 1,
        }
    }

    /// Per resource, the routes its stored status leaves out for the datastore's size limit.
    pub(crate) fn routes_left_out(&self) -> impl Iterator<Item = (&str, u64)> {
        self.resources.iter().map(|(name, r)| {
            let left_out = r.stored.as_ref().map_or(0, routes_left_out);
            (name.as_str(), left_out)
        })
    }

    /// Per resource, when a collection last read every part of its status.
    pub(crate) fn confirmed(&self) -> impl Iterator<Item = (&str, jiff::Timestamp)> {
        self.resources
            .iter()
            .filter_map(|(name, r)| r.confirmed.map(|at| (name.as_str(), at)))
    }

    /// How many resources the agent reports on.
    pub(crate) fn len(&self) -> usize {
        self.resources.len()
    }

    /// When the core next needs a `Tick`: the earliest due time or retry time. Due times are
    /// left out while a collection runs (its end is an event of its own).
    pub(crate) fn next_wake(&self) -> Option<Duration> {
        let due = if self.collecting.is_none() {
            self.schedule.next()
        } else {
            None
        };
        let retries = self.resources.values().filter_map(|r| match r.write {
            WriteState::Waiting { at, .. } => Some(at),
            _ => None,
        });
        due.into_iter().chain(retries).min()
    }

    /// Handles one event and returns what to do.
    pub(crate) fn handle(&mut self, event: Event, now: Now) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            Event::Listed(items) => self.replace_all(items, now),
            Event::Upserted(obj) => self.upsert(obj, now),
            Event::Deleted(name) => self.remove(&name),
            Event::Collected(snapshot) => self.on_collected(&snapshot, now, &mut actions),
            Event::Written {
                name,
                ticket,
                result,
            } => self.on_written(&name, ticket, result, now, &mut actions),
            Event::Reread {
                name,
                ticket,
                result,
            } => self.on_reread(&name, ticket, result, now, &mut actions),
            Event::Tick => {}
        }
        self.poll(now, &mut actions);
        actions
    }

    fn replace_all(&mut self, items: Vec<CalicoNodeStatus>, now: Now) {
        let listed: BTreeSet<String> = items
            .iter()
            .filter_map(|o| o.metadata.name.clone())
            .collect();
        let gone: Vec<String> = self
            .resources
            .keys()
            .filter(|n| !listed.contains(*n))
            .cloned()
            .collect();
        for name in gone {
            self.remove(&name);
        }
        for obj in items {
            self.upsert(obj, now);
        }
    }

    fn upsert(&mut self, obj: CalicoNodeStatus, now: Now) {
        let Some(name) = obj.metadata.name.clone() else {
            tracing::warn!("ignoring a resource without a name");
            return;
        };
        if obj.spec.node != self.settings.node {
            self.remove(&name);
            return;
        }
        let version = obj.metadata.resource_version.clone().unwrap_or_default();
        let generation = self.next_id;
        match self.resources.get_mut(&name) {
            None => {
                self.next_id += 1;
                tracing::info!(resource = %name, classes = ?obj.spec.classes, period = obj.spec.update_period_seconds, "reporting on a new resource");
                self.resources.insert(
                    name.clone(),
                    Resource {
                        spec: obj.spec,
                        generation,
                        version,
                        stored: obj.status,
                        pending: None,
                        rejected: None,
                        route_budget: None,
                        confirmed: None,
                        write: WriteState::Idle,
                        failures: 0,
                        conflicts: 0,
                    },
                );
                self.schedule.set(&name, now.mono);
            }
            Some(r) => {
                if is_older(&version, &r.version) {
                    return;
                }
                r.version = version;
                r.stored = obj.status;
                if r.spec != obj.spec {
                    tracing::info!(resource = %name, classes = ?obj.spec.classes, period = obj.spec.update_period_seconds, "spec changed, collecting for the new one");
                    r.spec = obj.spec;
                    r.generation = generation;
                    self.next_id += 1;
                    r.pending = None;
                    r.rejected = None;
                    r.route_budget = None;
                    r.conflicts = 0;
                    if matches!(r.write, WriteState::Waiting { .. }) {
                        r.write = WriteState::Idle;
                        r.failures = 0;
                    }
                    self.schedule.set(&name, now.mono);
                }
            }
        }
    }

    fn remove(&mut self, name: &str) {
        if self.resources.remove(name).is_some() {
            tracing::info!(resource = %name, "resource gone, no longer reporting on it");
        }
        self.schedule.remove(name);
    }

    fn on_collected(&mut self, snapshot: &Snapshot, now: Now, actions: &mut Vec<Action>) {
        let Some(served) = self.collecting.take() else {
            return;
        };
        for (name, generation) in served {
            let Some(r) = self.resources.get_mut(&name) else {
                continue;
            };
            if r.generation != generation {
                // The spec changed during the collection; it is due again already.
                continue;
            }
            // Only the routes that may be written are made status entries (memory).
            let max_routes = r.route_budget.map_or(self.settings.max_routes, |b| {
                b.min(self.settings.max_routes)
            });
            let mapped = map_snapshot_within(snapshot, &r.spec.classes, max_routes);
            if !mapped.outcomes.any_failed() {
                r.confirmed = Some(now.wall);
            }
            let last_good = r.pending.as_ref().or(r.stored.as_ref());
            match decide(&mapped, last_good, r.stored.as_ref(), r.route_budget) {
                // A write under way may still change the store: remember what it must become.
                Decision::Unchanged if !matches!(r.write, WriteState::Idle) => {
                    r.pending = r.stored.clone().map(without_time)
                }
                Decision::Unchanged => r.pending = None,
                Decision::Write(status) => r.pending = Some(*status),
            }
            if let Some(period) = r.period() {
                self.schedule
                    .set(&name, next_aligned(now.mono, period, self.settings.phase));
            }
            self.kick(&name, now, actions);
        }
    }

    /// Starts a write for `name` if it is idle and has something to write.
    fn kick(&mut self, name: &str, now: Now, actions: &mut Vec<Action>) {
        let Some(r) = self.resources.get_mut(name) else {
            return;
        };
        if !matches!(r.write, WriteState::Idle) {
            return;
        }
        if !r.needs_write() {
            r.pending = None;
            return;
        }
        let Some(mut status) = r.pending.clone() else {
            return;
        };
        status.last_updated = Some(last_updated_at(now.wall));
        let ticket = self.next_id;
        self.next_id += 1;
        let status = Box::new(status);
        actions.push(Action::Write {
            name: name.to_owned(),
            ticket,
            status: status.clone(),
            expected_version: r.version.clone(),
        });
        r.write = WriteState::Writing { ticket, status };
    }

    fn retry_later(&mut self, name: &str, retry: Retry, now: Now) {
        let Some(r) = self.resources.get_mut(name) else {
            return;
        };
        r.failures += 1;
        let delay = self.settings.backoff.delay(r.failures, &mut self.rng);
        r.write = WriteState::Waiting {
            at: now.mono + delay,
            retry,
        };
    }

    fn on_written(
        &mut self,
        name: &str,
        ticket: u64,
        result: Result<String, StoreError>,
        now: Now,
        actions: &mut Vec<Action>,
    ) {
        let max_conflicts = self.settings.max_conflicts;
        let Some(r) = self.resources.get_mut(name) else {
            return;
        };
        let written = match &r.write {
            WriteState::Writing { ticket: t, status } if *t == ticket => (**status).clone(),
            _ => return,
        };
        r.write = WriteState::Idle;
        match result {
            Ok(version) => {
                tracing::debug!(resource = %name, %version, "status written");
                if !is_older(&version, &r.version) {
                    r.version = version;
                    r.stored = Some(written);
                }
                r.failures = 0;
                r.conflicts = 0;
                self.kick(name, now, actions);
            }
            Err(StoreError::Conflict { .. }) if r.pending.is_none() => {
                // The spec changed meanwhile; the collection for it writes next.
            }
            Err(StoreError::Conflict {
                expected, actual, ..
            }) => {
                r.conflicts += 1;
                if r.conflicts > max_conflicts {
                    tracing::warn!(resource = %name, conflicts = r.conflicts, "status write keeps conflicting; dropping it until the next collection");
                    r.pending = None;
                    r.conflicts = 0;
                    r.failures = 0;
                } else {
                    tracing::debug!(resource = %name, %expected, %actual, "status write conflicted, re-reading");
                    self.retry_later(name, Retry::Reread, now);
                }
            }
            Err(StoreError::NotFound { .. }) => {
                r.pending = None;
            }
            Err(StoreError::TooLarge { size, limit, .. })
                if route_budget(&written, size, limit).is_some() =>
            {
                let budget = route_budget(&written, size, limit).unwrap_or_default();
                let total = written.routes.as_ref().map_or(0, |routes| {
                    routes.truncated.map_or(routes.len() as u64, |t| t.total())
                });
                tracing::warn!(resource = %name, size, limit, routes = total, kept = budget, "status too large for the datastore; writing Agent and BGP and the first routes that fit (FIB before RIB, IPv4 before IPv6), recorded in status.routes.truncated");
                r.route_budget = Some(budget);
                let mut status = r.pending.take().unwrap_or_else(|| without_time(written));
                if let Some(routes) = status.routes.as_mut() {
                    routes.truncate(budget);
                }
                r.pending = Some(status);
                self.kick(name, now, actions);
            }
            Err(e) if e.is_retryable() => {
                if r.failures == 0 {
                    tracing::warn!(resource = %name, error = %e, "status write failed, retrying with backoff");
                }
                self.retry_later(name, Retry::Write, now);
            }
            Err(e) => {
                tracing::error!(resource = %name, error = %e, "the datastore refused the status; not sending it again");
                r.rejected = r.pending.take();
                r.failures = 0;
            }
        }
    }

    fn on_reread(
        &mut self,
        name: &str,
        ticket: u64,
        result: Result<CalicoNodeStatus, StoreError>,
        now: Now,
        actions: &mut Vec<Action>,
    ) {
        let Some(r) = self.resources.get_mut(name) else {
            return;
        };
        if !matches!(r.write, WriteState::Rereading { ticket: t } if t == ticket) {
            return;
        }
        r.write = WriteState::Idle;
        match result {
            Ok(obj) => {
                self.upsert(obj, now);
                self.kick(name, now, actions);
            }
            Err(StoreError::NotFound { .. }) => self.remove(name),
            Err(e) if e.is_retryable() => self.retry_later(name, Retry::Reread, now),
            Err(e) => {
                tracing::error!(resource = %name, error = %e, "re-reading the resource failed");
                r.pending = None;
                r.failures = 0;
            }
        }
    }

    /// Starts whatever is due: retries whose time has come, and one collection for every
    /// resource due by now (unless one is running).
    fn poll(&mut self, now: Now, actions: &mut Vec<Action>) {
        let retries: Vec<(String, Retry)> = self
            .resources
            .iter()
            .filter_map(|(name, r)| match r.write {
                WriteState::Waiting { at, retry } if at <= now.mono => Some((name.clone(), retry)),
                _ => None,
            })
            .collect();
        for (name, retry) in retries {
            let Some(r) = self.resources.get_mut(&name) else {
                continue;
            };
            r.write = WriteState::Idle;
            match retry {
                Retry::Write => self.kick(&name, now, actions),
                Retry::Reread => {
                    let ticket = self.next_id;
                    self.next_id += 1;
                    r.write = WriteState::Rereading { ticket };
                    actions.push(Action::Reread { name, ticket });
                }
            }
        }
        if self.collecting.is_some() {
            return;
        }
        let due = self.schedule.take_due(now.mono);
        if due.is_empty() {
            return;
        }
        let mut classes = BTreeSet::new();
        let mut served = Vec::with_capacity(due.len());
        for name in due {
            if let Some(r) = self.resources.get(&name) {
                classes.extend(r.spec.classes.iter().copied());
                served.push((name, r.generation));
            }
        }
        if served.is_empty() {
            return;
        }
        actions.push(Action::Collect {
            classes: classes.into_iter().collect(),
            resources: served.iter().map(|(n, _)| n.clone()).collect(),
        });
        self.collecting = Some(served);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{ALL, Src, at, snapshot16};
    use nodestatus_bird::map_snapshot;

    #[test]
    fn last_updated_is_rfc3339_utc_in_whole_seconds() {
        assert_eq!(last_updated_at(at(0.0).wall), "2027-01-15T08:00:00Z");
        assert_eq!(last_updated_at(at(61.999).wall), "2027-01-15T08:01:01Z");
    }

    #[test]
    fn a_status_that_differs_only_in_last_updated_is_unchanged() {
        let snapshot = snapshot16(Src::Set("bird1.6"), Src::Set("bird1.6"), ALL);
        let mapped = map_snapshot(&snapshot, ALL);
        let mut stored = mapped.merge_last_good(None);
        stored.last_updated = Some("2020-01-01T00:00:00Z".to_owned());
        assert_eq!(
            decide(&mapped, Some(&stored), Some(&stored), None),
            Decision::Unchanged
        );
    }

    #[test]
    fn a_status_that_differs_in_any_part_is_written_without_last_updated() {
        let before = map_snapshot(
            &snapshot16(Src::Set("bird1.6"), Src::Set("bird1.6"), ALL),
            ALL,
        );
        let after = map_snapshot(
            &snapshot16(Src::Set("bird1.6-disabled"), Src::Set("bird1.6"), ALL),
            ALL,
        );
        let mut stored = before.merge_last_good(None);
        stored.last_updated = Some("2020-01-01T00:00:00Z".to_owned());
        assert_eq!(
            decide(&after, Some(&stored), Some(&stored), None),
            Decision::Write(Box::new(after.merge_last_good(None)))
        );
        assert_eq!(
            decide(&after, None, None, None),
            Decision::Write(Box::new(after.merge_last_good(None)))
        );
    }

    #[test]
    fn only_numeric_versions_are_ordered() {
        assert!(is_older("9", "10"));
        assert!(!is_older("10", "10"));
        assert!(!is_older("11", "10"));
        assert!(!is_older("abc", "10"));
    }
}
