//! Routing decisions at scale: 200 queues, 100 skills, 20,000 agents, 50,000 waiting calls.
//!
//! Two decisions, as in issue 5: a call arrives (agents available), and an agent is freed
//! (calls waiting). `percentiles` times every single decision into an HdrHistogram and
//! prints p50/p90/p99/max; the criterion groups compare how the agent-freed decision grows
//! from 1,000 to 50,000 waiting calls. Run: `cargo bench --bench acd_decisions`.

// A benchmark reads the clock itself: that is what it measures.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kefu::acd::{AgentSpec, CallSpec, Decision, Overflow, QueueSpec, Router, RouterSettings, Step};
use kefu::config::Strategy;
use kefu::domain::{AgentId, CallId, Proficiency, QueueId, Skill, Timestamp};

const QUEUES: usize = 200;
const SKILLS: usize = 100;
const AGENTS: usize = 20_000;

/// A small deterministic generator (the bench must not depend on a random seed source).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn level(l: i64) -> Proficiency {
    Proficiency::new(l).expect("1..=10")
}

fn build(waiting: usize, available: bool) -> (Router, Vec<AgentId>, Vec<QueueId>) {
    let mut rng = Lcg(42);
    let skills: Vec<Skill> = (0..SKILLS).map(|i| Skill::new(format!("s{i}"))).collect();
    let queues: Vec<QueueId> = (0..QUEUES).map(|i| QueueId::new(format!("q{i}"))).collect();
    let queue_specs = queues
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let skill = skills[i % SKILLS].clone();
            QueueSpec {
                id: id.clone(),
                strategy: if i % 2 == 0 {
                    Strategy::LongestIdle
                } else {
                    Strategy::HighestProficiency
                },
                priority: 0,
                steps: vec![
                    Step {
                        after: Duration::ZERO,
                        skills: vec![(skill.clone(), level(5))],
                    },
                    Step {
                        after: Duration::from_secs(30),
                        skills: vec![(skill, level(1))],
                    },
                    Step {
                        after: Duration::from_secs(90),
                        skills: vec![],
                    },
                ],
                max_wait: Duration::from_secs(3600),
                overflow: Overflow::Message("busy".into()),
            }
        })
        .collect();
    let agents: Vec<AgentId> = (0..AGENTS).map(|i| AgentId::new(format!("a{i}"))).collect();
    let agent_specs = agents
        .iter()
        .map(|id| {
            let served: Vec<usize> = (0..3).map(|_| rng.next(QUEUES)).collect();
            let skills: HashMap<Skill, Proficiency> = served
                .iter()
                .map(|&q| (skills[q % SKILLS].clone(), level(1 + rng.next(10) as i64)))
                .collect();
            AgentSpec {
                id: id.clone(),
                queues: served.iter().map(|&q| queues[q].clone()).collect(),
                skills,
            }
        })
        .collect();
    let settings = RouterSettings {
        aging_per_minute: 10,
        account_manager_first: Duration::from_secs(30),
        not_ready_after_no_answer: Duration::from_secs(30),
        ring_timeout: Duration::from_secs(20),
        wrap_up: Duration::from_secs(3600),
        callback_ring_timeout: Duration::from_secs(30),
    };
    let mut router = Router::new(settings, queue_specs, agent_specs);
    let now = t(0);
    for agent in &agents {
        router.login(agent, now);
        if available {
            router.make_available(agent, now);
        }
    }
    for i in 0..waiting {
        let call = call_in(
            &queues[rng.next(QUEUES)],
            i as u128,
            [0, 10, 20, 30][rng.next(4)],
            now,
        );
        let decisions = router.enqueue(call, now);
        assert!(
            decisions.is_empty() || available,
            "with nobody available every call waits"
        );
    }
    (router, agents, queues)
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + secs * 1000)
}

fn call_in(queue: &QueueId, n: u128, priority: i32, at: Timestamp) -> CallSpec {
    CallSpec {
        call: CallId(uuid::Uuid::from_u128(n + 1)),
        queue: queue.clone(),
        priority,
        account_manager: None,
        enqueued_at: at,
        callback: false,
    }
}

/// One "agent freed" decision and the untimed work that brings the router back to the same
/// size: the offered call is answered and ended, a new call arrives to replace it.
struct FreedCycle {
    router: Router,
    agents: Vec<AgentId>,
    queues: Vec<QueueId>,
    next_agent: usize,
    next_call: u128,
    rng: Lcg,
}

impl FreedCycle {
    fn new(waiting: usize) -> FreedCycle {
        let (router, agents, queues) = build(waiting, false);
        FreedCycle {
            router,
            agents,
            queues,
            next_agent: 0,
            next_call: 10_000_000,
            rng: Lcg(7),
        }
    }

    /// Returns the time of the agent-freed decision and of the call-arrives decision.
    fn step(&mut self) -> (Duration, Duration) {
        let agent = self.agents[self.next_agent % AGENTS].clone();
        self.next_agent += 1;
        let now = t(1);
        // The engine hands finished state spans to the recorder after every input.
        drop(self.router.take_spans());
        let start = Instant::now();
        let decisions = self.router.make_available(&agent, now);
        let freed = start.elapsed();
        if let Some(Decision::Offer { call, agent }) = black_box(decisions).into_iter().next() {
            self.router.offer_answered(call, now);
            self.router
                .call_ended(&agent, call, Duration::from_secs(60), now);
        }
        self.next_call += 1;
        let queue = self.queues[self.rng.next(QUEUES)].clone();
        let call = call_in(&queue, self.next_call, 10, now);
        let start = Instant::now();
        black_box(self.router.enqueue(call, now));
        (freed, start.elapsed())
    }
}

/// A call arriving while agents are available, and the agent freed again afterwards (no
/// waiting calls): the other direction of the same two decisions.
fn arrive_cycle(
    router: &mut Router,
    queues: &[QueueId],
    rng: &mut Lcg,
    n: u128,
) -> (Duration, Duration) {
    let now = t(1);
    drop(router.take_spans());
    let queue = &queues[rng.next(QUEUES)];
    let start = Instant::now();
    let decisions = router.enqueue(call_in(queue, n, 10, now), now);
    let arrived = start.elapsed();
    let mut freed = Duration::ZERO;
    if let Some(Decision::Offer { call, agent }) = black_box(decisions).into_iter().next() {
        router.offer_answered(call, now);
        router.call_ended(&agent, call, Duration::from_secs(60), now);
        let start = Instant::now();
        black_box(router.wrap_up_done(&agent, call, now));
        freed = start.elapsed();
    }
    (arrived, freed)
}

fn report(name: &str, samples: &hdrhistogram::Histogram<u64>) {
    println!(
        "{name:<44} n={:<7} p50={:>6.2}µs p90={:>6.2}µs p99={:>6.2}µs p99.9={:>6.2}µs max={:>7.2}µs",
        samples.len(),
        samples.value_at_quantile(0.5) as f64 / 1000.0,
        samples.value_at_quantile(0.9) as f64 / 1000.0,
        samples.value_at_quantile(0.99) as f64 / 1000.0,
        samples.value_at_quantile(0.999) as f64 / 1000.0,
        samples.max() as f64 / 1000.0,
    );
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

/// Every decision timed alone: the percentiles issue 5 targets (p99 < 20 µs).
fn percentiles(_: &mut Criterion) {
    let new_histogram =
        || hdrhistogram::Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("bounds");
    let mut freed = new_histogram();
    let mut arrived_waiting = new_histogram();
    let mut cycle = FreedCycle::new(50_000);
    for _ in 0..100_000 {
        let (f, a) = cycle.step();
        freed.record(nanos(f)).ok();
        arrived_waiting.record(nanos(a)).ok();
    }
    let (mut router, _, queues) = build(0, true);
    let mut rng = Lcg(9);
    let (mut arrived, mut freed_idle) = (new_histogram(), new_histogram());
    for n in 0..100_000u128 {
        let (a, f) = arrive_cycle(&mut router, &queues, &mut rng, 20_000_000 + n);
        arrived.record(nanos(a)).ok();
        freed_idle.record(nanos(f)).ok();
    }
    println!("\nrouting decisions: {QUEUES} queues, {SKILLS} skills, {AGENTS} agents");
    report("agent freed, 50,000 calls waiting", &freed);
    report("call arrives, 50,000 waiting, none free", &arrived_waiting);
    report("call arrives, 20,000 agents available", &arrived);
    report("agent freed, no call waiting", &freed_idle);
}

/// How the agent-freed decision grows with the number of waiting calls.
fn growth(c: &mut Criterion) {
    let mut group = c.benchmark_group("agent_freed_by_waiting_calls");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for waiting in [1_000usize, 5_000, 10_000, 50_000] {
        let mut cycle = FreedCycle::new(waiting);
        group.bench_with_input(BenchmarkId::from_parameter(waiting), &waiting, |b, _| {
            b.iter_custom(|iterations| (0..iterations).map(|_| cycle.step().0).sum())
        });
    }
    group.finish();
}

criterion_group!(benches, percentiles, growth);
criterion_main!(benches);
