//! The reports against figures computed by hand for a fixed set of calls and state spans.

use super::*;
use crate::domain::{CallId, Disposition, NodeId};

/// 2026-12-04 10:00:00 UTC.
const TEN: i64 = 1_796_378_400_000_000;

fn at(minutes: i64, seconds: i64) -> Timestamp {
    Timestamp::from_micros(TEN + (minutes * 60 + seconds) * 1_000_000)
}

fn quarters(from: Timestamp, to: Timestamp) -> Period {
    Period::new(from, to, Interval::Quarter, Tz::UTC).expect("period")
}

/// Equal to the shown precision (the figures are ratios of whole numbers).
fn close(actual: Option<f64>, expected: f64) -> bool {
    actual.is_some_and(|a| (a - expected).abs() < 1e-9)
}

/// A queued call. `wait`, `talk` and `acw` in seconds.
struct Call {
    tier: &'static str,
    enqueued: Timestamp,
    outcome: Outcome,
    wait: i64,
    talk: i64,
    acw: i64,
    sla_met: Option<bool>,
    short: bool,
    survey: Option<u8>,
}

impl Call {
    fn answered(tier: &'static str, enqueued: Timestamp, wait: i64, talk: i64, acw: i64) -> Call {
        Call {
            tier,
            enqueued,
            outcome: Outcome::Answered,
            wait,
            talk,
            acw,
            sla_met: None,
            short: false,
            survey: None,
        }
    }

    fn other(tier: &'static str, enqueued: Timestamp, outcome: Outcome, wait: i64) -> Call {
        Call {
            outcome,
            sla_met: Some(false),
            ..Call::answered(tier, enqueued, wait, 0, 0)
        }
    }

    fn sla(self, met: Option<bool>) -> Call {
        Call {
            sla_met: met,
            ..self
        }
    }

    fn short(self) -> Call {
        Call {
            short: true,
            sla_met: None,
            ..self
        }
    }

    fn survey(self, score: u8) -> Call {
        Call {
            survey: Some(score),
            ..self
        }
    }

    fn record(&self) -> CallRecord {
        let answered = self.outcome == Outcome::Answered;
        let answered_at = self.enqueued.plus(secs(self.wait));
        let talk_ended_at = answered_at.plus(secs(self.talk));
        CallRecord {
            call: CallId::random(),
            node: NodeId::new("fs1"),
            caller_number: "+15550000000".into(),
            destination: "8005550100".into(),
            customer_id: None,
            tier: TierId::new(self.tier),
            queue: Some(QueueId::new("general")),
            agent: answered.then(|| AgentId::new("a1")),
            outcome: self.outcome,
            arrived_at: self.enqueued,
            enqueued_at: Some(self.enqueued),
            answered_at: answered.then_some(answered_at),
            talk_ended_at: answered.then_some(talk_ended_at),
            ended_at: talk_ended_at,
            wrap_up_ended_at: answered.then(|| talk_ended_at.plus(secs(self.acw))),
            wait_ms: Some(self.wait * 1000),
            ivr_ms: 0,
            talk_ms: answered.then_some(self.talk * 1000),
            acw_ms: answered.then_some(self.acw * 1000),
            sla_met: self.sla_met,
            short_abandon: self.short,
            hangup_cause: "NORMAL_CLEARING".into(),
            offers: 1,
            ivr_path: serde_json::Value::Null,
            disposition: None,
            survey_score: self.survey,
        }
    }
}

fn secs(s: i64) -> std::time::Duration {
    std::time::Duration::from_secs(u64::try_from(s).expect("positive"))
}

/// gold: 80 % within 20 s; standard: 50 % within 60 s.
fn targets() -> HashMap<TierId, TierTarget> {
    HashMap::from([
        (
            TierId::new("gold"),
            TierTarget {
                threshold_ms: 20_000,
                target: 0.8,
            },
        ),
        (
            TierId::new("standard"),
            TierTarget {
                threshold_ms: 60_000,
                target: 0.5,
            },
        ),
    ])
}

/// The fixed set: two quarters of 10:00–10:30, with calls on either side of the range, a
/// short abandon, an overflow, a call waiting across 10:15 and one that never queued.
fn fixed_calls() -> Vec<CallRecord> {
    let mut never_queued = Call::other("gold", at(1, 0), Outcome::EndedInIvr, 0).record();
    never_queued.queue = None;
    never_queued.enqueued_at = None;
    let calls = [
        Call::answered("gold", at(0, 10), 5, 120, 30)
            .sla(Some(true))
            .survey(5),
        Call::answered("gold", at(5, 0), 25, 200, 20)
            .sla(Some(false))
            .survey(3),
        Call::other("gold", at(10, 0), Outcome::Abandoned, 3).short(),
        Call::other("gold", at(12, 0), Outcome::Abandoned, 40),
        // Waits across 10:15: counted where it entered the queue.
        Call::answered("standard", at(14, 50), 50, 60, 0)
            .sla(Some(true))
            .survey(4),
        Call::other("standard", at(20, 0), Outcome::Overflowed, 300),
        Call::answered("standard", at(25, 0), 10, 100, 50).sla(Some(true)),
        // Outside the range.
        Call::answered("gold", at(-1, 59), 1, 10, 10).sla(Some(true)),
        Call::answered("gold", at(30, 0), 1, 10, 10).sla(Some(true)),
    ];
    let mut records: Vec<CallRecord> = calls.iter().map(Call::record).collect();
    records.push(never_queued);
    records
}

fn queue_rows(per_tier_only: bool) -> Vec<QueueRow> {
    let mut report = QueueReport::new(quarters(at(0, 0), at(30, 0)), targets(), per_tier_only);
    for call in fixed_calls() {
        report.add(&call);
    }
    report.rows()
}

#[test]
fn queue_rows_come_by_interval_queue_then_tier() {
    let keys: Vec<_> = queue_rows(false)
        .into_iter()
        .map(|r| (r.interval_start, r.tier.map(|t| t.to_string())))
        .collect();
    let row = |start: &str, tier: Option<&str>| (start.to_owned(), tier.map(str::to_owned));
    assert_eq!(
        keys,
        [
            row("2026-12-04T10:00:00Z", None),
            row("2026-12-04T10:00:00Z", Some("gold")),
            row("2026-12-04T10:00:00Z", Some("standard")),
            row("2026-12-04T10:15:00Z", None),
            row("2026-12-04T10:15:00Z", Some("standard")),
        ]
    );
}

#[test]
fn gold_first_quarter_matches_the_hand_computed_figures() {
    let rows = queue_rows(false);
    let gold = &rows[1];
    assert_eq!(
        (
            gold.offered,
            gold.answered,
            gold.abandoned,
            gold.short_abandons,
            gold.overflowed,
            gold.answered_within_threshold
        ),
        (4, 2, 2, 1, 0, 1)
    );
    // SL = 1 within 20 s / (4 offered − 1 short abandon).
    assert!(close(gold.service_level, 1.0 / 3.0), "{gold:?}");
    assert_eq!(
        (gold.sla_threshold_ms, gold.sla_target, gold.sla_target_met),
        (Some(20_000), Some(0.8), Some(false))
    );
    assert!(close(gold.asa_ms, 15_000.0)); // (5 + 25) / 2 s
    assert!(close(gold.abandon_rate, 1.0 / 3.0)); // (2 − 1) / (4 − 1)
    assert!(close(gold.aht_ms, 185_000.0)); // (150 + 220) / 2 s
    // Waits 3, 5, 25, 40 s: ranks 2, 4, 4.
    assert_eq!(
        (gold.wait_p50_ms, gold.wait_p90_ms, gold.wait_p99_ms),
        (Some(5_000), Some(40_000), Some(40_000))
    );
    assert_eq!(gold.surveys, 2);
    assert!(close(gold.csat, 4.0) && close(gold.csat_top2, 0.5));
}

#[test]
fn all_tiers_row_adds_the_tiers_up_against_each_calls_own_threshold() {
    let rows = queue_rows(false);
    let all = &rows[0];
    assert_eq!(all.tier, None);
    assert_eq!((all.offered, all.answered, all.short_abandons), (5, 3, 1));
    assert!(close(all.service_level, 0.5)); // 2 / (5 − 1)
    assert_eq!((all.sla_target, all.sla_target_met), (None, None));
    assert!(close(all.asa_ms, 80_000.0 / 3.0)); // (5 + 25 + 50) / 3 s
    assert!(close(all.abandon_rate, 0.25));
    assert!(close(all.aht_ms, 430_000.0 / 3.0)); // (150 + 220 + 60) / 3 s
    // Waits 3, 5, 25, 40, 50 s: ranks 3, 5, 5.
    assert_eq!(
        (all.wait_p50_ms, all.wait_p90_ms),
        (Some(25_000), Some(50_000))
    );
    assert!(close(all.csat, 4.0) && close(all.csat_top2, 2.0 / 3.0));
}

#[test]
fn second_quarter_counts_the_overflow_against_sl_but_not_as_an_abandon() {
    let rows = queue_rows(false);
    let standard = &rows[4];
    assert_eq!(
        (standard.offered, standard.answered, standard.overflowed),
        (2, 1, 1)
    );
    assert!(close(standard.service_level, 0.5));
    assert_eq!(standard.sla_target_met, Some(true)); // 50 % target
    assert!(close(standard.abandon_rate, 0.0));
    assert_eq!(standard.wait_p99_ms, Some(10_000)); // the overflow's wait is not a wait
    assert_eq!((standard.surveys, standard.csat), (0, None));
}

#[test]
fn naming_a_tier_leaves_out_the_all_tiers_rows() {
    let rows = queue_rows(true);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.tier.is_some()));
}

#[test]
fn empty_figures_are_absent_not_zero() {
    let mut report = QueueReport::new(quarters(at(0, 0), at(15, 0)), targets(), false);
    report.add(
        &Call::other("gold", at(1, 0), Outcome::Abandoned, 2)
            .short()
            .record(),
    );
    let rows = report.rows();
    let gold = &rows[1];
    assert_eq!(gold.offered, 1);
    assert_eq!((gold.service_level, gold.abandon_rate), (None, None));
    assert_eq!((gold.asa_ms, gold.aht_ms), (None, None));
    assert_eq!(gold.sla_target_met, None);
}

fn span(state: AgentState, from: Timestamp, to: Timestamp) -> AgentStateSpan {
    AgentStateSpan {
        agent: AgentId::new("a1"),
        state,
        reason: None,
        started_at: from,
        ended_at: to,
    }
}

/// a1's half hour: ringing, a call, wrap-up, idle across 10:15, then a break past 10:30.
fn a1_spans() -> Vec<AgentStateSpan> {
    vec![
        span(AgentState::LoggedOut, at(-60, 0), at(-5, 0)),
        span(AgentState::Available, at(-5, 0), at(0, 10)),
        span(AgentState::Offered, at(0, 10), at(0, 15)),
        span(AgentState::Talking, at(0, 15), at(2, 15)),
        span(AgentState::WrapUp, at(2, 15), at(2, 45)),
        span(AgentState::Available, at(2, 45), at(20, 0)),
        span(AgentState::Break, at(20, 0), at(40, 0)),
    ]
}

fn handled(answered: Timestamp, talk: i64, acw: i64, customer: i64) -> CallRecord {
    let mut call = Call::answered("gold", answered, 0, talk, acw).record();
    call.customer_id = Some(customer);
    call
}

fn categorised(mut call: CallRecord, category: Category, resolved: bool) -> CallRecord {
    call.disposition = Some(Disposition {
        category,
        resolved,
        notes: String::new(),
    });
    call
}

fn agent_rows() -> Vec<AgentRow> {
    let period = quarters(at(0, 0), at(30, 0));
    let day = 24 * 60;
    let complaint = categorised(handled(at(0, 15), 120, 30, 7), Category::Complaint, true);
    let inquiry = categorised(handled(at(10, 0), 60, 20, 8), Category::Inquiry, true);
    let no_disposition = handled(at(12, 0), 40, 20, 9);
    // Later calls: customer 7 about the same complaint within 7 days (undoes FCR);
    // customer 8 about a repair (another matter), and about an inquiry after 8 days.
    let later = [
        categorised(handled(at(3 * day, 0), 1, 1, 7), Category::Complaint, false),
        categorised(handled(at(day, 0), 1, 1, 8), Category::Repair, true),
        categorised(handled(at(8 * day, 0), 1, 1, 8), Category::Inquiry, true),
    ];
    let handled = [complaint, inquiry, no_disposition];
    let mut contacts = Contacts::default();
    for call in handled.iter().chain(&later) {
        contacts.add(call);
    }
    let mut report = AgentReport::new(period);
    for call in handled.iter().chain(&later) {
        report.add_call(call, &contacts);
    }
    for span in a1_spans() {
        report.add_span(&span);
    }
    report.rows()
}

#[test]
fn agent_figures_match_the_hand_computed_ones() {
    let rows = agent_rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let first = &rows[0];
    assert_eq!(first.interval_start, "2026-12-04T10:00:00Z");
    assert_eq!(first.handled, 3);
    assert!(close(first.aht_ms, 290_000.0 / 3.0)); // (150 + 80 + 60) / 3 s
    assert!(close(first.talk_ms, 220_000.0 / 3.0));
    assert!(close(first.acw_ms, 70_000.0 / 3.0));
    // Only the inquiry was resolved with no repeat call about it within 7 days.
    assert!(close(first.fcr, 1.0 / 3.0), "{first:?}");
    // Idle 10 s + 735 s, ringing 5 s; talking 120 s, wrap-up 30 s.
    assert_eq!((first.available_ms, first.handling_ms), (750_000, 150_000));
    assert!(close(first.occupancy, 1.0 / 6.0));
}

#[test]
fn state_time_is_split_at_interval_boundaries_and_clipped_to_the_range() {
    let rows = agent_rows();
    let second = &rows[1];
    assert_eq!(second.interval_start, "2026-12-04T10:15:00Z");
    assert_eq!(second.handled, 0);
    assert_eq!(
        (second.available_ms, second.break_ms, second.handling_ms),
        (300_000, 600_000, 0)
    );
    assert!(close(second.occupancy, 0.0));
    assert_eq!((second.aht_ms, second.fcr), (None, None));
}

#[test]
fn days_start_at_local_midnight() {
    let shanghai: Tz = "Asia/Shanghai".parse().expect("tz");
    let period = Period::new(at(0, 0), at(48 * 60, 0), Interval::Day, shanghai).expect("period");
    // 10:00 UTC is 18:00 in Shanghai: the day began at 16:00 UTC the day before.
    assert_eq!(period.interval_start(at(0, 0)), at(-18 * 60, 0));
    // 16:30 UTC is 00:30 on the next local day.
    assert_eq!(period.interval_start(at(6 * 60 + 30, 0)), at(6 * 60, 0));
    assert_eq!(period.label(at(6 * 60, 0)), "2026-12-05T00:00:00+08:00");
}

#[test]
fn a_day_with_a_daylight_saving_change_lasts_25_hours() {
    let new_york: Tz = "America/New_York".parse().expect("tz");
    // 2026-11-01 00:00 EDT = 04:00 UTC; clocks go back at 02:00 EDT.
    let start = Timestamp::from_micros(1_793_505_600_000_000);
    let period =
        Period::new(start, start.plus(secs(2 * 86_400)), Interval::Day, new_york).expect("period");
    let pieces = period.split(start, start.plus(secs(2 * 86_400)));
    let hours: Vec<i64> = pieces.iter().map(|(_, us)| us / 3_600_000_000).collect();
    assert_eq!(hours, [25, 23]);
}

#[test]
fn a_period_must_be_non_empty_and_bounded() {
    assert_eq!(
        Period::new(at(0, 0), at(0, 0), Interval::Hour, Tz::UTC).err(),
        Some(PeriodError::Empty)
    );
    let two_years = at(2 * 366 * 24 * 60, 0);
    assert_eq!(
        Period::new(at(0, 0), two_years, Interval::Hour, Tz::UTC).err(),
        Some(PeriodError::TooLong)
    );
    assert!(Period::new(at(0, 0), two_years, Interval::Day, Tz::UTC).is_ok());
}

#[test]
fn percentiles_are_by_nearest_rank() {
    let values: Vec<i64> = (1..=100).collect();
    assert_eq!(percentile(&values, 0.5), Some(50));
    assert_eq!(percentile(&values, 0.9), Some(90));
    assert_eq!(percentile(&values, 0.99), Some(99));
    assert_eq!(percentile(&[7], 0.99), Some(7));
    assert_eq!(percentile(&[], 0.5), None);
}

#[test]
fn a_call_still_waiting_at_the_end_of_the_range_counts_where_it_entered_once_answered() {
    // Enqueued 10:29:30, answered 10:31:00, after the range's end: its record counts it in
    // the 10:15 interval, with its whole wait.
    let mut late = Call::answered("gold", at(29, 30), 90, 60, 10)
        .sla(Some(false))
        .record();
    late.ended_at = at(33, 0);
    let mut report = QueueReport::new(quarters(at(0, 0), at(30, 0)), targets(), true);
    report.add(&late);
    let rows = report.rows();
    assert_eq!(rows.len(), 1);
    let gold = &rows[0];
    assert_eq!(gold.interval_start, "2026-12-04T10:15:00Z");
    assert_eq!((gold.offered, gold.answered), (1, 1));
    assert!(close(gold.asa_ms, 90_000.0) && close(gold.service_level, 0.0));
}
