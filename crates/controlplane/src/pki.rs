//! The certificates and keys of one control plane, generated when it is first started in a
//! directory and reused after (a restarted lab keeps its kubeconfigs valid):
//! - a cluster CA, which signs kube-apiserver's serving certificate (valid for 127.0.0.1 and
//!   `localhost`) and, on request, serving certificates of aggregated API servers;
//! - a front-proxy CA and its client certificate (CN `front-proxy-client`): kube-apiserver
//!   presents it when it proxies a request to an aggregated API server, which trusts the
//!   `X-Remote-User`/`X-Remote-Group` headers only from a client with that certificate;
//! - the service-account signing key (ECDSA P-256) and its public key.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::{Error, io};

/// The CN kube-apiserver's front-proxy client certificate carries, which aggregated API servers
/// are told to accept (`--requestheader-allowed-names`).
pub const FRONT_PROXY_CLIENT: &str = "front-proxy-client";

/// The files of the control plane's PKI, in `<dir>/pki`.
#[derive(Clone, Debug)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// The PKI in `dir`, generated there unless it already is.
    pub(crate) fn load_or_generate(dir: &Path) -> Result<Self, Error> {
        let pki = Self {
            dir: dir.to_owned(),
        };
        if !pki.front_proxy_client_key().exists() {
            pki.generate()?;
        }
        Ok(pki)
    }

    /// The cluster CA certificate (PEM): it signs kube-apiserver's serving certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    fn ca_key(&self) -> PathBuf {
        self.dir.join("ca-key.pem")
    }
    /// kube-apiserver's serving certificate.
    pub fn apiserver_cert(&self) -> PathBuf {
        self.dir.join("apiserver.pem")
    }
    /// kube-apiserver's serving key.
    pub fn apiserver_key(&self) -> PathBuf {
        self.dir.join("apiserver-key.pem")
    }
    /// The front-proxy CA: aggregated API servers verify kube-apiserver's proxy client with it.
    pub fn front_proxy_ca_cert(&self) -> PathBuf {
        self.dir.join("front-proxy-ca.pem")
    }
    fn front_proxy_ca_key(&self) -> PathBuf {
        self.dir.join("front-proxy-ca-key.pem")
    }
    /// kube-apiserver's proxy client certificate.
    pub fn front_proxy_client_cert(&self) -> PathBuf {
        self.dir.join("front-proxy-client.pem")
    }
    /// kube-apiserver's proxy client key.
    pub fn front_proxy_client_key(&self) -> PathBuf {
        self.dir.join("front-proxy-client-key.pem")
    }
    /// The service-account token signing key (private).
    pub fn service_account_key(&self) -> PathBuf {
        self.dir.join("sa-key.pem")
    }
    /// The service-account token verification key (public).
    pub fn service_account_public_key(&self) -> PathBuf {
        self.dir.join("sa.pub")
    }

    fn generate(&self) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| io(format!("creating {}", self.dir.display()), e))?;
        let (ca_pem, ca_key) = new_ca("nodestatus control plane CA")?;
        let ca = Issuer::from_ca_cert_pem(&ca_pem, &ca_key)?;
        let (cert, key) = leaf(
            &ca,
            "kube-apiserver",
            &[
                "127.0.0.1",
                "localhost",
                "kubernetes",
                "kubernetes.default.svc",
            ],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        write(&self.apiserver_cert(), &cert)?;
        write(&self.apiserver_key(), &key)?;

        let (proxy_ca_pem, proxy_ca_key) = new_ca("nodestatus front-proxy CA")?;
        let proxy_ca = Issuer::from_ca_cert_pem(&proxy_ca_pem, &proxy_ca_key)?;
        let (cert, key) = leaf(
            &proxy_ca,
            FRONT_PROXY_CLIENT,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        write(&self.front_proxy_ca_cert(), &proxy_ca_pem)?;
        write(&self.front_proxy_ca_key(), &proxy_ca_key.serialize_pem())?;
        write(&self.front_proxy_client_cert(), &cert)?;

        let sa = KeyPair::generate()?;
        write(&self.service_account_key(), &sa.serialize_pem())?;
        write(&self.service_account_public_key(), &sa.public_key_pem())?;
        write(&self.ca_cert(), &ca_pem)?;
        write(&self.ca_key(), &ca_key.serialize_pem())?;
        // Written last: its presence says the whole PKI is there.
        write(&self.front_proxy_client_key(), &key)?;
        Ok(())
    }

    /// A client certificate and key (PEM) signed by the front-proxy CA for `common_name`: what a
    /// test needs to show that an aggregated server accepts only the names it is told to.
    pub fn issue_front_proxy_client_cert(
        &self,
        common_name: &str,
    ) -> Result<(String, String), Error> {
        let ca_pem = read(&self.front_proxy_ca_cert())?;
        let ca_key = KeyPair::from_pem(&read(&self.front_proxy_ca_key())?)?;
        let ca = Issuer::from_ca_cert_pem(&ca_pem, &ca_key)?;
        leaf(&ca, common_name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// A serving certificate and key (PEM) signed by the cluster CA, for an aggregated API
    /// server reached as `names` (kube-apiserver checks `<service>.<namespace>.svc`).
    pub fn issue_serving_cert(&self, names: &[&str]) -> Result<(String, String), Error> {
        let ca_pem = read(&self.ca_cert())?;
        let ca_key = KeyPair::from_pem(&read(&self.ca_key())?)?;
        let ca = Issuer::from_ca_cert_pem(&ca_pem, &ca_key)?;
        leaf(
            &ca,
            names.first().copied().unwrap_or("server"),
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }
}

fn new_ca(name: &str) -> Result<(String, KeyPair), Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key))
}

fn leaf(
    issuer: &Issuer<'_, &KeyPair>,
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String), Error> {
    let key = KeyPair::generate()?;
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write(path: &Path, contents: &str) -> Result<(), Error> {
    std::fs::write(path, contents).map_err(|e| io(format!("writing {}", path.display()), e))
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| io(format!("reading {}", path.display()), e))
}
