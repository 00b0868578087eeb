//! Subscriptions over SSE, concurrent writers and shutdown, against a real `evstore serve`.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{client, event, get, post, Server, SseReader};
use evstore::{EventStore, ReadAllOptions, SqliteStorage};
use serde_json::json;

async fn append(http: &reqwest::Client, server: &Server, stream: &str, kind: &str) -> u64 {
    let (status, body) = post(
        http,
        server,
        stream,
        &json!({ "events": [event(kind, 0)] }),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["position"].as_u64().unwrap()
}

#[tokio::test]
async fn subscribe_catches_up_says_so_goes_live_and_resumes() {
    let server = Server::start(&[]);
    let http = client();
    for stream in ["a-1", "b-1", "a-2"] {
        append(&http, &server, stream, "Old").await;
    }
    let subscribe = |query: &str, last: Option<&str>| {
        let mut request = http.get(server.url(&format!("/v1/subscribe{query}")));
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        request.send()
    };
    let mut sub = SseReader::new(subscribe("", None).await.unwrap());
    assert_eq!(sub.positions(3).await, [1, 2, 3]);
    let caught_up = sub.next().await.unwrap();
    assert_eq!(
        (caught_up.event.as_str(), caught_up.data.clone()),
        ("caughtUp", json!({ "position": 3 }))
    );
    append(&http, &server, "b-2", "New").await;
    append(&http, &server, "a-3", "New").await;
    let live = sub.next_event().await;
    assert_eq!(live.event, "event");
    assert_eq!(
        (
            live.id.as_deref(),
            live.data["streamId"].as_str(),
            live.data["type"].as_str()
        ),
        (Some("4"), Some("b-2"), Some("New"))
    );
    for field in ["id", "version", "metadata", "recordedAt", "data"] {
        assert!(live.data.get(field).is_some(), "{field}: {}", live.data);
    }
    assert_eq!(sub.positions(1).await, [5]);
    drop(sub);

    // What an EventSource does after a disconnect: Last-Event-ID wins over fromPosition.
    let mut resumed = SseReader::new(subscribe("?fromPosition=1", Some("4")).await.unwrap());
    assert_eq!(resumed.positions(1).await, [5]);
    assert_eq!(resumed.next().await.unwrap().data, json!({ "position": 5 }));
    let mut from = SseReader::new(subscribe("?fromPosition=2", None).await.unwrap());
    assert_eq!(from.positions(3).await, [3, 4, 5]);

    // From the end: caught up at once, then only new events; filters apply.
    let mut end = SseReader::new(
        subscribe("?fromPosition=end&streamPrefix=a-", None)
            .await
            .unwrap(),
    );
    assert_eq!(end.next().await.unwrap().data, json!({ "position": 5 }));
    let mut typed = SseReader::new(subscribe("?eventType=New&category=b", None).await.unwrap());
    assert_eq!(typed.positions(1).await, [4]);
    append(&http, &server, "b-3", "Other").await;
    let six = append(&http, &server, "a-4", "New").await;
    let next = end.positions(1).await;
    assert_eq!(next, [six]);
    append(&http, &server, "b-4", "New").await;
    assert_eq!(typed.positions(1).await, [8]);

    let bad = common::answer(subscribe("", Some("yesterday")).await.unwrap()).await;
    assert_eq!((bad.0, bad.1["code"].as_str()), (400, Some("InvalidInput")));
}

#[tokio::test]
async fn a_slow_subscriber_never_blocks_appends() {
    let server = Server::start(&[]);
    let http = client();
    // A subscriber that never reads.
    let stalled = http.get(server.url("/v1/subscribe")).send().await.unwrap();
    assert_eq!(stalled.status(), 200);
    let payload = "x".repeat(8000);
    for n in 0..300 {
        let body = json!({ "events": [{ "type": "Big", "data": { "n": n, "pad": payload } }] });
        let (status, _) = tokio::time::timeout(
            Duration::from_secs(10),
            post(&http, &server, "big-1", &body, None),
        )
        .await
        .expect("an append waited on a stalled subscriber");
        assert_eq!(status, 200);
    }
    drop(stalled);
    assert_eq!(
        get(&http, &server, "/v1/head", None).await.1["position"],
        300
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_appending_with_exact_and_retry_leave_no_gap_or_duplicate() {
    let server = Arc::new(Server::start(&[]));
    const CLIENTS: usize = 50;
    const EACH: usize = 8;
    let streams = [
        "counter-1",
        "counter-2",
        "counter-3",
        "counter-4",
        "counter-5",
    ];
    let mut tasks = Vec::new();
    for client_no in 0..CLIENTS {
        let server = Arc::clone(&server);
        let stream = streams[client_no % streams.len()];
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut written = Vec::new();
            let mut known = 0u64;
            for n in 0..EACH {
                let id = uuid::Uuid::now_v7().to_string();
                loop {
                    let body = json!({ "expectedVersion": known,
                                       "events": [{ "type": "Counted", "id": id, "data": { "client": client_no, "n": n } }] });
                    let (status, answer) = post(&http, &server, stream, &body, None).await;
                    match status {
                        200 => {
                            known = answer["nextExpectedVersion"].as_u64().unwrap();
                            break;
                        }
                        409 => {
                            assert_eq!(answer["code"], "WrongExpectedVersion", "{answer}");
                            known = answer["actual"].as_u64().unwrap();
                        }
                        other => panic!("status {other}: {answer}"),
                    }
                }
                written.push(id);
            }
            written
        }));
    }
    let mut acknowledged = HashSet::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    assert_eq!(acknowledged.len(), CLIENTS * EACH);

    let http = client();
    let mut seen = HashSet::new();
    let mut last_position = 0;
    let mut after = 0;
    loop {
        let (_, page) = get(
            &http,
            &server,
            &format!("/v1/all?fromPosition={after}"),
            None,
        )
        .await;
        let events = page["events"].as_array().unwrap().clone();
        if events.is_empty() {
            break;
        }
        for e in &events {
            let position = e["position"].as_u64().unwrap();
            assert!(position > last_position);
            last_position = position;
            assert!(
                seen.insert(e["id"].as_str().unwrap().to_owned()),
                "duplicate {e}"
            );
        }
        after = last_position;
    }
    assert_eq!(seen, acknowledged);
    for stream in streams {
        let (_, body) = get(&http, &server, &format!("/v1/streams/{stream}"), None).await;
        let versions: Vec<u64> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["version"].as_u64().unwrap())
            .collect();
        assert_eq!(
            versions,
            (1..=(CLIENTS / streams.len() * EACH) as u64).collect::<Vec<_>>(),
            "{stream}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_keeps_every_acknowledged_append_and_ends_subscriptions() {
    let mut server = Server::start(&[]);
    let base = server.base.clone();
    let db = server.db.clone();
    let http = client();
    let mut subscription =
        SseReader::new(http.get(server.url("/v1/subscribe")).send().await.unwrap());
    assert_eq!(subscription.next().await.unwrap().event, "caughtUp");

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for writer in 0..20 {
        let (base, acknowledged) = (base.clone(), Arc::clone(&acknowledged));
        writers.push(tokio::spawn(async move {
            let http = client();
            for n in 0.. {
                let id = uuid::Uuid::now_v7().to_string();
                let body = json!({ "events": [{ "type": "Load", "id": id, "data": { "writer": writer, "n": n } }] });
                let sent = http.post(format!("{base}/v1/streams/load-{writer}")).json(&body).send().await;
                match sent {
                    Ok(response) if response.status() == 200 => acknowledged.lock().unwrap().push(id),
                    // Refused or cut off by the shutdown: not acknowledged, and then stop.
                    _ => break,
                }
            }
        }));
    }
    // Let the load build up, then stop the server in the middle of it.
    while acknowledged.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        server.terminate(),
        "evstore serve did not exit cleanly on SIGTERM"
    );
    for writer in writers {
        writer.await.unwrap();
    }
    // The subscription ended (after whatever it was sent).
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while subscription.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the subscription did not end on shutdown");

    let store = EventStore::new(SqliteStorage::open(&db).unwrap());
    let stored: HashSet<String> = store
        .read_all(ReadAllOptions::new())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    let acknowledged = acknowledged.lock().unwrap();
    assert!(acknowledged.len() >= 200);
    for id in acknowledged.iter() {
        assert!(
            stored.contains(id),
            "acknowledged append {id} is missing after shutdown"
        );
    }
}
