//! `/ws/supervisor`: the live view for supervisors. The token comes as
//! `Authorization: Bearer <token>` on the upgrade (401 or 403 instead of a socket), or, from
//! a browser, which cannot set that header, as the first message `{"type": "login",
//! "token": "…"}` within 10 s (close code 4001 when refused). A supervisor limited to some
//! queues sees those queues and their agents.
//! A snapshot at once, then a fresh one whenever the engine publishes a change (at most
//! every 200 ms) and at least once a second. Each message is
//! `{"type": "snapshot", "snapshot": {...}}` with the shape of `GET /api/snapshot`: per
//! queue and tier the live figures, agents by state, the SLA-at-risk flag, and the agents.
//! No customer data. A client that cannot take a message within 5 s is disconnected.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::auth::{Supervisor, bearer};
use super::{ApiError, AppState};
use crate::auth::{Scope, Token};
use crate::clock;
use crate::domain::AgentId;
use crate::engine::Snapshot;

/// How often the socket looks for a new snapshot.
const LOOK_EVERY: Duration = Duration::from_millis(200);
/// A snapshot goes out at least this often, changed or not.
const AT_LEAST_EVERY: Duration = Duration::from_secs(1);
/// A client slower than this to take one message is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a socket without a token on its upgrade may take to send its `login`.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code: login refused.
const CLOSE_UNAUTHORISED: u16 = 4001;

/// The one message a browser sends.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Login { token: String },
}

/// `GET /ws/supervisor`: upgrades to the supervisor stream.
///
/// # Errors
/// 401 for an unknown or expired token on the upgrade, 403 for an agent's, 500 when the
/// database fails.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let supervisor = match bearer(&headers) {
        None => None,
        Some(token) => match state.auth.authenticate(&state.store, &token).await? {
            None => return Err(ApiError::Unauthorised),
            Some(principal) => Some(Supervisor::of(principal).map_err(|_| ApiError::Forbidden)?),
        },
    };
    Ok(ws.on_upgrade(move |socket| serve(socket, state, supervisor)))
}

async fn serve(mut socket: WebSocket, state: AppState, supervisor: Option<Supervisor>) {
    let supervisor = match supervisor {
        Some(supervisor) => supervisor,
        None => match login(&mut socket, &state).await {
            Some(supervisor) => supervisor,
            None => {
                let close = Message::Close(Some(CloseFrame {
                    code: CLOSE_UNAUTHORISED,
                    reason: "login refused".into(),
                }));
                let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(close)).await;
                return;
            }
        },
    };
    tracing::info!(supervisor = %supervisor.id, "supervisor stream opened");
    stream(socket, state, supervisor.scope).await;
}

/// The first message, a supervisor's or admin's token; None for anything else.
async fn login(socket: &mut WebSocket, state: &AppState) -> Option<Supervisor> {
    let first = tokio::time::timeout(LOGIN_TIMEOUT, socket.recv()).await;
    let Ok(Some(Ok(Message::Text(text)))) = first else {
        return None;
    };
    let Ok(ClientMessage::Login { token }) = serde_json::from_str(&text) else {
        return None;
    };
    let token = Token::from_client(&token);
    match state.auth.authenticate(&state.store, &token).await {
        Ok(principal) => Supervisor::of(principal?).ok(),
        Err(error) => {
            tracing::error!(error = %error, "supervisor login: database");
            None
        }
    }
}

/// What a supervisor limited to some queues sees: those queues, and the agents who serve
/// one of them.
fn within(snapshot: &Snapshot, scope: &Scope, state: &AppState) -> Snapshot {
    let mut seen = snapshot.clone();
    seen.queues
        .retain(|q| scope.allows(&crate::domain::QueueId::new(&q.name)));
    let directory = state.directory.load();
    seen.agents
        .retain(|a| directory.agent_in_scope(scope, &AgentId::new(&a.agent)));
    seen
}

async fn stream(mut socket: WebSocket, state: AppState, scope: Scope) {
    let engine = &state.engine;
    let mut look = tokio::time::interval(LOOK_EVERY);
    let mut last: Option<Arc<Snapshot>> = None;
    let mut sent_at = clock::monotonic();
    loop {
        tokio::select! {
            _ = look.tick() => {
                let snapshot = engine.snapshot();
                let changed = last.as_ref().is_none_or(|l| !Arc::ptr_eq(l, &snapshot));
                if !changed && sent_at.elapsed() < AT_LEAST_EVERY {
                    continue;
                }
                let text = if scope == Scope::All {
                    json!({ "type": "snapshot", "snapshot": &*snapshot })
                } else {
                    json!({ "type": "snapshot", "snapshot": within(&snapshot, &scope, &state) })
                }
                .to_string();
                match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => return,
                }
                last = Some(snapshot);
                sent_at = clock::monotonic();
            }
            incoming = socket.recv() => match incoming {
                // The client only listens; pings are answered by axum.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
