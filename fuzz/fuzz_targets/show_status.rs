//! `show status` parser: any reply gives a status or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodestatus_bird::{Reply, parse_status};

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = Reply::from_bytes(data) {
        let _ = std::hint::black_box(parse_status(&reply));
    }
});
