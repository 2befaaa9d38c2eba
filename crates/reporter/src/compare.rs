//! When two statuses report the same state, so that a status is written only when something
//! changed. `lastUpdated` is ignored, and BIRD's own times may differ by up to a second: BIRD
//! 1.6 prints times as "now minus age" in whole seconds, so the same boot time or session
//! start reads one second earlier or later from one query to the next (seen in the lab: see
//! `tests/fixtures/bird1.6-jitter-*`). A real change moves a time by more, or changes a state.

use nodestatus_api::{BgpDaemonStatus, BgpPeer, CalicoNodeStatusStatus, Family};

/// True when `a` and `b` report the same state: equal apart from `lastUpdated` and BIRD times
/// at most a second apart.
pub(crate) fn same_state(a: &CalicoNodeStatusStatus, b: &CalicoNodeStatusStatus) -> bool {
    let agents = match (&a.agent, &b.agent) {
        (Some(x), Some(y)) => Family::ALL
            .into_iter()
            .all(|f| same_daemon(x.daemon(f), y.daemon(f))),
        (x, y) => x == y,
    };
    let bgp = match (&a.bgp, &b.bgp) {
        (Some(x), Some(y)) => Family::ALL
            .into_iter()
            .all(|f| x.counts(f) == y.counts(f) && same_peers(x.peers(f), y.peers(f))),
        (x, y) => x == y,
    };
    agents && bgp && a.routes == b.routes
}

fn same_daemon(a: &BgpDaemonStatus, b: &BgpDaemonStatus) -> bool {
    (&a.state, &a.version, &a.router_id) == (&b.state, &b.version, &b.router_id)
        && close(&a.last_boot_time, &b.last_boot_time)
        && close(&a.last_reconfiguration_time, &b.last_reconfiguration_time)
}

fn same_peers(a: &[BgpPeer], b: &[BgpPeer]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            (&x.peer_ip, &x.peer_type, &x.state) == (&y.peer_ip, &y.peer_type, &y.state)
                && close(&x.since, &y.since)
        })
}

/// True when two BIRD times are equal, or of the same form and at most a second apart.
fn close(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (bird_time(a), bird_time(b)) {
        (Some(BirdTime::DateTime(x)), Some(BirdTime::DateTime(y))) => (x - y).abs() <= 1.0,
        (Some(BirdTime::TimeOfDay(x)), Some(BirdTime::TimeOfDay(y))) => {
            // Across midnight 23:59:59 and 00:00:00 are a second apart.
            let d = (x - y).abs();
            d.min(SECONDS_PER_DAY - d) <= 1.0
        }
        _ => false,
    }
}

const SECONDS_PER_DAY: f64 = 86_400.0;

/// A time as BIRD prints it, in seconds.
#[derive(Debug, PartialEq)]
enum BirdTime {
    /// `YYYY-MM-DD HH:MM:SS[.fff]`: seconds since 1970.
    DateTime(f64),
    /// `HH:MM:SS[.fff]`: seconds since midnight.
    TimeOfDay(f64),
}

fn bird_time(s: &str) -> Option<BirdTime> {
    match s.split_once(' ') {
        Some((date, time)) => {
            let date: jiff::civil::Date = date.parse().ok()?;
            let days = date.since(jiff::civil::date(1970, 1, 1)).ok()?.get_days();
            Some(BirdTime::DateTime(
                f64::from(days) * SECONDS_PER_DAY + time_of_day(time)?,
            ))
        }
        None => time_of_day(s).map(BirdTime::TimeOfDay),
    }
}

/// `HH:MM:SS` or `HH:MM:SS.fff` in seconds.
fn time_of_day(s: &str) -> Option<f64> {
    let (hms, fraction) = match s.split_once('.') {
        Some((hms, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            (hms, format!("0.{f}"))
        }
        Some(_) => return None,
        None => (s, "0".to_owned()),
    };
    let mut parts = hms.split(':');
    let mut field = |max: u32| {
        parts
            .next()
            .filter(|p| p.len() == 2)
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|v| *v <= max)
    };
    let (h, m, sec) = (field(23)?, field(59)?, field(60)?);
    if parts.next().is_some() {
        return None;
    }
    Some(f64::from(h * 3600 + m * 60 + sec) + fraction.parse::<f64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{ALL, Src, snapshot16};
    use nodestatus_bird::map_snapshot;

    #[test]
    fn bird_times_a_second_apart_are_close_and_further_ones_are_not() {
        let cases = [
            ("01:52:44", "01:52:43", true),
            ("01:52:44", "01:52:42", false),
            ("23:59:59", "00:00:00", true),
            ("00:59:08.469", "00:59:07.588", true),
            ("00:59:08.469", "00:59:07.400", false),
            ("2026-11-25 01:52:44", "2026-11-25 01:52:43", true),
            ("2026-11-25 00:00:00", "2026-11-24 23:59:59", true),
            ("2026-11-25 01:52:44", "2026-11-24 01:52:44", false),
            ("2026-11-25 01:52:44", "01:52:44", false),
            ("", "01:52:44", false),
            ("2021-10-18", "2021-10-19", false),
            ("later", "later", true),
        ];
        for (a, b, want) in cases {
            assert_eq!(close(a, b), want, "{a:?} vs {b:?}");
            assert_eq!(close(b, a), want, "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn two_real_bird_1_6_replies_one_second_apart_report_the_same_state() {
        let a = map_snapshot(
            &snapshot16(
                Src::Set("bird1.6-jitter-a"),
                Src::Set("bird1.6-jitter-a"),
                ALL,
            ),
            ALL,
        );
        let b = map_snapshot(
            &snapshot16(
                Src::Set("bird1.6-jitter-b"),
                Src::Set("bird1.6-jitter-b"),
                ALL,
            ),
            ALL,
        );
        assert_ne!(
            a.status, b.status,
            "the recorded replies differ in their times"
        );
        assert!(same_state(&a.status, &b.status));
    }

    #[test]
    fn a_session_state_change_is_a_different_state() {
        let a = map_snapshot(
            &snapshot16(Src::Set("bird1.6"), Src::Set("bird1.6"), ALL),
            ALL,
        );
        let b = map_snapshot(
            &snapshot16(Src::Set("bird1.6-disabled"), Src::Set("bird1.6"), ALL),
            ALL,
        );
        assert!(!same_state(&a.status, &b.status));
    }

    #[test]
    fn last_updated_is_ignored() {
        let a = map_snapshot(
            &snapshot16(Src::Set("bird1.6"), Src::Set("bird1.6"), ALL),
            ALL,
        )
        .status;
        let mut b = a.clone();
        b.last_updated = Some("2027-01-15T08:00:00Z".to_owned());
        assert!(same_state(&a, &b));
    }
}
