//! Typed event content to JSON, refusing floats JSON cannot hold.
//!
//! serde_json writes a `NaN` or infinite `f32`/`f64` as `null` without a word, so an event would
//! be stored with data its type never held. [`to_json`] first walks the value with
//! [`FiniteCheck`], a serializer that produces nothing and fails on the first non-finite float
//! (saying where it is), then lets serde_json encode it.

use serde::ser::{self, Serialize};
use serde_json::Value;

use super::CodecError;

/// `value` as JSON; a `NaN` or infinite float anywhere in it is a [`CodecError`].
pub(super) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Value, CodecError> {
    value.serialize(FiniteCheck)?;
    serde_json::to_value(value).map_err(|e| CodecError::new(e.to_string()))
}

struct FiniteCheck;

fn check_float(value: f64) -> Result<(), CodecError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(CodecError::new(format!(
            "{value} cannot be stored: JSON has no NaN or infinity (serde_json would silently \
             write null)"
        )))
    }
}

macro_rules! accept_values {
    ($($method:ident($type:ty);)*) => {
        $(fn $method(self, _: $type) -> Result<(), CodecError> {
            Ok(())
        })*
    };
}

impl ser::Serializer for FiniteCheck {
    type Ok = ();
    type Error = CodecError;
    type SerializeSeq = Elements;
    type SerializeTuple = Elements;
    type SerializeTupleStruct = Elements;
    type SerializeTupleVariant = Elements;
    type SerializeMap = Elements;
    type SerializeStruct = Elements;
    type SerializeStructVariant = Elements;

    accept_values! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_unit_struct(&'static str);
    }

    fn serialize_f32(self, value: f32) -> Result<(), CodecError> {
        check_float(f64::from(value))
    }

    fn serialize_f64(self, value: f64) -> Result<(), CodecError> {
        check_float(value)
    }

    fn serialize_none(self) -> Result<(), CodecError> {
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CodecError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), CodecError> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), CodecError> {
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(self).map_err(|e| e.in_field(variant))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Elements, CodecError> {
        Ok(Elements::default())
    }

    fn serialize_tuple(self, _: usize) -> Result<Elements, CodecError> {
        Ok(Elements::default())
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Elements, CodecError> {
        Ok(Elements::default())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Elements, CodecError> {
        Ok(Elements::default())
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Elements, CodecError> {
        Ok(Elements::default())
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Elements, CodecError> {
        Ok(Elements::default())
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Elements, CodecError> {
        Ok(Elements::default())
    }
}

/// The elements of a sequence, tuple, map or struct, each checked in turn; `next` numbers the
/// elements of sequences and tuples for the error's path.
#[derive(Default)]
struct Elements {
    next: usize,
}

impl Elements {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        let index = self.next;
        self.next += 1;
        value
            .serialize(FiniteCheck)
            .map_err(|e| e.in_field(&index.to_string()))
    }
}

/// The `Serialize*` traits of sequences and tuples: each element is checked in turn.
macro_rules! check_elements {
    ($($trait:ident :: $method:ident;)*) => {
        $(impl ser::$trait for Elements {
            type Ok = ();
            type Error = CodecError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
                self.element(value)
            }

            fn end(self) -> Result<(), CodecError> {
                Ok(())
            }
        })*
    };
}

check_elements! {
    SerializeSeq::serialize_element;
    SerializeTuple::serialize_element;
    SerializeTupleStruct::serialize_field;
    SerializeTupleVariant::serialize_field;
}

/// The `Serialize*` traits of structs: each field is checked in turn.
macro_rules! check_fields {
    ($($trait:ident;)*) => {
        $(impl ser::$trait for Elements {
            type Ok = ();
            type Error = CodecError;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), CodecError> {
                value.serialize(FiniteCheck).map_err(|e| e.in_field(key))
            }

            fn end(self) -> Result<(), CodecError> {
                Ok(())
            }
        })*
    };
}

check_fields! {
    SerializeStruct;
    SerializeStructVariant;
}

impl ser::SerializeMap for Elements {
    type Ok = ();
    type Error = CodecError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CodecError> {
        key.serialize(FiniteCheck)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value
            .serialize(FiniteCheck)
            .map_err(|e| e.in_field("<map value>"))
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}
