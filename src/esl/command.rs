//! Typed commands kefu sends to FreeSWITCH, and their exact wire text (reference §3, §5, §7).
//!
//! Arguments never contain `\r` or `\n`: a raw newline would end the command early and let a
//! caller-controlled value inject another command. Building a command with one is refused.

use bytes::Bytes;

use crate::config::Secret;
use crate::domain::CallId;
use crate::esl::error::EslError;
use crate::esl::frame::{check_arg, encode_command};

/// A command for one FreeSWITCH connection. The engine builds these; the connection writes
/// them and routes the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `sendmsg <uuid>` with `call-command: execute`, `event-lock: true` and `event-uuid`
    /// (comes back as `Application-UUID` on CHANNEL_EXECUTE_COMPLETE).
    Execute {
        /// The channel.
        channel: CallId,
        /// Dialplan application (`answer`, `playback`, `play_and_get_digits`, ...).
        app: String,
        /// Its argument (may be empty).
        arg: String,
        /// Correlation id for the matching CHANNEL_EXECUTE_COMPLETE.
        event_uuid: uuid::Uuid,
    },
    /// `sendmsg <uuid>` with `call-command: hangup` and `hangup-cause`.
    Hangup {
        /// The channel.
        channel: CallId,
        /// e.g. `NORMAL_CLEARING`.
        cause: String,
    },
    /// `api <command> <args>`: quick commands only (`uuid_bridge`, `uuid_kill`,
    /// `uuid_broadcast`, `uuid_setvar`); `api` blocks the connection in FreeSWITCH.
    Api {
        /// The channel the command concerns, so a `-ERR` can be routed to its call.
        channel: Option<CallId>,
        /// The command word.
        command: &'static str,
        /// Its arguments.
        args: String,
    },
    /// `bgapi <command> <args>` with a `Job-UUID` header chosen by kefu, so BACKGROUND_JOB
    /// can be matched without waiting for the reply (`originate`).
    Bgapi {
        /// The Job-UUID kefu chose.
        job: uuid::Uuid,
        /// The command word.
        command: &'static str,
        /// Its arguments.
        args: String,
    },
}

impl Command {
    /// The channel this command concerns, if any.
    pub fn channel(&self) -> Option<CallId> {
        match self {
            Command::Execute { channel, .. } | Command::Hangup { channel, .. } => Some(*channel),
            Command::Api { channel, .. } => *channel,
            Command::Bgapi { .. } => None,
        }
    }

    /// The exact wire text (reference §3, §5):
    /// - `sendmsg <uuid>\ncall-command: execute\nexecute-app-name: <app>\nexecute-app-arg: <arg>\nevent-lock: true\nevent-uuid: <uuid>\n\n`
    ///   (no `execute-app-arg` line when the argument is empty),
    /// - `sendmsg <uuid>\ncall-command: hangup\nhangup-cause: <cause>\n\n`,
    /// - `api <cmd> <args>\n\n`, `bgapi <cmd> <args>\nJob-UUID: <job>\n\n`.
    ///
    /// # Errors
    /// `UnsafeArgument` when any argument contains `\r` or `\n`.
    pub fn to_wire(&self) -> Result<Bytes, EslError> {
        match self {
            Command::Execute {
                channel,
                app,
                arg,
                event_uuid,
            } => {
                check_arg("app", app)?;
                check_arg("arg", arg)?;
                let event_uuid = event_uuid.hyphenated().to_string();
                let mut headers = vec![
                    ("call-command", "execute"),
                    ("execute-app-name", app.as_str()),
                ];
                if !arg.is_empty() {
                    headers.push(("execute-app-arg", arg.as_str()));
                }
                headers.push(("event-lock", "true"));
                headers.push(("event-uuid", &event_uuid));
                encode_command(&format!("sendmsg {channel}"), &headers, None)
            }
            Command::Hangup { channel, cause } => {
                check_arg("cause", cause)?;
                encode_command(
                    &format!("sendmsg {channel}"),
                    &[("call-command", "hangup"), ("hangup-cause", cause)],
                    None,
                )
            }
            Command::Api { command, args, .. } => api(command, args),
            Command::Bgapi { job, command, args } => bgapi(command, args, *job),
        }
    }

    /// The command word, for logs and metrics.
    pub fn word(&self) -> &'static str {
        match self {
            Command::Execute { .. } | Command::Hangup { .. } => "sendmsg",
            Command::Api { command, .. } | Command::Bgapi { command, .. } => command,
        }
    }
}

/// `api <cmd> <args>\n\n` (no trailing space when `args` is empty).
///
/// # Errors
/// `UnsafeArgument` when `cmd` or `args` contains `\r` or `\n`.
pub fn api(command: &str, args: &str) -> Result<Bytes, EslError> {
    check_arg("command", command)?;
    check_arg("args", args)?;
    encode_command(&join("api", command, args), &[], None)
}

/// `bgapi <cmd> <args>\nJob-UUID: <job>\n\n`: kefu chooses the Job-UUID so that the
/// BACKGROUND_JOB can be matched before the reply arrives (reference §3).
///
/// # Errors
/// `UnsafeArgument` when `cmd` or `args` contains `\r` or `\n`.
pub fn bgapi(command: &str, args: &str, job: uuid::Uuid) -> Result<Bytes, EslError> {
    check_arg("command", command)?;
    check_arg("args", args)?;
    let job = job.hyphenated().to_string();
    encode_command(&join("bgapi", command, args), &[("Job-UUID", &job)], None)
}

/// `auth <password>\n\n`. Never log the result: it holds the password.
///
/// # Errors
/// `UnsafeArgument` when the password contains `\r` or `\n`.
pub fn auth(password: &Secret) -> Result<Bytes, EslError> {
    check_arg("password", password.expose())?;
    encode_command(&format!("auth {}", password.expose()), &[], None)
}

/// `event json <NAMES…>\n\n`. Put `CUSTOM <subclass…>` last: every word after `CUSTOM` is
/// read as a subclass.
///
/// # Errors
/// `UnsafeArgument` when a name contains `\r` or `\n`.
pub fn event_json(names: &[&str]) -> Result<Bytes, EslError> {
    for name in names {
        check_arg("event name", name)?;
    }
    encode_command(&format!("event json {}", names.join(" ")), &[], None)
}

/// `filter <header> <value>\n\n` (a value starting with `/` is a regex).
///
/// # Errors
/// `UnsafeArgument` when the header or value contains `\r` or `\n`.
pub fn filter(header: &str, value: &str) -> Result<Bytes, EslError> {
    check_arg("filter header", header)?;
    check_arg("filter value", value)?;
    encode_command(&format!("filter {header} {value}"), &[], None)
}

/// `exit\n\n`: FreeSWITCH answers `+OK bye`, then a disconnect-notice, then closes.
pub fn exit() -> Bytes {
    Bytes::from_static(b"exit\n\n")
}

fn join(verb: &str, command: &str, args: &str) -> String {
    if args.is_empty() {
        format!("{verb} {command}")
    } else {
        format!("{verb} {command} {args}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> CallId {
        CallId::parse("6b2f0a4c-1f0e-4d8e-9c3a-5e7d2b1a9f00").expect("valid uuid")
    }

    fn uuid(text: &str) -> uuid::Uuid {
        uuid::Uuid::parse_str(text).expect("valid uuid")
    }

    #[test]
    fn execute_is_written_exactly_as_the_reference_says() {
        let cmd = Command::Execute {
            channel: call(),
            app: "playback".into(),
            arg: "ivr/welcome.wav".into(),
            event_uuid: uuid("9d1c3e5a-7b2f-4e60-8a14-c0ffee000001"),
        };
        assert_eq!(
            cmd.to_wire().expect("safe"),
            Bytes::from_static(
                b"sendmsg 6b2f0a4c-1f0e-4d8e-9c3a-5e7d2b1a9f00\ncall-command: execute\n\
                  execute-app-name: playback\nexecute-app-arg: ivr/welcome.wav\n\
                  event-lock: true\nevent-uuid: 9d1c3e5a-7b2f-4e60-8a14-c0ffee000001\n\n"
            )
        );
    }

    #[test]
    fn execute_without_argument_has_no_app_arg_line() {
        let cmd = Command::Execute {
            channel: call(),
            app: "answer".into(),
            arg: String::new(),
            event_uuid: uuid("9d1c3e5a-7b2f-4e60-8a14-c0ffee000001"),
        };
        assert_eq!(
            cmd.to_wire().expect("safe"),
            Bytes::from_static(
                b"sendmsg 6b2f0a4c-1f0e-4d8e-9c3a-5e7d2b1a9f00\ncall-command: execute\n\
                  execute-app-name: answer\nevent-lock: true\n\
                  event-uuid: 9d1c3e5a-7b2f-4e60-8a14-c0ffee000001\n\n"
            )
        );
    }

    #[test]
    fn hangup_api_and_bgapi_are_written_exactly() {
        let hangup = Command::Hangup {
            channel: call(),
            cause: "NORMAL_CLEARING".into(),
        };
        assert_eq!(
            hangup.to_wire().expect("safe"),
            Bytes::from_static(
                b"sendmsg 6b2f0a4c-1f0e-4d8e-9c3a-5e7d2b1a9f00\ncall-command: hangup\n\
                  hangup-cause: NORMAL_CLEARING\n\n"
            )
        );
        let api = Command::Api {
            channel: None,
            command: "uuid_bridge",
            args: "a b".into(),
        };
        assert_eq!(
            api.to_wire().expect("safe"),
            Bytes::from_static(b"api uuid_bridge a b\n\n")
        );
        let bgapi = Command::Bgapi {
            job: uuid("9d1c3e5a-7b2f-4e60-8a14-c0ffee000001"),
            command: "originate",
            args: "user/1001 &park()".into(),
        };
        assert_eq!(
            bgapi.to_wire().expect("safe"),
            Bytes::from_static(
                b"bgapi originate user/1001 &park()\n\
                  Job-UUID: 9d1c3e5a-7b2f-4e60-8a14-c0ffee000001\n\n"
            )
        );
    }

    #[test]
    fn newlines_in_any_argument_are_refused() {
        let bad = [
            Command::Execute {
                channel: call(),
                app: "playback".into(),
                arg: "x\napi uuid_kill all".into(),
                event_uuid: uuid::Uuid::nil(),
            },
            Command::Execute {
                channel: call(),
                app: "play\rback".into(),
                arg: String::new(),
                event_uuid: uuid::Uuid::nil(),
            },
            Command::Hangup {
                channel: call(),
                cause: "NORMAL\n".into(),
            },
            Command::Api {
                channel: None,
                command: "uuid_kill",
                args: "a\r\nb".into(),
            },
            Command::Bgapi {
                job: uuid::Uuid::nil(),
                command: "originate",
                args: "\n".into(),
            },
        ];
        for cmd in bad {
            assert!(
                matches!(cmd.to_wire(), Err(EslError::UnsafeArgument { .. })),
                "{cmd:?} was accepted"
            );
        }
        assert!(matches!(
            auth(&Secret::new("a\nb")),
            Err(EslError::UnsafeArgument { .. })
        ));
        assert!(matches!(
            filter("Unique-ID", "x\n"),
            Err(EslError::UnsafeArgument { .. })
        ));
    }

    #[test]
    fn helpers_write_auth_event_filter_and_exit() {
        assert_eq!(
            auth(&Secret::new("ClueCon")).expect("safe"),
            Bytes::from_static(b"auth ClueCon\n\n")
        );
        assert_eq!(
            event_json(&["CHANNEL_PARK", "HEARTBEAT"]).expect("safe"),
            Bytes::from_static(b"event json CHANNEL_PARK HEARTBEAT\n\n")
        );
        assert_eq!(
            filter("Event-Name", "BACKGROUND_JOB").expect("safe"),
            Bytes::from_static(b"filter Event-Name BACKGROUND_JOB\n\n")
        );
        assert_eq!(exit(), Bytes::from_static(b"exit\n\n"));
        assert_eq!(
            api("status", "").expect("safe"),
            Bytes::from_static(b"api status\n\n")
        );
    }
}
