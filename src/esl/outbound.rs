//! Outbound mode (reference §4): the dialplan hands a call to kefu with
//! `socket <kefu-host>:8084 async full`. kefu answers `connect`, checks the socket mode, and
//! holds the socket for the call's life.
//!
//! The call itself is driven like every other call, through the node's inbound connection:
//! in async mode FreeSWITCH parks the channel once `connect` arrives, so CHANNEL_PARK reaches
//! kefu there, and so do the agent legs' events and the originate results, which a per-call
//! socket (`myevents`) never carries. Holding the socket matters because closing it sends
//! the call on in the dialplan (§8): it closes when FreeSWITCH ends the call, or when kefu
//! stops (a `park` after `socket` in the dialplan then keeps the caller for the next start).

use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::esl::error::EslError;
use crate::esl::event::{Incoming, classify, url_decode};
use crate::esl::frame::FrameDecoder;

/// How the listener treats each socket.
#[derive(Clone, Copy, Debug)]
pub struct OutboundSettings {
    /// Largest frame accepted (the CHANNEL_DATA reply carries every channel variable).
    pub max_frame_bytes: usize,
    /// How long FreeSWITCH may take to answer `connect`.
    pub reply_timeout: Duration,
}

/// What FreeSWITCH said about the call in its answer to `connect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandedOver {
    /// The channel's `Unique-ID`.
    pub channel: String,
    /// `Socket-Mode`: `async` or `static`.
    pub mode: String,
}

/// Accepts FreeSWITCH's outbound sockets until `cancel`, each on its own task.
pub async fn listen(
    listener: TcpListener,
    settings: OutboundSettings,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let span = tracing::info_span!("outbound", peer = %peer);
                let cancel = cancel.clone();
                tracker.spawn(
                    async move {
                        if let Err(error) = hold(stream, settings, &cancel).await {
                            tracing::warn!(error = %error, "outbound socket ended");
                        }
                    }
                    .instrument(span),
                );
            }
            Err(error) => {
                // Out of file descriptors, most likely: back off instead of spinning.
                tracing::warn!(error = %error, "outbound accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One handed-over call: `connect`, then hold until FreeSWITCH closes or kefu stops.
async fn hold(
    stream: TcpStream,
    settings: OutboundSettings,
    cancel: &CancellationToken,
) -> Result<(), EslError> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut reader = FramedRead::new(read, FrameDecoder::new(settings.max_frame_bytes));
    write.write_all(b"connect\n\n").await?;
    let answer = tokio::time::timeout(settings.reply_timeout, reader.next()).await;
    let frame = match answer {
        Err(_) => {
            return Err(EslError::ReplyTimeout {
                command: "connect",
                waited: settings.reply_timeout,
            });
        }
        Ok(None) => return Err(EslError::ConnectionClosed),
        Ok(Some(frame)) => frame?,
    };
    let call = handed_over(classify(frame)?)?;
    if call.mode != "async" {
        // Static mode runs the socket on the channel's own thread and never parks it:
        // kefu would see no CHANNEL_PARK. Closing hands the call back to the dialplan.
        tracing::error!(
            channel = %call.channel,
            mode = %call.mode,
            "the dialplan's socket application needs `async full`: call handed back"
        );
        return Ok(());
    }
    tracing::debug!(channel = %call.channel, "call handed over by socket");
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            next = reader.next() => next,
        };
        match next.map(|frame| frame.and_then(classify)) {
            None => return Ok(()),
            Some(Ok(Incoming::DisconnectNotice { linger: false, .. })) => return Ok(()),
            Some(Ok(_)) => {} // nothing is subscribed; a linger notice is information
            Some(Err(error)) => return Err(error),
        }
    }
}

/// Reads FreeSWITCH's answer to `connect`: a `command/reply` whose values are URL-encoded
/// (a serialized CHANNEL_DATA event, §4).
///
/// # Errors
/// Any other frame, a refusal, or no `Unique-ID`.
pub fn handed_over(incoming: Incoming) -> Result<HandedOver, EslError> {
    let Incoming::CommandReply(reply, headers) = incoming else {
        return Err(EslError::UnexpectedFrame {
            expected: "command/reply to connect",
            got: super::node::describe(&incoming),
        });
    };
    let reply = url_decode(&reply);
    if !reply.starts_with("+OK") {
        return Err(EslError::CommandFailed {
            command: "connect",
            reply,
        });
    }
    let value = |name: &str| headers.get(name).map(url_decode);
    let channel = value("Unique-ID").ok_or_else(|| EslError::UnexpectedFrame {
        expected: "Unique-ID in the answer to connect",
        got: "none".into(),
    })?;
    Ok(HandedOver {
        channel,
        mode: value("Socket-Mode").unwrap_or_default(),
    })
}
