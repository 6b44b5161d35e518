//! The routing rules end to end: the simulated FreeSWITCH on TCP, agents on real WebSockets,
//! kefu in between. The flows here skip menus (look the caller up, then queue) so that each
//! test is about routing alone.

mod common;

use std::time::Duration;

use common::{
    AgentClient, call_ended, fake_switch, get, get_json, get_json_until, get_with,
    live_queues_until, point_at, post_json, request, spawn_app,
};
use kefu::config::Config;
use kefu::domain::CallId;
use kefu::gateway::protocol::ServerMessage;
use kefu::sim::{CallerScript, FakeFreeswitch, PhoneBehavior, SimConfig};

/// Dialed number → flow that looks the caller up and queues them in `general`.
const GENERAL: &str = "100";
/// Dialed number → flow that queues in `complaints`.
const COMPLAINTS: &str = "200";

const UNKNOWN: &str = "+15550009999";
const GLOBEX_GOLD: &str = "+15559876543";
const ACME_PLATINUM: &str = "+15551234567"; // account manager: 1001

fn straight_to(queue: &str) -> String {
    format!(
        "start = \"identify\"\n\
         [nodes.identify]\nkind = \"lookup_customer\"\nfound = \"q\"\nnot_found = \"q\"\n\
         [nodes.q]\nkind = \"queue\"\nqueue = \"{queue}\"\n"
    )
}

struct World {
    switch: FakeFreeswitch,
    test: common::TestApp,
    _flows: tempfile::TempDir,
}

/// kefu against a 100×-fast switch, with straight-to-queue flows; `adjust` edits the config.
async fn world(adjust: impl FnOnce(&mut Config)) -> World {
    let flows = tempfile::tempdir().expect("flows dir");
    std::fs::write(flows.path().join("main.toml"), straight_to("general")).expect("flow");
    std::fs::write(
        flows.path().join("complaints.toml"),
        straight_to("complaints"),
    )
    .expect("flow");
    let switch = fake_switch(SimConfig {
        time_scale: 0.01,
        ..SimConfig::default()
    })
    .await;
    let test = spawn_app(|config| {
        routing_only(config, flows.path(), &switch);
        adjust(config);
    })
    .await;
    World {
        switch,
        test,
        _flows: flows,
    }
}

/// The straight-to-queue flows in `flows`, routed by dialed number, against `switch`.
fn routing_only(config: &mut Config, flows: &std::path::Path, switch: &FakeFreeswitch) {
    config.flows.dir = flows.to_owned();
    config.flows.survey = None; // these flows have none: callers hang up with the agent
    config.flows.routes = [
        (GENERAL.to_owned(), "main".to_owned()),
        (COMPLAINTS.to_owned(), "complaints".to_owned()),
    ]
    .into();
    point_at(config, switch);
}

impl World {
    fn call(&self, number: &str, destination: &str) -> CallId {
        let mut caller = CallerScript::new(number, destination);
        caller.patience = Duration::from_secs(3600); // scaled: 36 s
        self.switch.place_call(caller)
    }

    async fn agent(&self, id: &str, available: bool) -> AgentClient {
        let mut agent = AgentClient::login(self.test.http, id, "demo").await;
        if available {
            agent.set_available().await;
        }
        agent
    }

    async fn waiting(&self, queue: &str, n: u64) {
        let queues = live_queues_until(self.test.http, |q| figure(q, queue, "waiting") == n).await;
        assert_eq!(figure(&queues, queue, "waiting"), n, "{queues}");
    }

    async fn stop(self) {
        self.test.app.shutdown().await;
        self.switch.shutdown().await;
    }
}

fn figure(queues: &serde_json::Value, queue: &str, name: &str) -> u64 {
    queues
        .as_array()
        .and_then(|qs| qs.iter().find(|q| q["name"] == queue))
        .and_then(|q| q[name].as_u64())
        .unwrap_or(u64::MAX)
}

#[tokio::test]
async fn a_gold_caller_is_offered_before_standard_callers_who_came_first() {
    let w = world(|_| {}).await;
    let mut agent = w.agent("1002", false).await; // logged in, not yet available
    w.call(UNKNOWN, GENERAL);
    w.call("+15550008888", GENERAL);
    w.waiting("general", 2).await;
    let gold = w.call(GLOBEX_GOLD, GENERAL);
    w.waiting("general", 3).await;
    agent.set_available().await;
    assert_eq!(agent.next_offer().await, gold, "tier priority first");
    w.stop().await;
}

#[tokio::test]
async fn the_account_manager_gets_their_customer_over_a_longer_idle_agent() {
    let w = world(|_| {}).await;
    let mut other = w.agent("1007", true).await; // idle longest
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut manager = w.agent("1001", true).await;
    let call = w.call(ACME_PLATINUM, GENERAL);
    assert_eq!(manager.next_offer().await, call);
    let quiet = tokio::time::timeout(Duration::from_millis(200), other.next_offer()).await;
    assert!(quiet.is_err(), "the other agent was not offered the call");
    w.stop().await;
}

#[tokio::test]
async fn a_no_answer_frees_the_call_for_the_next_agent_still_first_in_line() {
    let w = world(|c| c.acd.ring_timeout = Duration::from_secs(1)).await;
    w.switch.set_phone("user/1002", PhoneBehavior::NoAnswer);
    let mut first = w.agent("1002", true).await;
    let mut second = w.agent("1007", false).await;
    let early = w.call(UNKNOWN, GENERAL);
    assert_eq!(first.next_offer().await, early);
    let later = w.call("+15550008888", GENERAL);
    let reason = first
        .wait_for(|m| match m {
            ServerMessage::OfferCancelled { call, reason } if *call == early => {
                Some(reason.clone())
            }
            _ => None,
        })
        .await;
    assert!(
        reason.contains("no_answer") || reason.contains("NO_ANSWER"),
        "{reason}"
    );
    w.waiting("general", 2).await;
    second.set_available().await;
    assert_eq!(
        second.next_offer().await,
        early,
        "the missed call keeps its place"
    );
    let _ = later;
    w.stop().await;
}

#[tokio::test]
async fn a_lower_skilled_agent_gets_the_call_once_the_step_relaxes() {
    let w = world(|c| {
        let general = c
            .queues
            .iter_mut()
            .find(|q| q.name == "general")
            .expect("general");
        general.steps[1].after = Duration::from_millis(600);
    })
    .await;
    let mut junior = w.agent("1003", true).await; // billing 3: below the first step's 5
    let call = w.call(UNKNOWN, GENERAL);
    w.waiting("general", 1).await;
    let early = tokio::time::timeout(Duration::from_millis(300), junior.next_offer()).await;
    assert!(early.is_err(), "not eligible before the step");
    assert_eq!(junior.next_offer().await, call, "eligible after it");
    w.stop().await;
}

#[tokio::test]
async fn a_queue_nobody_serves_overflows_to_its_target() {
    let w = world(|_| {}).await; // complaints overflows to general; no complaints agent is in
    let mut agent = w.agent("1002", true).await;
    let call = w.call(UNKNOWN, COMPLAINTS);
    assert_eq!(agent.next_offer().await, call, "general took the overflow");
    let queues =
        live_queues_until(w.test.http, |q| figure(q, "complaints", "overflowed") == 1).await;
    assert_eq!(figure(&queues, "complaints", "overflowed"), 1, "{queues}");
    assert_eq!(figure(&queues, "complaints", "offered"), 1, "{queues}");
    let general = live_queues_until(w.test.http, |q| figure(q, "general", "answered") == 1).await;
    assert_eq!(
        figure(&general, "general", "offered"),
        1,
        "counted where it was answered: {general}"
    );
    w.stop().await;
}

#[tokio::test]
async fn a_caller_who_hangs_up_while_waiting_is_recorded_as_an_abandon() {
    let w = world(|_| {}).await;
    let _agent = w.agent("1002", false).await; // logged in: the call waits
    let mut caller = CallerScript::new(UNKNOWN, GENERAL);
    caller.patience = Duration::from_secs(60); // scaled: 600 ms
    let call = w.switch.place_call(caller);
    let queues = live_queues_until(w.test.http, |q| figure(q, "general", "abandoned") == 1).await;
    assert_eq!(figure(&queues, "general", "abandoned"), 1, "{queues}");
    let path = format!("/api/calls/{call}");
    let stored = get_json_until(w.test.http, &path, |v| v["call"]["outcome"].is_string()).await;
    assert_eq!(stored["call"]["outcome"], "abandoned", "{stored}");
    assert!(
        stored["call"]["wait_ms"].as_i64().is_some_and(|w| w > 0),
        "{stored}"
    );
    let kinds: Vec<&str> = stored["timeline"]
        .as_array()
        .map(|t| t.iter().filter_map(|e| e["kind"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        kinds.contains(&"enqueued") && kinds.contains(&"hung_up"),
        "{kinds:?}"
    );
    let hung_up = stored["timeline"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["kind"] == "hung_up"))
        .map(|e| e["detail"].clone())
        .unwrap_or_default();
    assert_eq!(hung_up["by"], "caller", "{stored}");
    assert_eq!(hung_up["phase"], "queued", "{stored}");
    let found = get_json_until(
        w.test.http,
        "/api/calls?outcome=abandoned&queue=general",
        |v| v["calls"].as_array().is_some_and(|c| !c.is_empty()),
    )
    .await;
    assert_eq!(found["calls"][0]["call"], call.to_string(), "{found}");
    assert_eq!(
        get_with(w.test.http, "/api/calls", "").await.0,
        401,
        "supervisors only"
    );
    let (status, _) = get(w.test.http, "/api/calls?from=yesterday").await;
    assert_eq!(status, 400);
    w.stop().await;
}

#[tokio::test]
async fn waiting_callers_hear_their_position_over_the_music() {
    let w = world(|config| config.acd.announce_every = Duration::from_millis(150)).await;
    let _agent = w.agent("1002", false).await; // logged in, not available: calls wait
    let first = w.call(UNKNOWN, GENERAL);
    w.waiting("general", 1).await;
    let second = w.call(GLOBEX_GOLD, GENERAL); // gold: ahead of the standard caller
    w.waiting("general", 2).await;
    let broadcasts = |call: CallId| {
        let prefix = format!("api uuid_broadcast {call} ");
        w.switch
            .commands()
            .into_iter()
            .filter(|c| c.starts_with(&prefix))
            .collect::<Vec<_>>()
    };
    // Each call is announced every 150 ms from its own enqueue, so the second caller's
    // first announcement may come after the first caller's second: wait for both.
    let heard = || {
        let to_first = broadcasts(first);
        to_first.len() >= 2
            && to_first.last().is_some_and(|c| c.contains("digits/2.wav"))
            && !broadcasts(second).is_empty()
    };
    let deadline = kefu::clock::monotonic() + common::WAIT;
    while !heard() && kefu::clock::monotonic() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let to_first = broadcasts(first);
    assert!(
        to_first.len() >= 2,
        "announced again and again: {to_first:?}"
    );
    // The gold caller jumped ahead: the standard caller is now second in line. No minutes
    // yet: fewer than 10 calls back the average handle time.
    let last = to_first.last().map(String::as_str).unwrap_or_default();
    assert!(
        last.contains("kefu/en/position.wav!digits/2.wav!kefu/en/in_line.wav aleg"),
        "{last}"
    );
    assert!(!last.contains("estimated_wait"), "{last}");
    let to_second = broadcasts(second);
    assert!(
        to_second.iter().any(|c| c.contains("!digits/1.wav!")),
        "{to_second:?}"
    );
    w.stop().await;
}

/// The audit trail's newest entry.
async fn last_audit(w: &World) -> serde_json::Value {
    get_json(w.test.http, "/api/audit?limit=1").await["entries"][0].clone()
}

#[tokio::test]
async fn a_supervisor_moves_a_waiting_call_to_a_queue_with_a_free_agent() {
    let w = world(|_| {}).await;
    let _general = w.agent("1002", false).await; // logged in, not available: calls wait
    let mut repair = w.agent("1005", true).await; // serves repair only
    let call = w.call(UNKNOWN, GENERAL);
    w.waiting("general", 1).await;

    let path = format!("/api/calls/{call}/queue");
    let anonymous = request(w.test.http, "POST", &path, "Content-Length: 0\r\n").await;
    assert_eq!(anonymous.0, 401);
    let (status, body) = post_json(w.test.http, &path, r#"{"queue":"nowhere"}"#).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = post_json(w.test.http, &path, r#"{"queue":"repair"}"#).await;
    assert_eq!((status, body.as_str()), (200, r#"{"done":true}"#));
    assert_eq!(repair.next_offer().await, call, "offered in its new queue");
    let entry = last_audit(&w).await;
    assert_eq!(
        (&entry["actor"], &entry["action"], &entry["outcome"]),
        (&"lead".into(), &"move_call".into(), &"done".into()),
        "{entry}"
    );
    assert_eq!(entry["target"], call.to_string());
    assert_eq!(entry["detail"]["queue"], "repair");

    // Ringing an agent now: a second move is refused, and the refusal is on the trail too.
    let (status, body) = post_json(w.test.http, &path, r#"{"queue":"general"}"#).await;
    assert_eq!(status, 409, "{body}");
    let entry = last_audit(&w).await;
    assert!(
        entry["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("refused")),
        "{entry}"
    );
    let (status, _) = post_json(w.test.http, &path, "not json").await;
    assert_eq!(status, 400);
    w.stop().await;
}

#[tokio::test]
async fn a_supervisor_puts_a_call_first_and_sets_agents_states() {
    let w = world(|_| {}).await;
    let mut agent = w.agent("1002", false).await;
    let first = w.call(UNKNOWN, GENERAL);
    w.waiting("general", 1).await;
    let second = w.call("+15550008888", GENERAL);
    w.waiting("general", 2).await;
    let (status, body) = post_json(
        w.test.http,
        &format!("/api/calls/{second}/priority"),
        r#"{"priority":50}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Forced available by the supervisor: the agent gets the raised call, not the first.
    let (status, body) = post_json(
        w.test.http,
        "/api/agents/1002/state",
        r#"{"state":"available"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(agent.next_offer().await, second);
    assert_ne!(second, first);

    let mut other = w.agent("1003", true).await;
    let (status, body) = post_json(
        w.test.http,
        "/api/agents/1003/state",
        r#"{"state":"break","reason":"coaching"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reason = other
        .wait_for(|m| match m {
            ServerMessage::State { reason, .. } if reason.is_some() => reason.clone(),
            _ => None,
        })
        .await;
    assert_eq!(reason, "coaching", "the agent's desktop shows the break");
    let (status, body) = post_json(
        w.test.http,
        "/api/agents/1004/state",
        r#"{"state":"available"}"#,
    )
    .await;
    assert_eq!(status, 409, "1004 never logged in: {body}");
    let (status, _) = post_json(
        w.test.http,
        "/api/agents/nobody/state",
        r#"{"state":"break"}"#,
    )
    .await;
    assert_eq!(status, 404);
    let trail = get_json(w.test.http, "/api/audit").await;
    let actions: Vec<&str> = trail["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        actions,
        [
            "agent_state",
            "agent_state",
            "agent_state",
            "agent_state",
            "set_priority"
        ],
        "newest first: {trail}"
    );
    w.stop().await;
}

#[tokio::test]
async fn supervisors_watch_queues_and_tiers_live_over_a_websocket() {
    use futures_util::{SinkExt, StreamExt};

    let w = world(|config| {
        let standard = config.tiers.iter_mut().find(|t| t.name == "standard");
        standard.expect("standard tier").sla_threshold = Duration::from_millis(300);
    })
    .await;
    // A browser cannot set a header: its first message carries the token.
    let url = format!("ws://{}/ws/supervisor", w.test.http);
    let login = |token: &str| {
        let text = serde_json::json!({ "type": "login", "token": token }).to_string();
        tokio_tungstenite::tungstenite::Message::text(text)
    };
    let (mut refused, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("upgrade");
    refused.send(login("not-a-token")).await.expect("send");
    let closed = tokio::time::timeout(common::WAIT, refused.next()).await;
    assert!(
        matches!(&closed, Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f))))) if u16::from(f.code) == 4001),
        "a bad token is refused: {closed:?}"
    );
    let agents_token = common::login_token(w.test.http, "1003", "demo").await;
    let (mut refused, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("upgrade");
    refused.send(login(&agents_token)).await.expect("send");
    let closed = tokio::time::timeout(common::WAIT, refused.next()).await;
    assert!(
        matches!(&closed, Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f))))) if u16::from(f.code) == 4001),
        "supervisors only: {closed:?}"
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("supervisor stream");
    let token = common::login_token(w.test.http, "lead", "demo").await;
    socket.send(login(&token)).await.expect("send");
    let _agent = w.agent("1002", false).await; // logged in: the call waits
    w.call(UNKNOWN, GENERAL);
    // Snapshots keep coming; wait for the standard caller past the 300 ms threshold.
    let deadline = kefu::clock::monotonic() + common::WAIT;
    let mut general = serde_json::Value::Null;
    while kefu::clock::monotonic() < deadline {
        let Some(Ok(message)) = tokio::time::timeout(common::WAIT, socket.next())
            .await
            .ok()
            .flatten()
        else {
            break;
        };
        let Ok(text) = message.into_text() else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value["type"], "snapshot");
        general = value["snapshot"]["queues"]
            .as_array()
            .and_then(|qs| qs.iter().find(|q| q["name"] == "general").cloned())
            .unwrap_or_default();
        if general["sla_at_risk"] == true {
            break;
        }
    }
    assert_eq!(general["sla_at_risk"], true, "{general}");
    let standard = &general["tiers"][0];
    assert_eq!(
        (
            &standard["tier"],
            &standard["waiting"],
            &standard["at_risk"]
        ),
        (&"standard".into(), &1.into(), &true.into()),
        "{general}"
    );
    assert!(
        standard["longest_wait_ms"]
            .as_i64()
            .is_some_and(|ms| ms > 300),
        "{general}"
    );
    assert_eq!(general["agents_by_state"]["not_ready"], 1, "{general}");
    w.stop().await;
}

#[tokio::test]
async fn a_call_past_its_queues_max_wait_overflows_to_the_target() {
    // complaints overflows to general after 400 ms; its only agent is logged in but busy
    // with nothing (not available), so the call waits there until then.
    let w = world(|config| {
        let complaints = config.queues.iter_mut().find(|q| q.name == "complaints");
        complaints.expect("complaints queue").max_wait = Duration::from_millis(400);
    })
    .await;
    let _complaints_agent = w.agent("1004", false).await; // serves complaints and general
    let mut general = w.agent("1002", true).await;
    let placed = kefu::clock::monotonic();
    let call = w.call(UNKNOWN, COMPLAINTS);
    assert_eq!(
        general.next_offer().await,
        call,
        "general took it after the max wait"
    );
    assert!(
        placed.elapsed() >= Duration::from_millis(400),
        "not before complaints' max wait: {:?}",
        placed.elapsed()
    );
    let queues =
        live_queues_until(w.test.http, |q| figure(q, "complaints", "overflowed") == 1).await;
    assert_eq!(figure(&queues, "complaints", "overflowed"), 1, "{queues}");
    w.stop().await;
}

#[tokio::test]
async fn a_call_that_ends_while_the_switch_socket_is_down_is_closed_out_on_reconnect() {
    let w = world(|_| {}).await;
    let _agent = w.agent("1002", false).await; // logged in: the call waits
    let call = w.call(UNKNOWN, GENERAL);
    w.waiting("general", 1).await;
    // The socket drops, and the caller hangs up before kefu is back: it never sees the
    // hang-up event, only that the channel is gone from `show channels`.
    w.switch.inject(kefu::sim::Fault::DropConnections);
    w.switch.hangup(call, "NORMAL_CLEARING");
    let stored = get_json_until(w.test.http, &format!("/api/calls/{call}"), |v| {
        v["call"]["outcome"].is_string()
    })
    .await;
    assert_eq!(stored["call"]["outcome"], "abandoned", "{stored}");
    assert_eq!(stored["call"]["hangup_cause"], "LOST_WHILE_DISCONNECTED");
    let kinds: Vec<&str> = stored["timeline"]
        .as_array()
        .map(|t| t.iter().filter_map(|e| e["kind"].as_str()).collect())
        .unwrap_or_default();
    assert!(kinds.contains(&"reconciled"), "{kinds:?}");
    w.waiting("general", 0).await;
    w.stop().await;
}

/// kefu with `general` overflowing to a callback after 300 ms, the customer called back at
/// `sofia/gateway/pstn/<number>` and tried again 300 ms after an unanswered call.
async fn callback_world(attempts: u32) -> World {
    world(|config| callbacks_after_300ms(config, attempts)).await
}

fn callbacks_after_300ms(config: &mut Config, attempts: u32) {
    let general = config.queues.iter_mut().find(|q| q.name == "general");
    let general = general.expect("general queue");
    general.max_wait = Duration::from_millis(300);
    general.overflow = kefu::config::OverflowConfig::Callback;
    config.callback.attempts = attempts;
    config.callback.retry_after = Duration::from_millis(300);
    config.callback.ring_timeout = Duration::from_secs(5); // scaled by the switch: 50 ms
}

const CUSTOMER_PHONE: &str = "sofia/gateway/pstn/+15550009999";

/// The kinds of a stored call's timeline, in order.
fn timeline_kinds(stored: &serde_json::Value) -> Vec<String> {
    stored["timeline"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|e| e["kind"].as_str())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_queue_overflowing_to_callback_calls_the_caller_back_when_an_agent_is_free() {
    let w = callback_world(3).await;
    let mut agent = w.agent("1002", false).await; // logged in, not available: the call waits
    let call = w.call(UNKNOWN, GENERAL);
    // Past the max wait the caller hears the callback prompt and kefu hangs up.
    let report = call_ended(&w.switch, call).await;
    assert_eq!(
        report.outcome,
        kefu::sim::SimCallOutcome::HungUpBySwitch {
            cause: "NORMAL_CLEARING".into()
        }
    );
    assert!(
        w.switch
            .commands()
            .iter()
            .any(|c| c.contains("kefu/callback_overflow.wav")),
        "the callback prompt was played"
    );
    // The call still waits in general (its place kept) though nobody is on the line.
    w.waiting("general", 1).await;
    let queues = live_queues_until(w.test.http, |q| figure(q, "general", "callbacks") == 1).await;
    assert_eq!(figure(&queues, "general", "callbacks"), 1, "{queues}");
    agent.set_available().await;
    let pop = agent.next_screen_pop().await;
    assert_eq!(pop.call, call);
    assert_eq!(pop.callback_number.as_deref(), Some(UNKNOWN));
    // The agent's phone answers, then kefu dials the customer and bridges them.
    agent
        .wait_for(|m| matches!(m, ServerMessage::CallConnected { .. }).then_some(()))
        .await;
    let originate = w
        .switch
        .commands()
        .into_iter()
        .find(|c| c.contains(CUSTOMER_PHONE))
        .expect("the customer was dialled");
    assert!(
        originate.contains("kefu_callback=true")
            && originate.contains("origination_caller_id_number=8005550100"),
        "{originate}"
    );
    // The customer's phone hangs up after its talk time; the agent wraps up.
    agent
        .wait_for(|m| matches!(m, ServerMessage::CallEnded { .. }).then_some(()))
        .await;
    agent
        .send(&kefu::gateway::protocol::ClientMessage::WrapUp {
            call,
            disposition: kefu::domain::Disposition {
                category: kefu::domain::Category::Inquiry,
                resolved: true,
                notes: String::new(),
            },
        })
        .await;
    let path = format!("/api/calls/{call}");
    let stored = get_json_until(w.test.http, &path, |v| v["call"]["outcome"].is_string()).await;
    assert_eq!(stored["call"]["outcome"], "answered", "{stored}");
    assert_eq!(stored["call"]["agent"], "1002", "{stored}");
    let kinds = timeline_kinds(&stored);
    let order = [
        "enqueued",
        "callback_requested",
        "caller_left_for_callback",
        "offered",
        "callback_dialled",
        "answered",
        "talk_ended",
        "hung_up",
    ];
    let positions: Vec<Option<usize>> = order
        .iter()
        .map(|k| kinds.iter().position(|x| x == k))
        .collect();
    assert!(
        positions.iter().all(Option::is_some) && positions.windows(2).all(|p| p[0] < p[1]),
        "{kinds:?}"
    );
    // Its wait runs from the first enqueue to the bridge with the customer.
    assert!(
        stored["call"]["wait_ms"]
            .as_i64()
            .is_some_and(|ms| ms >= 300),
        "{stored}"
    );
    w.stop().await;
}

#[tokio::test]
async fn an_unanswered_callback_frees_the_agent_is_tried_again_and_then_given_up() {
    let w = callback_world(2).await;
    w.switch.set_phone(CUSTOMER_PHONE, PhoneBehavior::NoAnswer);
    let mut agent = w.agent("1002", false).await;
    let call = w.call(UNKNOWN, GENERAL);
    w.waiting("general", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // past the max wait: a callback now
    agent.set_available().await;
    for attempt in 1..=2 {
        assert_eq!(agent.next_offer().await, call, "attempt {attempt}");
        let reason = agent
            .wait_for(|m| match m {
                ServerMessage::OfferCancelled { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .await;
        assert_eq!(reason, "customer_unreached", "attempt {attempt}");
        // Not the agent's doing: they are available again at once, not "not ready".
        agent
            .wait_for(|m| {
                matches!(
                    m,
                    ServerMessage::State {
                        state: kefu::gateway::protocol::AgentState::Available,
                        ..
                    }
                )
                .then_some(())
            })
            .await;
    }
    let path = format!("/api/calls/{call}");
    let stored = get_json_until(w.test.http, &path, |v| v["call"]["outcome"].is_string()).await;
    assert_eq!(stored["call"]["outcome"], "overflowed", "{stored}");
    assert_eq!(
        stored["call"]["hangup_cause"], "CALLBACK_UNANSWERED",
        "{stored}"
    );
    let kinds = timeline_kinds(&stored);
    let tries = kinds.iter().filter(|k| *k == "callback_unanswered").count();
    assert_eq!(tries, 2, "{kinds:?}");
    assert!(
        kinds.last().is_some_and(|k| k == "callback_given_up"),
        "{kinds:?}"
    );
    let dialled = w
        .switch
        .commands()
        .iter()
        .filter(|c| c.contains(CUSTOMER_PHONE))
        .count();
    assert_eq!(dialled, 2, "two calls to the customer, no more");
    let (_, metrics) = get(w.test.http, "/metrics").await;
    for line in [
        r#"kefu_callbacks_total{event="requested"} 1"#,
        r#"kefu_callbacks_total{event="dialled"} 2"#,
        r#"kefu_callbacks_total{event="unanswered"} 2"#,
        r#"kefu_callbacks_total{event="given_up"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    w.stop().await;
}

#[tokio::test]
async fn a_callback_not_yet_made_when_kefu_stops_is_made_after_the_restart() {
    let w = callback_world(3).await;
    let _agent = w.agent("1002", false).await; // nobody available: the callback waits
    let call = w.call(UNKNOWN, GENERAL);
    call_ended(&w.switch, call).await; // the caller left for a callback
    w.waiting("general", 1).await;
    let World {
        switch,
        test,
        _flows: flows,
    } = w;
    let db = test.dir.path().join("kefu.db");
    test.app.shutdown().await;
    // The same database, a new kefu: the callback is back in general, and made.
    let again = spawn_app(|config| {
        routing_only(config, flows.path(), &switch);
        callbacks_after_300ms(config, 3);
        config.database.url = kefu::config::Secret::new(format!("sqlite://{}", db.display()));
    })
    .await;
    let queues = live_queues_until(again.http, |q| figure(q, "general", "callbacks") == 1).await;
    assert_eq!(figure(&queues, "general", "callbacks"), 1, "{queues}");
    let mut agent = AgentClient::login(again.http, "1002", "demo").await;
    agent.set_available().await;
    let pop = agent.next_screen_pop().await;
    assert_eq!(
        (pop.call, pop.callback_number.as_deref()),
        (call, Some(UNKNOWN))
    );
    agent
        .wait_for(|m| matches!(m, ServerMessage::CallConnected { .. }).then_some(()))
        .await;
    let dialled = switch
        .commands()
        .iter()
        .filter(|c| c.contains(CUSTOMER_PHONE))
        .count();
    assert_eq!(dialled, 1, "called back once, by the second kefu");
    again.app.shutdown().await;
    drop(test.dir);
    switch.shutdown().await;
}

#[tokio::test]
async fn a_saved_callback_whose_queue_is_gone_is_recorded_as_given_up() {
    // A callback saved by an earlier kefu for a queue this configuration no longer has.
    let dir = tempfile::tempdir().expect("temp dir");
    let url = kefu::config::Secret::new(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("kefu.db").display()
    ));
    let store = kefu::store::Store::connect(&url).await.expect("database");
    store.migrate().await.expect("migrations");
    let call = CallId::random();
    let arrived = kefu::clock::now();
    let mut session = kefu::call::Session::new(
        call,
        kefu::domain::NodeId::new("fs1"),
        UNKNOWN.into(),
        GENERAL.into(),
        kefu::domain::TierId::new("standard"),
        arrived,
    );
    session.enqueued(kefu::domain::QueueId::new("sales"), arrived);
    let number = kefu::domain::CallbackNumber::parse(UNKNOWN).expect("a number");
    session.callback_requested(number, 0, arrived);
    let json = serde_json::to_string(&session).expect("json");
    store.save_callback(call, &json).await.expect("saved");
    let w = world(|config| config.database.url = url.clone()).await;
    let path = format!("/api/calls/{call}");
    let stored = get_json_until(w.test.http, &path, |v| v["call"]["outcome"].is_string()).await;
    assert_eq!(stored["call"]["outcome"], "overflowed", "{stored}");
    assert_eq!(
        stored["call"]["hangup_cause"], "CALLBACK_QUEUE_GONE",
        "{stored}"
    );
    let pending = async {
        while !store.pending_callbacks().await.expect("read").is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("its saved row is removed");
    w.stop().await;
}
