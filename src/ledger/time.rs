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

/// China Standard Time, the zone people read and type times in: UTC+08:00, no daylight saving.
pub const CST_OFFSET_MS: u64 = 8 * 3_600_000;

/// The last instant RFC 3339 can write (9999-12-31T23:59:59.999Z), in Unix milliseconds: no
/// time past it is read, and none is ever written.
pub const MAX_UNIX_MILLIS: u64 = 253_402_300_799_999;

/// How [`Timestamp::parse_human`] reads a bare date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateAs {
    /// 00:00 CST that day: a start (`from`) or a moment (`--at`).
    Start,
    /// 00:00 CST the next day: the exclusive end of a window (`to`), so the day is included.
    End,
}

impl DateAs {
    /// A window's `to` bound ends its day; any other time starts it.
    pub fn for_bound(name: &str) -> DateAs {
        if name == "to" {
            DateAs::End
        } else {
            DateAs::Start
        }
    }
}

/// The forms [`Timestamp::parse_human`] accepts, for error messages.
pub const HUMAN_FORMS: &str = "a date 2026-12-01 (China Standard Time; as an end bound the day is included), a local time in China Standard Time 2026-12-01 08:30, 2026-12-01T08:30 or 2026-12-01T08:30:00, or an RFC 3339 time with Z or an offset, 2026-12-01T00:30:00Z or 2026-12-01T08:30:00+08:00";

impl Timestamp {
    /// A time as a person types it (command-line flags, query parameters): a date
    /// `2026-12-01` (00:00 China Standard Time, or with [`DateAs::End`] 00:00 CST the next day),
    /// a local time in CST without an offset (`2026-12-01 08:30`, `2026-12-01T08:30:05`), or
    /// RFC 3339 with `Z` or any offset (`+08:00`). Never used on signed data: events keep
    /// [`Timestamp::parse`], strict UTC.
    pub fn parse_human(s: &str, date_as: DateAs) -> Result<Self, String> {
        let t = s.trim();
        // `…08:30:00 08:00`: an offset whose `+` a URL query turned into a space.
        let lost_plus = t.rsplit_once(' ').is_some_and(|(head, tail)| {
            head.len() >= 16 && tail.len() == 5 && tail.as_bytes()[2] == b':'
        });
        let bad = || {
            let hint = if lost_plus {
                " (in a URL query a + reads as a space: write it %2B)"
            } else {
                ""
            };
            format!("expected {HUMAN_FORMS}; got {s:?}{hint}")
        };
        let date_ok = |d: &str| {
            d.len() == 10
                && d.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                })
        };
        let utc = |text: String, minus_ms: i64| -> Result<Self, String> {
            let ms = Self::parse(&text).map_err(|_| bad())?.0 as i64 - minus_ms;
            u64::try_from(ms)
                .ok()
                .filter(|ms| *ms <= MAX_UNIX_MILLIS)
                .map(Timestamp)
                .ok_or_else(|| format!("{} (at most 9999-12-31T23:59:59Z)", bad()))
        };
        if t.len() == 10 {
            if !date_ok(t) {
                return Err(bad());
            }
            let day = utc(format!("{t}T00:00:00Z"), CST_OFFSET_MS as i64)?;
            return Ok(match date_as {
                DateAs::Start => day,
                DateAs::End => Timestamp(day.0 + 24 * 3_600_000),
            });
        }
        let (date, rest) = (t.get(..10).ok_or_else(bad)?, t.get(10..).ok_or_else(bad)?);
        let rest = rest
            .strip_prefix(['T', 't', ' '])
            .filter(|_| date_ok(date))
            .ok_or_else(bad)?;
        // The clock time, then what zone it is in: Z, an offset, or nothing (CST).
        let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
        let (clock, zone) = rest.split_at(zone_at);
        let clock_ok = |c: &str| {
            let b = c.as_bytes();
            let hm =
                b.len() >= 5 && b[2] == b':' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit());
            match b.len() {
                5 => hm,
                8.. => {
                    hm && b[5] == b':'
                        && b[6].is_ascii_digit()
                        && b[7].is_ascii_digit()
                        && (b.len() == 8
                            || (b[8] == b'.'
                                && b.len() > 9
                                && b[9..].iter().all(u8::is_ascii_digit)))
                }
                _ => false,
            }
        };
        if !clock_ok(clock) {
            return Err(bad());
        }
        let clock = if clock.len() == 5 {
            format!("{clock}:00")
        } else {
            clock.to_string()
        };
        let offset_ms: i64 = match zone {
            "" => CST_OFFSET_MS as i64,
            "Z" | "z" => 0,
            z => {
                let b = z.as_bytes();
                let digits = |i: usize| b[i].is_ascii_digit();
                if b.len() != 6 || b[3] != b':' || ![1, 2, 4, 5].iter().all(|&i| digits(i)) {
                    return Err(bad());
                }
                let (h, m): (i64, i64) = (
                    z[1..3].parse().map_err(|_| bad())?,
                    z[4..6].parse().map_err(|_| bad())?,
                );
                if h > 23 || m > 59 {
                    return Err(bad());
                }
                let ms = (h * 60 + m) * 60_000;
                if b[0] == b'-' {
                    -ms
                } else {
                    ms
                }
            }
        };
        utc(format!("{date}T{clock}Z"), offset_ms)
    }

    /// This instant as people read it: `YYYY-MM-DD HH:MM:SS CST` (China Standard Time, UTC+8).
    /// The one way a time is shown to a person, everywhere; machines get [`Timestamp`]'s
    /// RFC 3339 UTC form.
    pub fn cst(self) -> String {
        match self.0.checked_add(CST_OFFSET_MS) {
            Some(local) if local <= MAX_UNIX_MILLIS => {
                let s = Timestamp(local).to_string();
                format!("{} {} CST", &s[..10], &s[11..19])
            }
            // The last eight hours RFC 3339 can write are in year 10000 in CST: say UTC.
            _ => {
                let s = self.to_string();
                format!("{} {} UTC", &s[..10], &s[11..19])
            }
        }
    }

    /// The CST calendar date, `YYYY-MM-DD` (the UTC date past 9999-12-31T16:00Z).
    pub fn cst_date(self) -> String {
        let (y, m, d) = self.cst_civil();
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// The year of [`cst_date`](Self::cst_date), without writing the date (the fold asks it of
    /// every manifest it books).
    pub fn cst_year(self) -> u16 {
        self.cst_civil().0
    }

    /// Year, month and day of the CST calendar date, counted from the days since 1970 (the
    /// proleptic Gregorian calendar, as RFC 3339 writes it; H. Hinnant's `civil_from_days`).
    fn cst_civil(self) -> (u16, u8, u8) {
        let local = self
            .0
            .checked_add(CST_OFFSET_MS)
            .filter(|l| *l <= MAX_UNIX_MILLIS)
            .unwrap_or(self.0.min(MAX_UNIX_MILLIS));
        // Days from 0000-03-01, so that a leap day ends its year.
        let days = local / 86_400_000 + 719_468;
        let (era, of_era) = (days / 146_097, days % 146_097);
        let year_of_era = (of_era - of_era / 1_460 + of_era / 36_524 - of_era / 146_096) / 365;
        let of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * of_year + 2) / 153;
        let day = of_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        };
        let year = era * 400 + year_of_era + u64::from(month <= 2);
        (year as u16, month as u8, day as u8)
    }
}

/// An RFC 3339 UTC time as the log writes it (in JSON), shown as people read it; anything
/// else as it is.
pub fn cst_text(s: &str) -> String {
    Timestamp::parse(s)
        .map(Timestamp::cst)
        .unwrap_or_else(|_| s.to_string())
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
        // RFC 3339 ends with year 9999 (humantime fails past it, which would panic a
        // `to_string`): no time the log reads is later; one made in code is shown as the last.
        let t = UNIX_EPOCH + Duration::from_millis(self.0.min(MAX_UNIX_MILLIS));
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

    /// Nothing past year 9999 is read, and no time, however made, panics when shown.
    #[test]
    fn times_past_year_9999_are_refused_and_never_panic_when_shown() {
        let e = Timestamp::parse_human("9999-12-31T23:59:59-23:59", DateAs::Start).unwrap_err();
        assert!(e.contains("at most 9999-12-31T23:59:59Z"), "{e}");
        let last = Timestamp::from_unix_millis(MAX_UNIX_MILLIS);
        assert_eq!(last.to_string(), "9999-12-31T23:59:59.999Z");
        assert_eq!(last.cst(), "9999-12-31 23:59:59 UTC");
        assert_eq!(
            Timestamp::from_unix_millis(u64::MAX).to_string(),
            last.to_string()
        );
        let no_end = Timestamp::parse("9999-12-31T23:59:59Z").unwrap();
        assert_eq!(no_end.cst(), "9999-12-31 23:59:59 UTC");
        assert_eq!(no_end.cst_date(), "9999-12-31");
        assert_eq!(no_end.cst_year(), 9999);
        assert_eq!(
            Timestamp::from_unix_millis(u64::MAX).cst_date(),
            "9999-12-31"
        );
        assert_eq!(
            Timestamp::parse("9999-12-31T15:59:59Z").unwrap().cst(),
            "9999-12-31 23:59:59 CST"
        );
    }

    #[test]
    fn the_cst_date_turns_at_midnight_cst_across_leap_days_and_centuries() {
        let date = |utc: &str| Timestamp::parse(utc).unwrap().cst_date();
        assert_eq!(Timestamp::from_unix_millis(0).cst_date(), "1970-01-01");
        for (before, after, day_before, day) in [
            (
                "2000-02-28T15:59:59.999Z",
                "2000-02-28T16:00:00Z",
                "2000-02-28",
                "2000-02-29",
            ),
            (
                "2100-02-28T15:59:59.999Z",
                "2100-02-28T16:00:00Z",
                "2100-02-28",
                "2100-03-01",
            ),
            (
                "2400-02-28T15:59:59.999Z",
                "2400-02-28T16:00:00Z",
                "2400-02-28",
                "2400-02-29",
            ),
            (
                "2026-12-31T15:59:59.999Z",
                "2026-12-31T16:00:00Z",
                "2026-12-31",
                "2027-01-01",
            ),
        ] {
            assert_eq!(date(before), day_before);
            assert_eq!(date(after), day);
        }
        assert_eq!(
            Timestamp::parse("2026-12-31T16:00:00Z").unwrap().cst_year(),
            2027
        );
    }

    use proptest::prelude::*;

    proptest! {
        /// The date counted from the days is the date RFC 3339 writes for the time 8 hours on:
        /// any time up to 9999, and the two sides of a midnight CST from 1970 to 2400.
        #[test]
        fn the_cst_date_is_the_written_date_eight_hours_on(
            ms in prop_oneof![
                0..=MAX_UNIX_MILLIS,
                // Around midnight CST (16:00 UTC), from 1970 to 2400.
                (0u64..157_000, 0u64..2).prop_map(|(d, after)| {
                    (d * 86_400_000 + 16 * 3_600_000 + after).saturating_sub(1)
                }),
            ]
        ) {
            let t = Timestamp::from_unix_millis(ms);
            let local = ms + CST_OFFSET_MS;
            let want = if local <= MAX_UNIX_MILLIS {
                Timestamp::from_unix_millis(local).to_string()[..10].to_string()
            } else {
                t.to_string()[..10].to_string()
            };
            prop_assert_eq!(t.cst_date(), want.clone());
            prop_assert_eq!(t.cst_year().to_string(), want[..4].to_string());
        }
    }

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
    #[test]
    fn people_type_dates_local_times_and_offsets() {
        let h = |s: &str| Timestamp::parse_human(s, DateAs::Start);
        let z = |s: &str| Timestamp::parse(s).unwrap();
        // A date: midnight China Standard Time; as an end bound, the next midnight.
        assert_eq!(h("2026-12-01"), Ok(z("2026-11-30T16:00:00Z")));
        assert_eq!(
            Timestamp::parse_human("2026-12-01", DateAs::End),
            Ok(z("2026-12-01T16:00:00Z"))
        );
        assert_eq!(DateAs::for_bound("to"), DateAs::End);
        assert_eq!(DateAs::for_bound("from"), DateAs::Start);
        // A local time without an offset is CST.
        for s in [
            "2026-12-01 08:30",
            "2026-12-01T08:30",
            "2026-12-01T08:30:00",
            " 2026-12-01 08:30:00.000 ",
        ] {
            assert_eq!(h(s), Ok(z("2026-12-01T00:30:00Z")), "{s}");
        }
        // RFC 3339 with Z or any offset; end bounds do not move a time.
        for s in [
            "2026-12-01T00:30:00Z",
            "2026-12-01T08:30:00+08:00",
            "2026-11-30T19:30:00-05:00",
            "2026-12-01T00:30:00.000+00:00",
            "2026-12-01 08:30+08:00",
        ] {
            assert_eq!(h(s), Ok(z("2026-12-01T00:30:00Z")), "{s}");
            assert_eq!(Timestamp::parse_human(s, DateAs::End), h(s), "{s}");
        }
        for s in [
            "",
            "yesterday",
            "2026-12",
            "2026-13-01",
            "2026-12-32",
            "2026-12-01T8:30",
            "2026-12-01T08:30:00+0800",
            "2026-12-01T08:30:00+24:00",
            "2026-12-01T08:30:00 CST",
            "2026-12-01X08:30",
            "2026/12/01",
            "1970-01-01",
        ] {
            let e = h(s).unwrap_err();
            assert!(
                e.contains("2026-12-01 08:30")
                    && e.contains("+08:00")
                    && e.contains(&format!("{s:?}")),
                "{s}: {e}"
            );
        }
        assert!(h("2026-12-01T08:30:00 08:00").unwrap_err().contains("%2B"));
        assert!(!h("2026-12-01 8:30").unwrap_err().contains("%2B"));
        // Signed data stays strict: the log's own parser still refuses all but UTC.
        assert!(Timestamp::parse("2026-12-01T08:30:00+08:00").is_err());
        assert!(Timestamp::parse("2026-12-01").is_err());
    }

    #[test]
    fn people_read_times_in_china_standard_time_with_the_zone_named() {
        let t = Timestamp::parse("2026-12-03T03:06:37.250Z").unwrap();
        assert_eq!(t.cst(), "2026-12-03 11:06:37 CST");
        assert_eq!(
            Timestamp::parse("2026-12-03T16:00:00Z").unwrap().cst_date(),
            "2026-12-04"
        );
        assert_eq!(
            cst_text("2026-12-03T03:06:37.250Z"),
            "2026-12-03 11:06:37 CST"
        );
        assert_eq!(cst_text("-"), "-");
    }
}
