//! Tests of the `show protocols [all]` parser, on replies in BIRD's real grammar.

use super::*;

fn parse(text: &str) -> Result<Vec<Protocol>, ParseError> {
    parse_protocols(&Reply::from_bytes(text).unwrap())
}

/// A protocol as a plain `show protocols` row gives it.
fn row(name: &str, proto: &str, table: &str, state: &str, since: &str, info: &str) -> Protocol {
    Protocol {
        name: name.into(),
        proto: proto.into(),
        table: table.into(),
        state: state.into(),
        since: since.into(),
        info: info.into(),
        ..Protocol::default()
    }
}

fn bgp(mut p: Protocol, state: Option<&str>, reason: &str) -> Protocol {
    p.bgp = Some(Bgp {
        state: state.map(Into::into),
        reason: reason.into(),
        ..Bgp::default()
    });
    p
}

#[test]
fn bird_1_6_rows_with_every_bgp_state() {
    let got = parse(include_str!(
        "../../../tests/fixtures/loopback-bird1.6/a-bird-show_protocols.txt"
    ))
    .unwrap();
    let t = "00:50:48";
    assert_eq!(
        got,
        vec![
            row("device1", "Device", "master", "up", t, ""),
            row("direct1", "Direct", "master", "up", t, ""),
            row("static1", "Static", "master", "up", t, ""),
            bgp(
                row(
                    "Mesh_127_0_0_2",
                    "BGP",
                    "master",
                    "up",
                    "00:50:52",
                    "Established"
                ),
                Some("Established"),
                ""
            ),
            bgp(
                row(
                    "Node_127_0_0_3",
                    "BGP",
                    "master",
                    "start",
                    t,
                    "Active        Socket: Connection refused"
                ),
                Some("Active"),
                "Socket: Connection refused"
            ),
            bgp(
                row("Global_127_0_0_4", "BGP", "master", "start", t, "Passive"),
                Some("Passive"),
                ""
            ),
            bgp(
                row("Mesh_127_0_0_5", "BGP", "master", "down", t, ""),
                Some("Down"),
                ""
            ),
            bgp(
                row("other_peer", "BGP", "master", "start", t, "Passive"),
                Some("Passive"),
                ""
            ),
        ]
    );
}

#[test]
fn bird_2_rows_with_milliseconds_and_no_table_for_bgp() {
    let got = parse(include_str!(
        "../../../tests/fixtures/loopback-bird2/c-bird-show_protocols.txt"
    ))
    .unwrap();
    let t = "00:51:27.899";
    assert_eq!(
        got,
        vec![
            row("device1", "Device", "---", "up", t, ""),
            row("direct1", "Direct", "---", "up", t, ""),
            row("static1", "Static", "master4", "up", t, ""),
            row("static2", "Static", "master6", "up", t, ""),
            bgp(
                row(
                    "Mesh_127_0_0_2",
                    "BGP",
                    "---",
                    "up",
                    "00:51:31.930",
                    "Established"
                ),
                Some("Established"),
                ""
            ),
            bgp(
                row(
                    "Node_127_0_0_3",
                    "BGP",
                    "---",
                    "start",
                    t,
                    "Active        Socket: Connection refused"
                ),
                Some("Active"),
                "Socket: Connection refused"
            ),
            bgp(
                row("Global_127_0_0_4", "BGP", "---", "start", t, "Passive"),
                Some("Passive"),
                ""
            ),
            bgp(
                row("Mesh_127_0_0_5", "BGP", "---", "down", t, ""),
                Some("Down"),
                ""
            ),
            bgp(
                row("Mesh_0000__1", "BGP", "---", "start", t, "Passive"),
                Some("Passive"),
                ""
            ),
        ]
    );
}

#[test]
fn iso_long_since_has_a_space() {
    for text in [
        include_str!("../../../tests/fixtures/loopback-bird1.6/isolong-bird-show_protocols.txt"),
        include_str!("../../../tests/fixtures/loopback-bird2/isolong-bird-show_protocols.txt"),
    ] {
        let got = parse(text).unwrap();
        let summary: Vec<_> = got
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.since.as_str(),
                    p.info.as_str(),
                    p.bgp.as_ref().and_then(|b| b.state.as_deref()),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("device1", "2026-11-25 00:52:02", "", None),
                ("static1", "2026-11-25 00:52:02", "", None),
                (
                    "Mesh_127_0_0_7",
                    "2026-11-25 00:52:02",
                    "Passive",
                    Some("Passive")
                ),
                ("Node_127_0_0_8", "2026-11-25 00:52:02", "", Some("Down")),
            ]
        );
    }
}

#[test]
fn iso_long_with_milliseconds_and_old_long_formats() {
    let got = parse(
            "2002-Name       Proto      Table      State  Since         Info\n1002-Mesh_10_0_0_2 BGP        ---        up     2021-10-18 09:23:19.123  Established   \n Node_10_0_0_3 BGP        ---        start  18-10-2021 09:23:19  Active        Socket: No route to host\n0000 \n",
        )
        .unwrap();
    assert_eq!(
        got,
        vec![
            bgp(
                row(
                    "Mesh_10_0_0_2",
                    "BGP",
                    "---",
                    "up",
                    "2021-10-18 09:23:19.123",
                    "Established"
                ),
                Some("Established"),
                ""
            ),
            bgp(
                row(
                    "Node_10_0_0_3",
                    "BGP",
                    "---",
                    "start",
                    "18-10-2021 09:23:19",
                    "Active        Socket: No route to host"
                ),
                Some("Active"),
                "Socket: No route to host"
            ),
        ]
    );
}

#[test]
fn a_down_session_shows_only_its_last_error() {
    let got = parse(
            "2002-name     proto    table    state  since       info\n1002-Mesh_127_0_0_2 BGP      master   down   00:50:36    Error: Invalid next hop\n Node_10_0_0_9 BGP      master   down   Oct18       Received: Administrative shutdown\n0000 \n",
        )
        .unwrap();
    assert_eq!(
        got,
        vec![
            bgp(
                row(
                    "Mesh_127_0_0_2",
                    "BGP",
                    "master",
                    "down",
                    "00:50:36",
                    "Error: Invalid next hop"
                ),
                Some("Down"),
                "Error: Invalid next hop"
            ),
            bgp(
                row(
                    "Node_10_0_0_9",
                    "BGP",
                    "master",
                    "down",
                    "Oct18",
                    "Received: Administrative shutdown"
                ),
                Some("Down"),
                "Received: Administrative shutdown"
            ),
        ]
    );
}

#[test]
fn calico_shaped_rows_without_trailing_padding() {
    let got = parse(
            "0001 BIRD 1.5.0 ready.\n2002-name     proto    table    state  since       info\n1002-kernel1  Kernel   master   up     2016-11-21\n device1  Device   master   up     2016-11-21\n Mesh_172_17_8_102 BGP      master   up     2016-11-21  Established\n Node_172_17_8_104 BGP      master   down     2016-11-21  Failed  Socket: error\n0000\nWe never get here\n",
        )
        .unwrap();
    assert_eq!(
        got,
        vec![
            row("kernel1", "Kernel", "master", "up", "2016-11-21", ""),
            row("device1", "Device", "master", "up", "2016-11-21", ""),
            bgp(
                row(
                    "Mesh_172_17_8_102",
                    "BGP",
                    "master",
                    "up",
                    "2016-11-21",
                    "Established"
                ),
                Some("Established"),
                ""
            ),
            bgp(
                row(
                    "Node_172_17_8_104",
                    "BGP",
                    "master",
                    "down",
                    "2016-11-21",
                    "Failed  Socket: error"
                ),
                Some("Down"),
                "Failed  Socket: error"
            ),
        ]
    );
}

#[test]
fn bird_1_6_details_give_neighbor_counters_and_state() {
    let got = parse(include_str!(
        "../../../tests/fixtures/loopback-bird1.6/a-bird-show_protocols_all.txt"
    ))
    .unwrap();
    let mesh = got.iter().find(|p| p.name == "Mesh_127_0_0_2").unwrap();
    assert_eq!(
        mesh.bgp,
        Some(Bgp {
            state: Some("Established".into()),
            reason: String::new(),
            neighbor_address: Some("127.0.0.2".into()),
            neighbor_as: Some(64512),
            local_as: None,
            neighbor_id: Some("127.0.0.2".into()),
            source_address: Some("127.0.0.1".into()),
            last_error: None,
        })
    );
    assert_eq!(
        mesh.routes,
        Some(RouteCounts {
            imported: 2,
            filtered: None,
            exported: 4,
            preferred: 1
        })
    );
    assert_eq!(mesh.channels, vec![]);
    let refused = got.iter().find(|p| p.name == "Node_127_0_0_3").unwrap();
    assert_eq!(
        refused.bgp,
        Some(Bgp {
            state: Some("Active".into()),
            reason: "Socket: Connection refused".into(),
            neighbor_address: Some("127.0.0.3".into()),
            neighbor_as: Some(64513),
            last_error: Some("Socket: Connection refused".into()),
            ..Bgp::default()
        })
    );
    let disabled = got.iter().find(|p| p.name == "Mesh_127_0_0_5").unwrap();
    assert_eq!(
        disabled.bgp.as_ref().and_then(|b| b.state.as_deref()),
        Some("Down")
    );
    assert_eq!(disabled.routes, None);
    let names: Vec<_> = got.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "device1",
            "direct1",
            "static1",
            "Mesh_127_0_0_2",
            "Node_127_0_0_3",
            "Global_127_0_0_4",
            "Mesh_127_0_0_5",
            "other_peer"
        ]
    );
}

#[test]
fn bird_2_details_give_channels() {
    let got = parse(include_str!(
        "../../../tests/fixtures/loopback-bird2/c-bird-show_protocols_all.txt"
    ))
    .unwrap();
    let mesh = got.iter().find(|p| p.name == "Mesh_127_0_0_2").unwrap();
    assert_eq!(
        mesh.bgp,
        Some(Bgp {
            state: Some("Established".into()),
            reason: String::new(),
            neighbor_address: Some("127.0.0.2".into()),
            neighbor_as: Some(64512),
            local_as: Some(64512),
            neighbor_id: Some("127.0.0.2".into()),
            source_address: Some("127.0.0.1".into()),
            last_error: None,
        })
    );
    assert_eq!(mesh.routes, None);
    assert_eq!(
        mesh.channels,
        vec![
            Channel {
                name: "ipv4".into(),
                state: Some("UP".into()),
                table: Some("master4".into()),
                routes: Some(RouteCounts {
                    imported: 2,
                    filtered: None,
                    exported: 4,
                    preferred: 1
                }),
            },
            Channel {
                name: "ipv6".into(),
                state: Some("UP".into()),
                table: Some("master6".into()),
                routes: Some(RouteCounts {
                    imported: 0,
                    filtered: None,
                    exported: 2,
                    preferred: 0
                }),
            },
        ]
    );
    let v6 = got.iter().find(|p| p.name == "Mesh_0000__1").unwrap();
    assert_eq!(
        v6.bgp.as_ref().and_then(|b| b.neighbor_address.as_deref()),
        Some("::1")
    );
    assert_eq!(
        v6.channels
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["ipv6"]
    );
}

#[test]
fn link_local_neighbor_loses_its_interface_and_filtered_counts_are_read() {
    let got = parse(
            "2002-name     proto    table    state  since       info\n1002-Node_fe80__1 BGP      master   up     12:00:00    Established   \n1006-  Description:    Connection to BGP peer\n   Preference:     100\n   Routes:         5 imported, 2 filtered, 1 exported, 5 preferred\n   BGP state:          Established\n     Neighbor address: fe80::1%eth0\n     Neighbor AS:      65001\n \n0000 \n",
        )
        .unwrap();
    assert_eq!(
        got[0].description.as_deref(),
        Some("Connection to BGP peer")
    );
    assert_eq!(
        got[0]
            .bgp
            .as_ref()
            .and_then(|b| b.neighbor_address.as_deref()),
        Some("fe80::1")
    );
    assert_eq!(
        got[0].routes,
        Some(RouteCounts {
            imported: 5,
            filtered: Some(2),
            exported: 1,
            preferred: 5
        })
    );
}

#[test]
fn a_row_without_five_columns_is_an_error_naming_it() {
    assert_eq!(
        parse(
            "2002-name     proto    table    state  since       info\n1002-device1  Device   master   up\n0000 \n"
        ),
        Err(ParseError::Line {
            line: 2,
            reason: "expected `name proto table state since [info]`",
            text: "device1  Device   master   up".into()
        })
    );
}

/// A row as BIRD 2.x/3.x `proto_cmd_show` prints it: `"%-10s %-10s %-10s %-6s %-12s  %s"`.
fn row_2x(name: &str, proto: &str, table: &str, state: &str, since: &str, info: &str) -> String {
    format!("{name:<10} {proto:<10} {table:<10} {state:<6} {since:<12}  {info}")
}

/// A row as BIRD 1.6 `proto_cmd_show` prints it: `"%-8s %-8s %-8s %-5s  %-10s  %s"`.
fn row_16(name: &str, proto: &str, table: &str, state: &str, since: &str, info: &str) -> String {
    format!("{name:<8} {proto:<8} {table:<8} {state:<5}  {since:<10}  {info}")
}

/// The info column of a BGP protocol that is not down, as `bgp_get_status` prints it:
/// `"%-14s%s%s"` (state, error class, error message).
fn bgp_info(state: &str, class: &str, message: &str) -> String {
    format!("{state:<14}{class}{message}")
}

#[test]
fn a_flushing_session_is_flush_in_bird_3_and_down_before() {
    let shutdown = "Administrative shutdown";
    let text = format!(
        "2002-{}\n1002-{}\n {}\n {}\n0000 \n",
        row_2x("Name", "Proto", "Table", "State", "Since", "Info"),
        // BIRD 3: `bgp_state_dsc` says `Flush` while the protocol is in `PS_FLUSH`.
        row_2x(
            "Mesh_10_0_0_2",
            "BGP",
            "---",
            "flush",
            "12:00:00.000",
            &bgp_info("Flush", "Received: ", shutdown)
        ),
        // BIRD 2.x: `flush` is `PS_DOWN`, so only the error is printed.
        row_2x(
            "Mesh_10_0_0_3",
            "BGP",
            "---",
            "flush",
            "12:00:00.000",
            &format!("Received: {shutdown}")
        ),
        // BIRD 1.6: the same, in the narrower columns.
        row_16(
            "Mesh_10_0_0_4",
            "BGP",
            "master",
            "flush",
            "12:00:00",
            &format!("Received: {shutdown}")
        ),
    );
    let got = parse(&text).unwrap();
    let received = format!("Received: {shutdown}");
    assert_eq!(
        got,
        vec![
            bgp(
                row(
                    "Mesh_10_0_0_2",
                    "BGP",
                    "---",
                    "flush",
                    "12:00:00.000",
                    &bgp_info("Flush", "Received: ", shutdown)
                ),
                Some("Flush"),
                &received
            ),
            bgp(
                row(
                    "Mesh_10_0_0_3",
                    "BGP",
                    "---",
                    "flush",
                    "12:00:00.000",
                    &received
                ),
                Some("Down"),
                &received
            ),
            bgp(
                row(
                    "Mesh_10_0_0_4",
                    "BGP",
                    "master",
                    "flush",
                    "12:00:00",
                    &received
                ),
                Some("Down"),
                &received
            ),
        ]
    );
}

#[test]
fn every_built_in_time_format_is_one_since_value() {
    // `timeformat protocol ...` (`nest/config.Y`; 1.6: `sysdep/unix/config.Y`): iso short
    // (`%T`, or `%F` after 20 hours), iso short ms/us, iso long, iso long ms/us, and 1.6's
    // old short (relative: `%H:%M`, `Jan02`, `2024`) and old long (`%d-%m-%Y %T`).
    let times = [
        "12:34:56",
        "2024-01-02",
        "12:34:56.123",
        "12:34:56.123456",
        "2024-01-02 12:34:56",
        "2024-01-02 12:34:56.123",
        "2024-01-02 12:34:56.123456",
        "12:34",
        "Jan02",
        "2024",
        "02-01-2024 12:34:56",
    ];
    for since in times {
        let info = bgp_info("Active", "Socket: ", "Connection refused");
        let text = format!(
            "1002-{}\n {}\n0000 \n",
            row_2x("Node_10_0_0_3", "BGP", "---", "start", since, &info),
            row_16("direct1", "Direct", "master", "up", since, ""),
        );
        let got = parse(&text).unwrap();
        assert_eq!(
            got,
            vec![
                bgp(
                    row("Node_10_0_0_3", "BGP", "---", "start", since, &info),
                    Some("Active"),
                    "Socket: Connection refused"
                ),
                row("direct1", "Direct", "master", "up", since, ""),
            ],
            "{since}"
        );
    }
}

#[test]
fn an_onlink_neighbor_address_is_the_address_alone() {
    // BIRD 2.18+/3.2+ `bgp_show_proto_info`: `"    Neighbor address: %I%J%s"`.
    let detail = |address: &str| {
        format!(
            "1002-{}\n1006-  BGP state:          Established\n    Neighbor address: {address}\n    Neighbor AS:      65001\n \n0000 \n",
            row_2x("Node_x", "BGP", "---", "up", "12:00:00.000", "Established")
        )
    };
    for (printed, address) in [
        ("10.0.0.2 onlink", "10.0.0.2"),
        ("fe80::2%eth0 onlink", "fe80::2"),
        ("fe80::2%eth0", "fe80::2"),
    ] {
        let got = parse(&detail(printed)).unwrap();
        assert_eq!(
            got[0]
                .bgp
                .as_ref()
                .and_then(|b| b.neighbor_address.as_deref()),
            Some(address),
            "{printed}"
        );
    }
}

#[test]
fn unknown_codes_and_orphan_details_are_skipped() {
    let got = parse("1006-  Preference:     100\n2002-name     proto    table    state  since       info\n3999-something new\n1002-device1  Device   master   up     12:00:00    \n0000 \n").unwrap();
    assert_eq!(
        got,
        vec![row("device1", "Device", "master", "up", "12:00:00", "")]
    );
}
