//! The database writer: records (completed calls, agent state spans) go into a bounded queue
//! (`write` never blocks the engine) and one task per kind writes them in batches, one
//! transaction each.
//!
//! When a batch fails (database down or slow), it is appended to the spill file (JSON lines)
//! and the writer goes on; routing never waits. After the next successful write the spill is
//! replayed and emptied, and a restart replays what an earlier run left there. Inserts are
//! idempotent per record, so a replay cut short and repeated stores nothing twice. Only if the
//! spill file itself cannot be written are batches retried in memory; and only if the
//! queue is full are records dropped (counted and logged).

use std::future::Future;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::recorder::{AgentStateSpan, CallRecord, TimelineEntry};
use crate::store::{Store, StoreError};

/// How the writer batches, spills and retries.
#[derive(Clone, Debug)]
pub struct WriterSettings {
    /// Records the queue holds before new ones are dropped.
    pub capacity: usize,
    /// Records per transaction, at most.
    pub batch_size: usize,
    /// How long the first record of a batch waits for more before the batch is written.
    pub linger: Duration,
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
            linger: Duration::from_millis(50),
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
    transactions: AtomicU64,
    retries: AtomicU64,
    spilled: AtomicU64,
    replayed: AtomicU64,
    dropped: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterCounts {
    /// Records waiting in memory to be written.
    pub queued: u64,
    /// Records written to the database (replayed ones included).
    pub written: u64,
    /// Transactions that wrote them.
    pub transactions: u64,
    /// Failed write attempts.
    pub retries: u64,
    /// Records appended to the spill file.
    pub spilled: u64,
    /// Records written from the spill file.
    pub replayed: u64,
    /// Records lost: the queue was full, or shutdown could neither write nor spill them.
    pub dropped: u64,
}

impl WriterStats {
    /// The counters now.
    pub fn snapshot(&self) -> WriterCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WriterCounts {
            queued: get(&self.queued),
            written: get(&self.written),
            transactions: get(&self.transactions),
            retries: get(&self.retries),
            spilled: get(&self.spilled),
            replayed: get(&self.replayed),
            dropped: get(&self.dropped),
        }
    }
}

/// A kind of record the writer stores: how a batch goes into the database, and what one is
/// called in logs. Spilled as one JSON line per record.
pub trait Durable: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The record's name in logs ("call", "agent state").
    const KIND: &'static str;

    /// Stores a batch in one transaction; records already stored are skipped.
    fn insert(store: &Store, batch: &[Self])
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Names the record in a log line (no customer data).
    fn id(&self) -> String;
}

/// A completed call with its timeline: what the engine hands over when a call ends.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct CompletedCall {
    /// The call's figures.
    pub call: CallRecord,
    /// Its timeline.
    pub timeline: Vec<TimelineEntry>,
}

impl Durable for CompletedCall {
    const KIND: &'static str = "call";

    fn insert(
        store: &Store,
        batch: &[Self],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        store.insert_calls(batch)
    }

    fn id(&self) -> String {
        self.call.call.to_string()
    }
}

impl Durable for AgentStateSpan {
    const KIND: &'static str = "agent state";

    fn insert(
        store: &Store,
        batch: &[Self],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        store.insert_agent_states(batch)
    }

    fn id(&self) -> String {
        format!("{} {}", self.agent, self.state.as_str())
    }
}

/// Where the engine hands records of one kind.
#[derive(Debug)]
pub struct WriterHandle<T> {
    tx: mpsc::Sender<T>,
    stats: Arc<WriterStats>,
}

impl<T> Clone for WriterHandle<T> {
    fn clone(&self) -> Self {
        WriterHandle {
            tx: self.tx.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// The completed-call writer.
pub type RecorderHandle = WriterHandle<CompletedCall>;

impl<T: Durable> WriterHandle<T> {
    /// Queues a record for writing. Never blocks; a full queue drops the record and counts
    /// it (logged as an error).
    pub fn write(&self, record: T) {
        match self.tx.try_send(record) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(refused) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                let id = refused.into_inner().id();
                tracing::error!(record = %id, kind = T::KIND, "recorder queue full or closed; record dropped");
            }
        }
    }

    /// The writer's counters.
    pub fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }
}

impl RecorderHandle {
    /// Queues a completed call for writing (see [`WriterHandle::write`]).
    pub fn record(&self, call: CallRecord, timeline: Vec<TimelineEntry>) {
        self.write(CompletedCall { call, timeline });
    }
}

/// Starts the writer task (which first replays a spill left by an earlier run).
pub fn spawn_writer<T: Durable>(
    store: Store,
    settings: WriterSettings,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) -> WriterHandle<T> {
    let (tx, rx) = mpsc::channel(settings.capacity.max(1));
    let stats = Arc::new(WriterStats::default());
    let writer = Writer {
        store,
        settings,
        stats: stats.clone(),
        kind: std::marker::PhantomData,
    };
    tracker.spawn(writer.run(rx, cancel));
    WriterHandle { tx, stats }
}

struct Writer<T> {
    store: Store,
    settings: WriterSettings,
    stats: Arc<WriterStats>,
    kind: std::marker::PhantomData<T>,
}

impl<T: Durable> Writer<T> {
    async fn run(self, mut rx: mpsc::Receiver<T>, cancel: CancellationToken) {
        let mut delay = self.settings.backoff;
        let mut batch = Vec::with_capacity(self.settings.batch_size);
        let mut healthy = self.replay_spill().await.is_ok();
        loop {
            // After a failure, try again after `delay` even if nothing new comes meanwhile.
            let retry_due = !healthy && (self.spill_waiting() || !batch.is_empty());
            tokio::select! {
                () = cancel.cancelled() => break,
                n = rx.recv_many(&mut batch, self.settings.batch_size) => if n == 0 { break },
                () = tokio::time::sleep(delay), if retry_due => {}
            }
            self.gather(&mut rx, &mut batch).await;
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

    /// Adds what arrives within `linger` of now, up to a full batch. A transaction per
    /// record or two made SQLite the largest user of kefu's CPU at 1,000 calls/s: each
    /// commit rewrites the pages it touched into the WAL and empties every other
    /// connection's page cache, which the next customer lookup reads back
    /// (BENCHMARKS.md, "The writer's commits").
    async fn gather(&self, rx: &mut mpsc::Receiver<T>, batch: &mut Vec<T>) {
        let until = crate::clock::monotonic() + self.settings.linger;
        while batch.len() < self.settings.batch_size {
            let room = self.settings.batch_size - batch.len();
            tokio::select! {
                n = rx.recv_many(batch, room) => if n == 0 { return },
                () = tokio::time::sleep_until(until) => return,
            }
        }
    }

    fn spill_waiting(&self) -> bool {
        self.settings
            .spill
            .as_ref()
            .is_some_and(|p| p.metadata().is_ok_and(|m| m.len() > 0))
    }

    /// Writes the batch; on failure spills it (or keeps it for a retry when there is no
    /// spill file). True when the database took it.
    async fn write_or_spill(&self, batch: &mut Vec<T>) -> bool {
        if batch.is_empty() {
            return true;
        }
        match T::insert(&self.store, batch).await {
            Ok(()) => {
                self.stats.transactions.fetch_add(1, Ordering::Relaxed);
                self.counted(batch.len(), &self.stats.written);
                batch.clear();
                true
            }
            Err(error) => {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %error, kind = T::KIND, records = batch.len(), "writing records failed");
                if self.spill(batch).is_ok() {
                    self.counted(batch.len(), &self.stats.spilled);
                    batch.clear();
                }
                false
            }
        }
    }

    /// Appends the batch to the spill file, one JSON line per record, and syncs it.
    fn spill(&self, batch: &[T]) -> std::io::Result<()> {
        let Some(path) = &self.settings.spill else {
            return Err(std::io::Error::other("no spill file configured"));
        };
        let written = append_lines(path, batch);
        if let Err(error) = &written {
            tracing::error!(error = %error, path = %path.display(), "cannot spill records; keeping them in memory");
        }
        written
    }

    /// Writes the spill file's records to the database and empties it.
    async fn replay_spill(&self) -> Result<(), ()> {
        let Some(path) = &self.settings.spill else {
            return Ok(());
        };
        let records: Vec<T> = match read_lines(path) {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(error = %error, path = %path.display(), "cannot read the spill file");
                return Err(());
            }
        };
        if records.is_empty() {
            return Ok(());
        }
        for chunk in records.chunks(self.settings.batch_size.max(1)) {
            if let Err(error) = T::insert(&self.store, chunk).await {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %error, kind = T::KIND, "replaying spilled records failed; will retry");
                return Err(());
            }
        }
        let n = records.len() as u64;
        self.stats.written.fetch_add(n, Ordering::Relaxed);
        self.stats.replayed.fetch_add(n, Ordering::Relaxed);
        if let Err(error) = std::fs::remove_file(path) {
            tracing::error!(error = %error, "spilled records written but the file stays; they will be skipped as duplicates");
        }
        tracing::info!(
            records = n,
            kind = T::KIND,
            "spilled records written to the database"
        );
        Ok(())
    }

    /// Shutdown: writes what is left for at most `drain_for`, then spills the rest; counts
    /// what neither took as dropped.
    async fn drain(&self, mut batch: Vec<T>, mut rx: mpsc::Receiver<T>) {
        rx.close();
        while let Ok(record) = rx.try_recv() {
            batch.push(record);
        }
        let mut done = 0;
        let write = async {
            for chunk in batch.chunks(self.settings.batch_size.max(1)) {
                T::insert(&self.store, chunk).await?;
                self.counted(chunk.len(), &self.stats.written);
                done += chunk.len();
            }
            Ok::<(), crate::store::StoreError>(())
        };
        match tokio::time::timeout(self.settings.drain_for, write).await {
            Ok(Ok(())) => return,
            Ok(Err(error)) => {
                tracing::warn!(error = %error, kind = T::KIND, "shutdown: writing records failed")
            }
            Err(_) => tracing::warn!("shutdown: the database is too slow"),
        }
        let left = batch.split_off(done);
        if self.spill(&left).is_ok() {
            self.counted(left.len(), &self.stats.spilled);
            tracing::info!(
                records = left.len(),
                kind = T::KIND,
                "shutdown: records spilled; the next start writes them"
            );
        } else {
            self.counted(left.len(), &self.stats.dropped);
            tracing::error!(
                records = left.len(),
                kind = T::KIND,
                "shutdown: records lost"
            );
        }
    }

    /// Moves `n` records out of `queued` into `counter`.
    fn counted(&self, n: usize, counter: &AtomicU64) {
        let n = n as u64;
        counter.fetch_add(n, Ordering::Relaxed);
        self.stats.queued.fetch_sub(n, Ordering::Relaxed);
    }
}

fn append_lines<T: Serialize>(path: &Path, batch: &[T]) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut text = Vec::new();
    for record in batch {
        serde_json::to_writer(&mut text, record)?;
        text.push(b'\n');
    }
    file.write_all(&text)?;
    file.sync_data()
}

/// The spilled records; a line that does not parse (a torn last write) is skipped and logged.
fn read_lines<T: DeserializeOwned>(path: &Path) -> std::io::Result<Vec<T>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut records = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        match serde_json::from_str(&line) {
            Ok(record) => records.push(record),
            Err(error) => {
                tracing::error!(line = n + 1, error = %error, "unreadable spilled record skipped")
            }
        }
    }
    Ok(records)
}
