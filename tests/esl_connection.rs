//! The node and its connection against a tiny scripted FreeSWITCH on 127.0.0.1:0 that speaks
//! the real wire protocol (reference §3, §9): handshake, correlation, bgapi, broken peers.

use std::future::Future;
use std::time::Duration;

use kefu::call::{Direction, Event, EventKind};
use kefu::config::Secret;
use kefu::domain::{CallId, NodeId};
use kefu::esl::{Command, EslError, NodeHandle, NodeSettings, spawn_node};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const WAIT: Duration = Duration::from_secs(30);
const A: &str = "6b2f0a4c-1f0e-4d8e-9c3a-5e7d2b1a9f00";
const SUBSCRIBE: &str = "event json CHANNEL_PARK CHANNEL_ANSWER CHANNEL_EXECUTE_COMPLETE \
                         CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP_COMPLETE DTMF \
                         BACKGROUND_JOB HEARTBEAT";

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// One accepted connection of the scripted FreeSWITCH.
struct Peer {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Peer {
    async fn accept(listener: &TcpListener) -> Peer {
        let (stream, _) = within("a connection", listener.accept())
            .await
            .expect("accept");
        let (read, write) = stream.into_split();
        Peer {
            read: BufReader::new(read),
            write,
        }
    }

    /// One client command: its lines up to the empty line, joined with `\n`.
    async fn command(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = within("a command", self.read.read_line(&mut line))
                .await
                .expect("read");
            assert!(n > 0, "client closed while a command was expected");
            let line = line.trim_end_matches('\n').to_owned();
            if line.is_empty() {
                return lines.join("\n");
            }
            lines.push(line);
        }
    }

    async fn send(&mut self, bytes: &str) {
        self.write.write_all(bytes.as_bytes()).await.expect("write");
    }

    /// Plays FreeSWITCH's side of auth, subscribe and `show channels as json`.
    async fn handshake(&mut self, channels: &str) {
        self.send("Content-Type: auth/request\n\n").await;
        assert_eq!(self.command().await, "auth ClueCon");
        self.send(&reply("+OK accepted")).await;
        assert_eq!(self.command().await, SUBSCRIBE);
        self.send(&reply("+OK event listener enabled json")).await;
        assert_eq!(self.command().await, "api show channels as json");
        self.send(&api_response(channels)).await;
    }

    /// Waits until the client closes the socket.
    async fn closed(&mut self) {
        let mut rest = Vec::new();
        within(
            "the client to close",
            tokio::io::AsyncReadExt::read_to_end(&mut self.read, &mut rest),
        )
        .await
        .expect("read to end");
    }
}

fn reply(text: &str) -> String {
    format!("Content-Type: command/reply\nReply-Text: {text}\n\n")
}

fn api_response(body: &str) -> String {
    format!(
        "Content-Type: api/response\nContent-Length: {}\n\n{body}",
        body.len()
    )
}

fn json_event(json: &str) -> String {
    format!(
        "Content-Length: {}\nContent-Type: text/event-json\n\n{json}",
        json.len()
    )
}

fn park_event(uuid: &str) -> String {
    json_event(&format!(
        r#"{{"Event-Name":"CHANNEL_PARK","Core-UUID":"c0","Event-Date-Timestamp":"1715674867482913","Unique-ID":"{uuid}","Call-Direction":"inbound","Caller-Caller-ID-Number":"+15551234567","Caller-Caller-ID-Name":"ACME","Caller-Destination-Number":"8005550100"}}"#
    ))
}

fn job_event(job: &str, body: &str) -> String {
    json_event(&format!(
        r#"{{"Event-Name":"BACKGROUND_JOB","Job-UUID":"{job}","Job-Command":"originate","Content-Length":"{}","_body":"{}"}}"#,
        body.len(),
        body.replace('\n', "\\n")
    ))
}

const NO_CHANNELS: &str = "{\"row_count\": 0}\n";

struct Harness {
    listener: TcpListener,
    node: NodeHandle,
    events: mpsc::Receiver<Event>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Harness {
    async fn start(tune: impl FnOnce(&mut NodeSettings)) -> Harness {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut settings = NodeSettings::new(
            NodeId::new("fs1"),
            "127.0.0.1",
            port,
            Secret::new("ClueCon"),
        );
        tune(&mut settings);
        Self::spawn(listener, settings)
    }

    fn spawn(listener: TcpListener, settings: NodeSettings) -> Harness {
        let (tx, events) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let node = spawn_node(settings, tx, cancel.clone(), &tracker);
        Harness {
            listener,
            node,
            events,
            cancel,
            tracker,
        }
    }

    async fn event(&mut self) -> EventKind {
        within("an event", self.events.recv())
            .await
            .expect("event channel open")
            .kind
    }

    async fn connected(&mut self) -> Peer {
        let mut peer = Peer::accept(&self.listener).await;
        peer.handshake(NO_CHANNELS).await;
        assert!(matches!(
            self.event().await,
            EventKind::NodeConnected { .. }
        ));
        peer
    }

    async fn disconnected(&mut self) -> String {
        match self.event().await {
            EventKind::NodeDisconnected { reason } => reason,
            other => panic!("expected NodeDisconnected, got {other:?}"),
        }
    }

    async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        within("the node to stop", self.tracker.wait()).await;
    }
}

#[tokio::test]
async fn node_authenticates_subscribes_reconciles_and_forwards_events() {
    let mut h = Harness::start(|_| {}).await;
    assert!(!h.node.status().connected);
    let mut peer = Peer::accept(&h.listener).await;
    let listing = format!(
        r#"{{"row_count":1,"rows":[{{"uuid":"{A}","direction":"inbound","cid_num":"+15551234567","dest":"8005550100","application":"park","callstate":"ACTIVE"}}]}}"#
    );
    peer.handshake(&listing).await;
    let EventKind::NodeConnected { channels, .. } = h.event().await else {
        panic!("expected NodeConnected")
    };
    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0].channel, CallId::parse(A).expect("uuid"));
    assert_eq!(channels[0].direction, Direction::Inbound);
    assert!(h.node.status().connected);
    assert!(h.node.status().since.is_some());

    peer.send(&park_event(A)).await;
    let EventKind::ChannelParked {
        channel,
        caller_number,
        destination,
        ..
    } = h.event().await
    else {
        panic!("expected ChannelParked")
    };
    assert_eq!(channel, CallId::parse(A).expect("uuid"));
    assert_eq!(caller_number, "+15551234567");
    assert_eq!(destination, "8005550100");
    assert_eq!(h.node.status().events_received, 1);

    drop(peer);
    let reason = h.disconnected().await;
    assert!(reason.contains("closed"), "{reason}");
    let status = h.node.status();
    assert!(!status.connected);
    assert_eq!(status.reconnects, 1);
    // And it comes back.
    let _peer = h.connected().await;
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn wrong_password_is_reported_and_retried_with_backoff() {
    let mut h = Harness::start(|s| s.password = Secret::new("wrong")).await;
    let mut peer = Peer::accept(&h.listener).await;
    peer.send("Content-Type: auth/request\n\n").await;
    assert_eq!(peer.command().await, "auth wrong");
    peer.send(&reply("-ERR invalid")).await;
    peer.send(
        "Content-Type: text/disconnect-notice\nContent-Length: 67\n\n\
         Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n",
    )
    .await;
    drop(peer);
    let rejected_at = kefu::clock::monotonic();
    let mut second = Peer::accept(&h.listener).await;
    assert!(
        rejected_at.elapsed() >= Duration::from_millis(50),
        "no backoff"
    );
    let status = h.node.status();
    assert!(!status.connected);
    assert!(status.reconnects >= 1);
    let last = status.last_error.expect("an error");
    assert!(
        last.contains("authentication rejected: -ERR invalid"),
        "{last}"
    );
    assert!(!last.contains("wrong"), "password leaked into {last}");
    // No NodeConnected (nor NodeDisconnected) for a session that never came up.
    assert!(h.events.try_recv().is_err());
    second.send("Content-Type: auth/request\n\n").await;
    assert_eq!(second.command().await, "auth wrong");
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn refused_connection_is_retried_with_backoff_until_the_node_is_up() {
    let probe = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = probe.local_addr().expect("addr").port();
    drop(probe);
    let started = kefu::clock::monotonic();
    let settings = NodeSettings::new(
        NodeId::new("fs1"),
        "127.0.0.1",
        port,
        Secret::new("ClueCon"),
    );
    let (tx, mut events) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let node = spawn_node(settings, tx, cancel.clone(), &tracker);
    // Let a few attempts fail (virtual time advances through the backoff sleeps).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let status = node.status();
    assert!(status.reconnects >= 2, "{status:?}");
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("cannot connect")),
        "{status:?}"
    );
    // Exponential: 1 s of backoff holds only a handful of attempts, not thousands.
    assert!(status.reconnects < 12, "{status:?}");
    assert!(matches!(
        node.send(Command::Hangup {
            channel: CallId::parse(A).expect("uuid"),
            cause: "NORMAL_CLEARING".into()
        }),
        Err(EslError::NotConnected)
    ));
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("rebind");
    let mut peer = Peer::accept(&listener).await;
    peer.handshake(NO_CHANNELS).await;
    let event = within("NodeConnected", events.recv()).await.expect("open");
    assert!(matches!(event.kind, EventKind::NodeConnected { .. }));
    assert!(started.elapsed() >= Duration::from_secs(1));
    cancel.cancel();
    tracker.close();
    within("stop", tracker.wait()).await;
}

#[tokio::test]
async fn api_replies_are_matched_to_commands_in_order() {
    let mut h = Harness::start(|_| {}).await;
    let mut peer = h.connected().await;
    let node = h.node.clone();
    let first = tokio::spawn({
        let node = node.clone();
        async move { node.api("uuid_exists", A).await }
    });
    assert_eq!(peer.command().await, format!("api uuid_exists {A}"));
    let second = tokio::spawn({
        let node = node.clone();
        async move { node.api("uuid_kill", "nobody").await }
    });
    assert_eq!(peer.command().await, "api uuid_kill nobody");
    // An event between the replies goes to the event stream, not to a reply slot.
    peer.send(&api_response("true")).await;
    peer.send(&park_event(A)).await;
    peer.send(&api_response("-ERR No such channel!\n")).await;
    let first = within("first reply", first).await.expect("join");
    assert_eq!(first.expect("ok"), "true");
    let second = within("second reply", second).await.expect("join");
    match second {
        Err(EslError::CommandFailed { command, reply }) => {
            assert_eq!(command, "uuid_kill");
            assert_eq!(reply, "-ERR No such channel!\n");
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    assert!(matches!(h.event().await, EventKind::ChannelParked { .. }));
    drop(peer);
    h.shutdown().await;
}

#[tokio::test]
async fn bgapi_resolves_when_its_job_arrives_after_unrelated_events() {
    let mut h = Harness::start(|_| {}).await;
    let mut peer = h.connected().await;
    let node = h.node.clone();
    let call = tokio::spawn(async move { node.bgapi("originate", "user/1001 &park()").await });
    let command = peer.command().await;
    let (line, header) = command.split_once('\n').expect("two lines");
    assert_eq!(line, "bgapi originate user/1001 &park()");
    let job = header.strip_prefix("Job-UUID: ").expect("Job-UUID header");
    assert!(uuid::Uuid::parse_str(job).is_ok());
    peer.send(&format!(
        "Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n"
    ))
    .await;
    let other_job = "11111111-2222-4333-8444-555555555555";
    peer.send(&park_event(A)).await;
    peer.send(&job_event(other_job, "+OK other\n")).await;
    peer.send(&job_event(
        job,
        "+OK 2c8e7f10-44aa-4b3b-9e21-7d5f3a6b8c02\n",
    ))
    .await;
    let body = within("the job", call).await.expect("join").expect("ok");
    assert_eq!(body, "+OK 2c8e7f10-44aa-4b3b-9e21-7d5f3a6b8c02\n");
    // The unrelated events still reach the engine, in order.
    assert!(matches!(h.event().await, EventKind::ChannelParked { .. }));
    match h.event().await {
        EventKind::JobCompleted { job, body } => {
            assert_eq!(job.to_string(), other_job);
            assert_eq!(body, "+OK other\n");
        }
        other => panic!("expected JobCompleted, got {other:?}"),
    }
    drop(peer);
    h.shutdown().await;
}

#[tokio::test]
async fn engine_commands_are_written_exactly_and_err_replies_become_command_failed() {
    let mut h = Harness::start(|_| {}).await;
    let mut peer = h.connected().await;
    let channel = CallId::parse(A).expect("uuid");
    let app_uuid = uuid::Uuid::new_v4();
    h.node
        .send(Command::Execute {
            channel,
            app: "playback".into(),
            arg: "ivr/welcome.wav".into(),
            event_uuid: app_uuid,
        })
        .expect("queued");
    let job = uuid::Uuid::new_v4();
    h.node
        .send(Command::Bgapi {
            job,
            command: "originate",
            args: "user/1001 &park()".into(),
        })
        .expect("queued");
    assert_eq!(
        peer.command().await,
        format!(
            "sendmsg {A}\ncall-command: execute\nexecute-app-name: playback\n\
             execute-app-arg: ivr/welcome.wav\nevent-lock: true\nevent-uuid: {app_uuid}"
        )
    );
    assert_eq!(
        peer.command().await,
        format!("bgapi originate user/1001 &park()\nJob-UUID: {job}")
    );
    peer.send(&reply(&format!("-ERR invalid session id [{A}]")))
        .await;
    peer.send(&format!(
        "Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n"
    ))
    .await;
    peer.send(&job_event(&job.to_string(), "-ERR NO_ANSWER\n"))
        .await;
    assert_eq!(
        h.event().await,
        EventKind::CommandFailed {
            channel: Some(channel),
            command: "sendmsg",
            reply: format!("-ERR invalid session id [{A}]"),
        }
    );
    assert_eq!(
        h.event().await,
        EventKind::JobCompleted {
            job,
            body: "-ERR NO_ANSWER\n".into()
        }
    );
    assert!(matches!(
        h.node.send(Command::Hangup {
            channel,
            cause: "NORMAL\nCLEARING".into()
        }),
        Err(EslError::UnsafeArgument { .. })
    ));
    drop(peer);
    h.shutdown().await;
}

/// A burst of commands while FreeSWITCH reads none (a busy switch) waits in order: none is
/// refused. At 1,024 queued commands the rest were dropped, and calls were left stuck.
#[tokio::test]
async fn a_burst_of_commands_waits_for_a_slow_switch_in_order() {
    let mut h = Harness::start(|_| {}).await;
    let mut peer = h.connected().await;
    let jobs: Vec<uuid::Uuid> = (0..5_000).map(|_| uuid::Uuid::new_v4()).collect();
    for &job in &jobs {
        let command = Command::Bgapi {
            job,
            command: "originate",
            args: "{origination_uuid=x,originate_timeout=20}user/1001 &park()".into(),
        };
        h.node.send(command).expect("queued");
    }
    for job in &jobs {
        let command = peer.command().await;
        assert!(command.ends_with(&format!("Job-UUID: {job}")), "{command}");
    }
    drop(peer);
    h.shutdown().await;
}

#[tokio::test]
async fn oversized_frame_drops_the_connection_and_it_is_reestablished() {
    let mut h = Harness::start(|s| s.max_frame_bytes = 4096).await;
    let mut peer = h.connected().await;
    peer.send("Content-Type: api/response\nContent-Length: 100000\n\n")
        .await;
    let reason = h.disconnected().await;
    assert!(reason.contains("exceeds the 4096-byte limit"), "{reason}");
    peer.closed().await;
    let _again = h.connected().await;
    h.shutdown().await;
}

#[tokio::test]
async fn garbage_bytes_drop_the_connection_and_it_is_reestablished() {
    let mut h = Harness::start(|_| {}).await;
    let mut peer = h.connected().await;
    peer.send("HTTP/1.1 400 Bad Request\n\n").await;
    let reason = h.disconnected().await;
    assert!(reason.contains("malformed header line"), "{reason}");
    peer.closed().await;
    let _again = h.connected().await;
    h.shutdown().await;
}

#[tokio::test]
async fn disconnect_notice_ends_the_session() {
    let mut h = Harness::start(|_| {}).await;
    let mut peer = h.connected().await;
    peer.send(
        "Content-Type: text/disconnect-notice\nContent-Length: 39\n\n\
         killed listener because of lost events\n",
    )
    .await;
    let reason = h.disconnected().await;
    assert!(reason.contains("killed listener"), "{reason}");
    let _again = h.connected().await;
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn reply_timeout_breaks_the_connection_and_fails_the_caller() {
    let mut h = Harness::start(|s| s.reply_timeout = Duration::from_secs(5)).await;
    let mut peer = h.connected().await;
    let node = h.node.clone();
    let call = tokio::spawn(async move { node.api("status", "").await });
    assert_eq!(peer.command().await, "api status");
    let result = within("the timeout", call).await.expect("join");
    assert!(
        matches!(
            result,
            Err(EslError::ReplyTimeout {
                command: "status",
                ..
            })
        ),
        "{result:?}"
    );
    let reason = h.disconnected().await;
    assert!(reason.contains("no reply to `status`"), "{reason}");
    // The broken connection is closed, not reused.
    peer.closed().await;
    let _again = h.connected().await;
    h.shutdown().await;
}

#[tokio::test]
async fn heartbeat_silence_breaks_the_connection() {
    // Real time (1 s): the timeout must not fire while frames keep coming, and must fire
    // after a second of silence.
    let mut h = Harness::start(|s| s.heartbeat_timeout = Duration::from_secs(1)).await;
    let mut peer = h.connected().await;
    peer.send(&json_event(
        r#"{"Event-Name":"HEARTBEAT","Core-UUID":"c0"}"#,
    ))
    .await;
    assert_eq!(h.event().await, EventKind::Heartbeat);
    let last_frame = kefu::clock::monotonic();
    let reason = h.disconnected().await;
    assert!(
        reason.contains("no frame from FreeSWITCH within 1s"),
        "{reason}"
    );
    assert!(
        last_frame.elapsed() >= Duration::from_millis(900),
        "{:?}",
        last_frame.elapsed()
    );
    peer.closed().await;
    h.shutdown().await;
}
