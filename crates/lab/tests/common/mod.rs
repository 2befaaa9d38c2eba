//! Shared set-up for the lab's integration tests: a lab in a temporary directory, brought up and
//! converged, that fails with the lab's own message (not root, BIRD missing) instead of skipping.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::time::Duration;

use nodestatus_lab::{BirdVersion, Lab, LabSpec};

/// Generous: sessions establish in about a second, but CI machines can be slow and loaded.
pub const CONVERGE: Duration = Duration::from_secs(60);

/// A lab and the temporary directory it lives in (the lab is dropped, and torn down, first).
pub struct TestLab {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
}

/// A lab of `nodes` nodes, up and converged.
pub fn converged(bird: BirdVersion, nodes: usize) -> TestLab {
    let test = up(bird, nodes);
    test.lab
        .wait_established(CONVERGE)
        .unwrap_or_else(|e| panic!("BIRD {bird} lab did not converge: {e}"));
    test
}

/// A lab of `nodes` nodes, up (daemons running, sessions not yet established).
pub fn up(bird: BirdVersion, nodes: usize) -> TestLab {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("creating a temporary directory: {e}"));
    let spec = LabSpec {
        nodes,
        ..LabSpec::new(bird, dir.path())
    };
    let lab = Lab::up(spec).unwrap_or_else(|e| panic!("BIRD {bird} lab up failed: {e}"));
    TestLab { lab, dir }
}
