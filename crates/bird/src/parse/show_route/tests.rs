//! Tests of the `show route` parser, on replies in BIRD's real grammar.

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
        "../../../tests/fixtures/loopback-bird2/c-bird-show_route.txt"
    ))
    .unwrap();
    let all = parse(include_str!(
        "../../../tests/fixtures/loopback-bird2/c-bird-show_route_all.txt"
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
        "../../../tests/fixtures/loopback-bird1.6/a-bird-show_route.txt"
    ))
    .unwrap();
    let all16 = parse(include_str!(
        "../../../tests/fixtures/loopback-bird1.6/a-bird-show_route_all.txt"
    ))
    .unwrap();
    assert_eq!(summary(&all16), summary(&plain16));
    assert_eq!(plain16.len(), 6);
}

#[test]
fn iso_long_route_times_have_a_space() {
    let got = parse(include_str!(
        "../../../tests/fixtures/loopback-bird1.6/isolong-bird-show_route.txt"
    ))
    .unwrap();
    assert_eq!(
        summary(&got),
        ["- 192.168.40.0/26 blackhole static1 [2026-11-25 00:52:02] from=- * (200) | "]
    );
    let got = parse(include_str!(
        "../../../tests/fixtures/loopback-bird2/isolong-bird-show_route.txt"
    ))
    .unwrap();
    assert_eq!(
        summary(&got),
        ["master4 192.168.40.0/26 blackhole static1 [2026-11-25 00:52:02.709] from=- * (200) | "]
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
