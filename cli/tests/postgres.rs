//! The `evstore` program over PostgreSQL (`--db postgres://…`), against a private server this
//! test binary starts: serve appends and reads over HTTP, the commands inspect and export the
//! same store, an export moves into SQLite unchanged, and a URL's password never shows in an
//! error.

mod common;

#[path = "../../tests/support/postgres_server.rs"]
mod postgres_server;

use std::path::Path;

use common::{client, event, get, ok, post, run, stderr, stdout, Server};
use postgres_server::{PgServer, USER};
use serde_json::{json, Value};

/// A URL for a fresh database of the shared server (one per test, so tests do not see each
/// other's events).
async fn database_url(name: &str) -> String {
    let server = PgServer::shared();
    create_database(server, name).await;
    url(&server.socket_dir().display().to_string(), name)
}

fn url(socket: &str, database: &str) -> String {
    format!("postgresql:///{database}?host={socket}&port=5432&user={USER}")
}

async fn create_database(server: &PgServer, name: &str) {
    let (client, connection) =
        tokio_postgres::connect(&server.connection_string(), tokio_postgres::NoTls)
            .await
            .expect("connect to the test server");
    let task = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the test database");
    drop(client);
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_truncate_and_scavenge_over_postgres() {
    let db = database_url("cli_lifecycle").await;
    tokio::task::spawn_blocking(move || common::lifecycle::lifecycle_commands_work(&db))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_max_age_over_postgres() {
    let db = database_url("cli_max_age").await;
    tokio::task::spawn_blocking(move || common::lifecycle::max_age_commands_work(&db))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_the_commands_work_over_postgres() {
    let db = database_url("cli_serve").await;
    let server = Server::start_on(Path::new(&db), &[]);
    let http = client();

    let body = json!({ "expectedVersion": "no_stream", "events": [event("Opened", 1), event("Deposited", 2)] });
    let (status, answer) = post(&http, &server, "account-1", &body, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({ "nextExpectedVersion": 2, "position": 2 }));
    let stale = json!({ "expectedVersion": 1, "events": [event("Deposited", 3)] });
    let (status, answer) = post(&http, &server, "account-1", &stale, None).await;
    assert_eq!(status, 409);
    assert_eq!(answer["code"], "WrongExpectedVersion");
    assert_eq!(answer["actual"], 2);
    let (status, answer) = post(
        &http,
        &server,
        "order-7",
        &json!({ "events": [event("Placed", 4)] }),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    let (status, page) = get(&http, &server, "/v1/all?fromPosition=0", None).await;
    assert_eq!(status, 200);
    let streams: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["streamId"].as_str().unwrap())
        .collect();
    assert_eq!(streams, ["account-1", "account-1", "order-7"]);
    assert_eq!(page["head"], 3);
    drop(server);

    let info: Value =
        serde_json::from_str(ok(run(&["info", "--db", &db, "--json"])).trim()).unwrap();
    assert_eq!(info["events"], 3, "{info}");
    assert_eq!(info["streams"], 2, "{info}");
    let streams = ok(run(&["streams", "--db", &db, "--prefix", "account-"]));
    assert!(streams.contains("account-1"), "{streams}");
    assert!(!streams.contains("order-7"), "{streams}");

    // Export from PostgreSQL, import into SQLite: the same events.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    ok(run(&[
        "export",
        "--db",
        &db,
        "--out",
        file.to_str().unwrap(),
    ]));
    let sqlite = dir.path().join("copy.db");
    ok(run(&[
        "import",
        "--db",
        sqlite.to_str().unwrap(),
        file.to_str().unwrap(),
    ]));
    let from_postgres = ok(run(&["read", "--db", &db, "account-1", "--json"]));
    let from_sqlite = ok(run(&[
        "read",
        "--db",
        sqlite.to_str().unwrap(),
        "account-1",
        "--json",
    ]));
    assert_eq!(from_postgres, from_sqlite);
    assert_eq!(from_postgres.lines().count(), 2);

    // And back into PostgreSQL: nothing added.
    ok(run(&["import", "--db", &db, file.to_str().unwrap()]));
    let info: Value =
        serde_json::from_str(ok(run(&["info", "--db", &db, "--json"])).trim()).unwrap();
    assert_eq!(info["events"], 3, "{info}");
}

#[test]
fn a_password_in_the_url_never_shows_in_an_error() {
    // Nothing listens on port 1: the connection fails.
    let output = run(&[
        "info",
        "--db",
        "postgres://ada:hunter2-secret@127.0.0.1:1/app",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("127.0.0.1:1/app"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!stdout(&output).contains("hunter2"));
}

#[tokio::test]
async fn inspecting_a_database_without_a_store_creates_nothing() {
    let db = database_url("cli_empty").await;
    let output = run(&["info", "--db", &db]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    // Still no store: serve would create it, info does not.
    let again = run(&["streams", "--db", &db]);
    assert_eq!(again.status.code(), Some(1));
}
