//! Read-modify-write against a compare-and-swap store, written once: an attempt that lost a
//! race to another writer is made again on a fresh read, a bounded number of times, while a
//! caller that named the version it expects gets the conflict at once (its precondition failed).

use std::future::Future;

/// Makes `attempt` (a read, a change and a conditional write) until it ends in anything but a
/// conflict, at most `attempts` times; when every attempt lost a race, the last conflict is the
/// answer. With `retry` false (the caller gave an expected version) the first conflict is.
pub async fn on_conflict<T, E, Fut>(
    attempts: usize,
    retry: bool,
    is_conflict: impl Fn(&E) -> bool,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut made = 1;
    loop {
        match attempt().await {
            Err(e) if retry && made < attempts && is_conflict(&e) => made += 1,
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Runs `on_conflict` over attempts that fail with these results in turn; returns the
    /// answer and how many attempts were made.
    fn run(
        attempts: usize,
        retry: bool,
        results: &[Result<u32, &'static str>],
    ) -> (Result<u32, &'static str>, usize) {
        let made = Cell::new(0);
        let answer = futures::executor::block_on(on_conflict(
            attempts,
            retry,
            |e: &&str| *e == "conflict",
            || {
                let i = made.get();
                made.set(i + 1);
                std::future::ready(results[i])
            },
        ));
        (answer, made.get())
    }

    #[test]
    fn lost_races_are_retried_up_to_the_bound_and_a_precondition_is_not() {
        let conflicts = [Err("conflict"); 5];
        assert_eq!(run(3, true, &conflicts), (Err("conflict"), 3));
        assert_eq!(run(3, false, &conflicts), (Err("conflict"), 1));
        assert_eq!(
            run(3, true, &[Err("conflict"), Ok(7), Err("conflict")]),
            (Ok(7), 2)
        );
        assert_eq!(run(3, true, &[Err("gone"), Ok(7)]), (Err("gone"), 1));
    }
}
