//! `EslError`: everything that can go wrong between kefu and one FreeSWITCH node, with the
//! context needed to act on it. `is_connection_fatal` decides whether the socket must go.

use std::time::Duration;

/// An error of the FreeSWITCH adapter: framing, decoding, commands and the socket.
#[derive(Debug, thiserror::Error)]
pub enum EslError {
    /// A frame announced a body larger than the configured limit (never allocated).
    #[error("frame of {len} bytes exceeds the {limit}-byte limit")]
    FrameTooLarge {
        /// The announced size.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A header block grew past the limit without its terminating empty line.
    #[error("header block of more than {limit} bytes without an end")]
    HeaderBlockTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A header line without a `:`, or with an empty name.
    #[error("malformed header line `{line}`")]
    MalformedHeader {
        /// The line, lossily decoded and cut to 80 bytes.
        line: String,
    },
    /// A `Content-Length` that is not a decimal byte count.
    #[error("bad Content-Length `{value}`")]
    BadContentLength {
        /// The value as received (cut to 80 bytes).
        value: String,
    },
    /// A `text/event-json` body that is not a JSON object of strings and string arrays.
    #[error("malformed text/event-json body")]
    BadEventJson {
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The output of `show channels as json` could not be read.
    #[error("malformed `show channels as json` output")]
    BadChannelList {
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A command argument contained `\r` or `\n`, which would end the command early.
    #[error("argument `{field}` contains a carriage return or line feed")]
    UnsafeArgument {
        /// Which argument.
        field: &'static str,
    },
    /// FreeSWITCH refused the password (`-ERR invalid`).
    #[error("authentication rejected: {reply}")]
    AuthRejected {
        /// The Reply-Text.
        reply: String,
    },
    /// The peer sent a frame that makes no sense at this point of the conversation.
    #[error("expected {expected}, got `{got}`")]
    UnexpectedFrame {
        /// What was expected.
        expected: &'static str,
        /// The Content-Type received.
        got: String,
    },
    /// The IP is not allowed by `apply-inbound-acl` (`text/rude-rejection`).
    #[error("rejected by the inbound ACL")]
    RudeRejection,
    /// FreeSWITCH announced it is closing the connection (`text/disconnect-notice`).
    #[error("disconnect notice: {body}")]
    DisconnectNotice {
        /// The notice text.
        body: String,
    },
    /// A command's reply did not come in time: correlation is lost, the connection must go.
    #[error("no reply to `{command}` within {waited:?}")]
    ReplyTimeout {
        /// The command word.
        command: &'static str,
        /// How long we waited.
        waited: Duration,
    },
    /// A bgapi's BACKGROUND_JOB did not come in time (the connection stays usable).
    #[error("no BACKGROUND_JOB for `{command}` (job {job}) within {waited:?}")]
    JobTimeout {
        /// The command word.
        command: &'static str,
        /// The Job-UUID.
        job: uuid::Uuid,
        /// How long we waited.
        waited: Duration,
    },
    /// Nothing at all was read for longer than the heartbeat timeout.
    #[error("no frame from FreeSWITCH within {waited:?}")]
    HeartbeatTimeout {
        /// The configured timeout.
        waited: Duration,
    },
    /// FreeSWITCH answered `-ERR…` or `-USAGE…`.
    #[error("`{command}` failed: {reply}")]
    CommandFailed {
        /// The command word.
        command: &'static str,
        /// The reply as FreeSWITCH wrote it.
        reply: String,
    },
    /// The peer closed the socket.
    #[error("connection closed by FreeSWITCH")]
    ConnectionClosed,
    /// There is no usable connection to this node right now.
    #[error("node not connected")]
    NotConnected,
    /// The connection's write queue is full; the command was not queued.
    #[error("write queue full ({capacity} commands)")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The event receiver (the engine) is gone: kefu is shutting down.
    #[error("event sink closed")]
    EventSinkClosed,
    /// Connecting the TCP socket failed.
    #[error("cannot connect to {addr}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("socket error")]
    Io(#[from] std::io::Error),
}

impl EslError {
    /// Whether the connection this error happened on must be dropped and re-established.
    /// Errors about one command (bad argument, `-ERR` reply, full queue) leave it usable.
    pub fn is_connection_fatal(&self) -> bool {
        match self {
            EslError::FrameTooLarge { .. }
            | EslError::HeaderBlockTooLarge { .. }
            | EslError::MalformedHeader { .. }
            | EslError::BadContentLength { .. }
            | EslError::BadEventJson { .. }
            | EslError::AuthRejected { .. }
            | EslError::UnexpectedFrame { .. }
            | EslError::RudeRejection
            | EslError::DisconnectNotice { .. }
            | EslError::ReplyTimeout { .. }
            | EslError::HeartbeatTimeout { .. }
            | EslError::ConnectionClosed
            | EslError::NotConnected
            | EslError::EventSinkClosed
            | EslError::Connect { .. }
            | EslError::Io(_) => true,
            EslError::BadChannelList { .. }
            | EslError::UnsafeArgument { .. }
            | EslError::JobTimeout { .. }
            | EslError::CommandFailed { .. }
            | EslError::QueueFull { .. } => false,
        }
    }
}

/// Cuts untrusted text for an error message: at most 80 bytes, lossily decoded.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let cut = bytes.get(..80).unwrap_or(bytes);
    String::from_utf8_lossy(cut).into_owned()
}
