//! Typed events: plain serde enums in, plain serde enums out.
//!
//! An enum such as
//! ```
//! #[derive(serde::Serialize, serde::Deserialize)]
//! enum AccountEvent { Opened { owner: String }, Deposited { amount: u64 } }
//! ```
//! serializes in serde's externally tagged form, `{"Deposited": {"amount": 10}}`: the variant
//! name becomes the event type and the inner value the event data. Unit variants become an
//! event with `null` data. Nothing beyond the derives is needed.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::types::{NewEvent, RecordedEvent};

impl NewEvent {
    /// Encodes a typed event: the enum variant's name becomes the event type.
    ///
    /// ```
    /// # #[derive(serde::Serialize)]
    /// # enum AccountEvent { Deposited { amount: u64 } }
    /// let event = evstore::NewEvent::from_typed(&AccountEvent::Deposited { amount: 10 })?;
    /// assert_eq!(event.event_type, "Deposited");
    /// assert_eq!(event.data, serde_json::json!({ "amount": 10 }));
    /// # Ok::<(), evstore::Error>(())
    /// ```
    pub fn from_typed<T: Serialize>(event: &T) -> Result<Self> {
        let codec_error = |reason: String| Error::Codec {
            event_type: String::new(),
            reason,
        };
        match serde_json::to_value(event).map_err(|e| codec_error(e.to_string()))? {
            Value::String(variant) => Ok(NewEvent::new(variant, Value::Null)),
            Value::Object(map) if map.len() == 1 => {
                let (variant, data) = map.into_iter().next().expect("one entry");
                Ok(NewEvent::new(variant, data))
            }
            other => Err(codec_error(format!(
                "a typed event must be an enum in serde's externally tagged form \
                 ({{\"Variant\": data}}); got {}",
                kind_of(&other)
            ))),
        }
    }
}

impl RecordedEvent {
    /// Decodes this event into the typed enum `T`, using the event type as the variant name.
    ///
    /// An event type `T` does not know is an [`Error::Codec`] naming the type.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        let tagged = || {
            let mut map = serde_json::Map::with_capacity(1);
            map.insert(self.event_type.clone(), self.data.clone());
            Value::Object(map)
        };
        let attempt = if self.data.is_null() {
            // A unit variant, or a variant whose data happens to be null.
            serde_json::from_value(Value::String(self.event_type.clone()))
                .or_else(|_| serde_json::from_value(tagged()))
        } else {
            serde_json::from_value(tagged())
        };
        attempt.map_err(|e| Error::Codec {
            event_type: self.event_type.clone(),
            reason: e.to_string(),
        })
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object without exactly one key",
    }
}
