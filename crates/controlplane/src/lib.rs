//! A real Kubernetes control plane on this machine, for the tests and for
//! `nodestatus lab up --datastore-type kubernetes`: Kubernetes' own `kube-apiserver` and the
//! etcd it is released with, built from their Go modules by `scripts/install-k8s.sh` (see
//! [`Binaries`]), started on free loopback ports and stopped by PID.
//!
//! What it sets up in its directory (kept across restarts, so kubeconfigs stay valid):
//! - `pki/`: the cluster CA and kube-apiserver's serving certificate, the front-proxy CA and
//!   client certificate of the aggregation layer, the service-account signing key
//!   ([`Pki`]);
//! - `tokens.csv`: a static bearer token for the admin (group `system:masters`), and
//!   `admin.kubeconfig` that uses it;
//! - `etcd/` (data), `etcd.log`, `kube-apiserver.log`.
//!
//! kube-apiserver runs with authorization mode RBAC, the service-account issuer (so
//! `kubectl create token` gives real service-account tokens that RBAC applies to), the
//! aggregation layer's request-header and proxy-client flags, and
//! `--endpoint-reconciler-type=none` (it advertises 127.0.0.1, which an Endpoints object may
//! not hold). Nothing else runs: no controller manager, scheduler or kubelet, so objects that
//! need controllers (pods, service accounts' token secrets, garbage collection) do not come
//! to life. The service IP range is `10.99.128.0/24`, addresses that are only allocated, never
//! routed.
//!
//! Dependencies: `rcgen` (certificates and keys, no openssl binary), `kube` (the readiness
//! probe through a kubeconfig, the CRD's server-side apply), `k8s-openapi` (the CRD type), `http` (its request type), `uuid` (random tokens), `nix`
//! (SIGTERM by PID), `nodestatus-api` (the kubeconfig writer), `tempfile` (a temporary
//! directory for tests), `tokio`, `tracing`, `thiserror`.

mod pki;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub use pki::{FRONT_PROXY_CLIENT, Pki};

/// The Kubernetes release `scripts/install-k8s.sh` builds (`k8s/go.mod`).
pub const KUBERNETES_VERSION: &str = "v1.34.4";
/// The etcd release it builds beside it (`k8s/go.mod`).
pub const ETCD_VERSION: &str = "v3.6.4";
/// Overrides the directory of the two binaries.
pub const BIN_DIR_ENV: &str = "NODESTATUS_K8S_BIN";

/// The user name of the admin token.
pub const ADMIN_USER: &str = "nodestatus-admin";
/// The service IP range kube-apiserver allocates from (never routed).
pub const SERVICE_CIDR: &str = "10.99.128.0/24";
/// The service-account issuer and token audience.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

const STARTUP: Duration = Duration::from_secs(90);
const GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(200);

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The binaries are not built.
    #[error(
        "{} is missing: build the local control plane with `bash scripts/install-k8s.sh` (kube-apiserver {KUBERNETES_VERSION} and etcd {ETCD_VERSION} from their Go modules), or set {BIN_DIR_ENV}",
        path.display()
    )]
    Missing {
        /// The binary looked for.
        path: PathBuf,
    },
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key could not be made.
    #[error("generating the control plane's certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A process exited or did not become ready; the log's tail says why.
    #[error("{process} did not become ready: {reason}\n--- {} (tail) ---\n{log}", log_path.display())]
    NotReady {
        /// `etcd` or `kube-apiserver`.
        process: &'static str,
        /// Exit status or timeout, and the last probe error.
        reason: String,
        /// The log file.
        log_path: PathBuf,
        /// Its last lines.
        log: String,
    },
    /// The CRD could not be installed.
    #[error("installing the CRD {name}: {message}")]
    Crd {
        /// The CRD's name.
        name: String,
        /// What failed.
        message: String,
    },
    /// The admin kubeconfig could not be used.
    #[error("reading the admin kubeconfig {}: {message}", path.display())]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
    Error::Io {
        context: context.into(),
        source,
    }
}

/// Where the two binaries are: `$NODESTATUS_K8S_BIN`, or
/// `/opt/nodestatus/k8s/<KUBERNETES_VERSION>/bin` where `scripts/install-k8s.sh` puts them.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// kube-apiserver.
    pub kube_apiserver: PathBuf,
    /// etcd.
    pub etcd: PathBuf,
}

impl Binaries {
    /// The binaries, or [`Error::Missing`] naming the first one absent.
    pub fn locate() -> Result<Self, Error> {
        let dir = std::env::var_os(BIN_DIR_ENV).map_or_else(
            || PathBuf::from(format!("/opt/nodestatus/k8s/{KUBERNETES_VERSION}/bin")),
            PathBuf::from,
        );
        let binaries = Self {
            kube_apiserver: dir.join("kube-apiserver"),
            etcd: dir.join("etcd"),
        };
        for path in [&binaries.kube_apiserver, &binaries.etcd] {
            if !path.is_file() {
                return Err(Error::Missing { path: path.clone() });
            }
        }
        Ok(binaries)
    }
}

/// The PIDs of a running control plane, to stop it from another process (the lab records
/// them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pids {
    /// etcd's PID.
    pub etcd: u32,
    /// kube-apiserver's PID.
    pub kube_apiserver: u32,
}

/// A running control plane. Dropping it kills both processes (SIGKILL); [`ControlPlane::stop`]
/// stops them gracefully, [`ControlPlane::detach`] leaves them running.
pub struct ControlPlane {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    pki: Pki,
    port: u16,
    etcd_url: String,
    admin_token: String,
    etcd: Option<Child>,
    apiserver: Option<Child>,
}

impl ControlPlane {
    /// Starts one in a new temporary directory (removed when it is dropped).
    pub async fn start_temporary() -> Result<Self, Error> {
        let temp = tempfile::Builder::new()
            .prefix("nodestatus-k8s-")
            .tempdir()
            .map_err(|e| io("creating a temporary directory", e))?;
        let mut plane = Self::start_in(temp.path()).await?;
        plane._temp = Some(temp);
        Ok(plane)
    }

    /// Starts one whose files live in `dir` (created; certificates and the admin token already
    /// there are reused), and waits until kube-apiserver is ready (`/readyz`).
    pub async fn start_in(dir: &Path) -> Result<Self, Error> {
        let binaries = Binaries::locate()?;
        std::fs::create_dir_all(dir).map_err(|e| io(format!("creating {}", dir.display()), e))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| io(format!("resolving {}", dir.display()), e))?;
        let pki = Pki::load_or_generate(&dir.join("pki"))?;
        let admin_token = admin_token(&dir)?;
        let etcd_client_port = free_port()?;
        let etcd_peer_port = free_port()?;
        let port = free_port()?;
        let mut plane = Self {
            dir,
            _temp: None,
            pki,
            port,
            etcd_url: format!("http://127.0.0.1:{etcd_client_port}"),
            admin_token,
            etcd: None,
            apiserver: None,
        };
        plane.etcd = Some(plane.spawn_etcd(&binaries, etcd_peer_port)?);
        plane.apiserver = Some(plane.spawn_apiserver(&binaries)?);
        plane.write_kubeconfig(&plane.admin_kubeconfig(), Some(&plane.admin_token.clone()))?;
        plane.wait_ready().await?;
        tracing::info!(url = %plane.url(), dir = %plane.dir.display(), "control plane ready");
        Ok(plane)
    }

    /// kube-apiserver's URL.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The directory of its files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The certificates.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The admin's kubeconfig (group `system:masters`).
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// Writes a kubeconfig for this control plane to `path`, with `token` as its credential.
    pub fn write_kubeconfig(&self, path: &Path, token: Option<&str>) -> Result<(), Error> {
        let ca = std::fs::read_to_string(self.pki.ca_cert())
            .map_err(|e| io(format!("reading {}", self.pki.ca_cert().display()), e))?;
        let text =
            nodestatus_api::kubeconfig::kubeconfig("nodestatus-k8s", &self.url(), &ca, token)
                .map_err(|e| io("writing a kubeconfig", std::io::Error::other(e)))?;
        std::fs::write(path, text).map_err(|e| io(format!("writing {}", path.display()), e))
    }

    /// The PIDs of etcd and kube-apiserver.
    pub fn pids(&self) -> Option<Pids> {
        Some(Pids {
            etcd: self.etcd.as_ref()?.id(),
            kube_apiserver: self.apiserver.as_ref()?.id(),
        })
    }

    /// Leaves the processes running after this value is gone; stop them later by PID (see
    /// [`ControlPlane::pids`]).
    pub fn detach(mut self) {
        // Dropping a `Child` neither kills nor waits for it.
        self.etcd.take();
        self.apiserver.take();
    }

    /// Stops kube-apiserver, then etcd: SIGTERM, up to 10 s each, then SIGKILL.
    pub async fn stop(&mut self) -> Result<(), Error> {
        for (name, child) in [
            ("kube-apiserver", self.apiserver.take()),
            ("etcd", self.etcd.take()),
        ] {
            if let Some(child) = child {
                stop_child(name, child).await?;
            }
        }
        Ok(())
    }

    /// Restarts kube-apiserver on the same port and etcd (its watch cache starts anew from
    /// etcd's current revision), and waits until it is ready.
    pub async fn restart_apiserver(&mut self) -> Result<(), Error> {
        if let Some(child) = self.apiserver.take() {
            stop_child("kube-apiserver", child).await?;
        }
        self.apiserver = Some(self.spawn_apiserver(&Binaries::locate()?)?);
        self.wait_ready().await
    }

    /// etcd's client URL (plain HTTP on loopback).
    pub fn etcd_url(&self) -> &str {
        &self.etcd_url
    }

    fn spawn_etcd(&self, binaries: &Binaries, peer_port: u16) -> Result<Child, Error> {
        let client_url = &self.etcd_url;
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut cmd = Command::new(&binaries.etcd);
        cmd.arg("--name=controlplane")
            .arg(format!("--data-dir={}", self.dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=controlplane={peer_url}"))
            // The data is a test's or a lab's: durability across power loss buys nothing.
            .arg("--unsafe-no-fsync=true");
        spawn("etcd", cmd, &self.log_path("etcd"))
    }

    fn spawn_apiserver(&self, binaries: &Binaries) -> Result<Child, Error> {
        let etcd_url = &self.etcd_url;
        let pki = &self.pki;
        let mut cmd = Command::new(&binaries.kube_apiserver);
        let path = |p: PathBuf| p.display().to_string();
        cmd.arg(format!("--etcd-servers={etcd_url}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={}", self.port))
            .arg(format!("--cert-dir={}", self.dir.join("pki").display()))
            .arg(format!("--tls-cert-file={}", path(pki.apiserver_cert())))
            .arg(format!(
                "--tls-private-key-file={}",
                path(pki.apiserver_key())
            ))
            .arg(format!("--client-ca-file={}", path(pki.ca_cert())))
            .arg(format!(
                "--token-auth-file={}",
                self.dir.join("tokens.csv").display()
            ))
            .arg("--authorization-mode=RBAC")
            .arg(format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"))
            .arg(format!(
                "--service-account-key-file={}",
                path(pki.service_account_public_key())
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                path(pki.service_account_key())
            ))
            .arg(format!("--api-audiences={SERVICE_ACCOUNT_ISSUER}"))
            .arg(format!("--service-cluster-ip-range={SERVICE_CIDR}"))
            .arg("--endpoint-reconciler-type=none")
            .arg(format!(
                "--requestheader-client-ca-file={}",
                path(pki.front_proxy_ca_cert())
            ))
            .arg(format!(
                "--requestheader-allowed-names={FRONT_PROXY_CLIENT}"
            ))
            .arg("--requestheader-username-headers=X-Remote-User")
            .arg("--requestheader-group-headers=X-Remote-Group")
            .arg("--requestheader-extra-headers-prefix=X-Remote-Extra-")
            .arg(format!(
                "--proxy-client-cert-file={}",
                path(pki.front_proxy_client_cert())
            ))
            .arg(format!(
                "--proxy-client-key-file={}",
                path(pki.front_proxy_client_key())
            ))
            .arg("--profiling=false");
        spawn("kube-apiserver", cmd, &self.log_path("kube-apiserver"))
    }

    fn log_path(&self, process: &str) -> PathBuf {
        self.dir.join(format!("{process}.log"))
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + STARTUP;
        let client = self.client().await?;
        loop {
            if let Some((name, status)) = self.exited() {
                return Err(self.not_ready(name, format!("{name} exited: {status}")));
            }
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| io("building the readiness probe", std::io::Error::other(e)))?;
            let error =
                match tokio::time::timeout(Duration::from_secs(5), client.request_text(request))
                    .await
                {
                    Ok(Ok(body)) if body.trim() == "ok" => return Ok(()),
                    Ok(Ok(body)) => body,
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "the probe timed out".into(),
                };
            if Instant::now() > deadline {
                return Err(self.not_ready(
                    "kube-apiserver",
                    format!("not ready within {STARTUP:?}: {error}"),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Creates or updates a CRD (server-side apply as `nodestatus`) and waits until the API
    /// server serves it (condition `Established`).
    pub async fn install_crd(&self, crd: &CustomResourceDefinition) -> Result<(), Error> {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let failed = |e: kube::Error| Error::Crd {
            name: name.clone(),
            message: e.to_string(),
        };
        let api: kube::Api<CustomResourceDefinition> = kube::Api::all(self.client().await?);
        let params = kube::api::PatchParams::apply("nodestatus").force();
        api.patch(&name, &params, &kube::api::Patch::Apply(crd))
            .await
            .map_err(failed)?;
        let deadline = Instant::now() + STARTUP;
        loop {
            let current = api.get(&name).await.map_err(failed)?;
            let established = current
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Crd {
                    name,
                    message: format!("not established within {STARTUP:?}"),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The first of the two processes found exited, with its exit status.
    fn exited(&mut self) -> Option<(&'static str, std::process::ExitStatus)> {
        for (name, child) in [
            ("etcd", &mut self.etcd),
            ("kube-apiserver", &mut self.apiserver),
        ] {
            if let Some(c) = child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                *child = None;
                return Some((name, status));
            }
        }
        None
    }

    /// A client for the admin kubeconfig.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        let path = self.admin_kubeconfig();
        let failed = |message: String| Error::Kubeconfig {
            path: path.clone(),
            message,
        };
        let kubeconfig =
            kube::config::Kubeconfig::read_from(&path).map_err(|e| failed(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(|e| failed(e.to_string()))?;
        kube::Client::try_from(config).map_err(|e| failed(e.to_string()))
    }

    fn not_ready(&self, process: &'static str, reason: String) -> Error {
        let log_path = self.log_path(process);
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        Error::NotReady {
            process,
            reason,
            log_path,
            log: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for mut child in [self.apiserver.take(), self.etcd.take()]
            .into_iter()
            .flatten()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The admin token in `<dir>/tokens.csv`, created with a random one when there is none.
fn admin_token(dir: &Path) -> Result<String, Error> {
    let path = dir.join("tokens.csv");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Some(token) = text.split(',').next().filter(|t| !t.trim().is_empty())
    {
        return Ok(token.trim().to_owned());
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    // token,user,uid,"groups"
    let line = format!("{token},{ADMIN_USER},{ADMIN_USER},\"system:masters\"\n");
    std::fs::write(&path, line).map_err(|e| io(format!("writing {}", path.display()), e))?;
    Ok(token)
}

fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Child, Error> {
    // Appended to: a restarted process's log follows the one before.
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| io(format!("opening {}", log.display()), e))?;
    let err = out
        .try_clone()
        .map_err(|e| io(format!("opening {}", log.display()), e))?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    cmd.spawn().map_err(|e| {
        io(
            format!("starting {name} ({})", cmd.get_program().to_string_lossy()),
            e,
        )
    })
}

/// Stops a process by PID: SIGTERM, a grace period, SIGKILL.
async fn stop_child(name: &str, mut child: Child) -> Result<(), Error> {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if child
            .try_wait()
            .map_err(|e| io(format!("waiting for {name}"), e))?
            .is_some()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::warn!(name, "no exit after SIGTERM, sending SIGKILL");
    child.kill().map_err(|e| io(format!("killing {name}"), e))?;
    child
        .wait()
        .map_err(|e| io(format!("waiting for {name}"), e))?;
    Ok(())
}

/// A free loopback TCP port (bound, then released for the process that will use it).
pub fn free_port() -> Result<u16, Error> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| io("finding a free loopback port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| io("finding a free loopback port", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The versions the code looks for are the ones `k8s/go.mod` builds.
    #[test]
    fn versions_match_the_go_module() {
        let go_mod = include_str!("../../../k8s/go.mod");
        let version_of = |module: &str| {
            go_mod
                .lines()
                .map(str::split_whitespace)
                .find_map(|mut words| {
                    (words.next() == Some(module))
                        .then(|| words.next())
                        .flatten()
                })
        };
        assert_eq!(version_of("k8s.io/kubernetes"), Some(KUBERNETES_VERSION));
        assert_eq!(version_of("go.etcd.io/etcd/server/v3"), Some(ETCD_VERSION));
    }
}
