//! The batching writer against a real database: everything recorded is stored, shutdown
//! drains the queue, and a failing database delays records without losing them.

mod common;

use std::time::Duration;

use common::{WAIT, answered_call, test_stores};
use kefu::recorder::writer::{RecorderHandle, WriterCounts, WriterSettings, spawn_writer};
use kefu::store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[tokio::test]
async fn every_recorded_call_reaches_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
        let handle = spawn_writer(
            store.clone(),
            WriterSettings::default(),
            cancel.clone(),
            &tracker,
        );
        let calls: Vec<_> = (0..500).map(answered_call).collect();
        for (record, timeline) in calls.iter().cloned() {
            handle.record(record, timeline);
        }
        let counts = until(&handle, |c| c.written == 500).await;
        assert_eq!(
            counts,
            WriterCounts {
                written: 500,
                ..WriterCounts::default()
            },
            "{db}"
        );
        for expected in [&calls[0], &calls[499]] {
            let stored = store
                .call_with_timeline(expected.0.call)
                .await
                .expect("read");
            assert_eq!(stored.as_ref(), Some(expected), "{db}");
        }
        cancel.cancel();
        tracker.close();
        tracker.wait().await;
    }
}

#[tokio::test]
async fn shutdown_writes_what_is_still_queued() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
        let handle = spawn_writer(
            store.clone(),
            WriterSettings::default(),
            cancel.clone(),
            &tracker,
        );
        let calls: Vec<_> = (0..300).map(answered_call).collect();
        for (record, timeline) in calls.iter().cloned() {
            handle.record(record, timeline);
        }
        cancel.cancel(); // at once: most calls are still queued
        tracker.close();
        tokio::time::timeout(WAIT, tracker.wait())
            .await
            .expect("drains in time");
        let counts = handle.stats().snapshot();
        assert_eq!(
            (counts.written, counts.dropped),
            (300, 0),
            "{db}: {counts:?}"
        );
        let last = store
            .call_with_timeline(calls[299].0.call)
            .await
            .expect("read");
        assert!(last.is_some(), "{db}");
    }
}

#[tokio::test]
async fn a_failing_database_is_retried_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stores = test_stores(&dir).await;
    let (_, store) = &stores[0];
    let Store::Sqlite(pool) = store else {
        panic!("the first test store is SQLite");
    };
    // The database breaks: the timeline table is gone, so every batch fails.
    sqlx::query("ALTER TABLE call_events RENAME TO call_events_away")
        .execute(pool)
        .await
        .expect("break the schema");
    let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
    let settings = WriterSettings {
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..WriterSettings::default()
    };
    let handle = spawn_writer(store.clone(), settings, cancel.clone(), &tracker);
    let calls: Vec<_> = (0..50).map(answered_call).collect();
    for (record, timeline) in calls.iter().cloned() {
        handle.record(record, timeline);
    }
    let deadline = kefu::clock::monotonic() + WAIT;
    while handle.stats().snapshot().retries < 3 {
        assert!(kefu::clock::monotonic() < deadline, "retries counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(handle.stats().snapshot().written, 0);

    // The database recovers: the kept batch goes in, whole.
    sqlx::query("ALTER TABLE call_events_away RENAME TO call_events")
        .execute(pool)
        .await
        .expect("repair the schema");
    let counts = until(&handle, |c| c.written == 50).await;
    assert_eq!(
        (counts.written, counts.dropped, counts.queued),
        (50, 0, 0),
        "{counts:?}"
    );
    let (_, timeline) = store
        .call_with_timeline(calls[49].0.call)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(timeline.len(), 3);
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}

/// Runs one statement on either database (the outage tests break and repair the schema).
async fn execute(store: &Store, sql: &str) {
    match store {
        Store::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        Store::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
    }
    .expect(sql);
}

async fn until(handle: &RecorderHandle, done: impl Fn(WriterCounts) -> bool) -> WriterCounts {
    let deadline = kefu::clock::monotonic() + WAIT;
    loop {
        let counts = handle.stats().snapshot();
        if done(counts) || kefu::clock::monotonic() > deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn spilling(path: &std::path::Path) -> WriterSettings {
    WriterSettings {
        spill: Some(path.to_owned()),
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..WriterSettings::default()
    }
}

#[tokio::test]
async fn a_database_outage_spills_to_disk_and_every_call_arrives_when_it_returns() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let spill = dir.path().join(format!("{db}-spill.jsonl"));
        let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
        let handle = spawn_writer(store.clone(), spilling(&spill), cancel.clone(), &tracker);
        let before: Vec<_> = (0..20).map(answered_call).collect();
        for (record, timeline) in before.iter().cloned() {
            handle.record(record, timeline);
        }
        until(&handle, |c| c.written == 20).await;

        execute(&store, "ALTER TABLE call_events RENAME TO call_events_away").await; // outage
        let during: Vec<_> = (20..70).map(answered_call).collect();
        for (record, timeline) in during.iter().cloned() {
            handle.record(record, timeline);
        }
        let counts = until(&handle, |c| c.spilled == 50).await;
        assert_eq!(
            (counts.spilled, counts.queued, counts.written),
            (50, 0, 20),
            "{db}: {counts:?}"
        );
        assert!(spill.exists(), "{db}: the calls wait on disk");

        execute(&store, "ALTER TABLE call_events_away RENAME TO call_events").await; // back
        let counts = until(&handle, |c| c.written == 70).await;
        assert_eq!(
            (counts.written, counts.replayed, counts.dropped),
            (70, 50, 0),
            "{db}: {counts:?}"
        );
        assert!(!spill.exists(), "{db}: the spill is emptied");
        for expected in before.iter().chain(&during) {
            let stored = store
                .call_with_timeline(expected.0.call)
                .await
                .expect("read");
            assert_eq!(stored.as_ref(), Some(expected), "{db}");
        }
        cancel.cancel();
        tracker.close();
        tracker.wait().await;
    }
}

#[tokio::test]
async fn a_restart_writes_what_the_last_run_spilled() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let spill = dir.path().join(format!("{db}-spill.jsonl"));
        execute(&store, "ALTER TABLE call_events RENAME TO call_events_away").await;
        let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
        let first = spawn_writer(store.clone(), spilling(&spill), cancel.clone(), &tracker);
        let calls: Vec<_> = (0..30).map(answered_call).collect();
        for (record, timeline) in calls.iter().cloned() {
            first.record(record, timeline);
        }
        until(&first, |c| c.spilled == 30).await;
        cancel.cancel(); // kefu stops while the database is still down
        tracker.close();
        tokio::time::timeout(WAIT, tracker.wait())
            .await
            .expect("stops");
        assert_eq!(first.stats().snapshot().dropped, 0, "{db}");

        execute(&store, "ALTER TABLE call_events_away RENAME TO call_events").await;
        let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
        let second = spawn_writer(store.clone(), spilling(&spill), cancel.clone(), &tracker);
        let counts = until(&second, |c| c.replayed == 30).await;
        assert_eq!(
            (counts.written, counts.replayed),
            (30, 30),
            "{db}: {counts:?}"
        );
        for expected in &calls {
            let stored = store
                .call_with_timeline(expected.0.call)
                .await
                .expect("read");
            assert_eq!(stored.as_ref(), Some(expected), "{db}");
        }
        cancel.cancel();
        tracker.close();
        tracker.wait().await;
    }
}
