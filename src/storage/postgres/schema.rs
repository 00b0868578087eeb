//! The schema: recognizing an evstore schema, and the numbered migrations
//! (`migrations/NNN_*.sql`) applied under a transaction-scoped advisory lock.

use deadpool_postgres::Object;

use super::errors::pg_error;
use crate::error::{Error, Result};

/// The schema migrations, in order: `MIGRATIONS[i]` takes a schema from version `i` to `i + 1`.
/// Each runs in the migration transaction with `search_path` set to the store's schema. Steps
/// are only ever appended; a released step is never edited.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_stream_lifecycle.sql"),
    include_str!("migrations/003_max_age.sql"),
];

/// The newest schema version this build understands.
pub(super) const SCHEMA_VERSION: u64 = MIGRATIONS.len() as u64;

/// The table recording applied migrations (created by migration 1); its presence is what marks
/// a schema as an evstore store's.
const MIGRATIONS_TABLE: &str = "evstore_migrations";

/// First key of the advisory lock taken while migrating (`"EVST"` in ASCII); the second key is
/// a hash of the schema name, so stores in different schemas migrate independently.
const LOCK_CLASS: i32 = 0x4556_5354;

/// Serializes migrations of one schema across processes until the transaction ends.
const LOCK_SQL: &str = "SELECT pg_advisory_xact_lock($1, hashtext($2))";

/// Whether the schema exists, whether it holds the migrations table, and how many tables,
/// views, sequences and functions it holds.
const PROBE_SQL: &str = "SELECT \
     EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), \
     EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'), \
     (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
      WHERE n.nspname = $1) \
     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
        WHERE n.nspname = $1)";

/// Records one applied migration.
const RECORD_SQL: &str = "INSERT INTO evstore_migrations (version) VALUES ($1)";

/// Brings `schema` to [`SCHEMA_VERSION`], creating it when missing, all in one transaction under
/// the schema's advisory lock: any number of processes opening a new database at once all
/// succeed, and exactly one of them migrates.
///
/// With `create` off, a schema without an evstore store is an [`Error::Storage`] and nothing is
/// created.
///
/// Errors: [`Error::IncompatibleSchema`] when the schema was migrated by a newer evstore,
/// [`Error::Storage`] when the schema exists and is not an evstore store's (it holds objects
/// but no migrations table); in both cases nothing is changed.
pub(super) async fn migrate(client: &mut Object, schema: &str, create: bool) -> Result<u64> {
    let context = |what: &str| format!("cannot {what} schema `{schema}`");
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error(&context("start migrating"), &e))?;
    tx.execute(LOCK_SQL, &[&LOCK_CLASS, &schema])
        .await
        .map_err(|e| pg_error(&context("lock"), &e))?;
    let row = tx
        .query_one(PROBE_SQL, &[&schema, &MIGRATIONS_TABLE])
        .await
        .map_err(|e| pg_error(&context("inspect"), &e))?;
    let (exists, marked, objects): (bool, bool, i64) = (row.get(0), row.get(1), row.get(2));

    let current = if marked {
        let version: Option<i32> = tx
            .query_one(
                &format!("SELECT max(version) FROM \"{schema}\".{MIGRATIONS_TABLE}"),
                &[],
            )
            .await
            .map_err(|e| pg_error(&context("read the version of"), &e))?
            .get(0);
        version.map_or(0, |v| u64::try_from(v).unwrap_or(0))
    } else if exists && objects > 0 {
        return Err(Error::storage(format!(
            "schema `{schema}` is not an evstore store: it holds {objects} tables, views, \
             sequences or functions but no `{MIGRATIONS_TABLE}` table; evstore leaves it \
             untouched (choose another schema with PostgresOptions::schema)"
        )));
    } else if !create {
        return Err(Error::storage(format!(
            "there is no evstore store in schema `{schema}` (PostgresOptions::create is off)"
        )));
    } else {
        if !exists {
            // The name was validated as a plain lowercase identifier.
            tx.batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
                .await
                .map_err(|e| pg_error(&context("create"), &e))?;
        }
        0
    };
    if current > SCHEMA_VERSION {
        return Err(Error::IncompatibleSchema {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    if current == SCHEMA_VERSION {
        // Nothing to do; ending the transaction releases the lock.
        tx.commit()
            .await
            .map_err(|e| pg_error(&context("finish inspecting"), &e))?;
        return Ok(current);
    }
    tx.batch_execute(&format!("SET LOCAL search_path TO \"{schema}\""))
        .await
        .map_err(|e| pg_error(&context("select"), &e))?;
    for (index, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i32 + 1;
        tx.batch_execute(step)
            .await
            .map_err(|e| pg_error(&format!("schema migration {version} failed"), &e))?;
        tx.execute(RECORD_SQL, &[&version])
            .await
            .map_err(|e| pg_error(&format!("cannot record schema migration {version}"), &e))?;
    }
    tx.commit()
        .await
        .map_err(|e| pg_error(&context("commit the migration of"), &e))?;
    Ok(SCHEMA_VERSION)
}
