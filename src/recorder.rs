//! The recorder: every call's timeline and figures. `live` (pure) keeps today's figures per
//! queue and tier; `writer` batches completed calls to the database without ever blocking
//! routing.

pub mod erlang;
pub mod live;
pub mod report;
pub mod stats;
pub mod writer;

use serde::{Deserialize, Serialize};

use crate::domain::{
    AgentId, AgentState, CallId, Disposition, NodeId, Outcome, QueueId, TierId, Timestamp,
};

/// One completed call, as stored in `calls`. Figures are computed once, when the call ends,
/// with the definitions of `reference/contact-center-metrics.md`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The caller leg's UUID.
    pub call: CallId,
    /// The FreeSWITCH node that carried it.
    pub node: NodeId,
    /// Caller number (customer data).
    pub caller_number: String,
    /// Dialed number (picked the IVR flow).
    pub destination: String,
    /// The customer, when recognised.
    pub customer_id: Option<i64>,
    /// The tier the call was routed with.
    pub tier: TierId,
    /// The queue it waited in, if it reached one.
    pub queue: Option<QueueId>,
    /// The agent who answered, if any.
    pub agent: Option<AgentId>,
    /// How it ended.
    pub outcome: Outcome,
    /// FreeSWITCH created the caller's channel.
    pub arrived_at: Timestamp,
    /// Entered the queue.
    pub enqueued_at: Option<Timestamp>,
    /// Agent answered and the legs were bridged.
    pub answered_at: Option<Timestamp>,
    /// The bridge ended (talk end).
    pub talk_ended_at: Option<Timestamp>,
    /// The caller's channel hung up.
    pub ended_at: Timestamp,
    /// The agent finished after-call work.
    pub wrap_up_ended_at: Option<Timestamp>,
    /// answer − enqueue, or abandon − enqueue (ms).
    pub wait_ms: Option<i64>,
    /// enqueue − arrival, or end − arrival when the call never reached a queue (ms).
    pub ivr_ms: i64,
    /// talk end − answer (ms).
    pub talk_ms: Option<i64>,
    /// wrap-up end − talk end (ms).
    pub acw_ms: Option<i64>,
    /// Answered within the tier's SLA threshold; `None` for short abandons and calls that
    /// never queued (they do not count towards SL).
    pub sla_met: Option<bool>,
    /// An abandon shorter than the queue's short-abandon threshold.
    pub short_abandon: bool,
    /// `Hangup-Cause` of the caller leg.
    pub hangup_cause: String,
    /// Offers made for this call (each agent tried).
    pub offers: u32,
    /// The IVR path: node names and digits, as JSON.
    pub ivr_path: serde_json::Value,
    /// The agent's wrap-up disposition, when given.
    pub disposition: Option<Disposition>,
    /// Post-call survey score 1–5, when given.
    pub survey_score: Option<u8>,
}

/// One mark on a call's timeline, as stored in `call_events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The caller leg's UUID.
    pub call: CallId,
    /// When: FreeSWITCH's event time where one exists, else kefu's wall clock.
    pub at: Timestamp,
    /// What happened, a fixed snake_case word (`arrived`, `ivr_node`, `enqueued`, `offered`,
    /// `offer_no_answer`, `answered`, `bridged`, `hung_up`, `wrap_up_ended`, ...).
    pub kind: String,
    /// Details (agent, digits, cause, ...), as JSON.
    pub detail: serde_json::Value,
}

/// A stretch of time one agent spent in one state, as stored in `agent_states`: what
/// occupancy is computed from. Written when the state ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStateSpan {
    /// The agent.
    pub agent: AgentId,
    /// The state.
    pub state: AgentState,
    /// The break reason, for breaks.
    pub reason: Option<String>,
    /// When the state began.
    pub started_at: Timestamp,
    /// When it ended.
    pub ended_at: Timestamp,
}
