//! The conformance suite in a real browser (headless Chromium): memory and IndexedDB.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

mod memory {
    use evstore::{EventStore, MemoryStorage};
    use wasm_bindgen_test::wasm_bindgen_test;

    async fn make_store() -> (EventStore<MemoryStorage>, ()) {
        (EventStore::new(MemoryStorage::new()), ())
    }

    evstore::conformance_tests!(#[wasm_bindgen_test]; make_store);
}

mod indexeddb {
    use evstore::{EventStore, IndexedDbStorage};
    use wasm_bindgen_test::wasm_bindgen_test;

    /// A fresh database per test.
    async fn make_store() -> (EventStore<IndexedDbStorage>, ()) {
        let name = format!("evstore-conformance-{}", uuid::Uuid::now_v7());
        let storage = IndexedDbStorage::open(&name).await.expect("open IndexedDB store");
        (EventStore::new(storage), ())
    }

    evstore::conformance_tests!(#[wasm_bindgen_test]; make_store);
}
