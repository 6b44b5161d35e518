//! `/ws/agent`: one agent's socket. The first message must be `login`; after it, client
//! messages become engine inputs and the hub's queue is written out. WS handlers never
//! change routing state themselves. Malformed messages get an `error` reply and the socket
//! stays open; a wrong password is refused and the socket closed.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tracing::Instrument;

use super::auth::{LoginRefused, bearer};
use super::protocol::{ClientMessage, ServerMessage};
use super::{ApiError, AppState};
use crate::auth::{Principal, Role, Token};
use crate::domain::AgentId;
use crate::engine::{AgentAction, Input};

/// How long a new socket may take to log in.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code: login refused.
const CLOSE_UNAUTHORISED: u16 = 4001;
/// Close code: the client read too slowly and its queue filled, or a newer login replaced it.
const CLOSE_KICKED: u16 = 4008;
/// Each socket's read and write buffers. The library's 128 KiB each cost about 145 KiB of
/// resident memory per agent (733 MiB for 5,000 idle agents); agent messages are a few KiB
/// at most, and a larger one still fits (the buffers grow for it).
const SOCKET_BUFFER: usize = 8 * 1024;
/// The largest message an agent may send (the library allows 64 MiB).
const MAX_MESSAGE: usize = 1024 * 1024;
/// A client that takes longer than this to take one message has stopped reading: the
/// socket is dropped, whatever it was doing, and the agent taken out of service.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

type Sink = SplitSink<WebSocket, Message>;

/// `GET /ws/agent`: upgrades to the agent protocol. With `Authorization: Bearer <token>`
/// the agent is logged in by the upgrade itself (401 or 403 instead of a socket when the
/// token is not an agent's); without it the first message must be `login`.
///
/// # Errors
/// 401 for an unknown or expired token, 403 for a token that is not an agent's, 500 when
/// the database fails.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let agent = match bearer(&headers) {
        None => None,
        Some(token) => match state.auth.authenticate(&state.store, &token).await? {
            None => return Err(ApiError::Unauthorised),
            Some(principal) => Some(agent_of(principal).map_err(|_| ApiError::Forbidden)?),
        },
    };
    Ok(ws
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| serve(socket, state, agent)))
}

async fn serve(socket: WebSocket, state: AppState, agent: Option<AgentId>) {
    let (mut sink, mut stream) = socket.split();
    let agent = match agent {
        Some(agent) => agent,
        None => match login(&mut sink, &mut stream, &state).await {
            Some(agent) => agent,
            None => {
                let _ = close(&mut sink, CLOSE_UNAUTHORISED, "login refused").await;
                return;
            }
        },
    };
    let span = tracing::info_span!("agent", agent.id = %agent);
    // `instrument`, not `span.enter()`: an entered span held across `.await` leaks into
    // whatever else runs on this thread.
    logged_in(agent, sink, stream, state).instrument(span).await;
}

async fn logged_in(
    agent: AgentId,
    mut sink: Sink,
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    state: AppState,
) {
    let mut registration = state.hub.register(&agent);
    if state
        .engine
        .send(Input::Agent {
            agent: agent.clone(),
            action: AgentAction::Connected,
        })
        .await
        .is_err()
    {
        return;
    }
    tracing::info!("agent connected");
    loop {
        tokio::select! {
            () = registration.kick.cancelled() => {
                let _ = close(&mut sink, CLOSE_KICKED, "too slow or replaced").await;
                break;
            }
            Some(push) = registration.rx.recv() => {
                if send(&mut sink, &push.message).await.is_err() {
                    break;
                }
                if let Some(decided) = push.decided {
                    state.metrics.decision_to_pop.record(decided.elapsed());
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if handle_text(&agent, &text, &mut sink, &state).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let _ = send(&mut sink, &error("bad_message", "messages are JSON text")).await;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
        }
    }
    state.hub.unregister(&agent, registration.id);
    let _ = state
        .engine
        .send(Input::Agent {
            agent,
            action: AgentAction::Disconnected,
        })
        .await;
    tracing::info!("agent disconnected");
}

/// Waits for a valid `login`. Anything else before it gets an error reply.
async fn login(
    sink: &mut Sink,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    state: &AppState,
) -> Option<AgentId> {
    let deadline = tokio::time::sleep(LOGIN_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        let message = tokio::select! {
            () = &mut deadline => return None,
            message = stream.next() => message?.ok()?,
        };
        let Message::Text(text) = message else {
            continue;
        };
        match serde_json::from_str::<ClientMessage>(&text) {
            Ok(ClientMessage::Login {
                agent,
                password,
                token,
            }) => {
                let refusal = match check_login(state, agent, password, token).await {
                    Ok(agent) => return Some(agent),
                    Err(refusal) => refusal,
                };
                let _ = send(sink, &refusal).await;
                return None;
            }
            Ok(_) => {
                let _ = send(sink, &error("not_logged_in", "log in first")).await;
            }
            Err(e) => {
                let _ = send(sink, &error("bad_message", &e.to_string())).await;
            }
        }
    }
}

/// A `login` message's token, or id and password, checked; the refusal to send otherwise.
async fn check_login(
    state: &AppState,
    agent: Option<AgentId>,
    password: Option<String>,
    token: Option<String>,
) -> Result<AgentId, ServerMessage> {
    let wrong = || {
        error(
            "unauthorised",
            "unknown agent, wrong password, or not an agent's token",
        )
    };
    let principal = match (token, agent, password) {
        (Some(token), _, _) => state
            .auth
            .authenticate(&state.store, &Token::from_client(&token))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "agent login: database");
                error("unavailable", "try again later")
            })?
            .ok_or_else(wrong)?,
        (None, Some(agent), Some(password)) => state
            .auth
            .check_password(&state.store, agent.as_str(), &password)
            .await
            .map_err(|refused| match refused {
                LoginRefused::WrongCredentials => wrong(),
                LoginRefused::TooManyAttempts(_) => {
                    error("too_many_attempts", &refused.to_string())
                }
                LoginRefused::Store(e) => {
                    tracing::error!(error = %e, "agent login: database");
                    error("unavailable", "try again later")
                }
            })?,
        (None, _, _) => {
            return Err(error(
                "bad_message",
                "login needs a token, or agent and password",
            ));
        }
    };
    agent_of(principal).map_err(|principal| {
        tracing::warn!(user = %principal.id, role = principal.role.as_str(), "agent login refused: not an agent");
        wrong()
    })
}

/// The agent a principal is, if they are one.
fn agent_of(principal: Principal) -> Result<AgentId, Principal> {
    match principal.role {
        Role::Agent => Ok(AgentId::new(&principal.id)),
        Role::Admin | Role::Supervisor => Err(principal),
    }
}

/// One client message after login: errors are answered here, actions go to the engine.
async fn handle_text(
    agent: &AgentId,
    text: &str,
    sink: &mut Sink,
    state: &AppState,
) -> Result<(), axum::Error> {
    let action = match serde_json::from_str::<ClientMessage>(text) {
        Err(e) => return send(sink, &error("bad_message", &e.to_string())).await,
        Ok(ClientMessage::Ping) => return send(sink, &ServerMessage::Pong).await,
        Ok(ClientMessage::Login { .. }) => {
            return send(sink, &error("already_logged_in", "already logged in")).await;
        }
        Ok(ClientMessage::SetState { state, reason }) => AgentAction::SetState { state, reason },
        Ok(ClientMessage::Accept { call }) => AgentAction::Accept(call),
        Ok(ClientMessage::Reject { call }) => AgentAction::Reject(call),
        Ok(ClientMessage::WrapUp { call, disposition }) => AgentAction::WrapUp(call, disposition),
    };
    if state
        .engine
        .send(Input::Agent {
            agent: agent.clone(),
            action,
        })
        .await
        .is_err()
    {
        return send(sink, &error("unavailable", "kefu is shutting down")).await;
    }
    Ok(())
}

fn error(code: &str, message: &str) -> ServerMessage {
    ServerMessage::Error {
        code: code.into(),
        message: message.into(),
    }
}

async fn send(sink: &mut Sink, message: &ServerMessage) -> Result<(), axum::Error> {
    let text = serde_json::to_string(message).unwrap_or_default();
    let write = sink.send(Message::Text(Utf8Bytes::from(text)));
    // Without a bound, a client that stops reading holds this task in the write forever:
    // the hub's kick would never be seen, nor the agent taken out of service.
    match tokio::time::timeout(SEND_TIMEOUT, write).await {
        Ok(written) => written,
        Err(_) => {
            tracing::warn!("agent socket stopped reading; dropping it");
            Err(axum::Error::new("the client stopped reading"))
        }
    }
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) -> Result<(), axum::Error> {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    // A client that stopped reading gets no close frame: the socket is dropped.
    tokio::time::timeout(SEND_TIMEOUT, sink.send(frame))
        .await
        .unwrap_or_else(|_| Err(axum::Error::new("the client stopped reading")))
}
