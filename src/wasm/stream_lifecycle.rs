//! Stream lifecycle on the JS `EventStore`: `deleteStream`, `tombstoneStream`, `truncateBefore`,
//! `setStreamMetadata`, `streamMetadata` and `scavenge` (declared in `typescript.rs`).

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::backend::BrowserStorage;
use super::convert;
use super::store::{promise, JsEventStore};
use crate::error::{Error, Result};
use crate::storage::{StreamMetadata, SyncStorage};
use crate::store::EventStore;
use crate::types::ExpectedVersion;

/// Refuses lifecycle operations on a synced store: its events are the server's mirror, so a
/// stream is deleted or truncated on the server (`evstore delete`, `evstore truncate`).
async fn refuse_synced(store: &EventStore<BrowserStorage>) -> Result<()> {
    if store.storage().load_sync().await?.state.is_some() {
        return Err(Error::invalid_input(
            "this store is synced: its streams mirror the server's, so delete or truncate them \
             on the server",
        ));
    }
    Ok(())
}

/// `{ maxCount?, maxAge? }`: stream metadata from JS (`maxAge` in seconds).
fn stream_metadata(value: &JsValue) -> Result<StreamMetadata> {
    if !value.is_object() {
        return Err(Error::invalid_input(format!(
            "stream metadata must be an object like {{ maxCount: 100, maxAge: 3600 }}, got {}",
            super::error::describe(value)
        )));
    }
    let metadata = StreamMetadata {
        max_count: convert::optional_count(convert::field(value, "maxCount")?, "maxCount")?,
        max_age: convert::optional_count(convert::field(value, "maxAge")?, "maxAge")?,
    };
    metadata.validate()?;
    Ok(metadata)
}

/// A version number of at least 1.
fn version(value: &JsValue) -> Result<u64> {
    match convert::optional_count(value.clone(), "version")? {
        Some(version) => Ok(version),
        None => Err(Error::invalid_input("version must be a positive integer")),
    }
}

impl JsEventStore {
    /// A lifecycle call: converts the stream, the options' `expectedVersion` and the call's own
    /// argument now (while the caller's values are what they were), refuses a synced store, and
    /// runs `operation`.
    fn change<A: 'static, Fut>(
        &self,
        stream: &JsValue,
        options: &JsValue,
        argument: Result<A>,
        operation: impl FnOnce(EventStore<BrowserStorage>, String, ExpectedVersion, A) -> Fut + 'static,
    ) -> Promise
    where
        Fut: std::future::Future<Output = Result<()>> + 'static,
    {
        let store = self.live();
        let input = convert::stream_id(stream)
            .and_then(|stream| Ok((stream, convert::expected_version(options)?, argument?)));
        promise(async move {
            let (store, (stream, expected, argument)) = (store?, input?);
            refuse_synced(&store).await?;
            operation(store, stream, expected, argument).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

#[wasm_bindgen(js_class = EventStore)]
impl JsEventStore {
    /// Soft-deletes `stream` (see the Rust `EventStore::delete_stream`).
    #[wasm_bindgen(js_name = deleteStream, skip_typescript)]
    pub fn delete_stream(&self, stream: JsValue, options: JsValue) -> Promise {
        self.change(&stream, &options, Ok(()), |store, stream, expected, ()| async move {
            store.delete_stream(&stream, expected).await
        })
    }

    /// Deletes `stream` for good (see the Rust `EventStore::tombstone_stream`).
    #[wasm_bindgen(js_name = tombstoneStream, skip_typescript)]
    pub fn tombstone_stream(&self, stream: JsValue, options: JsValue) -> Promise {
        self.change(&stream, &options, Ok(()), |store, stream, expected, ()| async move {
            store.tombstone_stream(&stream, expected).await
        })
    }

    /// Removes the events of `stream` below `version` (see the Rust
    /// `EventStore::truncate_before`).
    #[wasm_bindgen(js_name = truncateBefore, skip_typescript)]
    pub fn truncate_before(&self, stream: JsValue, before: JsValue, options: JsValue) -> Promise {
        let before = version(&before);
        self.change(
            &stream,
            &options,
            before,
            |store, stream, expected, before| async move {
                store.truncate_before(&stream, before, expected).await
            },
        )
    }

    /// Replaces the retention settings of `stream` (see the Rust
    /// `EventStore::set_stream_metadata`).
    #[wasm_bindgen(js_name = setStreamMetadata, skip_typescript)]
    pub fn set_stream_metadata(
        &self,
        stream: JsValue,
        metadata: JsValue,
        options: JsValue,
    ) -> Promise {
        let metadata = stream_metadata(&metadata);
        self.change(
            &stream,
            &options,
            metadata,
            |store, stream, expected, metadata| async move {
                store.set_stream_metadata(&stream, metadata, expected).await
            },
        )
    }

    /// Removes the events that the `maxAge` of their streams no longer keeps (see the Rust
    /// `EventStore::scavenge`): reads hide them already, and the next append to their stream
    /// removes them too; this removes those of streams nobody appends to.
    #[wasm_bindgen(skip_typescript)]
    pub fn scavenge(&self) -> Promise {
        let store = self.live();
        promise(async move {
            store?.scavenge().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The retention settings of `stream`: `{ maxCount?, maxAge? }`.
    #[wasm_bindgen(js_name = streamMetadata, skip_typescript)]
    pub fn stream_metadata(&self, stream: JsValue) -> Promise {
        let store = self.live();
        let stream = convert::stream_id(&stream);
        promise(async move {
            let (store, stream) = (store?, stream?);
            Ok(convert::plain(&store.stream_metadata(&stream).await?))
        })
    }
}
