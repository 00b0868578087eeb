//! Finding the event type of a typed event: a serializer that captures the enum variant serde
//! names in its `serialize_*_variant` calls, and serializes the variant's content to JSON.
//!
//! Only an externally tagged enum (serde's default representation) calls those with its own
//! variant; everything else — a struct, a map, a bare value, an internally or adjacently tagged
//! or untagged enum (serde writes those through `serialize_struct`, `serialize_map` or the
//! content's own calls) — is refused, rather than guessing a type from the JSON shape.

use serde::ser::{self, Impossible, Serialize, SerializeStructVariant, SerializeTupleVariant};
use serde_json::Value;

use super::finite::to_json;
use super::CodecError;

/// The variant name and the JSON of its content: `null` for a unit variant, the inner value for
/// a newtype variant, an array for a tuple variant, an object for a struct variant.
pub(super) fn split_variant<T: Serialize + ?Sized>(
    event: &T,
) -> Result<(String, Value), CodecError> {
    event.serialize(VariantCapture)
}

struct VariantCapture;

fn refuse(what: &str) -> CodecError {
    CodecError::new(format!(
        "a typed event must be an enum in serde's default, externally tagged representation \
         (the variant name becomes the event type); got {what}. For an internally, adjacently \
         or untagged enum, a struct or a plain value, name the type explicitly with \
         `NewEvent::from_data(event_type, &data)`"
    ))
}

macro_rules! refuse_values {
    ($($method:ident($type:ty) => $what:literal;)*) => {
        $(fn $method(self, _: $type) -> Result<Self::Ok, Self::Error> {
            Err(refuse($what))
        })*
    };
}

impl ser::Serializer for VariantCapture {
    type Ok = (String, Value);
    type Error = CodecError;
    type SerializeSeq = Impossible<Self::Ok, CodecError>;
    type SerializeTuple = Impossible<Self::Ok, CodecError>;
    type SerializeTupleStruct = Impossible<Self::Ok, CodecError>;
    type SerializeTupleVariant = TupleVariant;
    type SerializeMap = Impossible<Self::Ok, CodecError>;
    type SerializeStruct = Impossible<Self::Ok, CodecError>;
    type SerializeStructVariant = StructVariant;

    refuse_values! {
        serialize_bool(bool) => "a boolean";
        serialize_i8(i8) => "a number";
        serialize_i16(i16) => "a number";
        serialize_i32(i32) => "a number";
        serialize_i64(i64) => "a number";
        serialize_i128(i128) => "a number";
        serialize_u8(u8) => "a number";
        serialize_u16(u16) => "a number";
        serialize_u32(u32) => "a number";
        serialize_u64(u64) => "a number";
        serialize_u128(u128) => "a number";
        serialize_f32(f32) => "a number";
        serialize_f64(f64) => "a number";
        serialize_char(char) => "a character";
        serialize_str(&str) => "a string";
        serialize_bytes(&[u8]) => "bytes";
        serialize_unit_struct(&'static str) => "a unit struct";
    }

    fn serialize_none(self) -> Result<Self::Ok, Self::Error> {
        Err(refuse("`None`"))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Self::Ok, Self::Error> {
        Err(refuse("an `Option`"))
    }

    fn serialize_unit(self) -> Result<Self::Ok, Self::Error> {
        Err(refuse("a unit value (an untagged unit variant?)"))
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Self::Ok, Self::Error> {
        Ok((variant.to_owned(), Value::Null))
    }

    /// A newtype around an event enum is that enum.
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Self::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Self::Error> {
        let data = to_json(value).map_err(|e| e.in_variant(variant))?;
        Ok((variant.to_owned(), data))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        Err(refuse("a sequence"))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Self::Error> {
        Err(refuse("a tuple"))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Self::Error> {
        Err(refuse("a tuple struct"))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        Ok(TupleVariant {
            variant,
            items: Vec::with_capacity(len),
        })
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        Err(refuse(
            "a map (a struct with `#[serde(flatten)]`, or an internally tagged enum?)",
        ))
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Self::Error> {
        Err(refuse(
            "a struct (or an internally, adjacently or untagged enum, which serde writes as one)",
        ))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        Ok(StructVariant {
            variant,
            fields: serde_json::Map::with_capacity(len),
        })
    }
}

/// The content of a tuple variant, as a JSON array.
pub(super) struct TupleVariant {
    variant: &'static str,
    items: Vec<Value>,
}

impl SerializeTupleVariant for TupleVariant {
    type Ok = (String, Value);
    type Error = CodecError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        let item = to_json(value).map_err(|e| {
            e.in_field(&self.items.len().to_string())
                .in_variant(self.variant)
        })?;
        self.items.push(item);
        Ok(())
    }

    fn end(self) -> Result<Self::Ok, CodecError> {
        Ok((self.variant.to_owned(), Value::Array(self.items)))
    }
}

/// The content of a struct variant, as a JSON object.
pub(super) struct StructVariant {
    variant: &'static str,
    fields: serde_json::Map<String, Value>,
}

impl SerializeStructVariant for StructVariant {
    type Ok = (String, Value);
    type Error = CodecError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        let field = to_json(value).map_err(|e| e.in_field(key).in_variant(self.variant))?;
        self.fields.insert(key.to_owned(), field);
        Ok(())
    }

    fn end(self) -> Result<Self::Ok, CodecError> {
        Ok((self.variant.to_owned(), Value::Object(self.fields)))
    }
}
