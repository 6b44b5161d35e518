//! One inbound event-socket client (`reference/freeswitch-esl.md` §3): the auth handshake,
//! subscriptions and filters, and command dispatch. One task owns the socket, so every
//! command gets exactly one reply in order, events go out only between replies, and only
//! whole frames are written. A blocking `api` (originate) holds events back until it ends,
//! as FreeSWITCH's connection thread does.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::Fault;
use super::api::ApiOutput;
use super::channel::AppCall;
use super::switch::{EventNames, Initiator, Job, Push, Switch};
use super::wire::{self, ClientCommand, Event, Format};

/// What the connection does after a command.
enum Next {
    Continue,
    Close,
}

/// A connection's subscriptions and filters.
#[derive(Default)]
struct Listener {
    authed: bool,
    format: Option<Format>,
    events: EventNames,
    subclasses: HashSet<String>,
    filters: Vec<(String, String)>,
    bound: Option<String>,
}

impl Listener {
    /// Delivery rules 1–3 of §3.
    fn wants(&self, event: &Event) -> bool {
        if self.format.is_none() {
            return false;
        }
        let name = event.name().to_ascii_uppercase();
        let subscribed = if name == "CUSTOM" {
            let subclass = event.get("Event-Subclass").unwrap_or("");
            (self.events.all && !self.events.nixed.contains("CUSTOM"))
                || self.subclasses.contains(subclass)
        } else {
            self.events.contains(&name)
        };
        if !subscribed {
            return false;
        }
        if let Some(bound) = &self.bound {
            let mine =
                event.get("Unique-ID") == Some(bound) || event.get("Job-Owner-UUID") == Some(bound);
            if !mine {
                return false;
            }
        }
        self.filters.is_empty() || self.filters_allow(event)
    }

    fn filters_allow(&self, event: &Event) -> bool {
        let mut send = false;
        for (header, raw) in &self.filters {
            let Some(value) = event.get(header) else {
                continue;
            };
            let (positive, wanted) = match raw.strip_prefix('-') {
                Some(rest) => (false, rest),
                None => (true, raw.strip_prefix('+').unwrap_or(raw)),
            };
            if send && positive {
                continue;
            }
            let matched = match wanted.strip_prefix('/') {
                Some(re) => filter_regex(re).is_some_and(|r| r.is_match(value)),
                None => value.eq_ignore_ascii_case(wanted),
            };
            if matched {
                if positive {
                    send = true;
                } else {
                    return false;
                }
            }
        }
        send
    }
}

/// `/re/` or `/re/i` (the leading slash already removed).
fn filter_regex(body: &str) -> Option<regex::Regex> {
    let (pattern, insensitive) = match body.rsplit_once('/') {
        Some((p, flags)) => (p, flags.contains('i')),
        None => (body, false),
    };
    regex::RegexBuilder::new(pattern)
        .case_insensitive(insensitive)
        .build()
        .ok()
}

/// Serves one client until it leaves, is dropped, or the switch shuts down.
pub(crate) async fn serve(sw: Arc<Switch>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (id, mut pushes) = sw.register();
    let mut conn = Connection {
        sw: Arc::clone(&sw),
        id,
        listener: Listener::default(),
        out: Vec::new(),
    };
    if stream.write_all(&wire::auth_request()).await.is_ok() {
        let _ = conn.run(&mut stream, &mut pushes).await;
    }
    sw.unregister(id);
}

struct Connection {
    sw: Arc<Switch>,
    /// This connection's listener id at the switch.
    id: u64,
    listener: Listener,
    out: Vec<u8>,
}

impl Connection {
    async fn run(
        &mut self,
        stream: &mut TcpStream,
        pushes: &mut mpsc::UnboundedReceiver<Push>,
    ) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            // Commands already buffered run before anything else, each with its one reply.
            loop {
                match wire::take_command(&mut buf) {
                    Ok(Some(command)) => {
                        if let Next::Close = self.dispatch(command, stream, pushes).await? {
                            return Ok(());
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::debug!(%error, "sim dropping client");
                        return Ok(());
                    }
                }
            }
            tokio::select! {
                _ = self.sw.cancel.cancelled() => return Ok(()),
                read = stream.read(&mut chunk) => {
                    let n = read?;
                    if n == 0 {
                        return Ok(());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                push = pushes.recv() => {
                    let Some(push) = push else { return Ok(()) };
                    if let Next::Close = self.handle_push(push, stream, pushes).await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Writes one event (and any others already queued) in one go.
    async fn handle_push(
        &mut self,
        push: Push,
        stream: &mut TcpStream,
        pushes: &mut mpsc::UnboundedReceiver<Push>,
    ) -> std::io::Result<Next> {
        let mut next = Some(push);
        while let Some(push) = next.take() {
            match push {
                Push::Event(event) => self.queue_event(&event),
                Push::Fault(fault) => {
                    self.flush(stream).await?;
                    return self.apply_fault(fault, stream).await;
                }
                Push::Shutdown => {
                    self.flush(stream).await?;
                    stream.write_all(&wire::disconnect_notice()).await?;
                    return Ok(Next::Close);
                }
            }
            if self.out.len() < 256 * 1024 {
                next = pushes.try_recv().ok();
            }
        }
        self.flush(stream).await?;
        Ok(Next::Continue)
    }

    fn queue_event(&mut self, event: &Event) {
        if let Some(format) = self.listener.format.filter(|_| self.listener.wants(event)) {
            self.out
                .extend_from_slice(&wire::event_frame(event, format));
        }
    }

    async fn flush(&mut self, stream: &mut TcpStream) -> std::io::Result<()> {
        if !self.out.is_empty() {
            stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    async fn apply_fault(&mut self, fault: Fault, stream: &mut TcpStream) -> std::io::Result<Next> {
        match fault {
            Fault::DropConnections => return Ok(Next::Close),
            Fault::Stall(d) => tokio::time::sleep(d).await,
            Fault::SendGarbage => {
                stream
                    .write_all(b"Content-Length: banana\nGarbage\x01\x02\n\n")
                    .await?
            }
            Fault::SendOversizedFrame(len) => {
                let head = format!("Content-Length: {len}\nContent-Type: text/event-plain\n\n");
                stream.write_all(head.as_bytes()).await?;
                let filler = vec![b'x'; 64 * 1024];
                let mut left = len;
                while left > 0 {
                    let n = left.min(filler.len());
                    stream.write_all(&filler[..n]).await?;
                    left -= n;
                }
            }
        }
        Ok(Next::Continue)
    }

    async fn reply(&mut self, stream: &mut TcpStream, frame: Vec<u8>) -> std::io::Result<()> {
        self.flush(stream).await?;
        stream.write_all(&frame).await
    }

    async fn dispatch(
        &mut self,
        command: ClientCommand,
        stream: &mut TcpStream,
        pushes: &mut mpsc::UnboundedReceiver<Push>,
    ) -> std::io::Result<Next> {
        let line = command.line.trim().to_string();
        let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let word = word.to_ascii_lowercase();
        let rest = rest.trim();
        self.sw.log_command(match word.as_str() {
            "auth" | "userauth" => format!("{word} ***"),
            // What to execute is in the headers: keep them, one `name: value` line each.
            "sendmsg" => std::iter::once(line.clone())
                .chain(command.headers.iter().map(|(n, v)| format!("{n}: {v}")))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => line.clone(),
        });
        if !self.listener.authed {
            return self.pre_auth(&word, rest, stream).await;
        }
        let reply = match word.as_str() {
            "exit" => {
                self.reply(stream, wire::command_reply("+OK bye")).await?;
                stream.write_all(&wire::disconnect_notice()).await?;
                return Ok(Next::Close);
            }
            "event" => self.subscribe(rest),
            "nixevent" => self.nix(rest),
            "noevents" => {
                let was = self.listener.format.take().is_some();
                self.listener = Listener {
                    authed: true,
                    filters: std::mem::take(&mut self.listener.filters),
                    ..Listener::default()
                };
                if was {
                    "+OK no longer listening for events"
                } else {
                    "-ERR not listening for events"
                }
                .to_string()
            }
            "filter" => self.filter(rest),
            "myevents" => self.myevents(rest),
            "api" => return self.api(rest, stream, pushes).await,
            "bgapi" => return self.bgapi(rest, &command, stream).await,
            "sendmsg" => self.sendmsg(rest, &command),
            "sendevent" => self.sendevent(rest, &command),
            "log" => "+OK log level debug [7]".to_string(),
            "nolog" => "-ERR not loging".to_string(),
            "linger" | "nolinger" => "-ERR not controlling a session".to_string(),
            "divert_events" => "-ERR not controlling a session.".to_string(),
            _ => "-ERR command not found".to_string(),
        };
        if matches!(
            word.as_str(),
            "event" | "nixevent" | "noevents" | "myevents"
        ) {
            let names = self.listener.format.map(|_| self.listener.events.clone());
            self.sw.subscribe(self.id, names);
        }
        self.reply(stream, wire::command_reply(&reply)).await?;
        Ok(Next::Continue)
    }

    async fn pre_auth(
        &mut self,
        word: &str,
        rest: &str,
        stream: &mut TcpStream,
    ) -> std::io::Result<Next> {
        let ok = match word {
            "auth" => rest == self.sw.config.password,
            "userauth" => rest
                .rsplit_once(':')
                .is_some_and(|(_, pass)| pass == self.sw.config.password),
            "exit" => {
                self.reply(stream, wire::command_reply("+OK bye")).await?;
                stream.write_all(&wire::disconnect_notice()).await?;
                return Ok(Next::Close);
            }
            _ => {
                self.reply(stream, wire::command_reply("-ERR command not found"))
                    .await?;
                return Ok(Next::Continue);
            }
        };
        if ok {
            self.listener.authed = true;
            self.reply(stream, wire::command_reply("+OK accepted"))
                .await?;
            Ok(Next::Continue)
        } else {
            self.reply(stream, wire::command_reply("-ERR invalid"))
                .await?;
            stream.write_all(&wire::disconnect_notice()).await?;
            Ok(Next::Close)
        }
    }

    fn subscribe(&mut self, rest: &str) -> String {
        let mut words = rest.split_whitespace().peekable();
        let format = match words.peek().and_then(|w| Format::parse(w)) {
            Some(f) => {
                words.next();
                f
            }
            None => Format::Plain,
        };
        let mut any = false;
        let mut custom = false;
        for w in words {
            any = true;
            if custom {
                self.listener.subclasses.insert(w.to_string());
                continue;
            }
            let name = w.to_ascii_uppercase();
            match name.as_str() {
                "ALL" => {
                    self.listener.events.all = true;
                    self.listener.events.nixed.clear();
                }
                "CUSTOM" => custom = true,
                _ => {
                    self.listener.events.nixed.remove(&name);
                    self.listener.events.names.insert(name);
                }
            }
        }
        if !any {
            return "-ERR no keywords supplied".to_string();
        }
        self.listener.format = Some(format);
        format!("+OK event listener enabled {}", format.word())
    }

    fn nix(&mut self, rest: &str) -> String {
        let mut custom = false;
        let mut any = false;
        for w in rest.split_whitespace() {
            any = true;
            if custom {
                self.listener.subclasses.remove(w);
                continue;
            }
            let name = w.to_ascii_uppercase();
            match name.as_str() {
                "ALL" => {
                    self.listener.events.all = false;
                    self.listener.events.names.clear();
                    self.listener.subclasses.clear();
                }
                "CUSTOM" => custom = true,
                _ => {
                    self.listener.events.names.remove(&name);
                    if self.listener.events.all {
                        self.listener.events.nixed.insert(name);
                    }
                }
            }
        }
        if any {
            "+OK events nixed"
        } else {
            "-ERR no keywords supplied"
        }
        .to_string()
    }

    fn filter(&mut self, rest: &str) -> String {
        let (header, value) = match rest.split_once(' ') {
            Some((h, v)) => (h.trim(), v.trim()),
            None => (rest.trim(), ""),
        };
        if header.eq_ignore_ascii_case("delete") {
            let (h, v) = value
                .split_once(' ')
                .map_or((value, ""), |(h, v)| (h.trim(), v.trim()));
            if h.is_empty() {
                return "-ERR invalid syntax".to_string();
            }
            if h.eq_ignore_ascii_case("all") {
                self.listener.filters.clear();
            } else {
                self.listener
                    .filters
                    .retain(|(fh, fv)| !(fh.eq_ignore_ascii_case(h) && (v.is_empty() || fv == v)));
            }
            return format!("+OK filter deleted. [{h}][{v}]");
        }
        if header.is_empty() || value.is_empty() {
            return "-ERR invalid syntax".to_string();
        }
        self.listener
            .filters
            .push((header.to_string(), value.to_string()));
        format!("+OK filter added. [{header}]=[{value}]")
    }

    fn myevents(&mut self, rest: &str) -> String {
        let mut words = rest.split_whitespace();
        let Some(uuid) = words.next() else {
            return "-ERR invalid uuid".to_string();
        };
        if self.listener.bound.is_some() {
            return "-ERR aready enabled.".to_string();
        }
        if !self.sw.lock().channels.contains_key(uuid) {
            return "-ERR invalid uuid".to_string();
        }
        self.listener.format = Some(
            words
                .next()
                .and_then(Format::parse)
                .unwrap_or(Format::Plain),
        );
        self.listener.bound = Some(uuid.to_string());
        for name in [
            "CHANNEL_CREATE",
            "CHANNEL_DESTROY",
            "CHANNEL_STATE",
            "CHANNEL_CALLSTATE",
            "CHANNEL_ANSWER",
            "CHANNEL_HANGUP",
            "CHANNEL_HANGUP_COMPLETE",
            "CHANNEL_EXECUTE",
            "CHANNEL_EXECUTE_COMPLETE",
            "CHANNEL_BRIDGE",
            "CHANNEL_UNBRIDGE",
            "CHANNEL_PROGRESS",
            "CHANNEL_PARK",
            "CHANNEL_UNPARK",
            "DTMF",
        ] {
            self.listener.events.names.insert(name.to_string());
        }
        "+OK Events Enabled".to_string()
    }

    async fn api(
        &mut self,
        rest: &str,
        stream: &mut TcpStream,
        pushes: &mut mpsc::UnboundedReceiver<Push>,
    ) -> std::io::Result<Next> {
        let (cmd, args) = rest.split_once(' ').unwrap_or((rest, ""));
        let (tx, rx) = oneshot::channel();
        let (output, _) = self.sw.api(cmd, args, Job::Api(tx));
        let body = match output {
            ApiOutput::Now(body) => body,
            ApiOutput::Later => {
                // api blocks the connection: queued events wait until the result (§3).
                let _ = pushes;
                tokio::select! {
                    _ = self.sw.cancel.cancelled() => return Ok(Next::Close),
                    result = rx => result.unwrap_or_else(|_| "-ERR NORMAL_CLEARING\n".to_string()),
                }
            }
        };
        let body = if body.is_empty() {
            "-ERR no reply\n".to_string()
        } else {
            body
        };
        self.reply(stream, wire::api_response(&body)).await?;
        Ok(Next::Continue)
    }

    async fn bgapi(
        &mut self,
        rest: &str,
        command: &ClientCommand,
        stream: &mut TcpStream,
    ) -> std::io::Result<Next> {
        let (cmd, args) = rest.split_once(' ').unwrap_or((rest, ""));
        let job_uuid = command
            .header("Job-UUID")
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
        self.reply(stream, wire::bgapi_reply(&job_uuid)).await?;
        let job = Job::Background {
            uuid: job_uuid,
            command: cmd.to_string(),
            arg: args.to_string(),
        };
        let (output, job) = self.sw.api(cmd, args, job);
        if let (ApiOutput::Now(body), Some(job)) = (output, job) {
            let mut st = self.sw.lock();
            self.sw.finish_job(&mut st, job, body);
        }
        Ok(Next::Continue)
    }

    fn sendmsg(&mut self, rest: &str, command: &ClientCommand) -> String {
        let uuid = rest.trim().to_string();
        let mut st = self.sw.lock();
        let alive = st
            .channels
            .get(&uuid)
            .is_some_and(|c| c.hangup_cause.is_none());
        if !alive {
            return format!("-ERR invalid session id [{uuid}]");
        }
        let call_command = command
            .header("call-command")
            .unwrap_or("")
            .to_ascii_lowercase();
        match call_command.as_str() {
            "execute" => {
                let name = command.header("execute-app-name").unwrap_or("").to_string();
                let arg = match (&command.body, command.header("content-type")) {
                    (Some(body), Some(ct)) if ct.eq_ignore_ascii_case("text/plain") => {
                        body.trim_end().to_string()
                    }
                    _ => command.header("execute-app-arg").unwrap_or("").to_string(),
                };
                let mut app = AppCall::new(&name, &arg);
                if let Some(id) = command.header("event-uuid") {
                    app.uuid = id.to_string();
                }
                app.endless = command.header("loops").is_some_and(|l| l.trim() == "-1");
                self.sw.execute(&mut st, &uuid, app);
            }
            "hangup" => {
                let cause = command
                    .header("hangup-cause")
                    .unwrap_or("NORMAL_CLEARING")
                    .to_string();
                self.sw
                    .hangup_channel(&mut st, &uuid, &cause, Initiator::Switch);
            }
            _ => {}
        }
        "+OK".to_string()
    }

    fn sendevent(&mut self, rest: &str, command: &ClientCommand) -> String {
        let name = rest.trim().to_ascii_uppercase();
        let mut st = self.sw.lock();
        let seq = self.sw.next_seq(&mut st);
        let mut event = self
            .sw
            .core_event(seq, if name.is_empty() { "CUSTOM" } else { &name });
        for (h, v) in &command.headers {
            if !h.eq_ignore_ascii_case("content-length") {
                event.push(h.as_str(), v.as_str());
            }
        }
        event.body.clone_from(&command.body);
        let event_uuid = uuid::Uuid::new_v4().to_string();
        event.push("Event-UUID", event_uuid.as_str());
        self.sw.fire_event(&mut st, event);
        format!("+OK {event_uuid}")
    }
}
