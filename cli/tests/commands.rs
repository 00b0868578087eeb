//! The CLI subcommands on real SQLite files: output for people and `--json` for scripts,
//! export → import round trips, and bad inputs (missing file, not a store, newer schema,
//! malformed import lines).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{fails, json_lines, ok, run, run_with_stdin, stderr};
use evstore::{EventStore, ExpectedVersion, NewEvent, SqliteStorage};
use serde_json::{json, Value};

/// A store with five events in three streams.
async fn fixture(dir: &Path) -> PathBuf {
    let db = dir.join("events.db");
    let store = EventStore::new(SqliteStorage::open(&db).unwrap());
    let append = |stream: &'static str, kind: &'static str, n: u64| {
        let store = store.clone();
        async move {
            let event = NewEvent::new(kind, json!({ "n": n }))
                .with_metadata(json!({ "user": "ada" }))
                .with_correlation_id("corr-1");
            store
                .append(stream, ExpectedVersion::Any, vec![event])
                .await
                .unwrap();
        }
    };
    append("account-1", "Opened", 1).await;
    append("order-1", "Placed", 2).await;
    append("account-1", "Deposited", 3).await;
    append("account-2", "Opened", 4).await;
    append("order-1", "Shipped", 5).await;
    store.close();
    db
}

#[tokio::test]
async fn info_streams_read_and_tail() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture(dir.path()).await;
    let db = db.to_str().unwrap();

    let info = ok(run(&["info", "--db", db]));
    let schema = format!("schema version: {}", evstore::SqliteStorage::SCHEMA_VERSION);
    for want in [
        schema.as_str(),
        "store id:       ",
        "events:         5",
        "streams:        3",
        "head position:  5",
        "file size:",
    ] {
        assert!(info.contains(want), "{want} in {info}");
    }
    let info = &json_lines(&ok(run(&["info", "--db", db, "--json"])))[0];
    assert_eq!(
        (
            info["events"].as_u64(),
            info["streams"].as_u64(),
            info["head"].as_u64()
        ),
        (Some(5), Some(3), Some(5))
    );
    assert_eq!(
        info["schemaVersion"],
        evstore::SqliteStorage::SCHEMA_VERSION
    );
    assert_eq!(info["storeId"].as_str().map(str::len), Some(32));
    assert!(info["fileBytes"].as_u64().unwrap() > 0);

    assert_eq!(
        ok(run(&["streams", "--db", db])),
        "account-1\t2\t3\naccount-2\t1\t4\norder-1\t2\t5\n"
    );
    assert_eq!(
        ok(run(&["streams", "--db", db, "--prefix", "order-"])),
        "order-1\t2\t5\n"
    );
    let streams = json_lines(&ok(run(&["streams", "--db", db, "--json"])));
    assert_eq!(
        streams[0],
        json!({ "streamId": "account-1", "version": 2, "position": 3, "firstVersion": 1 })
    );

    let read = ok(run(&["read", "--db", db, "account-1"]));
    let lines: Vec<&str> = read.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("#1 account-1@1 Opened 20"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("{\"n\":1}")
            && lines[0].contains("metadata={\"user\":\"ada\"}")
            && lines[0].contains("correlation=corr-1")
    );
    let read = json_lines(&ok(run(&["read", "--db", db, "account-1", "--json"])));
    assert_eq!(read[1]["type"], "Deposited");
    assert_eq!(read[1]["streamId"], "account-1");
    assert_eq!(read[1]["correlationId"], "corr-1");
    let backward = json_lines(&ok(run(&[
        "read",
        "--db",
        db,
        "order-1",
        "--backward",
        "--max",
        "1",
        "--json",
    ])));
    assert_eq!(
        (backward.len(), backward[0]["version"].as_u64()),
        (1, Some(2))
    );
    let from = json_lines(&ok(run(&[
        "read", "--db", db, "order-1", "--from", "2", "--json",
    ])));
    assert_eq!(
        from.iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Shipped"]
    );
    assert!(fails(run(&["read", "--db", db, "nothing-1"])).contains("stream `nothing-1` not found"));
    assert!(fails(run(&["read", "--db", db, ""])).contains("stream id must not be empty"));

    let positions = |args: &[&str]| -> Vec<u64> {
        let mut all = vec!["tail", "--db", db, "--json"];
        all.extend_from_slice(args);
        json_lines(&ok(run(&all)))
            .iter()
            .map(|e| e["position"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(positions(&[]), [1, 2, 3, 4, 5]);
    assert_eq!(positions(&["--from", "3"]), [4, 5]);
    assert_eq!(positions(&["--stream-prefix", "account-"]), [1, 3, 4]);
    assert_eq!(positions(&["--category", "order"]), [2, 5]);
    assert_eq!(
        positions(&["--type", "Opened", "--type", "Shipped"]),
        [1, 4, 5]
    );
    assert_eq!(
        positions(&["--category", "account", "--type", "Opened"]),
        [1, 4]
    );
    assert_eq!(
        ok(run(&["tail", "--db", db, "--from", "4"]))
            .lines()
            .count(),
        1
    );
}

#[tokio::test]
async fn tail_follow_prints_events_appended_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture(dir.path()).await;
    let mut child = common::evstore()
        .args(["tail", "--follow", "--json", "--from", "4", "--db"])
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let first: Value =
        serde_json::from_str(&lines_rx.recv_timeout(Duration::from_secs(20)).unwrap()).unwrap();
    assert_eq!(first["position"], 5);
    let store = EventStore::new(SqliteStorage::open(&db).unwrap());
    store
        .append(
            "late-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("Late", json!(null))],
        )
        .await
        .unwrap();
    let live: Value =
        serde_json::from_str(&lines_rx.recv_timeout(Duration::from_secs(20)).unwrap()).unwrap();
    assert_eq!(
        (live["streamId"].as_str(), live["position"].as_u64()),
        (Some("late-1"), Some(6))
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The event lines of an export (its header holds the export time).
fn events_of(export: &str) -> Vec<&str> {
    export.lines().skip(1).collect()
}

#[tokio::test]
async fn export_import_round_trip_and_reimport_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture(dir.path()).await;
    let db = db.to_str().unwrap();
    let file = dir.path().join("export.jsonl");
    let file = file.to_str().unwrap();

    let report = run(&["export", "--db", db, "--out", file]);
    assert!(
        stderr(&report).contains("export: 5/5 events"),
        "plain progress lines off a terminal: {}",
        stderr(&report)
    );
    assert_eq!(ok(report), "exported 5 events (head 5)\n");
    let exported = common::read_text(Path::new(file));
    let header: Value = serde_json::from_str(exported.lines().next().unwrap()).unwrap();
    assert_eq!(
        (
            header["format"].as_str(),
            header["version"].as_u64(),
            header["head"].as_u64()
        ),
        (Some("evstore-export"), Some(1), Some(5))
    );
    assert!(!dir.path().join("export.jsonl.partial").exists());
    let to_stdout = ok(run(&["export", "--db", db]));
    assert_eq!(events_of(&to_stdout), events_of(&exported));

    let copy = dir.path().join("copy.db");
    let copy = copy.to_str().unwrap();
    assert_eq!(
        ok(run(&["import", "--db", copy, file])),
        "imported 5 events (0 of 5 already present)\n"
    );
    let again = json_lines(&ok(run(&["import", "--db", copy, file, "--json"])));
    assert_eq!(
        again[0],
        json!({ "events": 5, "imported": 0, "alreadyPresent": 5 })
    );
    let exported_copy = ok(run(&["export", "--db", copy]));
    assert_eq!(
        events_of(&exported_copy),
        events_of(&exported),
        "ids, versions, data, times and positions are kept"
    );

    // From standard input, into a third store.
    let third = dir.path().join("third.db");
    let third = third.to_str().unwrap();
    let piped = run_with_stdin(
        &["import", "--db", third, "-", "--json"],
        exported.as_bytes(),
    );
    assert_eq!(json_lines(&ok(piped))[0]["imported"], 5);
}

#[tokio::test]
async fn bad_inputs_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture(dir.path()).await;
    let db = db.to_str().unwrap();
    let missing = dir.path().join("missing.db");
    let missing = missing.to_str().unwrap();
    for command in [
        &["info"][..],
        &["streams"],
        &["read", "a-1"],
        &["tail"],
        &["export"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--db", missing]);
        assert!(fails(run(&args)).contains("does not exist"), "{command:?}");
    }
    assert!(
        !Path::new(missing).exists(),
        "a read-only command created the store"
    );

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "these are not the events you are looking for\n".repeat(200),
    )
    .unwrap();
    let message = fails(run(&["info", "--db", text.to_str().unwrap()]));
    assert!(
        message.contains("cannot open the store") && message.contains("notes.txt"),
        "{message}"
    );

    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let message = fails(run(&["info", "--db", foreign.to_str().unwrap()]));
    assert!(message.contains("not an evstore"), "{message}");

    let newer = dir.path().join("newer.db");
    std::fs::copy(db, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let message = fails(run(&["info", "--db", newer.to_str().unwrap()]));
    assert!(message.contains("schema version 99 is newer"), "{message}");

    assert!(fails(run(&[
        "info",
        "--db",
        "postgres://user:secret@localhost/db"
    ]))
    .contains("PostgreSQL"));
    assert!(!fails(run(&[
        "info",
        "--db",
        "postgres://user:secret@localhost/db"
    ]))
    .contains("secret"));

    let target = dir.path().join("target.db");
    let target = target.to_str().unwrap();
    assert!(fails(run(&[
        "import",
        "--db",
        target,
        "/nonexistent/export.jsonl"
    ]))
    .contains("cannot open `/nonexistent/export.jsonl`"));
    let export = ok(run(&["export", "--db", db]));
    let mut lines: Vec<String> = export.lines().map(str::to_owned).collect();
    lines[2] = "{\"id\": broken".into();
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, lines.join("\n")).unwrap();
    let message = fails(run(&["import", "--db", target, broken.to_str().unwrap()]));
    assert!(
        message.contains("line 3") && message.contains("broken.jsonl"),
        "{message}"
    );
    let empty = run_with_stdin(&["import", "--db", target, "-"], b"");
    assert!(fails(empty).contains("empty"));
    let not_export = run_with_stdin(&["import", "--db", target, "-"], b"{\"hello\":1}\n");
    assert!(fails(not_export).contains("not an evstore export"));
    // Line 2 was still a batch being built when line 3 failed: nothing of it is written.
    assert_eq!(
        json_lines(&ok(run(&["info", "--db", target, "--json"])))[0]["events"],
        0
    );

    let usage = run(&["read", "--db", db]);
    assert_eq!(usage.status.code(), Some(2), "a usage error");
    assert_eq!(
        run(&["read", "--db", db, "a-1", "--max", "0"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn delete_truncate_and_scavenge_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    common::lifecycle::lifecycle_commands_work(db.to_str().unwrap());
}

#[test]
fn truncate_max_age_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    common::lifecycle::max_age_commands_work(db.to_str().unwrap());
}

#[test]
fn every_subcommand_has_help() {
    let top = ok(run(&["--help"]));
    for command in [
        "serve", "info", "streams", "read", "tail", "export", "import", "delete", "truncate",
        "scavenge",
    ] {
        assert!(top.contains(command), "{command} in {top}");
        let help = ok(run(&[command, "--help"]));
        assert!(help.contains("--db"), "{command}: {help}");
    }
    let serve = ok(run(&["serve", "--help"]));
    for flag in [
        "--listen",
        "--tokens",
        "--max-body-bytes",
        "--max-events-per-append",
        "--max-page",
        "--max-subscriptions-per-token",
        "--request-timeout",
        "--idle-timeout",
        "POST /v1/streams/{stream}",
    ] {
        assert!(serve.contains(flag), "{flag}");
    }
    let tail = ok(run(&["tail", "--help"]));
    for flag in [
        "--follow",
        "--stream-prefix",
        "--category",
        "--type",
        "--from",
        "--json",
    ] {
        assert!(tail.contains(flag), "{flag}");
    }
}

#[tokio::test]
async fn a_reader_that_goes_away_ends_the_output_quietly() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let store = EventStore::new(SqliteStorage::open(&db).unwrap());
    let events: Vec<NewEvent> = (0..3000)
        .map(|n| NewEvent::new("Padded", json!({ "n": n, "pad": "x".repeat(100) })))
        .collect();
    store
        .append("big-1", ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    // `evstore tail | head -n 1`: far more output than a pipe holds, and a reader that leaves.
    let mut child = common::evstore()
        .args(["tail", "--db"])
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("#1 big-1@1 Padded"), "{first}");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
}
