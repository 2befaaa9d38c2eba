//! A small synchronous client for BIRD's control socket that returns replies byte for byte (the
//! golden fixtures are these replies), and the little reading of `show protocols` and
//! `show route count` the lab needs to wait for convergence. Full parsing is nodestatus-bird's job.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::error::{LabError, Result};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A reply line's code, when the line starts with one.
fn code(line: &str) -> Option<(u16, u8)> {
    let bytes = line.as_bytes();
    if bytes.len() >= 5 && bytes[..4].iter().all(u8::is_ascii_digit) {
        Some((line[..4].parse().ok()?, bytes[4]))
    } else if bytes.len() == 4 && bytes.iter().all(u8::is_ascii_digit) {
        Some((line.parse().ok()?, b' '))
    } else {
        None
    }
}

/// Reads one reply: lines up to and including the first `dddd ` line. Asynchronous `+` lines
/// are not part of any reply and are dropped.
fn read_reply(reader: &mut impl BufRead, socket: &Path) -> Result<(String, u16)> {
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| LabError::io("reading from BIRD's control socket", socket, e))?;
        if n == 0 {
            return Err(LabError::io(
                "BIRD closed its control socket mid-reply",
                socket,
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        if line.starts_with('+') {
            continue;
        }
        reply.push_str(&line);
        if let Some((code, b' ')) = code(line.trim_end_matches('\n')) {
            return Ok((reply, code));
        }
    }
}

/// Sends one command and returns BIRD's reply as received (every line with its code). An `8xxx`
/// or `9xxx` reply is returned too; [`is_error`] tells.
pub(crate) fn query(socket: &Path, command: &str) -> Result<String> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| LabError::io("connecting to BIRD's control socket", socket, e))?;
    let set = |r: std::io::Result<()>| {
        r.map_err(|e| LabError::io("setting a timeout on BIRD's control socket", socket, e))
    };
    set(stream.set_read_timeout(Some(IO_TIMEOUT)))?;
    set(stream.set_write_timeout(Some(IO_TIMEOUT)))?;
    let mut reader = BufReader::new(
        stream
            .try_clone()
            .map_err(|e| LabError::io("cloning the control socket", socket, e))?,
    );
    // The greeting, `0001 BIRD <version> ready.`
    read_reply(&mut reader, socket)?;
    (&stream)
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|e| LabError::io("writing to BIRD's control socket", socket, e))?;
    Ok(read_reply(&mut reader, socket)?.0)
}

/// True when the reply's last line has an `8xxx` (runtime) or `9xxx` (syntax) code.
pub(crate) fn is_error(reply: &str) -> bool {
    reply
        .lines()
        .rev()
        .find_map(code)
        .is_some_and(|(c, _)| c >= 8000)
}

/// One row of `show protocols`: name, state and the BGP state word.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ProtocolRow {
    pub name: String,
    pub state: String,
    /// The BGP state word, first of the info column (empty for a disabled protocol).
    pub bgp_state: String,
}

/// Rows of a `show protocols` reply (code 1002). Columns: name, proto, table, state, since,
/// info; `since` has no blank in BIRD's default time formats, which the lab keeps.
pub(crate) fn protocol_rows(reply: &str) -> Vec<ProtocolRow> {
    let mut current = 0;
    reply
        .lines()
        .filter_map(|line| {
            // A line starting with a blank continues the previous line's code.
            let text = match code(line) {
                Some((c, _)) => {
                    current = c;
                    line.get(5..).unwrap_or_default()
                }
                None => line.strip_prefix(' ')?,
            };
            (current == 1002).then_some(text)
        })
        .filter_map(|row| {
            let cols: Vec<&str> = row.split_ascii_whitespace().collect();
            let [name, _proto, _table, state, ..] = cols[..] else {
                return None;
            };
            Some(ProtocolRow {
                name: name.to_string(),
                state: state.to_string(),
                bgp_state: cols.get(5).map_or_else(String::new, |s| s.to_string()),
            })
        })
        .collect()
}

/// The route count of each table in a `show route count` reply: BIRD 1.6 prints one
/// `N of M routes for K networks` (its one table), BIRD 2 one such line per table, ending
/// `in table <name>`. Returns (table or empty, M).
pub(crate) fn route_counts(reply: &str) -> Vec<(String, usize)> {
    reply
        .lines()
        .filter_map(|line| {
            let text = if code(line).is_some() {
                line.get(5..).unwrap_or_default()
            } else {
                line
            };
            let words: Vec<&str> = text.split_ascii_whitespace().collect();
            let of = words.iter().position(|w| *w == "of")?;
            if words.get(of + 2) != Some(&"routes") {
                return None;
            }
            let total = words.get(of + 1)?.parse().ok()?;
            let table = match words.iter().position(|w| *w == "table") {
                Some(t) => words.get(t + 1)?.to_string(),
                None => String::new(),
            };
            Some((table, total))
        })
        .collect()
}
