//! FreeSWITCH events into the engine: adopting parked calls, driving their IVR, bridging
//! answered offers, hang-ups of either leg, and reconciliation after a reconnect.

use serde_json::json;
use tokio::time::Instant;

use super::announce::LiveView;
use super::{CustomerCard, Engine, Input, day_of};
use crate::acd::{CallSpec, OfferEnd};
use crate::call::{Direction, Event, EventKind, HungUpBy, LiveChannel, Phase, Session};
use crate::clock;
use crate::domain::{CallId, NodeId, QueueId, Timestamp};
use crate::esl::Command;
use crate::gateway::protocol::{IvrStep, RecentCall, ServerMessage};
use crate::ivr::{AppResult, CallContext, CustomerInfo, IvrRun, LookupKey, Step};
use crate::store::{CallSummary, Customer, Store, StoreError};
use crate::telemetry::label;

impl Engine {
    pub(super) fn on_switch(&mut self, event: Event) {
        self.dirty = true;
        let Event {
            node,
            at,
            received,
            kind,
        } = event;
        match kind {
            EventKind::ChannelParked {
                channel,
                direction: Direction::Inbound,
                caller_number,
                destination,
                ..
            } => {
                if self.sessions.contains_key(&channel) {
                    self.parked_after_talk(channel, at);
                } else {
                    self.adopt(node, channel, caller_number, destination, at);
                }
            }
            // A prompt cut short by the caller hanging up: no next step for a dead
            // channel; HANGUP_COMPLETE closes the call where it left.
            EventKind::ExecuteCompleted {
                hanging_up: true, ..
            } => {}
            EventKind::ExecuteCompleted {
                channel,
                application_uuid,
                digits,
                ..
            } => {
                self.on_app_done(channel, application_uuid, digits, at);
            }
            EventKind::JobCompleted { job, body } => self.on_job(job, &body, at, received),
            EventKind::Bridged { a, b } => self.on_bridged(a, b, at),
            EventKind::Unbridged { channel, .. } => self.end_talk(channel, at),
            EventKind::HungUp {
                channel, cause, by, ..
            } => self.on_hung_up(channel, &cause, by, at, received),
            EventKind::CommandFailed {
                channel,
                command,
                reply,
            } => self.on_command_failed(channel, command, &reply, at),
            EventKind::NodeConnected { channels, .. } => self.reconcile(&node, &channels, at),
            EventKind::NodeDisconnected { reason } => {
                tracing::warn!(node = %node, reason = %reason, "node down; its calls are reconciled on reconnect");
            }
            EventKind::ChannelParked { .. }
            | EventKind::ChannelAnswered { .. }
            | EventKind::Dtmf { .. }
            | EventKind::Heartbeat => {}
        }
    }

    /// A new inbound call parked by the dialplan: kefu takes it, tags it with its channel
    /// variables (for re-adoption after a reconnect), answers it and starts its flow.
    fn adopt(
        &mut self,
        node: NodeId,
        call: CallId,
        caller_number: String,
        destination: String,
        at: Timestamp,
    ) {
        let flow_name = self
            .settings
            .routes
            .get(&destination)
            .unwrap_or(&self.settings.default_flow)
            .clone();
        let Some(flow) = self.flows.load().get(&flow_name) else {
            tracing::error!(call_id = %call, flow = %flow_name, "no such flow; hanging up");
            self.send(
                &node,
                Command::Hangup {
                    channel: call,
                    cause: "NORMAL_TEMPORARY_FAILURE".into(),
                },
                None,
            );
            return;
        };
        let span = tracing::info_span!("call", call_id = %call);
        let _enter = span.enter();
        tracing::debug!(caller = %caller_number, destination = %destination, "call adopted");
        let tier = self.settings.default_tier.clone();
        let session = Session::new(call, node.clone(), caller_number, destination, tier, at);
        self.execute(&node, call, "set", format!("kefu_call={call}"));
        // With a survey the caller stays when the agent hangs up: FreeSWITCH parks them again.
        let after_bridge = if self.settings.survey_flow.is_some() {
            "park_after_bridge=true"
        } else {
            "hangup_after_bridge=true"
        };
        self.execute(&node, call, "set", after_bridge.into());
        self.execute(&node, call, "answer", String::new());
        let live = self.live_view();
        let ctx = CallContext {
            caller_number: &session.caller_number,
            tier: &session.tier,
            queues: &live,
        };
        let (run, step) = IvrRun::start(flow, &ctx, at);
        self.sessions.insert(call, session);
        self.ivr.insert(call, run);
        self.carry_step(call, step, at);
    }

    /// The agent hung up and FreeSWITCH parked the caller again (`park_after_bridge`): the
    /// post-call survey starts, or the caller is hung up when there is none.
    fn parked_after_talk(&mut self, call: CallId, at: Timestamp) {
        let Some(session) = self.sessions.get(&call) else {
            return;
        };
        let talk_over =
            matches!(session.phase, Phase::Talking { .. }) && session.talk_time().is_some();
        if !talk_over {
            return; // a park kefu asked for, or a repeated event
        }
        let flow = self
            .settings
            .survey_flow
            .as_ref()
            .and_then(|name| self.flows.load().get(name));
        let Some(flow) = flow else {
            let hangup = Command::Hangup {
                channel: call,
                cause: "NORMAL_CLEARING".into(),
            };
            return self.send(&session.node.clone(), hangup, None);
        };
        let live = self.live_view();
        let ctx = CallContext {
            caller_number: &session.caller_number,
            tier: &session.tier,
            queues: &live,
        };
        let (run, step) = IvrRun::start_with(flow, session.ivr_vars.clone(), &ctx, at);
        if let Some(session) = self.sessions.get_mut(&call) {
            session.phase = Phase::Ivr { pending: None };
        }
        self.ivr.insert(call, run);
        self.carry_step(call, step, at);
    }

    fn on_app_done(
        &mut self,
        channel: CallId,
        app_uuid: Option<uuid::Uuid>,
        digits: Option<String>,
        at: Timestamp,
    ) {
        let Some(session) = self.sessions.get_mut(&channel) else {
            return;
        };
        let Phase::Ivr {
            pending: Some(pending),
        } = session.phase
        else {
            return;
        };
        if app_uuid != Some(pending) {
            return; // an earlier `set`/`answer`, not the step we wait for
        }
        session.phase = Phase::Ivr { pending: None };
        let result = match digits {
            Some(d) => AppResult::Digits(d),
            None => AppResult::Done,
        };
        self.advance_ivr(channel, at, |run, ctx| run.on_app_done(result, ctx, at));
    }

    /// Moves the call's IVR run on with `report`, then carries out its next step.
    fn advance_ivr(
        &mut self,
        call: CallId,
        at: Timestamp,
        report: impl FnOnce(&mut IvrRun, &CallContext) -> Step,
    ) {
        let (Some(session), Some(run)) = (self.sessions.get(&call), self.ivr.get_mut(&call)) else {
            return;
        };
        let live = LiveView {
            router: &self.router,
            handle_times: &self.handle_times,
        };
        let ctx = CallContext {
            caller_number: &session.caller_number,
            tier: &session.tier,
            queues: &live,
        };
        let step = report(run, &ctx);
        self.carry_step(call, step, at);
    }

    /// Carries out what the IVR asked for next.
    pub(super) fn carry_step(&mut self, call: CallId, step: Step, at: Timestamp) {
        let Some(session) = self.sessions.get(&call) else {
            return;
        };
        let node = session.node.clone();
        match step {
            Step::Execute { app, arg } => {
                let pending = self.execute(&node, call, &app, arg);
                if let Some(s) = self.sessions.get_mut(&call) {
                    s.phase = Phase::Ivr {
                        pending: Some(pending),
                    };
                }
            }
            Step::LookupCustomer { by } => self.lookup(call, by, session.caller_number.clone()),
            Step::Enqueue {
                queue,
                priority_bonus,
                reason,
                ..
            } => self.enqueue(call, queue, priority_bonus, reason, at),
            Step::Callback { .. } => self.callback_requested(call, step, at),
            Step::Transfer { to } => {
                let args = format!("{call} {to}");
                self.send(
                    &node,
                    Command::Api {
                        channel: Some(call),
                        command: "uuid_transfer",
                        args,
                    },
                    None,
                );
            }
            Step::StartFlow { flow } => match self.flows.load().get(&flow) {
                Some(flow) => self.advance_ivr(call, at, |run, ctx| run.continue_in(flow, ctx, at)),
                None => self.carry_step(
                    call,
                    Step::Hangup {
                        cause: "NORMAL_TEMPORARY_FAILURE".into(),
                    },
                    at,
                ),
            },
            Step::Wait => {}
            Step::Hangup { cause } => self.send(
                &node,
                Command::Hangup {
                    channel: call,
                    cause,
                },
                None,
            ),
        }
    }

    /// Looks the customer up in the background; the result comes back as an input.
    fn lookup(&self, call: CallId, by: LookupKey, caller_number: String) {
        let store = self.ports.store.clone();
        let control = self.control.clone();
        self.tracker.spawn(async move {
            let found = match &by {
                LookupKey::CallerNumber => store.find_customer_by_number(&caller_number).await,
                LookupKey::Account(account) => store.find_customer_by_account(account).await,
            };
            let customer = match found {
                Ok(Some(customer)) => Some(customer_card(&store, call, customer).await),
                Ok(None) => None,
                Err(error) => {
                    tracing::warn!(call_id = %call, error = %error, "customer lookup failed; default tier");
                    None
                }
            };
            let _ = control.send(Input::CustomerLoaded { call, customer }).await;
        });
    }

    pub(super) fn on_customer_loaded(&mut self, call: CallId, customer: Option<CustomerCard>) {
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        let info = customer.as_ref().map(|c| CustomerInfo {
            tier: c.tier.clone(),
        });
        let now = clock::now();
        if let Some(card) = customer {
            session.tier = card.tier.clone();
            session.customer.id = Some(card.id);
            session.customer.name = Some(card.name.clone());
            session.customer.account = Some(card.account.clone());
            session.customer.account_manager = card.account_manager.clone();
            self.cards.insert(call, card);
        }
        self.advance_ivr(call, now, |run, ctx| run.on_customer(info, ctx, now));
    }

    /// The IVR is done: the call waits in `queue` with music on hold.
    fn enqueue(
        &mut self,
        call: CallId,
        queue: QueueId,
        bonus: i32,
        reason: Option<String>,
        at: Timestamp,
    ) {
        let moh = self.settings.moh.clone();
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        close_ivr(session, self.ivr.remove(&call));
        session.reason = reason;
        session.enqueued(queue.clone(), at);
        let (node, tier) = (session.node.clone(), session.tier.clone());
        let base = self.settings.tiers.get(&tier).map(|(p, _)| *p).unwrap_or(0);
        let spec = CallSpec {
            call,
            queue: queue.clone(),
            priority: base + bonus,
            account_manager: session.customer.account_manager.clone(),
            enqueued_at: at,
            callback: false,
        };
        self.live.roll_day(day_of(at));
        self.live.enqueued(&queue, &tier);
        self.execute(&node, call, "set", format!("kefu_queue={queue}"));
        self.execute(
            &node,
            call,
            "set",
            format!("kefu_enqueued_at={}", at.as_micros()),
        );
        self.execute(&node, call, "playback", moh);
        let decided = clock::monotonic();
        let decisions = self.router.enqueue(spec, at);
        self.schedule_announcement(call, at);
        // The IVR's last event placed the call: offered at once or waiting.
        if let Some(received) = self.event_received {
            self.ports
                .metrics
                .event_to_decision
                .record(received.elapsed());
        }
        self.carry_out(decisions, decided);
    }

    /// BACKGROUND_JOB of an originate. For an agent leg `+OK` means the agent answered
    /// (the leg is parked), so bridge (or, for a callback, dial the customer); anything else
    /// is a failed offer. For a callback's customer leg `+OK` means the customer answered.
    fn on_job(&mut self, job: uuid::Uuid, body: &str, at: Timestamp, received: Instant) {
        let Some(call) = self.jobs.remove(&job) else {
            return;
        };
        let Some(session) = self.sessions.get(&call) else {
            return;
        };
        let Phase::Offered {
            leg,
            job: agent_job,
            ..
        } = session.phase
        else {
            return;
        };
        let callback = session.callback.is_some();
        let node = session.node.clone();
        let ok = body.starts_with("+OK");
        let cause = body.trim().trim_start_matches("-ERR").trim().to_owned();
        if job != agent_job && ok {
            return self.customer_answered(call, received);
        }
        if job != agent_job {
            return self.customer_unreached(call, &cause, at, received);
        }
        if ok && callback {
            self.dial_customer(call, received);
        } else if ok {
            let args = format!("{call} {leg}");
            self.send(
                &node,
                Command::Api {
                    channel: Some(call),
                    command: "uuid_bridge",
                    args,
                },
                Some(received),
            );
        } else {
            self.offer_failed(
                call,
                OfferEnd::NoAnswer,
                &format!("agent_leg_failed:{cause}"),
                at,
                received,
            );
        }
    }

    fn on_bridged(&mut self, a: CallId, b: CallId, at: Timestamp) {
        // The caller's leg, or for a callback the customer leg kefu originated.
        let Some(call) = [a, b]
            .into_iter()
            .find(|c| self.sessions.contains_key(c))
            .or_else(|| self.legs.get(&a).copied())
        else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        let Phase::Offered { agent, .. } = session.phase.clone() else {
            return;
        };
        session.answered(at);
        let (queue, tier) = (session.queue.clone(), session.tier.clone());
        let wait = session
            .enqueued_at()
            .map(|e| at.since(e))
            .unwrap_or_default();
        if let Some(queue) = queue {
            let rule = self.tier_rule(&tier, &queue);
            self.live.answered(&queue, &tier, wait, rule.threshold);
        }
        self.router.offer_answered(call, at);
        self.callback_connected(call);
        self.push(&agent, ServerMessage::CallConnected { call }, None);
    }

    /// The bridge ended (either leg hung up, or UNBRIDGE): the agent starts wrap-up.
    pub(super) fn end_talk(&mut self, channel: CallId, at: Timestamp) {
        let call = self.legs.get(&channel).copied().unwrap_or(channel);
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        let Phase::Talking { agent, .. } = session.phase.clone() else {
            return;
        };
        if !session.talk_ended(at) {
            return;
        }
        let talk = session.talk_time().unwrap_or_default();
        self.router.call_ended(&agent, call, talk, at);
        let wrap_up_ms = u64::try_from(self.settings.wrap_up.as_millis()).unwrap_or(u64::MAX);
        self.push(&agent, ServerMessage::CallEnded { call, wrap_up_ms }, None);
    }

    fn on_hung_up(
        &mut self,
        channel: CallId,
        cause: &str,
        by: HungUpBy,
        at: Timestamp,
        received: Instant,
    ) {
        if let Some(call) = self.legs.remove(&channel) {
            return self.leg_hung_up(call, channel, cause, by, at, received);
        }
        if self.caller_left_for_callback(channel, at) {
            return;
        }
        let Some(session) = self.sessions.get(&channel) else {
            return;
        };
        let phase = session.phase.clone();
        match phase {
            Phase::Queued => self.abandon(channel, at, received),
            Phase::Offered { agent, leg, .. } => {
                self.abandon(channel, at, received);
                self.legs.remove(&leg);
                self.kill(channel, leg);
                let reason = "caller_hung_up".to_owned();
                self.push(
                    &agent,
                    ServerMessage::OfferCancelled {
                        call: channel,
                        reason,
                    },
                    None,
                );
            }
            Phase::Talking { .. } => self.end_talk(channel, at),
            Phase::Ivr { .. } | Phase::WrapUp { .. } | Phase::Ended => {}
        }
        let Some(session) = self.sessions.get_mut(&channel) else {
            return;
        };
        session.hung_up(cause, by, at);
        if session.is_complete() {
            self.finish(channel);
        }
    }

    fn abandon(&mut self, call: CallId, at: Timestamp, received: Instant) {
        let Some(session) = self.sessions.get(&call) else {
            return;
        };
        if let (Some(queue), Some(enqueued)) = (session.queue.clone(), session.enqueued_at()) {
            let tier = session.tier.clone();
            let rule = self.tier_rule(&tier, &queue);
            self.live
                .abandoned(&queue, &tier, at.since(enqueued), rule.short_abandon);
        }
        let decisions = self.router.remove_call(call, at);
        self.carry_out(decisions, received);
    }

    /// A leg kefu originated ended: an agent leg, or a callback's customer leg.
    fn leg_hung_up(
        &mut self,
        call: CallId,
        leg: CallId,
        cause: &str,
        by: HungUpBy,
        at: Timestamp,
        received: Instant,
    ) {
        let customer = self
            .sessions
            .get(&call)
            .and_then(|s| s.callback.as_ref()?.dialling)
            .is_some_and(|(c, _)| c == leg);
        if customer {
            self.customer_leg_hung_up(call, cause, by, at, received);
        } else {
            self.agent_leg_hung_up(call, leg, cause, by, at, received);
        }
    }

    fn agent_leg_hung_up(
        &mut self,
        call: CallId,
        leg: CallId,
        cause: &str,
        by: HungUpBy,
        at: Timestamp,
        received: Instant,
    ) {
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        match &session.phase {
            Phase::Offered { leg: offered, .. } if *offered == leg => {
                let reason = format!("agent_leg_failed:{cause}");
                self.offer_failed(call, OfferEnd::NoAnswer, &reason, at, received);
            }
            Phase::Talking { .. } => {
                let by = match by {
                    HungUpBy::Party => "agent",
                    other => other.as_str(),
                };
                session.mark(at, "agent_hung_up", json!({ "cause": cause, "by": by }));
                self.end_talk(call, at);
            }
            _ => {}
        }
    }

    fn on_command_failed(
        &mut self,
        channel: Option<CallId>,
        command: &str,
        reply: &str,
        at: Timestamp,
    ) {
        tracing::warn!(call_id = ?channel, esl.command = command, reply = %reply.trim(), "command failed");
        if command != "uuid_bridge" {
            return;
        }
        let Some(call) = channel else { return };
        self.offer_failed(
            call,
            OfferEnd::NoAnswer,
            "bridge_failed",
            at,
            clock::monotonic(),
        );
    }

    /// After a (re)connect: every call kefu tracked on this node whose channel is gone ended
    /// while the socket was down; close it out now so that no call is forgotten.
    fn reconcile(&mut self, node: &NodeId, channels: &[LiveChannel], at: Timestamp) {
        let alive: std::collections::HashSet<CallId> = channels.iter().map(|c| c.channel).collect();
        let gone: Vec<CallId> = self
            .sessions
            .values()
            .filter(|s| &s.node == node && s.has_caller_channel() && !alive.contains(&s.call))
            .map(|s| s.call)
            .collect();
        let now = clock::monotonic();
        for leg in self
            .legs
            .keys()
            .copied()
            .filter(|l| !alive.contains(l))
            .collect::<Vec<_>>()
        {
            if let Some(call) = self.legs.remove(&leg) {
                let lost = "LOST_WHILE_DISCONNECTED";
                self.leg_hung_up(call, leg, lost, HungUpBy::Unknown, at, now);
            }
        }
        for call in gone {
            if let Some(session) = self.sessions.get_mut(&call) {
                session.mark(
                    at,
                    "reconciled",
                    json!({ "reason": "channel gone after reconnect" }),
                );
            }
            self.on_hung_up(call, "LOST_WHILE_DISCONNECTED", HungUpBy::Unknown, at, now);
        }
        // Calls that FreeSWITCH parked while kefu was not listening wait in `park` for us.
        for waiting in channels {
            let untracked = !self.sessions.contains_key(&waiting.channel)
                && !self.legs.contains_key(&waiting.channel);
            if !untracked
                || waiting.direction != Direction::Inbound
                || waiting.application != "park"
            {
                continue;
            }
            self.adopt(
                node.clone(),
                waiting.channel,
                waiting.caller_number.clone(),
                waiting.destination.clone(),
                at,
            );
        }
        tracing::info!(node = %node, channels = channels.len(), "node reconciled");
    }

    /// Hangs up an agent leg kefu no longer wants (offer cancelled or expired).
    pub(super) fn kill(&self, call: CallId, leg: CallId) {
        let Some(session) = self.sessions.get(&call) else {
            return;
        };
        let args = format!("{leg} ORIGINATOR_CANCEL");
        self.send(
            &session.node.clone(),
            Command::Api {
                channel: Some(leg),
                command: "uuid_kill",
                args,
            },
            None,
        );
    }

    pub(super) fn record_decision(&self, kind: &'static str) {
        self.ports
            .metrics
            .decisions
            .get_or_create(&label("kind", kind))
            .inc();
    }
}

/// A run through a flow is over (queued, ended in the IVR, or the post-call survey done):
/// each node entered goes into the timeline. The first run's path is the call's IVR path
/// (screen-pop and record); a survey adds its score.
pub(super) fn close_ivr(session: &mut Session, run: Option<IvrRun>) {
    let Some(run) = run else { return };
    for step in run.path() {
        let detail = json!({ "node": step.node, "digits": step.digits });
        session.mark(step.at, "ivr_node", detail);
    }
    if let (Some(score), Some(last)) = (run.survey_score(), run.path().last()) {
        session.survey_answered(score, last.at);
    }
    if session.ivr_path.is_empty() {
        session.ivr_path = run
            .path()
            .iter()
            .map(|p| IvrStep {
                node: p.node.clone(),
                digits: p.digits.clone(),
            })
            .collect();
        session.ivr_vars = run.vars().clone();
    }
}

/// How many earlier calls and open complaints the screen-pop shows.
const HISTORY_SHOWN: u32 = 5;

/// The screen-pop's customer card: the customer plus their history. History that cannot be
/// read is left out (logged): the call is still routed by the customer's tier.
async fn customer_card(store: &Store, call: CallId, customer: Customer) -> CustomerCard {
    let (recent, complaints) = tokio::join!(
        store.recent_calls(customer.id, HISTORY_SHOWN),
        store.open_complaints(customer.id, HISTORY_SHOWN)
    );
    let shown = |history: Result<Vec<CallSummary>, StoreError>| match history {
        Ok(calls) => calls.into_iter().map(recent_call).collect(),
        Err(error) => {
            tracing::warn!(call_id = %call, error = %error, "customer history unavailable");
            Vec::new()
        }
    };
    CustomerCard {
        id: customer.id,
        name: customer.name,
        account: customer.account_number,
        tier: customer.tier,
        account_manager: customer.account_manager,
        recent_calls: shown(recent),
        open_complaints: shown(complaints),
    }
}

fn recent_call(call: CallSummary) -> RecentCall {
    RecentCall {
        at: call.arrived_at.to_utc().to_rfc3339(),
        agent: call.agent.map(|a| a.to_string()),
        category: call
            .disposition
            .as_ref()
            .map(|d| d.category.as_str().to_owned()),
        resolved: call.disposition.map(|d| d.resolved),
    }
}
