//! What FreeSWITCH told us, in domain words: `esl::translate` builds these from `EslEvent`s
//! (the only place that knows header names), and the engine feeds them to call sessions.

use crate::domain::{CallId, NodeId, Timestamp};

/// One input from a FreeSWITCH node, stamped with where and when it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The node that sent it.
    pub node: NodeId,
    /// FreeSWITCH's `Event-Date-Timestamp` (µs since the epoch), or kefu's wall clock for
    /// node lifecycle inputs that carry no FreeSWITCH time.
    pub at: Timestamp,
    /// When kefu read it off the socket (monotonic), for internal latency marks.
    pub received: tokio::time::Instant,
    /// What happened.
    pub kind: EventKind,
}

/// Channel variables kefu sets on every call it controls, so that it can re-adopt the call
/// after a reconnect (`kefu_call`, `kefu_queue`, `kefu_enqueued_at`, `kefu_agent`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KefuVars {
    /// `variable_kefu_call`: on an agent leg, the caller leg it belongs to.
    pub call: Option<CallId>,
    /// `variable_kefu_queue`: the queue the call waits in.
    pub queue: Option<String>,
    /// `variable_kefu_enqueued_at`: µs since the epoch.
    pub enqueued_at: Option<Timestamp>,
    /// `variable_kefu_agent`: on an agent leg, the agent it rings.
    pub agent: Option<String>,
}

/// Which way a channel goes, from FreeSWITCH's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A caller's leg (`Call-Direction: inbound`).
    Inbound,
    /// A leg FreeSWITCH placed, e.g. an agent leg kefu originated.
    Outbound,
}

/// Who ended a leg, as FreeSWITCH's `sip_hangup_disposition` says: `recv_*` (the BYE,
/// CANCEL or refusal came from the phone) or `send_*` (FreeSWITCH sent it: kefu asked, or
/// the dialplan did, as with `hangup_after_bridge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HungUpBy {
    /// The person on that leg (caller or agent) hung up.
    Party,
    /// FreeSWITCH hung the leg up.
    Switch,
    /// Not a SIP leg, or no disposition given.
    Unknown,
}

impl HungUpBy {
    /// From `variable_sip_hangup_disposition`.
    pub fn from_disposition(disposition: Option<&str>) -> HungUpBy {
        match disposition {
            Some(d) if d.starts_with("recv_") => HungUpBy::Party,
            Some(d) if d.starts_with("send_") => HungUpBy::Switch,
            _ => HungUpBy::Unknown,
        }
    }

    /// `party`, `switch` or `unknown`, for the timeline.
    pub const fn as_str(self) -> &'static str {
        match self {
            HungUpBy::Party => "party",
            HungUpBy::Switch => "switch",
            HungUpBy::Unknown => "unknown",
        }
    }
}

/// A channel found alive by `show channels as json` during reconciliation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveChannel {
    /// Its `uuid`.
    pub channel: CallId,
    /// `inbound` / `outbound`.
    pub direction: Direction,
    /// `cid_num`.
    pub caller_number: String,
    /// `dest`.
    pub destination: String,
    /// `callstate` (`ACTIVE`, `RINGING`, ...).
    pub call_state: String,
    /// `application` currently running (`park`, `playback`, ...).
    pub application: String,
}

/// The kinds of input a node produces. Names are past tense: these already happened.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// The node authenticated and subscribed; `channels` is what `show channels as json`
    /// listed right after (reconciliation input: it also covers a FreeSWITCH that restarted
    /// while the socket was down, whose channels are all gone).
    NodeConnected {
        /// Live channels at connect time.
        channels: Vec<LiveChannel>,
    },
    /// The node's socket closed or failed; it is reconnecting.
    NodeDisconnected {
        /// Why, for the log and the timeline (no secrets).
        reason: String,
    },
    /// CHANNEL_PARK: a channel waits for instructions (inbound: a new call to adopt).
    ChannelParked {
        /// The parked channel.
        channel: CallId,
        /// inbound (a caller) or outbound (an agent leg parked by `&park()`).
        direction: Direction,
        /// `Caller-Caller-ID-Number`.
        caller_number: String,
        /// `Caller-Caller-ID-Name`.
        caller_name: String,
        /// `Caller-Destination-Number`: picks the IVR flow.
        destination: String,
        /// kefu's own channel variables, if this is a call kefu already controls.
        vars: KefuVars,
    },
    /// CHANNEL_ANSWER.
    ChannelAnswered {
        /// The answered channel.
        channel: CallId,
        /// kefu's variables on it (an agent leg carries `kefu_call`).
        vars: KefuVars,
    },
    /// CHANNEL_EXECUTE_COMPLETE of an application kefu started with `sendmsg`.
    ExecuteCompleted {
        /// The channel.
        channel: CallId,
        /// `Application`.
        application: String,
        /// `Application-UUID`: the `event-uuid` kefu sent, to match the command.
        application_uuid: Option<uuid::Uuid>,
        /// `Application-Response` (`FILE PLAYED`, `_none_`, ...).
        response: Option<String>,
        /// For `play_and_get_digits`: the digits, only when `variable_kefu_digits` is
        /// present **and** `variable_read_result` is `success` (reference §7).
        digits: Option<String>,
        /// The application ended because the channel is hanging up (`Answer-State:
        /// hangup`): nothing more may be sent to it; HANGUP_COMPLETE follows.
        hanging_up: bool,
    },
    /// DTMF pressed on a channel (outside play_and_get_digits).
    Dtmf {
        /// The channel.
        channel: CallId,
        /// `DTMF-Digit`, URL-decoded.
        digit: char,
    },
    /// CHANNEL_BRIDGE (fires once, on the originating leg).
    Bridged {
        /// `Bridge-A-Unique-ID`.
        a: CallId,
        /// `Bridge-B-Unique-ID`.
        b: CallId,
    },
    /// CHANNEL_UNBRIDGE.
    Unbridged {
        /// The channel that reports it.
        channel: CallId,
        /// `Other-Leg-Unique-ID`, when present.
        other: Option<CallId>,
    },
    /// CHANNEL_HANGUP_COMPLETE: the channel is gone.
    HungUp {
        /// The channel.
        channel: CallId,
        /// inbound (caller) or outbound (agent leg).
        direction: Direction,
        /// `Hangup-Cause` (first of the duplicates).
        cause: String,
        /// Who ended it, from `variable_sip_hangup_disposition`.
        by: HungUpBy,
        /// kefu's variables on it.
        vars: KefuVars,
    },
    /// BACKGROUND_JOB for a `bgapi` kefu sent with its own `Job-UUID`.
    JobCompleted {
        /// `Job-UUID`.
        job: uuid::Uuid,
        /// The body: `+OK <uuid>\n`, `-ERR NO_ANSWER\n`, ...
        body: String,
    },
    /// An `api` or `sendmsg` that the engine sent got a `-ERR` reply.
    CommandFailed {
        /// The channel the command was about, if any.
        channel: Option<CallId>,
        /// The command word (`sendmsg`, `uuid_bridge`, ...).
        command: &'static str,
        /// The reply text as FreeSWITCH wrote it.
        reply: String,
    },
    /// HEARTBEAT (every 20 s): the node is alive.
    Heartbeat,
}

impl EventKind {
    /// A short fixed name for logs and "ignored" counters.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::NodeConnected { .. } => "node_connected",
            EventKind::NodeDisconnected { .. } => "node_disconnected",
            EventKind::ChannelParked { .. } => "channel_parked",
            EventKind::ChannelAnswered { .. } => "channel_answered",
            EventKind::ExecuteCompleted { .. } => "execute_completed",
            EventKind::Dtmf { .. } => "dtmf",
            EventKind::Bridged { .. } => "bridged",
            EventKind::Unbridged { .. } => "unbridged",
            EventKind::HungUp { .. } => "hung_up",
            EventKind::JobCompleted { .. } => "job_completed",
            EventKind::CommandFailed { .. } => "command_failed",
            EventKind::Heartbeat => "heartbeat",
        }
    }
}
