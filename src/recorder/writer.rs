//! The database writer: completed calls go into a bounded queue (`record` never blocks the
//! engine) and one task writes them in batches, one transaction each. A failed batch is
//! kept and retried with capped backoff, so a database outage delays records and loses
//! none, until the queue is full: past that, new records are dropped and counted (kefu must
//! keep routing calls; an unbounded queue would only move the failure to memory).
//! On shutdown the task drains what is queued, within a time limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::recorder::{CallRecord, TimelineEntry};
use crate::store::Store;

/// How the writer batches and retries.
#[derive(Clone, Debug)]
pub struct WriterSettings {
    /// Calls the queue holds before new ones are dropped.
    pub capacity: usize,
    /// Calls per transaction, at most.
    pub batch_size: usize,
    /// First retry delay after a failed batch; doubles up to `max_backoff`.
    pub backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// How long shutdown may spend writing what is still queued.
    pub drain_for: Duration,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            capacity: 100_000,
            batch_size: 200,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            drain_for: Duration::from_secs(5),
        }
    }
}

/// The writer's counters, for `/metrics` and tests.
#[derive(Debug, Default)]
pub struct WriterStats {
    queued: AtomicU64,
    written: AtomicU64,
    retries: AtomicU64,
    dropped: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterCounts {
    /// Calls waiting to be written (including a batch being retried).
    pub queued: u64,
    /// Calls written.
    pub written: u64,
    /// Failed batch attempts.
    pub retries: u64,
    /// Calls dropped because the queue was full or shutdown ran out of time.
    pub dropped: u64,
}

impl WriterStats {
    /// The counters now.
    pub fn snapshot(&self) -> WriterCounts {
        WriterCounts {
            queued: self.queued.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

type Completed = (CallRecord, Vec<TimelineEntry>);

/// Where the engine hands completed calls.
#[derive(Clone, Debug)]
pub struct RecorderHandle {
    tx: mpsc::Sender<Completed>,
    stats: Arc<WriterStats>,
}

impl RecorderHandle {
    /// Queues a completed call for writing. Never blocks; a full queue drops the call and
    /// counts it (logged as an error).
    pub fn record(&self, call: CallRecord, timeline: Vec<TimelineEntry>) {
        match self.tx.try_send((call, timeline)) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(refused) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                let call_id = refused.into_inner().0.call;
                tracing::error!(call_id = %call_id, "recorder queue full or closed; call record dropped");
            }
        }
    }

    /// The writer's counters.
    pub fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }
}

/// Starts the writer task.
pub fn spawn_writer(
    store: Store,
    settings: WriterSettings,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) -> RecorderHandle {
    let (tx, rx) = mpsc::channel(settings.capacity.max(1));
    let stats = Arc::new(WriterStats::default());
    let writer = Writer {
        store,
        settings,
        stats: stats.clone(),
    };
    tracker.spawn(writer.run(rx, cancel));
    RecorderHandle { tx, stats }
}

struct Writer {
    store: Store,
    settings: WriterSettings,
    stats: Arc<WriterStats>,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Completed>, cancel: CancellationToken) {
        let mut batch = Vec::with_capacity(self.settings.batch_size);
        loop {
            let received = tokio::select! {
                () = cancel.cancelled() => break,
                n = rx.recv_many(&mut batch, self.settings.batch_size) => n,
            };
            if received == 0 {
                return; // every handle dropped and the queue is empty
            }
            if !self.write_until_stored(&mut batch, &cancel).await {
                break;
            }
        }
        self.drain(batch, rx).await;
    }

    /// Writes the batch, retrying with backoff until it is stored (true) or shutdown
    /// starts (false, the batch is kept for the drain).
    async fn write_until_stored(
        &self,
        batch: &mut Vec<Completed>,
        cancel: &CancellationToken,
    ) -> bool {
        let mut delay = self.settings.backoff;
        loop {
            match self.store.insert_calls(batch).await {
                Ok(()) => {
                    self.written(batch.len());
                    batch.clear();
                    return true;
                }
                Err(error) => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %error, calls = batch.len(), retry_in = ?delay, "writing calls failed; will retry");
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return false,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(self.settings.max_backoff);
        }
    }

    /// Shutdown: writes what is left, for at most `drain_for`; counts the rest as dropped.
    async fn drain(&self, mut batch: Vec<Completed>, mut rx: mpsc::Receiver<Completed>) {
        rx.close();
        let drain = async {
            loop {
                while batch.len() < self.settings.batch_size {
                    match rx.try_recv() {
                        Ok(call) => batch.push(call),
                        Err(_) => break,
                    }
                }
                if batch.is_empty() {
                    return;
                }
                match self.store.insert_calls(&batch).await {
                    Ok(()) => {
                        self.written(batch.len());
                        batch.clear();
                    }
                    Err(error) => {
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %error, "writing calls at shutdown failed; retrying");
                        tokio::time::sleep(self.settings.backoff).await;
                    }
                }
            }
        };
        if tokio::time::timeout(self.settings.drain_for, drain)
            .await
            .is_err()
        {
            let left = self.stats.queued.swap(0, Ordering::Relaxed);
            self.stats.dropped.fetch_add(left, Ordering::Relaxed);
            tracing::error!(
                calls = left,
                "shutdown: call records not written in time, dropped"
            );
        }
    }

    fn written(&self, n: usize) {
        let n = n as u64;
        self.stats.written.fetch_add(n, Ordering::Relaxed);
        self.stats.queued.fetch_sub(n, Ordering::Relaxed);
    }
}
