//! What a newcomer and a script meet first: read-only commands never create a datastore, and
//! `bird`/`collect` exit non-zero when no BIRD daemon answers at all (one line naming the
//! sockets tried) but zero, with a warning, when a BIRD 1.6 answers for one family only.
//!
//! The partly-reachable case runs a real BIRD 1.6 `bird` (IPv4 only) on a socket in a temporary
//! directory, stopped by its PID.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Env, Run};

fn nodestatus(args: &[&str]) -> Run {
    Command::new(BIN)
        .args(args)
        .env_remove("DATASTORE_TYPE")
        .env_remove("NODESTATUS_SQLITE_PATH")
        .env_remove("ETCD_ENDPOINTS")
        .env_remove("NODENAME")
        .output()
        .expect("the binary runs")
        .into()
}

#[test]
fn read_only_commands_on_a_missing_sqlite_file_fail_naming_it_and_create_nothing() {
    let env = Env::new();
    let dir = env.dir.path().join("mistyped");
    let db = dir.join("nodestatus.db");
    let db_arg = db.to_str().expect("a UTF-8 path");
    for args in [
        vec!["get"],
        vec!["get", "-o", "yaml"],
        vec!["get", "some-name"],
        vec!["get", "-w"],
        vec!["delete", "some-name"],
    ] {
        let mut all = vec!["--sqlite-path", db_arg];
        all.extend(&args);
        let run = nodestatus(&all);
        assert!(!run.ok, "{args:?} succeeded:\n{}", run.stdout);
        assert_eq!(run.stdout, "", "{args:?}");
        assert_eq!(
            run.stderr,
            format!(
                "error: no SQLite datastore at {db_arg}: `nodestatus apply -f FILE` (or a running \
                 `nodestatus agent`) creates it; another file is named with --sqlite-path or \
                 NODESTATUS_SQLITE_PATH\n"
            ),
            "{args:?}"
        );
        assert!(!dir.exists(), "{args:?} created {}", dir.display());
    }
}

#[test]
fn apply_still_creates_the_datastore_and_then_get_reads_it() {
    let env = Env::new();
    let file = env.file(
        "r.yaml",
        "apiVersion: projectcalico.org/v3\nkind: CalicoNodeStatus\nmetadata: {name: r1}\n\
         spec: {classes: [Agent], node: n1, updatePeriodSeconds: 10}\n",
    );
    assert!(!env.db().exists());
    env.ok(&["apply", "-f", &file]);
    assert!(env.db().exists());
    let listing = env.ok(&["get"]);
    assert!(listing.starts_with("NAME"), "{listing}");
    assert!(listing.contains("r1"), "{listing}");
}

#[test]
fn bird_and_collect_fail_when_no_daemon_answers_naming_every_socket_tried() {
    let env = Env::new();
    let v4 = env.dir.path().join("bird.ctl");
    let v6 = env.dir.path().join("bird6.ctl");
    let (v4, v6) = (
        v4.to_str().expect("a UTF-8 path"),
        v6.to_str().expect("a UTF-8 path"),
    );
    for args in [
        vec!["bird", "--bird-socket", v4, "--bird6-socket", v6],
        vec!["bird", "peers", "--bird-socket", v4, "--bird6-socket", v6],
        vec![
            "collect",
            "--node",
            "n1",
            "--bird-socket",
            v4,
            "--bird6-socket",
            v6,
        ],
    ] {
        let run = nodestatus(&args);
        assert!(!run.ok, "{args:?} succeeded:\n{}", run.stdout);
        assert_eq!(run.stdout, "", "{args:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("error: no BIRD daemon answered: "),
            "{args:?}: {}",
            run.stderr
        );
        for socket in [v4, v6] {
            assert!(
                run.stderr.contains(socket),
                "{args:?} does not name {socket}: {}",
                run.stderr
            );
        }
    }
}

/// BIRD 1.6's IPv4 daemon in the foreground; killed by PID when dropped.
struct Bird {
    child: Child,
}

impl Bird {
    fn start(dir: &Path) -> Bird {
        let binary = "/usr/sbin/bird";
        assert!(
            Path::new(binary).is_file(),
            "{binary} is missing: run `sudo scripts/install-deps.sh`"
        );
        let conf = dir.join("bird.conf");
        let socket = dir.join("bird.ctl");
        std::fs::write(
            &conf,
            "router id 10.99.0.1;\nprotocol device { scan time 10; }\n",
        )
        .expect("the config is written");
        let child = Command::new(binary)
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&socket)
            .arg("-P")
            .arg(dir.join("bird.pid"))
            .stdin(Stdio::null())
            .spawn()
            .expect("bird starts");
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "bird did not open {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Bird { child }
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_bird_1_6_answering_for_one_family_only_exits_zero_with_a_warning() {
    let env = Env::new();
    let _bird = Bird::start(env.dir.path());
    let v4 = env.dir.path().join("bird.ctl");
    let v6 = env.dir.path().join("bird6.ctl");
    let (v4, v6) = (
        v4.to_str().expect("a UTF-8 path"),
        v6.to_str().expect("a UTF-8 path"),
    );

    let collect = nodestatus(&[
        "collect",
        "--node",
        "n1",
        "--classes",
        "Agent",
        "--bird-socket",
        v4,
        "--bird6-socket",
        v6,
        "-o",
        "json",
    ]);
    assert!(collect.ok, "{}", collect.stderr);
    assert!(
        collect
            .stderr
            .starts_with("warning: node n1: IPv6 BIRD unreachable ("),
        "{}",
        collect.stderr
    );
    let status: serde_json::Value =
        serde_json::from_str(&collect.stdout).expect("collect prints JSON");
    assert_eq!(status["agent"]["birdV4"]["state"], "Ready");
    assert_eq!(status["agent"]["birdV6"]["state"], "NotReady");

    let bird = nodestatus(&["bird", "status", "--bird-socket", v4, "--bird6-socket", v6]);
    assert!(bird.ok, "{}", bird.stderr);
    assert!(bird.stdout.contains("1.6.8"), "{}", bird.stdout);
}

#[test]
fn a_usage_line_does_not_present_a_flag_set_from_the_environment_as_missing() {
    let run: Run = Command::new(BIN)
        .args(["collect", "--no-such-flag"])
        .env("NODENAME", "n1")
        .output()
        .expect("the binary runs")
        .into();
    assert!(!run.ok);
    let usage = run
        .stderr
        .lines()
        .find(|l| l.starts_with("Usage: "))
        .unwrap_or_else(|| panic!("no usage line: {}", run.stderr));
    assert_eq!(usage, "Usage: nodestatus collect [OPTIONS]");
}

#[test]
fn an_error_says_each_cause_once() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("its address").to_string();
    let run = env.run(&["agent", "--node", "n1", "--listen", &addr]);
    assert!(!run.ok, "the agent started on a taken port: {}", run.stdout);
    let cause = std::io::Error::from(std::io::ErrorKind::AddrInUse);
    let os = std::io::Error::from_raw_os_error(98);
    assert_eq!(cause.kind(), os.kind());
    assert_eq!(
        run.stderr,
        format!("error: starting the agent: cannot listen on {addr}: {os}\n")
    );
}

#[test]
fn a_kubernetes_configuration_error_is_said_once() {
    let env = Env::new();
    let missing = env.dir.path().join("no-kubeconfig");
    let run: Run = Command::new(BIN)
        .args(["--datastore-type", "kubernetes", "get"])
        .env("KUBECONFIG", &missing)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .expect("the binary runs")
        .into();
    assert!(!run.ok);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let path = missing.to_str().expect("a UTF-8 path");
    assert_eq!(
        run.stderr.matches(path).count(),
        1,
        "the kubeconfig path is said once: {}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        run.stderr
    );
}
