//! How to reach etcd: endpoints, TLS client certificate files, timeouts and the request size
//! limit, read from Calico's environment variables or set field by field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_client::{Certificate, ConnectOptions, Identity, TlsOptions};
use nodestatus_store::StoreError;

/// etcd's default `--max-request-bytes` (1.5 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1536 * 1024;

/// Settings for [`EtcdStore::connect`](crate::EtcdStore::connect).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtcdConfig {
    /// Client URLs (`http://host:2379` or `https://host:2379`); requests are balanced over them.
    pub endpoints: Vec<String>,
    /// PEM CA bundle that signs the server certificates (`ETCD_CA_CERT_FILE`).
    pub ca_cert_file: Option<PathBuf>,
    /// PEM client certificate (`ETCD_CERT_FILE`); needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate (`ETCD_KEY_FILE`); needs `cert_file`.
    pub key_file: Option<PathBuf>,
    /// How long `connect` waits for etcd to answer a first request. Default 5 s.
    pub connect_timeout: Duration,
    /// How long any one request may take before it fails as `Unavailable`. Default 10 s
    /// (Calico's etcdv3 client timeout).
    pub request_timeout: Duration,
    /// HTTP/2 keep-alive ping interval; a connection whose ping gets no answer within
    /// `request_timeout` is dropped, so a silent watch reconnects. Default 30 s (Calico's).
    pub keep_alive_interval: Duration,
    /// The largest write request sent; larger ones fail with `TooLarge` before anything is sent.
    /// Set it to the server's `--max-request-bytes`. Default 1.5 MiB (etcd's default).
    pub max_request_bytes: usize,
    /// How often a node-filtered watch (an agent's) relists its node's objects and indexes
    /// objects that other tools wrote without the per-node index (see the crate docs). Changes
    /// made through this store reach the watch at once; this only bounds how late a change by
    /// another tool is seen. Default 300 s.
    pub index_relist_interval: Duration,
}

/// What is wrong with the environment's etcd settings.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `ETCD_ENDPOINTS` is unset or lists nothing.
    #[error("ETCD_ENDPOINTS is not set: give one or more comma-separated etcd client URLs")]
    NoEndpoints,
    /// An endpoint is not an `http://` or `https://` URL.
    #[error("etcd endpoint {0:?} must start with http:// or https://")]
    BadEndpoint(String),
    /// Only one of the client certificate and its key is given.
    #[error("ETCD_CERT_FILE and ETCD_KEY_FILE must be given together")]
    CertWithoutKey,
    /// TLS files are given but an endpoint is plain HTTP (etcd-client refuses the mix, and
    /// silently talking plaintext would be worse).
    #[error("TLS files are set but etcd endpoint {0:?} is http://; use https://")]
    TlsOverHttp(String),
}

impl EtcdConfig {
    /// Plain settings for these endpoints, with the default timeouts and limit.
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            ca_cert_file: None,
            cert_file: None,
            key_file: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            keep_alive_interval: Duration::from_secs(30),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            index_relist_interval: Duration::from_secs(300),
        }
    }

    /// Reads Calico's variables: `ETCD_ENDPOINTS` (comma-separated), `ETCD_CA_CERT_FILE`,
    /// `ETCD_CERT_FILE`, `ETCD_KEY_FILE`. Empty values count as unset.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `from_env` over any variable source (tests pass a map; the process environment is
    /// shared by parallel tests).
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let endpoints: Vec<String> = var("ETCD_ENDPOINTS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect();
        let mut config = Self::new(endpoints);
        config.ca_cert_file = var("ETCD_CA_CERT_FILE").map(PathBuf::from);
        config.cert_file = var("ETCD_CERT_FILE").map(PathBuf::from);
        config.key_file = var("ETCD_KEY_FILE").map(PathBuf::from);
        config.check()?;
        Ok(config)
    }

    /// Checks the settings that can be checked without touching files or the network.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.endpoints.is_empty() {
            return Err(ConfigError::NoEndpoints);
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(ConfigError::CertWithoutKey);
        }
        for endpoint in &self.endpoints {
            if endpoint.starts_with("http://") {
                if self.uses_tls() {
                    return Err(ConfigError::TlsOverHttp(endpoint.clone()));
                }
            } else if !endpoint.starts_with("https://") {
                return Err(ConfigError::BadEndpoint(endpoint.clone()));
            }
        }
        Ok(())
    }

    fn uses_tls(&self) -> bool {
        self.ca_cert_file.is_some() || self.cert_file.is_some()
    }

    /// The client options: keep-alive, connect timeout, and TLS from the files (read now, so a
    /// missing or unreadable file is reported with its variable and path).
    pub(crate) fn connect_options(&self) -> Result<ConnectOptions, StoreError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(self.connect_timeout)
            .with_keep_alive(self.keep_alive_interval, self.request_timeout)
            // etcd does not permit pings without an open stream (grpc-go answers them with
            // GOAWAY "too_many_pings"); idle connections need none, requests have timeouts.
            .with_keep_alive_while_idle(false);
        if let Some(tls) = self.tls_options()? {
            options = options.with_tls(tls);
        }
        Ok(options)
    }

    fn tls_options(&self) -> Result<Option<TlsOptions>, StoreError> {
        let https = self.endpoints.iter().any(|e| e.starts_with("https://"));
        if !self.uses_tls() && !https {
            return Ok(None);
        }
        // With https:// and no CA file, the platform's roots are not loaded (no such feature is
        // enabled): a CA file is expected, as Calico's docs require for TLS.
        let mut tls = TlsOptions::new();
        if let Some(path) = &self.ca_cert_file {
            tls = tls.ca_certificate(Certificate::from_pem(read_pem("ETCD_CA_CERT_FILE", path)?));
        }
        if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
            let cert = read_pem("ETCD_CERT_FILE", cert)?;
            let key = read_pem("ETCD_KEY_FILE", key)?;
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        Ok(Some(tls))
    }
}

/// Reads a PEM file, checking it holds at least one PEM block, so that a wrong path or a
/// wrong file is reported here and not as an opaque handshake failure later.
fn read_pem(variable: &str, path: &Path) -> Result<Vec<u8>, StoreError> {
    let context = || format!("reading {variable} {}", path.display());
    let bytes = std::fs::read(path).map_err(|e| StoreError::internal(context(), e))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(StoreError::internal(
            context(),
            "the file holds no PEM block",
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from_vars(vars: &[(&str, &str)]) -> Result<EtcdConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EtcdConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn endpoints_are_split_on_commas_and_trimmed() {
        let config = from_vars(&[(
            "ETCD_ENDPOINTS",
            " http://10.0.0.1:2379 ,http://10.0.0.2:2379,",
        )]);
        assert_eq!(
            config,
            Ok(EtcdConfig::new([
                "http://10.0.0.1:2379",
                "http://10.0.0.2:2379"
            ]))
        );
    }

    #[test]
    fn defaults_are_calicos_timeouts_and_etcds_request_limit() {
        let config = EtcdConfig::new(["http://etcd:2379"]);
        assert_eq!(
            (
                config.connect_timeout,
                config.request_timeout,
                config.keep_alive_interval,
                config.max_request_bytes
            ),
            (
                Duration::from_secs(5),
                Duration::from_secs(10),
                Duration::from_secs(30),
                1_572_864
            )
        );
    }

    #[test]
    fn tls_files_are_read_from_calicos_variables() {
        let config = from_vars(&[
            ("ETCD_ENDPOINTS", "https://etcd:2379"),
            ("ETCD_CA_CERT_FILE", "/etc/calico/ca.pem"),
            ("ETCD_CERT_FILE", "/etc/calico/cert.pem"),
            ("ETCD_KEY_FILE", "/etc/calico/key.pem"),
        ]);
        let mut expected = EtcdConfig::new(["https://etcd:2379"]);
        expected.ca_cert_file = Some("/etc/calico/ca.pem".into());
        expected.cert_file = Some("/etc/calico/cert.pem".into());
        expected.key_file = Some("/etc/calico/key.pem".into());
        assert_eq!(config, Ok(expected));
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let config = from_vars(&[
            ("ETCD_ENDPOINTS", "http://etcd:2379"),
            ("ETCD_CA_CERT_FILE", ""),
        ]);
        assert_eq!(config, Ok(EtcdConfig::new(["http://etcd:2379"])));
    }

    #[test]
    fn missing_endpoints_are_an_error() {
        assert_eq!(from_vars(&[]), Err(ConfigError::NoEndpoints));
        assert_eq!(
            from_vars(&[("ETCD_ENDPOINTS", " , ")]),
            Err(ConfigError::NoEndpoints)
        );
    }

    #[test]
    fn an_endpoint_without_scheme_is_an_error() {
        assert_eq!(
            from_vars(&[("ETCD_ENDPOINTS", "etcd:2379")]),
            Err(ConfigError::BadEndpoint("etcd:2379".into()))
        );
    }

    #[test]
    fn a_certificate_needs_its_key() {
        assert_eq!(
            from_vars(&[
                ("ETCD_ENDPOINTS", "https://etcd:2379"),
                ("ETCD_CERT_FILE", "/c.pem")
            ]),
            Err(ConfigError::CertWithoutKey)
        );
    }

    #[test]
    fn tls_files_with_an_http_endpoint_are_an_error() {
        assert_eq!(
            from_vars(&[
                ("ETCD_ENDPOINTS", "http://etcd:2379"),
                ("ETCD_CA_CERT_FILE", "/ca.pem")
            ]),
            Err(ConfigError::TlsOverHttp("http://etcd:2379".into()))
        );
    }

    #[test]
    fn a_missing_tls_file_is_reported_with_its_variable_and_path() {
        let mut config = EtcdConfig::new(["https://etcd:2379"]);
        config.ca_cert_file = Some("/nonexistent/ca.pem".into());
        let err = config.connect_options().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "datastore error: reading ETCD_CA_CERT_FILE /nonexistent/ca.pem: No such file or directory (os error 2)"
            )
        );
    }

    #[test]
    fn a_tls_file_without_pem_is_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "not a key").expect("write");
        let mut config = EtcdConfig::new(["https://etcd:2379"]);
        config.cert_file = Some(path.clone());
        config.key_file = Some(path.clone());
        let err = config.connect_options().err().map(|e| e.to_string());
        assert_eq!(
            err,
            Some(format!(
                "datastore error: reading ETCD_CERT_FILE {}: the file holds no PEM block",
                path.display()
            ))
        );
    }
}
