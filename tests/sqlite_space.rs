//! Space after removals, on a real SQLite file: the pages of tombstoned events are freed at once
//! and reused by new events (the file does not grow), and `scavenge` shrinks the file.
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;

use evstore::{EventStore, ExpectedVersion, NewEvent, SqliteStorage};
use serde_json::json;

/// 400 events of about 4 KB each (≈ 1.6 MB) in `stream`.
async fn fill(store: &EventStore<SqliteStorage>, stream: &str) {
    let text = "x".repeat(4000);
    for chunk in 0..4 {
        let events = (0..100)
            .map(|n| NewEvent::new("Big", json!({ "n": chunk * 100 + n, "text": text })))
            .collect();
        store
            .append(stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
}

/// `(page_count, freelist_count, page_size)` of the database, read through its WAL.
fn pages(path: &Path) -> (i64, i64, i64) {
    let raw = rusqlite::Connection::open(path).unwrap();
    let get = |pragma: &str| -> i64 { raw.query_row(pragma, [], |row| row.get(0)).unwrap() };
    (
        get("PRAGMA page_count"),
        get("PRAGMA freelist_count"),
        get("PRAGMA page_size"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_events_free_their_space_and_scavenge_shrinks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = EventStore::new(SqliteStorage::open(&path).unwrap());
    fill(&store, "upload-1").await;
    let (filled, free, page_size) = pages(&path);
    assert!(free < 10, "a fresh file has few free pages: {free}");
    assert!(filled * page_size > 1_500_000, "{filled} pages");

    store
        .tombstone_stream("upload-1", ExpectedVersion::Any)
        .await
        .unwrap();
    let (_, free, _) = pages(&path);
    assert!(
        free * page_size > 1_400_000,
        "the tombstoned events' pages are free: {free} pages"
    );

    // New events reuse the freed pages: the file does not grow.
    fill(&store, "upload-2").await;
    let (refilled, _, _) = pages(&path);
    assert!(
        refilled <= filled + filled / 10,
        "{refilled} pages after refilling, {filled} before"
    );

    store
        .delete_stream("upload-2", ExpectedVersion::Any)
        .await
        .unwrap();
    store.scavenge().await.unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    assert!(bytes < 200_000, "the file shrank to {bytes} bytes");
    let (_, free, _) = pages(&path);
    assert_eq!(free, 0);
    // The store still works, its head where it was.
    let next = store
        .append(
            "upload-3",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("Small", json!({}))],
        )
        .await
        .unwrap();
    assert_eq!(next.position, 803);
}
