//! The conformance suite in a real browser (headless Chromium): memory and IndexedDB.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

mod memory {
    use evstore::{EventStore, MemoryStorage};
    use wasm_bindgen_test::wasm_bindgen_test;

    async fn make_store() -> (EventStore<MemoryStorage>, MemoryStorage) {
        let storage = MemoryStorage::new();
        (EventStore::new(storage.clone()), storage)
    }

    /// Another handle on the same in-memory data.
    async fn reopen_store(storage: &MemoryStorage) -> EventStore<MemoryStorage> {
        EventStore::new(storage.clone())
    }

    evstore::conformance_tests!(#[wasm_bindgen_test]; make_store, reopen_store);
    evstore::sync_conformance_tests!(#[wasm_bindgen_test]; make_store, reopen_store);
}

mod indexeddb {
    use evstore::{EventStore, IndexedDbStorage};
    use wasm_bindgen_test::wasm_bindgen_test;

    /// A fresh database per test.
    async fn make_store() -> (EventStore<IndexedDbStorage>, String) {
        let name = format!("evstore-conformance-{}", uuid::Uuid::now_v7());
        (reopen_store(&name).await, name)
    }

    /// The same database, through a new connection.
    async fn reopen_store(name: &str) -> EventStore<IndexedDbStorage> {
        EventStore::new(
            IndexedDbStorage::open(name)
                .await
                .expect("open IndexedDB store"),
        )
    }

    evstore::conformance_tests!(#[wasm_bindgen_test]; make_store, reopen_store);
    evstore::sync_conformance_tests!(#[wasm_bindgen_test]; make_store, reopen_store);
}
