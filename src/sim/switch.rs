//! The switch core: the channel table, timers, and the fan-out of events to every client
//! connection. One `std::sync::Mutex` guards the state and is never held across an await;
//! every simulated delay is a spawned tokio sleep that re-enters under the lock and checks a
//! generation number, so thousands of calls cost no thread each.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::channel::{AppCall, Channel, Direction};
use super::wire::Event;
use super::{
    BridgeTimes, CallerScript, Fault, PhoneBehavior, SimCallOutcome, SimCallReport, SimConfig,
};
use crate::domain::{CallId, Timestamp};

/// What the switch pushes to a client connection.
#[derive(Debug, Clone)]
pub(crate) enum Push {
    Event(Arc<Event>),
    Fault(Fault),
    Shutdown,
}

/// Where an originate result goes: a BACKGROUND_JOB event or a waiting `api` caller.
#[derive(Debug)]
pub(crate) enum Job {
    Background {
        uuid: String,
        command: String,
        arg: String,
    },
    Api(oneshot::Sender<String>),
}

/// Who ended a leg: decides abandon vs. switch hangup and `sip_hangup_disposition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Initiator {
    Remote,
    Switch,
}

/// A pending simulated delay.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timer {
    AppDone(u64),
    Patience,
    HangupAfter,
    PhoneAnswer,
    OriginateTimeout,
    TalkOver,
}

/// The event names one connection subscribed to (`event`, `nixevent`, `myevents`).
#[derive(Clone, Debug, Default)]
pub(crate) struct EventNames {
    /// `event … ALL`.
    pub(crate) all: bool,
    /// Named one by one.
    pub(crate) names: HashSet<String>,
    /// Taken out of ALL by `nixevent`.
    pub(crate) nixed: HashSet<String>,
}

impl EventNames {
    /// Whether an event of this (upper-case) name is subscribed, before filters.
    pub(crate) fn contains(&self, name: &str) -> bool {
        (self.all && !self.nixed.contains(name)) || self.names.contains(name)
    }
}

pub(crate) struct State {
    seq: u64,
    pub(crate) channels: HashMap<String, Channel>,
    pub(crate) phones: HashMap<String, PhoneBehavior>,
    reports: Vec<SimCallReport>,
    report_index: HashMap<String, usize>,
    listeners: Vec<(u64, mpsc::UnboundedSender<Push>)>,
    /// What each listening connection subscribed to, so that channel events nobody
    /// subscribed to are never built.
    subscribed: HashMap<u64, EventNames>,
    next_listener: u64,
    pub(crate) sessions_total: u64,
}

pub(crate) struct Switch {
    pub(crate) config: super::SimConfig,
    pub(crate) core_uuid: String,
    pub(crate) started: Instant,
    state: Mutex<State>,
    commands: Mutex<Vec<String>>,
    pub(crate) cancel: CancellationToken,
    tracker: TaskTracker,
    runtime: tokio::runtime::Handle,
}

impl Switch {
    pub(crate) fn new(config: SimConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            core_uuid: uuid::Uuid::new_v4().to_string(),
            started: crate::clock::monotonic(),
            state: Mutex::new(State {
                seq: 0,
                channels: HashMap::new(),
                phones: HashMap::new(),
                reports: Vec::new(),
                report_index: HashMap::new(),
                listeners: Vec::new(),
                subscribed: HashMap::new(),
                next_listener: 0,
                sessions_total: 0,
            }),
            commands: Mutex::new(Vec::new()),
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Simulated time to real (tokio) time.
    pub(crate) fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.config.time_scale.max(0.0))
    }

    pub(crate) fn spawn_background(self: &Arc<Self>, listener: TcpListener) {
        let sw = Arc::clone(self);
        self.tracker
            .spawn_on(async move { sw.accept_loop(listener).await }, &self.runtime);
        let sw = Arc::clone(self);
        self.tracker
            .spawn_on(async move { sw.heartbeat_loop().await }, &self.runtime);
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            let accepted = tokio::select! {
                _ = self.cancel.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => {
                    let sw = Arc::clone(&self);
                    self.tracker.spawn(super::connection::serve(sw, stream));
                }
                Err(error) => {
                    tracing::warn!(%error, "sim accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    async fn heartbeat_loop(self: Arc<Self>) {
        let period = self
            .scaled(self.config.heartbeat_interval)
            .max(Duration::from_millis(1));
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            let mut st = self.lock();
            let mut e = self.core_event(&mut st.seq, "HEARTBEAT");
            let up = self.started.elapsed();
            e.push("Event-Info", "System Ready");
            e.push("Up-Time", super::api::uptime_text(up));
            e.push("FreeSWITCH-Version", "1.10.12-release~64bit");
            e.push("Uptime-msec", up.as_millis().to_string());
            e.push("Session-Count", st.channels.len().to_string());
            e.push("Max-Sessions", "4000");
            e.push("Session-Per-Sec", "1000");
            e.push("Session-Since-Startup", st.sessions_total.to_string());
            e.push("Idle-CPU", "98.500000");
            fire(&mut st.listeners, e);
        }
    }

    pub(crate) async fn shutdown(&self) {
        {
            let mut st = self.lock();
            for (_, tx) in st.listeners.drain(..) {
                let _ = tx.send(Push::Shutdown);
            }
        }
        self.cancel.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.tracker.wait()).await;
    }

    pub(crate) fn register(&self) -> (u64, mpsc::UnboundedReceiver<Push>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.lock();
        st.next_listener += 1;
        let id = st.next_listener;
        st.listeners.push((id, tx));
        (id, rx)
    }

    pub(crate) fn unregister(&self, id: u64) {
        let mut st = self.lock();
        st.listeners.retain(|(l, _)| *l != id);
        st.subscribed.remove(&id);
    }

    /// Connection `id` now listens to `names` (`None`: to nothing).
    pub(crate) fn subscribe(&self, id: u64, names: Option<EventNames>) {
        let mut st = self.lock();
        match names {
            Some(names) => st.subscribed.insert(id, names),
            None => st.subscribed.remove(&id),
        };
    }

    pub(crate) fn log_command(&self, line: String) {
        self.commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }

    pub(crate) fn commands(&self) -> Vec<String> {
        self.commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn reports(&self) -> Vec<SimCallReport> {
        self.lock().reports.clone()
    }

    pub(crate) fn inject(&self, fault: Fault) {
        let st = self.lock();
        for (_, tx) in &st.listeners {
            let _ = tx.send(Push::Fault(fault.clone()));
        }
    }

    pub(crate) fn set_phone(&self, dial_string: &str, phone: PhoneBehavior) {
        self.lock().phones.insert(dial_string.to_string(), phone);
    }

    /// Runs a task of the switch's (stopped and awaited at shutdown).
    pub(crate) fn spawn_task(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tracker.spawn_on(task, &self.runtime);
    }

    pub(crate) fn schedule(self: &Arc<Self>, after: Duration, uuid: &str, timer: Timer) {
        let sw = Arc::clone(self);
        let uuid = uuid.to_string();
        let after = self.scaled(after);
        self.tracker.spawn_on(
            async move {
                tokio::select! {
                    _ = sw.cancel.cancelled() => {}
                    _ = tokio::time::sleep(after) => sw.on_timer(&uuid, timer),
                }
            },
            &self.runtime,
        );
    }

    fn on_timer(self: &Arc<Self>, uuid: &str, timer: Timer) {
        let mut st = self.lock();
        let Some(ch) = st.channels.get(uuid) else {
            return;
        };
        if ch.hangup_cause.is_some() {
            return;
        }
        match timer {
            Timer::AppDone(generation) => {
                if ch.generation == generation {
                    self.app_timer(&mut st, uuid);
                }
            }
            Timer::Patience if !ch.ever_bridged => {
                self.hangup_channel(&mut st, uuid, "NORMAL_CLEARING", Initiator::Remote);
            }
            Timer::Patience => {}
            Timer::HangupAfter => {
                self.hangup_channel(&mut st, uuid, "NORMAL_CLEARING", Initiator::Remote)
            }
            Timer::PhoneAnswer => self.agent_answered(&mut st, uuid),
            Timer::OriginateTimeout if !ch.is_answered() => {
                self.hangup_channel(&mut st, uuid, "NO_ANSWER", Initiator::Remote);
            }
            Timer::OriginateTimeout => {}
            Timer::TalkOver if ch.bridge.is_some() => {
                self.hangup_channel(&mut st, uuid, "NORMAL_CLEARING", Initiator::Remote);
            }
            Timer::TalkOver => {}
        }
    }

    /// The 13 core headers (§2 order), with a fresh `Event-Sequence`.
    pub(crate) fn core_event(&self, seq: &mut u64, name: &str) -> Event {
        *seq += 1;
        let (file, function, line) = origin(name);
        let now = crate::clock::now().to_utc();
        let mut e = Event::default();
        e.headers.reserve(128);
        e.push("Event-Name", name);
        e.push("Core-UUID", &self.core_uuid);
        e.push("FreeSWITCH-Hostname", &self.config.hostname);
        e.push("FreeSWITCH-Switchname", &self.config.hostname);
        e.push("FreeSWITCH-IPv4", "127.0.0.1");
        e.push("FreeSWITCH-IPv6", "::1");
        e.push(
            "Event-Date-Local",
            now.format("%Y-%m-%d %H:%M:%S").to_string(),
        );
        e.push(
            "Event-Date-GMT",
            now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        );
        e.push("Event-Date-Timestamp", now.timestamp_micros().to_string());
        e.push("Event-Calling-File", file);
        e.push("Event-Calling-Function", function);
        e.push("Event-Calling-Line-Number", line.to_string());
        e.push("Event-Sequence", seq.to_string());
        e
    }

    /// Fires a channel event: core headers, `early` headers, channel data, then `extra`.
    pub(crate) fn channel_event(
        &self,
        st: &mut State,
        uuid: &str,
        name: &str,
        early: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) {
        let Some(ch) = st.channels.get(uuid) else {
            return;
        };
        if !st.subscribed.values().any(|names| names.contains(name)) {
            // Nobody listens: keep the sequence growing but skip building the event.
            st.seq += 1;
            return;
        }
        let mut e = self.core_event(&mut st.seq, name);
        for (n, v) in early {
            e.push(*n, *v);
        }
        let other = ch.bridge.as_ref().and_then(|(o, _)| st.channels.get(o));
        ch.write_data(&mut e, other, carries_variables(name));
        for (n, v) in extra {
            e.push(*n, *v);
        }
        fire(&mut st.listeners, e);
    }

    pub(crate) fn fire_event(&self, st: &mut State, event: Event) {
        fire(&mut st.listeners, event);
    }

    pub(crate) fn next_seq<'a>(&self, st: &'a mut State) -> &'a mut u64 {
        &mut st.seq
    }

    pub(crate) fn place_call(self: &Arc<Self>, script: CallerScript) -> CallId {
        let call = CallId::random();
        let uuid = call.to_string();
        let now = crate::clock::now().as_micros();
        let name = format!("sofia/internal/{}@127.0.0.1:5061", script.caller_number);
        let mut ch = Channel::new(uuid.clone(), Direction::Inbound, name.clone(), now);
        ch.caller_number = script.caller_number.clone();
        ch.caller_name = script.caller_name.clone();
        ch.destination = script.destination.clone();
        let mut st = self.lock();
        st.sessions_total += 1;
        let vars = [
            ("direction", "inbound".to_string()),
            ("uuid", uuid.clone()),
            ("call_uuid", uuid.clone()),
            ("session_id", st.sessions_total.to_string()),
            ("sip_from_user", script.caller_number.clone()),
            (
                "sip_from_uri",
                format!("{}@127.0.0.1:5061", script.caller_number),
            ),
            ("sip_from_display", script.caller_name.clone()),
            ("channel_name", name),
            (
                "sip_call_id",
                format!("{}@127.0.0.1", uuid::Uuid::new_v4().simple()),
            ),
            ("sip_network_ip", "127.0.0.1".to_string()),
            ("sip_req_user", script.destination.clone()),
            ("sip_to_user", script.destination.clone()),
            ("read_codec", "PCMU".to_string()),
            ("write_codec", "PCMU".to_string()),
            ("dtmf_type", "rfc2833".to_string()),
            ("endpoint_disposition", "RECEIVED".to_string()),
            ("start_uepoch", now.to_string()),
        ];
        for (n, v) in vars {
            ch.set_var(n, v);
        }
        let (patience, hangup_after, answered, socket) = (
            script.patience,
            script.hangup_after,
            script.answered,
            script.socket,
        );
        let index = st.reports.len();
        st.report_index.insert(uuid.clone(), index);
        st.reports.push(SimCallReport {
            call,
            caller_number: script.caller_number.clone(),
            destination: script.destination.clone(),
            outcome: SimCallOutcome::Up,
            digits_consumed: Vec::new(),
            arrived: crate::clock::monotonic(),
            bridge: None,
            ended: None,
            hangup_cause: None,
        });
        ch.script = Some(script);
        st.channels.insert(uuid.clone(), ch);
        self.channel_event(&mut st, &uuid, "CHANNEL_CREATE", &[], &[]);
        if let Some(ch) = st.channels.get_mut(&uuid) {
            ch.state = ("CS_EXECUTE", 4);
            ch.call_state = "RINGING";
        }
        if answered {
            let app = AppCall::new("answer", "");
            self.start_app(&mut st, &uuid, app);
        }
        match socket {
            Some(addr) => self.start_socket(&mut st, &uuid, addr),
            None => self.start_park(&mut st, &uuid, AppCall::new("park", "")),
        }
        drop(st);
        self.schedule(patience, &uuid, Timer::Patience);
        if let Some(after) = hangup_after {
            self.schedule(after, &uuid, Timer::HangupAfter);
        }
        call
    }

    pub(crate) fn caller_hangup(self: &Arc<Self>, uuid: &str, cause: &str) {
        let mut st = self.lock();
        self.hangup_channel(&mut st, uuid, cause, Initiator::Remote);
    }

    /// CHANNEL_ANSWER (the dialplan or the phone answered).
    pub(crate) fn mark_answered(&self, st: &mut State, uuid: &str) {
        let now = crate::clock::now().as_micros();
        let Some(ch) = st.channels.get_mut(uuid) else {
            return;
        };
        if ch.is_answered() {
            return;
        }
        ch.answered_us = now;
        ch.answer_state = "answered";
        ch.set_var("answer_uepoch", now.to_string());
        ch.set_var("endpoint_disposition", "ANSWER");
        self.channel_event(st, uuid, "CHANNEL_ANSWER", &[], &[]);
        if let Some(ch) = st.channels.get_mut(uuid) {
            ch.call_state = "ACTIVE";
        }
    }

    /// The agent's phone picked up: ANSWER, park, then the originate result (§6.5).
    fn agent_answered(self: &Arc<Self>, st: &mut State, uuid: &str) {
        self.mark_answered(st, uuid);
        self.start_park(st, uuid, AppCall::new("park", ""));
        let job = st.channels.get_mut(uuid).and_then(|ch| ch.job.take());
        if let Some(job) = job {
            self.finish_job(st, job, format!("+OK {uuid}\n"));
        }
    }

    pub(crate) fn finish_job(&self, st: &mut State, job: Job, body: String) {
        match job {
            Job::Api(tx) => {
                let _ = tx.send(body);
            }
            Job::Background { uuid, command, arg } => {
                let mut e = self.core_event(&mut st.seq, "BACKGROUND_JOB");
                e.push("Job-UUID", uuid);
                e.push("Job-Command", command);
                e.push("Job-Command-Arg", arg);
                e.body = Some(body);
                fire(&mut st.listeners, e);
            }
        }
    }

    /// Bridges two parked legs (`uuid_bridge`, §6.6). Returns false when either is missing.
    pub(crate) fn bridge(self: &Arc<Self>, st: &mut State, a: &str, b: &str) -> bool {
        let alive = |u: &str| st.channels.get(u).is_some_and(|c| c.hangup_cause.is_none());
        if a == b || !alive(a) || !alive(b) {
            return false;
        }
        for leg in [a, b] {
            self.interrupt(st, leg, true);
            self.unpark(st, leg);
        }
        let now = crate::clock::now().as_micros();
        for (leg, other, is_a) in [(a, b, true), (b, a, false)] {
            if let Some(ch) = st.channels.get_mut(leg) {
                ch.bridge = Some((other.to_string(), is_a));
                ch.ever_bridged = true;
                ch.bridged_us = now;
                ch.call_state = "ACTIVE";
                ch.set_var("bridge_uuid", other);
                ch.set_var("last_bridge_to", other);
                ch.set_var("bridge_uepoch", now.to_string());
            }
        }
        self.channel_event(
            st,
            a,
            "CHANNEL_BRIDGE",
            &[("Bridge-A-Unique-ID", a), ("Bridge-B-Unique-ID", b)],
            &[],
        );
        let (caller, agent) = match st.channels.get(a).map(|c| c.direction) {
            Some(Direction::Inbound) => (a, b),
            _ => (b, a),
        };
        let (agent_dial, originated, agent_answered) = st
            .channels
            .get(agent)
            .map(|c| (c.dial_string.clone(), c.created_us, c.answered_us))
            .unwrap_or_default();
        if let Some(report) = report_mut(st, caller) {
            if let Ok(agent_leg) = CallId::parse(agent) {
                report.outcome = SimCallOutcome::Answered {
                    agent_leg,
                    dial_string: agent_dial,
                };
            }
            report.bridge = Some(BridgeTimes {
                originated: Timestamp::from_micros(originated),
                agent_answered: Timestamp::from_micros(agent_answered),
                bridged: Timestamp::from_micros(now),
            });
        }
        let caller_talk = st
            .channels
            .get(caller)
            .and_then(|c| c.script.as_ref())
            .and_then(|s| s.talk);
        let agent_talk = st.channels.get(agent).and_then(|c| c.agent_talk);
        match (caller_talk, agent_talk) {
            (Some(talk), _) => self.schedule(talk, caller, Timer::TalkOver),
            (None, Some(talk)) => self.schedule(talk, agent, Timer::TalkOver),
            (None, None) => {}
        }
        true
    }

    /// Ends a leg: HANGUP, the running app's completion, UNPARK, UNBRIDGE, HANGUP_COMPLETE,
    /// DESTROY (§6.7–6.8), then what the other leg does about it.
    pub(crate) fn hangup_channel(
        self: &Arc<Self>,
        st: &mut State,
        uuid: &str,
        cause: &str,
        who: Initiator,
    ) {
        let now = crate::clock::now().as_micros();
        let Some(ch) = st.channels.get_mut(uuid) else {
            return;
        };
        if ch.hangup_cause.is_some() {
            return;
        }
        if let Some(socket) = ch.socket.take() {
            socket.cancel();
        }
        let during = match (&ch.current, &ch.parked, ch.direction) {
            (Some((app, _)), _, _) => app.name.clone(),
            (None, Some(_), _) => "park".to_string(),
            _ => "ringing".to_string(),
        };
        ch.hangup_cause = Some(cause.to_string());
        ch.answer_state = "hangup";
        ch.state = ("CS_EXECUTE", 10);
        ch.hangup_us = now;
        let q850 = q850(cause);
        ch.set_var(
            "sip_hangup_disposition",
            if who == Initiator::Remote {
                "recv_bye"
            } else {
                "send_bye"
            },
        );
        ch.set_var("hangup_cause", cause);
        ch.set_var("hangup_cause_q850", q850.to_string());
        self.channel_event(st, uuid, "CHANNEL_HANGUP", &[], &[]);
        self.interrupt(st, uuid, true);
        self.unpark(st, uuid);
        let bridge = st.channels.get(uuid).and_then(|c| c.bridge.clone());
        if let Some((other, is_a)) = &bridge {
            if *is_a {
                self.channel_event(st, uuid, "CHANNEL_UNBRIDGE", &[], &[]);
            }
            if !is_a {
                self.channel_event(st, other, "CHANNEL_UNBRIDGE", &[], &[]);
            }
            if let Some(o) = st.channels.get_mut(other) {
                o.bridge = None;
            }
            if *is_a {
                // The other leg's UNBRIDGE after its partner's, as the capture shows both.
                if let Some(c) = st.channels.get_mut(uuid) {
                    c.bridge = None;
                }
                self.channel_event(st, other, "CHANNEL_UNBRIDGE", &[], &[]);
            }
        }
        if let Some(ch) = st.channels.get_mut(uuid) {
            ch.bridge = None;
            ch.state = ("CS_REPORTING", 11);
            ch.call_state = "HANGUP";
            write_cdr_vars(ch, now);
        }
        self.channel_event(
            st,
            uuid,
            "CHANNEL_HANGUP_COMPLETE",
            &[("Hangup-Cause", cause)],
            &[],
        );
        if let Some(ch) = st.channels.get_mut(uuid) {
            ch.state = ("CS_REPORTING", 12);
        }
        self.channel_event(st, uuid, "CHANNEL_DESTROY", &[], &[]);
        let Some(mut ch) = st.channels.remove(uuid) else {
            return;
        };
        if let Some(job) = ch.job.take() {
            self.finish_job(st, job, format!("-ERR {cause}\n"));
        }
        if let Some(report) = report_mut(st, uuid) {
            report.ended = Some(crate::clock::monotonic());
            report.hangup_cause = Some(cause.to_string());
            if report.outcome == SimCallOutcome::Up {
                report.outcome = match who {
                    Initiator::Remote => SimCallOutcome::Abandoned { during },
                    Initiator::Switch => SimCallOutcome::HungUpBySwitch {
                        cause: cause.to_string(),
                    },
                };
            }
        }
        if let Some((other, _)) = bridge {
            self.after_partner_hangup(st, &other, ch.direction);
        }
    }

    fn after_partner_hangup(self: &Arc<Self>, st: &mut State, uuid: &str, partner: Direction) {
        let park_after = st.channels.get(uuid).is_some_and(|c| {
            c.var("park_after_bridge")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        });
        if partner == Direction::Outbound && park_after {
            self.start_park(st, uuid, AppCall::new("park", ""));
        } else {
            self.hangup_channel(st, uuid, "NORMAL_CLEARING", Initiator::Switch);
        }
    }

    pub(crate) fn report_digits(&self, st: &mut State, uuid: &str, digits: &str) {
        if let Some(report) = report_mut(st, uuid) {
            report.digits_consumed.push(digits.to_string());
        }
    }
}

fn report_mut<'a>(st: &'a mut State, uuid: &str) -> Option<&'a mut SimCallReport> {
    let index = *st.report_index.get(uuid)?;
    st.reports.get_mut(index)
}

fn fire(listeners: &mut Vec<(u64, mpsc::UnboundedSender<Push>)>, event: Event) {
    if listeners.is_empty() {
        return;
    }
    let event = Arc::new(event);
    listeners.retain(|(_, tx)| tx.send(Push::Event(Arc::clone(&event))).is_ok());
}

/// The CDR variables HANGUP_COMPLETE carries (§6.8).
fn write_cdr_vars(ch: &mut Channel, now: i64) {
    let secs = |from: i64| {
        if from == 0 {
            0
        } else {
            (now - from).max(0) / 1_000_000
        }
    };
    let answered = ch.answered_us;
    let (duration, billsec) = (secs(ch.created_us), secs(answered));
    let waitsec = if answered == 0 {
        0
    } else {
        (answered - ch.created_us).max(0) / 1_000_000
    };
    let last_app = ch.last_app.clone();
    let vars = [
        ("end_uepoch", now.to_string()),
        ("end_epoch", (now / 1_000_000).to_string()),
        ("start_epoch", (ch.created_us / 1_000_000).to_string()),
        ("answer_epoch", (answered / 1_000_000).to_string()),
        ("duration", duration.to_string()),
        ("billsec", billsec.to_string()),
        ("answersec", waitsec.to_string()),
        ("waitsec", waitsec.to_string()),
        ("last_app", last_app),
    ];
    for (n, v) in vars {
        ch.set_var(n, v);
    }
}

fn q850(cause: &str) -> u16 {
    match cause {
        "UNALLOCATED_NUMBER" => 1,
        "NO_ROUTE_DESTINATION" => 3,
        "NORMAL_CLEARING" => 16,
        "USER_BUSY" => 17,
        "NO_USER_RESPONSE" => 18,
        "NO_ANSWER" => 19,
        "SUBSCRIBER_ABSENT" | "USER_NOT_REGISTERED" => 20,
        "CALL_REJECTED" => 21,
        "DESTINATION_OUT_OF_ORDER" => 27,
        "NORMAL_TEMPORARY_FAILURE" => 41,
        "RECOVERY_ON_TIMER_EXPIRE" => 102,
        "ORIGINATOR_CANCEL" => 487,
        _ => 0,
    }
}

/// CHANNEL_STATE, CHANNEL_CALLSTATE and DTMF carry no variables (§2).
fn carries_variables(name: &str) -> bool {
    !matches!(name, "CHANNEL_STATE" | "CHANNEL_CALLSTATE" | "DTMF")
}

/// Event-Calling-File/-Function/-Line-Number as FreeSWITCH 1.10.12 reports them.
fn origin(name: &str) -> (&'static str, &'static str, u32) {
    match name {
        "CHANNEL_CREATE" => (
            "switch_core_state_machine.c",
            "switch_core_session_run",
            626,
        ),
        "CHANNEL_ANSWER" => (
            "switch_channel.c",
            "switch_channel_perform_mark_answered",
            3846,
        ),
        "CHANNEL_PROGRESS" => (
            "switch_channel.c",
            "switch_channel_perform_mark_ring_ready_value",
            3521,
        ),
        "CHANNEL_PARK" => ("switch_ivr.c", "switch_ivr_park", 1002),
        "CHANNEL_UNPARK" => ("switch_ivr.c", "switch_ivr_park", 1213),
        "CHANNEL_EXECUTE" => ("switch_core_session.c", "switch_core_session_exec", 2944),
        "CHANNEL_EXECUTE_COMPLETE" => ("switch_core_session.c", "switch_core_session_exec", 2967),
        "CHANNEL_BRIDGE" => ("switch_ivr_bridge.c", "audio_bridge_on_exchange_media", 505),
        "CHANNEL_UNBRIDGE" => ("switch_ivr_bridge.c", "audio_bridge_on_exchange_media", 806),
        "CHANNEL_HANGUP" => ("switch_channel.c", "switch_channel_perform_hangup", 3445),
        "CHANNEL_HANGUP_COMPLETE" => (
            "switch_core_state_machine.c",
            "switch_core_session_reporting_state",
            943,
        ),
        "CHANNEL_DESTROY" => (
            "switch_core_session.c",
            "switch_core_session_perform_destroy",
            1584,
        ),
        "PLAYBACK_START" => ("switch_ivr_play_say.c", "switch_ivr_play_file", 1563),
        "PLAYBACK_STOP" => ("switch_ivr_play_say.c", "switch_ivr_play_file", 2052),
        "DTMF" => ("switch_channel.c", "switch_channel_dequeue_dtmf", 669),
        "HEARTBEAT" => ("switch_core.c", "send_heartbeat", 88),
        "BACKGROUND_JOB" => ("mod_event_socket.c", "api_exec", 1572),
        _ => ("mod_event_socket.c", "parse_command", 2466),
    }
}
