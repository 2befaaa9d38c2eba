//! Framing, parsing and mapping speed and memory on a generated 100,000-route `show route`
//! reply in BIRD 1.6 and BIRD 2 format: BGP routes from mesh peers (a third with an alternative
//! from a second peer), a few multipath routes, direct routes, static blackhole blocks and
//! kernel routes to workloads. Run: `cargo bench -p nodestatus-bird --bench parse`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nodestatus_api::NodeStatusClass;
use nodestatus_bird::{
    Daemon, Framer, Part, Reply, RouteTable, Snapshot, Source, map_snapshot, parse_protocols,
};

/// Counts live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size > layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const ROUTES: usize = 100_000;

#[derive(Clone, Copy)]
enum Format {
    Bird16,
    Bird2,
}

/// Writes reply lines in one format.
struct Writer {
    out: String,
    first: bool,
    format: Format,
    time: &'static str,
}

impl Writer {
    fn line(&mut self, text: &str) {
        self.out.push_str(if self.first { "1007-" } else { " " });
        self.first = false;
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// One route: `what` is `blackhole` or `unicast`; `hops` are `via <gw> on <if>`/`dev <if>`.
    fn route(
        &mut self,
        dst: &str,
        what: &str,
        proto: &str,
        from: &str,
        tail: &str,
        hops: &[String],
    ) {
        let t = self.time;
        match self.format {
            Format::Bird16 => {
                let what = match hops {
                    [] => what.to_owned(),
                    [one] => one.clone(),
                    _ => "multipath".to_owned(),
                };
                self.line(&format!("{dst:<18} {what} [{proto} {t}{from}]{tail}"));
                if hops.len() > 1 {
                    for h in hops {
                        self.line(&format!("\t{h} weight 1"));
                    }
                }
            }
            Format::Bird2 => {
                self.line(&format!("{dst:<20} {what} [{proto} {t}{from}]{tail}"));
                let multipath = hops.len() > 1;
                for h in hops {
                    let weight = if multipath { " weight 1" } else { "" };
                    self.line(&format!("\t{h}{weight}"));
                }
            }
        }
    }
}

/// A reply with exactly `ROUTES` routes (alternatives included).
fn generate(format: Format) -> String {
    let mut w = Writer {
        out: String::with_capacity(ROUTES * 80),
        first: true,
        format,
        time: match format {
            Format::Bird16 => "09:23:22",
            Format::Bird2 => "09:23:22.512",
        },
    };
    if let Format::Bird2 = format {
        w.line("Table master4:");
    }
    let mut n = 0;
    let mut i = 0u32;
    while n < ROUTES {
        let dst = format!(
            "10.{}.{}.{}/26",
            (i >> 10) & 255,
            (i >> 2) & 255,
            (i & 3) * 64
        );
        let peer = 1 + i % 50;
        match i % 20 {
            // Static blackhole block of this node.
            0 => w.route(&dst, "blackhole", "static1", "", " * (200)", &[]),
            // Direct route.
            1 => w.route(
                &dst,
                "unicast",
                "direct1",
                "",
                " * (240)",
                &[format!("dev eth{}", i % 4)],
            ),
            // Kernel route to a workload.
            2 | 3 => {
                let dst = format!("192.168.{}.{}/32", (i >> 8) & 255, i & 255);
                w.route(
                    &dst,
                    "unicast",
                    "kernel1",
                    "",
                    " * (10)",
                    &[format!("dev cali{i:011x}")],
                );
            }
            // Multipath static route.
            4 => w.route(
                &dst,
                "unicast",
                "static1",
                "",
                " * (200)",
                &[
                    format!("via 10.99.0.{peer} on eth0"),
                    "via 10.99.0.254 on eth1".to_owned(),
                ],
            ),
            // BGP route; a third of them with an alternative from another peer.
            _ => {
                let mesh = format!("Mesh_10_99_0_{peer}");
                w.route(
                    &dst,
                    "unicast",
                    &mesh,
                    "",
                    " * (100/0) [i]",
                    &[format!("via 10.99.0.{peer} on eth0")],
                );
                if i.is_multiple_of(3) && n + 1 < ROUTES {
                    n += 1;
                    let other = 1 + (i + 7) % 50;
                    w.route(
                        "",
                        "unicast",
                        &format!("Mesh_10_99_0_{other}"),
                        &format!(" from 10.99.0.{other}"),
                        " (100/0) [i]",
                        &[format!("via 10.99.0.{other} on eth0")],
                    );
                }
            }
        }
        n += 1;
        i += 1;
    }
    w.out.push_str("0000 \n");
    w.out
}

const PROTOCOLS: &str = "2002-name     proto    table    state  since       info
1002-kernel1  Kernel   master   up     09:23:19    
 direct1  Direct   master   up     09:23:19    
 static1  Static   master   up     09:23:19    
0000 
";

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let runs = 15;
    let mut table = comfy_table::Table::new();
    table.set_header(vec![
        "format",
        "reply",
        "routes",
        "frame (64 KiB reads)",
        "parse",
        "parse peak extra",
        "parsed table extra",
        "map to status",
        "status size",
    ]);
    for (name, format) in [("BIRD 1.6", Format::Bird16), ("BIRD 2", Format::Bird2)] {
        let text = generate(format);
        let bytes = text.into_bytes();

        let mut frame_times = Vec::new();
        let mut reply = None;
        for _ in 0..runs {
            let started = Instant::now();
            let mut framer = Framer::new(256 << 20);
            let mut done = None;
            for chunk in bytes.chunks(64 << 10) {
                if let Some(r) = framer.push(chunk).unwrap() {
                    done = Some(r);
                }
            }
            frame_times.push(started.elapsed());
            reply = done;
        }
        let reply: Reply = reply.unwrap();

        let mut parse_times = Vec::new();
        let mut peak_extra = 0;
        let mut retained = 0;
        let mut parsed = None;
        for _ in 0..runs {
            let input = reply.clone();
            drop(parsed.take());
            let base = LIVE.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let started = Instant::now();
            let table = RouteTable::parse(input).unwrap();
            parse_times.push(started.elapsed());
            peak_extra = PEAK.load(Ordering::Relaxed) - base;
            retained = LIVE.load(Ordering::Relaxed) - base;
            parsed = Some(table);
        }
        let table_parsed = parsed.unwrap();
        let routes = table_parsed.len();

        let daemon = Arc::new(Daemon {
            socket: PathBuf::from("/var/run/calico/bird.ctl"),
            version: match format {
                Format::Bird16 => "1.6.8".into(),
                Format::Bird2 => "2.0.12".into(),
            },
            status: Part::NotRequested,
            protocols: Part::Collected(
                parse_protocols(&Reply::from_bytes(PROTOCOLS).unwrap()).unwrap(),
            ),
            routes: Part::Collected(table_parsed),
        });
        let snapshot = Snapshot {
            v4: Source::Daemon(daemon.clone()),
            v6: Source::Daemon(daemon),
        };
        let mut map_times = Vec::new();
        let mut status_bytes = 0;
        for _ in 0..5 {
            let base = LIVE.load(Ordering::Relaxed);
            let started = Instant::now();
            let mapped = map_snapshot(&snapshot, &[NodeStatusClass::Routes]);
            map_times.push(started.elapsed());
            status_bytes = LIVE.load(Ordering::Relaxed) - base;
            drop(mapped);
        }

        table.add_row(vec![
            name.to_owned(),
            mib(reply.len()),
            routes.to_string(),
            ms(median(frame_times)),
            ms(median(parse_times)),
            mib(peak_extra),
            mib(retained),
            ms(median(map_times)),
            mib(status_bytes),
        ]);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{ROUTES} routes; medians of {runs} runs; \"extra\" = heap beyond the reply text, which the parsed table keeps and indexes"
    );
    let _ = writeln!(out, "{table}");
    print!("{out}");
}
