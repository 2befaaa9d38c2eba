//! Writing to standard output as things happen, and waiting for the signals that end a
//! long-running command (`get -w`, `lab up`'s waits) cleanly.

use std::io::Write;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

/// Writes text to standard output and flushes it, so a watch's lines appear as they happen.
pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to standard output")
}

/// True when an error means standard output was closed by its reader (`get -w | head`): the
/// command ends quietly, as a pipeline expects.
pub(crate) fn is_closed_output(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The signals that stop a long-running command: SIGINT (Ctrl-C) and SIGTERM.
pub(crate) struct Shutdown {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    /// Starts catching SIGINT and SIGTERM (from now on they no longer kill the process).
    pub(crate) fn catch() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("catching SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("catching SIGTERM")?,
        })
    }

    /// Resolves when one of them arrives.
    pub(crate) async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
