//! Pauses between retries of a datastore operation: doubling from a minimum to a cap, so a
//! backend that went away is asked again soon and then at a steady pace. One definition for the
//! backends' watch loops and the reporter's retries (which draw jitter on top of it).

use std::time::Duration;

/// Bounds of the pauses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The pause before the first retry.
    pub min: Duration,
    /// The largest pause.
    pub max: Duration,
}

impl Backoff {
    /// The pause before retry number `attempt` (1 for the first): `min * 2^(attempt-1)`, capped
    /// at `max`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.min.saturating_mul(1 << doublings).min(self.max)
    }

    /// A run of retries starting at the first.
    pub fn pauses(self) -> Pauses {
        Pauses {
            backoff: self,
            attempt: 0,
        }
    }
}

/// A run of retries: every [`Pauses::next_pause`] is the pause before the next retry, twice the last
/// up to the cap; [`Pauses::reset`] after a success starts again at the minimum.
#[derive(Clone, Debug)]
pub struct Pauses {
    backoff: Backoff,
    attempt: u32,
}

impl Pauses {
    /// The pause before the next retry.
    pub fn next_pause(&mut self) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        self.backoff.delay(self.attempt)
    }

    /// After a success: the next pause is the minimum again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        min: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };

    #[test]
    fn pauses_double_to_the_cap_and_start_over_after_a_reset() {
        let mut pauses = BACKOFF.pauses();
        let run: Vec<Duration> = (0..6).map(|_| pauses.next_pause()).collect();
        let ms = |v: &[u64]| {
            v.iter()
                .map(|m| Duration::from_millis(*m))
                .collect::<Vec<_>>()
        };
        assert_eq!(run, ms(&[100, 200, 400, 800, 1000, 1000]));
        pauses.reset();
        assert_eq!(pauses.next_pause(), Duration::from_millis(100));
        assert_eq!(BACKOFF.delay(u32::MAX), BACKOFF.max);
    }
}
