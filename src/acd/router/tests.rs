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
    let mut r = billing_router(vec![
        agent("manager", &["general"], &[("billing", 7)]),
        agent("other", &["general"], &[("billing", 9)]),
    ]);
    r.login(&AgentId::new("manager"), t(0));
    assert!(r.make_available(&AgentId::new("other"), t(0)).is_empty());
    let mut key = call(1, "general", 30, t(1));
    key.account_manager = Some(AgentId::new("manager"));
    assert!(
        r.enqueue(key.clone(), t(1)).is_empty(),
        "held for the manager although `other` is free"
    );
    assert_eq!(
        r.make_available(&AgentId::new("manager"), t(5)),
        vec![offer(1, "manager")]
    );

    let mut r = billing_router(vec![
        agent("manager", &["general"], &[("billing", 7)]),
        agent("other", &["general"], &[("billing", 9)]),
    ]);
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

// ---- property test: random arrivals, hang-ups, agent actions and clock advances --------

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
        let mut r = billing_router(vec![
            agent("manager", &["general"], &[("billing", 7)]),
            agent("other", &["general"], &[("billing", 9)]),
        ]);
        if on_break {
            r.login(&AgentId::new("manager"), t(0));
            assert!(
                r.take_break(&AgentId::new("manager"), "lunch".into(), t(0))
                    .is_some()
            );
        }
        assert!(r.make_available(&AgentId::new("other"), t(0)).is_empty());
        let mut key = call(1, "general", 30, t(1));
        key.account_manager = Some(AgentId::new("manager"));
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
        let mut r = billing_router(vec![
            agent("manager", &["general"], &[("billing", 7)]),
            agent("other", &["general"], &[("billing", 9)]),
        ]);
        let manager = AgentId::new("manager");
        r.login(&manager, t(0)); // logged in, not ready: the call is held for them
        assert!(r.make_available(&AgentId::new("other"), t(0)).is_empty());
        let mut key = call(1, "general", 30, t(1));
        key.account_manager = Some(manager.clone());
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

mod properties {
    use proptest::prelude::{
        Just, ProptestConfig, TestCaseError, any, prop_assert_eq, prop_oneof, proptest,
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
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        prop_oneof![
            4 => (0..2usize, prop_oneof![Just(0), Just(10), Just(30)], proptest::option::of(0..5usize))
                .prop_map(|(queue, priority, manager)| Op::Arrive { queue, priority, manager }),
            2 => any::<usize>().prop_map(|pick| Op::HangUp { pick }),
            3 => (0..5usize).prop_map(|agent| Op::Available { agent }),
            1 => (0..5usize).prop_map(|agent| Op::Break { agent }),
            1 => (0..5usize).prop_map(|agent| Op::Logout { agent }),
            3 => any::<usize>().prop_map(|pick| Op::Answer { pick }),
            1 => any::<usize>().prop_map(|pick| Op::NoAnswer { pick }),
            2 => (0..5usize).prop_map(|agent| Op::EndCall { agent }),
            2 => (0..5usize).prop_map(|agent| Op::WrapUp { agent }),
            3 => (1..120i64).prop_map(|secs| Op::Advance { secs }),
            1 => any::<usize>().prop_map(|pick| Op::Move { pick }),
            1 => (any::<usize>(), -20..50i32).prop_map(|(pick, priority)| Op::Priority { pick, priority }),
        ]
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
            if let AgentStatus::Offered { call } = agent.status {
                let entry = r
                    .calls
                    .get(&call)
                    .ok_or(format!("agent {a} offered a call the router forgot"))?;
                if !agent
                    .serves
                    .iter()
                    .any(|(q, first)| *q == entry.queue && first.is_some())
                {
                    return Err(format!(
                        "call offered to agent {a} who is not eligible for its queue"
                    ));
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
            for op in ops {
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
                                talking.insert(a, call);
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
                };
                for decision in &decisions {
                    if let Decision::Overflow { call, action, .. } = decision {
                        if !matches!(action, Overflow::Queue(_)) {
                            overflowed += 1;
                            waiting_or_offered.retain(|c| c != call);
                        } else {
                            // moved: re-enters q1 with its original enqueue time
                            let spec = CallSpec { call: *call, queue: QueueId::new("q1"), priority: 0, account_manager: None, enqueued_at: now };
                            let more = r.enqueue(spec, now);
                            if more.iter().any(|d| matches!(d, Decision::Overflow { .. })) {
                                overflowed += 1;
                                waiting_or_offered.retain(|c| c != call);
                            }
                        }
                    }
                    if let Decision::WrapUpExpired { agent, .. } = decision {
                        let idx: usize = agent.as_str()[1..].parse().expect("a<n>");
                        talking.remove(&idx);
                    }
                }
                check(&r, now).map_err(TestCaseError::fail)?;
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
