//! Dialplan applications as the sim runs them (`reference/freeswitch-esl.md` §5–§7): answer,
//! park, playback, play_and_get_digits, set, hangup, sleep. Applications queue per channel
//! and run one after another, as with `event-lock: true`; a parked channel runs them from its
//! park loop, so park's own EXECUTE_COMPLETE waits for the unpark.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::channel::{AppCall, Running};
use super::switch::{Initiator, State, Switch, Timer};

/// The arguments of play_and_get_digits (§7).
#[derive(Clone, Debug)]
pub(crate) struct DigitsSpec {
    min: usize,
    max: usize,
    tries: u32,
    timeout: Duration,
    terminators: String,
    prompt: String,
    var: String,
    regex: Option<regex::Regex>,
}

impl DigitsSpec {
    /// `<min> <max> <tries> <timeout_ms> <terminators> <prompt> <invalid_prompt> <var> <regex> …`
    pub(crate) fn parse(arg: &str) -> Option<DigitsSpec> {
        let words = super::wire::split_arguments(arg);
        let number = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
        let timeout_ms = number(3)?.max(1000);
        let regex = words
            .get(8)
            .filter(|r| !r.is_empty())
            .and_then(|r| digits_pattern(r));
        Some(DigitsSpec {
            min: usize::try_from(number(0)?).ok()?,
            max: usize::try_from(number(1)?).ok()?,
            tries: u32::try_from(number(2)?.max(1)).ok()?,
            timeout: Duration::from_millis(timeout_ms),
            terminators: words.get(4).map_or("#", |t| t.as_str()).to_string(),
            prompt: words.get(5)?.to_string(),
            var: words.get(7)?.to_string(),
            regex,
        })
    }
}

/// A `play_and_get_digits` pattern, compiled once per text: flows use a handful, and
/// compiling one at every prompt took 3 % of the load generator's CPU at 1,000 calls/s.
fn digits_pattern(text: &str) -> Option<regex::Regex> {
    static COMPILED: std::sync::LazyLock<Mutex<HashMap<String, Option<regex::Regex>>>> =
        std::sync::LazyLock::new(Mutex::default);
    let mut compiled = COMPILED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if compiled.len() > 1_000 {
        compiled.clear(); // patterns from a peer that makes up new ones
    }
    (compiled.entry(text.to_owned()))
        .or_insert_with(|| regex::Regex::new(&format!("^(?:{text})$")).ok())
        .clone()
}

impl AppCall {
    /// An application call with a fresh Application-UUID.
    pub(crate) fn new(name: &str, arg: &str) -> Self {
        Self {
            name: name.to_string(),
            arg: arg.to_string(),
            uuid: uuid::Uuid::new_v4().to_string(),
            endless: false,
        }
    }
}

impl Switch {
    /// Queues an application on a channel (sendmsg execute, uuid_broadcast).
    pub(crate) fn execute(self: &Arc<Self>, st: &mut State, uuid: &str, app: AppCall) {
        if let Some(ch) = st.channels.get_mut(uuid) {
            ch.queue.push_back(app);
        }
        self.run_next(st, uuid);
    }

    fn run_next(self: &Arc<Self>, st: &mut State, uuid: &str) {
        loop {
            let Some(ch) = st.channels.get_mut(uuid) else {
                return;
            };
            if ch.current.is_some() || ch.hangup_cause.is_some() {
                return;
            }
            let Some(app) = ch.queue.pop_front() else {
                return;
            };
            self.start_app(st, uuid, app);
        }
    }

    /// EXECUTE, then the application's own behaviour.
    pub(crate) fn start_app(self: &Arc<Self>, st: &mut State, uuid: &str, app: AppCall) {
        if app.name == "park" {
            self.start_park(st, uuid, app);
            return;
        }
        let Some(ch) = st.channels.get_mut(uuid) else {
            return;
        };
        ch.set_var("current_application", app.name.as_str());
        ch.last_app.clone_from(&app.name);
        ch.generation += 1;
        let generation = ch.generation;
        let exec = exec_headers(&app);
        self.channel_event(st, uuid, "CHANNEL_EXECUTE", &[], &as_refs(&exec));
        let prompt = self.config.prompt_duration;
        match app.name.as_str() {
            "answer" | "pre_answer" => {
                self.mark_answered(st, uuid);
                self.set_running(st, uuid, app, Running::Sleep);
                self.complete(st, uuid, "_none_");
            }
            "playback" => {
                let file = app.arg.clone();
                let endless = app.endless || file.starts_with("local_stream://");
                self.channel_event(
                    st,
                    uuid,
                    "PLAYBACK_START",
                    &[],
                    &[("Playback-File-Path", &file)],
                );
                self.set_running(st, uuid, app, Running::Playback { file });
                if !endless {
                    self.schedule(prompt, uuid, Timer::AppDone(generation));
                }
            }
            "play_and_get_digits" => match DigitsSpec::parse(&app.arg) {
                Some(spec) => {
                    let prompt_file = spec.prompt.clone();
                    self.channel_event(
                        st,
                        uuid,
                        "PLAYBACK_START",
                        &[],
                        &[("Playback-File-Path", &prompt_file)],
                    );
                    self.set_running(
                        st,
                        uuid,
                        app,
                        Running::Digits {
                            spec,
                            try_no: 1,
                            waiting: false,
                        },
                    );
                    self.schedule(prompt, uuid, Timer::AppDone(generation));
                }
                None => {
                    self.set_running(st, uuid, app, Running::Sleep);
                    self.complete(st, uuid, "_none_");
                }
            },
            "sleep" => {
                let ms = app.arg.trim().parse::<u64>().unwrap_or(0);
                self.set_running(st, uuid, app, Running::Sleep);
                self.schedule(Duration::from_millis(ms), uuid, Timer::AppDone(generation));
            }
            "set" | "export" => {
                if let (Some((name, value)), Some(ch)) =
                    (app.arg.split_once('='), st.channels.get_mut(uuid))
                {
                    if value.is_empty() {
                        ch.unset_var(name)
                    } else {
                        ch.set_var(name, value)
                    }
                }
                self.set_running(st, uuid, app, Running::Sleep);
                self.complete(st, uuid, "_none_");
            }
            "hangup" => {
                let cause = if app.arg.trim().is_empty() {
                    "NORMAL_CLEARING".to_string()
                } else {
                    app.arg.trim().to_string()
                };
                self.set_running(st, uuid, app, Running::Sleep);
                self.hangup_channel(st, uuid, &cause, Initiator::Switch);
            }
            _ => {
                self.set_running(st, uuid, app, Running::Sleep);
                self.complete(st, uuid, "_none_");
            }
        }
    }

    fn set_running(&self, st: &mut State, uuid: &str, app: AppCall, running: Running) {
        if let Some(ch) = st.channels.get_mut(uuid) {
            ch.current = Some((app, running));
        }
    }

    /// EXECUTE_COMPLETE for the running app, then the next queued one.
    fn complete(self: &Arc<Self>, st: &mut State, uuid: &str, response: &str) {
        self.finish_current(st, uuid, response);
        self.run_next(st, uuid);
    }

    fn finish_current(&self, st: &mut State, uuid: &str, response: &str) {
        let Some(ch) = st.channels.get_mut(uuid) else {
            return;
        };
        let Some((app, _)) = ch.current.take() else {
            return;
        };
        ch.generation += 1;
        let mut headers = exec_headers(&app);
        headers.insert(2, ("Application-Response", response.to_string()));
        self.channel_event(
            st,
            uuid,
            "CHANNEL_EXECUTE_COMPLETE",
            &[],
            &as_refs(&headers),
        );
    }

    /// EXECUTE park, then CHANNEL_PARK (§6.2); queued apps then run from the park loop.
    pub(crate) fn start_park(self: &Arc<Self>, st: &mut State, uuid: &str, app: AppCall) {
        let Some(ch) = st.channels.get_mut(uuid) else {
            return;
        };
        if ch.parked.is_some() {
            return;
        }
        ch.set_var("current_application", &app.name);
        ch.last_app.clone_from(&app.name);
        ch.state = ("CS_EXECUTE", 4);
        let exec = exec_headers(&app);
        self.channel_event(st, uuid, "CHANNEL_EXECUTE", &[], &as_refs(&exec));
        self.park_in(st, uuid, app);
    }

    /// Parks the channel inside `app` (park itself, or `socket` once `connect` came).
    pub(crate) fn park_in(self: &Arc<Self>, st: &mut State, uuid: &str, app: AppCall) {
        match st.channels.get_mut(uuid) {
            Some(ch) if ch.parked.is_none() => ch.parked = Some(app),
            _ => return,
        }
        self.channel_event(st, uuid, "CHANNEL_PARK", &[], &[]);
        self.run_next(st, uuid);
    }

    /// CHANNEL_EXECUTE of an application that holds the channel itself (`socket`).
    pub(crate) fn announce_execute(&self, st: &mut State, uuid: &str, app: &AppCall) {
        if let Some(ch) = st.channels.get_mut(uuid) {
            ch.set_var("current_application", &app.name);
            ch.last_app.clone_from(&app.name);
            ch.state = ("CS_EXECUTE", 4);
        }
        let exec = exec_headers(app);
        self.channel_event(st, uuid, "CHANNEL_EXECUTE", &[], &as_refs(&exec));
    }

    /// UNPARK and park's EXECUTE_COMPLETE (bridge, hangup).
    pub(crate) fn unpark(&self, st: &mut State, uuid: &str) {
        let Some(app) = st.channels.get_mut(uuid).and_then(|c| c.parked.take()) else {
            return;
        };
        self.channel_event(st, uuid, "CHANNEL_UNPARK", &[], &[]);
        let mut headers = exec_headers(&app);
        headers.insert(2, ("Application-Response", "_none_".to_string()));
        self.channel_event(
            st,
            uuid,
            "CHANNEL_EXECUTE_COMPLETE",
            &[],
            &as_refs(&headers),
        );
    }

    /// Breaks the running app (bridge, hangup, uuid_break); `flush` drops the queue too.
    pub(crate) fn interrupt(&self, st: &mut State, uuid: &str, flush: bool) {
        let Some(ch) = st.channels.get_mut(uuid) else {
            return;
        };
        if flush {
            ch.queue.clear();
        }
        let Some((_, running)) = &ch.current else {
            return;
        };
        match running.clone() {
            Running::Playback { file } => {
                self.channel_event(
                    st,
                    uuid,
                    "PLAYBACK_STOP",
                    &[],
                    &[("Playback-File-Path", &file), ("Playback-Status", "break")],
                );
                self.finish_current(st, uuid, "FILE PLAYED");
            }
            Running::Digits { spec, waiting, .. } => {
                if !waiting {
                    self.channel_event(
                        st,
                        uuid,
                        "PLAYBACK_STOP",
                        &[],
                        &[
                            ("Playback-File-Path", &spec.prompt),
                            ("Playback-Status", "break"),
                        ],
                    );
                }
                if let Some(ch) = st.channels.get_mut(uuid) {
                    ch.set_var("read_result", "failure");
                }
                self.finish_current(st, uuid, "_none_");
            }
            Running::Sleep => self.finish_current(st, uuid, "_none_"),
        }
    }

    /// uuid_break: stop the running app and go on with the queue.
    pub(crate) fn break_app(self: &Arc<Self>, st: &mut State, uuid: &str, all: bool) {
        self.interrupt(st, uuid, all);
        self.run_next(st, uuid);
    }

    /// A running app's timer fired (prompt over, digit wait over, sleep over).
    pub(crate) fn app_timer(self: &Arc<Self>, st: &mut State, uuid: &str) {
        let Some(running) = st
            .channels
            .get(uuid)
            .and_then(|c| c.current.as_ref())
            .map(|(_, r)| r.clone())
        else {
            return;
        };
        match running {
            Running::Playback { file } => {
                self.channel_event(
                    st,
                    uuid,
                    "PLAYBACK_STOP",
                    &[],
                    &[("Playback-File-Path", &file), ("Playback-Status", "done")],
                );
                self.complete(st, uuid, "FILE PLAYED");
            }
            Running::Sleep => self.complete(st, uuid, "_none_"),
            Running::Digits {
                spec,
                try_no,
                waiting: false,
            } => self.prompt_done(st, uuid, spec, try_no),
            Running::Digits {
                spec,
                try_no,
                waiting: true,
            } => {
                if try_no < spec.tries {
                    self.retry_prompt(st, uuid, spec, try_no + 1);
                } else {
                    if let Some(ch) = st.channels.get_mut(uuid) {
                        ch.set_var("read_result", "timeout");
                    }
                    self.complete(st, uuid, "_none_");
                }
            }
        }
    }

    fn retry_prompt(self: &Arc<Self>, st: &mut State, uuid: &str, spec: DigitsSpec, try_no: u32) {
        self.channel_event(
            st,
            uuid,
            "PLAYBACK_START",
            &[],
            &[("Playback-File-Path", &spec.prompt)],
        );
        let Some(ch) = st.channels.get_mut(uuid) else {
            return;
        };
        ch.generation += 1;
        let generation = ch.generation;
        if let Some((_, running)) = &mut ch.current {
            *running = Running::Digits {
                spec,
                try_no,
                waiting: false,
            };
        }
        self.schedule(
            self.config.prompt_duration,
            uuid,
            Timer::AppDone(generation),
        );
    }

    /// The prompt ended: the caller presses the script's next digits, or nothing.
    fn prompt_done(self: &Arc<Self>, st: &mut State, uuid: &str, spec: DigitsSpec, try_no: u32) {
        self.channel_event(
            st,
            uuid,
            "PLAYBACK_STOP",
            &[],
            &[
                ("Playback-File-Path", &spec.prompt),
                ("Playback-Status", "done"),
            ],
        );
        let pressed = st
            .channels
            .get_mut(uuid)
            .and_then(|c| c.script.as_mut())
            .and_then(|s| s.digits.pop_front());
        let Some(pressed) = pressed else {
            let Some(ch) = st.channels.get_mut(uuid) else {
                return;
            };
            ch.generation += 1;
            let generation = ch.generation;
            if let Some((_, running)) = &mut ch.current {
                *running = Running::Digits {
                    spec: spec.clone(),
                    try_no,
                    waiting: true,
                };
            }
            self.schedule(spec.timeout, uuid, Timer::AppDone(generation));
            return;
        };
        self.report_digits(st, uuid, &pressed);
        for digit in pressed.chars() {
            let digit = digit.to_string();
            self.channel_event(
                st,
                uuid,
                "DTMF",
                &[],
                &[
                    ("DTMF-Digit", &digit),
                    ("DTMF-Duration", "2000"),
                    ("DTMF-Source", "RTP"),
                ],
            );
        }
        let (entered, terminator) = match pressed
            .char_indices()
            .find(|(_, c)| spec.terminators.contains(*c))
        {
            Some((i, c)) => (&pressed[..i], Some(c.to_string())),
            None => (pressed.as_str(), None),
        };
        let length_ok = (spec.min..=spec.max).contains(&entered.chars().count());
        let regex_ok = spec.regex.as_ref().is_none_or(|r| r.is_match(entered));
        if let Some(ch) = st.channels.get_mut(uuid) {
            if let Some(t) = &terminator {
                ch.set_var("read_terminator_used", t.as_str());
            }
            if length_ok && regex_ok {
                ch.set_var(&spec.var, entered);
                ch.set_var("read_result", "success");
            } else {
                ch.set_var(&format!("{}_invalid", spec.var), entered);
                ch.set_var("read_result", "failure");
            }
        }
        self.complete(st, uuid, "_none_");
    }
}

fn exec_headers(app: &AppCall) -> Vec<(&'static str, String)> {
    vec![
        ("Application", app.name.clone()),
        ("Application-Data", app.arg.clone()),
        ("Application-UUID", app.uuid.clone()),
    ]
}

fn as_refs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    headers.iter().map(|(n, v)| (*n, v.as_str())).collect()
}
