//! PURE: the catalogs the domain checks codes against: hazardous waste categories and codes
//! (National Hazardous Waste List), construction-waste types, and Basel R/D operations.
//!
//! They are data files (`fixtures/catalog/`, described in its README), read by the caller and
//! parsed here from strings, so the shipped subsets can be replaced by the complete official
//! lists without a code change. Each file is `{"source": "...", "entries": [...]}`; an error
//! names the file and the entry at fault.

use super::codes::{CwType, Hazard, HwCategory, RdCode, WasteCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The catalog files, in the order `Catalog::from_json` takes their contents.
pub const CATALOG_FILES: [&str; 4] = [
    "hw-categories.json",
    "hw-codes.json",
    "cw-types.json",
    "rd-codes.json",
];

/// A catalog file that does not parse or does not hold together: which file, which entry, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("catalog {file}: {entry}: {message}")]
pub struct CatalogError {
    pub file: String,
    pub entry: String,
    pub message: String,
}

/// A hazardous waste category (废物类别), e.g. HW08.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryInfo {
    pub code: HwCategory,
    pub zh: String,
    pub en: String,
}

/// A listed hazardous waste (废物代码) with its source industry and hazard characteristics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasteInfo {
    pub code: WasteCode,
    pub industry_zh: String,
    pub industry_en: String,
    pub zh: String,
    pub en: String,
    /// The characteristics the list gives; where it writes alternatives (`T/In`), all of them.
    pub hazards: Vec<Hazard>,
}

/// A construction-waste type with a short description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CwTypeInfo {
    pub code: CwType,
    pub zh: String,
    pub en: String,
    pub description: String,
}

/// A Basel Convention Annex IV operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdInfo {
    pub code: RdCode,
    pub en: String,
    pub zh: String,
}

/// The four catalogs, checked to hold together (every code's category is listed, every
/// construction-waste type is described, no code twice).
#[derive(Debug, Clone)]
pub struct Catalog {
    categories: BTreeMap<HwCategory, CategoryInfo>,
    wastes: BTreeMap<WasteCode, WasteInfo>,
    cw_types: BTreeMap<CwType, CwTypeInfo>,
    rd: BTreeMap<RdCode, RdInfo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    source: String,
    entries: Vec<serde_json::Value>,
}

/// What every entry type shares: a code to key it by and names that must not be empty.
trait Entry: DeserializeOwned {
    type Key: Ord + Clone + std::fmt::Display;
    fn key(&self) -> Self::Key;
    fn texts(&self) -> Vec<(&'static str, &str)>;
}

impl Entry for CategoryInfo {
    type Key = HwCategory;
    fn key(&self) -> HwCategory {
        self.code
    }
    fn texts(&self) -> Vec<(&'static str, &str)> {
        vec![("zh", &self.zh), ("en", &self.en)]
    }
}

impl Entry for WasteInfo {
    type Key = WasteCode;
    fn key(&self) -> WasteCode {
        self.code.clone()
    }
    fn texts(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("industry_zh", &self.industry_zh),
            ("industry_en", &self.industry_en),
            ("zh", &self.zh),
            ("en", &self.en),
        ]
    }
}

impl Entry for CwTypeInfo {
    type Key = CwType;
    fn key(&self) -> CwType {
        self.code
    }
    fn texts(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("zh", &self.zh),
            ("en", &self.en),
            ("description", &self.description),
        ]
    }
}

impl Entry for RdInfo {
    type Key = RdCode;
    fn key(&self) -> RdCode {
        self.code
    }
    fn texts(&self) -> Vec<(&'static str, &str)> {
        vec![("en", &self.en), ("zh", &self.zh)]
    }
}

/// Parse one file into its entries keyed by code; `file` names it in errors.
fn parse_file<T: Entry>(file: &str, text: &str) -> Result<BTreeMap<T::Key, T>, CatalogError> {
    let err = |entry: String, message: String| CatalogError {
        file: file.to_string(),
        entry,
        message,
    };
    let parsed: CatalogFile = serde_json::from_str(text).map_err(|e| {
        err(
            "top level".into(),
            format!("{e} (expected {{\"source\": \"...\", \"entries\": [...]}})"),
        )
    })?;
    if parsed.source.trim().is_empty() {
        return Err(err(
            "top level".into(),
            "\"source\" must say where the list comes from".into(),
        ));
    }
    let mut out = BTreeMap::new();
    let mut at = BTreeMap::new();
    for (i, value) in parsed.entries.into_iter().enumerate() {
        let name = match value.get("code").and_then(|c| c.as_str()) {
            Some(code) => format!("entries[{i}] {code:?}"),
            None => format!("entries[{i}]"),
        };
        let entry: T =
            serde_json::from_value(value).map_err(|e| err(name.clone(), e.to_string()))?;
        if let Some((field, _)) = entry.texts().into_iter().find(|(_, t)| t.trim().is_empty()) {
            return Err(err(name, format!("\"{field}\" is empty")));
        }
        let key = entry.key();
        if let Some(first) = at.insert(key.clone(), i) {
            return Err(err(
                name,
                format!("{key} is listed twice (first at entries[{first}])"),
            ));
        }
        out.insert(key, entry);
    }
    Ok(out)
}

impl Catalog {
    /// Parse the four catalog files' contents. Errors name the file and the entry at fault.
    pub fn from_json(
        categories: &str,
        codes: &str,
        cw_types: &str,
        rd_codes: &str,
    ) -> Result<Self, CatalogError> {
        let [f_cat, f_codes, f_cw, f_rd] = CATALOG_FILES;
        let categories: BTreeMap<HwCategory, CategoryInfo> = parse_file(f_cat, categories)?;
        let wastes: BTreeMap<WasteCode, WasteInfo> = parse_file(f_codes, codes)?;
        for w in wastes.values() {
            let entry = || format!("{:?}", w.code.as_str());
            if !categories.contains_key(&w.code.category()) {
                return Err(CatalogError {
                    file: f_codes.into(),
                    entry: entry(),
                    message: format!("its category {} is not in {f_cat}", w.code.category()),
                });
            }
            if w.hazards.is_empty() {
                return Err(CatalogError {
                    file: f_codes.into(),
                    entry: entry(),
                    message: "\"hazards\" is empty: a listed waste has at least one characteristic"
                        .into(),
                });
            }
        }
        let cw_types: BTreeMap<CwType, CwTypeInfo> = parse_file(f_cw, cw_types)?;
        if let Some(missing) = CwType::ALL.into_iter().find(|t| !cw_types.contains_key(t)) {
            return Err(CatalogError {
                file: f_cw.into(),
                entry: format!("{:?}", missing.as_str()),
                message: "missing: every construction-waste type needs an entry".into(),
            });
        }
        let rd: BTreeMap<RdCode, RdInfo> = parse_file(f_rd, rd_codes)?;
        Ok(Catalog {
            categories,
            wastes,
            cw_types,
            rd,
        })
    }

    /// The catalogs shipped in fixtures/catalog/, compiled in with include_str! (the default).
    pub fn builtin() -> Self {
        Self::from_json(
            include_str!("../../fixtures/catalog/hw-categories.json"),
            include_str!("../../fixtures/catalog/hw-codes.json"),
            include_str!("../../fixtures/catalog/cw-types.json"),
            include_str!("../../fixtures/catalog/rd-codes.json"),
        )
        .expect("the built-in catalogs are valid (tested)")
    }

    /// The category's names, if listed.
    pub fn category(&self, c: HwCategory) -> Option<&CategoryInfo> {
        self.categories.get(&c)
    }

    /// The listed waste; `None` for a code not in the catalog (including `900-000-XX`, which
    /// the list describes only as "found hazardous by testing").
    pub fn waste(&self, c: &WasteCode) -> Option<&WasteInfo> {
        self.wastes.get(c)
    }

    /// The type's names and description (every type is present: checked at load).
    pub fn cw_type(&self, t: CwType) -> &CwTypeInfo {
        &self.cw_types[&t]
    }

    /// The operation's description, if listed.
    pub fn rd(&self, c: RdCode) -> Option<&RdInfo> {
        self.rd.get(&c)
    }

    /// All listed wastes, in code order.
    pub fn wastes(&self) -> impl Iterator<Item = &WasteInfo> {
        self.wastes.values()
    }

    /// All categories, in order.
    pub fn categories(&self) -> impl Iterator<Item = &CategoryInfo> {
        self.categories.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATS: &str = include_str!("../../fixtures/catalog/hw-categories.json");
    const CODES: &str = include_str!("../../fixtures/catalog/hw-codes.json");
    const CW: &str = include_str!("../../fixtures/catalog/cw-types.json");
    const RD: &str = include_str!("../../fixtures/catalog/rd-codes.json");

    fn code(s: &str) -> WasteCode {
        WasteCode::parse(s).unwrap()
    }

    #[test]
    fn builtin_loads_and_holds_together() {
        let c = Catalog::builtin();
        assert_eq!(c.categories().count(), 46);
        for cat in HwCategory::all() {
            assert!(c.category(cat).is_some(), "{cat}");
        }
        let hw08 = c.category(HwCategory::parse("HW08").unwrap()).unwrap();
        assert_eq!(hw08.zh, "废矿物油与含矿物油废物");
        assert_eq!(
            c.category(HwCategory::parse("HW49").unwrap()).unwrap().zh,
            "其他废物"
        );
        assert_eq!(
            c.category(HwCategory::parse("HW50").unwrap()).unwrap().zh,
            "废催化剂"
        );

        let n = c.wastes().count();
        assert!((40..=70).contains(&n), "{n} codes");
        for w in c.wastes() {
            assert!(c.category(w.code.category()).is_some(), "{}", w.code);
            assert!(!w.code.is_tested(), "{}", w.code);
        }
        let oil = c.waste(&code("900-249-08")).unwrap();
        assert_eq!(oil.hazards, [Hazard::T, Hazard::I]);
        let packaging = c.waste(&code("900-041-49")).unwrap();
        assert_eq!(packaging.hazards, [Hazard::T, Hazard::In]);
        assert!(c.waste(&code("900-000-08")).is_none());

        for t in CwType::ALL {
            assert_eq!(c.cw_type(t).zh, t.zh());
        }
        for rd in RdCode::all() {
            assert!(c.rd(rd).is_some(), "{rd}");
        }
        assert!(c
            .rd(RdCode::parse("R9").unwrap())
            .unwrap()
            .en
            .contains("oil"));
    }

    #[test]
    fn bad_code_names_file_and_entry() {
        let codes = r#"{"source": "test", "entries": [
            {"code": "900-249-08", "industry_zh": "非特定行业", "industry_en": "Non-specific", "zh": "废矿物油", "en": "Waste oil", "hazards": ["T", "I"]},
            {"code": "900-249-41", "industry_zh": "非特定行业", "industry_en": "Non-specific", "zh": "x", "en": "x", "hazards": ["T"]}
        ]}"#;
        let e = Catalog::from_json(CATS, codes, CW, RD).unwrap_err();
        assert_eq!(e.file, "hw-codes.json");
        assert_eq!(e.entry, r#"entries[1] "900-249-41""#);
        assert!(e.message.contains("category"), "{e}");
        assert!(
            e.to_string()
                .starts_with("catalog hw-codes.json: entries[1]"),
            "{e}"
        );
    }

    #[test]
    fn bad_hazard_unknown_field_and_duplicate_are_named() {
        let entry = |code: &str, extra: &str| {
            format!(
                r#"{{"code": "{code}", "industry_zh": "a", "industry_en": "a", "zh": "a", "en": "a", "hazards": ["T"]{extra}}}"#
            )
        };
        let file = |entries: &[String]| {
            format!(
                r#"{{"source": "test", "entries": [{}]}}"#,
                entries.join(",")
            )
        };

        let e = Catalog::from_json(
            CATS,
            &file(&[entry("900-249-08", r#", "hazards": ["X"]"#)]),
            CW,
            RD,
        )
        .unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.entry.as_str()),
            ("hw-codes.json", r#"entries[0] "900-249-08""#)
        );

        let e = Catalog::from_json(
            CATS,
            &file(&[entry("900-249-08", r#", "note": "x""#)]),
            CW,
            RD,
        )
        .unwrap_err();
        assert!(e.message.contains("note"), "{e}");

        let e = Catalog::from_json(
            CATS,
            &file(&[entry("900-249-08", ""), entry("900-249-08", "")]),
            CW,
            RD,
        )
        .unwrap_err();
        assert_eq!(e.entry, r#"entries[1] "900-249-08""#);
        assert!(e.message.contains("twice"), "{e}");

        let no_hazard = entry("900-249-08", "").replace(r#"["T"]"#, "[]");
        let e = Catalog::from_json(CATS, &file(&[no_hazard]), CW, RD).unwrap_err();
        assert!(e.message.contains("hazards"), "{e}");
    }

    #[test]
    fn category_missing_from_category_file_is_named() {
        let cats = r#"{"source": "test", "entries": [{"code": "HW49", "zh": "其他废物", "en": "Other wastes"}]}"#;
        let e = Catalog::from_json(cats, CODES, CW, RD).unwrap_err();
        assert_eq!(e.file, "hw-codes.json");
        assert!(e.message.contains("hw-categories.json"), "{e}");
    }

    #[test]
    fn malformed_files_are_named() {
        let e = Catalog::from_json("{", CODES, CW, RD).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.entry.as_str()),
            ("hw-categories.json", "top level")
        );

        let e = Catalog::from_json(CATS, CODES, CW, r#"{"entries": []}"#).unwrap_err();
        assert_eq!(e.file, "rd-codes.json");
        assert!(e.message.contains("source"), "{e}");

        let rd = r#"{"source": "t", "entries": [{"code": "R14", "en": "x", "zh": "x"}]}"#;
        let e = Catalog::from_json(CATS, CODES, CW, rd).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.entry.as_str()),
            ("rd-codes.json", r#"entries[0] "R14""#)
        );
        assert!(e.message.contains("R1 to R13"), "{e}");

        let cats = r#"{"source": "t", "entries": [{"code": "HW08", "zh": "", "en": "x"}]}"#;
        let e = Catalog::from_json(cats, CODES, CW, RD).unwrap_err();
        assert_eq!(e.entry, r#"entries[0] "HW08""#);
        assert!(e.message.contains("zh"), "{e}");
    }

    #[test]
    fn every_cw_type_must_be_described() {
        let cw = r#"{"source": "t", "entries": [{"code": "slurry", "zh": "工程泥浆", "en": "Slurry", "description": "mud"}]}"#;
        let e = Catalog::from_json(CATS, CODES, cw, RD).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.entry.as_str()),
            ("cw-types.json", r#""excavated_soil""#)
        );
    }
}
