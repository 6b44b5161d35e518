//! Logs and metrics. `init` sets up the tracing subscriber; [`Metrics`] is the Prometheus
//! registry every adapter records into, rendered at `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use histogram::AtomicHistogram;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
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
    /// Callbacks, by event: requested, dialled, unanswered, connected, given_up, restored.
    pub callbacks: Family<Labels, Counter>,
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
    /// Transactions that wrote completed calls since start.
    pub writer_transactions: Gauge<u64, AtomicU64>,
    /// Completed calls dropped (writer queue full, or shutdown out of time) since start.
    pub writer_dropped: Gauge<u64, AtomicU64>,
    /// Completed calls written to the spill file (database unreachable) since start.
    pub writer_spilled: Gauge<u64, AtomicU64>,
    /// Agent state spans by writer status (queued, written, spilled, replayed, dropped).
    pub agent_state_records: Family<Labels, Gauge<u64, AtomicU64>>,
    /// Failed agent-state writes since start.
    pub agent_state_writer_retries: Gauge<u64, AtomicU64>,
    /// ESL event read off the socket → routing decision.
    pub event_to_decision: Latency,
    /// Routing decision → screen-pop written to the agent's socket.
    pub decision_to_pop: Latency,
    /// Routing decision → command handed to the node's writer.
    pub decision_to_command: Latency,
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
        let metrics = Metrics {
            calls: Family::default(),
            decisions: Family::default(),
            callbacks: Family::default(),
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
            writer_transactions: Gauge::default(),
            writer_dropped: Gauge::default(),
            writer_spilled: Gauge::default(),
            agent_state_records: Family::default(),
            agent_state_writer_retries: Gauge::default(),
            event_to_decision: Latency::new(),
            decision_to_pop: Latency::new(),
            decision_to_command: Latency::new(),
            registry: Registry::default(),
        };
        registry.register("calls", "Calls ended, by outcome", metrics.calls.clone());
        registry.register(
            "decisions",
            "Routing decisions, by kind",
            metrics.decisions.clone(),
        );
        registry.register(
            "callbacks",
            "Callbacks, by event (requested, dialled, unanswered, connected, given_up, restored)",
            metrics.callbacks.clone(),
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
            "call_record_transactions",
            "Transactions that wrote completed calls since start (calls_recorded / this: calls per commit)",
            metrics.writer_transactions.clone(),
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
            "agent_state_records",
            "Agent state spans by writer status (queued now; written, spilled, replayed, dropped since start)",
            metrics.agent_state_records.clone(),
        );
        registry.register(
            "agent_state_writer_retries",
            "Failed agent-state writes since start",
            metrics.agent_state_writer_retries.clone(),
        );
        registry.register(
            "event_to_decision_seconds",
            "ESL event read off the socket to routing decision (the call placed in its queue: offered or waiting)",
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

/// A latency distribution that any task records into without a lock or an allocation:
/// atomic log-linear buckets (`histogram::AtomicHistogram`, HdrHistogram's layout), in
/// microseconds, with under 1 % error. (`hdrhistogram` records only through a `&mut` or a
/// phased recorder per task, which 20,000 agent sockets cannot each hold.)
#[derive(Clone, Debug)]
pub struct Latency {
    buckets: Arc<AtomicHistogram>,
    sum_us: Arc<AtomicU64>,
}

/// Percentiles of a [`Latency`] since start, in microseconds (each the upper end of its
/// bucket, so never below the true value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LatencyPercentiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
}

/// 2^7 buckets per power of two: under 1 % error. Values up to 2^36 µs (19 hours).
const GROUPING_POWER: u8 = 7;
const MAX_VALUE_POWER: u8 = 36;

/// The `le` bounds of the Prometheus rendering: 10 µs doubling to about 5 s.
const PROMETHEUS_BOUNDS_US: [u64; 20] = {
    let mut bounds = [0; 20];
    let mut i = 0;
    while i < 20 {
        bounds[i] = 10 << i;
        i += 1;
    }
    bounds
};

impl Latency {
    /// An empty distribution.
    pub fn new() -> Latency {
        let buckets = AtomicHistogram::new(GROUPING_POWER, MAX_VALUE_POWER)
            .unwrap_or_else(|_| unreachable!("constant, valid histogram configuration"));
        Latency {
            buckets: Arc::new(buckets),
            sum_us: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records one latency: two relaxed atomic adds.
    pub fn record(&self, elapsed: Duration) {
        let max = (1u64 << MAX_VALUE_POWER) - 1;
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(max).min(max);
        // Within range by construction: `increment` cannot fail.
        let _ = self.buckets.increment(us);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Percentiles since start; `None` before the first value.
    pub fn percentiles(&self) -> Option<LatencyPercentiles> {
        let snapshot = self.buckets.load();
        let mut out = [None, None, None, None, None];
        snapshot
            .quantile_buckets_into(&[0.5, 0.9, 0.99, 0.999, 1.0], &mut out)
            .ok()?;
        let [Some(p50), Some(p90), Some(p99), Some(p999), Some(max)] = out else {
            return None;
        };
        Some(LatencyPercentiles {
            count: snapshot.iter().map(|b| b.count()).sum(),
            p50_us: p50.end(),
            p90_us: p90.end(),
            p99_us: p99.end(),
            p999_us: p999.end(),
            max_us: max.end(),
        })
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

/// Rendered as a Prometheus histogram in seconds. A bucket of the fine histogram counts
/// under the first bound at or above its upper end (an estimate off by under 1 %).
impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.buckets.load();
        let mut counts = [0u64; PROMETHEUS_BOUNDS_US.len() + 1];
        let mut total = 0;
        for bucket in snapshot.iter().filter(|b| b.count() > 0) {
            let slot = PROMETHEUS_BOUNDS_US.partition_point(|&le| le < bucket.end());
            counts[slot] += bucket.count();
            total += bucket.count();
        }
        let buckets: Vec<(f64, u64)> = PROMETHEUS_BOUNDS_US
            .iter()
            .map(|&le| le as f64 / 1e6)
            .chain([f64::MAX])
            .zip(counts)
            .collect();
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(sum, total, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_one_percent_and_never_low() {
        let latency = Latency::new();
        assert_eq!(latency.percentiles(), None);
        for us in 1..=1000 {
            latency.record(Duration::from_micros(us));
        }
        let p = latency.percentiles().expect("values recorded");
        assert_eq!(p.count, 1000);
        for (got, exact) in [
            (p.p50_us, 500),
            (p.p90_us, 900),
            (p.p99_us, 990),
            (p.max_us, 1000),
        ] {
            assert!(
                got >= exact && got <= exact + exact / 100,
                "{got} for {exact}: {p:?}"
            );
        }
    }

    #[test]
    fn recording_from_many_threads_loses_nothing() {
        let latency = Latency::new();
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let latency = latency.clone();
                scope.spawn(move || {
                    for i in 0..10_000 {
                        latency.record(Duration::from_micros(t * 1000 + i % 1000));
                    }
                });
            }
        });
        assert_eq!(latency.percentiles().map(|p| p.count), Some(40_000));
    }

    #[test]
    fn renders_as_a_prometheus_histogram_in_seconds() {
        let metrics = Metrics::new();
        metrics.event_to_decision.record(Duration::from_micros(15)); // le 0.00002
        metrics.event_to_decision.record(Duration::from_millis(3)); // le 0.00512
        metrics.event_to_decision.record(Duration::from_secs(60)); // +Inf
        let text = metrics.render();
        for line in [
            "kefu_event_to_decision_seconds_count 3",
            "kefu_event_to_decision_seconds_bucket{le=\"0.00001\"} 0",
            "kefu_event_to_decision_seconds_bucket{le=\"0.00002\"} 1",
            "kefu_event_to_decision_seconds_bucket{le=\"0.00256\"} 1",
            "kefu_event_to_decision_seconds_bucket{le=\"0.00512\"} 2",
            "kefu_event_to_decision_seconds_bucket{le=\"+Inf\"} 3",
        ] {
            assert!(text.contains(line), "`{line}` in:\n{text}");
        }
        assert!(
            text.contains("kefu_event_to_decision_seconds_sum 60.003015"),
            "{text}"
        );
    }
}
