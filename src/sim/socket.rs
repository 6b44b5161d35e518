//! The dialplan's `socket <addr> async full` (reference §4, outbound mode): the switch
//! connects to the controller, answers `connect` with the channel's data (a CHANNEL_DATA
//! event serialized as a `command/reply`, values URL-encoded) and parks the channel. The
//! socket lives as long as the channel: when the channel ends the switch sends a
//! disconnect notice and closes; when the controller closes first the dialplan goes on,
//! and as nothing follows `socket` here, the call is hung up.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::channel::AppCall;
use super::switch::{Initiator, Switch};
use super::wire::{self, GOODBYE};

impl Switch {
    /// EXECUTE socket, then connect to the controller in the background.
    pub(crate) fn start_socket(
        self: &Arc<Self>,
        st: &mut super::switch::State,
        uuid: &str,
        addr: SocketAddr,
    ) {
        let app = AppCall::new("socket", &format!("{addr} async full"));
        self.announce_execute(st, uuid, &app);
        let ended = CancellationToken::new();
        if let Some(ch) = st.channels.get_mut(uuid) {
            ch.socket = Some(ended.clone());
        }
        let sw = Arc::clone(self);
        let uuid = uuid.to_owned();
        self.spawn_task(async move {
            let result = sw.socket_session(&uuid, addr, app, &ended).await;
            if let Err(error) = result {
                tracing::debug!(%error, "sim socket session ended");
            }
            // The controller is gone (or never came): the dialplan goes on, and ends.
            if !ended.is_cancelled() {
                let mut st = sw.lock();
                sw.hangup_channel(&mut st, &uuid, "NORMAL_CLEARING", Initiator::Switch);
            }
        });
    }

    async fn socket_session(
        self: &Arc<Self>,
        uuid: &str,
        addr: SocketAddr,
        app: AppCall,
        ended: &CancellationToken,
    ) -> std::io::Result<()> {
        let mut stream = TcpStream::connect(addr).await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut connected = false;
        loop {
            while let Some(command) = wire::take_command(&mut buf).map_err(std::io::Error::other)? {
                self.log_command(format!("socket {uuid}: {}", command.line));
                let reply = match (connected, command.line.as_str()) {
                    (false, "connect") => {
                        connected = true;
                        self.channel_data(uuid, app.clone())
                    }
                    // FS never answers a first command other than `connect` (§3).
                    (false, _) => continue,
                    (true, "exit") => {
                        stream.write_all(&wire::command_reply("+OK bye")).await?;
                        return Ok(());
                    }
                    (true, "myevents" | "linger" | "noevents" | "nolinger") => {
                        wire::command_reply("+OK")
                    }
                    (true, _) => wire::command_reply("-ERR command not found"),
                };
                stream.write_all(&reply).await?;
            }
            tokio::select! {
                () = ended.cancelled() => {
                    stream.write_all(&disconnect_notice(uuid)).await?;
                    return Ok(());
                }
                () = self.cancel.cancelled() => return Ok(()),
                read = stream.read(&mut chunk) => {
                    let n = read?;
                    if n == 0 {
                        return Ok(());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }

    /// The answer to `connect`, after which the channel parks (async mode).
    fn channel_data(self: &Arc<Self>, uuid: &str, app: AppCall) -> Vec<u8> {
        let mut st = self.lock();
        let mut event = self.core_event(self.next_seq(&mut st), "CHANNEL_DATA");
        if let Some(ch) = st.channels.get(uuid) {
            ch.write_data(&mut event, None, true);
        }
        event.push("Content-Type", "command/reply");
        event.push("Reply-Text", "+OK\n");
        event.push("Socket-Mode", "async");
        event.push("Control", "full");
        self.park_in(&mut st, uuid, app);
        event.to_plain().into_bytes()
    }
}

/// The closing notice of a channel's socket (no linger, §4).
fn disconnect_notice(uuid: &str) -> Vec<u8> {
    let mut frame = format!(
        "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {uuid}\nContent-Disposition: disconnect\nContent-Length: {}\n\n",
        GOODBYE.len()
    )
    .into_bytes();
    frame.extend_from_slice(GOODBYE.as_bytes());
    frame
}
