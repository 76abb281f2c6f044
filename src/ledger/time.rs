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

    /// Parse RFC 3339 UTC (`Z`), with or without fractional seconds (truncated to milliseconds).
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = humantime::parse_rfc3339(s).map_err(|e| {
            format!("expected an RFC 3339 UTC time like 2026-11-28T08:30:00Z, got {s:?} ({e})")
        })?;
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
}
