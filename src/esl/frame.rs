//! Bytes <-> frames for the event socket (reference §1). Sans-IO: [`FrameDecoder`] is fed a
//! `BytesMut` by whoever reads the socket and cuts it into [`Frame`]s; the `encode_*`
//! functions build what the client writes. A thin `tokio_util` `Decoder` impl sits on top.
//!
//! First step of the event flow: `connection` reads bytes, this file cuts frames, `event`
//! decodes the event payloads inside them.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::esl::error::{EslError, excerpt};

/// Default limit for one frame (header block or body): 16 MiB, what current FreeSWITCH
/// builds accept (reference §1). `show channels` output can be MBs.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// An ordered multimap of header lines: original spelling and order kept, duplicates kept,
/// case-insensitive lookup (FreeSWITCH looks names up case-insensitively, reference §2).
///
/// All names and values live in one `String`; entries are ranges into it, so a decoded
/// event costs two allocations however many headers it has.
#[derive(Clone, Default)]
pub struct Headers {
    text: String,
    entries: Vec<Entry>,
}

#[derive(Clone, Copy)]
struct Entry {
    name: (usize, usize),
    value: (usize, usize),
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header at the end (duplicates are kept).
    pub fn push(&mut self, name: &str, value: &str) {
        let n0 = self.text.len();
        self.text.push_str(name);
        let n1 = self.text.len();
        self.text.push_str(value);
        let v1 = self.text.len();
        self.entries.push(Entry {
            name: (n0, n1),
            value: (n1, v1),
        });
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value whose name is `prefix` followed by `rest` (case-insensitive), without
    /// building the joined name (`variable_` + name).
    pub fn get_prefixed(&self, prefix: &str, rest: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| {
                n.len() == prefix.len() + rest.len()
                    && n.get(..prefix.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
                    && n.get(prefix.len()..)
                        .is_some_and(|r| r.eq_ignore_ascii_case(rest))
            })
            .map(|(_, v)| v)
    }

    /// All headers in order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|e| {
            (
                self.text.get(e.name.0..e.name.1).unwrap_or_default(),
                self.text.get(e.value.0..e.value.1).unwrap_or_default(),
            )
        })
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Builds from a text buffer and ranges already checked to be on char boundaries.
    pub(crate) fn from_parts(text: String, ranges: Vec<[usize; 4]>) -> Self {
        let entries = ranges
            .into_iter()
            .map(|[a, b, c, d]| Entry {
                name: (a, b),
                value: (c, d),
            })
            .collect();
        Self { text, entries }
    }

    /// Builds from raw bytes and ranges: one UTF-8 check for the whole buffer, and a lossy
    /// per-header rebuild only when that fails (FreeSWITCH passes invalid UTF-8 through).
    pub(crate) fn from_raw(buf: Vec<u8>, ranges: Vec<[usize; 4]>) -> Self {
        match String::from_utf8(buf) {
            Ok(text)
                if ranges
                    .iter()
                    .all(|r| r.iter().all(|&i| text.is_char_boundary(i))) =>
            {
                Self::from_parts(text, ranges)
            }
            Ok(text) => Self::lossy(text.as_bytes(), &ranges),
            Err(e) => Self::lossy(e.as_bytes(), &ranges),
        }
    }

    fn lossy(buf: &[u8], ranges: &[[usize; 4]]) -> Self {
        let mut headers = Headers::new();
        for &[a, b, c, d] in ranges {
            let name = String::from_utf8_lossy(buf.get(a..b).unwrap_or_default());
            let value = String::from_utf8_lossy(buf.get(c..d).unwrap_or_default());
            headers.push(&name, &value);
        }
        headers
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (n, v) in iter {
            headers.push(n, v);
        }
        headers
    }
}

/// One frame: the outer header block and, when it had a `Content-Length`, exactly that many
/// body bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The outer headers (raw values: not URL-decoded, reference §1).
    pub headers: Headers,
    /// The body, present when the frame carried `Content-Length` (possibly 0).
    pub body: Option<Bytes>,
}

impl Frame {
    /// `Content-Type`, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("Content-Type")
    }
}

/// Incremental frame decoder. Feed it the read buffer; it returns one frame at a time and
/// leaves the rest in the buffer. Never allocates more than `max_frame_bytes` for a frame.
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Looking for the end of the header block; `scanned` bytes were already searched.
    Head { scanned: usize },
    /// Headers parsed; waiting for `len` body bytes.
    Body { headers: Headers, len: usize },
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl FrameDecoder {
    /// A decoder refusing header blocks or bodies over `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        Self {
            max_frame_bytes,
            state: State::Head { scanned: 0 },
        }
    }

    /// Cuts the next complete frame off the front of `buf`, or returns `None` when more
    /// bytes are needed. Call again until `None`: one read may hold several frames.
    ///
    /// # Errors
    /// `FrameTooLarge`, `HeaderBlockTooLarge`, `MalformedHeader`, `BadContentLength`. The
    /// stream cannot be resynchronised after one: drop the connection.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, EslError> {
        if let State::Head { scanned } = self.state {
            let Some(headers) = self.decode_head(buf, scanned)? else {
                return Ok(None);
            };
            match content_length(&headers)? {
                None => {
                    return Ok(Some(Frame {
                        headers,
                        body: None,
                    }));
                }
                Some(len) if len > self.max_frame_bytes => {
                    return Err(EslError::FrameTooLarge {
                        len,
                        limit: self.max_frame_bytes,
                    });
                }
                Some(len) => self.state = State::Body { headers, len },
            }
        }
        let State::Body { len, .. } = self.state else {
            return Ok(None);
        };
        if buf.len() < len {
            buf.reserve(len - buf.len());
            return Ok(None);
        }
        let body = buf.split_to(len).freeze();
        let state = std::mem::replace(&mut self.state, State::Head { scanned: 0 });
        let State::Body { headers, .. } = state else {
            return Ok(None);
        };
        Ok(Some(Frame {
            headers,
            body: Some(body),
        }))
    }

    fn decode_head(
        &mut self,
        buf: &mut BytesMut,
        scanned: usize,
    ) -> Result<Option<Headers>, EslError> {
        // FreeSWITCH never sends them, but blank lines between frames are harmless: skip.
        let blank = buf
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        if blank > 0 {
            let _ = buf.split_to(blank);
            self.state = State::Head { scanned: 0 };
            return self.decode_head(buf, 0);
        }
        let start = scanned.saturating_sub(2);
        let Some((block_end, consumed)) = find_block_end(buf, start) else {
            if buf.len() > self.max_frame_bytes {
                return Err(EslError::HeaderBlockTooLarge {
                    limit: self.max_frame_bytes,
                });
            }
            self.state = State::Head { scanned: buf.len() };
            return Ok(None);
        };
        if block_end > self.max_frame_bytes {
            return Err(EslError::HeaderBlockTooLarge {
                limit: self.max_frame_bytes,
            });
        }
        let block = buf.split_to(consumed);
        self.state = State::Head { scanned: 0 };
        parse_block(block.get(..block_end).unwrap_or_default()).map(Some)
    }
}

impl tokio_util::codec::Decoder for FrameDecoder {
    type Item = Frame;
    type Error = EslError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, EslError> {
        FrameDecoder::decode(self, src)
    }
}

/// Finds the empty line ending a header block: `\n\n` or `\n\r\n` (so `\r\n\r\n` too).
/// Returns (end of the last header line, bytes to consume including the empty line).
fn find_block_end(buf: &[u8], start: usize) -> Option<(usize, usize)> {
    let hay = buf.get(start..)?;
    for i in memchr::memchr_iter(b'\n', hay) {
        let p = start + i;
        match (buf.get(p + 1), buf.get(p + 2)) {
            (Some(b'\n'), _) => return Some((p, p + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((p, p + 3)),
            _ => {}
        }
    }
    None
}

/// Parses raw (not URL-encoded) header lines: split at the first `:`, skip the spaces after.
fn parse_block(block: &[u8]) -> Result<Headers, EslError> {
    let mut ranges = Vec::with_capacity(4);
    let mut pos = 0;
    while pos < block.len() {
        let end = memchr::memchr(b'\n', &block[pos..]).map_or(block.len(), |i| pos + i);
        let line_end = if end > pos && block.get(end - 1) == Some(&b'\r') {
            end - 1
        } else {
            end
        };
        let line = block.get(pos..line_end).unwrap_or_default();
        if !line.is_empty() {
            let (name, value) = split_line(line, pos)?;
            ranges.push([name.0, name.1, value.0, value.1]);
        }
        pos = end + 1;
    }
    Ok(Headers::from_raw(block.to_vec(), ranges))
}

/// A byte range `(start, end)` in a header block.
type Span = (usize, usize);

/// Splits one header line (starting at `offset` in its buffer) into name and value ranges.
pub(crate) fn split_line(line: &[u8], offset: usize) -> Result<(Span, Span), EslError> {
    let colon = memchr::memchr(b':', line)
        .filter(|&c| c > 0)
        .ok_or_else(|| EslError::MalformedHeader {
            line: excerpt(line),
        })?;
    let spaces = line
        .get(colon + 1..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b' ')
        .count();
    Ok((
        (offset, offset + colon),
        (offset + colon + 1 + spaces, offset + line.len()),
    ))
}

fn content_length(headers: &Headers) -> Result<Option<usize>, EslError> {
    let Some(value) = headers.get("Content-Length") else {
        return Ok(None);
    };
    parse_length(value).map(Some)
}

/// A decimal byte count; anything else (sign, spaces inside, overflow) is refused.
pub(crate) fn parse_length(value: &str) -> Result<usize, EslError> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EslError::BadContentLength {
            value: excerpt(value.as_bytes()),
        });
    }
    digits.parse().map_err(|_| EslError::BadContentLength {
        value: excerpt(value.as_bytes()),
    })
}

/// Builds a client command: `<line>\n`, `Name: value\n` per header, an empty line, then the
/// body (with a `Content-Length` header added for it).
///
/// # Errors
/// `UnsafeArgument` when the line or a header contains `\r` or `\n` (reference §8), or a
/// header name contains `:`.
pub fn encode_command(
    line: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Bytes, EslError> {
    check_arg("command line", line)?;
    let mut len = line.len() + 2 + body.map_or(0, |b| b.len() + 40);
    for (name, value) in headers {
        check_arg("header name", name)?;
        if name.contains(':') || name.is_empty() {
            return Err(EslError::UnsafeArgument {
                field: "header name",
            });
        }
        check_arg("header value", value)?;
        len += name.len() + value.len() + 3;
    }
    let mut out = BytesMut::with_capacity(len);
    out.put_slice(line.as_bytes());
    out.put_u8(b'\n');
    for (name, value) in headers {
        put_header(&mut out, name, value);
    }
    if let Some(body) = body {
        put_header(&mut out, "Content-Length", &body.len().to_string());
        out.put_u8(b'\n');
        out.put_slice(body);
    } else {
        out.put_u8(b'\n');
    }
    Ok(out.freeze())
}

/// Serialises a frame the way FreeSWITCH writes one: its headers, a `Content-Length` when
/// there is a body and the headers lack one, the empty line, the body. For fakes and tests;
/// values are written as given, so they must not contain `\n`.
pub fn encode_frame(frame: &Frame) -> Bytes {
    let mut out = BytesMut::new();
    for (name, value) in frame.headers.iter() {
        put_header(&mut out, name, value);
    }
    if let Some(body) = &frame.body {
        if frame.headers.get("Content-Length").is_none() {
            put_header(&mut out, "Content-Length", &body.len().to_string());
        }
        out.put_u8(b'\n');
        out.put_slice(body);
    } else {
        out.put_u8(b'\n');
    }
    out.freeze()
}

fn put_header(out: &mut BytesMut, name: &str, value: &str) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value.as_bytes());
    out.put_u8(b'\n');
}

/// Refuses `\r` and `\n` in anything written into a command (they would end it early).
pub(crate) fn check_arg(field: &'static str, value: &str) -> Result<(), EslError> {
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        Err(EslError::UnsafeArgument { field })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
