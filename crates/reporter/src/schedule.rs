//! The agent's one scheduler: when each resource is next due, on a grid aligned to the agent's
//! start so resources with the same period (or periods that divide each other) fall on the same
//! ticks and share one collection, instead of per-resource timers drifting apart.
//!
//! The grid is shifted by a phase of the node's own ([`phase_of`]: a stable hash of the node
//! name, up to an hour): every resource of one node uses the same phase, so they still share
//! ticks, while the nodes of a fleet started together (a DaemonSet rollout, the fleet bench)
//! spread their collections, and so their writes, over the period instead of all writing at
//! the same instant. A new resource and a spec change are collected at once, off the grid; only
//! the ticks after that follow it.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Due times, by time then name, with each name at most once.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    queue: BTreeSet<(Duration, String)>,
    due: HashMap<String, Duration>,
}

impl Schedule {
    /// Makes `name` due at `at`, replacing any earlier due time.
    pub(crate) fn set(&mut self, name: &str, at: Duration) {
        self.remove(name);
        self.queue.insert((at, name.to_owned()));
        self.due.insert(name.to_owned(), at);
    }

    /// Forgets `name`.
    pub(crate) fn remove(&mut self, name: &str) {
        if let Some(at) = self.due.remove(name) {
            self.queue.remove(&(at, name.to_owned()));
        }
    }

    /// The earliest due time.
    pub(crate) fn next(&self) -> Option<Duration> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// Removes and returns every name due at or before `now`, in due order.
    pub(crate) fn take_due(&mut self, now: Duration) -> Vec<String> {
        let mut names = Vec::new();
        while let Some((at, _)) = self.queue.first()
            && *at <= now
        {
            if let Some((_, name)) = self.queue.pop_first() {
                self.due.remove(&name);
                names.push(name);
            }
        }
        names
    }
}

/// The first point of the grid `phase + k * period` (k any integer) strictly after `now`, all
/// measured from the agent's start: the tick a resource with this period is next due at. With
/// one phase for every period, the grid of a period is part of the grid of any period dividing
/// it (10 s ticks are 5 s ticks too).
pub(crate) fn next_aligned(now: Duration, period: Duration, phase: Duration) -> Duration {
    let period_ns = period.as_nanos().max(1);
    let offset = phase.as_nanos() % period_ns;
    let now_ns = now.as_nanos();
    // Grid points are offset + slot * period; the first one after now.
    let ns = if now_ns < offset {
        offset
    } else {
        ((now_ns - offset) / period_ns + 1)
            .saturating_mul(period_ns)
            .saturating_add(offset)
    };
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// Longest phase: an hour, a multiple of every period up to an hour that divides it, so the
/// phase's remainder spreads evenly over such a period.
const MAX_PHASE_MS: u64 = 3_600_000;

/// The node's phase on the grid: a stable function of its name (FNV-1a, the same on every
/// build and platform, unlike `std`'s hasher which may change between releases), in whole
/// milliseconds below an hour.
pub(crate) fn phase_of(node: &str) -> Duration {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = node.bytes().fold(FNV_OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    });
    Duration::from_millis(hash % MAX_PHASE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    const NO_PHASE: Duration = Duration::ZERO;

    #[test]
    fn next_aligned_is_the_next_grid_point_strictly_after_now() {
        let cases = [
            (0.0, 10.0, 10.0),
            (0.3, 10.0, 10.0),
            (10.0, 10.0, 20.0),
            (19.999, 10.0, 20.0),
            (7.2, 1.0, 8.0),
            (7.2, 2.0, 8.0),
            (7.2, 4.0, 8.0),
        ];
        for (now, period, want) in cases {
            assert_eq!(
                next_aligned(s(now), s(period), NO_PHASE),
                s(want),
                "now {now}, period {period}"
            );
        }
    }

    #[test]
    fn resources_with_the_same_period_fall_on_the_same_tick_whenever_they_started() {
        let period = s(10.0);
        for phase in [NO_PHASE, s(3.25), s(1234.5)] {
            // Times within one slot of the shifted grid.
            let offset = phase.as_secs_f64() % 10.0;
            assert_eq!(
                next_aligned(s(offset + 0.05), period, phase),
                next_aligned(s(offset + 3.7), period, phase)
            );
            assert_eq!(
                next_aligned(s(offset + 12.0), period, phase),
                next_aligned(s(offset + 19.0), period, phase)
            );
        }
    }

    #[test]
    fn a_phase_shifts_the_grid_by_its_remainder_of_the_period() {
        // (now, period, phase, next tick)
        let cases = [
            (0.0, 10.0, 3.0, 3.0),
            (2.9, 10.0, 3.0, 3.0),
            (3.0, 10.0, 3.0, 13.0),
            (0.0, 10.0, 1203.0, 3.0),
            (14.0, 10.0, 1203.0, 23.0),
            (14.0, 5.0, 1203.0, 18.0),
            (0.5, 1.0, 1203.25, 1.25),
        ];
        for (now, period, phase, want) in cases {
            assert_eq!(
                next_aligned(s(now), s(period), s(phase)),
                s(want),
                "now {now}, period {period}, phase {phase}"
            );
        }
    }

    #[test]
    fn with_one_phase_a_period_s_ticks_are_ticks_of_every_period_dividing_it() {
        let phase = phase_of("node-17");
        let mut now = Duration::ZERO;
        for _ in 0..20 {
            let tick = next_aligned(now, s(10.0), phase);
            // Just before a 10 s tick, the next 5 s and 1 s ticks are that same instant.
            let before = tick - Duration::from_millis(1);
            assert_eq!(next_aligned(before, s(5.0), phase), tick);
            assert_eq!(next_aligned(before, s(1.0), phase), tick);
            now = tick;
        }
    }

    #[test]
    fn phases_are_stable_and_spread_nodes_over_the_period() {
        assert_eq!(phase_of("node-1"), phase_of("node-1"));
        assert!(phase_of("node-1") < Duration::from_secs(3600));
        // 1,000 node names over a 10 s period: every second of it gets some of them, none
        // more than twice its share.
        let mut per_second = [0u32; 10];
        for i in 0..1000 {
            let offset = phase_of(&format!("node-{i}")).as_millis() % 10_000;
            per_second[usize::try_from(offset / 1000).unwrap_or(0)] += 1;
        }
        for (second, count) in per_second.iter().enumerate() {
            assert!(
                (1..=200).contains(count),
                "second {second} of the period holds {count} of 1,000 nodes: {per_second:?}"
            );
        }
    }

    #[test]
    fn take_due_returns_every_name_due_by_now_once_and_keeps_the_rest() {
        let mut schedule = Schedule::default();
        schedule.set("b", s(2.0));
        schedule.set("a", s(2.0));
        schedule.set("c", s(1.0));
        schedule.set("later", s(5.0));
        assert_eq!(schedule.next(), Some(s(1.0)));
        assert_eq!(schedule.take_due(s(2.0)), vec!["c", "a", "b"]);
        assert_eq!(schedule.take_due(s(2.0)), Vec::<String>::new());
        assert_eq!(schedule.next(), Some(s(5.0)));
    }

    #[test]
    fn set_replaces_the_previous_due_time_and_remove_forgets() {
        let mut schedule = Schedule::default();
        schedule.set("a", s(10.0));
        schedule.set("a", s(3.0));
        assert_eq!(schedule.take_due(s(4.0)), vec!["a"]);
        schedule.set("b", s(1.0));
        schedule.remove("b");
        assert_eq!(schedule.next(), None);
    }
}
