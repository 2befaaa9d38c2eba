//! Parser for `show status`: the daemon's version (line `1000`), router ID, host name and times
//! (lines `1011`), graceful-restart progress (`0024`) and the state in the last line (`0013`).
//!
//! A `1011` line that is none of the known fields is left out and counted (a new BIRD may add
//! a field: it costs nothing, and the count makes the new format visible). The version line
//! stays required: without it there is no daemon status to report.

use serde::Serialize;

use crate::parse::error::{ParseError, Unrecognised};
use crate::parse::reply::Reply;

/// BIRD's `show status`, strings as BIRD prints them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The version after `BIRD ` (`1.6.8`, `2.0.12`, Calico's `v0.3.3+birdv1.6.8`).
    pub version: String,
    /// `Router ID is ...`.
    pub router_id: Option<String>,
    /// `Hostname is ...` (BIRD 2 and later).
    pub hostname: Option<String>,
    /// `Current server time is ...`.
    pub server_time: Option<String>,
    /// `Last reboot on ...`.
    pub last_reboot: Option<String>,
    /// `Last reconfiguration on ...`.
    pub last_reconfiguration: Option<String>,
    /// `1011` lines that are none of the fields above.
    #[serde(skip)]
    pub unrecognised: Unrecognised,
    /// `0024` lines, present while a graceful restart is in progress.
    pub graceful_restart: Vec<String>,
    /// The last line's message: `Daemon is up and running`, `Reconfiguration in progress` or
    /// `Shutdown in progress`.
    pub daemon: String,
}

/// Parses a `show status` reply.
pub fn parse_status(reply: &Reply) -> Result<Status, ParseError> {
    reply.check()?;
    let mut status = Status::default();
    let mut version = None;
    for line in reply.lines() {
        let text = line.text.trim();
        match line.code {
            1000 => {
                let v = text
                    .strip_prefix("BIRD ")
                    .ok_or_else(|| ParseError::at(&line, "expected `BIRD <version>`"))?;
                version = Some(v.trim().to_owned());
            }
            1011 => {
                const FIELDS: [&str; 5] = [
                    "Router ID is ",
                    "Hostname is ",
                    "Current server time is ",
                    "Last reboot on ",
                    "Last reconfiguration on ",
                ];
                let Some((i, value)) = FIELDS
                    .iter()
                    .enumerate()
                    .find_map(|(i, p)| text.strip_prefix(p).map(|v| (i, v.to_owned())))
                else {
                    status
                        .unrecognised
                        .record(ParseError::at(&line, "unknown `show status` field"));
                    continue;
                };
                let field = match i {
                    0 => &mut status.router_id,
                    1 => &mut status.hostname,
                    2 => &mut status.server_time,
                    3 => &mut status.last_reboot,
                    _ => &mut status.last_reconfiguration,
                };
                *field = Some(value);
            }
            24 => status.graceful_restart.push(text.to_owned()),
            _ => {}
        }
    }
    if let Some(last) = reply.last_line() {
        status.daemon = last.text.trim().to_owned();
    }
    status.version = version.ok_or(ParseError::Missing("version line (code 1000)"))?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::reply::BirdError;

    fn parse(text: &str) -> Result<Status, ParseError> {
        parse_status(&Reply::from_bytes(text).unwrap())
    }

    #[test]
    fn bird_1_6_status() {
        let status = parse(include_str!(
            "../../tests/fixtures/loopback-bird1.6/a-bird-show_status.txt"
        ))
        .unwrap();
        assert_eq!(
            status,
            Status {
                version: "1.6.8".into(),
                router_id: Some("127.0.0.1".into()),
                hostname: None,
                server_time: Some("2026-11-25 00:51:47".into()),
                last_reboot: Some("2026-11-25 00:50:48".into()),
                last_reconfiguration: Some("2026-11-25 00:50:48".into()),
                graceful_restart: vec![],
                daemon: "Daemon is up and running".into(),
                unrecognised: Unrecognised::default(),
            }
        );
    }

    #[test]
    fn an_unknown_field_is_left_out_and_counted() {
        let status = parse(
            "1000-BIRD 3.1.0\n1011-Router ID is 10.0.0.1\n Uptime is 5 days\n0013 Daemon is up and running\n",
        )
        .unwrap();
        assert_eq!(
            (status.router_id.as_deref(), status.unrecognised),
            (
                Some("10.0.0.1"),
                Unrecognised {
                    count: 1,
                    first: Some(ParseError::Line {
                        line: 3,
                        reason: "unknown `show status` field",
                        text: "Uptime is 5 days".into()
                    })
                }
            )
        );
    }

    #[test]
    fn bird_2_status_has_hostname_and_milliseconds() {
        let status = parse(include_str!(
            "../../tests/fixtures/loopback-bird2/c-bird-show_status.txt"
        ))
        .unwrap();
        assert_eq!(status.version, "2.0.12");
        assert_eq!(status.hostname.as_deref(), Some("vm"));
        assert_eq!(
            status.last_reboot.as_deref(),
            Some("2026-11-25 00:51:27.899")
        );
    }

    #[test]
    fn calico_fork_version_is_kept_whole() {
        let status = parse(
            "0001 BIRD v0.3.3+birdv1.6.8 ready.\n1000-BIRD v0.3.3+birdv1.6.8\n1011-Router ID is 172.17.0.3\n Current server time is 2021-09-19 20:48:43\n Last reboot on 2021-09-19 20:10:56\n Last reconfiguration on 2021-09-19 20:10:56\n0013 Daemon is up and running\n",
        )
        .unwrap();
        assert_eq!(status.version, "v0.3.3+birdv1.6.8");
        assert_eq!(status.router_id.as_deref(), Some("172.17.0.3"));
    }

    #[test]
    fn graceful_restart_lines_are_tolerated_and_kept() {
        let status = parse(
            "1000-BIRD 1.6.8\n1011-Router ID is 10.0.0.1\n Current server time is 09:00:00\n Last reboot on 08:59:00\n Last reconfiguration on 08:59:00\n0024-Graceful restart recovery in progress\n   Waiting for 2 protocols to recover\n   Wait timer is 57/240\n0013 Reconfiguration in progress\n",
        )
        .unwrap();
        assert_eq!(
            status.graceful_restart,
            vec![
                "Graceful restart recovery in progress".to_owned(),
                "Waiting for 2 protocols to recover".to_owned(),
                "Wait timer is 57/240".to_owned()
            ]
        );
        assert_eq!(status.last_reconfiguration.as_deref(), Some("08:59:00"));
        assert_eq!(status.daemon, "Reconfiguration in progress");
    }

    #[test]
    fn a_status_without_version_line_is_an_error() {
        assert_eq!(
            parse("1011-Router ID is 10.0.0.1\n0013 Daemon is up and running\n"),
            Err(ParseError::Missing("version line (code 1000)"))
        );
        assert_eq!(
            parse("1000-Bird 1.6.8\n0013 Daemon is up and running\n"),
            Err(ParseError::Line {
                line: 1,
                reason: "expected `BIRD <version>`",
                text: "Bird 1.6.8".into()
            })
        );
    }

    #[test]
    fn an_error_reply_is_an_error() {
        assert_eq!(
            parse("9001 syntax error, unexpected END\n"),
            Err(ParseError::Bird(BirdError::Syntax {
                code: 9001,
                message: "syntax error, unexpected END".into()
            }))
        );
    }
}
