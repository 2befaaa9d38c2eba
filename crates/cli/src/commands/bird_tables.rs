//! Tables for humans, in the look of `calicoctl node status`: daemon status, BGP peers and
//! routes, one table per address family.

use comfy_table::{ContentLineStyle, LineStyle, Table, TableStyle};
use nodestatus_api::{BgpPeerType, NodeStatusClass, RouteSourceType, RouteType};
use nodestatus_bird::{Family, Part, Snapshot, Source, Status, map_snapshot, peers};

/// `calicoctl`'s ASCII frame: `+---+` borders, `|` columns, no lines between rows.
const STYLE: TableStyle = TableStyle::new()
    .top_border(LineStyle::new('+', '-', '+', '+'))
    .header_lines(ContentLineStyle::new('|', '|', '|'))
    .header_separator(LineStyle::new('+', '-', '+', '+'))
    .content_lines(ContentLineStyle::new('|', '|', '|'))
    .bottom_border(LineStyle::new('+', '-', '+', '+'));

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(STYLE);
    t.set_header(header.to_vec());
    t
}

fn titled(title: String, body: Result<Table, String>) -> String {
    match body {
        Ok(t) => format!("{title}\n{t}\n"),
        Err(why) => format!("{title}\n{why}\n"),
    }
}

/// The daemon status of both families: state, version, router ID, times, socket.
pub(crate) fn status_table(snapshot: &Snapshot) -> String {
    let mut t = table(&[
        "FAMILY",
        "STATE",
        "VERSION",
        "ROUTER ID",
        "SERVER TIME",
        "LAST BOOT",
        "LAST RECONFIGURATION",
        "SOCKET",
    ]);
    for family in Family::ALL {
        let row: Vec<String> = match snapshot.source(family) {
            Source::Unreachable(u) => vec![
                family.label().to_owned(),
                "NotReady".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                u.to_string(),
            ],
            Source::Daemon(d) => {
                let s = d.status.collected();
                let field =
                    |f: fn(&Status) -> Option<&String>| s.and_then(f).cloned().unwrap_or_default();
                let state = match &d.status {
                    Part::Failed(e) => format!("Ready ({e})"),
                    _ => "Ready".to_owned(),
                };
                vec![
                    family.label().to_owned(),
                    state,
                    s.map_or_else(|| d.version.clone(), |s| s.version.clone()),
                    field(|s| s.router_id.as_ref()),
                    field(|s| s.server_time.as_ref()),
                    field(|s| s.last_reboot.as_ref()),
                    field(|s| s.last_reconfiguration.as_ref()),
                    d.socket.display().to_string(),
                ]
            }
        };
        t.add_row(row);
    }
    format!("BIRD status\n{t}\n")
}

/// `calicoctl`'s wording of the peer types.
fn peer_type_label(t: Option<BgpPeerType>) -> &'static str {
    match t {
        Some(BgpPeerType::NodeMesh) => "node-to-node mesh",
        Some(BgpPeerType::NodePeer) => "node specific",
        Some(BgpPeerType::GlobalPeer) => "global",
        None => "",
    }
}

/// The Calico BGP peers of one family: address, type, protocol state, since, BGP state and
/// reason (as `calicoctl node status` shows them).
pub(crate) fn peers_table(snapshot: &Snapshot, family: Family) -> String {
    let title = format!("{family} BGP status");
    let body = match snapshot.source(family) {
        Source::Unreachable(u) => Err(format!("BIRD unreachable: {u}")),
        Source::Daemon(d) => match &d.protocols {
            Part::Collected(protocols) => {
                let mut t = table(&["PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"]);
                let mut n = 0;
                for (protocol, peer) in peers(d, protocols, family) {
                    let info = protocol.bgp.as_ref().map_or_else(String::new, |b| {
                        match (b.state.as_deref().unwrap_or(""), b.reason.as_str()) {
                            (s, "") => s.to_owned(),
                            ("", r) => r.to_owned(),
                            (s, r) => format!("{s} {r}"),
                        }
                    });
                    t.add_row(vec![
                        peer.peer_ip,
                        peer_type_label(peer.peer_type).to_owned(),
                        protocol.state.clone(),
                        peer.since,
                        info,
                    ]);
                    n += 1;
                }
                if n == 0 {
                    Err(format!("No {family} peers found."))
                } else {
                    Ok(t)
                }
            }
            Part::Failed(e) => Err(e.to_string()),
            Part::NotRequested => Err("not collected".to_owned()),
        },
    };
    titled(title, body)
}

fn source_label(t: Option<RouteSourceType>) -> &'static str {
    match t {
        Some(RouteSourceType::Kernel) => "Kernel",
        Some(RouteSourceType::Static) => "Static",
        Some(RouteSourceType::Direct) => "Direct",
        Some(RouteSourceType::NodeMesh) => "NodeMesh",
        Some(RouteSourceType::BgpPeer) => "BGPPeer",
        None => "",
    }
}

/// The routes of one family as the status reports them (one row per next hop).
pub(crate) fn routes_table(snapshot: &Snapshot, family: Family) -> String {
    let title = format!("{family} routes");
    let body = match snapshot.source(family) {
        Source::Unreachable(u) => Err(format!("BIRD unreachable: {u}")),
        Source::Daemon(d) => match &d.routes {
            Part::Collected(_) => {
                let status = map_snapshot(snapshot, &[NodeStatusClass::Routes]).status;
                let routes = status.routes.unwrap_or_default();
                let list = routes.routes(family);
                let mut t = table(&[
                    "TYPE",
                    "DESTINATION",
                    "GATEWAY",
                    "INTERFACE",
                    "SOURCE",
                    "PEER",
                ]);
                for r in list {
                    t.add_row(vec![
                        match r.route_type {
                            Some(RouteType::Fib) => "FIB",
                            Some(RouteType::Rib) => "RIB",
                            None => "",
                        },
                        &r.destination,
                        &r.gateway,
                        &r.interface,
                        source_label(r.learned_from.source_type),
                        &r.learned_from.peer_ip,
                    ]);
                }
                if list.is_empty() {
                    Err(format!("No {family} routes found."))
                } else {
                    Ok(t)
                }
            }
            Part::Failed(e) => Err(e.to_string()),
            Part::NotRequested => Err("not collected".to_owned()),
        },
    };
    titled(title, body)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use nodestatus_bird::{Daemon, Reply, RouteTable, Unreachable, parse_protocols, parse_status};

    use super::*;

    fn snapshot() -> Snapshot {
        let reply = |t: &str| Reply::from_bytes(t).unwrap();
        let d = Arc::new(Daemon {
            socket: PathBuf::from("/var/run/calico/bird.ctl"),
            version: "2.0.12".into(),
            status: Part::Collected(
                parse_status(&reply(include_str!(
                    "../../../bird/tests/fixtures/loopback-bird2/c-bird-show_status.txt"
                )))
                .unwrap(),
            ),
            protocols: Part::Collected(
                parse_protocols(&reply(include_str!(
                    "../../../bird/tests/fixtures/loopback-bird2/c-bird-show_protocols_all.txt"
                )))
                .unwrap(),
            ),
            routes: Part::Collected(
                RouteTable::parse(reply(include_str!(
                    "../../../bird/tests/fixtures/loopback-bird2/c-bird-show_route.txt"
                )))
                .unwrap(),
            ),
        });
        Snapshot {
            v4: Source::Daemon(d),
            v6: Source::Unreachable(Arc::new(Unreachable { errors: vec![] })),
        }
    }

    #[test]
    fn peers_table_looks_like_calicoctl_node_status() {
        assert_eq!(
            peers_table(&snapshot(), Family::V4),
            "IPv4 BGP status
+--------------+-------------------+-------+--------------+-----------------------------------+
| PEER ADDRESS | PEER TYPE         | STATE | SINCE        | INFO                              |
+--------------+-------------------+-------+--------------+-----------------------------------+
| 127.0.0.2    | node-to-node mesh | up    | 00:51:31.930 | Established                       |
| 127.0.0.3    | node specific     | start | 00:51:27.899 | Active Socket: Connection refused |
| 127.0.0.4    | global            | start | 00:51:27.899 | Passive                           |
| 127.0.0.5    | node-to-node mesh | down  | 00:51:27.899 | Down                              |
+--------------+-------------------+-------+--------------+-----------------------------------+
"
        );
        assert_eq!(
            peers_table(&snapshot(), Family::V6),
            "IPv6 BGP status\nBIRD unreachable: no BIRD socket configured\n"
        );
    }

    #[test]
    fn routes_table_has_a_row_per_status_route() {
        let table = routes_table(&snapshot(), Family::V4);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows[0], "IPv4 routes");
        assert_eq!(
            rows[2],
            "| TYPE | DESTINATION       | GATEWAY | INTERFACE   | SOURCE   | PEER      |"
        );
        assert_eq!(
            rows[9],
            "| FIB  | 192.168.30.0/26   | N/A     | unreachable | NodeMesh | 127.0.0.2 |"
        );
        assert_eq!(rows.len(), 4 + 6 + 1);
    }

    #[test]
    fn status_table_shows_both_families() {
        let table = status_table(&snapshot());
        assert!(
            table.contains("| IPv4   | Ready    | 2.0.12  | 127.0.0.1 | 2026-11-25 00:51:48.160 |"),
            "{table}"
        );
        assert!(table.contains("| IPv6   | NotReady |"), "{table}");
    }
}
