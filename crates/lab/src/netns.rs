//! Network namespaces, veth pairs, addresses and routes, made with iproute2's `ip` command.
//!
//! Why `ip` and not netlink from Rust: the lab makes a few dozen changes once per run, where a
//! process per change costs nothing measurable; `ip` is what BIRD users and the docs speak, so
//! every step can be replayed by hand from the error message; and named namespaces
//! (`/run/netns/<name>`, bind mounts that `ip netns exec` and `ip -n` understand) would otherwise
//! have to be re-implemented. Every call checks the exit status and reports stderr.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use crate::error::{LabError, Result};

/// Where `ip netns add` puts named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Runs a command to completion; a non-zero exit is an error carrying stderr.
pub(crate) fn run(command: &mut Command) -> Result<String> {
    let line = command_line(command);
    tracing::trace!(command = %line, "run");
    let output = command.output().map_err(|e| LabError::Command {
        command: line.clone(),
        detail: format!("could not start: {e}"),
    })?;
    if !output.status.success() {
        return Err(LabError::Command {
            command: line,
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The command as a shell-like line, for messages.
pub(crate) fn command_line(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ip <args>`.
pub(crate) fn ip(args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(args)).map(drop)
}

/// `ip -n <ns> <args>`: the same, inside a namespace.
pub(crate) fn ip_in(ns: &str, args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(["-n", ns]).args(args)).map(drop)
}

pub(crate) fn exists(ns: &str) -> bool {
    Path::new(NETNS_DIR).join(ns).exists()
}

pub(crate) fn add(ns: &str) -> Result<()> {
    ip(&["netns", "add", ns])
}

/// Deletes a namespace; one that does not exist is not an error (teardown runs twice).
pub(crate) fn delete(ns: &str) -> Result<()> {
    if exists(ns) {
        ip(&["netns", "delete", ns])?;
    }
    Ok(())
}

/// A `Command` that runs `program` inside namespace `ns` (`ip netns exec`, which execs the program
/// in place: the PID of the spawned child is the program's).
pub(crate) fn exec_in(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).arg(program);
    command
}
