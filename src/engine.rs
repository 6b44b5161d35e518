//! The shell around the pure core: the one task that owns every call session and the
//! router. It feeds them inputs (FreeSWITCH events, agent actions, timers, lookups) and
//! carries their effects out through the adapters — ESL commands with `NodeHandle::send`,
//! agent pushes with `Hub::push`, records with `RecorderHandle::record` — all non-blocking.
//! The engine never awaits I/O.

mod agents;
mod announce;
mod callback;
mod decide;
mod directory;
mod supervise;
mod switch;
mod view;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use directory::{DirectoryReply, DirectoryUpdate};
pub use supervise::{ActionError, ActionReply, SupervisorAction};
pub use view::{AgentRow, QueueFigures, Snapshot};

use crate::acd::ewt::RecentHandleTimes;
use crate::acd::{AgentSpec, Overflow, QueueSpec, Router, RouterSettings, Step};
use crate::call::{self, Session, SlaRule};
use crate::clock;
use crate::config::{AgentConfig, CallbackConfig, Config, OverflowConfig, QueueConfig};
use crate::domain::{
    AgentId, CallId, Disposition, NodeId, Proficiency, QueueId, Skill, TierId, Timestamp,
};
use crate::esl::{Command, NodeHandle};
use crate::gateway::Hub;
use crate::gateway::protocol::{RecentCall, RequestedState, ServerMessage};
use crate::ivr::{FlowSet, IvrRun};
use crate::recorder::AgentStateSpan;
use crate::recorder::live::LiveFigures;
use crate::recorder::stats::Stats;
use crate::recorder::writer::{RecorderHandle, WriterHandle};
use crate::store::Store;
use crate::telemetry::{Metrics, label};

/// Inputs from the gateway and from the engine's own background lookups.
#[derive(Debug)]
pub enum Input {
    /// Something an agent did on their socket.
    Agent {
        /// The authenticated agent.
        agent: AgentId,
        /// What they did.
        action: AgentAction,
    },
    /// A supervisor's action; the result goes back on `reply`.
    Supervisor {
        /// Who (for the timeline).
        supervisor: String,
        /// The queues they may act on.
        scope: crate::auth::Scope,
        /// What.
        action: SupervisorAction,
        /// Where the result goes.
        reply: ActionReply,
    },
    /// An admin's change to agents or queues; the result goes back on `reply`.
    Directory {
        /// The change.
        update: DirectoryUpdate,
        /// Where the result goes.
        reply: DirectoryReply,
    },
    /// A customer lookup the IVR asked for has finished.
    CustomerLoaded {
        /// The call.
        call: CallId,
        /// The customer, if found (None also when the database is down: the call goes on
        /// with the default tier).
        customer: Option<CustomerCard>,
    },
}

/// An agent's action, already authenticated and parsed by the gateway.
#[derive(Debug)]
pub enum AgentAction {
    /// Their socket connected (after login).
    Connected,
    /// Their socket closed.
    Disconnected,
    /// They asked for a state.
    SetState {
        /// Wanted state.
        state: RequestedState,
        /// Break reason.
        reason: Option<String>,
    },
    /// They accepted an offer.
    Accept(CallId),
    /// They rejected an offer.
    Reject(CallId),
    /// They wrapped a call up.
    WrapUp(CallId, Disposition),
}

/// Everything the screen-pop shows about a recognised customer, loaded while the call is in
/// the IVR so that routing never waits for it.
#[derive(Clone, Debug)]
pub struct CustomerCard {
    /// Database id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Account number.
    pub account: String,
    /// Tier.
    pub tier: TierId,
    /// Account manager.
    pub account_manager: Option<AgentId>,
    /// Last calls.
    pub recent_calls: Vec<RecentCall>,
    /// Unresolved complaints.
    pub open_complaints: Vec<RecentCall>,
}

/// The adapters the engine hands work to.
#[derive(Clone)]
pub struct Ports {
    /// FreeSWITCH nodes by name.
    pub nodes: HashMap<NodeId, NodeHandle>,
    /// Agent sockets.
    pub hub: Hub,
    /// Completed calls to the database.
    pub recorder: RecorderHandle,
    /// Agents' state spans to the database.
    pub agent_states: WriterHandle<AgentStateSpan>,
    /// Customer lookups.
    pub store: Store,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// The handle the gateway uses: send inputs, read the latest snapshot.
#[derive(Clone)]
pub struct EngineHandle {
    control: mpsc::Sender<Input>,
    snapshot: Arc<ArcSwap<Snapshot>>,
}

/// The engine has stopped.
#[derive(Debug, thiserror::Error)]
#[error("the engine has stopped")]
pub struct EngineStopped;

impl EngineHandle {
    /// Sends an input, waiting for room (agents' sockets may wait; routing never does).
    ///
    /// # Errors
    /// When the engine has stopped.
    pub async fn send(&self, input: Input) -> Result<(), EngineStopped> {
        self.control.send(input).await.map_err(|_| EngineStopped)
    }

    /// The latest published view of queues and agents.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }
}

/// Settings the engine reads per call, derived once from the configuration.
struct Settings {
    tiers: HashMap<TierId, (i32, SlaRule)>,
    /// Each tier's SL target (0.8 for 80/20), in configuration order.
    sla_targets: Vec<(TierId, f64)>,
    default_tier: TierId,
    short_abandon: HashMap<QueueId, Duration>,
    dial_strings: HashMap<AgentId, String>,
    routes: HashMap<String, String>,
    default_flow: String,
    survey_flow: Option<String>,
    ring_timeout: Duration,
    wrap_up: Duration,
    moh: String,
    announce_every: Duration,
    callback: CallbackConfig,
}

/// The engine's state. Only [`run`] touches it.
pub struct Engine {
    settings: Settings,
    router: Router,
    sessions: HashMap<CallId, Session>,
    ivr: HashMap<CallId, IvrRun>,
    cards: HashMap<CallId, CustomerCard>,
    /// Agent leg -> caller leg.
    legs: HashMap<CallId, CallId>,
    /// Originate Job-UUID -> caller leg.
    jobs: HashMap<uuid::Uuid, CallId>,
    flows: Arc<ArcSwap<FlowSet>>,
    live: LiveFigures,
    /// Wait, talk and handle distributions of completed calls.
    stats: Stats,
    /// Each queue's recent handle times: the h of the estimated wait.
    handle_times: HashMap<QueueId, RecentHandleTimes>,
    /// Waiting callers' next position announcement.
    announcements: BTreeSet<(Timestamp, CallId)>,
    /// Callbacks whose customer did not answer, with the time of the next try.
    callback_retries: BTreeSet<(Timestamp, CallId)>,
    /// Waiting callbacks in the database.
    journal: callback::Journal,
    ports: Ports,
    control: mpsc::Sender<Input>,
    tracker: TaskTracker,
    snapshot: Arc<ArcSwap<Snapshot>>,
    dirty: bool,
    /// When the FreeSWITCH event being handled was read off its socket (for the
    /// event → decision latency).
    event_received: Option<Instant>,
    /// When the snapshot was last rebuilt.
    published_at: Instant,
}

/// Channel capacity for FreeSWITCH events into the engine (nodes wait when it is full).
pub const SWITCH_QUEUE: usize = 65_536;

/// The engine's input channels.
pub struct Receivers {
    switch: mpsc::Receiver<call::Event>,
    control: mpsc::Receiver<Input>,
}

/// The channel FreeSWITCH nodes deliver their events on: give the sender to every node, the
/// receiver to [`build`].
pub fn switch_channel() -> (mpsc::Sender<call::Event>, mpsc::Receiver<call::Event>) {
    mpsc::channel(SWITCH_QUEUE)
}

/// Builds the engine from the configuration, with the callbacks a previous run saved back in
/// their queues. Returns the engine and its inputs (to pass to [`run`]) and the handle the
/// gateway uses.
pub fn build(
    config: &Config,
    flows: Arc<ArcSwap<FlowSet>>,
    ports: Ports,
    switch: mpsc::Receiver<call::Event>,
    tracker: TaskTracker,
    saved_callbacks: Vec<Session>,
) -> (Engine, Receivers, EngineHandle) {
    let (control, control_rx) = mpsc::channel(4096);
    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
    let mut engine = Engine {
        settings: settings_from(config),
        router: router_from(config),
        sessions: HashMap::new(),
        ivr: HashMap::new(),
        cards: HashMap::new(),
        legs: HashMap::new(),
        jobs: HashMap::new(),
        flows,
        live: LiveFigures::default(),
        stats: Stats::default(),
        handle_times: HashMap::new(),
        announcements: BTreeSet::new(),
        callback_retries: BTreeSet::new(),
        journal: callback::Journal::spawn(ports.store.clone(), &tracker),
        ports,
        control: control.clone(),
        tracker,
        snapshot: snapshot.clone(),
        dirty: true,
        event_received: None,
        published_at: clock::monotonic(),
    };
    engine.restore_callbacks(saved_callbacks);
    let handle = EngineHandle { control, snapshot };
    (
        engine,
        Receivers {
            switch,
            control: control_rx,
        },
        handle,
    )
}

/// Runs the engine until `cancel`: one input at a time, timers from the router's next
/// deadline (no polling), a fresh snapshot at most every 200 ms when something changed (and
/// every second while calls are in progress).
pub async fn run(mut engine: Engine, mut inputs: Receivers, cancel: CancellationToken) {
    let mut publish = tokio::time::interval(Duration::from_millis(200));
    publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let deadline = engine.next_deadline();
        tokio::select! {
            () = cancel.cancelled() => break,
            Some(event) = inputs.switch.recv() => {
                engine.event_received = Some(event.received);
                engine.on_switch(event);
                engine.event_received = None;
            }
            Some(input) = inputs.control.recv() => engine.on_input(input),
            () = sleep_until(deadline) => engine.on_timer(),
            _ = publish.tick() => engine.publish_if_dirty(),
        }
        engine.record_agent_states();
    }
    engine.publish_if_dirty();
    // Agents still logged in: their time up to now is recorded too.
    for span in engine.router.close_spans(clock::now()) {
        engine.ports.agent_states.write(span);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Engine {
    /// Hands the agents' finished state spans to their writer.
    fn record_agent_states(&mut self) {
        for span in self.router.take_spans() {
            self.ports.agent_states.write(span);
        }
    }

    fn on_input(&mut self, input: Input) {
        self.dirty = true;
        match input {
            Input::Agent { agent, action } => self.on_agent(agent, action),
            Input::CustomerLoaded { call, customer } => self.on_customer_loaded(call, customer),
            Input::Supervisor {
                supervisor,
                scope,
                action,
                reply,
            } => self.on_supervisor(&supervisor, &scope, action, reply),
            Input::Directory { update, reply } => self.on_directory(update, reply),
        }
    }

    fn on_timer(&mut self) {
        let now = clock::now();
        let decisions = self.router.tick(now);
        if !decisions.is_empty() {
            self.dirty = true;
            self.carry_out(decisions, clock::monotonic());
        }
        self.announce_due(now);
        self.retry_callbacks_due(now);
    }

    /// The next deadline (the router's, an announcement, a callback retry) as a monotonic
    /// instant.
    fn next_deadline(&self) -> Option<Instant> {
        let at = [
            self.router.next_deadline(),
            self.next_announcement(),
            self.next_callback_retry(),
        ]
        .into_iter()
        .flatten()
        .min()?;
        let wait = at.since(clock::now());
        Some(clock::monotonic() + wait)
    }

    /// Hands a command to a node's writer without waiting; a refusal is counted and logged.
    /// A node that is down reconciles its calls when it comes back; a command refused by a
    /// full write queue (`esl::connection::WRITE_QUEUE`) is lost, and its call may wait
    /// until the caller hangs up.
    fn send(&self, node: &NodeId, command: Command, decided: Option<Instant>) {
        let word = command.word();
        let Some(handle) = self.ports.nodes.get(node) else {
            self.ports.metrics.commands_dropped.inc();
            tracing::warn!(node = %node, esl.command = word, "no such node for command");
            return;
        };
        match handle.send(command) {
            Ok(()) => {
                if let Some(decided) = decided {
                    self.ports
                        .metrics
                        .decision_to_command
                        .record(decided.elapsed());
                }
            }
            Err(error) => {
                self.ports.metrics.commands_dropped.inc();
                tracing::warn!(node = %node, esl.command = word, error = %error, "command not sent");
            }
        }
    }

    /// Runs a dialplan application on a channel, returning its `event-uuid`.
    fn execute(&self, node: &NodeId, channel: CallId, app: &str, arg: String) -> uuid::Uuid {
        let event_uuid = uuid::Uuid::new_v4();
        let command = Command::Execute {
            channel,
            app: app.to_owned(),
            arg,
            event_uuid,
        };
        self.send(node, command, None);
        event_uuid
    }

    fn push(&self, agent: &AgentId, message: ServerMessage, decided: Option<Instant>) {
        if !self.ports.hub.push(agent, message, decided) {
            self.ports.metrics.pushes_dropped.inc();
        }
    }

    fn tier_rule(&self, tier: &TierId, queue: &QueueId) -> SlaRule {
        let threshold = self
            .settings
            .tiers
            .get(tier)
            .map(|(_, r)| r.threshold)
            .unwrap_or(Duration::from_secs(20));
        let short_abandon = self
            .settings
            .short_abandon
            .get(queue)
            .copied()
            .unwrap_or(Duration::from_secs(5));
        SlaRule {
            threshold,
            short_abandon,
        }
    }

    /// Writes the record of a completed call and forgets it.
    fn finish(&mut self, call: CallId) {
        let Some(mut session) = self.sessions.remove(&call) else {
            return;
        };
        switch::close_ivr(&mut session, self.ivr.remove(&call));
        self.cards.remove(&call);
        let rule = session
            .queue
            .as_ref()
            .map(|q| self.tier_rule(&session.tier, q));
        let (record, timeline) = session.record(rule);
        tracing::info!(
            call_id = %call,
            outcome = record.outcome.as_str(),
            queue = record.queue.as_ref().map(QueueId::as_str).unwrap_or("-"),
            wait_ms = record.wait_ms.unwrap_or(0),
            "call ended"
        );
        self.ports
            .metrics
            .calls
            .get_or_create(&label("outcome", record.outcome.as_str()))
            .inc();
        self.stats.record(&record);
        if let (Some(queue), Some(talk), Some(acw)) = (&record.queue, record.talk_ms, record.acw_ms)
        {
            let handle = Duration::from_millis(u64::try_from(talk + acw).unwrap_or(0));
            self.handle_times
                .entry(queue.clone())
                .or_default()
                .record(handle);
        }
        self.ports.recorder.record(record, timeline);
    }
}

fn settings_from(config: &Config) -> Settings {
    let tiers = config
        .tiers
        .iter()
        .map(|t| {
            let rule = SlaRule {
                threshold: t.sla_threshold,
                short_abandon: Duration::ZERO,
            };
            (TierId::new(&t.name), (t.base_priority, rule))
        })
        .collect();
    Settings {
        tiers,
        sla_targets: config
            .tiers
            .iter()
            .map(|t| (TierId::new(&t.name), t.sla_target))
            .collect(),
        default_tier: TierId::new(&config.default_tier.name),
        short_abandon: config
            .queues
            .iter()
            .map(|q| (QueueId::new(&q.name), q.short_abandon))
            .collect(),
        dial_strings: config
            .agents
            .iter()
            .map(|a| (AgentId::new(&a.id), a.dial_string.clone()))
            .collect(),
        routes: config
            .flows
            .routes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        default_flow: config.flows.default.clone(),
        survey_flow: config.flows.survey.clone(),
        ring_timeout: config.acd.ring_timeout,
        wrap_up: config.acd.wrap_up,
        moh: config.acd.moh.clone(),
        announce_every: config.acd.announce_every,
        callback: config.callback.clone(),
    }
}

fn router_from(config: &Config) -> Router {
    let settings = RouterSettings {
        aging_per_minute: config.acd.aging_per_minute,
        account_manager_first: config.acd.account_manager_first,
        not_ready_after_no_answer: config.acd.not_ready_after_no_answer,
        ring_timeout: config.acd.ring_timeout,
        wrap_up: config.acd.wrap_up,
        callback_ring_timeout: config.callback.ring_timeout,
    };
    let queues = config.queues.iter().map(queue_spec).collect();
    let agents = config.agents.iter().map(agent_spec).collect();
    Router::new(settings, queues, agents)
}

/// A validated proficiency (the configuration checked 1..=10).
fn level(l: &i64) -> Proficiency {
    Proficiency::new(*l).unwrap_or(Proficiency::MIN)
}

/// A queue as the router sees it.
fn queue_spec(q: &QueueConfig) -> QueueSpec {
    QueueSpec {
        id: QueueId::new(&q.name),
        strategy: q.strategy,
        priority: q.priority,
        steps: q
            .steps
            .iter()
            .map(|s| Step {
                after: s.after,
                skills: s
                    .skills
                    .iter()
                    .map(|(k, l)| (Skill::new(k), level(l)))
                    .collect(),
            })
            .collect(),
        max_wait: q.max_wait,
        overflow: match &q.overflow {
            OverflowConfig::Queue { queue } => Overflow::Queue(QueueId::new(queue)),
            OverflowConfig::Voicemail { extension } => Overflow::Voicemail(extension.clone()),
            OverflowConfig::Callback => Overflow::Callback,
            OverflowConfig::Message { prompt } => Overflow::Message(prompt.clone()),
        },
    }
}

/// An agent as the router sees it.
fn agent_spec(a: &AgentConfig) -> AgentSpec {
    AgentSpec {
        id: AgentId::new(&a.id),
        queues: a.queues.iter().map(QueueId::new).collect(),
        skills: a
            .skills
            .iter()
            .map(|(k, l)| (Skill::new(k), level(l)))
            .collect(),
    }
}

/// Days since the epoch (UTC) of a time: "today" for the live figures.
fn day_of(at: Timestamp) -> i64 {
    at.as_millis().div_euclid(86_400_000)
}
