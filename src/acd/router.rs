//! The router: agents, waiting calls, their indexes and timers. Pure.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::model::{
    ActionRefused, AgentSpec, CallSpec, Decision, OfferEnd, Overflow, QueueSpec, RouterSettings,
};
use crate::config::Strategy;
use crate::domain::AgentState;
use crate::domain::{AgentId, CallId, QueueId, Timestamp};
use crate::recorder::AgentStateSpan;

type QueueIdx = usize;
type AgentIdx = usize;

/// Order of waiting calls: smaller is served first. `Reverse(priority_key)` puts higher
/// priority first; then earlier enqueue; then arrival order. The call rides along.
///
/// Effective priority at time t = priority + aging·(t − enqueued). Scaled by 60 000 (ms per
/// minute): 60 000·priority − aging·enqueued_ms + aging·t. The last term is the same for
/// every call, so `priority_key = 60 000·priority − aging·enqueued_ms` orders calls exactly
/// as their effective priority does, at any t.
type WaitKey = (Reverse<i64>, Timestamp, u64, CallId);

/// Order of available agents for a queue: smaller is picked first.
/// (strategy figure, idle since, index).
type AgentKey = (i64, Timestamp, AgentIdx);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    StepUp(CallId, usize),
    ManagerWindowEnd(CallId),
    MaxWait(CallId),
    /// The offer of the call to the agent made at this offer sequence number: a later offer
    /// of the same call to the same agent has its own timer.
    OfferExpiry(CallId, AgentIdx, u64),
    NotReadyEnd(AgentIdx),
    WrapUpEnd(AgentIdx, CallId),
}

struct QueueState {
    spec: QueueSpec,
    /// Waiting calls per relaxation step.
    waiting: Vec<BTreeSet<WaitKey>>,
    /// Available agents, by the first step whose requirements they meet.
    available: Vec<BTreeSet<AgentKey>>,
    /// Every call in the queue (waiting, offered, held for a manager), by enqueue time.
    by_age: BTreeSet<(Timestamp, CallId)>,
    logged_in: u32,
    /// Of those logged in, how many are on a break (not serving: EWT leaves them out).
    on_break: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum AgentStatus {
    LoggedOut,
    Available { since: Timestamp },
    Break { reason: String },
    Offered { call: CallId },
    Talking { call: CallId },
    WrapUp { call: CallId },
    NotReady { until: Option<Timestamp> },
}

struct AgentEntry {
    spec: AgentSpec,
    /// For each served queue: (queue, first step this agent qualifies at, strategy figure).
    serves: Vec<(QueueIdx, Option<usize>)>,
    status: AgentStatus,
    /// When the current public state began.
    status_since: Timestamp,
    calls_today: i64,
    talk_today_ms: i64,
    last_offer_seq: u64,
    /// Key-customer calls held for this agent, oldest first.
    held: BTreeSet<WaitKey>,
    /// Removed by an administrator. The slot stays as a tombstone, because timers and
    /// available keys name agents by index and an index must never come to mean another
    /// agent; it is out of `agent_index`, serves nothing and is left out of every view.
    removed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallStatus {
    Waiting { step: usize },
    HeldForManager { manager: AgentIdx },
    Offered { agent: AgentIdx },
}

struct CallEntry {
    spec: CallSpec,
    queue: QueueIdx,
    key: WaitKey,
    status: CallStatus,
}

/// A queue's live figures, for the supervisor views and IVR branches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueView {
    /// The queue.
    pub queue: QueueId,
    /// Calls in the queue not yet answered (including those being offered).
    pub waiting: usize,
    /// Enqueue time of the oldest of them.
    pub oldest_enqueued_at: Option<Timestamp>,
    /// Agents logged into the queue and available.
    pub agents_available: usize,
    /// Agents logged into the queue.
    pub agents_logged_in: u32,
    /// Of them, those not on a break: the N of the estimated wait.
    pub agents_serving: u32,
}

/// An agent's live state, for supervisor views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentView {
    /// The agent.
    pub agent: AgentId,
    /// State.
    pub state: AgentState,
    /// The call they are on or offered, if any.
    pub call: Option<CallId>,
    /// Calls handled today.
    pub calls_today: i64,
}

/// The routing core. One instance, owned by the engine.
pub struct Router {
    settings: RouterSettings,
    queues: Vec<QueueState>,
    queue_index: HashMap<QueueId, QueueIdx>,
    agents: Vec<AgentEntry>,
    agent_index: HashMap<AgentId, AgentIdx>,
    calls: HashMap<CallId, CallEntry>,
    timers: BTreeSet<(Timestamp, u64, Timer)>,
    seq: u64,
    /// Agents' finished state spans, for the recorder to take.
    spans: Vec<AgentStateSpan>,
}

impl Router {
    /// A router for these queues and agents; every agent starts logged out.
    pub fn new(settings: RouterSettings, queues: Vec<QueueSpec>, agents: Vec<AgentSpec>) -> Router {
        let mut router = Router {
            settings,
            queues: Vec::new(),
            queue_index: HashMap::new(),
            agents: Vec::new(),
            agent_index: HashMap::new(),
            calls: HashMap::new(),
            timers: BTreeSet::new(),
            seq: 0,
            spans: Vec::new(),
        };
        for queue in queues {
            router.add_queue(queue);
        }
        for agent in agents {
            router.add_agent(agent);
        }
        router
    }

    fn add_queue(&mut self, spec: QueueSpec) {
        self.queue_index.insert(spec.id.clone(), self.queues.len());
        self.queues.push(QueueState {
            waiting: vec![BTreeSet::new(); spec.steps.len()],
            available: vec![BTreeSet::new(); spec.steps.len()],
            by_age: BTreeSet::new(),
            logged_in: 0,
            on_break: 0,
            spec,
        });
    }

    fn add_agent(&mut self, spec: AgentSpec) {
        let serves = self.serves_for(&spec);
        let idx = self.agents.len();
        self.agent_index.insert(spec.id.clone(), idx);
        self.agents.push(AgentEntry {
            spec,
            serves,
            status: AgentStatus::LoggedOut,
            status_since: Timestamp::default(),
            calls_today: 0,
            talk_today_ms: 0,
            last_offer_seq: 0,
            held: BTreeSet::new(),
            removed: false,
        });
    }

    /// The queues `spec` names that the router knows, each once (a queue named twice must
    /// not count the agent twice), with the first step the agent qualifies at.
    fn serves_for(&self, spec: &AgentSpec) -> Vec<(QueueIdx, Option<usize>)> {
        let mut serves: Vec<(QueueIdx, Option<usize>)> = Vec::new();
        for &q in spec.queues.iter().filter_map(|q| self.queue_index.get(q)) {
            if serves.iter().all(|&(seen, _)| seen != q) {
                serves.push((q, first_qualifying_step(&self.queues[q].spec, spec)));
            }
        }
        serves
    }

    /// Whether agent `a` serves queue `q` and meets one of its steps.
    fn qualifies(&self, a: AgentIdx, q: QueueIdx) -> bool {
        self.agents[a]
            .serves
            .iter()
            .any(|&(sq, first)| sq == q && first.is_some())
    }

    /// Whether the agent is known.
    pub fn has_agent(&self, agent: &AgentId) -> bool {
        self.agent_index.contains_key(agent)
    }

    // ---- agents -------------------------------------------------------------------------

    /// The agent logs in: not ready until they ask to be available.
    pub fn login(&mut self, agent: &AgentId, now: Timestamp) {
        let Some(&a) = self.agent_index.get(agent) else {
            return;
        };
        if self.agents[a].status == AgentStatus::LoggedOut {
            self.set_logged_in(a, true);
            self.set_status(a, AgentStatus::NotReady { until: None }, now);
        }
    }

    /// The agent asks to be available: returns an offer if a call waits for them.
    pub fn make_available(&mut self, agent: &AgentId, now: Timestamp) -> Vec<Decision> {
        let Some(&a) = self.agent_index.get(agent) else {
            return Vec::new();
        };
        match self.agents[a].status {
            AgentStatus::LoggedOut => {
                self.set_logged_in(a, true);
                self.become_available(a, now)
            }
            AgentStatus::Break { .. }
            | AgentStatus::NotReady { .. }
            | AgentStatus::WrapUp { .. } => self.become_available(a, now),
            AgentStatus::Available { .. }
            | AgentStatus::Offered { .. }
            | AgentStatus::Talking { .. } => Vec::new(),
        }
    }

    /// The agent takes a break. Refused (None) while they hold or handle a call. Calls held
    /// for them as account manager are not kept waiting for someone on a break: they go to
    /// normal routing, and the offers that makes are returned.
    pub fn take_break(
        &mut self,
        agent: &AgentId,
        reason: String,
        now: Timestamp,
    ) -> Option<Vec<Decision>> {
        self.leave_service(agent, AgentStatus::Break { reason }, now)
    }

    /// The agent logs out (or their session is gone). Refused (None) while they handle a
    /// call. Calls held for them go to normal routing, as for a break.
    pub fn logout(&mut self, agent: &AgentId, now: Timestamp) -> Option<Vec<Decision>> {
        let &a = self.agent_index.get(agent)?;
        let was_logged_in = self.agents[a].status != AgentStatus::LoggedOut;
        let released = self.leave_service(agent, AgentStatus::LoggedOut, now)?;
        // Logging out twice must not count the agent out of their queues twice.
        if was_logged_in {
            self.set_logged_in(a, false);
        }
        Some(released)
    }

    fn leave_service(
        &mut self,
        agent: &AgentId,
        to: AgentStatus,
        now: Timestamp,
    ) -> Option<Vec<Decision>> {
        let &a = self.agent_index.get(agent)?;
        match self.agents[a].status {
            AgentStatus::Offered { .. } | AgentStatus::Talking { .. } => None,
            AgentStatus::LoggedOut if to != AgentStatus::LoggedOut => None,
            _ => {
                self.remove_from_available(a);
                self.set_status(a, to, now);
                let held: Vec<CallId> = self.agents[a].held.iter().map(|key| key.3).collect();
                Some(
                    held.into_iter()
                        .flat_map(|call| self.release_held(call, now))
                        .collect(),
                )
            }
        }
    }

    /// The bridge ended: the agent goes to wrap-up until a disposition or the timer.
    pub fn call_ended(&mut self, agent: &AgentId, call: CallId, talk: Duration, now: Timestamp) {
        let Some(&a) = self.agent_index.get(agent) else {
            return;
        };
        if self.agents[a].status == (AgentStatus::Talking { call }) {
            self.set_status(a, AgentStatus::WrapUp { call }, now);
            self.agents[a].talk_today_ms += i64::try_from(talk.as_millis()).unwrap_or(i64::MAX);
            self.add_timer(now.plus(self.settings.wrap_up), Timer::WrapUpEnd(a, call));
        }
    }

    /// Wrap-up is over (disposition sent or timer): the agent is available again.
    pub fn wrap_up_done(&mut self, agent: &AgentId, call: CallId, now: Timestamp) -> Vec<Decision> {
        let Some(&a) = self.agent_index.get(agent) else {
            return Vec::new();
        };
        if self.agents[a].status != (AgentStatus::WrapUp { call }) {
            return Vec::new();
        }
        self.become_available(a, now)
    }

    fn become_available(&mut self, a: AgentIdx, now: Timestamp) -> Vec<Decision> {
        self.set_status(a, AgentStatus::Available { since: now }, now);
        if let Some(call) = self.best_call_for(a) {
            return vec![self.reserve(a, call, now)];
        }
        self.insert_available(a, now);
        Vec::new()
    }

    // ---- calls --------------------------------------------------------------------------

    /// A call enters a queue. Unknown queue or a queue with nobody logged in: overflow.
    ///
    /// A key customer's account manager gets the call first (PRODUCT.md, routing rule 3): at
    /// once if they are available; if they are logged in but busy (offered, talking, wrapping
    /// up, not ready) the call is held for them for `account_manager_first`, since they will
    /// be free soon. A manager on a break or logged out is not waited for: holding the call
    /// would only keep the caller waiting for nobody, so it routes normally at once.
    pub fn enqueue(&mut self, spec: CallSpec, now: Timestamp) -> Vec<Decision> {
        let Some(&q) = self.queue_index.get(&spec.queue) else {
            return vec![Decision::Overflow {
                call: spec.call,
                queue: spec.queue,
                action: Overflow::Message(String::new()),
            }];
        };
        if self.queues[q].logged_in == 0 && !spec.callback {
            let action = self.queues[q].spec.overflow.clone();
            return vec![Decision::Overflow {
                call: spec.call,
                queue: spec.queue,
                action,
            }];
        }
        self.seq += 1;
        let call = spec.call;
        let key = self.wait_key(&spec, q, self.seq);
        // The account manager goes first only where they could take the call at all (they
        // serve the queue and meet one of its steps) and only while they are at work;
        // otherwise the call routes normally.
        let manager = spec
            .account_manager
            .as_ref()
            .and_then(|m| self.agent_index.get(m).copied())
            .filter(|&m| self.qualifies(m, q))
            .filter(|&m| {
                !matches!(
                    self.agents[m].status,
                    AgentStatus::LoggedOut | AgentStatus::Break { .. }
                )
            });
        let max_wait_at =
            (!spec.callback).then(|| spec.enqueued_at.plus(self.queues[q].spec.max_wait));
        self.queues[q].by_age.insert((spec.enqueued_at, call));
        let step = self.step_at(q, now.since(spec.enqueued_at));
        self.calls.insert(
            call,
            CallEntry {
                spec,
                queue: q,
                key,
                status: CallStatus::Waiting { step },
            },
        );
        if let Some(at) = max_wait_at {
            self.add_timer(at, Timer::MaxWait(call));
        }
        if let Some(m) = manager.filter(|_| !self.settings.account_manager_first.is_zero()) {
            if matches!(self.agents[m].status, AgentStatus::Available { .. }) {
                self.remove_from_available(m);
                return vec![self.reserve(m, call, now)];
            }
            self.hold_for_manager(call, m, now);
            return Vec::new();
        }
        self.place_waiting(call, step, now)
    }

    /// The call's place among the waiting calls of queue `q` (see [`WaitKey`]); `seq` keeps
    /// arrival order among equals.
    fn wait_key(&self, spec: &CallSpec, q: QueueIdx, seq: u64) -> WaitKey {
        let priority = i64::from(spec.priority) + i64::from(self.queues[q].spec.priority);
        let aging = i64::from(self.settings.aging_per_minute);
        (
            Reverse(priority * 60_000 - aging * spec.enqueued_at.as_millis()),
            spec.enqueued_at,
            seq,
            spec.call,
        )
    }

    // ---- supervisor actions -------------------------------------------------------------

    /// A supervisor moves a waiting call to another queue. It keeps its enqueue time and
    /// priority (its place by age and rank); the new queue's steps apply from the time it
    /// has waited, and it is offered at once if an agent there is free.
    ///
    /// # Errors
    /// The call is not waiting or is ringing an agent; the queue is unknown or nobody is
    /// logged into it.
    pub fn move_call(
        &mut self,
        call: CallId,
        to: &QueueId,
        now: Timestamp,
    ) -> Result<Vec<Decision>, ActionRefused> {
        let &to_q = self
            .queue_index
            .get(to)
            .ok_or_else(|| ActionRefused::UnknownQueue(to.clone()))?;
        if self.queues[to_q].logged_in == 0 {
            return Err(ActionRefused::NobodyServes(to.clone()));
        }
        self.take_out_of_line(call)?;
        let Some(entry) = self.calls.get_mut(&call) else {
            return Err(ActionRefused::NotWaiting);
        };
        entry.queue = to_q;
        entry.spec.queue = to.clone();
        let (spec, seq) = (entry.spec.clone(), entry.key.2);
        let key = self.wait_key(&spec, to_q, seq);
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.key = key;
        }
        self.queues[to_q].by_age.insert((spec.enqueued_at, call));
        if !spec.callback {
            let max_wait_at = spec.enqueued_at.plus(self.queues[to_q].spec.max_wait);
            self.add_timer(max_wait_at, Timer::MaxWait(call));
        }
        let step = self.step_at(to_q, now.since(spec.enqueued_at));
        Ok(self.place_waiting(call, step, now))
    }

    /// A supervisor sets a waiting call's priority (its base, before the queue's and aging).
    ///
    /// # Errors
    /// The call is not waiting or is ringing an agent.
    pub fn set_priority(
        &mut self,
        call: CallId,
        priority: i32,
        now: Timestamp,
    ) -> Result<Vec<Decision>, ActionRefused> {
        self.take_out_of_line(call)?;
        let Some(entry) = self.calls.get_mut(&call) else {
            return Err(ActionRefused::NotWaiting);
        };
        entry.spec.priority = priority;
        let (spec, q, seq) = (entry.spec.clone(), entry.queue, entry.key.2);
        let key = self.wait_key(&spec, q, seq);
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.key = key;
        }
        self.queues[q].by_age.insert((spec.enqueued_at, call));
        let step = self.step_at(q, now.since(spec.enqueued_at));
        Ok(self.place_waiting(call, step, now))
    }

    /// Takes a waiting call out of line (its waiting set or its manager's hold, and its
    /// queue's `by_age`), keeping it in `calls`, for a supervisor action to place it again.
    fn take_out_of_line(&mut self, call: CallId) -> Result<(), ActionRefused> {
        let entry = self.calls.get(&call).ok_or(ActionRefused::NotWaiting)?;
        let (q, key, status) = (entry.queue, entry.key, entry.status);
        let enqueued_at = entry.spec.enqueued_at;
        if let CallStatus::Offered { .. } = status {
            return Err(ActionRefused::BeingOffered);
        }
        self.unlist(q, key, status);
        self.queues[q].by_age.remove(&(enqueued_at, call));
        Ok(())
    }

    fn hold_for_manager(&mut self, call: CallId, m: AgentIdx, now: Timestamp) {
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        entry.status = CallStatus::HeldForManager { manager: m };
        self.agents[m].held.insert(entry.key);
        let until = now.plus(self.settings.account_manager_first);
        self.add_timer(until, Timer::ManagerWindowEnd(call));
    }

    /// Puts a call into its step's waiting set, schedules its next step, and offers it at
    /// once if an eligible agent is available.
    fn place_waiting(&mut self, call: CallId, step: usize, now: Timestamp) -> Vec<Decision> {
        let Some(entry) = self.calls.get_mut(&call) else {
            return Vec::new();
        };
        let q = entry.queue;
        entry.status = CallStatus::Waiting { step };
        let (key, enqueued_at) = (entry.key, entry.spec.enqueued_at);
        if let Some(next) = self.queues[q].spec.steps.get(step + 1) {
            let at = enqueued_at.plus(next.after);
            self.add_timer(at, Timer::StepUp(call, step + 1));
        }
        if let Some(a) = self.best_agent_for(q, step) {
            self.remove_from_available(a);
            return vec![self.reserve(a, call, now)];
        }
        self.queues[q].waiting[step].insert(key);
        Vec::new()
    }

    /// The agent answered and the legs are bridged: the call leaves the queue.
    pub fn offer_answered(&mut self, call: CallId, now: Timestamp) {
        let Some(entry) = self.calls.remove(&call) else {
            return;
        };
        self.queues[entry.queue]
            .by_age
            .remove(&(entry.spec.enqueued_at, call));
        if let CallStatus::Offered { agent } = entry.status {
            self.set_status(agent, AgentStatus::Talking { call }, now);
            self.agents[agent].calls_today += 1;
        }
    }

    /// The offer failed: the agent goes not ready, the call keeps its place and may be
    /// offered to someone else at once.
    pub fn offer_failed(&mut self, call: CallId, _end: OfferEnd, now: Timestamp) -> Vec<Decision> {
        let Some(entry) = self.calls.get(&call) else {
            return Vec::new();
        };
        let CallStatus::Offered { agent } = entry.status else {
            return Vec::new();
        };
        let until = now.plus(self.settings.not_ready_after_no_answer);
        self.set_status(agent, AgentStatus::NotReady { until: Some(until) }, now);
        self.add_timer(until, Timer::NotReadyEnd(agent));
        self.requeue(call, now)
    }

    fn requeue(&mut self, call: CallId, now: Timestamp) -> Vec<Decision> {
        let Some(entry) = self.calls.get(&call) else {
            return Vec::new();
        };
        let q = entry.queue;
        if self.overflow_due(call, now) {
            return self.overflow(call);
        }
        let step = self.step_at(q, now.since(entry.spec.enqueued_at));
        self.place_waiting(call, step, now)
    }

    /// The caller left (hung up, transferred): the call leaves the queue; an agent it was
    /// offered to is free again.
    pub fn remove_call(&mut self, call: CallId, now: Timestamp) -> Vec<Decision> {
        let Some(entry) = self.calls.remove(&call) else {
            return Vec::new();
        };
        let q = entry.queue;
        self.queues[q]
            .by_age
            .remove(&(entry.spec.enqueued_at, call));
        self.unlist(q, entry.key, entry.status);
        match entry.status {
            CallStatus::Offered { agent } => self.become_available(agent, now),
            CallStatus::Waiting { .. } | CallStatus::HeldForManager { .. } => Vec::new(),
        }
    }

    /// Takes a call's key out of its waiting set or its manager's hold (an offered call is
    /// in neither).
    fn unlist(&mut self, q: QueueIdx, key: WaitKey, status: CallStatus) {
        match status {
            CallStatus::Waiting { step } => {
                self.queues[q].waiting[step].remove(&key);
            }
            CallStatus::HeldForManager { manager } => {
                self.agents[manager].held.remove(&key);
            }
            CallStatus::Offered { .. } => {}
        }
    }

    fn overflow(&mut self, call: CallId) -> Vec<Decision> {
        let Some(entry) = self.calls.get(&call) else {
            return Vec::new();
        };
        let (q, key, status) = (entry.queue, entry.key, entry.status);
        self.unlist(q, key, status);
        self.overflow_out_of_line(call)
    }

    /// Runs the queue's overflow action for a call already out of its waiting set and its
    /// manager's hold: it leaves the queue.
    fn overflow_out_of_line(&mut self, call: CallId) -> Vec<Decision> {
        let Some(entry) = self.calls.remove(&call) else {
            return Vec::new();
        };
        let q = entry.queue;
        self.queues[q]
            .by_age
            .remove(&(entry.spec.enqueued_at, call));
        let spec = &self.queues[q].spec;
        vec![Decision::Overflow {
            call,
            queue: spec.id.clone(),
            action: spec.overflow.clone(),
        }]
    }

    // ---- time ---------------------------------------------------------------------------

    /// When the router next needs [`Router::tick`].
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    /// Fires every timer due at `now`: relaxation steps, account-manager windows, max waits,
    /// offer expiries, not-ready ends.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Decision> {
        let mut decisions = Vec::new();
        while let Some(&(at, seq, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, seq, timer));
            decisions.extend(self.fire(timer, now));
        }
        decisions
    }

    fn fire(&mut self, timer: Timer, now: Timestamp) -> Vec<Decision> {
        match timer {
            Timer::StepUp(call, step) => self.step_up(call, step, now),
            Timer::ManagerWindowEnd(call) => self.release_held(call, now),
            Timer::MaxWait(call) => self.max_wait(call, now),
            Timer::OfferExpiry(call, agent, seq) => self.offer_expired(call, agent, seq, now),
            Timer::NotReadyEnd(agent) => self.not_ready_end(agent, now),
            Timer::WrapUpEnd(agent, call) => self.wrap_up_expired(agent, call, now),
        }
    }

    fn step_up(&mut self, call: CallId, step: usize, now: Timestamp) -> Vec<Decision> {
        let Some(entry) = self.calls.get(&call) else {
            return Vec::new();
        };
        let CallStatus::Waiting { step: current } = entry.status else {
            return Vec::new();
        };
        // A timer set in a queue the call has since left is not this queue's step.
        let due = self.step_at(entry.queue, now.since(entry.spec.enqueued_at));
        if current + 1 != step || due < step {
            return Vec::new();
        }
        let (q, key) = (entry.queue, entry.key);
        self.queues[q].waiting[current].remove(&key);
        self.place_waiting(call, step, now)
    }

    /// Sends a call held for its account manager to normal routing: the window is over, or
    /// the manager can no longer take it.
    fn release_held(&mut self, call: CallId, now: Timestamp) -> Vec<Decision> {
        let Some(entry) = self.calls.get(&call) else {
            return Vec::new();
        };
        let CallStatus::HeldForManager { manager } = entry.status else {
            return Vec::new();
        };
        let (q, key, enqueued_at) = (entry.queue, entry.key, entry.spec.enqueued_at);
        self.agents[manager].held.remove(&key);
        let step = self.step_at(q, now.since(enqueued_at));
        self.place_waiting(call, step, now)
    }

    fn max_wait(&mut self, call: CallId, now: Timestamp) -> Vec<Decision> {
        let Some(entry) = self.calls.get(&call) else {
            return Vec::new();
        };
        match entry.status {
            // An offer in progress finishes first; `requeue` overflows it if it fails.
            CallStatus::Offered { .. } => Vec::new(),
            _ if !self.overflow_due(call, now) => Vec::new(),
            _ => self.overflow(call),
        }
    }

    /// Whether the call has waited its queue's max wait (a timer set in a queue the call
    /// has since left: its own queue's counts). A callback never overflows.
    pub(super) fn overflow_due(&self, call: CallId, now: Timestamp) -> bool {
        self.calls.get(&call).is_some_and(|entry| {
            let due = entry
                .spec
                .enqueued_at
                .plus(self.queues[entry.queue].spec.max_wait);
            !entry.spec.callback && now >= due
        })
    }

    fn offer_expired(
        &mut self,
        call: CallId,
        a: AgentIdx,
        seq: u64,
        now: Timestamp,
    ) -> Vec<Decision> {
        let offered = self.calls.get(&call).map(|c| c.status)
            == Some(CallStatus::Offered { agent: a })
            && self.agents[a].last_offer_seq == seq;
        if !offered {
            return Vec::new();
        }
        let agent = self.agents[a].spec.id.clone();
        let mut decisions = vec![Decision::OfferExpired { call, agent }];
        decisions.extend(self.offer_failed(call, OfferEnd::NoAnswer, now));
        decisions
    }

    fn wrap_up_expired(&mut self, a: AgentIdx, call: CallId, now: Timestamp) -> Vec<Decision> {
        if self.agents[a].status != (AgentStatus::WrapUp { call }) {
            return Vec::new();
        }
        let mut decisions = vec![Decision::WrapUpExpired {
            agent: self.agents[a].spec.id.clone(),
            call,
        }];
        decisions.extend(self.become_available(a, now));
        decisions
    }

    fn not_ready_end(&mut self, a: AgentIdx, now: Timestamp) -> Vec<Decision> {
        match self.agents[a].status {
            AgentStatus::NotReady { until: Some(until) } if until <= now => {
                let mut decisions = vec![Decision::AgentReady {
                    agent: self.agents[a].spec.id.clone(),
                }];
                decisions.extend(self.become_available(a, now));
                decisions
            }
            _ => Vec::new(),
        }
    }

    // ---- matching -----------------------------------------------------------------------

    fn reserve(&mut self, a: AgentIdx, call: CallId, now: Timestamp) -> Decision {
        self.seq += 1;
        self.set_status(a, AgentStatus::Offered { call }, now);
        self.agents[a].last_offer_seq = self.seq;
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.status = CallStatus::Offered { agent: a };
        }
        let callback = self.calls.get(&call).is_some_and(|c| c.spec.callback);
        let ring = if callback {
            self.settings.ring_timeout + self.settings.callback_ring_timeout
        } else {
            self.settings.ring_timeout
        };
        let expiry = now.plus(ring + Duration::from_secs(1));
        self.add_timer(expiry, Timer::OfferExpiry(call, a, self.seq));
        Decision::Offer {
            call,
            agent: self.agents[a].spec.id.clone(),
        }
    }

    /// The best available agent eligible at `step` in queue `q`: agents qualify from their
    /// first qualifying step on, so look at the head of each set up to `step`.
    fn best_agent_for(&self, q: QueueIdx, step: usize) -> Option<AgentIdx> {
        self.queues[q].available[..=step.min(self.queues[q].available.len().saturating_sub(1))]
            .iter()
            .filter_map(|set| set.first())
            .min()
            .map(|&(_, _, a)| a)
    }

    /// The waiting call with the highest effective priority among the agent's queues (a call
    /// held for them as account manager comes first), removed from its waiting set.
    fn best_call_for(&mut self, a: AgentIdx) -> Option<CallId> {
        if let Some(key) = self.agents[a].held.pop_first() {
            return Some(key.3);
        }
        let mut best: Option<(WaitKey, QueueIdx, usize)> = None;
        for &(q, first_step) in &self.agents[a].serves {
            let Some(first_step) = first_step else {
                continue;
            };
            for (step, set) in self.queues[q].waiting.iter().enumerate().skip(first_step) {
                if let Some(&key) = set.first() {
                    if best.is_none_or(|(b, _, _)| key < b) {
                        best = Some((key, q, step));
                    }
                }
            }
        }
        let (key, q, step) = best?;
        self.queues[q].waiting[step].remove(&key);
        Some(key.3)
    }

    fn insert_available(&mut self, a: AgentIdx, since: Timestamp) {
        for i in 0..self.agents[a].serves.len() {
            let (q, first_step) = self.agents[a].serves[i];
            if let Some(step) = first_step {
                let key = (self.strategy_figure(a, q), since, a);
                self.queues[q].available[step].insert(key);
            }
        }
    }

    fn remove_from_available(&mut self, a: AgentIdx) {
        let AgentStatus::Available { since } = self.agents[a].status else {
            return;
        };
        for i in 0..self.agents[a].serves.len() {
            let (q, first_step) = self.agents[a].serves[i];
            if let Some(step) = first_step {
                let key = (self.strategy_figure(a, q), since, a);
                self.queues[q].available[step].remove(&key);
            }
        }
    }

    fn strategy_figure(&self, a: AgentIdx, q: QueueIdx) -> i64 {
        let agent = &self.agents[a];
        match self.queues[q].spec.strategy {
            Strategy::LongestIdle => 0,
            Strategy::HighestProficiency => {
                let skills = &self.queues[q].spec.steps[0].skills;
                -skills
                    .iter()
                    .filter_map(|(s, _)| agent.spec.skills.get(s))
                    .map(|p| i64::from(p.get()))
                    .sum::<i64>()
            }
            Strategy::FewestCalls => agent.calls_today,
            Strategy::LeastTalkTime => agent.talk_today_ms,
            Strategy::RoundRobin => i64::try_from(agent.last_offer_seq).unwrap_or(i64::MAX),
        }
    }

    fn step_at(&self, q: QueueIdx, waited: Duration) -> usize {
        let steps = &self.queues[q].spec.steps;
        steps.iter().rposition(|s| s.after <= waited).unwrap_or(0)
    }

    /// Moves an agent to `status` at `now`. When their public state (or break reason)
    /// changes, the span of the state they leave goes out for the recorder.
    fn set_status(&mut self, a: AgentIdx, status: AgentStatus, now: Timestamp) {
        let old = &self.agents[a].status;
        if public_state(old).0 != public_state(&status).0
            || break_reason(old) != break_reason(&status)
        {
            self.end_span(a, now);
        }
        let (was_on_break, on_break) = (
            break_reason(&self.agents[a].status).is_some(),
            break_reason(&status).is_some(),
        );
        if was_on_break != on_break {
            for i in 0..self.agents[a].serves.len() {
                let q = self.agents[a].serves[i].0;
                let count = &mut self.queues[q].on_break;
                *count = if on_break {
                    *count + 1
                } else {
                    count.saturating_sub(1)
                };
            }
        }
        self.agents[a].status = status;
    }

    /// Ends the agent's current span at `now`; a new one starts. Time logged out is not
    /// kept, and an empty span is not worth a row.
    fn end_span(&mut self, a: AgentIdx, now: Timestamp) {
        let agent = &mut self.agents[a];
        let (state, _) = public_state(&agent.status);
        if state != AgentState::LoggedOut && agent.status_since < now {
            self.spans.push(AgentStateSpan {
                agent: agent.spec.id.clone(),
                state,
                reason: break_reason(&agent.status).map(str::to_owned),
                started_at: agent.status_since,
                ended_at: now,
            });
        }
        agent.status_since = now;
    }

    /// The state spans finished since the last call.
    pub fn take_spans(&mut self) -> Vec<AgentStateSpan> {
        std::mem::take(&mut self.spans)
    }

    /// Ends every agent's current span at `now` (at shutdown, so that their time so far is
    /// recorded) and returns all finished spans.
    pub fn close_spans(&mut self, now: Timestamp) -> Vec<AgentStateSpan> {
        for a in 0..self.agents.len() {
            if !self.agents[a].removed {
                self.end_span(a, now);
            }
        }
        self.take_spans()
    }

    fn set_logged_in(&mut self, a: AgentIdx, logged_in: bool) {
        for i in 0..self.agents[a].serves.len() {
            let q = self.agents[a].serves[i].0;
            let count = &mut self.queues[q].logged_in;
            *count = if logged_in {
                *count + 1
            } else {
                count.saturating_sub(1)
            };
        }
    }

    fn add_timer(&mut self, at: Timestamp, timer: Timer) {
        self.seq += 1;
        self.timers.insert((at, self.seq, timer));
    }

    // ---- views --------------------------------------------------------------------------

    /// Live figures of every queue.
    pub fn queue_views(&self) -> Vec<QueueView> {
        self.queues
            .iter()
            .map(|q| QueueView {
                queue: q.spec.id.clone(),
                waiting: q.by_age.len(),
                oldest_enqueued_at: q.by_age.first().map(|(t, _)| *t),
                agents_available: q.available.iter().map(BTreeSet::len).sum(),
                agents_logged_in: q.logged_in,
                agents_serving: q.logged_in.saturating_sub(q.on_break),
            })
            .collect()
    }

    /// For each queue (in `queue_views` order), how many of the agents serving it are in
    /// each state, indexed by `AgentState as usize`.
    pub fn agents_by_state(&self) -> Vec<[u32; 7]> {
        let mut counts = vec![[0u32; 7]; self.queues.len()];
        for agent in self.agents.iter().filter(|a| !a.removed) {
            let (state, _) = public_state(&agent.status);
            for &(q, _) in &agent.serves {
                counts[q][state as usize] += 1;
            }
        }
        counts
    }

    /// Every agent's live state.
    pub fn agent_views(&self) -> Vec<AgentView> {
        self.agents
            .iter()
            .filter(|a| !a.removed)
            .map(|a| {
                let (state, call) = public_state(&a.status);
                AgentView {
                    agent: a.spec.id.clone(),
                    state,
                    call,
                    calls_today: a.calls_today,
                }
            })
            .collect()
    }

    /// One agent's state as the agent protocol names it.
    pub fn agent_state(&self, agent: &AgentId) -> Option<AgentState> {
        let &a = self.agent_index.get(agent)?;
        Some(public_state(&self.agents[a].status).0)
    }

    /// The queues an agent serves.
    pub fn agent_queues(&self, agent: &AgentId) -> Option<Vec<QueueId>> {
        let &a = self.agent_index.get(agent)?;
        let serves = &self.agents[a].serves;
        Some(
            serves
                .iter()
                .map(|&(q, _)| self.queues[q].spec.id.clone())
                .collect(),
        )
    }

    /// The call offered to this agent, if any.
    pub fn offered_call(&self, agent: &AgentId) -> Option<CallId> {
        let &a = self.agent_index.get(agent)?;
        match self.agents[a].status {
            AgentStatus::Offered { call } => Some(call),
            _ => None,
        }
    }

    /// Agents logged into `queue` and not on a break (0 for an unknown queue).
    pub fn agents_serving(&self, queue: &QueueId) -> u32 {
        self.queue_index.get(queue).map_or(0, |&q| {
            self.queues[q]
                .logged_in
                .saturating_sub(self.queues[q].on_break)
        })
    }

    /// Calls in `queue` not yet answered (0 for an unknown queue).
    pub fn calls_in_queue(&self, queue: &QueueId) -> usize {
        self.queue_index
            .get(queue)
            .map_or(0, |&q| self.queues[q].by_age.len())
    }

    /// Calls waiting ahead of this one in its queue (its position − 1), for announcements.
    pub fn calls_ahead(&self, call: CallId) -> Option<usize> {
        let entry = self.calls.get(&call)?;
        let queue = &self.queues[entry.queue];
        Some(
            queue
                .waiting
                .iter()
                .map(|set| set.range(..entry.key).count())
                .sum(),
        )
    }
}

fn public_state(status: &AgentStatus) -> (AgentState, Option<CallId>) {
    match status {
        AgentStatus::LoggedOut => (AgentState::LoggedOut, None),
        AgentStatus::Available { .. } => (AgentState::Available, None),
        AgentStatus::Break { .. } => (AgentState::Break, None),
        AgentStatus::Offered { call } => (AgentState::Offered, Some(*call)),
        AgentStatus::Talking { call } => (AgentState::Talking, Some(*call)),
        AgentStatus::WrapUp { call } => (AgentState::WrapUp, Some(*call)),
        AgentStatus::NotReady { .. } => (AgentState::NotReady, None),
    }
}

/// The first relaxation step whose skill requirements the agent meets, if any.
fn break_reason(status: &AgentStatus) -> Option<&str> {
    match status {
        AgentStatus::Break { reason } => Some(reason),
        _ => None,
    }
}

fn first_qualifying_step(queue: &QueueSpec, agent: &AgentSpec) -> Option<usize> {
    queue.steps.iter().position(|step| {
        step.skills
            .iter()
            .all(|(skill, min)| agent.spec_level(skill).is_some_and(|level| level >= *min))
    })
}

impl AgentSpec {
    fn spec_level(&self, skill: &crate::domain::Skill) -> Option<crate::domain::Proficiency> {
        self.skills.get(skill).copied()
    }
}

mod directory;
#[cfg(test)]
mod tests;
