//! One simulated FreeSWITCH channel (a caller leg or an agent leg) and the channel data it
//! contributes to events (`switch_channel_event_set_data`, `reference/freeswitch-esl.md` §2),
//! in the header order of the real 1.10.12 captures.

use std::collections::VecDeque;
use std::time::Duration;

use super::CallerScript;
use super::wire::Event;

/// Inbound (a customer calling in) or outbound (an agent leg kefu originated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// A dialplan application call: from sendmsg, uuid_broadcast or the dialplan itself.
#[derive(Clone, Debug)]
pub(crate) struct AppCall {
    pub name: String,
    pub arg: String,
    /// Comes back as `Application-UUID` (§5 `event-uuid`).
    pub uuid: String,
    /// `loops: -1`: repeat until interrupted.
    pub endless: bool,
}

/// What the running application is waiting for.
#[derive(Clone, Debug)]
pub(crate) enum Running {
    /// A prompt plays; `file` for PLAYBACK_STOP.
    Playback { file: String },
    /// play_and_get_digits: playing the prompt of try `try_no`, then waiting for keys.
    Digits {
        spec: super::app::DigitsSpec,
        try_no: u32,
        waiting: bool,
    },
    /// sleep.
    Sleep,
}

/// A channel's whole state. Lives in the switch's table until it is destroyed.
#[derive(Debug)]
pub(crate) struct Channel {
    pub uuid: String,
    pub direction: Direction,
    pub name: String,
    pub caller_number: String,
    pub caller_name: String,
    pub destination: String,
    pub state: (&'static str, u8),
    pub call_state: &'static str,
    pub answer_state: &'static str,
    pub hangup_cause: Option<String>,
    pub created_us: i64,
    pub answered_us: i64,
    pub progress_us: i64,
    pub bridged_us: i64,
    pub hangup_us: i64,
    pub vars: Vec<(String, String)>,
    /// The bridged leg and whether this leg is the bridge's A side.
    pub bridge: Option<(String, bool)>,
    pub ever_bridged: bool,
    /// The park application holding the channel (its EXECUTE_COMPLETE comes at unpark).
    pub parked: Option<AppCall>,
    pub current: Option<(AppCall, Running)>,
    pub queue: VecDeque<AppCall>,
    /// Bumped whenever the running app changes, so stale timers do nothing.
    pub generation: u64,
    /// Inbound: the caller's script.
    pub script: Option<CallerScript>,
    /// Outbound: how long the agent talks once bridged.
    pub agent_talk: Option<Duration>,
    /// Outbound: the originate job waiting for this leg's answer.
    pub job: Option<super::switch::Job>,
    pub dial_string: String,
    pub last_app: String,
    /// Inbound via the `socket` application: cancelled when the channel ends, so the
    /// socket's task sends the disconnect notice and closes.
    pub socket: Option<tokio_util::sync::CancellationToken>,
}

impl Channel {
    /// A fresh channel in CS_INIT (as CHANNEL_CREATE shows it).
    pub(crate) fn new(uuid: String, direction: Direction, name: String, now_us: i64) -> Self {
        Self {
            uuid,
            direction,
            name,
            caller_number: String::new(),
            caller_name: String::new(),
            destination: String::new(),
            state: ("CS_INIT", 2),
            call_state: "DOWN",
            answer_state: "ringing",
            hangup_cause: None,
            created_us: now_us,
            answered_us: 0,
            progress_us: 0,
            bridged_us: 0,
            hangup_us: 0,
            vars: Vec::new(),
            bridge: None,
            ever_bridged: false,
            parked: None,
            current: None,
            queue: VecDeque::new(),
            generation: 0,
            script: None,
            agent_talk: None,
            job: None,
            dial_string: String::new(),
            last_app: String::new(),
            socket: None,
        }
    }

    /// Sets a channel variable, keeping the first-set order FreeSWITCH keeps.
    pub(crate) fn set_var(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name.to_string(), value)),
        }
    }

    pub(crate) fn unset_var(&mut self, name: &str) {
        self.vars.retain(|(n, _)| n != name);
    }

    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn is_answered(&self) -> bool {
        self.answered_us != 0
    }

    /// Appends the channel data block: basic, codecs, caller profile, other leg, variables.
    pub(crate) fn write_data(&self, event: &mut Event, other: Option<&Channel>, with_vars: bool) {
        let dir = self.direction.as_str();
        event.push("Channel-State", self.state.0);
        event.push("Channel-Call-State", self.call_state);
        event.push("Channel-State-Number", self.state.1.to_string());
        event.push("Channel-Name", &self.name);
        event.push("Unique-ID", &self.uuid);
        event.push("Call-Direction", dir);
        event.push("Presence-Call-Direction", dir);
        event.push(
            "Channel-HIT-Dialplan",
            if self.direction == Direction::Inbound {
                "true"
            } else {
                "false"
            },
        );
        event.push("Channel-Call-UUID", &self.uuid);
        event.push("Answer-State", self.answer_state);
        if let Some(cause) = &self.hangup_cause {
            event.push("Hangup-Cause", cause);
        }
        for side in ["Read", "Write"] {
            event.push(format!("Channel-{side}-Codec-Name"), "PCMU");
            event.push(format!("Channel-{side}-Codec-Rate"), "8000");
            event.push(format!("Channel-{side}-Codec-Bit-Rate"), "64000");
        }
        self.write_profile(event, "Caller");
        if let Some(other) = other {
            let originator = self.bridge.as_ref().is_some_and(|(_, is_a)| *is_a);
            event.push(
                "Other-Type",
                if originator {
                    "originatee"
                } else {
                    "originator"
                },
            );
            other.write_profile(event, "Other-Leg");
        }
        if with_vars {
            for (name, value) in &self.vars {
                event.push(format!("variable_{name}"), value);
            }
        }
    }

    fn write_profile(&self, event: &mut Event, prefix: &str) {
        let dir = self.direction.as_str();
        let (context, source) = match self.direction {
            Direction::Inbound => ("default", "mod_sofia"),
            Direction::Outbound => ("default", "src/switch_ivr_originate.c"),
        };
        let fields: [(&str, String); 16] = [
            ("Direction", dir.to_string()),
            ("Logical-Direction", dir.to_string()),
            ("Username", self.caller_number.clone()),
            ("Dialplan", "XML".to_string()),
            ("Caller-ID-Name", self.caller_name.clone()),
            ("Caller-ID-Number", self.caller_number.clone()),
            ("Orig-Caller-ID-Name", self.caller_name.clone()),
            ("Orig-Caller-ID-Number", self.caller_number.clone()),
            ("Network-Addr", "127.0.0.1".to_string()),
            ("ANI", self.caller_number.clone()),
            ("Destination-Number", self.destination.clone()),
            ("Unique-ID", self.uuid.clone()),
            ("Source", source.to_string()),
            ("Context", context.to_string()),
            ("Channel-Name", self.name.clone()),
            ("Profile-Index", "1".to_string()),
        ];
        for (name, value) in fields {
            event.push(format!("{prefix}-{name}"), value);
        }
        let times = [
            ("Profile-Created-Time", self.created_us),
            ("Channel-Created-Time", self.created_us),
            ("Channel-Answered-Time", self.answered_us),
            ("Channel-Progress-Time", self.progress_us),
            ("Channel-Progress-Media-Time", 0),
            ("Channel-Hangup-Time", self.hangup_us),
            ("Channel-Transfer-Time", 0),
            ("Channel-Resurrect-Time", 0),
            ("Channel-Bridged-Time", self.bridged_us),
            ("Channel-Last-Hold", 0),
            ("Channel-Hold-Accum", 0),
        ];
        for (name, value) in times {
            event.push(format!("{prefix}-{name}"), value.to_string());
        }
        event.push(format!("{prefix}-Screen-Bit"), "true");
        event.push(format!("{prefix}-Privacy-Hide-Name"), "false");
        event.push(format!("{prefix}-Privacy-Hide-Number"), "false");
    }

    /// One row of `show channels as json`, with FreeSWITCH's column names.
    pub(crate) fn show_row(&self, hostname: &str) -> serde_json::Value {
        let created_s = self.created_us / 1_000_000;
        let created = chrono::DateTime::from_timestamp_micros(self.created_us)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let (application, application_data) = match (&self.current, &self.parked) {
            (Some((app, _)), _) => (app.name.clone(), app.arg.clone()),
            (None, Some(_)) => ("park".to_string(), String::new()),
            (None, None) => (String::new(), String::new()),
        };
        let call_uuid = match &self.bridge {
            Some((other, false)) => other.clone(),
            _ => self.uuid.clone(),
        };
        serde_json::json!({
            "uuid": self.uuid, "direction": self.direction.as_str(), "created": created,
            "created_epoch": created_s.to_string(), "name": self.name, "state": self.state.0,
            "cid_name": self.caller_name, "cid_num": self.caller_number, "ip_addr": "127.0.0.1",
            "dest": self.destination, "application": application,
            "application_data": application_data, "dialplan": "XML", "context": "default",
            "read_codec": "PCMU", "read_rate": "8000", "read_bit_rate": "64000",
            "write_codec": "PCMU", "write_rate": "8000", "write_bit_rate": "64000",
            "secure": "", "hostname": hostname, "presence_id": "", "presence_data": "",
            "accountcode": "", "callstate": self.call_state, "callee_name": "", "callee_num": "",
            "callee_direction": "", "call_uuid": call_uuid, "sent_callee_name": "",
            "sent_callee_num": "", "initial_cid_name": self.caller_name,
            "initial_cid_num": self.caller_number, "initial_ip_addr": "127.0.0.1",
            "initial_dest": self.destination, "initial_dialplan": "XML",
            "initial_context": "default"
        })
    }
}
