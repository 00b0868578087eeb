//! Bearer tokens against a real `evstore serve`: 401, 403, reads and subscriptions narrowed to
//! a token's rights, and the refusals at start.

mod common;

use common::{client, event, get, post, run, stderr, Server, SseReader};
use serde_json::{json, Value};

const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "reader-token-0123456789";
const ORDERS: &str = "orders-token-0123456789";

fn tokens_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("tokens.json");
    let tokens = json!({ "tokens": [
        { "name": "admin", "token": ADMIN, "read": [""], "append": [""] },
        { "name": "reader", "token": READER, "read": [""] },
        { "name": "orders", "token": ORDERS, "read": ["order-"], "append": ["order-"] },
    ] });
    std::fs::write(&path, tokens.to_string()).unwrap();
    path
}

fn start() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = tokens_file(dir.path());
    let server = Server::start(&[
        "--tokens",
        tokens.to_str().unwrap(),
        "--max-subscriptions-per-token",
        "2",
    ]);
    (server, dir)
}

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["code"].as_str().unwrap_or(""))
}

#[tokio::test]
async fn requests_need_a_valid_token() {
    let (server, _dir) = start();
    let http = client();
    let body = json!({ "events": [event("A", 1)] });
    for token in [
        None,
        Some("wrong-token-0123456789"),
        Some(""),
        Some("admin-token"),
    ] {
        assert_eq!(
            code(&post(&http, &server, "order-1", &body, token).await),
            (401, "Unauthorized")
        );
        for path in [
            "/v1/head",
            "/v1/all",
            "/v1/streams/order-1",
            "/v1/subscribe",
        ] {
            let answer = get(&http, &server, path, token).await;
            assert_eq!(code(&answer), (401, "Unauthorized"), "{path}");
        }
    }
    let raw = http
        .get(server.url("/v1/head"))
        .header("authorization", format!("Basic {ADMIN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 401);
    assert_eq!(raw.headers()["www-authenticate"], "Bearer");
    // The health check needs no token.
    assert_eq!(get(&http, &server, "/healthz", None).await.0, 200);
    assert_eq!(
        get(&http, &server, "/v1/head", Some(ADMIN)).await,
        (200, json!({ "position": 0 }))
    );
    // Tokens never reach the log.
    assert!(!server.log().contains("wrong-token"));
    assert!(!server.log().contains(ADMIN));
}

#[tokio::test]
async fn rights_limit_appends_and_reads() {
    let (server, _dir) = start();
    let http = client();
    let body = json!({ "events": [event("A", 1)] });
    assert_eq!(
        post(&http, &server, "account-1", &body, Some(ADMIN))
            .await
            .0,
        200
    );
    assert_eq!(
        post(&http, &server, "order-1", &body, Some(ORDERS)).await.0,
        200
    );
    // A read-only token appending; a token appending outside its prefixes.
    assert_eq!(
        code(&post(&http, &server, "order-2", &body, Some(READER)).await),
        (403, "Forbidden")
    );
    assert_eq!(
        code(&post(&http, &server, "account-1", &body, Some(ORDERS)).await),
        (403, "Forbidden")
    );
    assert_eq!(
        get(&http, &server, "/v1/head", Some(READER)).await.1["position"],
        2
    );

    // Reading a stream outside the token's rights.
    assert_eq!(
        code(&get(&http, &server, "/v1/streams/account-1", Some(ORDERS)).await),
        (403, "Forbidden")
    );
    assert_eq!(
        get(&http, &server, "/v1/streams/account-1", Some(READER))
            .await
            .0,
        200
    );
    assert_eq!(
        get(&http, &server, "/v1/streams/order-1", Some(ORDERS))
            .await
            .0,
        200
    );

    // Read all is narrowed to what the token may read; a prefix outside it is 403.
    let streams = |answer: (u16, Value)| -> Vec<String> {
        assert_eq!(answer.0, 200, "{}", answer.1);
        answer.1["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["streamId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        streams(get(&http, &server, "/v1/all", Some(ORDERS)).await),
        ["order-1"]
    );
    assert_eq!(
        streams(get(&http, &server, "/v1/all?streamPrefix=o", Some(ORDERS)).await),
        ["order-1"]
    );
    assert_eq!(
        streams(get(&http, &server, "/v1/all?category=account", Some(ORDERS)).await),
        Vec::<String>::new()
    );
    assert_eq!(
        streams(get(&http, &server, "/v1/all", Some(READER)).await),
        ["account-1", "order-1"]
    );
    assert_eq!(
        code(
            &get(
                &http,
                &server,
                "/v1/all?streamPrefix=account-",
                Some(ORDERS)
            )
            .await
        ),
        (403, "Forbidden")
    );
    assert_eq!(
        code(
            &get(
                &http,
                &server,
                "/v1/subscribe?streamPrefix=account-",
                Some(ORDERS)
            )
            .await
        ),
        (403, "Forbidden")
    );
}

#[tokio::test]
async fn subscriptions_are_filtered_and_limited_per_token() {
    let (server, _dir) = start();
    let http = client();
    for stream in ["account-1", "order-1", "account-2", "order-2"] {
        let body = json!({ "events": [event("A", 1)] });
        assert_eq!(
            post(&http, &server, stream, &body, Some(ADMIN)).await.0,
            200
        );
    }
    let open = || {
        http.get(server.url("/v1/subscribe"))
            .bearer_auth(ORDERS)
            .send()
    };
    let mut first = SseReader::new(open().await.unwrap());
    assert_eq!(first.positions(2).await, [2, 4]);
    assert_eq!(first.next().await.unwrap().event, "caughtUp");
    let body = json!({ "events": [event("A", 2)] });
    assert_eq!(
        post(&http, &server, "account-3", &body, Some(ADMIN))
            .await
            .0,
        200
    );
    assert_eq!(
        post(&http, &server, "order-3", &body, Some(ADMIN)).await.0,
        200
    );
    let live = first.next_event().await;
    assert_eq!(
        (
            live.data["streamId"].as_str(),
            live.data["position"].as_u64()
        ),
        (Some("order-3"), Some(6))
    );

    // Two live subscriptions per token: the third is refused, another token is not affected.
    let _second = SseReader::new(open().await.unwrap());
    let third = common::answer(open().await.unwrap()).await;
    assert_eq!(code(&third), (429, "TooManySubscriptions"));
    let other = http
        .get(server.url("/v1/subscribe"))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    // A closed subscription frees its slot.
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        let response = open().await.unwrap();
        if response.status() == 200 {
            again = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        again.is_some(),
        "the slot of a closed subscription was never freed"
    );
}

#[test]
fn serve_refuses_what_it_cannot_secure() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let db = db.to_str().unwrap();
    let open = run(&["serve", "--db", db, "--listen", "0.0.0.0:0"]);
    assert!(!open.status.success());
    assert!(
        stderr(&open).contains("refusing to listen on 0.0.0.0:0 without authentication"),
        "{}",
        stderr(&open)
    );
    assert!(
        !std::path::Path::new(db).exists(),
        "a refused start created the store"
    );

    let bad = |content: &str| {
        let path = dir.path().join("bad-tokens.json");
        std::fs::write(&path, content).unwrap();
        let output = run(&[
            "serve",
            "--db",
            db,
            "--listen",
            "0.0.0.0:0",
            "--tokens",
            path.to_str().unwrap(),
        ]);
        assert!(!output.status.success(), "{content}");
        stderr(&output)
    };
    assert!(bad("not json").contains("tokens file"));
    assert!(bad(r#"{"tokens": []}"#).contains("no token"));
    assert!(bad(r#"{"tokens": [{"name": "a", "token": "short"}]}"#).contains("shorter than 16"));
    assert!(
        bad(r#"{"tokens": [{"name": "a", "token": "0123456789abcdef", "rights": []}]}"#)
            .contains("tokens file")
    );
    let twice = r#"{"tokens": [{"name": "a", "token": "0123456789abcdef"}, {"name": "b", "token": "0123456789abcdef"}]}"#;
    let message = bad(twice);
    assert!(
        message.contains("twice") && !message.contains("0123456789abcdef"),
        "{message}"
    );
    let missing = run(&["serve", "--db", db, "--tokens", "/nonexistent/tokens.json"]);
    assert!(stderr(&missing).contains("cannot read the tokens file"));
}

#[tokio::test]
async fn a_tokens_file_allows_other_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = tokens_file(dir.path());
    let db = dir.path().join("events.db");
    // Bound on every interface with auth; reached over loopback here.
    let mut server = common::Server::start_on(
        &db,
        &[
            "--listen",
            "0.0.0.0:0",
            "--tokens",
            tokens.to_str().unwrap(),
        ],
    );
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    server.base = format!("http://127.0.0.1:{port}");
    let http = client();
    assert_eq!(get(&http, &server, "/v1/head", Some(READER)).await.0, 200);
    assert_eq!(get(&http, &server, "/v1/head", None).await.0, 401);
}
