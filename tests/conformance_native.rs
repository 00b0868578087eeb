//! The conformance suite (and the sync suite, both ends on the backend) against the native
//! backends: memory and SQLite, on a multi-threaded tokio runtime (which also proves the store's
//! futures are `Send`).
#![cfg(not(target_arch = "wasm32"))]

mod memory {
    use evstore::{EventStore, MemoryStorage};

    async fn make_store() -> (EventStore<MemoryStorage>, MemoryStorage) {
        let storage = MemoryStorage::new();
        (EventStore::new(storage.clone()), storage)
    }

    /// Another handle on the same in-memory data.
    async fn reopen_store(storage: &MemoryStorage) -> EventStore<MemoryStorage> {
        EventStore::new(storage.clone())
    }

    evstore::conformance_tests!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]; make_store, reopen_store);
    evstore::sync_conformance_tests!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]; make_store, reopen_store);
}

mod sqlite {
    use evstore::{EventStore, SqliteStorage};
    use tempfile::TempDir;

    async fn make_store() -> (EventStore<SqliteStorage>, TempDir) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = reopen_store(&dir).await;
        (store, dir)
    }

    /// Opens the database file in `dir` again.
    async fn reopen_store(dir: &TempDir) -> EventStore<SqliteStorage> {
        let storage = SqliteStorage::open(dir.path().join("events.db")).expect("open SQLite store");
        EventStore::new(storage)
    }

    evstore::conformance_tests!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]; make_store, reopen_store);
    evstore::sync_conformance_tests!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]; make_store, reopen_store);
}

/// The core does not need tokio: subscriptions and the projector on a plain `futures` executor.
mod memory_on_futures_executor {
    use evstore::{storage::conformance, EventStore, MemoryStorage};

    #[test]
    fn subscriptions_and_projector_work_without_tokio() {
        futures::executor::block_on(async {
            conformance::subscribe_all_catches_up_then_goes_live(EventStore::new(
                MemoryStorage::new(),
            ))
            .await;
            conformance::subscription_has_no_gap_or_duplicate_at_the_switch(EventStore::new(
                MemoryStorage::new(),
            ))
            .await;
            conformance::projector_batches_flush_by_count_and_by_time(EventStore::new(
                MemoryStorage::new(),
            ))
            .await;
        });
    }
}

/// The projector's run future is `Send`: it can be spawned on a multi-threaded runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projector_runs_as_a_spawned_task() {
    use evstore::{
        EventStore, ExpectedVersion, MemoryStorage, NewEvent, ProjectionOptions, Projector,
        RecordedEvent,
    };
    let store = EventStore::new(MemoryStorage::new());
    store
        .append(
            "a-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("A", serde_json::json!({}))],
        )
        .await
        .unwrap();
    let mut projector = Projector::new(store.clone());
    projector
        .add(
            "p",
            ProjectionOptions::default(),
            |_e: Vec<RecordedEvent>| async { Ok::<(), String>(()) },
        )
        .unwrap();
    let handle = projector.handle();
    let task = tokio::spawn(projector.run());
    while handle.checkpoint("p").await.unwrap() < 1 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    handle.stop();
    task.await.unwrap().unwrap();
}
