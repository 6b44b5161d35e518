//! Shared test harness: a kefu on port 0 with its own SQLite file, and a WebSocket agent
//! client. Every wait has a timeout.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kefu::app::RunningApp;
use kefu::config::{Config, Secret};
use kefu::gateway::protocol::{ClientMessage, ServerMessage};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running kefu for one test.
pub struct TestApp {
    /// The app.
    pub app: RunningApp,
    /// Its HTTP address.
    pub http: SocketAddr,
    /// Keeps the database folder alive.
    pub dir: tempfile::TempDir,
}

/// Default configuration pointed at a fresh SQLite file and an HTTP port chosen by the OS.
pub fn test_config(dir: &tempfile::TempDir) -> Config {
    let mut config = Config::defaults().expect("defaults are valid");
    config.http.bind = "127.0.0.1:0".parse().expect("address");
    let db = dir.path().join("kefu.db");
    config.database.url = Secret::new(format!("sqlite://{}?mode=rwc", db.display()));
    config.database.spill = dir.path().join("unwritten-calls.jsonl");
    config.flows.dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr_flows");
    // Passwords are still argon2id, at the smallest cost: tests log in hundreds of times.
    config.auth.argon2_memory_kib = 64;
    config.auth.argon2_iterations = 1;
    config
}

/// Starts kefu with the test configuration, adjusted by `adjust`.
pub async fn spawn_app(adjust: impl FnOnce(&mut Config)) -> TestApp {
    // Logs go to the test's captured output: shown only when the test fails.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "kefu=debug".into());
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(filter)
        .try_init();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&dir);
    adjust(&mut config);
    let app = tokio::time::timeout(WAIT, kefu::app::start(config))
        .await
        .expect("start in time")
        .expect("kefu starts");
    let http = app.http_addr;
    TestApp { app, http, dir }
}

/// Waits until the simulated switch has ended `call` (the caller's leg is gone); its report.
pub async fn call_ended(
    switch: &kefu::sim::FakeFreeswitch,
    call: kefu::domain::CallId,
) -> kefu::sim::SimCallReport {
    let ended = async {
        loop {
            let report = switch.calls().into_iter().find(|c| c.call == call);
            if let Some(report) = report.filter(|r| r.ended.is_some()) {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, ended)
        .await
        .expect("the call ended in time")
}

/// A WebSocket client speaking the agent protocol.
pub struct AgentClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl AgentClient {
    /// Connects without logging in.
    pub async fn connect(http: SocketAddr) -> AgentClient {
        let url = format!("ws://{http}/ws/agent");
        let (ws, _) = tokio::time::timeout(WAIT, connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        AgentClient { ws }
    }

    /// Connects and logs in; returns the client after `welcome`.
    pub async fn login(http: SocketAddr, agent: &str, password: &str) -> AgentClient {
        let mut client = AgentClient::connect(http).await;
        client
            .send(&ClientMessage::password_login(&agent.into(), password))
            .await;
        match client.recv().await {
            Some(ServerMessage::Welcome { .. }) => client,
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// Sends a protocol message.
    /// Asks to be available for calls.
    pub async fn set_available(&mut self) {
        self.send(&ClientMessage::SetState {
            state: kefu::gateway::protocol::RequestedState::Available,
            reason: None,
        })
        .await;
    }

    pub async fn send(&mut self, message: &ClientMessage) {
        let text = serde_json::to_string(message).expect("serialisable");
        self.send_text(&text).await;
    }

    /// Sends raw text (for malformed-input tests).
    pub async fn send_text(&mut self, text: &str) {
        tokio::time::timeout(WAIT, self.ws.send(Message::text(text)))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// The next protocol message, or None when the socket closed. Panics on timeout.
    pub async fn recv(&mut self) -> Option<ServerMessage> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Some(
                        serde_json::from_str(&text).expect("server sends valid protocol JSON"),
                    );
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for the next offer; its call.
    pub async fn next_offer(&mut self) -> kefu::domain::CallId {
        self.wait_for(|m| match m {
            ServerMessage::Offer { call, .. } => Some(*call),
            _ => None,
        })
        .await
    }

    /// Waits for the next offer; its screen-pop.
    pub async fn next_screen_pop(&mut self) -> kefu::gateway::protocol::ScreenPop {
        self.wait_for(|m| match m {
            ServerMessage::Offer { screen_pop, .. } => Some((**screen_pop).clone()),
            _ => None,
        })
        .await
    }

    /// Waits for the first message matching `pick`, skipping others.
    pub async fn wait_for<T>(&mut self, mut pick: impl FnMut(&ServerMessage) -> Option<T>) -> T {
        loop {
            let message = self.recv().await.expect("socket stays open while waiting");
            if let Some(found) = pick(&message) {
                return found;
            }
        }
    }

    /// The close code the server sent, waiting for the close.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("close in time")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => return None,
            }
        }
    }
}

/// GETs `path` until `done` holds for its JSON body or [`WAIT`] passes; returns the last
/// body. Live views are republished every 200 ms, so a change shows up shortly after it
/// happens; this polls at 50 ms rather than guessing a fixed delay.
pub async fn get_json_until(
    http: SocketAddr,
    path: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = kefu::clock::monotonic() + WAIT;
    loop {
        let body = get_json(http, path).await;
        if done(&body) || kefu::clock::monotonic() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every queue's live figures (`/api/snapshot`'s `queues`), polled until `done` holds or
/// the wait runs out.
pub async fn live_queues_until(
    http: SocketAddr,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut snapshot = get_json_until(http, "/api/snapshot", |s| done(&s["queues"])).await;
    snapshot["queues"].take()
}

/// One GET over plain HTTP/1.1; the JSON body (Null when it is not JSON).
pub async fn get_json(http: SocketAddr, path: &str) -> serde_json::Value {
    let (_, body) = get(http, path).await;
    serde_json::from_str(&body).unwrap_or_default()
}

/// Sent as the demo supervisor `lead` (password `demo`), who may read call records.
pub async fn get(http: SocketAddr, path: &str) -> (u16, String) {
    as_lead(http, "GET", path, "", "").await
}

/// One GET with extra header lines (each ending in CRLF): (status, body).
pub async fn get_with(http: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    request(http, "GET", path, headers).await
}

/// One POST with no body, as the demo supervisor: (status, body).
pub async fn post(http: SocketAddr, path: &str) -> (u16, String) {
    as_lead(http, "POST", path, "Content-Length: 0\r\n", "").await
}

/// One POST of a JSON body, as the demo supervisor: (status, body).
pub async fn post_json(http: SocketAddr, path: &str, json: &str) -> (u16, String) {
    let headers = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        json.len()
    );
    as_lead(http, "POST", path, &headers, json).await
}

/// Logs in over `POST /api/login`; the token. Panics unless the login succeeds.
pub async fn login_token(http: SocketAddr, id: &str, password: &str) -> String {
    let body = serde_json::json!({ "id": id, "password": password }).to_string();
    let headers = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    let (status, reply) = request_with_body(http, "POST", "/api/login", &headers, &body).await;
    assert_eq!(status, 200, "login as {id}: {reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).expect("login JSON");
    reply["token"].as_str().expect("a token").to_owned()
}

/// `Authorization: Bearer …` header line for a token.
pub fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

/// The demo supervisor's token per kefu address: logging in for every request would run
/// into the login rate limit.
static LEAD_TOKENS: std::sync::Mutex<Option<std::collections::HashMap<SocketAddr, String>>> =
    std::sync::Mutex::new(None);

/// A request as `lead`, logging in when there is no token for this address yet, or when a
/// kept one is refused (a later test's kefu on a port an earlier one used).
async fn as_lead(
    http: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String) {
    let tokens = || LEAD_TOKENS.lock().expect("token lock");
    let send = |token: String| async move {
        let headers = format!("{}{headers}", bearer(&token));
        request_with_body(http, method, path, &headers, body).await
    };
    let kept = tokens().get_or_insert_default().get(&http).cloned();
    if let Some(token) = kept {
        let reply = send(token).await;
        if reply.0 != 401 {
            return reply;
        }
    }
    let token = login_token(http, "lead", "demo").await;
    tokens().get_or_insert_default().insert(http, token.clone());
    send(token).await
}

/// One request with no body and extra header lines (each ending in CRLF): (status, body).
pub async fn request(http: SocketAddr, method: &str, path: &str, headers: &str) -> (u16, String) {
    request_with_body(http, method, path, headers, "").await
}

/// One request: header lines (each ending in CRLF), then `body`: (status, body).
pub async fn request_with_body(
    http: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String) {
    let (status, response) = exchange(http, method, path, headers, body).await;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// One request over HTTP/1.1: (status, the whole response, head included).
pub async fn exchange(
    http: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = TcpStream::connect(http).await.expect("connect");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: kefu\r\nConnection: close\r\n{headers}\r\n{body}"
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    };
    let response = tokio::time::timeout(WAIT, exchange)
        .await
        .expect("response in time");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// The databases the persistence tests run on: always a fresh SQLite file; PostgreSQL too
/// when `KEFU_TEST_DATABASE_URL` is set, each test in a schema of its own.
pub async fn test_stores(dir: &tempfile::TempDir) -> Vec<(&'static str, kefu::store::Store)> {
    let sqlite = Secret::new(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("kefu.db").display()
    ));
    let mut stores = vec![(
        "sqlite",
        kefu::store::Store::connect(&sqlite)
            .await
            .expect("SQLite opens"),
    )];
    if let Ok(url) = std::env::var("KEFU_TEST_DATABASE_URL") {
        stores.push(("postgres", pg_schema_store(&url).await));
    }
    for (_, store) in &stores {
        store.migrate().await.expect("migrations apply");
    }
    stores
}

/// A store on PostgreSQL confined to a fresh schema, so tests run in parallel.
async fn pg_schema_store(url: &str) -> kefu::store::Store {
    use sqlx::Connection;
    let now = u64::try_from(kefu::clock::now().as_millis() / 1000).expect("after 1970");
    let schema = format!("kefu_test_{now}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(url)
        .await
        .expect("PostgreSQL at KEFU_TEST_DATABASE_URL is reachable");
    // Schemas of runs more than an hour old are gone for good: drop them.
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT schema_name::text FROM information_schema.schemata WHERE schema_name LIKE 'kefu_test_%'",
    )
    .fetch_all(&mut admin)
    .await
    .expect("list schemas");
    for old in stale {
        let created = old
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        if created + 3600 < now {
            let _ = sqlx::query(&format!("DROP SCHEMA {old} CASCADE"))
                .execute(&mut admin)
                .await;
        }
    }
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    kefu::store::Store::connect(&Secret::new(scoped))
        .await
        .expect("PostgreSQL opens")
}

/// A completed, answered call with a three-entry timeline; `n` varies ids and times.
pub fn answered_call(n: i64) -> kefu::recorder::writer::CompletedCall {
    use kefu::domain::*;
    use kefu::recorder::{CallRecord, TimelineEntry};
    let call = CallId::random();
    let t0 = Timestamp::from_micros(1_800_000_000_000_000 + n * 1_000_000);
    let at = |ms: i64| Timestamp::from_micros(t0.as_micros() + ms * 1000);
    let record = CallRecord {
        call,
        node: NodeId::new("fs1"),
        caller_number: format!("+1555000{n:04}"),
        destination: "8005550100".into(),
        customer_id: None,
        tier: TierId::new("standard"),
        queue: Some(QueueId::new("general")),
        agent: Some(AgentId::new("1001")),
        outcome: Outcome::Answered,
        arrived_at: t0,
        enqueued_at: Some(at(4_000)),
        answered_at: Some(at(9_000)),
        talk_ended_at: Some(at(69_000)),
        ended_at: at(69_000),
        wrap_up_ended_at: Some(at(80_000)),
        wait_ms: Some(5_000),
        ivr_ms: 4_000,
        talk_ms: Some(60_000),
        acw_ms: Some(11_000),
        sla_met: Some(true),
        short_abandon: false,
        hangup_cause: "NORMAL_CLEARING".into(),
        offers: 1,
        ivr_path: serde_json::json!([{ "node": "menu", "digits": "1" }]),
        disposition: Some(Disposition {
            category: Category::Inquiry,
            resolved: true,
            notes: "invoice".into(),
        }),
        survey_score: Some(5),
    };
    let timeline = [(0, "arrived"), (4_000, "enqueued"), (9_000, "answered")]
        .into_iter()
        .map(|(ms, kind)| TimelineEntry {
            call,
            at: at(ms),
            kind: kind.into(),
            detail: serde_json::json!({ "n": n }),
        })
        .collect();
    kefu::recorder::writer::CompletedCall {
        call: record,
        timeline,
    }
}

/// A simulated FreeSWITCH on a free port with `sim` settings.
pub async fn fake_switch(sim: kefu::sim::SimConfig) -> kefu::sim::FakeFreeswitch {
    kefu::sim::FakeFreeswitch::start(SocketAddr::from(([127, 0, 0, 1], 0)), sim)
        .await
        .expect("fake switch starts")
}

/// Points the configuration's single FreeSWITCH node at the simulated one.
pub fn point_at(config: &mut Config, switch: &kefu::sim::FakeFreeswitch) {
    config.freeswitch.truncate(1);
    config.freeswitch[0].host = switch.addr().ip().to_string();
    config.freeswitch[0].port = switch.addr().port();
    config.freeswitch[0].password = Secret::new("ClueCon");
}

/// Debian's Chromium, or `None` when the tests were asked to skip the browser
/// (`KEFU_SKIP_BROWSER=1`). Panics when it is missing without that request: a browser test
/// that silently passes without a browser proves nothing.
pub fn chromium_or_skip() -> Option<std::path::PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        if std::env::var("KEFU_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("skipped on request (KEFU_SKIP_BROWSER=1): no chromium");
            return None;
        }
        panic!(
            "chromium not found: `apt-get install chromium chromium-driver` (or KEFU_SKIP_BROWSER=1)"
        );
    }
    found
}

/// Where browser tests leave their screenshots: `target/screenshots/`.
pub fn screenshot_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}
