//! `kefu-loadtest`: kefu in-process on a fresh SQLite file, `switches` simulated FreeSWITCH
//! nodes over real ESL sockets, `agents` simulated agents over real WebSockets, and callers
//! at `cps` for `duration`, through the shipped IVR flows. When the callers stop it waits
//! for every call to end and be recorded, then checks the database against what was placed.
//!
//! With `kefu: Some(binary)` kefu runs as its own process (`kefu serve`), and its CPU time
//! and peak memory are reported apart from the load generator's.
//! With `target` the kefu is one started elsewhere, connected to the simulated switches
//! through its own configuration.
//!
//! Against a real switch, sipp places the calls: `loadtest/sipp/`, docs/load-against-freeswitch.md.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use kefu::app::demo::{Callers, DemoSettings, random_between};
use kefu::config::{AgentConfig, Config, CustomerConfig, NodeConfig, Secret};
use kefu::domain::{AgentId, CallId, Outcome};
use kefu::sim::agents::{AgentBehaviour, AgentReport, OfferReceipt, run_agent};
use kefu::sim::{FakeFreeswitch, PhoneBehavior, SimCallReport, SimConfig};
use kefu::telemetry::LatencyPercentiles;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub mod agents;
pub mod target;

use target::{Kefu, Usage};

/// What load to put on kefu.
#[derive(Clone, Debug)]
pub struct LoadSettings {
    /// New calls per second.
    pub cps: f64,
    /// How long callers keep arriving.
    pub duration: Duration,
    /// Simulated agents (all serve every queue).
    pub agents: usize,
    /// Simulated FreeSWITCH nodes (calls spread round robin).
    pub switches: usize,
    /// Simulated durations (prompts, ringing, talk, patience) are multiplied by this.
    pub time_scale: f64,
    /// Offers in a hundred that the agent's phone leaves ringing until kefu's ring timeout
    /// (the rest are answered after 2 s of ringing, but for the 1 % declined on screen).
    pub missed_percent: u8,
    /// The IVR flows directory.
    pub flows: PathBuf,
    /// Longest wait for the last calls to end and be recorded.
    pub drain_for: Duration,
    /// Run this kefu binary as its own process instead of kefu in this one.
    pub kefu: Option<PathBuf>,
    /// Load a kefu started elsewhere instead of starting one (`agents` and `switches` are
    /// then its configuration's).
    pub target: Option<Target>,
}

/// A kefu started elsewhere (`--target`) and the configuration file it runs with: the
/// simulated switches listen on the ports of its `[[freeswitch]]` nodes (kefu connects to
/// them), its agents log in, its customers call, and its database is read for the check.
/// Only the calls of this run are checked: the database may hold others.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its HTTP address.
    pub http: SocketAddr,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its agents' password (all the same).
    pub agent_password: String,
}

/// What happened, and whether anything was lost.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Calls the simulated switches created.
    pub placed: u64,
    /// Stored outcomes (answered, abandoned, overflowed, ended_in_ivr).
    pub outcomes: BTreeMap<String, u64>,
    /// Placed calls over on the switch with no record in the database and no callback kefu
    /// still owes. Must be 0.
    pub lost: u64,
    /// Placed calls with no record yet because kefu still owes them a callback when the
    /// drain gave up (a queue nobody served, say): not lost, not checked. Must be 0 for a
    /// complete check.
    pub unfinished_callbacks: u64,
    /// Placed calls whose switch channel was still up when the drain gave up: not lost, not
    /// checked. Must be 0 for a complete check.
    pub unfinished_channels: u64,
    /// The first few lost or unfinished calls, to look up in kefu's log and database.
    pub unaccounted_samples: Vec<CallId>,
    /// Where kefu's configuration, log and database were kept because the check failed
    /// (kefu started by this run only).
    pub kept: Option<PathBuf>,
    /// Stored calls the switches never placed. Must be 0.
    pub unknown: u64,
    /// Calls the switches bridged to an agent that kefu did not record as answered, and
    /// calls kefu recorded as answered that the switches never bridged (but for callbacks,
    /// where a new channel to the customer is bridged). Must be 0.
    pub wrong_outcome: u64,
    /// Enqueue (the screen-pop's `enqueued_at`) → screen-pop received by the agent client,
    /// first offer of each call, ms. It includes any time the call waited for a free agent:
    /// only with agents to spare is it kefu's own latency.
    pub enqueue_to_pop_ms: Option<Percentiles>,
    /// The answered calls' agent-leg `originate` → `uuid_bridge`, both as the simulated
    /// switch received them, ms: the agent's ring time (2 s × time scale) is included.
    pub offer_to_bridge_ms: Option<Percentiles>,
    /// The agent answered → `uuid_bridge` received, ms: kefu's reaction to the answer (the
    /// BACKGROUND_JOB read, the bridge sent), with no ring time.
    pub answer_to_bridge_ms: Option<Percentiles>,
    /// Offers the agents received.
    pub offers: u64,
    /// Of them, declined on the agent's screen.
    pub declined: u64,
    /// Of them, withdrawn because the agent's phone rang unanswered (kefu's ring timeout).
    pub rang_unanswered: u64,
    /// Agent-side errors (connection drops, server `error` replies).
    pub agent_errors: u64,
    /// A few of those errors, distinct.
    pub agent_error_samples: Vec<String>,
    /// Calls placed per second, measured.
    pub placed_per_second: f64,
    /// kefu's own latencies, from its metrics (µs).
    pub kefu: KefuLatency,
    /// Service level per tier over the run, from kefu's queue report: answered within the
    /// tier's threshold / (offered − short abandons), all queues together.
    pub service_level_by_tier: BTreeMap<String, TierServiceLevel>,
    /// kefu's own CPU time and peak memory, when it ran as its own process.
    pub kefu_process: Option<Usage>,
    /// kefu ran in the load generator's process (neither `--kefu` nor `--target`).
    pub kefu_in_process: bool,
    /// This process's CPU time, memory and core waits (the load generator, plus kefu when
    /// in-process).
    pub generator: Option<Usage>,
    /// Wall time from the first call placed to the last recorded, seconds.
    pub wall_s: f64,
}

impl Report {
    /// Every placed call over and recorded, nothing recorded that was not placed, and every
    /// call the switches bridged recorded as answered.
    pub fn is_sound(&self) -> bool {
        self.lost == 0
            && self.unfinished_callbacks == 0
            && self.unfinished_channels == 0
            && self.unknown == 0
            && self.wrong_outcome == 0
    }
}

/// One tier's service level over the run.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct TierServiceLevel {
    /// Calls of the tier that entered a queue.
    pub offered: u64,
    /// Of them, answered within the tier's threshold.
    pub answered_within_threshold: u64,
    /// Short abandons (left out of SL).
    pub short_abandons: u64,
    /// The service level, when any call counts.
    pub service_level: Option<f64>,
    /// The tier's target.
    pub target: Option<f64>,
}

/// Sums the queue report's per-tier rows over every queue and interval of the run.
async fn service_level_by_tier(
    store: &kefu::store::Store,
    config: &Config,
    from: kefu::domain::Timestamp,
) -> anyhow::Result<BTreeMap<String, TierServiceLevel>> {
    use kefu::recorder::report::{Interval, Period, QueueReport, TierTarget};
    let to = kefu::clock::now().plus(Duration::from_secs(1));
    let period = Period::new(from, to, Interval::Day, chrono_tz::Tz::UTC)?;
    let targets = config
        .tiers
        .iter()
        .map(|t| {
            let threshold_ms = i64::try_from(t.sla_threshold.as_millis()).unwrap_or(i64::MAX);
            let target = TierTarget {
                threshold_ms,
                target: t.sla_target,
            };
            (kefu::domain::TierId::new(&t.name), target)
        })
        .collect();
    let mut report = QueueReport::new(period, targets, true);
    store
        .fill_queue_report(&mut report, &period, None, None)
        .await?;
    let mut tiers: BTreeMap<String, TierServiceLevel> = BTreeMap::new();
    for row in report.rows() {
        let Some(tier) = row.tier else { continue };
        let sum = tiers.entry(tier.to_string()).or_default();
        sum.offered += row.offered;
        sum.answered_within_threshold += row.answered_within_threshold;
        sum.short_abandons += row.short_abandons;
        sum.target = row.sla_target;
    }
    for sum in tiers.values_mut() {
        let counted = sum.offered - sum.short_abandons;
        sum.service_level =
            (counted > 0).then(|| sum.answered_within_threshold as f64 / counted as f64);
    }
    Ok(tiers)
}

/// kefu's internal latencies over the run, as its `/api/latency` reports them.
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize)]
pub struct KefuLatency {
    /// ESL event read → routing decision (the call placed in its queue).
    pub event_to_decision: Option<LatencyPercentiles>,
    /// Decision → ESL command handed to the node writer.
    pub decision_to_command: Option<LatencyPercentiles>,
    /// Decision → screen-pop written to the agent's socket.
    pub decision_to_screen_pop: Option<LatencyPercentiles>,
}

impl KefuLatency {
    fn of(metrics: &kefu::telemetry::Metrics) -> KefuLatency {
        KefuLatency {
            event_to_decision: metrics.event_to_decision.percentiles(),
            decision_to_command: metrics.decision_to_command.percentiles(),
            decision_to_screen_pop: metrics.decision_to_pop.percentiles(),
        }
    }
}

/// Percentiles in ms (µs resolution).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 99th.
    pub p99: f64,
    /// 99.9th.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Of durations, to the microsecond (1 µs to an hour).
    fn of_all(values: impl Iterator<Item = Duration>) -> Option<Percentiles> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for value in values {
            h.saturating_record((value.as_micros() as u64).max(1));
        }
        Self::of(&h)
    }

    fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        let ms = |us: u64| us as f64 / 1000.0;
        (!h.is_empty()).then(|| Percentiles {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        })
    }

    /// `p50 0.47 ms, p90 …, p99 …, p99.9 …, max … (N calls)`.
    pub fn readable(&self) -> String {
        format!(
            "p50 {:.2} ms, p90 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2} ({} calls)",
            self.p50, self.p90, self.p99, self.p999, self.max, self.count
        )
    }
}

/// Enqueue → screen-pop received, each call's first offer, from the agents' receipts.
pub fn enqueue_to_pop(agents: &[AgentReport]) -> Option<Percentiles> {
    let mut first_offer: HashMap<CallId, &OfferReceipt> = HashMap::new();
    for receipt in agents.iter().flat_map(|a| &a.receipts) {
        let first = first_offer.entry(receipt.call).or_insert(receipt);
        if receipt.wall < first.wall {
            *first = receipt;
        }
    }
    Percentiles::of_all(first_offer.values().filter_map(|r| r.enqueue_to_pop()))
}

/// Offer → bridge and agent answer → bridge over the switches' answered calls.
fn bridge_latencies(calls: &[SimCallReport]) -> (Option<Percentiles>, Option<Percentiles>) {
    let bridges = || calls.iter().filter_map(|c| c.bridge);
    (
        Percentiles::of_all(bridges().map(|b| b.bridged.since(b.originated))),
        Percentiles::of_all(bridges().map(|b| b.bridged.since(b.agent_answered))),
    )
}

/// Runs the load and checks the result.
///
/// # Errors
/// kefu or a simulated switch cannot start, or the database cannot be read.
pub async fn run(settings: &LoadSettings) -> anyhow::Result<Report> {
    let data = tempfile::tempdir().context("temp dir")?;
    let sim = SimConfig {
        time_scale: settings.time_scale,
        default_phone: PhoneBehavior::Answer {
            ring: Duration::from_secs(2),
            talk: Duration::from_secs(60),
        },
        ..SimConfig::default()
    };
    let (switches, config, kefu, password) = match &settings.target {
        None => {
            let mut switches = Vec::new();
            for _ in 0..settings.switches.max(1) {
                let at = SocketAddr::from(([127, 0, 0, 1], 0));
                let switch = FakeFreeswitch::start(at, sim.clone())
                    .await
                    .context("starting a simulated FreeSWITCH")?;
                switches.push(switch);
            }
            let config = config(settings, &switches, &data).await?;
            let kefu = Kefu::start(config.clone(), settings.kefu.as_deref(), data.path()).await?;
            (switches, config, kefu, AGENT_PASSWORD.to_owned())
        }
        Some(target) => {
            let (switches, config, kefu) = attach(target, &sim).await?;
            (switches, config, kefu, target.agent_password.clone())
        }
    };

    let demo = DemoSettings {
        calls_per_second: settings.cps,
        time_scale: settings.time_scale,
        ..DemoSettings::default()
    };
    let people = CancellationToken::new();
    let url = format!("ws://{}/ws/agent", kefu.http());
    let agents: Vec<_> = config
        .agents
        .iter()
        .map(|a| {
            // Each agent talks and wraps up for their own time; of their offers, one in a
            // hundred is declined on the screen and two ring unanswered at the phone.
            let phone = PhoneBehavior::SometimesAnswer {
                ring: Duration::from_secs(2),
                talk: random_between(TALK),
                missed_percent: settings.missed_percent,
            };
            for switch in &switches {
                switch.set_phone(&a.dial_string, phone.clone());
            }
            let behaviour = AgentBehaviour {
                wrap_up: random_between(WRAP_UP).mul_f64(settings.time_scale),
                reject_probability: 0.01,
            };
            tokio::spawn(run_agent(
                url.clone(),
                AgentId::new(&a.id),
                password.clone(),
                behaviour,
                people.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await; // agents log in

    let callers = Callers::from_config(&config, &demo);
    let started = kefu::clock::monotonic();
    let run_from = kefu::clock::now();
    let placing = AtomicUsize::new(0);
    let placed = tokio::select! {
        placed = place_calls(&switches, &callers, settings, &placing) => placed,
        never = progress(&kefu, &placing, settings) => match never {},
    };
    let placed_per_second = placed.len() as f64 / started.elapsed().as_secs_f64();

    drain(&kefu, &switches, settings.drain_for).await;
    let wall_s = started.elapsed().as_secs_f64();
    people.cancel();
    let mut reports = Vec::new();
    for agent in agents {
        reports.push(agent.await.unwrap_or_default());
    }
    let mut stored = kefu.store().call_outcomes().await?;
    stored.retain(|c| c.arrived_at >= run_from); // a target's earlier calls are not ours
    let callbacks: HashSet<CallId> = (kefu.store().pending_callbacks().await?.iter())
        .filter_map(|(call, _)| CallId::parse(call).ok())
        .collect();
    let called_back: HashSet<CallId> = (kefu.store())
        .calls_with_event("caller_left_for_callback", run_from)
        .await?
        .into_iter()
        .collect();

    let calls: Vec<SimCallReport> = switches.iter().flat_map(|s| s.calls()).collect();
    let checked = Checked {
        placed: &placed,
        calls: &calls,
        stored: &stored,
        callbacks: &callbacks,
        called_back: &called_back,
    };
    let mut report = compare(&checked, &reports, placed_per_second);
    (report.offer_to_bridge_ms, report.answer_to_bridge_ms) = bridge_latencies(&calls);
    report.kefu = kefu.latency().await;
    report.service_level_by_tier = service_level_by_tier(kefu.store(), &config, run_from).await?;
    report.kefu_process = kefu.usage();
    report.kefu_in_process = matches!(kefu, Kefu::InProcess(_));
    report.generator = target::usage(std::process::id());
    report.wall_s = wall_s;
    kefu.shutdown().await;
    if !report.is_sound() && settings.target.is_none() {
        report.kept = Some(data.keep());
    }
    for switch in switches {
        switch.shutdown().await;
    }
    Ok(report)
}

/// `--target`: a simulated switch on the port of each of the configuration's nodes, and
/// the kefu once it is connected to them all.
async fn attach(
    target: &Target,
    sim: &SimConfig,
) -> anyhow::Result<(Vec<FakeFreeswitch>, Config, Kefu)> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = Config::load(Some(&target.config), &env)
        .with_context(|| format!("reading {}", target.config.display()))?;
    let mut switches = Vec::new();
    for node in &config.freeswitch {
        let sim = SimConfig {
            password: node.password.expose().to_owned(),
            ..sim.clone()
        };
        let at = SocketAddr::from(([0, 0, 0, 0], node.port));
        let switch = FakeFreeswitch::start(at, sim)
            .await
            .with_context(|| format!("listening on {at} for node `{}`", node.name))?;
        switches.push(switch);
    }
    let kefu = Kefu::attach(target.http, &config).await?;
    Ok((switches, config, kefu))
}

/// The spread of the agents' talk times (simulated time; 60 s on average, as every agent
/// talked in the runs before 2026-12-05 02:30 UTC).
const TALK: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(90));

/// The spread of the agents' after-call work (simulated time; 5 s on average, as before).
const WRAP_UP: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(8));

/// Every load agent's password.
const AGENT_PASSWORD: &str = "load";

/// Embedded defaults, pointed at the switches, with `agents` agents serving every queue.
async fn config(
    settings: &LoadSettings,
    switches: &[FakeFreeswitch],
    data: &tempfile::TempDir,
) -> anyhow::Result<Config> {
    let mut config = Config::defaults()?;
    config.http.bind = "127.0.0.1:0".parse()?;
    let db = data.path().join("kefu.db");
    config.database.url = Secret::new(format!("sqlite://{}?mode=rwc", db.display()));
    config.database.spill = data.path().join("spill.jsonl");
    config.flows.dir = settings.flows.clone();
    // The not-ready time after a missed offer is the agent's own, like their talk time:
    // scaled the same.
    config.acd.not_ready_after_no_answer =
        (config.acd.not_ready_after_no_answer).mul_f64(settings.time_scale);
    config.freeswitch = switches
        .iter()
        .enumerate()
        .map(|(i, s)| NodeConfig {
            name: format!("fs{}", i + 1),
            host: s.addr().ip().to_string(),
            port: s.addr().port(),
            password: Secret::new("ClueCon"),
        })
        .collect();
    let every_queue: Vec<String> = config.queues.iter().map(|q| q.name.clone()).collect();
    let skills: BTreeMap<String, i64> =
        config.skills.names.iter().map(|s| (s.clone(), 6)).collect();
    let managers: Vec<String> = config.agents.iter().map(|a| a.id.clone()).collect();
    // Agents log in once per shift: the load test measures routing, not password hashing.
    // One hash at the smallest argon2 cost serves them all, so that neither the seeding
    // nor thousands of logins take minutes.
    config.auth.argon2_memory_kib = 64;
    config.auth.argon2_iterations = 1;
    let password = Secret::new(
        kefu::auth::Passwords::new(&config.auth)?
            .hash(AGENT_PASSWORD)
            .await,
    );
    config.agents = (0..settings.agents)
        .map(|i| AgentConfig {
            // keep the demo ids first: customers name them as account managers
            id: managers
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("{}", 5000 + i)),
            name: format!("Load agent {i}"),
            password: password.clone(),
            dial_string: format!("user/load{i}"),
            queues: every_queue.clone(),
            skills: skills.clone(),
        })
        .collect();
    config.customers.retain(|c| {
        c.account_manager
            .as_ref()
            .is_none_or(|m| config.agents.iter().any(|a| &a.id == m))
    });
    config.customers.extend(customer_base(&config.agents));
    Ok(config)
}

/// Customers beside the demo's three, so that known callers are spread as in a real
/// customer base: one in ten platinum (each with an account manager, one manager per 20
/// agents), then gold, silver and standard. With the demo's three alone, every platinum
/// caller was one customer waiting for one manager.
fn customer_base(agents: &[AgentConfig]) -> Vec<CustomerConfig> {
    const CUSTOMERS: usize = 2_000;
    let managers: Vec<&AgentConfig> = agents.iter().step_by(20).collect();
    (0..CUSTOMERS)
        .map(|i| {
            let tier = match i % 10 {
                0 => "platinum",
                1..=3 => "gold",
                4..=6 => "silver",
                _ => "standard",
            };
            let account_manager = (tier == "platinum" && !managers.is_empty())
                .then(|| managers[i / 10 % managers.len()].id.clone());
            CustomerConfig {
                name: format!("Load customer {i}"),
                phone: format!("+1555300{i:04}"),
                account: format!("{}", 700_000 + i),
                tier: tier.to_owned(),
                account_manager,
            }
        })
        .collect()
}

/// Places calls at the rate, round robin over the switches; returns each call's id.
async fn place_calls(
    switches: &[FakeFreeswitch],
    callers: &Callers,
    settings: &LoadSettings,
    placing: &AtomicUsize,
) -> Vec<CallId> {
    let gap = Duration::from_secs_f64(1.0 / settings.cps.max(0.01));
    let mut tick = tokio::time::interval(gap);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = (settings.cps * settings.duration.as_secs_f64()).round() as usize;
    let mut placed = Vec::with_capacity(total);
    for n in 0..total {
        tick.tick().await;
        placed.push(switches[n % switches.len()].place_call(callers.next_caller()));
        placing.store(placed.len(), Ordering::Relaxed);
    }
    placed
}

/// A line a second while the calls are placed (dropped when they are): how many, kefu's
/// waiting and answered calls (its live figures, today's), and its decision → screen-pop
/// p99 so far.
async fn progress(
    kefu: &Kefu,
    placing: &AtomicUsize,
    settings: &LoadSettings,
) -> std::convert::Infallible {
    let total = (settings.cps * settings.duration.as_secs_f64()).round() as usize;
    let started = kefu::clock::monotonic();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let placed = placing.load(Ordering::Relaxed);
        let rate = placed as f64 / started.elapsed().as_secs_f64();
        let figures = match kefu.waiting_and_answered().await {
            Some((waiting, answered)) => format!("waiting {waiting} · answered {answered}"),
            None => "kefu's figures unavailable".into(),
        };
        let pop = kefu.latency().await.decision_to_screen_pop;
        let p99 = pop.map_or("–".into(), |p| format!("{:.2} ms", ms(p.p99_us)));
        eprintln!(
            "placed {placed} of {total} ({rate:.0}/s) · {figures} · kefu decision → pop p99 {p99}"
        );
    }
}

/// Waits until every simulated call has ended, kefu tracks no call and its writer has
/// nothing queued. The switches are asked first: a kefu still busy (with thousands of agent
/// logins, say) may not have seen the last calls yet, and would look idle.
async fn drain(kefu: &Kefu, switches: &[FakeFreeswitch], limit: Duration) {
    let deadline = kefu::clock::monotonic() + limit;
    while kefu::clock::monotonic() < deadline {
        let switches_idle = (switches.iter()).all(|s| s.calls().iter().all(|c| c.ended.is_some()));
        if switches_idle && kefu.unfinished().await == Some(0) {
            tokio::time::sleep(Duration::from_millis(300)).await; // last snapshot + batch
            if kefu.unfinished().await == Some(0) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What the check compares: the calls placed, the switches' view of them, kefu's records,
/// the callbacks kefu still owes and the calls whose caller left to be called back.
struct Checked<'a> {
    placed: &'a [CallId],
    calls: &'a [SimCallReport],
    stored: &'a [kefu::store::CallSummary],
    callbacks: &'a HashSet<CallId>,
    called_back: &'a HashSet<CallId>,
}

fn compare(checked: &Checked<'_>, agents: &[AgentReport], placed_per_second: f64) -> Report {
    let Checked {
        placed,
        calls,
        stored,
        callbacks,
        called_back,
    } = *checked;
    let stored_by_id: HashMap<CallId, &kefu::store::CallSummary> =
        stored.iter().map(|c| (c.call, c)).collect();
    let placed_set: HashSet<CallId> = placed.iter().copied().collect();
    let channels_up: HashSet<CallId> = (calls.iter())
        .filter(|c| c.ended.is_none())
        .map(|c| c.call)
        .collect();
    let unrecorded: Vec<&CallId> = (placed.iter())
        .filter(|c| !stored_by_id.contains_key(c))
        .collect();
    let unfinished_callbacks = unrecorded.iter().filter(|c| callbacks.contains(c)).count();
    let unfinished_channels = (unrecorded.iter())
        .filter(|c| !callbacks.contains(c) && channels_up.contains(c))
        .count();
    let lost = unrecorded.len() - unfinished_callbacks - unfinished_channels;
    let unaccounted_samples = unrecorded.iter().take(10).map(|c| **c).collect();
    let unknown = stored
        .iter()
        .filter(|c| !placed_set.contains(&c.call))
        .count() as u64;
    let bridged: HashSet<CallId> = (calls.iter())
        .filter(|c| c.bridge.is_some())
        .map(|c| c.call)
        .collect();
    let bridged_not_answered = (bridged.iter())
        .filter_map(|c| stored_by_id.get(c))
        .filter(|s| s.outcome != Outcome::Answered)
        .count();
    let answered_not_bridged = (stored.iter())
        .filter(|s| s.outcome == Outcome::Answered && placed_set.contains(&s.call))
        .filter(|s| !bridged.contains(&s.call) && !called_back.contains(&s.call))
        .count();
    let wrong_outcome = (bridged_not_answered + answered_not_bridged) as u64;
    let mut outcomes = BTreeMap::new();
    for call in stored {
        *outcomes
            .entry(call.outcome.as_str().to_owned())
            .or_insert(0) += 1;
    }

    Report {
        placed: placed.len() as u64,
        outcomes,
        lost: lost as u64,
        unfinished_callbacks: unfinished_callbacks as u64,
        unfinished_channels: unfinished_channels as u64,
        unaccounted_samples,
        kept: None,
        unknown,
        wrong_outcome,
        enqueue_to_pop_ms: enqueue_to_pop(agents),
        offer_to_bridge_ms: None,
        answer_to_bridge_ms: None,
        offers: agents.iter().map(|a| a.offers).sum(),
        declined: agents.iter().map(|a| a.rejected).sum(),
        rang_unanswered: agents.iter().map(|a| a.rang_unanswered).sum(),
        agent_errors: agents.iter().map(|a| a.errors.len() as u64).sum(),
        agent_error_samples: agents
            .iter()
            .flat_map(|a| &a.errors)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .take(5)
            .cloned()
            .collect(),
        placed_per_second,
        kefu: KefuLatency::default(),
        service_level_by_tier: BTreeMap::new(),
        kefu_process: None,
        kefu_in_process: false,
        generator: None,
        wall_s: 0.0,
    }
}

/// One step of a ramp.
#[derive(Clone, Debug, Serialize)]
pub struct RampStep {
    /// The rate asked for.
    pub cps: f64,
    /// The rate the callers reached.
    pub placed_per_second: f64,
    /// Calls lost (must be 0).
    pub lost: u64,
    /// Enqueue → screen-pop p99, ms (`None` when no call was offered).
    pub pop_p99_ms: Option<f64>,
    /// lost = 0 and p99 under the limit.
    pub passed: bool,
}

/// What a ramp found.
#[derive(Clone, Debug, Serialize)]
pub struct RampReport {
    /// The p99 enqueue → screen-pop limit, ms.
    pub limit_p99_ms: f64,
    /// Each step run, in order; the ramp stops at the first that fails.
    pub steps: Vec<RampStep>,
    /// The highest rate that passed.
    pub highest_passing_cps: Option<f64>,
}

/// Runs `base` at each rate in turn, a fresh kefu each time, until a step loses a call or
/// its p99 enqueue → screen-pop reaches `limit_p99_ms`.
///
/// # Errors
/// A run fails to start or to read the database.
pub async fn ramp(
    base: &LoadSettings,
    rates: &[f64],
    limit_p99_ms: f64,
) -> anyhow::Result<RampReport> {
    let mut steps = Vec::new();
    for &cps in rates {
        let report = run(&LoadSettings {
            cps,
            ..base.clone()
        })
        .await?;
        let pop_p99_ms = report.enqueue_to_pop_ms.map(|p| p.p99);
        let passed = report.is_sound() && pop_p99_ms.is_some_and(|p99| p99 < limit_p99_ms);
        let step = RampStep {
            cps,
            placed_per_second: report.placed_per_second,
            lost: report.lost,
            pop_p99_ms,
            passed,
        };
        eprintln!("ramp: {step:?}");
        steps.push(step);
        if !passed {
            break;
        }
    }
    let highest_passing_cps = steps
        .iter()
        .filter(|s| s.passed)
        .map(|s| s.cps)
        .reduce(f64::max);
    Ok(RampReport {
        limit_p99_ms,
        steps,
        highest_passing_cps,
    })
}

/// The short human summary printed after a ramp.
pub fn ramp_summary(ramp: &RampReport) -> String {
    let mut lines = vec![format!(
        "ramp: lost = 0 and p99 enqueue → screen-pop < {} ms",
        ramp.limit_p99_ms
    )];
    for step in &ramp.steps {
        lines.push(format!(
            "  {:>6.0}/s (reached {:.1}/s): lost {}, p99 {} — {}",
            step.cps,
            step.placed_per_second,
            step.lost,
            step.pop_p99_ms.map_or("–".into(), |p| format!("{p:.2} ms")),
            if step.passed { "pass" } else { "FAIL" }
        ));
    }
    lines.push(match ramp.highest_passing_cps {
        Some(cps) => format!("highest passing rate: {cps:.0} calls/s"),
        None => "no rate passed".into(),
    });
    lines.join("\n")
}

/// The short human summary printed after a run.
pub fn summary(report: &Report) -> String {
    let pop = report
        .enqueue_to_pop_ms
        .map(|p| {
            format!(
                "enqueue → screen-pop (queue wait included): {}",
                p.readable()
            )
        })
        .unwrap_or_else(|| "enqueue → screen-pop: no offers".into());
    let bridges = match (report.offer_to_bridge_ms, report.answer_to_bridge_ms) {
        (Some(offer), Some(answer)) => format!(
            "\noffer → bridge (ring included): {}\nagent answered → bridge: {}",
            offer.readable(),
            answer.readable()
        ),
        _ => "\nno call bridged".into(),
    };
    let kefu_line = |name: &str, p: Option<LatencyPercentiles>| match p {
        Some(p) => format!(
            "\nkefu {name}: p50 {:.3} ms, p90 {:.3}, p99 {:.3}, p99.9 {:.3}, max {:.3} ({} values)",
            ms(p.p50_us),
            ms(p.p90_us),
            ms(p.p99_us),
            ms(p.p999_us),
            ms(p.max_us),
            p.count
        ),
        None => format!("\nkefu {name}: no values"),
    };
    let tiers: Vec<String> = report
        .service_level_by_tier
        .iter()
        .map(|(tier, t)| {
            let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.1}%", 100.0 * v));
            format!(
                "{tier} {} (target {}, {} offered)",
                pct(t.service_level),
                pct(t.target),
                t.offered
            )
        })
        .collect();
    let waited = |u: Usage| {
        format!(
            "waited for a core {:.1} s over {} runs (mean {:.0} µs)",
            u.core_wait_s,
            u.runs,
            u.mean_core_wait_us()
        )
    };
    let resources = match (report.kefu_process, report.generator) {
        (Some(k), generator) => format!(
            "\nkefu process: {:.1} s CPU over {:.1} s ({:.0}% of one core), peak memory {:.0} MiB, {}; load generator {}",
            k.cpu_s,
            report.wall_s,
            100.0 * k.cpu_s / report.wall_s.max(0.001),
            k.peak_rss_mib,
            waited(k),
            generator.map_or("–".into(), |g| format!(
                "{:.1} s CPU, {}",
                g.cpu_s,
                waited(g)
            )),
        ),
        (None, Some(g)) if report.kefu_in_process => format!(
            "\nkefu and the load generator in one process: {:.1} s CPU over {:.1} s, {} (run with --kefu to measure kefu alone)",
            g.cpu_s,
            report.wall_s,
            waited(g)
        ),
        (None, Some(g)) => format!(
            "\nkefu runs elsewhere (its CPU and memory not measured here); load generator: {:.1} s CPU over {:.1} s, {}",
            g.cpu_s,
            report.wall_s,
            waited(g)
        ),
        (None, None) => String::new(),
    };
    let kefu = [
        resources,
        format!("\nSL by tier: {}", tiers.join(", ")),
        kefu_line("ESL event → decision", report.kefu.event_to_decision),
        kefu_line("decision → command", report.kefu.decision_to_command),
        kefu_line(
            "decision → screen-pop written",
            report.kefu.decision_to_screen_pop,
        ),
    ]
    .concat();
    let unfinished = if report.unfinished_callbacks + report.unfinished_channels > 0 {
        format!(
            " (not over when the drain gave up, so not checked: {} callbacks kefu still owes, {} channels up)",
            report.unfinished_callbacks, report.unfinished_channels
        )
    } else {
        String::new()
    };
    let kept = report.kept.as_ref().map_or(String::new(), |path| {
        format!(
            "\nkefu's configuration, log and database kept in {} (calls to look up: {:?})",
            path.display(),
            report.unaccounted_samples
        )
    });
    format!(
        "placed {} ({:.1}/s); outcomes {:?}; lost {}{unfinished}; unknown {}; wrong outcome {}; offers {} (declined {}, rang unanswered {}); agent errors {} {:?}\n{pop}{bridges}{kefu}{kept}",
        report.placed,
        report.placed_per_second,
        report.outcomes,
        report.lost,
        report.unknown,
        report.wrong_outcome,
        report.offers,
        report.declined,
        report.rang_unanswered,
        report.agent_errors,
        report.agent_error_samples
    )
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use kefu::domain::{CallId, Outcome, TierId, Timestamp};
    use kefu::sim::{BridgeTimes, SimCallOutcome, SimCallReport};
    use kefu::store::CallSummary;

    use std::collections::HashSet;

    use super::{Checked, compare};

    fn bridged(call: CallId) -> SimCallReport {
        let at = Timestamp::from_micros(1_000_000);
        SimCallReport {
            call,
            caller_number: "+15551234567".into(),
            destination: "8005550100".into(),
            outcome: SimCallOutcome::Answered {
                agent_leg: CallId::random(),
                dial_string: "user/1001".into(),
            },
            digits_consumed: Vec::new(),
            arrived: kefu::clock::monotonic(),
            bridge: Some(BridgeTimes {
                originated: at,
                agent_answered: at,
                bridged: at,
            }),
            ended: None,
            hangup_cause: None,
        }
    }

    fn stored(call: CallId, outcome: Outcome) -> CallSummary {
        CallSummary {
            call,
            arrived_at: Timestamp::from_micros(0),
            tier: TierId::new("standard"),
            agent: None,
            outcome,
            disposition: None,
        }
    }

    #[test]
    fn answered_in_one_place_only_is_a_wrong_outcome() {
        let [right, not_answered, not_bridged, called_back] = [(); 4].map(|()| CallId::random());
        let never_bridged = |call| SimCallReport {
            bridge: None,
            ..bridged(call)
        };
        let calls = [
            bridged(right),
            bridged(not_answered),
            never_bridged(not_bridged),
            never_bridged(called_back), // the callback bridged another channel
        ];
        let stored = [
            stored(right, Outcome::Answered),
            stored(not_answered, Outcome::Abandoned),
            stored(not_bridged, Outcome::Answered),
            stored(called_back, Outcome::Answered),
        ];
        let checked = Checked {
            placed: &[right, not_answered, not_bridged, called_back],
            calls: &calls,
            stored: &stored,
            callbacks: &HashSet::new(),
            called_back: &HashSet::from([called_back]),
        };
        let report = compare(&checked, &[], 1.0);
        assert_eq!((report.lost, report.unknown), (0, 0));
        assert_eq!(report.wrong_outcome, 2, "not_answered and not_bridged");
        assert!(!report.is_sound());
    }

    #[test]
    fn an_unrecorded_call_still_in_progress_is_unfinished_not_lost() {
        let (owed, up, gone, recorded) = (
            CallId::random(),
            CallId::random(),
            CallId::random(),
            CallId::random(),
        );
        let ended = |call| SimCallReport {
            ended: Some(kefu::clock::monotonic()),
            bridge: None,
            ..bridged(call)
        };
        // The callback's caller hung up to be called back: their channel is over.
        let calls = [ended(owed), bridged(up), ended(gone), ended(recorded)];
        let stored = [stored(recorded, Outcome::Abandoned)];
        let checked = Checked {
            placed: &[owed, up, gone, recorded],
            calls: &calls,
            stored: &stored,
            callbacks: &HashSet::from([owed]),
            called_back: &HashSet::from([owed]),
        };
        let report = compare(&checked, &[], 1.0);
        assert_eq!(report.unfinished_callbacks, 1);
        assert_eq!(report.unfinished_channels, 1);
        assert_eq!(report.lost, 1, "only the ended, unrecorded, unowed call");
        assert!(!report.is_sound());
        let text = super::summary(&report);
        assert!(text.contains("lost 1 (not over"), "{text}");
    }
}
