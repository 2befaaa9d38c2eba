//! Parser for `show protocols` and `show protocols all`: one row (`1002`) per protocol, and with
//! `all` the detail lines (`1006`) under it — BGP state, neighbor, per-channel route counters.
//!
//! Rows are `name proto table state since info` (`nest/proto.c`, `proto_cmd_show`). The first
//! four columns are single words; `since` is one word in BIRD's default time formats but two
//! with `timeformat protocol iso long` (`2021-10-18 09:23:19`), so every following word that
//! looks like a date or time is taken into it; the rest of the line is `info`.

use serde::Serialize;

use crate::parse::error::ParseError;
use crate::parse::reply::{Line, Reply};

/// BIRD's BGP state words (`proto/bgp/bgp.c`: `bgp_state_names` and `bgp_state_dsc`; `Flush`
/// since BIRD 3, for a session whose routes are being flushed).
pub const BGP_STATES: [&str; 10] = [
    "Idle",
    "Connect",
    "Active",
    "OpenSent",
    "OpenConfirm",
    "Established",
    "Close",
    "Down",
    "Passive",
    "Flush",
];

/// One protocol instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Protocol {
    /// The instance name (`Mesh_10_0_0_2`, `kernel1`).
    pub name: String,
    /// The protocol type (`BGP`, `Kernel`, `Static`, `Direct`, `Device`, ...).
    pub proto: String,
    /// The table (`master`; `master4`, or `---` for protocols with several channels in BIRD 2).
    pub table: String,
    /// The protocol state: `up`, `down`, `start`, `stop`, `flush` (also `wait`, `feed` in 1.6).
    pub state: String,
    /// The time of the last state change, as printed.
    pub since: String,
    /// The info column, trimmed (for BGP: the BGP state and the last error).
    pub info: String,
    /// BGP details; present for BGP protocols.
    pub bgp: Option<Bgp>,
    /// `Description:` (with `all`).
    pub description: Option<String>,
    /// `Message:` (with `all`).
    pub message: Option<String>,
    /// `Routes:` counters of a BIRD 1.6 protocol (with `all`).
    pub routes: Option<RouteCounts>,
    /// Channels of a BIRD 2/3 protocol (with `all`).
    pub channels: Vec<Channel>,
}

/// BGP session details.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bgp {
    /// BIRD's BGP state word (see [`BGP_STATES`]): from `BGP state:` when details were asked
    /// for, else from the start of the info column, else `Down` for a protocol that is `down`
    /// (BIRD prints only the last error there, `bgp_get_status`).
    pub state: Option<String>,
    /// The info column without the state word: the last error (`Socket: No route to host`).
    pub reason: String,
    /// `Neighbor address:`, without a `%iface` scope.
    pub neighbor_address: Option<String>,
    /// `Neighbor AS:`.
    pub neighbor_as: Option<u32>,
    /// `Local AS:` (BIRD 2 and later).
    pub local_as: Option<u32>,
    /// `Neighbor ID:` (established sessions).
    pub neighbor_id: Option<String>,
    /// `Source address:` (established sessions).
    pub source_address: Option<String>,
    /// `Last error:`.
    pub last_error: Option<String>,
}

/// A BIRD 2/3 channel (`Channel ipv4`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// `ipv4`, `ipv6`, ...
    pub name: String,
    /// `State:` (`UP`, `DOWN`, ...).
    pub state: Option<String>,
    /// `Table:`.
    pub table: Option<String>,
    /// `Routes:` counters.
    pub routes: Option<RouteCounts>,
}

/// `Routes: N imported, [N filtered, ]N exported, N preferred`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteCounts {
    /// Routes imported into the table.
    pub imported: u32,
    /// Routes kept although filtered (`import keep filtered`).
    pub filtered: Option<u32>,
    /// Routes exported by the protocol.
    pub exported: u32,
    /// Routes that are preferred (in use).
    pub preferred: u32,
}

/// Parses a `show protocols` or `show protocols all` reply, protocols in BIRD's order.
///
/// Detail lines BIRD may add and that carry nothing used here are skipped, as are lines with
/// codes other than `1002`/`1006`. A row that does not have the first five columns is an error.
pub fn parse_protocols(reply: &Reply) -> Result<Vec<Protocol>, ParseError> {
    reply.check()?;
    let mut protocols: Vec<Protocol> = Vec::new();
    let mut in_channel = false;
    for line in reply.lines() {
        match line.code {
            1002 => {
                protocols.push(parse_row(&line)?);
                in_channel = false;
            }
            1006 => {
                if let Some(protocol) = protocols.last_mut() {
                    detail(protocol, &mut in_channel, line.text);
                }
            }
            _ => {}
        }
    }
    Ok(protocols)
}

/// Byte ranges of the whitespace-separated words of `s`.
fn words(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let b = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        Some((start, i))
    })
}

/// A word that continues a `since` column: a date or time part such as `09:23:19`,
/// `09:23:19.123` or `18-10-2021` (digits with `:` `.` `-` `/`), never a state word or error.
fn continues_time(word: &str) -> bool {
    word.bytes().any(|c| c.is_ascii_digit())
        && word
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b'-' | b'/'))
}

fn parse_row(line: &Line<'_>) -> Result<Protocol, ParseError> {
    let text = line.text;
    let mut ws = words(text).peekable();
    let mut column = || {
        ws.next()
            .map(|(s, e)| &text[s..e])
            .ok_or_else(|| ParseError::at(line, "expected `name proto table state since [info]`"))
    };
    let name = column()?;
    let proto = column()?;
    let table = column()?;
    let state = column()?;
    let (since_start, mut since_end) = ws
        .next()
        .ok_or_else(|| ParseError::at(line, "expected `name proto table state since [info]`"))?;
    while let Some(&(s, e)) = ws.peek() {
        if !continues_time(&text[s..e]) {
            break;
        }
        since_end = e;
        ws.next();
    }
    let info = text[since_end..].trim();
    let bgp = (proto == "BGP").then(|| {
        let (first, rest) = match info.split_once(char::is_whitespace) {
            Some((first, rest)) => (first, rest.trim_start()),
            None => (info, ""),
        };
        if BGP_STATES.contains(&first) {
            Bgp {
                state: Some(first.to_owned()),
                reason: rest.to_owned(),
                ..Bgp::default()
            }
        } else {
            // `bgp_get_status` prints no state word for a protocol that is down, which in
            // BIRD 1.6 and 2.x includes one still flushing its routes (row state `flush`);
            // `bgp_state_dsc` calls both `Down`.
            Bgp {
                state: matches!(state, "down" | "flush").then(|| "Down".to_owned()),
                reason: info.to_owned(),
                ..Bgp::default()
            }
        }
    });
    Ok(Protocol {
        name: name.to_owned(),
        proto: proto.to_owned(),
        table: table.to_owned(),
        state: state.to_owned(),
        since: text[since_start..since_end].to_owned(),
        info: info.to_owned(),
        bgp,
        ..Protocol::default()
    })
}

/// Applies one `1006` detail line to the protocol it belongs to.
fn detail(protocol: &mut Protocol, in_channel: &mut bool, text: &str) {
    let text = text.trim();
    if let Some(name) = text.strip_prefix("Channel ")
        && !name.contains(':')
    {
        protocol.channels.push(Channel {
            name: name.trim().to_owned(),
            ..Channel::default()
        });
        *in_channel = true;
        return;
    }
    let Some((key, value)) = text.split_once(':') else {
        return;
    };
    let value = value.trim();
    let owned = || Some(value.to_owned());
    let channel = if *in_channel {
        protocol.channels.last_mut()
    } else {
        None
    };
    match (key.trim(), channel) {
        ("Routes", Some(channel)) => channel.routes = route_counts(value),
        ("Routes", None) => protocol.routes = route_counts(value),
        ("State", Some(channel)) => channel.state = owned(),
        ("Table", Some(channel)) => channel.table = owned(),
        ("Description", _) => protocol.description = owned(),
        ("Message", _) => protocol.message = owned(),
        (key, _) => {
            let Some(bgp) = protocol.bgp.as_mut() else {
                return;
            };
            match key {
                "BGP state" => bgp.state = owned(),
                // `%I%J%s`: a link-local neighbor is printed with its interface,
                // `fe80::1%eth0`; since BIRD 2.18 and 3.2 an `onlink` one is followed by
                // ` onlink`.
                "Neighbor address" => {
                    let address = value.split_ascii_whitespace().next().unwrap_or(value);
                    bgp.neighbor_address =
                        Some(address.split('%').next().unwrap_or(address).to_owned());
                }
                "Neighbor AS" => bgp.neighbor_as = value.parse().ok(),
                "Local AS" => bgp.local_as = value.parse().ok(),
                "Neighbor ID" => bgp.neighbor_id = owned(),
                "Source address" => bgp.source_address = owned(),
                "Last error" => bgp.last_error = owned(),
                _ => {}
            }
        }
    }
}

/// `12 imported, 0 filtered, 3 exported, 12 preferred`; `None` when BIRD prints something else
/// (counters are informative only, so an unknown shape is not an error).
fn route_counts(value: &str) -> Option<RouteCounts> {
    let mut counts = RouteCounts::default();
    let mut seen = 0;
    for part in value.split(',') {
        let (n, what) = part.trim().split_once(' ')?;
        let n: u32 = n.parse().ok()?;
        match what.trim() {
            "imported" => counts.imported = n,
            "filtered" => counts.filtered = Some(n),
            "exported" => counts.exported = n,
            "preferred" => counts.preferred = n,
            _ => continue,
        }
        seen += 1;
    }
    (seen >= 3).then_some(counts)
}

#[cfg(test)]
mod tests;
