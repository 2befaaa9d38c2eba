//! The agent's one scheduler: when each resource is next due, on a grid aligned to the agent's
//! start so resources with the same period (or periods that divide each other) fall on the same
//! ticks and share one collection, instead of per-resource timers drifting apart.

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

/// The first multiple of `period` after `now` (both measured from the agent's start): the
/// grid point a resource with this period is next due at.
pub(crate) fn next_aligned(now: Duration, period: Duration) -> Duration {
    let period_ns = period.as_nanos().max(1);
    let slots = now.as_nanos() / period_ns + 1;
    let ns = slots.saturating_mul(period_ns);
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

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
                next_aligned(s(now), s(period)),
                s(want),
                "now {now}, period {period}"
            );
        }
    }

    #[test]
    fn resources_with_the_same_period_fall_on_the_same_tick_whenever_they_started() {
        let period = s(10.0);
        assert_eq!(next_aligned(s(0.05), period), next_aligned(s(3.7), period));
        assert_eq!(next_aligned(s(12.0), period), next_aligned(s(19.0), period));
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
