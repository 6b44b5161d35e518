//! The published view of queues and agents: rebuilt from the router and the live figures
//! when something changed (at most every 200 ms), read lock-free by `/api/queues`, the
//! wallboard and `/metrics`.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::Engine;
use crate::call::Phase;
use crate::clock;
use crate::domain::Timestamp;
use crate::domain::{QueueId, TierId};
use crate::gateway::protocol::AgentState;
use crate::recorder::stats::{Figure, Percentiles};
use crate::telemetry::label;

/// One queue's live figures, as `/api/queues` serves them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueueFigures {
    /// Queue name.
    pub name: String,
    /// Calls waiting now (being offered included).
    pub waiting: usize,
    /// Of those, callbacks: the customer is not on the line and will be called back.
    pub callbacks: usize,
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
    /// Agents serving the queue, by state (every state named, zeros included).
    #[schema(value_type = Object)]
    pub agents_by_state: BTreeMap<&'static str, u32>,
    /// Per tier with calls today or waiting now, in configuration order.
    pub tiers: Vec<TierFigures>,
    /// A tier's SL today is below its target, or its oldest waiting call is past the
    /// tier's threshold.
    pub sla_at_risk: bool,
}

/// One tier's live figures within a queue.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TierFigures {
    /// Tier name.
    pub tier: String,
    /// Calls of this tier waiting now (being offered included).
    pub waiting: usize,
    /// Longest current wait of this tier, ms.
    pub longest_wait_ms: i64,
    /// Calls enqueued today.
    pub offered: u64,
    /// Answered today.
    pub answered: u64,
    /// Abandoned today (short abandons included).
    pub abandoned: u64,
    /// Service level today against the tier's threshold.
    pub service_level: Option<f64>,
    /// The tier's SL target.
    pub sla_target: f64,
    /// The tier's threshold T, ms.
    pub sla_threshold_ms: i64,
    /// Average speed of answer today, ms.
    pub asa_ms: Option<f64>,
    /// Abandon rate today.
    pub abandon_rate: Option<f64>,
    /// SL below target, or the oldest waiting call past T.
    pub at_risk: bool,
}

/// One agent's row in the supervisor views.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AgentRow {
    /// Agent id.
    pub agent: String,
    /// State.
    pub state: AgentState,
    /// Calls handled today.
    pub calls_today: i64,
}

/// Everything the live views show.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// When it was built.
    #[schema(value_type = i64)]
    pub at: Timestamp,
    /// Per queue.
    pub queues: Vec<QueueFigures>,
    /// Per agent.
    pub agents: Vec<AgentRow>,
    /// Calls kefu tracks now (IVR, queued, talking, wrap-up).
    pub calls_in_progress: usize,
}

/// Every agent state, in `AgentState as usize` order.
const ALL_STATES: [AgentState; 7] = [
    AgentState::LoggedOut,
    AgentState::Available,
    AgentState::Break,
    AgentState::Offered,
    AgentState::Talking,
    AgentState::WrapUp,
    AgentState::NotReady,
];

impl Engine {
    /// Rebuilds the snapshot when something changed, and at least every second while calls
    /// are in progress (waits grow and SLA risk turns without any event).
    pub(super) fn publish_if_dirty(&mut self) {
        let stale = !self.sessions.is_empty()
            && self.published_at.elapsed() >= std::time::Duration::from_secs(1);
        if !self.dirty && !stale {
            return;
        }
        self.dirty = false;
        self.published_at = clock::monotonic();
        let now = clock::now();
        self.live.roll_day(super::day_of(now));
        let day_start = Timestamp::from_millis(super::day_of(now) * 86_400_000);
        let waiting = self.waiting_by_tier(now);
        let callbacks = self.callbacks_by_queue();
        let agent_counts = self.router.agents_by_state();
        let queues: Vec<QueueFigures> = self
            .router
            .queue_views()
            .into_iter()
            .zip(agent_counts)
            .map(|(view, counts)| {
                let c = self.live.queue(&view.queue);
                let tiers = self.tier_figures(&view.queue, &waiting);
                QueueFigures {
                    name: view.queue.to_string(),
                    waiting: view.waiting,
                    callbacks: callbacks.get(&view.queue).copied().unwrap_or(0),
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
                    agents_by_state: ALL_STATES
                        .iter()
                        .map(|s| (s.as_str(), counts[*s as usize]))
                        .collect(),
                    sla_at_risk: tiers.iter().any(|t| t.at_risk),
                    tiers,
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

    /// Calls waiting now per queue and tier: (count, longest wait in ms).
    fn waiting_by_tier(&self, now: Timestamp) -> HashMap<(QueueId, TierId), (usize, i64)> {
        let mut waiting: HashMap<(QueueId, TierId), (usize, i64)> = HashMap::new();
        for session in self.sessions.values() {
            let (Phase::Queued | Phase::Offered { .. }, Some(queue), Some(enqueued)) =
                (&session.phase, &session.queue, session.enqueued_at())
            else {
                continue;
            };
            let entry = waiting
                .entry((queue.clone(), session.tier.clone()))
                .or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(now.since(enqueued).as_millis() as i64);
        }
        waiting
    }

    /// Callbacks waiting (or being offered) per queue.
    fn callbacks_by_queue(&self) -> HashMap<QueueId, usize> {
        let mut callbacks = HashMap::new();
        for session in self.sessions.values().filter(|s| s.callback.is_some()) {
            if let (Phase::Queued | Phase::Offered { .. }, Some(queue)) =
                (&session.phase, &session.queue)
            {
                *callbacks.entry(queue.clone()).or_default() += 1;
            }
        }
        callbacks
    }

    /// The tiers of one queue with calls today or waiting now.
    fn tier_figures(
        &self,
        queue: &QueueId,
        waiting: &HashMap<(QueueId, TierId), (usize, i64)>,
    ) -> Vec<TierFigures> {
        self.settings
            .sla_targets
            .iter()
            .filter_map(|(tier, target)| {
                let c = self.live.queue_tier(queue, tier);
                let (waiting, longest_wait_ms) = waiting
                    .get(&(queue.clone(), tier.clone()))
                    .copied()
                    .unwrap_or_default();
                if c.offered == 0 && waiting == 0 {
                    return None;
                }
                let threshold = self.tier_rule(tier, queue).threshold;
                let threshold_ms = threshold.as_millis() as i64;
                let service_level = c.service_level();
                Some(TierFigures {
                    tier: tier.to_string(),
                    waiting,
                    longest_wait_ms,
                    offered: c.offered,
                    answered: c.answered,
                    abandoned: c.abandoned,
                    service_level,
                    sla_target: *target,
                    sla_threshold_ms: threshold_ms,
                    asa_ms: c.asa_ms(),
                    abandon_rate: c.abandon_rate(),
                    at_risk: service_level.is_some_and(|sl| sl < *target)
                        || longest_wait_ms > threshold_ms,
                })
            })
            .collect()
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
        for state in ALL_STATES {
            metrics
                .agents
                .get_or_create(&label("state", state.as_str()))
                .set(by_state.get(&state).copied().unwrap_or(0));
        }
    }
}
