//! The lab's error type: every failure names what was being done and carries the underlying
//! cause (a command's exit status and stderr, an I/O error with its path).

use std::path::PathBuf;

/// What can go wrong while bringing a lab up, using it or tearing it down.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Network namespaces and BIRD's kernel protocol need root.
    #[error("the lab needs root (network namespaces, routes, BIRD); run it as root")]
    NotRoot,
    /// A binary the lab runs is not installed.
    #[error("{what} not found at {path}: run scripts/install-deps.sh (as root) to install it")]
    MissingBinary {
        /// What the binary is, e.g. "BIRD 1.6 (bird6)".
        what: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The spec cannot describe a lab.
    #[error("invalid lab spec: {0}")]
    InvalidSpec(String),
    /// The directory already holds the state of a lab that was not taken down.
    #[error(
        "a lab is already up in {dir} (prefix {prefix}); take it down first (nodestatus_lab::down)"
    )]
    AlreadyUp {
        /// The lab directory.
        dir: PathBuf,
        /// The prefix of the lab found there.
        prefix: String,
    },
    /// A namespace the lab would create exists already (another lab with the same prefix).
    #[error(
        "network namespace {namespace} exists already: another lab uses this prefix (take it down, or choose another prefix)"
    )]
    NamespaceExists {
        /// The namespace.
        namespace: String,
    },
    /// A command exited unsuccessfully or could not be started.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// The exit status and stderr, or why it could not be started.
        detail: String,
    },
    /// A file or socket operation failed.
    #[error("{context} ({}): {source}", path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file or socket involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The state file exists but cannot be read as a lab state.
    #[error("lab state file {} is not valid: {source}", path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// No node has that name.
    #[error("no node named {0:?} in this lab")]
    UnknownNode(String),
    /// The node has no daemon for a family (a hand-edited state file).
    #[error("node {node} has no BIRD daemon for {family:?}")]
    NoDaemon {
        /// The node.
        node: String,
        /// The family.
        family: crate::spec::Family,
    },
    /// The node's configuration has no BGP session of that name.
    #[error("node {node} has no BGP session named {protocol:?}")]
    UnknownProtocol {
        /// The node.
        node: String,
        /// The protocol name asked for.
        protocol: String,
    },
    /// BIRD answered a command with an error code.
    #[error("{daemon} on {node} answered `{command}` with an error: {reply}")]
    Bird {
        /// The node.
        node: String,
        /// The daemon (`bird` or `bird6`).
        daemon: String,
        /// The command sent.
        command: String,
        /// The reply.
        reply: String,
    },
    /// Something did not happen in time.
    #[error("timed out after {seconds:.1} s waiting for {what}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it waited.
        seconds: f64,
        /// The last observation, to tell what was missing.
        last: String,
    },
    /// A process did not exit after SIGKILL.
    #[error("process {pid} ({name}) did not exit after SIGKILL")]
    Unkillable {
        /// The PID.
        pid: u32,
        /// The process's role, e.g. `n1/bird`.
        name: String,
    },
}

impl LabError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            context,
            path: path.into(),
            source,
        }
    }
}

/// The lab's result type.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
