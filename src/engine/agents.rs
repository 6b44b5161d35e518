//! Agent actions into the engine: connect, state changes, accept / reject, wrap-up. Every
//! refusal goes back to that agent as an `error` message; their socket stays open.

use serde_json::json;

use super::{ActionError, AgentAction, Engine};
use crate::acd::OfferEnd;
use crate::call::Phase;
use crate::clock;
use crate::domain::{AgentId, CallId, Disposition};
use crate::gateway::protocol::{AgentState, PROTOCOL_VERSION, RequestedState, ServerMessage};

impl Engine {
    pub(super) fn on_agent(&mut self, agent: AgentId, action: AgentAction) {
        let span = tracing::debug_span!("agent", agent.id = %agent);
        let _enter = span.enter();
        match action {
            AgentAction::Connected => self.agent_connected(&agent),
            AgentAction::Disconnected => self.agent_disconnected(&agent),
            AgentAction::SetState { state, reason } => self.set_state(&agent, state, reason),
            AgentAction::Accept(call) => self.accept(&agent, call),
            AgentAction::Reject(call) => self.reject(&agent, call),
            AgentAction::WrapUp(call, disposition) => self.wrap_up(&agent, call, disposition),
        }
    }

    /// A (re)connected agent gets their state, and the offer in flight if they come back
    /// before it rang out.
    fn agent_connected(&mut self, agent: &AgentId) {
        self.router.login(agent, clock::now());
        let state = self
            .router
            .agent_state(agent)
            .unwrap_or(AgentState::LoggedOut);
        let welcome = ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            agent: agent.clone(),
            state,
        };
        self.push(agent, welcome, None);
        if let Some(call) = self.router.offered_call(agent) {
            if let Some(screen_pop) = self.screen_pop_for(call) {
                let ring_timeout_ms =
                    u64::try_from(self.settings.ring_timeout.as_millis()).unwrap_or(u64::MAX);
                self.push(
                    agent,
                    ServerMessage::Offer {
                        call,
                        ring_timeout_ms,
                        screen_pop: Box::new(screen_pop),
                    },
                    None,
                );
            }
        }
    }

    /// A dropped socket takes an idle agent out of service; an offer in flight stays until
    /// it rings out (the router releases it), and a call in progress goes on.
    fn agent_disconnected(&mut self, agent: &AgentId) {
        if matches!(
            self.router.agent_state(agent),
            Some(AgentState::Available | AgentState::NotReady | AgentState::Break)
        ) {
            let decided = clock::monotonic();
            let released = self.router.logout(agent, clock::now()).unwrap_or_default();
            self.carry_out(released, decided);
        }
    }

    fn set_state(&mut self, agent: &AgentId, state: RequestedState, reason: Option<String>) {
        let reason = reason.unwrap_or_else(|| "break".into());
        if self.change_state(agent, state, reason).is_err() {
            self.refuse(agent, "busy", "finish the current call first");
        }
    }

    /// Puts an agent in `state` (`reason` for a break) and tells their desktop; what the
    /// agent asks for and what a supervisor forces both come here. Refused (`AgentBusy`)
    /// for a break or logout while they hold or handle a call.
    pub(super) fn change_state(
        &mut self,
        agent: &AgentId,
        state: RequestedState,
        reason: String,
    ) -> Result<(), ActionError> {
        let now = clock::now();
        let left = match state {
            RequestedState::Available => {
                let decided = clock::monotonic();
                let decisions = self.router.make_available(agent, now);
                self.tell_state(agent, None);
                self.carry_out(decisions, decided);
                return Ok(());
            }
            RequestedState::Break => (
                self.router.take_break(agent, reason.clone(), now),
                Some(reason),
            ),
            RequestedState::LoggedOut => (self.router.logout(agent, now), None),
        };
        let (Some(released), shown_reason) = left else {
            return Err(ActionError::AgentBusy);
        };
        self.tell_state(agent, shown_reason);
        self.carry_out(released, clock::monotonic());
        Ok(())
    }

    /// The agent's desktop shows their state as the router has it now.
    fn tell_state(&self, agent: &AgentId, reason: Option<String>) {
        let state = self
            .router
            .agent_state(agent)
            .unwrap_or(AgentState::LoggedOut);
        self.push(agent, ServerMessage::State { state, reason }, None);
    }

    fn accept(&mut self, agent: &AgentId, call: CallId) {
        if self.router.offered_call(agent) != Some(call) {
            return self.refuse(agent, "not_your_call", "no such offer for you");
        }
        if let Some(session) = self.sessions.get_mut(&call) {
            session.mark(clock::now(), "accepted", json!({ "agent": agent.as_str() }));
        }
    }

    fn reject(&mut self, agent: &AgentId, call: CallId) {
        if self.router.offered_call(agent) != Some(call) {
            return self.refuse(agent, "not_your_call", "no such offer for you");
        }
        if let Some(Phase::Offered { leg, .. }) = self.sessions.get(&call).map(|s| s.phase.clone())
        {
            self.kill(call, leg);
        }
        self.offer_failed(
            call,
            OfferEnd::Rejected,
            "rejected",
            clock::now(),
            clock::monotonic(),
        );
    }

    fn wrap_up(&mut self, agent: &AgentId, call: CallId, disposition: Disposition) {
        let theirs = self
            .sessions
            .get(&call)
            .is_some_and(|s| s.answered_by() == Some(agent) && s.talk_time().is_some());
        if !theirs {
            return self.refuse(agent, "not_your_call", "no call of yours to wrap up");
        }
        self.wrap_up_over(call, Some(disposition));
        let decided = clock::monotonic();
        let decisions = self.router.wrap_up_done(agent, call, clock::now());
        let state = self
            .router
            .agent_state(agent)
            .unwrap_or(AgentState::LoggedOut);
        self.push(
            agent,
            ServerMessage::State {
                state,
                reason: None,
            },
            None,
        );
        self.carry_out(decisions, decided);
    }

    fn refuse(&self, agent: &AgentId, code: &str, message: &str) {
        let error = ServerMessage::Error {
            code: code.into(),
            message: message.into(),
        };
        self.push(agent, error, None);
    }

    fn screen_pop_for(&self, call: CallId) -> Option<crate::gateway::protocol::ScreenPop> {
        self.screen_pop(call, clock::now())
    }
}
