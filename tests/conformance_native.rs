//! The conformance suite against the native backends: memory and SQLite, on a multi-threaded
//! tokio runtime (which also proves the store's futures are `Send`).

mod memory {
    use evstore::{EventStore, MemoryStorage};

    async fn make_store() -> (EventStore<MemoryStorage>, ()) {
        (EventStore::new(MemoryStorage::new()), ())
    }

    evstore::conformance_tests!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]; make_store);
}

mod sqlite {
    use evstore::{EventStore, SqliteStorage};
    use tempfile::TempDir;

    async fn make_store() -> (EventStore<SqliteStorage>, TempDir) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let storage = SqliteStorage::open(dir.path().join("events.db")).expect("open SQLite store");
        (EventStore::new(storage), dir)
    }

    evstore::conformance_tests!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]; make_store);
}

/// The same suite also runs on a plain `futures` executor: the core does not need tokio.
mod memory_on_futures_executor {
    use evstore::{storage::conformance, EventStore, MemoryStorage};

    #[test]
    fn subscriptions_and_appends_work_without_tokio() {
        futures::executor::block_on(async {
            conformance::subscribe_all_catches_up_then_goes_live(EventStore::new(
                MemoryStorage::new(),
            ))
            .await;
            conformance::subscription_has_no_gap_or_duplicate_at_the_switch(EventStore::new(
                MemoryStorage::new(),
            ))
            .await;
        });
    }
}
