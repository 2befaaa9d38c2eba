//! `nodestatus apply -f FILE`: creates resources or updates their spec, like `kubectl apply`.
//! Every document is validated before anything is stored, so an invalid file changes nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use nodestatus_api::{CalicoNodeStatus, DocumentError, parse_documents, read_bounded, warnings};
use nodestatus_store::{Datastore, StoreError};

use crate::datastore::DatastoreArgs;
use crate::output::print;

/// Create resources or update their spec from a file.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// YAML or JSON: one or more `---`-separated documents or a List, in either apiVersion
    /// (`projectcalico.org/v3` or `crd.projectcalico.org/v1`); `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    file: PathBuf,
}

/// What `apply` did to one resource, as kubectl words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }
}

pub(crate) async fn run(args: Args, datastore: &DatastoreArgs) -> anyhow::Result<()> {
    let source = args.file.display().to_string();
    let text = read(&args.file).await?;
    let documents = match parse_documents(&text) {
        Ok(documents) => documents,
        Err(errors) => {
            for error in &errors.0 {
                for line in error_lines(error) {
                    eprintln!("error: {source}: {line}");
                }
            }
            bail!(
                "nothing was applied: {} invalid document{} in {source}",
                errors.0.len(),
                if errors.0.len() == 1 { "" } else { "s" }
            );
        }
    };
    if documents.is_empty() {
        bail!("no objects passed to apply: {source} has no resource");
    }
    for document in &documents {
        let name = document.object.metadata.name.as_deref().unwrap_or_default();
        for warning in warnings(&document.object) {
            eprintln!("warning: {source}: {name}: {warning}");
        }
    }
    let store = datastore.open().await?;
    let mut failed = 0;
    for document in documents {
        let name = document.object.metadata.name.clone().unwrap_or_default();
        match apply(store.as_ref(), document.object).await {
            Ok((outcome, metadata_kept)) => {
                if metadata_kept {
                    eprintln!(
                        "warning: {name}: labels and annotations of an existing resource are \
                         not changed by apply (only its spec is); delete it and apply again to \
                         replace them"
                    );
                }
                print(&format!(
                    "caliconodestatus.projectcalico.org/{name} {}\n",
                    outcome.as_str()
                ))?
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: applying {name}: {e}");
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} resource{} from {source} could not be applied",
            if failed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Reads the file (or standard input), refusing one larger than the document reader accepts
/// as soon as the limit is passed, so a huge file is never held in memory.
async fn read(file: &Path) -> anyhow::Result<String> {
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        if file == Path::new("-") {
            read_bounded(std::io::stdin().lock()).context("reading standard input")
        } else {
            std::fs::File::open(&file)
                .and_then(read_bounded)
                .with_context(|| format!("reading {}", file.display()))
        }
    })
    .await
    .context("reading the input")?
}

/// One line per problem: a document's syntax error, or each field of an invalid document.
fn error_lines(error: &DocumentError) -> Vec<String> {
    match error {
        DocumentError::Syntax { .. } | DocumentError::TooLarge { .. } => vec![error.to_string()],
        DocumentError::Invalid {
            index,
            name,
            errors,
        } => {
            let at = match name {
                Some(name) => format!("document {index} ({name})"),
                None => format!("document {index}"),
            };
            errors
                .errors()
                .iter()
                .map(|e| format!("{at}: {e}"))
                .collect()
        }
    }
}

/// Creates the resource, or replaces its spec when it exists and the spec differs. The status
/// is the agent's: one in the file is ignored, and an existing one is kept. Also says whether
/// the file's labels or annotations differ from an existing resource's, which stay as they are
/// (the datastores' spec update does not carry them).
async fn apply(
    store: &dyn Datastore,
    obj: CalicoNodeStatus,
) -> Result<(Outcome, bool), StoreError> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    match store.get(&name).await {
        Ok(current) => {
            let kept = !same_map(&current.metadata.labels, &obj.metadata.labels)
                || !same_map(&current.metadata.annotations, &obj.metadata.annotations);
            if current.spec == obj.spec {
                return Ok((Outcome::Unchanged, kept));
            }
            store.update_spec(&name, &obj.spec, None).await?;
            Ok((Outcome::Configured, kept))
        }
        Err(StoreError::NotFound { .. }) => {
            let fresh = CalicoNodeStatus {
                metadata: ObjectMeta {
                    name: Some(name),
                    labels: obj.metadata.labels,
                    annotations: obj.metadata.annotations,
                    ..ObjectMeta::default()
                },
                spec: obj.spec,
                status: None,
            };
            store.create(&fresh).await?;
            Ok((Outcome::Created, false))
        }
        Err(e) => Err(e),
    }
}

/// Equal label or annotation maps, an absent one being empty.
fn same_map(
    a: &Option<std::collections::BTreeMap<String, String>>,
    b: &Option<std::collections::BTreeMap<String, String>>,
) -> bool {
    a.as_ref().filter(|m| !m.is_empty()) == b.as_ref().filter(|m| !m.is_empty())
}
