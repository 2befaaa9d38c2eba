//! Golden BIRD replies for nodestatus-bird's parser tests, captured from real labs: every node,
//! daemon and command, converged, then again with one mesh session disabled.
//!
//! With `NODESTATUS_UPDATE_FIXTURES=1` the test rewrites `crates/bird/tests/fixtures/bird<version>/`
//! and `bird<version>-disabled/`. Without it (CI) it leaves the tree alone and checks that the
//! stored fixtures still describe the lab: the same files, the same protocols, the same networks.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use nodestatus_lab::{BirdVersion, Lab};

const COMMANDS: [&str; 5] = [
    "show status",
    "show protocols",
    "show protocols all",
    "show route",
    "show route all",
];

/// The session disabled for the `-disabled` set: n2's IPv4 session to n1. n2 is its active side
/// (larger address), so n1 waits stably in `Passive`; with BIRD 2 and 3 the session also carries
/// IPv6.
const DISABLED: (&str, &str) = ("n2", "Mesh_10_99_0_11");

fn update() -> bool {
    std::env::var_os("NODESTATUS_UPDATE_FIXTURES").is_some_and(|v| v == "1")
}

fn fixture_dir(bird: BirdVersion, set: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../bird/tests/fixtures")
        .join(format!("bird{bird}{set}"))
}

/// `n1-bird6-show_protocols_all.txt` -> raw reply, for every node, daemon and command.
fn capture(lab: &Lab) -> BTreeMap<String, String> {
    let mut replies = BTreeMap::new();
    for node in lab.nodes() {
        for daemon in &node.daemons {
            for command in COMMANDS {
                let reply = lab
                    .birdc(&node.name, daemon.families[0], command)
                    .unwrap_or_else(|e| panic!("{command} on {}: {e}", node.name));
                let name = format!(
                    "{}-{}-{}.txt",
                    node.name,
                    daemon.name,
                    command.replace(' ', "_")
                );
                replies.insert(name, reply);
            }
        }
    }
    replies
}

/// A complete reply: lines framed as BIRD frames them, the last one `dddd ` with a non-error code.
fn assert_well_formed(name: &str, reply: &str) {
    let lines: Vec<&str> = reply.lines().collect();
    let Some(last) = lines.last() else {
        panic!("{name}: empty reply")
    };
    let code = |l: &str| l.len() >= 5 && l.as_bytes()[..4].iter().all(u8::is_ascii_digit);
    assert!(
        code(last)
            && last.as_bytes()[4] == b' '
            && !last.starts_with('8')
            && !last.starts_with('9'),
        "{name}: last line {last:?} is not a successful end of reply"
    );
    for line in &lines[..lines.len() - 1] {
        assert!(
            line.starts_with(' ') || (code(line) && line.as_bytes()[4] == b'-'),
            "{name}: line {line:?} is not a continued reply line"
        );
    }
}

/// What must not change between captures: the protocol names of `show protocols` and the
/// networks of `show route` (times, counters and never-answering peers' states do change).
fn skeleton(name: &str, reply: &str) -> BTreeSet<String> {
    let bodies = reply.lines().map(|l| {
        if l.len() >= 5 && l.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
            &l[5..]
        } else {
            l.strip_prefix(' ').unwrap_or(l)
        }
    });
    if name.ends_with("show_protocols.txt") {
        bodies
            .skip(1) // The heading.
            .filter_map(|b| b.split_whitespace().next().map(str::to_string))
            .collect()
    } else if name.ends_with("show_route.txt") {
        bodies
            .filter(|b| !b.starts_with(char::is_whitespace))
            .filter_map(|b| b.split_whitespace().next())
            .filter(|w| w.contains('/'))
            .map(str::to_string)
            .collect()
    } else {
        BTreeSet::new()
    }
}

fn record(bird: BirdVersion, set: &str, replies: &BTreeMap<String, String>) {
    let dir = fixture_dir(bird, set);
    for (name, reply) in replies {
        assert_well_formed(name, reply);
    }
    if update() {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for (name, reply) in replies {
            std::fs::write(dir.join(name), reply).unwrap_or_else(|e| panic!("writing {name}: {e}"));
        }
        return;
    }
    let stored: BTreeMap<String, String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with NODESTATUS_UPDATE_FIXTURES=1 to create the fixtures",
                dir.display()
            )
        })
        .map(|entry| {
            let path = entry.expect("a readable fixture directory").path();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            (name.unwrap_or_default(), text)
        })
        .collect();
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        replies.keys().collect::<Vec<_>>(),
        "fixture files in {}; regenerate with NODESTATUS_UPDATE_FIXTURES=1",
        dir.display()
    );
    for (name, reply) in replies {
        assert_well_formed(name, &stored[name]);
        assert_eq!(
            skeleton(name, &stored[name]),
            skeleton(name, reply),
            "{name} in {} no longer matches the lab; regenerate with NODESTATUS_UPDATE_FIXTURES=1",
            dir.display()
        );
    }
}

fn replies_of_a_converged_lab_and_one_with_a_disabled_session(bird: BirdVersion) {
    let mut test = common::converged(bird, 3);
    record(bird, "", &capture(&test.lab));

    let (node, protocol) = DISABLED;
    test.lab
        .disable_protocol(node, protocol)
        .unwrap_or_else(|e| panic!("disable {protocol} on {node}: {e}"));
    test.lab
        .wait_established(common::CONVERGE)
        .unwrap_or_else(|e| panic!("after disabling {protocol} on {node}: {e}"));
    record(bird, "-disabled", &capture(&test.lab));
}

#[test]
fn bird_1_6_replies_match_the_fixtures() {
    replies_of_a_converged_lab_and_one_with_a_disabled_session(BirdVersion::V1_6);
}

#[test]
fn bird_2_replies_match_the_fixtures() {
    replies_of_a_converged_lab_and_one_with_a_disabled_session(BirdVersion::V2);
}

#[test]
fn bird_2_17_replies_match_the_fixtures() {
    replies_of_a_converged_lab_and_one_with_a_disabled_session(BirdVersion::V2_17);
}

#[test]
fn bird_3_replies_match_the_fixtures() {
    replies_of_a_converged_lab_and_one_with_a_disabled_session(BirdVersion::V3);
}
