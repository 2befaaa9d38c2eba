//! Reply framing for BIRD's control socket: splits the byte stream into replies, gives every line
//! its 4-digit code and turns `8xxx`/`9xxx` replies into typed errors. No I/O: bytes in, replies out.
//!
//! BIRD's grammar (`nest/cli.c`, `cli_printf`): each line is `dddd-text` (more lines follow),
//! `dddd text` (the last line of the reply) or ` text` (same code as the previous line, more
//! follow). A reply ends at its first `dddd ` line, whatever the code (`0000`, but also `0013`
//! for `show status`, `0014` for `show route count`, `8xxx`/`9xxx` for errors). Lines starting
//! with `+` are asynchronous messages and belong to no reply.

use memchr::memchr;

/// The largest reply the parsers can index: they keep 32-bit offsets into the reply text, which
/// is up to three times the bytes read (each byte that is not UTF-8 becomes a 3-byte U+FFFD).
pub const MAX_REPLY_BYTES: usize = u32::MAX as usize / 3;

/// The byte stream does not follow BIRD's reply framing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A line is neither `dddd-`, `dddd `, a ` ` continuation nor a `+` asynchronous message.
    #[error("line {line} is not a BIRD reply line: {text:?}")]
    Malformed {
        /// 1-based line number within the bytes fed so far.
        line: usize,
        /// The offending line (lossily decoded).
        text: String,
    },
    /// The reply grew past the configured bound before its last line arrived.
    #[error("reply exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The bound in bytes.
        limit: usize,
    },
    /// The bytes ended before the reply's last line.
    #[error("reply ended before its last line")]
    Incomplete,
}

/// BIRD answered with an error reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BirdError {
    /// An `8xxx` reply: the command was understood but failed (e.g. `8001 Network not in table`,
    /// `8004 Stopped due to reconfiguration`).
    #[error("BIRD runtime error {code}: {message}")]
    Runtime {
        /// The reply code.
        code: u16,
        /// BIRD's message.
        message: String,
    },
    /// A `9xxx` reply: the command was not understood (e.g. `9001 syntax error`).
    #[error("BIRD parse error {code}: {message}")]
    Syntax {
        /// The reply code.
        code: u16,
        /// BIRD's message.
        message: String,
    },
}

/// How one physical line is framed.
enum Framing {
    /// `dddd-`: this code, more lines follow.
    More(u16),
    /// `dddd `: this code, last line of the reply.
    Last(u16),
    /// ` `: the previous line's code, more lines follow.
    Continuation,
    /// `+`: an asynchronous message outside any reply.
    Async,
    Malformed,
}

fn framing(line: &[u8]) -> Framing {
    match line {
        [b' ', ..] => Framing::Continuation,
        [b'+', ..] => Framing::Async,
        [a, b, c, d, sep, ..] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) => {
            let code = digits([*a, *b, *c, *d]);
            match sep {
                b'-' => Framing::More(code),
                b' ' => Framing::Last(code),
                _ => Framing::Malformed,
            }
        }
        // `cli_printf` always writes a separator, but `0000` alone (no trailing space) is what a
        // hand-trimmed capture looks like; accept it as a last line.
        [a, b, c, d] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) => {
            Framing::Last(digits([*a, *b, *c, *d]))
        }
        _ => Framing::Malformed,
    }
}

fn digits(d: [u8; 4]) -> u16 {
    d.iter().fold(0, |n, x| n * 10 + u16::from(x - b'0'))
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Incremental framer: feed it bytes as they arrive, it says when a reply is complete.
///
/// Each newly arrived line is looked at once, so feeding a reply in any number of pieces costs
/// the same as feeding it whole. Bytes after the end of a reply are kept for the next one.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Bytes of `buf` already split into complete lines.
    scanned: usize,
    /// Complete lines of the current reply seen so far.
    lines: usize,
    /// Code of the previous line, which ` ` continuation lines inherit. BIRD keeps it across
    /// replies (`cli->last_reply`), so the framer does too.
    code: Option<u16>,
    /// Code in effect when the current reply started.
    initial_code: Option<u16>,
    limit: usize,
}

impl Framer {
    /// A framer that refuses replies longer than `limit` bytes (capped at [`MAX_REPLY_BYTES`]).
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            scanned: 0,
            lines: 0,
            code: None,
            initial_code: None,
            limit: limit.min(MAX_REPLY_BYTES),
        }
    }

    /// Appends `bytes`; returns the reply once its last line has arrived.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Option<Reply>, FrameError> {
        self.buf.extend_from_slice(bytes);
        self.advance()
    }

    /// The buffer to read into directly (the client appends socket reads here, then calls
    /// [`Framer::advance`]), which saves one copy of every byte.
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Makes room for `want` more bytes. The buffer grows by doubling, as a `Vec` does, but
    /// never past what the reply may still take, so a reply near the limit does not hold up
    /// to twice the limit in memory.
    pub(crate) fn reserve(&mut self, want: usize) {
        let len = self.buf.len();
        if self.buf.capacity() - len >= want {
            return;
        }
        let target = (self.buf.capacity() * 2)
            .min(len + self.room().max(want))
            .max(len + want);
        self.buf.reserve_exact(target - len);
    }

    /// How many more bytes the current reply may take before it is too large.
    pub(crate) fn room(&self) -> usize {
        (self.limit + 1).saturating_sub(self.buf.len())
    }

    /// Looks at the lines that arrived since the last call.
    pub(crate) fn advance(&mut self) -> Result<Option<Reply>, FrameError> {
        while let Some(nl) = memchr(b'\n', &self.buf[self.scanned..]) {
            let start = self.scanned;
            let end = start + nl;
            self.scanned = end + 1;
            self.lines += 1;
            // Before the line is classified, whatever it is: a line ending past the limit is
            // refused as too large also when it arrives whole, as it is when it arrives in
            // pieces (the buffer check below), so the verdict does not depend on read sizes.
            if self.scanned > self.limit {
                return Err(FrameError::TooLarge { limit: self.limit });
            }
            match framing(strip_cr(&self.buf[start..end])) {
                Framing::More(code) => self.code = Some(code),
                Framing::Continuation if self.code.is_some() => {}
                Framing::Async => {}
                Framing::Last(code) => {
                    self.code = Some(code);
                    return Ok(Some(self.take_reply()));
                }
                Framing::Continuation | Framing::Malformed => {
                    return Err(FrameError::Malformed {
                        line: self.lines,
                        text: String::from_utf8_lossy(strip_cr(&self.buf[start..end])).into_owned(),
                    });
                }
            }
        }
        if self.buf.len() > self.limit {
            return Err(FrameError::TooLarge { limit: self.limit });
        }
        Ok(None)
    }

    fn take_reply(&mut self) -> Reply {
        let rest = self.buf.split_off(self.scanned);
        let mut bytes = std::mem::replace(&mut self.buf, rest);
        // The read buffer grew by doubling; the reply is kept as long as its parse, so give
        // back the slack (large blocks shrink in place).
        bytes.shrink_to_fit();
        let reply = Reply::new(bytes, self.initial_code, 1);
        self.scanned = 0;
        self.lines = 0;
        self.initial_code = self.code;
        reply
    }
}

/// One complete reply: its text and the code its first line inherits if it is a continuation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    text: String,
    initial_code: Option<u16>,
    first_line: usize,
}

impl Reply {
    fn new(bytes: Vec<u8>, initial_code: Option<u16>, first_line: usize) -> Self {
        // BIRD writes interface names and descriptions as raw bytes; anything that is not UTF-8
        // is replaced rather than rejected, as it never sits where the parsers look for syntax.
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Self {
            text,
            initial_code,
            first_line,
        }
    }

    /// Frames one reply from a complete capture (a fixture file, a test string).
    ///
    /// A leading `0001 ... ready.` greeting is skipped, as captures often start with it; bytes
    /// after the reply's last line are ignored. Line numbers in errors count from the start of
    /// `bytes`, so they match the capture.
    pub fn from_bytes(bytes: impl AsRef<[u8]>) -> Result<Self, FrameError> {
        let bytes = bytes.as_ref();
        let mut skip = 0;
        let mut first_line = 1;
        if let Some(nl) = memchr(b'\n', bytes)
            && matches!(framing(strip_cr(&bytes[..nl])), Framing::Last(1))
            && bytes.len() > nl + 1
        {
            skip = nl + 1;
            first_line = 2;
        }
        let mut framer = Framer::new(MAX_REPLY_BYTES);
        framer.lines = first_line - 1;
        let mut reply = match framer.push(&bytes[skip..])? {
            Some(reply) => reply,
            // A capture whose last line lacks its newline.
            None if !bytes.is_empty() && !bytes.ends_with(b"\n") => {
                framer.push(b"\n")?.ok_or(FrameError::Incomplete)?
            }
            None => return Err(FrameError::Incomplete),
        };
        reply.first_line = first_line;
        Ok(reply)
    }

    /// The reply's text, every line with its code prefix.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// True for an empty reply (never produced by the framer).
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The lines of the reply with their codes, asynchronous `+` lines left out.
    pub fn lines(&self) -> Lines<'_> {
        Lines {
            text: &self.text,
            pos: 0,
            number: self.first_line,
            code: self.initial_code.unwrap_or(0),
        }
    }

    /// The reply's last line (the `dddd ` one).
    pub fn last_line(&self) -> Option<Line<'_>> {
        self.lines().last()
    }

    /// `Err` when BIRD answered with an `8xxx` or `9xxx` reply.
    pub fn check(&self) -> Result<(), BirdError> {
        let Some(last) = self.last_line() else {
            return Ok(());
        };
        let message = last.text.to_owned();
        match last.code {
            8000..=8999 => Err(BirdError::Runtime {
                code: last.code,
                message,
            }),
            9000..=9999 => Err(BirdError::Syntax {
                code: last.code,
                message,
            }),
            _ => Ok(()),
        }
    }
}

/// One line of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number (in the capture, for [`Reply::from_bytes`]).
    pub number: usize,
    /// The line's code; continuation lines carry the code of the line before.
    pub code: u16,
    /// The text after the code and separator (or after the continuation space).
    pub text: &'a str,
    /// Byte offset of `text` within [`Reply::text`].
    pub offset: usize,
}

/// Iterator over the lines of a [`Reply`].
#[derive(Clone, Debug)]
pub struct Lines<'a> {
    text: &'a str,
    pos: usize,
    number: usize,
    code: u16,
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        loop {
            if self.pos >= self.text.len() {
                return None;
            }
            let rest = &self.text.as_bytes()[self.pos..];
            let len = memchr(b'\n', rest).unwrap_or(rest.len());
            let start = self.pos;
            let raw_len = strip_cr(&rest[..len]).len();
            self.pos += len + 1;
            let number = self.number;
            self.number += 1;
            // The framer validated every line, so only these shapes occur.
            let skip = match rest.first() {
                Some(b' ') => 1,
                Some(b'+') => continue,
                _ => {
                    if let [a, b, c, d, ..] = rest[..raw_len] {
                        self.code = digits([a, b, c, d]);
                    }
                    5.min(raw_len)
                }
            };
            let offset = start + skip;
            return Some(Line {
                number,
                code: self.code,
                text: &self.text[offset..start + raw_len],
                offset,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTOCOLS_ALL: &str =
        include_str!("../../tests/fixtures/loopback-bird1.6/a-bird-show_protocols_all.txt");

    fn codes(reply: &Reply) -> Vec<(usize, u16, &str)> {
        reply.lines().map(|l| (l.number, l.code, l.text)).collect()
    }

    fn frame_whole(bytes: &[u8]) -> Reply {
        let mut framer = Framer::new(1 << 20);
        framer.push(bytes).unwrap().unwrap()
    }

    #[test]
    fn show_status_reply_ends_at_its_0013_line() {
        let reply = frame_whole(
            b"1000-BIRD 1.6.8\n1011-Router ID is 10.0.0.1\n Current server time is 2021-10-18 09:23:20\n0013 Daemon is up and running\n",
        );
        assert_eq!(
            codes(&reply),
            vec![
                (1, 1000, "BIRD 1.6.8"),
                (2, 1011, "Router ID is 10.0.0.1"),
                (3, 1011, "Current server time is 2021-10-18 09:23:20"),
                (4, 13, "Daemon is up and running"),
            ]
        );
    }

    #[test]
    fn show_route_count_reply_ends_at_its_0014_line() {
        let bytes = b"1007-4 of 4 routes for 4 networks in table master4\n 2 of 2 routes for 2 networks in table master6\n0014 Total: 6 of 6 routes for 6 networks in 2 tables\n";
        let reply = frame_whole(bytes);
        assert_eq!(
            reply.last_line().map(|l| (l.code, l.text)),
            Some((14, "Total: 6 of 6 routes for 6 networks in 2 tables"))
        );
        assert_eq!(reply.text().as_bytes(), bytes);
    }

    #[test]
    fn graceful_restart_lines_belong_to_the_status_reply() {
        let reply = frame_whole(
            b"1000-BIRD 1.6.8\n0024-Graceful restart recovery in progress\n   Waiting for 2 protocols to recover\n   Wait timer is 3/240\n0013 Daemon is up and running\n",
        );
        assert_eq!(
            codes(&reply),
            vec![
                (1, 1000, "BIRD 1.6.8"),
                (2, 24, "Graceful restart recovery in progress"),
                (3, 24, "  Waiting for 2 protocols to recover"),
                (4, 24, "  Wait timer is 3/240"),
                (5, 13, "Daemon is up and running"),
            ]
        );
    }

    #[test]
    fn a_reply_split_at_any_byte_frames_as_the_whole() {
        let whole = frame_whole(PROTOCOLS_ALL.as_bytes());
        for split in 0..PROTOCOLS_ALL.len() {
            let mut framer = Framer::new(1 << 20);
            let (a, b) = PROTOCOLS_ALL.as_bytes().split_at(split);
            assert_eq!(
                framer.push(a).unwrap(),
                None,
                "complete after {split} bytes"
            );
            assert_eq!(
                framer.push(b).unwrap(),
                Some(whole.clone()),
                "split at {split}"
            );
        }
    }

    #[test]
    fn a_reply_fed_byte_by_byte_completes_with_its_last_byte() {
        let mut framer = Framer::new(1 << 20);
        let bytes = PROTOCOLS_ALL.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            let out = framer.push(std::slice::from_ref(b)).unwrap();
            assert_eq!(out.is_some(), i == bytes.len() - 1, "byte {i}");
        }
    }

    #[test]
    fn bytes_after_a_reply_start_the_next_one() {
        let mut framer = Framer::new(1 << 20);
        let first = framer
            .push(b"0001 BIRD 2.0.12 ready.\n1007-Table master4:\n")
            .unwrap()
            .unwrap();
        assert_eq!(first.text(), "0001 BIRD 2.0.12 ready.\n");
        let second = framer
            .push(b" 10.0.0.0/8 blackhole [static1 12:00:00.000] * (200)\n0000 \n")
            .unwrap()
            .unwrap();
        assert_eq!(
            codes(&second),
            vec![
                (1, 1007, "Table master4:"),
                (
                    2,
                    1007,
                    "10.0.0.0/8 blackhole [static1 12:00:00.000] * (200)"
                ),
                (3, 0, ""),
            ]
        );
    }

    #[test]
    fn error_replies_are_typed() {
        let runtime = frame_whole(b"8001 Network not in table\n");
        assert_eq!(
            runtime.check(),
            Err(BirdError::Runtime {
                code: 8001,
                message: "Network not in table".into()
            })
        );
        let syntax = frame_whole(b"9001 syntax error, unexpected CF_SYM_UNDEFINED\n");
        assert_eq!(
            syntax.check(),
            Err(BirdError::Syntax {
                code: 9001,
                message: "syntax error, unexpected CF_SYM_UNDEFINED".into()
            })
        );
        let stopped = frame_whole(b"1007-10.0.0.0/8 blackhole [static1 12:00:00] * (200)\n8004 Stopped due to reconfiguration\n");
        assert_eq!(
            stopped.check(),
            Err(BirdError::Runtime {
                code: 8004,
                message: "Stopped due to reconfiguration".into()
            })
        );
        assert_eq!(
            frame_whole(b"0013 Daemon is up and running\n").check(),
            Ok(())
        );
    }

    #[test]
    fn a_line_that_is_not_framed_is_an_error_with_its_number() {
        let mut framer = Framer::new(1 << 20);
        assert_eq!(
            framer.push(
                b"1002-kernel1 Kernel master up 12:00:00\nkernel2 Kernel master up 12:00:00\n"
            ),
            Err(FrameError::Malformed {
                line: 2,
                text: "kernel2 Kernel master up 12:00:00".into()
            })
        );
        let mut framer = Framer::new(1 << 20);
        assert_eq!(
            framer.push(b" continuation without a code\n"),
            Err(FrameError::Malformed {
                line: 1,
                text: " continuation without a code".into()
            })
        );
    }

    #[test]
    fn a_reply_over_the_limit_is_refused_before_and_at_its_end() {
        let mut framer = Framer::new(16);
        assert_eq!(
            framer.push(b"1007-0123456789abcdef"),
            Err(FrameError::TooLarge { limit: 16 })
        );
        let mut framer = Framer::new(21);
        assert_eq!(
            framer.push(b"1007-0123456789\n0000 \n"),
            Err(FrameError::TooLarge { limit: 21 })
        );
        let mut framer = Framer::new(22);
        assert!(framer.push(b"1007-0123456789\n0000 \n").unwrap().is_some());
    }

    #[test]
    fn a_bad_line_past_the_limit_is_refused_as_too_large_however_the_bytes_arrive() {
        let mut whole = Framer::new(1);
        assert_eq!(whole.push(b"ab\n"), Err(FrameError::TooLarge { limit: 1 }));
        let mut pieces = Framer::new(1);
        assert_eq!(pieces.push(b"a"), Ok(None));
        assert_eq!(pieces.push(b"b"), Err(FrameError::TooLarge { limit: 1 }));
    }

    #[test]
    fn asynchronous_messages_are_not_lines_of_the_reply() {
        let reply = frame_whole(b"1002-device1 Device master up 12:00:00\n+Reconfigured\n direct1 Direct master up 12:00:00\n0000 \n");
        assert_eq!(
            codes(&reply),
            vec![
                (1, 1002, "device1 Device master up 12:00:00"),
                (3, 1002, "direct1 Direct master up 12:00:00"),
                (4, 0, ""),
            ]
        );
    }

    #[test]
    fn a_capture_may_start_with_the_greeting_and_lack_the_final_newline() {
        let reply = Reply::from_bytes("0001 BIRD v0.3.3+birdv1.6.8 ready.\r\n1007-0.0.0.0/0 via 172.17.0.1 on eth0 [kernel1 20:10:57] * (10)\r\n0000").unwrap();
        assert_eq!(
            codes(&reply),
            vec![
                (
                    2,
                    1007,
                    "0.0.0.0/0 via 172.17.0.1 on eth0 [kernel1 20:10:57] * (10)"
                ),
                (3, 0, "")
            ]
        );
        let greeting_only = Reply::from_bytes("0001 BIRD 1.6.8 ready.\n").unwrap();
        assert_eq!(codes(&greeting_only), vec![(1, 1, "BIRD 1.6.8 ready.")]);
    }

    #[test]
    fn a_capture_without_its_last_line_is_incomplete() {
        assert_eq!(
            Reply::from_bytes("1002-device1 Device master up 12:00:00\n"),
            Err(FrameError::Incomplete)
        );
        assert_eq!(Reply::from_bytes(""), Err(FrameError::Incomplete));
    }

    #[test]
    fn text_that_is_not_utf8_is_replaced_not_rejected() {
        let reply = frame_whole(b"1007-10.0.0.0/8 dev eth\xff0 [kernel1 12:00:00] * (10)\n0000 \n");
        assert_eq!(
            reply.lines().next().map(|l| l.text),
            Some("10.0.0.0/8 dev eth\u{fffd}0 [kernel1 12:00:00] * (10)")
        );
    }
}
