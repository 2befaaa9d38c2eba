//! `show protocols [all]` parser: any reply gives protocols or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodestatus_bird::{Reply, parse_protocols};

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = Reply::from_bytes(data) {
        let _ = std::hint::black_box(parse_protocols(&reply));
    }
});
