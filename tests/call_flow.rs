//! One call through every layer over real sockets: the simulated FreeSWITCH on TCP (the
//! real ESL client talks to it), the agent on a real WebSocket, a real SQLite file.
//! Asserts the screen-pop, the bridge command FreeSWITCH received, and the stored timeline.

mod common;

use std::time::Duration;

use common::{
    AgentClient, WAIT, fake_switch, get_json_until, get_with, live_queues_until, point_at,
    spawn_app,
};
use kefu::domain::{Category, Disposition};
use kefu::gateway::protocol::{ClientMessage, ServerMessage};
use kefu::sim::{CallerScript, FakeFreeswitch, PhoneBehavior, SimConfig};

/// A fake switch running 100× faster than real time.
async fn fast_switch() -> FakeFreeswitch {
    fake_switch(SimConfig {
        time_scale: 0.01,
        ..SimConfig::default()
    })
    .await
}

#[tokio::test]
async fn one_call_goes_through_ivr_queue_offer_bridge_and_is_recorded() {
    let switch = fast_switch().await;
    switch.set_phone(
        "user/1001",
        PhoneBehavior::Answer {
            ring: Duration::from_millis(50),
            talk: Duration::from_millis(300),
        },
    );
    let test = spawn_app(|config| point_at(config, &switch)).await;

    let mut agent = AgentClient::login(test.http, "1001", "demo").await;
    agent.set_available().await;

    // ACME Corp (platinum, account manager 1001) presses 2 (English) then 1 (inquiry), and
    // 4 in the survey after the agent hangs up.
    let mut caller = CallerScript::new("+15551234567", "8005550100");
    caller.digits = ["2", "1", "4"].into_iter().map(String::from).collect();
    caller.patience = Duration::from_secs(60);
    let call = switch.place_call(caller);

    let (offered, pop) = agent
        .wait_for(|m| match m {
            ServerMessage::Offer {
                call, screen_pop, ..
            } => Some((*call, screen_pop.clone())),
            _ => None,
        })
        .await;
    assert_eq!(offered, call);
    assert_eq!(pop.caller_number, "+15551234567");
    assert_eq!(pop.customer_name.as_deref(), Some("ACME Corp"));
    assert_eq!(pop.tier, "platinum");
    assert_eq!(pop.account.as_deref(), Some("100200"));
    assert_eq!(pop.queue, "general");
    assert!(
        !pop.ivr_path.is_empty(),
        "the IVR path is in the screen-pop"
    );

    agent
        .wait_for(|m| {
            matches!(m, ServerMessage::CallConnected { call: c } if *c == call).then_some(())
        })
        .await;
    let bridge = switch
        .commands()
        .into_iter()
        .find(|c| c.starts_with("api uuid_bridge") || c.starts_with("bgapi uuid_bridge"));
    let bridge = bridge.expect("FreeSWITCH received a uuid_bridge");
    assert!(
        bridge.contains(&call.to_string()),
        "bridges the caller: {bridge}"
    );

    agent
        .wait_for(|m| {
            matches!(m, ServerMessage::CallEnded { call: c, .. } if *c == call).then_some(())
        })
        .await;
    let disposition = Disposition {
        category: Category::Inquiry,
        resolved: true,
        notes: "asked about invoice".into(),
    };
    agent
        .send(&ClientMessage::WrapUp { call, disposition })
        .await;

    let path = format!("/api/calls/{call}");
    let stored = get_json_until(test.http, &path, |v| v["call"]["outcome"].is_string()).await;
    // The record holds customer data: supervisors only.
    let (status, body) = get_with(test.http, &path, "").await;
    assert_eq!(status, 401, "no credentials: {body}");
    assert!(!body.contains("+15551234567"), "{body}");
    let forged = common::bearer("forged-token");
    assert_eq!(get_with(test.http, &path, &forged).await.0, 401);
    let agent_token = common::login_token(test.http, "1001", "demo").await;
    let (status, body) = get_with(test.http, &path, &common::bearer(&agent_token)).await;
    assert_eq!(
        status, 403,
        "an agent's token is not a supervisor's: {body}"
    );
    assert!(!body.contains("+15551234567"), "{body}");
    assert_eq!(stored["call"]["outcome"], "answered", "{stored}");
    assert_eq!(stored["call"]["agent"], "1001");
    assert_eq!(stored["call"]["queue"], "general");
    assert_eq!(stored["call"]["tier"], "platinum");
    assert_eq!(stored["call"]["disposition"]["category"], "inquiry");
    assert_eq!(stored["call"]["survey_score"], 4, "{stored}");
    assert_eq!(
        stored["call"]["ivr_path"][0]["node"], "greeting",
        "the path is the main flow's, not the survey's: {stored}"
    );
    assert!(stored["call"]["wait_ms"].as_i64().is_some_and(|w| w >= 0));
    assert!(stored["call"]["talk_ms"].as_i64().is_some_and(|t| t > 0));
    let kinds: Vec<&str> = stored["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    // Who hung up: the agent's phone ended the talk, kefu ended the call after the survey.
    let detail = |kind: &str| {
        stored["timeline"]
            .as_array()
            .and_then(|t| t.iter().find(|e| e["kind"] == kind))
            .map(|e| e["detail"].clone())
            .unwrap_or_default()
    };
    assert_eq!(detail("agent_hung_up")["by"], "agent", "{stored}");
    assert_eq!(detail("hung_up")["by"], "switch", "{stored}");
    for kind in [
        "arrived",
        "ivr_node",
        "enqueued",
        "offered",
        "answered",
        "talk_ended",
        "hung_up",
        "wrap_up_ended",
        "survey",
    ] {
        assert!(kinds.contains(&kind), "timeline has `{kind}`: {kinds:?}");
    }

    // The reports see the call and the agent's time around it.
    let hour = chrono::Duration::hours(1);
    let z = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let now = kefu::clock::now().to_utc();
    let range = format!("from={}&to={}&interval=1h", z(now - hour), z(now + hour));
    let report = get_json_until(
        test.http,
        &format!("/api/reports/agents?{range}&agent=1001"),
        |r| r["rows"][0]["handling_ms"].as_i64().is_some_and(|h| h > 0),
    )
    .await;
    let row = &report["rows"][0];
    assert_eq!(row["handled"], 1, "{report}");
    assert_eq!(row["fcr"], 1.0, "resolved, no repeat call: {report}");
    assert_eq!(row["csat"], 4.0, "{report}");
    assert!(
        row["available_ms"].as_i64().is_some_and(|a| a > 0),
        "{report}"
    );
    let report = get_json_until(test.http, &format!("/api/reports/queues?{range}"), |r| {
        r["rows"].as_array().is_some_and(|rows| !rows.is_empty())
    })
    .await;
    assert_eq!(
        (
            &report["rows"][0]["offered"],
            &report["rows"][0]["answered"]
        ),
        (&1.into(), &1.into()),
        "{report}"
    );

    // Prometheus: the call recorded, the agent's state spans written, the latencies counted.
    let figure = |text: &str, name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let deadline = kefu::clock::monotonic() + WAIT;
    let mut metrics = String::new();
    while kefu::clock::monotonic() < deadline {
        metrics = common::get(test.http, "/metrics").await.1;
        if figure(&metrics, "kefu_agent_state_records{status=\"written\"}") > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        figure(&metrics, "kefu_agent_state_records{status=\"written\"}") > 0.0,
        "{metrics}"
    );
    assert_eq!(figure(&metrics, "kefu_calls_recorded"), 1.0, "{metrics}");
    assert!(
        figure(&metrics, "kefu_event_to_decision_seconds_count") >= 1.0,
        "{metrics}"
    );

    // kefu timed its own part: the call placed, the bridge commanded, the screen-pop written.
    let latency = get_json_until(test.http, "/api/latency", |l| {
        l["decision_to_screen_pop"]["count"] == 1
    })
    .await;
    for figure in [
        "event_to_decision",
        "decision_to_command",
        "decision_to_screen_pop",
    ] {
        let count = latency[figure]["count"].as_u64().unwrap_or(0);
        assert!(count >= 1, "{figure}: {latency}");
        assert!(
            latency[figure]["p99_us"]
                .as_u64()
                .is_some_and(|p| p < 1_000_000),
            "{latency}"
        );
    }

    let queues = live_queues_until(test.http, |q| q[0]["answered"].as_u64() == Some(1)).await;
    assert_eq!(queues[0]["name"], "general");
    assert_eq!(queues[0]["answered"], 1, "{queues}");
    let wait = &queues[0]["answered_wait_ms"];
    assert_eq!(wait["count"], 1, "{queues}");
    assert_eq!(
        wait["max"].as_i64(),
        stored["call"]["wait_ms"].as_i64(),
        "the histogram holds the stored wait (exact below 2 s): {queues}"
    );
    tokio::time::timeout(WAIT, test.app.shutdown())
        .await
        .expect("shutdown in time");
    switch.shutdown().await;
}
