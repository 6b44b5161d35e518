//! Reloading the flows while calls are in the IVR: calls in progress finish on the version
//! they started with, new calls take the new one, and an invalid set is refused while the
//! running set stays.

mod common;

use std::time::Duration;

use common::{AgentClient, fake_switch, live_queues_until, point_at, post, request, spawn_app};
use kefu::sim::{CallerScript, SimConfig};

/// A greeting, then a one-key menu whose `1` goes to `queue`.
fn flow(queue: &str) -> String {
    format!(
        r#"
start = "greeting"
[nodes.greeting]
kind = "play"
prompt = "kefu/welcome.wav"
next = "menu"
[nodes.menu]
kind = "menu"
prompt = "kefu/menu.wav"
options = {{ "1" = "chosen" }}
on_fail = "chosen"
[nodes.chosen]
kind = "queue"
queue = "{queue}"
"#
    )
}

fn offered(queues: &serde_json::Value, name: &str) -> u64 {
    queues
        .as_array()
        .and_then(|qs| qs.iter().find(|q| q["name"] == name))
        .and_then(|q| q["offered"].as_u64())
        .unwrap_or(0)
}

#[tokio::test]
async fn calls_in_the_ivr_finish_on_the_flow_version_they_started_with() {
    let flows = tempfile::tempdir().expect("flows dir");
    std::fs::write(flows.path().join("main.toml"), flow("general")).expect("write v1");
    let sim = SimConfig {
        prompt_duration: Duration::from_millis(600),
        ..SimConfig::default()
    };
    let switch = fake_switch(sim).await;
    let flows_dir = flows.path().to_owned();
    let test = spawn_app(|config| {
        config.flows.dir = flows_dir;
        config.flows.survey = None; // this directory has no survey flow
        point_at(config, &switch);
    })
    .await;
    // A logged-in agent on a break: calls wait in their queues instead of overflowing.
    let _agent = AgentClient::login(test.http, "1003", "demo").await;

    let mut first = CallerScript::new("+15550000001", "8005550100");
    first.digits = ["1".to_string()].into();
    switch.place_call(first);
    tokio::time::sleep(Duration::from_millis(200)).await; // the first caller hears the greeting

    std::fs::write(flows.path().join("main.toml"), flow("repair")).expect("write v2");
    assert_eq!(test.app.reload_flows().await.expect("v2 loads"), 1);
    let mut second = CallerScript::new("+15550000002", "8005550100");
    second.digits = ["1".to_string()].into();
    switch.place_call(second);

    let queues = live_queues_until(test.http, |q| {
        offered(q, "general") + offered(q, "repair") == 2
    })
    .await;
    assert_eq!(
        offered(&queues, "general"),
        1,
        "the first call kept v1: {queues}"
    );
    assert_eq!(
        offered(&queues, "repair"),
        1,
        "the second call took v2: {queues}"
    );

    // Over HTTP: supervisors only; an invalid set is refused with its errors and the
    // running set stays.
    std::fs::write(flows.path().join("main.toml"), "start = \"nowhere\"\n").expect("write bad");
    let (status, _) = request(
        test.http,
        "POST",
        "/api/flows/reload",
        "Content-Length: 0\r\n",
    )
    .await;
    assert_eq!(status, 401, "supervisors only");
    let (status, body) = post(test.http, "/api/flows/reload").await;
    assert_eq!(status, 422, "{body}");
    let refused: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(refused["code"], "invalid_flows");
    assert!(
        refused["errors"][0]
            .as_str()
            .is_some_and(|e| e.ends_with("main.toml:1:9: no node named `nowhere`")),
        "{refused}"
    );
    // The signal path (`kill -HUP`) refuses it the same way.
    let refused = test
        .app
        .reload_flows()
        .await
        .expect_err("invalid flows are refused");
    assert!(
        format!("{refused:#}").contains("no node named `nowhere`"),
        "{refused:#}"
    );
    let mut third = CallerScript::new("+15550000003", "8005550100");
    third.digits = ["1".to_string()].into();
    switch.place_call(third);
    let queues = live_queues_until(test.http, |q| offered(q, "repair") == 2).await;
    assert_eq!(offered(&queues, "repair"), 2, "v2 still runs: {queues}");

    // Fixed again, the HTTP reload takes it.
    std::fs::write(flows.path().join("main.toml"), flow("general")).expect("write v3");
    let (status, body) = post(test.http, "/api/flows/reload").await;
    assert_eq!((status, body.as_str()), (200, r#"{"flows":1}"#));

    test.app.shutdown().await;
    switch.shutdown().await;
}
