//! `nodestatus get`: resources as a table (kubectl-like), wide table, or YAML/JSON in the
//! `projectcalico.org/v3` form; with `-w`, changes as they happen until interrupted.

use std::io::Write;

use anyhow::{Context, bail};
use futures::StreamExt;
use jiff::Timestamp;
use nodestatus_api::columns::{COLUMNS, Column, cells};
use nodestatus_api::{ApiVersion, CalicoNodeStatus, Written, WrittenList, write_json, write_yaml};
use nodestatus_store::{Datastore, NodeFilter, StoreError, WatchEvent, resynced};

use crate::datastore::DatastoreArgs;
use crate::output::{Shutdown, print, print_with};
use crate::table;

/// Show CalicoNodeStatus resources.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The resource to show; every resource when omitted.
    name: Option<String>,

    /// Output format: `table` (default), `wide` (per address family), `yaml` or `json`.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,

    /// After the current state, print every change as it happens until interrupted.
    #[arg(short, long)]
    watch: bool,

    /// Only resources whose spec.node is this node.
    #[arg(long, value_name = "NODE", conflicts_with = "name")]
    node: Option<String>,

    /// Keep `metadata.managedFields` (who set which field, written by the API server) in YAML
    /// and JSON output; like kubectl, they are left out otherwise.
    #[arg(long)]
    show_managed_fields: bool,
}

impl Args {
    /// The objects as printed: without `managedFields` unless asked for.
    fn shown(&self, mut objects: Vec<CalicoNodeStatus>) -> Vec<CalicoNodeStatus> {
        if !self.show_managed_fields {
            for obj in &mut objects {
                obj.metadata.managed_fields = None;
            }
        }
        objects
    }
}

/// How resources are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// NAME, NODE, CLASSES, PERIOD, BGP, ROUTES, LAST UPDATED.
    Table,
    /// The table with the BIRD daemons' state and per-family counts.
    Wide,
    /// YAML, `projectcalico.org/v3`.
    Yaml,
    /// JSON, `projectcalico.org/v3`.
    Json,
}

pub(crate) async fn run(args: Args, datastore: &DatastoreArgs) -> anyhow::Result<()> {
    let store = datastore.open_existing().await?;
    if args.watch {
        return watch(&args, store.as_ref()).await;
    }
    let now = Timestamp::now();
    match &args.name {
        Some(name) => {
            let obj = store
                .get(name)
                .await
                .with_context(|| format!("getting {name}"))?;
            let obj = args.shown(vec![obj]).remove(0);
            let written = v3(&obj);
            match args.output {
                Format::Yaml => print_with(|out| Ok(write_yaml(out, &written)?)),
                Format::Json => print_with(|out| Ok(write_json(out, &written)?)),
                Format::Table | Format::Wide => {
                    print(&render_table(args.output, std::slice::from_ref(&obj), now))
                }
            }
        }
        None => {
            let mut listing = store
                .list(&filter(&args))
                .await
                .context("listing resources")?;
            listing.items = args.shown(listing.items);
            let list = WrittenList {
                items: &listing.items,
                api_version: ApiVersion::V3,
                revision: Some(&listing.revision),
            };
            match args.output {
                Format::Yaml => print_with(|out| Ok(write_yaml(out, &list)?)),
                Format::Json => print_with(|out| Ok(write_json(out, &list)?)),
                Format::Table | Format::Wide if listing.items.is_empty() => {
                    eprintln!("No resources found.");
                    Ok(())
                }
                Format::Table | Format::Wide => {
                    print(&render_table(args.output, &listing.items, now))
                }
            }
        }
    }
}

fn filter(args: &Args) -> NodeFilter {
    args.node.clone().map_or(NodeFilter::All, NodeFilter::Node)
}

/// Lists, prints, then follows the store's watch from the listing's revision so that no change
/// in between is missed.
async fn watch(args: &Args, store: &dyn Datastore) -> anyhow::Result<()> {
    let mut shutdown = Shutdown::catch()?;
    let filter = filter(args);
    let listing = store.list(&filter).await.context("listing resources")?;
    let wanted = |obj: &CalicoNodeStatus| {
        args.name
            .as_ref()
            .is_none_or(|n| obj.metadata.name.as_ref() == Some(n))
    };
    let first: Vec<CalicoNodeStatus> = args.shown(
        listing
            .items
            .iter()
            .filter(|o| wanted(o))
            .cloned()
            .collect(),
    );
    if let Some(name) = &args.name
        && first.is_empty()
    {
        return Err(StoreError::NotFound { name: name.clone() })
            .with_context(|| format!("getting {name}"));
    }
    let mut printer = WatchPrinter::new(args.output);
    printer.print(&first)?;
    let events = store
        .watch(&filter, Some(&listing.revision))
        .await
        .context("watching resources")?;
    // A watch that fell behind the store's history restarts with a full list; printed as is, it
    // would lose the deletes meanwhile and print older resource versions after newer ones.
    let mut events = resynced(&listing, events);
    loop {
        tokio::select! {
            () = shutdown.recv() => return Ok(()),
            event = events.next() => {
                let changed = match event {
                    None => bail!("the datastore ended the watch"),
                    Some(Err(e)) => return Err(e).context("watching resources"),
                    Some(Ok(WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o))) => vec![o],
                    // `resynced` turns these into the changes above; a list is printed whole.
                    Some(Ok(WatchEvent::Restarted(listing))) => listing.items,
                };
                let changed = args.shown(changed.into_iter().filter(|o| wanted(o)).collect());
                printer.print(&changed)?;
            }
        }
    }
}

/// Prints a watch's objects: the table header once with the first rows, later rows aligned
/// under it; or each object as its own YAML/JSON document.
struct WatchPrinter {
    format: Format,
    /// Column widths once the header is out.
    widths: Option<Vec<u16>>,
}

/// A resource as `get -o yaml|json` prints it.
fn v3(object: &CalicoNodeStatus) -> Written<'_> {
    Written {
        object,
        api_version: ApiVersion::V3,
    }
}

impl WatchPrinter {
    fn new(format: Format) -> Self {
        Self {
            format,
            widths: None,
        }
    }

    fn print(&mut self, objs: &[CalicoNodeStatus]) -> anyhow::Result<()> {
        if objs.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        match self.format {
            Format::Yaml => objs.iter().try_for_each(|object| {
                print_with(|out| {
                    out.write_all(b"---\n")?;
                    Ok(write_yaml(out, &v3(object))?)
                })
            }),
            Format::Json => objs
                .iter()
                .try_for_each(|object| print_with(|out| Ok(write_json(out, &v3(object))?))),
            Format::Table | Format::Wide => {
                let headers = headers(self.format);
                let rows: Vec<Vec<String>> =
                    objs.iter().map(|o| row(self.format, o, now)).collect();
                match &mut self.widths {
                    Some(widths) => print(&table::render_more(widths, &rows)),
                    None => {
                        self.widths = Some(table::widths(&headers, &rows));
                        print(&table::render(&headers, &rows))
                    }
                }
            }
        }
    }
}

/// The shared columns this format shows (the plain table leaves out the wide-only ones).
fn shown(format: Format) -> impl Iterator<Item = (usize, &'static Column)> {
    COLUMNS
        .iter()
        .enumerate()
        .filter(move |(_, c)| format == Format::Wide || !c.wide_only)
}

fn headers(format: Format) -> Vec<&'static str> {
    shown(format).map(|(_, c)| c.header).collect()
}

fn render_table(format: Format, objs: &[CalicoNodeStatus], now: Timestamp) -> String {
    let rows: Vec<Vec<String>> = objs.iter().map(|o| row(format, o, now)).collect();
    table::render(&headers(format), &rows)
}

/// One resource's cells, from the columns `kubectl get` shows through the API server too.
fn row(format: Format, obj: &CalicoNodeStatus, now: Timestamp) -> Vec<String> {
    let all = cells(obj, now);
    shown(format)
        .filter_map(|(i, _)| all.get(i).cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use nodestatus_api::columns::NONE;
    use nodestatus_api::{
        AgentStatus, BgpDaemonState, BgpDaemonStatus, BgpStatus, CalicoNodeStatusSpec,
        CalicoNodeStatusStatus, NodeStatusClass, Route, RouteStatus, RoutesTruncated,
    };

    use super::*;

    fn resource(status: Option<CalicoNodeStatusStatus>) -> CalicoNodeStatus {
        let mut obj = CalicoNodeStatus::new(
            "status-n1",
            CalicoNodeStatusSpec {
                classes: NodeStatusClass::ALL.to_vec(),
                node: "n1".into(),
                update_period_seconds: 10,
            },
        );
        obj.status = status;
        obj
    }

    fn full_status() -> CalicoNodeStatusStatus {
        CalicoNodeStatusStatus {
            last_updated: Some("2025-01-01T00:00:00Z".into()),
            agent: Some(AgentStatus {
                bird_v4: BgpDaemonStatus {
                    state: Some(BgpDaemonState::Ready),
                    ..Default::default()
                },
                bird_v6: BgpDaemonStatus {
                    state: Some(BgpDaemonState::NotReady),
                    ..Default::default()
                },
            }),
            bgp: Some(BgpStatus {
                number_established_v4: 2,
                number_not_established_v4: 1,
                number_established_v6: 0,
                number_not_established_v6: 3,
                ..Default::default()
            }),
            routes: Some(RouteStatus {
                routes_v4: vec![Route::default(); 4],
                routes_v6: vec![Route::default(); 1],
                truncated: None,
            }),
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_row_sums_both_families() {
        let obj = resource(Some(full_status()));
        assert_eq!(
            row(Format::Table, &obj, at("2025-01-01T00:03:05Z")),
            [
                "status-n1",
                "n1",
                "Agent,BGP,Routes",
                "10s",
                "2/6 established",
                "5",
                "3m5s"
            ]
        );
    }

    #[test]
    fn a_wide_row_shows_each_family() {
        let obj = resource(Some(full_status()));
        assert_eq!(
            row(Format::Wide, &obj, at("2025-01-01T00:00:07Z")),
            [
                "status-n1",
                "n1",
                "Agent,BGP,Routes",
                "10s",
                "v4 Ready, v6 NotReady",
                "2/6 established",
                "2/3 established",
                "0/3 established",
                "5",
                "4",
                "1",
                "7s"
            ]
        );
    }

    #[test]
    fn a_truncated_status_shows_kept_and_reported_routes() {
        let mut status = full_status();
        let routes = status.routes.as_mut().unwrap();
        routes.routes_v4 = vec![Route::default(); 18_400];
        routes.routes_v6 = vec![];
        routes.truncated = Some(RoutesTruncated {
            total_v4: 80_000,
            total_v6: 20_000,
        });
        let obj = resource(Some(status));
        let row = row(Format::Wide, &obj, at("2025-01-01T00:00:07Z"));
        assert_eq!(
            row[8..11],
            [
                "18,400/100,000 (truncated)",
                "18,400/80,000 (truncated)",
                "0/20,000 (truncated)"
            ]
        );
    }

    #[test]
    fn a_resource_without_status_shows_none() {
        let mut obj = resource(None);
        obj.spec.update_period_seconds = 0;
        assert_eq!(
            row(Format::Wide, &obj, at("2025-01-01T00:00:00Z")),
            [
                "status-n1",
                "n1",
                "Agent,BGP,Routes",
                "off",
                NONE,
                NONE,
                NONE,
                NONE,
                NONE,
                NONE,
                NONE,
                NONE
            ]
        );
    }
}
