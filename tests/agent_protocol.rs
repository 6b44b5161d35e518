//! The agent WebSocket protocol over real sockets: login, errors that keep the socket open,
//! refusals, and clients too slow or stuck to read. (Offers and screen-pops are covered end
//! to end in `call_flow.rs`; tokens and roles in `access_control.rs`.)

mod common;

use common::{AgentClient, spawn_app};
use kefu::domain::{AgentState, CallId, Category, Disposition};
use kefu::gateway::protocol::{ClientMessage, RequestedState, ServerMessage};

fn error_code(message: &ServerMessage) -> Option<String> {
    match message {
        ServerMessage::Error { code, .. } => Some(code.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn login_then_available_reports_each_state() {
    let test = spawn_app(|_| {}).await;
    let mut agent = AgentClient::login(test.http, "1001", "demo").await;
    agent
        .send(&ClientMessage::SetState {
            state: RequestedState::Available,
            reason: None,
        })
        .await;
    assert_eq!(
        agent.recv().await,
        Some(ServerMessage::State {
            state: AgentState::Available,
            reason: None
        })
    );
    agent
        .send(&ClientMessage::SetState {
            state: RequestedState::Break,
            reason: Some("lunch".into()),
        })
        .await;
    assert_eq!(
        agent.recv().await,
        Some(ServerMessage::State {
            state: AgentState::Break,
            reason: Some("lunch".into())
        })
    );
    let on_break = |s: &serde_json::Value| {
        s["agents"].as_array().is_some_and(|a| {
            a.iter()
                .any(|a| a["agent"] == "1001" && a["state"] == "break")
        })
    };
    let snapshot = common::get_json_until(test.http, "/api/snapshot", on_break).await;
    assert!(
        on_break(&snapshot),
        "the supervisor view shows the break: {snapshot}"
    );
    test.app.shutdown().await;
}

#[tokio::test]
async fn wrong_password_is_refused_and_the_socket_closed() {
    let test = spawn_app(|_| {}).await;
    let mut agent = AgentClient::connect(test.http).await;
    agent
        .send(&ClientMessage::password_login(&"1001".into(), "wrong"))
        .await;
    assert_eq!(
        agent.recv().await.as_ref().and_then(error_code).as_deref(),
        Some("unauthorised")
    );
    assert_eq!(agent.close_code().await, Some(4001));
    test.app.shutdown().await;
}

#[tokio::test]
async fn unknown_agent_is_refused() {
    let test = spawn_app(|_| {}).await;
    let mut agent = AgentClient::connect(test.http).await;
    agent
        .send(&ClientMessage::password_login(&"9999".into(), "demo"))
        .await;
    assert_eq!(
        agent.recv().await.as_ref().and_then(error_code).as_deref(),
        Some("unauthorised")
    );
    test.app.shutdown().await;
}

#[tokio::test]
async fn messages_before_login_get_an_error_and_the_socket_waits_for_login() {
    let test = spawn_app(|_| {}).await;
    let mut agent = AgentClient::connect(test.http).await;
    agent.send(&ClientMessage::Ping).await;
    assert_eq!(
        agent.recv().await.as_ref().and_then(error_code).as_deref(),
        Some("not_logged_in")
    );
    agent
        .send(&ClientMessage::password_login(&"1002".into(), "demo"))
        .await;
    assert!(matches!(
        agent.recv().await,
        Some(ServerMessage::Welcome { .. })
    ));
    test.app.shutdown().await;
}

#[tokio::test]
async fn malformed_json_gets_an_error_reply_and_the_socket_stays_open() {
    let test = spawn_app(|_| {}).await;
    let mut agent = AgentClient::login(test.http, "1001", "demo").await;
    agent.send_text("{not json").await;
    assert_eq!(
        agent.recv().await.as_ref().and_then(error_code).as_deref(),
        Some("bad_message")
    );
    agent.send_text(r#"{"type":"teleport"}"#).await;
    assert_eq!(
        agent.recv().await.as_ref().and_then(error_code).as_deref(),
        Some("bad_message")
    );
    agent.send(&ClientMessage::Ping).await;
    assert_eq!(agent.recv().await, Some(ServerMessage::Pong));
    test.app.shutdown().await;
}

#[tokio::test]
async fn asking_for_another_agents_call_is_refused() {
    let test = spawn_app(|_| {}).await;
    let mut agent = AgentClient::login(test.http, "1001", "demo").await;
    let stranger = CallId::random();
    agent.send(&ClientMessage::Accept { call: stranger }).await;
    assert_eq!(
        agent.recv().await.as_ref().and_then(error_code).as_deref(),
        Some("not_your_call")
    );
    agent.send(&ClientMessage::Reject { call: stranger }).await;
    assert_eq!(
        agent.recv().await.as_ref().and_then(error_code).as_deref(),
        Some("not_your_call")
    );
    let disposition = Disposition {
        category: Category::Inquiry,
        resolved: true,
        notes: String::new(),
    };
    agent
        .send(&ClientMessage::WrapUp {
            call: stranger,
            disposition,
        })
        .await;
    assert_eq!(
        agent.recv().await.as_ref().and_then(error_code).as_deref(),
        Some("not_your_call")
    );
    test.app.shutdown().await;
}

type Sender = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    tokio_tungstenite::tungstenite::Message,
>;

/// Agent 1001 logged in and available over a socket with a tiny receive window (so that
/// kefu's writes back up quickly), which from then on never reads. Returns its sending half.
async fn client_that_stops_reading(test: &common::TestApp) -> Sender {
    use futures_util::{SinkExt, StreamExt};
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("small window");
    socket.set_nonblocking(true).expect("non-blocking");
    let stream = tokio::net::TcpSocket::from_std_stream(socket.into())
        .connect(test.http)
        .await
        .expect("connect");
    let url = format!("ws://{}/ws/agent", test.http);
    let (ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("upgrade");
    let (mut tx, mut rx) = ws.split();
    tx.send(text(&ClientMessage::password_login(&"1001".into(), "demo")))
        .await
        .expect("login");
    tx.send(text(&ClientMessage::SetState {
        state: RequestedState::Available,
        reason: None,
    }))
    .await
    .expect("available");
    for _ in 0..2 {
        rx.next()
            .await
            .expect("welcome, then state")
            .expect("frame");
    }
    let snapshot = common::get_json_until(test.http, "/api/snapshot", |s| {
        state_of_1001(s) == "available"
    })
    .await;
    assert_eq!(state_of_1001(&snapshot), "available");
    tx
}

fn text(message: &ClientMessage) -> tokio_tungstenite::tungstenite::Message {
    tokio_tungstenite::tungstenite::Message::text(serde_json::to_string(message).expect("json"))
}

fn state_of_1001(snapshot: &serde_json::Value) -> serde_json::Value {
    let agents = snapshot["agents"].as_array().cloned().unwrap_or_default();
    let row = agents.into_iter().find(|a| a["agent"] == "1001");
    row.map(|a| a["state"].clone()).unwrap_or_default()
}

/// Waits until 1001 is taken out of service (an idle agent whose socket is gone is logged
/// out); asserts it happened.
async fn until_out_of_service(test: &common::TestApp) {
    let started = kefu::clock::monotonic();
    let mut snapshot = common::get_json(test.http, "/api/snapshot").await;
    while started.elapsed() < common::WAIT * 2 && state_of_1001(&snapshot) == "available" {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        snapshot = common::get_json(test.http, "/api/snapshot").await;
    }
    eprintln!("out of service after {:?}", started.elapsed());
    assert_eq!(state_of_1001(&snapshot), "logged_out", "{snapshot}");
    assert!(!test.app.hub.is_connected(&"1001".into()));
}

/// Another agent is served as usual.
async fn another_agent_is_served(test: &common::TestApp) {
    let mut other = AgentClient::login(test.http, "1002", "demo").await;
    other.set_available().await;
    assert_eq!(
        other.recv().await,
        Some(ServerMessage::State {
            state: AgentState::Available,
            reason: None
        })
    );
}

#[tokio::test]
async fn a_client_too_slow_for_its_queue_is_cut_off_and_routing_carries_on() {
    use futures_util::SinkExt;
    let test = spawn_app(|_| {}).await;
    let mut tx = client_that_stops_reading(&test).await;
    // Requests for a call that is not its own, as fast as it can: the engine's replies
    // fill its queue of 64 before its socket takes them.
    let flood = tokio::spawn(async move {
        let stranger = text(&ClientMessage::Accept {
            call: CallId::random(),
        });
        for _ in 0..20_000 {
            if tx.send(stranger.clone()).await.is_err() {
                break;
            }
        }
    });
    another_agent_is_served(&test).await;
    until_out_of_service(&test).await;
    assert_eq!(test.app.hub.slow_disconnects(), 1);
    flood.abort();
    test.app.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_mid_write_is_dropped_within_the_write_limit() {
    use futures_util::SinkExt;
    let test = spawn_app(|_| {}).await;
    let mut tx = client_that_stops_reading(&test).await;
    // Unknown message types, 64 KiB long: each error reply quotes the type, so the TCP
    // buffers fill within a second and kefu's socket writer is stuck in a write.
    let flood = tokio::spawn(async move {
        let unknown = tokio_tungstenite::tungstenite::Message::text(format!(
            "{{\"type\":\"{}\"}}",
            "x".repeat(64 * 1024)
        ));
        let mut pace = tokio::time::interval(std::time::Duration::from_millis(1));
        loop {
            pace.tick().await;
            if tx.send(unknown.clone()).await.is_err() {
                break;
            }
        }
    });
    another_agent_is_served(&test).await;
    until_out_of_service(&test).await;
    assert_eq!(
        test.app.hub.slow_disconnects(),
        0,
        "the write limit, not the queue"
    );
    flood.abort();
    test.app.shutdown().await;
}
