//! `nodestatus apiserver`: serves `projectcalico.org/v3` CalicoNodeStatus from the datastore
//! over the Kubernetes API, so that the real `kubectl` works on it; `nodestatus apiserver
//! kubeconfig` prints a kubeconfig that reaches a server run with the same flags.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, bail};
use nodestatus_api::kubeconfig::kubeconfig;
use nodestatus_apiserver::{Access, Authorizer, ServingCert, Tokens, router, serve};

use crate::datastore::DatastoreArgs;
use crate::output::{Shutdown, print};

/// Serve CalicoNodeStatus over the Kubernetes API (for kubectl).
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Sub>,

    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Print a kubeconfig that reaches the server run with these flags (the generated
    /// certificate is created first when there is none yet).
    Kubeconfig(ServerArgs),
}

/// How the server listens and whom it lets in.
#[derive(clap::Args, Debug)]
struct ServerArgs {
    /// Address and port to listen on. Beyond loopback only with --token-file or
    /// --requestheader-client-ca-file.
    #[arg(long, default_value = "127.0.0.1:6443", value_name = "ADDR:PORT")]
    listen: SocketAddr,

    /// PEM certificate (chain) to serve; without it a self-signed one is generated into
    /// --cert-dir once and reused.
    #[arg(long, value_name = "FILE", requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,

    /// PEM private key of --tls-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,

    /// Where the self-signed certificate (and the generated token) is generated and kept.
    #[arg(
        long,
        value_name = "DIR",
        env = "NODESTATUS_APISERVER_CERT_DIR",
        default_value = "/var/run/nodestatus/apiserver"
    )]
    cert_dir: PathBuf,

    /// Bearer tokens, one per line (or kube-apiserver's token CSV): every request without one
    /// of them gets 401. Without it (and without --requestheader-client-ca-file) the server
    /// asks for a token it generates into --cert-dir, which `apiserver kubeconfig` prints.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,

    /// PEM CA of the front proxy (kube-apiserver's --requestheader-client-ca-file): a client
    /// whose certificate chains to it is kube-apiserver's aggregation layer, and its requests
    /// are served for the user it names in X-Remote-User, without a token.
    #[arg(long, value_name = "FILE")]
    requestheader_client_ca_file: Option<PathBuf>,

    /// Common names the front proxy's certificate may have, comma-separated or as the JSON list
    /// of the extension-apiserver-authentication ConfigMap; empty: any the CA signed.
    #[arg(
        long,
        value_name = "NAMES",
        env = "NODESTATUS_REQUESTHEADER_ALLOWED_NAMES",
        requires = "requestheader_client_ca_file"
    )]
    requestheader_allowed_names: Option<String>,

    /// Kubeconfig of the cluster that authorizes requests through the front proxy
    /// (SubjectAccessReview); without it, KUBECONFIG, ~/.kube/config or the in-cluster
    /// service account.
    #[arg(long, value_name = "FILE", requires = "requestheader_client_ca_file")]
    authorization_kubeconfig: Option<PathBuf>,
}

impl ServerArgs {
    fn tokens(&self) -> anyhow::Result<Tokens> {
        match &self.token_file {
            Some(file) => Ok(Tokens::from_file(file)?),
            // Behind the front proxy, a request that does not come through it needs a token.
            None if self.requestheader_client_ca_file.is_some() => Ok(Tokens::refuse_all()),
            // On loopback: a token generated beside the certificate, which the printed
            // kubeconfig carries.
            None => Ok(Tokens::load_or_generate(&self.cert_dir)?),
        }
    }

    /// The allowed names: a JSON list (`["front-proxy-client"]`) or a comma-separated one.
    fn allowed_names(&self) -> anyhow::Result<Vec<String>> {
        let Some(text) = self.requestheader_allowed_names.as_deref().map(str::trim) else {
            return Ok(Vec::new());
        };
        let names: Vec<String> = if text.starts_with('[') {
            serde_json::from_str(text)
                .context("--requestheader-allowed-names: not a JSON list of names")?
        } else {
            text.split(',').map(|n| n.trim().to_owned()).collect()
        };
        Ok(names.into_iter().filter(|n| !n.is_empty()).collect())
    }

    /// Who gets in: tokens, and behind kube-apiserver its front proxy, with every request
    /// through it authorized by the cluster.
    async fn access(&self) -> anyhow::Result<Access> {
        let access = Access::from(self.tokens()?).with_allowed_names(self.allowed_names()?);
        if self.requestheader_client_ca_file.is_none() {
            return Ok(access);
        }
        let client = nodestatus_store_kube::client(self.authorization_kubeconfig.as_deref())
            .await
            .context(
                "delegated authorization needs the cluster's API (--authorization-kubeconfig)",
            )?;
        Ok(access.with_authorizer(Authorizer::new(client)))
    }

    /// The operator's certificate, or the generated one (created now if there is none).
    fn cert(&self) -> anyhow::Result<ServingCert> {
        match (&self.tls_cert_file, &self.tls_private_key_file) {
            (Some(cert), Some(key)) => Ok(ServingCert::from_files(cert, key)?),
            _ => {
                let mut hosts = vec![
                    "localhost".to_string(),
                    Ipv4Addr::LOCALHOST.to_string(),
                    Ipv6Addr::LOCALHOST.to_string(),
                ];
                let ip = self.listen.ip();
                if !ip.is_unspecified() && !ip.is_loopback() {
                    hosts.push(ip.to_string());
                }
                Ok(ServingCert::load_or_generate(&self.cert_dir, &hosts)?)
            }
        }
    }

    /// The URL clients on this machine use: the listen address, loopback for a wildcard.
    fn url(&self) -> String {
        let ip = match self.listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("https://{}", SocketAddr::new(ip, self.listen.port()))
    }
}

pub(crate) async fn run(args: Args, datastore: &DatastoreArgs) -> anyhow::Result<()> {
    match args.command {
        Some(Sub::Kubeconfig(server)) => {
            let tokens = server.tokens()?;
            let cert = server.cert()?;
            print(&kubeconfig(
                "nodestatus",
                &server.url(),
                &cert.cert_pem,
                tokens.first(),
            )?)
        }
        None => run_server(args.server, datastore).await,
    }
}

async fn run_server(server: ServerArgs, datastore: &DatastoreArgs) -> anyhow::Result<()> {
    if !server.listen.ip().is_loopback()
        && server.token_file.is_none()
        && server.requestheader_client_ca_file.is_none()
    {
        bail!(
            "--listen {} is beyond loopback: give --token-file (and, behind kube-apiserver, \
             --requestheader-client-ca-file) so that only holders of a token or the front proxy \
             get in (or listen on 127.0.0.1)",
            server.listen
        );
    }
    let access = server.access().await?;
    let tls = server
        .cert()?
        .server_config(server.requestheader_client_ca_file.as_deref())?;
    let store = datastore.open().await?;
    let listener = tokio::net::TcpListener::bind(server.listen)
        .await
        .with_context(|| format!("listening on {}", server.listen))?;
    let mut shutdown = Shutdown::catch()?;
    print(&format!(
        "serving {} from {} on {}\n",
        nodestatus_apiserver::GROUP_VERSION,
        datastore.describe(),
        server.url()
    ))?;
    serve(listener, router(store, access), tls, async move {
        shutdown.recv().await
    })
    .await
    .context("serving")
}
