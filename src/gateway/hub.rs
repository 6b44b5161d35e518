//! The agent hub: one bounded send queue per connected agent socket. The engine pushes
//! offers and state changes with `try_send`; a socket whose queue is full is too slow and
//! is disconnected, so one stuck client never slows routing or other agents.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::protocol::ServerMessage;
use crate::domain::AgentId;

/// How many messages may wait for one agent socket before it counts as stuck.
pub const SEND_QUEUE: usize = 64;

/// A message for an agent socket, with the monotonic time of the ESL event or decision it
/// came from, so the socket writer can record the screen-pop latency.
#[derive(Clone, Debug)]
pub struct Push {
    /// The message.
    pub message: Arc<ServerMessage>,
    /// When the routing decision behind it was made.
    pub decided: Option<tokio::time::Instant>,
}

struct Socket {
    id: u64,
    tx: mpsc::Sender<Push>,
    kick: CancellationToken,
}

/// Registry of connected agent sockets. Cheap to clone.
#[derive(Clone, Default)]
pub struct Hub {
    sockets: Arc<Mutex<HashMap<AgentId, Socket>>>,
    next_id: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

/// A registered socket: its id, its message queue and the token that closes it.
pub struct Registration {
    /// Socket id (a newer login replaces an older socket of the same agent).
    pub id: u64,
    /// Messages to write to the socket.
    pub rx: mpsc::Receiver<Push>,
    /// Cancelled when the hub disconnects the socket (too slow, or replaced).
    pub kick: CancellationToken,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Registers an agent's socket; an older socket of the same agent is closed.
    pub fn register(&self, agent: &AgentId) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let kick = CancellationToken::new();
        let old = self.lock().insert(
            agent.clone(),
            Socket {
                id,
                tx,
                kick: kick.clone(),
            },
        );
        if let Some(old) = old {
            old.kick.cancel();
        }
        Registration { id, rx, kick }
    }

    /// Removes the socket if it is still the agent's current one.
    pub fn unregister(&self, agent: &AgentId, id: u64) {
        let mut sockets = self.lock();
        if sockets.get(agent).is_some_and(|s| s.id == id) {
            sockets.remove(agent);
        }
    }

    /// Whether the agent has a socket.
    pub fn is_connected(&self, agent: &AgentId) -> bool {
        self.lock().contains_key(agent)
    }

    /// Queues a message for the agent without waiting. A full queue disconnects the socket
    /// (the client is stuck); returns whether the message was queued.
    pub fn push(
        &self,
        agent: &AgentId,
        message: ServerMessage,
        decided: Option<tokio::time::Instant>,
    ) -> bool {
        let push = Push {
            message: Arc::new(message),
            decided,
        };
        let mut sockets = self.lock();
        let Some(socket) = sockets.get(agent) else {
            return false;
        };
        match socket.tx.try_send(push) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(agent.id = %agent, "agent socket too slow, disconnecting");
                if let Some(socket) = sockets.remove(agent) {
                    socket.kick.cancel();
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                sockets.remove(agent);
                false
            }
        }
    }

    /// Sockets disconnected for being too slow, since start.
    pub fn slow_disconnects(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Connected sockets now.
    pub fn connected(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, Socket>> {
        // A panic while holding this lock cannot leave the map inconsistent (every critical
        // section is one map operation), so a poisoned lock is still usable.
        self.sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_disconnects_the_slow_socket_without_blocking() {
        let hub = Hub::new();
        let agent = AgentId::new("1001");
        let registration = hub.register(&agent);
        for _ in 0..SEND_QUEUE {
            assert!(hub.push(&agent, ServerMessage::Pong, None));
        }
        assert!(!hub.push(&agent, ServerMessage::Pong, None));
        assert!(registration.kick.is_cancelled());
        assert!(!hub.is_connected(&agent));
        assert_eq!(hub.slow_disconnects(), 1);
    }

    #[test]
    fn a_new_login_replaces_and_closes_the_old_socket() {
        let hub = Hub::new();
        let agent = AgentId::new("1001");
        let first = hub.register(&agent);
        let second = hub.register(&agent);
        assert!(first.kick.is_cancelled());
        hub.unregister(&agent, first.id);
        assert!(
            hub.is_connected(&agent),
            "the old socket's cleanup must not remove the new one"
        );
        hub.unregister(&agent, second.id);
        assert!(!hub.is_connected(&agent));
    }
}
