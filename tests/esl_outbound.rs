//! Outbound mode: the dialplan hands calls to kefu with `socket <kefu>:<port> async full`
//! (reference §4). The simulated switch connects to kefu's listener as FreeSWITCH would;
//! a raw TCP peer plays FreeSWITCH for the answers kefu must refuse.

mod common;

use std::time::Duration;

use common::{
    AgentClient, call_ended, fake_switch, get_json_until, live_queues_until, point_at, spawn_app,
};
use kefu::gateway::protocol::ServerMessage;
use kefu::sim::{CallerScript, FakeFreeswitch, SimCallOutcome, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GLOBEX: &str = "+15559876543"; // known, gold

async fn kefu_with_outbound() -> (FakeFreeswitch, common::TestApp, std::net::SocketAddr) {
    let switch = fake_switch(SimConfig {
        time_scale: 0.01,
        ..SimConfig::default()
    })
    .await;
    let test = spawn_app(|config| {
        point_at(config, &switch);
        config.flows.survey = None;
        config.outbound = Some(kefu::config::OutboundConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
        });
    })
    .await;
    let outbound = test.app.outbound_addr.expect("outbound listener");
    (switch, test, outbound)
}

/// English, 1 for an inquiry, then waits for an agent.
fn socket_caller(outbound: std::net::SocketAddr) -> CallerScript {
    let mut caller = CallerScript::new(GLOBEX, "8005550100").via_socket(outbound);
    caller.digits = ["2", "1"].into_iter().map(String::from).collect();
    caller
}

#[tokio::test]
async fn a_call_handed_over_by_the_socket_application_is_routed_like_a_parked_one() {
    let (switch, test, outbound) = kefu_with_outbound().await;
    let mut agent = AgentClient::login(test.http, "1002", "demo").await;
    agent.set_available().await;
    let call = switch.place_call(socket_caller(outbound));
    assert_eq!(agent.next_offer().await, call);
    agent
        .wait_for(|m| matches!(m, ServerMessage::CallConnected { .. }).then_some(()))
        .await;
    let socket: Vec<String> = switch
        .commands()
        .into_iter()
        .filter(|c| c.starts_with(&format!("socket {call}")))
        .collect();
    assert_eq!(
        socket,
        [format!("socket {call}: connect")],
        "kefu sent `connect` and nothing else on it"
    );
    // The agent's phone hangs up after its talk time: the caller's channel ends, and with it
    // the socket (a disconnect notice kefu reads to the end).
    let report = call_ended(&switch, call).await;
    assert!(
        matches!(report.outcome, SimCallOutcome::Answered { .. }),
        "{report:?}"
    );
    agent
        .wait_for(|m| matches!(m, ServerMessage::CallEnded { .. }).then_some(()))
        .await;
    let disposition = kefu::domain::Disposition {
        category: kefu::domain::Category::Inquiry,
        resolved: true,
        notes: String::new(),
    };
    agent
        .send(&kefu::gateway::protocol::ClientMessage::WrapUp { call, disposition })
        .await;
    let stored = get_json_until(test.http, &format!("/api/calls/{call}"), |v| {
        v["call"]["outcome"].is_string()
    })
    .await;
    assert_eq!(stored["call"]["outcome"], "answered", "{stored}");
    test.app.shutdown().await;
    switch.shutdown().await;
}

#[tokio::test]
async fn kefu_stopping_lets_the_socket_go_and_the_dialplan_ends_the_call() {
    let (switch, test, outbound) = kefu_with_outbound().await;
    let _agent = AgentClient::login(test.http, "1002", "demo").await; // logged in, not available
    let call = switch.place_call(socket_caller(outbound));
    live_queues_until(test.http, |queues| {
        queues
            .as_array()
            .and_then(|qs| qs.iter().find(|q| q["name"] == "general"))
            .is_some_and(|q| q["waiting"] == 1)
    })
    .await;
    assert!(
        switch
            .calls()
            .iter()
            .any(|c| c.call == call && c.ended.is_none()),
        "the caller waits while kefu holds the socket"
    );
    test.app.shutdown().await;
    let report = call_ended(&switch, call).await;
    assert_eq!(
        report.outcome,
        SimCallOutcome::HungUpBySwitch {
            cause: "NORMAL_CLEARING".into()
        },
        "the dialplan went on after `socket` and ended the call"
    );
    switch.shutdown().await;
}

/// Plays FreeSWITCH's side of one outbound socket: reads `connect`, writes `answer`, then
/// reports whether kefu closed the socket.
async fn kefu_closes_after(outbound: std::net::SocketAddr, answer: &[u8]) -> bool {
    let mut fs = tokio::net::TcpStream::connect(outbound)
        .await
        .expect("connect");
    let mut connect = [0u8; 9];
    fs.read_exact(&mut connect)
        .await
        .expect("kefu speaks first");
    assert_eq!(&connect, b"connect\n\n");
    fs.write_all(answer).await.expect("answer");
    let mut rest = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), fs.read(&mut rest)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn kefu_hands_back_what_it_cannot_hold_and_survives_garbage() {
    let (switch, test, outbound) = kefu_with_outbound().await;
    let channel_data = |mode: &str| {
        format!(
            "Event-Name: CHANNEL_DATA\nUnique-ID: 2c8e7f10-44aa-4b3b-9e21-7d5f3a6b8c02\n\
             Content-Type: command/reply\nReply-Text: %2BOK%0A\nSocket-Mode: {mode}\nControl: full\n\n"
        )
    };
    assert!(
        kefu_closes_after(outbound, channel_data("static").as_bytes()).await,
        "static mode never parks the channel: handed back to the dialplan"
    );
    let refused = b"Content-Type: command/reply\nReply-Text: -ERR%20no%20channel%0A\n\n";
    assert!(
        kefu_closes_after(outbound, refused).await,
        "a refused connect"
    );
    let garbage = b"Content-Length: banana\n\n";
    assert!(
        kefu_closes_after(outbound, garbage).await,
        "an unreadable frame"
    );
    // An async hand-over is held: the socket stays open.
    assert!(
        !tokio::time::timeout(
            Duration::from_millis(300),
            kefu_closes_after(outbound, channel_data("async").as_bytes())
        )
        .await
        .unwrap_or(false),
        "an async hand-over is held"
    );
    // Still listening afterwards.
    let mut fs = tokio::net::TcpStream::connect(outbound)
        .await
        .expect("connect again");
    let mut connect = [0u8; 9];
    fs.read_exact(&mut connect)
        .await
        .expect("kefu speaks first");
    assert_eq!(&connect, b"connect\n\n");
    test.app.shutdown().await;
    switch.shutdown().await;
}
