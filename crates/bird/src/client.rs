//! Async client for BIRD's control socket: connect, read the `0001 BIRD <version> ready.`
//! greeting, then one command per round-trip, each reply bounded in time and size.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::reply::{FrameError, Framer, Reply};

/// Limits applied to every reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long BIRD may stay silent while a reply (the greeting included) is incomplete. A
    /// reply that keeps arriving is bounded by `max_reply_bytes` instead: BIRD 1.6 takes about
    /// 7 s to print a million routes, which a whole-reply deadline of a few seconds would cut.
    pub timeout: Duration,
    /// Largest reply accepted, in bytes.
    pub max_reply_bytes: usize,
}

impl ClientOptions {
    /// 5 seconds of silence.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// 256 MiB: a `show route` of about 4 million routes (~63 bytes each in BIRD 2).
    pub const DEFAULT_MAX_REPLY_BYTES: usize = 256 << 20;
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
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
}

const GREETING: &str = "(greeting)";

impl Connection {
    /// Connects and reads the greeting.
    pub async fn connect(path: &Path, options: &ClientOptions) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| ClientError::Connect {
                path: path.to_owned(),
                source,
            })?;
        let mut conn = Self {
            stream,
            framer: Framer::new(options.max_reply_bytes),
            path: path.to_owned(),
            version: String::new(),
            timeout: options.timeout,
        };
        let greeting = conn.read_reply(GREETING).await?;
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
        let reply = self.read_reply(command).await?;
        tracing::debug!(
            socket = %self.path.display(),
            command,
            bytes = reply.len(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "BIRD reply"
        );
        Ok(reply)
    }

    async fn read_reply(&mut self, command: &str) -> Result<Reply, ClientError> {
        /// Read size: large reads keep a multi-megabyte reply to a few hundred system calls.
        const CHUNK: usize = 256 << 10;
        let frame_error = |path: &Path, source| ClientError::Frame {
            path: path.to_owned(),
            command: command.to_owned(),
            source,
        };
        loop {
            if let Some(reply) = self
                .framer
                .advance()
                .map_err(|e| frame_error(&self.path, e))?
            {
                return Ok(reply);
            }
            let want = CHUNK.min(self.framer.room().max(1));
            let buf = self.framer.buffer();
            buf.reserve(want);
            let mut limited = (&mut self.stream).take(want as u64);
            let n = tokio::time::timeout(self.timeout, limited.read_buf(buf))
                .await
                .map_err(|_| ClientError::Timeout {
                    path: self.path.clone(),
                    command: command.to_owned(),
                    timeout: self.timeout,
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
