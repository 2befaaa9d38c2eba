//! `show route [all]` parser: any reply gives a route table or an error, never a panic; every
//! route of a table can be read (serialized whole, which decodes each field).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodestatus_bird::{Reply, RouteTable};

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = Reply::from_bytes(data)
        && let Ok(table) = RouteTable::parse(reply)
    {
        let _ = std::hint::black_box(serde_json::to_vec(&table));
    }
});
