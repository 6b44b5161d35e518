//! The router's inputs and outputs: specs built from configuration, and decisions.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::Strategy;
use crate::domain::{AgentId, CallId, Proficiency, QueueId, Skill, Timestamp};

/// Router-wide settings.
#[derive(Clone, Debug)]
pub struct RouterSettings {
    /// Priority points a waiting call gains per minute (so no call starves).
    pub aging_per_minute: u32,
    /// How long a key customer's call is held for their account manager while the manager is
    /// logged in but busy. A manager on a break or logged out is not waited for.
    pub account_manager_first: Duration,
    /// Not-ready time after a missed or rejected offer.
    pub not_ready_after_no_answer: Duration,
    /// How long an offer may ring; the reservation is released one second after it, whatever
    /// happens to the agent leg or the sockets.
    pub ring_timeout: Duration,
    /// After-call work limit; the agent is available again when it runs out.
    pub wrap_up: Duration,
    /// How long a callback's customer leg may ring after the agent answered; a callback
    /// offer is released this much later than another.
    pub callback_ring_timeout: Duration,
}

/// One relaxation step: from `after` waiting, these minimum skill levels.
#[derive(Clone, Debug)]
pub struct Step {
    /// Waiting time from which the step applies (the first is zero).
    pub after: Duration,
    /// Skill -> minimum proficiency.
    pub skills: Vec<(Skill, Proficiency)>,
}

/// What a queue does with a call past its max wait, or when nobody is logged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Move to another queue.
    Queue(QueueId),
    /// Transfer to a voicemail extension.
    Voicemail(String),
    /// Register a callback.
    Callback,
    /// Play a message, hang up.
    Message(String),
}

/// A queue as the router sees it.
#[derive(Clone, Debug)]
pub struct QueueSpec {
    /// Its name.
    pub id: QueueId,
    /// Agent selection.
    pub strategy: Strategy,
    /// Added to every call's priority.
    pub priority: i32,
    /// Relaxation steps, first at zero.
    pub steps: Vec<Step>,
    /// Longest wait before overflow.
    pub max_wait: Duration,
    /// Overflow action.
    pub overflow: Overflow,
}

/// An agent as the router sees it.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    /// Login id.
    pub id: AgentId,
    /// Queues served.
    pub queues: Vec<QueueId>,
    /// Skills with proficiency.
    pub skills: HashMap<Skill, Proficiency>,
}

/// A call entering a queue.
#[derive(Clone, Debug)]
pub struct CallSpec {
    /// The caller leg.
    pub call: CallId,
    /// The queue.
    pub queue: QueueId,
    /// Tier base priority plus any IVR bonus (the queue's own priority is added here).
    pub priority: i32,
    /// The key customer's account manager, who gets the call first.
    pub account_manager: Option<AgentId>,
    /// When the call entered the queue (kept across a move to another queue).
    pub enqueued_at: Timestamp,
    /// The caller hung up to be called back: the call keeps its place but never overflows
    /// (it has left the line already) and waits for agents even when none is logged in; its
    /// offer rings the agent and then the customer.
    pub callback: bool,
}

/// How an offer ended without a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferEnd {
    /// The phone rang out, or the agent leg failed (busy, unregistered).
    NoAnswer,
    /// The agent refused it.
    Rejected,
}

/// What the router decided; the engine carries it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Reserve `agent` for `call` and ring them.
    Offer {
        /// The call.
        call: CallId,
        /// The reserved agent.
        agent: AgentId,
    },
    /// The offer rang past the ring timeout: the reservation is released (kill the agent
    /// leg); the call is back at its place.
    OfferExpired {
        /// The call.
        call: CallId,
        /// The agent who did not answer.
        agent: AgentId,
    },
    /// Run the queue's overflow action; the call has left the queue.
    Overflow {
        /// The call.
        call: CallId,
        /// The queue it left.
        queue: QueueId,
        /// What to do.
        action: Overflow,
    },
    /// The agent's wrap-up time ran out without a disposition; they are available again.
    WrapUpExpired {
        /// The agent.
        agent: AgentId,
        /// The call they wrapped up.
        call: CallId,
    },
    /// A not-ready agent became available again by timer.
    AgentReady {
        /// The agent.
        agent: AgentId,
    },
}

/// Why the router refused a supervisor's action on a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionRefused {
    /// The call is not waiting in any queue (answered, ended, still in the IVR).
    #[error("the call is not waiting in a queue")]
    NotWaiting,
    /// No such queue.
    #[error("no queue named `{0}`")]
    UnknownQueue(QueueId),
    /// Nobody is logged into the target queue: the call would overflow at once.
    #[error("nobody is logged into `{0}`")]
    NobodyServes(QueueId),
    /// An agent's phone rings with the call; the action would pull it from under them.
    #[error("the call is being offered to an agent; try again in a moment")]
    BeingOffered,
}

/// Why the router refused an administrator's change to its agents or queues. The messages
/// go to the REST client as they are, so they say what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryRefused {
    /// No such agent.
    #[error("no agent `{0}`")]
    UnknownAgent(AgentId),
    /// The agent is logged in: removing them would pull them out of their work.
    #[error("agent `{0}` is logged in; log them out first")]
    AgentLoggedIn(AgentId),
    /// No such queue.
    #[error("no queue `{0}`")]
    UnknownQueue(QueueId),
    /// Calls are in the queue (waiting, held or being offered); they would be lost.
    #[error(
        "{calls} {} in queue `{queue}`; wait until they are answered or move them first",
        if *.calls == 1 { "call is" } else { "calls are" }
    )]
    CallsInQueue {
        /// The queue.
        queue: QueueId,
        /// How many calls are in it.
        calls: usize,
    },
    /// Agents serve the queue; their configuration would name a queue that is gone.
    #[error(
        "{agents} {} queue `{queue}`; take it out of their queues first",
        if *.agents == 1 { "agent serves" } else { "agents serve" }
    )]
    QueueServed {
        /// The queue.
        queue: QueueId,
        /// How many agents serve it.
        agents: usize,
    },
}
