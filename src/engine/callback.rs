//! Calling customers back. A caller who chose a callback (an IVR `callback_offer`) or whose
//! queue overflowed to one hears a goodbye and is hung up; the call keeps its place in the
//! queue without a channel. When an agent is chosen, their leg rings as for any offer; once
//! the agent answers, kefu dials the customer and bridges the two. An unanswered customer
//! frees the agent at once and is tried again later, up to `callback.attempts` times.
//!
//! No FreeSWITCH channel holds a waiting callback, so the database does: the session is
//! saved (`journal`) when it starts waiting and after each try, and removed once the
//! customer is reached or given up. kefu puts saved callbacks back in their queues when it
//! starts ([`Engine::restore_callbacks`]).

use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::Engine;
use crate::acd::{CallSpec, Decision};
use crate::call::{HungUpBy, Phase, Session};
use crate::clock;
use crate::domain::{CallId, CallbackNumber, QueueId, Timestamp};
use crate::esl::Command;
use crate::gateway::protocol::{AgentState, ServerMessage};
use crate::ivr::Step;
use crate::store::Store;
use crate::telemetry::{Metrics, label};

/// Counts a callback event in `kefu_callbacks_total`.
fn count(metrics: &Metrics, event: &'static str) {
    metrics
        .callbacks
        .get_or_create(&label("event", event))
        .inc();
}

/// Writes to the callbacks table in the order the engine asks them, so that a save never
/// lands after the removal that follows it. Failures are logged: the callback goes on in
/// memory.
pub(super) struct Journal {
    writes: mpsc::UnboundedSender<JournalWrite>,
}

enum JournalWrite {
    Save(CallId, String),
    Remove(CallId),
}

impl Journal {
    /// Starts the writer; it ends once the engine (the sender) is gone and all is written.
    pub(super) fn spawn(store: Store, tracker: &TaskTracker) -> Journal {
        let (writes, mut pending) = mpsc::unbounded_channel();
        tracker.spawn(async move {
            while let Some(write) = pending.recv().await {
                let (call, written) = match write {
                    JournalWrite::Save(call, session) => {
                        (call, store.save_callback(call, &session).await)
                    }
                    JournalWrite::Remove(call) => (call, store.delete_callback(call).await),
                };
                if let Err(error) = written {
                    tracing::error!(call_id = %call, error = %error, "callback journal");
                }
            }
        });
        Journal { writes }
    }

    fn save(&self, session: &Session) {
        match serde_json::to_string(session) {
            Ok(json) => drop(self.writes.send(JournalWrite::Save(session.call, json))),
            Err(error) => {
                tracing::error!(call_id = %session.call, error = %error, "callback not saved")
            }
        }
    }

    fn remove(&self, call: CallId) {
        drop(self.writes.send(JournalWrite::Remove(call)));
    }
}

impl Engine {
    /// The IVR's `callback_offer` was accepted ([`Step::Callback`]): the call joins its
    /// queue now (its place in line), the caller hears the goodbye and is hung up; the call
    /// waits once they are gone.
    pub(super) fn callback_requested(&mut self, call: CallId, step: Step, at: Timestamp) {
        let Step::Callback {
            queue,
            priority_bonus,
            reason,
            number,
            goodbye,
            ..
        } = step
        else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        super::switch::close_ivr(session, self.ivr.remove(&call));
        session.reason = reason;
        session.enqueued(queue.clone(), at);
        let (node, tier) = (session.node.clone(), session.tier.clone());
        let base = self.settings.tiers.get(&tier).map(|(p, _)| *p).unwrap_or(0);
        session.callback_requested(number, base + priority_bonus, at);
        count(&self.ports.metrics, "requested");
        self.live.roll_day(super::day_of(at));
        self.live.enqueued(&queue, &tier);
        self.say_goodbye(&node, call, goodbye);
    }

    /// A queue overflowed to a callback: the caller's own number is called back, keeping
    /// the call's place. A caller ID kefu cannot dial gets the busy message instead.
    pub(super) fn overflow_to_callback(&mut self, call: CallId, from: &QueueId) -> Vec<Decision> {
        let Some(session) = self.sessions.get_mut(&call) else {
            return Vec::new();
        };
        let Some(number) = CallbackNumber::parse(&session.caller_number) else {
            return self.overflow_to_message(call, from, String::new());
        };
        let node = session.node.clone();
        let base = self.settings.tiers.get(&session.tier).map(|(p, _)| *p);
        session.callback_requested(number, base.unwrap_or(0), clock::now());
        count(&self.ports.metrics, "requested");
        self.say_goodbye(&node, call, self.settings.callback.prompt.clone());
        Vec::new()
    }

    fn say_goodbye(&self, node: &crate::domain::NodeId, call: CallId, prompt: String) {
        self.execute(node, call, "playback", prompt);
        self.execute(node, call, "hangup", "NORMAL_CLEARING".into());
    }

    /// The caller's own leg ended after a callback was arranged: from now on the call waits
    /// in its queue without a channel. Returns false when the call is not such a callback.
    pub(super) fn caller_left_for_callback(&mut self, call: CallId, at: Timestamp) -> bool {
        let Some(session) = self.sessions.get_mut(&call) else {
            return false;
        };
        let Some(callback) = session.callback.as_mut().filter(|c| !c.caller_left) else {
            return false;
        };
        callback.caller_left = true;
        session.phase = Phase::Queued;
        session.mark(at, "caller_left_for_callback", json!({}));
        self.journal.save(session);
        self.enqueue_callback(call, at);
        true
    }

    /// At start: the callbacks a previous run saved go back into their queues with their
    /// places, to wait for agents. A callback whose FreeSWITCH node is no longer configured
    /// is called back through the first one.
    pub(super) fn restore_callbacks(&mut self, saved: Vec<Session>) {
        let now = clock::now();
        let first_node = self.ports.nodes.keys().min().cloned();
        for mut session in saved {
            let call = session.call;
            if !self.ports.nodes.contains_key(&session.node) {
                if let Some(node) = &first_node {
                    session.node = node.clone();
                }
            }
            let Some(callback) = session.callback.as_mut() else {
                continue;
            };
            callback.caller_left = true;
            callback.dialling = None;
            session.phase = Phase::Queued;
            session.mark(now, "callback_restored", json!({}));
            count(&self.ports.metrics, "restored");
            if let Some(queue) = &session.queue {
                self.live.enqueued(queue, &session.tier);
            }
            self.sessions.insert(call, session);
            self.enqueue_callback(call, now);
        }
    }

    /// Puts a callback (back) into its queue with its first enqueue time: its place.
    fn enqueue_callback(&mut self, call: CallId, now: Timestamp) {
        let Some(session) = self.sessions.get(&call) else {
            return;
        };
        let (Some(queue), Some(callback)) = (session.queue.clone(), session.callback.as_ref())
        else {
            return;
        };
        let spec = CallSpec {
            call,
            queue,
            priority: callback.priority,
            account_manager: session.customer.account_manager.clone(),
            enqueued_at: session.enqueued_at().unwrap_or(now),
            callback: true,
        };
        let decided = clock::monotonic();
        let decisions = self.router.enqueue(spec, now);
        self.carry_out(decisions, decided);
    }

    /// The agent answered a callback's offer: dial the customer. The router keeps the
    /// agent reserved (ring timeout plus the customer's) until the bridge.
    pub(super) fn dial_customer(&mut self, call: CallId, received: Instant) {
        let config = &self.settings.callback;
        let ring = config.ring_timeout.as_secs().max(1);
        let cid = config.caller_id_number.clone();
        let template = config.dial_string.clone();
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        let Some(callback) = session.callback.as_mut() else {
            return;
        };
        let (leg, job) = (CallId::random(), uuid::Uuid::new_v4());
        callback.attempts += 1;
        callback.dialling = Some((leg, job));
        let dial_string = template.replace("{number}", callback.number.as_str());
        let detail = json!({ "attempt": callback.attempts, "leg": leg.to_string() });
        session.mark(clock::now(), "callback_dialled", detail);
        let node = session.node.clone();
        self.legs.insert(leg, call);
        self.jobs.insert(job, call);
        let args = format!(
            "{{origination_uuid={leg},kefu_call={call},kefu_callback=true,origination_caller_id_number={cid},originate_timeout={ring},ignore_early_media=true,hangup_after_bridge=true}}{dial_string} &park()"
        );
        let command = Command::Bgapi {
            job,
            command: "originate",
            args,
        };
        self.send(&node, command, Some(received));
        count(&self.ports.metrics, "dialled");
    }

    /// The customer answered: bridge them to the waiting agent leg.
    pub(super) fn customer_answered(&mut self, call: CallId, received: Instant) {
        let Some(session) = self.sessions.get(&call) else {
            return;
        };
        let (Phase::Offered { leg: agent_leg, .. }, Some((customer, _))) = (
            &session.phase,
            session.callback.as_ref().and_then(|c| c.dialling),
        ) else {
            return;
        };
        let args = format!("{customer} {agent_leg}");
        let bridge = Command::Api {
            channel: Some(call),
            command: "uuid_bridge",
            args,
        };
        self.send(&session.node.clone(), bridge, Some(received));
    }

    /// The customer leg ended: during the conversation it is the caller hanging up;
    /// before it, the customer did not answer (busy, no answer, failed).
    pub(super) fn customer_leg_hung_up(
        &mut self,
        call: CallId,
        cause: &str,
        by: HungUpBy,
        at: Timestamp,
        received: Instant,
    ) {
        let Some(session) = self.sessions.get(&call) else {
            return;
        };
        if matches!(session.phase, Phase::Talking { .. }) {
            self.end_talk(call, at);
            let Some(session) = self.sessions.get_mut(&call) else {
                return;
            };
            session.hung_up(cause, by, at);
            if session.is_complete() {
                self.finish(call);
            }
            return;
        }
        self.customer_unreached(call, cause, at, received);
    }

    /// A call to the customer failed: the agent is freed at once (not their doing) and the
    /// customer is tried again after `retry_after`, or the callback is given up.
    pub(super) fn customer_unreached(
        &mut self,
        call: CallId,
        cause: &str,
        at: Timestamp,
        received: Instant,
    ) {
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        let Some(callback) = session.callback.as_mut() else {
            return;
        };
        let Some((leg, job)) = callback.dialling.take() else {
            return; // already handled (the job's -ERR and the leg's hang-up both report it)
        };
        let attempts = callback.attempts;
        let detail = json!({ "attempt": attempts, "cause": cause });
        session.mark(at, "callback_unanswered", detail);
        count(&self.ports.metrics, "unanswered");
        let offered = match session.phase.clone() {
            Phase::Offered { agent, leg, job } => {
                session.phase = Phase::Queued;
                Some((agent, leg, job))
            }
            _ => None,
        };
        self.legs.remove(&leg);
        self.jobs.remove(&job);
        if let Some((agent, agent_leg, agent_job)) = offered {
            self.legs.remove(&agent_leg);
            self.jobs.remove(&agent_job);
            self.kill(call, agent_leg);
            let reason = "customer_unreached".to_owned();
            self.push(&agent, ServerMessage::OfferCancelled { call, reason }, None);
            let available = ServerMessage::State {
                state: AgentState::Available,
                reason: None,
            };
            self.push(&agent, available, None);
        }
        let decisions = self.router.remove_call(call, at);
        self.carry_out(decisions, received);
        if attempts < self.settings.callback.attempts {
            let retry_at = at.plus(self.settings.callback.retry_after);
            self.callback_retries.insert((retry_at, call));
            if let Some(session) = self.sessions.get(&call) {
                self.journal.save(session);
            }
        } else {
            self.give_up_callback(call, "CALLBACK_UNANSWERED", at);
        }
    }

    /// Writes the call's record: the callback ends unanswered (an overflow).
    pub(super) fn give_up_callback(&mut self, call: CallId, cause: &str, at: Timestamp) {
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        session.callback_given_up(cause, at);
        count(&self.ports.metrics, "given_up");
        if let Some(queue) = session.queue.clone() {
            let tier = session.tier.clone();
            self.live.overflowed(&queue, &tier);
        }
        self.journal.remove(call);
        self.finish(call);
    }

    /// The customer is on the line with the agent: from here the call ends like any other,
    /// and a restart must not call them again.
    pub(super) fn callback_connected(&self, call: CallId) {
        if self
            .sessions
            .get(&call)
            .is_some_and(|s| s.callback.is_some())
        {
            self.journal.remove(call);
            count(&self.ports.metrics, "connected");
        }
    }

    /// Hangs up a customer leg kefu no longer wants (the agent's side of the offer ended
    /// first); the call keeps its place and may be offered again at once.
    pub(super) fn drop_customer_leg(&mut self, call: CallId) {
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        let Some((leg, job)) = session.callback.as_mut().and_then(|c| c.dialling.take()) else {
            return;
        };
        self.legs.remove(&leg);
        self.jobs.remove(&job);
        self.kill(call, leg);
    }

    /// The earliest callback retry, for the engine's timer.
    pub(super) fn next_callback_retry(&self) -> Option<Timestamp> {
        self.callback_retries.first().map(|(at, _)| *at)
    }

    /// Puts every callback whose retry time has come back into its queue.
    pub(super) fn retry_callbacks_due(&mut self, now: Timestamp) {
        while let Some(&(at, call)) = self.callback_retries.first() {
            if at > now {
                break;
            }
            self.callback_retries.remove(&(at, call));
            self.enqueue_callback(call, now);
        }
    }
}
