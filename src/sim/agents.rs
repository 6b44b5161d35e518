//! Simulated agents: each one a real WebSocket client speaking the agent protocol
//! (`gateway::protocol`). It logs in, goes available, takes offers (recording when each
//! screen-pop arrived, for latency measurement), wraps up after each call, and reconnects
//! when the socket drops. Used by the demo and the load test.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::domain::{AgentId, CallId, Category, Disposition, Timestamp};
use crate::gateway::protocol::{ClientMessage, RequestedState, ServerMessage};

/// How a simulated agent behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentBehaviour {
    /// After-call work before sending the disposition (real tokio time).
    pub wrap_up: Duration,
    /// Chance (0.0–1.0) of rejecting an offer instead of accepting it.
    pub reject_probability: f64,
}

impl Default for AgentBehaviour {
    fn default() -> Self {
        Self {
            wrap_up: Duration::from_secs(5),
            reject_probability: 0.0,
        }
    }
}

/// One screen-pop as the agent received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferReceipt {
    /// The offered call.
    pub call: CallId,
    /// Monotonic receipt time (tokio, so paused-time tests work).
    pub at: Instant,
    /// Wall-clock receipt time, comparable with FreeSWITCH `Event-Date-Timestamp`.
    pub wall: Timestamp,
    /// When the call entered its queue, from the screen-pop (`None` if unreadable).
    pub enqueued_at: Option<Timestamp>,
}

impl OfferReceipt {
    /// Enqueue → screen-pop received: the switch's clock against this machine's, so exact
    /// only where they are the same clock (the simulated switch) or closely synchronised.
    pub fn enqueue_to_pop(&self) -> Option<Duration> {
        self.enqueued_at.map(|e| self.wall.since(e))
    }
}

/// What one simulated agent saw, returned when it is cancelled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentReport {
    /// Offers received.
    pub offers: u64,
    /// Offers rejected.
    pub rejected: u64,
    /// Offers withdrawn because the phone was not answered in time.
    pub rang_unanswered: u64,
    /// Calls connected.
    pub connected: u64,
    /// Wrap-ups sent.
    pub wrapped_up: u64,
    /// Each offer's receipt time.
    pub receipts: Vec<OfferReceipt>,
    /// Connection attempts that failed or dropped, and server `error` messages.
    pub errors: Vec<String>,
}

/// Runs one agent until `cancel` fires, reconnecting after drops.
pub async fn run_agent(
    url: String,
    agent: AgentId,
    password: String,
    behaviour: AgentBehaviour,
    cancel: CancellationToken,
) -> AgentReport {
    let mut report = AgentReport::default();
    let mut backoff = Duration::from_millis(50);
    while !cancel.is_cancelled() {
        match session(&url, &agent, &password, &behaviour, &cancel, &mut report).await {
            Ok(()) => backoff = Duration::from_millis(50),
            Err(error) => report.errors.push(error),
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    report
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(socket: &mut Socket, message: &ClientMessage) -> Result<(), String> {
    let text = serde_json::to_string(message).map_err(|e| format!("encode: {e}"))?;
    socket
        .send(Message::text(text))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// One connection: login, available, then serve messages until it drops or is cancelled.
async fn session(
    url: &str,
    agent: &AgentId,
    password: &str,
    behaviour: &AgentBehaviour,
    cancel: &CancellationToken,
    report: &mut AgentReport,
) -> Result<(), String> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    send(&mut socket, &ClientMessage::password_login(agent, password)).await?;
    let mut wrap_ups: Vec<(Instant, CallId)> = Vec::new();
    loop {
        let next_wrap = wrap_ups.iter().map(|(at, _)| *at).min();
        let message = tokio::select! {
            _ = cancel.cancelled() => {
                let _ = socket.close(None).await;
                return Ok(());
            }
            _ = sleep_until_opt(next_wrap) => {
                let now = crate::clock::monotonic();
                let (due, later): (Vec<_>, Vec<_>) = wrap_ups.into_iter().partition(|(at, _)| *at <= now);
                wrap_ups = later;
                for (_, call) in due {
                    let disposition = Disposition { category: Category::Inquiry, resolved: true, notes: String::new() };
                    send(&mut socket, &ClientMessage::WrapUp { call, disposition }).await?;
                    send(&mut socket, &ClientMessage::SetState { state: RequestedState::Available, reason: None }).await?;
                    report.wrapped_up += 1;
                }
                continue;
            }
            message = socket.next() => message,
        };
        let text = match message {
            None => return Err("socket closed".to_string()),
            Some(Err(e)) => return Err(format!("receive: {e}")),
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) => return Err("server closed".to_string()),
            Some(Ok(_)) => continue,
        };
        let Ok(message) = serde_json::from_str::<ServerMessage>(text.as_str()) else {
            report
                .errors
                .push(format!("unreadable message: {}", text.as_str()));
            continue;
        };
        match message {
            ServerMessage::Welcome { .. } => {
                send(
                    &mut socket,
                    &ClientMessage::SetState {
                        state: RequestedState::Available,
                        reason: None,
                    },
                )
                .await?;
            }
            ServerMessage::Offer {
                call, screen_pop, ..
            } => {
                report.offers += 1;
                report.receipts.push(OfferReceipt {
                    call,
                    at: crate::clock::monotonic(),
                    wall: crate::clock::now(),
                    enqueued_at: chrono::DateTime::parse_from_rfc3339(&screen_pop.enqueued_at)
                        .ok()
                        .map(|t| Timestamp::from_micros(t.timestamp_micros())),
                });
                if rand::random::<f64>() < behaviour.reject_probability {
                    report.rejected += 1;
                    send(&mut socket, &ClientMessage::Reject { call }).await?;
                } else {
                    send(&mut socket, &ClientMessage::Accept { call }).await?;
                }
            }
            ServerMessage::CallConnected { .. } => report.connected += 1,
            ServerMessage::CallEnded { call, .. } => {
                wrap_ups.push((crate::clock::monotonic() + behaviour.wrap_up, call))
            }
            ServerMessage::Error { code, message } => {
                report.errors.push(format!("{code}: {message}"))
            }
            // kefu's ring timer (`no_answer`) or the switch's originate timeout, whichever
            // came first.
            ServerMessage::OfferCancelled { reason, .. }
                if reason == "no_answer" || reason == "agent_leg_failed:NO_ANSWER" =>
            {
                report.rang_unanswered += 1
            }
            ServerMessage::State { .. }
            | ServerMessage::OfferCancelled { .. }
            | ServerMessage::Pong => {}
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
