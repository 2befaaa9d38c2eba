//! BIRD reply framing: any bytes, fed whole or in two pieces (the first input byte picks the
//! cut), give the same replies and the same error, and never panic; a captured reply framed by
//! `Reply::from_bytes` can be walked line by line and checked for an error code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodestatus_bird::{Framer, Reply};

/// Small enough for the fuzzer to reach the too-large verdict.
const LIMIT: usize = 4096;

/// Every reply and the final error, as text, from feeding `pieces` one after the other.
fn frame(pieces: &[&[u8]]) -> Vec<String> {
    let mut framer = Framer::new(LIMIT);
    let mut out = Vec::new();
    for piece in pieces {
        let mut next: &[u8] = piece;
        loop {
            match framer.push(next) {
                Ok(Some(reply)) => out.push(format!("{reply:?}")),
                Ok(None) => break,
                Err(e) => {
                    out.push(format!("error: {e}"));
                    return out;
                }
            }
            // Bytes after a reply stay in the framer; push nothing to get the next one.
            next = &[];
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let at = usize::from(cut) * bytes.len() / 256;
    let (a, b) = bytes.split_at(at);
    assert_eq!(frame(&[bytes]), frame(&[a, b]));
    if let Ok(reply) = Reply::from_bytes(bytes) {
        for line in reply.lines() {
            std::hint::black_box(line);
        }
        let _ = reply.check();
    }
});
