//! Time as a value: the ledger never reads a clock; the store hands it the time.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC instant with millisecond precision, written as RFC 3339 `YYYY-MM-DDTHH:MM:SS.mmmZ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    pub fn from_unix_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    pub fn unix_millis(self) -> u64 {
        self.0
    }

    pub fn from_system_time(t: SystemTime) -> Self {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Timestamp(ms)
    }

    /// Parse RFC 3339 in UTC: `YYYY-MM-DDTHH:MM:SS`, optional fractional seconds (truncated
    /// to milliseconds), then `Z` or `+00:00`. Any other offset (`+08:00`) is refused, here and
    /// so everywhere a time is read (events at acceptance, audits, bundle verification): one
    /// instant has one form, and times compare as written.
    pub fn parse(s: &str) -> Result<Self, String> {
        let expected = |why: &str| {
            format!("expected an RFC 3339 UTC time like 2026-11-28T08:30:00Z, got {s:?} ({why})")
        };
        if !utc_suffix(s) {
            return Err(expected(
                "after the seconds only a fraction and then Z or +00:00 are accepted: no other offset",
            ));
        }
        let t = humantime::parse_rfc3339(s).map_err(|e| expected(&e.to_string()))?;
        Ok(Self::from_system_time(t))
    }

    /// Parse the exact form the log writes; anything else is refused so that times stay canonical.
    pub fn parse_exact(s: &str) -> Result<Self, String> {
        let t = Self::parse(s)?;
        if t.to_string() != s {
            return Err(format!(
                "expected the form YYYY-MM-DDTHH:MM:SS.mmmZ, got {s:?}"
            ));
        }
        Ok(t)
    }
}

/// Whatever follows `YYYY-MM-DDTHH:MM:SS` is an optional `.digits` and then `Z` or `+00:00`.
fn utc_suffix(s: &str) -> bool {
    let Some(mut rest) = s.get(19..) else {
        return false;
    };
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &r[digits..];
    }
    rest == "Z" || rest == "+00:00"
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = UNIX_EPOCH + Duration::from_millis(self.0);
        write!(f, "{}", humantime::format_rfc3339_millis(t))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// In events: any RFC 3339 UTC time (what the parties signed stays as they wrote it).
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_the_logs_exact_form() {
        let t = Timestamp::parse("2026-11-28T15:04:05.123Z").unwrap();
        assert_eq!(t.unix_millis(), 1_795_878_245_123);
        assert_eq!(t.to_string(), "2026-11-28T15:04:05.123Z");
        assert_eq!(Timestamp::parse_exact("2026-11-28T15:04:05.123Z"), Ok(t));
        assert!(Timestamp::parse_exact("2026-11-28T15:04:05Z").is_err());
        assert!(Timestamp::parse("yesterday")
            .unwrap_err()
            .contains("RFC 3339"));
    }

    #[test]
    fn only_utc_forms_are_read_and_other_offsets_are_refused() {
        let z = Timestamp::parse("2026-11-28T00:30:00Z").unwrap();
        assert_eq!(Timestamp::parse("2026-11-28T00:30:00+00:00"), Ok(z));
        // Millisecond precision: further digits are dropped, not rounded; :60 reads as :59.
        assert_eq!(Timestamp::parse("2026-11-28T00:30:00.0009Z"), Ok(z));
        assert_eq!(
            Timestamp::parse("2016-12-31T23:59:60Z"),
            Timestamp::parse("2016-12-31T23:59:59Z")
        );
        assert!(Timestamp::parse("1969-12-31T23:59:59Z").is_err());
        assert_eq!(Timestamp::parse("2026-11-28T00:30:00.000000+00:00"), Ok(z));
        // The same instant in China Standard Time: refused, not misread or skipped.
        for s in [
            "2026-11-28T08:30:00+08:00",
            "2026-11-27T19:30:00-05:00",
            "2026-11-28T00:30:00-00:00",
            "2026-11-28T00:30:00ZZ",
            "2026-11-28T00:30:00.Z",
            "2026-11-28T00:30:00Z+00:00",
            "2026-11-28T00:30:00z",
            "2026-11-28 00:30:00Z",
            "2026-11-28T00:30:00",
        ] {
            let e = Timestamp::parse(s).unwrap_err();
            assert!(e.contains("RFC 3339 UTC"), "{s}: {e}");
        }
    }
}
