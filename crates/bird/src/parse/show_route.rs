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

use crate::parse::error::{ParseError, Unrecognised};
use crate::parse::reply::{Line, Reply};

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
    /// ([`crate::parse::reply::MAX_REPLY_BYTES`]), so the casts are exact.
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
        self.routes.iter().map(|r| self.view(r))
    }

    /// The destination, kind and `hop`th next hop of the route at `index`, without the rest of
    /// the route: what a status entry needs (panics past [`RouteTable::len`]).
    pub(crate) fn entry(&self, index: usize, hop: u32) -> (&str, RouteKind, Option<NextHop<'_>>) {
        let r = &self.routes[index];
        let text = self.reply.text();
        let hop = r
            .hops_start
            .checked_add(hop)
            .filter(|h| *h < r.hops_end)
            .map(|h| {
                let hop = &self.hops[h as usize];
                NextHop {
                    gateway: hop.gateway.get_opt(text),
                    interface: hop.interface.get_opt(text),
                    onlink: hop.onlink,
                    weight: (hop.weight > 0).then_some(hop.weight),
                }
            });
        (r.destination.get(text), r.kind, hop)
    }

    fn view(&self, r: &RawRoute) -> Route<'_> {
        let text = self.reply.text();
        Route {
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
        }
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
mod tests;
