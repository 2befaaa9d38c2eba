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

/// Standard output behind a 64 KiB buffer.
pub(crate) type BufferedStdout = std::io::BufWriter<std::io::StdoutLock<'static>>;

/// Writes to standard output through a buffer, as `write` produces it (a large status is never
/// whole in memory), then flushes.
/// `write` gets the buffer's own type (not `dyn Write`), so the serializers' many small writes
/// are inlined copies into the buffer.
pub(crate) fn print_with(
    write: impl FnOnce(&mut BufferedStdout) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    write(&mut out)?;
    out.flush().context("writing to standard output")
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

/// An error and its causes on one line, `context: cause: cause`, each cause said once: many
/// errors (ours with `{source}` in their message, std's, kube's) already print their source, so
/// a cause whose text the cause before it already contains is left out.
pub(crate) fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut previous = String::new();
    for cause in err.chain() {
        let said = cause.to_string();
        if text.is_empty() {
            text.push_str(&said);
        } else if !previous.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        previous = said;
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Like our thiserror errors with `{source}` in their message: says its source, and has it.
    #[derive(Debug)]
    struct Listen {
        source: std::io::Error,
    }

    impl std::fmt::Display for Listen {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot listen on 127.0.0.1:9094: {}", self.source)
        }
    }

    impl std::error::Error for Listen {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let io_text = io.to_string();
        let err = anyhow::Error::new(Listen { source: io }).context("starting the agent");
        assert_eq!(
            error_text(&err),
            format!("starting the agent: cannot listen on 127.0.0.1:9094: {io_text}")
        );
    }

    #[test]
    fn causes_that_do_not_repeat_are_all_said() {
        let err = anyhow::anyhow!("connection refused")
            .context("connecting to etcd")
            .context("opening the datastore");
        assert_eq!(
            error_text(&err),
            "opening the datastore: connecting to etcd: connection refused"
        );
    }
}
