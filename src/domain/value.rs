//! PURE: how the read model stores a table's values: a compact binary form of serde's data
//! model that describes itself as JSON does (maps keep their field names, an absent option is
//! absent), so the same `Serialize`/`Deserialize` as the API's JSON read it back, skipped
//! fields, defaults and flattened records included, but with no text to escape or numbers to
//! print and parse.
//!
//! Each value is a tag byte then its body: `NULL` (unit, none), `FALSE`, `TRUE`, `UINT` (a
//! LEB128 varint), `NINT` (a negative integer n as the varint of -1 - n), `F64` (8 bytes,
//! little-endian), `STR` and `BYTES` (varint length, then the bytes), `SEQ` and `MAP` (a count
//! as 4 bytes little-endian, then the items; a map's as key, value). Enums are as JSON has
//! them: a unit variant is its name, any other a one-entry map from its name to its content.
//!
//! A table stores a value of [`PACK_FROM`] bytes or more compressed ([`pack`]; layout 14):
//! the tag `PACKED`, the encoding's length, the encoding in the LZ4 block format. A manifest's
//! record is rewritten whole at each step, and sled keeps every copy until it cleans the
//! segment; its field names and parties repeat, and it compresses to about half (README,
//! "Benchmarks": the waste rules' disk a third smaller). [`decode_stored`] and [`readable`]
//! read both forms.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};
use std::fmt;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const UINT: u8 = 3;
const NINT: u8 = 4;
const F64: u8 = 5;
const STR: u8 = 6;
const BYTES: u8 = 7;
const SEQ: u8 = 8;
const MAP: u8 = 9;
/// A whole value compressed (only ever the first byte of a stored value; see [`pack`]).
const PACKED: u8 = 10;

/// Values this long and longer are stored compressed where that makes them shorter.
pub const PACK_FROM: usize = 256;

/// The longest value a packed one may unpack to: far above any record the fold stores, so a
/// damaged length is refused before anything is allocated for it.
const UNPACKED_MAX: usize = 16 << 20;

/// Why a value could not be encoded or read.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// A value in the compact binary form.
pub fn encode<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    encode_into(v, &mut out)?;
    Ok(out)
}

/// Append the encoding of `v` to `out`.
pub fn encode_into<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) -> Result<(), Error> {
    let mut enc = Enc {
        out: std::mem::take(out),
    };
    let done = v.serialize(&mut enc);
    *out = enc.out;
    done
}

/// Read one value that fills `bytes` exactly.
pub fn decode<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    let mut d = Dec { b: bytes };
    let v = T::deserialize(&mut d)?;
    if !d.b.is_empty() {
        return Err(Error(format!("{} bytes after the value", d.b.len())));
    }
    Ok(v)
}

/// The value `encoded` (an encoding as [`encode`] writes it) as it is stored: as it is when
/// shorter than [`PACK_FROM`], else the tag `PACKED`, the encoding's length (a varint) and the
/// encoding compressed in the LZ4 block format, where that is shorter. One build always
/// stores a value as the same bytes (`reindex` writes what the sequencer wrote); another
/// version of the compressor may not, so `verify` compares stored values unpacked
/// (`store/readmodel.rs`, `differs`).
pub fn pack(encoded: &[u8]) -> Vec<u8> {
    if encoded.len() >= PACK_FROM {
        let mut out =
            Vec::with_capacity(1 + 10 + lz4_flex::block::get_maximum_output_size(encoded.len()));
        out.push(PACKED);
        put_varint(&mut out, encoded.len() as u64);
        let head = out.len();
        out.resize(
            head + lz4_flex::block::get_maximum_output_size(encoded.len()),
            0,
        );
        let n = lz4_flex::block::compress_into(encoded, &mut out[head..])
            .expect("the output holds the LZ4 bound");
        out.truncate(head + n);
        if out.len() < encoded.len() {
            return out;
        }
    }
    encoded.to_vec()
}

/// A stored value's encoding: `stored` itself, or unpacked when [`pack`] compressed it.
pub fn unpack(stored: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, Error> {
    let Some((&PACKED, mut rest)) = stored.split_first() else {
        return Ok(std::borrow::Cow::Borrowed(stored));
    };
    let mut d = Dec { b: rest };
    let len = d.varint()?;
    rest = d.b;
    let len = usize::try_from(len)
        .ok()
        .filter(|&n| n <= UNPACKED_MAX)
        .ok_or_else(|| {
            Error(format!(
                "a packed value of {len} bytes (at most {UNPACKED_MAX})"
            ))
        })?;
    let mut out = vec![0; len];
    match lz4_flex::block::decompress_into(rest, &mut out) {
        Ok(n) if n == len => Ok(std::borrow::Cow::Owned(out)),
        Ok(n) => Err(Error(format!(
            "a packed value of {n} bytes where its length says {len}"
        ))),
        Err(e) => Err(Error(format!(
            "a packed value that does not decompress ({e})"
        ))),
    }
}

/// A stored value (packed or not) read back.
pub fn decode_stored<T: de::DeserializeOwned>(stored: &[u8]) -> Result<T, Error> {
    decode(&unpack(stored)?)
}

/// A stored value as a person reads it: as JSON, or in hex if it is not a value.
pub fn readable(bytes: &[u8]) -> String {
    match decode_stored::<serde_json::Value>(bytes) {
        Ok(v) => v.to_string(),
        Err(_) => format!("(not a value: {})", hex::encode(bytes)),
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

struct Enc {
    out: Vec<u8>,
}

impl Enc {
    fn tag_len(&mut self, tag: u8, len: usize) {
        self.out.push(tag);
        put_varint(&mut self.out, len as u64);
    }

    fn str(&mut self, s: &str) {
        self.tag_len(STR, s.len());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, n: i128) {
        if n >= 0 {
            self.out.push(UINT);
            put_varint(&mut self.out, n as u64);
        } else {
            self.out.push(NINT);
            put_varint(&mut self.out, (-1 - n) as u64);
        }
    }

    /// Start a sequence or map whose count is written when it ends.
    fn open(&mut self, tag: u8) -> Compound<'_> {
        self.out.push(tag);
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        Compound {
            enc: self,
            at,
            n: 0,
        }
    }

    /// A variant with content: a one-entry map from its name.
    fn variant(&mut self, name: &str) {
        self.out.push(MAP);
        self.out.extend_from_slice(&1u32.to_le_bytes());
        self.str(name);
    }
}

struct Compound<'a> {
    enc: &'a mut Enc,
    at: usize,
    n: u32,
}

impl Compound<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.n += 1;
        v.serialize(&mut *self.enc)
    }

    fn key(&mut self, k: &str) {
        self.n += 1;
        self.enc.str(k);
    }

    fn close(self) -> Result<(), Error> {
        self.enc.out[self.at..self.at + 4].copy_from_slice(&self.n.to_le_bytes());
        Ok(())
    }
}

macro_rules! int_ser {
    ($($f:ident $t:ty),*) => {$(
        fn $f(self, v: $t) -> Result<(), Error> {
            self.int(v as i128);
            Ok(())
        }
    )*};
}

impl<'a> ser::Serializer for &'a mut Enc {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    int_ser!(serialize_i8 i8, serialize_i16 i16, serialize_i32 i32, serialize_i64 i64,
        serialize_u8 u8, serialize_u16 u16, serialize_u32 u32, serialize_u64 u64);

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push(if v { TRUE } else { FALSE });
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(v as f64)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.out.push(F64);
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.str(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.str(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.tag_len(BYTES, v.len());
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.push(NULL);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push(NULL);
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<(), Error> {
        self.str(v);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.variant(variant);
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Ok(self.open(SEQ))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Ok(self.open(SEQ))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Ok(self.open(SEQ))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        self.variant(variant);
        Ok(self.open(SEQ))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Ok(self.open(MAP))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Ok(self.open(MAP))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        self.variant(variant);
        Ok(self.open(MAP))
    }
}

/// The compounds whose items are values one after the other.
macro_rules! items {
    ($($tr:ident $m:ident),*) => {$(
        impl ser::$tr for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn $m<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
                self.item(v)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )*};
}
items!(SerializeSeq serialize_element, SerializeTuple serialize_element,
    SerializeTupleStruct serialize_field, SerializeTupleVariant serialize_field);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        self.item(k)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        // The entry was counted with its key.
        v.serialize(&mut *self.enc)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// The compounds whose items are named fields.
macro_rules! fields {
    ($($tr:ident),*) => {$(
        impl ser::$tr for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                k: &'static str,
                v: &T,
            ) -> Result<(), Error> {
                self.key(k);
                v.serialize(&mut *self.enc)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )*};
}
fields!(SerializeStruct, SerializeStructVariant);

struct Dec<'de> {
    b: &'de [u8],
}

impl<'de> Dec<'de> {
    fn short() -> Error {
        Error("the value ends early".into())
    }

    fn byte(&mut self) -> Result<u8, Error> {
        let (&c, rest) = self.b.split_first().ok_or_else(Self::short)?;
        self.b = rest;
        Ok(c)
    }

    fn peek(&self) -> Result<u8, Error> {
        self.b.first().copied().ok_or_else(Self::short)
    }

    fn take(&mut self, n: usize) -> Result<&'de [u8], Error> {
        if self.b.len() < n {
            return Err(Self::short());
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let c = self.byte()?;
            n |= u64::from(c & 0x7f) << shift;
            if c & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(Error("a varint longer than 64 bits".into()))
    }

    fn count(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn str(&mut self) -> Result<&'de str, Error> {
        let n = self.varint()? as usize;
        std::str::from_utf8(self.take(n)?)
            .map_err(|e| Error(format!("a text that is not UTF-8: {e}")))
    }
}

struct Items<'a, 'de> {
    d: &'a mut Dec<'de>,
    left: u32,
}

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.d).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left as usize)
    }
}

impl<'de> de::MapAccess<'de> for Items<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.d).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.d)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left as usize)
    }
}

/// An enum's variant: its name, and for other than a unit variant its content next.
struct Variant<'a, 'de> {
    d: &'a mut Dec<'de>,
}

impl<'de> de::EnumAccess<'de> for Variant<'_, 'de> {
    type Error = Error;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let name = seed.deserialize(&mut *self.d)?;
        Ok((name, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self.d)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(self.d, v)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(self.d, v)
    }
}

impl<'de> de::Deserializer<'de> for &mut Dec<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.byte()? {
            NULL => v.visit_unit(),
            FALSE => v.visit_bool(false),
            TRUE => v.visit_bool(true),
            UINT => v.visit_u64(self.varint()?),
            NINT => {
                let n = self.varint()?;
                match i64::try_from(n) {
                    Ok(n) => v.visit_i64(-1 - n),
                    Err(_) => v.visit_i128(-1 - i128::from(n)),
                }
            }
            F64 => v.visit_f64(f64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            STR => v.visit_borrowed_str(self.str()?),
            BYTES => {
                let n = self.varint()? as usize;
                v.visit_borrowed_bytes(self.take(n)?)
            }
            SEQ => {
                let left = self.count()?;
                v.visit_seq(Items { d: self, left })
            }
            MAP => {
                let left = self.count()?;
                v.visit_map(Items { d: self, left })
            }
            t => Err(Error(format!("an unknown tag {t}"))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        if self.peek()? == NULL {
            self.b = &self.b[1..];
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match self.peek()? {
            STR => {
                self.b = &self.b[1..];
                v.visit_enum(self.str()?.into_deserializer())
            }
            MAP => {
                self.b = &self.b[1..];
                match self.count()? {
                    1 => v.visit_enum(Variant { d: self }),
                    n => Err(Error(format!("an enum as a map of {n} entries, not 1"))),
                }
            }
            t => Err(Error(format!("an enum with the tag {t}"))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Plain,
        Wrapped(u32),
        Pair(i64, String),
        Named { at: u64 },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Inner {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Outer {
        #[serde(flatten)]
        inner: Inner,
        n: i64,
        big: u64,
        ratio: f64,
        flag: bool,
        kinds: Vec<Kind>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skipped: Vec<u8>,
        maybe: Option<Option<u32>>,
        unit: (),
        map: BTreeMap<String, (u64, Option<u64>)>,
    }

    #[test]
    fn values_read_back_as_they_were_written_with_skipped_and_flattened_fields() {
        let v = Outer {
            inner: Inner {
                name: "热 \0 text".into(),
                note: None,
            },
            n: -300,
            big: u64::MAX,
            ratio: 0.25,
            flag: true,
            kinds: vec![
                Kind::Plain,
                Kind::Wrapped(7),
                Kind::Pair(i64::MIN, "x".into()),
                Kind::Named { at: 1 << 40 },
            ],
            skipped: vec![],
            maybe: Some(Some(3)),
            unit: (),
            map: [
                ("a".to_string(), (1, None)),
                ("b".to_string(), (2, Some(3))),
            ]
            .into(),
        };
        let mut b = Vec::new();
        encode_into(&v, &mut b).unwrap();
        assert_eq!(decode::<Outer>(&b).unwrap(), v);
        let json = serde_json::to_vec(&v).unwrap();
        assert!(
            b.len() < json.len(),
            "{} bytes, JSON {}",
            b.len(),
            json.len()
        );
        // The same value read as JSON's own tree, as a reader that knows no type would.
        let any: serde_json::Value = decode(&b).unwrap();
        assert_eq!(any, serde_json::to_value(&v).unwrap());
        assert!(
            decode::<Outer>(&b[..b.len() - 1]).is_err(),
            "a cut value is refused"
        );
    }

    #[test]
    fn long_values_are_stored_compressed_and_read_back_and_damage_is_named() {
        // A record such as a manifest's: long and repetitive.
        let long: Vec<Inner> = (0..40)
            .map(|i| Inner {
                name: format!("91320583P00000{i:04} 废矿物油"),
                note: (i % 3 == 0).then(|| "200 L steel drum".to_string()),
            })
            .collect();
        let short = Inner {
            name: "x".repeat(PACK_FROM / 2),
            note: None,
        };
        let enc_long = encode(&long).unwrap();
        let stored = pack(&enc_long);
        assert!(enc_long.len() >= PACK_FROM);
        assert_eq!(stored[0], PACKED, "a long value is stored compressed");
        assert!(
            stored.len() * 2 < enc_long.len(),
            "{} of {}",
            stored.len(),
            enc_long.len()
        );
        assert_eq!(pack(&enc_long), stored, "the same value, the same bytes");
        assert_eq!(decode_stored::<Vec<Inner>>(&stored).unwrap(), long);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&readable(&stored)).unwrap(),
            serde_json::to_value(&long).unwrap(),
            "a person reads a compressed value as JSON"
        );
        // Short values, and long ones that do not compress, are stored as they are.
        let enc_short = encode(&short).unwrap();
        assert_eq!(pack(&enc_short), enc_short);
        let noise: Vec<u64> = (0..200u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17))
            .collect();
        let enc_noise = encode(&noise).unwrap();
        assert!(enc_noise.len() >= PACK_FROM);
        assert!(pack(&enc_noise).len() <= enc_noise.len());
        assert_eq!(decode_stored::<Vec<u64>>(&pack(&enc_noise)).unwrap(), noise);
        assert_eq!(decode_stored::<Inner>(&enc_short).unwrap(), short);

        // Damage: named, and nothing allocated for a length no record has.
        let mut huge = vec![PACKED];
        put_varint(&mut huge, 1 << 40);
        huge.extend_from_slice(&stored[3..]);
        let e = decode_stored::<Vec<Inner>>(&huge).unwrap_err().to_string();
        assert!(e.contains("a packed value of 1099511627776 bytes"), "{e}");
        let cut = &stored[..stored.len() - 4];
        let e = decode_stored::<Vec<Inner>>(cut).unwrap_err().to_string();
        assert!(e.contains("packed value"), "{e}");
        let mut longer = vec![PACKED];
        put_varint(&mut longer, enc_long.len() as u64 + 1);
        longer.extend_from_slice(&stored[1 + varint_len(enc_long.len() as u64)..]);
        let e = decode_stored::<Vec<Inner>>(&longer)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("where its length says {}", enc_long.len() + 1))
                || e.contains("does not decompress"),
            "{e}"
        );
        assert!(
            readable(cut).starts_with("(not a value: 0a"),
            "{}",
            readable(cut)
        );
    }

    fn varint_len(n: u64) -> usize {
        let mut out = Vec::new();
        put_varint(&mut out, n);
        out.len()
    }
}
