//! TEMPORARY stand-in for the writer; replaced when the store branch merges.

use crate::recorder::{CallRecord, TimelineEntry};

/// Handle.
#[derive(Clone, Debug)]
pub struct RecorderHandle;

impl RecorderHandle {
    /// Record.
    pub fn record(&self, _call: CallRecord, _timeline: Vec<TimelineEntry>) {}
}

/// Stats.
#[derive(Debug, Default)]
pub struct WriterStats;

impl WriterStats {
    /// Depth.
    pub fn queue_depth(&self) -> u64 {
        0
    }
    /// Retries.
    pub fn retries(&self) -> u64 {
        0
    }
}

impl RecorderHandle {
    /// Stats.
    pub fn stats(&self) -> WriterStats {
        WriterStats
    }
}

/// Settings.
#[derive(Clone, Debug, Default)]
pub struct WriterSettings;

/// Spawn.
pub fn spawn_writer(
    _store: crate::store::Store,
    _settings: WriterSettings,
    _cancel: tokio_util::sync::CancellationToken,
    _tracker: &tokio_util::task::TaskTracker,
) -> RecorderHandle {
    RecorderHandle
}
