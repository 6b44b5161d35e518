//! The queue and agent reports read from a real database (SQLite, and PostgreSQL when
//! `KEFU_TEST_DATABASE_URL` is set) and over HTTP: the right calls and state spans land in
//! the right intervals, filters hold, FCR looks past the range's end, CSV on request.
//! (Every figure's arithmetic is checked against hand-computed values in
//! `src/recorder/report/tests.rs`.)

mod common;

use std::collections::HashMap;

use chrono_tz::Tz;
use common::{answered_call, get, get_with, spawn_app, test_stores};
use kefu::domain::{AgentId, AgentState, Outcome, QueueId, TierId, Timestamp};
use kefu::recorder::AgentStateSpan;
use kefu::recorder::report::{AgentReport, Interval, Period, QueueReport, TierTarget};
use kefu::recorder::writer::CompletedCall;
use kefu::store::Store;

/// 2027-01-15 08:00:00 UTC, the time `answered_call(0)` arrives.
const EIGHT: i64 = 1_800_000_000_000_000;

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_micros(EIGHT + minutes * 60_000_000)
}

fn abandoned(mut call: CompletedCall, wait_ms: i64, short: bool) -> CompletedCall {
    let c = &mut call.call;
    c.outcome = Outcome::Abandoned;
    c.agent = None;
    c.answered_at = None;
    c.talk_ended_at = None;
    c.wrap_up_ended_at = None;
    c.talk_ms = None;
    c.acw_ms = None;
    c.disposition = None;
    c.survey_score = None;
    c.wait_ms = Some(wait_ms);
    c.short_abandon = short;
    c.sla_met = (!short).then_some(false);
    call
}

/// Calls around 08:00–08:30 (the comments say which interval counts each).
fn calls() -> Vec<CompletedCall> {
    let first = answered_call(0); // 08:00:04, answered 08:00:09
    let mut gold = answered_call(1000); // 08:16:44: second quarter
    gold.call.tier = TierId::new("gold");
    gold.call.sla_met = Some(false);
    let mut repair = answered_call(300); // another queue
    repair.call.queue = Some(QueueId::new("repair"));
    // The first caller calls again about the same inquiry three days later: not FCR.
    let mut again = answered_call(3 * 86_400);
    again.call.caller_number = first.call.caller_number.clone();
    vec![
        first,
        abandoned(answered_call(100), 30_000, false),
        abandoned(answered_call(200), 2_000, true),
        gold,
        repair,
        again,
        answered_call(-10),  // enqueued 07:59:54: before the range
        answered_call(1800), // enqueued 08:30:04: after it
    ]
}

fn span(state: AgentState, from: i64, to: i64) -> AgentStateSpan {
    AgentStateSpan {
        agent: AgentId::new("1001"),
        state,
        reason: (state == AgentState::Break).then(|| "lunch".to_owned()),
        started_at: at(from),
        ended_at: at(to),
    }
}

fn spans() -> Vec<AgentStateSpan> {
    vec![
        span(AgentState::Available, -120, -60), // outside
        span(AgentState::Available, -10, 5),
        span(AgentState::Talking, 5, 20),
        span(AgentState::WrapUp, 20, 25),
        span(AgentState::Break, 25, 60),
    ]
}

async fn fill(store: &Store) {
    store.insert_calls(&calls()).await.expect("calls stored");
    store
        .insert_agent_states(&spans())
        .await
        .expect("spans stored");
    // A replayed batch stores nothing twice.
    store
        .insert_agent_states(&spans())
        .await
        .expect("spans again");
}

fn half_hour() -> Period {
    Period::new(at(0), at(30), Interval::Quarter, Tz::UTC).expect("period")
}

#[tokio::test]
async fn reports_read_the_right_rows_on_every_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        fill(&store).await;
        let targets = HashMap::from([(
            TierId::new("standard"),
            TierTarget {
                threshold_ms: 20_000,
                target: 0.8,
            },
        )]);
        let mut queues = QueueReport::new(half_hour(), targets, false);
        store
            .fill_queue_report(
                &mut queues,
                &half_hour(),
                Some(&QueueId::new("general")),
                None,
            )
            .await
            .expect("queue report");
        let rows = queues.rows();
        let summary: Vec<_> = rows
            .iter()
            .map(|r| {
                let tier = r.tier.as_ref().map(ToString::to_string);
                (
                    r.interval_start.clone(),
                    tier,
                    r.offered,
                    r.answered,
                    r.abandoned,
                )
            })
            .collect();
        let row = |start: &str, tier: Option<&str>, offered, answered, abandoned| {
            let tier = tier.map(str::to_owned);
            (start.to_owned(), tier, offered, answered, abandoned)
        };
        assert_eq!(
            summary,
            [
                row("2027-01-15T08:00:00Z", None, 3, 1, 2),
                row("2027-01-15T08:00:00Z", Some("standard"), 3, 1, 2),
                row("2027-01-15T08:15:00Z", None, 1, 1, 0),
                row("2027-01-15T08:15:00Z", Some("gold"), 1, 1, 0),
            ],
            "{db}"
        );
        assert_eq!(rows[0].service_level, Some(0.5), "{db}: 1 / (3 − 1 short)");
        assert_eq!(rows[1].sla_target_met, Some(false), "{db}");

        let mut agents = AgentReport::new(half_hour());
        store
            .fill_agent_report(&mut agents, &half_hour(), Some(&AgentId::new("1001")))
            .await
            .expect("agent report");
        let rows = agents.rows();
        assert_eq!(rows.len(), 2, "{db}: {rows:?}");
        let (first, second) = (&rows[0], &rows[1]);
        // Agent figures cover every queue: the repair call counts too.
        assert_eq!((first.handled, second.handled), (2, 1), "{db}");
        assert_eq!(first.fcr, Some(0.5), "{db}: the first caller called again");
        assert_eq!(second.fcr, Some(1.0), "{db}");
        assert_eq!(
            (first.available_ms, first.handling_ms),
            (300_000, 600_000),
            "{db}"
        );
        assert_eq!(
            (second.handling_ms, second.break_ms),
            (600_000, 300_000),
            "{db}"
        );
        assert_eq!(second.occupancy, Some(1.0), "{db}");
    }
}

#[tokio::test]
async fn reports_over_http_as_json_and_csv() {
    let test = spawn_app(|_| {}).await;
    fill(&test.app.store).await;
    let range = "from=2027-01-15T08:00:00Z&to=2027-01-15T08:30:00Z&queue=general";

    let (status, body) = get(test.http, &format!("/api/reports/queues?{range}")).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["interval"], "15m");
    assert_eq!(json["time_zone"], "UTC");
    assert_eq!(json["rows"][0]["offered"], 3, "{json}");
    assert_eq!(json["rows"][0]["tier"], serde_json::Value::Null);
    // The default configuration's standard tier: 80 % within 20 s.
    assert_eq!(json["rows"][1]["sla_threshold_ms"], 20_000);

    let token = common::login_token(test.http, "lead", "demo").await;
    let token = &token;
    let csv = |headers: &'static str, query: String| async move {
        let (status, body) = get_with(
            test.http,
            &format!("/api/reports/queues?{query}"),
            &format!("{}{headers}", common::bearer(token)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let by_accept = csv("Accept: text/csv\r\n", range.to_owned()).await;
    let mut lines = by_accept.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("interval_start,queue,tier,offered,answered,abandoned,short_abandons"),
        "{header}"
    );
    assert!(
        lines
            .next()
            .unwrap_or_default()
            .starts_with("2027-01-15T08:00:00Z,general,,3,1,2,1,0,1,0.5,"),
        "{by_accept}"
    );
    assert_eq!(csv("", format!("{range}&format=csv")).await, by_accept);

    // A date is its local midnight; a day interval starts there.
    let (status, body) = get(
        test.http,
        "/api/reports/agents?from=2027-01-15&tz=Asia/Shanghai&interval=1d&agent=1001",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["from"], "2027-01-15T00:00:00+08:00");
    assert_eq!(json["to"], "2027-01-16T00:00:00+08:00");
    assert_eq!(
        json["rows"][0]["interval_start"],
        "2027-01-15T00:00:00+08:00"
    );
    // Every call 1001 answered that local day, the ones outside 08:00–08:30 UTC included.
    assert_eq!(json["rows"][0]["handled"], 5, "{json}");

    let (status, _) = get_with(test.http, &format!("/api/reports/queues?{range}"), "").await;
    assert_eq!(status, 401, "reports are for supervisors");
    for bad in [
        "interval=5m",
        "tz=Mars/Olympus",
        "from=yesterday",
        "from=2027-01-15T08:00:00Z&to=2027-01-15T08:00:00Z",
        "from=2000-01-01&to=2027-01-01",
    ] {
        let (status, body) = get(test.http, &format!("/api/reports/queues?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    test.app.shutdown().await;
}
