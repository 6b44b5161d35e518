//! `EslEvent` -> `call::Event`: the only file that knows FreeSWITCH header names and the
//! `show channels as json` columns. Events kefu does not use are counted and dropped here,
//! never deeper in (STYLE §2 step 2).

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use crate::call::{Direction, Event, EventKind, HungUpBy, KefuVars, LiveChannel};
use crate::clock;
use crate::domain::{CallId, NodeId, Timestamp};
use crate::esl::error::EslError;
use crate::esl::event::EslEvent;

/// Counts of what translation dropped, for metrics.
#[derive(Debug, Default)]
pub struct TranslateStats {
    /// Events of a kind kefu does not use (CHANNEL_STATE, CODEC, ...).
    pub ignored: AtomicU64,
    /// Events kefu uses but that lacked a required header (or had an unparsable one).
    pub incomplete: AtomicU64,
}

/// Translates one event. `None` when kefu does not use it (counted in `stats`).
pub fn translate(
    event: &EslEvent,
    node: &NodeId,
    received: Instant,
    stats: &TranslateStats,
) -> Option<Event> {
    let kind = match event.name() {
        Some("CHANNEL_PARK") => channel_parked(event),
        Some("CHANNEL_ANSWER") => channel_answered(event),
        Some("CHANNEL_EXECUTE_COMPLETE") => execute_completed(event),
        Some("DTMF") => dtmf(event),
        Some("CHANNEL_BRIDGE") => bridged(event),
        Some("CHANNEL_UNBRIDGE") => unbridged(event),
        Some("CHANNEL_HANGUP_COMPLETE") => hung_up(event),
        Some("BACKGROUND_JOB") => job_completed(event),
        Some("HEARTBEAT") => Some(EventKind::Heartbeat),
        _ => {
            stats.ignored.fetch_add(1, Ordering::Relaxed);
            return None;
        }
    };
    let Some(kind) = kind else {
        stats.incomplete.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            esl.event = event.name().unwrap_or_default(),
            "incomplete event dropped"
        );
        return None;
    };
    Some(Event {
        node: node.clone(),
        at: event.timestamp().unwrap_or_else(clock::now),
        received,
        kind,
    })
}

/// The Job-UUID of a BACKGROUND_JOB, parsed (for bgapi correlation in `connection`).
pub fn background_job_id(event: &EslEvent) -> Option<uuid::Uuid> {
    if event.name() != Some("BACKGROUND_JOB") {
        return None;
    }
    event
        .job_uuid()
        .and_then(|j| uuid::Uuid::parse_str(j.trim()).ok())
}

/// Reads `show channels as json`. With no rows FreeSWITCH prints `{"row_count": 0}` without
/// `rows` (reference §7). Rows whose `uuid` is not a UUID are skipped.
///
/// # Errors
/// `BadChannelList` when the output is not that JSON.
pub fn live_channels(body: &[u8]) -> Result<Vec<LiveChannel>, EslError> {
    #[derive(serde::Deserialize)]
    struct Listing {
        #[serde(default)]
        rows: Vec<Row>,
    }
    #[derive(serde::Deserialize)]
    struct Row {
        uuid: String,
        #[serde(default)]
        direction: String,
        #[serde(default)]
        cid_num: String,
        #[serde(default)]
        dest: String,
        #[serde(default)]
        callstate: String,
        #[serde(default)]
        application: String,
    }
    let text = String::from_utf8_lossy(body);
    let listing: Listing =
        serde_json::from_str(text.trim()).map_err(|source| EslError::BadChannelList { source })?;
    Ok(listing
        .rows
        .into_iter()
        .filter_map(|row| {
            Some(LiveChannel {
                channel: CallId::parse(&row.uuid).ok()?,
                direction: direction_of(&row.direction),
                caller_number: row.cid_num,
                destination: row.dest,
                call_state: row.callstate,
                application: row.application,
            })
        })
        .collect())
}

fn channel_parked(event: &EslEvent) -> Option<EventKind> {
    Some(EventKind::ChannelParked {
        channel: channel(event)?,
        direction: direction(event),
        caller_number: text(event, "Caller-Caller-ID-Number"),
        caller_name: text(event, "Caller-Caller-ID-Name"),
        destination: text(event, "Caller-Destination-Number"),
        vars: kefu_vars(event),
    })
}

fn channel_answered(event: &EslEvent) -> Option<EventKind> {
    Some(EventKind::ChannelAnswered {
        channel: channel(event)?,
        vars: kefu_vars(event),
    })
}

fn execute_completed(event: &EslEvent) -> Option<EventKind> {
    // read_result reflects only the last try: accept the digits only with `success`
    // (reference §7).
    let digits = match (event.variable("kefu_digits"), event.variable("read_result")) {
        (Some(d), Some("success")) => Some(d.to_owned()),
        _ => None,
    };
    Some(EventKind::ExecuteCompleted {
        channel: channel(event)?,
        application: text(event, "Application"),
        application_uuid: event
            .header("Application-UUID")
            .and_then(|u| uuid::Uuid::parse_str(u.trim()).ok()),
        response: event.header("Application-Response").map(str::to_owned),
        digits,
        hanging_up: event.header("Answer-State") == Some("hangup"),
    })
}

fn dtmf(event: &EslEvent) -> Option<EventKind> {
    // Plain values were URL-decoded by `event` (`%23` -> `#`); JSON values never are encoded.
    Some(EventKind::Dtmf {
        channel: channel(event)?,
        digit: event.header("DTMF-Digit")?.chars().next()?,
    })
}

fn bridged(event: &EslEvent) -> Option<EventKind> {
    Some(EventKind::Bridged {
        a: call_id(event, "Bridge-A-Unique-ID")?,
        b: call_id(event, "Bridge-B-Unique-ID")?,
    })
}

fn unbridged(event: &EslEvent) -> Option<EventKind> {
    Some(EventKind::Unbridged {
        channel: channel(event)?,
        other: call_id(event, "Other-Leg-Unique-ID"),
    })
}

fn hung_up(event: &EslEvent) -> Option<EventKind> {
    Some(EventKind::HungUp {
        channel: channel(event)?,
        direction: direction(event),
        // HANGUP_COMPLETE carries Hangup-Cause twice; `header` returns the first.
        cause: text(event, "Hangup-Cause"),
        by: HungUpBy::from_disposition(event.header("variable_sip_hangup_disposition")),
        vars: kefu_vars(event),
    })
}

fn job_completed(event: &EslEvent) -> Option<EventKind> {
    Some(EventKind::JobCompleted {
        job: background_job_id(event)?,
        body: event
            .body_text()
            .map(|b| b.into_owned())
            .unwrap_or_default(),
    })
}

fn channel(event: &EslEvent) -> Option<CallId> {
    call_id(event, "Unique-ID")
}

fn call_id(event: &EslEvent, header: &str) -> Option<CallId> {
    event.header(header).and_then(|v| CallId::parse(v).ok())
}

fn direction(event: &EslEvent) -> Direction {
    direction_of(event.header("Call-Direction").unwrap_or_default())
}

fn direction_of(text: &str) -> Direction {
    if text.eq_ignore_ascii_case("outbound") {
        Direction::Outbound
    } else {
        Direction::Inbound
    }
}

fn text(event: &EslEvent, header: &str) -> String {
    event.header(header).unwrap_or_default().to_owned()
}

/// `_undef_` means "no value" (reference §2).
fn variable<'a>(event: &'a EslEvent, name: &str) -> Option<&'a str> {
    event
        .variable(name)
        .filter(|v| !v.is_empty() && *v != "_undef_")
}

fn kefu_vars(event: &EslEvent) -> KefuVars {
    KefuVars {
        call: variable(event, "kefu_call").and_then(|v| CallId::parse(v).ok()),
        queue: variable(event, "kefu_queue").map(str::to_owned),
        enqueued_at: variable(event, "kefu_enqueued_at")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(Timestamp::from_micros),
        agent: variable(event, "kefu_agent").map(str::to_owned),
    }
}

#[cfg(test)]
mod tests;
