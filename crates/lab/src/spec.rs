//! What a lab is asked to be: node count, BIRD version, state directory and the name prefix that
//! keeps several labs (parallel tests) apart.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{LabError, Result};

/// The most nodes a lab may have: the address plan (see the crate docs) has room for 20, and a
/// full mesh of more tells nothing new.
pub const MAX_NODES: usize = 20;

/// Which BIRD runs in the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BirdVersion {
    /// Debian 12's BIRD 1.6: `bird` for IPv4 and `bird6` for IPv6, two control sockets.
    #[serde(rename = "1.6")]
    V1_6,
    /// Debian 12's BIRD 2.0 (unpacked at /opt/nodestatus/bird2): one daemon for both families,
    /// one socket.
    #[serde(rename = "2")]
    V2,
    /// Debian 13's BIRD 2.17 (unpacked at /opt/nodestatus/bird2.17 with Debian 13's C library by
    /// scripts/install-bird-current.sh): as BIRD 2.0.
    #[serde(rename = "2.17")]
    V2_17,
    /// Debian 13's BIRD 3.1 (unpacked at /opt/nodestatus/bird3 like 2.17): multi-threaded, the
    /// same configuration language and control protocol as BIRD 2.
    #[serde(rename = "3")]
    V3,
}

impl BirdVersion {
    /// Every version, oldest first.
    pub const ALL: [BirdVersion; 4] = [Self::V1_6, Self::V2, Self::V2_17, Self::V3];

    /// The version as written in paths, messages and `--bird`: `1.6`, `2`, `2.17` or `3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_6 => "1.6",
            Self::V2 => "2",
            Self::V2_17 => "2.17",
            Self::V3 => "3",
        }
    }

    /// What `show status` prints as the version starts with this (`1.6.`, `2.0.`, `2.17.`, `3.`).
    pub fn version_prefix(self) -> &'static str {
        match self {
            Self::V1_6 => "1.6.",
            Self::V2 => "2.0.",
            Self::V2_17 => "2.17.",
            Self::V3 => "3.",
        }
    }

    /// True for BIRD 1.6, the one version with a daemon per family; BIRD 2 and 3 run one daemon
    /// for both, with `ipv4`/`ipv6` channels, tables `master4`/`master6` and multiprotocol
    /// sessions.
    pub fn daemon_per_family(self) -> bool {
        self == Self::V1_6
    }

    /// The programs the lab runs for this version (BIRD 1.6: `bird` and `bird6`), for a
    /// prerequisite check.
    pub fn binaries(self) -> Vec<&'static str> {
        crate::config::daemons(self)
            .iter()
            .map(|(daemon, _)| crate::config::binary(self, daemon))
            .collect()
    }
}

impl std::fmt::Display for BirdVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BirdVersion {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "1.6" | "1" => Ok(Self::V1_6),
            "2" | "2.0" => Ok(Self::V2),
            "2.17" => Ok(Self::V2_17),
            "3" | "3.1" => Ok(Self::V3),
            _ => Err(format!("{s:?} is not a BIRD version (1.6, 2, 2.17 or 3)")),
        }
    }
}

/// An address family: the API's, so the lab's expectations index the status directly.
pub use nodestatus_api::Family;

/// How to build a lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabSpec {
    /// Number of nodes, 1 to [`MAX_NODES`].
    pub nodes: usize,
    /// The BIRD version every node runs.
    pub bird: BirdVersion,
    /// Where configs, sockets, PID files, logs and the state file go; created if missing.
    pub dir: PathBuf,
    /// Prefix of the namespace names (`<prefix>-hub`, `<prefix>-n1`, ...): lowercase letters, digits
    /// and `-`, at most 24 characters, unique among the labs running on the machine.
    pub prefix: String,
}

impl LabSpec {
    /// Three nodes, the given BIRD version and directory, and a prefix unique to this process
    /// and call ([`unique_prefix`]).
    pub fn new(bird: BirdVersion, dir: impl Into<PathBuf>) -> Self {
        Self {
            nodes: 3,
            bird,
            dir: dir.into(),
            prefix: unique_prefix(),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !(1..=MAX_NODES).contains(&self.nodes) {
            return Err(LabError::InvalidSpec(format!(
                "nodes must be 1 to {MAX_NODES}, not {}",
                self.nodes
            )));
        }
        let prefix_ok = !self.prefix.is_empty()
            && self.prefix.len() <= 24
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !prefix_ok {
            return Err(LabError::InvalidSpec(format!(
                "prefix {:?} must be 1 to 24 of a-z, 0-9 and -",
                self.prefix
            )));
        }
        validate_dir(&self.dir)
    }
}

/// The directory ends up quoted in BIRD configs and in socket paths (at most 107 bytes).
fn validate_dir(dir: &Path) -> Result<()> {
    let Some(text) = dir.to_str() else {
        return Err(LabError::InvalidSpec(format!(
            "dir {} is not UTF-8",
            dir.display()
        )));
    };
    if text.contains(['"', '\n', '\\']) {
        return Err(LabError::InvalidSpec(format!(
            "dir {text:?} must not contain quotes, backslashes or newlines (it is written into BIRD configs)"
        )));
    }
    // The longest socket path is `<dir>/n20/bird6.ctl` once made absolute.
    let longest = std::path::absolute(dir)
        .map_err(|e| LabError::io("resolving the lab directory", dir, e))?
        .join("n20")
        .join("bird6.ctl");
    if longest.as_os_str().len() > 107 {
        return Err(LabError::InvalidSpec(format!(
            "dir {text:?} is too long: BIRD control socket paths under it exceed the 107-byte limit of unix sockets"
        )));
    }
    Ok(())
}

/// A namespace prefix unique to this process and call: `nsl<pid>-<n>`.
pub fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!(
        "nsl{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
