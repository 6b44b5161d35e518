//! The only code that reads a clock. Everything else gets time passed in.
#![allow(clippy::disallowed_methods)]

use crate::domain::Timestamp;

/// Wall-clock now, µs since the epoch (for marks that have no FreeSWITCH time).
pub fn now() -> Timestamp {
    Timestamp::from_micros(chrono::Utc::now().timestamp_micros())
}

/// Monotonic now, for internal latencies. A `tokio::time::Instant`, so paused-time tests work.
pub fn monotonic() -> tokio::time::Instant {
    tokio::time::Instant::now()
}
