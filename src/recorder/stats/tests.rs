//! Distributions against hand-computed values (values under 2,048 ms are exact at three
//! significant digits).

use super::*;
use crate::domain::{CallId, NodeId};

/// 2026-12-04 10:00:00 UTC.
const TEN: i64 = 1_796_378_400_000_000;

fn at(minutes: i64, seconds: i64) -> Timestamp {
    Timestamp::from_micros(TEN + (minutes * 60 + seconds) * 1_000_000)
}

fn call(tier: &str, enqueued: Timestamp, outcome: Outcome, wait_ms: i64) -> CallRecord {
    CallRecord {
        call: CallId::random(),
        node: NodeId::new("fs1"),
        caller_number: "+15550000000".into(),
        destination: "8005550100".into(),
        customer_id: None,
        tier: TierId::new(tier),
        queue: Some(QueueId::new("general")),
        agent: None,
        outcome,
        arrived_at: enqueued,
        enqueued_at: Some(enqueued),
        answered_at: None,
        talk_ended_at: None,
        ended_at: enqueued,
        wrap_up_ended_at: None,
        wait_ms: Some(wait_ms),
        ivr_ms: 0,
        talk_ms: (outcome == Outcome::Answered).then_some(600),
        acw_ms: (outcome == Outcome::Answered).then_some(100),
        sla_met: None,
        short_abandon: false,
        hangup_cause: "NORMAL_CLEARING".into(),
        offers: 1,
        ivr_path: serde_json::Value::Null,
        disposition: None,
        survey_score: None,
    }
}

fn general() -> QueueId {
    QueueId::new("general")
}

#[test]
fn calls_count_in_the_interval_they_were_enqueued() {
    let mut stats = Stats::default();
    stats.record(&call("gold", at(0, 5), Outcome::Answered, 100));
    stats.record(&call("gold", at(7, 0), Outcome::Answered, 200));
    stats.record(&call("standard", at(14, 59), Outcome::Answered, 300));
    stats.record(&call("gold", at(15, 0), Outcome::Answered, 1900)); // next interval
    stats.record(&call("gold", at(3, 0), Outcome::Abandoned, 1000)); // not an answer wait

    let first = stats.percentiles(Figure::Wait, &general(), None, at(0, 0), at(15, 0));
    assert_eq!(
        first,
        Some(Percentiles {
            count: 3,
            p50: 200,
            p90: 300,
            p99: 300,
            max: 300
        })
    );
    let both = stats.percentiles(Figure::Wait, &general(), None, at(0, 0), at(30, 0));
    assert_eq!(both.map(|p| (p.count, p.max)), Some((4, 1900)));
    let gold = stats.percentiles(
        Figure::Wait,
        &general(),
        Some(&TierId::new("gold")),
        at(0, 0),
        at(15, 0),
    );
    assert_eq!(gold.map(|p| (p.count, p.p50, p.max)), Some((2, 100, 200)));
    let handle = stats.percentiles(Figure::Handle, &general(), None, at(0, 0), at(15, 0));
    assert_eq!(handle.map(|p| (p.count, p.p50)), Some((3, 700)));
}

#[test]
fn other_queues_and_empty_ranges_give_nothing() {
    let mut stats = Stats::default();
    stats.record(&call("gold", at(0, 5), Outcome::Answered, 100));
    assert_eq!(
        stats.percentiles(
            Figure::Wait,
            &QueueId::new("repair"),
            None,
            at(0, 0),
            at(60, 0)
        ),
        None
    );
    assert_eq!(
        stats.percentiles(Figure::Wait, &general(), None, at(15, 0), at(60, 0)),
        None
    );
    let mut never_queued = call("gold", at(0, 5), Outcome::EndedInIvr, 0);
    never_queued.queue = None;
    never_queued.enqueued_at = None;
    stats.record(&never_queued);
    let p = stats.percentiles(Figure::Wait, &general(), None, at(0, 0), at(60, 0));
    assert_eq!(p.map(|p| p.count), Some(1));
}

#[test]
fn waits_longer_than_a_day_are_clamped_and_counted() {
    let mut stats = Stats::default();
    stats.record(&call(
        "gold",
        at(0, 5),
        Outcome::Answered,
        2 * 24 * 3600 * 1000,
    ));
    assert_eq!(stats.clamped, 1);
    let p = stats
        .percentiles(Figure::Wait, &general(), None, at(0, 0), at(15, 0))
        .expect("recorded");
    assert!(
        p.max >= 24 * 3600 * 1000 && p.max < 24 * 3600 * 1000 + 100_000,
        "{p:?}"
    );
}

#[test]
fn intervals_older_than_the_retention_are_dropped() {
    let mut stats = Stats::default();
    stats.record(&call("gold", at(0, 5), Outcome::Answered, 100));
    let nine_days = 9 * 24 * 60;
    stats.record(&call("gold", at(nine_days, 0), Outcome::Answered, 100));
    assert_eq!(
        stats.percentiles(Figure::Wait, &general(), None, at(0, 0), at(15, 0)),
        None
    );
}
