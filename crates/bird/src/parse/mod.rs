//! The I/O-free bottom of the stack: reply framing ([`reply`]), the parse error ([`error`]) and
//! one typed parser per BIRD command (`show status`, `show protocols [all]`, `show route`).
//! Bytes in, values out: everything here can be fuzzed and benchmarked without a daemon.

pub(crate) mod error;
pub mod reply;
pub(crate) mod show_protocols;
pub(crate) mod show_route;
pub(crate) mod show_status;
