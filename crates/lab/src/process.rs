//! Processes identified by PID *and* start time, so that a PID reused by an unrelated process
//! after a reboot or a crash is never signalled; stopping is SIGTERM, a grace period, then SIGKILL.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::error::{LabError, Result};

/// How long a process gets to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(5);
/// How long to wait for the kernel to reap a process after SIGKILL.
const AFTER_KILL: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(10);

/// A running (or once running) process: its PID and its start time in clock ticks since boot
/// (field 22 of `/proc/<pid>/stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// The PID.
    pub pid: u32,
    /// Start time in clock ticks after boot; tells this process from a later one with the same PID.
    pub start_time: u64,
}

impl ProcessId {
    /// The process with this PID now, if there is one.
    pub fn of(pid: u32) -> Option<Self> {
        proc_stat(pid).map(|(_, start_time)| Self { pid, start_time })
    }

    /// True while the process exists, is the same one, and has not exited (a zombie has).
    pub fn is_running(&self) -> bool {
        matches!(proc_stat(self.pid), Some((state, start)) if start == self.start_time && state != 'Z' && state != 'X')
    }

    /// Stops the process: SIGTERM, up to 5 s to exit, then SIGKILL. Stopping a process that has
    /// already exited is not an error.
    pub fn stop(&self, name: &str) -> Result<()> {
        if !self.is_running() {
            return Ok(());
        }
        tracing::debug!(pid = self.pid, name, "stopping");
        let pid = Pid::from_raw(self.pid as i32);
        // ESRCH means it exited in between; nothing else can fail for root.
        let _ = kill(pid, Signal::SIGTERM);
        if self.wait_exit(GRACE) {
            return Ok(());
        }
        tracing::warn!(
            pid = self.pid,
            name,
            "no exit after SIGTERM, sending SIGKILL"
        );
        let _ = kill(pid, Signal::SIGKILL);
        if self.wait_exit(AFTER_KILL) {
            Ok(())
        } else {
            Err(LabError::Unkillable {
                pid: self.pid,
                name: name.to_string(),
            })
        }
    }

    fn wait_exit(&self, limit: Duration) -> bool {
        let start = Instant::now();
        while self.is_running() {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(POLL);
        }
        true
    }
}

/// State letter and start time of a process, from `/proc/<pid>/stat`. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted after its closing `)`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3 (state); start time is field 22.
    let start_time = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_running_until_stopped_and_then_not() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep is part of coreutils");
        let id = ProcessId::of(child.id()).expect("the child was just started");
        assert!(id.is_running());
        id.stop("sleep").expect("sleep exits on SIGTERM");
        // Until reaped it is a zombie, which counts as stopped.
        assert!(!id.is_running());
        let status = child.wait().expect("the child can be reaped");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(15)
        );
    }

    #[test]
    fn a_reused_pid_is_not_the_same_process() {
        let me = ProcessId::of(std::process::id()).expect("this process exists");
        let earlier = ProcessId {
            start_time: me.start_time.wrapping_sub(1),
            ..me
        };
        assert!(me.is_running());
        assert!(!earlier.is_running());
    }
}
