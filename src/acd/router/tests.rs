//! Unit tests for the routing rules; time is a number the test sets (seconds).

use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::acd::{DirectoryRefused, Step};
use crate::domain::{Proficiency, Skill};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + secs * 1000)
}

fn settings() -> RouterSettings {
    RouterSettings {
        aging_per_minute: 10,
        account_manager_first: Duration::from_secs(30),
        not_ready_after_no_answer: Duration::from_secs(30),
        ring_timeout: Duration::from_secs(20),
        wrap_up: Duration::from_secs(30),
        callback_ring_timeout: Duration::from_secs(30),
    }
}

fn step(after: u64, skills: &[(&str, i64)]) -> Step {
    Step {
        after: Duration::from_secs(after),
        skills: skills
            .iter()
            .map(|(s, p)| (Skill::new(s), Proficiency::new(*p).expect("1..=10")))
            .collect(),
    }
}

fn queue(name: &str, strategy: Strategy, steps: Vec<Step>) -> QueueSpec {
    QueueSpec {
        id: QueueId::new(name),
        strategy,
        priority: 0,
        steps,
        max_wait: Duration::from_secs(300),
        overflow: Overflow::Message("busy.wav".into()),
    }
}

fn agent(id: &str, queues: &[&str], skills: &[(&str, i64)]) -> AgentSpec {
    AgentSpec {
        id: AgentId::new(id),
        queues: queues.iter().map(QueueId::new).collect(),
        skills: skills
            .iter()
            .map(|(s, p)| (Skill::new(s), Proficiency::new(*p).expect("1..=10")))
            .collect::<HashMap<_, _>>(),
    }
}

fn call(n: u128, queue: &str, priority: i32, at: Timestamp) -> CallSpec {
    CallSpec {
        call: CallId(uuid::Uuid::from_u128(n)),
        queue: QueueId::new(queue),
        priority,
        account_manager: None,
        enqueued_at: at,
        callback: false,
    }
}

fn id(n: u128) -> CallId {
    CallId(uuid::Uuid::from_u128(n))
}

fn offer(n: u128, agent: &str) -> Decision {
    Decision::Offer {
        call: id(n),
        agent: AgentId::new(agent),
    }
}

/// `manager` (billing 7) and `other` (billing 9) in the billing router's `general` queue.
fn manager_router() -> Router {
    billing_router(vec![
        agent("manager", &["general"], &[("billing", 7)]),
        agent("other", &["general"], &[("billing", 9)]),
    ])
}

/// A platinum-priority call in `general` whose account manager is `manager`.
fn key_call(n: u128, at: Timestamp) -> CallSpec {
    CallSpec {
        account_manager: Some(AgentId::new("manager")),
        ..call(n, "general", 30, at)
    }
}

/// general queue: billing ≥ 5 at first, ≥ 1 after 30 s, anyone after 90 s.
fn billing_router(agents: Vec<AgentSpec>) -> Router {
    let steps = vec![
        step(0, &[("billing", 5)]),
        step(30, &[("billing", 1)]),
        step(90, &[]),
    ];
    Router::new(
        settings(),
        vec![queue("general", Strategy::LongestIdle, steps)],
        agents,
    )
}

/// `general` (max wait 300 s) and `vip` (max wait 900 s), one agent each.
fn two_queue_router() -> Router {
    let steps = || vec![step(0, &[])];
    let mut vip = queue("vip", Strategy::LongestIdle, steps());
    vip.max_wait = Duration::from_secs(900);
    Router::new(
        settings(),
        vec![queue("general", Strategy::LongestIdle, steps()), vip],
        vec![agent("g", &["general"], &[]), agent("v", &["vip"], &[])],
    )
}

#[test]
fn a_moved_call_keeps_its_age_and_is_offered_in_its_new_queue() {
    let mut r = two_queue_router();
    r.login(&AgentId::new("g"), t(0));
    r.login(&AgentId::new("v"), t(0));
    assert!(r.enqueue(call(1, "general", 0, t(0)), t(0)).is_empty());
    assert_eq!(r.calls_ahead(id(1)), Some(0));
    // Nobody available in vip yet: the call waits there, older than later vip callers.
    assert_eq!(r.move_call(id(1), &QueueId::new("vip"), t(10)), Ok(vec![]));
    assert!(r.enqueue(call(2, "vip", 0, t(20)), t(20)).is_empty());
    assert_eq!(
        (
            r.calls_in_queue(&QueueId::new("general")),
            r.calls_in_queue(&QueueId::new("vip"))
        ),
        (0, 2)
    );
    assert_eq!(
        r.calls_ahead(id(2)),
        Some(1),
        "the moved call keeps its place by age"
    );
    // general's 300 s max wait no longer applies; vip's 900 s does.
    assert!(
        r.tick(t(400)).is_empty(),
        "a stale max-wait timer overflowed the call"
    );
    assert_eq!(
        r.make_available(&AgentId::new("v"), t(401)),
        vec![offer(1, "v")]
    );
    assert_eq!(
        r.move_call(id(1), &QueueId::new("general"), t(402)),
        Err(ActionRefused::BeingOffered)
    );
    assert_eq!(
        r.move_call(id(2), &QueueId::new("nowhere"), t(402)),
        Err(ActionRefused::UnknownQueue(QueueId::new("nowhere")))
    );
    assert_eq!(
        r.move_call(id(9), &QueueId::new("vip"), t(402)),
        Err(ActionRefused::NotWaiting)
    );
}

#[test]
fn a_raised_priority_puts_the_call_first() {
    let mut r = two_queue_router();
    r.login(&AgentId::new("g"), t(0));
    for n in 1..=3 {
        assert!(
            r.enqueue(call(n, "general", 0, t(n as i64)), t(n as i64))
                .is_empty()
        );
    }
    assert_eq!(r.calls_ahead(id(3)), Some(2));
    assert_eq!(r.set_priority(id(3), 50, t(10)), Ok(vec![]));
    assert_eq!(r.calls_ahead(id(3)), Some(0));
    assert_eq!(
        r.make_available(&AgentId::new("g"), t(11)),
        vec![offer(3, "g")]
    );
}

#[test]
fn nobody_logged_in_refuses_a_move_rather_than_overflow() {
    let mut r = two_queue_router();
    r.login(&AgentId::new("g"), t(0));
    assert!(r.enqueue(call(1, "general", 0, t(0)), t(0)).is_empty());
    assert_eq!(
        r.move_call(id(1), &QueueId::new("vip"), t(1)),
        Err(ActionRefused::NobodyServes(QueueId::new("vip")))
    );
    assert_eq!(r.calls_ahead(id(1)), Some(0), "still waiting where it was");
}

#[test]
fn call_goes_to_the_longest_idle_eligible_agent() {
    let mut r = billing_router(vec![
        agent("a1", &["general"], &[("billing", 7)]),
        agent("a2", &["general"], &[("billing", 9)]),
    ]);
    assert!(r.make_available(&AgentId::new("a2"), t(0)).is_empty());
    assert!(r.make_available(&AgentId::new("a1"), t(5)).is_empty());
    assert_eq!(
        r.enqueue(call(1, "general", 0, t(10)), t(10)),
        vec![offer(1, "a2")]
    );
    assert_eq!(
        r.enqueue(call(2, "general", 0, t(11)), t(11)),
        vec![offer(2, "a1")]
    );
}

#[test]
fn higher_tier_call_jumps_ahead_of_earlier_standard_calls() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    r.login(&AgentId::new("a1"), t(0));
    assert!(r.enqueue(call(1, "general", 0, t(0)), t(0)).is_empty());
    assert!(r.enqueue(call(2, "general", 0, t(1)), t(1)).is_empty());
    assert!(r.enqueue(call(3, "general", 30, t(2)), t(2)).is_empty());
    assert_eq!(
        r.make_available(&AgentId::new("a1"), t(3)),
        vec![offer(3, "a1")]
    );
}

#[test]
fn aging_lets_a_long_waiting_standard_call_beat_a_new_higher_priority_call() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    r.login(&AgentId::new("a1"), t(0));
    // 10 points per minute: after 4 minutes the standard call has 40 > 30.
    assert!(r.enqueue(call(1, "general", 0, t(0)), t(0)).is_empty());
    assert!(r.enqueue(call(2, "general", 30, t(240)), t(240)).is_empty());
    assert_eq!(
        r.make_available(&AgentId::new("a1"), t(241)),
        vec![offer(1, "a1")]
    );
}

#[test]
fn equal_priority_is_first_come_first_served() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    r.login(&AgentId::new("a1"), t(0));
    for n in 1..=3 {
        assert!(
            r.enqueue(call(n, "general", 10, t(n as i64)), t(n as i64))
                .is_empty()
        );
    }
    assert_eq!(
        r.make_available(&AgentId::new("a1"), t(9)),
        vec![offer(1, "a1")]
    );
}

#[test]
fn relaxation_lets_a_lower_skilled_agent_take_the_call_after_the_step_time() {
    let mut r = billing_router(vec![agent("novice", &["general"], &[("billing", 2)])]);
    assert!(r.make_available(&AgentId::new("novice"), t(0)).is_empty());
    assert!(
        r.enqueue(call(1, "general", 0, t(0)), t(0)).is_empty(),
        "needs billing ≥ 5 at first"
    );
    assert_eq!(r.next_deadline(), Some(t(30)));
    assert!(r.tick(t(29)).is_empty());
    assert_eq!(r.tick(t(30)), vec![offer(1, "novice")]);
}

#[test]
fn no_answer_puts_call_back_at_head_of_queue_and_agent_not_ready() {
    let mut r = billing_router(vec![
        agent("a1", &["general"], &[("billing", 7)]),
        agent("a2", &["general"], &[("billing", 7)]),
    ]);
    assert!(r.make_available(&AgentId::new("a1"), t(0)).is_empty());
    r.login(&AgentId::new("a2"), t(0));
    assert_eq!(
        r.enqueue(call(1, "general", 0, t(1)), t(1)),
        vec![offer(1, "a1")]
    );
    assert!(r.enqueue(call(2, "general", 0, t(2)), t(2)).is_empty());
    assert!(r.offer_failed(id(1), OfferEnd::NoAnswer, t(10)).is_empty());
    assert_eq!(
        r.agent_state(&AgentId::new("a1")),
        Some(AgentState::NotReady)
    );
    assert_eq!(
        r.calls_ahead(id(2)),
        Some(1),
        "call 1 is back ahead of call 2"
    );
    assert_eq!(
        r.make_available(&AgentId::new("a2"), t(11)),
        vec![offer(1, "a2")]
    );
}

#[test]
fn offer_expires_after_ring_timeout_plus_one_second_whatever_happens() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    assert!(r.make_available(&AgentId::new("a1"), t(0)).is_empty());
    assert_eq!(
        r.enqueue(call(1, "general", 0, t(0)), t(0)),
        vec![offer(1, "a1")]
    );
    assert!(r.tick(t(20)).is_empty());
    assert_eq!(
        r.tick(t(21)),
        vec![Decision::OfferExpired {
            call: id(1),
            agent: AgentId::new("a1")
        }]
    );
    assert_eq!(
        r.agent_state(&AgentId::new("a1")),
        Some(AgentState::NotReady)
    );
    assert_eq!(r.queue_views()[0].waiting, 1);
}

#[test]
fn account_manager_gets_their_customer_first_then_anyone_after_the_window() {
    let mut r = manager_router();
    r.login(&AgentId::new("manager"), t(0));
    assert!(r.make_available(&AgentId::new("other"), t(0)).is_empty());
    let key = key_call(1, t(1));
    assert!(
        r.enqueue(key.clone(), t(1)).is_empty(),
        "held for the manager although `other` is free"
    );
    assert_eq!(
        r.make_available(&AgentId::new("manager"), t(5)),
        vec![offer(1, "manager")]
    );

    let mut r = manager_router();
    r.login(&AgentId::new("manager"), t(0));
    assert!(r.make_available(&AgentId::new("other"), t(0)).is_empty());
    assert!(r.enqueue(key, t(1)).is_empty());
    assert_eq!(
        r.tick(t(31)),
        vec![offer(1, "other")],
        "window over: routed normally"
    );
}

#[test]
fn max_wait_overflows_to_the_configured_action() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    r.login(&AgentId::new("a1"), t(0));
    assert!(r.enqueue(call(1, "general", 0, t(0)), t(0)).is_empty());
    let decisions = r.tick(t(300));
    assert_eq!(
        decisions,
        vec![Decision::Overflow {
            call: id(1),
            queue: QueueId::new("general"),
            action: Overflow::Message("busy.wav".into())
        }]
    );
    assert_eq!(r.queue_views()[0].waiting, 0);
}

#[test]
fn no_agent_logged_in_overflows_at_once() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    let decisions = r.enqueue(call(1, "general", 0, t(0)), t(0));
    assert!(matches!(decisions.as_slice(), [Decision::Overflow { .. }]));
}

#[test]
fn caller_hanging_up_during_an_offer_frees_the_agent_for_the_next_call() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    assert!(r.make_available(&AgentId::new("a1"), t(0)).is_empty());
    assert_eq!(
        r.enqueue(call(1, "general", 0, t(1)), t(1)),
        vec![offer(1, "a1")]
    );
    assert!(r.enqueue(call(2, "general", 0, t(2)), t(2)).is_empty());
    assert_eq!(r.remove_call(id(1), t(3)), vec![offer(2, "a1")]);
}

#[test]
fn agent_freed_takes_the_highest_priority_call_across_their_queues() {
    let steps = || vec![step(0, &[])];
    let mut r = Router::new(
        settings(),
        vec![
            queue("q1", Strategy::LongestIdle, steps()),
            queue("q2", Strategy::LongestIdle, steps()),
        ],
        vec![agent("a1", &["q1", "q2"], &[])],
    );
    r.login(&AgentId::new("a1"), t(0));
    assert!(r.enqueue(call(1, "q1", 0, t(0)), t(0)).is_empty());
    assert!(r.enqueue(call(2, "q2", 20, t(1)), t(1)).is_empty());
    assert_eq!(
        r.make_available(&AgentId::new("a1"), t(2)),
        vec![offer(2, "a1")]
    );
}

#[test]
fn highest_proficiency_strategy_picks_the_expert() {
    let mut r = Router::new(
        settings(),
        vec![queue(
            "c",
            Strategy::HighestProficiency,
            vec![step(0, &[("complaints", 1)])],
        )],
        vec![
            agent("junior", &["c"], &[("complaints", 3)]),
            agent("senior", &["c"], &[("complaints", 9)]),
        ],
    );
    assert!(r.make_available(&AgentId::new("junior"), t(0)).is_empty());
    assert!(r.make_available(&AgentId::new("senior"), t(5)).is_empty());
    assert_eq!(
        r.enqueue(call(1, "c", 0, t(6)), t(6)),
        vec![offer(1, "senior")]
    );
}

#[test]
fn wrap_up_then_available_takes_the_waiting_call() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    assert!(r.make_available(&AgentId::new("a1"), t(0)).is_empty());
    assert_eq!(
        r.enqueue(call(1, "general", 0, t(0)), t(0)),
        vec![offer(1, "a1")]
    );
    r.offer_answered(id(1), t(0));
    assert_eq!(
        r.agent_state(&AgentId::new("a1")),
        Some(AgentState::Talking)
    );
    assert!(r.enqueue(call(2, "general", 0, t(5)), t(5)).is_empty());
    r.call_ended(&AgentId::new("a1"), id(1), Duration::from_secs(60), t(65));
    assert_eq!(r.agent_state(&AgentId::new("a1")), Some(AgentState::WrapUp));
    assert_eq!(
        r.wrap_up_done(&AgentId::new("a1"), id(1), t(70)),
        vec![offer(2, "a1")]
    );
}

#[test]
fn every_state_an_agent_leaves_becomes_a_span() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    let a1 = AgentId::new("a1");
    r.login(&a1, t(0));
    assert!(r.make_available(&a1, t(5)).is_empty());
    assert_eq!(
        r.enqueue(call(1, "general", 0, t(10)), t(10)),
        vec![offer(1, "a1")]
    );
    r.offer_answered(id(1), t(12));
    r.call_ended(&a1, id(1), Duration::from_secs(60), t(72));
    assert!(r.wrap_up_done(&a1, id(1), t(80)).is_empty());
    assert!(r.take_break(&a1, "lunch".into(), t(90)).is_some());
    let spans: Vec<_> = r
        .take_spans()
        .into_iter()
        .map(|s| (s.state, s.reason, s.started_at, s.ended_at))
        .collect();
    use AgentState::*;
    assert_eq!(
        spans,
        [
            (NotReady, None, t(0), t(5)),
            (Available, None, t(5), t(10)),
            (Offered, None, t(10), t(12)),
            (Talking, None, t(12), t(72)),
            (WrapUp, None, t(72), t(80)),
            (Available, None, t(80), t(90)),
        ]
    );
    // Still on break at shutdown: the break so far is recorded; logged-out time is not.
    let closed = r.close_spans(t(100));
    assert_eq!(closed.len(), 1);
    assert_eq!(
        (
            closed[0].state,
            closed[0].reason.as_deref(),
            closed[0].ended_at
        ),
        (Break, Some("lunch"), t(100))
    );
    assert!(r.logout(&a1, t(100)).is_some());
    assert!(r.close_spans(t(200)).is_empty());
}

#[test]
fn wrap_up_timer_makes_the_agent_available_again() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    assert!(r.make_available(&AgentId::new("a1"), t(0)).is_empty());
    assert_eq!(
        r.enqueue(call(1, "general", 0, t(0)), t(0)),
        vec![offer(1, "a1")]
    );
    r.offer_answered(id(1), t(0));
    r.call_ended(&AgentId::new("a1"), id(1), Duration::from_secs(60), t(60));
    assert!(r.tick(t(89)).is_empty());
    assert_eq!(
        r.tick(t(90)),
        vec![Decision::WrapUpExpired {
            agent: AgentId::new("a1"),
            call: id(1)
        }]
    );
    assert_eq!(
        r.agent_state(&AgentId::new("a1")),
        Some(AgentState::Available)
    );
}

#[test]
fn a_second_offer_of_the_same_call_rings_its_full_time() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    assert!(r.make_available(&AgentId::new("a1"), t(0)).is_empty());
    assert_eq!(
        r.enqueue(call(1, "general", 0, t(0)), t(0)),
        vec![offer(1, "a1")]
    );
    // Rejected at 5 s; back at 6 s, nobody else is eligible: offered the same call again.
    assert!(r.offer_failed(id(1), OfferEnd::Rejected, t(5)).is_empty());
    assert_eq!(
        r.make_available(&AgentId::new("a1"), t(6)),
        vec![offer(1, "a1")]
    );
    assert!(
        r.tick(t(21)).is_empty(),
        "the first offer's expiry does not cut the second short"
    );
    assert_eq!(
        r.tick(t(27)),
        vec![Decision::OfferExpired {
            call: id(1),
            agent: AgentId::new("a1")
        }]
    );
}

#[test]
fn a_manager_logged_out_or_on_a_break_is_not_waited_for() {
    for on_break in [false, true] {
        let mut r = manager_router();
        if on_break {
            r.login(&AgentId::new("manager"), t(0));
            assert!(
                r.take_break(&AgentId::new("manager"), "lunch".into(), t(0))
                    .is_some()
            );
        }
        assert!(r.make_available(&AgentId::new("other"), t(0)).is_empty());
        let key = key_call(1, t(1));
        assert_eq!(
            r.enqueue(key, t(1)),
            vec![offer(1, "other")],
            "routed at once, not held for a manager who is away (on break: {on_break})"
        );
    }
}

#[test]
fn a_manager_who_goes_on_a_break_or_logs_out_releases_the_call_held_for_them() {
    for logs_out in [false, true] {
        let mut r = manager_router();
        let manager = AgentId::new("manager");
        r.login(&manager, t(0)); // logged in, not ready: the call is held for them
        assert!(r.make_available(&AgentId::new("other"), t(0)).is_empty());
        let key = key_call(1, t(1));
        assert!(r.enqueue(key, t(1)).is_empty(), "held for the manager");
        let left = if logs_out {
            r.logout(&manager, t(2))
        } else {
            r.take_break(&manager, "lunch".into(), t(2))
        };
        assert_eq!(
            left,
            Some(vec![offer(1, "other")]),
            "released at once, not at the end of the window (logs out: {logs_out})"
        );
        r.offer_answered(id(1), t(3));
        assert!(
            r.tick(t(31)).is_empty(),
            "the old window's end finds the call no longer held"
        );
    }
}

// ---- directory: agents and queues changed at run time ------------------------------------

#[test]
fn an_agent_added_at_run_time_logs_in_and_takes_a_waiting_call() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    r.login(&AgentId::new("a1"), t(0));
    assert!(r.enqueue(call(1, "general", 0, t(0)), t(0)).is_empty());
    let added = agent("a2", &["general"], &[("billing", 9)]);
    assert!(
        r.put_agent(added, t(5)).is_empty(),
        "a new agent is logged out"
    );
    assert_eq!(
        r.agent_state(&AgentId::new("a2")),
        Some(AgentState::LoggedOut)
    );
    assert_eq!(r.agent_views().len(), 2);
    assert_eq!(
        r.make_available(&AgentId::new("a2"), t(6)),
        vec![offer(1, "a2")]
    );
    assert_eq!(r.queue_views()[0].agents_logged_in, 2);
}

#[test]
fn new_skills_that_qualify_at_step_zero_offer_a_waiting_call_at_once() {
    let mut r = billing_router(vec![agent("novice", &["general"], &[("billing", 2)])]);
    assert!(r.make_available(&AgentId::new("novice"), t(0)).is_empty());
    assert!(
        r.enqueue(call(1, "general", 0, t(0)), t(0)).is_empty(),
        "billing 2 qualifies only from 30 s"
    );
    let trained = agent("novice", &["general"], &[("billing", 7)]);
    assert_eq!(r.put_agent(trained, t(5)), vec![offer(1, "novice")]);
    assert_eq!(r.queue_views()[0].agents_available, 0);
}

#[test]
fn an_agent_taken_out_of_a_queue_leaves_its_available_set_and_its_count() {
    let mut r = two_queue_router();
    let g = AgentId::new("g");
    let figures = |r: &Router| -> Vec<(usize, u32)> {
        r.queue_views()
            .iter()
            .map(|v| (v.agents_available, v.agents_logged_in))
            .collect()
    };
    assert!(r.make_available(&g, t(0)).is_empty());
    assert_eq!(figures(&r), [(1, 1), (0, 0)]);
    assert!(
        r.put_agent(agent("g", &["general", "vip"], &[]), t(1))
            .is_empty()
    );
    assert_eq!(figures(&r), [(1, 1), (1, 1)], "available in vip too");
    assert!(r.put_agent(agent("g", &["general"], &[]), t(2)).is_empty());
    assert_eq!(figures(&r), [(1, 1), (0, 0)], "out of vip's set and count");
    assert_eq!(r.agent_queues(&g), Some(vec![QueueId::new("general")]));
    assert_eq!(
        r.agents_by_state()[1],
        [1, 0, 0, 0, 0, 0, 0],
        "only v, logged out, serves vip"
    );
    assert_eq!(
        r.enqueue(call(1, "vip", 0, t(3)), t(3)),
        vec![Decision::Overflow {
            call: id(1),
            queue: QueueId::new("vip"),
            action: Overflow::Message("busy.wav".into()),
        }],
        "nobody is logged into vip any more"
    );
    assert_eq!(
        r.enqueue(call(2, "general", 0, t(4)), t(4)),
        vec![offer(2, "g")],
        "still available in general"
    );
}

#[test]
fn an_agent_on_a_break_whose_queues_change_keeps_the_serving_counts_right() {
    let mut r = two_queue_router();
    let (g, general, vip) = (
        AgentId::new("g"),
        QueueId::new("general"),
        QueueId::new("vip"),
    );
    let serving = |r: &Router| (r.agents_serving(&general), r.agents_serving(&vip));
    let logged_in =
        |r: &Router| -> Vec<u32> { r.queue_views().iter().map(|v| v.agents_logged_in).collect() };
    r.login(&g, t(0));
    assert!(r.take_break(&g, "lunch".into(), t(1)).is_some());
    assert_eq!((serving(&r), logged_in(&r)), ((0, 0), vec![1, 0]));
    assert!(
        r.put_agent(agent("g", &["general", "vip"], &[]), t(2))
            .is_empty()
    );
    assert_eq!(
        (serving(&r), logged_in(&r)),
        ((0, 0), vec![1, 1]),
        "logged into vip now, but on a break there too"
    );
    assert!(r.put_agent(agent("g", &["general"], &[]), t(3)).is_empty());
    assert_eq!((serving(&r), logged_in(&r)), ((0, 0), vec![1, 0]));
    assert!(r.make_available(&g, t(4)).is_empty());
    assert_eq!(serving(&r), (1, 0), "back from the break");
    // A break counted into vip and not out again would leave vip short of this agent.
    assert!(
        r.put_agent(agent("g", &["general", "vip"], &[]), t(5))
            .is_empty()
    );
    assert_eq!((serving(&r), logged_in(&r)), ((1, 1), vec![1, 1]));
    assert!(r.take_break(&g, "coffee".into(), t(6)).is_some());
    assert!(r.put_agent(agent("g", &["vip"], &[]), t(7)).is_empty());
    assert_eq!((serving(&r), logged_in(&r)), ((0, 0), vec![0, 1]));
    assert!(r.make_available(&g, t(8)).is_empty());
    assert_eq!((serving(&r), logged_in(&r)), ((0, 1), vec![0, 1]));
}

#[test]
fn remove_agent_is_refused_while_logged_in_and_the_id_can_come_back() {
    let mut r = billing_router(vec![
        agent("a1", &["general"], &[("billing", 7)]),
        agent("a2", &["general"], &[("billing", 7)]),
    ]);
    let (a1, a2) = (AgentId::new("a1"), AgentId::new("a2"));
    assert!(r.make_available(&a1, t(0)).is_empty());
    assert_eq!(
        r.enqueue(call(1, "general", 0, t(1)), t(1)),
        vec![offer(1, "a1")]
    );
    r.offer_answered(id(1), t(2));
    r.call_ended(&a1, id(1), Duration::from_secs(10), t(12));
    assert!(r.wrap_up_done(&a1, id(1), t(13)).is_empty());
    assert!(r.take_break(&a1, "lunch".into(), t(14)).is_some());
    assert_eq!(
        r.remove_agent(&a1),
        Err(DirectoryRefused::AgentLoggedIn(a1.clone())),
        "on a break is still logged in"
    );
    assert_eq!(
        r.remove_agent(&AgentId::new("nobody")),
        Err(DirectoryRefused::UnknownAgent(AgentId::new("nobody")))
    );
    assert!(r.logout(&a1, t(15)).is_some());
    assert_eq!(r.remove_agent(&a1), Ok(()));
    assert_eq!(
        r.remove_agent(&a1),
        Err(DirectoryRefused::UnknownAgent(a1.clone()))
    );
    assert!(!r.has_agent(&a1));
    assert_eq!(r.agent_state(&a1), None);
    let listed: Vec<AgentId> = r.agent_views().into_iter().map(|v| v.agent).collect();
    assert_eq!(listed, [AgentId::new("a2")]);
    assert_eq!(r.agents_by_state()[0][AgentState::LoggedOut as usize], 1);
    assert!(r.make_available(&a1, t(16)).is_empty());
    r.login(&a1, t(16));
    assert_eq!(
        r.queue_views()[0].agents_logged_in,
        0,
        "a removed agent cannot log in"
    );

    r.login(&a2, t(17));
    assert!(r.enqueue(call(2, "general", 0, t(18)), t(18)).is_empty());
    assert!(
        r.put_agent(agent("a1", &["general"], &[("billing", 9)]), t(19))
            .is_empty()
    );
    let views = r.agent_views();
    let back = views.iter().find(|v| v.agent == a1).expect("added again");
    assert_eq!(
        (back.state, back.calls_today),
        (AgentState::LoggedOut, 0),
        "a new agent: logged out, no figures from before"
    );
    assert_eq!(r.make_available(&a1, t(20)), vec![offer(2, "a1")]);
    assert_eq!(r.queue_views()[0].agents_logged_in, 2);
    assert_eq!(
        r.remove_agent(&a1),
        Err(DirectoryRefused::AgentLoggedIn(a1))
    );
}

#[test]
fn a_manager_moved_out_of_the_queue_releases_the_calls_held_for_them() {
    let mut r = manager_router();
    let manager = AgentId::new("manager");
    r.login(&manager, t(0));
    assert!(r.make_available(&AgentId::new("other"), t(0)).is_empty());
    let key = key_call(1, t(1));
    assert!(r.enqueue(key, t(1)).is_empty(), "held for the manager");
    assert!(
        r.put_agent(agent("manager", &["general"], &[("billing", 2)]), t(2))
            .is_empty(),
        "billing 2 still qualifies (from 30 s): the call stays held"
    );
    assert_eq!(
        r.put_agent(agent("manager", &[], &[("billing", 7)]), t(3)),
        vec![offer(1, "other")],
        "released at once, not at the end of the window"
    );
    r.offer_answered(id(1), t(4));
    assert!(
        r.make_available(&manager, t(5)).is_empty(),
        "serves no queue: nothing for them"
    );
    assert!(
        r.tick(t(31)).is_empty(),
        "the window's end finds the call no longer held"
    );
}

#[test]
fn a_queue_added_at_run_time_takes_calls_once_an_agent_serves_it() {
    let mut r = two_queue_router();
    let (g, sales) = (AgentId::new("g"), QueueId::new("sales"));
    r.login(&g, t(0));
    assert!(
        r.put_agent(agent("v", &["vip", "sales"], &[]), t(0))
            .is_empty()
    );
    let mut spec = queue("sales", Strategy::LongestIdle, vec![step(0, &[])]);
    spec.overflow = Overflow::Callback;
    assert!(r.put_queue(spec, t(1)).is_empty());
    let views = r.queue_views();
    assert_eq!(
        views.iter().map(|v| v.queue.as_str()).collect::<Vec<_>>(),
        ["general", "vip", "sales"]
    );
    assert_eq!(views[2].agents_logged_in, 0);
    assert_eq!(
        r.agent_queues(&AgentId::new("v")),
        Some(vec![QueueId::new("vip")]),
        "a new queue starts with nobody serving it, even an agent who named it earlier"
    );
    assert_eq!(
        r.enqueue(call(1, "sales", 0, t(2)), t(2)),
        vec![Decision::Overflow {
            call: id(1),
            queue: sales.clone(),
            action: Overflow::Callback,
        }],
        "nobody logged in: the new queue's own overflow"
    );
    assert!(
        r.put_agent(agent("g", &["general", "sales"], &[]), t(3))
            .is_empty()
    );
    assert_eq!(r.queue_views()[2].agents_logged_in, 1);
    assert_eq!(r.agents_serving(&sales), 1);
    assert!(r.enqueue(call(2, "sales", 0, t(4)), t(4)).is_empty());
    assert_eq!(r.calls_in_queue(&sales), 1);
    assert_eq!(r.make_available(&g, t(5)), vec![offer(2, "g")]);
}

#[test]
fn looser_steps_offer_a_call_that_has_waited_past_the_new_step_time() {
    let mut r = billing_router(vec![
        agent("novice", &["general"], &[("billing", 2)]),
        agent("novice2", &["general"], &[("billing", 2)]),
    ]);
    r.login(&AgentId::new("novice2"), t(0));
    assert!(r.make_available(&AgentId::new("novice"), t(0)).is_empty());
    assert!(r.enqueue(call(1, "general", 0, t(0)), t(0)).is_empty());
    assert!(r.enqueue(call(2, "general", 0, t(8)), t(8)).is_empty());
    let mut looser = queue(
        "general",
        Strategy::LongestIdle,
        vec![step(0, &[("billing", 5)]), step(5, &[("billing", 1)])],
    );
    looser.max_wait = Duration::from_secs(300);
    assert_eq!(
        r.put_queue(looser, t(10)),
        vec![offer(1, "novice")],
        "call 1 has waited 10 s, past the new 5 s step; call 2 only 2 s"
    );
    assert!(r.make_available(&AgentId::new("novice2"), t(11)).is_empty());
    assert!(r.tick(t(12)).is_empty());
    assert_eq!(
        r.tick(t(13)),
        vec![offer(2, "novice2")],
        "the new step's own timer"
    );
}

#[test]
fn a_changed_queue_offers_its_highest_priority_call_first() {
    let mut r = billing_router(vec![agent("novice", &["general"], &[("billing", 2)])]);
    assert!(r.make_available(&AgentId::new("novice"), t(0)).is_empty());
    assert!(r.enqueue(call(1, "general", 0, t(0)), t(0)).is_empty());
    assert!(r.enqueue(call(2, "general", 30, t(1)), t(1)).is_empty());
    assert!(r.enqueue(call(3, "general", 0, t(2)), t(2)).is_empty());
    let anyone = queue("general", Strategy::LongestIdle, vec![step(0, &[])]);
    assert_eq!(
        r.put_queue(anyone, t(10)),
        vec![offer(2, "novice")],
        "the tier-30 call, not the oldest"
    );
    assert_eq!(
        (r.calls_ahead(id(1)), r.calls_ahead(id(3))),
        (Some(0), Some(1))
    );
}

#[test]
fn a_shorter_max_wait_overflows_the_calls_past_it_at_once() {
    let mut r = billing_router(vec![
        agent("a1", &["general"], &[("billing", 7)]),
        agent("a2", &["general"], &[("billing", 7)]),
    ]);
    let a1 = AgentId::new("a1");
    r.login(&a1, t(0));
    r.login(&AgentId::new("a2"), t(0));
    for (n, at) in [(1, 0), (2, 10), (3, 100)] {
        assert!(r.enqueue(call(n, "general", 0, t(at)), t(at)).is_empty());
    }
    assert_eq!(r.make_available(&a1, t(110)), vec![offer(1, "a1")]);
    let mut shorter = queue(
        "general",
        Strategy::LongestIdle,
        vec![
            step(0, &[("billing", 5)]),
            step(30, &[("billing", 1)]),
            step(90, &[]),
        ],
    );
    shorter.max_wait = Duration::from_secs(60);
    shorter.overflow = Overflow::Voicemail("1000".into());
    let overflow = |n| Decision::Overflow {
        call: id(n),
        queue: QueueId::new("general"),
        action: Overflow::Voicemail("1000".into()),
    };
    assert_eq!(
        r.put_queue(shorter, t(115)),
        vec![overflow(2)],
        "call 1 is being offered, call 3 has waited only 15 s"
    );
    assert_eq!(r.queue_views()[0].waiting, 2);
    assert_eq!(
        r.offer_failed(id(1), OfferEnd::NoAnswer, t(116)),
        vec![overflow(1)],
        "its offer failed past the max wait"
    );
    assert!(r.logout(&a1, t(117)).is_some());
    assert!(r.tick(t(159)).is_empty());
    assert_eq!(
        r.tick(t(160)),
        vec![overflow(3)],
        "a timer for the new max wait"
    );
    assert_eq!(r.queue_views()[0].waiting, 0);

    // A call held for its busy account manager is not held past the new max wait either.
    let mut r = billing_router(vec![agent("manager", &["general"], &[("billing", 7)])]);
    let manager = AgentId::new("manager");
    r.login(&manager, t(0));
    let key = key_call(4, t(0));
    assert!(r.enqueue(key, t(0)).is_empty(), "held for the manager");
    let mut shorter = queue("general", Strategy::LongestIdle, vec![step(0, &[])]);
    shorter.max_wait = Duration::from_secs(20);
    shorter.overflow = Overflow::Voicemail("1000".into());
    assert_eq!(r.put_queue(shorter, t(25)), vec![overflow(4)]);
    assert!(
        r.make_available(&manager, t(26)).is_empty(),
        "no hold left behind"
    );
}

#[test]
fn a_raised_queue_priority_puts_its_calls_ahead_of_another_queues_calls() {
    let steps = || vec![step(0, &[])];
    let mut r = Router::new(
        settings(),
        vec![
            queue("q1", Strategy::LongestIdle, steps()),
            queue("q2", Strategy::LongestIdle, steps()),
        ],
        vec![agent("a", &["q1", "q2"], &[])],
    );
    let a = AgentId::new("a");
    r.login(&a, t(0));
    assert!(r.enqueue(call(1, "q1", 0, t(0)), t(0)).is_empty());
    assert!(r.enqueue(call(2, "q2", 0, t(1)), t(1)).is_empty());
    let mut raised = queue("q2", Strategy::LongestIdle, steps());
    raised.priority = 20;
    assert!(r.put_queue(raised, t(2)).is_empty(), "nobody is available");
    assert_eq!(
        r.make_available(&a, t(3)),
        vec![offer(2, "a")],
        "q2's call, though q1's is older"
    );
}

#[test]
fn a_call_held_for_its_manager_stays_held_under_its_new_key_when_the_queue_changes() {
    for hangs_up in [false, true] {
        let mut r = manager_router();
        let manager = AgentId::new("manager");
        r.login(&manager, t(0));
        assert!(r.make_available(&AgentId::new("other"), t(0)).is_empty());
        let key = key_call(1, t(1));
        assert!(r.enqueue(key, t(1)).is_empty(), "held for the manager");
        let mut raised = queue(
            "general",
            Strategy::HighestProficiency,
            vec![step(0, &[("billing", 5)]), step(30, &[])],
        );
        raised.priority = 10;
        assert!(
            r.put_queue(raised, t(2)).is_empty(),
            "still held although `other` is free"
        );
        assert_eq!(r.queue_views()[0].waiting, 1);
        if hangs_up {
            assert!(r.remove_call(id(1), t(3)).is_empty());
            assert_eq!(r.queue_views()[0].waiting, 0);
            assert!(
                r.make_available(&manager, t(4)).is_empty(),
                "the hold went with the call"
            );
        } else {
            assert!(r.tick(t(30)).is_empty());
            assert_eq!(
                r.tick(t(31)),
                vec![offer(1, "other")],
                "window over: routed normally"
            );
            assert!(
                r.make_available(&manager, t(32)).is_empty(),
                "no hold left behind"
            );
        }
    }

    // Rules the manager no longer meets release the call at once.
    let mut r = manager_router();
    let manager = AgentId::new("manager");
    r.login(&manager, t(0));
    assert!(r.make_available(&AgentId::new("other"), t(0)).is_empty());
    let key = key_call(1, t(1));
    assert!(r.enqueue(key, t(1)).is_empty(), "held for the manager");
    let experts = queue(
        "general",
        Strategy::LongestIdle,
        vec![step(0, &[("billing", 8)])],
    );
    assert_eq!(r.put_queue(experts, t(2)), vec![offer(1, "other")]);
}

#[test]
fn remove_queue_is_refused_while_in_use_and_leaves_the_other_queues_working() {
    let steps = || vec![step(0, &[])];
    let mut r = Router::new(
        settings(),
        vec![
            queue("a", Strategy::LongestIdle, steps()),
            queue("b", Strategy::LongestIdle, steps()),
            queue("c", Strategy::LongestIdle, steps()),
        ],
        vec![
            agent("x", &["a"], &[]),
            agent("y", &["b"], &[]),
            agent("w", &["b"], &[]),
            agent("z", &["c"], &[]),
        ],
    );
    let b = QueueId::new("b");
    r.login(&AgentId::new("y"), t(0));
    r.login(&AgentId::new("z"), t(0));
    assert!(r.enqueue(call(1, "b", 0, t(1)), t(1)).is_empty());
    assert_eq!(
        r.remove_queue(&b),
        Err(DirectoryRefused::CallsInQueue {
            queue: b.clone(),
            calls: 1
        })
    );
    assert!(r.remove_call(id(1), t(2)).is_empty());
    assert_eq!(
        r.remove_queue(&b),
        Err(DirectoryRefused::QueueServed {
            queue: b.clone(),
            agents: 2
        }),
        "a logged-out agent serves it too"
    );
    assert!(r.put_agent(agent("y", &["c"], &[]), t(3)).is_empty());
    assert_eq!(
        r.remove_queue(&b),
        Err(DirectoryRefused::QueueServed {
            queue: b.clone(),
            agents: 1
        })
    );
    assert_eq!(r.remove_agent(&AgentId::new("w")), Ok(()));
    assert_eq!(r.remove_queue(&b), Ok(()), "a removed agent serves nothing");
    assert_eq!(
        r.remove_queue(&b),
        Err(DirectoryRefused::UnknownQueue(b.clone()))
    );

    let views = r.queue_views();
    assert_eq!(
        views.iter().map(|v| v.queue.as_str()).collect::<Vec<_>>(),
        ["a", "c"]
    );
    assert_eq!(
        views.iter().map(|v| v.agents_logged_in).collect::<Vec<_>>(),
        [0, 2]
    );
    let by_state = r.agents_by_state();
    assert_eq!(by_state.len(), 2);
    assert_eq!(by_state[0][AgentState::LoggedOut as usize], 1, "x in a");
    assert_eq!(
        by_state[1][AgentState::NotReady as usize],
        2,
        "y and z in c"
    );
    assert_eq!(
        r.agent_queues(&AgentId::new("y")),
        Some(vec![QueueId::new("c")])
    );
    assert!(matches!(
        r.enqueue(call(2, "b", 0, t(4)), t(4)).as_slice(),
        [Decision::Overflow { .. }]
    ));
    assert!(r.enqueue(call(3, "c", 0, t(5)), t(5)).is_empty());
    assert_eq!(r.calls_in_queue(&QueueId::new("c")), 1);
    assert_eq!(
        r.make_available(&AgentId::new("z"), t(6)),
        vec![offer(3, "z")]
    );
    assert!(r.make_available(&AgentId::new("x"), t(7)).is_empty());
    assert_eq!(r.enqueue(call(4, "a", 0, t(8)), t(8)), vec![offer(4, "x")]);
}

#[test]
fn old_timers_stay_harmless_after_a_queue_change() {
    let mut r = billing_router(vec![agent("novice", &["general"], &[("billing", 2)])]);
    let novice = AgentId::new("novice");
    assert!(r.make_available(&novice, t(0)).is_empty());
    // Under the old spec: steps at 30 s and 90 s, max wait 300 s.
    assert!(r.enqueue(call(1, "general", 10, t(0)), t(0)).is_empty());
    assert!(r.enqueue(call(2, "general", 0, t(0)), t(0)).is_empty());
    let mut slower = queue(
        "general",
        Strategy::LongestIdle,
        vec![step(0, &[("billing", 5)]), step(60, &[("billing", 1)])],
    );
    slower.max_wait = Duration::from_secs(600);
    assert!(r.put_queue(slower, t(10)).is_empty());
    assert!(
        r.tick(t(30)).is_empty(),
        "the old 30 s step does not relax the call"
    );
    assert!(r.tick(t(59)).is_empty());
    assert_eq!(r.tick(t(60)), vec![offer(1, "novice")]);
    r.offer_answered(id(1), t(61));
    // The old step-2 timer at 90 s names a step the queue no longer has.
    assert!(r.tick(t(90)).is_empty());
    assert!(
        r.tick(t(300)).is_empty(),
        "the old 300 s max wait does not overflow the call"
    );
    assert_eq!(r.calls_in_queue(&QueueId::new("general")), 1);
    assert!(r.tick(t(599)).is_empty());
    assert_eq!(
        r.tick(t(600)),
        vec![Decision::Overflow {
            call: id(2),
            queue: QueueId::new("general"),
            action: Overflow::Message("busy.wav".into()),
        }]
    );
}

// ---- property test: random arrivals, hang-ups, agent actions and clock advances --------

mod properties {
    use std::collections::HashSet;

    use proptest::prelude::{
        Just, ProptestConfig, TestCaseError, any, prop_assert, prop_assert_eq, prop_oneof, proptest,
    };
    use proptest::strategy::Strategy as _;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Arrive {
            queue: usize,
            priority: i32,
            manager: Option<usize>,
        },
        HangUp {
            pick: usize,
        },
        Available {
            agent: usize,
        },
        Break {
            agent: usize,
        },
        Logout {
            agent: usize,
        },
        Answer {
            pick: usize,
        },
        NoAnswer {
            pick: usize,
        },
        EndCall {
            agent: usize,
        },
        WrapUp {
            agent: usize,
        },
        Advance {
            secs: i64,
        },
        /// A supervisor moves a call to the other queue.
        Move {
            pick: usize,
        },
        /// A supervisor changes a call's priority.
        Priority {
            pick: usize,
            priority: i32,
        },
        /// An administrator adds or changes an agent: bit 0 of `queues` is q1, bit 1 q2,
        /// bit 2 an unknown queue and q1 named a second time.
        PutAgent {
            agent: usize,
            queues: u8,
            billing: Option<i64>,
        },
        /// An administrator removes an agent.
        RemoveAgent {
            agent: usize,
        },
        /// An administrator changes a queue's rules (see [`steps_variant`]).
        PutQueue {
            queue: usize,
            steps: usize,
            max_wait: u64,
            priority: i32,
            strategy: usize,
        },
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        prop_oneof![
            4 => (0..2usize, prop_oneof![Just(0), Just(10), Just(30)], proptest::option::of(0..AGENTS))
                .prop_map(|(queue, priority, manager)| Op::Arrive { queue, priority, manager }),
            2 => any::<usize>().prop_map(|pick| Op::HangUp { pick }),
            3 => (0..AGENTS).prop_map(|agent| Op::Available { agent }),
            1 => (0..AGENTS).prop_map(|agent| Op::Break { agent }),
            1 => (0..AGENTS).prop_map(|agent| Op::Logout { agent }),
            3 => any::<usize>().prop_map(|pick| Op::Answer { pick }),
            1 => any::<usize>().prop_map(|pick| Op::NoAnswer { pick }),
            2 => (0..AGENTS).prop_map(|agent| Op::EndCall { agent }),
            2 => (0..AGENTS).prop_map(|agent| Op::WrapUp { agent }),
            3 => (1..120i64).prop_map(|secs| Op::Advance { secs }),
            1 => any::<usize>().prop_map(|pick| Op::Move { pick }),
            1 => (any::<usize>(), -20..50i32).prop_map(|(pick, priority)| Op::Priority { pick, priority }),
            1 => (0..AGENTS, 0..8u8, proptest::option::of(1..=10i64))
                .prop_map(|(agent, queues, billing)| Op::PutAgent { agent, queues, billing }),
            1 => (0..AGENTS).prop_map(|agent| Op::RemoveAgent { agent }),
            1 => (
                0..2usize,
                0..5usize,
                prop_oneof![Just(20u64), Just(120), Just(600)],
                prop_oneof![Just(-10), Just(0), Just(20)],
                0..STRATEGIES.len(),
            )
                .prop_map(|(queue, steps, max_wait, priority, strategy)| Op::PutQueue {
                    queue,
                    steps,
                    max_wait,
                    priority,
                    strategy,
                }),
        ]
    }

    /// Agent ids a0..a4 exist at start; a5 only once an administrator adds it.
    const AGENTS: usize = 6;

    const STRATEGIES: [Strategy; 5] = [
        Strategy::LongestIdle,
        Strategy::HighestProficiency,
        Strategy::FewestCalls,
        Strategy::LeastTalkTime,
        Strategy::RoundRobin,
    ];

    /// Relaxation steps an administrator may give a queue: the start-up ones, anyone at
    /// once, a level some agents never meet, fewer steps, and more steps.
    fn steps_variant(variant: usize) -> Vec<Step> {
        match variant {
            0 => vec![
                step(0, &[("billing", 6)]),
                step(30, &[("billing", 1)]),
                step(90, &[]),
            ],
            1 => vec![step(0, &[])],
            2 => vec![step(0, &[("billing", 8)])],
            3 => vec![step(0, &[("billing", 3)]), step(60, &[("billing", 1)])],
            _ => vec![
                step(0, &[("billing", 9)]),
                step(10, &[("billing", 5)]),
                step(20, &[("billing", 2)]),
                step(200, &[]),
            ],
        }
    }

    /// The test's number for agent `a<n>`.
    fn agent_number(agent: &AgentId) -> usize {
        agent.as_str()[1..].parse().expect("a<n>")
    }

    /// A new offer goes to a known agent, now reserved for the call, who serves its queue and
    /// meets a step the call has reached (its account manager: any step). Checked when the
    /// offer is made: an administrator's later change may leave the offer standing with an
    /// agent who no longer qualifies.
    fn check_offer(
        r: &Router,
        call: CallId,
        agent: &AgentId,
        now: Timestamp,
    ) -> Result<(), String> {
        let &a = r
            .agent_index
            .get(agent)
            .ok_or(format!("call {call} offered to unknown agent {agent}"))?;
        let entry = r
            .calls
            .get(&call)
            .ok_or(format!("offered call {call} is not in the router"))?;
        if r.agents[a].status != (AgentStatus::Offered { call })
            || entry.status != (CallStatus::Offered { agent: a })
        {
            return Err(format!(
                "offer of {call} to {agent}: agent {:?}, call {:?}",
                r.agents[a].status, entry.status
            ));
        }
        let first = r.agents[a]
            .serves
            .iter()
            .find(|(q, _)| *q == entry.queue)
            .and_then(|(_, first)| *first)
            .ok_or(format!(
                "call {call} offered to {agent}, not eligible for its queue"
            ))?;
        let due = r.step_at(entry.queue, now.since(entry.spec.enqueued_at));
        if entry.spec.account_manager.as_ref() != Some(agent) && first > due {
            return Err(format!(
                "call {call} offered to {agent} who qualifies from step {first}, due {due}"
            ));
        }
        Ok(())
    }

    fn router() -> Router {
        let steps = || {
            vec![
                step(0, &[("billing", 6)]),
                step(30, &[("billing", 1)]),
                step(90, &[]),
            ]
        };
        let mut q1 = queue("q1", Strategy::LongestIdle, steps());
        q1.max_wait = Duration::from_secs(600);
        let mut q2 = queue("q2", Strategy::HighestProficiency, steps());
        q2.overflow = Overflow::Queue(QueueId::new("q1"));
        Router::new(
            settings(),
            vec![q1, q2],
            vec![
                agent("a0", &["q1"], &[("billing", 9)]),
                agent("a1", &["q1", "q2"], &[("billing", 3)]),
                agent("a2", &["q2"], &[("billing", 7)]),
                agent("a3", &["q1", "q2"], &[]),
                agent("a4", &["q1"], &[("billing", 6)]),
            ],
        )
    }

    /// The router's own bookkeeping agrees with itself and with the routing rules.
    fn check(r: &Router, now: Timestamp) -> Result<(), String> {
        // Every call is in line exactly where its entry says.
        for (id, call) in &r.calls {
            let queue = &r.queues[call.queue];
            if !queue.by_age.contains(&(call.spec.enqueued_at, *id)) {
                return Err(format!("call {id} missing from its queue's by_age"));
            }
            if let CallStatus::Waiting { step } = call.status {
                if !queue.waiting[step].contains(&call.key) {
                    return Err(format!("call {id} missing from waiting[{step}]"));
                }
            }
        }
        let in_line: usize = r.queues.iter().map(|q| q.by_age.len()).sum();
        let waiting: usize = r
            .queues
            .iter()
            .flat_map(|q| &q.waiting)
            .map(BTreeSet::len)
            .sum();
        let held: usize = r.agents.iter().map(|a| a.held.len()).sum();
        let offered = r
            .calls
            .values()
            .filter(|c| matches!(c.status, CallStatus::Offered { .. }))
            .count();
        if in_line != r.calls.len() || waiting + held + offered != r.calls.len() {
            return Err(format!(
                "{} calls but {in_line} in by_age, {waiting} waiting + {held} held + {offered} offered",
                r.calls.len()
            ));
        }
        // The EWT's N: logged in and not on a break, counted as the agents' states say.
        for (q, queue) in r.queues.iter().enumerate() {
            let serving = r
                .agents
                .iter()
                .filter(|a| a.serves.iter().any(|(s, _)| *s == q))
                .filter(|a| !matches!(a.status, AgentStatus::LoggedOut | AgentStatus::Break { .. }))
                .count();
            if r.agents_serving(&queue.spec.id) as usize != serving {
                return Err(format!(
                    "queue {q}: serving {} but {serving} agents serve it",
                    r.agents_serving(&queue.spec.id)
                ));
            }
        }
        let mut offered_agents = std::collections::HashSet::new();
        for (id, call) in &r.calls {
            if let CallStatus::Offered { agent } = call.status {
                if !offered_agents.insert(agent) {
                    return Err(format!("agent {agent} holds two offers"));
                }
                if r.agents[agent].status != (AgentStatus::Offered { call: *id }) {
                    return Err(format!(
                        "call {id} offered to {agent} who is {:?}",
                        r.agents[agent].status
                    ));
                }
            }
        }
        for (a, agent) in r.agents.iter().enumerate() {
            // Eligibility is checked when the offer is made (`check_offer`): an
            // administrator's change may leave an offer with an agent who no longer qualifies.
            if let AgentStatus::Offered { call } = agent.status {
                if !r.calls.contains_key(&call) {
                    return Err(format!("agent {a} offered a call the router forgot"));
                }
            }
            let in_sets = r
                .queues
                .iter()
                .flat_map(|q| &q.available)
                .flatten()
                .filter(|k| k.2 == a)
                .count();
            let expected = if matches!(agent.status, AgentStatus::Available { .. }) {
                agent
                    .serves
                    .iter()
                    .filter(|(_, first)| first.is_some())
                    .count()
            } else {
                0
            };
            if in_sets != expected {
                return Err(format!(
                    "agent {a} ({:?}) is in {in_sets} available sets, expected {expected}",
                    agent.status
                ));
            }
        }
        // No waiting call and available eligible agent both remain after a decision.
        for (q, queue) in r.queues.iter().enumerate() {
            for (step, set) in queue.waiting.iter().enumerate() {
                if !set.is_empty() && r.best_agent_for(q, step).is_some() {
                    return Err(format!(
                        "queue {q} step {step}: a call waits while an eligible agent is available"
                    ));
                }
            }
        }
        for call in r.calls.values() {
            if let CallStatus::Waiting { step } = call.status {
                let due = r.step_at(call.queue, now.since(call.spec.enqueued_at));
                if step > due {
                    return Err(format!("call at step {step} before its time (due {due})"));
                }
            }
        }
        Ok(())
    }

    /// Each agent's spans follow one another in time without overlap, and none is empty or
    /// logged out. (Two in a row may share a state: one that lasted no time lies between.)
    fn check_spans(spans: &[AgentStateSpan]) -> Result<(), String> {
        let mut last: HashMap<&AgentId, &AgentStateSpan> = HashMap::new();
        for span in spans {
            if span.started_at >= span.ended_at || span.state == AgentState::LoggedOut {
                return Err(format!("bad span {span:?}"));
            }
            if let Some(before) = last.insert(&span.agent, span) {
                if span.started_at < before.ended_at {
                    return Err(format!("{span:?} overlaps {before:?}"));
                }
            }
        }
        Ok(())
    }

    fn agent_id(i: usize) -> AgentId {
        AgentId::new(format!("a{i}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn routing_invariants_hold_for_any_sequence(ops in proptest::collection::vec(op(), 1..120)) {
            let mut r = router();
            let mut now = t(0);
            let mut next_call = 0u128;
            let (mut entered, mut answered, mut abandoned, mut overflowed) = (0usize, 0usize, 0usize, 0usize);
            let mut waiting_or_offered: Vec<CallId> = Vec::new();
            let mut talking: HashMap<usize, CallId> = HashMap::new();
            let mut spans = Vec::new();
            // The agents the router should know (by number), as the test's own model.
            let mut known: HashSet<usize> = (0..5).collect();
            for op in ops {
                // Max waits are enforced by the clock in every queue and at once by a change
                // in the changed queue (a call moved into a queue past its max wait leaves
                // at the next tick).
                let max_wait_enforced_in = match op {
                    Op::Advance { .. } => Some(None),
                    Op::PutQueue { queue, .. } => Some(Some(QueueId::new(if queue == 0 { "q1" } else { "q2" }))),
                    _ => None,
                };
                let decisions = match op {
                    Op::Arrive { queue, priority, manager } => {
                        next_call += 1;
                        entered += 1;
                        let mut spec = call(next_call, if queue == 0 { "q1" } else { "q2" }, priority, now);
                        spec.account_manager = manager.map(agent_id);
                        waiting_or_offered.push(id(next_call));
                        r.enqueue(spec, now)
                    }
                    Op::HangUp { pick } if !waiting_or_offered.is_empty() => {
                        let call = waiting_or_offered.remove(pick % waiting_or_offered.len());
                        abandoned += 1;
                        r.remove_call(call, now)
                    }
                    Op::Available { agent } => r.make_available(&agent_id(agent), now),
                    Op::Break { agent } => r.take_break(&agent_id(agent), "x".into(), now).unwrap_or_default(),
                    Op::Logout { agent } => r.logout(&agent_id(agent), now).unwrap_or_default(),
                    Op::Answer { pick } | Op::NoAnswer { pick } => {
                        let offered: Vec<(usize, CallId)> = r.agents.iter().enumerate()
                            .filter_map(|(a, e)| match e.status { AgentStatus::Offered { call } => Some((a, call)), _ => None })
                            .collect();
                        if offered.is_empty() { Vec::new() } else {
                            let (a, call) = offered[pick % offered.len()];
                            if matches!(op, Op::Answer { .. }) {
                                r.offer_answered(call, now);
                                waiting_or_offered.retain(|c| *c != call);
                                answered += 1;
                                // By number, not slot: a removed and re-added agent has a new slot.
                                talking.insert(agent_number(&r.agents[a].spec.id), call);
                                Vec::new()
                            } else {
                                r.offer_failed(call, OfferEnd::NoAnswer, now)
                            }
                        }
                    }
                    Op::EndCall { agent } => {
                        if let Some(call) = talking.get(&agent).copied() {
                            r.call_ended(&agent_id(agent), call, Duration::from_secs(30), now);
                        }
                        Vec::new()
                    }
                    Op::WrapUp { agent } => match talking.remove(&agent) {
                        Some(call) => r.wrap_up_done(&agent_id(agent), call, now),
                        None => Vec::new(),
                    },
                    Op::Advance { secs } => { now = now.plus(Duration::from_secs(secs as u64)); r.tick(now) }
                    Op::Move { pick } | Op::Priority { pick, .. } if !waiting_or_offered.is_empty() => {
                        let call = waiting_or_offered[pick % waiting_or_offered.len()];
                        let result = match op {
                            Op::Move { .. } => {
                                let to = if r.calls[&call].queue == 0 { "q2" } else { "q1" };
                                r.move_call(call, &QueueId::new(to), now)
                            }
                            Op::Priority { priority, .. } => r.set_priority(call, priority, now),
                            _ => unreachable!("matched above"),
                        };
                        match result {
                            Ok(decisions) => decisions,
                            Err(ActionRefused::BeingOffered | ActionRefused::NobodyServes(_)) => Vec::new(),
                            Err(other) => return Err(TestCaseError::fail(format!("{other}: a call in line refused"))),
                        }
                    }
                    Op::HangUp { .. } | Op::Move { .. } | Op::Priority { .. } => Vec::new(),
                    Op::PutAgent { agent, queues, billing } => {
                        let mut names = Vec::new();
                        if queues & 1 != 0 {
                            names.push("q1");
                        }
                        if queues & 2 != 0 {
                            names.push("q2");
                        }
                        if queues & 4 != 0 {
                            names.extend(["nowhere", "q1"]);
                        }
                        let skills: Vec<(&str, i64)> = billing.map(|b| ("billing", b)).into_iter().collect();
                        known.insert(agent);
                        r.put_agent(super::agent(agent_id(agent).as_str(), &names, &skills), now)
                    }
                    Op::RemoveAgent { agent } => {
                        let name = agent_id(agent);
                        let expected = if !known.contains(&agent) {
                            Err(DirectoryRefused::UnknownAgent(name.clone()))
                        } else if r.agent_state(&name) != Some(AgentState::LoggedOut) {
                            Err(DirectoryRefused::AgentLoggedIn(name.clone()))
                        } else {
                            Ok(())
                        };
                        let result = r.remove_agent(&name);
                        prop_assert_eq!(&result, &expected);
                        if result.is_ok() {
                            known.remove(&agent);
                            prop_assert!(!r.has_agent(&name) && r.agent_state(&name).is_none());
                        }
                        Vec::new()
                    }
                    Op::PutQueue { queue: q, steps, max_wait, priority, strategy } => {
                        let mut spec = queue(if q == 0 { "q1" } else { "q2" }, STRATEGIES[strategy], steps_variant(steps));
                        spec.max_wait = Duration::from_secs(max_wait);
                        spec.priority = priority;
                        spec.overflow = if q == 0 {
                            Overflow::Message("busy.wav".into())
                        } else {
                            Overflow::Queue(QueueId::new("q1"))
                        };
                        r.put_queue(spec, now)
                    }
                };
                let mut made = decisions.clone();
                for decision in &decisions {
                    if let Decision::Overflow { call, action, .. } = decision {
                        if !matches!(action, Overflow::Queue(_)) {
                            overflowed += 1;
                            waiting_or_offered.retain(|c| c != call);
                        } else {
                            // moved: re-enters q1 with its original enqueue time
                            let spec = CallSpec { call: *call, queue: QueueId::new("q1"), priority: 0, account_manager: None, enqueued_at: now, callback: false };
                            let more = r.enqueue(spec, now);
                            if more.iter().any(|d| matches!(d, Decision::Overflow { .. })) {
                                overflowed += 1;
                                waiting_or_offered.retain(|c| c != call);
                            }
                            made.extend(more);
                        }
                    }
                    if let Decision::WrapUpExpired { agent, .. } = decision {
                        talking.remove(&agent_number(agent));
                    }
                }
                for decision in &made {
                    if let Decision::Offer { call, agent } = decision {
                        check_offer(&r, *call, agent, now).map_err(TestCaseError::fail)?;
                    }
                }
                check(&r, now).map_err(TestCaseError::fail)?;
                if let Some(changed) = max_wait_enforced_in {
                    for (id, call) in &r.calls {
                        let queue = &r.queues[call.queue].spec;
                        if changed.as_ref().is_some_and(|q| *q != queue.id) {
                            continue;
                        }
                        let due = call.spec.enqueued_at.plus(queue.max_wait);
                        let offered = matches!(call.status, CallStatus::Offered { .. });
                        prop_assert!(offered || now < due, "call {} is {:?} past its max wait", id, call.status);
                    }
                }
                let listed: HashSet<usize> = r.agent_views().iter().map(|v| agent_number(&v.agent)).collect();
                prop_assert_eq!(&listed, &known, "agent views list the known agents");
                spans.extend(r.take_spans());
                let in_router = r.calls.len();
                prop_assert_eq!(in_router, waiting_or_offered.len(), "router and test disagree on calls in queue");
                prop_assert_eq!(entered, answered + abandoned + overflowed + in_router, "counts balance");
            }
            spans.extend(r.close_spans(now));
            check_spans(&spans).map_err(TestCaseError::fail)?;
        }

        /// Aging: a low-priority call behind an endless stream of higher-priority ones is
        /// served once it has aged past them. At `aging` points a minute it overtakes every
        /// call that arrived more than 60·Δ/aging seconds after it, so at most the calls of
        /// that window (and the one being handled) go first.
        #[test]
        fn aging_serves_a_low_priority_call_behind_an_endless_stream(
            delta in 1..60i32,
            gap in 1..30i64,
            handle in 5..60i64,
        ) {
            let agent = AgentId::new("a1");
            let mut general = queue("general", Strategy::LongestIdle, vec![step(0, &[])]);
            general.max_wait = Duration::from_secs(1_000_000); // no overflow cuts the wait short
            let mut r = Router::new(settings(), vec![general], vec![super::agent("a1", &["general"], &[])]);
            let aging = i64::from(settings().aging_per_minute);
            let window = aging * gap;
            let ahead = (60 * i64::from(delta) + window - 1) / window;
            let bound = (ahead + 2) * handle + gap;
            let low = id(1);
            let mut next = 2u128;
            assert!(r.make_available(&agent, t(0)).is_empty());
            let mut pending = r.enqueue(call(next, "general", delta, t(0)), t(0));
            assert!(r.enqueue(call(1, "general", 0, t(0)), t(0)).is_empty());
            let mut talking: Option<(CallId, i64)> = None;
            let mut served_at = None;
            for now_s in 0..=bound + handle {
                let now = t(now_s);
                if now_s > 0 && now_s % gap == 0 {
                    next += 1;
                    pending.extend(r.enqueue(call(next, "general", delta, now), now));
                }
                if let Some((done, ends)) = talking {
                    if ends <= now_s {
                        talking = None;
                        r.call_ended(&agent, done, Duration::from_secs(handle as u64), now);
                        pending.extend(r.wrap_up_done(&agent, done, now));
                    }
                }
                pending.extend(r.tick(now));
                for decision in std::mem::take(&mut pending) {
                    assert!(!matches!(decision, Decision::Overflow { .. }), "at {now_s} s: {decision:?}");
                    if let Decision::Offer { call, .. } = decision {
                        r.offer_answered(call, now);
                        talking = Some((call, now_s + handle));
                        if call == low {
                            served_at = Some(now_s);
                        }
                    }
                }
                if served_at.is_some() {
                    break;
                }
            }
            let served = served_at.ok_or_else(|| TestCaseError::fail("the low-priority call was never served"))?;
            assert!(served <= bound, "served at {served} s, bound {bound} s");
        }

        #[test]
        fn equal_priority_calls_are_served_first_come_first_served(n in 2..30usize) {
            let agent = AgentId::new("a1");
            let mut r = billing_router(vec![super::agent("a1", &["general"], &[("billing", 9)])]);
            r.login(&agent, t(0));
            for i in 0..n {
                prop_assert_eq!(r.enqueue(call(i as u128 + 1, "general", 0, t(i as i64)), t(i as i64)), vec![]);
            }
            let mut now = t(n as i64);
            let mut previous = None;
            for i in 0..n {
                let next = id(i as u128 + 1);
                let decisions = match previous {
                    None => r.make_available(&agent, now),
                    Some(done) => r.wrap_up_done(&agent, done, now),
                };
                prop_assert_eq!(decisions, vec![Decision::Offer { call: next, agent: agent.clone() }]);
                r.offer_answered(next, now);
                r.call_ended(&agent, next, Duration::from_secs(1), now);
                previous = Some(next);
                now = now.plus(Duration::from_secs(1));
            }
        }
    }
}

fn callback(n: u128, at: Timestamp) -> CallSpec {
    CallSpec {
        callback: true,
        ..call(n, "general", 0, at)
    }
}

#[test]
fn a_callback_waits_for_agents_when_nobody_is_logged_in_and_never_overflows() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    assert!(
        r.enqueue(callback(1, t(0)), t(0)).is_empty(),
        "nobody logged in: a callback waits (a caller on the line would overflow)"
    );
    assert!(
        r.tick(t(3600)).is_empty(),
        "past the max wait: still waiting"
    );
    assert_eq!(r.queue_views()[0].waiting, 1);
    assert_eq!(
        r.make_available(&AgentId::new("a1"), t(3601)),
        vec![offer(1, "a1")]
    );
}

#[test]
fn a_callback_keeps_its_place_ahead_of_later_callers() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    r.login(&AgentId::new("a1"), t(0));
    assert!(r.enqueue(call(2, "general", 0, t(10)), t(10)).is_empty());
    // The callback comes back (after its caller hung up) with its first enqueue time.
    assert!(r.enqueue(callback(1, t(0)), t(20)).is_empty());
    assert_eq!(r.calls_ahead(id(2)), Some(1));
    assert_eq!(
        r.make_available(&AgentId::new("a1"), t(30)),
        vec![offer(1, "a1")]
    );
}

#[test]
fn a_callback_offer_rings_the_agent_and_then_the_customer_before_it_expires() {
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    assert!(r.make_available(&AgentId::new("a1"), t(0)).is_empty());
    assert_eq!(r.enqueue(callback(1, t(0)), t(0)), vec![offer(1, "a1")]);
    // ring timeout 20 s + the customer's 30 s + 1 s.
    assert!(r.tick(t(50)).is_empty());
    assert_eq!(
        r.tick(t(51)),
        vec![Decision::OfferExpired {
            call: id(1),
            agent: AgentId::new("a1")
        }]
    );
    assert_eq!(
        r.agent_state(&AgentId::new("a1")),
        Some(AgentState::NotReady)
    );

    // The customer did not answer in time: the engine takes the call out until its next
    // try, and the agent is available at once (it was not their doing).
    let mut r = billing_router(vec![agent("a1", &["general"], &[("billing", 7)])]);
    assert!(r.make_available(&AgentId::new("a1"), t(0)).is_empty());
    assert_eq!(r.enqueue(callback(1, t(0)), t(0)), vec![offer(1, "a1")]);
    assert_eq!(r.remove_call(id(1), t(40)), vec![]);
    assert_eq!(
        r.agent_state(&AgentId::new("a1")),
        Some(AgentState::Available)
    );
    assert_eq!(r.queue_views()[0].waiting, 0);
}
