//! What a process costs, read from Linux's `/proc/<pid>` (CPU time, current and peak RSS), and
//! a datastore's Prometheus `/metrics` (etcd: gRPC bytes, watchers, and its own process CPU and
//! RSS), read with one plain HTTP/1.0 GET.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on every Linux ABI we
/// run on).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessSample {
    /// User + system CPU seconds so far.
    pub cpu_seconds: f64,
    /// Resident memory now, bytes.
    pub rss_bytes: u64,
    /// Peak resident memory (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
}

/// Reads `/proc/<pid>` (`self` for this process); `None` when it cannot be read.
pub fn process(pid: &str) -> Option<ProcessSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields resume after its closing parenthesis.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |k| k * 1024)
    };
    Some(ProcessSample {
        cpu_seconds: ticks / TICKS_PER_SECOND,
        rss_bytes: kib("VmRSS:"),
        peak_rss_bytes: kib("VmHWM:"),
    })
}

/// Prometheus samples by metric name, each summed over its labels.
pub type Metrics = HashMap<String, f64>;

/// GETs `url` (`http://host:port/path`) and parses the Prometheus text; `None` on any
/// failure (an https endpoint, no answer within `timeout`).
pub async fn scrape(url: &str, timeout: Duration) -> Option<Metrics> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    let fetch = async {
        let mut stream = TcpStream::connect(host).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut body = String::new();
        stream.read_to_string(&mut body).await.ok()?;
        Some(body)
    };
    let body = tokio::time::timeout(timeout, fetch).await.ok()??;
    let text = body.split_once("\r\n\r\n")?.1;
    Some(parse(text))
}

/// Sums each metric's samples over their labels.
pub fn parse(text: &str) -> Metrics {
    let mut metrics = Metrics::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series).to_owned();
        *metrics.entry(name).or_default() += value;
    }
    metrics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_summed_over_labels_and_comments_skipped() {
        let text = "# HELP x y\n# TYPE a counter\na{k=\"1\"} 2\na{k=\"2\"} 3.5\nb 7\nbad\n";
        let metrics = parse(text);
        assert_eq!(metrics.get("a"), Some(&5.5));
        assert_eq!(metrics.get("b"), Some(&7.0));
        assert_eq!(metrics.len(), 2);
    }

    #[test]
    fn this_process_can_be_read() {
        let sample = process("self");
        assert!(sample.is_some_and(|s| s.rss_bytes > 0 && s.peak_rss_bytes >= s.rss_bytes));
    }
}
