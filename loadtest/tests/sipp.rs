//! The sipp scenarios of `loadtest/sipp/` against each other, with no FreeSWITCH:
//! `agent.xml` (the agents' phones) plays the switch's part for `caller.xml`, answering and
//! hanging up. This proves that the files load in the sipp Debian ships and agree with each
//! other: every call completes on both sides by the branch its timings choose, and the IVR
//! keys leave as RFC 2833 events. The switch's side is in docs/load-against-freeswitch.md.
//!
//! sipp must be on PATH (`apt-get install sip-tester`; `.ci/run` installs it) and run as root
//! (play_dtmf replays through a raw socket). `KEFU_SKIP_SIPP=1` skips these tests instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::process::{Child, Command};

/// How long one sipp run may take, start to exit (the runs here take a few seconds).
const RUN: Duration = Duration::from_secs(90);

/// Every sipp here: on loopback; gives up after 60 s with a failing exit code; no keyboard;
/// final statistics into `stats.csv`, message counts into `<scenario>_<pid>_counts.csv`,
/// errors into `errors.log`, all in the run's own folder.
const SHARED_OPTIONS: &str = "-i 127.0.0.1 -mi 127.0.0.1 -timeout 60 -timeout_error -nostdin \
    -trace_stat -stf stats.csv -trace_counts -trace_err -error_file errors.log";

/// The sipp binary on PATH, or `None` when it is missing and `KEFU_SKIP_SIPP=1`.
///
/// Panics when sipp is missing otherwise: CI installs it, so a missing sipp is a broken
/// machine, not a reason to pass.
fn sipp_or_skip() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join("sipp"))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        if std::env::var("KEFU_SKIP_SIPP").as_deref() == Ok("1") {
            eprintln!("skipped on request (KEFU_SKIP_SIPP=1): no sipp on PATH");
            return None;
        }
        panic!(
            "sipp not found on PATH: `apt-get install sip-tester` (Debian's sipp), \
             or KEFU_SKIP_SIPP=1 to skip the sipp scenario tests"
        );
    }
    found
}

/// A file of `loadtest/sipp/`.
fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sipp")
        .join(name)
}

/// A UDP port nobody holds now (the OS picks it; sipp binds it a moment later).
fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
    socket.local_addr().expect("bound").port()
}

/// A media port for sipp: it binds this one and the one two above (audio and video echo).
fn free_media_port() -> u16 {
    loop {
        let low = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
        let port = low.local_addr().expect("bound").port();
        if port < u16::MAX - 2 && std::net::UdpSocket::bind(("127.0.0.1", port + 2)).is_ok() {
            return port;
        }
    }
}

/// Whether something holds UDP `port` on 127.0.0.1 (read from /proc, so that the check
/// never takes the port itself).
fn udp_port_bound(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let wanted = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .any(|line| line.split_whitespace().nth(1) == Some(wanted.as_str()))
}

/// One sipp process, in its own folder: its statistics, counts, errors and screens land
/// there. Dropped, it is killed, so a test that fails on one side does not wait out the
/// other side's timeout.
struct Sipp {
    child: Child,
    dir: tempfile::TempDir,
    name: &'static str,
}

impl Sipp {
    /// Starts `sipp -sf scenario` with the options every run here shares, then `args`.
    fn start(
        sipp: &Path,
        name: &'static str,
        scenario: &Path,
        calls: u32,
        args: &[String],
    ) -> Sipp {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = |n: &str| std::fs::File::create(dir.path().join(n)).expect("log file");
        let (media, control) = (free_media_port().to_string(), free_udp_port().to_string());
        let child = Command::new(sipp)
            .arg("-sf")
            .arg(scenario)
            .args(SHARED_OPTIONS.split_whitespace())
            .args(["-mp", &media, "-cp", &control, "-m", &calls.to_string()])
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(file("screen.txt"))
            .stderr(file("stderr.txt"))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} for {name}: {e}", sipp.display()));
        Sipp { child, dir, name }
    }

    /// Waits for the exit, at most [`RUN`].
    async fn finish(mut self) -> Finished {
        let status = tokio::time::timeout(RUN, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} still running after {RUN:?}", self.name))
            .expect("waiting for sipp");
        Finished {
            status,
            dir: self.dir,
            name: self.name,
        }
    }
}

/// A sipp run that has exited.
struct Finished {
    status: ExitStatus,
    dir: tempfile::TempDir,
    name: &'static str,
}

impl Finished {
    /// What sipp left behind, for a failure message: stderr, the error log and the end of
    /// the last screen.
    fn diagnosis(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        let screen = read("screen.txt");
        let tail: Vec<&str> = screen.lines().rev().take(45).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- {} exited with {}\n--- stderr:\n{}\n--- errors.log:\n{}\n--- screen (end):\n{}",
            self.name,
            self.status,
            read("stderr.txt"),
            read("errors.log"),
            tail.join("\n")
        )
    }

    /// The last row of `-trace_stat`'s file, by column name.
    fn statistics(&self) -> BTreeMap<String, String> {
        let text = std::fs::read_to_string(self.dir.path().join("stats.csv")).unwrap_or_else(|e| {
            panic!(
                "{}: no statistics file ({e})\n{}",
                self.name,
                self.diagnosis()
            )
        });
        last_row(&text)
    }

    /// `-trace_counts`' last row, summed by message and direction (`BYE_Recv`, `487_Sent`,
    /// …) over every place the scenario has that message.
    fn message_counts(&self) -> BTreeMap<String, u64> {
        let file = std::fs::read_dir(self.dir.path())
            .expect("sipp's folder")
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|p| p.to_string_lossy().ends_with("_counts.csv"))
            .unwrap_or_else(|| panic!("{}: no counts file\n{}", self.name, self.diagnosis()));
        let text = std::fs::read_to_string(file).expect("counts file");
        let mut sums = BTreeMap::new();
        for (column, value) in last_row(&text) {
            // Columns are `<index>_<message>_<what>`, e.g. `13_BYE_Sent`.
            let Some((_, key)) = column.split_once('_') else {
                continue;
            };
            let Ok(n) = value.trim().parse::<u64>() else {
                continue;
            };
            *sums.entry(key.to_owned()).or_insert(0) += n;
        }
        sums
    }

    /// Asserts exit code 0 and `calls` successful calls, none failed.
    fn assert_all_succeeded(&self, calls: u32) {
        assert!(self.status.success(), "{}", self.diagnosis());
        let stats = self.statistics();
        let field = |name: &str| stats.get(name).map(String::as_str).unwrap_or("missing");
        assert_eq!(
            (field("SuccessfulCall(C)"), field("FailedCall(C)")),
            (calls.to_string().as_str(), "0"),
            "{}",
            self.diagnosis()
        );
    }
}

/// The header and the last line of a sipp CSV file (`;`-separated), zipped.
fn last_row(text: &str) -> BTreeMap<String, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap_or_default();
    let last = lines.next_back().unwrap_or_default();
    header
        .split(';')
        .zip(last.split(';'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `-set name value` for each pair: the scenarios' timings.
fn set(timings: &[(&str, u32)]) -> Vec<String> {
    (timings.iter())
        .flat_map(|(name, ms)| ["-set".to_owned(), (*name).to_owned(), ms.to_string()])
        .collect()
}

/// The agents' phones, `agent.xml` (or a copy of it), on a port of their own; returns once
/// they listen.
async fn start_agents(sipp: &Path, scenario: &Path, calls: u32, args: &[String]) -> (Sipp, u16) {
    let port = free_udp_port();
    let all = [&["-p".to_owned(), port.to_string()][..], args].concat();
    let agents = Sipp::start(sipp, "agent.xml", scenario, calls, &all);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tokio::time::timeout(Duration::from_secs(10), async {
        while !udp_port_bound(port) {
            tick.tick().await;
        }
    })
    .await
    .expect("the agents' sipp listens within 10 s");
    (agents, port)
}

/// `caller.xml` with the shipped `callers.csv`, 3 calls a second (at most 100 at once: sipp's
/// own limit would be 3 × the rate, as no `-d` is given), and `patience_ms`.
///
/// Both keys are on the line within 3 s of the answer: the language key starts at 0.1 s,
/// the menu key 1.5 s later (a key takes about 1 s to play).
fn start_callers(sipp: &Path, agents: u16, calls: u32, patience_ms: u32) -> Sipp {
    let timings = [
        ("greeting_ms", 100),
        ("menu_ms", 1500),
        ("patience_ms", patience_ms),
    ];
    let mut args = vec![
        "-inf".to_owned(),
        shipped("callers.csv").to_string_lossy().into_owned(),
    ];
    args.extend(["-s", "8005550100", "-r", "3", "-l", "100"].map(String::from));
    args.extend(set(&timings));
    args.push(format!("127.0.0.1:{agents}"));
    Sipp::start(sipp, "caller.xml", &shipped("caller.xml"), calls, &args)
}

/// `calls` calls between the shipped caller (with this patience) and the shipped phones
/// (with these timings); both sides must complete every call. Their message counts.
async fn completed_calls(
    sipp: &Path,
    calls: u32,
    agent_timings: &[(&str, u32)],
    patience_ms: u32,
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let (agents, port) =
        start_agents(sipp, &shipped("agent.xml"), calls, &set(agent_timings)).await;
    let callers = start_callers(sipp, port, calls, patience_ms);
    let callers = callers.finish().await;
    callers.assert_all_succeeded(calls);
    let agents = agents.finish().await;
    agents.assert_all_succeeded(calls);
    (callers.message_counts(), agents.message_counts())
}

/// Every call's BYE went from `sender` to `receiver`, and none the other way.
fn assert_byes(sender: &BTreeMap<String, u64>, receiver: &BTreeMap<String, u64>, calls: u32) {
    let n = u64::from(calls);
    assert_eq!(sender.get("BYE_Sent"), Some(&n), "{sender:?}");
    assert_eq!(sender.get("BYE_Recv"), Some(&0), "{sender:?}");
    assert_eq!(receiver.get("BYE_Recv"), Some(&n), "{receiver:?}");
    assert_eq!(receiver.get("BYE_Sent"), Some(&0), "{receiver:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_completes_when_the_agent_hangs_up() {
    let Some(sipp) = sipp_or_skip() else { return };
    let timings = [("ring_ms", 200), ("talk_ms", 5000)];
    let (caller, agent) = completed_calls(&sipp, 6, &timings, 20_000).await;
    assert_byes(&agent, &caller, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_completes_when_the_callers_patience_runs_out() {
    let Some(sipp) = sipp_or_skip() else { return };
    let timings = [("ring_ms", 200), ("talk_ms", 30_000)];
    let (caller, agent) = completed_calls(&sipp, 6, &timings, 1500).await;
    assert_byes(&caller, &agent, 6);
}

/// FreeSWITCH's side of an agent leg that ends while it rings (the caller gave up, or
/// kefu's ring timeout): INVITE, 180, CANCEL; then 200 for the CANCEL, 487 for the
/// INVITE, ACK. The CANCEL carries the INVITE's branch.
const SWITCH_CANCELS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="switch cancels">
  <send>
    <![CDATA[

      INVITE sip:1001@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-kefu-[call_number]
      From: <sip:8005550100@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:1001@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:8005550100@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="180"/>
  <send>
    <![CDATA[

      CANCEL sip:1001@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-kefu-[call_number]
      From: <sip:8005550100@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:1001@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
  <send>
    <![CDATA[

      ACK sip:1001@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-kefu-[call_number]
      From: <sip:8005550100@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:1001@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
</scenario>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_phone_answers_a_cancel_while_it_rings() {
    let Some(sipp) = sipp_or_skip() else { return };
    const CALLS: u32 = 3;
    let ring_long = set(&[("ring_ms", 10_000)]);
    let (agents, port) = start_agents(&sipp, &shipped("agent.xml"), CALLS, &ring_long).await;
    let scenario_dir = tempfile::tempdir().expect("temp dir");
    let scenario = scenario_dir.path().join("switch-cancels.xml");
    std::fs::write(&scenario, SWITCH_CANCELS).expect("scenario written");
    let args = ["-r".to_owned(), "3".to_owned(), format!("127.0.0.1:{port}")];
    let switch = Sipp::start(&sipp, "switch-cancels.xml", &scenario, CALLS, &args);

    let switch = switch.finish().await;
    switch.assert_all_succeeded(CALLS);
    let agents = agents.finish().await;
    agents.assert_all_succeeded(CALLS);
    let agent = agents.message_counts();
    let n = u64::from(CALLS);
    assert_eq!(agent.get("487_Sent"), Some(&n), "{agent:?}");
    assert_eq!(agent.get("ACK_Recv"), Some(&n), "{agent:?}");
}

/// RFC 2833 packets received: per (SSRC, event), whether its end packet came; and every
/// payload type seen.
#[derive(Debug, Default)]
struct Events {
    ended: BTreeMap<(u32, u8), bool>,
    payload_types: BTreeSet<u8>,
}

/// Reads RTP off `socket` until `expected` events have ended, or 30 s pass.
async fn collect_events(socket: UdpSocket, expected: usize) -> Events {
    let mut events = Events::default();
    let mut buf = [0u8; 2048];
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while events.ended.values().filter(|&&e| e).count() < expected {
            let Ok(len) = socket.recv(&mut buf).await else {
                return;
            };
            let Some(packet) = buf.get(..len).filter(|p| p.len() >= 12) else {
                continue;
            };
            let payload_type = packet[1] & 0x7f;
            events.payload_types.insert(payload_type);
            let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
            if let (96, Some(&[event, flags, ..])) = (payload_type, packet.get(12..)) {
                *events.ended.entry((ssrc, event)).or_default() |= flags & 0x80 != 0;
            }
        }
    })
    .await;
    events
}

/// The RTP the callers send goes where the 200 OK's SDP says; a copy of `agent.xml` points
/// it at a socket of the test, which decodes the telephone-events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_presses_the_ivr_keys_as_rfc_2833_events() {
    let Some(sipp) = sipp_or_skip() else { return };
    const CALLS: u32 = 3;
    let sink = UdpSocket::bind("127.0.0.1:0").await.expect("RTP sink");
    let sink_port = sink.local_addr().expect("bound").port();
    let shipped_agent = std::fs::read_to_string(shipped("agent.xml")).expect("agent.xml");
    let media_line = "m=audio [media_port] RTP/AVP 0";
    assert_eq!(
        shipped_agent.matches(media_line).count(),
        1,
        "agent.xml's SDP changed"
    );
    let copy_dir = tempfile::tempdir().expect("temp dir");
    let copy = copy_dir.path().join("agent.xml");
    let to_sink = format!("m=audio {sink_port} RTP/AVP 0");
    std::fs::write(&copy, shipped_agent.replace(media_line, &to_sink)).expect("copy written");
    let events = tokio::spawn(collect_events(sink, 2 * CALLS as usize));

    let agent_timings = set(&[("ring_ms", 200), ("talk_ms", 5000)]);
    let (agents, port) = start_agents(&sipp, &copy, CALLS, &agent_timings).await;
    let callers = start_callers(&sipp, port, CALLS, 20_000);
    let callers = callers.finish().await;
    callers.assert_all_succeeded(CALLS);
    let agents = agents.finish().await;
    agents.assert_all_succeeded(CALLS);

    let events = events.await.expect("the RTP reader");
    // Each key is one event (its own SSRC), ended; callers.csv says 2, then 1, per call.
    let ended: Vec<u8> = (events.ended.iter())
        .filter(|(_, done)| **done)
        .map(|(&(_, event), _)| event)
        .collect();
    let per_key = |key: u8| ended.iter().filter(|&&e| e == key).count();
    assert_eq!(
        (per_key(2), per_key(1), ended.len()),
        (CALLS as usize, CALLS as usize, 2 * CALLS as usize),
        "{events:?}"
    );
    // Events on 96 and warm-up no-ops on 97, as caller.xml's offer says.
    assert_eq!(events.payload_types, BTreeSet::from([96, 97]), "{events:?}");
}
