//! `/ws/supervisor`: the live view for supervisors (`Authorization: Bearer <token>` on the
//! upgrade). A supervisor limited to some queues sees those queues and their agents.
//! A snapshot at once, then a fresh one whenever the engine publishes a change (at most
//! every 200 ms) and at least once a second. Each message is
//! `{"type": "snapshot", "snapshot": {...}}` with the shape of `GET /api/snapshot`: per
//! queue and tier the live figures, agents by state, the SLA-at-risk flag, and the agents.
//! No customer data. A client that cannot take a message within 5 s is disconnected.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::json;

use super::AppState;
use super::auth::Supervisor;
use crate::auth::Scope;
use crate::clock;
use crate::domain::AgentId;
use crate::engine::Snapshot;

/// How often the socket looks for a new snapshot.
const LOOK_EVERY: Duration = Duration::from_millis(200);
/// A snapshot goes out at least this often, changed or not.
const AT_LEAST_EVERY: Duration = Duration::from_secs(1);
/// A client slower than this to take one message is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /ws/supervisor`: upgrades to the supervisor stream.
pub async fn upgrade(
    supervisor: Supervisor,
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
) -> Response {
    tracing::info!(supervisor = %supervisor.id, "supervisor stream opened");
    ws.on_upgrade(move |socket| stream(socket, state, supervisor.scope))
}

/// What a supervisor limited to some queues sees: those queues, and the agents who serve
/// one of them.
fn within(snapshot: &Snapshot, scope: &Scope, state: &AppState) -> Snapshot {
    let mut seen = snapshot.clone();
    seen.queues
        .retain(|q| scope.allows(&crate::domain::QueueId::new(&q.name)));
    seen.agents
        .retain(|a| state.agent_in_scope(scope, &AgentId::new(&a.agent)));
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
