//! A real etcd server for tests (feature `testing`): Debian's `/usr/bin/etcd` on free loopback
//! ports with its data in a temporary directory, stopped by PID (SIGTERM, then SIGKILL),
//! restartable on the same data, pausable (SIGSTOP) to play a hung server, with history
//! compaction and raw key access through `etcdctl`.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, CompactionOptions, ConnectOptions, GetOptions};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::EtcdConfig;

/// The etcd server binary (Debian package `etcd-server`).
pub const ETCD: &str = "/usr/bin/etcd";
/// The etcd command-line client (Debian package `etcd-client`).
pub const ETCDCTL: &str = "/usr/bin/etcdctl";

const STARTUP: Duration = Duration::from_secs(20);
const GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);

/// What went wrong with the test server.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A binary is not installed.
    #[error("{path} is missing: install the Debian package {package} (apt-get install {package})")]
    Missing {
        /// The binary.
        path: &'static str,
        /// The package that has it.
        package: &'static str,
    },
    /// A system call or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// etcd exited or did not answer in time; the log's tail says why.
    #[error("etcd did not become healthy: {reason}\n--- etcd log (tail) ---\n{log}")]
    NotHealthy {
        /// Exit status or timeout.
        reason: String,
        /// The last lines etcd logged.
        log: String,
    },
    /// An etcd request or an etcdctl run failed.
    #[error("{0}")]
    Etcd(String),
}

/// Files for a TLS server: its certificate and key, and the CA that client certificates must
/// chain to (clients must present one).
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// PEM server certificate (valid for 127.0.0.1).
    pub cert_file: PathBuf,
    /// PEM key of the server certificate.
    pub key_file: PathBuf,
    /// PEM CA for client certificates (and, in these tests, the one that signed the server's).
    pub ca_file: PathBuf,
    /// Client certificate and key for etcdctl and the health check.
    pub client_cert_file: PathBuf,
    /// PEM key of the client certificate.
    pub client_key_file: PathBuf,
}

/// A running etcd, stopped (and its data removed) when dropped.
pub struct EtcdServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    tls: Option<ServerTls>,
}

impl EtcdServer {
    /// Starts a plain-HTTP etcd and waits until it answers.
    pub async fn start() -> Result<Self, HarnessError> {
        Self::start_with(None).await
    }

    /// Starts an etcd that requires TLS client certificates.
    pub async fn start_tls(tls: ServerTls) -> Result<Self, HarnessError> {
        Self::start_with(Some(tls)).await
    }

    async fn start_with(tls: Option<ServerTls>) -> Result<Self, HarnessError> {
        if !Path::new(ETCD).exists() {
            return Err(HarnessError::Missing {
                path: ETCD,
                package: "etcd-server",
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("nodestatus-etcd-")
            .tempdir()
            .map_err(|e| io("creating the etcd data directory", e))?;
        let mut server = Self {
            child: None,
            dir,
            client_port: free_port()?,
            peer_port: free_port()?,
            tls,
        };
        server.launch().await?;
        Ok(server)
    }

    /// The client URL.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// Store settings for this server (with the client certificate when it uses TLS) and short
    /// timeouts, so that tests of an unreachable server finish quickly.
    pub fn config(&self) -> EtcdConfig {
        let mut config = EtcdConfig::new([self.endpoint()]);
        if let Some(tls) = &self.tls {
            config.ca_cert_file = Some(tls.ca_file.clone());
            config.cert_file = Some(tls.client_cert_file.clone());
            config.key_file = Some(tls.client_key_file.clone());
        }
        config.connect_timeout = Duration::from_secs(2);
        config.request_timeout = Duration::from_secs(2);
        config
    }

    /// The PID of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    async fn launch(&mut self) -> Result<(), HarnessError> {
        let client_url = self.endpoint();
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let mut cmd = etcd_command(
            "test",
            &self.dir.path().join("data"),
            &client_url,
            &peer_url,
            &format!("test={peer_url}"),
            &self.log_path(),
        )?;
        if let Some(tls) = &self.tls {
            cmd.arg(format!("--cert-file={}", tls.cert_file.display()))
                .arg(format!("--key-file={}", tls.key_file.display()))
                .arg(format!("--trusted-ca-file={}", tls.ca_file.display()))
                .arg("--client-cert-auth=true");
        }
        self.child = Some(cmd.spawn().map_err(|e| io("starting /usr/bin/etcd", e))?);
        self.wait_healthy().await
    }

    async fn wait_healthy(&mut self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(self.not_healthy(format!("etcd exited: {status}")));
            }
            let error = match self.client().await {
                Ok(mut client) => {
                    let probe = client.get("health", Some(GetOptions::new().with_count_only()));
                    match tokio::time::timeout(Duration::from_secs(1), probe).await {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "request timed out".into(),
                    }
                }
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                return Err(self.not_healthy(format!("no answer within {STARTUP:?}: {error}")));
            }
            tokio::time::sleep(POLL * 5).await;
        }
    }

    fn not_healthy(&self, reason: String) -> HarnessError {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let log = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        HarnessError::NotHealthy { reason, log }
    }

    async fn client(&self) -> Result<Client, HarnessError> {
        let mut options = ConnectOptions::new().with_connect_timeout(Duration::from_secs(1));
        if let Some(tls) = &self.tls {
            let read =
                |p: &Path| std::fs::read(p).map_err(|e| io(&format!("reading {}", p.display()), e));
            options = options.with_tls(
                etcd_client::TlsOptions::new()
                    .ca_certificate(etcd_client::Certificate::from_pem(read(&tls.ca_file)?))
                    .identity(etcd_client::Identity::from_pem(
                        read(&tls.client_cert_file)?,
                        read(&tls.client_key_file)?,
                    )),
            );
        }
        Client::connect([self.endpoint()], Some(options))
            .await
            .map_err(|e| HarnessError::Etcd(format!("connecting to {}: {e}", self.endpoint())))
    }

    /// Stops the server: SIGTERM, up to 5 s to exit, then SIGKILL. The data stays.
    pub async fn stop(&mut self) -> Result<(), HarnessError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(child.id() as i32);
        // A paused server cannot act on SIGTERM until it is continued.
        let _ = kill(pid, Signal::SIGCONT);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if child
                .try_wait()
                .map_err(|e| io("waiting for etcd", e))?
                .is_some()
            {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        child.kill().map_err(|e| io("killing etcd", e))?;
        child.wait().map_err(|e| io("waiting for etcd", e))?;
        Ok(())
    }

    /// Stops the server and starts it again on the same ports and data.
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        self.stop().await?;
        self.launch().await
    }

    /// Starts a stopped server again on the same ports and data.
    pub async fn start_again(&mut self) -> Result<(), HarnessError> {
        if self.child.is_some() {
            return Ok(());
        }
        self.launch().await
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is answered.
    pub fn pause(&self) -> Result<(), HarnessError> {
        self.signal(Signal::SIGSTOP)
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) -> Result<(), HarnessError> {
        self.signal(Signal::SIGCONT)
    }

    fn signal(&self, signal: Signal) -> Result<(), HarnessError> {
        let pid = self
            .pid()
            .ok_or_else(|| HarnessError::Etcd("etcd is not running".into()))?;
        kill(Pid::from_raw(pid as i32), signal).map_err(|e| {
            io(
                &format!("sending {signal} to etcd"),
                std::io::Error::from(e),
            )
        })
    }

    /// Compacts the history up to the current revision (physically, so old revisions are gone
    /// when this returns); returns that revision.
    pub async fn compact(&self) -> Result<i64, HarnessError> {
        let mut client = self.client().await?;
        let failed = |e: etcd_client::Error| HarnessError::Etcd(format!("compacting: {e}"));
        let revision = client
            .get("compact", None)
            .await
            .map_err(failed)?
            .header()
            .map_or(0, |h| h.revision());
        client
            .compact(revision, Some(CompactionOptions::new().with_physical()))
            .await
            .map_err(failed)?;
        Ok(revision)
    }

    /// Runs etcdctl (API v3) against this server.
    pub fn etcdctl(&self, args: &[&str]) -> Result<String, HarnessError> {
        if !Path::new(ETCDCTL).exists() {
            return Err(HarnessError::Missing {
                path: ETCDCTL,
                package: "etcd-client",
            });
        }
        let mut cmd = Command::new(ETCDCTL);
        cmd.env_clear()
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint()));
        if let Some(tls) = &self.tls {
            cmd.arg(format!("--cacert={}", tls.ca_file.display()))
                .arg(format!("--cert={}", tls.client_cert_file.display()))
                .arg(format!("--key={}", tls.client_key_file.display()));
        }
        let out = cmd
            .args(args)
            .output()
            .map_err(|e| io("running etcdctl", e))?;
        if !out.status.success() {
            return Err(HarnessError::Etcd(format!(
                "etcdctl {args:?}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The raw value of a key (`etcdctl get --print-value-only`), `None` when there is none.
    pub fn raw_value(&self, key: &str) -> Result<Option<String>, HarnessError> {
        let out = self.etcdctl(&["get", "--print-value-only", key])?;
        // etcdctl ends the value with a newline, and prints nothing for a missing key.
        Ok(out.strip_suffix('\n').map(str::to_string))
    }

    /// Writes a raw value (`etcdctl put`).
    pub fn put_raw(&self, key: &str, value: &str) -> Result<(), HarnessError> {
        self.etcdctl(&["put", key, value]).map(|_| ())
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The etcd command for one member: a clean environment, its data directory, its client and
/// peer URLs, the initial cluster, no automatic compaction, output appended to `log`.
fn etcd_command(
    name: &str,
    data_dir: &Path,
    client_url: &str,
    peer_url: &str,
    initial_cluster: &str,
    log: &Path,
) -> Result<Command, HarnessError> {
    if !Path::new(ETCD).exists() {
        return Err(HarnessError::Missing {
            path: ETCD,
            package: "etcd-server",
        });
    }
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| io("opening the etcd log", e))?;
    let err = out.try_clone().map_err(|e| io("opening the etcd log", e))?;
    let mut cmd = Command::new(ETCD);
    // etcd reads any ETCD_* variable as a flag (ETCD_ENDPOINTS of the test's own config
    // would be one): start it with a clean environment.
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .arg(format!("--name={name}"))
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg(format!("--listen-client-urls={client_url}"))
        .arg(format!("--advertise-client-urls={client_url}"))
        .arg(format!("--listen-peer-urls={peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={peer_url}"))
        .arg(format!("--initial-cluster={initial_cluster}"))
        .arg("--initial-cluster-state=new")
        .arg("--auto-compaction-retention=0")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // etcd 3.4 refuses to run on anything but amd64 (and ppc64le) without this.
    match std::env::consts::ARCH {
        "x86_64" | "powerpc64" => {}
        "aarch64" => {
            cmd.env("ETCD_UNSUPPORTED_ARCH", "arm64");
        }
        other => {
            cmd.env("ETCD_UNSUPPORTED_ARCH", other);
        }
    }
    Ok(cmd)
}

/// An etcd cluster of several members on loopback, each its own `/usr/bin/etcd` process with
/// free ports and its own data directory, for tests that kill members (by PID) and the leader.
/// Every member is stopped when the cluster is dropped.
pub struct EtcdCluster {
    dir: tempfile::TempDir,
    initial_cluster: String,
    members: Vec<Member>,
}

struct Member {
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl EtcdCluster {
    /// Starts `size` members as one new cluster and waits until every member answers a
    /// linearizable read (so a leader is elected).
    pub async fn start(size: usize) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("nodestatus-etcd-cluster-")
            .tempdir()
            .map_err(|e| io("creating the etcd data directory", e))?;
        let ports: Vec<(u16, u16)> = (0..size)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<Result<_, HarnessError>>()?;
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = EtcdCluster {
            dir,
            initial_cluster,
            members: ports
                .iter()
                .map(|&(client_port, peer_port)| Member {
                    client_port,
                    peer_port,
                    child: None,
                })
                .collect(),
        };
        for i in 0..size {
            cluster.spawn(i)?;
        }
        for i in 0..size {
            cluster.wait_answering(i).await?;
        }
        Ok(cluster)
    }

    fn spawn(&mut self, member: usize) -> Result<(), HarnessError> {
        let m = &self.members[member];
        let mut cmd = etcd_command(
            &format!("m{member}"),
            &self.dir.path().join(format!("m{member}")),
            &format!("http://127.0.0.1:{}", m.client_port),
            &format!("http://127.0.0.1:{}", m.peer_port),
            &self.initial_cluster,
            &self.log_path(member),
        )?;
        let child = cmd.spawn().map_err(|e| io("starting /usr/bin/etcd", e))?;
        self.members[member].child = Some(child);
        Ok(())
    }

    /// Starts a killed member again on its data; it rejoins the cluster. Waits until it answers.
    pub async fn start_again(&mut self, member: usize) -> Result<(), HarnessError> {
        if self.members[member].child.is_none() {
            self.spawn(member)?;
        }
        self.wait_answering(member).await
    }

    fn log_path(&self, member: usize) -> PathBuf {
        self.dir.path().join(format!("m{member}.log"))
    }

    /// Every member's client URL, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len()).map(|i| self.endpoint(i)).collect()
    }

    /// The client URL of one member.
    pub fn endpoint(&self, member: usize) -> String {
        format!("http://127.0.0.1:{}", self.members[member].client_port)
    }

    /// Store settings naming every member.
    pub fn config(&self) -> EtcdConfig {
        let mut config = EtcdConfig::new(self.endpoints());
        config.connect_timeout = Duration::from_secs(5);
        config.request_timeout = Duration::from_secs(5);
        config
    }

    async fn wait_answering(&mut self, member: usize) -> Result<(), HarnessError> {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(child) = self.members[member].child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(self.not_healthy(member, format!("etcd exited: {status}")));
            }
            let error = match self.client(member).await {
                Ok(mut client) => {
                    let probe = client.get("health", Some(GetOptions::new().with_count_only()));
                    match tokio::time::timeout(Duration::from_secs(1), probe).await {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "request timed out".into(),
                    }
                }
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                return Err(
                    self.not_healthy(member, format!("no answer within {STARTUP:?}: {error}"))
                );
            }
            tokio::time::sleep(POLL * 5).await;
        }
    }

    fn not_healthy(&self, member: usize, reason: String) -> HarnessError {
        let log = std::fs::read_to_string(self.log_path(member)).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let log = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        HarnessError::NotHealthy { reason, log }
    }

    async fn client(&self, member: usize) -> Result<Client, HarnessError> {
        let options = ConnectOptions::new().with_connect_timeout(Duration::from_secs(1));
        Client::connect([self.endpoint(member)], Some(options))
            .await
            .map_err(|e| {
                HarnessError::Etcd(format!("connecting to {}: {e}", self.endpoint(member)))
            })
    }

    /// The member that is the leader now, as every running member that answers sees it.
    pub async fn leader(&self) -> Result<usize, HarnessError> {
        let mut ids = Vec::new();
        let mut leader = None;
        for (i, member) in self.members.iter().enumerate() {
            if member.child.is_none() {
                ids.push(None);
                continue;
            }
            let mut client = self.client(i).await?;
            let status = tokio::time::timeout(Duration::from_secs(2), client.status())
                .await
                .map_err(|_| HarnessError::Etcd(format!("member m{i} did not answer its status")))?
                .map_err(|e| HarnessError::Etcd(format!("status of member m{i}: {e}")))?;
            ids.push(status.header().map(|h| h.member_id()));
            if status.leader() != 0 {
                leader = Some(status.leader());
            }
        }
        let leader = leader.ok_or_else(|| HarnessError::Etcd("no member knows a leader".into()))?;
        ids.iter()
            .position(|id| *id == Some(leader))
            .ok_or_else(|| HarnessError::Etcd(format!("the leader {leader:x} is not running")))
    }

    /// Kills one member at once (SIGKILL by its PID), as a crash would, and reaps it.
    pub fn kill(&mut self, member: usize) -> Result<(), HarnessError> {
        if let Some(mut child) = self.members[member].child.take() {
            child.kill().map_err(|e| io("killing an etcd member", e))?;
            child
                .wait()
                .map_err(|e| io("waiting for an etcd member", e))?;
        }
        Ok(())
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            if let Some(mut child) = member.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A loopback port nobody listens on now (the kernel's pick).
pub fn free_port() -> Result<u16, HarnessError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| io("finding a free port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| io("finding a free port", e))
}

fn io(context: &str, source: std::io::Error) -> HarnessError {
    HarnessError::Io {
        context: context.into(),
        source,
    }
}
