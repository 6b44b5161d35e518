//! A fake FreeSWITCH 1.10 for the demo, the tests and the load test: it speaks the real
//! inbound event-socket protocol byte for byte (`reference/freeswitch-esl.md`) and runs
//! simulated callers ([`CallerScript`]) and agent phones ([`PhoneBehavior`]). kefu's ESL client
//! connects to it exactly as to a real switch; `agents` drives the agent WebSocket side.
//!
//! Layout: `wire` (bytes), `connection` (one client socket), `switch` (channels, timers,
//! event fan-out), `app` (dialplan applications), `api` (api/bgapi commands), `channel`
//! (one channel's data), `agents` (simulated agents over WebSocket).

pub mod agents;
mod api;
mod app;
mod channel;
mod connection;
mod socket;
mod switch;
pub mod wire;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::domain::CallId;

/// How the fake switch behaves. Every duration is simulated time, multiplied by `time_scale`.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The event-socket password (`ClueCon`).
    pub password: String,
    /// 1.0 = real time; 0.01 = 100 times faster.
    pub time_scale: f64,
    /// HEARTBEAT period (20 s).
    pub heartbeat_interval: Duration,
    /// How long one playback (or one play_and_get_digits prompt) lasts (2 s).
    pub prompt_duration: Duration,
    /// `FreeSWITCH-Hostname` (`sim1`).
    pub hostname: String,
    /// The phone used for dial strings with no [`FakeFreeswitch::set_phone`] entry.
    pub default_phone: PhoneBehavior,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            password: "ClueCon".to_string(),
            time_scale: 1.0,
            heartbeat_interval: Duration::from_secs(20),
            prompt_duration: Duration::from_secs(2),
            hostname: "sim1".to_string(),
            default_phone: PhoneBehavior::Answer {
                ring: Duration::from_secs(2),
                talk: Duration::from_secs(60),
            },
        }
    }
}

/// What a simulated agent phone does when kefu originates to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhoneBehavior {
    /// Rings for `ring`, answers, and hangs up `talk` after being bridged.
    Answer {
        /// Ring time before answering.
        ring: Duration,
        /// Talk time once bridged; then the agent hangs up.
        talk: Duration,
    },
    /// Answers as `Answer`, except that `missed_percent` of the calls (0–100) ring until
    /// `originate_timeout` unanswered: an agent away from the desk now and then.
    SometimesAnswer {
        /// Ring time before answering.
        ring: Duration,
        /// Talk time once bridged; then the agent hangs up.
        talk: Duration,
        /// Calls in a hundred left ringing.
        missed_percent: u8,
    },
    /// Rings until `originate_timeout`: `-ERR NO_ANSWER`.
    NoAnswer,
    /// Refuses at once: `-ERR USER_BUSY`.
    Busy,
    /// Not registered: `-ERR USER_NOT_REGISTERED`, no channel is created.
    Unregistered,
}

impl PhoneBehavior {
    /// What the phone does with this one call: `SometimesAnswer` picks `Answer` or
    /// `NoAnswer`, the others are what they say.
    pub(crate) fn this_call(self) -> PhoneBehavior {
        match self {
            PhoneBehavior::SometimesAnswer {
                ring,
                talk,
                missed_percent,
            } => {
                if rand::random_range(0..100) < u32::from(missed_percent) {
                    PhoneBehavior::NoAnswer
                } else {
                    PhoneBehavior::Answer { ring, talk }
                }
            }
            other => other,
        }
    }
}

/// One simulated caller. Durations are simulated time (scaled by `time_scale`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerScript {
    /// Caller-Caller-ID-Number.
    pub caller_number: String,
    /// Caller-Caller-ID-Name.
    pub caller_name: String,
    /// Caller-Destination-Number.
    pub destination: String,
    /// One entry per play_and_get_digits, consumed in order; when empty the caller presses
    /// nothing and the application times out.
    pub digits: VecDeque<String>,
    /// Hangs up if not bridged to an agent this long after arriving.
    pub patience: Duration,
    /// Hangs up unconditionally this long after arriving.
    pub hangup_after: Option<Duration>,
    /// If set, the caller (not the agent) hangs up this long after the bridge.
    pub talk: Option<Duration>,
    /// Arrive already answered by the dialplan (CHANNEL_ANSWER before CHANNEL_PARK).
    pub answered: bool,
    /// The dialplan hands the call over with `socket <addr> async full` (outbound mode)
    /// instead of parking it.
    pub socket: Option<SocketAddr>,
}

impl CallerScript {
    /// A caller from `number` to `destination` who waits 10 minutes and presses nothing.
    pub fn new(number: impl Into<String>, destination: impl Into<String>) -> Self {
        let caller_number = number.into();
        Self {
            caller_name: caller_number.clone(),
            caller_number,
            destination: destination.into(),
            digits: VecDeque::new(),
            patience: Duration::from_secs(600),
            hangup_after: None,
            talk: None,
            answered: true,
            socket: None,
        }
    }

    /// The dialplan runs `socket <addr> async full` for this call (outbound mode).
    pub fn via_socket(mut self, addr: SocketAddr) -> Self {
        self.socket = Some(addr);
        self
    }

    /// Sets the caller name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.caller_name = name.into();
        self
    }

    /// Adds the keys pressed at the next play_and_get_digits.
    pub fn press(mut self, digits: impl Into<String>) -> Self {
        self.digits.push_back(digits.into());
        self
    }

    /// How long the caller waits for an agent.
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// Hang up unconditionally after this long.
    pub fn hangup_after(mut self, after: Duration) -> Self {
        self.hangup_after = Some(after);
        self
    }

    /// The caller ends the conversation this long after the bridge.
    pub fn talk(mut self, talk: Duration) -> Self {
        self.talk = Some(talk);
        self
    }

    /// Arrive ringing (not answered by the dialplan) when `false`.
    pub fn answered(mut self, answered: bool) -> Self {
        self.answered = answered;
        self
    }
}

/// A fault to inject into every open client connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close every client socket without a disconnect-notice.
    DropConnections,
    /// Stop reading and writing for this long (real time, not scaled).
    Stall(Duration),
    /// Write bytes that are not a valid frame.
    SendGarbage,
    /// Write an event frame whose Content-Length is this many bytes.
    SendOversizedFrame(usize),
}

/// What happened to an inbound call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimCallOutcome {
    /// Still up, never bridged.
    Up,
    /// Bridged to this agent leg (the call may still be up: see `ended`).
    Answered {
        /// The agent leg's channel UUID.
        agent_leg: CallId,
        /// The dial string it was originated to.
        dial_string: String,
    },
    /// The caller hung up before any bridge, while `during` ran (`park`, `playback`,
    /// `play_and_get_digits`, `ringing`, ...).
    Abandoned {
        /// The application running (or `park`) when the caller left.
        during: String,
    },
    /// kefu (or the dialplan) hung the caller up before any bridge.
    HungUpBySwitch {
        /// The hangup cause.
        cause: String,
    },
}

/// The sim's record of one inbound call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimCallReport {
    /// The caller leg's UUID.
    pub call: CallId,
    /// Caller number.
    pub caller_number: String,
    /// Dialled number.
    pub destination: String,
    /// What happened.
    pub outcome: SimCallOutcome,
    /// The digit strings consumed by play_and_get_digits, in order.
    pub digits_consumed: Vec<String>,
    /// When the call arrived (tokio time, so paused-time tests can measure).
    pub arrived: tokio::time::Instant,
    /// When it was bridged to an agent, and that agent leg's times.
    pub bridge: Option<BridgeTimes>,
    /// When the caller leg ended.
    pub ended: Option<tokio::time::Instant>,
    /// Hangup cause of the caller leg once ended.
    pub hangup_cause: Option<String>,
}

/// An answered call's agent leg, on the switch's wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BridgeTimes {
    /// The agent leg's `originate` arrived: the offer, as the switch sees it.
    pub originated: crate::domain::Timestamp,
    /// The agent's phone answered (the originate's BACKGROUND_JOB went out).
    pub agent_answered: crate::domain::Timestamp,
    /// The `uuid_bridge` arrived.
    pub bridged: crate::domain::Timestamp,
}

/// A running fake FreeSWITCH. Cheap to clone.
#[derive(Clone)]
pub struct FakeFreeswitch {
    inner: Arc<switch::Switch>,
    addr: SocketAddr,
}

impl FakeFreeswitch {
    /// Binds the event socket and starts accepting clients and sending heartbeats.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn start(bind: SocketAddr, config: SimConfig) -> std::io::Result<FakeFreeswitch> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let inner = switch::Switch::new(config);
        inner.spawn_background(listener);
        Ok(FakeFreeswitch { inner, addr })
    }

    /// The bound event-socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A new inbound call: CHANNEL_CREATE, (CHANNEL_ANSWER), CHANNEL_PARK (§6.1–6.2).
    pub fn place_call(&self, caller: CallerScript) -> CallId {
        self.inner.place_call(caller)
    }

    /// How the phone behind `dial_string` (`user/1001`) behaves from now on.
    pub fn set_phone(&self, dial_string: &str, phone: PhoneBehavior) {
        self.inner.set_phone(dial_string, phone);
    }

    /// Every inbound call so far, in arrival order.
    pub fn calls(&self) -> Vec<SimCallReport> {
        self.inner.reports()
    }

    /// Every command received, in order: its first line, with `auth` passwords redacted;
    /// a `sendmsg` with its header lines too (what to execute, and its argument).
    pub fn commands(&self) -> Vec<String> {
        self.inner.commands()
    }

    /// Injects a fault into every open client connection.
    pub fn inject(&self, fault: Fault) {
        self.inner.inject(fault);
    }

    /// The caller of `call` hangs up now with `cause`.
    pub fn hangup(&self, call: CallId, cause: &str) {
        self.inner.caller_hangup(&call.to_string(), cause);
    }

    /// Stops accepting, closes every client with a disconnect-notice and stops all timers.
    pub async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}
