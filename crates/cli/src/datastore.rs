//! The datastore flags every command shares (`--datastore-type`, `--sqlite-path`, etcd's), read
//! also from Calico's environment variables, and opening the backend they name.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use nodestatus_store::Datastore;
use nodestatus_store_etcd::{EtcdConfig, EtcdStore};
use nodestatus_store_kube::KubeStore;
use nodestatus_store_sqlite::{DEFAULT_PATH, SqliteOptions, SqliteStore};

/// The backends, named as Calico's `DATASTORE_TYPE` names them (plus our `sqlite`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DatastoreType {
    /// One SQLite file shared by every process on this machine.
    #[default]
    Sqlite,
    /// etcd v3, with the keys Calico's etcdv3 datastore uses.
    Etcdv3,
    /// The Kubernetes API server (the `caliconodestatuses.crd.projectcalico.org` CRD); the
    /// client configuration comes from `--kubeconfig`, else `KUBECONFIG`, `~/.kube/config` or
    /// the in-cluster account.
    Kubernetes,
}

/// Where `CalicoNodeStatus` resources are stored. Global: accepted before or after the
/// subcommand.
#[derive(
    clap::Args, Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize,
)]
pub(crate) struct DatastoreArgs {
    /// The datastore backend.
    #[arg(
        long,
        global = true,
        help_heading = "Datastore",
        env = "DATASTORE_TYPE",
        value_enum,
        value_name = "TYPE",
        default_value_t
    )]
    pub(crate) datastore_type: DatastoreType,

    #[arg(
        long,
        global = true,
        help_heading = "Datastore",
        env = "NODESTATUS_SQLITE_PATH",
        value_name = "FILE",
        help = format!("The SQLite file, created when missing with its directory [default: {DEFAULT_PATH}]")
    )]
    pub(crate) sqlite_path: Option<PathBuf>,

    /// etcd client URLs, comma-separated (http:// or https://).
    #[arg(
        long,
        global = true,
        help_heading = "Datastore",
        env = "ETCD_ENDPOINTS",
        value_name = "URLS"
    )]
    pub(crate) etcd_endpoints: Option<String>,

    /// PEM CA bundle that signs etcd's server certificates.
    #[arg(
        long,
        global = true,
        help_heading = "Datastore",
        env = "ETCD_CA_CERT_FILE",
        value_name = "FILE"
    )]
    pub(crate) etcd_ca_cert_file: Option<PathBuf>,

    /// PEM client certificate for etcd (with --etcd-key-file).
    #[arg(
        long,
        global = true,
        help_heading = "Datastore",
        env = "ETCD_CERT_FILE",
        value_name = "FILE"
    )]
    pub(crate) etcd_cert_file: Option<PathBuf>,

    /// PEM private key of the etcd client certificate.
    #[arg(
        long,
        global = true,
        help_heading = "Datastore",
        env = "ETCD_KEY_FILE",
        value_name = "FILE"
    )]
    pub(crate) etcd_key_file: Option<PathBuf>,

    /// The kubeconfig file for `--datastore-type kubernetes` (as kubectl's flag); without it,
    /// `KUBECONFIG`, `~/.kube/config` or the in-cluster service account.
    #[arg(long, global = true, help_heading = "Datastore", value_name = "FILE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kubeconfig: Option<PathBuf>,
}

impl DatastoreArgs {
    /// Whether any datastore setting was given, by a flag or its environment variable, rather
    /// than left to its default (then the current context may choose: see `context`).
    pub(crate) fn named_in(matches: &clap::ArgMatches) -> bool {
        use clap::Args as _;
        use clap::parser::ValueSource;
        let flags = Self::augment_args(clap::Command::new("datastore"));
        flags.get_arguments().any(|arg| {
            matches!(
                matches.value_source(arg.get_id().as_str()),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        })
    }

    /// The SQLite file used when the backend is `sqlite`.
    pub(crate) fn sqlite_path(&self) -> PathBuf {
        self.sqlite_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
    }

    /// Opens the backend. SQLite creates the file's directory when missing; etcd checks its
    /// settings and answers a first request; Kubernetes loads its client configuration.
    pub(crate) async fn open(&self) -> anyhow::Result<Arc<dyn Datastore>> {
        match self.datastore_type {
            DatastoreType::Sqlite => {
                let path = self.sqlite_path();
                let store = tokio::task::spawn_blocking(move || open_sqlite(&path))
                    .await
                    .context("opening the SQLite datastore")??;
                Ok(Arc::new(store))
            }
            DatastoreType::Etcdv3 => {
                let config = self.etcd_config()?;
                let endpoints = config.endpoints.join(",");
                let store = EtcdStore::connect(config)
                    .await
                    .with_context(|| format!("connecting to etcd at {endpoints}"))?;
                Ok(Arc::new(store))
            }
            DatastoreType::Kubernetes => {
                let store = match &self.kubeconfig {
                    Some(path) => KubeStore::connect_kubeconfig(path).await,
                    None => KubeStore::connect().await,
                }
                .context("connecting to the Kubernetes API server")?;
                Ok(Arc::new(store))
            }
        }
    }

    /// Opens the backend for a command that only reads or deletes: a SQLite file that does not
    /// exist is an error naming it, not a new empty datastore (a mistyped path would otherwise
    /// print `No resources found.` and leave a file behind).
    pub(crate) async fn open_existing(&self) -> anyhow::Result<Arc<dyn Datastore>> {
        if self.datastore_type == DatastoreType::Sqlite {
            let path = self.sqlite_path();
            let exists = tokio::fs::try_exists(&path)
                .await
                .with_context(|| format!("looking for the SQLite datastore {}", path.display()))?;
            if !exists {
                anyhow::bail!(
                    "no SQLite datastore at {}: `nodestatus apply -f FILE` (or a running \
                     `nodestatus agent`) creates it; another file is named with --sqlite-path \
                     or NODESTATUS_SQLITE_PATH",
                    path.display()
                );
            }
        }
        self.open().await
    }

    fn etcd_config(&self) -> anyhow::Result<EtcdConfig> {
        let endpoints = self
            .etcd_endpoints
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let mut config = EtcdConfig::new(endpoints);
        config.ca_cert_file = self.etcd_ca_cert_file.clone();
        config.cert_file = self.etcd_cert_file.clone();
        config.key_file = self.etcd_key_file.clone();
        config
            .check()
            .context("invalid etcd settings (--etcd-endpoints / ETCD_ENDPOINTS, ETCD_*_FILE)")?;
        Ok(config)
    }

    /// The global flags that make another `nodestatus` process use this same datastore (the
    /// lab's agents). Paths are made absolute; Kubernetes settings other than `--kubeconfig`
    /// travel in the environment.
    pub(crate) fn to_args(&self) -> anyhow::Result<Vec<OsString>> {
        let mut args: Vec<OsString> = vec!["--datastore-type".into()];
        match self.datastore_type {
            DatastoreType::Sqlite => {
                args.push("sqlite".into());
                args.push("--sqlite-path".into());
                args.push(absolute(&self.sqlite_path())?.into());
            }
            DatastoreType::Etcdv3 => {
                args.push("etcdv3".into());
                args.push("--etcd-endpoints".into());
                args.push(self.etcd_config()?.endpoints.join(",").into());
                for (flag, file) in [
                    ("--etcd-ca-cert-file", &self.etcd_ca_cert_file),
                    ("--etcd-cert-file", &self.etcd_cert_file),
                    ("--etcd-key-file", &self.etcd_key_file),
                ] {
                    if let Some(file) = file {
                        args.push(flag.into());
                        args.push(absolute(file)?.into());
                    }
                }
            }
            DatastoreType::Kubernetes => {
                args.push("kubernetes".into());
                if let Some(path) = &self.kubeconfig {
                    args.push("--kubeconfig".into());
                    args.push(absolute(path)?.into());
                }
            }
        }
        Ok(args)
    }

    /// The same flags as one shell-ready string, for the commands the lab prints.
    pub(crate) fn to_command_line(&self) -> anyhow::Result<String> {
        Ok(self
            .to_args()?
            .iter()
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" "))
    }

    /// What the datastore is, for people: `sqlite /path`, `etcdv3 http://...`, `kubernetes`.
    pub(crate) fn describe(&self) -> String {
        match self.datastore_type {
            DatastoreType::Sqlite => format!("sqlite {}", self.sqlite_path().display()),
            DatastoreType::Etcdv3 => format!(
                "etcdv3 {}",
                self.etcd_endpoints.as_deref().unwrap_or_default()
            ),
            DatastoreType::Kubernetes => match &self.kubeconfig {
                Some(path) => format!("kubernetes {}", path.display()),
                None => "kubernetes".to_string(),
            },
        }
    }
}

fn open_sqlite(path: &Path) -> anyhow::Result<SqliteStore> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "creating the directory of the SQLite datastore {}",
                dir.display()
            )
        })?;
    }
    SqliteStore::open(path, SqliteOptions::default())
        .with_context(|| format!("opening the SQLite datastore {}", path.display()))
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// Quotes a word for a POSIX shell when it needs it.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_flags_carry_the_absolute_path() {
        let args = DatastoreArgs {
            sqlite_path: Some(PathBuf::from("/tmp/lab dir/x.db")),
            ..Default::default()
        };
        assert_eq!(
            args.to_args().unwrap(),
            [
                "--datastore-type",
                "sqlite",
                "--sqlite-path",
                "/tmp/lab dir/x.db"
            ]
            .map(OsString::from)
        );
        assert_eq!(
            args.to_command_line().unwrap(),
            "--datastore-type sqlite --sqlite-path '/tmp/lab dir/x.db'"
        );
    }

    #[test]
    fn etcd_flags_carry_endpoints_and_tls_files() {
        let args = DatastoreArgs {
            datastore_type: DatastoreType::Etcdv3,
            etcd_endpoints: Some(" https://10.0.0.1:2379, https://10.0.0.2:2379 ".into()),
            etcd_ca_cert_file: Some("/etc/etcd/ca.pem".into()),
            etcd_cert_file: Some("/etc/etcd/c.pem".into()),
            etcd_key_file: Some("/etc/etcd/k.pem".into()),
            ..Default::default()
        };
        assert_eq!(
            args.to_command_line().unwrap(),
            "--datastore-type etcdv3 --etcd-endpoints https://10.0.0.1:2379,https://10.0.0.2:2379 \
             --etcd-ca-cert-file /etc/etcd/ca.pem --etcd-cert-file /etc/etcd/c.pem --etcd-key-file /etc/etcd/k.pem"
        );
    }

    #[test]
    fn etcd_without_endpoints_is_refused_naming_the_variable() {
        let args = DatastoreArgs {
            datastore_type: DatastoreType::Etcdv3,
            ..Default::default()
        };
        let err = format!("{:#}", args.to_args().unwrap_err());
        assert_eq!(
            err,
            "invalid etcd settings (--etcd-endpoints / ETCD_ENDPOINTS, ETCD_*_FILE): \
             ETCD_ENDPOINTS is not set: give one or more comma-separated etcd client URLs"
        );
    }
}
