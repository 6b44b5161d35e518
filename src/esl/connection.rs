//! One authenticated event socket: a writer task, the read loop (read -> frame -> classify ->
//! dispatch), the reply FIFO and the bgapi Job-UUID map (reference §3 "Ordering and
//! correlation").
//!
//! Replies carry no ids: every command gets exactly one reply, in order. So each command's
//! reply slot is pushed under the same lock as the hand-off of its bytes to the writer, and
//! `command/reply` / `api/response` complete the oldest slot. A reply that does not come in
//! time leaves the correlation unknown: the connection is dropped, never used again.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::call::{self, EventKind};
use crate::clock;
use crate::domain::{CallId, NodeId};
use crate::esl::command::{self, Command};
use crate::esl::error::EslError;
use crate::esl::event::{EslEvent, Incoming, classify};
use crate::esl::frame::FrameDecoder;
use crate::esl::translate::{self, TranslateStats};

/// The read half of a socket, cut into frames.
pub type FrameReader = FramedRead<OwnedReadHalf, FrameDecoder>;

/// Timeouts and sizes of one connection.
#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    /// How long a command may wait for its reply before the connection is declared broken.
    pub reply_timeout: Duration,
    /// How long the socket may stay silent (HEARTBEAT comes every 20 s) before it is dropped.
    pub heartbeat_timeout: Duration,
    /// How long `bgapi` waits for its BACKGROUND_JOB.
    pub job_timeout: Duration,
    /// Commands waiting to be written; `send` fails when full.
    pub write_queue: usize,
}

/// Commands a connection holds while FreeSWITCH is slow to read them: about three seconds
/// of the product's peak (2,000 new calls a second, ten commands each), some 20 MiB at
/// most. A command refused when it is full is lost, and with it the call it moves on (a
/// `hangup` not sent leaves the caller waiting): at 1,024 an overloaded load test lost
/// commands and left calls stuck (BENCHMARKS.md, "Commands dropped at 1,000 calls/s").
pub const WRITE_QUEUE: usize = 65_536;

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            reply_timeout: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(60),
            job_timeout: Duration::from_secs(60),
            write_queue: WRITE_QUEUE,
        }
    }
}

/// Where a connection delivers what it reads: the engine's event channel, plus counters.
#[derive(Clone, Debug)]
pub struct EventSink {
    /// This node's name, stamped on every event.
    pub node: NodeId,
    /// The engine's input.
    pub events: mpsc::Sender<call::Event>,
    /// Translation counters.
    pub stats: Arc<TranslateStats>,
    /// Events read off the socket (before translation).
    pub received: Arc<AtomicU64>,
}

impl EventSink {
    async fn deliver(
        &self,
        event: call::Event,
        cancel: &CancellationToken,
    ) -> Result<(), EslError> {
        tokio::select! {
            sent = self.events.send(event) => sent.map_err(|_| EslError::EventSinkClosed),
            () = cancel.cancelled() => Ok(()),
        }
    }

    /// Counts, translates and delivers one event.
    ///
    /// # Errors
    /// `EventSinkClosed` when the engine is gone.
    pub async fn forward(
        &self,
        event: &EslEvent,
        received: Instant,
        cancel: &CancellationToken,
    ) -> Result<(), EslError> {
        self.received.fetch_add(1, Ordering::Relaxed);
        match translate::translate(event, &self.node, received, &self.stats) {
            Some(event) => self.deliver(event, cancel).await,
            None => Ok(()),
        }
    }
}

/// A handle on one live connection. Cheap to clone; all clones share the FIFO.
#[derive(Clone, Debug)]
pub struct Connection {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    writer: mpsc::Sender<Bytes>,
    settings: ConnectionSettings,
    /// Cancelled when the connection is dead (read loop ended or write failed).
    dead: CancellationToken,
    /// Wakes the read loop when a reply slot is pushed, so it re-arms its reply deadline.
    pushed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    closed: bool,
    pending: VecDeque<Slot>,
    jobs: HashMap<uuid::Uuid, oneshot::Sender<String>>,
}

#[derive(Debug)]
struct Slot {
    command: &'static str,
    sent_at: Instant,
    waiter: Waiter,
}

#[derive(Debug)]
enum Waiter {
    /// An awaited `api`/`bgapi`.
    Caller(oneshot::Sender<Result<Reply, EslError>>),
    /// Fire-and-forget from the engine: a `-ERR` becomes `EventKind::CommandFailed`.
    Engine { channel: Option<CallId> },
}

#[derive(Debug)]
enum Reply {
    Command(String),
    Api(Bytes),
}

impl Reply {
    fn text(self) -> String {
        match self {
            Reply::Command(text) => text,
            Reply::Api(body) => String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

/// `-ERR …` or `-USAGE …`: FreeSWITCH's only error signal (reference §8).
fn is_failure(text: &str) -> bool {
    text.starts_with("-ERR") || text.starts_with("-USAGE")
}

impl Connection {
    /// Starts the writer task for `write` and returns the handle; call [`Connection::run`]
    /// with the read half to read.
    pub fn start(
        write: OwnedWriteHalf,
        settings: ConnectionSettings,
        cancel: &CancellationToken,
        tracker: &TaskTracker,
    ) -> Self {
        let (tx, rx) = mpsc::channel(settings.write_queue.max(1));
        let dead = cancel.child_token();
        tracker.spawn(write_loop(write, rx, dead.clone()).in_current_span());
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                writer: tx,
                settings,
                dead,
                pushed: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Runs `api <command> <args>` and returns its output.
    ///
    /// # Errors
    /// `CommandFailed` when the output starts with `-ERR`/`-USAGE`; `UnsafeArgument`;
    /// `QueueFull`; `NotConnected`; `ReplyTimeout` or `ConnectionClosed` when the connection
    /// died before the reply.
    pub async fn api(&self, command: &'static str, args: &str) -> Result<String, EslError> {
        let wire = command::api(command, args)?;
        let (tx, rx) = oneshot::channel();
        self.enqueue(wire, command, Waiter::Caller(tx), None)?;
        let text = await_reply(rx).await?.text();
        if is_failure(&text) {
            return Err(EslError::CommandFailed {
                command,
                reply: text,
            });
        }
        Ok(text)
    }

    /// Runs `bgapi <command> <args>` with a fresh Job-UUID and returns the BACKGROUND_JOB
    /// body. The job is registered before the command is written, so it resolves whatever
    /// arrives in between.
    ///
    /// # Errors
    /// As [`Connection::api`], plus `JobTimeout` when the job does not finish in time and
    /// `CommandFailed` when the job's output starts with `-ERR`/`-USAGE`.
    pub async fn bgapi(&self, command: &'static str, args: &str) -> Result<String, EslError> {
        let job = uuid::Uuid::new_v4();
        let wire = command::bgapi(command, args, job)?;
        let (tx, rx) = oneshot::channel();
        let (job_tx, job_rx) = oneshot::channel();
        self.enqueue(wire, command, Waiter::Caller(tx), Some((job, job_tx)))?;
        let reply = await_reply(rx).await.map(Reply::text);
        let reply = match reply {
            Ok(text) if is_failure(&text) => Err(EslError::CommandFailed {
                command,
                reply: text,
            }),
            other => other,
        };
        if let Err(e) = reply {
            self.lock().jobs.remove(&job);
            return Err(e);
        }
        let waited = self.shared.settings.job_timeout;
        let body = match tokio::time::timeout(waited, job_rx).await {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => return Err(EslError::ConnectionClosed),
            Err(_) => {
                self.lock().jobs.remove(&job);
                return Err(EslError::JobTimeout {
                    command,
                    job,
                    waited,
                });
            }
        };
        if is_failure(&body) {
            return Err(EslError::CommandFailed {
                command,
                reply: body,
            });
        }
        Ok(body)
    }

    /// Queues a command from the engine without waiting. A `-ERR` reply is reported as
    /// `EventKind::CommandFailed`; a bgapi's BACKGROUND_JOB arrives as `JobCompleted`.
    ///
    /// # Errors
    /// `UnsafeArgument`, `QueueFull` (never blocks), `NotConnected` when the connection died.
    pub fn send(&self, cmd: &Command) -> Result<(), EslError> {
        let wire = cmd.to_wire()?;
        let channel = cmd.channel();
        let word = match cmd {
            Command::Execute { .. } | Command::Hangup { .. } => "sendmsg",
            Command::Api { command, .. } | Command::Bgapi { command, .. } => command,
        };
        self.enqueue(wire, word, Waiter::Engine { channel }, None)
    }

    /// Whether the connection has died (it must not be used again).
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Marks the connection dead, fails every waiter and stops the writer.
    pub fn close(&self, reason: &EslError) {
        let (pending, jobs) = {
            let mut state = self.lock();
            state.closed = true;
            (
                std::mem::take(&mut state.pending),
                std::mem::take(&mut state.jobs),
            )
        };
        drop(jobs);
        for slot in pending {
            if let Waiter::Caller(tx) = slot.waiter {
                let _ = tx.send(Err(waiter_error(reason, slot.command)));
            }
        }
        self.shared.dead.cancel();
    }

    /// Reads until the connection ends: dispatches replies to their slots and events to the
    /// sink. Returns `Ok` only when `cancel` fired; the connection is closed either way.
    ///
    /// # Errors
    /// Why the connection ended (EOF, bad frame, reply or heartbeat timeout, disconnect
    /// notice, write failure).
    pub async fn run(
        &self,
        mut reader: FrameReader,
        sink: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<(), EslError> {
        let result = self.read_loop(&mut reader, sink, cancel).await;
        match &result {
            Ok(()) => self.close(&EslError::ConnectionClosed),
            Err(e) => self.close(e),
        }
        result
    }

    async fn read_loop(
        &self,
        reader: &mut FrameReader,
        sink: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<(), EslError> {
        let mut last_read = clock::monotonic();
        loop {
            let (deadline, timeout) = self.next_deadline(last_read);
            // Biased: a frame that is already there wins over a deadline passing meanwhile.
            let frame = tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok(()),
                () = self.shared.dead.cancelled() => {
                    return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe).into());
                }
                frame = reader.next() => frame,
                () = self.shared.pushed.notified() => continue,
                () = tokio::time::sleep_until(deadline) => return Err(timeout),
            };
            let frame = match frame {
                None => return Err(EslError::ConnectionClosed),
                Some(frame) => frame?,
            };
            last_read = clock::monotonic();
            tracing::trace!(
                esl.content_type = frame.content_type().unwrap_or_default(),
                esl.body_len = frame.body.as_ref().map_or(0, Bytes::len),
                "frame read"
            );
            self.dispatch(classify(frame)?, last_read, sink, cancel)
                .await?;
        }
    }

    /// The earliest of: the oldest reply's deadline, the heartbeat deadline.
    fn next_deadline(&self, last_read: Instant) -> (Instant, EslError) {
        let settings = &self.shared.settings;
        let heartbeat = last_read + settings.heartbeat_timeout;
        let state = self.lock();
        match state.pending.front() {
            Some(slot) if slot.sent_at + settings.reply_timeout < heartbeat => (
                slot.sent_at + settings.reply_timeout,
                EslError::ReplyTimeout {
                    command: slot.command,
                    waited: settings.reply_timeout,
                },
            ),
            _ => (
                heartbeat,
                EslError::HeartbeatTimeout {
                    waited: settings.heartbeat_timeout,
                },
            ),
        }
    }

    /// Routes one classified frame. Events before [`Connection::run`] (read during the
    /// handshake) go through [`EventSink::forward`] directly.
    async fn dispatch(
        &self,
        incoming: Incoming,
        received: Instant,
        sink: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<(), EslError> {
        match incoming {
            Incoming::CommandReply(text, headers) => {
                drop(headers);
                self.complete(Reply::Command(text), sink, cancel).await
            }
            Incoming::ApiResponse(body) => self.complete(Reply::Api(body), sink, cancel).await,
            Incoming::Event(event) => self.on_event(&event, received, sink, cancel).await,
            Incoming::DisconnectNotice { linger: true, .. } => {
                tracing::info!("linger notice received");
                Ok(())
            }
            Incoming::DisconnectNotice {
                linger: false,
                body,
            } => Err(EslError::DisconnectNotice {
                body: String::from_utf8_lossy(&body).trim_end().to_owned(),
            }),
            Incoming::RudeRejection => Err(EslError::RudeRejection),
            Incoming::AuthRequest => Err(EslError::UnexpectedFrame {
                expected: "a reply or an event",
                got: "auth/request".into(),
            }),
            Incoming::Log(_) => Ok(()),
            Incoming::Unsupported { content_type } => {
                tracing::debug!(esl.content_type = ?content_type, "unsupported frame ignored");
                Ok(())
            }
        }
    }

    async fn complete(
        &self,
        reply: Reply,
        sink: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<(), EslError> {
        let slot = self.lock().pending.pop_front();
        let Some(slot) = slot else {
            return Err(EslError::UnexpectedFrame {
                expected: "no reply (no command pending)",
                got: "command/reply or api/response".into(),
            });
        };
        match slot.waiter {
            Waiter::Caller(tx) => {
                let _ = tx.send(Ok(reply));
                Ok(())
            }
            Waiter::Engine { channel } => {
                let text = reply.text();
                if !is_failure(&text) {
                    return Ok(());
                }
                tracing::debug!(esl.command = slot.command, esl.reply = %text.trim_end(), "command failed");
                let event = call::Event {
                    node: sink.node.clone(),
                    at: clock::now(),
                    received: clock::monotonic(),
                    kind: EventKind::CommandFailed {
                        channel,
                        command: slot.command,
                        reply: text,
                    },
                };
                sink.deliver(event, cancel).await
            }
        }
    }

    async fn on_event(
        &self,
        event: &EslEvent,
        received: Instant,
        sink: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<(), EslError> {
        if let Some(job) = translate::background_job_id(event) {
            let waiter = self.lock().jobs.remove(&job);
            if let Some(tx) = waiter {
                sink.received.fetch_add(1, Ordering::Relaxed);
                let body = event.body_text().unwrap_or_default().into_owned();
                let _ = tx.send(body);
                return Ok(());
            }
        }
        sink.forward(event, received, cancel).await
    }

    /// Hands the bytes to the writer and pushes the reply slot in one critical section, so
    /// the FIFO order is the write order (STYLE §3 "Concurrency").
    fn enqueue(
        &self,
        wire: Bytes,
        command: &'static str,
        waiter: Waiter,
        job: Option<(uuid::Uuid, oneshot::Sender<String>)>,
    ) -> Result<(), EslError> {
        let mut state = self.lock();
        if state.closed {
            return Err(EslError::NotConnected);
        }
        let wire_log = wire.clone();
        match self.shared.writer.try_send(wire) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                return Err(EslError::QueueFull {
                    capacity: self.shared.settings.write_queue,
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(EslError::NotConnected),
        }
        // Passwords never go through here (auth is written by the handshake), so the wire
        // text can be logged as is.
        if tracing::enabled!(tracing::Level::TRACE) {
            tracing::trace!(esl.command = command, esl.wire = %String::from_utf8_lossy(&wire_log), "command queued");
        }
        if let Some((id, tx)) = job {
            state.jobs.insert(id, tx);
        }
        state.pending.push_back(Slot {
            command,
            sent_at: clock::monotonic(),
            waiter,
        });
        if state.pending.len() == 1 {
            self.shared.pushed.notify_one();
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the FIFO half-updated in a way that
        // matters more than losing the connection, so recover the guard.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn await_reply(rx: oneshot::Receiver<Result<Reply, EslError>>) -> Result<Reply, EslError> {
    rx.await.unwrap_or(Err(EslError::ConnectionClosed))
}

/// What a waiting caller is told when the connection dies under it.
fn waiter_error(reason: &EslError, command: &'static str) -> EslError {
    match reason {
        EslError::ReplyTimeout { waited, .. } => EslError::ReplyTimeout {
            command,
            waited: *waited,
        },
        _ => EslError::ConnectionClosed,
    }
}

async fn write_loop(
    mut write: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Bytes>,
    dead: CancellationToken,
) {
    loop {
        let wire = tokio::select! {
            () = dead.cancelled() => break,
            wire = rx.recv() => wire,
        };
        let Some(wire) = wire else { break };
        if let Err(error) = write.write_all(&wire).await {
            tracing::debug!(%error, "socket write failed");
            dead.cancel();
            break;
        }
    }
    let _ = write.shutdown().await;
}
