//! One collection: find the BIRD daemon of each address family, ask each one command per
//! requested class over one connection, and keep every answer (or why there is none) in a
//! [`Snapshot`].
//!
//! Socket discovery: BIRD 1.6 runs two daemons, `bird.ctl` (IPv4) and `bird6.ctl` (IPv6);
//! BIRD 2/3 runs one daemon for both families behind `bird.ctl`. The greeting's version tells
//! which: a 2.x/3.x daemon on the IPv4 socket serves IPv6 too and the IPv6 socket is not used.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nodestatus_api::NodeStatusClass;

use crate::client::{ClientError, ClientOptions, Connection};
use crate::parse::error::{ParseError, Unrecognised};
use crate::parse::reply::Reply;
use crate::parse::show_protocols::{Protocol, parse_protocols};
use crate::parse::show_route::RouteTable;
use crate::parse::show_status::{Status, parse_status};
use nodestatus_api::Family;

/// Default IPv4 (BIRD 1.6) or dual-stack (BIRD 2/3) sockets, tried in order.
pub const DEFAULT_BIRD_SOCKETS: [&str; 2] = ["/var/run/calico/bird.ctl", "/var/run/bird/bird.ctl"];
/// Default IPv6 sockets of BIRD 1.6's `bird6`, tried in order.
pub const DEFAULT_BIRD6_SOCKETS: [&str; 2] =
    ["/var/run/calico/bird6.ctl", "/var/run/bird/bird6.ctl"];

/// The commands, one per class (Routes also needs the protocol list, for route sources).
pub const SHOW_STATUS: &str = "show status";
/// See [`SHOW_STATUS`].
pub const SHOW_PROTOCOLS_ALL: &str = "show protocols all";
/// See [`SHOW_STATUS`].
pub const SHOW_ROUTE: &str = "show route";

/// Where to look for the daemons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Candidate sockets of the IPv4 (1.6) or only (2.x/3.x) daemon, first that answers wins.
    pub bird: Vec<PathBuf>,
    /// Candidate sockets of BIRD 1.6's IPv6 daemon.
    pub bird6: Vec<PathBuf>,
}

impl Endpoints {
    /// Explicit paths replace the defaults of their family.
    pub fn new(bird: Option<PathBuf>, bird6: Option<PathBuf>) -> Self {
        let or_defaults = |path: Option<PathBuf>, defaults: &[&str]| match path {
            Some(p) => vec![p],
            None => defaults.iter().map(PathBuf::from).collect(),
        };
        Self {
            bird: or_defaults(bird, &DEFAULT_BIRD_SOCKETS),
            bird6: or_defaults(bird6, &DEFAULT_BIRD6_SOCKETS),
        }
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::new(None, None)
    }
}

/// Options of a collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectOptions {
    /// The limits of every reply.
    pub client: ClientOptions,
    /// How long a whole collection (connecting, every command, both BIRD 1.6 daemons) may
    /// take. A command still running then fails with [`ClientError::Deadline`], and the
    /// commands after it are abandoned: a collection always ends.
    pub deadline: Duration,
}

impl CollectOptions {
    /// 30 seconds: room for the largest accepted `show route` after the other commands.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
}

impl Default for CollectOptions {
    fn default() -> Self {
        Self {
            client: ClientOptions::default(),
            deadline: Self::DEFAULT_DEADLINE,
        }
    }
}

/// The major version of a BIRD version string: `1.6.8` → 1, `2.0.12` → 2, Calico's fork
/// `v0.3.3+birdv1.6.8` → 1 (the upstream version after `bird`).
pub fn major_version(version: &str) -> Option<u32> {
    let upstream = match version.rfind("bird") {
        Some(i) => &version[i + 4..],
        None => version,
    };
    let upstream = upstream.trim_start_matches('v');
    let digits = upstream.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// Everything one collection learned, per address family.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The IPv4 daemon.
    pub v4: Source,
    /// The IPv6 daemon (the same [`Daemon`] as `v4` with BIRD 2/3).
    pub v6: Source,
}

impl Snapshot {
    /// The source of one family.
    pub fn source(&self, family: Family) -> &Source {
        match family {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    /// The families to visit once per daemon: both, or IPv4 alone when one BIRD 2/3 daemon
    /// serves both (its problems and unrecognised lines are then reported once, under IPv4).
    pub fn families_once_per_daemon(&self) -> impl Iterator<Item = Family> + use<> {
        let shared = matches!(
            (&self.v4, &self.v6),
            (Source::Daemon(v4), Source::Daemon(v6)) if Arc::ptr_eq(v4, v6)
        );
        Family::ALL
            .into_iter()
            .filter(move |family| *family == Family::V4 || !shared)
    }
}

/// Where a family's data came from.
#[derive(Clone, Debug)]
pub enum Source {
    /// No daemon for the family answered: its agent is `NotReady`, its peers and routes empty
    /// (unless this process lacked the descriptors to try: see
    /// [`Unreachable::is_local_shortage`], a failed part).
    Unreachable(Arc<Unreachable>),
    /// The daemon that serves the family.
    Daemon(Arc<Daemon>),
}

/// Why no daemon answered.
#[derive(Debug)]
pub struct Unreachable {
    /// One error per socket tried, in order.
    pub errors: Vec<ClientError>,
}

impl Unreachable {
    /// True when every socket failed for want of descriptors or memory in this process (or
    /// system): the daemons were not even tried, so nothing is known about them.
    pub fn is_local_shortage(&self) -> bool {
        /// ENOMEM, ENFILE, EMFILE, ENOBUFS on Linux.
        const SHORTAGE: [i32; 4] = [12, 23, 24, 105];
        !self.errors.is_empty()
            && self.errors.iter().all(|e| {
                matches!(e, ClientError::Connect { source, .. }
                    if source.raw_os_error().is_some_and(|c| SHORTAGE.contains(&c)))
            })
    }
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for e in &self.errors {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{e}")?;
        }
        if first {
            f.write_str("no BIRD socket configured")?;
        }
        Ok(())
    }
}

/// What one daemon answered.
#[derive(Debug)]
pub struct Daemon {
    /// The socket it answered on.
    pub socket: PathBuf,
    /// The version from its greeting.
    pub version: String,
    /// `show status` (class Agent).
    pub status: Part<Status>,
    /// `show protocols all` (class BGP, and Routes for the route sources).
    pub protocols: Part<Vec<Protocol>>,
    /// `show route` (class Routes).
    pub routes: Part<RouteTable>,
}

impl Daemon {
    /// The replies with lines left out as unrecognised, by command (see [`Unrecognised`]).
    pub fn unrecognised(&self) -> Vec<(&'static str, &Unrecognised)> {
        let status = self
            .status
            .collected()
            .map(|s| (SHOW_STATUS, &s.unrecognised));
        let routes = self
            .routes
            .collected()
            .map(|t| (SHOW_ROUTE, t.unrecognised()));
        status
            .into_iter()
            .chain(routes)
            .filter(|(_, u)| !u.is_empty())
            .collect()
    }

    /// True for BIRD 2 and later, one daemon for both families.
    pub fn serves_both_families(&self) -> bool {
        serves_both_families(&self.version)
    }
}

/// The outcome of one command.
#[derive(Debug)]
pub enum Part<T> {
    /// The command was not run: no requested class needed it.
    NotRequested,
    /// The reply, parsed.
    Collected(T),
    /// The command failed after the daemon was reached: the reporter keeps the last good status.
    Failed(CollectError),
}

impl<T> Part<T> {
    /// The parsed value, if collected.
    pub fn collected(&self) -> Option<&T> {
        match self {
            Part::Collected(v) => Some(v),
            _ => None,
        }
    }
}

/// Why a command reached the daemon but gave nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Sending the command or reading its reply failed.
    #[error(transparent)]
    Query(#[from] ClientError),
    /// The reply could not be parsed (or was a BIRD error).
    #[error("BIRD at {}, `{command}`: {source}", socket.display())]
    Parse {
        /// The socket path.
        socket: PathBuf,
        /// The command.
        command: &'static str,
        /// The cause.
        source: ParseError,
    },
    /// The command was not sent because an earlier one broke the connection.
    #[error("BIRD at {}, `{command}`: not sent, the connection broke on an earlier command", socket.display())]
    Abandoned {
        /// The socket path.
        socket: PathBuf,
        /// The command.
        command: &'static str,
    },
}

/// True for a BIRD 2 or later greeting's version: one daemon serves both families.
fn serves_both_families(version: &str) -> bool {
    major_version(version).is_some_and(|m| m >= 2)
}

/// Collects the requested classes from the daemons at `endpoints`: one connection per daemon,
/// one command per class, the two BIRD 1.6 daemons queried concurrently. Never fails: every
/// problem is recorded in the snapshot, where it belongs.
pub async fn collect(
    endpoints: &Endpoints,
    classes: &[NodeStatusClass],
    options: &CollectOptions,
) -> Snapshot {
    let deadline = tokio::time::Instant::now() + options.deadline;
    let (main, main_errors) = connect_first(&endpoints.bird, &options.client, deadline).await;
    match main {
        Some(conn) if serves_both_families(conn.version()) => {
            let daemon = Arc::new(query_daemon(conn, classes, deadline).await);
            Snapshot {
                v4: Source::Daemon(daemon.clone()),
                v6: Source::Daemon(daemon),
            }
        }
        main => {
            let v4 = async {
                match main {
                    Some(conn) => {
                        Source::Daemon(Arc::new(query_daemon(conn, classes, deadline).await))
                    }
                    None => Source::Unreachable(Arc::new(Unreachable {
                        errors: main_errors,
                    })),
                }
            };
            let v6 = async {
                match connect_first(&endpoints.bird6, &options.client, deadline).await {
                    (Some(conn), _) => {
                        Source::Daemon(Arc::new(query_daemon(conn, classes, deadline).await))
                    }
                    (None, errors) => Source::Unreachable(Arc::new(Unreachable { errors })),
                }
            };
            let (v4, v6) = tokio::join!(v4, v6);
            Snapshot { v4, v6 }
        }
    }
}

async fn connect_first(
    paths: &[PathBuf],
    options: &ClientOptions,
    deadline: tokio::time::Instant,
) -> (Option<Connection>, Vec<ClientError>) {
    let mut errors = Vec::new();
    for path in paths {
        match Connection::connect_until(path, options, Some(deadline)).await {
            Ok(conn) => return (Some(conn), errors),
            Err(e) => {
                tracing::debug!(error = %e, "BIRD socket not usable");
                errors.push(e);
            }
        }
    }
    (None, errors)
}

async fn query_daemon(
    mut conn: Connection,
    classes: &[NodeStatusClass],
    deadline: tokio::time::Instant,
) -> Daemon {
    let wants = |c| classes.contains(&c);
    let socket = conn.path().to_owned();
    let mut broken = false;
    let version = conn.version().to_owned();
    let mut query = Query {
        conn: &mut conn,
        deadline,
    };
    let status = run(
        &mut query,
        &mut broken,
        wants(NodeStatusClass::Agent),
        SHOW_STATUS,
        |r| parse_status(&r),
    )
    .await;
    let protocols = run(
        &mut query,
        &mut broken,
        wants(NodeStatusClass::Bgp) || wants(NodeStatusClass::Routes),
        SHOW_PROTOCOLS_ALL,
        |r| parse_protocols(&r),
    )
    .await;
    let routes = run(
        &mut query,
        &mut broken,
        wants(NodeStatusClass::Routes),
        SHOW_ROUTE,
        RouteTable::parse,
    )
    .await;
    Daemon {
        socket,
        version,
        status,
        protocols,
        routes,
    }
}

/// A connection and the collection's deadline.
struct Query<'a> {
    conn: &'a mut Connection,
    deadline: tokio::time::Instant,
}

/// Runs one command if `wanted`, parses the reply, records failures.
async fn run<T: Send + 'static>(
    query: &mut Query<'_>,
    broken: &mut bool,
    wanted: bool,
    command: &'static str,
    parse: impl FnOnce(Reply) -> Result<T, ParseError> + Send + 'static,
) -> Part<T> {
    if !wanted {
        return Part::NotRequested;
    }
    let conn = &mut *query.conn;
    if *broken {
        return Part::Failed(CollectError::Abandoned {
            socket: conn.path().to_owned(),
            command,
        });
    }
    let reply = match conn.query_until(command, Some(query.deadline)).await {
        Ok(reply) => reply,
        Err(e) => {
            *broken = true;
            tracing::debug!(error = %e, "BIRD query failed");
            return Part::Failed(CollectError::Query(e));
        }
    };
    // A large `show route` takes tens of milliseconds to parse: off the async worker threads.
    let parsed = if reply.len() > PARSE_INLINE_BYTES {
        match tokio::task::spawn_blocking(move || parse(reply)).await {
            Ok(parsed) => parsed,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only when the runtime is shutting down; nobody will read this part.
            Err(_) => {
                return Part::Failed(CollectError::Abandoned {
                    socket: conn.path().to_owned(),
                    command,
                });
            }
        }
    } else {
        parse(reply)
    };
    match parsed {
        Ok(v) => Part::Collected(v),
        Err(source) => {
            let e = CollectError::Parse {
                socket: conn.path().to_owned(),
                command,
                source,
            };
            tracing::debug!(error = %e, "BIRD reply not usable");
            Part::Failed(e)
        }
    }
}

/// Replies up to this size (about 10,000 routes) are parsed on the calling task.
const PARSE_INLINE_BYTES: usize = 512 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_version_of_stock_and_calico_builds() {
        assert_eq!(major_version("1.6.8"), Some(1));
        assert_eq!(major_version("2.0.12"), Some(2));
        assert_eq!(major_version("3.1.0"), Some(3));
        assert_eq!(major_version("v0.3.3+birdv1.6.8"), Some(1));
        assert_eq!(major_version("v0.3.3-190-g25e0e1e8+birdv2.15"), Some(2));
        assert_eq!(major_version("unknown"), None);
    }

    #[test]
    fn explicit_sockets_replace_the_defaults_of_their_family_only() {
        assert_eq!(
            Endpoints::new(Some("/tmp/b.ctl".into()), None),
            Endpoints {
                bird: vec![PathBuf::from("/tmp/b.ctl")],
                bird6: vec![
                    PathBuf::from("/var/run/calico/bird6.ctl"),
                    PathBuf::from("/var/run/bird/bird6.ctl")
                ],
            }
        );
        assert_eq!(
            Endpoints::default().bird,
            vec![
                PathBuf::from("/var/run/calico/bird.ctl"),
                PathBuf::from("/var/run/bird/bird.ctl")
            ]
        );
    }
}
