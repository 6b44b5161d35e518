//! The database writer: completed calls go into a bounded queue (`record` never blocks the
//! engine) and one task writes them in batches, one transaction each.
//!
//! When a batch fails (database down or slow), it is appended to the spill file (JSON lines)
//! and the writer goes on; routing never waits. After the next successful write the spill is
//! replayed and emptied, and a restart replays what an earlier run left there. Inserts are
//! idempotent per call, so a replay cut short and repeated stores nothing twice. Only if the
//! spill file itself cannot be written are batches retried in memory; and only if the
//! queue is full are records dropped (counted and logged).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::recorder::{CallRecord, TimelineEntry};
use crate::store::Store;

/// How the writer batches, spills and retries.
#[derive(Clone, Debug)]
pub struct WriterSettings {
    /// Calls the queue holds before new ones are dropped.
    pub capacity: usize,
    /// Calls per transaction, at most.
    pub batch_size: usize,
    /// Where failed batches wait on disk; `None` keeps them in memory only.
    pub spill: Option<PathBuf>,
    /// First delay after a failure; doubles up to `max_backoff`.
    pub backoff: Duration,
    /// Longest delay.
    pub max_backoff: Duration,
    /// How long shutdown may spend writing what is still queued.
    pub drain_for: Duration,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            capacity: 100_000,
            batch_size: 200,
            spill: None,
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
    spilled: AtomicU64,
    replayed: AtomicU64,
    dropped: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterCounts {
    /// Calls waiting in memory to be written.
    pub queued: u64,
    /// Calls written to the database (replayed ones included).
    pub written: u64,
    /// Failed write attempts.
    pub retries: u64,
    /// Calls appended to the spill file.
    pub spilled: u64,
    /// Calls written from the spill file.
    pub replayed: u64,
    /// Calls lost: the queue was full, or shutdown could neither write nor spill them.
    pub dropped: u64,
}

impl WriterStats {
    /// The counters now.
    pub fn snapshot(&self) -> WriterCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WriterCounts {
            queued: get(&self.queued),
            written: get(&self.written),
            retries: get(&self.retries),
            spilled: get(&self.spilled),
            replayed: get(&self.replayed),
            dropped: get(&self.dropped),
        }
    }
}

/// One spilled call, one JSON line each.
#[derive(serde::Deserialize)]
struct Spilled {
    call: CallRecord,
    timeline: Vec<TimelineEntry>,
}

/// The same line, written without copying the call.
#[derive(serde::Serialize)]
struct SpillLine<'a> {
    call: &'a CallRecord,
    timeline: &'a [TimelineEntry],
}

/// Where the engine hands completed calls.
#[derive(Clone, Debug)]
pub struct RecorderHandle {
    tx: mpsc::Sender<(CallRecord, Vec<TimelineEntry>)>,
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

/// Starts the writer task (which first replays a spill left by an earlier run).
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

type Batch = Vec<(CallRecord, Vec<TimelineEntry>)>;

struct Writer {
    store: Store,
    settings: WriterSettings,
    stats: Arc<WriterStats>,
}

impl Writer {
    async fn run(
        self,
        mut rx: mpsc::Receiver<(CallRecord, Vec<TimelineEntry>)>,
        cancel: CancellationToken,
    ) {
        let mut delay = self.settings.backoff;
        let mut batch = Vec::with_capacity(self.settings.batch_size);
        let mut healthy = self.replay_spill().await.is_ok();
        loop {
            // After a failure, try again after `delay` even if no call ends meanwhile.
            let retry_due = !healthy && (self.spill_waiting() || !batch.is_empty());
            tokio::select! {
                () = cancel.cancelled() => break,
                n = rx.recv_many(&mut batch, self.settings.batch_size) => if n == 0 { break },
                () = tokio::time::sleep(delay), if retry_due => {}
            }
            healthy = self.write_or_spill(&mut batch).await && self.replay_spill().await.is_ok();
            if healthy {
                delay = self.settings.backoff;
                continue;
            }
            delay = (delay * 2).min(self.settings.max_backoff);
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(delay) => {}
            }
        }
        self.drain(batch, rx).await;
    }

    fn spill_waiting(&self) -> bool {
        self.settings
            .spill
            .as_ref()
            .is_some_and(|p| p.metadata().is_ok_and(|m| m.len() > 0))
    }

    /// Writes the batch; on failure spills it (or keeps it for a retry when there is no
    /// spill file). True when the database took it.
    async fn write_or_spill(&self, batch: &mut Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        match self.store.insert_calls(batch).await {
            Ok(()) => {
                self.counted(batch.len(), &self.stats.written);
                batch.clear();
                true
            }
            Err(error) => {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %error, calls = batch.len(), "writing calls failed");
                if self.spill(batch).is_ok() {
                    self.counted(batch.len(), &self.stats.spilled);
                    batch.clear();
                }
                false
            }
        }
    }

    /// Appends the batch to the spill file, one JSON line per call, and syncs it.
    fn spill(&self, batch: &Batch) -> std::io::Result<()> {
        let Some(path) = &self.settings.spill else {
            return Err(std::io::Error::other("no spill file configured"));
        };
        let written = append_lines(path, batch);
        if let Err(error) = &written {
            tracing::error!(error = %error, path = %path.display(), "cannot spill calls; keeping them in memory");
        }
        written
    }

    /// Writes the spill file's calls to the database and empties it.
    async fn replay_spill(&self) -> Result<(), ()> {
        let Some(path) = &self.settings.spill else {
            return Ok(());
        };
        let calls = match read_lines(path) {
            Ok(calls) => calls,
            Err(error) => {
                tracing::error!(error = %error, path = %path.display(), "cannot read the spill file");
                return Err(());
            }
        };
        if calls.is_empty() {
            return Ok(());
        }
        for chunk in calls.chunks(self.settings.batch_size.max(1)) {
            if let Err(error) = self.store.insert_calls(chunk).await {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %error, "replaying spilled calls failed; will retry");
                return Err(());
            }
        }
        let n = calls.len() as u64;
        self.stats.written.fetch_add(n, Ordering::Relaxed);
        self.stats.replayed.fetch_add(n, Ordering::Relaxed);
        if let Err(error) = std::fs::remove_file(path) {
            tracing::error!(error = %error, "spilled calls written but the file stays; they will be skipped as duplicates");
        }
        tracing::info!(calls = n, "spilled calls written to the database");
        Ok(())
    }

    /// Shutdown: writes what is left for at most `drain_for`, then spills the rest; counts
    /// what neither took as dropped.
    async fn drain(
        &self,
        mut batch: Batch,
        mut rx: mpsc::Receiver<(CallRecord, Vec<TimelineEntry>)>,
    ) {
        rx.close();
        while let Ok(call) = rx.try_recv() {
            batch.push(call);
        }
        let mut done = 0;
        let write = async {
            for chunk in batch.chunks(self.settings.batch_size.max(1)) {
                self.store.insert_calls(chunk).await?;
                self.counted(chunk.len(), &self.stats.written);
                done += chunk.len();
            }
            Ok::<(), crate::store::StoreError>(())
        };
        match tokio::time::timeout(self.settings.drain_for, write).await {
            Ok(Ok(())) => return,
            Ok(Err(error)) => tracing::warn!(error = %error, "shutdown: writing calls failed"),
            Err(_) => tracing::warn!("shutdown: the database is too slow"),
        }
        let left = batch.split_off(done);
        if self.spill(&left).is_ok() {
            self.counted(left.len(), &self.stats.spilled);
            tracing::info!(
                calls = left.len(),
                "shutdown: calls spilled; the next start writes them"
            );
        } else {
            self.counted(left.len(), &self.stats.dropped);
            tracing::error!(calls = left.len(), "shutdown: call records lost");
        }
    }

    /// Moves `n` calls out of `queued` into `counter`.
    fn counted(&self, n: usize, counter: &AtomicU64) {
        let n = n as u64;
        counter.fetch_add(n, Ordering::Relaxed);
        self.stats.queued.fetch_sub(n, Ordering::Relaxed);
    }
}

fn append_lines(path: &Path, batch: &Batch) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut text = Vec::new();
    for (call, timeline) in batch {
        serde_json::to_writer(&mut text, &SpillLine { call, timeline })?;
        text.push(b'\n');
    }
    file.write_all(&text)?;
    file.sync_data()
}

/// The spilled calls; a line that does not parse (a torn last write) is skipped and logged.
fn read_lines(path: &Path) -> std::io::Result<Batch> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut calls = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        match serde_json::from_str::<Spilled>(&line) {
            Ok(c) => calls.push((c.call, c.timeline)),
            Err(error) => {
                tracing::error!(line = n + 1, error = %error, "unreadable spilled call skipped")
            }
        }
    }
    Ok(calls)
}
