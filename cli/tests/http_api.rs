//! The HTTP API v1 end to end against a real `evstore serve`: every endpoint, every error
//! status, the size limits, stream ids in paths, and a fuzz of malformed requests.

mod common;

use common::{client, event, get, post, Server};
use futures::StreamExt;
use serde_json::{json, Value};

#[tokio::test]
async fn append_read_and_head() {
    let server = Server::start(&[]);
    let http = client();
    let (status, body) = get(&http, &server, "/healthz", None).await;
    assert_eq!((status, body), (200, json!({ "status": "ok" })));
    assert_eq!(
        get(&http, &server, "/v1/head", None).await,
        (200, json!({ "position": 0 }))
    );

    let id = uuid::Uuid::now_v7().to_string();
    let append = json!({
        "expectedVersion": "no_stream",
        "events": [
            { "type": "Opened", "data": { "owner": "ada" }, "id": id,
              "metadata": { "user": "u1" }, "correlationId": "c-1", "causationId": "k-1" },
            { "type": "Deposited", "data": { "amount": 10 } },
        ],
    });
    let (status, result) = post(&http, &server, "account-1", &append, None).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result, json!({ "nextExpectedVersion": 2, "position": 2 }));

    // Without expectedVersion: any. With a number: exact.
    let (status, _) = post(
        &http,
        &server,
        "order-1",
        &json!({ "events": [event("Placed", 1)] }),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, result) = post(
        &http,
        &server,
        "account-1",
        &json!({ "expectedVersion": 2, "events": [event("Deposited", 2)] }),
        None,
    )
    .await;
    assert_eq!(
        (status, result),
        (200, json!({ "nextExpectedVersion": 3, "position": 4 }))
    );

    let (status, body) = get(&http, &server, "/v1/streams/account-1", None).await;
    assert_eq!(status, 200);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    let first = &events[0];
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["streamId"], "account-1");
    assert_eq!(
        (first["version"].as_u64(), first["position"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(first["type"], "Opened");
    assert_eq!(first["data"], json!({ "owner": "ada" }));
    assert_eq!(first["metadata"], json!({ "user": "u1" }));
    assert_eq!(
        (
            first["correlationId"].as_str(),
            first["causationId"].as_str()
        ),
        (Some("c-1"), Some("k-1"))
    );
    assert!(first["recordedAt"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(events[1]["metadata"], json!({}));
    assert!(events[1].get("correlationId").is_none());

    let versions = |body: &Value| -> Vec<u64> {
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["version"].as_u64().unwrap())
            .collect()
    };
    let (_, body) = get(
        &http,
        &server,
        "/v1/streams/account-1?fromVersion=2&maxCount=1",
        None,
    )
    .await;
    assert_eq!(versions(&body), [2]);
    let (_, body) = get(
        &http,
        &server,
        "/v1/streams/account-1?direction=backward",
        None,
    )
    .await;
    assert_eq!(versions(&body), [3, 2, 1]);

    assert_eq!(
        get(&http, &server, "/v1/head", None).await,
        (200, json!({ "position": 4 }))
    );
}

#[tokio::test]
async fn read_all_pages_filters_and_caps() {
    let server = Server::start(&["--max-page", "3"]);
    let http = client();
    for (stream, kind) in [
        ("account-1", "Opened"),
        ("order-1", "Placed"),
        ("account-2", "Opened"),
        ("account-1", "Deposited"),
        ("user-9", "Joined"),
        ("order-2", "Placed"),
    ] {
        let (status, _) = post(
            &http,
            &server,
            stream,
            &json!({ "events": [event(kind, 0)] }),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    let positions = |body: &Value| -> Vec<u64> {
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["position"].as_u64().unwrap())
            .collect()
    };
    // The server caps a page at --max-page, with or without maxCount.
    let (status, body) = get(&http, &server, "/v1/all", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (positions(&body), body["head"].as_u64()),
        (vec![1, 2, 3], Some(6))
    );
    let (_, body) = get(&http, &server, "/v1/all?maxCount=100&fromPosition=3", None).await;
    assert_eq!(positions(&body), [4, 5, 6]);
    let (_, body) = get(&http, &server, "/v1/all?maxCount=2&fromPosition=1", None).await;
    assert_eq!(positions(&body), [2, 3]);
    let (_, body) = get(&http, &server, "/v1/all?direction=backward", None).await;
    assert_eq!(positions(&body), [6, 5, 4]);
    // Repeatable filters: OR within a kind, AND across kinds.
    let (_, body) = get(
        &http,
        &server,
        "/v1/all?streamPrefix=account-&streamPrefix=user-",
        None,
    )
    .await;
    assert_eq!(positions(&body), [1, 3, 4]);
    let (_, body) = get(
        &http,
        &server,
        "/v1/all?streamPrefix=account-&streamPrefix=user-&fromPosition=4",
        None,
    )
    .await;
    assert_eq!(positions(&body), [5]);
    let (_, body) = get(&http, &server, "/v1/all?category=order", None).await;
    assert_eq!(positions(&body), [2, 6]);
    let (_, body) = get(
        &http,
        &server,
        "/v1/all?category=account&eventType=Opened",
        None,
    )
    .await;
    assert_eq!(positions(&body), [1, 3]);
    let (_, body) = get(
        &http,
        &server,
        "/v1/all?eventType=Joined&eventType=Deposited",
        None,
    )
    .await;
    assert_eq!(positions(&body), [4, 5]);

    // Stream reads are capped too; the client pages on with fromVersion.
    let four = json!({ "events": (0..4).map(|n| event("A", n)).collect::<Vec<_>>() });
    assert_eq!(post(&http, &server, "long-1", &four, None).await.0, 200);
    let (_, body) = get(&http, &server, "/v1/streams/long-1?maxCount=10", None).await;
    assert_eq!(body["events"].as_array().unwrap().len(), 3);
    let (_, body) = get(&http, &server, "/v1/streams/long-1?fromVersion=4", None).await;
    assert_eq!(body["events"][0]["version"], 4);
}

#[tokio::test]
async fn every_error_status() {
    let server = Server::start(&[]);
    let http = client();
    let id = uuid::Uuid::now_v7().to_string();
    let one = json!({ "expectedVersion": "no_stream", "events": [{ "type": "A", "id": id }] });
    assert_eq!(post(&http, &server, "s-1", &one, None).await.0, 200);

    let expect = |(status, body): (u16, Value), want_status: u16, code: &str| {
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        body
    };
    let conflict = expect(
        post(
            &http,
            &server,
            "s-1",
            &json!({ "expectedVersion": 5, "events": [event("A", 1)] }),
            None,
        )
        .await,
        409,
        "WrongExpectedVersion",
    );
    assert_eq!(
        (
            conflict["stream"].as_str(),
            conflict["expected"].as_u64(),
            conflict["actual"].as_u64()
        ),
        (Some("s-1"), Some(5), Some(1))
    );
    let conflict = expect(
        post(
            &http,
            &server,
            "s-1",
            &json!({ "expectedVersion": "no_stream", "events": [event("A", 1)] }),
            None,
        )
        .await,
        409,
        "WrongExpectedVersion",
    );
    assert_eq!(conflict["expected"], "no_stream");
    expect(
        post(
            &http,
            &server,
            "s-2",
            &json!({ "expectedVersion": "stream_exists", "events": [event("A", 1)] }),
            None,
        )
        .await,
        409,
        "WrongExpectedVersion",
    );
    let duplicate = expect(
        post(
            &http,
            &server,
            "s-2",
            &json!({ "events": [{ "type": "A", "id": id }] }),
            None,
        )
        .await,
        409,
        "DuplicateEventId",
    );
    assert_eq!(duplicate["id"], id.as_str());

    for bad in [
        json!({ "events": [] }),
        json!({ "events": [{ "type": "" }] }),
        json!({ "events": [{ "type": "A", "id": "not-a-uuid" }] }),
        json!({ "events": [{ "type": "A", "metadata": [1] }] }),
        json!({ "events": [{ "type": "A", "unknown": 1 }] }),
        json!({ "events": [{ "data": 1 }] }),
        json!({ "expectedVersion": -1, "events": [event("A", 1)] }),
        json!({ "expectedVersion": "exact", "events": [event("A", 1)] }),
        json!({ "expectedVersion": 1.5, "events": [event("A", 1)] }),
        json!({ "events": [event("A", 1)], "extra": true }),
        json!({}),
        json!([1, 2]),
    ] {
        let body = expect(
            post(&http, &server, "s-3", &bad, None).await,
            400,
            "InvalidInput",
        );
        assert!(body["reason"].is_string(), "{body}");
    }
    let raw = http
        .post(server.url("/v1/streams/s-3"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect(common::answer(raw).await, 400, "InvalidInput");
    assert_eq!(
        get(&http, &server, "/v1/head", None).await.1,
        json!({ "position": 1 })
    );

    let missing = expect(
        get(&http, &server, "/v1/streams/nothing-here", None).await,
        404,
        "StreamNotFound",
    );
    assert_eq!(missing["stream"], "nothing-here");
    for query in [
        "/v1/streams/s-1?maxCount=0",
        "/v1/streams/s-1?fromVersion=x",
        "/v1/streams/s-1?direction=up",
        "/v1/streams/s-1?nope=1",
        "/v1/streams/s-1?maxCount=1&maxCount=2",
        "/v1/all?fromPosition=-1",
        "/v1/all?maxCount=0",
        "/v1/all?stream=s",
        "/v1/head?x=1",
        "/v1/subscribe?fromPosition=soon",
    ] {
        expect(get(&http, &server, query, None).await, 400, "InvalidInput");
    }
    expect(
        get(&http, &server, "/v2/anything", None).await,
        404,
        "NotFound",
    );
    expect(
        common::answer(http.delete(server.url("/v1/head")).send().await.unwrap()).await,
        405,
        "MethodNotAllowed",
    );
    expect(
        common::answer(
            http.put(server.url("/v1/streams/s-1"))
                .send()
                .await
                .unwrap(),
        )
        .await,
        405,
        "MethodNotAllowed",
    );
}

#[tokio::test]
async fn too_large_is_413_and_writes_nothing() {
    let server = Server::start(&["--max-body-bytes", "4096", "--max-events-per-append", "5"]);
    let http = client();
    let big = json!({ "events": [{ "type": "Big", "data": "x".repeat(5000) }] });
    let (status, body) = post(&http, &server, "big-1", &big, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("PayloadTooLarge")),
        "{body}"
    );
    let many = json!({ "events": (0..6).map(|n| event("A", n)).collect::<Vec<_>>() });
    let (status, body) = post(&http, &server, "big-1", &many, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("PayloadTooLarge")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains('5'));
    assert_eq!(
        get(&http, &server, "/v1/head", None).await.1,
        json!({ "position": 0 })
    );
    assert_eq!(get(&http, &server, "/v1/streams/big-1", None).await.0, 404);
    // At the limits, it goes through.
    let five = json!({ "events": (0..5).map(|n| event("A", n)).collect::<Vec<_>>() });
    assert_eq!(post(&http, &server, "big-1", &five, None).await.0, 200);
}

#[tokio::test]
async fn stream_ids_in_paths_are_percent_decoded_and_validated_like_the_library() {
    let server = Server::start(&[]);
    let http = client();
    let long = "x".repeat(evstore::MAX_STREAM_ID_BYTES + 1);
    let cases: Vec<(String, String)> = vec![
        ("a%2Fb%20c".into(), "a/b c".into()),
        ("%C3%BC-1".into(), "ü-1".into()),
        ("plain-1".into(), "plain-1".into()),
        (
            "with%3Fquery%26and%23hash".into(),
            "with?query&and#hash".into(),
        ),
        ("nul%00byte".into(), "nul\0byte".into()),
        ("tab%09x".into(), "tab\tx".into()),
        (long.clone(), long.clone()),
        (
            "y".repeat(evstore::MAX_STREAM_ID_BYTES),
            "y".repeat(evstore::MAX_STREAM_ID_BYTES),
        ),
    ];
    for (path, decoded) in cases {
        let url = server.url(&format!("/v1/streams/{path}"));
        let (status, body) = common::answer(
            http.post(&url)
                .json(&json!({ "events": [event("A", 1)] }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        if evstore::validate_stream_id(&decoded).is_ok() {
            assert_eq!(status, 200, "{path}: {body}");
            let (status, read) = common::answer(http.get(&url).send().await.unwrap()).await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(read["events"][0]["streamId"], decoded.as_str());
        } else {
            assert_eq!(
                (status, body["code"].as_str()),
                (400, Some("InvalidInput")),
                "{path}: {body}"
            );
        }
    }
    // Not UTF-8 once decoded: refused, not mangled.
    let (status, body) = common::answer(
        http.post(server.url("/v1/streams/%FF%FE"))
            .json(&json!({ "events": [event("A", 1)] }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("InvalidInput")),
        "{body}"
    );
}

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A valid append body, then mangled in one of several ways.
    fn body(&mut self) -> Vec<u8> {
        let expected = [
            json!("any"),
            json!("no_stream"),
            json!(self.below(3)),
            json!("stream_exists"),
        ];
        let expected = expected[self.below(4)].clone();
        let valid = json!({
            "expectedVersion": expected,
            "events": (0..self.below(3)).map(|n| json!({ "type": "T", "data": { "n": n } })).collect::<Vec<_>>(),
        })
        .to_string()
        .into_bytes();
        match self.below(6) {
            0 => valid,
            1 => self.bytes(300),
            2 => {
                let mut cut = valid.clone();
                cut.truncate(self.below(valid.len() + 1));
                cut
            }
            3 => {
                let mut flipped = valid;
                for _ in 0..1 + self.below(4) {
                    let at = self.below(flipped.len());
                    flipped[at] = self.next() as u8;
                }
                flipped
            }
            4 => self
                .pick(&["null", "[]", "{}", "1e999", "\"x\"", "{\"events\":null}", "{\"events\":[null]}",
                        "{\"events\":[{\"type\":1}]}", "{\"events\":[{\"type\":\"A\",\"id\":7}]}",
                        "{\"expectedVersion\":18446744073709551616,\"events\":[{\"type\":\"A\"}]}",
                        "{\"events\":[{\"type\":\"A\",\"data\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]}"])
                .as_bytes()
                .to_vec(),
            _ => format!("{{\"events\":[{{\"type\":\"{}\"}}]}}", "\\u0000".repeat(self.below(4))).into_bytes(),
        }
    }

    fn query(&mut self) -> String {
        let keys = [
            "fromPosition",
            "fromVersion",
            "maxCount",
            "direction",
            "streamPrefix",
            "category",
            "eventType",
            "x",
            "",
            "%",
            "%ZZ",
            "maxCount%00",
        ];
        let values = [
            "0",
            "1",
            "-1",
            "18446744073709551616",
            "backward",
            "forward",
            "",
            "%FF",
            "a+b",
            "%00",
            "end",
            "1e3",
            "🦀",
            "account-",
        ];
        (0..self.below(5))
            .map(|_| {
                let (k, v) = (self.pick(&keys), self.pick(&values));
                match self.below(4) {
                    0 => k.to_owned(),
                    _ => format!("{k}={v}"),
                }
            })
            .collect::<Vec<_>>()
            .join(if self.below(8) == 0 { ";" } else { "&" })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_requests_never_break_the_server() {
    let mut server = Server::start(&["--max-body-bytes", "2048"]);
    let http = client();
    let streams = [
        "s-1",
        "s-2",
        "%00",
        "%FF",
        "a%2Fb",
        "..",
        "%2e%2e",
        "x%20y",
        "%E2%82",
        "s-1%2F..%2F",
    ];
    let mut random = Random(0x5eed_1234_abcd_9876);
    let mut requests = Vec::new();
    for _ in 0..3000 {
        let stream = random.pick(&streams);
        let query = random.query();
        let request = match random.below(5) {
            0 | 1 => http
                .post(server.url(&format!("/v1/streams/{stream}?{query}")))
                .body(random.body()),
            2 => http.get(server.url(&format!("/v1/streams/{stream}?{query}"))),
            3 => http.get(server.url(&format!("/v1/all?{query}"))),
            _ => http.get(server.url(&format!(
                "/v1/{}?{query}",
                random.pick(&["head", "subscribe", "all/", "streams"])
            ))),
        };
        requests.push(request);
    }
    let outcomes = futures::stream::iter(requests)
        .map(|request| async move {
            let response = request
                .send()
                .await
                .expect("the server answers every request");
            let status = response.status().as_u16();
            if response
                .headers()
                .get("content-type")
                .is_some_and(|t| t == "text/event-stream")
            {
                return (status, json!({ "code": "stream" }));
            }
            let text = response.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or_else(|_| json!({ "raw": text })),
            )
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let mut seen = std::collections::BTreeMap::new();
    for (status, body) in &outcomes {
        *seen.entry(*status).or_insert(0) += 1;
        assert!(
            [200, 400, 404, 405, 409, 413].contains(status),
            "status {status}: {body}"
        );
        if *status != 200 {
            assert!(
                body["code"].is_string() && body["message"].is_string(),
                "{status}: {body}"
            );
        }
    }
    assert!(
        seen.len() >= 4,
        "the fuzz reached too few outcomes: {seen:?}"
    );
    assert_eq!(get(&http, &server, "/healthz", None).await.0, 200);
    assert!(server.is_running());
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn idle_connections_are_closed_and_slow_requests_time_out() {
    use std::io::{Read, Write};
    let server = Server::start(&["--idle-timeout", "1", "--request-timeout", "1"]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let wait = Some(std::time::Duration::from_secs(15));

    // A connection that never sends a request is closed.
    let mut silent = std::net::TcpStream::connect(&address).unwrap();
    silent.set_read_timeout(wait).unwrap();
    let mut buffer = [0u8; 256];
    assert_eq!(
        silent.read(&mut buffer).unwrap(),
        0,
        "an idle connection stayed open"
    );

    // A request whose body never completes is answered 408, and nothing is written.
    let mut slow = std::net::TcpStream::connect(&address).unwrap();
    slow.set_read_timeout(wait).unwrap();
    slow.write_all(b"POST /v1/streams/slow-1 HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"events\":")
        .unwrap();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"Timeout\""), "{answer}");
}

#[tokio::test]
async fn cors_for_listed_origins_and_an_access_log_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.json");
    let token = "cors-token-0123456789";
    std::fs::write(
        &tokens,
        json!({ "tokens": [{ "name": "web", "token": token, "read": [""], "append": [""] }] })
            .to_string(),
    )
    .unwrap();
    let server = Server::start(&[
        "--tokens",
        tokens.to_str().unwrap(),
        "--allow-origin",
        "http://app.example:8080",
        "--log-requests",
    ]);
    let http = client();
    // A preflight needs no token.
    let preflight = http
        .request(reqwest::Method::OPTIONS, server.url("/v1/streams/a-1"))
        .header("origin", "http://app.example:8080")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://app.example:8080"
    );
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );

    let from = |origin: &str| {
        http.get(server.url("/v1/head?secretquery=1"))
            .header("origin", origin)
            .bearer_auth(token)
            .send()
    };
    let listed = from("http://app.example:8080").await.unwrap();
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "http://app.example:8080"
    );
    let other = from("http://elsewhere.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let (status, _) = get(&http, &server, "/v1/head", Some(token)).await;
    assert_eq!(status, 200);
    let body = json!({ "events": [{ "type": "Secret", "data": { "password": "hunter2" } }] });
    assert_eq!(post(&http, &server, "a-1", &body, Some(token)).await.0, 200);
    server.wait_for_log("GET /v1/head 200");
    let log = server.wait_for_log("POST /v1/streams/a-1 200");
    for secret in [token, "secretquery", "hunter2"] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
    }
    let bad = common::run(&[
        "serve",
        "--allow-origin",
        "app.example/",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(common::stderr(&bad).contains("is not an origin"));
}

/// A stream tombstoned by `evstore delete --tombstone` (another process on the same file) is
/// `410 StreamDeleted` for appends and reads; a soft-deleted one reads as missing (404) and
/// takes appends again, numbered after its last version.
#[tokio::test]
async fn deleted_streams_over_http() {
    let server = Server::start(&[]);
    let http = client();
    let expect = |(status, body): (u16, Value), want_status: u16, code: &str| {
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["code"], code, "{body}");
        body
    };
    for stream in ["gone-1", "soft-1"] {
        let body = json!({ "events": [event("Opened", 1), event("Noted", 2)] });
        assert_eq!(post(&http, &server, stream, &body, None).await.0, 200);
    }
    let db = server.db.to_str().unwrap().to_owned();
    for args in [
        vec!["delete", "--db", &db, "gone-1", "--tombstone"],
        vec!["delete", "--db", &db, "soft-1", "--expected", "2"],
    ] {
        let output = common::run(&args);
        assert!(output.status.success(), "{}", common::stderr(&output));
    }
    let body = json!({ "events": [event("Again", 3)] });
    let refused = expect(
        post(&http, &server, "gone-1", &body, None).await,
        410,
        "StreamDeleted",
    );
    assert_eq!(refused["stream"], "gone-1");
    expect(
        get(&http, &server, "/v1/streams/gone-1", None).await,
        410,
        "StreamDeleted",
    );
    expect(
        get(&http, &server, "/v1/streams/soft-1", None).await,
        404,
        "StreamNotFound",
    );
    let again = json!({ "expectedVersion": "no_stream", "events": [event("Again", 4)] });
    let (status, answer) = post(&http, &server, "soft-1", &again, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["nextExpectedVersion"], 3);
}
