//! One caller's session: ivr → queued → offered → talking → wrap-up → ended. Pure: the
//! engine tells it what happened and when; it keeps the timeline and, at the end, computes
//! the call's figures once (`reference/contact-center-metrics.md`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::call::HungUpBy;
use crate::domain::{
    AgentId, CallId, CallbackNumber, Disposition, IvrStep, NodeId, Outcome, QueueId, TierId,
    Timestamp,
};
use crate::recorder::{CallRecord, TimelineEntry};

/// Where the call is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// In the IVR; `pending` is the `event-uuid` of the application kefu waits for.
    Ivr {
        /// The application we wait for, if any.
        pending: Option<uuid::Uuid>,
    },
    /// Waiting in a queue.
    Queued,
    /// An agent is reserved and their leg rings.
    Offered {
        /// The agent.
        agent: AgentId,
        /// The agent leg kefu originated.
        leg: CallId,
        /// The originate's Job-UUID.
        job: uuid::Uuid,
    },
    /// Caller and agent are bridged.
    Talking {
        /// The agent.
        agent: AgentId,
        /// The agent leg.
        leg: CallId,
    },
    /// The caller's channel is gone; the agent (if any) is in after-call work.
    WrapUp {
        /// The agent.
        agent: AgentId,
    },
    /// Done: the record is written.
    Ended,
}

impl Phase {
    /// A short fixed name for logs and views.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Ivr { .. } => "ivr",
            Phase::Queued => "queued",
            Phase::Offered { .. } => "offered",
            Phase::Talking { .. } => "talking",
            Phase::WrapUp { .. } => "wrap_up",
            Phase::Ended => "ended",
        }
    }
}

/// Who the caller is, once looked up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Database id.
    pub id: Option<i64>,
    /// Name.
    pub name: Option<String>,
    /// Account number.
    pub account: Option<String>,
    /// Account manager.
    pub account_manager: Option<AgentId>,
}

/// A customer to call back: they chose not to wait (an IVR `callback_offer`) or their
/// queue overflowed to a callback. The call keeps its place in the queue without a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    /// The number to dial.
    pub number: CallbackNumber,
    /// Routing priority (tier base plus IVR bonus), the same at every try.
    pub priority: i32,
    /// Calls placed to the customer so far.
    pub attempts: u32,
    /// The caller's own leg has ended: the call now waits without a channel.
    pub caller_left: bool,
    /// The customer leg being dialled (or talking) and its originate's Job-UUID.
    pub dialling: Option<(CallId, uuid::Uuid)>,
}

/// One call's session. Serializable: a callback waiting without a channel is kept in the
/// database whole (`store::callbacks`), to be put back in its queue after a restart.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    /// The caller leg.
    pub call: CallId,
    /// The node carrying it.
    pub node: NodeId,
    /// Caller number.
    pub caller_number: String,
    /// Dialed number.
    pub destination: String,
    /// Current phase.
    pub phase: Phase,
    /// Routing tier (the default until the caller is recognised).
    pub tier: TierId,
    /// The customer, once recognised.
    pub customer: Customer,
    /// The reason chosen in the IVR (`inquiry`, `complaint`, ...).
    pub reason: Option<String>,
    /// The IVR path.
    pub ivr_path: Vec<IvrStep>,
    /// The IVR's variables when it ended (the survey starts with them).
    pub ivr_vars: std::collections::BTreeMap<String, String>,
    /// The queue, once enqueued.
    pub queue: Option<QueueId>,
    /// Offers made.
    pub offers: u32,
    /// Set when the customer is to be called back.
    pub callback: Option<Callback>,
    marks: Marks,
    timeline: Vec<TimelineEntry>,
    hangup_cause: String,
    disposition: Option<Disposition>,
    survey_score: Option<u8>,
    outcome: Option<Outcome>,
    answered_by: Option<AgentId>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Marks {
    arrived: Timestamp,
    enqueued: Option<Timestamp>,
    answered: Option<Timestamp>,
    talk_ended: Option<Timestamp>,
    ended: Option<Timestamp>,
    wrap_up_ended: Option<Timestamp>,
}

/// Per-queue settings the figures need.
#[derive(Clone, Copy, Debug)]
pub struct SlaRule {
    /// The tier's SL threshold T.
    pub threshold: Duration,
    /// The queue's short-abandon threshold.
    pub short_abandon: Duration,
}

impl Session {
    /// A new call, parked and adopted at `arrived` (FreeSWITCH's event time).
    pub fn new(
        call: CallId,
        node: NodeId,
        caller_number: String,
        destination: String,
        tier: TierId,
        arrived: Timestamp,
    ) -> Session {
        let mut session = Session {
            call,
            node,
            caller_number,
            destination,
            phase: Phase::Ivr { pending: None },
            tier,
            customer: Customer::default(),
            reason: None,
            ivr_path: Vec::new(),
            ivr_vars: std::collections::BTreeMap::new(),
            queue: None,
            offers: 0,
            callback: None,
            marks: Marks {
                arrived,
                ..Marks::default()
            },
            timeline: Vec::new(),
            hangup_cause: String::new(),
            disposition: None,
            survey_score: None,
            outcome: None,
            answered_by: None,
        };
        session.mark(arrived, "arrived", json!({}));
        session
    }

    /// Adds a mark to the timeline.
    pub fn mark(&mut self, at: Timestamp, kind: &str, detail: serde_json::Value) {
        self.timeline.push(TimelineEntry {
            call: self.call,
            at,
            kind: kind.to_owned(),
            detail,
        });
    }

    /// When the call entered its queue.
    pub fn enqueued_at(&self) -> Option<Timestamp> {
        self.marks.enqueued
    }

    /// The IVR sent the call to a queue.
    pub fn enqueued(&mut self, queue: QueueId, at: Timestamp) {
        self.mark(at, "enqueued", json!({ "queue": queue.as_str() }));
        self.marks.enqueued.get_or_insert(at);
        self.queue = Some(queue);
        self.phase = Phase::Queued;
    }

    /// The customer is to be called back at `number` (the call keeps its queue and place).
    pub fn callback_requested(&mut self, number: CallbackNumber, priority: i32, at: Timestamp) {
        let queue = self.queue.as_ref().map_or("", QueueId::as_str);
        let detail = json!({ "number": number.as_str(), "queue": queue });
        self.mark(at, "callback_requested", detail);
        self.callback = Some(Callback {
            number,
            priority,
            attempts: 0,
            caller_left: false,
            dialling: None,
        });
    }

    /// Every call to the customer went unanswered (or kefu stopped first): the call ends
    /// as an overflow, the callback having taken it out of the queue.
    pub fn callback_given_up(&mut self, cause: &str, at: Timestamp) {
        self.mark(at, "callback_given_up", json!({ "cause": cause }));
        self.outcome = Some(Outcome::Overflowed);
        self.hangup_cause = cause.to_owned();
        self.marks.ended = Some(at);
        self.phase = Phase::Ended;
    }

    /// Whether the call still has a caller channel kefu expects FreeSWITCH to hold: false
    /// for a callback waiting its turn after the caller hung up.
    pub fn has_caller_channel(&self) -> bool {
        !self.callback.as_ref().is_some_and(|c| c.caller_left)
    }

    /// An agent is reserved and rung.
    pub fn offered(&mut self, agent: AgentId, leg: CallId, job: uuid::Uuid, at: Timestamp) {
        self.offers += 1;
        self.mark(
            at,
            "offered",
            json!({ "agent": agent.as_str(), "leg": leg.to_string() }),
        );
        self.phase = Phase::Offered { agent, leg, job };
    }

    /// The offer ended without a connection; the call waits again.
    pub fn offer_failed(&mut self, reason: &str, at: Timestamp) {
        if let Phase::Offered { agent, .. } = &self.phase {
            let detail = json!({ "agent": agent.as_str(), "reason": reason });
            self.mark(at, "offer_failed", detail);
            self.phase = Phase::Queued;
        }
    }

    /// The legs were bridged.
    pub fn answered(&mut self, at: Timestamp) {
        if let Phase::Offered { agent, leg, .. } = &self.phase {
            let (agent, leg) = (agent.clone(), *leg);
            self.mark(at, "answered", json!({ "agent": agent.as_str() }));
            self.marks.answered = Some(at);
            self.answered_by = Some(agent.clone());
            self.outcome = Some(Outcome::Answered);
            self.phase = Phase::Talking { agent, leg };
        }
    }

    /// The bridge ended (either side hung up). Returns whether this ended it (the first of
    /// the agent leg's hang-up, UNBRIDGE and the caller's hang-up does).
    pub fn talk_ended(&mut self, at: Timestamp) -> bool {
        if self.marks.answered.is_none() || self.marks.talk_ended.is_some() {
            return false;
        }
        self.marks.talk_ended = Some(at);
        self.mark(at, "talk_ended", json!({}));
        true
    }

    /// Talk time so far, once the bridge has ended.
    pub fn talk_time(&self) -> Option<Duration> {
        Some(self.marks.talk_ended?.since(self.marks.answered?))
    }

    /// The queue's overflow action took the call.
    pub fn overflowed(&mut self, action: &str, at: Timestamp) {
        self.mark(at, "overflowed", json!({ "action": action }));
        self.outcome = Some(Outcome::Overflowed);
    }

    /// The caller's channel hung up. An answered call then waits for its wrap-up to end
    /// (phase `WrapUp`); any other call is complete.
    pub fn hung_up(&mut self, cause: &str, by: HungUpBy, at: Timestamp) {
        self.talk_ended(at);
        self.hangup_cause = cause.to_owned();
        self.marks.ended = Some(at);
        let phase = std::mem::replace(&mut self.phase, Phase::Ended);
        let by = match by {
            HungUpBy::Party => "caller",
            other => other.as_str(),
        };
        self.mark(
            at,
            "hung_up",
            json!({ "cause": cause, "phase": phase.name(), "by": by }),
        );
        if self.outcome.is_none() {
            self.outcome = Some(if self.marks.enqueued.is_some() {
                Outcome::Abandoned
            } else {
                Outcome::EndedInIvr
            });
        }
        if let (Some(agent), None) = (&self.answered_by, self.marks.wrap_up_ended) {
            self.phase = Phase::WrapUp {
                agent: agent.clone(),
            };
        }
    }

    /// After-call work ended (disposition, or the wrap-up timer). Complete once the caller
    /// has hung up too.
    pub fn wrap_up_ended(&mut self, disposition: Option<Disposition>, at: Timestamp) {
        if self.marks.wrap_up_ended.is_some() {
            return;
        }
        if let Some(d) = &disposition {
            self.mark(
                at,
                "disposition",
                json!({ "category": d.category.as_str(), "resolved": d.resolved }),
            );
        }
        self.disposition = disposition;
        self.marks.wrap_up_ended = Some(at);
        self.mark(at, "wrap_up_ended", json!({}));
        if self.marks.ended.is_some() {
            self.phase = Phase::Ended;
        }
    }

    /// The caller answered the post-call survey.
    pub fn survey_answered(&mut self, score: u8, at: Timestamp) {
        self.mark(at, "survey", json!({ "score": score }));
        self.survey_score = Some(score);
    }

    /// Whether the call is over and its record can be written.
    pub fn is_complete(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The agent who answered, if any.
    pub fn answered_by(&self) -> Option<&AgentId> {
        self.answered_by.as_ref()
    }

    /// The call's figures and timeline, computed once, for the recorder. `rule` is the
    /// queue's and tier's SL rule (None when the call never queued).
    pub fn record(&self, rule: Option<SlaRule>) -> (CallRecord, Vec<TimelineEntry>) {
        let m = &self.marks;
        let ended = m.ended.unwrap_or(m.arrived);
        let outcome = self.outcome.unwrap_or(Outcome::EndedInIvr);
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let wait = match (m.enqueued, outcome) {
            (Some(enq), Outcome::Answered) => m.answered.map(|a| a.since(enq)),
            (Some(enq), Outcome::Abandoned) => Some(ended.since(enq)),
            (Some(enq), Outcome::Overflowed) => Some(ended.since(enq)),
            _ => None,
        };
        let short_abandon = outcome == Outcome::Abandoned
            && matches!((wait, rule), (Some(w), Some(r)) if w < r.short_abandon);
        let sla_met = match (outcome, wait, rule) {
            _ if short_abandon || m.enqueued.is_none() => None,
            (Outcome::Answered, Some(w), Some(r)) => Some(w <= r.threshold),
            (_, _, Some(_)) => Some(false),
            _ => None,
        };
        let talk = m.answered.zip(m.talk_ended).map(|(a, e)| e.since(a));
        let acw = m.talk_ended.zip(m.wrap_up_ended).map(|(e, w)| w.since(e));
        let record = CallRecord {
            call: self.call,
            node: self.node.clone(),
            caller_number: self.caller_number.clone(),
            destination: self.destination.clone(),
            customer_id: self.customer.id,
            tier: self.tier.clone(),
            queue: self.queue.clone(),
            agent: self.answered_by.clone(),
            outcome,
            arrived_at: m.arrived,
            enqueued_at: m.enqueued,
            answered_at: m.answered,
            talk_ended_at: m.talk_ended,
            ended_at: ended,
            wrap_up_ended_at: m.wrap_up_ended,
            wait_ms: wait.map(ms),
            ivr_ms: ms(m.enqueued.unwrap_or(ended).since(m.arrived)),
            talk_ms: talk.map(ms),
            acw_ms: acw.map(ms),
            sla_met,
            short_abandon,
            hangup_cause: self.hangup_cause.clone(),
            offers: self.offers,
            ivr_path: serde_json::to_value(&self.ivr_path).unwrap_or_default(),
            disposition: self.disposition.clone(),
            survey_score: self.survey_score,
        };
        (record, self.timeline.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + secs * 1000)
    }

    fn session() -> Session {
        let call = CallId(uuid::Uuid::from_u128(7));
        Session::new(
            call,
            NodeId::new("fs1"),
            "+1555".into(),
            "8005550100".into(),
            TierId::new("gold"),
            t(0),
        )
    }

    const RULE: SlaRule = SlaRule {
        threshold: Duration::from_secs(20),
        short_abandon: Duration::from_secs(5),
    };

    #[test]
    fn answered_call_figures_follow_the_reference_definitions() {
        let mut s = session();
        s.enqueued(QueueId::new("general"), t(12));
        s.offered(
            AgentId::new("1001"),
            CallId::random(),
            uuid::Uuid::nil(),
            t(20),
        );
        s.answered(t(27));
        s.hung_up("NORMAL_CLEARING", HungUpBy::Party, t(127));
        assert_eq!(
            s.phase,
            Phase::WrapUp {
                agent: AgentId::new("1001")
            }
        );
        assert!(!s.is_complete());
        s.wrap_up_ended(None, t(157));
        assert!(s.is_complete());
        let (record, timeline) = s.record(Some(RULE));
        assert_eq!(record.outcome, Outcome::Answered);
        assert_eq!(record.ivr_ms, 12_000);
        assert_eq!(record.wait_ms, Some(15_000));
        assert_eq!(record.talk_ms, Some(100_000));
        assert_eq!(record.acw_ms, Some(30_000));
        assert_eq!(record.sla_met, Some(true));
        assert_eq!(record.agent, Some(AgentId::new("1001")));
        let kinds: Vec<_> = timeline.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "arrived",
                "enqueued",
                "offered",
                "answered",
                "talk_ended",
                "hung_up",
                "wrap_up_ended"
            ]
        );
    }

    #[test]
    fn short_abandon_is_excluded_from_sl() {
        let mut s = session();
        s.enqueued(QueueId::new("general"), t(10));
        s.hung_up("NORMAL_CLEARING", HungUpBy::Party, t(13));
        assert!(s.is_complete());
        let (record, _) = s.record(Some(RULE));
        assert_eq!(record.outcome, Outcome::Abandoned);
        assert_eq!(record.wait_ms, Some(3_000));
        assert!(record.short_abandon);
        assert_eq!(record.sla_met, None);
    }

    #[test]
    fn long_abandon_misses_sl() {
        let mut s = session();
        s.enqueued(QueueId::new("general"), t(10));
        s.hung_up("NORMAL_CLEARING", HungUpBy::Party, t(40));
        let (record, _) = s.record(Some(RULE));
        assert!(!record.short_abandon);
        assert_eq!(record.sla_met, Some(false));
    }

    #[test]
    fn caller_leaving_in_ivr_never_counts_towards_sl() {
        let mut s = session();
        s.hung_up("NORMAL_CLEARING", HungUpBy::Party, t(8));
        let (record, _) = s.record(None);
        assert_eq!(record.outcome, Outcome::EndedInIvr);
        assert_eq!(record.ivr_ms, 8_000);
        assert_eq!(record.wait_ms, None);
        assert_eq!(record.sla_met, None);
    }
}
