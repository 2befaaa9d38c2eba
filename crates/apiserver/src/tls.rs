//! The serving certificate: files the operator gives, or a self-signed one generated once into
//! a directory and reused after (so that a kubeconfig printed earlier keeps working), and the
//! TLS listener that serves the router over it.

use std::future::Future;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The file, in its directory, of a generated certificate and its key (one PEM file, so that
/// the two are published together).
pub const GENERATED_FILE: &str = "apiserver.pem";

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong with the serving certificate.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file holds no certificate or key.
    #[error("{}: {message}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is missing or wrong.
        message: String,
    },
    /// The self-signed certificate could not be generated.
    #[error("generating the self-signed serving certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate and key.
    #[error("the serving certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A serving certificate chain and its private key, PEM.
#[derive(Clone, Debug)]
pub struct ServingCert {
    /// The certificate chain, leaf first.
    pub cert_pem: String,
    /// The private key.
    pub key_pem: String,
}

impl ServingCert {
    /// Reads the operator's certificate chain and key.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        Ok(Self {
            cert_pem: read(cert, "reading the TLS certificate")?,
            key_pem: read(key, "reading the TLS private key")?,
        })
    }

    /// A new self-signed certificate for these host names and addresses.
    pub fn generate(hosts: &[String]) -> Result<Self, TlsError> {
        let mut params = rcgen::CertificateParams::new(hosts.to_vec())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "nodestatus apiserver");
        let key = rcgen::KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The certificate in `dir`, generated (for `hosts`) and written there first when there is
    /// none, readable by its owner only. Several processes starting at once (the server and
    /// `apiserver kubeconfig`) end up with the same one: the file is published with a hard link,
    /// which fails when another process published first, and then that one is read. To change
    /// the names, delete the file.
    pub fn load_or_generate(dir: &Path, hosts: &[String]) -> Result<Self, TlsError> {
        let path = dir.join(GENERATED_FILE);
        if path.exists() {
            return Self::from_combined(&path);
        }
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
            what: "creating the certificate directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let generated = Self::generate(hosts)?;
        let text = format!("{}{}", generated.cert_pem, generated.key_pem);
        match publish(&path, &text) {
            Ok(()) => Ok(generated),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::from_combined(&path),
            Err(source) => Err(TlsError::Io {
                what: "writing",
                path,
                source,
            }),
        }
    }

    /// A certificate and key from one PEM file.
    fn from_combined(path: &Path) -> Result<Self, TlsError> {
        let text = read(path, "reading the generated certificate")?;
        let split = text
            .find("-----BEGIN PRIVATE KEY-----")
            .ok_or_else(|| TlsError::Pem {
                path: path.to_path_buf(),
                message: "no private key after the certificate".into(),
            })?;
        Ok(Self {
            cert_pem: text[..split].to_string(),
            key_pem: text[split..].to_string(),
        })
    }

    /// The rustls configuration serving this certificate, offering HTTP/2 and HTTP/1.1. With
    /// `client_ca` (PEM, the front proxy's CA: kube-apiserver's `--requestheader-client-ca-file`)
    /// a client may present a certificate, which must then chain to it; clients without one are
    /// let through to the token check.
    pub fn server_config(
        &self,
        client_ca: Option<&Path>,
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let pem_error = |message: String| TlsError::Pem {
            path: PathBuf::from("<certificate>"),
            message,
        };
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| pem_error(format!("cannot read the certificate: {e}")))?;
        if certs.is_empty() {
            return Err(pem_error("no certificate in the certificate file".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| pem_error(format!("cannot read the private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let text = read(path, "reading the request-header client CA")?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(text.as_bytes()) {
                    let cert = cert.map_err(|e| TlsError::Pem {
                        path: path.to_path_buf(),
                        message: format!("cannot read a CA certificate: {e}"),
                    })?;
                    roots.add(cert)?;
                }
                if roots.is_empty() {
                    return Err(TlsError::Pem {
                        path: path.to_path_buf(),
                        message: "no CA certificate in the file".into(),
                    });
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Pem {
                    path: path.to_path_buf(),
                    message: format!("not a usable client CA: {e}"),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read(path: &Path, what: &'static str) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Io {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `text` to `path` (owner-only) unless `path` exists: written under a temporary name,
/// then hard-linked to `path`, so a reader never sees half of it and only one writer wins.
pub(crate) fn publish(path: &Path, text: &str) -> std::io::Result<()> {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::hard_link(&temporary, path)
    })();
    let _ = std::fs::remove_file(&temporary);
    written
}

/// Serves `router` over TLS on `listener` until `shutdown` completes. Each connection gets its
/// own task; a failed handshake or connection is logged and dropped.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            // rustls verified any certificate the client presented against the request-header
            // CA: such a client is the front proxy (kube-apiserver's aggregation layer).
            let router = match stream.get_ref().1.peer_certificates() {
                Some([leaf, ..]) => router.layer(axum::Extension(crate::FrontProxy {
                    common_name: common_name(leaf),
                })),
                _ => router,
            };
            let service = TowerToHyperService::new(router);
            if let Err(e) = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// The subject's common name of a (verified) certificate.
fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_generating_at_once_end_up_with_one_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let certs: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| ServingCert::load_or_generate(dir.path(), &hosts)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().unwrap().cert_pem)
                .collect()
        });
        let again = ServingCert::load_or_generate(dir.path(), &hosts).unwrap();
        assert!(certs.iter().all(|c| *c == again.cert_pem), "{certs:?}");
        assert!(again.server_config(None).is_ok());
    }
}
