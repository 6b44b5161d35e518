//! The fake switch's side of the event-socket wire (`reference/freeswitch-esl.md` §1–§2):
//! encoding replies and events exactly as FreeSWITCH 1.10 writes them, and cutting client
//! commands out of the byte stream. Written independently of `crate::esl` on purpose, so the
//! two implementations check each other.

use std::fmt::Write as _;

/// The goodbye text FreeSWITCH puts in every closing disconnect-notice (67 bytes).
pub const GOODBYE: &str = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

/// Largest command block we accept; FreeSWITCH drops the connection above 16 MiB (§1).
pub const MAX_COMMAND_BYTES: usize = 16 * 1024 * 1024;

/// An event: ordered headers (duplicates allowed, as FreeSWITCH has them) and an optional body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// Headers in the order FreeSWITCH adds them.
    pub headers: Vec<(String, String)>,
    /// Raw body (BACKGROUND_JOB output).
    pub body: Option<String>,
}

impl Event {
    /// Appends a header (empty values are never sent, §2).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() {
            self.headers.push((name.into(), value));
        }
    }

    /// The first value of a header, looked up case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Event-Name`.
    pub fn name(&self) -> &str {
        self.get("Event-Name").unwrap_or("")
    }

    /// The `text/event-plain` payload: URL-encoded values, then the body if any.
    pub fn to_plain(&self) -> String {
        let mut out = String::with_capacity(4096);
        for (name, value) in &self.headers {
            out.push_str(name);
            out.push_str(": ");
            url_encode_into(value, &mut out);
            out.push('\n');
        }
        match &self.body {
            Some(body) => {
                let _ = write!(out, "Content-Length: {}\n\n{body}", body.len());
            }
            None => out.push('\n'),
        }
        out
    }

    /// The `text/event-json` payload: one object, string values, duplicates kept.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push('{');
        let mut first = true;
        let mut member = |out: &mut String, name: &str, value: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            json_string_into(name, out);
            out.push(':');
            json_string_into(value, out);
        };
        for (name, value) in &self.headers {
            member(&mut out, name, value);
        }
        if let Some(body) = &self.body {
            member(&mut out, "Content-Length", &body.len().to_string());
            member(&mut out, "_body", body);
        }
        out.push('}');
        out
    }

    /// The `text/event-xml` payload.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<event>\n  <headers>\n");
        for (name, value) in &self.headers {
            let mut encoded = String::new();
            url_encode_into(value, &mut encoded);
            let _ = writeln!(out, "    <{name}>{}</{name}>", xml_escape(&encoded));
        }
        out.push_str("  </headers>\n");
        if let Some(body) = &self.body {
            let _ = writeln!(out, "  <body>{}</body>", xml_escape(body));
        }
        out.push_str("</event>");
        out
    }
}

/// The format a connection asked for with `event plain|json|xml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/event-plain`
    Plain,
    /// `text/event-json`
    Json,
    /// `text/event-xml`
    Xml,
}

impl Format {
    /// Parses the format word of `event`.
    pub fn parse(word: &str) -> Option<Format> {
        match word.to_ascii_lowercase().as_str() {
            "plain" => Some(Format::Plain),
            "json" => Some(Format::Json),
            "xml" => Some(Format::Xml),
            _ => None,
        }
    }

    /// The word used in `+OK event listener enabled <word>`.
    pub fn word(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Json => "json",
            Format::Xml => "xml",
        }
    }
}

/// A whole event frame in the given format.
pub fn event_frame(event: &Event, format: Format) -> Vec<u8> {
    let (payload, content_type) = match format {
        Format::Plain => (event.to_plain(), "text/event-plain"),
        Format::Json => (event.to_json(), "text/event-json"),
        Format::Xml => (event.to_xml(), "text/event-xml"),
    };
    let mut frame = format!(
        "Content-Length: {}\nContent-Type: {content_type}\n\n",
        payload.len()
    )
    .into_bytes();
    frame.extend_from_slice(payload.as_bytes());
    frame
}

/// `Content-Type: auth/request`.
pub fn auth_request() -> Vec<u8> {
    b"Content-Type: auth/request\n\n".to_vec()
}

/// A `command/reply` frame. Replies are cut at FreeSWITCH's 512-byte buffer (§1).
pub fn command_reply(text: &str) -> Vec<u8> {
    let text = truncate(text, 511);
    format!("Content-Type: command/reply\nReply-Text: {text}\n\n").into_bytes()
}

/// The bgapi reply, which repeats the job id as its own header (§3).
pub fn bgapi_reply(job: &str) -> Vec<u8> {
    format!("Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n")
        .into_bytes()
}

/// An `api/response` frame carrying the command's output raw.
pub fn api_response(body: &str) -> Vec<u8> {
    let mut frame = format!(
        "Content-Type: api/response\nContent-Length: {}\n\n",
        body.len()
    )
    .into_bytes();
    frame.extend_from_slice(body.as_bytes());
    frame
}

/// The closing `text/disconnect-notice`.
pub fn disconnect_notice() -> Vec<u8> {
    let mut frame = format!(
        "Content-Type: text/disconnect-notice\nContent-Length: {}\n\n",
        GOODBYE.len()
    )
    .into_bytes();
    frame.extend_from_slice(GOODBYE.as_bytes());
    frame
}

/// switch_url_encode: see §2 for the exact set, including the `%XX` pass-through quirk.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    url_encode_into(value, &mut out);
    out
}

fn url_encode_into(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = value.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let passthrough_percent = b == b'%'
            && bytes.get(i + 1).is_some_and(is_upper_hex)
            && bytes.get(i + 2).is_some_and(is_upper_hex);
        if passthrough_percent || !needs_encoding(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

fn is_upper_hex(b: &u8) -> bool {
    b.is_ascii_digit() || (b'A'..=b'F').contains(b)
}

fn needs_encoding(b: u8) -> bool {
    !(0x20..=0x7e).contains(&b) || b" #%&+:;<=>?@[\\]^`{|}\"".contains(&b)
}

fn json_string_into(value: &str, out: &mut String) {
    out.push('"');
    // Copy the runs that need no escape whole; the bytes that do are all ASCII, so every
    // cut is on a character boundary.
    let mut rest = value;
    while let Some(at) = rest
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20)
    {
        out.push_str(&rest[..at]);
        match rest.as_bytes()[at] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            control => {
                let _ = write!(out, "\\u{control:04x}");
            }
        }
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Splits an application's arguments as FreeSWITCH 1.10's `switch_separate_string(buf, ' ',
/// …)` does for `play_and_get_digits` (switch_utils.c). `separate_string_blank_delim` cuts at
/// spaces outside `'…'` (a `\` shields the next character from cutting), then
/// `cleanup_separated_string` drops the quotes and turns `\'`, `\"`, `\\`, `\n`, `\r`,
/// `\t`, `\s` into their characters; any other backslash stays, so `^\d+$` arrives intact.
pub fn split_arguments(arg: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut chars) = (false, arg.chars());
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(c);
                current.extend(chars.next());
            }
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ' ' if !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens.iter().map(|t| cleanup_argument(t)).collect()
}

/// `cleanup_separated_string` with no delimiter: quotes out, the known escapes unescaped.
fn cleanup_argument(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        let escaped = match (c, chars.peek()) {
            ('\\', Some(&e @ ('\'' | '"' | '\\'))) => Some(e),
            ('\\', Some('n')) => Some('\n'),
            ('\\', Some('r')) => Some('\r'),
            ('\\', Some('t')) => Some('\t'),
            ('\\', Some('s')) => Some(' '),
            _ => None,
        };
        match (escaped, c) {
            (Some(e), _) => {
                chars.next();
                out.push(e);
            }
            (None, '\'') => {}
            (None, c) => out.push(c),
        }
    }
    out
}

/// One command from the client: the command line, its header lines and an optional body.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClientCommand {
    /// The first line (`api status`, `sendmsg <uuid>`).
    pub line: String,
    /// Header lines after it, in order, values raw (FreeSWITCH does not URL-decode them).
    pub headers: Vec<(String, String)>,
    /// The body sent with `Content-Length`.
    pub body: Option<String>,
}

impl ClientCommand {
    /// A header value, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A command block the switch refuses to read (the connection is dropped).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    /// The header block or body passed the 16 MiB limit.
    #[error("command of {len} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Bytes seen or announced.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// `Content-Length` was not a number.
    #[error("bad content-length {value:?}")]
    BadLength {
        /// The raw value.
        value: String,
    },
}

/// Cuts the next command out of `buf` (LF or CRLF, blank lines before it skipped, §1).
/// Returns `Ok(None)` when more bytes are needed, and drains what it used.
///
/// # Errors
/// When the block is larger than [`MAX_COMMAND_BYTES`] or its Content-Length is unreadable.
pub fn take_command(buf: &mut Vec<u8>) -> Result<Option<ClientCommand>, CommandError> {
    let start = buf
        .iter()
        .position(|&b| b != b'\n' && b != b'\r')
        .unwrap_or(buf.len());
    let Some(end) = find_block_end(&buf[start..]) else {
        if buf.len() > MAX_COMMAND_BYTES {
            return Err(CommandError::TooLarge {
                len: buf.len(),
                limit: MAX_COMMAND_BYTES,
            });
        }
        return Ok(None);
    };
    let (head_len, sep_len) = end;
    let head = String::from_utf8_lossy(&buf[start..start + head_len]).into_owned();
    let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
    let mut command = ClientCommand {
        line: lines.next().unwrap_or("").to_string(),
        ..ClientCommand::default()
    };
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            command
                .headers
                .push((name.trim().to_string(), value.trim_start().to_string()));
        }
    }
    let body_start = start + head_len + sep_len;
    let mut consumed = body_start;
    if let Some(raw) = command.header("Content-Length") {
        let len: usize = raw.trim().parse().map_err(|_| CommandError::BadLength {
            value: raw.to_string(),
        })?;
        if len > MAX_COMMAND_BYTES {
            return Err(CommandError::TooLarge {
                len,
                limit: MAX_COMMAND_BYTES,
            });
        }
        if buf.len() < body_start + len {
            return Ok(None);
        }
        command.body =
            Some(String::from_utf8_lossy(&buf[body_start..body_start + len]).into_owned());
        consumed = body_start + len;
    }
    buf.drain(..consumed);
    Ok(Some(command))
}

/// Finds the end of a header block: (length of the block, length of the blank-line separator).
fn find_block_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\n', &bytes[i..]) {
        let nl = i + off;
        match bytes.get(nl + 1) {
            Some(b'\n') => return Some((nl, 2)),
            Some(b'\r') if bytes.get(nl + 2) == Some(&b'\n') => return Some((nl, 3)),
            _ => {}
        }
        i = nl + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_as_play_and_get_digits_splits_them() {
        let arg = r"1 1 3 5000 # 'say:Press 1, then #' ivr/bad.wav kefu_digits ^\d+$ 3000";
        assert_eq!(
            split_arguments(arg),
            [
                "1",
                "1",
                "3",
                "5000",
                "#",
                "say:Press 1, then #",
                "ivr/bad.wav",
                "kefu_digits",
                r"^\d+$",
                "3000"
            ]
        );
        assert_eq!(split_arguments(r"a\ b 'c d' e\'f"), [r"a\ b", "c d", "e'f"]);
        assert_eq!(split_arguments(r"x\sy"), ["x y"]);
    }

    #[test]
    fn url_encoding_follows_switch_url_encode() {
        assert_eq!(url_encode("+15551234567"), "%2B15551234567");
        assert_eq!(url_encode("a@b:5060"), "a%40b%3A5060");
        assert_eq!(url_encode("#"), "%23");
        assert_eq!(url_encode("*/,()!$'-._~"), "*/,()!$'-._~");
        assert_eq!(url_encode("a b"), "a%20b");
        assert_eq!(url_encode("50%41"), "50%41");
        assert_eq!(url_encode("50%4a"), "50%254a");
        assert_eq!(url_encode("€"), "%E2%82%AC");
        assert_eq!(url_encode("\r\n"), "%0D%0A");
    }

    #[test]
    fn plain_event_without_body_ends_in_blank_line() {
        let mut e = Event::default();
        e.push("Event-Name", "HEARTBEAT");
        e.push("Empty", "");
        assert_eq!(e.to_plain(), "Event-Name: HEARTBEAT\n\n");
        let frame = event_frame(&e, Format::Plain);
        assert_eq!(
            frame,
            b"Content-Length: 23\nContent-Type: text/event-plain\n\nEvent-Name: HEARTBEAT\n\n"
        );
    }

    #[test]
    fn job_body_rides_after_content_length() {
        let e = Event {
            headers: vec![("Event-Name".into(), "BACKGROUND_JOB".into())],
            body: Some("+OK x\n".into()),
        };
        assert_eq!(
            e.to_plain(),
            "Event-Name: BACKGROUND_JOB\nContent-Length: 6\n\n+OK x\n"
        );
        assert_eq!(
            e.to_json(),
            r#"{"Event-Name":"BACKGROUND_JOB","Content-Length":"6","_body":"+OK x\n"}"#
        );
    }

    proptest::proptest! {
        #[test]
        fn json_values_read_back_as_written(value in proptest::prelude::any::<String>()) {
            let e = Event {
                headers: vec![("X-Value".into(), value.clone())],
                body: None,
            };
            let read: std::collections::HashMap<String, String> =
                serde_json::from_str(&e.to_json()).expect("valid JSON");
            proptest::prop_assert_eq!(read.get("X-Value"), Some(&value));
        }
    }

    #[test]
    fn commands_are_cut_from_split_and_batched_reads() {
        let mut buf =
            b"\n\nauth ClueCon\n\nsendmsg u\r\ncall-command: execute\r\n\r\napi st".to_vec();
        let first = take_command(&mut buf).ok().flatten();
        assert_eq!(first.map(|c| c.line), Some("auth ClueCon".to_string()));
        let second = take_command(&mut buf).ok().flatten();
        assert_eq!(
            second.as_ref().and_then(|c| c.header("Call-Command")),
            Some("execute")
        );
        assert_eq!(take_command(&mut buf), Ok(None));
        buf.extend_from_slice(b"atus\n\nsendevent X\nContent-Length: 3\n\nab");
        assert_eq!(
            take_command(&mut buf).ok().flatten().map(|c| c.line),
            Some("api status".into())
        );
        assert_eq!(take_command(&mut buf), Ok(None));
        buf.push(b'c');
        assert_eq!(
            take_command(&mut buf).ok().flatten().and_then(|c| c.body),
            Some("abc".into())
        );
        assert!(buf.is_empty());
    }
}
