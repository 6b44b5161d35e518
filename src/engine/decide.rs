//! Carrying out the router's decisions: ring the agent and pop their screen, release an
//! expired offer, run an overflow action, end a wrap-up.

use tokio::time::Instant;

use super::Engine;
use crate::acd::{CallSpec, Decision, OfferEnd, Overflow};
use crate::call::Phase;
use crate::clock;
use crate::domain::{AgentId, CallId, QueueId, Timestamp};
use crate::esl::Command;
use crate::gateway::protocol::{AgentState, ScreenPop, ServerMessage};

impl Engine {
    /// Carries out decisions made at `decided` (monotonic), in order.
    pub(super) fn carry_out(&mut self, decisions: Vec<Decision>, decided: Instant) {
        let mut pending = std::collections::VecDeque::from(decisions);
        while let Some(decision) = pending.pop_front() {
            let more = match decision {
                Decision::Offer { call, agent } => {
                    self.record_decision("offer");
                    self.start_offer(call, agent, decided);
                    Vec::new()
                }
                Decision::OfferExpired { call, agent } => {
                    self.record_decision("offer_expired");
                    self.offer_expired(call, &agent);
                    Vec::new()
                }
                Decision::Overflow {
                    call,
                    queue,
                    action,
                } => {
                    self.record_decision("overflow");
                    self.overflow(call, &queue, action)
                }
                Decision::WrapUpExpired { agent, call } => {
                    self.wrap_up_over(call, None);
                    self.push(
                        &agent,
                        ServerMessage::State {
                            state: AgentState::Available,
                            reason: None,
                        },
                        None,
                    );
                    Vec::new()
                }
                Decision::AgentReady { agent } => {
                    self.push(
                        &agent,
                        ServerMessage::State {
                            state: AgentState::Available,
                            reason: None,
                        },
                        None,
                    );
                    Vec::new()
                }
            };
            pending.extend(more);
        }
    }

    /// Reserve → screen-pop → originate the agent leg with kefu's variables and a ring
    /// timeout. The bridge follows when the originate's BACKGROUND_JOB says `+OK`.
    fn start_offer(&mut self, call: CallId, agent: AgentId, decided: Instant) {
        let Some(dial_string) = self.settings.dial_strings.get(&agent).cloned() else {
            tracing::error!(agent.id = %agent, "agent has no dial string");
            return;
        };
        let now = clock::now();
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        let (leg, job) = (CallId::random(), uuid::Uuid::new_v4());
        session.offered(agent.clone(), leg, job, now);
        let node = session.node.clone();
        let ring = self.settings.ring_timeout.as_secs().max(1);
        let args = format!(
            "{{origination_uuid={leg},kefu_call={call},kefu_agent={agent},originate_timeout={ring},ignore_early_media=true}}{dial_string} &park()"
        );
        self.legs.insert(leg, call);
        self.jobs.insert(job, call);
        let pop = self.screen_pop(call, now);
        let ring_timeout_ms =
            u64::try_from(self.settings.ring_timeout.as_millis()).unwrap_or(u64::MAX);
        if let Some(screen_pop) = pop {
            let offer = ServerMessage::Offer {
                call,
                ring_timeout_ms,
                screen_pop: Box::new(screen_pop),
            };
            self.push(&agent, offer, Some(decided));
        }
        self.send(
            &node,
            Command::Bgapi {
                job,
                command: "originate",
                args,
            },
            Some(decided),
        );
    }

    pub(super) fn screen_pop(&self, call: CallId, now: Timestamp) -> Option<ScreenPop> {
        let session = self.sessions.get(&call)?;
        let card = self.cards.get(&call);
        let enqueued_at = session.enqueued_at().unwrap_or(now);
        Some(ScreenPop {
            call,
            caller_number: session.caller_number.clone(),
            customer_name: session.customer.name.clone(),
            tier: session.tier.to_string(),
            account: session.customer.account.clone(),
            account_manager: session
                .customer
                .account_manager
                .as_ref()
                .map(ToString::to_string),
            queue: session
                .queue
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            reason: session.reason.clone(),
            ivr_path: session.ivr_path.clone(),
            enqueued_at: enqueued_at
                .to_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            waited_ms: now.since(enqueued_at).as_millis() as i64,
            recent_calls: card.map(|c| c.recent_calls.clone()).unwrap_or_default(),
            open_complaints: card.map(|c| c.open_complaints.clone()).unwrap_or_default(),
            callback_number: session.callback.as_ref().map(|c| c.number.to_string()),
        })
    }

    /// The offer ended without a connection: the agent goes not ready, the call keeps its
    /// place and may be offered to the next agent at once.
    pub(super) fn offer_failed(
        &mut self,
        call: CallId,
        end: OfferEnd,
        reason: &str,
        at: Timestamp,
        decided: Instant,
    ) {
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        let Phase::Offered { agent, leg, job } = session.phase.clone() else {
            return;
        };
        session.offer_failed(reason, at);
        self.legs.remove(&leg);
        self.jobs.remove(&job);
        self.drop_customer_leg(call);
        let cancelled = ServerMessage::OfferCancelled {
            call,
            reason: reason.to_owned(),
        };
        self.push(&agent, cancelled, None);
        self.push(
            &agent,
            ServerMessage::State {
                state: AgentState::NotReady,
                reason: None,
            },
            None,
        );
        let decisions = self.router.offer_failed(call, end, at);
        self.carry_out(decisions, decided);
    }

    /// The router released an offer that rang too long: hang up the agent leg; the call is
    /// already back in its place.
    fn offer_expired(&mut self, call: CallId, agent: &AgentId) {
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        let Phase::Offered { leg, job, .. } = session.phase.clone() else {
            return;
        };
        session.offer_failed("no_answer", clock::now());
        self.legs.remove(&leg);
        self.jobs.remove(&job);
        self.kill(call, leg);
        self.drop_customer_leg(call);
        let cancelled = ServerMessage::OfferCancelled {
            call,
            reason: "no_answer".into(),
        };
        self.push(agent, cancelled, None);
        self.push(
            agent,
            ServerMessage::State {
                state: AgentState::NotReady,
                reason: None,
            },
            None,
        );
    }

    /// Runs a queue's overflow action; returns decisions from a move to another queue.
    fn overflow(&mut self, call: CallId, from: &QueueId, action: Overflow) -> Vec<Decision> {
        let now = clock::now();
        let Some(session) = self.sessions.get_mut(&call) else {
            return Vec::new();
        };
        if !session.has_caller_channel() {
            // A saved callback whose queue is gone (the router never overflows a callback
            // otherwise): nobody is on the line to hear anything, so it ends here.
            self.give_up_callback(call, "CALLBACK_QUEUE_GONE", now);
            return Vec::new();
        }
        let node = session.node.clone();
        let tier = session.tier.clone();
        match action {
            Overflow::Queue(to) => {
                session.mark(
                    now,
                    "moved",
                    serde_json::json!({ "from": from.as_str(), "to": to.as_str() }),
                );
                session.queue = Some(to.clone());
                // It leaves `from` unanswered (an overflow there) and is offered to `to`,
                // keeping its first enqueue time: its place, its aging and its SLA clock.
                self.live.overflowed(from, &tier);
                self.live.enqueued(&to, &tier);
                let spec = CallSpec {
                    call,
                    queue: to,
                    priority: self.settings.tiers.get(&tier).map(|(p, _)| *p).unwrap_or(0),
                    account_manager: None,
                    enqueued_at: session.enqueued_at().unwrap_or(now),
                    callback: false,
                };
                self.router.enqueue(spec, now)
            }
            Overflow::Voicemail(extension) => {
                session.overflowed("voicemail", now);
                self.live.overflowed(from, &tier);
                let args = format!("{call} {extension}");
                self.send(
                    &node,
                    Command::Api {
                        channel: Some(call),
                        command: "uuid_transfer",
                        args,
                    },
                    None,
                );
                Vec::new()
            }
            // The caller hears music on hold, an endless playback: kefu's applications run
            // one after another (`event-lock`), so the music must stop for the next prompt.
            Overflow::Message(prompt) => {
                self.stop_hold_music(&node, call);
                self.overflow_to_message(call, from, prompt)
            }
            Overflow::Callback => {
                self.stop_hold_music(&node, call);
                self.overflow_to_callback(call, from)
            }
        }
    }

    /// `uuid_break`: ends the running playback (the music on hold); queued applications
    /// then run.
    fn stop_hold_music(&self, node: &crate::domain::NodeId, call: CallId) {
        let command = Command::Api {
            channel: Some(call),
            command: "uuid_break",
            args: call.to_string(),
        };
        self.send(node, command, None);
    }

    pub(super) fn overflow_to_message(
        &mut self,
        call: CallId,
        from: &QueueId,
        prompt: String,
    ) -> Vec<Decision> {
        let now = clock::now();
        let Some(session) = self.sessions.get_mut(&call) else {
            return Vec::new();
        };
        let (node, tier) = (session.node.clone(), session.tier.clone());
        session.overflowed("message", now);
        self.live.overflowed(from, &tier);
        let prompt = if prompt.trim().is_empty() {
            BUSY_PROMPT.to_owned()
        } else {
            prompt
        };
        self.execute(&node, call, "playback", prompt);
        self.execute(&node, call, "hangup", "NORMAL_CLEARING".into());
        Vec::new()
    }

    /// After-call work is over: with the caller gone too, the call's record is written.
    pub(super) fn wrap_up_over(
        &mut self,
        call: CallId,
        disposition: Option<crate::domain::Disposition>,
    ) {
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        session.wrap_up_ended(disposition, clock::now());
        if session.is_complete() {
            self.finish(call);
        }
    }
}

/// Played when a queue overflows to a message without naming one.
const BUSY_PROMPT: &str = "ivr/ivr-all_circuits_busy.wav";
