//! The JSON-lines export and import, on every backend: each test takes two fresh stores of the
//! backend under test (export from one, import into the other).

use serde_json::{json, Value};

use super::{events, new_id};
use crate::storage::Storage;
use crate::{
    export_jsonl, import_jsonl, ErrorKind, EventStore, ExpectedVersion, ExportOptions, NewEvent,
    ReadAllOptions, RecordedEvent, EXPORT_FORMAT, IMPORT_BATCH_EVENTS,
};

async fn export<S: Storage>(store: &EventStore<S>) -> String {
    let mut out = Vec::new();
    export_jsonl(store.storage(), &mut out, &ExportOptions::default())
        .await
        .expect("export");
    String::from_utf8(out).expect("an export is UTF-8")
}

async fn everything<S: Storage>(store: &EventStore<S>) -> Vec<RecordedEvent> {
    store.read_all(ReadAllOptions::new()).await.unwrap()
}

/// The events as import keeps them: everything but the positions.
fn kept(events: &[RecordedEvent]) -> Vec<RecordedEvent> {
    events
        .iter()
        .map(|event| RecordedEvent {
            position: 0,
            ..event.clone()
        })
        .collect()
}

/// Both stores hold the same events (but for positions), in the same order.
async fn assert_same_events<S: Storage>(source: &EventStore<S>, target: &EventStore<S>) {
    assert_eq!(
        kept(&everything(source).await),
        kept(&everything(target).await)
    );
}

/// Streams interleaved, with explicit ids, metadata, correlation and causation.
async fn fixture<S: Storage>(store: &EventStore<S>) {
    for round in 0..3u64 {
        for stream in ["account-1", "account-2", "order-7"] {
            let event = NewEvent::new("Happened", json!({ "round": round, "text": "ä\n\"q\"" }))
                .with_id(new_id())
                .with_metadata(json!({ "user": "ada", "round": round }))
                .with_correlation_id(format!("corr-{round}"));
            let event = if round > 0 {
                event.with_causation_id("cause")
            } else {
                event
            };
            store
                .append(stream, ExpectedVersion::Exact(round), vec![event])
                .await
                .unwrap();
        }
    }
    store
        .append("account-1", ExpectedVersion::Any, events(4))
        .await
        .unwrap();
}

/// Export → import keeps ids, streams, versions, types, data, metadata, recorded times,
/// correlation and causation, in the same global order; importing again adds nothing; a later
/// export imports only what is new.
pub async fn export_import_round_trip<S: Storage>(source: EventStore<S>, target: EventStore<S>) {
    fixture(&source).await;
    let file = export(&source).await;
    let mut lines = file.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["format"], EXPORT_FORMAT);
    assert_eq!(header["version"], 1);
    assert_eq!(header["head"], 13);
    assert!(header["exportedAt"].as_u64().unwrap() > 0);
    assert!(header.get("storeId").is_some());
    let first: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    for field in [
        "id", "streamId", "version", "position", "type", "data", "metadata",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    assert!(first["recordedAt"].as_u64().is_some());
    assert_eq!(first["correlationId"], "corr-0");
    assert_eq!(file.lines().count(), 14);

    let summary = import_jsonl(target.storage(), file.as_bytes())
        .await
        .unwrap();
    assert_eq!(
        (summary.events, summary.imported, summary.already_present),
        (13, 13, 0)
    );
    assert_eq!(summary.header.head, 13);
    let (original, imported) = (everything(&source).await, everything(&target).await);
    assert_eq!(kept(&original), kept(&imported));
    assert!(imported.windows(2).all(|w| w[0].position < w[1].position));

    let again = import_jsonl(target.storage(), file.as_bytes())
        .await
        .unwrap();
    assert_eq!((again.imported, again.already_present), (0, 13));
    assert_eq!(
        target.head().await.unwrap(),
        imported.last().unwrap().position
    );

    source
        .append("order-7", ExpectedVersion::Exact(3), events(2))
        .await
        .unwrap();
    let later = export(&source).await;
    let more = import_jsonl(target.storage(), later.as_bytes())
        .await
        .unwrap();
    assert_eq!((more.imported, more.already_present), (2, 13));
    assert_same_events(&source, &target).await;
}

/// A long stream goes in several batches; an import cut short resumes where it stopped, with
/// any batch boundaries.
pub async fn import_resumes_and_batches_long_streams<S: Storage>(
    source: EventStore<S>,
    target: EventStore<S>,
) {
    let total = IMPORT_BATCH_EVENTS as u64 * 2 + 37;
    source
        .append("ledger-1", ExpectedVersion::NoStream, events(total))
        .await
        .unwrap();
    let file = export(&source).await;
    // Header + the first 700 events: a file cut in the middle of a batch.
    let cut: String = file.lines().take(701).map(|l| format!("{l}\n")).collect();
    let first = import_jsonl(target.storage(), cut.as_bytes())
        .await
        .unwrap();
    assert_eq!(first.imported, 700);
    let rest = import_jsonl(target.storage(), file.as_bytes())
        .await
        .unwrap();
    assert_eq!((rest.imported, rest.already_present), (total - 700, 700));
    let imported = everything(&target).await;
    assert_eq!(imported.len() as u64, total);
    assert!(imported.iter().zip(1..).all(|(e, v)| e.version == v));
    assert_same_events(&source, &target).await;
}

/// Every bad input is an `InvalidInput` naming its line, and nothing of the batch it belongs to
/// is written.
pub async fn import_rejects_bad_lines<S: Storage>(source: EventStore<S>, target: EventStore<S>) {
    source
        .append("a-1", ExpectedVersion::NoStream, events(3))
        .await
        .unwrap();
    let file = export(&source).await;
    let lines: Vec<String> = file.lines().map(str::to_owned).collect();
    let with = |index: usize, edit: &dyn Fn(&mut Value)| -> String {
        let mut out = lines.clone();
        let mut value: Value = serde_json::from_str(&out[index]).unwrap();
        edit(&mut value);
        out[index] = value.to_string();
        out.join("\n")
    };
    let replaced = |index: usize, text: &str| -> String {
        let mut out = lines.clone();
        out[index] = text.to_owned();
        out.join("\n")
    };
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        (lines[1..].join("\n"), "line 1"),
        (replaced(0, "{\"format\":\"other\"}"), "line 1"),
        (with(0, &|h| h["version"] = json!(2)), "newer"),
        (replaced(3, "{not json"), "line 4"),
        (replaced(2, "[]"), "line 3"),
        (with(3, &|e| e["version"] = json!(4)), "line 4"),
        (with(2, &|e| e["position"] = json!(1)), "line 3"),
        (with(2, &|e| e["id"] = json!("not-a-uuid")), "line 3"),
        (with(3, &|e| e["metadata"] = json!([1])), "line 4"),
        (with(3, &|e| e["streamId"] = json!("")), "line 4"),
        (with(2, &|e| e["type"] = json!("")), "line 3"),
        (with(3, &|e| e["id"] = lines_id(&lines[1])), "line 4"),
        (with(1, &|e| e["version"] = json!(0)), "line 2"),
    ];
    for (input, expected) in cases {
        let error = import_jsonl(target.storage(), input.as_bytes())
            .await
            .expect_err(&input);
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{input}: {error}");
        assert!(error.to_string().contains(expected), "{input}: {error}");
        assert_eq!(target.head().await.unwrap(), 0, "{input} wrote something");
    }

    // A stream that exists in the target with other events: the line is named, nothing written.
    target
        .append("a-1", ExpectedVersion::NoStream, events(1))
        .await
        .unwrap();
    let error = import_jsonl(target.storage(), file.as_bytes())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("line 2"), "{error}");
    assert!(error.to_string().contains("different event"), "{error}");
    assert_eq!(target.head().await.unwrap(), 1);

    // A stream whose earlier events are missing in the target.
    let tail = [lines[0].clone(), lines[3].clone()].join("\n");
    let error = import_jsonl(target.storage(), tail.replace("a-1", "b-1").as_bytes())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("line 2"), "{error}");
    assert!(error.to_string().contains("at version 0"), "{error}");
    assert_eq!(target.head().await.unwrap(), 1);
}

fn lines_id(line: &str) -> Value {
    serde_json::from_str::<Value>(line).unwrap()["id"].clone()
}
