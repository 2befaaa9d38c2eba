//! How long a newcomer waits: `Lab::up` (namespaces, configs, daemons) and then until every
//! session is established and every route exchanged, and `down`, for each BIRD version.
//! Run as root: `cargo bench -p nodestatus-lab --bench lab_up` (`LAB_BENCH_RUNS`, default 5).

use std::time::{Duration, Instant};

use nodestatus_lab::{BirdVersion, Lab, LabSpec};

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "min {:7.1} ms  median {:7.1} ms  max {:7.1} ms",
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1])
    )
}

fn main() {
    let runs: usize = std::env::var("LAB_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    for nodes in [3, 10] {
        for bird in BirdVersion::ALL {
            let (mut up, mut converged, mut down) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..runs {
                let dir =
                    tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
                let start = Instant::now();
                let lab = Lab::up(LabSpec {
                    nodes,
                    ..LabSpec::new(bird, dir.path())
                })
                .unwrap_or_else(|e| panic!("lab up: {e}"));
                up.push(start.elapsed());
                lab.wait_established(Duration::from_secs(120))
                    .unwrap_or_else(|e| panic!("convergence: {e}"));
                converged.push(start.elapsed());
                let start = Instant::now();
                lab.down().unwrap_or_else(|e| panic!("lab down: {e}"));
                down.push(start.elapsed());
            }
            println!("BIRD {bird:3} {nodes:2} nodes, {runs} runs");
            println!("  up                 {}", summary(up));
            println!("  up + converged     {}", summary(converged));
            println!("  down               {}", summary(down));
        }
    }
}
