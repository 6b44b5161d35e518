//! `api`/`bgapi` commands (`reference/freeswitch-esl.md` §7): originate with its agent-leg
//! lifecycle (§6.5), the uuid_* call-control commands, `show channels as json` and `status`.
//! Output texts are spelled as mod_commands prints them.

use std::sync::Arc;
use std::time::Duration;

use super::PhoneBehavior;
use super::channel::{AppCall, Channel, Direction};
use super::switch::{Initiator, Job, State, Switch, Timer};

/// The result of an api command: printed now, or (originate) later through the job.
pub(crate) enum ApiOutput {
    Now(String),
    Later,
}

impl Switch {
    /// Runs `command args`. `job` receives originate's result; other commands answer at once.
    pub(crate) fn api(
        self: &Arc<Self>,
        command: &str,
        args: &str,
        job: Job,
    ) -> (ApiOutput, Option<Job>) {
        let mut st = self.lock();
        let words: Vec<&str> = args.split_whitespace().collect();
        let word = |i: usize| words.get(i).copied().unwrap_or("");
        let out = match command {
            "originate" => return self.originate(&mut st, args, job),
            "uuid_bridge" => {
                if self.bridge(&mut st, word(0), word(1)) {
                    format!("+OK {}\n", word(1))
                } else {
                    "-ERR Invalid uuid\n".to_string()
                }
            }
            "uuid_kill" => {
                if alive(&st, word(0)) {
                    let cause = if word(1).is_empty() {
                        "NORMAL_CLEARING"
                    } else {
                        word(1)
                    };
                    self.hangup_channel(&mut st, word(0), cause, Initiator::Switch);
                    "+OK\n".to_string()
                } else {
                    "-ERR No such channel!\n".to_string()
                }
            }
            "uuid_exists" => alive(&st, word(0)).to_string(),
            "uuid_getvar" => st
                .channels
                .get(word(0))
                .and_then(|c| c.var(word(1)))
                .unwrap_or("_undef_")
                .to_string(),
            "uuid_setvar" => match st.channels.get_mut(word(0)) {
                Some(ch) => {
                    let value = args.splitn(3, ' ').nth(2).map(str::trim).unwrap_or("");
                    if value.is_empty() {
                        ch.unset_var(word(1))
                    } else {
                        ch.set_var(word(1), value)
                    }
                    "+OK\n".to_string()
                }
                None => "-ERR No such channel!\n".to_string(),
            },
            "uuid_broadcast" => self.broadcast(&mut st, &words),
            "uuid_break" => {
                if alive(&st, word(0)) {
                    self.break_app(&mut st, word(0), word(1) == "all");
                    "+OK\n".to_string()
                } else {
                    "-ERR No such channel!\n".to_string()
                }
            }
            "uuid_park" => {
                if alive(&st, word(0)) {
                    self.interrupt(&mut st, word(0), true);
                    self.start_park(&mut st, word(0), AppCall::new("park", ""));
                    "+OK\n".to_string()
                } else {
                    "-ERR No such channel!\n".to_string()
                }
            }
            "uuid_answer" => {
                if alive(&st, word(0)) {
                    self.mark_answered(&mut st, word(0));
                    "+OK\n".to_string()
                } else {
                    "-ERROR\n".to_string()
                }
            }
            "uuid_transfer" => {
                if alive(&st, word(0)) {
                    "+OK\n".to_string()
                } else {
                    "-ERR No such channel!\n".to_string()
                }
            }
            "show"
                if args.trim_start().starts_with("channels")
                    || args.trim_start().starts_with("calls") =>
            {
                show_channels(&st, &self.config.hostname)
            }
            "status" => self.status(&st),
            "uptime" => self.started.elapsed().as_secs().to_string(),
            "hostname" => self.config.hostname.clone(),
            "version" => "FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)\n".to_string(),
            _ => format!("-ERR {command} Command not found!\n"),
        };
        (ApiOutput::Now(out), Some(job))
    }

    fn broadcast(self: &Arc<Self>, st: &mut State, words: &[&str]) -> String {
        let (Some(uuid), Some(what)) = (words.first(), words.get(1)) else {
            return "-USAGE: <uuid> <path> [aleg|bleg|both]\n".to_string();
        };
        if !alive(st, uuid) {
            return "-ERR Cannot locate session!\n".to_string();
        }
        let app = match what.split_once("::") {
            Some((name, arg)) => AppCall::new(name, arg),
            None => AppCall::new("playback", what),
        };
        self.execute(st, uuid, app);
        "+OK Message sent\n".to_string()
    }

    fn status(&self, st: &State) -> String {
        let up = uptime_text(self.started.elapsed());
        format!(
            "UP {up}\nFreeSWITCH (Version 1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit) is ready\n\
             {total} session(s) since startup\n{now} session(s) - peak {now}, last 5min {now} \n\
             0 session(s) per Sec out of max 1000, peak 0, last 5min 0 \n4000 session(s) max\n\
             min idle cpu 0.00/98.50\nCurrent Stack Size/Max 240K/8192K\n",
            total = st.sessions_total,
            now = st.channels.len(),
        )
    }

    /// originate `{vars}<endpoint> &park()` (§6.5, §7).
    fn originate(
        self: &Arc<Self>,
        st: &mut State,
        args: &str,
        job: Job,
    ) -> (ApiOutput, Option<Job>) {
        let Some((dial, _app)) = split_originate(args) else {
            return (ApiOutput::Now("-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n".to_string()), Some(job));
        };
        let (vars, endpoint) = parse_dial_string(&dial);
        let var = |name: &str| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        if let Some(cause) = endpoint.strip_prefix("error/") {
            return (ApiOutput::Now(format!("-ERR {cause}\n")), Some(job));
        }
        let phone = st
            .phones
            .get(&endpoint)
            .or_else(|| {
                endpoint
                    .split_once('@')
                    .and_then(|(user, _)| st.phones.get(user))
            })
            .cloned()
            .unwrap_or_else(|| self.config.default_phone.clone())
            .this_call();
        if phone == PhoneBehavior::Unregistered {
            return (
                ApiOutput::Now("-ERR USER_NOT_REGISTERED\n".to_string()),
                Some(job),
            );
        }
        let uuid = var("origination_uuid")
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
        if st.channels.contains_key(&uuid) {
            return (
                ApiOutput::Now("-ERR DESTINATION_OUT_OF_ORDER\n".to_string()),
                Some(job),
            );
        }
        let timeout = var("originate_timeout")
            .or_else(|| var("call_timeout"))
            .and_then(|t| t.parse::<u64>().ok())
            .map_or(Duration::from_secs(30), Duration::from_secs);
        let user = endpoint
            .rsplit('/')
            .next()
            .unwrap_or(&endpoint)
            .split('@')
            .next()
            .unwrap_or("")
            .to_string();
        let now = crate::clock::now().as_micros();
        let name = format!("sofia/internal/{user}@127.0.0.1");
        let mut ch = Channel::new(uuid.clone(), Direction::Outbound, name.clone(), now);
        ch.caller_number = var("origination_caller_id_number")
            .unwrap_or("0000000000")
            .to_string();
        ch.caller_name = var("origination_caller_id_name")
            .unwrap_or("FreeSWITCH")
            .to_string();
        ch.destination = user.clone();
        ch.dial_string = endpoint.clone();
        ch.call_state = "DOWN";
        for (n, v) in &vars {
            ch.set_var(n, v.as_str());
        }
        st.sessions_total += 1;
        let base = [
            ("direction", "outbound".to_string()),
            ("is_outbound", "true".to_string()),
            ("uuid", uuid.clone()),
            ("call_uuid", uuid.clone()),
            ("session_id", st.sessions_total.to_string()),
            ("channel_name", name),
            ("dialed_user", user),
            ("dialed_domain", "127.0.0.1".to_string()),
            ("read_codec", "PCMU".to_string()),
            ("write_codec", "PCMU".to_string()),
            ("start_uepoch", now.to_string()),
        ];
        for (n, v) in base {
            ch.set_var(n, v);
        }
        ch.job = Some(job);
        st.channels.insert(uuid.clone(), ch);
        self.channel_event(st, &uuid, "CHANNEL_CREATE", &[], &[]);
        match phone {
            PhoneBehavior::Busy | PhoneBehavior::Unregistered => {
                self.hangup_channel(st, &uuid, "USER_BUSY", Initiator::Remote);
            }
            PhoneBehavior::NoAnswer => {
                self.progress(st, &uuid);
                self.schedule(timeout, &uuid, Timer::OriginateTimeout);
            }
            // `this_call` has made `SometimesAnswer` one of the others; listed for the match.
            PhoneBehavior::Answer { ring, talk }
            | PhoneBehavior::SometimesAnswer { ring, talk, .. } => {
                self.progress(st, &uuid);
                if let Some(ch) = st.channels.get_mut(&uuid) {
                    ch.agent_talk = Some(talk);
                }
                if ring >= timeout {
                    self.schedule(timeout, &uuid, Timer::OriginateTimeout);
                } else {
                    self.schedule(ring, &uuid, Timer::PhoneAnswer);
                    self.schedule(timeout, &uuid, Timer::OriginateTimeout);
                }
            }
        }
        (ApiOutput::Later, None)
    }

    fn progress(&self, st: &mut State, uuid: &str) {
        let now = crate::clock::now().as_micros();
        if let Some(ch) = st.channels.get_mut(uuid) {
            ch.progress_us = now;
            ch.call_state = "RINGING";
            ch.state = ("CS_CONSUME_MEDIA", 7);
        }
        self.channel_event(st, uuid, "CHANNEL_PROGRESS", &[], &[]);
    }
}

fn alive(st: &State, uuid: &str) -> bool {
    st.channels
        .get(uuid)
        .is_some_and(|c| c.hangup_cause.is_none())
}

/// `show channels as json`: `{"row_count": 0}` with no rows (§7), else the rows.
fn show_channels(st: &State, hostname: &str) -> String {
    if st.channels.is_empty() {
        return "{\"row_count\": 0}\n".to_string();
    }
    let mut channels: Vec<&Channel> = st.channels.values().collect();
    channels.sort_by_key(|c| c.created_us);
    let rows: Vec<serde_json::Value> = channels.iter().map(|c| c.show_row(hostname)).collect();
    let doc = serde_json::json!({ "row_count": rows.len(), "rows": rows });
    format!("{doc}\n")
}

/// `0 years, 0 days, 0 hours, 1 minute, 1 second, 458 milliseconds, 974 microseconds`
pub(crate) fn uptime_text(up: Duration) -> String {
    let total = up.as_secs();
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "0 years, {}, {}, {}, {}, {}, {}",
        plural(total / 86_400, "day"),
        plural(total / 3600 % 24, "hour"),
        plural(total / 60 % 60, "minute"),
        plural(total % 60, "second"),
        plural(u64::from(up.subsec_millis()), "millisecond"),
        plural(u64::from(up.subsec_micros() % 1000), "microsecond"),
    )
}

/// Splits originate's arguments into the dial string and the application/extension,
/// honouring `{…}` blocks and `'…'` quoting (§7).
fn split_originate(args: &str) -> Option<(String, String)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut depth, mut quoted) = (0u32, false);
    for c in args.trim().chars() {
        match c {
            '{' | '[' if !quoted => {
                depth += 1;
                word.push(c)
            }
            '}' | ']' if !quoted => {
                depth = depth.saturating_sub(1);
                word.push(c)
            }
            '\'' => quoted = !quoted,
            ' ' if depth == 0 && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut words = words.into_iter();
    Some((words.next()?, words.next()?))
}

/// `{a=1,b=2}[c=3]user/1001,user/1002` → variables and the first endpoint.
fn parse_dial_string(dial: &str) -> (Vec<(String, String)>, String) {
    let mut vars = Vec::new();
    let mut rest = dial.trim();
    while let Some(open) = rest.chars().next().filter(|c| *c == '{' || *c == '[') {
        let close = if open == '{' { '}' } else { ']' };
        let Some(end) = rest.find(close) else { break };
        for pair in split_unescaped_commas(&rest[1..end]) {
            if let Some((n, v)) = pair.split_once('=') {
                vars.push((n.trim().to_string(), v.to_string()));
            }
        }
        rest = &rest[end + 1..];
    }
    let endpoint = rest.split([',', '|']).next().unwrap_or("").to_string();
    (vars, endpoint)
}

fn split_unescaped_commas(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                chars.next();
                if let Some(p) = parts.last_mut() {
                    p.push(',');
                }
            }
            ',' => parts.push(String::new()),
            c => {
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    parts.retain(|p| !p.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn originate_arguments_keep_variable_blocks_whole() {
        let (dial, app) =
            split_originate("{origination_uuid=x,a=b c}user/1001 &park()").unwrap_or_default();
        assert_eq!(dial, "{origination_uuid=x,a=b c}user/1001");
        assert_eq!(app, "&park()");
        let (vars, endpoint) = parse_dial_string(&dial);
        assert_eq!(endpoint, "user/1001");
        assert_eq!(vars[0], ("origination_uuid".to_string(), "x".to_string()));
        assert_eq!(vars[1], ("a".to_string(), "b c".to_string()));
        let (vars, endpoint) = parse_dial_string("{x=1\\,2}[y=3]user/1002,user/1003");
        assert_eq!(endpoint, "user/1002");
        assert_eq!(
            vars,
            vec![("x".into(), "1,2".into()), ("y".into(), "3".into())]
        );
    }

    #[test]
    fn uptime_reads_like_status() {
        assert_eq!(
            uptime_text(Duration::from_micros(61_458_974)),
            "0 years, 0 days, 0 hours, 1 minute, 1 second, 458 milliseconds, 974 microseconds"
        );
    }
}
