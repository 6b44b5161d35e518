//! The batching writer against a real database: everything recorded is stored, shutdown
//! drains the queue, and a failing database delays records without losing them.

mod common;

use std::time::Duration;

use common::{WAIT, answered_call, test_stores};
use kefu::recorder::writer::{
    CompletedCall, RecorderHandle, WriterCounts, WriterSettings, spawn_writer,
};
use kefu::store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A writer task with its own stop switch.
struct Writer {
    handle: RecorderHandle,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Writer {
    fn start(store: &Store, settings: WriterSettings) -> Writer {
        let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
        let handle = spawn_writer(store.clone(), settings, cancel.clone(), &tracker);
        Writer {
            handle,
            cancel,
            tracker,
        }
    }

    fn record_all(&self, calls: &[CompletedCall]) {
        for call in calls.iter().cloned() {
            self.handle.write(call);
        }
    }

    fn counts(&self) -> WriterCounts {
        self.handle.stats().snapshot()
    }

    /// The counters once `done` holds (or after `WAIT`, for the assertion to show them).
    async fn until(&self, done: impl Fn(WriterCounts) -> bool) -> WriterCounts {
        let deadline = kefu::clock::monotonic() + WAIT;
        loop {
            let counts = self.counts();
            if done(counts) || kefu::clock::monotonic() > deadline {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the writer (it drains or spills what is queued) and waits for it.
    async fn stop(&self) {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(WAIT, self.tracker.wait())
            .await
            .expect("stops in time");
    }
}

/// Every call in `expected` reads back exactly.
async fn assert_stored<'a>(
    store: &Store,
    db: &str,
    expected: impl IntoIterator<Item = &'a CompletedCall>,
) {
    for expected in expected {
        let stored = store
            .call_with_timeline(expected.call.call)
            .await
            .expect("read");
        assert_eq!(stored.as_ref(), Some(expected), "{db}");
    }
}

/// Runs one statement on either database (the outage tests break and repair the schema).
async fn execute(store: &Store, sql: &str) {
    match store {
        Store::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        Store::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
    }
    .expect(sql);
}

const BREAK: &str = "ALTER TABLE call_events RENAME TO call_events_away";
const REPAIR: &str = "ALTER TABLE call_events_away RENAME TO call_events";

/// Quick retries, so the outage tests take milliseconds.
fn retrying_fast(spill: Option<&std::path::Path>) -> WriterSettings {
    WriterSettings {
        spill: spill.map(ToOwned::to_owned),
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..WriterSettings::default()
    }
}

#[tokio::test]
async fn every_recorded_call_reaches_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let writer = Writer::start(&store, WriterSettings::default());
        let calls: Vec<_> = (0..500).map(answered_call).collect();
        writer.record_all(&calls);
        let counts = writer.until(|c| c.written == 500).await;
        assert_eq!(
            counts,
            WriterCounts {
                written: 500,
                transactions: 3, // 200 calls at most in one
                ..WriterCounts::default()
            },
            "{db}"
        );
        assert_stored(&store, db, [&calls[0], &calls[499]]).await;
        writer.stop().await;
    }
}

/// Calls that end a few milliseconds apart share a transaction: one per call was the
/// database's largest cost at load (BENCHMARKS.md).
#[tokio::test]
async fn calls_ending_within_the_linger_share_a_transaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let settings = WriterSettings {
            linger: Duration::from_millis(300),
            ..WriterSettings::default()
        };
        let writer = Writer::start(&store, settings);
        let calls: Vec<_> = (0..5).map(answered_call).collect();
        for call in &calls {
            writer.record_all(std::slice::from_ref(call));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let counts = writer.until(|c| c.written == 5).await;
        assert_eq!((counts.written, counts.transactions), (5, 1), "{db}");
        assert_stored(&store, db, &calls).await;
        writer.stop().await;
    }
}

#[tokio::test]
async fn shutdown_writes_what_is_still_queued() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let writer = Writer::start(&store, WriterSettings::default());
        let calls: Vec<_> = (0..300).map(answered_call).collect();
        writer.record_all(&calls);
        writer.stop().await; // at once: most calls are still queued
        let counts = writer.counts();
        assert_eq!(
            (counts.written, counts.dropped),
            (300, 0),
            "{db}: {counts:?}"
        );
        assert_stored(&store, db, [&calls[299]]).await;
    }
}

#[tokio::test]
async fn a_failing_database_is_retried_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stores = test_stores(&dir).await;
    let (_, store) = &stores[0];
    // The database breaks: the timeline table is gone, so every batch fails. With no spill
    // file the writer keeps the batch in memory and retries it.
    execute(store, BREAK).await;
    let writer = Writer::start(store, retrying_fast(None));
    let calls: Vec<_> = (0..50).map(answered_call).collect();
    writer.record_all(&calls);
    let counts = writer.until(|c| c.retries >= 3).await;
    assert!(counts.retries >= 3, "retries counted: {counts:?}");
    assert_eq!(writer.counts().written, 0);

    // The database recovers: the kept batch goes in, whole.
    execute(store, REPAIR).await;
    let counts = writer.until(|c| c.written == 50).await;
    assert_eq!(
        (counts.written, counts.dropped, counts.queued),
        (50, 0, 0),
        "{counts:?}"
    );
    let timeline = store
        .call_with_timeline(calls[49].call.call)
        .await
        .expect("read")
        .expect("stored")
        .timeline;
    assert_eq!(timeline.len(), 3);
    writer.stop().await;
}

#[tokio::test]
async fn a_database_outage_spills_to_disk_and_every_call_arrives_when_it_returns() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let spill = dir.path().join(format!("{db}-spill.jsonl"));
        let writer = Writer::start(&store, retrying_fast(Some(&spill)));
        let before: Vec<_> = (0..20).map(answered_call).collect();
        writer.record_all(&before);
        writer.until(|c| c.written == 20).await;

        execute(&store, BREAK).await; // outage
        let during: Vec<_> = (20..70).map(answered_call).collect();
        writer.record_all(&during);
        let counts = writer.until(|c| c.spilled == 50).await;
        assert_eq!(
            (counts.spilled, counts.queued, counts.written),
            (50, 0, 20),
            "{db}: {counts:?}"
        );
        assert!(spill.exists(), "{db}: the calls wait on disk");

        execute(&store, REPAIR).await; // back
        let counts = writer.until(|c| c.written == 70).await;
        assert_eq!(
            (counts.written, counts.replayed, counts.dropped),
            (70, 50, 0),
            "{db}: {counts:?}"
        );
        assert!(!spill.exists(), "{db}: the spill is emptied");
        assert_stored(&store, db, before.iter().chain(&during)).await;
        writer.stop().await;
    }
}

#[tokio::test]
async fn a_restart_writes_what_the_last_run_spilled() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let spill = dir.path().join(format!("{db}-spill.jsonl"));
        execute(&store, BREAK).await;
        let first = Writer::start(&store, retrying_fast(Some(&spill)));
        let calls: Vec<_> = (0..30).map(answered_call).collect();
        first.record_all(&calls);
        first.until(|c| c.spilled == 30).await;
        first.stop().await; // kefu stops while the database is still down
        assert_eq!(first.counts().dropped, 0, "{db}");

        execute(&store, REPAIR).await;
        let second = Writer::start(&store, retrying_fast(Some(&spill)));
        let counts = second.until(|c| c.replayed == 30).await;
        assert_eq!(
            (counts.written, counts.replayed),
            (30, 30),
            "{db}: {counts:?}"
        );
        assert_stored(&store, db, &calls).await;
        second.stop().await;
    }
}
