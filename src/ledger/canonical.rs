//! RFC 8785 (JCS) canonical JSON: the only form in which signed data and entries exist.
//!
//! Anything that is signed or stored is checked to be canonical already, byte for byte, so the
//! bytes a party signed are the bytes the log hashes, stores and serves (invariant 4). Numbers
//! are integers inside the I-JSON safe range: no floating point anywhere in signed data.

use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
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

/// Canonical bytes checked in one pass, without building a value: how every stored entry is
/// read (the audit, the mirror, `restore`: [`super::entry::Entry::decode`]) and every event
/// the intake takes ([`super::event::SignedEvent::parse`]). It accepts only what
/// [`parse_canonical`] accepts, and declines (`None`) wherever it is not sure: a string with any
/// escape in it, an object key with a character at or above U+E000 (where UTF-8 and UTF-16
/// orders part), a number that is not an integer in the safe range, nesting deeper than
/// [`Scan::MAX_DEPTH`]. On `None` the caller parses with [`parse_canonical`], which decides
/// and names what is wrong. A property test holds the two together.
pub(crate) struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    /// Well inside serde_json's own limit (128), so that nothing accepted here fails there.
    pub(crate) const MAX_DEPTH: u32 = 64;

    /// A scan from the first byte (None: not UTF-8).
    pub(crate) fn new(bytes: &'a [u8]) -> Option<Self> {
        Some(Scan {
            text: std::str::from_utf8(bytes).ok()?,
            at: 0,
        })
    }

    /// Where the scan stands (a byte offset).
    pub(crate) fn at(&self) -> usize {
        self.at
    }

    /// Whether every byte has been scanned.
    pub(crate) fn done(&self) -> bool {
        self.at == self.text.len()
    }

    /// Whether a string begins here.
    pub(crate) fn at_string(&self) -> bool {
        self.peek() == Some(b'"')
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// One canonical value of any kind, `depth` levels down.
    pub(crate) fn value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth, |s, _| s.value(depth + 1)),
            b'[' => self.array(depth, |s| s.value(depth + 1)),
            b'"' => self.string().map(drop),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.integer().map(drop),
        }
    }

    /// Past one value of bytes already checked canonical (an event's body, checked when it was
    /// read), nothing in it checked again: brackets matched, strings stepped over. None where
    /// the bytes end first.
    pub(crate) fn skip_checked(&mut self) -> Option<()> {
        let b = self.text.as_bytes();
        let string_end = |mut i: usize| -> Option<usize> {
            // `i` is just past an opening quote: just past the closing one.
            loop {
                match *b.get(i)? {
                    b'\\' => i += 2,
                    b'"' => return Some(i + 1),
                    _ => i += 1,
                }
            }
        };
        let mut i = self.at;
        match *b.get(i)? {
            b'"' => i = string_end(i + 1)?,
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *b.get(i)? {
                        b'"' => {
                            i = string_end(i + 1)?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            // A number or a literal: up to what follows it in its list.
            _ => {
                while !matches!(b.get(i), None | Some(b',' | b'}' | b']')) {
                    i += 1;
                }
            }
        }
        self.at = i;
        Some(())
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.at + word.len();
        (self.text.as_bytes().get(self.at..end)? == word.as_bytes()).then(|| self.at = end)
    }

    /// A string without escapes; its contents.
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let len = self.text.as_bytes()[start..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        self.at = start + len;
        self.eat(b'"')?;
        // Both ends are ASCII quotes, so this is a slice at character boundaries.
        Some(&self.text[start..start + len])
    }

    /// An integer as RFC 8785 writes it (no sign on zero, no leading zero) in the safe range.
    pub(crate) fn integer(&mut self) -> Option<i64> {
        let negative = self.eat(b'-').is_some();
        let start = self.at;
        let digits = self.text.as_bytes()[start..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let text = &self.text[start..start + digits];
        if digits == 0 || digits > 16 || (text.starts_with('0') && (digits > 1 || negative)) {
            return None;
        }
        let n: i64 = text.parse().ok()?;
        if n > MAX_SAFE_INTEGER {
            return None;
        }
        self.at = start + digits;
        Some(if negative { -n } else { n })
    }

    /// An array; `item` scans each element.
    pub(crate) fn array(
        &mut self,
        depth: u32,
        item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.list(depth, b'[', b']', item)
    }

    /// An object whose keys are in strictly ascending order (so none twice); `member` scans
    /// each member's value, given its key.
    pub(crate) fn object(
        &mut self,
        depth: u32,
        mut member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        let mut last: Option<&str> = None;
        self.list(depth, b'{', b'}', |s| {
            let key = s.string()?;
            // Below U+E000 the order of UTF-8 bytes is that of UTF-16 code units (RFC 8785's).
            if key.bytes().any(|b| b >= 0xee) || last.is_some_and(|l| l >= key) {
                return None;
            }
            last = Some(key);
            s.eat(b':')?;
            member(s, key)
        })
    }

    /// `open`, then items separated by commas (`each` scans one), then `close`.
    fn list(
        &mut self,
        depth: u32,
        open: u8,
        close: u8,
        mut each: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth >= Self::MAX_DEPTH {
            return None;
        }
        self.eat(open)?;
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            each(self)?;
            if self.eat(close).is_some() {
                return Some(());
            }
            self.eat(b',')?;
        }
    }
}

/// The canonical object `bytes` without its top-level member `key` (as they are where it has
/// none), still canonical: how an event's body is read into its type, which has no `type`
/// field. None where [`Scan`] is not sure of the bytes.
pub(crate) fn without_member<'a>(bytes: &'a [u8], key: &str) -> Option<Cow<'a, [u8]>> {
    let mut scan = Scan::new(bytes)?;
    let mut member = None;
    scan.object(0, |s, k| {
        // Keys have no escape here, so the member starts at the key's opening quote.
        let start = s.at() - k.len() - 3;
        s.value(1)?;
        if k == key {
            member = Some(start..s.at());
        }
        Some(())
    })?;
    if !scan.done() {
        return None;
    }
    let Some(mut cut) = member else {
        return Some(Cow::Borrowed(bytes));
    };
    // With the comma after it (or, for the last member, the one before it).
    if bytes[cut.end] == b',' {
        cut.end += 1;
    } else if bytes[cut.start - 1] == b',' {
        cut.start -= 1;
    }
    Some(Cow::Owned(
        [&bytes[..cut.start], &bytes[cut.end..]].concat(),
    ))
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
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Stepping over a member's value without checking it ends where its value ends: strings
    /// holding brackets, quotes and backslashes, nested lists, numbers and literals last in
    /// their lists.
    #[test]
    fn skipping_checked_bytes_ends_each_value_where_it_ends() {
        let text = r#"{"a":[1,{"b":"]}"},[]],"c":"x","d":-12,"e":{"f":[true,false,null]},"g":"q\"]}\\","h":0}"#;
        let whole: Value = serde_json::from_str(text).unwrap();
        let mut scan = Scan::new(text.as_bytes()).unwrap();
        let mut seen = Vec::new();
        scan.object(0, |s, k| {
            let from = s.at();
            s.skip_checked()?;
            seen.push((k, &text[from..s.at()]));
            Some(())
        })
        .unwrap();
        assert!(scan.done());
        assert_eq!(seen.len(), 6);
        for (k, raw) in seen {
            assert_eq!(
                serde_json::from_str::<Value>(raw).unwrap(),
                whole[k],
                "{k}: {raw}"
            );
        }
        // Bytes that end inside a value.
        for cut in [r#"["a"#, r#"{"a":[1,"#, r#""a\"#] {
            assert_eq!(
                Scan::new(cut.as_bytes()).unwrap().skip_checked(),
                None,
                "{cut}"
            );
        }
    }

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

    pub(crate) fn json_value() -> impl Strategy<Value = Value> {
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

    /// Whether `v` holds an object key with a character at or above U+E000 (where the one-pass
    /// scan declines).
    pub(crate) fn has_key_at_or_above_e000(v: &Value) -> bool {
        match v {
            Value::Object(m) => m
                .iter()
                .any(|(k, v)| k.chars().any(|c| c >= '\u{e000}') || has_key_at_or_above_e000(v)),
            Value::Array(a) => a.iter().any(has_key_at_or_above_e000),
            _ => false,
        }
    }

    fn scans_whole(bytes: &[u8]) -> bool {
        Scan::new(bytes)
            .and_then(|mut s| {
                s.value(0)?;
                s.done().then_some(())
            })
            .is_some()
    }

    /// A change to canonical bytes: a byte replaced by one that matters to JSON, removed, or
    /// inserted anywhere, just after a quote (into a string or a key) or at the end.
    pub(crate) fn mutate(bytes: &[u8], at: usize, how: u8, with: u8) -> Vec<u8> {
        const MATTERS: &[u8] = b"\"\\{}[],:-0159.eE tfn\x00\x1f\x7f\xc3\xa9\xee\x80";
        let mut out = bytes.to_vec();
        let c = MATTERS[with as usize % MATTERS.len()];
        if out.is_empty() {
            out.push(c);
            return out;
        }
        let quotes: Vec<usize> = (0..out.len()).filter(|&i| out[i] == b'"').collect();
        let at = at % out.len();
        match how % 5 {
            0 => out[at] = c,
            1 => {
                out.remove(at);
            }
            2 => out.insert(at, c),
            3 => out.push(c),
            _ if quotes.is_empty() => out.insert(at, c),
            _ => out.insert(quotes[at % quotes.len()] + 1, c),
        }
        out
    }

    #[test]
    fn the_one_pass_scan_takes_canonical_bytes_and_declines_the_rest() {
        for good in [
            &br#"{"a":[1,"x",{"b":true}],"z":null}"#[..],
            br#"{"n":-9007199254740991,"z":0}"#,
            br#"[]"#,
            "{\"\u{e9}\":\"\u{1f600}\u{7f}\"}".as_bytes(),
        ] {
            assert!(scans_whole(good), "{}", String::from_utf8_lossy(good));
        }
        for bad in [
            &br#"{"z":1,"a":2}"#[..],
            br#"{"a":1,"a":2}"#,
            br#"{ "a":1}"#,
            br#"{"a":-0}"#,
            br#"{"a":01}"#,
            br#"{"a":1.0}"#,
            br#"{"a":1e3}"#,
            br#"{"a":9007199254740992}"#,
            b"{\"a\":\"\x01\"}",
            br#"{"a":"\u0041"}"#,
            br#"{"a":"x"}x"#,
            br#"{"a":tru}"#,
            br#"{"a":[1,]}"#,
            "{\"\u{e000}\":1}".as_bytes(),
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(!scans_whole(bad), "{}", String::from_utf8_lossy(bad));
        }
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(!scans_whole(deep.as_bytes()), "past its depth it declines");
        assert!(
            parse_canonical(deep.as_bytes()).is_ok(),
            "and the full parse decides"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        /// What the scan accepts, the full parse accepts; and it accepts every canonical text
        /// without escapes or keys at or above U+E000.
        #[test]
        fn the_one_pass_scan_never_accepts_what_the_parse_refuses(
            v in json_value(), at in any::<usize>(), how in any::<u8>(), with in any::<u8>()
        ) {
            let jcs = to_canonical(&v);
            let plain = !jcs.contains(&b'\\') && !has_key_at_or_above_e000(&v);
            prop_assert_eq!(scans_whole(&jcs), plain);
            let changed = mutate(&jcs, at, how, with);
            if scans_whole(&changed) {
                prop_assert!(parse_canonical(&changed).is_ok(), "{}", String::from_utf8_lossy(&changed));
            }
        }

        /// An object without one of its members is the canonical text of the object without
        /// it: the first, one in the middle, the last, the only one, or one it does not have
        /// (its bytes as they are); a member of the same name deeper down stays.
        #[test]
        fn an_object_without_a_member_is_the_canonical_text_of_what_is_left(
            members in prop::collection::btree_map("[a-z]{1,3}", json_value(), 0..6),
            which in any::<prop::sample::Index>(),
        ) {
            let object = Value::Object(members.clone().into_iter().collect());
            let jcs = to_canonical(&object);
            let plain = !jcs.contains(&b'\\') && !has_key_at_or_above_e000(&object);
            let keys: Vec<&String> = members.keys().collect();
            let key = if keys.is_empty() { "absent".to_string() } else { keys[which.index(keys.len())].clone() };
            let Some(left) = without_member(&jcs, &key) else {
                prop_assert!(!plain, "declined plain text {}", String::from_utf8_lossy(&jcs));
                return Ok(());
            };
            let mut rest = members.clone();
            rest.remove(&key);
            let expected = to_canonical(&Value::Object(rest.into_iter().collect()));
            prop_assert_eq!(left.as_ref(), expected.as_slice());
            let nested = to_canonical(&serde_json::json!({ "wrap": object.clone() }));
            let kept = without_member(&nested, &key);
            prop_assert_eq!(kept.as_deref(), Some(&nested[..]));
            for other in ["absent", "zzzz"] {
                if !members.contains_key(other) {
                    prop_assert!(matches!(without_member(&jcs, other), Some(Cow::Borrowed(_))));
                }
            }
        }

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
