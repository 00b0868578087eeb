//! Stream lifecycle on [`EventStore`]: soft delete, tombstone, truncation and retention
//! metadata.
//!
//! Every operation removes what it removes physically, in the same storage transaction that
//! checks its expected version, so the removed events are gone from every read path at once —
//! `read_stream`, `read_all`, the lazy iterators, subscriptions that have not reached them yet,
//! the projector, export and the stream listing. Positions are never reused and the
//! [`head`](EventStore::head) never goes down. Events that outlive their stream's `maxAge` are
//! the exception: they expire without any operation, so the store hides them on every read path
//! at once and removes them at the next append to the stream or at [`scavenge`](EventStore::scavenge).

use crate::error::{Error, Result};
use crate::storage::{Storage, StreamChange, StreamMetadata, StreamOp, StreamRecord};
use crate::store::EventStore;
use crate::types::{validate_stream_id, ExpectedVersion};

impl<S: Storage> EventStore<S> {
    /// Soft-deletes `stream`, if its version satisfies `expected`: its events are removed, and
    /// reads and [`stream_version`](Self::stream_version) then behave as for a stream that
    /// never existed ([`Error::StreamNotFound`], version 0).
    ///
    /// The stream may be appended to again (expecting [`ExpectedVersion::NoStream`], `Exact(0)`
    /// or `Any`); its numbering then continues after the last version it had, as in KurrentDB,
    /// so a projection keyed by stream version never sees a version twice.
    ///
    /// Errors: [`Error::StreamNotFound`] for a stream without events,
    /// [`Error::StreamDeleted`] for a tombstoned one, [`Error::WrongExpectedVersion`],
    /// [`Error::InvalidInput`] for a bad stream id. Nothing changes on an error.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use evstore::{EventStore, ErrorKind, ExpectedVersion, MemoryStorage, NewEvent, ReadStreamOptions};
    /// let store = EventStore::new(MemoryStorage::new());
    /// let opened = || vec![NewEvent::new("Opened", serde_json::json!({}))];
    /// store.append("cart-1", ExpectedVersion::NoStream, opened()).await?;
    /// store.delete_stream("cart-1", ExpectedVersion::Exact(1)).await?;
    /// let read = store.read_stream("cart-1", ReadStreamOptions::new()).await;
    /// assert_eq!(read.unwrap_err().kind(), ErrorKind::StreamNotFound);
    /// // Appending again continues the numbering.
    /// let again = store.append("cart-1", ExpectedVersion::NoStream, opened()).await?;
    /// assert_eq!(again.next_expected_version, 2);
    /// # Ok::<(), evstore::Error>(()) }).unwrap();
    /// ```
    pub async fn delete_stream(&self, stream: &str, expected: ExpectedVersion) -> Result<()> {
        self.change_stream(stream, expected, StreamOp::Delete)
            .await
            .map(drop)
    }

    /// Deletes `stream` for good (a tombstone), if its version satisfies `expected`: its events
    /// are removed physically (the space is reused), and every later append, delete, truncation,
    /// metadata change or read of the stream is [`Error::StreamDeleted`]. Tombstoning a
    /// tombstoned stream again succeeds and changes nothing (a safe retry), whatever `expected`
    /// says. A soft-deleted stream may be tombstoned (expecting `NoStream` or `Any`).
    ///
    /// Errors: [`Error::StreamNotFound`] for a stream that never had events,
    /// [`Error::WrongExpectedVersion`], [`Error::InvalidInput`] for a bad stream id.
    pub async fn tombstone_stream(&self, stream: &str, expected: ExpectedVersion) -> Result<()> {
        self.change_stream(stream, expected, StreamOp::Tombstone)
            .await
            .map(drop)
    }

    /// Removes the events of `stream` below `version`, if the stream's version satisfies
    /// `expected`. Reading from version 1 then starts at `version`; the stream's version and
    /// numbering do not change. `version` must be between 1 and the stream's version (at least
    /// the last event stays: delete the stream to remove them all); truncating at or below an
    /// earlier truncation removes nothing more.
    ///
    /// Errors: [`Error::InvalidInput`] for a version out of that range or a bad stream id,
    /// [`Error::StreamNotFound`], [`Error::StreamDeleted`], [`Error::WrongExpectedVersion`].
    pub async fn truncate_before(
        &self,
        stream: &str,
        version: u64,
        expected: ExpectedVersion,
    ) -> Result<()> {
        self.change_stream(stream, expected, StreamOp::TruncateBefore(version))
            .await
            .map(drop)
    }

    /// Replaces the retention settings of `stream`, if its version satisfies `expected` (the
    /// stream need not have events yet). With [`StreamMetadata::max_count`] the events beyond the
    /// newest `max_count` are removed now, and again by every append that makes the stream
    /// outgrow it, in the append's transaction — so no read ever returns more.
    ///
    /// With [`StreamMetadata::max_age`] (seconds) the events recorded more than `max_age`
    /// seconds ago are hidden from every read path at once — reads (counts and `max_count`
    /// count only kept events), `$all`, the lazy reads, subscriptions, the projector,
    /// repositories, export and the sync server's pull — and removed physically by the next
    /// append to the stream and by [`scavenge`](Self::scavenge), which keep the stream's last
    /// event (stored, hidden) so that its version stays. [`stream_version`](Self::stream_version)
    /// and the numbering do not change: a stream whose events all expired reads as empty, not
    /// as missing. An event is kept only if both settings keep it; metadata without `max_age`
    /// shows again the expired events not yet removed.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use evstore::{EventStore, ExpectedVersion, MemoryStorage, NewEvent, StreamMetadata};
    /// let store = EventStore::new(MemoryStorage::new());
    /// let week = 7 * 24 * 3600;
    /// store
    ///     .set_stream_metadata("log-1", StreamMetadata::new().max_count(500).max_age(week),
    ///                          ExpectedVersion::Any)
    ///     .await?;
    /// store.append("log-1", ExpectedVersion::Any, vec![NewEvent::new("Noted", serde_json::json!({}))]).await?;
    /// assert_eq!(store.stream_metadata("log-1").await?.max_age, Some(week));
    /// # Ok::<(), evstore::Error>(()) }).unwrap();
    /// ```
    ///
    /// Errors: [`Error::InvalidInput`] for `max_count` or `max_age` 0, a `max_age` above
    /// [`MAX_AGE_LIMIT`](crate::storage::MAX_AGE_LIMIT) or a bad stream id,
    /// [`Error::StreamDeleted`], [`Error::WrongExpectedVersion`].
    pub async fn set_stream_metadata(
        &self,
        stream: &str,
        metadata: StreamMetadata,
        expected: ExpectedVersion,
    ) -> Result<()> {
        metadata.validate()?;
        self.change_stream(stream, expected, StreamOp::SetMetadata(metadata))
            .await
            .map(drop)
    }

    /// Removes the events that the `maxAge` of their streams no longer keeps (reads hide them
    /// already; each stream's last event stays, hidden, so that its version does), then gives
    /// the space of removed events back to the system where the backend does not reuse it by
    /// itself (see [`Storage::scavenge`]): a SQLite file shrinks to what its events need.
    /// Other removal never waits for this: deletes, tombstones, truncations and `maxCount`
    /// remove events at once, and SQLite and IndexedDB reuse the freed space for new events.
    pub async fn scavenge(&self) -> Result<()> {
        self.ensure_open()?;
        self.storage().scavenge().await
    }

    /// The retention settings of `stream` (none for a stream that never had any);
    /// [`Error::StreamDeleted`] for a tombstoned stream.
    pub async fn stream_metadata(&self, stream: &str) -> Result<StreamMetadata> {
        Ok(self.stream_record(stream).await?.metadata)
    }

    /// The lifecycle record of `stream` (the default record for a stream no lifecycle operation
    /// touched); [`Error::StreamDeleted`] for a tombstoned stream.
    pub(crate) async fn stream_record(&self, stream: &str) -> Result<StreamRecord> {
        self.ensure_open()?;
        validate_stream_id(stream)?;
        let record = self.storage().stream_record(stream).await?;
        match record {
            Some(record) if record.tombstoned => Err(Error::StreamDeleted {
                stream: stream.to_owned(),
            }),
            record => Ok(record.unwrap_or_default()),
        }
    }

    async fn change_stream(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        op: StreamOp,
    ) -> Result<StreamRecord> {
        self.ensure_open()?;
        validate_stream_id(stream)?;
        let change = StreamChange {
            stream_id: stream.to_owned(),
            expected,
            op,
        };
        let record = self.storage().change_stream(change).await?;
        // Idle subscriptions wake for the marker the change appended.
        self.wake_subscriptions();
        Ok(record)
    }
}
