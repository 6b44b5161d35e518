//! `sim::agents::run_agent` against a tiny axum WebSocket server written here that speaks a
//! few messages of the agent protocol: login, offer, connect, end, wrap-up, and a dropped
//! socket the agent must come back from.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::routing::get;
use kefu::domain::{AgentId, CallId};
use kefu::gateway::protocol::{
    AgentState, ClientMessage, RequestedState, ScreenPop, ServerMessage,
};
use kefu::sim::agents::{AgentBehaviour, run_agent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(5);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

async fn send(socket: &mut WebSocket, message: ServerMessage) {
    let text = serde_json::to_string(&message).expect("encode");
    socket.send(Message::Text(text.into())).await.expect("send");
}

async fn receive(socket: &mut WebSocket) -> ClientMessage {
    loop {
        match socket.recv().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str()).expect("client message");
            }
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

fn pop(call: CallId) -> Box<ScreenPop> {
    Box::new(ScreenPop {
        call,
        caller_number: "1000".into(),
        customer_name: None,
        tier: "gold".into(),
        account: None,
        account_manager: None,
        queue: "general".into(),
        reason: None,
        ivr_path: Vec::new(),
        enqueued_at: "2026-12-05T01:00:00.000001Z".into(),
        waited_ms: 10,
        recent_calls: Vec::new(),
        open_complaints: Vec::new(),
        callback_number: None,
    })
}

/// First connection: one whole call, then the server drops the socket. Second: login only.
async fn serve(
    mut socket: WebSocket,
    seen: mpsc::UnboundedSender<ClientMessage>,
    call: CallId,
    first: bool,
) {
    let login = receive(&mut socket).await;
    let _ = seen.send(login.clone());
    let ClientMessage::Login {
        agent: Some(agent), ..
    } = login
    else {
        panic!("login with an agent id first")
    };
    send(
        &mut socket,
        ServerMessage::Welcome {
            protocol: 1,
            agent,
            state: AgentState::LoggedOut,
        },
    )
    .await;
    let _ = seen.send(receive(&mut socket).await);
    if !first {
        return;
    }
    send(
        &mut socket,
        ServerMessage::Offer {
            call,
            ring_timeout_ms: 1000,
            screen_pop: pop(call),
        },
    )
    .await;
    let _ = seen.send(receive(&mut socket).await);
    send(&mut socket, ServerMessage::CallConnected { call }).await;
    send(
        &mut socket,
        ServerMessage::CallEnded {
            call,
            wrap_up_ms: 30_000,
        },
    )
    .await;
    let _ = seen.send(receive(&mut socket).await);
    let _ = seen.send(receive(&mut socket).await);
}

async fn next(rx: &mut mpsc::UnboundedReceiver<ClientMessage>) -> ClientMessage {
    within("a client message", rx.recv())
        .await
        .expect("server alive")
}

#[derive(Clone)]
struct Server {
    seen: mpsc::UnboundedSender<ClientMessage>,
    call: CallId,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn upgrade(ws: WebSocketUpgrade, State(server): State<Server>) -> axum::response::Response {
    let n = server
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    ws.on_upgrade(move |socket| serve(socket, server.seen, server.call, n == 0))
}

#[tokio::test]
async fn agent_logs_in_takes_an_offer_wraps_up_and_reconnects_after_a_drop() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let call = CallId::random();
    let server = Server {
        seen: tx,
        call,
        connections: Default::default(),
    };
    let app = axum::Router::new()
        .route("/agent", get(upgrade))
        .with_state(server);
    let listener = within("bind", tokio::net::TcpListener::bind("127.0.0.1:0"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let cancel = CancellationToken::new();
    let behaviour = AgentBehaviour {
        wrap_up: Duration::from_millis(20),
        reject_probability: 0.0,
    };
    let agent = tokio::spawn(run_agent(
        format!("ws://{addr}/agent"),
        AgentId::new("1001"),
        "secret".into(),
        behaviour,
        cancel.clone(),
    ));

    assert_eq!(
        next(&mut rx).await,
        ClientMessage::password_login(&AgentId::new("1001"), "secret")
    );
    assert_eq!(
        next(&mut rx).await,
        ClientMessage::SetState {
            state: RequestedState::Available,
            reason: None
        }
    );
    assert_eq!(next(&mut rx).await, ClientMessage::Accept { call });
    let ClientMessage::WrapUp { call: wrapped, .. } = next(&mut rx).await else {
        panic!("wrap_up expected")
    };
    assert_eq!(wrapped, call);
    assert_eq!(
        next(&mut rx).await,
        ClientMessage::SetState {
            state: RequestedState::Available,
            reason: None
        }
    );
    // The server dropped the socket: the agent logs in again.
    assert!(matches!(next(&mut rx).await, ClientMessage::Login { .. }));
    assert!(matches!(
        next(&mut rx).await,
        ClientMessage::SetState { .. }
    ));

    cancel.cancel();
    let report = within("agent report", agent).await.expect("agent task");
    assert_eq!(report.offers, 1);
    assert_eq!(report.connected, 1);
    assert_eq!(report.wrapped_up, 1);
    assert_eq!(report.receipts.len(), 1);
    assert_eq!(report.receipts[0].call, call);
    let enqueued_at = report.receipts[0].enqueued_at.map(|t| {
        t.to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    });
    assert_eq!(enqueued_at.as_deref(), Some("2026-12-05T01:00:00.000001Z"));
    assert!(!report.errors.is_empty(), "the drop is reported");
}
