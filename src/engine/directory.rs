//! Admins' changes to agents and queues, carried into the router while calls are live: a
//! changed agent keeps their state and call, a changed queue keeps its callers in their
//! places, and whatever the change makes possible (an agent now qualified for a waiting
//! call) is offered at once.

use tokio::sync::oneshot;

use super::{Engine, agent_spec, queue_spec};
use crate::acd::DirectoryRefused;
use crate::clock;
use crate::config::{AgentConfig, QueueConfig};
use crate::domain::{AgentId, QueueId};
use crate::telemetry::label;

/// A change to the router's agents or queues, already validated against the whole
/// directory by the gateway.
#[derive(Clone, Debug)]
pub enum DirectoryUpdate {
    /// A new or changed agent.
    PutAgent(AgentConfig),
    /// An agent removed (refused while they are logged in).
    RemoveAgent(AgentId),
    /// A new or changed queue.
    PutQueue(QueueConfig),
    /// A queue removed (refused while calls are in it or agents serve it).
    RemoveQueue(QueueId),
}

/// The engine's answer to one update.
pub type DirectoryReply = oneshot::Sender<Result<(), DirectoryRefused>>;

impl Engine {
    pub(super) fn on_directory(&mut self, update: DirectoryUpdate, reply: DirectoryReply) {
        let now = clock::now();
        let decided = clock::monotonic();
        let result = match update {
            DirectoryUpdate::PutAgent(agent) => {
                let id = AgentId::new(&agent.id);
                self.settings
                    .dial_strings
                    .insert(id, agent.dial_string.clone());
                Ok(self.router.put_agent(agent_spec(&agent), now))
            }
            DirectoryUpdate::RemoveAgent(agent) => self.router.remove_agent(&agent).map(|()| {
                self.settings.dial_strings.remove(&agent);
                Vec::new()
            }),
            DirectoryUpdate::PutQueue(queue) => {
                let id = QueueId::new(&queue.name);
                self.settings.short_abandon.insert(id, queue.short_abandon);
                Ok(self.router.put_queue(queue_spec(&queue), now))
            }
            DirectoryUpdate::RemoveQueue(queue) => self.router.remove_queue(&queue).map(|()| {
                self.settings.short_abandon.remove(&queue);
                // Its gauge would otherwise show its last figure for ever.
                let gauge = label("queue", queue.as_str());
                self.ports.metrics.waiting.remove(&gauge);
                Vec::new()
            }),
        };
        let result = result.map(|decisions| self.carry_out(decisions, decided));
        if let Err(refused) = &result {
            tracing::info!(reason = %refused, "directory change refused by the router");
        }
        // The handler may have given up waiting; the change stands either way.
        let _ = reply.send(result);
    }
}
