//! Typed events beyond the round trip of an externally tagged enum: what is refused, and the
//! explicit way to type data that is not such an enum.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{kind, stream, AccountEvent};
use crate::storage::Storage;
use crate::{Error, ErrorKind, EventStore, ExpectedVersion, NewEvent};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum InternallyTagged {
    Opened { owner: String },
    Frozen,
}

#[derive(Serialize)]
#[serde(tag = "t", content = "c")]
enum AdjacentlyTagged {
    Opened { owner: String },
}

#[derive(Serialize)]
#[serde(untagged)]
enum Untagged {
    Amount { amount: u64 },
    Name(String),
    Nothing,
}

/// A newtype around an event enum is that enum.
#[derive(Serialize)]
struct Wrapped(AccountEvent);

#[derive(Debug, Clone, Serialize)]
enum Measured {
    Temperature { celsius: f64 },
    Reading(u32, f32),
    Ratio(f64),
    Series { values: Vec<f64> },
}

fn codec_error<T: Serialize>(event: &T) -> Error {
    NewEvent::from_typed(event).expect_err("not a typed event")
}

/// Only an externally tagged enum names its event type; a struct, an internally, adjacently or
/// untagged enum, a bare value or a JSON value is a `Codec` error — never an event with a type
/// invented from the JSON shape — and nothing is appended.
pub async fn typed_events_need_an_externally_tagged_enum<S: Storage>(store: EventStore<S>) {
    let refused = [
        codec_error(&Deposited { amount: 1 }),
        codec_error(&InternallyTagged::Opened {
            owner: "ada".into(),
        }),
        codec_error(&InternallyTagged::Frozen),
        codec_error(&AdjacentlyTagged::Opened {
            owner: "ada".into(),
        }),
        codec_error(&Untagged::Amount { amount: 1 }),
        codec_error(&Untagged::Name("Opened".into())),
        codec_error(&Untagged::Nothing),
        codec_error(&"Opened"),
        codec_error(&7u32),
        codec_error(&Some(AccountEvent::Frozen)),
        codec_error(&json!({ "Opened": { "owner": "ada" } })),
    ];
    for error in refused {
        assert_eq!(error.kind(), ErrorKind::Codec, "{error}");
        assert!(error.to_string().contains("externally tagged"), "{error}");
    }
    assert_eq!(
        kind(
            store
                .append_typed("d-1", ExpectedVersion::Any, &[Deposited { amount: 1 }])
                .await
        ),
        ErrorKind::Codec
    );
    assert_eq!(store.head().await.unwrap(), 0);

    let wrapped = NewEvent::from_typed(&Wrapped(AccountEvent::Deposited { amount: 3 })).unwrap();
    assert_eq!(
        (wrapped.event_type.as_str(), wrapped.data),
        ("Deposited", json!({ "amount": 3 }))
    );
    // The stored form of an externally tagged enum is as it always was.
    let shapes = [
        (AccountEvent::Frozen, "Frozen", json!(null)),
        (AccountEvent::Renamed("x".into()), "Renamed", json!("x")),
        (
            AccountEvent::Opened {
                owner: "ada".into(),
            },
            "Opened",
            json!({ "owner": "ada" }),
        ),
    ];
    for (event, event_type, data) in shapes {
        let encoded = NewEvent::from_typed(&event).unwrap();
        assert_eq!(
            (encoded.event_type.as_str(), encoded.data),
            (event_type, data)
        );
    }
}

/// A `NaN` or infinite float anywhere in a typed event is a `Codec` error saying where (JSON
/// cannot hold it; serde_json alone would store `null`), and nothing is appended.
pub async fn typed_events_refuse_non_finite_floats<S: Storage>(store: EventStore<S>) {
    let cases = [
        (Measured::Temperature { celsius: f64::NAN }, "celsius"),
        (Measured::Reading(1, f32::INFINITY), "1"),
        (Measured::Ratio(f64::NEG_INFINITY), "Ratio"),
        (
            Measured::Series {
                values: vec![1.0, f64::NAN],
            },
            "values.1",
        ),
    ];
    for (event, place) in cases {
        let error = NewEvent::from_typed(&event).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Codec, "{error}");
        assert!(error.to_string().contains("NaN or infinity"), "{error}");
        assert!(error.to_string().contains(place), "{error} names {place}");
        assert_eq!(
            kind(
                store
                    .append_typed("m-1", ExpectedVersion::Any, &[event])
                    .await
            ),
            ErrorKind::Codec
        );
    }
    let error = NewEvent::from_data("Measured", &[0.5, f64::NAN]).unwrap_err();
    assert!(
        matches!(&error, Error::Codec { event_type, .. } if event_type == "Measured"),
        "{error:?}"
    );
    assert_eq!(store.head().await.unwrap(), 0);
    store
        .append_typed(
            "m-1",
            ExpectedVersion::NoStream,
            &[Measured::Temperature { celsius: -3.5 }],
        )
        .await
        .unwrap();
    assert_eq!(
        stream(&store, "m-1").await[0].data,
        json!({ "celsius": -3.5 })
    );
}

/// Data that is not an externally tagged enum is appended with an explicit event type
/// (`NewEvent::from_data`) and read back with `decode_data`.
pub async fn typed_data_with_an_explicit_type<S: Storage>(store: EventStore<S>) {
    let event = NewEvent::from_data("Deposited", &Deposited { amount: 10 }).unwrap();
    store
        .append("account-1", ExpectedVersion::NoStream, vec![event])
        .await
        .unwrap();
    let read = stream(&store, "account-1").await;
    assert_eq!(read[0].event_type, "Deposited");
    assert_eq!(read[0].data, json!({ "amount": 10 }));
    assert_eq!(
        read[0].decode_data::<Deposited>().unwrap(),
        Deposited { amount: 10 }
    );
    let error = read[0].decode_data::<Vec<u8>>().unwrap_err();
    assert!(
        matches!(&error, Error::Codec { event_type, .. } if event_type == "Deposited"),
        "{error:?}"
    );
}
