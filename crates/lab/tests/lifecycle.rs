//! Bringing labs up and down: nothing left behind, teardown from the state file in another
//! process's place, idempotent `down`, labs side by side, extra processes, refused specs.

mod common;

use std::path::Path;
use std::time::Duration;

use nodestatus_lab::{
    BirdVersion, ExpectedState, Family, Lab, LabError, LabSpec, LabState, ProcessId,
    ProcessNetwork, ProcessSpec, down, status,
};

fn namespaces(state: &LabState) -> Vec<String> {
    std::iter::once(state.hub_namespace.clone())
        .chain(state.nodes.iter().map(|n| n.namespace.clone()))
        .collect()
}

fn processes(state: &LabState) -> Vec<ProcessId> {
    state.process_ids()
}

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// Nothing of the lab remains: namespaces, processes, files in its directory.
fn assert_gone(state: &LabState) {
    let left_ns: Vec<String> = namespaces(state)
        .into_iter()
        .filter(|n| netns_exists(n))
        .collect();
    assert_eq!(left_ns, Vec::<String>::new(), "namespaces left behind");
    let left_procs: Vec<ProcessId> = processes(state)
        .into_iter()
        .filter(ProcessId::is_running)
        .collect();
    assert_eq!(left_procs, vec![], "processes left behind");
    let left_files: Vec<String> = std::fs::read_dir(&state.dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        left_files,
        Vec::<String>::new(),
        "files left in the lab directory"
    );
}

fn sleeper(name: &str) -> ProcessSpec {
    sleeper_in(name, ProcessNetwork::Node)
}

fn sleeper_in(name: &str, network: ProcessNetwork) -> ProcessSpec {
    ProcessSpec {
        name: name.to_string(),
        program: "/bin/sh".into(),
        // Prints its network namespace and eth0's addresses to its log, then stays until stopped.
        args: vec![
            "-c".into(),
            "readlink /proc/self/ns/net; ip -br addr show dev eth0; exec sleep 600".into(),
        ],
        env: Vec::new(),
        network,
    }
}

/// The network namespace a process's log (from [`sleeper_in`]) names, once it is written.
fn logged_namespace(log: &Path) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.starts_with("net:[")) {
            return line.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no namespace in {}: {text:?}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn down_leaves_nothing_behind(bird: BirdVersion) {
    let mut test = common::up(bird, 3);
    let agent = test
        .lab
        .spawn("n2", sleeper("agent"))
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let on_host = test
        .lab
        .spawn("n2", sleeper_in("on-host", ProcessNetwork::Host))
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let state = test.lab.state().clone();
    assert_eq!(
        state.nodes[1].processes,
        vec![agent.clone(), on_host.clone()]
    );
    assert!(namespaces(&state).iter().all(|n| netns_exists(n)));
    let expected_daemons = if bird == BirdVersion::V1_6 { 6 } else { 3 };
    assert_eq!(processes(&state).len(), expected_daemons + 2);
    assert!(processes(&state).iter().all(ProcessId::is_running));
    // The node's process runs inside n2's namespace; the host one in this test's.
    test.lab
        .wait_established(common::CONVERGE)
        .unwrap_or_else(|e| panic!("{e}"));
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(logged_namespace(&on_host.log), ours.to_string_lossy());
    assert_ne!(logged_namespace(&agent.log), ours.to_string_lossy());
    let log = std::fs::read_to_string(&agent.log).unwrap_or_else(|e| panic!("{e}"));
    assert!(log.contains("10.99.0.12/24"), "agent log: {log:?}");

    test.lab.down().unwrap_or_else(|e| panic!("down: {e}"));
    assert_gone(&state);
    assert!(!down(&state.dir).unwrap_or_else(|e| panic!("second down: {e}")));
}

#[test]
fn bird_1_6_lab_down_leaves_no_namespace_process_or_file() {
    down_leaves_nothing_behind(BirdVersion::V1_6);
}

#[test]
fn bird_2_lab_down_leaves_no_namespace_process_or_file() {
    down_leaves_nothing_behind(BirdVersion::V2);
}

/// BIRD 3 (like 2.17) runs through Debian 13's loader: the PID its PID file names is the one
/// stopped, and nothing is left of it either.
#[test]
fn bird_3_lab_down_leaves_no_namespace_process_or_file() {
    down_leaves_nothing_behind(BirdVersion::V3);
}

#[test]
fn a_kept_lab_is_found_and_stopped_through_its_state_file() {
    let common::TestLab { mut lab, dir: tmp } = common::up(BirdVersion::V2, 2);
    lab.spawn("n1", sleeper("agent"))
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let dir = tmp.path().to_path_buf();
    let kept = lab.keep();

    let found = status(&dir)
        .unwrap_or_else(|e| panic!("status: {e}"))
        .unwrap_or_else(|| panic!("no lab found in {}", dir.display()));
    assert_eq!(found, kept);
    assert!(found.nodes.iter().all(|n| n.namespace_exists()));
    assert!(processes(&found).iter().all(ProcessId::is_running));
    found
        .wait_established(common::CONVERGE)
        .unwrap_or_else(|e| panic!("the kept lab works from its state: {e}"));

    assert!(down(&dir).unwrap_or_else(|e| panic!("down: {e}")));
    assert_gone(&found);
    assert_eq!(status(&dir).unwrap_or_else(|e| panic!("status: {e}")), None);
    assert!(!down(&dir).unwrap_or_else(|e| panic!("down again: {e}")));
}

#[test]
fn two_labs_with_different_prefixes_run_side_by_side() {
    let first = common::up(BirdVersion::V1_6, 3);
    let second = common::up(BirdVersion::V1_6, 3);
    assert_ne!(first.lab.state().prefix, second.lab.state().prefix);
    for test in [&first, &second] {
        test.lab
            .wait_established(common::CONVERGE)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let first_state = first.lab.state().clone();
    first.lab.down().unwrap_or_else(|e| panic!("down: {e}"));
    assert_gone(&first_state);
    // The same addresses and interface names live on in the other lab, undisturbed.
    assert!(second.lab.nodes().iter().all(|n| n.namespace_exists()));
    second
        .lab
        .wait_established(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("the second lab after the first went down: {e}"));
}

#[test]
fn a_second_lab_in_the_same_directory_is_refused() {
    let test = common::up(BirdVersion::V2, 1);
    let again = Lab::up(LabSpec {
        nodes: 1,
        ..LabSpec::new(BirdVersion::V2, test.dir.path())
    });
    match again {
        Err(LabError::AlreadyUp { prefix, .. }) => assert_eq!(prefix, test.lab.state().prefix),
        other => panic!("expected AlreadyUp, got {other:?}"),
    }
    assert!(test.lab.nodes().iter().all(|n| n.namespace_exists()));
}

#[test]
fn a_lab_reusing_a_running_labs_prefix_is_refused_and_leaves_it_alone() {
    let running = common::up(BirdVersion::V2, 2);
    let other_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clash = Lab::up(LabSpec {
        nodes: 2,
        prefix: running.lab.state().prefix.clone(),
        ..LabSpec::new(BirdVersion::V2, other_dir.path())
    });
    match clash {
        Err(LabError::NamespaceExists { namespace }) => {
            assert_eq!(namespace, running.lab.state().hub_namespace);
        }
        other => panic!("expected NamespaceExists, got {other:?}"),
    }
    assert_eq!(
        status(other_dir.path()).unwrap_or_else(|e| panic!("{e}")),
        None
    );
    running
        .lab
        .wait_established(common::CONVERGE)
        .unwrap_or_else(|e| panic!("the running lab after the clash: {e}"));
}

#[test]
fn invalid_specs_are_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let base = LabSpec::new(BirdVersion::V2, dir.path());
    let specs = [
        LabSpec {
            nodes: 0,
            ..base.clone()
        },
        LabSpec {
            nodes: 21,
            ..base.clone()
        },
        LabSpec {
            prefix: "Lab_1".into(),
            ..base.clone()
        },
        LabSpec {
            prefix: String::new(),
            ..base.clone()
        },
        LabSpec {
            dir: dir.path().join("x".repeat(100)),
            ..base.clone()
        },
        LabSpec {
            dir: dir.path().join("quote\"d"),
            ..base.clone()
        },
    ];
    for spec in specs {
        match Lab::up(spec.clone()) {
            Err(LabError::InvalidSpec(_)) => {}
            other => panic!("{spec:?}: expected InvalidSpec, got {other:?}"),
        }
        assert!(!netns_exists(&format!("{}-hub", spec.prefix)));
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).map(Iterator::count).ok(),
        Some(0)
    );
}

fn one_node_lab_converges_without_a_mesh(bird: BirdVersion) {
    let test = common::converged(bird, 1);
    let expected = test.lab.expected();
    assert_eq!(expected.len(), 1);
    for f in Family::ALL {
        let states: Vec<ExpectedState> = expected[0].peers(f).iter().map(|p| p.state).collect();
        assert_eq!(states, [ExpectedState::Trying, ExpectedState::Trying]);
    }
}

#[test]
fn bird_1_6_one_node_lab_converges_without_a_mesh() {
    one_node_lab_converges_without_a_mesh(BirdVersion::V1_6);
}

#[test]
fn bird_2_one_node_lab_converges_without_a_mesh() {
    one_node_lab_converges_without_a_mesh(BirdVersion::V2);
}

#[test]
fn an_enabled_session_comes_back() {
    let mut test = common::converged(BirdVersion::V2, 3);
    test.lab
        .disable_protocol("n3", "Mesh_fd99__12")
        .unwrap_or_else(|e| panic!("{e}"));
    test.lab
        .wait_established(common::CONVERGE)
        .unwrap_or_else(|e| panic!("{e}"));
    test.lab
        .enable_protocol("n3", "Mesh_fd99__12")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(test.lab.state().disabled, vec![]);
    test.lab
        .wait_established(common::CONVERGE)
        .unwrap_or_else(|e| panic!("{e}"));
    let n3 = &test.lab.expected()[2];
    assert!(
        n3.peers_v6
            .iter()
            .filter(|p| p.protocol.starts_with("Mesh_"))
            .all(|p| p.state == ExpectedState::Established)
    );
}

#[test]
fn unknown_nodes_and_sessions_are_errors() {
    let mut test = common::up(BirdVersion::V2, 2);
    match test.lab.disable_protocol("n1", "kernel1") {
        Err(LabError::UnknownProtocol { node, protocol }) => {
            assert_eq!((node.as_str(), protocol.as_str()), ("n1", "kernel1"));
        }
        other => panic!("expected UnknownProtocol, got {other:?}"),
    }
    match test.lab.birdc("n9", Family::V4, "show status") {
        Err(LabError::UnknownNode(node)) => assert_eq!(node, "n9"),
        other => panic!("expected UnknownNode, got {other:?}"),
    }
    match test.lab.birdc("n1", Family::V4, "show nonsense") {
        Err(LabError::Bird { reply, .. }) => assert!(reply.starts_with("9001"), "{reply}"),
        other => panic!("expected a BIRD error, got {other:?}"),
    }
}
