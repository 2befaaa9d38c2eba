//! Jittered exponential backoff for datastore retries (write conflicts, outages, relists): the
//! delay doubles per attempt up to a cap (`nodestatus_store::backoff`, the backends' watch loops
//! use the same), and each delay is drawn from its upper half so agents that failed together do
//! not retry together.

use std::time::Duration;

/// Bounds of the retry delays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry (before jitter).
    pub min: Duration,
    /// The largest delay.
    pub max: Duration,
}

impl Backoff {
    /// 200 ms doubling up to 10 s.
    pub const DEFAULT: Backoff = Backoff {
        min: Duration::from_millis(200),
        max: Duration::from_secs(10),
    };

    /// The delay before retry number `attempt` (1 for the first): `min * 2^(attempt-1)` capped
    /// at `max`, then scaled by a factor in [0.5, 1] taken from `rng`.
    pub(crate) fn delay(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let doubling = nodestatus_store::backoff::Backoff {
            min: self.min,
            max: self.max,
        };
        doubling.delay(attempt).mul_f64(0.5 + rng.f64() / 2.0)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::DEFAULT
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
    fn delays_double_per_attempt_within_the_upper_half() {
        let mut rng = fastrand::Rng::with_seed(7);
        for (attempt, base_ms) in [(1, 100), (2, 200), (3, 400), (4, 800)] {
            let base = Duration::from_millis(base_ms);
            for _ in 0..100 {
                let d = BACKOFF.delay(attempt, &mut rng);
                assert!(
                    d >= base / 2 && d <= base,
                    "attempt {attempt}: {d:?} not in [{:?}, {base:?}]",
                    base / 2
                );
            }
        }
    }

    #[test]
    fn delays_stop_growing_at_the_cap_even_after_many_attempts() {
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in [5, 10, 40, u32::MAX] {
            let d = BACKOFF.delay(attempt, &mut rng);
            assert!(
                d >= BACKOFF.max / 2 && d <= BACKOFF.max,
                "attempt {attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let draw = || {
            let mut rng = fastrand::Rng::with_seed(42);
            (1..6)
                .map(|a| BACKOFF.delay(a, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(), draw());
    }
}
