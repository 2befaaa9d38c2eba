//! Test inputs: snapshots built from BIRD replies recorded in a real lab
//! (`tests/fixtures`), resources, and times.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nodestatus_api::{
    CalicoNodeStatus, CalicoNodeStatusSpec, CalicoNodeStatusStatus, NodeStatusClass,
};
use nodestatus_bird::{
    ClientError, CollectError, Daemon, ParseError, Part, Reply, RouteTable, SHOW_PROTOCOLS_ALL,
    SHOW_ROUTE, SHOW_STATUS, Snapshot, Source, Unreachable, map_snapshot, parse_protocols,
    parse_status,
};

use crate::core::Now;

/// Every class.
pub(crate) const ALL: &[NodeStatusClass] = &NodeStatusClass::ALL;

/// One family's daemon in a test snapshot.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Src {
    /// The replies recorded in `<set>` (see [`fixture_dir`]).
    Set(&'static str),
    /// As `Set`, with `show route` replaced by the unusable `broken/` reply.
    BrokenRoutes(&'static str),
    /// As `Set`, with `show route` replaced by `unrecognised/`, one line of which is not
    /// recognised.
    UnrecognisedRoutes(&'static str),
    /// No daemon listening.
    Unreachable,
}

/// The directory of a set of replies: the reporter's own (`tests/fixtures`: jitter, broken,
/// unrecognised, made for these tests), else the bird crate's captures of a real lab
/// (`crates/bird/tests/fixtures`), one copy for both crates.
fn fixture_dir(set: &str) -> PathBuf {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let own = crate_dir.join("tests/fixtures").join(set);
    if own.is_dir() {
        own
    } else {
        crate_dir.join("../bird/tests/fixtures").join(set)
    }
}

fn fixture(set: &str, daemon: &str, command: &str) -> Reply {
    let file = command.replace(' ', "_");
    let path = fixture_dir(set).join(format!("n1-{daemon}-{file}.txt"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Reply::from_bytes(bytes).unwrap_or_else(|e| panic!("framing {}: {e}", path.display()))
}

fn part<T>(
    wanted: bool,
    socket: &Path,
    command: &'static str,
    reply: impl FnOnce() -> Reply,
    parse: impl FnOnce(Reply) -> Result<T, ParseError>,
) -> Part<T> {
    if !wanted {
        return Part::NotRequested;
    }
    match parse(reply()) {
        Ok(v) => Part::Collected(v),
        Err(source) => Part::Failed(CollectError::Parse {
            socket: socket.to_owned(),
            command,
            source,
        }),
    }
}

/// The daemon `name` (`bird`, `bird6`) as `collect` would have queried it for `classes`.
fn daemon(src: Src, name: &str, classes: &[NodeStatusClass]) -> Source {
    let (set, route_set) = match src {
        Src::Set(set) => (set, set),
        Src::BrokenRoutes(set) => (set, "broken"),
        Src::UnrecognisedRoutes(set) => (set, "unrecognised"),
        Src::Unreachable => {
            let path = PathBuf::from(format!("/lab/n1/{name}.ctl"));
            let error = ClientError::Connect {
                path,
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            };
            return Source::Unreachable(Arc::new(Unreachable {
                errors: vec![error],
            }));
        }
    };
    let wants = |c| classes.contains(&c);
    let socket = PathBuf::from(format!("/lab/n1/{name}.ctl"));
    let version = parse_status(&fixture(set, name, SHOW_STATUS))
        .map(|s| s.version)
        .unwrap_or_default();
    let status = part(
        wants(NodeStatusClass::Agent),
        &socket,
        SHOW_STATUS,
        || fixture(set, name, SHOW_STATUS),
        |r| parse_status(&r),
    );
    let protocols = part(
        wants(NodeStatusClass::Bgp) || wants(NodeStatusClass::Routes),
        &socket,
        SHOW_PROTOCOLS_ALL,
        || fixture(set, name, SHOW_PROTOCOLS_ALL),
        |r| parse_protocols(&r),
    );
    let routes = part(
        wants(NodeStatusClass::Routes),
        &socket,
        SHOW_ROUTE,
        || fixture(route_set, name, SHOW_ROUTE),
        RouteTable::parse,
    );
    Source::Daemon(Arc::new(Daemon {
        socket,
        version,
        status,
        protocols,
        routes,
    }))
}

/// A BIRD 1.6 snapshot: `bird` for IPv4, `bird6` for IPv6.
pub(crate) fn snapshot16(v4: Src, v6: Src, classes: &[NodeStatusClass]) -> Snapshot {
    Snapshot {
        v4: daemon(v4, "bird", classes),
        v6: daemon(v6, "bird6", classes),
    }
}

/// A BIRD 2 snapshot: one daemon for both families.
pub(crate) fn snapshot2(src: Src, classes: &[NodeStatusClass]) -> Snapshot {
    let source = daemon(src, "bird", classes);
    Snapshot {
        v4: source.clone(),
        v6: source,
    }
}

/// The status `classes` map to from `snapshot`, as written at `now`.
pub(crate) fn written(
    snapshot: &Snapshot,
    classes: &[NodeStatusClass],
    now: Now,
) -> CalicoNodeStatusStatus {
    let mut status = map_snapshot(snapshot, classes).merge_last_good(None);
    status.last_updated = Some(nodestatus_api::last_updated_at(now.wall));
    status
}

/// A resource as the datastore returns it.
pub(crate) fn resource(
    name: &str,
    node: &str,
    classes: &[NodeStatusClass],
    period: u32,
    version: u64,
    status: Option<CalicoNodeStatusStatus>,
) -> CalicoNodeStatus {
    let spec = CalicoNodeStatusSpec {
        classes: classes.to_vec(),
        node: node.to_owned(),
        update_period_seconds: period,
    };
    let mut obj = CalicoNodeStatus::new(name, spec);
    obj.metadata.resource_version = Some(version.to_string());
    obj.status = status;
    obj
}

/// `secs` after the agent started, which was at 2027-01-15T08:00:00Z.
pub(crate) fn at(secs: f64) -> Now {
    const START_MS: i64 = 1_800_000_000_000;
    let ms = START_MS + (secs * 1000.0).round() as i64;
    Now {
        mono: Duration::from_secs_f64(secs),
        wall: jiff::Timestamp::from_millisecond(ms).unwrap_or_else(|e| panic!("{e}")),
    }
}
