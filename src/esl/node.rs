//! One FreeSWITCH node: connect, authenticate, subscribe, reconcile, forward events, and
//! reconnect with capped exponential backoff when anything goes wrong. A node going down is
//! an event (`NodeDisconnected`), not a crash; other nodes carry on.
//!
//! Session: TCP connect (nodelay, keepalive) -> `auth/request` -> `auth <password>` ->
//! `event json …` -> `api show channels as json` -> `NodeConnected` -> events until EOF, a bad
//! frame, a reply timeout or heartbeat silence -> `NodeDisconnected` -> backoff -> again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::call::{self, EventKind, LiveChannel};
use crate::clock;
use crate::config::Secret;
use crate::domain::{NodeId, Timestamp};
use crate::esl::command::{self, Command};
use crate::esl::connection::{Connection, ConnectionSettings, EventSink, FrameReader, WRITE_QUEUE};
use crate::esl::error::EslError;
use crate::esl::event::{EslEvent, Incoming, classify};
use crate::esl::frame::{DEFAULT_MAX_FRAME_BYTES, FrameDecoder};
use crate::esl::translate::{self, TranslateStats};

/// The events kefu subscribes to, in the `event json` command.
pub const SUBSCRIBED_EVENTS: &[&str] = &[
    "CHANNEL_PARK",
    "CHANNEL_ANSWER",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HANGUP_COMPLETE",
    "DTMF",
    "BACKGROUND_JOB",
    "HEARTBEAT",
];

/// How to reach and supervise one node.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    /// The node's name (`fs1`), on every event and in the `node` span.
    pub name: NodeId,
    /// Host name or IP of the event socket.
    pub host: String,
    /// Port (8021 by default in FreeSWITCH).
    pub port: u16,
    /// The `auth` password. Never logged.
    pub password: Secret,
    /// Largest frame accepted (16 MiB).
    pub max_frame_bytes: usize,
    /// How long a command may wait for its reply (5 s); also the connect and handshake timeout.
    pub reply_timeout: Duration,
    /// How long the socket may stay silent (60 s; HEARTBEAT comes every 20 s).
    pub heartbeat_timeout: Duration,
    /// How long `bgapi` waits for its BACKGROUND_JOB (60 s).
    pub job_timeout: Duration,
    /// Commands waiting to be written ([`WRITE_QUEUE`]); `send` fails when full.
    pub write_queue: usize,
    /// First reconnect delay (100 ms).
    pub backoff_min: Duration,
    /// Largest reconnect delay (10 s).
    pub backoff_max: Duration,
}

impl NodeSettings {
    /// Settings with the defaults listed on each field.
    pub fn new(name: NodeId, host: impl Into<String>, port: u16, password: Secret) -> Self {
        Self {
            name,
            host: host.into(),
            port,
            password,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            reply_timeout: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(60),
            job_timeout: Duration::from_secs(60),
            write_queue: WRITE_QUEUE,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
        }
    }

    fn connection(&self) -> ConnectionSettings {
        ConnectionSettings {
            reply_timeout: self.reply_timeout,
            heartbeat_timeout: self.heartbeat_timeout,
            job_timeout: self.job_timeout,
            write_queue: self.write_queue,
        }
    }
}

/// A snapshot of a node's health, for `/metrics` and the supervisor view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStatus {
    /// Authenticated and subscribed right now.
    pub connected: bool,
    /// When the current connection came up (`None` while disconnected).
    pub since: Option<Timestamp>,
    /// Connection attempts that failed or sessions that ended.
    pub reconnects: u64,
    /// Events read from this node since start.
    pub events_received: u64,
    /// Why the last attempt or session ended.
    pub last_error: Option<String>,
}

/// A handle on a node's tasks. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    shared: Arc<NodeShared>,
}

#[derive(Debug)]
struct NodeShared {
    name: NodeId,
    connection: Mutex<Option<Connection>>,
    status: Mutex<NodeStatus>,
    received: Arc<AtomicU64>,
    stats: Arc<TranslateStats>,
}

impl NodeHandle {
    /// The node's name.
    pub fn name(&self) -> &NodeId {
        &self.shared.name
    }

    /// Queues a command for writing; never blocks. A `-ERR` reply comes back as
    /// `EventKind::CommandFailed`, a bgapi's result as `EventKind::JobCompleted`.
    ///
    /// # Errors
    /// `NotConnected`, `QueueFull`, `UnsafeArgument`.
    pub fn send(&self, cmd: Command) -> Result<(), EslError> {
        self.connection()?.send(&cmd)
    }

    /// `api <command> <args>`: the output. Quick commands only; `api` blocks the connection.
    ///
    /// # Errors
    /// See [`Connection::api`]; `NotConnected` when the node is down.
    pub async fn api(&self, command: &'static str, args: &str) -> Result<String, EslError> {
        self.connection()?.api(command, args).await
    }

    /// `bgapi <command> <args>`: the BACKGROUND_JOB body.
    ///
    /// # Errors
    /// See [`Connection::bgapi`]; `NotConnected` when the node is down.
    pub async fn bgapi(&self, command: &'static str, args: &str) -> Result<String, EslError> {
        self.connection()?.bgapi(command, args).await
    }

    /// The node's current status (one short lock).
    pub fn status(&self) -> NodeStatus {
        let mut status = self.shared.status().clone();
        status.events_received = self.shared.received.load(Ordering::Relaxed);
        status
    }

    /// Translation counters (ignored and incomplete events).
    pub fn translate_stats(&self) -> &TranslateStats {
        &self.shared.stats
    }

    fn connection(&self) -> Result<Connection, EslError> {
        let slot = self
            .shared
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.clone().ok_or(EslError::NotConnected)
    }
}

impl NodeShared {
    fn status(&self) -> MutexGuard<'_, NodeStatus> {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_connection(&self, connection: Option<Connection>) {
        *self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = connection;
    }
}

/// Starts the node's task (in span `node{node=<name>}`) and returns its handle. The task
/// reconnects until `cancel` fires. Events go to `events`; awaiting a slow engine is fine.
pub fn spawn_node(
    settings: NodeSettings,
    events: mpsc::Sender<call::Event>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) -> NodeHandle {
    let shared = Arc::new(NodeShared {
        name: settings.name.clone(),
        connection: Mutex::new(None),
        status: Mutex::new(NodeStatus::default()),
        received: Arc::new(AtomicU64::new(0)),
        stats: Arc::new(TranslateStats::default()),
    });
    let sink = EventSink {
        node: settings.name.clone(),
        events,
        stats: shared.stats.clone(),
        received: shared.received.clone(),
    };
    let span = tracing::info_span!("node", node = %settings.name);
    let node = Node {
        shared: shared.clone(),
        settings,
        sink,
        cancel,
        tracker: tracker.clone(),
    };
    tracker.spawn(node.run().instrument(span));
    NodeHandle { shared }
}

struct Node {
    shared: Arc<NodeShared>,
    settings: NodeSettings,
    sink: EventSink,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

/// How a session ended: whether it got as far as `NodeConnected`, and why it ended.
struct SessionEnd {
    connected: bool,
    error: EslError,
}

impl Node {
    async fn run(self) {
        let mut backoff = Backoff::new(self.settings.backoff_min, self.settings.backoff_max);
        loop {
            let end = tokio::select! {
                () = self.cancel.cancelled() => break,
                end = self.session() => end,
            };
            let Err(end) = end else { break };
            let reason = error_chain(&end.error);
            self.shared.set_connection(None);
            {
                let mut status = self.shared.status();
                status.connected = false;
                status.since = None;
                status.reconnects += 1;
                status.last_error = Some(reason.clone());
            }
            log_end(&end, &reason);
            if end.connected {
                backoff.reset();
                let event = lifecycle(&self.sink.node, EventKind::NodeDisconnected { reason });
                if self.sink.events.send(event).await.is_err() {
                    break;
                }
            }
            let delay = backoff.next_delay(rand::random::<f64>());
            tracing::debug!(
                delay_ms = delay.as_millis() as u64,
                "reconnecting after backoff"
            );
            tokio::select! {
                () = self.cancel.cancelled() => break,
                () = tokio::time::sleep(delay) => {}
            }
        }
        self.shared.set_connection(None);
    }

    /// One connection, from TCP connect to its end. `Ok` only when cancelled.
    async fn session(&self) -> Result<(), SessionEnd> {
        let fail = |error| SessionEnd {
            connected: false,
            error,
        };
        let stream = connect(&self.settings).await.map_err(fail)?;
        let (read, mut write) = stream.into_split();
        let mut reader = FramedRead::new(read, FrameDecoder::new(self.settings.max_frame_bytes));
        let handshake = handshake(&mut reader, &mut write, &self.settings)
            .await
            .map_err(fail)?;
        let connection = Connection::start(
            write,
            self.settings.connection(),
            &self.cancel,
            &self.tracker,
        );
        let connected = lifecycle(
            &self.sink.node,
            EventKind::NodeConnected {
                channels: handshake.channels,
            },
        );
        let ended = |error| SessionEnd {
            connected: true,
            error,
        };
        self.sink
            .events
            .send(connected)
            .await
            .map_err(|_| ended(EslError::EventSinkClosed))?;
        self.shared.set_connection(Some(connection.clone()));
        {
            let mut status = self.shared.status();
            status.connected = true;
            status.since = Some(clock::now());
        }
        tracing::info!("node connected");
        for (event, received) in &handshake.held {
            if let Err(error) = self.sink.forward(event, *received, &self.cancel).await {
                connection.close(&error);
                return Err(ended(error));
            }
        }
        connection
            .run(reader, &self.sink, &self.cancel)
            .await
            .map_err(ended)
    }
}

fn lifecycle(node: &NodeId, kind: EventKind) -> call::Event {
    call::Event {
        node: node.clone(),
        at: clock::now(),
        received: clock::monotonic(),
        kind,
    }
}

fn log_end(end: &SessionEnd, reason: &str) {
    match (&end.error, end.connected) {
        (EslError::AuthRejected { .. }, _) => {
            tracing::error!(error = %reason, "ESL password rejected: check the node's password");
        }
        (_, true) => tracing::warn!(error = %reason, "node disconnected"),
        (_, false) => tracing::warn!(error = %reason, "node connection attempt failed"),
    }
}

/// The error and its sources, `: `-separated (no secrets are ever in them).
fn error_chain(error: &EslError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn connect(settings: &NodeSettings) -> Result<TcpStream, EslError> {
    let addr = format!("{}:{}", settings.host, settings.port);
    let attempt = TcpStream::connect((settings.host.as_str(), settings.port));
    let stream = match tokio::time::timeout(settings.reply_timeout, attempt).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(source)) => return Err(EslError::Connect { addr, source }),
        Err(_) => {
            return Err(EslError::Connect {
                addr,
                source: std::io::ErrorKind::TimedOut.into(),
            });
        }
    };
    stream.set_nodelay(true)?;
    // Keepalive notices a peer that vanished without a FIN (cable pulled, VM frozen).
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10));
    socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
    Ok(stream)
}

/// What the handshake learned, and the events that arrived during it (to forward after
/// `NodeConnected`, in order).
struct Handshake {
    channels: Vec<LiveChannel>,
    held: Vec<(EslEvent, Instant)>,
}

async fn handshake(
    reader: &mut FrameReader,
    write: &mut OwnedWriteHalf,
    settings: &NodeSettings,
) -> Result<Handshake, EslError> {
    let timeout = settings.reply_timeout;
    let mut held = Vec::new();
    match next_incoming(
        reader,
        clock::monotonic() + timeout,
        "auth/request",
        timeout,
    )
    .await?
    {
        Incoming::AuthRequest => {}
        Incoming::RudeRejection => return Err(EslError::RudeRejection),
        other => {
            return Err(EslError::UnexpectedFrame {
                expected: "auth/request",
                got: describe(&other),
            });
        }
    }
    tracing::trace!(esl.wire = "auth ***", "writing auth");
    write.write_all(&command::auth(&settings.password)?).await?;
    let reply = command_reply(reader, &mut held, "auth", timeout).await?;
    if !reply.starts_with("+OK") {
        return Err(EslError::AuthRejected { reply });
    }
    let subscribe = command::event_json(SUBSCRIBED_EVENTS)?;
    tracing::trace!(esl.wire = %String::from_utf8_lossy(&subscribe), "writing");
    write.write_all(&subscribe).await?;
    let reply = command_reply(reader, &mut held, "event", timeout).await?;
    if !reply.starts_with("+OK") {
        return Err(EslError::CommandFailed {
            command: "event",
            reply,
        });
    }
    write
        .write_all(&command::api("show", "channels as json")?)
        .await?;
    let listing = api_response(reader, &mut held, "show", timeout).await?;
    let channels = translate::live_channels(&listing).unwrap_or_else(|error| {
        tracing::warn!(error = %error_chain(&error), "channel list unreadable; reconciling nothing");
        Vec::new()
    });
    Ok(Handshake { channels, held })
}

/// Reads until a `command/reply`, holding events; returns its Reply-Text.
async fn command_reply(
    reader: &mut FrameReader,
    held: &mut Vec<(EslEvent, Instant)>,
    command: &'static str,
    timeout: Duration,
) -> Result<String, EslError> {
    let deadline = clock::monotonic() + timeout;
    loop {
        match next_incoming(reader, deadline, command, timeout).await? {
            Incoming::CommandReply(text, _) => return Ok(text),
            other => hold(other, held, "command/reply")?,
        }
    }
}

/// Reads until an `api/response`, holding events; returns its body.
async fn api_response(
    reader: &mut FrameReader,
    held: &mut Vec<(EslEvent, Instant)>,
    command: &'static str,
    timeout: Duration,
) -> Result<bytes::Bytes, EslError> {
    let deadline = clock::monotonic() + timeout;
    loop {
        match next_incoming(reader, deadline, command, timeout).await? {
            Incoming::ApiResponse(body) => return Ok(body),
            other => hold(other, held, "api/response")?,
        }
    }
}

/// Keeps an event read during the handshake; anything else there is an error.
fn hold(
    incoming: Incoming,
    held: &mut Vec<(EslEvent, Instant)>,
    expected: &'static str,
) -> Result<(), EslError> {
    match incoming {
        Incoming::Event(event) => {
            held.push((event, clock::monotonic()));
            Ok(())
        }
        Incoming::Log(_) | Incoming::Unsupported { .. } => Ok(()),
        Incoming::DisconnectNotice { linger: true, .. } => Ok(()),
        Incoming::DisconnectNotice {
            linger: false,
            body,
        } => Err(EslError::DisconnectNotice {
            body: String::from_utf8_lossy(&body).trim_end().to_owned(),
        }),
        Incoming::RudeRejection => Err(EslError::RudeRejection),
        other => Err(EslError::UnexpectedFrame {
            expected,
            got: describe(&other),
        }),
    }
}

async fn next_incoming(
    reader: &mut FrameReader,
    deadline: Instant,
    command: &'static str,
    waited: Duration,
) -> Result<Incoming, EslError> {
    match tokio::time::timeout_at(deadline, reader.next()).await {
        Err(_) => Err(EslError::ReplyTimeout { command, waited }),
        Ok(None) => Err(EslError::ConnectionClosed),
        Ok(Some(frame)) => classify(frame?),
    }
}

pub(super) fn describe(incoming: &Incoming) -> String {
    match incoming {
        Incoming::AuthRequest => "auth/request".into(),
        Incoming::CommandReply(text, _) => format!("command/reply {text}"),
        Incoming::ApiResponse(_) => "api/response".into(),
        Incoming::Event(e) => format!("event {}", e.name().unwrap_or_default()),
        Incoming::DisconnectNotice { .. } => "text/disconnect-notice".into(),
        Incoming::RudeRejection => "text/rude-rejection".into(),
        Incoming::Log(_) => "log/data".into(),
        Incoming::Unsupported { content_type } => content_type.clone().unwrap_or_default(),
    }
}

/// Capped exponential backoff with jitter; reset after a session that got connected.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            attempt: 0,
        }
    }

    /// The next delay: `min * 2^attempt`, capped at `max`, scaled into [50 %, 100 %] by
    /// `jitter` in [0, 1) so that nodes restarted together do not reconnect in lockstep.
    pub(crate) fn next_delay(&mut self, jitter: f64) -> Duration {
        let base = self
            .min
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        base.mul_f64(0.5 + jitter.clamp(0.0, 1.0) * 0.5)
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        let full: Vec<_> = (0..10).map(|_| b.next_delay(1.0)).collect();
        assert_eq!(full[0], Duration::from_millis(100));
        assert_eq!(full[1], Duration::from_millis(200));
        assert_eq!(full[6], Duration::from_millis(6400));
        assert_eq!(full[7], Duration::from_secs(10));
        assert_eq!(full[9], Duration::from_secs(10));
        assert_eq!(b.next_delay(0.0), Duration::from_secs(5));
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(50));
    }

    #[test]
    fn error_chain_includes_sources() {
        let e = EslError::Connect {
            addr: "h:1".into(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(error_chain(&e), "cannot connect to h:1: connection refused");
    }
}
