//! Logs and metrics. `init` sets up the tracing subscriber; [`Metrics`] is the Prometheus
//! registry every adapter records into, rendered at `/metrics`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber: `RUST_LOG` filter (default `info`), compact text.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests) is harmless: the first subscriber stays.
    // Colours only on a terminal: log files and collectors get plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .try_init();
}

/// One label: `name="value"`.
pub type Labels = Vec<(&'static str, String)>;

/// kefu's metrics. Counters and histograms are recorded where things happen; gauges are
/// refreshed from live state just before each scrape.
pub struct Metrics {
    registry: Registry,
    /// Calls ended, by outcome.
    pub calls: Family<Labels, Counter>,
    /// Routing decisions made, by kind.
    pub decisions: Family<Labels, Counter>,
    /// ESL commands the engine could not hand to a node (not connected, queue full).
    pub commands_dropped: Counter,
    /// Agent pushes that found no socket or a full one.
    pub pushes_dropped: Counter,
    /// Calls waiting now, by queue.
    pub waiting: Family<Labels, Gauge>,
    /// Agents by state.
    pub agents: Family<Labels, Gauge>,
    /// ESL connection up (1) or down (0), by node.
    pub esl_connected: Family<Labels, Gauge>,
    /// ESL reconnects since start, by node.
    pub esl_reconnects: Family<Labels, Gauge<u64, AtomicU64>>,
    /// ESL events received since start, by node.
    pub esl_events: Family<Labels, Gauge<u64, AtomicU64>>,
    /// Database writer queue depth.
    pub writer_queue: Gauge,
    /// Database writer retries since start.
    pub writer_retries: Gauge<u64, AtomicU64>,
    /// Completed calls written to the database since start.
    pub writer_written: Gauge<u64, AtomicU64>,
    /// Completed calls dropped (writer queue full, or shutdown out of time) since start.
    pub writer_dropped: Gauge<u64, AtomicU64>,
    /// Completed calls written to the spill file (database unreachable) since start.
    pub writer_spilled: Gauge<u64, AtomicU64>,
    /// ESL event read off the socket → routing decision, seconds.
    pub event_to_decision: Histogram,
    /// Routing decision → screen-pop written to the agent's socket, seconds.
    pub decision_to_pop: Histogram,
    /// Routing decision → command handed to the node's writer, seconds.
    pub decision_to_command: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every kefu metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kefu");
        let latency = || Histogram::new(exponential_buckets(0.000_01, 2.0, 20));
        let metrics = Metrics {
            calls: Family::default(),
            decisions: Family::default(),
            commands_dropped: Counter::default(),
            pushes_dropped: Counter::default(),
            waiting: Family::default(),
            agents: Family::default(),
            esl_connected: Family::default(),
            esl_reconnects: Family::default(),
            esl_events: Family::default(),
            writer_queue: Gauge::default(),
            writer_retries: Gauge::default(),
            writer_written: Gauge::default(),
            writer_dropped: Gauge::default(),
            writer_spilled: Gauge::default(),
            event_to_decision: latency(),
            decision_to_pop: latency(),
            decision_to_command: latency(),
            registry: Registry::default(),
        };
        registry.register("calls", "Calls ended, by outcome", metrics.calls.clone());
        registry.register(
            "decisions",
            "Routing decisions, by kind",
            metrics.decisions.clone(),
        );
        registry.register(
            "esl_commands_dropped",
            "ESL commands not handed to a node",
            metrics.commands_dropped.clone(),
        );
        registry.register(
            "agent_pushes_dropped",
            "Agent messages with no socket or a full queue",
            metrics.pushes_dropped.clone(),
        );
        registry.register(
            "queue_waiting",
            "Calls waiting now, by queue",
            metrics.waiting.clone(),
        );
        registry.register("agents", "Agents by state", metrics.agents.clone());
        registry.register(
            "esl_connected",
            "ESL connection up (1) or down (0), by node",
            metrics.esl_connected.clone(),
        );
        registry.register(
            "esl_reconnects",
            "ESL reconnects since start, by node",
            metrics.esl_reconnects.clone(),
        );
        registry.register(
            "esl_events_received",
            "ESL events received since start, by node",
            metrics.esl_events.clone(),
        );
        registry.register(
            "writer_queue_depth",
            "Completed calls waiting for the database",
            metrics.writer_queue.clone(),
        );
        registry.register(
            "writer_retries",
            "Database write retries since start",
            metrics.writer_retries.clone(),
        );
        registry.register(
            "calls_recorded",
            "Completed calls written to the database since start",
            metrics.writer_written.clone(),
        );
        registry.register(
            "call_records_dropped",
            "Completed calls dropped before reaching the database since start",
            metrics.writer_dropped.clone(),
        );
        registry.register(
            "call_records_spilled",
            "Completed calls spilled to disk while the database was unreachable, since start",
            metrics.writer_spilled.clone(),
        );
        registry.register(
            "event_to_decision_seconds",
            "ESL event read off the socket to routing decision",
            metrics.event_to_decision.clone(),
        );
        registry.register(
            "decision_to_screen_pop_seconds",
            "Routing decision to screen-pop written to the agent socket",
            metrics.decision_to_pop.clone(),
        );
        registry.register(
            "decision_to_command_seconds",
            "Routing decision to ESL command handed to the node writer",
            metrics.decision_to_command.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// A `(name, value)` label set.
pub fn label(name: &'static str, value: impl Into<String>) -> Labels {
    vec![(name, value.into())]
}
