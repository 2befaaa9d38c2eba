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

/// How long BIRD may stay silent: one flag name for `agent`, `collect` and `bird`.
#[derive(clap::Args, Debug)]
pub(crate) struct BirdTimeout {
    /// Seconds BIRD may stay silent before a reply is complete.
    // `--timeout-seconds` was `collect`'s and `bird`'s name: kept, hidden, for existing scripts.
    #[arg(
        long,
        alias = "timeout-seconds",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    bird_timeout_seconds: u64,
}

impl BirdTimeout {
    /// Collection options allowing BIRD this much silence per reply, the rest default.
    pub(crate) fn collect_options(&self) -> CollectOptions {
        let mut options = CollectOptions::default();
        options.client.timeout = Duration::from_secs(self.bird_timeout_seconds);
        options
    }
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Flags {
        #[command(flatten)]
        timeout: BirdTimeout,
    }

    fn reply_timeout(args: &[&str]) -> Result<Duration, clap::Error> {
        let flags =
            Flags::try_parse_from(std::iter::once("nodestatus").chain(args.iter().copied()))?;
        Ok(flags.timeout.collect_options().client.timeout)
    }

    #[test]
    fn the_bird_timeout_has_one_name_and_keeps_the_old_one_hidden() {
        assert_eq!(reply_timeout(&[]).unwrap(), Duration::from_secs(5));
        assert_eq!(
            reply_timeout(&["--bird-timeout-seconds", "7"]).unwrap(),
            Duration::from_secs(7)
        );
        assert_eq!(
            reply_timeout(&["--timeout-seconds", "9"]).unwrap(),
            Duration::from_secs(9)
        );
        assert!(reply_timeout(&["--bird-timeout-seconds", "0"]).is_err());
        let help = <Flags as clap::CommandFactory>::command()
            .render_help()
            .to_string();
        assert!(help.contains("--bird-timeout-seconds"), "{help}");
        assert!(!help.contains("--timeout-seconds"), "{help}");
    }
}
