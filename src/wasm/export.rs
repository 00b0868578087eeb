//! `store.exportJsonl()` and `store.importJsonl(input)`: the JSON-lines export format (see
//! `crate::export`) to a `Blob` and from a `Blob` or a `ReadableStream`, so a browser store can be
//! saved to a file and loaded into `evstore import` — and back.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::AsyncWrite;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::convert;
use super::error::{describe, thrown_message, to_js};
use super::store::JsEventStore;
use crate::error::{Error, Result};
use crate::export::{export_jsonl, ExportOptions, Importer};

#[wasm_bindgen(typescript_custom_section)]
const EXPORT_TYPES: &'static str = r#"
/** Options of `exportJsonl`. */
export interface ExportOptions {
  /**
   * Write each event through the store's upcasters (`store.upcast`), as reads see it; default
   * `false`: as stored, a faithful copy to import into a store that has the same upcasters.
   */
  upcast?: boolean;
}

/** What `importJsonl` did. */
export interface ImportSummary {
  /** Event lines read. */
  events: number;
  /** Events appended to this store. */
  imported: number;
  /** Events skipped because this store already had them (same id, stream and version). */
  alreadyPresent: number;
}
"#;

/// The MIME type of an export.
const JSONL_TYPE: &str = "application/x-ndjson";

#[wasm_bindgen(js_class = EventStore)]
impl JsEventStore {
    /// The whole store, up to its current head, as JSON lines in a `Blob`: a header line
    /// `{"format":"evstore-export","version":1,…}`, then one recorded event per line — as stored,
    /// or with `{ upcast: true }` through the store's upcasters (as reads see them).
    #[wasm_bindgen(js_name = exportJsonl)]
    pub fn export_jsonl(&self, options: JsValue) -> Promise {
        let store = self.live();
        let upcast = upcast_option(&options);
        future_to_promise(async move {
            let run = async {
                let store = store?;
                let mut parts = BlobParts(Array::new());
                let options = ExportOptions::default();
                if upcast? {
                    store.export_jsonl(&mut parts, &options).await?;
                } else {
                    export_jsonl(store.storage(), &mut parts, &options).await?;
                }
                blob(&parts.0)
            };
            run.await.map_err(to_js)
        })
    }

    /// Loads an export (from `exportJsonl()` or `evstore export`) from a `Blob` or a
    /// `ReadableStream` of bytes, line by line. Keeps ids, versions, recorded times, metadata
    /// and correlation/causation; skips events already here (importing twice adds nothing); a
    /// bad line rejects with code `InvalidInput` naming the line.
    #[wasm_bindgen(js_name = importJsonl)]
    pub fn import_jsonl(&self, input: JsValue) -> Promise {
        let store = self.live();
        let reader = byte_reader(&input);
        future_to_promise(async move {
            let run = async {
                let store = store?;
                let reader = reader?;
                let mut importer = Importer::new(store.storage());
                while let Some(bytes) = read_chunk(&reader).await? {
                    if let Err(e) = importer.feed(&bytes).await {
                        cancel(&reader);
                        return Err(e);
                    }
                }
                // Each batch written woke this tab's subscriptions (the storage's notifier);
                // other tabs notice by their poll.
                let summary = importer.finish().await?;
                #[derive(Serialize)]
                #[serde(rename_all = "camelCase")]
                struct Summary {
                    events: u64,
                    imported: u64,
                    already_present: u64,
                }
                Ok(convert::plain(&Summary {
                    events: summary.events,
                    imported: summary.imported,
                    already_present: summary.already_present,
                }))
            };
            run.await.map_err(to_js)
        })
    }
}

/// What an export writes, collected as the parts of a `Blob` (one per write, not one copy of
/// the whole export in wasm memory).
struct BlobParts(Array);

impl AsyncWrite for BlobParts {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.push(&Uint8Array::from(buf));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn js_failure(what: &str, thrown: &JsValue) -> Error {
    Error::storage(format!("{what}: {}", thrown_message(thrown)))
}

fn method(target: &JsValue, name: &str) -> Option<Function> {
    Reflect::get(target, &JsValue::from_str(name))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
}

/// `new Blob(parts, { type })`.
fn blob(parts: &Array) -> Result<JsValue> {
    let constructor = Reflect::get(&js_sys::global(), &JsValue::from_str("Blob"))
        .ok()
        .and_then(|c| c.dyn_into::<Function>().ok())
        .ok_or_else(|| Error::storage("this environment has no Blob"))?;
    let options = Object::new();
    let _ = Reflect::set(&options, &"type".into(), &JSONL_TYPE.into());
    Reflect::construct(&constructor, &Array::of2(parts, &options))
        .map_err(|thrown| js_failure("cannot make the export Blob", &thrown))
}

/// A `ReadableStreamDefaultReader` over `input`: a `Blob` (its `stream()`) or a `ReadableStream`.
fn byte_reader(input: &JsValue) -> Result<JsValue> {
    let not_input =
        || Error::invalid_input("importJsonl takes a Blob (or File) or a ReadableStream of bytes");
    if !input.is_object() {
        return Err(not_input());
    }
    let stream = match (method(input, "getReader"), method(input, "stream")) {
        (Some(_), _) => input.clone(),
        (None, Some(stream)) => stream
            .call0(input)
            .map_err(|thrown| js_failure("cannot read the Blob", &thrown))?,
        (None, None) => return Err(not_input()),
    };
    let get_reader = method(&stream, "getReader").ok_or_else(not_input)?;
    get_reader
        .call0(&stream)
        .map_err(|thrown| js_failure("cannot read the stream", &thrown))
}

/// The next chunk of bytes, or `None` at the end.
async fn read_chunk(reader: &JsValue) -> Result<Option<Vec<u8>>> {
    let read =
        method(reader, "read").ok_or_else(|| Error::storage("the stream reader has no read()"))?;
    let promise: Promise = read
        .call0(reader)
        .map_err(|thrown| js_failure("cannot read the stream", &thrown))?
        .dyn_into()
        .map_err(|_| Error::storage("the stream's read() returned no promise"))?;
    let result = JsFuture::from(promise)
        .await
        .map_err(|thrown| js_failure("reading the stream failed", &thrown))?;
    let field =
        |name: &str| Reflect::get(&result, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
    if field("done").is_truthy() {
        return Ok(None);
    }
    let value = field("value");
    let bytes = value.dyn_into::<Uint8Array>().map_err(|_| {
        Error::invalid_input("importJsonl: the stream must yield bytes (Uint8Array chunks)")
    })?;
    Ok(Some(bytes.to_vec()))
}

/// Lets go of a stream whose import failed.
fn cancel(reader: &JsValue) {
    if let Some(cancel) = method(reader, "cancel") {
        let _ = cancel.call0(reader);
    }
}

/// `exportJsonl`'s `upcast` option: absent is `false`; anything but a boolean is refused.
fn upcast_option(options: &JsValue) -> Result<bool> {
    let upcast = convert::field(options, "upcast")?;
    if upcast.is_undefined() {
        return Ok(false);
    }
    upcast.as_bool().ok_or_else(|| {
        Error::invalid_input(format!(
            "exportJsonl's `upcast` must be a boolean, got {}",
            describe(&upcast)
        ))
    })
}
