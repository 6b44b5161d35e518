//! The agent WebSocket protocol over real sockets: login, errors that keep the socket open,
//! refusals. (Offers and screen-pops are covered end to end in `call_flow.rs`.)

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
