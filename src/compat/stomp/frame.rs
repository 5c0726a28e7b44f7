//! STOMP frames on the wire: a streaming decoder and the encoder, for STOMP
//! 1.0, 1.1 and 1.2 (<https://stomp.github.io/stomp-specification-1.2.html>).
//!
//! A frame is `COMMAND EOL (name:value EOL)* EOL body NUL`, EOL being LF or
//! CRLF; EOLs between frames are heart-beats. The body ends at the first NUL,
//! or after `content-length` bytes (then it may hold NULs). Header names and
//! values are escaped (`\n`, `\c`, `\\`, and in 1.2 `\r`) from 1.1 on, except
//! in CONNECT and CONNECTED frames.
//!
//! The decoder is fed whatever a transport received (a WebSocket message may
//! hold several frames, or a part of one) and is bounded: a frame larger than
//! its limits is an error, never a growing buffer. Every error is a value for
//! the caller to answer with an ERROR frame; nothing here panics on input.

use std::fmt;

/// A negotiated STOMP version: it decides the header escaping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V1_0,
    V1_1,
    V1_2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => "1.0",
            Self::V1_1 => "1.1",
            Self::V1_2 => "1.2",
        }
    }

    /// The highest version of a CONNECT's `accept-version` that we speak
    /// (absent: 1.0, as the specification says).
    pub fn negotiate(accept: Option<&str>) -> Option<Self> {
        let Some(accept) = accept else {
            return Some(Self::V1_0);
        };
        accept
            .split(',')
            .filter_map(|v| match v.trim() {
                "1.0" => Some(Self::V1_0),
                "1.1" => Some(Self::V1_1),
                "1.2" => Some(Self::V1_2),
                _ => None,
            })
            .max()
    }
}

/// What the decoder accepts at most.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The whole frame (command, headers and body), in bytes.
    pub frame_bytes: usize,
    pub headers: usize,
    /// One header line, in bytes.
    pub header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            frame_bytes: 64 * 1024,
            headers: 32,
            header_bytes: 4096,
        }
    }
}

/// A decoded frame. Headers keep their order; a repeated header's first
/// value is the one that counts ([`Frame::header`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the decoder took off the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    HeartBeat,
    Frame(Frame),
}

/// Why input is not a frame we accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    TooLarge,
    TooManyHeaders,
    HeaderTooLong,
    EmptyCommand,
    InvalidCommand,
    MissingColon,
    InvalidEscape,
    NotUtf8,
    InvalidContentLength,
    /// `content-length` bytes were not followed by NUL.
    MissingNul,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLarge => "frame too large",
            Self::TooManyHeaders => "too many headers",
            Self::HeaderTooLong => "header line too long",
            Self::EmptyCommand => "frame without a command",
            Self::InvalidCommand => "a command is upper-case letters",
            Self::MissingColon => "a header line is name:value",
            Self::InvalidEscape => "undefined escape sequence in a header",
            Self::NotUtf8 => "headers must be UTF-8",
            Self::InvalidContentLength => "content-length is not a valid length",
            Self::MissingNul => "the body is not followed by NUL",
        })
    }
}

impl std::error::Error for FrameError {}

/// Longest command name (DISCONNECT, UNSUBSCRIBE: 11).
const MAX_COMMAND: usize = 16;

/// A streaming decoder: [`Decoder::push`] bytes, then take items with
/// [`Decoder::next_item`] until it answers `None` (more input needed).
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    version: Version,
    limits: Limits,
}

impl Decoder {
    pub fn new(version: Version, limits: Limits) -> Self {
        Self {
            buf: Vec::new(),
            version,
            limits,
        }
    }

    /// The escaping rules of later frames (after CONNECT negotiated them).
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    /// Appends received bytes (one transport message: itself bounded by the
    /// transport's message limit).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        // The caller drains whole frames after each push, so what stays is
        // at most one incomplete frame: twice the limit is never legitimate.
        if self.buf.len() + bytes.len() > 2 * self.limits.frame_bytes + 2 {
            return Err(FrameError::TooLarge);
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next heart-beat or frame, `None` until more input comes.
    pub fn next_item(&mut self) -> Result<Option<Item>, FrameError> {
        match self.buf.as_slice() {
            [] | [b'\r'] => return Ok(None),
            [b'\n', ..] => {
                self.buf.drain(..1);
                return Ok(Some(Item::HeartBeat));
            }
            [b'\r', b'\n', ..] => {
                self.buf.drain(..2);
                return Ok(Some(Item::HeartBeat));
            }
            _ => {}
        }
        let Some((frame, used)) = self.parse()? else {
            return Ok(None);
        };
        self.buf.drain(..used);
        Ok(Some(Item::Frame(frame)))
    }

    /// One frame at the start of the buffer and its length in bytes.
    fn parse(&self) -> Result<Option<(Frame, usize)>, FrameError> {
        let buf = &self.buf;
        let limits = self.limits;
        let mut at = 0;
        let Some((command, next)) = line(buf, at, MAX_COMMAND + 2, FrameError::InvalidCommand)?
        else {
            return Ok(None);
        };
        at = next;
        let command = std::str::from_utf8(command).map_err(|_| FrameError::InvalidCommand)?;
        if command.is_empty() {
            return Err(FrameError::EmptyCommand);
        }
        if !command.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(FrameError::InvalidCommand);
        }
        let escaped =
            self.version > Version::V1_0 && command != "CONNECT" && command != "CONNECTED";
        let mut headers = Vec::new();
        loop {
            let Some((text, next)) = line(buf, at, limits.header_bytes, FrameError::HeaderTooLong)?
            else {
                return self.need_more();
            };
            at = next;
            if text.is_empty() {
                break;
            }
            if headers.len() == limits.headers {
                return Err(FrameError::TooManyHeaders);
            }
            let text = std::str::from_utf8(text).map_err(|_| FrameError::NotUtf8)?;
            let (name, value) = text.split_once(':').ok_or(FrameError::MissingColon)?;
            let (name, value) = if escaped {
                (
                    unescape(name, self.version)?,
                    unescape(value, self.version)?,
                )
            } else {
                (name.to_owned(), value.to_owned())
            };
            headers.push((name, value));
        }
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| {
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| FrameError::InvalidContentLength)
            })
            .transpose()?;
        let body_start = at;
        let end = match length {
            Some(length) => {
                if body_start.saturating_add(length) > limits.frame_bytes {
                    return Err(FrameError::TooLarge);
                }
                match buf.get(body_start + length) {
                    None => return Ok(None),
                    Some(0) => body_start + length,
                    Some(_) => return Err(FrameError::MissingNul),
                }
            }
            None => match buf[body_start..].iter().position(|&b| b == 0) {
                Some(n) => body_start + n,
                None => return self.need_more(),
            },
        };
        if end + 1 > limits.frame_bytes {
            return Err(FrameError::TooLarge);
        }
        let frame = Frame {
            command: command.to_owned(),
            headers,
            body: buf[body_start..end].to_vec(),
        };
        Ok(Some((frame, end + 1)))
    }

    /// An incomplete frame: wait for more, unless it is already too large.
    fn need_more<T>(&self) -> Result<Option<T>, FrameError> {
        if self.buf.len() >= self.limits.frame_bytes {
            return Err(FrameError::TooLarge);
        }
        Ok(None)
    }
}

/// The line starting at `at` without its EOL, and where the next one starts;
/// `None` when its end has not arrived yet. Longer than `max`: `too_long`.
fn line(
    buf: &[u8],
    at: usize,
    max: usize,
    too_long: FrameError,
) -> Result<Option<(&[u8], usize)>, FrameError> {
    let rest = &buf[at..];
    match rest.iter().take(max + 1).position(|&b| b == b'\n') {
        Some(n) => {
            let text = &rest[..n];
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            Ok(Some((text, at + n + 1)))
        }
        None if rest.len() > max => Err(too_long),
        None => Ok(None),
    }
}

fn unescape(text: &str, version: Version) -> Result<String, FrameError> {
    if !text.contains('\\') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('n') => '\n',
            Some('c') => ':',
            Some('\\') => '\\',
            Some('r') if version == Version::V1_2 => '\r',
            _ => return Err(FrameError::InvalidEscape),
        });
    }
    Ok(out)
}

/// Escapes a header name or value for `version`. STOMP 1.0 has no escapes:
/// what it cannot carry (line breaks) becomes a space; 1.1 cannot carry CR.
fn escape(text: &str, version: Version, out: &mut String) {
    for c in text.chars() {
        match (c, version) {
            ('\n' | '\r', Version::V1_0) => out.push(' '),
            ('\r', Version::V1_1) => out.push(' '),
            (_, Version::V1_0) => out.push(c),
            ('\n', _) => out.push_str("\\n"),
            ('\r', _) => out.push_str("\\r"),
            (':', _) => out.push_str("\\c"),
            ('\\', _) => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
}

/// Encodes a server frame. A non-empty body gets `content-length` (so it may
/// hold NULs); CONNECTED headers are not escaped, as the specification says.
pub fn encode(command: &str, headers: &[(&str, &str)], body: &str, version: Version) -> String {
    let mut out = String::with_capacity(command.len() + body.len() + 64 * (headers.len() + 1));
    out.push_str(command);
    out.push('\n');
    let escaped = version > Version::V1_0 && command != "CONNECTED" && command != "CONNECT";
    for (name, value) in headers {
        if escaped {
            escape(name, version, &mut out);
            out.push(':');
            escape(value, version, &mut out);
        } else {
            // Unescaped headers cannot hold line breaks, and a name no colon.
            escape(&name.replace(':', " "), Version::V1_0, &mut out);
            out.push(':');
            escape(value, Version::V1_0, &mut out);
        }
        out.push('\n');
    }
    if !body.is_empty() {
        out.push_str("content-length:");
        out.push_str(&body.len().to_string());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(body);
    out.push('\0');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(version: Version, input: &[u8]) -> Result<Vec<Item>, FrameError> {
        let mut decoder = Decoder::new(version, Limits::default());
        decoder.push(input)?;
        let mut items = Vec::new();
        while let Some(item) = decoder.next_item()? {
            items.push(item);
        }
        Ok(items)
    }

    fn one(version: Version, input: &[u8]) -> Frame {
        match decode_all(version, input).unwrap().as_slice() {
            [Item::Frame(frame)] => frame.clone(),
            other => panic!("one frame expected, got {other:?}"),
        }
    }

    #[test]
    fn a_frame_with_headers_and_a_nul_terminated_body() {
        let frame = one(
            Version::V1_2,
            b"SEND\ndestination:/app/chat/1/send\nreceipt:r-1\n\n{\"content\":\"hi\"}\0",
        );
        assert_eq!(frame.command, "SEND");
        assert_eq!(frame.header("destination"), Some("/app/chat/1/send"));
        assert_eq!(frame.header("receipt"), Some("r-1"));
        assert_eq!(frame.body, b"{\"content\":\"hi\"}");
    }

    #[test]
    fn content_length_bodies_may_hold_nuls() {
        let frame = one(Version::V1_2, b"SEND\ncontent-length:5\n\na\0b\0c\0");
        assert_eq!(frame.body, b"a\0b\0c");
        assert_eq!(
            decode_all(Version::V1_2, b"SEND\ncontent-length:2\n\nabc\0"),
            Err(FrameError::MissingNul)
        );
        assert_eq!(
            decode_all(Version::V1_2, b"SEND\ncontent-length:x\n\n\0"),
            Err(FrameError::InvalidContentLength)
        );
    }

    #[test]
    fn crlf_lines_are_accepted() {
        let frame = one(
            Version::V1_2,
            b"SUBSCRIBE\r\nid:0\r\ndestination:/topic/chat/x\r\n\r\n\0",
        );
        assert_eq!(frame.header("id"), Some("0"));
        assert_eq!(frame.header("destination"), Some("/topic/chat/x"));
    }

    #[test]
    fn heart_beats_are_bare_eols_between_frames() {
        let items = decode_all(Version::V1_2, b"\n\r\nSEND\n\n\0\n\n").unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(items[0], Item::HeartBeat);
        assert_eq!(items[1], Item::HeartBeat);
        assert!(matches!(&items[2], Item::Frame(f) if f.command == "SEND"));
        assert_eq!(items[3], Item::HeartBeat);
        assert_eq!(items[4], Item::HeartBeat);
    }

    #[test]
    fn escaping_follows_the_version() {
        let input = b"SEND\nkey\\c1:a\\nb\\\\c\\rd\n\n\0";
        let frame = one(Version::V1_2, input);
        assert_eq!(frame.header("key:1"), Some("a\nb\\c\rd"));
        // 1.1 has no \r escape
        assert_eq!(
            decode_all(Version::V1_1, input),
            Err(FrameError::InvalidEscape)
        );
        let frame = one(Version::V1_1, b"SEND\nk:a\\nb\\c\n\n\0");
        assert_eq!(frame.header("k"), Some("a\nb:"));
        // 1.0 takes values as they are
        let frame = one(Version::V1_0, b"SEND\nk:a\\nb:c\n\n\0");
        assert_eq!(frame.header("k"), Some("a\\nb:c"));
        // CONNECT is never unescaped (passwords may hold backslashes)
        let frame = one(Version::V1_2, b"CONNECT\npasscode:a\\b\n\n\0");
        assert_eq!(frame.header("passcode"), Some("a\\b"));
        assert_eq!(
            decode_all(Version::V1_2, b"SEND\nk:a\\t\n\n\0"),
            Err(FrameError::InvalidEscape)
        );
    }

    #[test]
    fn the_first_of_repeated_headers_counts() {
        let frame = one(Version::V1_2, b"SEND\nfoo:World\nfoo:Hello\n\n\0");
        assert_eq!(frame.header("foo"), Some("World"));
    }

    #[test]
    fn frames_may_arrive_in_pieces() {
        let input = b"SEND\ndestination:/a\ncontent-length:3\n\nabc\0";
        let mut decoder = Decoder::new(Version::V1_2, Limits::default());
        for byte in &input[..input.len() - 1] {
            decoder.push(&[*byte]).unwrap();
            assert_eq!(decoder.next_item(), Ok(None));
        }
        decoder.push(b"\0").unwrap();
        assert!(matches!(decoder.next_item(), Ok(Some(Item::Frame(f))) if f.body == b"abc"));
        assert_eq!(decoder.next_item(), Ok(None));
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            frame_bytes: 64,
            headers: 2,
            header_bytes: 24,
        };
        let decode = |input: &[u8]| {
            let mut decoder = Decoder::new(Version::V1_2, limits);
            decoder.push(input)?;
            decoder.next_item()
        };
        assert_eq!(
            decode(b"SEND\na:1\nb:2\nc:3\n\n\0"),
            Err(FrameError::TooManyHeaders)
        );
        assert_eq!(
            decode(b"SEND\nname:aaaaaaaaaaaaaaaaaaaaaaaaaa\n\n\0"),
            Err(FrameError::HeaderTooLong)
        );
        assert_eq!(
            decode(b"SEND\ncontent-length:100\n\n"),
            Err(FrameError::TooLarge)
        );
        assert_eq!(decode(&[b'x'; 64]), Err(FrameError::InvalidCommand));
        let mut long = b"SEND\n\n".to_vec();
        long.extend([b'x'; 70]);
        assert_eq!(decode(&long), Err(FrameError::TooLarge));
        assert_eq!(decode(b"send\n\n\0"), Err(FrameError::InvalidCommand));
        assert_eq!(
            decode(b"SEND\nnocolon\n\n\0"),
            Err(FrameError::MissingColon)
        );
        assert_eq!(decode(b"SEND\nk:\xff\n\n\0"), Err(FrameError::NotUtf8));
    }

    #[test]
    fn versions_negotiate_to_the_highest_common() {
        assert_eq!(Version::negotiate(None), Some(Version::V1_0));
        assert_eq!(Version::negotiate(Some("1.0,1.1,1.2")), Some(Version::V1_2));
        assert_eq!(Version::negotiate(Some("1.1, 1.0")), Some(Version::V1_1));
        assert_eq!(Version::negotiate(Some("2.0")), None);
    }

    #[test]
    fn encoding_escapes_and_measures() {
        let text = encode(
            "MESSAGE",
            &[("destination", "/a:b"), ("x", "1\n2")],
            "é\0",
            Version::V1_2,
        );
        assert_eq!(
            text,
            "MESSAGE\ndestination:/a\\cb\nx:1\\n2\ncontent-length:3\n\né\0\0"
        );
        let connected = encode("CONNECTED", &[("version", "1.2")], "", Version::V1_2);
        assert_eq!(connected, "CONNECTED\nversion:1.2\n\n\0");
    }

    fn command() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["SEND", "MESSAGE", "SUBSCRIBE", "ERROR", "RECEIPT"])
            .prop_map(str::to_owned)
    }

    fn header() -> impl Strategy<Value = (String, String)> {
        // any text but content-length, whose value the encoder writes
        ("[^\\x00]{0,12}", "[^\\x00]{0,24}")
            .prop_filter("content-length is the encoder's", |(n, _)| {
                n != "content-length"
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Whatever arrives, in whatever pieces, the decoder answers without panicking.
        #[test]
        fn any_bytes_never_panic(
            input in prop::collection::vec(any::<u8>(), 0..512),
            cut in 0usize..512,
            version in prop::sample::select(vec![Version::V1_0, Version::V1_1, Version::V1_2]),
        ) {
            let limits = Limits { frame_bytes: 256, headers: 4, header_bytes: 32 };
            let mut decoder = Decoder::new(version, limits);
            let cut = cut.min(input.len());
            for piece in [&input[..cut], &input[cut..]] {
                if decoder.push(piece).is_err() {
                    break;
                }
                while let Ok(Some(_)) = decoder.next_item() {}
            }
        }

        /// Frames we encode decode to what was encoded (1.2 escapes everything).
        #[test]
        fn encode_then_decode_round_trips(
            command in command(),
            headers in prop::collection::vec(header(), 0..6),
            body in "(?s).{0,64}",
            beats in 0usize..3,
        ) {
            let refs: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut wire = "\n".repeat(beats);
            wire.push_str(&encode(&command, &refs, &body, Version::V1_2));
            let items = decode_all(Version::V1_2, wire.as_bytes()).unwrap();
            prop_assert_eq!(items.len(), beats + 1);
            let Item::Frame(frame) = &items[beats] else { panic!("a frame") };
            let mut expected = headers.clone();
            if !body.is_empty() {
                expected.push(("content-length".into(), body.len().to_string()));
            }
            prop_assert_eq!(&frame.command, &command);
            prop_assert_eq!(&frame.headers, &expected);
            prop_assert_eq!(frame.body.as_slice(), body.as_bytes());
        }
    }
}
