//! Typed events: plain serde enums in, plain serde enums out.
//!
//! An enum such as
//! ```
//! #[derive(serde::Serialize, serde::Deserialize)]
//! enum AccountEvent { Opened { owner: String }, Deposited { amount: u64 } }
//! ```
//! in serde's default, externally tagged representation is a typed event with no boilerplate
//! beyond the derives: the variant name becomes the event type and the variant's content the
//! event data (`Deposited { amount: 10 }` → type `"Deposited"`, data `{"amount": 10}`; a unit
//! variant → `null` data; a newtype variant → its inner value; a tuple variant → an array).
//!
//! The variant is found from serde's own `serialize_*_variant` calls, never guessed from the JSON
//! shape, so anything else — a struct, an internally tagged, adjacently tagged or untagged enum,
//! a bare value — is a [`Error::Codec`] rather than an event with an invented type. Such data is
//! appended with an explicit type through [`NewEvent::from_data`] and read back with
//! [`RecordedEvent::decode_data`]. A `NaN` or infinite float in the data is a [`Error::Codec`]
//! too (JSON cannot hold it, and serde_json would silently write `null`).

mod finite;
mod variant;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::types::{NewEvent, RecordedEvent};

impl NewEvent {
    /// Encodes a typed event, an externally tagged serde enum: the variant's name becomes the
    /// event type and its content the data: `null` for a unit variant, the inner value for a
    /// newtype variant, an array for a tuple variant, an object for a struct variant.
    ///
    /// ```
    /// # #[derive(serde::Serialize)]
    /// # enum AccountEvent { Deposited { amount: u64 } }
    /// let event = evstore::NewEvent::from_typed(&AccountEvent::Deposited { amount: 10 })?;
    /// assert_eq!(event.event_type, "Deposited");
    /// assert_eq!(event.data, serde_json::json!({ "amount": 10 }));
    ///
    /// // A struct has no variant to name its type: refused, not guessed.
    /// #[derive(serde::Serialize)]
    /// struct Deposited { amount: u64 }
    /// let refused = evstore::NewEvent::from_typed(&Deposited { amount: 10 });
    /// assert_eq!(refused.unwrap_err().kind(), evstore::ErrorKind::Codec);
    /// # Ok::<(), evstore::Error>(())
    /// ```
    ///
    /// Errors ([`Error::Codec`]): `event` is not an externally tagged enum (a struct, a map, a
    /// bare value, an internally/adjacently tagged or untagged enum), its content holds a `NaN`
    /// or infinite float, or its `Serialize` implementation failed.
    pub fn from_typed<T: Serialize + ?Sized>(event: &T) -> Result<Self> {
        let (event_type, data) = variant::split_variant(event).map_err(CodecError::into_error)?;
        Ok(NewEvent::new(event_type, data))
    }

    /// An event of the given type whose data is any serde value — a struct, an internally
    /// tagged enum, a plain value: the explicit way to name the type of data that is not an
    /// externally tagged enum. Read it back with [`RecordedEvent::decode_data`].
    ///
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    /// struct Deposited { amount: u64 }
    ///
    /// let event = evstore::NewEvent::from_data("Deposited", &Deposited { amount: 10 })?;
    /// assert_eq!(event.event_type, "Deposited");
    /// assert_eq!(event.data, serde_json::json!({ "amount": 10 }));
    /// # Ok::<(), evstore::Error>(())
    /// ```
    ///
    /// Errors ([`Error::Codec`]): a `NaN` or infinite float in `data`, or a failing `Serialize`
    /// implementation. (The event type is checked when appended.)
    pub fn from_data<T: Serialize + ?Sized>(
        event_type: impl Into<String>,
        data: &T,
    ) -> Result<Self> {
        let event_type = event_type.into();
        match finite::to_json(data) {
            Ok(data) => Ok(NewEvent::new(event_type, data)),
            Err(error) => Err(Error::Codec {
                event_type,
                reason: error.to_string(),
            }),
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
        attempt.map_err(|e| self.codec_error(e))
    }

    /// Decodes this event's data alone into `T`, whatever the event type (the counterpart of
    /// [`NewEvent::from_data`]). Data that does not fit `T` is an [`Error::Codec`] naming the
    /// event type.
    pub fn decode_data<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(&self.data).map_err(|e| self.codec_error(e))
    }

    fn codec_error(&self, error: serde_json::Error) -> Error {
        Error::Codec {
            event_type: self.event_type.clone(),
            reason: error.to_string(),
        }
    }
}

/// What went wrong encoding a typed event, and where: the serializer error of [`variant`] and
/// [`finite`], turned into an [`Error::Codec`] at the end.
#[derive(Debug)]
struct CodecError {
    message: String,
    /// The variant being encoded, once known.
    variant: Option<String>,
    /// Field names and element indexes from the failing value up to the variant's content,
    /// innermost first.
    path: Vec<String>,
}

impl CodecError {
    fn new(message: impl Into<String>) -> Self {
        CodecError {
            message: message.into(),
            variant: None,
            path: Vec::new(),
        }
    }

    /// The failing value is inside field (or element) `name`.
    fn in_field(mut self, name: &str) -> Self {
        self.path.push(name.to_owned());
        self
    }

    fn in_variant(mut self, variant: &str) -> Self {
        self.variant = Some(variant.to_owned());
        self
    }

    fn into_error(self) -> Error {
        Error::Codec {
            event_type: self.variant.clone().unwrap_or_default(),
            reason: self.to_string(),
        }
    }
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if !self.path.is_empty() {
            let path: Vec<&str> = self.path.iter().rev().map(String::as_str).collect();
            write!(f, " (at `{}`)", path.join("."))?;
        }
        Ok(())
    }
}

impl std::error::Error for CodecError {}

impl serde::ser::Error for CodecError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        CodecError::new(message.to_string())
    }
}
