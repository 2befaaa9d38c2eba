//! Async client for BIRD's control socket: connect, read the `0001 BIRD <version> ready.`
//! greeting, then one command per round-trip, each reply bounded in time and size.
//!
//! Time is bounded twice: BIRD may stay silent at most `timeout` (a dead daemon is noticed
//! quickly), and a whole reply must arrive within `reply_deadline` (a daemon, or anything else
//! on the socket, that trickles a byte a second never goes silent, and would otherwise hold
//! the caller forever). Callers may pass an earlier deadline of their own (a collection's).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::Instant;

use crate::parse::reply::{FrameError, Framer, Reply};

/// Limits applied to every reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long BIRD may stay silent while a reply (the greeting included) is incomplete.
    pub timeout: Duration,
    /// How long a whole reply (the greeting included) may take, however steadily it arrives.
    pub reply_deadline: Duration,
    /// Largest reply accepted, in bytes.
    pub max_reply_bytes: usize,
}

impl ClientOptions {
    /// 5 seconds of silence.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// 20 seconds per reply: BIRD 1.6 prints the largest accepted `show route`
    /// ([`Self::DEFAULT_MAX_REPLY_BYTES`], about 500,000 routes) in about 4 s.
    pub const DEFAULT_REPLY_DEADLINE: Duration = Duration::from_secs(20);
    /// 32 MiB: a `show route` of about 500,000 routes (~63 bytes each in BIRD 2, ~57 in
    /// 1.6). The bound keeps one collection's memory well under the DaemonSet's 256Mi limit
    /// (see the `nodestatus-manifests` crate): the reply, its parse and the mapped routes of
    /// the largest accepted table together stay under about 160 MB.
    pub const DEFAULT_MAX_REPLY_BYTES: usize = 32 << 20;
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
            reply_deadline: Self::DEFAULT_REPLY_DEADLINE,
            max_reply_bytes: Self::DEFAULT_MAX_REPLY_BYTES,
        }
    }
}

/// What went wrong talking to one BIRD daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be opened (absent, refused, no permission).
    #[error("cannot connect to BIRD at {}: {source}", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The first reply was not `0001 BIRD <version> ready.`.
    #[error("BIRD at {} greeted with {text:?} instead of `0001 BIRD <version> ready.`", path.display())]
    Greeting {
        /// The socket path.
        path: PathBuf,
        /// What it sent.
        text: String,
    },
    /// Reading or writing failed.
    #[error("BIRD at {}, `{command}`: {source}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The command being run.
        command: String,
        /// The cause.
        source: io::Error,
    },
    /// BIRD stopped sending before the reply was complete.
    #[error("BIRD at {}, `{command}`: no data for {timeout:?} before the reply ended", path.display())]
    Timeout {
        /// The socket path.
        path: PathBuf,
        /// The command being run.
        command: String,
        /// The limit.
        timeout: Duration,
    },
    /// The reply kept arriving but did not end in time (a trickling peer), or the caller's
    /// deadline (a collection's) passed.
    #[error("BIRD at {}, `{command}`: the reply did not end within {limit:?}", path.display())]
    Deadline {
        /// The socket path.
        path: PathBuf,
        /// The command being run.
        command: String,
        /// The time the reply had.
        limit: Duration,
    },
    /// BIRD closed the connection in the middle of a reply.
    #[error("BIRD at {}, `{command}`: connection closed before the reply ended", path.display())]
    Closed {
        /// The socket path.
        path: PathBuf,
        /// The command being run.
        command: String,
    },
    /// The reply was too large or not framed as BIRD frames replies.
    #[error("BIRD at {}, `{command}`: {source}", path.display())]
    Frame {
        /// The socket path.
        path: PathBuf,
        /// The command being run.
        command: String,
        /// The cause.
        source: FrameError,
    },
}

/// One connection to one BIRD daemon.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
    framer: Framer,
    path: PathBuf,
    version: String,
    timeout: Duration,
    reply_deadline: Duration,
}

const GREETING: &str = "(greeting)";

impl Connection {
    /// Connects and reads the greeting.
    pub async fn connect(path: &Path, options: &ClientOptions) -> Result<Self, ClientError> {
        Self::connect_until(path, options, None).await
    }

    /// Connects and reads the greeting, giving up at `deadline` at the latest.
    pub async fn connect_until(
        path: &Path,
        options: &ClientOptions,
        deadline: Option<Instant>,
    ) -> Result<Self, ClientError> {
        let connect_error = |source| ClientError::Connect {
            path: path.to_owned(),
            source,
        };
        let limit = deadline.map_or(options.reply_deadline, |d| {
            d.saturating_duration_since(Instant::now())
                .min(options.reply_deadline)
        });
        let stream = tokio::time::timeout(limit, UnixStream::connect(path))
            .await
            .map_err(|_| connect_error(io::ErrorKind::TimedOut.into()))?
            .map_err(connect_error)?;
        let mut conn = Self {
            stream,
            framer: Framer::new(options.max_reply_bytes),
            path: path.to_owned(),
            version: String::new(),
            timeout: options.timeout,
            reply_deadline: options.reply_deadline,
        };
        let greeting = conn.read_reply(GREETING, deadline).await?;
        let text = greeting.text().trim_end();
        conn.version = text
            .strip_prefix("0001 BIRD ")
            .and_then(|v| v.strip_suffix(" ready."))
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Greeting {
                path: path.to_owned(),
                text: text.to_owned(),
            })?;
        tracing::debug!(socket = %path.display(), version = %conn.version, "connected to BIRD");
        Ok(conn)
    }

    /// The version from the greeting (`1.6.8`, `2.0.12`, `v0.3.3+birdv1.6.8`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one command and returns its whole reply. Error replies (`8xxx`, `9xxx`) are
    /// returned as replies; the parsers turn them into errors. After an `Err` the connection is
    /// in an unknown state and must be dropped.
    pub async fn query(&mut self, command: &str) -> Result<Reply, ClientError> {
        self.query_until(command, None).await
    }

    /// [`Connection::query`], giving up at `deadline` at the latest (besides the reply's own
    /// deadline).
    pub async fn query_until(
        &mut self,
        command: &str,
        deadline: Option<Instant>,
    ) -> Result<Reply, ClientError> {
        let line = format!("{command}\n");
        self.stream
            .write_all(line.as_bytes())
            .await
            .map_err(|source| ClientError::Io {
                path: self.path.clone(),
                command: command.to_owned(),
                source,
            })?;
        let started = std::time::Instant::now();
        let reply = self.read_reply(command, deadline).await?;
        tracing::debug!(
            socket = %self.path.display(),
            command,
            bytes = reply.len(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "BIRD reply"
        );
        Ok(reply)
    }

    async fn read_reply(
        &mut self,
        command: &str,
        deadline: Option<Instant>,
    ) -> Result<Reply, ClientError> {
        /// Read size: large reads keep a multi-megabyte reply to a few hundred system calls.
        const CHUNK: usize = 256 << 10;
        let frame_error = |path: &Path, source| ClientError::Frame {
            path: path.to_owned(),
            command: command.to_owned(),
            source,
        };
        let started = Instant::now();
        let own = started + self.reply_deadline;
        let deadline = deadline.map_or(own, |d| d.min(own));
        loop {
            if let Some(reply) = self
                .framer
                .advance()
                .map_err(|e| frame_error(&self.path, e))?
            {
                return Ok(reply);
            }
            let want = CHUNK.min(self.framer.room().max(1));
            self.framer.reserve(want);
            let buf = self.framer.buffer();
            let mut limited = (&mut self.stream).take(want as u64);
            let silence_ends = Instant::now() + self.timeout;
            let n = tokio::time::timeout_at(silence_ends.min(deadline), limited.read_buf(buf))
                .await
                .map_err(|_| {
                    if silence_ends < deadline {
                        ClientError::Timeout {
                            path: self.path.clone(),
                            command: command.to_owned(),
                            timeout: self.timeout,
                        }
                    } else {
                        ClientError::Deadline {
                            path: self.path.clone(),
                            command: command.to_owned(),
                            limit: deadline.saturating_duration_since(started),
                        }
                    }
                })?
                .map_err(|source| ClientError::Io {
                    path: self.path.clone(),
                    command: command.to_owned(),
                    source,
                })?;
            if n == 0 {
                return Err(ClientError::Closed {
                    path: self.path.clone(),
                    command: command.to_owned(),
                });
            }
        }
    }
}
