//! Listing streams: every stream with events, in stream-id order, by prefix, in pages.

use super::{event, events, kind};
use crate::storage::Storage;
use crate::{
    ErrorKind, EventStore, ExpectedVersion, ListStreamsOptions, StreamInfo, StreamMetadata,
};

/// Streams appended in this order, with this many events each.
const STREAMS: &[(&str, u64)] = &[
    ("order-2", 1),
    ("account-10", 3),
    ("account-2", 2),
    ("ledger", 1),
    ("account-1", 1),
    ("accounts", 1),
    ("account-ä", 2),
];

async fn fixture<S: Storage>(store: &EventStore<S>) {
    for (stream, count) in STREAMS {
        store
            .append(stream, ExpectedVersion::NoStream, events(*count))
            .await
            .unwrap();
    }
    // One more event of a stream listed early: versions and positions are the last event's.
    store
        .append(
            "account-10",
            ExpectedVersion::Exact(3),
            vec![event("Late", 1)],
        )
        .await
        .unwrap();
}

fn ids(streams: &[StreamInfo]) -> Vec<&str> {
    streams.iter().map(|s| s.stream_id.as_str()).collect()
}

async fn list<S: Storage>(store: &EventStore<S>, options: ListStreamsOptions) -> Vec<StreamInfo> {
    store.list_streams(options).await.expect("list_streams")
}

/// Each listed stream's version and position are those of its last readable event.
async fn assert_last_events<S: Storage>(store: &EventStore<S>, streams: &[StreamInfo]) {
    for info in streams {
        let last = store
            .read_stream(
                &info.stream_id,
                crate::ReadStreamOptions::backward().max_count(1),
            )
            .await
            .unwrap();
        assert_eq!(
            (info.version, info.position),
            (last[0].version, last[0].position),
            "{info:?}"
        );
    }
}

/// Every stream with events, ordered by stream id (byte order: `-` before letters, `ä` after
/// ASCII), with its version and the position of its last event.
pub async fn list_streams_in_stream_id_order<S: Storage>(store: EventStore<S>) {
    assert_eq!(list(&store, ListStreamsOptions::new()).await, []);
    fixture(&store).await;
    let streams = list(&store, ListStreamsOptions::new()).await;
    assert_eq!(
        ids(&streams),
        [
            "account-1",
            "account-10",
            "account-2",
            "account-ä",
            "accounts",
            "ledger",
            "order-2"
        ]
    );
    assert_last_events(&store, &streams).await;
    assert_eq!(
        streams[1],
        StreamInfo {
            stream_id: "account-10".into(),
            version: 4,
            position: 12,
        }
    );
    // The backend's own page limit.
    let page = store.storage().list_streams("", None, 3).await.unwrap();
    assert_eq!(ids(&page), ["account-1", "account-10", "account-2"]);
}

/// A prefix narrows the listing; `after` (exclusive, any id) and `max_count` page through it.
pub async fn list_streams_by_prefix_in_pages<S: Storage>(store: EventStore<S>) {
    fixture(&store).await;
    let accounts = ListStreamsOptions::new().prefix("account-");
    assert_eq!(
        ids(&list(&store, accounts.clone()).await),
        ["account-1", "account-10", "account-2", "account-ä"]
    );
    let mut pages = Vec::new();
    let mut options = accounts.clone().max_count(3);
    loop {
        let page = list(&store, options.clone()).await;
        let Some(last) = page.last() else { break };
        options = options.after(last.stream_id.clone());
        pages.push(ids(&page).into_iter().map(String::from).collect::<Vec<_>>());
    }
    assert_eq!(
        pages,
        [
            vec!["account-1", "account-10", "account-2"],
            vec!["account-ä"]
        ]
    );
    assert_eq!(
        ids(&list(&store, accounts.clone().after("account-15")).await),
        ["account-2", "account-ä"],
        "`after` need not exist"
    );
    assert_eq!(
        ids(&list(&store, accounts.clone().after("a")).await),
        ["account-1", "account-10", "account-2", "account-ä"],
        "`after` before the prefix"
    );
    assert_eq!(list(&store, accounts.after("zzz")).await, []);
    assert_eq!(
        ids(&list(&store, ListStreamsOptions::new().prefix("l")).await),
        ["ledger"]
    );
    assert_eq!(
        ids(&list(&store, ListStreamsOptions::new().prefix("account")).await).len(),
        5
    );
    assert_eq!(
        list(&store, ListStreamsOptions::new().prefix("nothing")).await,
        []
    );
    assert_eq!(
        ids(&list(&store, ListStreamsOptions::new().after("ledger")).await),
        ["order-2"]
    );
}

/// `max_count` 0, an empty or control-character `after` are `InvalidInput`.
pub async fn list_streams_rejects_bad_input<S: Storage>(store: EventStore<S>) {
    for options in [
        ListStreamsOptions::new().max_count(0),
        ListStreamsOptions::new().after(""),
        ListStreamsOptions::new().after("a\0"),
        ListStreamsOptions::new().prefix("\u{1b}"),
    ] {
        assert_eq!(
            kind(store.list_streams(options.clone()).await),
            ErrorKind::InvalidInput,
            "{options:?}"
        );
    }
}

/// Streams a lifecycle operation touched are listed by their events alone: once, with the last
/// stored event's version and position, paged like any other; a stream with no events left (soft
/// deleted, tombstoned) or none ever (only metadata) is not listed.
pub async fn list_streams_with_lifecycle_records<S: Storage>(store: EventStore<S>) {
    for stream in ["log-a", "log-b", "log-c", "log-d", "log-e"] {
        store
            .append(stream, ExpectedVersion::NoStream, events(3))
            .await
            .unwrap();
    }
    let any = ExpectedVersion::Any;
    store.delete_stream("log-a", any).await.unwrap();
    store.tombstone_stream("log-c", any).await.unwrap();
    store
        .set_stream_metadata("log-b", StreamMetadata::new().max_count(1), any)
        .await
        .unwrap();
    store.truncate_before("log-d", 3, any).await.unwrap();
    store
        .set_stream_metadata("log-0", StreamMetadata::new().max_count(5), any)
        .await
        .unwrap();
    store
        .set_stream_metadata("log-f", StreamMetadata::new().max_count(5), any)
        .await
        .unwrap();
    let logs = ListStreamsOptions::new().prefix("log-");
    let streams = list(&store, logs.clone()).await;
    assert_eq!(ids(&streams), ["log-b", "log-d", "log-e"]);
    assert_last_events(&store, &streams).await;
    assert!(streams.iter().all(|info| info.version == 3), "{streams:?}");
    let mut pages = Vec::new();
    let mut options = logs.max_count(1);
    loop {
        let page = list(&store, options.clone()).await;
        let Some(last) = page.last() else { break };
        options = options.after(last.stream_id.clone());
        pages.extend(ids(&page).into_iter().map(String::from));
    }
    assert_eq!(pages, ["log-b", "log-d", "log-e"]);
    // Appending again to the soft-deleted stream lists it again, once.
    store
        .append("log-a", ExpectedVersion::NoStream, events(1))
        .await
        .unwrap();
    let streams = list(&store, ListStreamsOptions::new().prefix("log-")).await;
    assert_eq!(ids(&streams), ["log-a", "log-b", "log-d", "log-e"]);
    assert_eq!(streams[0].version, 4);
}
