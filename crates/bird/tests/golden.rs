//! Golden tests on replies captured from real BIRD daemons.
//!
//! Captures live in `tests/fixtures/<set>/<node>-<daemon>-<command>.txt` (`daemon` is `bird` or
//! BIRD 1.6's `bird6`; `bird1.6/`, `bird2/`, `bird2.17/`, `bird3/` and their `-disabled`
//! variants are written by the lab crate from network-namespace labs, `loopback-*` by hand from
//! daemons on loopback). The
//! expected values live apart, in `tests/golden/<set>/`, because the lab rewrites the fixture
//! directories whole:
//! - `<node>-<daemon>-<command>.json`: the parsed reply;
//! - `<node>-status.json`: the node's status for all classes (a family whose daemon has no
//!   capture counts as unreachable).
//!
//! `NODESTATUS_BLESS=1` (re)writes the expected files; they must then be read against the raw
//! replies before being committed. Without it a missing or extra expected file is a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nodestatus_api::NodeStatusClass;
use nodestatus_bird::{
    ClientError, Daemon, Family, Part, Reply, RouteTable, Snapshot, Source, Unreachable,
    major_version, map_snapshot, parse_protocols, parse_status,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn bless() -> bool {
    std::env::var_os("NODESTATUS_BLESS").is_some_and(|v| v == "1")
}

/// `<set>` → `<file name>` → raw reply, for every capture.
fn captures() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut sets = BTreeMap::new();
    for set in std::fs::read_dir(root().join("fixtures")).unwrap() {
        let set = set.unwrap().path();
        if !set.is_dir() {
            continue;
        }
        let mut files = BTreeMap::new();
        for file in std::fs::read_dir(&set).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "txt") {
                let name = file.file_name().unwrap().to_string_lossy().into_owned();
                files.insert(name, std::fs::read_to_string(&file).unwrap());
            }
        }
        sets.insert(
            set.file_name().unwrap().to_string_lossy().into_owned(),
            files,
        );
    }
    sets
}

/// `n1-bird6-show_protocols_all.txt` → (`n1`, `bird6`, `show_protocols_all`).
fn split_name(name: &str) -> Option<(&str, &str, &str)> {
    let stem = name.strip_suffix(".txt")?;
    for daemon in ["-bird6-", "-bird-"] {
        if let Some(i) = stem.find(daemon) {
            return Some((
                &stem[..i],
                &daemon[1..daemon.len() - 1],
                &stem[i + daemon.len()..],
            ));
        }
    }
    None
}

fn parsed_json(command: &str, text: &str) -> Result<serde_json::Value, String> {
    let reply = Reply::from_bytes(text).map_err(|e| e.to_string())?;
    let value = match command {
        "show_status" => serde_json::to_value(parse_status(&reply).map_err(|e| e.to_string())?),
        "show_protocols" | "show_protocols_all" => {
            serde_json::to_value(parse_protocols(&reply).map_err(|e| e.to_string())?)
        }
        "show_route" | "show_route_all" => {
            serde_json::to_value(RouteTable::parse(reply).map_err(|e| e.to_string())?)
        }
        other => return Err(format!("no parser for command {other:?}")),
    };
    value.map_err(|e| e.to_string())
}

/// Compares `value` with the expected file (or writes it when blessing); records failures.
fn check(expected: &Path, value: &serde_json::Value, failures: &mut Vec<String>) {
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    if bless() {
        std::fs::create_dir_all(expected.parent().unwrap()).unwrap();
        std::fs::write(expected, text).unwrap();
        return;
    }
    match std::fs::read_to_string(expected) {
        Ok(stored) if stored == text => {}
        Ok(_) => failures.push(format!(
            "{} differs from the parser's output:\n{text}",
            expected.display()
        )),
        Err(e) => failures.push(format!(
            "{}: {e}; create it with NODESTATUS_BLESS=1 and review it",
            expected.display()
        )),
    }
}

/// Expected files with no capture behind them (a fixture set was regenerated or renamed).
fn orphans(set: &str, wanted: &[String], failures: &mut Vec<String>) {
    let dir = root().join("golden").join(set);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !wanted.contains(&name) {
            if bless() {
                std::fs::remove_file(&path).unwrap();
            } else {
                failures.push(format!("{} has no capture behind it", path.display()));
            }
        }
    }
}

#[test]
fn every_capture_parses_to_its_golden_value_and_every_node_maps_to_its_golden_status() {
    let sets = captures();
    assert!(
        ["loopback-bird1.6", "loopback-bird2", "loopback-bird3"]
            .iter()
            .all(|set| sets.contains_key(*set)),
        "the hand-captured sets are part of the crate: {:?}",
        sets.keys().collect::<Vec<_>>()
    );
    let mut failures = Vec::new();
    for (set, files) in &sets {
        let golden = root().join("golden").join(set);
        let mut wanted = Vec::new();
        // node → daemon → command → text
        let mut nodes: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, &str>>> = BTreeMap::new();
        for (name, text) in files {
            let Some((node, daemon, command)) = split_name(name) else {
                failures.push(format!(
                    "{set}/{name}: not named <node>-<bird|bird6>-<command>.txt"
                ));
                continue;
            };
            nodes
                .entry(node)
                .or_default()
                .entry(daemon)
                .or_default()
                .insert(command, text);
            let expected = name.replace(".txt", ".json");
            match parsed_json(command, text) {
                Ok(value) => check(&golden.join(&expected), &value, &mut failures),
                Err(e) => failures.push(format!("{set}/{name}: {e}")),
            }
            wanted.push(expected);
        }
        for (node, daemons) in &nodes {
            match node_status(daemons) {
                Ok(value) => {
                    let expected = format!("{node}-status.json");
                    check(&golden.join(&expected), &value, &mut failures);
                    wanted.push(expected);
                }
                Err(e) => failures.push(format!("{set}/{node}: {e}")),
            }
        }
        orphans(set, &wanted, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The node's mapped status from its daemons' `show status`, `show protocols all`, `show route`.
fn node_status(
    daemons: &BTreeMap<&str, BTreeMap<&str, &str>>,
) -> Result<serde_json::Value, String> {
    let mut v4 = None;
    let mut v6 = None;
    for (name, commands) in daemons {
        let get = |command: &str| {
            commands
                .get(command)
                .map(|t| Reply::from_bytes(t).map_err(|e| e.to_string()))
                .ok_or_else(|| format!("{name}: no {command} capture"))?
        };
        let status = parse_status(&get("show_status")?).map_err(|e| e.to_string())?;
        let daemon = Arc::new(Daemon {
            socket: PathBuf::from(format!("{name}.ctl")),
            version: status.version.clone(),
            protocols: Part::Collected(
                parse_protocols(&get("show_protocols_all")?).map_err(|e| e.to_string())?,
            ),
            routes: Part::Collected(
                RouteTable::parse(get("show_route")?).map_err(|e| e.to_string())?,
            ),
            status: Part::Collected(status),
        });
        match *name {
            "bird6" => v6 = Some(daemon),
            _ if major_version(&daemon.version).is_some_and(|m| m >= 2) => {
                v4 = Some(daemon.clone());
                v6 = Some(daemon);
            }
            _ => v4 = Some(daemon),
        }
    }
    let source = |d: Option<Arc<Daemon>>, family: Family| match d {
        Some(d) => Source::Daemon(d),
        None => Source::Unreachable(Arc::new(Unreachable {
            errors: vec![ClientError::Connect {
                path: PathBuf::from(format!("no {family} capture")),
                source: std::io::ErrorKind::NotFound.into(),
            }],
        })),
    };
    let snapshot = Snapshot {
        v4: source(v4, Family::V4),
        v6: source(v6, Family::V6),
    };
    let mapped = map_snapshot(&snapshot, &NodeStatusClass::ALL);
    serde_json::to_value(&mapped.status).map_err(|e| e.to_string())
}
