//! The sync protocol (evsync/1), on every backend that can hold a synced client: the server side
//! ([`handle_push`] / [`handle_pull`]) and the client ([`SyncClient`]) over the
//! [`InProcessTransport`], with both the server store and the client store on the backend under
//! test.
//!
//! Stamped into a backend's tests with [`sync_conformance_tests!`](crate::sync_conformance_tests):
//! ```text
//! evstore::sync_conformance_tests!(#[tokio::test]; make_store, reopen_store);
//! ```
//! `make_store` returns a fresh, empty `(EventStore<S>, guard)` on every call; `reopen_store`
//! opens the store behind a guard again (a restart, a page reload).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{select, Either};
use serde_json::json;

use super::within;
use crate::json::{ExpectedVersionJson, NewEventJson};
use crate::platform::sleep;
use crate::storage::{OutboxState, SyncStorage};
use crate::sync::{
    handle_pull, handle_push, BatchResult, InProcessTransport, PullRequest, PushBatch, PushRequest,
    Resolution, SyncAccess, SyncClient, SyncConflict, SyncError, SyncOptions, SyncPhase,
    SyncServerOptions, TransportErrorKind,
};
use crate::{
    ErrorKind, EventStore, ExpectedVersion, Filter, NewEvent, ProjectionOptions, Projector,
    ReadAllOptions, ReadStreamOptions, RecordedEvent,
};

/// Stamps one test per sync conformance function into the calling module (see the module docs).
#[macro_export]
macro_rules! sync_conformance_tests {
    ($(#[$attr:meta])* ; $make:path, $reopen:path) => {
        $crate::sync_conformance_tests!(@each [$(#[$attr])*] $make;
            sync_push_results_of_every_kind,
            sync_pull_pages_filters_and_long_polls,
            sync_local_append_is_pending_then_confirmed,
            sync_local_append_checks_confirmed_plus_pending,
            sync_retry_after_a_lost_response_is_a_duplicate,
            sync_conflict_default_drops_and_reports,
            sync_conflict_resolution_lands_against_the_new_version,
            sync_mirror_positions_and_projection_equal_the_servers,
            sync_store_id_change_rebuilds_the_mirror_and_keeps_the_outbox,
            sync_offline_burst_is_confirmed_once_in_order_with_bounded_pages,
            sync_prefix_token_filters_pull_and_rejects_push_outside,
            sync_unauthorized_reauths_without_losing_the_outbox,
            sync_run_loop_pushes_pulls_and_recovers,
        );
        $(#[$attr])*
        async fn sync_outbox_survives_a_reopen() {
            let (local, guard) = $make().await;
            $crate::storage::conformance::sync_outbox_survives_a_reopen($make, local, || {
                $reopen(&guard)
            })
            .await;
        }
    };
    (@each $attrs:tt $make:path; $($name:ident),* $(,)?) => {
        $( $crate::sync_conformance_tests!(@one $attrs $make; $name); )*
    };
    (@one [$($attrs:tt)*] $make:path; $name:ident) => {
        $($attrs)*
        async fn $name() {
            $crate::storage::conformance::$name($make).await;
        }
    };
}

type Client<S> = SyncClient<S, InProcessTransport<S>>;

/// Makes fresh, empty stores of the backend under test: any
/// `Fn() -> impl Future<Output = (EventStore<S>, Guard)>`, such as the `make_store` given to
/// [`sync_conformance_tests!`](crate::sync_conformance_tests).
pub trait MakeStore<S> {
    /// What keeps a store alive (a temporary directory, a database name).
    type Guard;
    /// A fresh, empty store and its guard.
    fn fresh(&self) -> impl Future<Output = (EventStore<S>, Self::Guard)>;
}

impl<S, G, F, Fut> MakeStore<S> for F
where
    F: Fn() -> Fut,
    Fut: Future<Output = (EventStore<S>, G)>,
{
    type Guard = G;

    fn fresh(&self) -> impl Future<Output = (EventStore<S>, G)> {
        self()
    }
}

fn ev(event_type: &str, n: u64) -> NewEvent {
    NewEvent::new(event_type, json!({ "n": n }))
}

fn with_id(event: NewEvent) -> NewEvent {
    event.with_id(uuid::Uuid::now_v7().to_string())
}

fn wire(events: Vec<NewEvent>) -> Vec<NewEventJson> {
    events
        .into_iter()
        .map(with_id)
        .map(NewEventJson::from)
        .collect()
}

fn batch(stream: &str, expected: ExpectedVersion, events: Vec<NewEventJson>) -> PushBatch {
    PushBatch {
        batch_id: uuid::Uuid::now_v7().to_string(),
        stream: stream.to_owned(),
        expected: ExpectedVersionJson(expected),
        events,
    }
}

fn push(batches: Vec<PushBatch>) -> PushRequest {
    PushRequest {
        store_id: None,
        client_id: "test-client".to_owned(),
        batches,
    }
}

async fn all<S: crate::Storage>(store: &EventStore<S>, filter: Filter) -> Vec<RecordedEvent> {
    store
        .read_all(ReadAllOptions::new().filter(filter))
        .await
        .unwrap()
}

async fn client<S: SyncStorage>(store: EventStore<S>, server: &InProcessTransport<S>) -> Client<S> {
    SyncClient::builder(store, server.clone())
        .open()
        .await
        .expect("open sync client")
}

/// Every result kind of a push, decided by the server side alone.
pub async fn sync_push_results_of_every_kind<S: SyncStorage>(stores: impl MakeStore<S>) {
    let (server, _guard) = stores.fresh().await;
    let options = SyncServerOptions::default();
    let full = SyncAccess::full();
    let first = batch(
        "a-1",
        ExpectedVersion::NoStream,
        wire(vec![ev("A", 1), ev("A", 2)]),
    );
    let response = handle_push(&server, &full, push(vec![first.clone()]), &options)
        .await
        .unwrap();
    assert_eq!(response.store_id, server.store_id().await.unwrap());
    assert!(matches!(
        response.results[..],
        [BatchResult::Appended {
            position: 2,
            next_expected_version: 2,
            ..
        }]
    ));
    // The same batch again (a retry after a lost response): a duplicate, nothing written.
    let again = handle_push(&server, &full, push(vec![first.clone()]), &options)
        .await
        .unwrap();
    assert!(matches!(
        again.results[..],
        [BatchResult::Duplicate {
            position: 2,
            next_expected_version: 2,
            ..
        }]
    ));
    assert_eq!(server.head().await.unwrap(), 2);

    let stale = batch("a-1", ExpectedVersion::Exact(1), wire(vec![ev("A", 3)]));
    let after_stale = batch("a-1", ExpectedVersion::Exact(2), wire(vec![ev("A", 4)]));
    let other = batch("b-1", ExpectedVersion::Any, wire(vec![ev("B", 1)]));
    let no_ids = batch(
        "c-1",
        ExpectedVersion::Any,
        vec![NewEventJson::from(ev("C", 1))],
    );
    let after_rejected = batch("c-1", ExpectedVersion::Any, wire(vec![ev("C", 2)]));
    let reused = batch("d-1", ExpectedVersion::Any, first.events.clone());
    let empty = batch("e-1", ExpectedVersion::Any, Vec::new());
    let bad_stream = batch("", ExpectedVersion::Any, wire(vec![ev("X", 1)]));
    let response = handle_push(
        &server,
        &full,
        push(vec![
            stale.clone(),
            after_stale.clone(),
            other,
            no_ids,
            after_rejected,
            reused,
            empty,
            bad_stream,
        ]),
        &options,
    )
    .await
    .unwrap();
    let results = &response.results;
    assert_eq!(results.len(), 8);
    match &results[0] {
        BatchResult::Conflict {
            batch_id,
            current_version,
            since,
        } => {
            assert_eq!(batch_id, &stale.batch_id);
            assert_eq!(*current_version, 2);
            let since: Vec<u64> = since.iter().map(|e| e.version).collect();
            assert_eq!(since, vec![2]);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        results[1],
        BatchResult::Skipped {
            batch_id: after_stale.batch_id.clone()
        }
    );
    assert!(matches!(
        results[2],
        BatchResult::Appended { position: 3, .. }
    ));
    assert!(matches!(&results[3], BatchResult::Rejected { code, .. } if code == "InvalidInput"));
    assert!(matches!(results[4], BatchResult::Skipped { .. }));
    assert!(
        matches!(&results[5], BatchResult::Rejected { code, .. } if code == "DuplicateEventId")
    );
    assert!(matches!(&results[6], BatchResult::Rejected { code, .. } if code == "InvalidInput"));
    assert!(matches!(&results[7], BatchResult::Rejected { code, .. } if code == "InvalidInput"));
    assert_eq!(
        server.head().await.unwrap(),
        3,
        "only the good batch was written"
    );

    // Outside the token's rights: rejected as Forbidden.
    let limited = SyncAccess::prefixes(None, Some(vec!["a-".into()]));
    let response = handle_push(
        &server,
        &limited,
        push(vec![batch(
            "b-2",
            ExpectedVersion::Any,
            wire(vec![ev("B", 1)]),
        )]),
        &options,
    )
    .await
    .unwrap();
    assert!(
        matches!(&response.results[0], BatchResult::Rejected { code, .. } if code == "Forbidden")
    );

    // A push made against another store processes nothing.
    let mut elsewhere = push(vec![batch(
        "a-9",
        ExpectedVersion::Any,
        wire(vec![ev("A", 1)]),
    )]);
    elsewhere.store_id = Some("another-store".into());
    let response = handle_push(&server, &full, elsewhere, &options)
        .await
        .unwrap();
    assert!(response.results.is_empty());
    assert_eq!(server.head().await.unwrap(), 3);

    // A tombstoned stream: rejected as StreamDeleted (the tombstone's marker is position 4).
    server
        .tombstone_stream("b-1", ExpectedVersion::Any)
        .await
        .unwrap();
    let response = handle_push(
        &server,
        &full,
        push(vec![batch(
            "b-1",
            ExpectedVersion::Any,
            wire(vec![ev("B", 2)]),
        )]),
        &options,
    )
    .await
    .unwrap();
    assert!(
        matches!(&response.results[0], BatchResult::Rejected { code, .. } if code == "StreamDeleted")
    );
    assert_eq!(server.head().await.unwrap(), 4);

    // Too many batches for one push.
    let small = SyncServerOptions {
        max_push_batches: 1,
        ..SyncServerOptions::default()
    };
    let two = push(vec![
        batch("a-8", ExpectedVersion::Any, wire(vec![ev("A", 1)])),
        batch("a-8", ExpectedVersion::Any, wire(vec![ev("A", 2)])),
    ]);
    let refused = handle_push(&server, &full, two, &small).await;
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::InvalidInput);
}

/// Pulls page by server position, narrow to what the caller may read, tell where to continue,
/// and wait for news when asked to.
pub async fn sync_pull_pages_filters_and_long_polls<S: SyncStorage>(stores: impl MakeStore<S>) {
    let (server, _guard) = stores.fresh().await;
    for i in 0..5 {
        for stream in ["a-1", "b-1"] {
            server
                .append(stream, ExpectedVersion::Any, vec![ev("E", i)])
                .await
                .unwrap();
        }
    }
    let options = SyncServerOptions::default();
    let full = SyncAccess::full();
    let page = handle_pull(
        &server,
        &full,
        &PullRequest {
            after: 0,
            limit: Some(4),
            ..PullRequest::default()
        },
        &options,
    )
    .await
    .unwrap();
    let positions: Vec<u64> = page.events.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 2, 3, 4]);
    assert_eq!((page.next, page.head), (4, 10));
    assert_eq!(page.store_id, server.store_id().await.unwrap());

    // Filtered: only a-*; the last page says to continue from the head.
    let request = PullRequest {
        after: 4,
        stream_prefixes: vec!["a-".into()],
        ..PullRequest::default()
    };
    let page = handle_pull(&server, &full, &request, &options)
        .await
        .unwrap();
    let positions: Vec<u64> = page.events.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![5, 7, 9]);
    assert_eq!(page.next, 10, "nothing more matched up to the head");

    // A token that reads b- only: the same request yields nothing, a plain one only b-*.
    let b_only = SyncAccess::prefixes(Some(vec!["b-".into()]), None);
    let page = handle_pull(&server, &b_only, &request, &options)
        .await
        .unwrap();
    assert!(page.events.is_empty());
    assert_eq!(page.next, 10);
    let page = handle_pull(&server, &b_only, &PullRequest::default(), &options)
        .await
        .unwrap();
    assert!(page.events.iter().all(|e| e.stream_id == "b-1"));
    assert_eq!(page.events.len(), 5);

    // The query-string form round-trips.
    let asked = PullRequest {
        after: 3,
        limit: Some(7),
        stream_prefixes: vec!["a b&c".into()],
        categories: vec!["x".into()],
        wait: Some(250),
    };
    let query = asked.to_query();
    let decoded: Vec<(String, String)> = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), percent_decode(value))
        })
        .collect();
    let parsed =
        PullRequest::from_query_pairs(decoded.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .unwrap();
    assert_eq!(parsed, asked);
    assert_eq!(
        PullRequest::from_query_pairs([("after", "x")])
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        PullRequest::from_query_pairs([("eventType", "A")])
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );

    // Long poll: waits until an event arrives.
    let waiting = PullRequest {
        after: 10,
        wait: Some(5_000),
        ..PullRequest::default()
    };
    let (page, ()) = within(async {
        futures::join!(handle_pull(&server, &full, &waiting, &options), async {
            sleep(Duration::from_millis(50)).await;
            server
                .append("a-1", ExpectedVersion::Any, vec![ev("Late", 1)])
                .await
                .unwrap();
        })
    })
    .await;
    let page = page.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].event_type, "Late");
    // And gives up after its wait with an empty page.
    let short = PullRequest {
        after: 11,
        wait: Some(30),
        ..PullRequest::default()
    };
    let page = handle_pull(&server, &full, &short, &options).await.unwrap();
    assert!(page.events.is_empty());
    assert_eq!(page.next, 11);
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A local append is pending (outbox, visible with `include_pending`), then confirmed: the
/// mirror then holds it at the server's position and the outbox is empty.
pub async fn sync_local_append_is_pending_then_confirmed<S: SyncStorage>(
    stores: impl MakeStore<S>,
) {
    let (server, _g1) = stores.fresh().await;
    let (local, _g2) = stores.fresh().await;
    server
        .append("other-1", ExpectedVersion::Any, vec![ev("O", 1)])
        .await
        .unwrap();
    let transport = InProcessTransport::new(server.clone());
    let client = client(local, &transport).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    client.on_status(move |status: &crate::sync::SyncStatus| {
        log.lock().unwrap().push((status.phase, status.pending))
    });

    let appended = client
        .append(
            "todo-1",
            ExpectedVersion::NoStream,
            vec![ev("Added", 1), ev("Added", 2)],
        )
        .await
        .unwrap();
    assert_eq!(appended.next_expected_version, 2);
    assert_eq!(appended.position, None);
    assert!(appended.batch_id.is_some());
    assert_eq!(client.status().pending, 2);
    assert_eq!(
        client.mirror().head().await.unwrap(),
        0,
        "not in the mirror yet"
    );
    let with_pending = client
        .read_stream("todo-1", ReadStreamOptions::new(), true)
        .await
        .unwrap();
    assert_eq!(
        with_pending
            .iter()
            .map(|e| (e.version, e.position))
            .collect::<Vec<_>>(),
        vec![(1, 0), (2, 0)]
    );
    let backward = client
        .read_stream("todo-1", ReadStreamOptions::backward().max_count(1), true)
        .await
        .unwrap();
    assert_eq!(backward[0].version, 2);
    assert_eq!(
        client
            .read_stream("todo-1", ReadStreamOptions::new(), false)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::StreamNotFound
    );
    assert_eq!(client.stream_version("todo-1", true).await.unwrap(), 2);
    assert_eq!(client.stream_version("todo-1", false).await.unwrap(), 0);
    // The mirror holds the server's events only: appending to it directly is refused, with a
    // message naming the outbox append, and writes nothing.
    let direct = client
        .mirror()
        .append("todo-1", ExpectedVersion::Any, vec![ev("Added", 3)])
        .await
        .unwrap_err();
    assert_eq!(direct.kind(), ErrorKind::InvalidInput);
    assert!(direct.to_string().contains("sync.append()"), "{direct}");
    let many = client
        .mirror()
        .append_many([("todo-9", ExpectedVersion::Any, vec![ev("Added", 9)])])
        .await
        .unwrap_err();
    assert_eq!(many.kind(), ErrorKind::InvalidInput);
    assert!(many.to_string().contains("sync.append()"), "{many}");
    assert_eq!(client.mirror().head().await.unwrap(), 0);
    assert_eq!(client.status().pending, 2);

    within(client.flush()).await.unwrap();
    let status = client.status();
    assert_eq!(status.pending, 0);
    assert_eq!(status.phase, SyncPhase::Online);
    assert_eq!(status.store_id, Some(server.store_id().await.unwrap()));
    assert_eq!(status.last_pulled, 3);
    assert!(client.pending().await.unwrap().is_empty());
    let mirrored = all(client.mirror(), Filter::default()).await;
    assert_eq!(mirrored, all(&server, Filter::default()).await);
    assert_eq!(
        mirrored.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // The ids the client gave are the server's.
    assert_eq!(with_pending[0].id, mirrored[1].id);
    let phases: Vec<SyncPhase> = seen.lock().unwrap().iter().map(|(p, _)| *p).collect();
    assert!(phases.contains(&SyncPhase::Syncing));
    assert_eq!(phases.last(), Some(&SyncPhase::Online));
    assert_eq!(seen.lock().unwrap().first().map(|(_, n)| *n), Some(2));
}

/// Local appends are checked against confirmed + pending; retries are idempotent; bad input is
/// refused with nothing written.
pub async fn sync_local_append_checks_confirmed_plus_pending<S: SyncStorage>(
    stores: impl MakeStore<S>,
) {
    let (server, _g1) = stores.fresh().await;
    let (local, _g2) = stores.fresh().await;
    server
        .append("acc-1", ExpectedVersion::NoStream, vec![ev("Opened", 1)])
        .await
        .unwrap();
    let transport = InProcessTransport::new(server.clone());
    let client = client(local, &transport).await;
    within(client.flush()).await.unwrap();

    let kind = |r: crate::Result<crate::storage::LocalAppend>| r.unwrap_err().kind();
    assert_eq!(
        kind(
            client
                .append("acc-1", ExpectedVersion::NoStream, vec![ev("X", 1)])
                .await
        ),
        ErrorKind::WrongExpectedVersion
    );
    let first = with_id(ev("Deposited", 1));
    let r = client
        .append("acc-1", ExpectedVersion::Exact(1), vec![first.clone()])
        .await
        .unwrap();
    assert_eq!(r.next_expected_version, 2);
    // Against confirmed only (1) is now stale: the pending event counts.
    assert_eq!(
        kind(
            client
                .append("acc-1", ExpectedVersion::Exact(1), vec![ev("X", 1)])
                .await
        ),
        ErrorKind::WrongExpectedVersion
    );
    // The same append again (a retry): the same result, nothing added.
    let retry = client
        .append("acc-1", ExpectedVersion::Exact(1), vec![first.clone()])
        .await
        .unwrap();
    assert_eq!(retry, r);
    // Its id reused in another batch: a duplicate.
    assert_eq!(
        kind(
            client
                .append(
                    "acc-1",
                    ExpectedVersion::Any,
                    vec![ev("X", 1), first.clone()]
                )
                .await
        ),
        ErrorKind::DuplicateEventId
    );
    let r = client
        .append("acc-1", ExpectedVersion::Exact(2), vec![ev("Deposited", 2)])
        .await
        .unwrap();
    assert_eq!(r.next_expected_version, 3);
    for bad in [
        client
            .append("", ExpectedVersion::Any, vec![ev("X", 1)])
            .await,
        client
            .append("acc-2", ExpectedVersion::Any, Vec::new())
            .await,
        client
            .append(
                "acc-2",
                ExpectedVersion::Any,
                vec![NewEvent::new("", json!(1))],
            )
            .await,
    ] {
        assert_eq!(kind(bad), ErrorKind::InvalidInput);
    }
    assert_eq!(client.pending().await.unwrap().len(), 2);
    assert_eq!(client.status().pending, 2);

    // A confirmed batch retried after it reached the mirror: its result, with its position.
    within(client.flush()).await.unwrap();
    let retry = client
        .append("acc-1", ExpectedVersion::Exact(1), vec![first])
        .await
        .unwrap();
    assert_eq!(retry.next_expected_version, 2);
    assert_eq!(retry.position, Some(2));
    assert!(client.pending().await.unwrap().is_empty());

    // A client whose filter selects some streams refuses appends to others, and a filter on
    // event types is refused.
    let (narrow, _g3) = stores.fresh().await;
    let filtered = SyncClient::builder(narrow, transport.clone())
        .filter(Filter::new().stream_prefix("acc-"))
        .open()
        .await
        .unwrap();
    assert_eq!(
        kind(
            filtered
                .append("todo-1", ExpectedVersion::Any, vec![ev("X", 1)])
                .await
        ),
        ErrorKind::InvalidInput
    );
    // A store with events of its own cannot become a mirror.
    let (own, _g5) = stores.fresh().await;
    own.append("own-1", ExpectedVersion::Any, vec![ev("Mine", 1)])
        .await
        .unwrap();
    let refused = SyncClient::builder(own, transport.clone()).open().await;
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::InvalidInput);
    let (typed, _g4) = stores.fresh().await;
    let refused = SyncClient::builder(typed, transport.clone())
        .filter(Filter::new().event_type("Opened"))
        .open()
        .await;
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::InvalidInput);
}

/// A push whose response is lost is retried: the server says duplicate, nothing is doubled.
pub async fn sync_retry_after_a_lost_response_is_a_duplicate<S: SyncStorage>(
    stores: impl MakeStore<S>,
) {
    let (server, _g1) = stores.fresh().await;
    let (local, _g2) = stores.fresh().await;
    let transport = InProcessTransport::new(server.clone());
    let client = client(local, &transport).await;
    client
        .append(
            "a-1",
            ExpectedVersion::NoStream,
            vec![ev("A", 1), ev("A", 2)],
        )
        .await
        .unwrap();
    transport.lose_responses(1);
    let failed = client.sync_once().await.unwrap_err();
    assert!(matches!(&failed, SyncError::Transport(e) if e.kind == TransportErrorKind::Network));
    assert_eq!(client.status().phase, SyncPhase::Offline);
    assert!(client.status().last_error.is_some());
    assert_eq!(server.head().await.unwrap(), 2, "the server has the batch");
    assert_eq!(
        client.status().pending,
        2,
        "the client does not know it yet"
    );

    // The retry: the server reports a duplicate (checked on the wire below), the events once.
    let outbox = client.pending().await.unwrap();
    let retried = handle_push(
        &server,
        &SyncAccess::full(),
        PushRequest {
            store_id: None,
            client_id: "probe".into(),
            batches: vec![PushBatch {
                batch_id: outbox[0].batch_id.clone(),
                stream: "a-1".into(),
                expected: ExpectedVersionJson(ExpectedVersion::NoStream),
                events: outbox[0]
                    .batch
                    .events
                    .iter()
                    .map(|e| NewEventJson {
                        event_type: e.event_type.clone(),
                        data: serde_json::from_str(&e.data).unwrap(),
                        metadata: serde_json::from_str(&e.metadata).unwrap(),
                        id: Some(e.id.clone()),
                        correlation_id: None,
                        causation_id: None,
                    })
                    .collect(),
            }],
        },
        &SyncServerOptions::default(),
    )
    .await
    .unwrap();
    assert!(matches!(
        retried.results[0],
        BatchResult::Duplicate { position: 2, .. }
    ));
    within(client.flush()).await.unwrap();
    assert_eq!(server.head().await.unwrap(), 2);
    let mirrored = all(client.mirror(), Filter::default()).await;
    assert_eq!(mirrored, all(&server, Filter::default()).await);
    assert_eq!(client.status().pending, 0);
}

/// Without a callback a conflicting batch (and the later ones of its stream) is dropped and
/// reported with its events and the server's; other streams sync untouched.
pub async fn sync_conflict_default_drops_and_reports<S: SyncStorage>(stores: impl MakeStore<S>) {
    let (server, _g1) = stores.fresh().await;
    let (local, _g2) = stores.fresh().await;
    let transport = InProcessTransport::new(server.clone());
    let client = client(local, &transport).await;
    client
        .append("card-1", ExpectedVersion::NoStream, vec![ev("Mine", 1)])
        .await
        .unwrap();
    client
        .append("card-1", ExpectedVersion::Exact(1), vec![ev("Mine", 2)])
        .await
        .unwrap();
    client
        .append("card-2", ExpectedVersion::NoStream, vec![ev("Other", 1)])
        .await
        .unwrap();
    // Meanwhile another client created card-1 on the server.
    server
        .append("card-1", ExpectedVersion::NoStream, vec![ev("Theirs", 1)])
        .await
        .unwrap();

    let outcome = within(client.flush()).await;
    let conflicts = match outcome {
        Err(SyncError::Conflicts(conflicts)) => conflicts,
        other => panic!("expected conflicts, got {other:?}"),
    };
    assert_eq!(conflicts.len(), 1);
    let conflict = &conflicts[0];
    assert_eq!(conflict.stream, "card-1");
    assert_eq!(conflict.current_version, 1);
    let dropped: Vec<&str> = conflict
        .pending
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(dropped, vec!["Mine", "Mine"]);
    assert!(conflict.pending.iter().all(|e| e.position == 0));
    assert_eq!(conflict.theirs.len(), 1);
    assert_eq!(conflict.theirs[0].event_type, "Theirs");
    assert_eq!(client.status().conflicts, conflicts);
    client.clear_reports();
    assert!(client.status().conflicts.is_empty());
    assert!(client.pending().await.unwrap().is_empty());
    // card-2 went through; the mirror equals the server.
    assert_eq!(server.stream_version("card-2").await.unwrap(), 1);
    assert_eq!(
        all(client.mirror(), Filter::default()).await,
        all(&server, Filter::default()).await
    );
}

/// A callback's resolution (new events against the new version) lands; the callback sees both
/// sides.
pub async fn sync_conflict_resolution_lands_against_the_new_version<S: SyncStorage>(
    stores: impl MakeStore<S>,
) {
    let (server, _g1) = stores.fresh().await;
    let (local, _g2) = stores.fresh().await;
    server
        .append("card-1", ExpectedVersion::NoStream, vec![ev("Created", 0)])
        .await
        .unwrap();
    let transport = InProcessTransport::new(server.clone());
    let seen: Arc<Mutex<Vec<SyncConflict>>> = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let client = SyncClient::builder(local, transport.clone())
        .on_conflict(move |conflict: SyncConflict| {
            log.lock().unwrap().push(conflict.clone());
            let merged = conflict.pending.len() as u64;
            async move { Resolution::Append(vec![ev("Merged", merged)]) }
        })
        .open()
        .await
        .unwrap();
    within(client.flush()).await.unwrap();
    client
        .append("card-1", ExpectedVersion::Exact(1), vec![ev("Renamed", 1)])
        .await
        .unwrap();
    client
        .append("card-1", ExpectedVersion::Exact(2), vec![ev("Moved", 1)])
        .await
        .unwrap();
    server
        .append(
            "card-1",
            ExpectedVersion::Exact(1),
            vec![ev("TheirRename", 1)],
        )
        .await
        .unwrap();

    within(client.flush()).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].stream, "card-1");
    assert_eq!(seen[0].current_version, 2);
    let pending: Vec<&str> = seen[0]
        .pending
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(pending, vec!["Renamed", "Moved"]);
    let theirs: Vec<&str> = seen[0]
        .theirs
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(theirs, vec!["TheirRename"]);
    let on_server: Vec<(u64, String)> = server
        .read_stream("card-1", ReadStreamOptions::new())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.version, e.event_type))
        .collect();
    assert_eq!(
        on_server,
        vec![
            (1, "Created".to_owned()),
            (2, "TheirRename".to_owned()),
            (3, "Merged".to_owned())
        ]
    );
    assert!(
        client.status().conflicts.is_empty(),
        "resolved, not dropped"
    );
    assert_eq!(
        all(client.mirror(), Filter::default()).await,
        all(&server, Filter::default()).await
    );
}

/// A filtered mirror keeps the server's positions (gaps included), and a projection over it
/// computes what the same projection computes on the server.
pub async fn sync_mirror_positions_and_projection_equal_the_servers<S: SyncStorage>(
    stores: impl MakeStore<S>,
) {
    let (server, _g1) = stores.fresh().await;
    let (local, _g2) = stores.fresh().await;
    for i in 0..30u64 {
        let stream = match i % 3 {
            0 => format!("acc-{}", i % 4),
            1 => format!("log-{}", i % 2),
            _ => format!("acc-{}", i % 5),
        };
        server
            .append(&stream, ExpectedVersion::Any, vec![ev("Deposited", i)])
            .await
            .unwrap();
    }
    let transport = InProcessTransport::new(server.clone());
    let filter = Filter::new().stream_prefix("acc-");
    let client = SyncClient::builder(local, transport.clone())
        .options(SyncOptions {
            pull_limit: 7,
            ..SyncOptions::default()
        })
        .filter(filter.clone())
        .open()
        .await
        .unwrap();
    client
        .append(
            "acc-9",
            ExpectedVersion::NoStream,
            vec![ev("Deposited", 100)],
        )
        .await
        .unwrap();
    within(client.flush()).await.unwrap();
    let mirrored = all(client.mirror(), Filter::default()).await;
    assert_eq!(mirrored, all(&server, filter.clone()).await);
    assert!(
        mirrored
            .windows(2)
            .any(|w| w[1].position > w[0].position + 1),
        "gaps kept"
    );
    assert_eq!(
        client.mirror().head().await.unwrap(),
        server.head().await.unwrap()
    );
    // Reads by position on the mirror behave like the server's.
    let after = mirrored[3].position;
    let page = client
        .mirror()
        .read_all(ReadAllOptions::new().from_position(after).max_count(2))
        .await
        .unwrap();
    assert_eq!(page[..], mirrored[4..6]);
    let back = client
        .mirror()
        .read_all(ReadAllOptions::backward().from_position(after).max_count(2))
        .await
        .unwrap();
    assert_eq!(back, vec![mirrored[2].clone(), mirrored[1].clone()]);

    let on_mirror = project(client.mirror().clone(), None).await;
    let on_server = project(server.clone(), Some(filter)).await;
    assert_eq!(on_mirror, on_server);
    assert!(!on_mirror.is_empty());
}

/// Balances per stream and the last position handled, by a projector.
async fn project<S: crate::Storage>(
    store: EventStore<S>,
    filter: Option<Filter>,
) -> Vec<(String, u64, u64)> {
    let head = store.head().await.unwrap();
    let state: Arc<Mutex<HashMap<String, (u64, u64)>>> = Arc::new(Mutex::new(HashMap::new()));
    let sink = Arc::clone(&state);
    let mut projector = Projector::new(store);
    let options = match filter {
        Some(filter) => ProjectionOptions::default().filter(filter),
        None => ProjectionOptions::default(),
    };
    projector
        .add("balances", options, move |events: Vec<RecordedEvent>| {
            let mut state = sink.lock().unwrap();
            for event in events {
                let entry = state.entry(event.stream_id.clone()).or_default();
                entry.0 += event.data["n"].as_u64().unwrap_or(0);
                entry.1 = event.position;
            }
            futures::future::ready(Ok::<(), String>(()))
        })
        .unwrap();
    let handle = projector.handle();
    let watcher = async {
        while handle.checkpoint("balances").await.unwrap() < head {
            sleep(Duration::from_millis(5)).await;
        }
        handle.stop();
    };
    let (ran, ()) = within(async { futures::join!(projector.run(), watcher) }).await;
    ran.unwrap();
    let mut out: Vec<(String, u64, u64)> = state
        .lock()
        .unwrap()
        .iter()
        .map(|(stream, (sum, last))| (stream.clone(), *sum, *last))
        .collect();
    out.sort();
    out
}

/// A server store replaced by another (new store id): the client rebuilds its mirror from the
/// new store and keeps its outbox, which then goes to the new store.
pub async fn sync_store_id_change_rebuilds_the_mirror_and_keeps_the_outbox<S: SyncStorage>(
    stores: impl MakeStore<S>,
) {
    let (server, _g1) = stores.fresh().await;
    let (local, _g2) = stores.fresh().await;
    for i in 0..5 {
        server
            .append("old-1", ExpectedVersion::Any, vec![ev("Old", i)])
            .await
            .unwrap();
    }
    let transport = InProcessTransport::new(server.clone());
    let client = client(local, &transport).await;
    within(client.flush()).await.unwrap();
    let old_id = client.status().store_id.unwrap();
    assert_eq!(client.mirror().head().await.unwrap(), 5);

    let (replacement, _g3) = stores.fresh().await;
    replacement
        .append(
            "new-1",
            ExpectedVersion::Any,
            vec![ev("New", 1), ev("New", 2)],
        )
        .await
        .unwrap();
    let new_id = replacement.store_id().await.unwrap();
    assert_ne!(new_id, old_id);
    transport.set_online(false);
    client
        .append("mine-1", ExpectedVersion::NoStream, vec![ev("Mine", 1)])
        .await
        .unwrap();
    assert!(client.sync_once().await.is_err());
    transport.replace_server(replacement.clone());
    transport.set_online(true);

    within(client.flush()).await.unwrap();
    assert_eq!(client.status().store_id, Some(new_id));
    assert_eq!(replacement.stream_version("mine-1").await.unwrap(), 1);
    let mirrored = all(client.mirror(), Filter::default()).await;
    assert_eq!(mirrored, all(&replacement, Filter::default()).await);
    assert!(mirrored.iter().all(|e| e.stream_id != "old-1"));
    assert_eq!(client.status().pending, 0);
}

/// Many events appended offline are each confirmed exactly once, in order per stream, through
/// pushes and pulls no larger than the server allows.
pub async fn sync_offline_burst_is_confirmed_once_in_order_with_bounded_pages<S: SyncStorage>(
    stores: impl MakeStore<S>,
) {
    const STREAMS: u64 = 20;
    const PER_STREAM: u64 = 500;
    let (server, _g1) = stores.fresh().await;
    let (local, _g2) = stores.fresh().await;
    let transport = InProcessTransport::new(server.clone()).with_options(SyncServerOptions {
        max_push_batches: 100,
        max_page_size: 250,
        ..SyncServerOptions::default()
    });
    let client = SyncClient::builder(local, transport.clone())
        .options(SyncOptions {
            push_batches: 100,
            pull_limit: 1_000,
            ..SyncOptions::default()
        })
        .open()
        .await
        .unwrap();
    transport.set_online(false);
    for round in 0..PER_STREAM / 5 {
        for stream in 0..STREAMS {
            // Five events per append, against the version confirmed + pending.
            let events = (0..5).map(|i| ev("Burst", round * 5 + i)).collect();
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
    assert_eq!(client.status().pending as u64, STREAMS * PER_STREAM);
    assert!(client.flush().await.is_err(), "offline");
    transport.set_online(true);
    // Thousands of transactions on both ends: longer than the usual bound.
    let flushed = select(
        Box::pin(client.flush()),
        Box::pin(sleep(Duration::from_secs(120))),
    );
    match flushed.await {
        Either::Left((flushed, _)) => flushed.unwrap(),
        Either::Right(_) => panic!("the burst did not sync within 120 s"),
    }

    let on_server = all(&server, Filter::default()).await;
    assert_eq!(on_server.len() as u64, STREAMS * PER_STREAM);
    let mut ids: Vec<&str> = on_server.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, STREAMS * PER_STREAM, "each event once");
    for stream in 0..STREAMS {
        let events = server
            .read_stream(&format!("s-{stream}"), ReadStreamOptions::new())
            .await
            .unwrap();
        let ns: Vec<u64> = events
            .iter()
            .map(|e| e.data["n"].as_u64().unwrap())
            .collect();
        assert_eq!(ns, (0..PER_STREAM).collect::<Vec<_>>(), "in order");
    }
    assert_eq!(all(client.mirror(), Filter::default()).await, on_server);
    assert_eq!(client.status().pending, 0);
}

/// A token limited to a prefix pulls only its streams; a push outside it is rejected, reported
/// and leaves the outbox.
pub async fn sync_prefix_token_filters_pull_and_rejects_push_outside<S: SyncStorage>(
    stores: impl MakeStore<S>,
) {
    let (server, _g1) = stores.fresh().await;
    let (local, _g2) = stores.fresh().await;
    for stream in ["team-a-1", "team-b-1", "team-a-2"] {
        server
            .append(stream, ExpectedVersion::Any, vec![ev("E", 1)])
            .await
            .unwrap();
    }
    let tokens = HashMap::from([(
        "a-token".to_owned(),
        SyncAccess::prefixes(Some(vec!["team-a-".into()]), Some(vec!["team-a-".into()])),
    )]);
    let transport = InProcessTransport::with_tokens(server.clone(), tokens, Some("a-token".into()));
    let client = client(local, &transport).await;
    client
        .append("team-a-3", ExpectedVersion::NoStream, vec![ev("Mine", 1)])
        .await
        .unwrap();
    client
        .append("team-b-1", ExpectedVersion::Any, vec![ev("Sneaky", 1)])
        .await
        .unwrap();
    let rejected = match within(client.flush()).await {
        Err(SyncError::Rejected(rejected)) => rejected,
        other => panic!("expected a rejection, got {other:?}"),
    };
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].stream, "team-b-1");
    assert_eq!(rejected[0].code, "Forbidden");
    assert_eq!(rejected[0].dropped[0].event_type, "Sneaky");
    assert_eq!(client.status().rejected, rejected);
    assert_eq!(server.stream_version("team-b-1").await.unwrap(), 1);
    assert_eq!(server.stream_version("team-a-3").await.unwrap(), 1);
    let mirrored = all(client.mirror(), Filter::default()).await;
    assert_eq!(
        mirrored,
        all(&server, Filter::new().stream_prefix("team-a-")).await
    );
    assert!(mirrored.iter().all(|e| e.stream_id.starts_with("team-a-")));
}

/// A 401 fails the round and keeps the outbox; with a reauth hook the client gets a new token
/// and goes on.
pub async fn sync_unauthorized_reauths_without_losing_the_outbox<S: SyncStorage>(
    stores: impl MakeStore<S>,
) {
    let (server, _g1) = stores.fresh().await;
    let (local, guard) = stores.fresh().await;
    let tokens = HashMap::from([("fresh".to_owned(), SyncAccess::full())]);
    let transport = InProcessTransport::with_tokens(server.clone(), tokens, Some("expired".into()));
    let without_hook = client(local, &transport).await;
    without_hook
        .append("a-1", ExpectedVersion::NoStream, vec![ev("A", 1)])
        .await
        .unwrap();
    let failed = without_hook.sync_once().await.unwrap_err();
    assert!(
        matches!(&failed, SyncError::Transport(e) if e.kind == TransportErrorKind::Unauthorized)
    );
    assert_eq!(without_hook.status().phase, SyncPhase::Error);
    assert_eq!(without_hook.pending().await.unwrap().len(), 1);
    without_hook.stop();
    assert_eq!(without_hook.sync_once().await, Err(SyncError::Stopped));

    let asked = Arc::new(Mutex::new(0));
    let count = Arc::clone(&asked);
    let reauthed = SyncClient::builder(without_hook.mirror().clone(), transport.clone())
        .on_unauthorized(move || {
            *count.lock().unwrap() += 1;
            async { Some("fresh".to_owned()) }
        })
        .open()
        .await
        .unwrap();
    within(reauthed.flush()).await.unwrap();
    assert_eq!(*asked.lock().unwrap(), 1);
    assert_eq!(server.stream_version("a-1").await.unwrap(), 1);
    drop(guard);
}

/// The outbox and the sync state survive a restart (a reopened store, a page reload).
pub async fn sync_outbox_survives_a_reopen<S, R, RF>(
    stores: impl MakeStore<S>,
    local: EventStore<S>,
    reopen: R,
) where
    S: SyncStorage,
    R: Fn() -> RF,
    RF: Future<Output = EventStore<S>>,
{
    let (server, _g1) = stores.fresh().await;
    server
        .append("seen-1", ExpectedVersion::Any, vec![ev("S", 1)])
        .await
        .unwrap();
    let transport = InProcessTransport::new(server.clone());
    let first = client(local, &transport).await;
    within(first.flush()).await.unwrap();
    transport.set_online(false);
    first
        .append("todo-1", ExpectedVersion::NoStream, vec![ev("Added", 1)])
        .await
        .unwrap();
    let before = first.pending().await.unwrap();
    let state_before = first.mirror().storage().load_sync().await.unwrap().state;
    first.mirror().close();
    drop(first);

    let reopened = reopen().await;
    let second = client(reopened, &transport).await;
    assert_eq!(second.pending().await.unwrap(), before);
    assert_eq!(second.status().pending, 1);
    assert_eq!(second.status().last_pulled, 1);
    assert_eq!(
        second.mirror().storage().load_sync().await.unwrap().state,
        state_before
    );
    assert_eq!(before[0].state, OutboxState::Pending);
    transport.set_online(true);
    within(second.flush()).await.unwrap();
    assert_eq!(server.stream_version("todo-1").await.unwrap(), 1);
    assert_eq!(
        all(second.mirror(), Filter::default()).await,
        all(&server, Filter::default()).await
    );
}

/// The run loop pushes local appends, pulls the server's live, backs off while offline and
/// catches up when back; stop ends it.
pub async fn sync_run_loop_pushes_pulls_and_recovers<S: SyncStorage>(stores: impl MakeStore<S>) {
    let (server, _g1) = stores.fresh().await;
    let (local, _g2) = stores.fresh().await;
    let transport = InProcessTransport::new(server.clone());
    let client = SyncClient::builder(local, transport.clone())
        .options(SyncOptions {
            long_poll: Duration::from_millis(500),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            ..SyncOptions::default()
        })
        .open()
        .await
        .unwrap();
    let scenario = async {
        client
            .append("a-1", ExpectedVersion::NoStream, vec![ev("Local", 1)])
            .await
            .unwrap();
        while server.stream_version("a-1").await.unwrap() < 1 {
            sleep(Duration::from_millis(5)).await;
        }
        // An event from elsewhere arrives through the long poll.
        server
            .append("b-1", ExpectedVersion::Any, vec![ev("Remote", 1)])
            .await
            .unwrap();
        while client.mirror().stream_version("b-1").await.unwrap() < 1 {
            sleep(Duration::from_millis(5)).await;
        }
        // Offline: appends wait in the outbox while the loop backs off.
        transport.set_online(false);
        client
            .append("a-1", ExpectedVersion::Exact(1), vec![ev("Local", 2)])
            .await
            .unwrap();
        while client.status().phase != SyncPhase::Offline {
            client.status_changed().await;
        }
        assert_eq!(client.status().pending, 1);
        transport.set_online(true);
        while client.status().pending > 0 || client.status().phase != SyncPhase::Online {
            sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(server.stream_version("a-1").await.unwrap(), 2);
        client.stop();
    };
    within(async { futures::join!(client.clone().run(), scenario) }).await;
    assert!(client.is_stopped());
    assert_eq!(client.status().phase, SyncPhase::Offline);
    assert_eq!(
        all(client.mirror(), Filter::default()).await,
        all(&server, Filter::default()).await
    );
}
