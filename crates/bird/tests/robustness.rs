//! Property tests: whatever BIRD (or a broken socket) sends, framing, parsing and mapping give a
//! value or a typed error — never a panic or a hang — and the framer never moves or loses a reply
//! boundary.
//!
//! Inputs: arbitrary bytes; lines in BIRD's framing with arbitrary text or text made of BIRD's own
//! words; and the real captures of `tests/fixtures/`, mutated line by line and byte by byte.
//! Case counts keep the file to about two seconds in a debug build (it runs on every push); 60
//! times as many found nothing more. A failing case is shrunk and its seed saved in
//! `robustness.proptest-regressions` beside this file, which is committed: saved cases are
//! replayed first on every run, so a failure seen once (in CI too) stays reproducible.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use nodestatus_api::{CalicoNodeStatusStatus, NodeStatusClass};
use nodestatus_bird::{
    ClientError, CollectError, Daemon, Family, FrameError, Framer, Part, Reply, RouteTable,
    SHOW_PROTOCOLS_ALL, SHOW_ROUTE, SHOW_STATUS, Snapshot, Source, Unreachable, map_snapshot,
    parse_protocols, parse_status, peers,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::FileFailurePersistence;

// ---------------------------------------------------------------------------------------------
// The captures.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Status,
    Protocols,
    Routes,
}

#[derive(Debug)]
struct Capture {
    /// `bird2/n1-bird-show_route_all.txt`, for failure messages.
    name: String,
    set: String,
    node: String,
    daemon: String,
    /// `show_route_all`.
    command_name: String,
    command: Command,
    bytes: Vec<u8>,
}

/// Every capture, sorted by name so that an index picks the same file on every machine (saved
/// regressions hold indices).
static CAPTURES: LazyLock<Vec<Capture>> = LazyLock::new(|| {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut captures = Vec::new();
    for set in std::fs::read_dir(&root).unwrap() {
        let set = set.unwrap().path();
        if !set.is_dir() {
            continue;
        }
        let set_name = set.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&set).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".txt") else {
                continue;
            };
            let (node, daemon, command_name) = ["-bird6-", "-bird-"]
                .iter()
                .find_map(|d| {
                    stem.split_once(d)
                        .map(|(node, command)| (node, &d[1..d.len() - 1], command))
                })
                .unwrap_or_else(|| panic!("{set_name}/{name}: not <node>-<daemon>-<command>"));
            let command = match command_name {
                "show_status" => Command::Status,
                "show_protocols" | "show_protocols_all" => Command::Protocols,
                "show_route" | "show_route_all" => Command::Routes,
                other => panic!("{set_name}/{name}: unknown command {other}"),
            };
            captures.push(Capture {
                name: format!("{set_name}/{name}"),
                set: set_name.clone(),
                node: node.to_owned(),
                daemon: daemon.to_owned(),
                command_name: command_name.to_owned(),
                command,
                bytes: std::fs::read(&file).unwrap(),
            });
        }
    }
    captures.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        captures.len() > 50,
        "expected the lab and loopback captures, found {}",
        captures.len()
    );
    captures
});

fn capture_at(index: Index) -> &'static Capture {
    index.get(&CAPTURES)
}

fn capture_of(command: Command, index: Index) -> &'static Capture {
    let of: Vec<&Capture> = CAPTURES.iter().filter(|c| c.command == command).collect();
    of[index.index(of.len())]
}

/// The node's capture of `command_name` from the same daemon.
fn sibling(capture: &Capture, command_name: &str) -> &'static [u8] {
    CAPTURES
        .iter()
        .find(|c| {
            c.set == capture.set
                && c.node == capture.node
                && c.daemon == capture.daemon
                && c.command_name == command_name
        })
        .map(|c| c.bytes.as_slice())
        .unwrap_or_else(|| panic!("{}: no {command_name} capture beside it", capture.name))
}

// ---------------------------------------------------------------------------------------------
// Driving the code under test.

/// What a parser made of a reply, comparable across runs (routes as their JSON, which holds no
/// offsets).
#[derive(Debug, PartialEq)]
enum Parsed {
    Frame(FrameError),
    Status(Result<nodestatus_bird::Status, nodestatus_bird::ParseError>),
    Protocols(Result<Vec<nodestatus_bird::Protocol>, nodestatus_bird::ParseError>),
    Routes(Result<serde_json::Value, nodestatus_bird::ParseError>),
}

impl Parsed {
    fn is_ok(&self) -> bool {
        matches!(
            self,
            Parsed::Status(Ok(_)) | Parsed::Protocols(Ok(_)) | Parsed::Routes(Ok(_))
        )
    }

    /// Number of protocols or routes, when parsed.
    fn rows(&self) -> Option<usize> {
        match self {
            Parsed::Protocols(Ok(p)) => Some(p.len()),
            Parsed::Routes(Ok(serde_json::Value::Array(r))) => Some(r.len()),
            _ => None,
        }
    }
}

/// Walks every line of a reply the way the parsers do.
fn walk(reply: &Reply) {
    let lines = reply.lines().count();
    assert_eq!(reply.last_line().is_some(), lines > 0);
    let _ = reply.check();
}

fn parse(command: Command, bytes: &[u8]) -> Parsed {
    let reply = match Reply::from_bytes(bytes) {
        Ok(reply) => reply,
        Err(e) => return Parsed::Frame(e),
    };
    walk(&reply);
    match command {
        Command::Status => Parsed::Status(parse_status(&reply)),
        Command::Protocols => Parsed::Protocols(parse_protocols(&reply)),
        Command::Routes => Parsed::Routes(RouteTable::parse(reply).map(|table| {
            let json = serde_json::to_value(&table).unwrap();
            assert_eq!(json.as_array().map(Vec::len), Some(table.len()));
            json
        })),
    }
}

fn part<T>(
    bytes: &[u8],
    command: &'static str,
    parse: impl FnOnce(Reply) -> Result<T, nodestatus_bird::ParseError>,
) -> Part<T> {
    let socket = PathBuf::from("/run/bird.ctl");
    match Reply::from_bytes(bytes) {
        Err(source) => Part::Failed(CollectError::Query(ClientError::Frame {
            path: socket,
            command: command.to_owned(),
            source,
        })),
        Ok(reply) => match parse(reply) {
            Ok(value) => Part::Collected(value),
            Err(source) => Part::Failed(CollectError::Parse {
                socket,
                command,
                source,
            }),
        },
    }
}

/// A snapshot of the capture's daemon with `status`, `protocols` and `routes` as the replies.
fn snapshot(capture: &Capture, status: &[u8], protocols: &[u8], routes: &[u8]) -> Snapshot {
    let bird2 = !capture.set.contains("1.6");
    // The version the capture's daemon greeted with (`bird2.17`, `bird3`, `loopback-bird3`...).
    let version = [
        ("bird3", "3.1.8"),
        ("bird2.17", "2.17.6"),
        ("bird1.6", "1.6.8"),
    ]
    .into_iter()
    .find_map(|(set, version)| capture.set.contains(set).then_some(version))
    .unwrap_or("2.0.12");
    let daemon = Arc::new(Daemon {
        socket: PathBuf::from("/run/bird.ctl"),
        version: version.to_owned(),
        status: part(status, SHOW_STATUS, |r| parse_status(&r)),
        protocols: part(protocols, SHOW_PROTOCOLS_ALL, |r| parse_protocols(&r)),
        routes: part(routes, SHOW_ROUTE, RouteTable::parse),
    });
    let none = || Source::Unreachable(Arc::new(Unreachable { errors: Vec::new() }));
    let (v4, v6) = match (bird2, capture.daemon.as_str()) {
        (true, _) => (Source::Daemon(daemon.clone()), Source::Daemon(daemon)),
        (false, "bird6") => (none(), Source::Daemon(daemon)),
        (false, _) => (Source::Daemon(daemon), none()),
    };
    Snapshot { v4, v6 }
}

/// The snapshot of the capture's daemon with the capture replaced by `mutated`.
fn mutated_snapshot(capture: &Capture, mutated: &[u8]) -> Snapshot {
    let pick = |command, name| {
        if capture.command == command {
            mutated
        } else {
            sibling(capture, name)
        }
    };
    snapshot(
        capture,
        pick(Command::Status, "show_status"),
        pick(Command::Protocols, "show_protocols_all"),
        pick(Command::Routes, "show_route"),
    )
}

fn class_of(command: Command) -> NodeStatusClass {
    match command {
        Command::Status => NodeStatusClass::Agent,
        Command::Protocols => NodeStatusClass::Bgp,
        Command::Routes => NodeStatusClass::Routes,
    }
}

/// Maps `snapshot` and lists its peers; a part that failed must come out `Failed` and be replaced by the
/// `last` good status's part.
fn map_and_list_peers(
    snapshot: &Snapshot,
    failed: Option<NodeStatusClass>,
    last: &CalicoNodeStatusStatus,
) -> Result<(), TestCaseError> {
    let mapped = map_snapshot(snapshot, &NodeStatusClass::ALL);
    let merged = mapped.merge_last_good(Some(last));
    for family in Family::ALL {
        let Source::Daemon(_) = snapshot.source(family) else {
            continue;
        };
        if let Some(class) = failed {
            let outcome = mapped.outcomes.get(class, family);
            prop_assert!(
                matches!(outcome, nodestatus_bird::Outcome::Failed(_)),
                "{class} {family}: {outcome:?}"
            );
            let same = match (class, family) {
                (NodeStatusClass::Agent, Family::V4) => {
                    merged.agent.as_ref().map(|a| &a.bird_v4)
                        == last.agent.as_ref().map(|a| &a.bird_v4)
                }
                (NodeStatusClass::Agent, Family::V6) => {
                    merged.agent.as_ref().map(|a| &a.bird_v6)
                        == last.agent.as_ref().map(|a| &a.bird_v6)
                }
                (NodeStatusClass::Bgp, Family::V4) => {
                    merged.bgp.as_ref().map(|b| &b.peers_v4)
                        == last.bgp.as_ref().map(|b| &b.peers_v4)
                }
                (NodeStatusClass::Bgp, Family::V6) => {
                    merged.bgp.as_ref().map(|b| &b.peers_v6)
                        == last.bgp.as_ref().map(|b| &b.peers_v6)
                }
                (NodeStatusClass::Routes, Family::V4) => {
                    merged.routes.as_ref().map(|r| &r.routes_v4)
                        == last.routes.as_ref().map(|r| &r.routes_v4)
                }
                (NodeStatusClass::Routes, Family::V6) => {
                    merged.routes.as_ref().map(|r| &r.routes_v6)
                        == last.routes.as_ref().map(|r| &r.routes_v6)
                }
            };
            prop_assert!(same, "{class} {family}: the last good value was not kept");
        }
        // The CLI's peer table is built on this list.
        if let Source::Daemon(d) = snapshot.source(family)
            && let Part::Collected(protocols) = &d.protocols
        {
            peers(d, protocols, family).for_each(drop);
        }
    }
    Ok(())
}

/// Feeds `chunks` to one framer (limit `limit`), taking every complete reply after each push;
/// stops at the first error, after which the framer's state is unspecified.
fn frame<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
    limit: usize,
) -> (Vec<Reply>, Option<FrameError>) {
    let mut framer = Framer::new(limit);
    let mut replies = Vec::new();
    for chunk in chunks {
        let mut bytes = chunk;
        loop {
            match framer.push(bytes) {
                Ok(Some(reply)) => replies.push(reply),
                Ok(None) => break,
                Err(e) => return (replies, Some(e)),
            }
            bytes = &[];
        }
    }
    (replies, None)
}

/// `bytes` cut into pieces of the given sizes, used in turn.
fn pieces<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}

/// BIRD's grammar, restated: a line `dddd ` (or exactly `dddd`) ends a reply.
fn is_last_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.len() >= 4
        && line[..4].iter().all(u8::is_ascii_digit)
        && matches!(line.get(4), None | Some(b' '))
}

fn starts_with_code(line: &[u8]) -> bool {
    line.len() >= 5 && line[..4].iter().all(u8::is_ascii_digit) && matches!(line[4], b'-' | b' ')
}

// ---------------------------------------------------------------------------------------------
// Strategies.

/// Words and fragments BIRD prints, so that generated lines reach deep into the parsers.
const WORDS: &[&str] = &[
    "10.0.0.0/8",
    "fd00::/64",
    "10.99.0.1",
    "fe80::1%eth0",
    "1:2",
    "10.0.0.0/24-24",
    "1000",
    "flow4",
    "via",
    "on",
    "dev",
    "eth0",
    "unicast",
    "blackhole",
    "unreachable",
    "prohibited",
    "recursive",
    "multipath",
    "???",
    "mpls",
    "onlink",
    "weight",
    "table",
    "[",
    "]",
    "[static1 12:00:00]",
    "[Mesh_10_0_0_2 12:00:00 from 10.0.0.2]",
    "[ from ]",
    "*",
    "!",
    "(100/0)",
    "[i]",
    "from",
    "Table master4:",
    "Table",
    ":",
    "BGP",
    "Mesh_10_0_0_1",
    "Node_fd00__1_port_180",
    "Global_",
    "Mesh_",
    "_port_",
    "up",
    "down",
    "start",
    "flush",
    "Established",
    "Active",
    "Passive",
    "Flush",
    "Idle",
    "2021-10-18",
    "09:23:19.123",
    "Channel ipv4",
    "Channel",
    "Routes:",
    "1 imported, 2 filtered, 3 exported, 4 preferred",
    "Neighbor address:",
    "Neighbor AS:",
    "4294967296",
    "Local AS:",
    "BGP state:",
    "Description:",
    "Message:",
    "State:",
    "Table:",
    "Router ID is",
    "BIRD",
    "Hostname is",
    "Last reboot on",
    "%",
    "0",
    "-1",
    "99999999999",
    "\u{a0}",
    "\u{2003}",
    "é",
    "\u{fffd}",
    "",
];

fn word_line() -> impl Strategy<Value = String> {
    vec((select(WORDS), select(&[" ", "", "\t", "  "][..])), 0..12)
        .prop_map(|ws| ws.into_iter().flat_map(|(w, s)| [w, s]).collect())
}

/// Text of a line: BIRD's words, any UTF-8, or any bytes (none of them a newline).
fn line_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => word_line().prop_map(String::into_bytes),
        1 => any::<String>().prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..40),
    ]
    .prop_map(|mut b| {
        b.retain(|&c| c != b'\n');
        b
    })
}

/// Codes the parsers read or that frame differently, and any other.
fn code() -> impl Strategy<Value = u16> {
    prop_oneof![
        select(
            &[
                0u16, 1, 13, 14, 24, 1000, 1002, 1006, 1007, 1008, 1011, 1012, 2002, 8000, 8001,
                9001
            ][..]
        ),
        0u16..=9999,
    ]
}

/// How a line starts: `dddd-`, `dddd `, `dddd`, ` `, `+`, or a few arbitrary bytes.
fn line_start() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => code().prop_map(|c| format!("{c:04}-").into_bytes()),
        2 => code().prop_map(|c| format!("{c:04} ").into_bytes()),
        1 => code().prop_map(|c| format!("{c:04}").into_bytes()),
        6 => Just(b" ".to_vec()),
        1 => Just(b"+".to_vec()),
        1 => vec(any::<u8>(), 0..6),
    ]
}

/// How a line inside a reply starts: mostly as BIRD starts them, now and then anything.
fn inner_line_start() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => code().prop_map(|c| format!("{c:04}-").into_bytes()),
        6 => Just(b" ".to_vec()),
        1 => Just(b"+".to_vec()),
        1 => line_start(),
    ]
}

/// Any line, newline included (`\n`, `\r\n`, or none: the line runs into the next).
fn any_line() -> impl Strategy<Value = Vec<u8>> {
    const ENDS: &[&[u8]] = &[b"\n", b"\r\n", b""];
    (line_start(), line_text(), select(ENDS)).prop_map(|(mut start, text, end)| {
        start.extend(text);
        start.extend_from_slice(end);
        start
    })
}

/// A byte stream from a broken or hostile socket: BIRD-like lines or plain noise.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any_line(), 0..24).prop_map(|ls| ls.concat()),
        1 => vec(any::<u8>(), 0..300),
    ]
}

/// Piece sizes: from byte by byte to whole.
fn sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![1usize..=3, 1usize..=64, 1usize..=4096], 1..6)
}

/// Reply limits: small ones (hit often) and the client's kind of bound.
fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 1usize..=300, 3 => Just(1 << 20)]
}

/// A line framed by BIRD's rules: what it is and its code as the parsers see it.
#[derive(Clone, Debug)]
enum Framed {
    More(u16, Vec<u8>),
    Continuation(Vec<u8>),
    Async(Vec<u8>),
}

/// A well-formed reply: coded, continuation and asynchronous lines, then its last line.
fn well_formed_reply() -> impl Strategy<Value = (Vec<Framed>, u16, Vec<u8>)> {
    let line = prop_oneof![
        2 => (code(), line_text()).prop_map(|(c, t)| Framed::More(c, t)),
        2 => line_text().prop_map(Framed::Continuation),
        1 => line_text().prop_map(Framed::Async),
    ];
    (vec(line, 0..8), code(), line_text())
}

/// Bytes of well-formed replies, and per reply its expected text (lossy) and line codes.
fn render_replies(replies: &[(Vec<Framed>, u16, Vec<u8>)]) -> (Vec<u8>, Vec<(String, Vec<u16>)>) {
    let mut all = Vec::new();
    let mut expected = Vec::new();
    let mut code = None;
    for (lines, last, last_text) in replies {
        let mut bytes = Vec::new();
        let mut codes = Vec::new();
        for line in lines {
            match line {
                Framed::More(c, t) => {
                    bytes.extend(format!("{c:04}-").bytes());
                    bytes.extend(t);
                    code = Some(*c);
                    codes.push(*c);
                }
                // A continuation needs a code before it; without one it would be malformed.
                Framed::Continuation(t) if code.is_some() => {
                    bytes.push(b' ');
                    bytes.extend(t);
                    codes.extend(code);
                }
                Framed::Continuation(_) => continue,
                Framed::Async(t) => {
                    bytes.push(b'+');
                    bytes.extend(t);
                }
            }
            bytes.push(b'\n');
        }
        bytes.extend(format!("{last:04} ").bytes());
        bytes.extend(last_text);
        bytes.push(b'\n');
        code = Some(*last);
        codes.push(*last);
        expected.push((String::from_utf8_lossy(&bytes).into_owned(), codes));
        all.extend(bytes);
    }
    (all, expected)
}

/// One slot of a BIRD line: mostly one of the values BIRD prints there, sometimes any of its
/// words, sometimes a run of them.
fn slot(good: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        20 => select(good).prop_map(str::to_owned),
        1 => select(WORDS).prop_map(str::to_owned),
        1 => word_line(),
    ]
}

/// Protocol names shared by the shaped `show protocols` and `show route` replies, so that routes
/// find (or miss) their protocol.
const PROTOCOL_NAMES: &[&str] = &[
    "static1",
    "kernel1",
    "direct1",
    "Mesh_10_0_0_2",
    "Mesh_fd00__2",
    "Node_10_0_0_3_port_180",
    "Global_fd00__4",
    "Mesh_not_an_ip",
    "bgp1",
];

/// Lines of `show status` with their codes.
fn status_lines() -> impl Strategy<Value = Vec<(u16, String)>> {
    let line = prop_oneof![
        slot(&[
            "BIRD 1.6.8",
            "BIRD 2.0.12",
            "BIRD v0.3.3+birdv1.6.8",
            "BIRD 3.0.0",
            "BIRD "
        ])
        .prop_map(|v| (1000, v)),
        (
            slot(&[
                "Router ID is ",
                "Hostname is ",
                "Current server time is ",
                "Last reboot on ",
                "Last reconfiguration on "
            ]),
            slot(&["10.0.0.1", "2021-10-18 09:23:19", "vm", ""]),
        )
            .prop_map(|(k, v)| (1011, format!("{k}{v}"))),
        slot(&[
            "Graceful restart recovery in progress",
            "  Wait timer is 3/240"
        ])
        .prop_map(|t| (24, t)),
    ];
    let version = slot(&["BIRD 1.6.8", "BIRD 2.0.12"]).prop_map(|v| (1000, v));
    (version, vec(line, 0..8)).prop_map(|(first, mut rest)| {
        rest.insert(0, first);
        rest
    })
}

/// Lines of `show protocols all` with their codes: rows and detail lines.
fn protocols_lines() -> impl Strategy<Value = Vec<(u16, String)>> {
    let row = (
        slot(PROTOCOL_NAMES),
        slot(&["BGP", "Static", "Kernel", "Direct", "Device"]),
        slot(&["master", "master4", "---"]),
        slot(&["up", "down", "start", "stop", "flush", "feed"]),
        slot(&[
            "12:00:00",
            "12:00:00.123",
            "2021-10-18 09:23:19",
            "2021-10-18",
        ]),
        slot(&[
            "",
            "Established",
            "Active        Socket: Connection refused",
            "Passive",
            "Flush",
            "Error: Hold timer expired",
            "Idle",
        ]),
    )
        .prop_map(|(n, p, t, s, since, info)| (1002, format!("{n} {p} {t} {s} {since} {info}")))
        .boxed();
    let detail = (
        select(&["  ", "    ", ""][..]),
        slot(&[
            "BGP state:",
            "Neighbor address:",
            "Neighbor AS:",
            "Local AS:",
            "Neighbor ID:",
            "Source address:",
            "Last error:",
            "Routes:",
            "State:",
            "Table:",
            "Description:",
            "Message:",
            "Channel ipv4",
            "Channel ipv6",
            "Channel",
        ]),
        slot(&[
            "Established",
            "10.0.0.2",
            "fd00::2%eth0 onlink",
            "64512",
            "4294967296",
            "1 imported, 2 filtered, 3 exported, 4 preferred",
            "1 imported, 3 exported, 4 preferred",
            "UP",
            "master6",
            "",
        ]),
    )
        .prop_map(|(indent, k, v)| (1006, format!("{indent}{k} {v}")));
    (row.clone(), vec(prop_oneof![1 => row, 3 => detail], 0..24)).prop_map(|(first, mut rest)| {
        rest.insert(0, first);
        rest
    })
}

/// Lines of `show route [all]` in either format with their codes.
fn route_lines() -> impl Strategy<Value = Vec<(u16, String)>> {
    let what = || {
        slot(&[
            "unicast",
            "blackhole",
            "unreachable",
            "prohibited",
            "recursive",
            "multipath",
            "???",
            "via 10.0.0.1 on eth0",
            "via fd00::1 on eth0",
            "dev eth0",
            "mpls 100  unicast",
            "via 10.0.0.1 on eth0",
            "via 10.0.0.2 on eth1",
            "dev eth1",
            "via 1 at eth0",
            "",
        ])
    };
    let attributes = || {
        (
            slot(PROTOCOL_NAMES),
            slot(&["12:00:00", "12:00:00.123", "2021-10-18 09:23:19", ""]),
            slot(&["", " from 10.0.0.2", " from fd00::2", " from", "from "]),
            slot(&["*", "!", "", "* !"]),
            slot(&["(100/0) [i]", "(10)", "(200)", "(100/-) [AS65001i]", ""]),
        )
            .prop_map(|(p, t, f, flag, info)| format!("[{p} {t}{f}] {flag} {info}"))
    };
    let destination = (
        slot(&[
            "10.0.0.0/8",
            "fd00::/64",
            "0.0.0.0/0",
            "::/0",
            "10.0.0.0/24-24",
            "1:2",
            "1000",
            "fd00::/64 from ::/0",
            "flow4",
            "10.0.0.1%2",
            "/8",
            "10.0.0.0/",
        ]),
        what(),
        attributes(),
    )
        .prop_map(|(d, w, a)| (1007, format!("{d}   {w} {a}")))
        .boxed();
    let alternative =
        (what(), attributes()).prop_map(|(w, a)| (1007, format!("                {w} {a}")));
    let hop = slot(&[
        "via 10.0.0.1 on eth0",
        "via 10.0.0.2 on eth1 weight 2",
        "dev eth0",
        "via fd00::1 on eth0 mpls 100/200 onlink weight 1",
        "via 10.0.0.3 fe80::1 table master4",
        "via 10.0.0.4",
        "via 10.0.0.5 on eth1",
        "via 10.0.0.6 on eth0 onlink",
        "via 1 weight x",
    ])
    .prop_map(|h| (1007, format!("\t{h}")));
    let other = select(
        &[
            (1007, "Table master4:"),
            (1007, "Table master6:"),
            (1007, "Table :"),
            (1007, ""),
            (1008, "\tType: BGP univ"),
            (1012, "\tBGP.origin: IGP"),
            (1012, "\tBGP.as_path: 65001"),
            (8000, "<line overflow>"),
        ][..],
    )
    .prop_map(|(c, t)| (c, t.to_owned()));
    (
        destination.clone(),
        vec(
            prop_oneof![4 => destination, 2 => alternative, 3 => hop, 1 => other],
            0..24,
        ),
    )
        .prop_map(|(first, mut rest)| {
            rest.insert(0, first);
            rest
        })
}

/// Lines with their codes as BIRD frames them: a line with the code of the line before is a
/// ` ` continuation, then `last` ends the reply.
fn as_reply(lines: &[(u16, String)], last: u16) -> Vec<u8> {
    let mut out = String::new();
    let mut previous = None;
    for (code, text) in lines {
        if previous == Some(*code) {
            out += &format!(" {text}\n");
        } else {
            out += &format!("{code:04}-{text}\n");
        }
        previous = Some(*code);
    }
    out += &format!("{last:04} \n");
    out.into_bytes()
}

/// One edit of a capture.
#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    InsertLine(Index, Vec<u8>),
    /// A line of `len` bytes (a repeated word) with its own start.
    LongLine(Index, Vec<u8>, String, usize),
    ReplaceByte(Index, u8),
    Truncate(Index),
}

/// A byte from each class that matters: printable, whitespace, control, non-ASCII, NUL.
fn odd_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        0x20u8..0x7f,
        select(&[b' ', b'\t', b'\n', b'\r', 0x0b, 0x0c][..]),
        0x80u8..=0xff,
        Just(0u8),
        any::<u8>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::DeleteLine),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<Index>(), any_line()).prop_map(|(i, l)| Mutation::InsertLine(i, l)),
        (
            any::<Index>(),
            line_start(),
            select(WORDS),
            1000usize..70_000
        )
            .prop_map(|(i, s, w, n)| Mutation::LongLine(i, s, w.to_owned(), n)),
        (any::<Index>(), odd_byte()).prop_map(|(i, b)| Mutation::ReplaceByte(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn lines_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let mut lines = lines_of(bytes);
    match mutation {
        Mutation::ReplaceByte(i, b) => {
            if !bytes.is_empty() {
                let at = i.index(bytes.len());
                bytes[at] = *b;
            }
            return;
        }
        Mutation::Truncate(i) => {
            bytes.truncate(i.index(bytes.len() + 1));
            return;
        }
        Mutation::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i.index(lines.len()));
        }
        Mutation::DuplicateLine(i) if !lines.is_empty() => {
            let at = i.index(lines.len());
            lines.insert(at, lines[at].clone());
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => {
            let n = lines.len();
            lines.swap(a.index(n), b.index(n));
        }
        Mutation::InsertLine(i, line) => lines.insert(i.index(lines.len() + 1), line.clone()),
        Mutation::LongLine(i, start, word, len) => {
            let mut line = start.clone();
            while line.len() < *len {
                line.extend(word.bytes());
                line.push(b' ');
            }
            line.push(b'\n');
            lines.insert(i.index(lines.len() + 1), line);
        }
        _ => {}
    }
    *bytes = lines.concat();
}

/// `cases` cases, failures saved beside this file (`robustness.proptest-regressions`; proptest's
/// default looks for a `src/` beside `tests/` and warns).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Framing.

proptest! {
    #![proptest_config(config(2048))]

    /// Whatever the bytes and however they arrive, the framer gives the same replies and the
    /// same error as for the bytes all at once.
    #[test]
    fn framing_does_not_depend_on_how_the_bytes_arrive(
        bytes in stream(),
        sizes in sizes(),
        limit in limit(),
    ) {
        let whole = frame([bytes.as_slice()], limit);
        let split = frame(pieces(&bytes, &sizes), limit);
        prop_assert_eq!(split, whole);
    }

    /// Every reply ends at the first line that ends a reply, no byte is lost or added between
    /// replies, and what is left over holds no complete reply (or is what the error names).
    #[test]
    fn replies_end_at_their_first_last_line_and_lose_no_byte(
        bytes in stream(),
        limit in limit(),
    ) {
        let (replies, error) = frame([bytes.as_slice()], limit);
        let mut consumed = 0;
        for reply in &replies {
            let text = reply.text().as_bytes();
            let lines = lines_of(text);
            let (last, before) = lines.split_last().expect("a reply has a line");
            prop_assert!(last.ends_with(b"\n") && is_last_line(last), "{:?}", reply.text());
            prop_assert!(before.iter().all(|l| !is_last_line(l)), "{:?}", reply.text());
            let async_lines = lines.iter().filter(|l| l.starts_with(b"+")).count();
            prop_assert_eq!(reply.lines().count(), lines.len() - async_lines);
            let last_code = std::str::from_utf8(&last[..4]).unwrap().parse::<u16>().unwrap();
            prop_assert_eq!(reply.last_line().map(|l| l.code), Some(last_code));
            // Replies are split at newlines, so the raw bytes behind them are whole lines.
            let raw_len: usize =
                lines_of(&bytes[consumed..]).iter().take(lines.len()).map(Vec::len).sum();
            prop_assert_eq!(
                String::from_utf8_lossy(&bytes[consumed..consumed + raw_len]).into_owned(),
                reply.text()
            );
            // The limit bounds the bytes read, not the text (replacement characters are longer).
            prop_assert!(raw_len <= limit);
            consumed += raw_len;
        }
        let rest = &bytes[consumed..];
        let complete: Vec<Vec<u8>> =
            lines_of(rest).into_iter().filter(|l| l.ends_with(b"\n")).collect();
        match error {
            None => {
                prop_assert!(
                    complete.iter().all(|l| !is_last_line(l)),
                    "a reply was left in {:?}",
                    rest
                );
                prop_assert!(rest.len() <= limit);
            }
            Some(FrameError::Malformed { line, text }) => {
                let bad = &complete[line - 1];
                let bad = bad.strip_suffix(b"\n").unwrap_or(bad);
                let bad = bad.strip_suffix(b"\r").unwrap_or(bad);
                prop_assert_eq!(String::from_utf8_lossy(bad).into_owned(), text);
                prop_assert!(!is_last_line(bad) && !starts_with_code(bad));
                prop_assert!(complete[..line - 1].iter().all(|l| !is_last_line(l)));
            }
            Some(FrameError::TooLarge { limit: reported }) => {
                prop_assert_eq!(reported, limit);
                prop_assert!(rest.len() > limit);
            }
            Some(FrameError::Incomplete) => prop_assert!(false, "the framer never says Incomplete"),
        }
    }

    /// Well-formed replies come out one by one, each with its own text and every line with the
    /// code BIRD meant (continuations inherit the code before them, across replies too).
    #[test]
    fn well_formed_replies_come_out_one_by_one(
        replies in vec(well_formed_reply(), 1..6),
        sizes in sizes(),
    ) {
        let (bytes, expected) = render_replies(&replies);
        let (got, error) = frame(pieces(&bytes, &sizes), 1 << 20);
        prop_assert_eq!(error, None);
        let got: Vec<(String, Vec<u16>)> = got
            .iter()
            .map(|r| (r.text().to_owned(), r.lines().map(|l| l.code).collect()))
            .collect();
        prop_assert_eq!(got, expected);
    }

    /// A capture followed by anything (the next reply, noise) is framed as the capture alone,
    /// by the framer in any pieces and by `Reply::from_bytes`.
    #[test]
    fn a_capture_followed_by_anything_frames_as_the_capture(
        capture in any::<Index>(),
        garbage in stream(),
        sizes in sizes(),
    ) {
        let capture = capture_at(capture);
        let (alone, error) = frame([capture.bytes.as_slice()], 1 << 20);
        prop_assert_eq!(error, None);
        prop_assert_eq!(alone.len(), 1, "{}", capture.name);
        let mut bytes = capture.bytes.clone();
        bytes.extend(&garbage);
        let (replies, _) = frame(pieces(&bytes, &sizes), 1 << 20);
        prop_assert_eq!(replies.first(), alone.first());
        prop_assert_eq!(Reply::from_bytes(&bytes), Reply::from_bytes(&capture.bytes));
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing and mapping.

proptest! {
    #![proptest_config(config(1024))]

    /// Arbitrary bytes, framed or not, give every parser a value or an error.
    #[test]
    fn parsers_take_arbitrary_bytes(bytes in stream()) {
        for command in [Command::Status, Command::Protocols, Command::Routes] {
            parse(command, &bytes);
        }
    }

    /// Lines in BIRD's framing with any text (BIRD's words, any UTF-8, any bytes) give every
    /// parser, the mapping and the peer list a value or an error.
    #[test]
    fn parsers_and_mapping_take_any_text_in_bird_framing(
        first in code(),
        lines in vec((inner_line_start(), line_text()), 0..30),
        last in code(),
    ) {
        let mut bytes = format!("{first:04}-\n").into_bytes();
        for (start, text) in lines {
            bytes.extend(start);
            bytes.extend(text);
            bytes.push(b'\n');
        }
        bytes.extend(format!("{last:04} \n").bytes());
        for command in [Command::Status, Command::Protocols, Command::Routes] {
            parse(command, &bytes);
        }
        let capture = &CAPTURES[0];
        let snapshot = snapshot(capture, &bytes, &bytes, &bytes);
        map_and_list_peers(&snapshot, None, &CalicoNodeStatusStatus::default())?;
    }

    /// Replies shaped like BIRD's, with values BIRD prints, its other words or runs of them in
    /// every slot, give the parsers, the mapping and the peer list a value or an error; when all
    /// three parse, every part of the daemon's families is collected.
    #[test]
    fn shaped_replies_give_values_or_errors_through_parsing_and_mapping(
        status in status_lines(),
        protocols in protocols_lines(),
        routes in route_lines(),
        last in prop_oneof![4 => Just(0u16), 1 => code()],
        capture in any::<Index>(),
    ) {
        let status = as_reply(&status, if last == 0 { 13 } else { last });
        let protocols = as_reply(&protocols, last);
        let routes = as_reply(&routes, last);
        let all_ok = [
            parse(Command::Status, &status),
            parse(Command::Protocols, &protocols),
            parse(Command::Routes, &routes),
        ]
        .iter()
        .all(Parsed::is_ok);
        let snapshot = snapshot(capture_at(capture), &status, &protocols, &routes);
        map_and_list_peers(&snapshot, None, &CalicoNodeStatusStatus::default())?;
        if all_ok {
            let mapped = map_snapshot(&snapshot, &NodeStatusClass::ALL);
            for (class, family, outcome) in mapped.outcomes.iter() {
                if let Source::Daemon(_) = snapshot.source(family) {
                    prop_assert_eq!(
                        outcome,
                        &nodestatus_bird::Outcome::Collected,
                        "{} {}",
                        class,
                        family
                    );
                }
            }
        }
    }

    /// Edited captures (lines deleted, duplicated, swapped, inserted, very long; bytes
    /// replaced; cut anywhere) give the parsers a value or an error, and the mapping keeps the
    /// last good value of a part that no longer parses.
    #[test]
    fn edited_captures_give_values_or_errors_and_failed_parts_keep_the_last_good_value(
        capture in any::<Index>(),
        mutations in vec(mutation(), 1..4),
    ) {
        let capture = capture_at(capture);
        let mut bytes = capture.bytes.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let parsed = parse(capture.command, &bytes);
        let failed = !parsed.is_ok();
        let good = map_snapshot(&mutated_snapshot(capture, &capture.bytes), &NodeStatusClass::ALL);
        prop_assert!(!good.outcomes.any_failed(), "{}: {:?}", capture.name, good.outcomes);
        map_and_list_peers(
            &mutated_snapshot(capture, &bytes),
            failed.then_some(class_of(capture.command)),
            &good.status,
        )?;
    }

    /// Cutting a capture anywhere never yields more protocols or routes than the whole.
    #[test]
    fn a_cut_capture_never_has_more_rows_than_the_whole(
        capture in any::<Index>(),
        at in any::<Index>(),
    ) {
        let capture = capture_at(capture);
        let whole = parse(capture.command, &capture.bytes);
        let cut = parse(capture.command, &capture.bytes[..at.index(capture.bytes.len() + 1)]);
        if let (Some(whole), Some(cut)) = (whole.rows(), cut.rows()) {
            prop_assert!(cut <= whole, "{}: {cut} rows, {whole} whole", capture.name);
        }
    }

    /// Deleting one line of a `show route` capture never adds routes (the captures have no
    /// `8000` overflow line or non-IP network whose removal would un-skip lines).
    #[test]
    fn deleting_a_line_of_a_route_capture_never_adds_routes(
        capture in any::<Index>(),
        line in any::<Index>(),
    ) {
        let capture = capture_of(Command::Routes, capture);
        prop_assert!(
            !capture.bytes.starts_with(b"8000") && !capture.bytes.windows(5).any(|w| w == b"\n8000")
        );
        let whole = parse(Command::Routes, &capture.bytes).rows().expect("the capture parses");
        let mut bytes = capture.bytes.clone();
        apply(&mut bytes, &Mutation::DeleteLine(line));
        if let Some(rows) = parse(Command::Routes, &bytes).rows() {
            prop_assert!(rows <= whole, "{}: {rows} routes, {whole} whole", capture.name);
        }
    }

    /// A line with a code no parser reads, put before a line with its own code (so no
    /// continuation changes hands), and an asynchronous `+` line anywhere change no result.
    #[test]
    fn unknown_codes_and_asynchronous_lines_change_no_result(
        capture in any::<Index>(),
        position in any::<Index>(),
        code in (0u16..=9999).prop_filter("read by a parser", |c| {
            ![24, 1000, 1002, 1006, 1007, 1011, 8000].contains(c)
        }),
        text in line_text(),
        async_position in any::<Index>(),
        async_text in line_text(),
    ) {
        let capture = capture_at(capture);
        let whole = parse(capture.command, &capture.bytes);
        let mut lines = lines_of(&capture.bytes);
        let coded: Vec<usize> = (0..lines.len()).filter(|&i| starts_with_code(&lines[i])).collect();
        let mut line = format!("{code:04}-").into_bytes();
        line.extend(&text);
        line.push(b'\n');
        lines.insert(*position.get(&coded), line);
        let mut async_line = b"+".to_vec();
        async_line.extend(&async_text);
        async_line.push(b'\n');
        lines.insert(async_position.index(lines.len() + 1), async_line);
        prop_assert_eq!(parse(capture.command, &lines.concat()), whole, "{}", capture.name);
    }
}
