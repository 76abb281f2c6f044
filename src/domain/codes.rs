//! PURE: the codes and formats of the domain, each a type that can only be built valid
//! ("parse, don't validate"). Every type parses from its wire text, prints back to exactly that
//! text, and (de)serialises through the same parser, so a serde error carries the `CodeError`
//! sentence saying what was expected.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Why a code failed to parse: what was expected, and what came. The caller names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got:?}")]
pub struct CodeError {
    pub expected: String,
    pub got: String,
}

impl CodeError {
    fn new(expected: impl Into<String>, got: &str) -> Self {
        CodeError {
            expected: expected.into(),
            got: got.to_string(),
        }
    }
}

/// `Display`, `FromStr` and serde through `parse` for a type whose wire form is its `Display`.
macro_rules! text_code {
    ($t:ty) => {
        impl FromStr for $t {
            type Err = CodeError;
            fn from_str(s: &str) -> Result<Self, CodeError> {
                <$t>::parse(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = CodeError;
            fn try_from(s: String) -> Result<Self, CodeError> {
                <$t>::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(c: $t) -> String {
                c.to_string()
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        /// In signed data a code is written exactly in its canonical form (`苏E12345`, not
        /// `苏e12345`; `excavated_soil`, not `工程渣土`): what is signed is what is stored.
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                let c = <$t>::parse(&s).map_err(D::Error::custom)?;
                let canonical = c.to_string();
                if canonical != s {
                    return Err(D::Error::custom(format!(
                        "expected {canonical:?} (the canonical form), got {s:?}"
                    )));
                }
                Ok(c)
            }
        }
    };
}

/// `Display` as `as_str` for the string-backed codes.
macro_rules! display_as_str {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------------
// Unified Social Credit Code
// ---------------------------------------------------------------------------------------------

/// The GB 32100-2015 alphabet: digits and upper-case letters without I, O, S, V, Z.
const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// A byte outside the alphabet in [`USCC_VALUE`].
const NOT_USCC: u8 = u8::MAX;
/// Each byte's value in the alphabet (its position), or [`NOT_USCC`]: every code read from the
/// read model is checked again, so this is looked up, not searched for.
const USCC_VALUE: [u8; 256] = {
    let mut t = [NOT_USCC; 256];
    let a = USCC_ALPHABET.as_bytes();
    let mut i = 0;
    while i < a.len() {
        t[a[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn uscc_value(c: char) -> Option<u32> {
    let v = *USCC_VALUE.get(c as usize)?;
    (v != NOT_USCC).then_some(v as u32)
}

/// An 18-character Unified Social Credit Code (统一社会信用代码, GB 32100-2015), check
/// character verified: the id of every party (company, unit) on the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc(String);

impl Uscc {
    /// Parse an 18-character code: all in the alphabet, characters 3–8 digits, check matches.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        const WHAT: &str = "an 18-character Unified Social Credit Code (GB 32100-2015)";
        let n = s.chars().count();
        if n != 18 {
            return Err(CodeError::new(
                format!("{WHAT}; this has {n} characters"),
                s,
            ));
        }
        if let Some((i, c)) = s
            .chars()
            .enumerate()
            .find(|(_, c)| uscc_value(*c).is_none())
        {
            return Err(CodeError::new(
                format!(
                    "{WHAT} using only digits and the upper-case letters {} (no I, O, S, V, Z); character {} is {c:?}",
                    &USCC_ALPHABET[10..],
                    i + 1
                ),
                s,
            ));
        }
        // All 18 characters are ASCII from here on.
        if !all_digits(&s[2..8]) {
            return Err(CodeError::new(
                format!(
                    "{WHAT} whose characters 3 to 8 are digits (the administrative division code)"
                ),
                s,
            ));
        }
        let check = Self::check_char(&s[..17]).expect("17 characters of the alphabet");
        if s.as_bytes()[17] as char != check {
            return Err(CodeError::new(
                format!("{WHAT} whose check character is '{check}'"),
                s,
            ));
        }
        Ok(Uscc(s.to_string()))
    }

    /// The check character for the first 17 characters; `None` if they are not 17 characters
    /// of the alphabet.
    pub fn check_char(first17: &str) -> Option<char> {
        // Every character of the alphabet is one byte: 17 of them are 17 bytes.
        let b = first17.as_bytes();
        if b.len() != 17 {
            return None;
        }
        let mut sum = 0u32;
        for (&c, w) in b.iter().zip(USCC_WEIGHTS) {
            sum += uscc_value(c as char)? * w;
        }
        let v = (31 - sum % 31) % 31;
        Some(USCC_ALPHABET.as_bytes()[v as usize] as char)
    }

    /// The 6-digit administrative division code where the party is registered (characters 3–8).
    pub fn region(&self) -> &str {
        &self.0[2..8]
    }

    /// The canonical text, as on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
display_as_str!(Uscc);
text_code!(Uscc);

// ---------------------------------------------------------------------------------------------
// Manifest number
// ---------------------------------------------------------------------------------------------

/// A hazardous-waste transfer manifest number (转移联单编号): 14 digits, year(4) + province(2) +
/// city(2) + serial(6), e.g. `20263205000123`. The serial is never 000000.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestNumber(String);

impl ManifestNumber {
    /// The number as an integer (14 digits fit in a `u64`): how indexes keep it.
    pub fn packed(&self) -> u64 {
        self.0.parse().expect("a manifest number is 14 digits")
    }

    /// The manifest number of a [`ManifestNumber::packed`] one.
    pub fn unpacked(n: u64) -> ManifestNumber {
        ManifestNumber::parse(&format!("{n:014}")).expect("packed from a manifest number")
    }

    /// Parse 14 digits with a serial of at least 000001.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        const WHAT: &str = "a 14-digit manifest number: year(4), province(2), city(2), serial(6), e.g. 20263205000123";
        if s.len() != 14 || !all_digits(s) {
            return Err(CodeError::new(WHAT, s));
        }
        if &s[8..] == "000000" {
            return Err(CodeError::new(
                format!("{WHAT}, whose serial (last 6 digits) is not 000000"),
                s,
            ));
        }
        Ok(ManifestNumber(s.to_string()))
    }

    /// Build from parts: `region4` is the 4-digit province+city code, `serial` 1..=999999.
    pub fn new(year: u16, region4: &str, serial: u32) -> Result<Self, CodeError> {
        if !(1000..=9999).contains(&year) {
            return Err(CodeError::new("a 4-digit manifest year", &year.to_string()));
        }
        if region4.len() != 4 || !all_digits(region4) {
            return Err(CodeError::new(
                "a 4-digit region code (province + city) for the manifest number",
                region4,
            ));
        }
        if !(1..=999_999).contains(&serial) {
            return Err(CodeError::new(
                "a manifest serial from 1 to 999999",
                &serial.to_string(),
            ));
        }
        Self::parse(&format!("{year:04}{region4}{serial:06}"))
    }

    /// The year (first 4 digits).
    pub fn year(&self) -> u16 {
        self.0[..4].parse().expect("digits")
    }

    /// The province + city code (4 digits).
    pub fn region(&self) -> &str {
        &self.0[4..8]
    }

    /// The serial within year and region (last 6 digits), 1..=999999.
    pub fn serial(&self) -> u32 {
        self.0[8..].parse().expect("digits")
    }

    /// The canonical text, as on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
display_as_str!(ManifestNumber);
text_code!(ManifestNumber);

// ---------------------------------------------------------------------------------------------
// Hazardous waste category and code
// ---------------------------------------------------------------------------------------------

/// A hazardous waste category of the National Hazardous Waste List: HW01–HW50 except HW41–HW44
/// (no longer used). Prints as `HW08`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HwCategory(u8);

impl HwCategory {
    const WHAT: &'static str =
        "a hazardous waste category HW01 to HW50 (HW41 to HW44 no longer exist), e.g. HW08";

    /// Parse `HW01`…`HW50` (two digits, upper-case `HW`).
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        match s.strip_prefix("HW") {
            Some(d) if d.len() == 2 && all_digits(d) => Self::new(d.parse().expect("digits"))
                .map_err(|e| CodeError {
                    got: s.to_string(),
                    ..e
                }),
            _ => Err(CodeError::new(Self::WHAT, s)),
        }
    }

    /// The category with this number, if it exists.
    pub fn new(n: u8) -> Result<Self, CodeError> {
        if (1..=50).contains(&n) && !(41..=44).contains(&n) {
            Ok(HwCategory(n))
        } else {
            Err(CodeError::new(Self::WHAT, &n.to_string()))
        }
    }

    /// All 46 categories in order.
    pub fn all() -> impl Iterator<Item = HwCategory> {
        (1..=50u8).filter_map(|n| HwCategory::new(n).ok())
    }

    /// The number: 8 for HW08, 9 for R9.
    pub fn number(self) -> u8 {
        self.0
    }
}

impl fmt::Display for HwCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HW{:02}", self.0)
    }
}
text_code!(HwCategory);

/// An 8-digit hazardous waste code `ddd-ddd-dd`: industry(3), serial(3), category(2), e.g.
/// `900-249-08`. `900-000-XX` marks a waste found hazardous by testing (鉴别).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WasteCode(String);

impl WasteCode {
    /// Parse `ddd-ddd-dd` whose last two digits are an existing category.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let b = s.as_bytes();
        let shape = b.len() == 10
            && b[3] == b'-'
            && b[7] == b'-'
            && [&s[..3], &s[4..7], &s[8..]].iter().all(|p| all_digits(p));
        if !shape {
            return Err(CodeError::new(
                "a hazardous waste code of the form ddd-ddd-dd, e.g. 900-249-08",
                s,
            ));
        }
        if HwCategory::new(s[8..].parse().expect("digits")).is_err() {
            return Err(CodeError::new(
                "a hazardous waste code whose last two digits are a category 01 to 50 (41 to 44 no longer exist)",
                s,
            ));
        }
        Ok(WasteCode(s.to_string()))
    }

    /// The category: the last two digits.
    pub fn category(&self) -> HwCategory {
        HwCategory(self.0[8..].parse().expect("checked at parse"))
    }

    /// A `900-000-XX` code: a waste found hazardous by testing, not listed by name.
    pub fn is_tested(&self) -> bool {
        self.0.starts_with("900-000-")
    }

    /// The canonical text, as on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
display_as_str!(WasteCode);
text_code!(WasteCode);

/// A hazard characteristic: toxicity, corrosivity, ignitability, reactivity, infectivity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hazard {
    T,
    C,
    I,
    R,
    In,
}

impl Hazard {
    pub const ALL: [Hazard; 5] = [Hazard::T, Hazard::C, Hazard::I, Hazard::R, Hazard::In];

    /// Parse `T`, `C`, `I`, `R` or `In`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        Self::ALL
            .into_iter()
            .find(|h| h.as_str() == s)
            .ok_or_else(|| CodeError::new("a hazard characteristic: T, C, I, R or In", s))
    }

    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            Hazard::T => "T",
            Hazard::C => "C",
            Hazard::I => "I",
            Hazard::R => "R",
            Hazard::In => "In",
        }
    }

    /// The English name.
    pub fn en(self) -> &'static str {
        match self {
            Hazard::T => "toxicity",
            Hazard::C => "corrosivity",
            Hazard::I => "ignitability",
            Hazard::R => "reactivity",
            Hazard::In => "infectivity",
        }
    }

    /// The Chinese name (危险特性).
    pub fn zh(self) -> &'static str {
        match self {
            Hazard::T => "毒性",
            Hazard::C => "腐蚀性",
            Hazard::I => "易燃性",
            Hazard::R => "反应性",
            Hazard::In => "感染性",
        }
    }
}

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
text_code!(Hazard);

// ---------------------------------------------------------------------------------------------
// Construction waste type
// ---------------------------------------------------------------------------------------------

/// One of the five construction-waste types (建筑垃圾, CJJ/T 134-2019).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CwType {
    /// 工程渣土
    ExcavatedSoil,
    /// 工程泥浆
    Slurry,
    /// 工程垃圾
    SiteWaste,
    /// 拆除垃圾
    Demolition,
    /// 装修垃圾
    Renovation,
}

impl CwType {
    pub const ALL: [CwType; 5] = [
        CwType::ExcavatedSoil,
        CwType::Slurry,
        CwType::SiteWaste,
        CwType::Demolition,
        CwType::Renovation,
    ];

    /// Parse the wire text (`excavated_soil`, …) or the Chinese name (工程渣土, …).
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        Self::ALL.into_iter().find(|t| t.as_str() == s || t.zh() == s).ok_or_else(|| {
            CodeError::new(
                "a construction-waste type: excavated_soil, slurry, site_waste, demolition or renovation (or 工程渣土, 工程泥浆, 工程垃圾, 拆除垃圾, 装修垃圾)",
                s,
            )
        })
    }

    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            CwType::ExcavatedSoil => "excavated_soil",
            CwType::Slurry => "slurry",
            CwType::SiteWaste => "site_waste",
            CwType::Demolition => "demolition",
            CwType::Renovation => "renovation",
        }
    }

    /// The Chinese name.
    pub fn zh(&self) -> &'static str {
        match self {
            CwType::ExcavatedSoil => "工程渣土",
            CwType::Slurry => "工程泥浆",
            CwType::SiteWaste => "工程垃圾",
            CwType::Demolition => "拆除垃圾",
            CwType::Renovation => "装修垃圾",
        }
    }

    /// The English name.
    pub fn en(&self) -> &'static str {
        match self {
            CwType::ExcavatedSoil => "excavated soil",
            CwType::Slurry => "slurry",
            CwType::SiteWaste => "site waste",
            CwType::Demolition => "demolition waste",
            CwType::Renovation => "renovation waste",
        }
    }
}

impl fmt::Display for CwType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
text_code!(CwType);

// ---------------------------------------------------------------------------------------------
// Basel Convention recovery / disposal operation
// ---------------------------------------------------------------------------------------------

/// Recovery (R) or disposal (D) operation, Basel Convention Annex IV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RdKind {
    /// Section B: may lead to recovery.
    R,
    /// Section A: does not lead to recovery.
    D,
}

/// A Basel Annex IV operation code: R1–R13 or D1–D15. Prints as `R9`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RdCode {
    kind: RdKind,
    n: u8,
}

impl RdCode {
    const WHAT: &'static str = "a Basel operation code R1 to R13 or D1 to D15, e.g. R9";

    /// Parse `R1`…`R13` or `D1`…`D15` (no leading zero).
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let kind = match s.as_bytes().first() {
            Some(b'R') => RdKind::R,
            Some(b'D') => RdKind::D,
            _ => return Err(CodeError::new(Self::WHAT, s)),
        };
        let d = &s[1..];
        if !all_digits(d) || d.len() > 2 || d.starts_with('0') {
            return Err(CodeError::new(Self::WHAT, s));
        }
        Self::new(kind, d.parse().expect("digits")).map_err(|e| CodeError {
            got: s.to_string(),
            ..e
        })
    }

    /// The code of this kind and number, if it exists.
    pub fn new(kind: RdKind, n: u8) -> Result<Self, CodeError> {
        let max = match kind {
            RdKind::R => 13,
            RdKind::D => 15,
        };
        if (1..=max).contains(&n) {
            Ok(RdCode { kind, n })
        } else {
            Err(CodeError::new(Self::WHAT, &format!("{kind:?}{n}")))
        }
    }

    /// All 28 codes, R1–R13 then D1–D15.
    pub fn all() -> impl Iterator<Item = RdCode> {
        (1..=13)
            .map(|n| RdCode { kind: RdKind::R, n })
            .chain((1..=15).map(|n| RdCode { kind: RdKind::D, n }))
    }

    /// Recovery or disposal.
    pub fn kind(self) -> RdKind {
        self.kind
    }

    /// The number: 8 for HW08, 9 for R9.
    pub fn number(self) -> u8 {
        self.n
    }

    /// What a transfer station does: R12, R13 (exchange, accumulation before recovery) and
    /// D13, D14, D15 (blending, repackaging, storage before disposal).
    pub fn is_interim(self) -> bool {
        matches!(
            (self.kind, self.n),
            (RdKind::R, 12 | 13) | (RdKind::D, 13..=15)
        )
    }
}

impl fmt::Display for RdCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}{}", self.kind, self.n)
    }
}
text_code!(RdCode);

// ---------------------------------------------------------------------------------------------
// Vehicle plate
// ---------------------------------------------------------------------------------------------

/// The 31 provincial abbreviations that start a mainland plate.
const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// A mainland vehicle plate: province abbreviation, city letter, then 5 letters or digits
/// (ordinary) or 6 (new-energy: `D`/`F` then 5, or 5 digits then `D`/`F`). Upper case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Plate(String);

impl Plate {
    /// Parse a plate, normalising ASCII letters to upper case (`苏e12345` → `苏E12345`).
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        const WHAT: &str = "a mainland plate: province abbreviation, city letter (A-Z but not I or O), then 5 letters or digits, or for new-energy vehicles D or F then 5 letters or digits, or 5 digits then D or F; e.g. 苏E12345, 苏EF12345, 苏E12345D";
        let up = s.to_ascii_uppercase();
        let mut chars = up.chars();
        let province = chars.next();
        if !province.is_some_and(|p| PROVINCES.contains(p)) {
            return Err(CodeError::new(
                format!("{WHAT}; it must start with one of {PROVINCES}"),
                s,
            ));
        }
        let letter = |c: char| c.is_ascii_uppercase() && c != 'I' && c != 'O';
        let alnum = |c: char| letter(c) || c.is_ascii_digit();
        if !chars.next().is_some_and(letter) {
            return Err(CodeError::new(
                format!("{WHAT}; the second character must be a city letter"),
                s,
            ));
        }
        let tail: Vec<char> = chars.collect();
        let ok = tail.iter().all(|&c| alnum(c))
            && match tail.len() {
                5 => true,
                6 => {
                    let df = |c: char| c == 'D' || c == 'F';
                    df(tail[0]) || (df(tail[5]) && tail[..5].iter().all(char::is_ascii_digit))
                }
                _ => false,
            };
        if !ok {
            return Err(CodeError::new(WHAT, s));
        }
        Ok(Plate(up))
    }

    /// The canonical text, as on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
display_as_str!(Plate);
text_code!(Plate);

// ---------------------------------------------------------------------------------------------
// Quantities
// ---------------------------------------------------------------------------------------------

/// A base unit: grams or millilitres.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// grams, `g`
    G,
    /// millilitres, `ml`
    Ml,
}

impl Unit {
    /// Parse `g` or `ml`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        match s {
            "g" => Ok(Unit::G),
            "ml" => Ok(Unit::Ml),
            _ => Err(CodeError::new("a unit: g (grams) or ml (millilitres)", s)),
        }
    }

    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::G => "g",
            Unit::Ml => "ml",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
text_code!(Unit);

/// An amount in a base unit: integers only, never floats. Wire form
/// `{"amount": 1250000, "unit": "g"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantity {
    pub amount: u64,
    pub unit: Unit,
}

impl Quantity {
    pub fn new(amount: u64, unit: Unit) -> Self {
        Quantity { amount, unit }
    }

    /// The sum, if the units match and it does not overflow.
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        (self.unit == other.unit).then_some(())?;
        Some(Quantity::new(
            self.amount.checked_add(other.amount)?,
            self.unit,
        ))
    }

    /// The difference, if the units match and it is not negative.
    pub fn checked_sub(self, other: Quantity) -> Option<Quantity> {
        (self.unit == other.unit).then_some(())?;
        Some(Quantity::new(
            self.amount.checked_sub(other.amount)?,
            self.unit,
        ))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid USCC from 17 characters, by computing the check character.
    fn uscc(first17: &str) -> String {
        format!("{first17}{}", Uscc::check_char(first17).unwrap())
    }

    #[test]
    fn uscc_published_example_verifies() {
        // The example printed in GB 32100-2015 and many guides.
        let u = Uscc::parse("91350100M000100Y43").unwrap();
        assert_eq!(u.region(), "350100");
        assert_eq!(Uscc::check_char("91350100M000100Y4"), Some('3'));
    }

    #[test]
    fn uscc_computed_codes_round_trip() {
        for first in [
            "91320583MA1MXXXX0",
            "91320583134788264",
            "12320500466283701",
            "52320583MJ5743060",
        ] {
            let s = uscc(first);
            let u: Uscc = s.parse().unwrap();
            assert_eq!(u.as_str(), s);
            assert_eq!(u.to_string(), s);
            assert_eq!(&u.region()[..4], "3205");
            let json = serde_json::to_string(&u).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<Uscc>(&json).unwrap(), u);
        }
    }

    #[test]
    fn uscc_wrong_check_names_the_expected_character() {
        let good = uscc("91320583MA1MXXXX0");
        let right = good.chars().last().unwrap();
        let wrong = USCC_ALPHABET.chars().find(|&c| c != right).unwrap();
        let bad = format!("{}{wrong}", &good[..17]);
        let e = Uscc::parse(&bad).unwrap_err();
        assert!(
            e.expected
                .contains(&format!("check character is '{right}'")),
            "{e}"
        );
        assert_eq!(e.got, bad);
        // and through serde, the message survives
        let e = serde_json::from_str::<Uscc>(&format!("\"{bad}\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("check character is '{right}'")), "{e}");
    }

    #[test]
    fn uscc_refuses_letters_outside_the_alphabet_and_wrong_lengths() {
        let good = uscc("91320583MA1MXXXX0");
        for bad_letter in ['I', 'O', 'S', 'V', 'Z', 'a'] {
            let bad = format!("{}{bad_letter}{}", &good[..9], &good[10..]);
            let e = Uscc::parse(&bad).unwrap_err();
            assert!(e.expected.contains("character 10"), "{e}");
            assert!(e.expected.contains("no I, O, S, V, Z"), "{e}");
        }
        assert!(Uscc::parse(&good[..17])
            .unwrap_err()
            .expected
            .contains("17 characters"));
        assert!(Uscc::parse(&format!("{good}0"))
            .unwrap_err()
            .expected
            .contains("19 characters"));
        assert!(Uscc::parse("").is_err());
        // region must be digits
        let e = Uscc::parse(&uscc("913A0583MA1MXXXX0")).unwrap_err();
        assert!(e.expected.contains("administrative division"), "{e}");
        assert_eq!(Uscc::check_char("short"), None);
        assert_eq!(Uscc::check_char("91320583MA1MXXXXI"), None);
    }

    #[test]
    fn manifest_number_round_trip_and_refusals() {
        let m = ManifestNumber::parse("20263205000123").unwrap();
        assert_eq!((m.year(), m.region(), m.serial()), (2026, "3205", 123));
        assert_eq!(ManifestNumber::new(2026, "3205", 123).unwrap(), m);
        assert_eq!(m.to_string(), "20263205000123");
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<ManifestNumber>(&json).unwrap(), m);
        assert_eq!(
            ManifestNumber::new(2026, "3205", 999_999).unwrap().as_str(),
            "20263205999999"
        );

        for bad in [
            "2026320500012",
            "202632050001234",
            "20263205000000",
            "2026320500012a",
            "2026-3205-0001",
        ] {
            assert!(ManifestNumber::parse(bad).is_err(), "{bad}");
        }
        assert!(ManifestNumber::parse("20263205000000")
            .unwrap_err()
            .expected
            .contains("not 000000"));
        assert!(ManifestNumber::new(2026, "3205", 0).is_err());
        assert!(ManifestNumber::new(2026, "3205", 1_000_000).is_err());
        assert!(ManifestNumber::new(2026, "320", 1).is_err());
        assert!(ManifestNumber::new(2026, "32a5", 1).is_err());
        assert!(ManifestNumber::new(26, "3205", 1).is_err());
    }

    #[test]
    fn waste_code_category_and_refusals() {
        let w = WasteCode::parse("900-249-08").unwrap();
        assert_eq!(w.category(), HwCategory::parse("HW08").unwrap());
        assert_eq!(w.category().to_string(), "HW08");
        assert!(!w.is_tested());
        assert!(WasteCode::parse("900-000-34").unwrap().is_tested());
        assert_eq!(
            WasteCode::parse("336-064-17").unwrap().category().number(),
            17
        );
        assert_eq!(
            WasteCode::parse("900-041-49").unwrap().category().number(),
            49
        );
        assert_eq!(
            WasteCode::parse("900-049-50").unwrap().category().number(),
            50
        );
        for cat in ["41", "42", "43", "44", "00", "51", "99"] {
            let e = WasteCode::parse(&format!("900-001-{cat}")).unwrap_err();
            assert!(e.expected.contains("category"), "{e}");
        }
        for bad in [
            "90024908",
            "900-249-8",
            "900_249_08",
            "900-249-08 ",
            "9OO-249-08",
            "HW08",
            "",
            "900-2490-8",
        ] {
            assert!(WasteCode::parse(bad).is_err(), "{bad}");
        }
        let e = serde_json::from_str::<WasteCode>("\"900-249-41\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("category"), "{e}");
    }

    #[test]
    fn hw_categories() {
        assert_eq!(HwCategory::all().count(), 46);
        assert_eq!(HwCategory::parse("HW01").unwrap().number(), 1);
        assert_eq!(HwCategory::parse("HW50").unwrap().to_string(), "HW50");
        for bad in ["HW00", "HW41", "HW44", "HW51", "HW8", "hw08", "08", "HW008"] {
            let e = HwCategory::parse(bad).unwrap_err();
            assert_eq!(e.got, bad);
        }
        assert!(HwCategory::new(45).is_ok());
        assert_eq!(
            serde_json::to_string(&HwCategory::new(17).unwrap()).unwrap(),
            "\"HW17\""
        );
    }

    #[test]
    fn hazards() {
        for (s, h) in [
            ("T", Hazard::T),
            ("C", Hazard::C),
            ("I", Hazard::I),
            ("R", Hazard::R),
            ("In", Hazard::In),
        ] {
            assert_eq!(Hazard::parse(s).unwrap(), h);
            assert_eq!(h.to_string(), s);
        }
        for bad in ["t", "IN", "in", "X", ""] {
            assert!(Hazard::parse(bad).is_err(), "{bad}");
        }
        let hs: Vec<Hazard> = serde_json::from_str(r#"["T","In"]"#).unwrap();
        assert_eq!(hs, vec![Hazard::T, Hazard::In]);
        assert_eq!(Hazard::In.zh(), "感染性");
    }

    #[test]
    fn cw_types_in_both_languages() {
        let pairs = [
            ("excavated_soil", "工程渣土", CwType::ExcavatedSoil),
            ("slurry", "工程泥浆", CwType::Slurry),
            ("site_waste", "工程垃圾", CwType::SiteWaste),
            ("demolition", "拆除垃圾", CwType::Demolition),
            ("renovation", "装修垃圾", CwType::Renovation),
        ];
        for (wire, zh, t) in pairs {
            assert_eq!(CwType::parse(wire).unwrap(), t);
            assert_eq!(CwType::parse(zh).unwrap(), t);
            assert_eq!(t.to_string(), wire);
            assert_eq!(t.zh(), zh);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{wire}\""));
            // Signed data carries the wire form only.
            let err = serde_json::from_str::<CwType>(&format!("\"{zh}\""))
                .unwrap_err()
                .to_string();
            assert!(err.contains(wire), "{err}");
        }
        assert_eq!(CwType::Demolition.en(), "demolition waste");
        assert!(CwType::parse("ExcavatedSoil").is_err());
        assert!(CwType::parse("建筑垃圾").is_err());
    }

    #[test]
    fn rd_code_ranges() {
        assert_eq!(RdCode::all().count(), 28);
        for s in ["R1", "R9", "R13", "D1", "D10", "D15"] {
            let c = RdCode::parse(s).unwrap();
            assert_eq!(c.to_string(), s);
        }
        let r9 = RdCode::parse("R9").unwrap();
        assert_eq!((r9.kind(), r9.number()), (RdKind::R, 9));
        for bad in [
            "R0", "R14", "D0", "D16", "R09", "r9", "X1", "R", "", "R1a", "R100",
        ] {
            assert!(RdCode::parse(bad).is_err(), "{bad}");
        }
        let interim: Vec<String> = RdCode::all()
            .filter(|c| c.is_interim())
            .map(|c| c.to_string())
            .collect();
        assert_eq!(interim, ["R12", "R13", "D13", "D14", "D15"]);
        assert_eq!(serde_json::to_string(&r9).unwrap(), "\"R9\"");
        assert!(serde_json::from_str::<RdCode>("\"D16\"").is_err());
    }

    #[test]
    fn plates() {
        for ok in [
            "苏E12345",
            "苏EF12345",
            "苏ED1234A",
            "苏E12345F",
            "苏E12345D",
            "沪AB1C23",
            "京A12345",
        ] {
            assert_eq!(Plate::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(Plate::parse("苏e1234f").unwrap().as_str(), "苏E1234F");
        assert_eq!(Plate::parse("苏ef12345").unwrap().as_str(), "苏EF12345");
        for bad in [
            "苏I12345",  // no I as city letter
            "苏O12345",  // nor O
            "沪A1234",   // too short
            "苏E123456", // 6 without D/F
            "苏E1234AF", // large new-energy needs 5 digits before D/F
            "苏E12I45",  // I not allowed
            "港A12345",  // not a province
            "E12345",
            "苏12345",
            "苏E1234567",
            "",
        ] {
            assert!(Plate::parse(bad).is_err(), "{bad}");
        }
        assert!(Plate::parse("港A12345")
            .unwrap_err()
            .expected
            .contains("苏"));
        assert_eq!(Plate::parse("苏e12345").unwrap().as_str(), "苏E12345");
        // In signed data only the canonical form: what is signed is what is stored.
        assert!(serde_json::from_str::<Plate>("\"苏e12345\"").is_err());
        let p: Plate = serde_json::from_str("\"苏E12345\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"苏E12345\"");
    }

    #[test]
    fn quantity_serde_and_arithmetic() {
        let q = Quantity::new(1_250_000, Unit::G);
        let json = serde_json::to_string(&q).unwrap();
        assert_eq!(json, r#"{"amount":1250000,"unit":"g"}"#);
        assert_eq!(serde_json::from_str::<Quantity>(&json).unwrap(), q);
        assert_eq!(q.to_string(), "1250000 g");
        assert_eq!(
            serde_json::from_str::<Quantity>(r#"{"amount":5,"unit":"ml"}"#).unwrap(),
            Quantity::new(5, Unit::Ml)
        );
        for bad in [
            r#"{"amount":1.5,"unit":"g"}"#,
            r#"{"amount":1.0,"unit":"g"}"#,
            r#"{"amount":-1,"unit":"g"}"#,
            r#"{"amount":1,"unit":"kg"}"#,
            r#"{"amount":1,"unit":"G"}"#,
            r#"{"amount":"1","unit":"g"}"#,
            r#"{"amount":1}"#,
            r#"{"amount":1,"unit":"g","note":"x"}"#,
        ] {
            assert!(serde_json::from_str::<Quantity>(bad).is_err(), "{bad}");
        }
        let e = serde_json::from_str::<Quantity>(r#"{"amount":1,"unit":"kg"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("g (grams) or ml"), "{e}");

        let ml = Quantity::new(1, Unit::Ml);
        assert_eq!(
            q.checked_add(Quantity::new(1, Unit::G)),
            Some(Quantity::new(1_250_001, Unit::G))
        );
        assert_eq!(q.checked_add(ml), None);
        assert_eq!(
            q.checked_sub(Quantity::new(250_000, Unit::G)),
            Some(Quantity::new(1_000_000, Unit::G))
        );
        assert_eq!(
            Quantity::new(1, Unit::G).checked_sub(Quantity::new(2, Unit::G)),
            None
        );
        assert_eq!(q.checked_sub(ml), None);
        assert_eq!(
            Quantity::new(u64::MAX, Unit::G).checked_add(Quantity::new(1, Unit::G)),
            None
        );
    }
}
