//! The PostgreSQL backend against a real, private PostgreSQL server that this test binary
//! starts itself (see `support/postgres_server.rs`): the whole conformance suite (with and
//! without group commit), migrations (concurrent opens by several processes, a newer schema, a
//! foreign schema), group commit, several OS processes racing on shared streams while another
//! tails `$all`, a writer killed with SIGKILL, and the server restarted mid-run.
//!
//! Every test gets its own schema in the shared server; the restart test gets its own server.
//! Processes: the test binary re-runs itself with `--exact child_entry` and `EVSTORE_CHILD`
//! set to `mode|connection string|schema|argument`; `child_entry` does nothing without it.
#![cfg(feature = "postgres")]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use evstore::storage::tokio_postgres;
use evstore::{
    ErrorKind, EventStore, ExpectedVersion, NewEvent, PostgresOptions, PostgresStorage,
    ReadAllOptions, ReadStreamOptions, RecordedEvent, SubscribeOptions, SubscriptionItem,
};
use futures::StreamExt;
use serde_json::json;

#[path = "support/postgres_server.rs"]
mod postgres_server;

use postgres_server::PgServer;

const CHILD_ENV: &str = "EVSTORE_CHILD";

/// A schema name no other test of this run uses.
fn fresh_schema() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn connect(server: &PgServer, options: PostgresOptions) -> PostgresStorage {
    PostgresStorage::connect(server.connection_string(), options)
        .await
        .expect("connect to the test server")
}

/// A raw client on the shared server, for looking at and tampering with what the store wrote.
async fn raw_client(server: &PgServer) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&server.connection_string(), tokio_postgres::NoTls)
            .await
            .expect("raw connection");
    tokio::spawn(connection);
    client
}

// ---------------------------------------------------------------------------------------------
// The conformance suite.

mod conformance_group_commit {
    use super::*;

    async fn make_store() -> (EventStore<PostgresStorage>, String) {
        let schema = fresh_schema();
        let store = reopen_store(&schema).await;
        (store, schema)
    }

    /// Connects to the same schema again.
    async fn reopen_store(schema: &String) -> EventStore<PostgresStorage> {
        let options = PostgresOptions::default()
            .schema(schema.as_str())
            .pool_size(4);
        EventStore::new(connect(PgServer::shared(), options).await)
    }

    evstore::conformance_tests!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]; make_store, reopen_store);
}

mod conformance_without_group_commit {
    use super::*;

    async fn make_store() -> (EventStore<PostgresStorage>, String) {
        let schema = fresh_schema();
        let store = reopen_store(&schema).await;
        (store, schema)
    }

    /// Connects to the same schema again.
    async fn reopen_store(schema: &String) -> EventStore<PostgresStorage> {
        let options = PostgresOptions::default()
            .schema(schema.as_str())
            .pool_size(4)
            .group_commit(false);
        EventStore::new(connect(PgServer::shared(), options).await)
    }

    evstore::conformance_tests!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]; make_store, reopen_store);
}
