//! The lifecycle commands (`delete`, `truncate`, `scavenge`, and what `streams` and `info` show
//! afterwards), written once and run on SQLite (`commands.rs`) and PostgreSQL (`postgres.rs`).

use serde_json::json;

use super::{fails, json_lines, ok, run, run_with_stdin};

/// Imports five events in three streams into `db` (created if missing): `account-1` v1–2 at
/// positions 1 and 3, `order-1` v1–2 at 2 and 5, `account-2` v1 at 4.
pub fn import_fixture(db: &str) {
    let mut lines = vec![
        json!({ "format": "evstore-export", "version": 1, "storeId": "fixture",
                                 "exportedAt": 0, "head": 5 }),
    ];
    for (position, (stream, version)) in [
        ("account-1", 1),
        ("order-1", 1),
        ("account-1", 2),
        ("account-2", 1),
        ("order-1", 2),
    ]
    .into_iter()
    .enumerate()
    {
        lines.push(json!({
            "id": uuid::Uuid::now_v7().to_string(), "streamId": stream, "version": version,
            "position": position + 1, "type": "Happened", "data": { "n": position + 1 },
            "metadata": {}, "recordedAt": 1_700_000_000_000u64,
        }));
    }
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    ok(run_with_stdin(
        &["import", "--db", db, "-"],
        text.as_bytes(),
    ));
}

/// The lifecycle commands, run against `db` (a SQLite path or a PostgreSQL URL) holding the
/// fixture's events: truncate, keep the newest N, delete, tombstone, scavenge, and what
/// `streams` and `info` then show; bad input fails with nothing changed.
pub fn lifecycle_commands_work(db: &str) {
    import_fixture(db);
    ok(run(&[
        "truncate",
        "--db",
        db,
        "account-1",
        "--before",
        "2",
        "--expected",
        "2",
    ]));
    ok(run(&[
        "truncate",
        "--db",
        db,
        "order-1",
        "--max-count",
        "1",
    ]));
    assert_eq!(
        ok(run(&["streams", "--db", db])),
        "$lifecycle\t2\t7\naccount-1\t2\t3\tfrom=2\naccount-2\t1\t4\norder-1\t2\t5\tfrom=2\tmaxCount=1\n"
    );
    let streams = json_lines(&ok(run(&[
        "streams", "--db", db, "--prefix", "order-", "--json",
    ])));
    assert_eq!(
        streams[0],
        json!({ "streamId": "order-1", "version": 2, "position": 5, "firstVersion": 2, "maxCount": 1 })
    );
    ok(run(&["delete", "--db", db, "account-2", "--expected", "1"]));
    ok(run(&["delete", "--db", db, "account-1", "--tombstone"]));
    let read = fails(run(&["read", "--db", db, "account-1"]));
    assert!(read.contains("deleted for good"), "{read}");
    let again = fails(run(&["delete", "--db", db, "account-1"]));
    assert!(again.contains("deleted for good"), "{again}");
    let missing = fails(run(&["read", "--db", db, "account-2"]));
    assert!(missing.contains("not found"), "{missing}");

    // Bad input changes nothing.
    let unknown = fails(run(&["delete", "--db", db, "nope-1"]));
    assert!(unknown.contains("not found"), "{unknown}");
    let stale = fails(run(&["delete", "--db", db, "order-1", "--expected", "1"]));
    assert!(stale.contains("wrong expected version"), "{stale}");
    let beyond = fails(run(&["truncate", "--db", db, "order-1", "--before", "3"]));
    assert!(beyond.contains("between 1 and"), "{beyond}");
    for bad in [
        &["truncate", "--db", db, "order-1", "--before", "0"][..],
        &["truncate", "--db", db, "order-1", "--max-count", "0"],
        &["truncate", "--db", db, "order-1"],
        &[
            "truncate",
            "--db",
            db,
            "order-1",
            "--before",
            "2",
            "--max-count",
            "1",
        ],
        &["delete", "--db", db, "order-1", "--expected", "banana"],
        &["delete", "--db", db],
    ] {
        assert_eq!(run(bad).status.code(), Some(2), "{bad:?}");
    }

    let info = &json_lines(&ok(run(&["info", "--db", db, "--json"])))[0];
    // order-1's last event and the four markers.
    assert_eq!(info["events"], 5, "{info}");
    assert_eq!(info["streams"], 2, "{info}");
    assert_eq!(info["head"], 9, "{info}");
    let markers = ok(run(&["read", "--db", db, "$lifecycle", "--json"]));
    let types: Vec<String> = json_lines(&markers)
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "$streamTruncated",
            "$streamTruncated",
            "$streamDeleted",
            "$streamTombstoned"
        ]
    );
    let scavenged = &json_lines(&ok(run(&["scavenge", "--db", db, "--json"])))[0];
    assert!(scavenged.get("bytesBefore").is_some(), "{scavenged}");
    assert_eq!(
        ok(run(&["streams", "--db", db, "--prefix", "order-"])),
        "order-1\t2\t5\tfrom=2\tmaxCount=1\n"
    );
}

/// `truncate --max-age` against `db` holding the fixture's events (recorded in 2023): the
/// expired events are hidden from `read` at once, `streams` shows `maxAge=` (beside
/// `maxCount=`, which it combines with), `scavenge` removes them but each stream's last event,
/// `--keep-all` lifts both, and a zero or out-of-range age fails with nothing changed.
pub fn max_age_commands_work(db: &str) {
    import_fixture(db);
    ok(run(&[
        "truncate",
        "--db",
        db,
        "account-1",
        "--max-age",
        "3600",
        "--expected",
        "2",
    ]));
    assert_eq!(ok(run(&["read", "--db", db, "account-1", "--json"])), "");
    ok(run(&[
        "truncate",
        "--db",
        db,
        "order-1",
        "--max-count",
        "1",
    ]));
    ok(run(&["truncate", "--db", db, "order-1", "--max-age", "60"]));
    assert_eq!(
        ok(run(&["streams", "--db", db])),
        "$lifecycle\t1\t6\naccount-1\t2\t3\tmaxAge=3600\naccount-2\t1\t4\n\
         order-1\t2\t5\tfrom=2\tmaxCount=1\tmaxAge=60\n"
    );
    let streams = json_lines(&ok(run(&[
        "streams", "--db", db, "--prefix", "order-", "--json",
    ])));
    assert_eq!(
        streams[0],
        json!({ "streamId": "order-1", "version": 2, "position": 5, "firstVersion": 2,
                "maxCount": 1, "maxAge": 60 })
    );
    // Nothing of account-2 (no maxAge) is hidden.
    assert_eq!(
        json_lines(&ok(run(&["read", "--db", db, "account-2", "--json"]))).len(),
        1
    );
    let tail = json_lines(&ok(run(&["tail", "--db", db, "--json"])));
    let seen: Vec<(&str, u64)> = tail
        .iter()
        .map(|e| {
            (
                e["streamId"].as_str().unwrap(),
                e["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [("account-2", 1), ("$lifecycle", 1)]);

    for bad in [
        &["truncate", "--db", db, "order-1", "--max-age", "0"][..],
        &["truncate", "--db", db, "order-1", "--max-age", "-5"],
        &[
            "truncate",
            "--db",
            db,
            "order-1",
            "--max-age",
            "1",
            "--keep-all",
        ],
        &[
            "truncate",
            "--db",
            db,
            "order-1",
            "--max-age",
            "1",
            "--before",
            "2",
        ],
    ] {
        assert_eq!(run(bad).status.code(), Some(2), "{bad:?}");
    }
    let too_long = fails(run(&[
        "truncate",
        "--db",
        db,
        "order-1",
        "--max-age",
        "18446744073709551615",
    ]));
    assert!(too_long.contains("maxAge must be at most"), "{too_long}");
    let stale = fails(run(&[
        "truncate",
        "--db",
        db,
        "account-1",
        "--max-age",
        "5",
        "--expected",
        "1",
    ]));
    assert!(stale.contains("wrong expected version"), "{stale}");
    assert_eq!(
        ok(run(&["streams", "--db", db, "--prefix", "order-"])),
        "order-1\t2\t5\tfrom=2\tmaxCount=1\tmaxAge=60\n"
    );

    // Scavenge removes account-1's expired first event (its last one stays, hidden).
    let before = &json_lines(&ok(run(&["export", "--db", db])))[0];
    assert_eq!(before["head"], 6, "{before}");
    ok(run(&["scavenge", "--db", db]));
    ok(run(&["truncate", "--db", db, "account-1", "--keep-all"]));
    let account = json_lines(&ok(run(&["read", "--db", db, "account-1", "--json"])));
    let versions: Vec<u64> = account
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [2]);
    assert_eq!(
        ok(run(&["streams", "--db", db, "--prefix", "account-1"])),
        "account-1\t2\t3\n"
    );
}
