//! The BIRD control-socket flags that `agent`, `collect` and `bird` share, and what they mean.

use std::path::PathBuf;
use std::time::Duration;

use nodestatus_bird::{CollectOptions, Endpoints, Snapshot, Source};

/// Where BIRD's control sockets are.
#[derive(clap::Args, Debug)]
pub(crate) struct BirdSockets {
    /// BIRD's control socket (IPv4 for BIRD 1.6, both families for BIRD 2/3); default
    /// /var/run/calico/bird.ctl, then /var/run/bird/bird.ctl.
    #[arg(long, value_name = "PATH")]
    bird_socket: Option<PathBuf>,

    /// BIRD 1.6's IPv6 control socket; default /var/run/calico/bird6.ctl, then
    /// /var/run/bird/bird6.ctl.
    #[arg(long, value_name = "PATH")]
    bird6_socket: Option<PathBuf>,
}

impl BirdSockets {
    /// The sockets to ask, the given ones overriding the defaults.
    pub(crate) fn endpoints(self) -> Endpoints {
        Endpoints::new(self.bird_socket, self.bird6_socket)
    }
}

/// Collection options allowing BIRD `seconds` of silence per reply, the rest default.
pub(crate) fn collect_options(seconds: u64) -> CollectOptions {
    let mut options = CollectOptions::default();
    options.client.timeout = Duration::from_secs(seconds);
    options
}

/// Fails, naming every socket tried and why, when no BIRD daemon answered at all: a script must
/// be able to tell "no BIRD here" from an answer. A BIRD 1.6 with one of its two daemons down
/// still answered for the other family (the caller warns; the exit stays 0).
pub(crate) fn require_a_daemon(snapshot: &Snapshot) -> anyhow::Result<()> {
    match (&snapshot.v4, &snapshot.v6) {
        (Source::Unreachable(v4), Source::Unreachable(v6)) => {
            anyhow::bail!("no BIRD daemon answered: {v4}; {v6}")
        }
        _ => Ok(()),
    }
}
