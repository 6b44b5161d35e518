//! Supervisors' actions on live calls and agents: force an agent's state, move a waiting
//! call to another queue, change its priority. Each is answered to the HTTP handler (which
//! audits it) and marked on the call's timeline.

use serde_json::json;
use tokio::sync::oneshot;

use super::Engine;
use crate::acd::ActionRefused;
use crate::auth::Scope;
use crate::clock;
use crate::domain::{AgentId, AgentState, CallId, QueueId};
use crate::gateway::protocol::RequestedState;

/// What a supervisor asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SupervisorAction {
    /// Put an agent on a break, log them out, or make them available again (a logged-in
    /// agent only: nobody is offered calls without their desktop).
    AgentState {
        /// The agent.
        agent: AgentId,
        /// The state.
        state: RequestedState,
        /// The break reason.
        reason: Option<String>,
    },
    /// Move a waiting call to another queue.
    MoveCall {
        /// The call.
        call: CallId,
        /// The queue.
        queue: QueueId,
    },
    /// Set a waiting call's priority (its base, before the queue's and aging).
    SetPriority {
        /// The call.
        call: CallId,
        /// The priority.
        priority: i32,
    },
}

/// Why a supervisor's action was not carried out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// No such agent in the configuration.
    #[error("no agent `{0}`")]
    UnknownAgent(AgentId),
    /// The agent is offered or on a call: they finish it first.
    #[error("the agent is on a call or being offered one; they finish it first")]
    AgentBusy,
    /// A logged-out agent cannot be made available by someone else.
    #[error("the agent is logged out; they log in from their desktop")]
    AgentLoggedOut,
    /// The agent serves none of the supervisor's queues, or the call is not in (or not
    /// moving to) one of them.
    #[error("outside your queues")]
    OutOfScope,
    /// The router refused.
    #[error("{0}")]
    Refused(#[from] ActionRefused),
    /// The engine stopped before answering.
    #[error("kefu is stopping")]
    Stopped,
}

/// The engine's answer to one action.
pub type ActionReply = oneshot::Sender<Result<(), ActionError>>;

impl Engine {
    pub(super) fn on_supervisor(
        &mut self,
        supervisor: &str,
        scope: &Scope,
        action: SupervisorAction,
        reply: ActionReply,
    ) {
        let span = tracing::info_span!("supervisor", supervisor = %supervisor);
        let _enter = span.enter();
        let result = match self.in_scope(scope, &action) {
            Ok(()) => self.carry_out_action(supervisor, action),
            Err(refused) => Err(refused),
        };
        // The handler may have given up waiting; the action stands either way.
        let _ = reply.send(result);
    }

    /// A supervisor limited to some queues acts only on agents who serve one of them and
    /// on calls waiting in one of them (and moves them only to one of them).
    fn in_scope(&self, scope: &Scope, action: &SupervisorAction) -> Result<(), ActionError> {
        if *scope == Scope::All {
            return Ok(());
        }
        let allowed = match action {
            SupervisorAction::AgentState { agent, .. } => {
                let queues = self
                    .router
                    .agent_queues(agent)
                    .ok_or_else(|| ActionError::UnknownAgent(agent.clone()))?;
                scope.allows_any(queues.iter())
            }
            SupervisorAction::MoveCall { call, queue } => {
                self.call_in_scope(scope, *call) && scope.allows(queue)
            }
            SupervisorAction::SetPriority { call, .. } => self.call_in_scope(scope, *call),
        };
        if allowed {
            Ok(())
        } else {
            Err(ActionError::OutOfScope)
        }
    }

    /// Whether the call is in a queue of the scope; a call kefu does not know is left to
    /// the router to refuse.
    fn call_in_scope(&self, scope: &Scope, call: CallId) -> bool {
        self.sessions
            .get(&call)
            .is_none_or(|s| scope.covers(s.queue.as_ref()))
    }

    fn carry_out_action(
        &mut self,
        supervisor: &str,
        action: SupervisorAction,
    ) -> Result<(), ActionError> {
        match action {
            SupervisorAction::AgentState {
                agent,
                state,
                reason,
            } => self.force_state(&agent, state, reason),
            SupervisorAction::MoveCall { call, queue } => self.move_call(call, queue, supervisor),
            SupervisorAction::SetPriority { call, priority } => {
                self.set_priority(call, priority, supervisor)
            }
        }
    }

    fn force_state(
        &mut self,
        agent: &AgentId,
        state: RequestedState,
        reason: Option<String>,
    ) -> Result<(), ActionError> {
        let current = self
            .router
            .agent_state(agent)
            .ok_or_else(|| ActionError::UnknownAgent(agent.clone()))?;
        if state == RequestedState::Available && current == AgentState::LoggedOut {
            return Err(ActionError::AgentLoggedOut);
        }
        let reason = reason.unwrap_or_else(|| "supervisor".into());
        self.change_state(agent, state, reason)
    }

    fn move_call(
        &mut self,
        call: CallId,
        queue: QueueId,
        supervisor: &str,
    ) -> Result<(), ActionError> {
        let decided = clock::monotonic();
        let now = clock::now();
        let decisions = self.router.move_call(call, &queue, now)?;
        if let Some(session) = self.sessions.get_mut(&call) {
            let from = session.queue.replace(queue.clone());
            if let Some(from) = &from {
                self.live.moved(from, &queue, &session.tier);
            }
            let detail = json!({ "from": from, "to": queue.as_str(), "by": supervisor });
            session.mark(now, "moved", detail);
            let node = session.node.clone();
            // Re-adoption after a reconnect reads the queue from the channel.
            self.execute(&node, call, "set", format!("kefu_queue={queue}"));
        }
        self.carry_out(decisions, decided);
        Ok(())
    }

    fn set_priority(
        &mut self,
        call: CallId,
        priority: i32,
        supervisor: &str,
    ) -> Result<(), ActionError> {
        let decided = clock::monotonic();
        let now = clock::now();
        let decisions = self.router.set_priority(call, priority, now)?;
        if let Some(session) = self.sessions.get_mut(&call) {
            let detail = json!({ "priority": priority, "by": supervisor });
            session.mark(now, "priority_set", detail);
        }
        self.carry_out(decisions, decided);
        Ok(())
    }
}
