//! Wire tests for `sim::FakeFreeswitch`: a raw TCP client with its own small frame parser
//! (independent of both `sim::wire` and `crate::esl`) checks the bytes against
//! `reference/freeswitch-esl.md` and against the real FreeSWITCH 1.10.12 captures.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kefu::sim::{CallerScript, FakeFreeswitch, PhoneBehavior, SimCallOutcome, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

fn fast_config() -> SimConfig {
    SimConfig {
        time_scale: 0.001,
        heartbeat_interval: Duration::from_secs(3600),
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> FakeFreeswitch {
    let bind: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    within("start", FakeFreeswitch::start(bind, config))
        .await
        .expect("bind")
}

/// One frame as the test's own parser sees it.
#[derive(Debug, Clone)]
struct Frame {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Frame {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn content_type(&self) -> &str {
        self.header("Content-Type").unwrap_or("")
    }
    fn is_reply(&self) -> bool {
        matches!(self.content_type(), "command/reply" | "api/response")
    }
    /// The event inside a text/event-plain or text/event-json frame.
    fn event(&self) -> Option<Ev> {
        match self.content_type() {
            "text/event-plain" => Some(parse_plain(&self.body)),
            "text/event-json" => Some(parse_json(&self.body)),
            _ => None,
        }
    }
}

/// An event's headers in wire order (duplicates kept) and its body.
#[derive(Debug, Clone)]
struct Ev {
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Ev {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn name(&self) -> &str {
        self.get("Event-Name").unwrap_or("")
    }
    fn uuid(&self) -> &str {
        self.get("Unique-ID").unwrap_or("")
    }
    /// Header names before the first `variable_` (core + early + channel data).
    fn head_names(&self) -> Vec<String> {
        self.headers
            .iter()
            .map(|(n, _)| n.clone())
            .take_while(|n| !n.starts_with("variable_"))
            .collect()
    }
}

fn split_block(block: &str) -> Vec<(String, String)> {
    block
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("header line without ': ': {l:?}"));
            (n.to_string(), v.to_string())
        })
        .collect()
}

fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_plain(body: &[u8]) -> Ev {
    let text = std::str::from_utf8(body).expect("plain event is UTF-8");
    let (head, rest) = text
        .split_once("\n\n")
        .expect("plain event ends its headers with a blank line");
    let mut headers: Vec<(String, String)> = split_block(head)
        .into_iter()
        .map(|(n, v)| (n, url_decode(&v)))
        .collect();
    let mut event_body = None;
    if let Some(pos) = headers.iter().position(|(n, _)| n == "Content-Length") {
        let len: usize = headers[pos]
            .1
            .parse()
            .expect("inner Content-Length is a number");
        assert_eq!(rest.len(), len, "inner Content-Length must be exact");
        event_body = Some(rest.to_string());
        headers.remove(pos);
    } else {
        assert!(
            rest.is_empty(),
            "bytes after a plain event without body: {rest:?}"
        );
    }
    Ev {
        headers,
        body: event_body,
    }
}

/// JSON object to ordered (name, value) pairs, keeping duplicates.
fn parse_json(body: &[u8]) -> Ev {
    struct Ordered(Vec<(String, serde_json::Value)>);
    impl<'de> serde::Deserialize<'de> for Ordered {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Ordered;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Ordered, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                        out.push((k, v));
                    }
                    Ok(Ordered(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    assert!(!body.contains(&b'\n'), "a JSON event is one line");
    let Ordered(pairs) = serde_json::from_slice(body).expect("JSON event parses");
    let mut headers = Vec::new();
    let mut event_body = None;
    for (k, v) in pairs {
        let value = match v {
            serde_json::Value::String(s) => s,
            // Multi-valued variables come as arrays of strings (capture: variable_DP_MATCH).
            serde_json::Value::Array(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .unwrap_or_else(|| panic!("array of strings for {k}"))
                            .to_string()
                    })
                    .collect();
                format!("ARRAY::{}", parts.join("|:"))
            }
            other => panic!("non-string JSON value for {k}: {other}"),
        };
        if k == "_body" {
            event_body = Some(value);
        } else if k != "Content-Length" {
            headers.push((k, value));
        }
    }
    Ev {
        headers,
        body: event_body,
    }
}

/// Cuts frames out of a byte buffer; None when more bytes are needed.
fn take_frame(buf: &mut Vec<u8>) -> Option<Frame> {
    let end = buf.windows(2).position(|w| w == b"\n\n")?;
    let head = std::str::from_utf8(&buf[..end])
        .expect("outer headers are UTF-8")
        .to_string();
    let headers = split_block(&head);
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "Content-Length")
        .map_or(0, |(_, v)| v.parse().expect("Content-Length is a number"));
    if buf.len() < end + 2 + len {
        return None;
    }
    let body = buf[end + 2..end + 2 + len].to_vec();
    buf.drain(..end + 2 + len);
    let frame = Frame { headers, body };
    assert!(
        !frame.content_type().is_empty(),
        "every frame has a Content-Type: {frame:?}"
    );
    Some(frame)
}

struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    events: VecDeque<Ev>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = within("connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        let mut client = Client {
            stream,
            buf: Vec::new(),
            events: VecDeque::new(),
        };
        let first = client.frame().await;
        assert_eq!(first.content_type(), "auth/request");
        client
    }

    async fn authed(addr: SocketAddr) -> Client {
        let mut client = Client::connect(addr).await;
        let reply = client.command("auth ClueCon").await;
        assert_eq!(reply.header("Reply-Text"), Some("+OK accepted"));
        client
    }

    async fn frame(&mut self) -> Frame {
        loop {
            if let Some(frame) = take_frame(&mut self.buf) {
                return frame;
            }
            let mut chunk = [0u8; 8192];
            let n = within("a frame", self.stream.read(&mut chunk))
                .await
                .expect("read");
            assert!(n > 0, "server closed while a frame was expected");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn send(&mut self, text: &str) {
        within("write", self.stream.write_all(text.as_bytes()))
            .await
            .expect("write");
    }

    /// Sends a command and returns its reply; events read meanwhile are kept.
    async fn command(&mut self, text: &str) -> Frame {
        self.send(&format!("{text}\n\n")).await;
        self.reply().await
    }

    async fn reply(&mut self) -> Frame {
        loop {
            let frame = self.frame().await;
            if frame.is_reply() {
                return frame;
            }
            if let Some(ev) = frame.event() {
                self.events.push_back(ev);
            }
        }
    }

    async fn api(&mut self, text: &str) -> String {
        let reply = self.command(&format!("api {text}")).await;
        assert_eq!(reply.content_type(), "api/response");
        String::from_utf8(reply.body).expect("api body UTF-8")
    }

    /// The next event (kept ones first).
    async fn event(&mut self) -> Ev {
        if let Some(ev) = self.events.pop_front() {
            return ev;
        }
        loop {
            let frame = self.frame().await;
            assert!(!frame.is_reply(), "unexpected reply {frame:?}");
            if let Some(ev) = frame.event() {
                return ev;
            }
        }
    }

    /// Skips events until one named `name` (for `uuid`, when given) arrives.
    async fn until(&mut self, name: &str, uuid: Option<&str>) -> Ev {
        loop {
            let ev = self.event().await;
            if ev.name() == name && uuid.is_none_or(|u| ev.uuid() == u) {
                return ev;
            }
        }
    }

    /// Event names, in order, until (and including) `last`.
    async fn names_until(&mut self, last: &str, uuid: &str) -> Vec<String> {
        let mut names = Vec::new();
        loop {
            let ev = self.event().await;
            if ev.uuid() != uuid && ev.name() != "BACKGROUND_JOB" {
                continue;
            }
            names.push(ev.name().to_string());
            if ev.name() == last {
                return names;
            }
        }
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/esl")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn capture_events(name: &str) -> Vec<Ev> {
    let mut buf = fixture(name);
    let mut events = Vec::new();
    while let Some(frame) = take_frame(&mut buf) {
        if let Some(ev) = frame.event() {
            events.push(ev);
        }
    }
    assert!(buf.is_empty(), "capture parses to the last byte");
    events
}

fn capture_head(file: &str, event: &str) -> Vec<String> {
    capture_events(file)
        .into_iter()
        .find(|e| e.name() == event)
        .unwrap_or_else(|| panic!("{event} in {file}"))
        .head_names()
}

#[tokio::test]
async fn auth_reply_bytes_are_exact_and_a_wrong_password_is_refused_and_closed() {
    let sim = start(fast_config()).await;
    let mut stream = within("connect", TcpStream::connect(sim.addr()))
        .await
        .expect("connect");
    let mut got = vec![0u8; 28];
    within("auth/request", stream.read_exact(&mut got))
        .await
        .expect("read");
    assert_eq!(got, b"Content-Type: auth/request\n\n");
    stream.write_all(b"auth ClueCon\n\n").await.expect("write");
    let expected = b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n";
    let mut got = vec![0u8; expected.len()];
    within("accepted", stream.read_exact(&mut got))
        .await
        .expect("read");
    assert_eq!(got, expected);

    let mut stream = within("connect", TcpStream::connect(sim.addr()))
        .await
        .expect("connect");
    let mut all = Vec::new();
    stream.write_all(b"auth wrong\n\n").await.expect("write");
    within("close", stream.read_to_end(&mut all))
        .await
        .expect("read");
    let expected: &[u8] =
        b"Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: -ERR invalid\n\n\
Content-Type: text/disconnect-notice\nContent-Length: 67\n\n\
Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";
    assert_eq!(
        String::from_utf8_lossy(&all),
        String::from_utf8_lossy(expected)
    );
    assert_eq!(
        sim.commands(),
        vec!["auth ***".to_string(), "auth ***".to_string()]
    );
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn commands_before_auth_are_refused_and_exit_says_goodbye() {
    let sim = start(fast_config()).await;
    let mut c = Client::connect(sim.addr()).await;
    let reply = c.command("api status").await;
    assert_eq!(reply.header("Reply-Text"), Some("-ERR command not found"));
    assert_eq!(
        c.command("auth ClueCon").await.header("Reply-Text"),
        Some("+OK accepted")
    );
    assert_eq!(
        c.command("exit").await.header("Reply-Text"),
        Some("+OK bye")
    );
    let notice = c.frame().await;
    assert_eq!(notice.content_type(), "text/disconnect-notice");
    assert_eq!(notice.body.len(), 67);
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn parked_call_events_have_the_capture_header_order_in_json_and_plain() {
    let sim = start(fast_config()).await;
    let mut json = Client::authed(sim.addr()).await;
    let reply = json
        .command("event json CHANNEL_PARK CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB")
        .await;
    assert_eq!(
        reply.header("Reply-Text"),
        Some("+OK event listener enabled json")
    );
    let mut plain = Client::authed(sim.addr()).await;
    let reply = plain.command("event plain ALL").await;
    assert_eq!(
        reply.header("Reply-Text"),
        Some("+OK event listener enabled plain")
    );

    let call = sim.place_call(CallerScript::new("+15551234567", "8005550100").name("ACME Corp"));
    let uuid = call.to_string();
    for (client, file) in [
        (&mut json, "real-1.10.12-json-session.bin"),
        (&mut plain, "real-1.10.12-plain-session.bin"),
    ] {
        let answer = client.until("CHANNEL_ANSWER", Some(&uuid)).await;
        assert_eq!(answer.head_names(), capture_head(file, "CHANNEL_ANSWER"));
        let park = client.until("CHANNEL_PARK", Some(&uuid)).await;
        assert_eq!(park.head_names(), capture_head(file, "CHANNEL_PARK"));
        assert_eq!(park.get("Caller-Caller-ID-Number"), Some("+15551234567"));
        assert_eq!(park.get("Caller-Caller-ID-Name"), Some("ACME Corp"));
        assert_eq!(park.get("Caller-Destination-Number"), Some("8005550100"));
        assert_eq!(park.get("Call-Direction"), Some("inbound"));
        assert_eq!(park.get("variable_current_application"), Some("park"));
    }
    // The plain encoding itself: `+` and space are escaped exactly as switch_url_encode does.
    sim.hangup(call, "NORMAL_CLEARING");
    let mut raw_seen = false;
    loop {
        let frame = plain.frame().await;
        let text = String::from_utf8_lossy(&frame.body).into_owned();
        if text.contains("Caller-Caller-ID-Number: %2B15551234567\n")
            && text.contains("ACME%20Corp")
        {
            raw_seen = true;
        }
        let Some(ev) = frame.event() else { continue };
        if ev.name() == "CHANNEL_HANGUP_COMPLETE" {
            assert_eq!(
                ev.head_names(),
                capture_head("real-1.10.12-plain-session.bin", "CHANNEL_HANGUP_COMPLETE")
            );
            let causes = ev
                .headers
                .iter()
                .filter(|(n, _)| n == "Hangup-Cause")
                .count();
            assert_eq!(causes, 2, "HANGUP_COMPLETE carries Hangup-Cause twice");
            assert_eq!(ev.get("variable_hangup_cause"), Some("NORMAL_CLEARING"));
            break;
        }
    }
    assert!(raw_seen, "plain values are URL-encoded");
    let hc = json.until("CHANNEL_HANGUP_COMPLETE", Some(&uuid)).await;
    assert_eq!(
        hc.head_names(),
        capture_head("real-1.10.12-json-session.bin", "CHANNEL_HANGUP_COMPLETE")
    );
    let report = &sim.calls()[0];
    assert_eq!(
        report.outcome,
        SimCallOutcome::Abandoned {
            during: "park".into()
        }
    );
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn playback_runs_execute_playback_start_stop_and_complete_with_the_event_uuid() {
    let sim = start(fast_config()).await;
    let mut c = Client::authed(sim.addr()).await;
    c.command("event plain CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE PLAYBACK_START PLAYBACK_STOP CHANNEL_PARK").await;
    let call = sim.place_call(CallerScript::new("1000", "2000"));
    let uuid = call.to_string();
    c.until("CHANNEL_PARK", Some(&uuid)).await;
    let reply = c
        .command(&format!(
            "sendmsg {uuid}\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: ivr/welcome.wav\nevent-uuid: app-1\nevent-lock: true"
        ))
        .await;
    assert_eq!(reply.header("Reply-Text"), Some("+OK"));
    let exec = c.until("CHANNEL_EXECUTE", Some(&uuid)).await;
    assert_eq!(exec.get("Application"), Some("playback"));
    assert_eq!(exec.get("Application-Data"), Some("ivr/welcome.wav"));
    assert_eq!(exec.get("Application-UUID"), Some("app-1"));
    let start = c.event().await;
    assert_eq!(start.name(), "PLAYBACK_START");
    assert_eq!(start.get("Playback-File-Path"), Some("ivr/welcome.wav"));
    let stop = c.event().await;
    assert_eq!(stop.name(), "PLAYBACK_STOP");
    assert_eq!(stop.get("Playback-Status"), Some("done"));
    let done = c.event().await;
    assert_eq!(done.name(), "CHANNEL_EXECUTE_COMPLETE");
    assert_eq!(done.get("Application-UUID"), Some("app-1"));
    assert_eq!(done.get("Application-Response"), Some("FILE PLAYED"));
    let names: Vec<&str> = done
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .rev()
        .take(4)
        .collect();
    assert_eq!(
        names,
        vec![
            "Application-UUID",
            "Application-Response",
            "Application-Data",
            "Application"
        ]
    );

    let reply = c.command("sendmsg 00000000-0000-0000-0000-000000000000\ncall-command: execute\nexecute-app-name: park").await;
    assert_eq!(
        reply.header("Reply-Text"),
        Some("-ERR invalid session id [00000000-0000-0000-0000-000000000000]")
    );
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn play_and_get_digits_sets_the_variable_or_times_out() {
    let sim = start(fast_config()).await;
    let mut c = Client::authed(sim.addr()).await;
    c.command("event json CHANNEL_EXECUTE_COMPLETE CHANNEL_PARK DTMF")
        .await;
    let call = sim.place_call(CallerScript::new("1000", "2000").press("2#"));
    let uuid = call.to_string();
    c.until("CHANNEL_PARK", Some(&uuid)).await;
    let pagd = |id: &str| {
        format!(
            "sendmsg {uuid}\ncall-command: execute\nexecute-app-name: play_and_get_digits\n\
             execute-app-arg: 1 1 2 3000 # ivr/menu.wav ivr/invalid.wav menu_choice [1-4] 2000\nevent-uuid: {id}"
        )
    };
    c.command(&pagd("d1")).await;
    let dtmf = c.until("DTMF", Some(&uuid)).await;
    assert_eq!(dtmf.get("DTMF-Digit"), Some("2"));
    assert!(
        !dtmf.headers.iter().any(|(n, _)| n.starts_with("variable_")),
        "DTMF carries no variables"
    );
    let done = c.until("CHANNEL_EXECUTE_COMPLETE", Some(&uuid)).await;
    assert_eq!(done.get("Application-UUID"), Some("d1"));
    assert_eq!(done.get("Application-Response"), Some("_none_"));
    assert_eq!(done.get("variable_menu_choice"), Some("2"));
    assert_eq!(done.get("variable_read_result"), Some("success"));

    c.command(&pagd("d2")).await;
    let done = c.until("CHANNEL_EXECUTE_COMPLETE", Some(&uuid)).await;
    assert_eq!(done.get("Application-UUID"), Some("d2"));
    assert_eq!(done.get("variable_read_result"), Some("timeout"));
    assert_eq!(sim.calls()[0].digits_consumed, vec!["2#".to_string()]);
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn bgapi_originate_to_an_answering_phone_parks_it_then_reports_the_job() {
    let sim = start(fast_config()).await;
    sim.set_phone(
        "user/1001",
        PhoneBehavior::Answer {
            ring: Duration::from_secs(3),
            talk: Duration::from_secs(60),
        },
    );
    let mut c = Client::authed(sim.addr()).await;
    c.command(
        "event plain CHANNEL_CREATE CHANNEL_PROGRESS CHANNEL_ANSWER CHANNEL_PARK BACKGROUND_JOB",
    )
    .await;
    let b = "2c8e7f10-44aa-4b3b-9e21-7d5f3a6b8c02";
    let reply = c
        .command(&format!(
            "bgapi originate {{origination_uuid={b},originate_timeout=20,kefu_call=abc}}user/1001 &park()\nJob-UUID: job-1"
        ))
        .await;
    assert_eq!(reply.header("Reply-Text"), Some("+OK Job-UUID: job-1"));
    assert_eq!(reply.header("Job-UUID"), Some("job-1"));
    let create = c.until("CHANNEL_CREATE", Some(b)).await;
    assert_eq!(create.get("Call-Direction"), Some("outbound"));
    assert_eq!(create.get("variable_kefu_call"), Some("abc"));
    assert_eq!(create.get("variable_origination_uuid"), Some(b));
    let names = c.names_until("BACKGROUND_JOB", b).await;
    assert_eq!(
        names,
        vec![
            "CHANNEL_PROGRESS",
            "CHANNEL_ANSWER",
            "CHANNEL_PARK",
            "BACKGROUND_JOB"
        ]
    );
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn originate_failures_report_no_answer_busy_and_unregistered() {
    let sim = start(fast_config()).await;
    sim.set_phone("user/1002", PhoneBehavior::NoAnswer);
    sim.set_phone("user/1003", PhoneBehavior::Busy);
    sim.set_phone("user/1004", PhoneBehavior::Unregistered);
    let mut c = Client::authed(sim.addr()).await;
    c.command("event plain BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE")
        .await;
    c.command("bgapi originate {originate_timeout=5}user/1002 &park()\nJob-UUID: j-noanswer")
        .await;
    let hc = c.until("CHANNEL_HANGUP_COMPLETE", None).await;
    assert_eq!(hc.get("Hangup-Cause"), Some("NO_ANSWER"));
    let job = c.until("BACKGROUND_JOB", None).await;
    assert_eq!(job.get("Job-UUID"), Some("j-noanswer"));
    assert_eq!(job.get("Job-Command"), Some("originate"));
    assert_eq!(job.body.as_deref(), Some("-ERR NO_ANSWER\n"));
    assert_eq!(
        c.api("originate user/1003 &park()").await,
        "-ERR USER_BUSY\n"
    );
    assert_eq!(
        c.api("originate user/1004 &park()").await,
        "-ERR USER_NOT_REGISTERED\n"
    );
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn a_phone_that_sometimes_answers_rings_out_its_share_of_calls() {
    let sim = start(fast_config()).await;
    let phone = |missed_percent| PhoneBehavior::SometimesAnswer {
        ring: Duration::from_secs(1),
        talk: Duration::from_secs(60),
        missed_percent,
    };
    sim.set_phone("user/1005", phone(100));
    sim.set_phone("user/1006", phone(0));
    let mut c = Client::authed(sim.addr()).await;
    c.command("event plain BACKGROUND_JOB").await;
    let answered = "9a1e2f30-55bb-4c4c-8f32-8e6f4b7c9d13";
    for (endpoint, leg, result) in [
        (
            "user/1005",
            uuid::Uuid::new_v4().to_string(),
            "-ERR NO_ANSWER\n".to_string(),
        ),
        ("user/1006", answered.into(), format!("+OK {answered}\n")),
    ] {
        c.command(&format!(
            "bgapi originate {{origination_uuid={leg},originate_timeout=5}}{endpoint} &park()"
        ))
        .await;
        let job = c.until("BACKGROUND_JOB", None).await;
        assert_eq!(job.body.as_deref(), Some(result.as_str()), "{endpoint}");
    }
    within("shutdown", sim.shutdown()).await;
}

async fn bridged_pair(
    sim: &FakeFreeswitch,
    c: &mut Client,
    script: CallerScript,
    b: &str,
) -> String {
    let call = sim.place_call(script);
    let a = call.to_string();
    c.until("CHANNEL_PARK", Some(&a)).await;
    c.command(&format!(
        "bgapi originate {{origination_uuid={b}}}user/1001 &park()"
    ))
    .await;
    let job = c.until("BACKGROUND_JOB", None).await;
    assert_eq!(job.body, Some(format!("+OK {b}\n")));
    assert_eq!(
        c.api(&format!("uuid_bridge {a} {b}")).await,
        format!("+OK {b}\n")
    );
    a
}

#[tokio::test]
async fn uuid_bridge_fires_bridge_on_a_and_the_agent_hanging_up_ends_the_call() {
    let sim = start(fast_config()).await;
    sim.set_phone(
        "user/1001",
        PhoneBehavior::Answer {
            ring: Duration::from_secs(1),
            talk: Duration::from_secs(30),
        },
    );
    let mut c = Client::authed(sim.addr()).await;
    c.command("event json ALL").await;
    let b = "0b0b0b0b-0000-4000-8000-000000000001";
    let a = bridged_pair(&sim, &mut c, CallerScript::new("1000", "2000"), b).await;
    let bridge = c.until("CHANNEL_BRIDGE", None).await;
    assert_eq!(bridge.uuid(), a);
    assert_eq!(bridge.get("Bridge-A-Unique-ID"), Some(a.as_str()));
    assert_eq!(bridge.get("Bridge-B-Unique-ID"), Some(b));
    assert_eq!(bridge.get("Other-Leg-Unique-ID"), Some(b));
    let hangup_b = c.until("CHANNEL_HANGUP_COMPLETE", Some(b)).await;
    assert_eq!(hangup_b.get("Hangup-Cause"), Some("NORMAL_CLEARING"));
    let hangup_a = c.until("CHANNEL_HANGUP_COMPLETE", Some(&a)).await;
    assert_eq!(hangup_a.get("variable_last_bridge_to"), Some(b));
    assert_eq!(c.api(&format!("uuid_exists {a}")).await, "false");
    let report = &sim.calls()[0];
    assert!(
        matches!(&report.outcome, SimCallOutcome::Answered { agent_leg, .. } if agent_leg.to_string() == b)
    );
    assert!(
        sim.commands()
            .iter()
            .any(|l| l == &format!("api uuid_bridge {a} {b}"))
    );
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn agent_hangup_unbridges_and_reparks_with_park_after_bridge() {
    let sim = start(fast_config()).await;
    sim.set_phone(
        "user/1001",
        PhoneBehavior::Answer {
            ring: Duration::from_secs(1),
            talk: Duration::from_secs(30),
        },
    );
    let mut c = Client::authed(sim.addr()).await;
    c.command("event plain CHANNEL_PARK CHANNEL_UNBRIDGE CHANNEL_BRIDGE BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE").await;
    let call = sim.place_call(CallerScript::new("1000", "2000"));
    let a = call.to_string();
    c.until("CHANNEL_PARK", Some(&a)).await;
    assert_eq!(
        c.api(&format!("uuid_setvar {a} park_after_bridge true"))
            .await,
        "+OK\n"
    );
    assert_eq!(
        c.api(&format!("uuid_getvar {a} park_after_bridge")).await,
        "true"
    );
    assert_eq!(
        c.api(&format!("uuid_getvar {a} nothing_here")).await,
        "_undef_"
    );
    let b = "0b0b0b0b-0000-4000-8000-000000000002";
    c.command(&format!(
        "bgapi originate {{origination_uuid={b}}}user/1001 &park()"
    ))
    .await;
    c.until("BACKGROUND_JOB", None).await;
    assert_eq!(
        c.api(&format!("uuid_bridge {a} {b}")).await,
        format!("+OK {b}\n")
    );
    let unbridge = c.until("CHANNEL_UNBRIDGE", Some(&a)).await;
    assert_eq!(unbridge.name(), "CHANNEL_UNBRIDGE");
    let hangup_b = c.event().await;
    assert_eq!(
        (hangup_b.name(), hangup_b.uuid()),
        ("CHANNEL_HANGUP_COMPLETE", b)
    );
    let repark = c.event().await;
    assert_eq!((repark.name(), repark.uuid()), ("CHANNEL_PARK", a.as_str()));
    assert_eq!(c.api(&format!("uuid_exists {a}")).await, "true");
    assert_eq!(c.api(&format!("uuid_kill {a}")).await, "+OK\n");
    assert_eq!(
        c.api(&format!("uuid_kill {a}")).await,
        "-ERR No such channel!\n"
    );
    assert_eq!(
        c.api(&format!("uuid_bridge {a} {b}")).await,
        "-ERR Invalid uuid\n"
    );
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn filters_limit_delivery_to_matching_events() {
    let sim = start(fast_config()).await;
    let mut c = Client::authed(sim.addr()).await;
    c.command("event plain CHANNEL_PARK CHANNEL_HANGUP_COMPLETE")
        .await;
    let first = sim.place_call(CallerScript::new("1000", "2000"));
    c.until("CHANNEL_PARK", Some(&first.to_string())).await;
    let reply = c.command(&format!("filter Unique-ID {first}")).await;
    assert_eq!(
        reply.header("Reply-Text"),
        Some(format!("+OK filter added. [Unique-ID]=[{first}]").as_str())
    );
    let other = sim.place_call(CallerScript::new("1001", "2000"));
    sim.hangup(other, "NORMAL_CLEARING");
    sim.hangup(first, "NORMAL_CLEARING");
    let ev = c.event().await;
    assert_eq!(
        (ev.name(), ev.uuid()),
        ("CHANNEL_HANGUP_COMPLETE", first.to_string().as_str())
    );
    let reply = c.command(&format!("filter delete Unique-ID {first}")).await;
    assert_eq!(
        reply.header("Reply-Text"),
        Some(format!("+OK filter deleted. [Unique-ID][{first}]").as_str())
    );
    assert!(
        c.events.is_empty(),
        "no event of the other call leaked: {:?}",
        c.events
    );
    let third = sim.place_call(CallerScript::new("1002", "2000"));
    let ev = c.event().await;
    assert_eq!(
        (ev.name(), ev.uuid()),
        ("CHANNEL_PARK", third.to_string().as_str())
    );
    within("shutdown", sim.shutdown()).await;
}

/// The switch builds only the events someone subscribed to; every connection still gets
/// exactly its own subscriptions, as they change.
#[tokio::test]
async fn each_connection_gets_its_own_subscriptions_as_they_change() {
    let sim = start(fast_config()).await;
    let mut all = Client::authed(sim.addr()).await;
    all.command("event plain ALL").await;
    all.command("nixevent CHANNEL_CREATE").await;
    let mut create = Client::authed(sim.addr()).await;
    create.command("event plain CHANNEL_CREATE").await;

    let first = sim.place_call(CallerScript::new("1000", "2000"));
    sim.hangup(first, "NORMAL_CLEARING");
    let first = first.to_string();
    let seen = all.names_until("CHANNEL_HANGUP_COMPLETE", &first).await;
    assert!(seen.contains(&"CHANNEL_PARK".to_string()), "{seen:?}");
    assert!(!seen.contains(&"CHANNEL_CREATE".to_string()), "{seen:?}");
    let ev = create.until("CHANNEL_CREATE", Some(&first)).await;
    assert_eq!(ev.uuid(), first);

    // The nixed event comes back when asked for again; the other connection stops.
    all.command("event plain CHANNEL_CREATE").await;
    create.command("noevents").await;
    let second = sim.place_call(CallerScript::new("1001", "2000"));
    let ev = all.until("CHANNEL_CREATE", Some(&second.to_string())).await;
    assert_eq!(ev.uuid(), second.to_string());
    let reply = create.api("status").await;
    assert!(reply.contains("UP"), "{reply}");
    assert!(create.events.is_empty(), "{:?}", create.events);
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn show_channels_as_json_lists_zero_and_n_rows() {
    let sim = start(fast_config()).await;
    let mut c = Client::authed(sim.addr()).await;
    assert_eq!(c.api("show channels as json").await, "{\"row_count\": 0}\n");
    let one = sim.place_call(CallerScript::new("1000", "2000"));
    let two = sim.place_call(CallerScript::new("1001", "2000"));
    let body = c.api("show channels as json").await;
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["row_count"], 2);
    let uuids: Vec<&str> = doc["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["uuid"].as_str())
        .collect();
    assert_eq!(uuids, vec![one.to_string(), two.to_string()]);
    for column in [
        "direction",
        "created_epoch",
        "name",
        "state",
        "cid_num",
        "dest",
        "application",
        "callstate",
        "call_uuid",
    ] {
        assert!(doc["rows"][0][column].is_string(), "column {column}");
    }
    assert!(c.api("status").await.starts_with("UP 0 years, "));
    assert_eq!(c.api("bogus").await, "-ERR bogus Command not found!\n");
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn the_test_parser_reads_the_real_captures_to_the_last_byte() {
    let plain = capture_events("real-1.10.12-plain-session.bin");
    assert_eq!(plain.len(), 56 - 7);
    let json = capture_events("real-1.10.12-json-session.bin");
    assert_eq!(
        json.iter().filter(|e| e.name() == "CHANNEL_PARK").count(),
        5
    );
}

#[tokio::test]
async fn impatient_caller_abandons_and_a_ringing_agent_leg_keeps_ringing() {
    let sim = start(fast_config()).await;
    sim.set_phone("user/1005", PhoneBehavior::NoAnswer);
    let mut c = Client::authed(sim.addr()).await;
    c.command("event plain CHANNEL_PARK CHANNEL_HANGUP_COMPLETE CHANNEL_PROGRESS")
        .await;
    let call = sim.place_call(CallerScript::new("1000", "2000").patience(Duration::from_secs(5)));
    let a = call.to_string();
    c.until("CHANNEL_PARK", Some(&a)).await;
    let b = "0b0b0b0b-0000-4000-8000-000000000005";
    c.command(&format!(
        "bgapi originate {{origination_uuid={b},originate_timeout=60}}user/1005 &park()"
    ))
    .await;
    c.until("CHANNEL_PROGRESS", Some(b)).await;
    let hc = c.until("CHANNEL_HANGUP_COMPLETE", None).await;
    assert_eq!(hc.uuid(), a, "the caller leaves first");
    assert_eq!(hc.get("Hangup-Cause"), Some("NORMAL_CLEARING"));
    assert_eq!(hc.get("variable_sip_hangup_disposition"), Some("recv_bye"));
    assert_eq!(
        c.api(&format!("uuid_exists {b}")).await,
        "true",
        "kefu must kill the agent leg itself"
    );
    assert_eq!(
        c.api(&format!("uuid_kill {b} ORIGINATOR_CANCEL")).await,
        "+OK\n"
    );
    let report = &sim.calls()[0];
    assert_eq!(
        report.outcome,
        SimCallOutcome::Abandoned {
            during: "park".into()
        }
    );
    assert!(report.ended.is_some());
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn caller_hanging_up_while_bridged_takes_the_agent_leg_down() {
    let sim = start(fast_config()).await;
    sim.set_phone(
        "user/1001",
        PhoneBehavior::Answer {
            ring: Duration::from_secs(1),
            talk: Duration::from_secs(3600),
        },
    );
    let mut c = Client::authed(sim.addr()).await;
    c.command("event plain CHANNEL_PARK CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB").await;
    let b = "0b0b0b0b-0000-4000-8000-000000000006";
    let script = CallerScript::new("1000", "2000").talk(Duration::from_secs(10));
    let a = bridged_pair(&sim, &mut c, script, b).await;
    c.until("CHANNEL_BRIDGE", Some(&a)).await;
    let first = c.until("CHANNEL_HANGUP_COMPLETE", None).await;
    assert_eq!(first.uuid(), a);
    let second = c.until("CHANNEL_HANGUP_COMPLETE", None).await;
    assert_eq!(second.uuid(), b);
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn heartbeats_arrive_on_the_scaled_interval() {
    let config = SimConfig {
        heartbeat_interval: Duration::from_secs(20),
        time_scale: 0.001,
        ..SimConfig::default()
    };
    let sim = start(config).await;
    let mut c = Client::authed(sim.addr()).await;
    c.command("event json HEARTBEAT").await;
    let first = c.until("HEARTBEAT", None).await;
    let second = c.until("HEARTBEAT", None).await;
    let seq = |e: &Ev| {
        e.get("Event-Sequence")
            .and_then(|s| s.parse::<u64>().ok())
            .expect("sequence")
    };
    assert!(seq(&second) > seq(&first));
    assert_eq!(first.get("Core-UUID"), second.get("Core-UUID"));
    assert_eq!(first.get("FreeSWITCH-Hostname"), Some("sim1"));
    assert!(first.get("Unique-ID").is_none());
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn injected_faults_reach_the_client() {
    let sim = start(fast_config()).await;
    let mut c = Client::authed(sim.addr()).await;
    sim.inject(kefu::sim::Fault::SendGarbage);
    let mut chunk = [0u8; 256];
    let n = within("garbage", c.stream.read(&mut chunk))
        .await
        .expect("read");
    assert!(String::from_utf8_lossy(&chunk[..n]).contains("Content-Length: banana"));
    sim.inject(kefu::sim::Fault::DropConnections);
    let mut rest = Vec::new();
    let n = within("close", c.stream.read_to_end(&mut rest))
        .await
        .expect("read");
    assert_eq!(n, 0, "dropped without a notice");

    let mut c = Client::authed(sim.addr()).await;
    sim.inject(kefu::sim::Fault::SendOversizedFrame(100_000));
    let frame = c.frame().await;
    assert_eq!(frame.body.len(), 100_000);
    within("shutdown", sim.shutdown()).await;
}

#[tokio::test]
async fn five_hundred_calls_in_a_burst_all_park_and_every_frame_parses() {
    let sim = start(fast_config()).await;
    let mut c = Client::authed(sim.addr()).await;
    c.command("event plain ALL").await;
    let calls: Vec<String> = (0..500)
        .map(|i| {
            sim.place_call(
                CallerScript::new(format!("+1555{i:07}"), "2000").patience(Duration::from_secs(2)),
            )
            .to_string()
        })
        .collect();
    let mut parked = std::collections::HashSet::new();
    let mut ended = 0;
    while ended < calls.len() {
        let ev = c.event().await;
        match ev.name() {
            "CHANNEL_PARK" => {
                parked.insert(ev.uuid().to_string());
            }
            "CHANNEL_HANGUP_COMPLETE" => ended += 1,
            _ => {}
        }
    }
    assert_eq!(parked.len(), calls.len());
    assert!(
        sim.calls()
            .iter()
            .all(|r| matches!(r.outcome, SimCallOutcome::Abandoned { .. }))
    );
    assert_eq!(c.api("show channels as json").await, "{\"row_count\": 0}\n");
    within("shutdown", sim.shutdown()).await;
}
