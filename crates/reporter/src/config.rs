//! The agent's configuration.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use nodestatus_bird::{CollectOptions, Endpoints};

use crate::backoff::Backoff;
use crate::http::HttpLimits;

/// The default HTTP address: loopback only, port 9094.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9094));

/// Everything the agent needs besides the datastore.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// This node's name: only resources whose `spec.node` equals it are reported on.
    pub node: String,
    /// Where the BIRD daemons listen.
    pub endpoints: Endpoints,
    /// Time and size limits of BIRD replies.
    pub collect: CollectOptions,
    /// The HTTP address of `/metrics`, `/healthz`, `/readyz` (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Connection cap and timeouts of the HTTP server.
    pub http: HttpLimits,
    /// Retry delays after datastore errors and write conflicts.
    pub backoff: Backoff,
    /// Consecutive write conflicts after which a status is dropped until the next collection.
    pub max_conflicts: u32,
    /// Time allowed for one datastore call; a call that takes longer counts as an outage.
    pub datastore_timeout: Duration,
    /// The most routes one status holds; more are truncated as for a status too large for
    /// the datastore (`status.routes.truncated`). Bounds the agent's memory whatever BIRD's
    /// table size.
    pub max_status_routes: usize,
}

impl AgentConfig {
    /// Five conflicts in a row.
    pub const DEFAULT_MAX_CONFLICTS: u32 = 5;
    /// Ten seconds per datastore call.
    pub const DEFAULT_DATASTORE_TIMEOUT: Duration = Duration::from_secs(10);
    /// 20,000 routes, about 3.4 MB of status: twice what fits etcd's and Kubernetes' default
    /// 1.5 MiB request limit (about 9,400 routes), so only SQLite ever holds more than those.
    pub const DEFAULT_MAX_STATUS_ROUTES: usize = 20_000;

    /// The defaults for `node`: default BIRD sockets and limits, [`DEFAULT_LISTEN`],
    /// [`Backoff::DEFAULT`].
    pub fn new(node: impl Into<String>) -> Self {
        Self {
            node: node.into(),
            endpoints: Endpoints::default(),
            collect: CollectOptions::default(),
            listen: DEFAULT_LISTEN,
            http: HttpLimits::DEFAULT,
            backoff: Backoff::DEFAULT,
            max_conflicts: Self::DEFAULT_MAX_CONFLICTS,
            datastore_timeout: Self::DEFAULT_DATASTORE_TIMEOUT,
            max_status_routes: Self::DEFAULT_MAX_STATUS_ROUTES,
        }
    }
}
