//! The shipped `main.toml` end to end against the simulated FreeSWITCH over TCP: an unknown
//! caller who types an account number, an after-hours call, a caller who presses nothing at
//! the main menu, a caller who hangs up mid-prompt, and a caller who takes the callback
//! offer and is called back. (A known platinum caller's full run is `tests/call_flow.rs`.)
//!
//! The office hours are moved to a time zone where the office is open (or closed) right now,
//! so each test takes the same path whenever it runs.

mod common;

use std::ops::RangeInclusive;
use std::time::Duration;

use chrono::Timelike;
use common::{AgentClient, fake_switch, get_json_until, point_at, spawn_app};
use kefu::domain::CallId;
use kefu::gateway::protocol::{ScreenPop, ServerMessage};
use kefu::sim::{CallerScript, FakeFreeswitch, SimConfig};

/// The shipped flows in a fresh folder, `main.toml`'s office open (or closed) now, every day.
fn shipped_flows(open: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("flows dir");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr_flows");
    for entry in std::fs::read_dir(&shipped)
        .expect("shipped flows")
        .flatten()
    {
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    let hours = if open { 10..=19 } else { 1..=5 };
    let main = std::fs::read_to_string(shipped.join("main.toml")).expect("main.toml");
    let moved: Vec<String> = main
        .lines()
        .map(|line| match line.split(" =").next() {
            Some("timezone") => format!("timezone = \"{}\"", zone_where_the_hour_is(hours.clone())),
            Some("days") => r#"days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]"#.into(),
            Some("holidays") => "holidays = []".into(),
            _ => line.to_owned(),
        })
        .collect();
    std::fs::write(dir.path().join("main.toml"), moved.join("\n")).expect("write main.toml");
    dir
}

/// A fixed-offset zone whose local hour is in `hours` now.
fn zone_where_the_hour_is(hours: RangeInclusive<i32>) -> String {
    let utc_hour = kefu::clock::now().to_utc().hour() as i32;
    let offset = (-12..=14)
        .find(|o| hours.contains(&(utc_hour + o).rem_euclid(24)))
        .expect("some offset fits");
    match offset {
        0 => "Etc/GMT".into(),
        // POSIX style: Etc/GMT-8 is eight hours *ahead* of UTC.
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

struct Ivr {
    switch: FakeFreeswitch,
    test: common::TestApp,
    _flows: tempfile::TempDir,
}

async fn ivr(open: bool, sim: SimConfig) -> Ivr {
    start(shipped_flows(open), sim, |_| {}).await
}

/// The shipped flows plus `name.toml` (`text`), the office open, `number` routed to it.
async fn with_flow(name: &str, text: &str, number: &str) -> Ivr {
    let flows = shipped_flows(true);
    std::fs::write(flows.path().join(format!("{name}.toml")), text).expect("write flow");
    start(flows, fast(), |config| {
        config.flows.routes.insert(number.into(), name.into());
    })
    .await
}

/// kefu on `flows`, adjusted by `adjust`, driving a simulated switch.
async fn start(
    flows: tempfile::TempDir,
    sim: SimConfig,
    adjust: impl FnOnce(&mut kefu::config::Config),
) -> Ivr {
    let switch = fake_switch(sim).await;
    let dir = flows.path().to_owned();
    let test = spawn_app(|config| {
        config.flows.dir = dir;
        adjust(config);
        point_at(config, &switch);
    })
    .await;
    Ivr {
        switch,
        test,
        _flows: flows,
    }
}

fn fast() -> SimConfig {
    SimConfig {
        time_scale: 0.01,
        ..SimConfig::default()
    }
}

fn caller(number: &str, digits: &[&str]) -> CallerScript {
    let mut caller = CallerScript::new(number, "8005550100");
    caller.digits = digits.iter().map(|d| (*d).to_owned()).collect();
    caller.patience = Duration::from_secs(600);
    caller
}

async fn offer(agent: &mut AgentClient) -> (CallId, ScreenPop) {
    agent
        .wait_for(|m| match m {
            ServerMessage::Offer {
                call, screen_pop, ..
            } => Some((*call, (**screen_pop).clone())),
            _ => None,
        })
        .await
}

/// The call's stored record once written.
async fn record(test: &common::TestApp, call: CallId) -> serde_json::Value {
    let path = format!("/api/calls/{call}");
    get_json_until(test.http, &path, |v| v["call"]["outcome"].is_string()).await
}

fn path_of(pop: &ScreenPop) -> Vec<(String, Option<String>)> {
    pop.ivr_path
        .iter()
        .map(|s| (s.node.clone(), s.digits.clone()))
        .collect()
}

#[tokio::test]
async fn an_unknown_caller_types_an_account_number_and_reaches_the_queue_they_choose() {
    let w = ivr(true, fast()).await;
    let mut agent = AgentClient::login(w.test.http, "1005", "demo").await; // serves repair
    agent.set_available().await;
    // English, Globex's account number (gold), 3 for repair.
    let call = w
        .switch
        .place_call(caller("+15550002222", &["2", "100300", "3"]));
    let (offered, pop) = offer(&mut agent).await;
    assert_eq!(offered, call);
    assert_eq!(pop.customer_name.as_deref(), Some("Globex Ltd"), "{pop:?}");
    assert_eq!((pop.tier.as_str(), pop.queue.as_str()), ("gold", "repair"));
    assert_eq!(pop.reason.as_deref(), Some("repair"));
    let path = path_of(&pop);
    assert!(
        path.contains(&("ask_account".into(), Some("100300".into())))
            && path.contains(&("main_menu".into(), Some("3".into()))),
        "{path:?}"
    );
    w.test.app.shutdown().await;
}

#[tokio::test]
async fn after_hours_an_unknown_caller_hears_the_night_menu() {
    let w = ivr(false, fast()).await;
    // English, an account number nobody has, then 2 in the night menu: goodbye.
    let call = w
        .switch
        .place_call(caller("+15550003333", &["2", "999999", "2"]));
    let stored = record(&w.test, call).await;
    assert_eq!(stored["call"]["outcome"], "ended_in_ivr", "{stored}");
    assert_eq!(stored["call"]["tier"], "standard");
    let nodes: Vec<&str> = stored["call"]["ivr_path"]
        .as_array()
        .map(|p| p.iter().filter_map(|s| s["node"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        nodes,
        [
            "greeting",
            "language",
            "english",
            "identify",
            "ask_account",
            "lookup_account",
            "hours",
            "after_hours",
            "closed",
            "night_menu",
            "goodbye",
            "hang_up"
        ],
        "{stored}"
    );
    w.test.app.shutdown().await;
}

#[tokio::test]
async fn a_caller_who_presses_nothing_at_the_main_menu_reaches_an_operator() {
    let w = ivr(true, fast()).await;
    let mut agent = AgentClient::login(w.test.http, "1002", "demo").await; // serves general
    agent.set_available().await;
    // Globex (known, gold) chooses English, then presses nothing: the menu times out.
    let call = w.switch.place_call(caller("+15559876543", &["2"]));
    let (offered, pop) = offer(&mut agent).await;
    assert_eq!(offered, call);
    assert_eq!(
        (pop.queue.as_str(), pop.reason.as_deref()),
        ("general", Some("operator"))
    );
    let path = path_of(&pop);
    assert!(
        path.contains(&("main_menu".into(), None))
            && path.last().is_some_and(|s| s.0 == "operator"),
        "{path:?}"
    );
    w.test.app.shutdown().await;
}

#[tokio::test]
async fn a_caller_who_hangs_up_mid_prompt_gets_no_further_command() {
    let sim = SimConfig {
        time_scale: 0.1,
        prompt_duration: Duration::from_secs(5), // the greeting plays 500 ms
        ..SimConfig::default()
    };
    let w = ivr(true, sim).await;
    let mut hasty = caller("+15550004444", &["2"]);
    hasty.hangup_after = Some(Duration::from_secs(2)); // 200 ms: during the greeting
    let call = w.switch.place_call(hasty);
    let stored = record(&w.test, call).await;
    assert_eq!(stored["call"]["outcome"], "ended_in_ivr", "{stored}");
    assert_eq!(
        stored["call"]["ivr_path"],
        serde_json::json!([{ "node": "greeting" }]),
        "the timeline says where they left: {stored}"
    );
    let hung_up = stored["timeline"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["kind"] == "hung_up"))
        .map(|e| e["detail"].clone())
        .unwrap_or_default();
    assert_eq!(
        (&hung_up["by"], &hung_up["phase"]),
        (&"caller".into(), &"ivr".into())
    );
    let id = call.to_string();
    let after_greeting: Vec<String> = w
        .switch
        .commands()
        .into_iter()
        .filter(|c| c.contains(&id) && c.contains("play_and_get_digits"))
        .collect();
    assert!(
        after_greeting.is_empty(),
        "sent to a dead channel: {after_greeting:?}"
    );
    w.test.app.shutdown().await;
}

#[tokio::test]
async fn set_sends_channel_variables_and_transfer_hands_the_call_to_the_dialplan() {
    // The shipped `chinese` node sets the sound prefix; a small flow transfers to a number.
    let Ivr {
        switch,
        test,
        _flows,
    } = with_flow(
        "hotline",
        "start = \"chinese\"\nvars = { lang = \"en\" }\n\
         [nodes.chinese]\nkind = \"set\"\nvars = { lang = \"zh\" }\n\
         channel = { sound_prefix = \"/sounds/zh/cn/sinmei\" }\nnext = \"notice\"\n\
         [nodes.notice]\nkind = \"play\"\nprompt = \"kefu/${lang}/transferring.wav\"\nnext = \"out\"\n\
         [nodes.out]\nkind = \"transfer\"\nnumber = \"8005550199\"\n",
        "8005550111",
    )
    .await;
    let call = switch.place_call(CallerScript::new("+15550005555", "8005550111"));
    let id = call.to_string();
    let sent = |needle: &str| {
        switch
            .commands()
            .into_iter()
            .any(|c| c.contains(&id) && c.contains(needle))
    };
    let deadline = kefu::clock::monotonic() + common::WAIT;
    while !sent("uuid_transfer") && kefu::clock::monotonic() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        sent("execute-app-arg: sound_prefix=/sounds/zh/cn/sinmei"),
        "{:?}",
        switch.commands()
    );
    assert!(
        sent("execute-app-arg: kefu/zh/transferring.wav"),
        "{:?}",
        switch.commands()
    );
    assert!(
        sent(&format!("api uuid_transfer {id} 8005550199")),
        "{:?}",
        switch.commands()
    );
    test.app.shutdown().await;
}

#[tokio::test]
async fn a_caller_facing_a_wait_takes_the_callback_offer_and_is_called_back_in_turn() {
    // The shipped flow offers a call back above 3 minutes of estimated wait; here above
    // none, so that ten quick calls (the estimate's minimum) make the offer come.
    let flows = shipped_flows(true);
    let main = flows.path().join("main.toml");
    let text = std::fs::read_to_string(&main).expect("main.toml");
    assert!(
        text.contains("wait_above = \"3m\""),
        "the shipped threshold moved"
    );
    std::fs::write(
        &main,
        text.replace("wait_above = \"3m\"", "wait_above = \"0s\""),
    )
    .expect("write main.toml");
    let switch = fake_switch(fast()).await;
    let dir = flows.path().to_owned();
    let test = spawn_app(|config| {
        config.flows.dir = dir;
        config.flows.survey = None;
        point_at(config, &switch);
    })
    .await;
    // Globex (known, gold): English, 1 for an inquiry. No estimate yet: straight to the queue.
    const GLOBEX: &str = "+15559876543";
    let stop_agents = tokio_util::sync::CancellationToken::new();
    let url = format!("ws://{}/ws/agent", test.http);
    let behaviour = kefu::sim::agents::AgentBehaviour {
        wrap_up: Duration::from_millis(10),
        reject_probability: 0.0,
    };
    let helpers: Vec<_> = ["1001", "1007"]
        .into_iter()
        .map(|id| {
            tokio::spawn(kefu::sim::agents::run_agent(
                url.clone(),
                kefu::domain::AgentId::new(id),
                "demo".into(),
                behaviour.clone(),
                stop_agents.clone(),
            ))
        })
        .collect();
    for _ in 0..10 {
        switch.place_call(caller(GLOBEX, &["2", "1"]));
    }
    get_json_until(
        test.http,
        "/api/calls?queue=general&outcome=answered",
        |v| v["calls"].as_array().is_some_and(|c| c.len() >= 10),
    )
    .await;
    stop_agents.cancel();
    for helper in helpers {
        helper.await.expect("agent task");
    }
    // One agent logged in, not yet available: the estimate is known and the call must wait.
    let mut agent = AgentClient::login(test.http, "1002", "demo").await;
    // English, inquiry, 1 = call me back on this number, 1 = that is right.
    let call = switch.place_call(caller(GLOBEX, &["2", "1", "1", "1"]));
    common::call_ended(&switch, call).await; // the caller hung up after the goodbye
    assert!(
        switch
            .commands()
            .iter()
            .any(|c| c.contains("kefu/en/callback_goodbye.wav")),
        "the goodbye was played in the caller's language"
    );
    agent.set_available().await;
    let (offered, pop) = offer(&mut agent).await;
    assert_eq!(offered, call);
    assert_eq!(pop.callback_number.as_deref(), Some(GLOBEX));
    assert_eq!(
        (pop.queue.as_str(), pop.reason.as_deref()),
        ("general", Some("inquiry"))
    );
    let path = path_of(&pop);
    assert!(
        path.contains(&("offer_inquiry".into(), Some("1".into())))
            && path.contains(&("offer_inquiry:confirm".into(), Some("1".into()))),
        "{path:?}"
    );
    agent
        .wait_for(|m| matches!(m, ServerMessage::CallConnected { .. }).then_some(()))
        .await;
    assert!(
        switch
            .commands()
            .iter()
            .any(|c| c.contains(&format!("sofia/gateway/pstn/{GLOBEX} &park()"))),
        "the customer was dialled"
    );
    test.app.shutdown().await;
    switch.shutdown().await;
}

#[tokio::test]
async fn text_prompts_reach_the_switch_as_say_and_a_spoken_menu_takes_keys() {
    let Ivr {
        switch,
        test,
        _flows,
    } = with_flow(
        "spoken",
        "start = \"tts\"\n\
         [nodes.tts]\nkind = \"set\"\nchannel = { tts_engine = \"flite\", tts_voice = \"slt\" }\nnext = \"welcome\"\n\
         [nodes.welcome]\nkind = \"play\"\nprompt = \"speak:Thank you for calling.\"\nnext = \"menu\"\n\
         [nodes.menu]\nkind = \"menu\"\nprompt = \"say:Press 1 for billing, 3 for repair\"\n\
         options = { \"1\" = \"billing\", \"3\" = \"repair\" }\non_fail = \"billing\"\n\
         [nodes.billing]\nkind = \"queue\"\nqueue = \"general\"\n\
         [nodes.repair]\nkind = \"queue\"\nqueue = \"repair\"\nreason = \"repair\"\n",
        "8005550122",
    )
    .await;
    let mut agent = AgentClient::login(test.http, "1005", "demo").await; // serves repair
    agent.set_available().await;
    let mut caller = CallerScript::new("+15550006666", "8005550122");
    caller.digits = ["3".to_owned()].into();
    let call = switch.place_call(caller);
    // The switch split the quoted prompt back into one argument, played it and took the key.
    let (offered, pop) = offer(&mut agent).await;
    assert_eq!(offered, call);
    assert_eq!(pop.queue, "repair");
    assert!(
        path_of(&pop).contains(&("menu".into(), Some("3".into()))),
        "{pop:?}"
    );
    let commands = switch.commands();
    let sent = |needle: &str| commands.iter().any(|c| c.contains(needle));
    assert!(sent("execute-app-arg: tts_engine=flite"), "{commands:?}");
    assert!(
        sent("execute-app-arg: say:Thank you for calling."),
        "{commands:?}"
    );
    assert!(
        sent("'say:Press 1 for billing, 3 for repair'"),
        "quoted for play_and_get_digits: {commands:?}"
    );
    test.app.shutdown().await;
}
