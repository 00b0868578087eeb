//! evsync/1 against a real `evstore serve`: the two endpoints over HTTP (auth, rights, long
//! poll, bad input), a server SIGKILLed in the middle of a push, and the library's sync client
//! (`HttpTransport`, a SQLite client store) through an offline burst, a restart and a replaced
//! store.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use common::{answer, client, event, get, post, Server};
use evstore::sync::{HttpTransport, SyncClient, SyncError, SyncOptions, TransportErrorKind};
use evstore::{
    EventStore, ExpectedVersion, Filter, NewEvent, ReadAllOptions, ReadStreamOptions,
    RecordedEvent, SqliteStorage,
};
use serde_json::{json, Value};

const ADMIN: &str = "admin-token-0123456789";
const TEAM_A: &str = "team-a-token-0123456789";

fn tokens_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tokens.json");
    let tokens = json!({ "tokens": [
        { "name": "admin", "token": ADMIN, "read": [""], "append": [""] },
        { "name": "team-a", "token": TEAM_A, "read": ["team-a-"], "append": ["team-a-"] },
    ] });
    std::fs::write(&path, tokens.to_string()).unwrap();
    path
}

/// A free port on 127.0.0.1 (for a server that starts later, or restarts on the same address).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_on(db: &Path, port: u16, extra: &[&str]) -> Server {
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["--listen", listen.as_str()];
    args.extend_from_slice(extra);
    Server::start_on(db, &args)
}

fn wire_event(event_type: &str, n: u64) -> Value {
    json!({ "type": event_type, "data": { "n": n }, "id": uuid::Uuid::now_v7().to_string() })
}

fn batch(stream: &str, expected: Value, events: Vec<Value>) -> Value {
    json!({
        "batchId": uuid::Uuid::now_v7().to_string(),
        "stream": stream,
        "expected": expected,
        "events": events,
    })
}

async fn push(
    http: &reqwest::Client,
    server: &Server,
    body: &Value,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = http.post(server.url("/v1/sync/push")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

fn results(answer: &(u16, Value)) -> Vec<String> {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sync_push_and_pull_over_http_with_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = tokens_file(dir.path());
    let server = Server::start_on(
        &dir.path().join("s.db"),
        &["--tokens", tokens.to_str().unwrap()],
    );
    let http = client();

    let first = batch("team-a-1", json!("no_stream"), vec![wire_event("A", 1)]);
    let body = json!({ "clientId": "c1", "batches": [first.clone()] });
    // Without a token: 401, and nothing written.
    assert_eq!(push(&http, &server, &body, None).await.0, 401);
    assert_eq!(get(&http, &server, "/v1/sync/pull", None).await.0, 401);
    let answered = push(&http, &server, &body, Some(TEAM_A)).await;
    assert_eq!(results(&answered), vec!["appended"]);
    let store_id = answered.1["storeId"].as_str().unwrap().to_owned();
    assert_eq!(store_id.len(), 32);
    // The same push again (a retry): duplicate.
    assert_eq!(
        results(&push(&http, &server, &body, Some(TEAM_A)).await),
        vec!["duplicate"]
    );
    // Outside the token's rights: rejected, with what came after it on that stream skipped.
    let outside = json!({ "storeId": store_id, "clientId": "c1", "batches": [
        batch("team-b-1", json!("any"), vec![wire_event("B", 1)]),
        batch("team-b-1", json!("any"), vec![wire_event("B", 2)]),
        batch("team-a-1", json!(1), vec![wire_event("A", 2)]),
        batch("team-a-1", json!(1), vec![wire_event("A", 3)]),
    ]});
    let answered = push(&http, &server, &outside, Some(TEAM_A)).await;
    assert_eq!(
        results(&answered),
        vec!["rejected", "skipped", "appended", "conflict"]
    );
    assert_eq!(answered.1["results"][0]["code"], "Forbidden");
    assert_eq!(answered.1["results"][3]["currentVersion"], 2);
    assert_eq!(answered.1["results"][3]["since"][0]["version"], 2);
    // A push for another store processes nothing.
    let stale = json!({ "storeId": "elsewhere", "clientId": "c1", "batches": [
        batch("team-a-2", json!("any"), vec![wire_event("A", 1)]),
    ]});
    let answered = push(&http, &server, &stale, Some(TEAM_A)).await;
    assert_eq!(results(&answered), Vec::<String>::new());
    assert_eq!(answered.1["storeId"], store_id.as_str());
    // Bad bodies and queries are 400s.
    let (status, error) = push(&http, &server, &json!({ "batches": [] }), Some(TEAM_A)).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("InvalidInput"))
    );
    let (status, _) = get(&http, &server, "/v1/sync/pull?eventType=A", Some(TEAM_A)).await;
    assert_eq!(status, 400);
    let (status, _) = get(&http, &server, "/v1/sync/pull?after=x", Some(TEAM_A)).await;
    assert_eq!(status, 400);

    // The admin writes to another team's stream; team A's pull does not see it.
    assert_eq!(
        post(
            &http,
            &server,
            "team-b-2",
            &json!({ "events": [event("B", 9)] }),
            Some(ADMIN)
        )
        .await
        .0,
        200
    );
    let (status, page) = get(&http, &server, "/v1/sync/pull?after=0", Some(TEAM_A)).await;
    assert_eq!(status, 200);
    let streams: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["streamId"].as_str().unwrap())
        .collect();
    assert_eq!(streams, vec!["team-a-1", "team-a-1"]);
    assert_eq!(page["next"], page["head"]);
    assert_eq!(page["head"], 3);

    // A long poll answers when an event arrives.
    let waiting = {
        let http = http.clone();
        let url = server.url("/v1/sync/pull?after=3&wait=10000");
        tokio::spawn(async move {
            answer(http.get(url).bearer_auth(TEAM_A).send().await.unwrap()).await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "the pull waits");
    post(
        &http,
        &server,
        "team-a-9",
        &json!({ "events": [event("Late", 1)] }),
        Some(ADMIN),
    )
    .await;
    let (status, page) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the long poll answered")
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(page["events"][0]["type"], "Late");
}

/// Many batches in one push, the server killed while it works through them, then restarted on
/// the same file: the retried push reports what was written as `duplicate` and writes the rest;
/// nothing is doubled.
#[tokio::test]
async fn sync_server_killed_mid_push_then_restarted_answers_the_retry_with_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let port = free_port();
    let server = start_on(&db, port, &[]);
    let http = client();
    let batches: Vec<Value> = (0..800)
        .map(|i| {
            batch(
                &format!("s-{}", i % 10),
                json!("any"),
                vec![wire_event("E", i)],
            )
        })
        .collect();
    let body = json!({ "clientId": "c1", "batches": batches });
    let pushing = {
        let (http, url, body) = (http.clone(), server.url("/v1/sync/push"), body.clone());
        tokio::spawn(async move { http.post(url).json(&body).send().await })
    };
    // Kill it once some, but not all, batches are in.
    let mut head = 0;
    for _ in 0..2000 {
        head = get(&http, &server, "/v1/head", None).await.1["position"]
            .as_u64()
            .unwrap();
        if head > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(head > 0, "the push started");
    drop(server); // SIGKILL
    let lost = pushing.await.unwrap();
    assert!(lost.is_err(), "the push got no answer: {lost:?}");

    let server = start_on(&db, port, &[]);
    let written = get(&http, &server, "/v1/head", None).await.1["position"]
        .as_u64()
        .unwrap();
    assert!(
        written > 0 && written < 800,
        "killed mid-push: {written} of 800 written"
    );
    let answered = push(&http, &server, &body, None).await;
    let kinds = results(&answered);
    let duplicates = kinds.iter().filter(|k| *k == "duplicate").count();
    let appended = kinds.iter().filter(|k| *k == "appended").count();
    assert_eq!(duplicates as u64, written);
    assert_eq!(duplicates + appended, 800);
    assert_eq!(
        get(&http, &server, "/v1/head", None).await.1["position"],
        800,
        "each event once"
    );
}

async fn all_events(store: &EventStore<SqliteStorage>) -> Vec<RecordedEvent> {
    store.read_all(ReadAllOptions::new()).await.unwrap()
}

/// The server's store, opened beside the running server (WAL lets both read).
fn server_store(db: &Path) -> EventStore<SqliteStorage> {
    EventStore::new(SqliteStorage::open(db).unwrap())
}

/// 10,000 events appended while the server is down are confirmed exactly once, in order per
/// stream, once it starts; the mirror then equals the server's store, and a projection over
/// it equals the projection over the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_offline_burst_syncs_once_in_order_when_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let port = free_port();
    let local = EventStore::new(SqliteStorage::open(dir.path().join("client.db")).unwrap());
    let transport = HttpTransport::new(format!("http://127.0.0.1:{port}"), None);
    let client = SyncClient::builder(local, transport)
        .options(SyncOptions {
            push_batches: 200,
            pull_limit: 1000,
            ..SyncOptions::default()
        })
        .open()
        .await
        .unwrap();
    for round in 0..100u64 {
        for stream in 0..20u64 {
            let events = (0..5)
                .map(|i| NewEvent::new("Burst", json!({ "n": round * 5 + i })))
                .collect();
            client
                .append(
                    &format!("s-{stream}"),
                    ExpectedVersion::Exact(round * 5),
                    events,
                )
                .await
                .unwrap();
        }
    }
    assert_eq!(client.status().pending, 10_000);
    match client.flush().await {
        Err(SyncError::Transport(e)) => assert_eq!(e.kind, TransportErrorKind::Network),
        other => panic!("expected a network error, got {other:?}"),
    }

    let _server = start_on(&db, port, &[]);
    tokio::time::timeout(Duration::from_secs(120), client.flush())
        .await
        .expect("synced within 2 minutes")
        .unwrap();
    let on_server = all_events(&server_store(&db)).await;
    assert_eq!(on_server.len(), 10_000);
    for stream in 0..20u64 {
        let events = server_store(&db)
            .read_stream(&format!("s-{stream}"), ReadStreamOptions::new())
            .await
            .unwrap();
        let ns: Vec<u64> = events
            .iter()
            .map(|e| e.data["n"].as_u64().unwrap())
            .collect();
        assert_eq!(ns, (0..500).collect::<Vec<_>>());
    }
    assert_eq!(all_events(client.mirror()).await, on_server);
    assert_eq!(
        balances(&on_server),
        balances(&all_events(client.mirror()).await)
    );
}

/// A projection: the sum of `n` per stream, with the last position.
fn balances(events: &[RecordedEvent]) -> HashMap<String, (u64, u64)> {
    let mut out: HashMap<String, (u64, u64)> = HashMap::new();
    for event in events {
        let entry = out.entry(event.stream_id.clone()).or_default();
        entry.0 += event.data["n"].as_u64().unwrap_or(0);
        entry.1 = event.position;
    }
    out
}

/// The client syncs live through `run`; the server is replaced by one over a new store on the
/// same address: the client rebuilds its mirror from the new store and pushes its outbox there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_replaced_server_store_rebuilds_the_mirror_and_keeps_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let tokens = tokens_file(dir.path());
    let tokens = tokens.to_str().unwrap();
    let old = start_on(&dir.path().join("old.db"), port, &["--tokens", tokens]);
    let http = client();
    for n in 0..3 {
        post(
            &http,
            &old,
            "team-a-old",
            &json!({ "events": [event("Old", n)] }),
            Some(ADMIN),
        )
        .await;
    }
    post(
        &http,
        &old,
        "team-b-1",
        &json!({ "events": [event("Other", 1)] }),
        Some(ADMIN),
    )
    .await;
    let local = EventStore::new(SqliteStorage::open(dir.path().join("client.db")).unwrap());
    let transport = HttpTransport::new(format!("http://127.0.0.1:{port}"), Some("expired".into()));
    let client = SyncClient::builder(local, transport)
        .filter(Filter::new().stream_prefix("team-a-"))
        .on_unauthorized(|| async { Some(TEAM_A.to_owned()) })
        .options(SyncOptions {
            long_poll: Duration::from_millis(500),
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ..SyncOptions::default()
        })
        .open()
        .await
        .unwrap();
    let running = tokio::spawn(client.clone().run());
    let wait_until = |what: &'static str, done: Box<dyn Fn() -> bool + Send>| async move {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    };
    let c = client.clone();
    wait_until(
        "the old store",
        Box::new(move || c.status().last_pulled >= 4),
    )
    .await;
    assert_eq!(
        client.mirror().stream_version("team-a-old").await.unwrap(),
        3
    );
    assert_eq!(
        client.mirror().stream_version("team-b-1").await.unwrap(),
        0,
        "filtered"
    );
    let old_id = client.status().store_id.unwrap();

    // The server goes away; the client keeps working offline.
    drop(old);
    client
        .append(
            "team-a-mine",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("Mine", json!({}))],
        )
        .await
        .unwrap();
    // The new store has an event of its own before the client can reach it: posted once the
    // server listens, it would race the client's retries (which push as soon as it answers).
    let new_db = dir.path().join("new.db");
    server_store(&new_db)
        .append(
            "team-a-new",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("New", json!({ "n": 1 }))],
        )
        .await
        .unwrap();
    let new = start_on(&new_db, port, &["--tokens", tokens]);
    let c = client.clone();
    wait_until(
        "the new store",
        Box::new(move || {
            let status = c.status();
            status.pending == 0 && status.store_id.as_deref() != Some(old_id.as_str())
        }),
    )
    .await;
    client.stop();
    running.await.unwrap();
    let on_server = server_store(&new_db)
        .read_all(ReadAllOptions::new().filter(Filter::new().stream_prefix("team-a-")))
        .await
        .unwrap();
    assert_eq!(all_events(client.mirror()).await, on_server);
    let streams: Vec<&str> = on_server.iter().map(|e| e.stream_id.as_str()).collect();
    assert_eq!(streams, vec!["team-a-new", "team-a-mine"]);
    drop(new);
}
