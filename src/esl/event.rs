//! Event payloads and frame classification (reference §1, §2). [`classify`] turns a
//! [`Frame`] into an [`Incoming`] by its Content-Type; event bodies in `text/event-plain`
//! (URL-encoded second header block) and `text/event-json` become an [`EslEvent`]: ordered
//! headers plus an optional body, read through typed accessors.
//!
//! Second step of the event flow, between `frame` (cutting) and `translate` (meaning).

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::domain::Timestamp;
use crate::esl::error::EslError;
use crate::esl::frame::{Frame, Headers, parse_length, split_line};

/// One FreeSWITCH event: its headers in order (decoded values) and its body, if any.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EslEvent {
    headers: Headers,
    body: Option<Bytes>,
}

impl EslEvent {
    /// An event from already-decoded headers and body (fakes and tests).
    pub fn new(headers: Headers, body: Option<Bytes>) -> Self {
        Self { headers, body }
    }

    /// `Event-Name` (`CHANNEL_PARK`, `CUSTOM`, ...).
    pub fn name(&self) -> Option<&str> {
        self.headers.get("Event-Name")
    }

    /// `Event-Subclass` of a CUSTOM event.
    pub fn subclass(&self) -> Option<&str> {
        self.headers.get("Event-Subclass")
    }

    /// `Unique-ID` of the channel, as sent.
    pub fn unique_id(&self) -> Option<&str> {
        self.headers.get("Unique-ID")
    }

    /// `Event-Date-Timestamp` (µs since the epoch).
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.headers
            .get("Event-Date-Timestamp")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(Timestamp::from_micros)
    }

    /// `Job-UUID` of a BACKGROUND_JOB.
    pub fn job_uuid(&self) -> Option<&str> {
        self.headers.get("Job-UUID")
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// A channel variable: the header `variable_<name>`.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.headers.get_prefixed("variable_", name)
    }

    /// The elements of a multi-value header (`ARRAY::a|:b`, reference §2), or the single value.
    pub fn header_array(&self, name: &str) -> Vec<&str> {
        match self.header(name) {
            None => Vec::new(),
            Some(v) => match v.strip_prefix("ARRAY::") {
                Some(items) => items.split("|:").collect(),
                None => vec![v],
            },
        }
    }

    /// All headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The body (raw bytes: BACKGROUND_JOB output, `_body` in JSON).
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// The body as text, converted lossily.
    pub fn body_text(&self) -> Option<Cow<'_, str>> {
        self.body.as_deref().map(String::from_utf8_lossy)
    }

    /// Decodes a `text/event-plain` body: URL-encoded `Name: value` lines, then either the
    /// end or a `Content-Length: M` header, an empty line and M raw body bytes.
    ///
    /// # Errors
    /// `MalformedHeader` for a line without `:`, `BadContentLength` for a bad or too long
    /// inner Content-Length.
    pub fn from_plain(payload: &Bytes) -> Result<Self, EslError> {
        let bytes: &[u8] = payload;
        let mut buf = Vec::with_capacity(bytes.len());
        let mut ranges = Vec::with_capacity(bytes.len() / 32);
        let mut inner_len = None;
        let mut pos = 0;
        let mut body_start = bytes.len();
        while pos < bytes.len() {
            let end = memchr::memchr(b'\n', bytes.get(pos..).unwrap_or_default())
                .map_or(bytes.len(), |i| pos + i);
            let line = bytes.get(pos..end).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            pos = end + 1;
            if line.is_empty() {
                body_start = pos.min(bytes.len());
                break;
            }
            let ((n0, n1), (v0, v1)) = split_line(line, 0)?;
            let name = line.get(n0..n1).unwrap_or_default();
            let value = line.get(v0..v1).unwrap_or_default();
            let start = buf.len();
            buf.extend_from_slice(name);
            let mid = buf.len();
            url_decode_into(value, &mut buf);
            ranges.push([start, mid, mid, buf.len()]);
            if name.eq_ignore_ascii_case(b"Content-Length") {
                inner_len = Some(parse_length(&String::from_utf8_lossy(value))?);
            }
        }
        let body = match inner_len {
            None => None,
            Some(len) => {
                let end = body_start.checked_add(len).filter(|&e| e <= bytes.len());
                let end = end.ok_or_else(|| EslError::BadContentLength {
                    value: format!("{len} (only {} bytes left)", bytes.len() - body_start),
                })?;
                Some(payload.slice(body_start..end))
            }
        };
        Ok(Self {
            headers: Headers::from_raw(buf, ranges),
            body,
        })
    }

    /// Decodes a `text/event-json` body: one object whose values are strings or arrays of
    /// strings (kept as `ARRAY::a|:b`, like plain); `_body` is the body; duplicate keys are
    /// kept. Invalid UTF-8 (FreeSWITCH copies bytes raw) is converted lossily.
    ///
    /// # Errors
    /// `BadEventJson` when the body is not such an object.
    pub fn from_json(payload: &[u8]) -> Result<Self, EslError> {
        match parse_json(payload) {
            Ok(event) => Ok(event),
            Err(source) if std::str::from_utf8(payload).is_err() => {
                let text = String::from_utf8_lossy(payload);
                parse_json(text.as_bytes()).map_err(|_| EslError::BadEventJson { source })
            }
            Err(source) => Err(EslError::BadEventJson { source }),
        }
    }
}

/// Turns `%XX` (either case) into a byte and copies everything else, `+` included. A `%`
/// not followed by two hex digits stays as is (reference §2: the `%XX` quirk passes a
/// literal `%41` through, which then decodes to `A`; that loss is FreeSWITCH's).
pub fn url_decode_into(value: &[u8], out: &mut Vec<u8>) {
    let mut rest = value;
    while let Some(i) = memchr::memchr(b'%', rest) {
        out.extend_from_slice(rest.get(..i).unwrap_or_default());
        let hex = (
            rest.get(i + 1).copied().and_then(hex_value),
            rest.get(i + 2).copied().and_then(hex_value),
        );
        if let (Some(h), Some(l)) = hex {
            out.push(h << 4 | l);
            rest = rest.get(i + 3..).unwrap_or_default();
        } else {
            out.push(b'%');
            rest = rest.get(i + 1..).unwrap_or_default();
        }
    }
    out.extend_from_slice(rest);
}

/// URL-decodes one value to text (bytes first, then lossy UTF-8).
pub fn url_decode(value: &str) -> String {
    let mut out = Vec::with_capacity(value.len());
    url_decode_into(value.as_bytes(), &mut out);
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn parse_json(payload: &[u8]) -> Result<EslEvent, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let event = serde::Deserializer::deserialize_map(
        &mut de,
        EventVisitor {
            hint: payload.len(),
        },
    )?;
    de.end()?;
    Ok(event)
}

struct EventVisitor {
    hint: usize,
}

impl<'de> Visitor<'de> for EventVisitor {
    type Value = EslEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EslEvent, A::Error> {
        let mut text = String::with_capacity(self.hint);
        let mut ranges = Vec::with_capacity(self.hint / 40);
        let mut body = None;
        loop {
            let start = text.len();
            if map.next_key_seed(AppendStr(&mut text))?.is_none() {
                break;
            }
            if text.get(start..) == Some("_body") {
                text.truncate(start);
                body = Some(Bytes::from(map.next_value::<String>()?));
                continue;
            }
            let mid = text.len();
            map.next_value_seed(AppendValue(&mut text))?;
            ranges.push([start, mid, mid, text.len()]);
        }
        Ok(EslEvent {
            headers: Headers::from_parts(text, ranges),
            body,
        })
    }
}

/// Appends a JSON string to the buffer without an intermediate `String`.
struct AppendStr<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for AppendStr<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for AppendStr<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }
}

/// Appends a header value: a string as is, an array as `ARRAY::a|:b` (the plain spelling),
/// and, leniently, a number or bool as its text.
struct AppendValue<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for AppendValue<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AppendValue<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.0.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.0.push_str(&v.to_string());
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.0.push_str(&v.to_string());
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.0.push_str(&v.to_string());
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push_str("ARRAY::");
        let mut first = true;
        loop {
            let before = self.0.len();
            if !first {
                self.0.push_str("|:");
            }
            if seq.next_element_seed(AppendStr(self.0))?.is_none() {
                self.0.truncate(before);
                return Ok(());
            }
            first = false;
        }
    }
}

/// A frame, classified by its Content-Type (reference §1 table).
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// `auth/request`: send `auth <password>`.
    AuthRequest,
    /// `command/reply`: the `Reply-Text` and all headers (bgapi adds `Job-UUID`).
    CommandReply(String, Headers),
    /// `api/response`: the command's output.
    ApiResponse(Bytes),
    /// `text/event-plain` or `text/event-json`.
    Event(EslEvent),
    /// `text/disconnect-notice`. A linger notice is information only; any other means the
    /// connection is closing (reference §4).
    DisconnectNotice {
        /// `Content-Disposition: linger`.
        linger: bool,
        /// The notice text.
        body: Bytes,
    },
    /// `text/rude-rejection`: the inbound ACL refused us.
    RudeRejection,
    /// `log/data`.
    Log(Frame),
    /// Anything else (`text/event-xml`, which kefu never asks for, or no Content-Type).
    Unsupported {
        /// The Content-Type, if any.
        content_type: Option<String>,
    },
}

/// Classifies a frame and decodes its event payload.
///
/// # Errors
/// The decoding errors of [`EslEvent::from_plain`] and [`EslEvent::from_json`].
pub fn classify(frame: Frame) -> Result<Incoming, EslError> {
    let body = frame.body.unwrap_or_default();
    let incoming = match frame.headers.get("Content-Type") {
        Some("auth/request") => Incoming::AuthRequest,
        Some("command/reply") => {
            let reply = frame
                .headers
                .get("Reply-Text")
                .unwrap_or_default()
                .to_owned();
            Incoming::CommandReply(reply, frame.headers)
        }
        Some("api/response") => Incoming::ApiResponse(body),
        Some("text/event-plain") => Incoming::Event(EslEvent::from_plain(&body)?),
        Some("text/event-json") => Incoming::Event(EslEvent::from_json(&body)?),
        Some("text/disconnect-notice") => Incoming::DisconnectNotice {
            linger: frame
                .headers
                .get("Content-Disposition")
                .is_some_and(|d| d.eq_ignore_ascii_case("linger")),
            body,
        },
        Some("text/rude-rejection") => Incoming::RudeRejection,
        Some("log/data") => Incoming::Log(Frame {
            headers: frame.headers,
            body: Some(body),
        }),
        other => Incoming::Unsupported {
            content_type: other.map(str::to_owned),
        },
    };
    Ok(incoming)
}

#[cfg(test)]
mod tests;
