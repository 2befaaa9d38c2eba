//! BIRD configurations shaped like those Calico's confd renders (`bird.cfg`, `bird6.cfg`,
//! `bird_ipam.cfg`, `bird_aggr.cfg`): same protocol names, filters, template and session options,
//! with lab addresses and short timers. BIRD 2 gets the equivalent with `ipv4 {}`/`ipv6 {}`
//! channels; BIRD 2.17 and 3 run that BIRD 2 configuration unchanged (BIRD 3.1 accepts it all).

use std::path::Path;

use crate::spec::{BirdVersion, Family};
use crate::topology::{self, Session, SessionKind};

/// The daemons of a node and the families each serves.
pub(crate) fn daemons(bird: BirdVersion) -> &'static [(&'static str, &'static [Family])] {
    match bird {
        BirdVersion::V1_6 => &[("bird", &[Family::V4]), ("bird6", &[Family::V6])],
        BirdVersion::V2 | BirdVersion::V2_17 | BirdVersion::V3 => {
            &[("bird", &[Family::V4, Family::V6])]
        }
    }
}

/// The binary that runs a daemon. BIRD 2.17 and 3 are Debian 13's, which need Debian 13's C
/// library: the wrapper scripts/install-bird-current.sh writes runs them through its loader
/// (`exec`, so the daemon keeps the wrapper's PID).
pub(crate) fn binary(bird: BirdVersion, daemon: &str) -> &'static str {
    match (bird, daemon) {
        (BirdVersion::V1_6, "bird6") => "/usr/sbin/bird6",
        (BirdVersion::V1_6, _) => "/usr/sbin/bird",
        (BirdVersion::V2, _) => "/opt/nodestatus/bird2/usr/sbin/bird",
        (BirdVersion::V2_17, _) => "/opt/nodestatus/bird2.17/bin/bird",
        (BirdVersion::V3, _) => "/opt/nodestatus/bird3/bin/bird",
    }
}

/// Timers shorter than Calico's (connect delay 1 s, retry 3 s) so sessions come up in seconds.
const TIMERS: &str = "  graceful restart;  # As Calico: reduces route flaps on reconfiguration.
  connect delay time 1;
  connect retry time 3;
  error wait time 1,5;
  hold time 9;
";

/// The config texts of node `i`, in [`daemons`] order.
pub(crate) fn render(bird: BirdVersion, nodes: usize, i: usize, node_dir: &Path) -> Vec<String> {
    let sessions = topology::sessions(bird, nodes, i);
    let log = |daemon: &str| node_dir.join(format!("{daemon}.log")).display().to_string();
    match bird {
        BirdVersion::V1_6 => vec![
            bird16(Family::V4, i, &sessions, &log("bird")),
            bird16(Family::V6, i, &sessions, &log("bird6")),
        ],
        BirdVersion::V2 | BirdVersion::V2_17 | BirdVersion::V3 => {
            vec![bird2(i, &sessions, &log("bird"))]
        }
    }
}

fn header(version: &str, i: usize, log: &str) -> String {
    format!(
        "# BIRD {version} configuration of lab node n{i}, written by nodestatus-lab in the shape of\n\
         # Calico's confd output (bird.cfg, bird_ipam.cfg, bird_aggr.cfg).\n\
         log \"{log}\" all;\n\
         router id {};  # The node's IPv4 address, as Calico does (also for IPv6).\n\n",
        topology::router_id(i)
    )
}

/// `protocol static`: the node's IPAM block and the shared block as blackholes (exported), and an
/// unreachable block outside the pool (kept local).
fn static_routes(f: Family, i: usize) -> String {
    let mut s = format!(
        "  # IP blocks for this host.\n  route {} blackhole;\n",
        topology::block(i, f)
    );
    if topology::shares_block(i) {
        s += &format!(
            "  # Anycast block, announced by n1 and n2.\n  route {} blackhole;\n",
            topology::shared_block(f)
        );
    }
    s += &format!(
        "  # Outside the IP pool: never exported.\n  route {} unreachable;\n",
        topology::unreachable_block(i, f)
    );
    s
}

/// The body of `calico_aggr` and `calico_export_to_bgp_peers` (bird_aggr.cfg, bird_ipam.cfg):
/// export the block itself, nothing beneath it, and whatever else lies in the IP pool.
fn export_functions(f: Family, i: usize, suffix: &str) -> String {
    let block = topology::block(i, f);
    format!(
        "# Aggregation of routes on this host; export the block, nothing beneath it.\n\
         function calico_aggr{suffix} ()\n{{\n\
         \x20 # Block {block} is confirmed.\n\
         \x20 if ( net = {block} ) then {{ accept; }}\n\
         \x20 if ( net ~ {block} ) then {{ reject; }}\n}}\n\n\
         function calico_export_to_bgp_peers{suffix} ()\n{{\n\
         \x20 calico_aggr{suffix}();\n\
         \x20 if ( net ~ {} ) then {{ accept; }}\n}}\n\n",
        topology::pool(f)
    )
}

const KERNEL_OPTIONS: &str = "  learn;             # Learn all alien routes from the kernel
  persist;           # Don't remove routes on bird shutdown
  scan time 2;       # Scan kernel routing table every 2 seconds
  graceful restart;
  merge paths on;    # Allow export multipath routes (ECMP)
";

const DEVICE_AND_DIRECT_INTERFACES: &str = "interface -\"cali*\", -\"kube-ipvs*\", \"*\";";

fn session_body(s: &Session, i: usize) -> String {
    let mut body = format!(
        "  neighbor {} as {};\n  source address {};  # The local address we use for the TCP connection\n",
        s.neighbor,
        s.neighbor_as,
        topology::node_ip(i, s.family())
    );
    if s.passive {
        body += "  passive on; # Mesh is unidirectional, peer will connect to us.\n";
    }
    if s.kind == SessionKind::Mesh {
        body += "  graceful restart time 120;\n";
    }
    body
}

fn section_title(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Mesh => "Node-to-node mesh",
        SessionKind::Global => "Global peers",
        SessionKind::Node => "Node-specific peers",
    }
}

/// The sessions of one family grouped under Calico's section titles; `extra` adds lines per session.
fn bgp_sections(
    sessions: &[Session],
    f: Family,
    template: impl Fn(&Session) -> &'static str,
    extra: impl Fn(&Session) -> String,
    i: usize,
) -> String {
    let mut out = String::new();
    for kind in [SessionKind::Mesh, SessionKind::Global, SessionKind::Node] {
        out += &format!(
            "# ------------- {} ({}) -------------\n",
            section_title(kind),
            f.label()
        );
        for s in sessions
            .iter()
            .filter(|s| s.kind == kind && s.family() == f)
        {
            out += &format!(
                "protocol bgp {} from {} {{\n{}{}}}\n\n",
                s.name,
                template(s),
                session_body(s, i),
                extra(s)
            );
        }
    }
    out
}

fn bird16(f: Family, i: usize, sessions: &[Session], log: &str) -> String {
    let mut out = header("1.6", i, log);
    out += &format!("protocol static static1 {{\n{}}}\n\n", static_routes(f, i));
    out += &export_functions(f, i, "");
    out += "filter calico_kernel_programming {\n  accept;\n}\n\n";
    out += &format!(
        "# Configure synchronization between routing tables and kernel.\n\
         protocol kernel kernel1 {{\n{KERNEL_OPTIONS}\
         \x20 import all;\n\
         \x20 export filter calico_kernel_programming; # Default is export none\n}}\n\n\
         # Watch interface up/down events.\n\
         protocol device device1 {{\n  scan time 2;    # Scan interfaces every 2 seconds\n}}\n\n\
         protocol direct direct1 {{\n  debug {{ states }};\n  {DEVICE_AND_DIRECT_INTERFACES}\n}}\n\n"
    );
    // Calico's IPv4 template is multihop for every session; its IPv6 mesh is not.
    let multihop = if f == Family::V4 { "  multihop;\n" } else { "" };
    out += &format!(
        "# Template for all BGP clients\n\
         template bgp bgp_template {{\n\
         \x20 debug {{ states }};\n\
         \x20 description \"Connection to BGP peer\";\n\
         \x20 local as {};\n{multihop}\
         \x20 gateway recursive; # This should be the default, but just in case.\n\
         \x20 import all;\n\
         \x20 export filter {{ calico_export_to_bgp_peers(); reject; }};  # Only want to export routes for workloads.\n\
         \x20 add paths on;\n{TIMERS}}}\n\n",
        topology::NODE_AS
    );
    let extra = |s: &Session| {
        if f == Family::V6 && s.kind != SessionKind::Mesh {
            "  multihop;\n".to_string()
        } else {
            String::new()
        }
    };
    out += &bgp_sections(sessions, f, |_| "bgp_template", extra, i);
    out
}

fn channel(f: Family, next_hop: Option<String>) -> String {
    let (name, suffix) = match f {
        Family::V4 => ("ipv4", "_v4"),
        Family::V6 => ("ipv6", "_v6"),
    };
    let next_hop = next_hop
        .map(|ip| format!("    next hop address {ip};  # IPv6 routes over an IPv4 session need an IPv6 next hop.\n"))
        .unwrap_or_default();
    format!(
        "  {name} {{\n\
         \x20   gateway recursive;\n{next_hop}\
         \x20   import all;\n\
         \x20   export filter {{ calico_export_to_bgp_peers{suffix}(); reject; }};\n\
         \x20   add paths on;\n\
         \x20 }};\n"
    )
}

fn bird2(i: usize, sessions: &[Session], log: &str) -> String {
    let mut out = header("2", i, log);
    for (f, name, channel_name) in [
        (Family::V4, "static1", "ipv4"),
        (Family::V6, "static2", "ipv6"),
    ] {
        out += &format!(
            "protocol static {name} {{\n  {channel_name};\n{}}}\n\n",
            static_routes(f, i)
        );
    }
    out += &export_functions(Family::V4, i, "_v4");
    out += &export_functions(Family::V6, i, "_v6");
    out += "filter calico_kernel_programming {\n  accept;\n}\n\n";
    out += "# Configure synchronization between routing tables and kernel.\n";
    for (name, channel_name) in [("kernel1", "ipv4"), ("kernel2", "ipv6")] {
        out += &format!(
            "protocol kernel {name} {{\n\
             \x20 {channel_name} {{\n\
             \x20   import all;\n\
             \x20   export filter calico_kernel_programming;\n\
             \x20 }};\n{KERNEL_OPTIONS}}}\n\n"
        );
    }
    out += &format!(
        "# Watch interface up/down events.\n\
         protocol device device1 {{\n  scan time 2;    # Scan interfaces every 2 seconds\n}}\n\n\
         protocol direct direct1 {{\n  debug {{ states }};\n  ipv4;\n  ipv6;\n  {DEVICE_AND_DIRECT_INTERFACES}\n}}\n\n"
    );
    for (template, f, multihop) in [
        ("bgp_template", Family::V4, "  multihop;\n"),
        ("bgp_template6", Family::V6, ""),
    ] {
        out += &format!(
            "# Template for all {} BGP clients\n\
             template bgp {template} {{\n\
             \x20 debug {{ states }};\n\
             \x20 description \"Connection to BGP peer\";\n\
             \x20 local as {};\n{multihop}{}{TIMERS}}}\n\n",
            f.label(),
            topology::NODE_AS,
            channel(f, None)
        );
    }
    for f in Family::ALL {
        let template = |_: &Session| match f {
            Family::V4 => "bgp_template",
            Family::V6 => "bgp_template6",
        };
        let extra = |s: &Session| {
            let mut extra = String::new();
            if f == Family::V6 && s.kind != SessionKind::Mesh {
                extra += "  multihop;\n";
            }
            if f == Family::V4 && s.carries.contains(&Family::V6) {
                extra += "  # Multiprotocol: this IPv4 session carries IPv6 routes too.\n";
                extra += &channel(
                    Family::V6,
                    Some(topology::node_ip(i, Family::V6).to_string()),
                );
            }
            extra
        };
        out += &bgp_sections(sessions, f, template, extra, i);
    }
    out
}
