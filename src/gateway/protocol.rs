//! The agent WebSocket protocol, version 1 (`docs/agent-protocol.md`): JSON text messages
//! tagged by `type`. The gateway, the simulated agents and the load test all use these types.

use serde::{Deserialize, Serialize};

use crate::domain::{AgentId, CallId, Disposition};
pub use crate::domain::{AgentState, IvrStep};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// A state an agent may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestedState {
    /// Ready for calls.
    Available,
    /// On a break; `reason` says why.
    Break,
    /// Log out of all queues.
    LoggedOut,
}

/// Messages from the agent's client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message on the socket: a token from `POST /api/login`, or the agent's id
    /// and password.
    Login {
        /// The agent's login id (with `password`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<AgentId>,
        /// Their password.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        /// A login token (instead of `agent` and `password`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Change state.
    SetState {
        /// The wanted state.
        state: RequestedState,
        /// Break reason (`lunch`, `training`), for `break`.
        #[serde(default)]
        reason: Option<String>,
    },
    /// Take the offered call (the phone answering also accepts it).
    Accept {
        /// The offered call.
        call: CallId,
    },
    /// Refuse the offered call: it goes back to the head of its queue.
    Reject {
        /// The offered call.
        call: CallId,
    },
    /// End after-call work with a disposition.
    WrapUp {
        /// The call being wrapped up.
        call: CallId,
        /// Category, resolved, notes.
        disposition: Disposition,
    },
    /// Keep-alive; answered with `pong`.
    Ping,
}

impl ClientMessage {
    /// `login` with an id and password.
    pub fn password_login(agent: &AgentId, password: &str) -> ClientMessage {
        ClientMessage::Login {
            agent: Some(agent.clone()),
            password: Some(password.to_owned()),
            token: None,
        }
    }
}

/// One of the customer's recent calls, shown in the screen-pop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecentCall {
    /// When it started (RFC 3339).
    pub at: String,
    /// The agent who took it.
    pub agent: Option<String>,
    /// Disposition category.
    pub category: Option<String>,
    /// Resolved or not.
    pub resolved: Option<bool>,
}

/// Everything the agent sees about the caller before the call connects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScreenPop {
    /// The caller leg.
    pub call: CallId,
    /// Caller number.
    pub caller_number: String,
    /// Customer name, when recognised.
    pub customer_name: Option<String>,
    /// Customer tier.
    pub tier: String,
    /// Customer account number, when recognised.
    pub account: Option<String>,
    /// The customer's account manager, if any.
    pub account_manager: Option<String>,
    /// The queue the call waited in.
    pub queue: String,
    /// Why they called (from the IVR menu).
    pub reason: Option<String>,
    /// The IVR path with digits.
    pub ivr_path: Vec<IvrStep>,
    /// When the call entered its queue (RFC 3339, µs): FreeSWITCH's time of the event that
    /// queued it. A client measures enqueue → screen-pop with it against its own clock.
    pub enqueued_at: String,
    /// How long they waited so far (ms).
    pub waited_ms: i64,
    /// Their last calls.
    pub recent_calls: Vec<RecentCall>,
    /// Their unresolved complaints.
    pub open_complaints: Vec<RecentCall>,
    /// A callback: the number kefu dials once the agent answers (the caller is no longer
    /// on the line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_number: Option<String>,
}

/// Messages to the agent's client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Login accepted.
    Welcome {
        /// Protocol version.
        protocol: u32,
        /// The agent.
        agent: AgentId,
        /// Their state now.
        state: AgentState,
    },
    /// The agent's state changed.
    State {
        /// The new state.
        state: AgentState,
        /// Break reason, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A call is offered: the phone rings now.
    Offer {
        /// The caller leg.
        call: CallId,
        /// How long the phone rings before the offer lapses (ms).
        ring_timeout_ms: u64,
        /// Who is calling and why.
        screen_pop: Box<ScreenPop>,
    },
    /// The offer ended without a connection (caller hung up, rejected, no answer).
    OfferCancelled {
        /// The caller leg.
        call: CallId,
        /// Why (`caller_hung_up`, `rejected`, `no_answer`, `agent_leg_failed`).
        reason: String,
    },
    /// The legs are bridged: talking.
    CallConnected {
        /// The caller leg.
        call: CallId,
    },
    /// The call ended; wrap-up runs for `wrap_up_ms` unless a disposition comes first.
    CallEnded {
        /// The caller leg.
        call: CallId,
        /// Wrap-up time limit (ms).
        wrap_up_ms: u64,
    },
    /// A request was refused or not understood; the socket stays open.
    Error {
        /// Stable code (`bad_message`, `not_logged_in`, `not_your_call`, ...).
        code: String,
        /// Human text.
        message: String,
    },
    /// Answer to `ping`.
    Pong,
}
