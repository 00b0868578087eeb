//! The JSON-lines export format: a store saved to a file and loaded into another store, on any
//! backend and either target.
//!
//! Line 1 is a header, `{"format":"evstore-export","version":1,"storeId":…,"exportedAt":…,
//! "head":…}`; each further line is one recorded event, in position order, with the JavaScript
//! API's field names (`id, streamId, version, position, type, data, metadata, recordedAt,
//! correlationId, causationId` — see [`RecordedEventJson`]).
//!
//! [`import_jsonl`] reads it back into any backend; [`Importer`] does the same from chunks.

use std::collections::HashSet;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::json::RecordedEventJson;
use crate::platform::now_millis;
use crate::storage::{AppendBatch, AppendNotifier, PreparedEvent, Retention, Storage};
use crate::store::{prepare_event, EventStore, DEFAULT_PAGE_SIZE};
use crate::types::{category_of, validate_stream_id, Direction, ExpectedVersion, Filter, NewEvent};
use crate::upcast::Upcasters;

/// The `format` of an export's header line.
pub const EXPORT_FORMAT: &str = "evstore-export";

/// The version of the export format this build writes, and the newest it reads.
pub const EXPORT_FORMAT_VERSION: u64 = 1;

/// The most events an import appends in one batch (one storage transaction).
pub const IMPORT_BATCH_EVENTS: usize = 500;

/// The longest line an import accepts, in bytes (an event's JSON).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A batch is also cut once its events' JSON reaches this many bytes.
const IMPORT_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportHeader {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// The format version ([`EXPORT_FORMAT_VERSION`]).
    pub version: u64,
    /// The exported store's id, when it has one (`null` otherwise).
    pub store_id: Option<String>,
    /// When the export started, in UTC milliseconds.
    pub exported_at: u64,
    /// The store's head when the export started: the export holds the events up to it.
    pub head: u64,
}

/// Options of [`export_jsonl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// The id written as the header's `storeId` (default `None`: `null`).
    pub store_id: Option<String>,
    /// How many events one storage read takes. Default: [`DEFAULT_PAGE_SIZE`].
    pub page_size: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            store_id: None,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// What [`export_jsonl`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The header line written.
    pub header: ExportHeader,
    /// How many event lines followed it.
    pub events: u64,
}

/// What [`import_jsonl`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// The file's header.
    pub header: ExportHeader,
    /// Event lines read.
    pub events: u64,
    /// Events appended to the target.
    pub imported: u64,
    /// Events skipped because the target already had them (same id, stream and version).
    pub already_present: u64,
}

fn write_error(e: std::io::Error) -> Error {
    Error::storage(format!("cannot write the export: {e}"))
}

/// Writes every event of `storage` up to its current head as JSON lines to `writer`: the header
/// line `{"format":"evstore-export","version":1,"storeId":…,"exportedAt":…,"head":…}`, then one
/// line per event in position order with the JavaScript API's field names
/// ([`RecordedEventJson`]). Reads page by page; flushes `writer` at the end. Write failures are
/// [`Error::Storage`]. [`import_jsonl`] reads it back.
///
/// The events are written **as stored**: this is a faithful copy (a backup, a move to another
/// store that has the same upcasters). To export events as a store's readers see them, through
/// its upcasters, use [`EventStore::export_jsonl`].
///
/// ```
/// # futures::executor::block_on(async {
/// use evstore::{export_jsonl, import_jsonl, EventStore, ExpectedVersion, ExportOptions,
///               MemoryStorage, NewEvent};
///
/// let source = EventStore::new(MemoryStorage::new());
/// source.append("todo-1", ExpectedVersion::NoStream,
///               vec![NewEvent::new("Added", serde_json::json!({ "title": "milk" }))]).await?;
///
/// let mut file = Vec::new();
/// export_jsonl(source.storage(), &mut file, &ExportOptions::default()).await?;
///
/// let target = MemoryStorage::new();
/// let summary = import_jsonl(&target, file.as_slice()).await?;
/// assert_eq!(summary.imported, 1);
/// let again = import_jsonl(&target, file.as_slice()).await?;
/// assert_eq!((again.imported, again.already_present), (0, 1));
/// # Ok::<(), evstore::Error>(()) }).unwrap();
/// ```
pub async fn export_jsonl<S, W>(
    storage: &S,
    writer: W,
    options: &ExportOptions,
) -> Result<ExportSummary>
where
    S: Storage,
    W: AsyncWrite + Unpin,
{
    export_through(storage, writer, options, None).await
}

impl<S: Storage> EventStore<S> {
    /// Writes every event up to the head as JSON lines, as [`export_jsonl`] does, but **as this
    /// store's readers see them**: each event goes through the store's upcasters (see
    /// [`register_upcaster`](Self::register_upcaster)), so the file holds the current shapes and
    /// types — for a consumer that does not know the old ones. Import such a file into a store
    /// without those upcasters (an upcaster that keeps an event's type would otherwise run
    /// twice). An upcaster that fails stops the export with its [`Error::Codec`]; what was
    /// written before stays in `writer`.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use evstore::{EventStore, ExpectedVersion, ExportOptions, MemoryStorage, NewEvent,
    ///               RecordedEvent};
    ///
    /// let store = EventStore::new(MemoryStorage::new());
    /// store.append("todo-1", ExpectedVersion::NoStream,
    ///              vec![NewEvent::new("AddedV1", serde_json::json!({ "title": "milk" }))]).await?;
    /// store.register_upcaster("AddedV1", |mut event: RecordedEvent| {
    ///     event.event_type = "Added".into();
    ///     Ok::<_, &str>(event)
    /// });
    /// let mut file = Vec::new();
    /// store.export_jsonl(&mut file, &ExportOptions::default()).await?;
    /// assert!(String::from_utf8(file).unwrap().contains(r#""type":"Added""#));
    /// # Ok::<(), evstore::Error>(()) }).unwrap();
    /// ```
    pub async fn export_jsonl<W>(&self, writer: W, options: &ExportOptions) -> Result<ExportSummary>
    where
        W: AsyncWrite + Unpin,
    {
        self.ensure_open()?;
        let upcasters = self.upcasters();
        export_through(self.storage(), writer, options, Some(&upcasters)).await
    }
}

/// [`export_jsonl`], each event through `upcasters` when given.
async fn export_through<S, W>(
    storage: &S,
    writer: W,
    options: &ExportOptions,
    upcasters: Option<&Upcasters>,
) -> Result<ExportSummary>
where
    S: Storage,
    W: AsyncWrite + Unpin,
{
    let mut writer = writer;
    let header = ExportHeader {
        format: EXPORT_FORMAT.to_owned(),
        version: EXPORT_FORMAT_VERSION,
        store_id: options.store_id.clone(),
        exported_at: now_millis(),
        head: storage.head().await?,
    };
    let mut text = to_line(&header)?;
    writer
        .write_all(text.as_bytes())
        .await
        .map_err(write_error)?;
    let (mut after, mut events) = (0, 0);
    let everything = Filter::default();
    // Events the `maxAge` of their streams no longer keeps are not exported.
    let retention = Retention::load(storage).await?;
    while after < header.head {
        let page = storage
            .read_all(
                after,
                Direction::Forward,
                options.page_size.max(1),
                &everything,
            )
            .await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        text.clear();
        let page = page.into_iter().take_while(|e| e.position <= header.head);
        for event in page.filter(|event| retention.keeps(event)) {
            let event = match upcasters {
                Some(upcasters) => upcasters.apply(event)?,
                None => event,
            };
            text.push_str(&to_line(&RecordedEventJson::from(event))?);
            events += 1;
        }
        writer
            .write_all(text.as_bytes())
            .await
            .map_err(write_error)?;
    }
    writer.flush().await.map_err(write_error)?;
    Ok(ExportSummary { header, events })
}

fn to_line<T: Serialize>(value: &T) -> Result<String> {
    let mut line = serde_json::to_string(value)
        .map_err(|e| Error::storage(format!("cannot encode an export line: {e}")))?;
    line.push('\n');
    Ok(line)
}

/// Imports JSON lines written by [`export_jsonl`] (or `exportJsonl()` in JavaScript, or
/// `evstore export`) from `reader` into `storage`.
///
/// Keeps ids, stream versions, recorded times, metadata and correlation / causation ids; the
/// target assigns positions, in the file's order. The input is read line by line and appended
/// one batch per run of consecutive events of a stream (at most [`IMPORT_BATCH_EVENTS`]), so
/// memory stays bounded whatever the file's size.
///
/// - **Idempotent**: events already in the target (same id, stream and version) are skipped, so
///   importing a file twice — or a later export of the same store — adds only what is new.
/// - **Checked**: a line that is not JSON, not an event, out of position order, or that would
///   break a stream's version sequence (a gap, a different event already at that version, an id
///   used elsewhere) stops the import with an [`Error::InvalidInput`] naming the line; nothing of
///   the batch being built is written. Batches before it stay written, so re-running the import
///   after fixing the file is safe.
///
/// See [`export_jsonl`] for an example.
///
/// Each batch written wakes the subscriptions of the stores over this data in this process,
/// through the backend's [`notifier`](Storage::notifier), as an append through a store does.
pub async fn import_jsonl<S, R>(storage: &S, reader: R) -> Result<ImportSummary>
where
    S: Storage,
    R: AsyncRead + Unpin,
{
    let mut reader = reader;
    let mut importer = Importer::new(storage);
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let read = reader
            .read(&mut chunk)
            .await
            .map_err(|e| Error::storage(format!("cannot read the import: {e}")))?;
        if read == 0 {
            return importer.finish().await;
        }
        importer.feed(&chunk[..read]).await?;
    }
}

/// An import fed with bytes as they arrive — for callers that get the input in chunks (a
/// browser `ReadableStream`) rather than as an [`AsyncRead`]. [`import_jsonl`] is built on it.
/// After an error the import is over: drop the importer.
pub struct Importer<'a, S> {
    storage: &'a S,
    notifier: AppendNotifier,
    /// The bytes of the current, unfinished line.
    carry: Vec<u8>,
    /// The number of the last line handled (1-based).
    line: u64,
    header: Option<ExportHeader>,
    last_position: u64,
    pending: Option<PendingBatch>,
    events: u64,
    imported: u64,
    already_present: u64,
}

impl<S> std::fmt::Debug for Importer<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Importer")
            .field("line", &self.line)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// Consecutive events of one stream, not yet appended.
struct PendingBatch {
    stream_id: String,
    first_version: u64,
    events: Vec<PreparedEvent>,
    /// The line of each event.
    lines: Vec<u64>,
    ids: HashSet<String>,
    bytes: usize,
}

impl PendingBatch {
    fn next_version(&self) -> u64 {
        self.first_version + self.events.len() as u64
    }

    fn is_full(&self) -> bool {
        self.events.len() >= IMPORT_BATCH_EVENTS || self.bytes >= IMPORT_BATCH_BYTES
    }
}

fn at_line(line: u64, reason: impl std::fmt::Display) -> Error {
    Error::invalid_input(format!("line {line}: {reason}"))
}

impl<'a, S: Storage> Importer<'a, S> {
    /// An import into `storage`.
    pub fn new(storage: &'a S) -> Self {
        Importer {
            storage,
            notifier: storage.notifier(),
            carry: Vec::new(),
            line: 0,
            header: None,
            last_position: 0,
            pending: None,
            events: 0,
            imported: 0,
            already_present: 0,
        }
    }

    /// Takes the next bytes of the input (any split: lines may span chunks).
    pub async fn feed(&mut self, mut bytes: &[u8]) -> Result<()> {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.carry.extend_from_slice(&bytes[..end]);
            bytes = &bytes[end + 1..];
            let line = std::mem::take(&mut self.carry);
            self.handle_line(&line).await?;
            // Keep the allocation for the next line.
            self.carry = line;
            self.carry.clear();
        }
        self.carry.extend_from_slice(bytes);
        if self.carry.len() > MAX_LINE_BYTES {
            return Err(at_line(
                self.line + 1,
                format!("the line is longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    /// Ends the input: handles a last line without a newline, appends what is pending and says
    /// what was imported. An input without a header is [`Error::InvalidInput`].
    pub async fn finish(mut self) -> Result<ImportSummary> {
        if !self.carry.is_empty() {
            let line = std::mem::take(&mut self.carry);
            self.handle_line(&line).await?;
        }
        self.flush().await?;
        let header = self.header.ok_or_else(|| {
            Error::invalid_input(
                "the input is empty: an evstore export starts with its header line",
            )
        })?;
        Ok(ImportSummary {
            header,
            events: self.events,
            imported: self.imported,
            already_present: self.already_present,
        })
    }

    async fn handle_line(&mut self, line: &[u8]) -> Result<()> {
        self.line += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let line =
            std::str::from_utf8(line).map_err(|e| at_line(self.line, format!("not UTF-8: {e}")))?;
        if self.header.is_none() {
            self.header = Some(parse_header(self.line, line)?);
            return Ok(());
        }
        let event: RecordedEventJson = serde_json::from_str(line)
            .map_err(|e| at_line(self.line, format!("not an exported event: {e}")))?;
        self.add(event).await
    }

    async fn add(&mut self, event: RecordedEventJson) -> Result<()> {
        let line = self.line;
        validate_stream_id(&event.stream_id).map_err(|e| at_line(line, reason_of(e)))?;
        if event.version == 0 {
            return Err(at_line(line, "version must be at least 1"));
        }
        if event.position <= self.last_position {
            return Err(at_line(
                line,
                format!(
                    "position {} does not follow position {}: an export lists events in position order",
                    event.position, self.last_position
                ),
            ));
        }
        self.last_position = event.position;
        self.events += 1;

        let continues = self
            .pending
            .as_ref()
            .is_some_and(|p| p.stream_id == event.stream_id);
        if !continues || self.pending.as_ref().is_some_and(PendingBatch::is_full) {
            self.flush().await?;
        }
        let pending = self.pending.get_or_insert_with(|| PendingBatch {
            stream_id: event.stream_id.clone(),
            first_version: event.version,
            events: Vec::new(),
            lines: Vec::new(),
            ids: HashSet::new(),
            bytes: 0,
        });
        if event.version != pending.next_version() {
            return Err(at_line(
                line,
                format!(
                    "stream `{}` goes from version {} to version {}: an export lists each stream's versions in order, without gaps",
                    event.stream_id,
                    pending.next_version() - 1,
                    event.version
                ),
            ));
        }
        let prepared = prepare_event(
            NewEvent {
                id: Some(event.id),
                event_type: event.event_type,
                data: event.data,
                metadata: event.metadata,
                correlation_id: event.correlation_id,
                causation_id: event.causation_id,
            },
            event.recorded_at,
        )
        .map_err(|e| at_line(line, reason_of(e)))?;
        if !pending.ids.insert(prepared.id.clone()) {
            return Err(at_line(
                line,
                format!("event id {} appears twice in the file", prepared.id),
            ));
        }
        pending.bytes += prepared.data.len() + prepared.metadata.len();
        pending.events.push(prepared);
        pending.lines.push(line);
        Ok(())
    }

    /// Appends the pending batch, skipping the events the target already has.
    async fn flush(&mut self) -> Result<()> {
        let Some(batch) = self.pending.take() else {
            return Ok(());
        };
        let first_line = batch.lines[0];
        let existing = self
            .storage
            .read_stream(
                &batch.stream_id,
                batch.first_version,
                Direction::Forward,
                batch.events.len(),
            )
            .await
            .map_err(|e| with_line(first_line, e))?;
        for (offset, found) in existing.iter().enumerate() {
            let ours = &batch.events[offset];
            if found.id != ours.id || found.version != batch.first_version + offset as u64 {
                return Err(at_line(
                    batch.lines[offset],
                    format!(
                        "stream `{}` already has a different event (id {}) at version {} in this store",
                        batch.stream_id, found.id, found.version
                    ),
                ));
            }
        }
        let present = existing.len();
        self.already_present += present as u64;
        if present == batch.events.len() {
            return Ok(());
        }
        let first_new = batch.first_version + present as u64;
        let new_line = batch.lines[present];
        let count = batch.events.len() - present;
        let append = AppendBatch {
            category: category_of(&batch.stream_id).to_owned(),
            expected: ExpectedVersion::Exact(first_new - 1),
            events: batch.events.into_iter().skip(present).collect(),
            stream_id: batch.stream_id,
        };
        match self.storage.append(append).await {
            Ok(_) => {
                self.notifier.notify();
                self.imported += count as u64;
                Ok(())
            }
            Err(Error::WrongExpectedVersion { stream, actual, .. }) => Err(at_line(
                new_line,
                format!(
                    "stream `{stream}` is at version {actual} in this store, but the export continues it at version {first_new}"
                ),
            )),
            Err(Error::DuplicateEventId { id }) => Err(at_line(
                new_line,
                format!("event id {id} is already used by another event of this store"),
            )),
            Err(other) => Err(with_line(new_line, other)),
        }
    }
}

fn parse_header(line: u64, text: &str) -> Result<ExportHeader> {
    let not_export = || {
        at_line(
            line,
            format!("not an evstore export: the first line must be the header {{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_FORMAT_VERSION},…}}"),
        )
    };
    // Read from a `Value` field by field: the browser build then needs no second JSON parser.
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| not_export())?;
    if value.get("format").and_then(|f| f.as_str()) != Some(EXPORT_FORMAT) {
        return Err(not_export());
    }
    let number = |key: &str| {
        value.get(key).and_then(|v| v.as_u64()).ok_or_else(|| {
            at_line(
                line,
                format!("the export header needs `{key}`, a non-negative integer"),
            )
        })
    };
    let version = number("version")?;
    if version > EXPORT_FORMAT_VERSION {
        return Err(at_line(
            line,
            format!(
                "export format version {version} is newer than the newest this evstore reads ({EXPORT_FORMAT_VERSION}); upgrade evstore"
            ),
        ));
    }
    let store_id = match value.get("storeId") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(id)) => Some(id.clone()),
        Some(_) => {
            return Err(at_line(
                line,
                "the export header's `storeId` must be a string or null",
            ))
        }
    };
    Ok(ExportHeader {
        format: EXPORT_FORMAT.to_owned(),
        version,
        store_id,
        exported_at: number("exportedAt")?,
        head: number("head")?,
    })
}

/// The reason of an `InvalidInput` (the whole message otherwise), to wrap with a line number.
fn reason_of(error: Error) -> String {
    match error {
        Error::InvalidInput { reason } => reason,
        other => other.to_string(),
    }
}

/// `error` with the line it happened at, keeping its kind where it has a reason.
fn with_line(line: u64, error: Error) -> Error {
    match error {
        Error::Storage { reason } => Error::storage(format!("line {line}: {reason}")),
        Error::InvalidInput { reason } => at_line(line, reason),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::{EventStore, ExpectedVersion, MemoryStorage, NewEvent};

    fn exported() -> Vec<u8> {
        block_on(async {
            let store = EventStore::new(MemoryStorage::new());
            for n in 0..5u64 {
                let event = NewEvent::new("Happened", serde_json::json!({ "n": n, "é": "ü" }));
                store
                    .append(&format!("s-{}", n % 2), ExpectedVersion::Any, vec![event])
                    .await
                    .unwrap();
            }
            let mut file = Vec::new();
            export_jsonl(store.storage(), &mut file, &ExportOptions::default())
                .await
                .unwrap();
            file
        })
    }

    #[test]
    fn lines_may_span_chunks_and_the_last_needs_no_newline() {
        let mut file = exported();
        assert_eq!(file.pop(), Some(b'\n'));
        let target = MemoryStorage::new();
        let summary = block_on(async {
            let mut importer = Importer::new(&target);
            // One byte at a time: lines and UTF-8 sequences split everywhere.
            for byte in &file {
                importer.feed(std::slice::from_ref(byte)).await.unwrap();
            }
            importer.finish().await.unwrap()
        });
        assert_eq!((summary.events, summary.imported), (5, 5));
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused() {
        let file = exported();
        let header_end = file.iter().position(|&b| b == b'\n').unwrap() + 1;
        let target = MemoryStorage::new();
        let error = block_on(async {
            let mut importer = Importer::new(&target);
            importer.feed(&file[..header_end]).await.unwrap();
            let chunk = vec![b' '; 1024 * 1024];
            loop {
                if let Err(error) = importer.feed(&chunk).await {
                    return error;
                }
            }
        });
        assert_eq!(error.kind(), crate::ErrorKind::InvalidInput);
        assert!(
            error
                .to_string()
                .contains("line 2: the line is longer than"),
            "{error}"
        );
    }
}
