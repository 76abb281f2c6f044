//! RFC 8785 (JCS) canonical JSON: the only form in which signed data and entries exist.
//!
//! Anything that is signed or stored is checked to be canonical already, byte for byte, so the
//! bytes a party signed are the bytes the log hashes, stores and serves (invariant 4). Numbers
//! are integers inside the I-JSON safe range: no floating point anywhere in signed data.

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

/// Largest integer every JSON implementation represents exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CanonicalError {
    #[error("not valid JSON: {0}")]
    Malformed(String),
    #[error("field `{field}`: numbers must be integers between -(2^53-1) and 2^53-1 (use an integer base unit such as grams), got {value}")]
    NotAnInteger { field: String, value: String },
    #[error("body is valid JSON but not in RFC 8785 canonical form (sorted keys, no whitespace, no duplicate keys, minimal escapes); canonical form begins differently at byte {at}")]
    NotCanonical { at: usize },
}

/// Canonical bytes of any serialisable value.
pub fn to_canonical<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_jcs::to_vec(value).expect("serialising a JSON value to memory cannot fail")
}

/// The canonical bytes of a parsed value whose numbers are all integers, fast. serde_json writes
/// such a value exactly as RFC 8785 does unless an object key holds a character at or above
/// U+E000: its maps sort keys by UTF-8 bytes, JCS by UTF-16 code units, and the two orders can
/// differ only there. Its string escapes are JCS's (those of ECMAScript's JSON.stringify). A
/// property test holds the two to the same bytes.
fn canonical_value(value: &Value) -> Vec<u8> {
    fn keys_sort_alike(v: &Value) -> bool {
        match v {
            Value::Object(m) => m
                .iter()
                .all(|(k, v)| k.chars().all(|c| c < '\u{e000}') && keys_sort_alike(v)),
            Value::Array(a) => a.iter().all(keys_sort_alike),
            _ => true,
        }
    }
    if keys_sort_alike(value) {
        serde_json::to_vec(value).expect("serialising a JSON value to memory cannot fail")
    } else {
        to_canonical(value)
    }
}

/// Parse bytes that must already be canonical JSON with integer-only numbers.
pub fn parse_canonical(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| CanonicalError::Malformed(e.to_string()))?;
    check_integers(&value, &mut String::new())?;
    let canonical = canonical_value(&value);
    if canonical != bytes {
        let at = canonical
            .iter()
            .zip(bytes)
            .take_while(|(a, b)| a == b)
            .count();
        return Err(CanonicalError::NotCanonical { at });
    }
    Ok(value)
}

/// Reject floating point and integers outside the safe range; `path` names the field.
pub fn check_integers(value: &Value, path: &mut String) -> Result<(), CanonicalError> {
    match value {
        Value::Number(n) => {
            let ok = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i),
                (None, Some(u)) => u <= MAX_SAFE_INTEGER as u64,
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(CanonicalError::NotAnInteger {
                    field: if path.is_empty() {
                        "(top level)".into()
                    } else {
                        path.clone()
                    },
                    value: n.to_string(),
                })
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_integers(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, v) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                check_integers(v, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonical_input_is_accepted_and_unchanged() {
        let bytes = br#"{"a":[1,"x",{"b":true}],"z":null}"#;
        let v = parse_canonical(bytes).unwrap();
        assert_eq!(to_canonical(&v), bytes);
    }

    #[test]
    fn whitespace_unsorted_and_duplicate_keys_are_not_canonical() {
        for bad in [
            &br#"{"z":1,"a":2}"#[..],
            br#"{ "a":1}"#,
            br#"{"a":1,"a":2}"#,
            br#"{"a":"\u0041"}"#,
        ] {
            assert!(
                matches!(
                    parse_canonical(bad),
                    Err(CanonicalError::NotCanonical { .. })
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+FB01 sorts after U+1F600's surrogate pair (0xD83D) in UTF-16, unlike in UTF-8.
        let v: Value = serde_json::from_str("{\"\u{fb01}\":1,\"\u{1f600}\":2}").unwrap();
        assert_eq!(
            String::from_utf8(to_canonical(&v)).unwrap(),
            "{\"\u{1f600}\":2,\"\u{fb01}\":1}"
        );
    }

    #[test]
    fn floats_and_unsafe_integers_are_refused_naming_the_field() {
        let err = parse_canonical(br#"{"lines":[{"qty":1.5}]}"#).unwrap_err();
        assert_eq!(
            err,
            CanonicalError::NotAnInteger {
                field: "lines[0].qty".into(),
                value: "1.5".into()
            }
        );
        assert!(matches!(
            parse_canonical(b"{\"n\":9007199254740992}"),
            Err(CanonicalError::NotAnInteger { .. })
        ));
        assert!(parse_canonical(b"{\"n\":9007199254740991}").is_ok());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        // Strings mix ASCII, controls, quotes, BMP characters on both sides of U+E000, and astral ones.
        let text = "[a-z\"\\\\\u{0}-\u{1f}\u{7f}\u{e9}\u{2028}\u{e000}-\u{e002}\u{fb01}\u{ffff}\u{10000}\u{1f600}]{0,6}";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).prop_map(Value::from),
            text.prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(text, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_fast_path_writes_exactly_what_jcs_writes(v in json_value()) {
            let jcs = to_canonical(&v);
            prop_assert_eq!(canonical_value(&v), jcs.clone());
            prop_assert_eq!(parse_canonical(&jcs), Ok(v));
        }
    }

    #[test]
    fn malformed_json_is_named() {
        assert!(matches!(
            parse_canonical(b"{\"a\":"),
            Err(CanonicalError::Malformed(_))
        ));
    }
}
