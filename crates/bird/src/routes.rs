//! Parser for `show route` (lines `1007`) in BIRD 1.6's one-line format and BIRD 2.x/3.x's
//! multi-line format, built to take a 100,000-route reply in milliseconds: the table keeps the
//! reply text and 32-bit offsets into it, so parsing copies no string.
//!
//! Grammar (`nest/rt-table.c` in 1.6, `nest/rt-show.c` in 2.x/3.x, `rt_show_rte`):
//! - 1.6: `<dst> via <gw> on <if> [<proto> <time>[ from <ip>]] * (<pref>[/<metric>]) [<origin>]`,
//!   or `dev <if>`, `blackhole`, `unreachable`, `prohibited`, `multipath` (next hops follow on
//!   `\tvia <gw> on <if> weight <n>` lines).
//! - 2.x/3.x: `Table master4:` headers (tables separated by an empty line), then
//!   `<dst> unicast|blackhole|unreachable|prohibited|recursive [<proto> <time>[ from <ip>]] * (...)`
//!   with next hops on tab-indented lines `\tvia <gw> on <if>[ mpls <l>][ onlink][ weight <n>]`
//!   or `\tdev <if>...`.
//! - Both: further routes for the same destination follow with an empty (blank-padded)
//!   destination; `*` marks the primary route, `!` a primary route the kernel refused.
//! - Routes for networks that are not IP prefixes (BIRD 2/3 list a table of every network
//!   type: VPN, ROA, flowspec, MPLS, ...) are skipped with their alternatives and next hops, as
//!   are the lines after an `8000 <line overflow>` until the next destination.
//!
//! `show route all` adds attribute lines with other codes (`1008`, `1012`), which are skipped.
//!
//! Routes are independent of each other, so a `1007` line that does not follow the grammar
//! costs only itself and the route it belongs to, not the table: it is left out and counted
//! in [`RouteTable::unrecognised`] (a route line takes its next-hop lines with it; a bad
//! next-hop line takes its route, which would otherwise be reported without a path it has).
//! A next-hop line indented with spaces instead of a tab is read as a next hop. What stays an
//! error: BIRD's own error replies, and framing (the client's job).

use memchr::memchr;
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use crate::error::{ParseError, Unrecognised};
use crate::reply::{Line, Reply};

/// What BIRD does with packets to the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    /// Forwarded to one or more next hops (`unicast`; in 1.6 `via`, `dev` or `multipath`).
    Unicast,
    /// Dropped silently.
    Blackhole,
    /// Dropped with ICMP unreachable.
    Unreachable,
    /// Dropped with ICMP administratively prohibited.
    Prohibited,
    /// Forwarded through a recursive next hop that is not resolved (BIRD 3).
    Recursive,
    /// No destination printed (BIRD's `RTD_NONE`, e.g. a route in a non-IP table).
    Unspecified,
}

impl RouteKind {
    /// The word BIRD prints for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unicast => "unicast",
            Self::Blackhole => "blackhole",
            Self::Unreachable => "unreachable",
            Self::Prohibited => "prohibited",
            Self::Recursive => "recursive",
            Self::Unspecified => "",
        }
    }
}

/// A byte range of the reply text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// `base` is the offset of `part`'s enclosing string; replies never exceed `u32::MAX` bytes
    /// ([`crate::reply::MAX_REPLY_BYTES`]), so the casts are exact.
    fn of(base: usize, whole: &str, part: &str) -> Self {
        let start = base + (part.as_ptr() as usize - whole.as_ptr() as usize);
        Self {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    }

    fn get(self, text: &str) -> &str {
        &text[self.start as usize..self.end as usize]
    }

    fn get_opt(self, text: &str) -> Option<&str> {
        (self.end > self.start).then(|| self.get(text))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RawRoute {
    table: Span,
    destination: Span,
    protocol: Span,
    since: Span,
    from: Span,
    info: Span,
    hops_start: u32,
    hops_end: u32,
    kind: RouteKind,
    primary: bool,
    sync_error: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RawHop {
    gateway: Span,
    interface: Span,
    weight: u32,
    onlink: bool,
}

/// The routes of one `show route` reply, in BIRD's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTable {
    reply: Reply,
    routes: Vec<RawRoute>,
    hops: Vec<RawHop>,
    unrecognised: Unrecognised,
}

/// One route (one line of `show route`, with its next-hop lines).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route<'a> {
    /// The table (`master4`) in BIRD 2/3; `None` in BIRD 1.6, which prints no table.
    pub table: Option<&'a str>,
    /// The destination prefix.
    pub destination: &'a str,
    /// What happens to packets.
    pub kind: RouteKind,
    /// The protocol instance the route came from (`Mesh_10_0_0_2`, `kernel1`).
    pub protocol: &'a str,
    /// When the route last changed, as printed.
    pub since: &'a str,
    /// The `from` address (the BGP peer that sent it when it differs from the next hop).
    pub from: Option<&'a str>,
    /// True for the primary route (`*` or `!`), the one BIRD uses.
    pub primary: bool,
    /// True for `!`: primary, but the kernel did not accept it.
    pub sync_error: bool,
    /// The rest of the line: preference, metric, origin (`(100/0) [i]`).
    pub info: &'a str,
    /// The next hops (several for a multipath route; none for blackhole & co).
    pub next_hops: NextHops<'a>,
}

/// One next hop of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NextHop<'a> {
    /// `via` address; `None` for `dev` (directly connected) next hops.
    pub gateway: Option<&'a str>,
    /// The outgoing interface; `None` when BIRD 3 prints none (`via <gw>` alone).
    pub interface: Option<&'a str>,
    /// `onlink`.
    pub onlink: bool,
    /// `weight N` of a multipath next hop.
    pub weight: Option<u32>,
}

/// Iterator over the next hops of a [`Route`].
#[derive(Clone, Debug)]
pub struct NextHops<'a> {
    text: &'a str,
    hops: std::slice::Iter<'a, RawHop>,
}

impl<'a> Iterator for NextHops<'a> {
    type Item = NextHop<'a>;

    fn next(&mut self) -> Option<NextHop<'a>> {
        let hop = self.hops.next()?;
        Some(NextHop {
            gateway: hop.gateway.get_opt(self.text),
            interface: hop.interface.get_opt(self.text),
            onlink: hop.onlink,
            weight: (hop.weight > 0).then_some(hop.weight),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.hops.size_hint()
    }
}

impl ExactSizeIterator for NextHops<'_> {}

impl Serialize for NextHops<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.clone())
    }
}

impl Serialize for RouteTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for route in self.iter() {
            seq.serialize_element(&route)?;
        }
        seq.end()
    }
}

impl RouteTable {
    /// Parses a `show route` reply (with or without `all`).
    pub fn parse(reply: Reply) -> Result<Self, ParseError> {
        reply.check()?;
        // About 60 bytes of reply per route in either format: reserve once, trim at the end.
        let mut routes: Vec<RawRoute> = Vec::with_capacity(reply.len() / 56);
        let mut hops = Vec::with_capacity(reply.len() / 56);
        let mut table = Span::default();
        let mut destination: Option<Span> = None;
        // True while the lines belong to a route that is not kept (a network that is not an IP
        // prefix, or one lost to a line overflow): its alternatives and next hops go with it.
        let mut skipping = false;
        // True while the next-hop lines belong to a route line that was not understood.
        let mut orphan_hops = false;
        let mut unrecognised = Unrecognised::default();
        for line in reply.lines() {
            if line.code != 1007 {
                // `cli_printf` replaces a line too long for its buffer by `8000-<line
                // overflow>`: the route is lost, and which destination the lines after it
                // belong to is unknown until the next one is named.
                if line.code == 8000 {
                    skipping = true;
                }
                continue;
            }
            let text = line.text;
            let route = match text.as_bytes().first() {
                // The blank line BIRD 2 prints between tables.
                None => continue,
                Some(b'\t' | b' ') if skipping => continue,
                Some(b'\t') => {
                    if !orphan_hops {
                        orphan_hops = !push_hop(&line, &mut routes, &mut hops, &mut unrecognised);
                    }
                    continue;
                }
                // A next hop indented with spaces: no `[protocol time]`, starts `via`/`dev`.
                Some(b' ') if is_hop(text) => {
                    if !orphan_hops {
                        orphan_hops = !push_hop(&line, &mut routes, &mut hops, &mut unrecognised);
                    }
                    continue;
                }
                Some(b' ') => match destination {
                    Some(dst) => parse_route(&line, text, table, dst, &mut hops),
                    None => Err(ParseError::at(
                        &line,
                        "alternative route before any destination",
                    )),
                },
                Some(_) => {
                    if let Some(name) = text
                        .strip_prefix("Table ")
                        .and_then(|t| t.strip_suffix(':'))
                    {
                        table = Span::of(line.offset, text, name);
                        destination = None;
                        skipping = false;
                        orphan_hops = false;
                        continue;
                    }
                    let end = first_space(text);
                    skipping = !is_ip_destination(&text[..end], &text[end..]);
                    if skipping {
                        destination = None;
                        continue;
                    }
                    let dst = Span::of(line.offset, text, &text[..end]);
                    destination = Some(dst);
                    parse_route(&line, &text[end..], table, dst, &mut hops)
                }
            };
            match route {
                Ok(route) => {
                    routes.push(route);
                    orphan_hops = false;
                }
                Err(e) => {
                    unrecognised.record(e);
                    orphan_hops = true;
                    // An indented line not understood may have been the next hop of the route
                    // before: a unicast route left without any is not reported pathless.
                    if text.starts_with(' ')
                        && routes.last().is_some_and(|r| {
                            r.kind == RouteKind::Unicast && r.hops_start == r.hops_end
                        })
                    {
                        routes.pop();
                    }
                }
            }
        }
        routes.shrink_to_fit();
        hops.shrink_to_fit();
        Ok(Self {
            reply,
            routes,
            hops,
            unrecognised,
        })
    }

    /// The `1007` lines left out because they did not follow the grammar.
    pub fn unrecognised(&self) -> &Unrecognised {
        &self.unrecognised
    }

    /// Number of routes (alternatives counted, next hops not).
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when the reply held no route.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The routes in BIRD's order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Route<'_>> + Clone + '_ {
        let text = self.reply.text();
        self.routes.iter().map(move |r| Route {
            table: r.table.get_opt(text),
            destination: r.destination.get(text),
            kind: r.kind,
            protocol: r.protocol.get(text),
            since: r.since.get(text),
            from: r.from.get_opt(text),
            primary: r.primary,
            sync_error: r.sync_error,
            info: r.info.get(text),
            next_hops: NextHops {
                text,
                hops: self.hops[r.hops_start as usize..r.hops_end as usize].iter(),
            },
        })
    }

    /// The reply the routes were parsed from.
    pub fn reply(&self) -> &Reply {
        &self.reply
    }
}

/// Adds a next-hop line to the last route. A line that is not a next hop, or one before any
/// route, is left out and costs its route; returns false then (the route's further next-hop
/// lines have no route to go to).
fn push_hop(
    line: &Line<'_>,
    routes: &mut Vec<RawRoute>,
    hops: &mut Vec<RawHop>,
    unrecognised: &mut Unrecognised,
) -> bool {
    let Some(route) = routes.last_mut() else {
        unrecognised.record(ParseError::at(line, "next hop before any route"));
        return false;
    };
    match parse_hop(line) {
        Ok(hop) => {
            hops.push(hop);
            route.hops_end = hops.len() as u32;
            true
        }
        Err(e) => {
            unrecognised.record(e);
            // The route's other next hops stay in `hops`, unreferenced; dropping the route
            // keeps it from being reported without a path it has.
            routes.pop();
            false
        }
    }
}

/// True for a next-hop line: `via ...` or `dev ...`, without a route's `[protocol time]`.
fn is_hop(text: &str) -> bool {
    let t = text.trim_start();
    (t.starts_with("via ") || t.starts_with("dev ")) && memchr(b'[', t.as_bytes()).is_none()
}

/// Length of the first word of `s` (BIRD separates words with spaces and tabs).
fn first_space(s: &str) -> usize {
    s.bytes()
        .position(|b| b == b' ' || b == b'\t')
        .unwrap_or(s.len())
}

/// True when a route line names an IP network, the only kind nodestatus reports.
///
/// BIRD 2/3's plain `show route` lists the first table of every network type (`net_format`):
/// besides `10.0.0.0/24` and `fd00::/64` (followed by `mpls <label>` since BIRD 2.14),
/// a route may be for `1:2 10.0.0.0/24` (VPN), `10.0.0.0/24-24 AS65000` (ROA),
/// `flow4 { dst 10.0.0.0/8; }` (flowspec), `2001:db8::/32 from ::/0` (source-specific),
/// `1000` (MPLS), `65000` (ASPA), `evpn ...`, a MAC address or `10.0.0.1%2` (neighbor).
/// Those are skipped rather than misread. `first` is the destination's first word, `rest` the
/// remainder of the line.
fn is_ip_destination(first: &str, rest: &str) -> bool {
    // One pass over the word: `<hex digits . :>/<digits>`; only an IPv6 prefix can be
    // source-specific.
    let mut slash = 0;
    let mut v6 = false;
    for (i, &c) in first.as_bytes().iter().enumerate() {
        match c {
            b'0'..=b'9' => {}
            b'/' if slash == 0 && i > 0 => slash = i,
            b'.' | b'a'..=b'f' | b'A'..=b'F' if slash == 0 => {}
            b':' if slash == 0 => v6 = true,
            _ => return false,
        }
    }
    slash > 0 && slash + 1 < first.len() && !(v6 && rest.trim_start().starts_with("from "))
}

/// Whitespace-separated words of `s`.
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split_ascii_whitespace()
}

/// Parses the part of a route line after the destination: `<what> [<proto> <time>[ from <ip>]]
/// [*|!] <info>`. An inline 1.6 next hop (`via`/`dev`) is pushed to `hops`.
fn parse_route(
    line: &Line<'_>,
    rest: &str,
    table: Span,
    destination: Span,
    hops: &mut Vec<RawHop>,
) -> Result<RawRoute, ParseError> {
    let whole = line.text;
    let at = |part: &str| Span::of(line.offset, whole, part);
    let lb = memchr(b'[', rest.as_bytes())
        .ok_or_else(|| ParseError::at(line, "expected `[protocol time]`"))?;
    let rb = memchr(b']', &rest.as_bytes()[lb..])
        .map(|i| lb + i)
        .ok_or_else(|| ParseError::at(line, "expected `]` after `[protocol time`"))?;
    let hops_start = hops.len() as u32;
    let mut what = words(&rest[..lb]);
    let mut first = what.next();
    // Since BIRD 2.14 a route's MPLS label follows the destination (`%N mpls %d`):
    // `10.0.0.0/24 mpls 100  unicast [...`.
    if first == Some("mpls") {
        what.next();
        first = what.next();
    }
    let kind = match first {
        Some("unicast" | "multipath") => RouteKind::Unicast,
        Some("blackhole") => RouteKind::Blackhole,
        Some("unreachable") => RouteKind::Unreachable,
        Some("prohibited") => RouteKind::Prohibited,
        Some("recursive") => RouteKind::Recursive,
        Some("???") | None => RouteKind::Unspecified,
        Some("via") => {
            let (Some(gw), Some("on"), Some(iface)) = (what.next(), what.next(), what.next())
            else {
                return Err(ParseError::at(
                    line,
                    "expected `via <gateway> on <interface>`",
                ));
            };
            hops.push(RawHop {
                gateway: at(gw),
                interface: at(iface),
                weight: 0,
                onlink: false,
            });
            RouteKind::Unicast
        }
        Some("dev") => {
            let Some(iface) = what.next() else {
                return Err(ParseError::at(line, "expected `dev <interface>`"));
            };
            hops.push(RawHop {
                gateway: Span::default(),
                interface: at(iface),
                weight: 0,
                onlink: false,
            });
            RouteKind::Unicast
        }
        Some(_) => return Err(ParseError::at(line, "unknown route destination type")),
    };

    let inner = rest[lb + 1..rb].trim();
    let proto_end = first_space(inner);
    let protocol = &inner[..proto_end];
    if protocol.is_empty() {
        return Err(ParseError::at(line, "expected a protocol name in `[...]`"));
    }
    let mut since = inner[proto_end..].trim_start();
    let mut from = Span::default();
    // `<time> from <ip>`: the address is the last word, `from` the one before it.
    if let Some((head, last)) = since.rsplit_once(' ')
        && let Some(time) = head.trim_end().strip_suffix("from")
        && (time.is_empty() || time.ends_with(' '))
    {
        from = at(last);
        since = time.trim_end();
    }

    let tail = rest[rb + 1..].trim_start();
    let (primary, sync_error, info) = match tail.as_bytes().first() {
        Some(b'*') => (true, false, &tail[1..]),
        Some(b'!') => (true, true, &tail[1..]),
        _ => (false, false, tail),
    };
    Ok(RawRoute {
        table,
        destination,
        protocol: at(protocol),
        since: if since.is_empty() {
            Span::default()
        } else {
            at(since)
        },
        from,
        info: at(info.trim()),
        hops_start,
        hops_end: hops.len() as u32,
        kind,
        primary,
        sync_error,
    })
}

/// Parses a tab-indented next-hop line: `via <gw>[ on <if>][ mpls <labels>][ onlink][ weight <n>]`,
/// `dev <if>...`, or BIRD 3's recursive `via <gw> [<ll>] table <t>[ mpls ...]`.
fn parse_hop(line: &Line<'_>) -> Result<RawHop, ParseError> {
    let whole = line.text;
    let at = |part: &str| Span::of(line.offset, whole, part);
    let mut w = words(whole);
    let mut hop = RawHop {
        gateway: Span::default(),
        interface: Span::default(),
        weight: 0,
        onlink: false,
    };
    match (w.next(), w.next()) {
        (Some("via"), Some(gw)) => hop.gateway = at(gw),
        (Some("dev"), Some(iface)) => hop.interface = at(iface),
        _ => return Err(ParseError::at(line, "expected a `via` or `dev` next hop")),
    }
    while let Some(word) = w.next() {
        match word {
            "on" => {
                let iface = w
                    .next()
                    .ok_or_else(|| ParseError::at(line, "expected an interface after `on`"))?;
                hop.interface = at(iface);
            }
            "onlink" => hop.onlink = true,
            "weight" => {
                hop.weight = w
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| ParseError::at(line, "expected a number after `weight`"))?;
            }
            "mpls" | "table" => {
                w.next();
            }
            // A link-local address in BIRD 3's recursive next hop, or a future flag.
            _ => {}
        }
    }
    Ok(hop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RouteTable, ParseError> {
        RouteTable::parse(Reply::from_bytes(text).unwrap())
    }

    /// One line per route: `table dst kind proto [since] from flags info | hops`.
    fn summary(table: &RouteTable) -> Vec<String> {
        table
            .iter()
            .map(|r| {
                let hops: Vec<String> = r
                    .next_hops
                    .clone()
                    .map(|h| {
                        let mut s = String::new();
                        if let Some(gw) = h.gateway {
                            s += &format!("via {gw}");
                        }
                        if let Some(i) = h.interface {
                            s += &format!(" dev {i}");
                        }
                        if h.onlink {
                            s += " onlink";
                        }
                        if let Some(w) = h.weight {
                            s += &format!(" weight {w}");
                        }
                        s.trim().to_owned()
                    })
                    .collect();
                format!(
                    "{} {} {} {} [{}] from={} {}{} {} | {}",
                    r.table.unwrap_or("-"),
                    r.destination,
                    r.kind.as_str(),
                    r.protocol,
                    r.since,
                    r.from.unwrap_or("-"),
                    if r.primary { "*" } else { "-" },
                    if r.sync_error { "!" } else { "" },
                    r.info,
                    hops.join(", ")
                )
            })
            .collect()
    }

    const BIRD16: &str = "1007-0.0.0.0/0          via 10.99.0.1 on eth0 [kernel1 09:23:19] * (10)
 192.168.82.0/26    via 10.99.0.3 on eth0 [Mesh_10_99_0_3 09:23:22] * (100/0) [i]
                    via 10.99.0.3 on eth0 [Node_10_99_0_4 09:23:25 from 10.99.0.4] (100/0) [AS65001i]
 10.99.0.0/24       dev eth0 [direct1 09:23:19] * (240)
 192.168.10.0/26    blackhole [static1 09:23:19] * (200)
                    unreachable [Mesh_10_99_0_3 09:23:22 from 10.99.0.3] (100/-) [i]
 192.168.10.64/26   unreachable [static1 09:23:19] * (200)
 192.168.10.128/26  prohibited [static1 09:23:19] * (200)
 10.201.0.0/16      multipath [static1 09:23:19] * (200)
 \tvia 10.99.0.2 on eth0 weight 1
 \tvia 10.99.0.3 on eth1 weight 2
 192.168.1.17/32    dev cali12345 [kernel1 09:23:30] ! (10)
0000 
";

    #[test]
    fn bird_1_6_one_line_routes_of_every_kind() {
        assert_eq!(
            summary(&parse(BIRD16).unwrap()),
            [
                "- 0.0.0.0/0 unicast kernel1 [09:23:19] from=- * (10) | via 10.99.0.1 dev eth0",
                "- 192.168.82.0/26 unicast Mesh_10_99_0_3 [09:23:22] from=- * (100/0) [i] | via 10.99.0.3 dev eth0",
                "- 192.168.82.0/26 unicast Node_10_99_0_4 [09:23:25] from=10.99.0.4 - (100/0) [AS65001i] | via 10.99.0.3 dev eth0",
                "- 10.99.0.0/24 unicast direct1 [09:23:19] from=- * (240) | dev eth0",
                "- 192.168.10.0/26 blackhole static1 [09:23:19] from=- * (200) | ",
                "- 192.168.10.0/26 unreachable Mesh_10_99_0_3 [09:23:22] from=10.99.0.3 - (100/-) [i] | ",
                "- 192.168.10.64/26 unreachable static1 [09:23:19] from=- * (200) | ",
                "- 192.168.10.128/26 prohibited static1 [09:23:19] from=- * (200) | ",
                "- 10.201.0.0/16 unicast static1 [09:23:19] from=- * (200) | via 10.99.0.2 dev eth0 weight 1, via 10.99.0.3 dev eth1 weight 2",
                "- 192.168.1.17/32 unicast kernel1 [09:23:30] from=- *! (10) | dev cali12345",
            ]
        );
    }

    #[test]
    fn bird_2_multi_line_routes_with_tables_and_next_hops() {
        let text = "1007-Table master4:
 0.0.0.0/0            unicast [kernel1 09:23:19.120] * (10)
 \tvia 10.99.0.1 on eth0
 192.168.82.0/26      unicast [Mesh_10_99_0_3 09:23:22.500] * (100/0) [i]
 \tvia 10.99.0.3 on eth0
                      unicast [Node_10_99_0_4 09:23:25.001 from 10.99.0.4] (100/0) [AS65001i]
 \tvia 10.99.0.3 on eth0 onlink
 10.99.0.0/24         unicast [direct1 09:23:19.120] * (240)
 \tdev eth0
 10.201.0.0/16        unicast [static1 09:23:19.120] * (200)
 \tvia 10.99.0.2 on eth0 weight 1
 \tvia 10.99.0.3 on eth1 onlink weight 3
 192.168.10.0/26      blackhole [static1 09:23:19.120] * (200)
                      unreachable [Mesh_10_99_0_3 09:23:22.500 from 10.99.0.3] (100/-) [i]
 192.168.10.128/26    prohibited [static1 09:23:19.120] * (200)
 
 Table master6:
 fd00:10::/64         unicast [Mesh_10_99_0_3 09:23:22.500] * (100/0) [i]
 \tvia fd99::3 on eth0
 fd99::/64            unicast [direct1 09:23:19.120] * (240)
 \tdev eth0
0000 
";
        assert_eq!(
            summary(&parse(text).unwrap()),
            [
                "master4 0.0.0.0/0 unicast kernel1 [09:23:19.120] from=- * (10) | via 10.99.0.1 dev eth0",
                "master4 192.168.82.0/26 unicast Mesh_10_99_0_3 [09:23:22.500] from=- * (100/0) [i] | via 10.99.0.3 dev eth0",
                "master4 192.168.82.0/26 unicast Node_10_99_0_4 [09:23:25.001] from=10.99.0.4 - (100/0) [AS65001i] | via 10.99.0.3 dev eth0 onlink",
                "master4 10.99.0.0/24 unicast direct1 [09:23:19.120] from=- * (240) | dev eth0",
                "master4 10.201.0.0/16 unicast static1 [09:23:19.120] from=- * (200) | via 10.99.0.2 dev eth0 weight 1, via 10.99.0.3 dev eth1 onlink weight 3",
                "master4 192.168.10.0/26 blackhole static1 [09:23:19.120] from=- * (200) | ",
                "master4 192.168.10.0/26 unreachable Mesh_10_99_0_3 [09:23:22.500] from=10.99.0.3 - (100/-) [i] | ",
                "master4 192.168.10.128/26 prohibited static1 [09:23:19.120] from=- * (200) | ",
                "master6 fd00:10::/64 unicast Mesh_10_99_0_3 [09:23:22.500] from=- * (100/0) [i] | via fd99::3 dev eth0",
                "master6 fd99::/64 unicast direct1 [09:23:19.120] from=- * (240) | dev eth0",
            ]
        );
    }

    #[test]
    fn show_route_all_attribute_lines_are_skipped() {
        let plain = parse(include_str!(
            "../tests/fixtures/loopback-bird2/c-bird-show_route.txt"
        ))
        .unwrap();
        let all = parse(include_str!(
            "../tests/fixtures/loopback-bird2/c-bird-show_route_all.txt"
        ))
        .unwrap();
        assert_eq!(summary(&all), summary(&plain));
        assert_eq!(
            summary(&all),
            [
                "master4 192.168.30.0/26 unreachable Mesh_127_0_0_2 [00:51:32.776] from=127.0.0.2 * (100) [i] | ",
                "master4 192.168.10.128/26 prohibited static1 [00:51:27.899] from=- * (200) | ",
                "master4 192.168.10.64/26 unreachable static1 [00:51:27.899] from=- * (200) | ",
                "master4 192.168.20.0/26 blackhole static1 [00:51:27.899] from=- * (200) | ",
                "master4 192.168.20.0/26 unreachable Mesh_127_0_0_2 [00:51:32.776] from=127.0.0.2 - (100) [i] | ",
                "master4 192.168.10.0/26 blackhole static1 [00:51:27.899] from=- * (200) | ",
                "master6 fd00:20::/64 unreachable static2 [00:51:27.899] from=- * (200) | ",
                "master6 fd00:10::/64 blackhole static2 [00:51:27.899] from=- * (200) | ",
            ]
        );
        let plain16 = parse(include_str!(
            "../tests/fixtures/loopback-bird1.6/a-bird-show_route.txt"
        ))
        .unwrap();
        let all16 = parse(include_str!(
            "../tests/fixtures/loopback-bird1.6/a-bird-show_route_all.txt"
        ))
        .unwrap();
        assert_eq!(summary(&all16), summary(&plain16));
        assert_eq!(plain16.len(), 6);
    }

    #[test]
    fn iso_long_route_times_have_a_space() {
        let got = parse(include_str!(
            "../tests/fixtures/loopback-bird1.6/isolong-bird-show_route.txt"
        ))
        .unwrap();
        assert_eq!(
            summary(&got),
            ["- 192.168.40.0/26 blackhole static1 [2026-11-25 00:52:02] from=- * (200) | "]
        );
        let got = parse(include_str!(
            "../tests/fixtures/loopback-bird2/isolong-bird-show_route.txt"
        ))
        .unwrap();
        assert_eq!(
            summary(&got),
            [
                "master4 192.168.40.0/26 blackhole static1 [2026-11-25 00:52:02.709] from=- * (200) | "
            ]
        );
    }

    #[test]
    fn bird_3_next_hops_without_interface_mpls_and_recursive() {
        let text = "1007-Table master4:
 10.1.0.0/16 mpls 100 unicast [bgp1 12:00:00.000] * (100/0) [i]
 \tvia 10.99.0.2 on eth0 mpls 200/300
 10.2.0.0/16          unicast [static1 12:00:00.000] * (200)
 \tvia 10.99.0.9
 10.3.0.0/16          recursive [bgp2 12:00:00.000 from 10.0.0.9] * (100/-) [i]
 \tvia 10.0.0.9 table master4
0000 
";
        assert_eq!(
            summary(&parse(text).unwrap()),
            [
                "master4 10.1.0.0/16 unicast bgp1 [12:00:00.000] from=- * (100/0) [i] | via 10.99.0.2 dev eth0",
                "master4 10.2.0.0/16 unicast static1 [12:00:00.000] from=- * (200) | via 10.99.0.9",
                "master4 10.3.0.0/16 recursive bgp2 [12:00:00.000] from=10.0.0.9 * (100/-) [i] | via 10.0.0.9",
            ]
        );
    }

    #[test]
    fn calico_shaped_alternatives_with_any_indentation() {
        let text = "0001 BIRD v0.3.3+birdv1.6.8 ready.
1007-0.0.0.0/0          via 172.17.0.1 on eth0 [kernel1 20:10:57] * (10)
 192.168.69.128/26  blackhole [static1 09:23:20] * (200)
                   unreachable [Mesh_10_128_0_244 09:23:24 from 10.128.0.244] (100/-) [i]
                   blackhole [kernel1 09:23:21] (10)
 192.168.36.64/26   via 10.128.0.1 on ens4 [Mesh_10_128_0_241 09:23:23 from 10.128.0.241] * (100/?) [i]
                   via 192.168.36.64 on vxlan.calico [kernel1 09:23:21] (10)
0000
";
        assert_eq!(
            summary(&parse(text).unwrap()),
            [
                "- 0.0.0.0/0 unicast kernel1 [20:10:57] from=- * (10) | via 172.17.0.1 dev eth0",
                "- 192.168.69.128/26 blackhole static1 [09:23:20] from=- * (200) | ",
                "- 192.168.69.128/26 unreachable Mesh_10_128_0_244 [09:23:24] from=10.128.0.244 - (100/-) [i] | ",
                "- 192.168.69.128/26 blackhole kernel1 [09:23:21] from=- - (10) | ",
                "- 192.168.36.64/26 unicast Mesh_10_128_0_241 [09:23:23] from=10.128.0.241 * (100/?) [i] | via 10.128.0.1 dev ens4",
                "- 192.168.36.64/26 unicast kernel1 [09:23:21] from=- - (10) | via 192.168.36.64 dev vxlan.calico",
            ]
        );
    }

    #[test]
    fn routes_of_networks_that_are_not_ip_prefixes_are_skipped_with_their_next_hops() {
        // BIRD 2.x/3.x plain `show route` lists the first table of every network type
        // (`rt_show_get_default_tables`); `rt_show_rte` prints each route as
        // `"%-20s %s [%s %s%s]%s%s"` with the network from `net_format`: VPN (`rd net`),
        // ROA (`net-max ASn`, no destination word), flowspec (BIRD 3 prints its validity,
        // `""` when valid), MPLS (a label), source-specific IPv6 (`dst from src`). Since 2.14 a
        // route's own MPLS label follows the network (`%N mpls %d`), again for an alternative
        // with another label.
        let text = "1007-Table master4:
 10.1.0.0/16 mpls 100 unicast [bgp1 12:00:00.000] * (100) [AS65001i]
 \tvia 10.99.0.2 on eth0 mpls 200/300
 10.1.0.0/16 mpls 101 unicast [bgp2 12:00:00.000] (100) [AS65002i]
 \tvia 10.99.0.3 on eth0
 
 Table vpntab4:
 1:2 10.0.0.0/24      unicast [bgp3 12:00:00.000] * (100) [AS65003i]
 \tvia 10.99.0.4 on eth0 mpls 100
                      unicast [bgp4 12:00:00.000 from 10.99.0.9] (100) [AS65004i]
 \tvia 10.99.0.5 on eth0 mpls 200
 
 Table roatab4:
 10.0.0.0/24-24 AS65000  [static_roa 12:00:00.000] * (200)
 
 Table flowtab4:
 flow4 { dst 10.0.0.0/8; }  [flow1 12:00:00.000] * (200)
                      unknown [flow2 12:00:00.000] (200)
 
 Table mplstab:
 1000                 unicast [static4 12:00:00.000] * (200)
 \tvia 10.99.0.6 on eth0 mpls 300
 
 Table sadrtab:
 2001:db8::/32 from ::/0 unicast [static3 12:00:00.000] * (200)
 \tdev eth0
 
 Table master6:
 fd00::/64            unicast [bgp1 12:00:00.000 from fe80::9] * (100) [AS65001i]
 \tvia fe80::2 on eth0
0000 
";
        assert_eq!(
            summary(&parse(text).unwrap()),
            [
                "master4 10.1.0.0/16 unicast bgp1 [12:00:00.000] from=- * (100) [AS65001i] | via 10.99.0.2 dev eth0",
                "master4 10.1.0.0/16 unicast bgp2 [12:00:00.000] from=- - (100) [AS65002i] | via 10.99.0.3 dev eth0",
                "master6 fd00::/64 unicast bgp1 [12:00:00.000] from=fe80::9 * (100) [AS65001i] | via fe80::2 dev eth0",
            ]
        );
    }

    #[test]
    fn a_line_overflow_drops_the_lost_route_s_next_hops_and_alternatives() {
        // `cli_printf` replaces a line longer than its buffer by `<line overflow>` with code
        // 8000; the lines that followed the lost route cannot be placed until a network is named.
        let text = "1007-10.1.0.0/16        via 10.99.0.1 on eth0 [kernel1 12:00:00] * (10)
8000-<line overflow>
1007-\tvia 10.99.0.2 on eth0 weight 1
 \tvia 10.99.0.3 on eth1 weight 2
                    unreachable [static1 12:00:00] (200)
 10.2.0.0/16        dev eth0 [direct1 12:00:00] * (240)
0000 
";
        assert_eq!(
            summary(&parse(text).unwrap()),
            [
                "- 10.1.0.0/16 unicast kernel1 [12:00:00] from=- * (10) | via 10.99.0.1 dev eth0",
                "- 10.2.0.0/16 unicast direct1 [12:00:00] from=- * (240) | dev eth0",
            ]
        );
    }

    #[test]
    fn an_empty_table_has_no_routes() {
        let table = parse("0000 \n").unwrap();
        assert!(table.is_empty());
        assert_eq!(table.len(), 0);
    }

    /// The reply of issue 17: one next-hop line indented differently lost both families.
    const TWO_FAMILIES: &str = "1007-Table master4:\n\
        \x2010.0.0.0/24          unicast [static1 12:00:00] * (200)\n\
        \x20\tvia 10.99.0.1 on eth0\n\
        \x2010.0.1.0/24          unicast [static1 12:00:00] * (200)\n\
        \x20HOP1\n\
        \x2010.0.2.0/24          unicast [static1 12:00:00] * (200)\n\
        \x20\tvia 10.99.0.3 on eth0\n\
        \x20\tvia 10.99.0.4 on eth0\n\
        \x20\n\
        1007-Table master6:\n\
        \x20fd00::/64            unicast [static2 12:00:00] * (200)\n\
        \x20\tvia fd99::1 on eth0\n\
        0000 \n";

    #[test]
    fn a_next_hop_indented_with_spaces_is_still_a_next_hop() {
        let table = parse(&TWO_FAMILIES.replace("HOP1", "   via 10.99.0.2 on eth0")).unwrap();
        assert_eq!(
            summary(&table),
            [
                "master4 10.0.0.0/24 unicast static1 [12:00:00] from=- * (200) | via 10.99.0.1 dev eth0",
                "master4 10.0.1.0/24 unicast static1 [12:00:00] from=- * (200) | via 10.99.0.2 dev eth0",
                "master4 10.0.2.0/24 unicast static1 [12:00:00] from=- * (200) | via 10.99.0.3 dev eth0, via 10.99.0.4 dev eth0",
                "master6 fd00::/64 unicast static2 [12:00:00] from=- * (200) | via fd99::1 dev eth0",
            ]
        );
        assert_eq!(table.unrecognised(), &Unrecognised::default());
    }

    #[test]
    fn an_unrecognised_line_costs_its_route_not_the_table() {
        for hop in ["\tgateway 10.99.0.2", "  gateway 10.99.0.2 [?]"] {
            let table = parse(&TWO_FAMILIES.replace("HOP1", hop)).unwrap();
            assert_eq!(
                summary(&table),
                [
                    "master4 10.0.0.0/24 unicast static1 [12:00:00] from=- * (200) | via 10.99.0.1 dev eth0",
                    "master4 10.0.2.0/24 unicast static1 [12:00:00] from=- * (200) | via 10.99.0.3 dev eth0, via 10.99.0.4 dev eth0",
                    "master6 fd00::/64 unicast static2 [12:00:00] from=- * (200) | via fd99::1 dev eth0",
                ],
                "{hop:?}"
            );
            assert_eq!(table.unrecognised().count, 1, "{hop:?}");
        }
        // A route line not understood takes its next hops with it, not to the route before.
        let table = parse(
            &TWO_FAMILIES
                .replace(
                    "10.0.2.0/24          unicast [static1 12:00:00]",
                    "10.0.2.0/24          unicast {static1 12:00:00}",
                )
                .replace("HOP1", "\tvia 10.99.0.2 on eth0"),
        )
        .unwrap();
        assert_eq!(
            summary(&table),
            [
                "master4 10.0.0.0/24 unicast static1 [12:00:00] from=- * (200) | via 10.99.0.1 dev eth0",
                "master4 10.0.1.0/24 unicast static1 [12:00:00] from=- * (200) | via 10.99.0.2 dev eth0",
                "master6 fd00::/64 unicast static2 [12:00:00] from=- * (200) | via fd99::1 dev eth0",
            ]
        );
        assert_eq!(table.unrecognised().count, 1);
    }

    #[test]
    fn lines_that_are_not_routes_are_left_out_and_counted_naming_the_first() {
        let cases = [
            (
                "1007-10.0.0.0/8 somewhere [static1 12:00:00] * (200)\n0000 \n",
                1,
                "unknown route destination type",
                "10.0.0.0/8 somewhere [static1 12:00:00] * (200)",
            ),
            (
                "1007-10.0.0.0/8 blackhole\n0000 \n",
                1,
                "expected `[protocol time]`",
                "10.0.0.0/8 blackhole",
            ),
            (
                "1007-10.0.0.0/8 blackhole [static1 12:00:00 * (200)\n0000 \n",
                1,
                "expected `]` after `[protocol time`",
                "10.0.0.0/8 blackhole [static1 12:00:00 * (200)",
            ),
            (
                "1007-\tvia 10.0.0.1 on eth0\n0000 \n",
                1,
                "next hop before any route",
                "\tvia 10.0.0.1 on eth0",
            ),
            (
                "1007-Table master4:\n                     unicast [static1 12:00:00] * (200)\n0000 \n",
                2,
                "alternative route before any destination",
                "                    unicast [static1 12:00:00] * (200)",
            ),
            (
                "1007-10.0.0.0/8 unicast [static1 12:00:00] * (200)\n \tgateway 10.0.0.1\n0000 \n",
                2,
                "expected a `via` or `dev` next hop",
                "\tgateway 10.0.0.1",
            ),
            (
                "1007-10.0.0.0/8 via 10.0.0.1 eth0 [static1 12:00:00] * (200)\n0000 \n",
                1,
                "expected `via <gateway> on <interface>`",
                "10.0.0.0/8 via 10.0.0.1 eth0 [static1 12:00:00] * (200)",
            ),
            (
                "1007-10.0.0.0/8 unicast [static1 12:00:00] * (200)\n \tvia 10.0.0.1 on eth0 weight x\n0000 \n",
                2,
                "expected a number after `weight`",
                "\tvia 10.0.0.1 on eth0 weight x",
            ),
        ];
        for (text, line, reason, bad) in cases {
            let table = parse(text).unwrap();
            assert_eq!(
                (table.len(), table.unrecognised()),
                (
                    0,
                    &Unrecognised {
                        count: 1,
                        first: Some(ParseError::Line {
                            line,
                            reason,
                            text: bad.into()
                        })
                    }
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn routes_serialize_as_json() {
        let table = parse("1007-10.201.0.0/16      multipath [static1 09:23:19] * (200)\n \tvia 10.99.0.2 on eth0 weight 1\n0000 \n").unwrap();
        assert_eq!(
            serde_json::to_value(&table).unwrap(),
            serde_json::json!([{
                "table": null, "destination": "10.201.0.0/16", "kind": "unicast", "protocol": "static1",
                "since": "09:23:19", "from": null, "primary": true, "syncError": false, "info": "(200)",
                "nextHops": [{"gateway": "10.99.0.2", "interface": "eth0", "onlink": false, "weight": 1}]
            }])
        );
    }
}
