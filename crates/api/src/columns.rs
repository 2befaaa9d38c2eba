//! The columns a resource is shown with in a table — `nodestatus get`, `kubectl get` through
//! the API server's `Table` form — and the text of each cell, so both print the same thing.
//! Ages follow kubectl's short form (`5s`, `3m5s`, `2h`).

use jiff::{SignedDuration, Timestamp};

use crate::family::Family;
use crate::types::{BgpDaemonState, BgpDaemonStatus, BgpStatus, CalicoNodeStatus};

/// One column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// The header as tables print it (`LAST UPDATED`).
    pub header: &'static str,
    /// The name as Kubernetes' `Table` column definitions give it (`Last Updated`).
    pub name: &'static str,
    /// The Kubernetes column type (`string`, `integer`, ...).
    pub kind: &'static str,
    /// Only in the wide table (kubectl's `-o wide`: a column of priority 1).
    pub wide_only: bool,
    /// What the column shows.
    pub description: &'static str,
}

const fn column(
    header: &'static str,
    name: &'static str,
    wide_only: bool,
    description: &'static str,
) -> Column {
    Column {
        header,
        name,
        kind: "string",
        wide_only,
        description,
    }
}

/// Every column in wide-table order; the plain table is those not `wide_only`, in the same order.
pub const COLUMNS: [Column; 12] = [
    column("NAME", "Name", false, "The resource's name."),
    column("NODE", "Node", false, "spec.node: the node reported on."),
    column(
        "CLASSES",
        "Classes",
        false,
        "spec.classes: what is collected.",
    ),
    column(
        "PERIOD",
        "Period",
        false,
        "spec.updatePeriodSeconds; off when 0.",
    ),
    column("BIRD", "BIRD", true, "Each BIRD daemon's state (v4, v6)."),
    column(
        "BGP",
        "BGP",
        false,
        "Established BGP sessions of all sessions, both families.",
    ),
    column(
        "BGP V4",
        "BGP V4",
        true,
        "Established IPv4 BGP sessions of all IPv4 sessions.",
    ),
    column(
        "BGP V6",
        "BGP V6",
        true,
        "Established IPv6 BGP sessions of all IPv6 sessions.",
    ),
    column(
        "ROUTES",
        "Routes",
        false,
        "Routes in the status, both families.",
    ),
    column("ROUTES V4", "Routes V4", true, "IPv4 routes in the status."),
    column("ROUTES V6", "Routes V6", true, "IPv6 routes in the status."),
    column(
        "LAST UPDATED",
        "Last Updated",
        false,
        "The age of status.lastUpdated.",
    ),
];

/// What a missing value shows, as kubectl shows a missing column.
pub const NONE: &str = "<none>";

/// A resource's cells for [`COLUMNS`], `now` being the time ages are counted to. A part of the
/// status that is absent (its class not requested, or not written yet) shows `<none>`.
pub fn cells(obj: &CalicoNodeStatus, now: Timestamp) -> Vec<String> {
    let spec = &obj.spec;
    let status = obj.status.as_ref();
    let bgp = status.and_then(|s| s.bgp.as_ref());
    let routes = status.and_then(|s| s.routes.as_ref());
    let agent = status.and_then(|s| s.agent.as_ref());
    let none = || NONE.to_string();
    vec![
        obj.metadata.name.clone().unwrap_or_default(),
        spec.node.clone(),
        spec.classes
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(","),
        match spec.update_period_seconds {
            0 => "off".to_string(),
            s => format!("{s}s"),
        },
        agent.map_or_else(none, |a| {
            format!(
                "v4 {}, v6 {}",
                daemon_state(&a.bird_v4),
                daemon_state(&a.bird_v6)
            )
        }),
        bgp.map_or_else(none, |b| established_in(b, &Family::ALL)),
        bgp.map_or_else(none, |b| established_in(b, &[Family::V4])),
        bgp.map_or_else(none, |b| established_in(b, &[Family::V6])),
        routes.map_or_else(none, |r| {
            route_count(r.len(), r.truncated.map(|t| t.total()))
        }),
        routes.map_or_else(none, |r| {
            route_count(r.routes_v4.len(), r.truncated.map(|t| t.total_v4))
        }),
        routes.map_or_else(none, |r| {
            route_count(r.routes_v6.len(), r.truncated.map(|t| t.total_v6))
        }),
        age_of(status.and_then(|s| s.last_updated.as_deref()), now),
    ]
}

/// The sessions of `families` as `up/total established`. Counts read from a datastore: summed
/// in u64, they cannot overflow.
fn established_in(bgp: &BgpStatus, families: &[Family]) -> String {
    let (up, down) = families.iter().fold((0_u64, 0_u64), |(up, down), f| {
        let (u, d) = bgp.counts(*f);
        (up + u64::from(u), down + u64::from(d))
    });
    established(up, down)
}

/// `up/total established`.
pub fn established(up: u64, down: u64) -> String {
    format!("{up}/{} established", up.saturating_add(down))
}

/// A route count; for a status truncated to fit its datastore (`status.routes.truncated`),
/// `kept/reported (truncated)` when routes were left out.
pub fn route_count(kept: usize, reported: Option<u64>) -> String {
    let kept = u64::try_from(kept).unwrap_or(u64::MAX);
    match reported {
        Some(reported) if reported > kept => {
            format!("{}/{} (truncated)", thousands(kept), thousands(reported))
        }
        _ => kept.to_string(),
    }
}

/// `18400` → `18,400`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn daemon_state(d: &BgpDaemonStatus) -> &'static str {
    match d.state {
        Some(BgpDaemonState::Ready) => "Ready",
        Some(BgpDaemonState::NotReady) => "NotReady",
        None => NONE,
    }
}

/// The time since `then` as kubectl prints ages: seconds under 2 minutes, then minutes (with
/// seconds under 10 minutes), hours (with minutes under 8 hours), days, years. Up to a second
/// in the future counts as now (clocks of two machines differ a little); more is `<invalid>`.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let d: SignedDuration = now.duration_since(then);
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    let seconds = seconds.max(0);
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_rest(minutes, "m", seconds % 60, "s");
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return with_rest(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_rest(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return with_rest(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

fn with_rest(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

/// The age of an RFC 3339 time as written in a status, `<none>` when there is none and
/// `<invalid>` when it cannot be read.
pub fn age_of(time: Option<&str>, now: Timestamp) -> String {
    match time {
        None => NONE.to_string(),
        Some(text) => match text.parse::<Timestamp>() {
            Ok(then) => age(then, now),
            Err(_) => "<invalid>".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ago(seconds: i64) -> String {
        let now: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        age(now - SignedDuration::from_secs(seconds), now)
    }

    #[test]
    fn ages_follow_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (185, "3m5s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 25 * 60, "3h25m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (3 * 86400 + 5 * 3600, "3d5h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (731 * 86400, "2y1d"),
            (8 * 365 * 86400, "8y"),
        ];
        let got: Vec<(i64, String)> = cases.iter().map(|(s, _)| (*s, ago(*s))).collect();
        let want: Vec<(i64, String)> = cases.iter().map(|(s, a)| (*s, a.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_missing_or_unreadable_time_is_said_so() {
        let now: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(age_of(None, now), "<none>");
        assert_eq!(age_of(Some("yesterday"), now), "<invalid>");
        assert_eq!(age_of(Some("2024-12-31T23:59:30Z"), now), "30s");
    }
}
