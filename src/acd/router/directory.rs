//! Agents and queues changed by an administrator while calls are live.

use std::collections::BTreeSet;

use super::{
    AgentIdx, AgentStatus, CallStatus, QueueIdx, Router, Timer, WaitKey, break_reason,
    first_qualifying_step,
};
use crate::acd::model::{AgentSpec, Decision, DirectoryRefused, QueueSpec};
use crate::domain::{AgentId, CallId, QueueId, Timestamp};

impl Router {
    /// Adds an agent (logged out), or changes an existing agent's queues and skills in place.
    /// An administrator edits agents while they work, so a changed agent keeps their state,
    /// their figures for today and the call they are offered or talking on: that offer
    /// stands even if they no longer qualify for it, because pulling a ringing call away
    /// would only make the caller wait longer. Queues the router does not know are ignored,
    /// as at start-up.
    ///
    /// Returns the offers the change makes possible: an available agent who now qualifies for
    /// a waiting call is offered it at once, and a call held for them as account manager that
    /// they no longer qualify for goes to normal routing (where someone else may be free).
    pub fn put_agent(&mut self, spec: AgentSpec, now: Timestamp) -> Vec<Decision> {
        let Some(&a) = self.agent_index.get(&spec.id) else {
            self.add_agent(spec);
            return Vec::new();
        };
        // Out of every index under the old spec (an available key's strategy figure may come
        // from the old skills), then back in under the new one.
        self.remove_from_available(a);
        self.count_in_queues(a, false);
        self.agents[a].serves = self.serves_for(&spec);
        self.agents[a].spec = spec;
        self.count_in_queues(a, true);
        let held: Vec<CallId> = self.agents[a].held.iter().map(|key| key.3).collect();
        let mut decisions = Vec::new();
        for call in held {
            let eligible = self
                .calls
                .get(&call)
                .is_some_and(|c| self.qualifies(a, c.queue));
            if !eligible {
                decisions.extend(self.release_held(call, now));
            }
        }
        if let AgentStatus::Available { since } = self.agents[a].status {
            match self.best_call_for(a) {
                Some(call) => decisions.push(self.reserve(a, call, now)),
                // Their place among idle agents is kept: they have been idle since then.
                None => self.insert_available(a, since),
            }
        }
        decisions
    }

    /// Removes an agent. Only a logged-out agent can go, so that nobody is pulled out of a
    /// call or an offer (and a logged-out agent holds no calls: logging out released them).
    /// The same id can be added again later, as a new agent.
    ///
    /// # Errors
    /// The agent is unknown or logged in.
    pub fn remove_agent(&mut self, agent: &AgentId) -> Result<(), DirectoryRefused> {
        let &a = self
            .agent_index
            .get(agent)
            .ok_or_else(|| DirectoryRefused::UnknownAgent(agent.clone()))?;
        if self.agents[a].status != AgentStatus::LoggedOut {
            return Err(DirectoryRefused::AgentLoggedIn(agent.clone()));
        }
        // Logged out: in no available set, in no queue's counts, holding no call; only the
        // index is left to undo.
        self.agent_index.remove(agent);
        let entry = &mut self.agents[a];
        entry.serves.clear();
        entry.removed = true;
        Ok(())
    }

    /// Adds a queue, or changes an existing queue's strategy, priority, steps, max wait and
    /// overflow while calls wait in it. A new queue starts with nobody serving it: agents
    /// join it through [`Router::put_agent`]. The spec must be valid as configuration
    /// requires (at least one step, the first at zero, in increasing time).
    ///
    /// In a changed queue every call keeps its enqueue time and base priority and is placed
    /// again as if the new rules had applied all along, so that an administrator's fix
    /// (looser steps, a shorter max wait) helps the callers already waiting. Returns what
    /// that decides at once: offers to agents who now qualify, and overflows of calls past
    /// the new max wait (a call being offered finishes its offer first, as at its max-wait
    /// timer).
    pub fn put_queue(&mut self, spec: QueueSpec, now: Timestamp) -> Vec<Decision> {
        let Some(&q) = self.queue_index.get(&spec.id) else {
            self.add_queue(spec);
            return Vec::new();
        };
        // Every waiting call and available agent leaves this queue's sets, which are made
        // again for the new steps; the agents go back with the new strategy figure.
        let steps = spec.steps.len();
        let queue = &mut self.queues[q];
        queue.waiting = vec![BTreeSet::new(); steps];
        queue.available = vec![BTreeSet::new(); steps];
        queue.spec = spec;
        self.requalify_agents(q);
        let mut to_place = self.rekey_calls(q, now);
        to_place.sort_unstable();
        let max_wait = self.queues[q].spec.max_wait;
        let mut decisions = Vec::new();
        for (_, enqueued_at, _, call) in to_place {
            if self.overflow_due(call, now) {
                decisions.extend(self.overflow_out_of_line(call));
            } else {
                let step = self.step_at(q, now.since(enqueued_at));
                decisions.extend(self.place_waiting(call, step, now));
            }
        }
        // The old max-wait timers check the current spec when they fire, so they are
        // harmless; a shorter max wait needs a timer of its own.
        let in_queue: Vec<(Timestamp, CallId)> = self.queues[q].by_age.iter().copied().collect();
        for (enqueued_at, call) in in_queue {
            self.add_timer(enqueued_at.plus(max_wait), Timer::MaxWait(call));
        }
        decisions
    }

    /// After queue `q`'s steps or strategy changed: each agent serving it gets their first
    /// qualifying step again, and the available ones go back into its available sets.
    fn requalify_agents(&mut self, q: QueueIdx) {
        for a in 0..self.agents.len() {
            let Some(i) = self.agents[a].serves.iter().position(|&(sq, _)| sq == q) else {
                continue;
            };
            let first = first_qualifying_step(&self.queues[q].spec, &self.agents[a].spec);
            self.agents[a].serves[i].1 = first;
            if let (AgentStatus::Available { since }, Some(step)) = (&self.agents[a].status, first)
            {
                let key = (self.strategy_figure(a, q), *since, a);
                self.queues[q].available[step].insert(key);
            }
        }
    }

    /// After queue `q`'s priority or rules changed: every call in it gets its new key (the
    /// queue priority is part of it; an offered call keeps its key for when it is requeued).
    /// Returns the keys of the calls to place again: those that were waiting (already out of
    /// the old waiting sets), and those held for a manager who no longer qualifies for the
    /// queue or past the new max wait. The others stay held under their new key.
    fn rekey_calls(&mut self, q: QueueIdx, now: Timestamp) -> Vec<WaitKey> {
        let max_wait = self.queues[q].spec.max_wait;
        let calls: Vec<CallId> = self.queues[q].by_age.iter().map(|&(_, c)| c).collect();
        let mut to_place = Vec::new();
        for call in calls {
            let Some(entry) = self.calls.get(&call) else {
                continue;
            };
            let (old, status) = (entry.key, entry.status);
            let key = self.wait_key(&entry.spec, q, old.2);
            let past_max_wait = now >= entry.spec.enqueued_at.plus(max_wait);
            if let Some(entry) = self.calls.get_mut(&call) {
                entry.key = key;
            }
            match status {
                CallStatus::Waiting { .. } => to_place.push(key),
                CallStatus::HeldForManager { manager } => {
                    self.agents[manager].held.remove(&old);
                    if self.qualifies(manager, q) && !past_max_wait {
                        self.agents[manager].held.insert(key);
                    } else {
                        to_place.push(key);
                    }
                }
                CallStatus::Offered { .. } => {}
            }
        }
        to_place
    }

    /// Removes a queue nobody uses any more. Queue indexes are held by no timer or key, so
    /// the queue really goes and the indexes above it move down.
    ///
    /// # Errors
    /// The queue is unknown, calls are in it (waiting, held or being offered), or agents
    /// serve it (take it out of their queues with [`Router::put_agent`] first).
    pub fn remove_queue(&mut self, queue: &QueueId) -> Result<(), DirectoryRefused> {
        let &q = self
            .queue_index
            .get(queue)
            .ok_or_else(|| DirectoryRefused::UnknownQueue(queue.clone()))?;
        let calls = self.queues[q].by_age.len();
        if calls > 0 {
            return Err(DirectoryRefused::CallsInQueue {
                queue: queue.clone(),
                calls,
            });
        }
        let agents = self
            .agents
            .iter()
            .filter(|a| a.serves.iter().any(|&(sq, _)| sq == q))
            .count();
        if agents > 0 {
            return Err(DirectoryRefused::QueueServed {
                queue: queue.clone(),
                agents,
            });
        }
        self.queues.remove(q);
        self.queue_index.remove(queue);
        let shift = |idx: &mut QueueIdx| {
            if *idx > q {
                *idx -= 1;
            }
        };
        self.queue_index.values_mut().for_each(shift);
        for agent in &mut self.agents {
            agent.serves.iter_mut().for_each(|(sq, _)| shift(sq));
        }
        for call in self.calls.values_mut() {
            shift(&mut call.queue);
        }
        Ok(())
    }

    /// Counts agent `a` into (or out of) their queues' logged-in and on-break figures, as
    /// their state says.
    fn count_in_queues(&mut self, a: AgentIdx, present: bool) {
        let status = &self.agents[a].status;
        let (logged_in, on_break) = (
            *status != AgentStatus::LoggedOut,
            break_reason(status).is_some(),
        );
        for i in 0..self.agents[a].serves.len() {
            let queue = &mut self.queues[self.agents[a].serves[i].0];
            for (count, applies) in [
                (&mut queue.logged_in, logged_in),
                (&mut queue.on_break, on_break),
            ] {
                if applies {
                    *count = if present {
                        *count + 1
                    } else {
                        count.saturating_sub(1)
                    };
                }
            }
        }
    }
}
