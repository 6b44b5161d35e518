//! The published view of queues and agents: rebuilt from the router and the live figures
//! when something changed (at most every 200 ms), read lock-free by `/api/queues`, the
//! wallboard and `/metrics`.

use serde::Serialize;

use super::Engine;
use crate::clock;
use crate::domain::Timestamp;
use crate::gateway::protocol::AgentState;
use crate::recorder::stats::{Figure, Percentiles};
use crate::telemetry::label;

/// One queue's live figures, as `/api/queues` serves them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueueFigures {
    /// Queue name.
    pub name: String,
    /// Calls waiting now (being offered included).
    pub waiting: usize,
    /// Longest current wait, ms.
    pub longest_wait_ms: i64,
    /// Agents available in the queue now.
    pub agents_available: usize,
    /// Agents logged into the queue.
    pub agents_logged_in: u32,
    /// Calls enqueued today.
    pub offered: u64,
    /// Answered today.
    pub answered: u64,
    /// Abandoned today (short abandons included).
    pub abandoned: u64,
    /// Short abandons today.
    pub short_abandons: u64,
    /// Overflowed today.
    pub overflowed: u64,
    /// Service level today, 0..=1 (None before any call is resolved).
    pub service_level: Option<f64>,
    /// Average speed of answer today, ms.
    pub asa_ms: Option<f64>,
    /// Abandon rate today, 0..=1.
    pub abandon_rate: Option<f64>,
    /// Wait of the calls answered today (HdrHistogram), ms; `None` before the first.
    pub answered_wait_ms: Option<Percentiles>,
}

/// One agent's row in the supervisor views.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentRow {
    /// Agent id.
    pub agent: String,
    /// State.
    pub state: AgentState,
    /// Calls handled today.
    pub calls_today: i64,
}

/// Everything the live views show.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// When it was built.
    pub at: Timestamp,
    /// Per queue.
    pub queues: Vec<QueueFigures>,
    /// Per agent.
    pub agents: Vec<AgentRow>,
    /// Calls kefu tracks now (IVR, queued, talking, wrap-up).
    pub calls_in_progress: usize,
}

impl Engine {
    pub(super) fn publish_if_dirty(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let now = clock::now();
        self.live.roll_day(super::day_of(now));
        let day_start = Timestamp::from_millis(super::day_of(now) * 86_400_000);
        let queues: Vec<QueueFigures> = self
            .router
            .queue_views()
            .into_iter()
            .map(|view| {
                let c = self.live.queue(&view.queue);
                QueueFigures {
                    name: view.queue.to_string(),
                    waiting: view.waiting,
                    longest_wait_ms: view
                        .oldest_enqueued_at
                        .map(|t| now.since(t).as_millis() as i64)
                        .unwrap_or(0),
                    agents_available: view.agents_available,
                    agents_logged_in: view.agents_logged_in,
                    offered: c.offered,
                    answered: c.answered,
                    abandoned: c.abandoned,
                    short_abandons: c.short_abandons,
                    overflowed: c.overflowed,
                    service_level: c.service_level(),
                    asa_ms: c.asa_ms(),
                    abandon_rate: c.abandon_rate(),
                    answered_wait_ms: self.stats.percentiles(
                        Figure::Wait,
                        &view.queue,
                        None,
                        day_start,
                        now.plus(std::time::Duration::from_secs(1)),
                    ),
                }
            })
            .collect();
        let agents: Vec<AgentRow> = self
            .router
            .agent_views()
            .into_iter()
            .map(|a| AgentRow {
                agent: a.agent.to_string(),
                state: a.state,
                calls_today: a.calls_today,
            })
            .collect();
        self.update_gauges(&queues, &agents);
        let snapshot = Snapshot {
            at: now,
            queues,
            agents,
            calls_in_progress: self.sessions.len(),
        };
        self.snapshot.store(std::sync::Arc::new(snapshot));
    }

    fn update_gauges(&self, queues: &[QueueFigures], agents: &[AgentRow]) {
        let metrics = &self.ports.metrics;
        for q in queues {
            metrics
                .waiting
                .get_or_create(&label("queue", q.name.clone()))
                .set(q.waiting as i64);
        }
        let mut by_state = std::collections::HashMap::new();
        for a in agents {
            *by_state.entry(a.state).or_insert(0i64) += 1;
        }
        for state in [
            AgentState::LoggedOut,
            AgentState::Available,
            AgentState::Break,
            AgentState::Offered,
            AgentState::Talking,
            AgentState::WrapUp,
            AgentState::NotReady,
        ] {
            let name = serde_json::to_value(state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            metrics
                .agents
                .get_or_create(&label("state", name))
                .set(by_state.get(&state).copied().unwrap_or(0));
        }
    }
}
