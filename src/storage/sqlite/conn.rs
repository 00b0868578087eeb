//! A connection and the reads served on it: what every read job of
//! [`SqliteStorage`](super::SqliteStorage) runs, on a reader thread (or on the writer thread for
//! a store in memory, which has one connection only).

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::errors::sqlite_error;
use super::{clamp, clamp_limit, to_u64};
use crate::error::{Error, Result};
use crate::storage::{parse_stored_json, Checkpoint, SkippedEvent};
use crate::types::{Direction, Filter, RecordedEvent, StreamInfo};

/// A connection and what it knows about the head.
pub(super) struct Conn {
    pub(super) conn: Connection,
    pub(super) head: Option<HeadCache>,
}

/// The head as of a `PRAGMA data_version`: valid while no other connection committed.
#[derive(Clone, Copy)]
pub(super) struct HeadCache {
    pub(super) data_version: i64,
    pub(super) head: u64,
}

impl Conn {
    pub(super) fn new(conn: Connection) -> Self {
        Conn { conn, head: None }
    }

    pub(super) fn read_stream(
        &mut self,
        stream_id: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>> {
        let sql = match direction {
            Direction::Forward => {
                "SELECT position, id, stream_id, version, event_type, data, metadata, \
                 recorded_at, correlation_id, causation_id FROM events \
                 WHERE stream_id = ?1 AND version >= ?2 ORDER BY version ASC LIMIT ?3"
            }
            Direction::Backward => {
                "SELECT position, id, stream_id, version, event_type, data, metadata, \
                 recorded_at, correlation_id, causation_id FROM events \
                 WHERE stream_id = ?1 AND version <= ?2 ORDER BY version DESC LIMIT ?3"
            }
        };
        let mut statement = self.conn.prepare_cached(sql).map_err(sqlite_error)?;
        let rows = statement
            .query_map(
                params![stream_id, clamp(from_version), clamp_limit(limit)],
                StoredEvent::from_row,
            )
            .map_err(sqlite_error)?;
        collect_events(rows)
    }

    /// Runs a query made by [`read_all_query`].
    pub(super) fn read_all(
        &mut self,
        sql: &str,
        values: Vec<SqlValue>,
    ) -> Result<Vec<RecordedEvent>> {
        // The SQL depends only on the direction and on which filter lists are empty or
        // single-valued, so a handful of shapes cover every call and stay cached.
        let mut statement = self.conn.prepare_cached(sql).map_err(sqlite_error)?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(values), StoredEvent::from_row)
            .map_err(sqlite_error)?;
        collect_events(rows)
    }

    pub(super) fn head(&mut self) -> Result<u64> {
        let data_version = self.data_version()?;
        if let Some(cache) = self.head {
            if cache.data_version == data_version {
                return Ok(cache.head);
            }
        }
        let head: Option<i64> = self
            .conn
            .prepare_cached("SELECT max(position) FROM events")
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(sqlite_error)?;
        let head = head.map_or(Ok(0), |head| to_u64(head, "position"))?;
        let head = head.max(super::lifecycle::removed_head(&self.conn)?);
        self.head = Some(HeadCache { data_version, head });
        Ok(head)
    }

    /// `PRAGMA data_version`: changes whenever another connection (of any process) commits.
    pub(super) fn data_version(&self) -> Result<i64> {
        self.conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(sqlite_error)
    }

    pub(super) fn list_streams(
        &mut self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        // A skip scan of the `(stream_id, version)` index: each step jumps to the next stream id
        // (one index seek), then each listed stream's last event is one more seek. A page costs
        // about `limit` seeks, however long the streams.
        let (first, bound) = match after {
            Some(after) if after >= prefix => (">", after),
            _ => (">=", prefix),
        };
        let sql = format!(
            "WITH RECURSIVE listed(stream_id) AS ( \
                 SELECT (SELECT min(stream_id) FROM events WHERE stream_id {first} ?1) \
                 UNION ALL \
                 SELECT (SELECT min(stream_id) FROM events WHERE stream_id > listed.stream_id) \
                 FROM listed \
                 WHERE substr(listed.stream_id, 1, length(?2)) = ?2 \
                 LIMIT ?3) \
             SELECT events.stream_id, events.version, events.position \
             FROM listed JOIN events ON events.position = ( \
                 SELECT position FROM events AS last WHERE last.stream_id = listed.stream_id \
                 ORDER BY last.version DESC LIMIT 1) \
             WHERE substr(listed.stream_id, 1, length(?2)) = ?2 \
             ORDER BY events.stream_id"
        );
        {
            let mut statement = self.conn.prepare_cached(&sql).map_err(sqlite_error)?;
            let rows = statement
                .query_map(params![bound, prefix, clamp_limit(limit)], |row| {
                    Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?))
                })
                .map_err(sqlite_error)?;
            rows.map(|row| {
                let (stream_id, version, position) = row.map_err(sqlite_error)?;
                Ok(StreamInfo {
                    stream_id,
                    version: to_u64(version, "version")?,
                    position: to_u64(position, "position")?,
                })
            })
            .collect()
        }
    }

    pub(super) fn load_checkpoint(&mut self, name: &str) -> Result<Option<Checkpoint>> {
        let found: Option<(i64, String)> = self
            .conn
            .prepare_cached("SELECT position, skipped FROM checkpoints WHERE name = ?1")
            .and_then(|mut statement| {
                statement
                    .query_row([name], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(sqlite_error)?;
        let Some((position, skipped)) = found else {
            return Ok(None);
        };
        let skipped: Vec<SkippedEvent> = serde_json::from_str(&skipped).map_err(|e| {
            Error::storage(format!(
                "the stored checkpoint of projection `{name}` is corrupt: {e}"
            ))
        })?;
        Ok(Some(Checkpoint {
            position: to_u64(position, "checkpoint position")?,
            skipped,
        }))
    }
}

/// Builds the `read_all` query. Each filter list becomes one condition: `= ?` for one value
/// (so SQLite walks the `(category, position)` / `(event_type, position)` index in position
/// order), a `json_each` set for several (one parameter whatever the length), and stream-id
/// prefixes an `EXISTS` over `substr`. Lists are ANDed; values within a list are ORed.
pub(super) fn read_all_query(
    from_position: u64,
    direction: Direction,
    limit: usize,
    filter: &Filter,
) -> Result<(String, Vec<SqlValue>)> {
    let (bound, order) = match direction {
        Direction::Forward => (">", "ASC"),
        Direction::Backward => ("<", "DESC"),
    };
    let mut sql = format!(
        "SELECT position, id, stream_id, version, event_type, data, metadata, recorded_at, \
         correlation_id, causation_id FROM events WHERE position {bound} ?1"
    );
    let mut values = vec![SqlValue::Integer(clamp(from_position))];
    let parameter = |values: &mut Vec<SqlValue>, value: SqlValue| {
        values.push(value);
        values.len()
    };
    for (column, list) in [
        ("category", &filter.categories),
        ("event_type", &filter.event_types),
    ] {
        match list.as_slice() {
            [] => {}
            [one] => {
                let n = parameter(&mut values, SqlValue::Text(one.clone()));
                sql.push_str(&format!(" AND {column} = ?{n}"));
            }
            many => {
                let n = parameter(&mut values, SqlValue::Text(json_list(many)?));
                sql.push_str(&format!(
                    " AND {column} IN (SELECT value FROM json_each(?{n}))"
                ));
            }
        }
    }
    if !filter.stream_prefixes.is_empty() {
        let n = parameter(
            &mut values,
            SqlValue::Text(json_list(&filter.stream_prefixes)?),
        );
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM json_each(?{n}) AS prefix \
             WHERE substr(events.stream_id, 1, length(prefix.value)) = prefix.value)"
        ));
    }
    let n = parameter(&mut values, SqlValue::Integer(clamp_limit(limit)));
    sql.push_str(&format!(" ORDER BY position {order} LIMIT ?{n}"));
    Ok((sql, values))
}

fn json_list(values: &[String]) -> Result<String> {
    serde_json::to_string(values).map_err(|e| Error::storage(format!("cannot encode filter: {e}")))
}

/// A row of `events` as stored, before its JSON is parsed.
struct StoredEvent {
    position: i64,
    id: String,
    stream_id: String,
    version: i64,
    event_type: String,
    data: String,
    metadata: String,
    recorded_at: i64,
    correlation_id: Option<String>,
    causation_id: Option<String>,
}

impl StoredEvent {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(StoredEvent {
            position: row.get(0)?,
            id: row.get(1)?,
            stream_id: row.get(2)?,
            version: row.get(3)?,
            event_type: row.get(4)?,
            data: row.get(5)?,
            metadata: row.get(6)?,
            recorded_at: row.get(7)?,
            correlation_id: row.get(8)?,
            causation_id: row.get(9)?,
        })
    }

    fn into_recorded(self) -> Result<RecordedEvent> {
        Ok(RecordedEvent {
            position: to_u64(self.position, "position")?,
            version: to_u64(self.version, "version")?,
            recorded_at: to_u64(self.recorded_at, "recorded_at")?,
            data: parse_stored_json(&self.data)?,
            metadata: parse_stored_json(&self.metadata)?,
            id: self.id,
            stream_id: self.stream_id,
            event_type: self.event_type,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
        })
    }
}

fn collect_events(
    rows: impl Iterator<Item = rusqlite::Result<StoredEvent>>,
) -> Result<Vec<RecordedEvent>> {
    rows.map(|row| row.map_err(sqlite_error)?.into_recorded())
        .collect()
}
