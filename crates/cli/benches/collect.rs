//! `nodestatus collect --classes Routes` against `birdc show route` on the same real BIRD, the
//! table of `docs/PERFORMANCE.md` section 4. Needs root (a network namespace).
//!
//! For each BIRD (1.6, 2.0.12, and 2.17/3.1 when `NODESTATUS_BENCH_ALL_BIRDS=1`) and table size
//! (10,000 and 100,000 routes, or `NODESTATUS_BENCH_ROUTES=n,m`): a namespace `nsl-stream-<pid>`
//! with a veth pair (10.99.0.1/24 on one end), a BIRD in it with a static protocol of `n` routes via
//! 10.99.0.2 and 10.99.0.3 (alternating, so gateways differ), and then, interleaved run by run so
//! machine load hits all alike, `birdc -s <sock> show route > /dev/null`, `nodestatus collect
//! --classes Routes -o json > /dev/null` and `-o yaml > /dev/null`, each under `/usr/bin/time`
//! for its peak RSS. Prints median wall time, the ratio to birdc and the median peak RSS.
//! Runs: `NODESTATUS_BENCH_RUNS` (default 7); another binary: `NODESTATUS_BIN`.
//!
//! Run: `cargo bench -p nodestatus-cli --bench collect` (as root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary measured: this build's, or `NODESTATUS_BIN` (an earlier build, for a before/after).
fn nodestatus() -> String {
    std::env::var("NODESTATUS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_nodestatus").into())
}

struct Birds {
    name: &'static str,
    bird: &'static str,
    birdc: &'static str,
    bird2: bool,
}

const BIRDS: [Birds; 4] = [
    Birds {
        name: "BIRD 1.6.8",
        bird: "/usr/sbin/bird",
        birdc: "/usr/sbin/birdc",
        bird2: false,
    },
    Birds {
        name: "BIRD 2.0.12",
        bird: "/opt/nodestatus/bird2/usr/sbin/bird",
        birdc: "/opt/nodestatus/bird2/usr/sbin/birdc",
        bird2: true,
    },
    Birds {
        name: "BIRD 2.17",
        bird: "/opt/nodestatus/bird2.17/usr/sbin/bird",
        birdc: "/opt/nodestatus/bird2.17/usr/sbin/birdc",
        bird2: true,
    },
    Birds {
        name: "BIRD 3.1",
        bird: "/opt/nodestatus/bird3/usr/sbin/bird",
        birdc: "/opt/nodestatus/bird3/usr/sbin/birdc",
        bird2: true,
    },
];

/// A network namespace of ours, deleted when dropped.
struct Netns(String);

impl Netns {
    fn create() -> Netns {
        let name = format!("nsl-stream-{}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        // A veth pair inside the namespace (the kernel may lack the dummy type).
        ns.exec(&[
            "ip", "link", "add", "bench0", "type", "veth", "peer", "name", "bench1",
        ]);
        ns.exec(&["ip", "addr", "add", "10.99.0.1/24", "dev", "bench0"]);
        ns.exec(&["ip", "link", "set", "bench0", "up"]);
        ns.exec(&["ip", "link", "set", "bench1", "up"]);
        ns
    }

    fn exec(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.0];
        all.extend_from_slice(args);
        ip(&all);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip");
    assert!(status.success(), "ip {args:?} failed (run as root)");
}

/// A BIRD running in the namespace, killed by PID when dropped.
struct Bird {
    child: std::process::Child,
    socket: PathBuf,
}

impl Bird {
    fn start(ns: &Netns, birds: &Birds, dir: &Path, routes: usize) -> Bird {
        let conf = dir.join("bird.conf");
        let socket = dir.join("bird.ctl");
        let mut text = String::from("router id 10.99.0.1;\nprotocol device { scan time 10; }\n");
        text += if birds.bird2 {
            "protocol static static1 {\n  ipv4;\n"
        } else {
            "protocol static static1 {\n"
        };
        for i in 0..routes {
            let gw = 2 + (i & 1);
            text += &format!(
                "  route 10.{}.{}.{}/30 via 10.99.0.{gw};\n",
                128 + (i >> 14),
                (i >> 6) & 255,
                (i & 63) << 2
            );
        }
        text += "}\n";
        std::fs::write(&conf, text).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.0, birds.bird, "-f", "-c"])
            .arg(&conf)
            .arg("-s")
            .arg(&socket)
            .arg("-P")
            .arg(dir.join("bird.pid"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let bird = Bird { child, socket };
        // Wait until every route is in the table.
        let started = Instant::now();
        loop {
            let out = Command::new(birds.birdc)
                .arg("-s")
                .arg(&bird.socket)
                .args(["show", "route", "count"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            if text.contains(&format!("{routes} of {routes} routes")) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{} did not load {routes} routes: {text}",
                birds.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        bird
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        // `ip netns exec` execs BIRD in place: the child's PID is BIRD's.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wall seconds and peak RSS (KiB) of one run with stdout to /dev/null.
fn timed(program: &str, args: &[&str]) -> (f64, u64) {
    let rss = tempfile::NamedTempFile::new().unwrap();
    let started = Instant::now();
    let status = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(rss.path())
        .arg(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let wall = started.elapsed().as_secs_f64();
    assert!(status.success(), "{program} {args:?}: {status}");
    let kib = std::fs::read_to_string(rss.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    (wall, kib)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let runs: usize = std::env::var("NODESTATUS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let sizes: Vec<usize> = std::env::var("NODESTATUS_BENCH_ROUTES")
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|_| vec![10_000, 100_000]);
    let all = std::env::var("NODESTATUS_BENCH_ALL_BIRDS").is_ok_and(|v| v == "1");
    let uptime = Command::new("uptime").output().unwrap();
    println!("uptime: {}", String::from_utf8_lossy(&uptime.stdout).trim());
    let nodestatus = nodestatus();
    println!("{nodestatus}; {runs} runs each, interleaved; medians");
    println!(
        "| BIRD | routes | birdc show route | collect -o json | ratio | json peak RSS | collect -o yaml | yaml/json | yaml peak RSS | birdc peak RSS |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ns = Netns::create();
    for birds in BIRDS.iter().take(if all { 4 } else { 2 }) {
        if !Path::new(birds.bird).exists() {
            println!("| {} | missing: {} |", birds.name, birds.bird);
            continue;
        }
        for &n in &sizes {
            let dir = tempfile::tempdir().unwrap();
            let bird = Bird::start(&ns, birds, dir.path(), n);
            let sock = bird.socket.to_str().unwrap().to_owned();
            let absent6 = dir.path().join("absent6.ctl");
            let absent6 = absent6.to_str().unwrap();
            let collect = |format: &str| {
                timed(
                    &nodestatus,
                    &[
                        "collect",
                        "--node",
                        "bench",
                        "--classes",
                        "Routes",
                        "--bird-socket",
                        &sock,
                        "--bird6-socket",
                        absent6,
                        "-o",
                        format,
                    ],
                )
            };
            let mut rows: [(Vec<f64>, Vec<f64>); 3] = Default::default();
            // One warm-up of each, not counted.
            timed(birds.birdc, &["-s", &sock, "show", "route"]);
            collect("json");
            for _ in 0..runs {
                for (i, row) in rows.iter_mut().enumerate() {
                    let (wall, kib) = match i {
                        0 => timed(birds.birdc, &["-s", &sock, "show", "route"]),
                        1 => collect("json"),
                        _ => collect("yaml"),
                    };
                    row.0.push(wall);
                    row.1.push(kib as f64);
                }
            }
            let [birdc, json, yaml] = rows.map(|(w, r)| (median(w), median(r) / 1024.0));
            println!(
                "| {} | {n} | {:.3} s | {:.3} s | {:.2}x | {:.1} MiB | {:.3} s | {:.2}x | {:.1} MiB | {:.1} MiB |",
                birds.name,
                birdc.0,
                json.0,
                json.0 / birdc.0,
                json.1,
                yaml.0,
                yaml.0 / json.0,
                yaml.1,
                birdc.1
            );
            drop(bird);
        }
    }
    drop(ns);
}
