//! Files a person can write: commented templates for `issue --template` and `register
//! --template`, and the quantities people write in them (`"340kg"`, `{amount = 0.34, unit =
//! "t"}`) turned into the integer grams or millilitres that signed events carry.

use crate::domain::codes::{Quantity, Unit};
use anyhow::{anyhow, Result};
use serde_json::Value;

/// A manifest to issue (TOML): every field, with what it means. The values are the demo's
/// (`wasteledger demo`), so the file issues as it is against a demo log, signed by huachen.
pub const MANIFEST: &str = r#"# A manifest to issue: wasteledger issue --server URL --key YOUR.pem manifest.toml
# (TOML; the same fields in JSON work too). Every code is checked before anything is sent.

# Your own reference for this load (your waste-out slip number): unique among your manifests.
reference = "HC-FW-0500"
# "hazardous" or "construction"
stream = "hazardous"
# You, the generator: your 18-character Unified Social Credit Code.
generator = "91320583MA1MXK7P33"
# The registered site the load leaves from (one of yours), and the site it goes to.
origin = "KS-HC-ETDZ"
destination = "KS-HQ-TRANSFER"
# Planned haulers, in the order they carry it.
haulers = ["91320583MA1N6C3D2W"]
# Transfer plan approval number (转移计划备案号), if there is one.
approval = "320583-ZYJH-0117"

# One [[lines]] table per waste.
[[lines]]
# Hazardous stream: the National Hazardous Waste List code ddd-ddd-dd (HW category last).
# Construction stream: instead of code, cw_type = one of excavated_soil, slurry, site_waste,
# demolition, renovation.
code = "900-249-08"
name = "废矿物油（设备维护换下的废润滑油） waste mineral oil from machine maintenance"
# solid, semi_solid, liquid or gas
form = "liquid"
# Hazard characteristics: T (toxic), C (corrosive), I (ignitable), R (reactive), In (infectious).
hazards = ["T", "I"]
# The whole line's declared quantity: "340kg", "0.34t", "200l", "2m3", or
# { amount = 340000, unit = "g" } (units g, kg, t for mass; ml, l, m3 for volume).
quantity = "340kg"
# What the container labels print (HJ 1276-2022); a label shows "—" for what is left out.
components = "矿物油 mineral oil"
hazardous_components = "多环芳烃 polycyclic aromatic hydrocarbons"
precautions = "远离火源，防止泄漏 keep away from flames; prevent leaks"

# One [[lines.containers]] table per container: each gets its own label and QR code.
[[lines.containers]]
id = "HC-DRUM-0500-1"
packaging = "200 L steel drum"
quantity = "170kg"

[[lines.containers]]
id = "HC-DRUM-0500-2"
packaging = "200 L steel drum"
quantity = "170kg"
"#;

/// Registry events (TOML) for `register`, signed by the authority: one [[events]] table each.
pub const REGISTRY: &str = r#"# Registry events: wasteledger register --server URL --key AUTHORITY.pem registry.toml
# Each [[events]] table is one event, signed with the authority's key and sent in order; all
# are checked before the first is sent, and events already in the log are skipped on a re-run.
# Times are RFC 3339 in UTC ("2026-12-01T00:00:00Z").

[[events]]
type = "party.registered"
party = "91320583MA1MXK7P33"          # Unified Social Credit Code (18 characters)
name = "昆山华辰精密电子有限公司"
roles = ["generator"]                 # generator, hauler, station, receiver, inspector, enforcement, auditor
phone = "0512-5500 0101"              # the company's number, printed on its labels

[[events]]
type = "party.registered"
party = "91320583MA1N6C3D2W"
name = "昆山顺安危险品运输有限公司"
roles = ["hauler"]

[[events]]
type = "party.registered"
party = "91320583MA1W3L7N8H"
name = "昆山瑞清危险废物处置有限公司"
roles = ["receiver"]

[[events]]
type = "key.added"
key = "BASE64-PUBLIC-KEY"             # what `wasteledger keygen` prints as "public key"
holder = "91320583MA1MXK7P33"         # the party the key signs for

[[events]]
type = "site.registered"
site = "KS-HC-ETDZ"
party = "91320583MA1MXK7P33"
kind = "plant"                        # plant, construction_site, station, disposal, recycling, landfill
name = "华辰精密电子 开发区厂区"
location = { lat_e6 = 31355200, lon_e6 = 120993600 }   # degrees × 1,000,000
geofence = [
  { lat_e6 = 31354000, lon_e6 = 120991800 }, { lat_e6 = 31354000, lon_e6 = 120995600 },
  { lat_e6 = 31356500, lon_e6 = 120995600 }, { lat_e6 = 31356500, lon_e6 = 120991800 },
]

[[events]]
type = "licence.granted"
licence = "JSSHW-3205-2026-001"
party = "91320583MA1W3L7N8H"
kind = "hw_operating"                 # hw_operating, hw_transport, cw_disposal, cw_transport
categories = ["HW08"]                 # or codes = ["900-249-08"], or cw_types = [...]
annual_capacity = "5000t"
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2028-12-31T16:00:00Z"

[[events]]
type = "vehicle.registered"
plate = "苏E7H261"
party = "91320583MA1N6C3D2W"
permits = [
  { kind = "hazardous_goods", number = "苏交运危320583001027", valid_from = "2026-01-01T00:00:00Z", valid_until = "2027-12-31T16:00:00Z" },
]
"#;

/// Field names that hold a quantity in event bodies.
const QUANTITY_FIELDS: [&str; 7] = [
    "quantity",
    "annual_capacity",
    "gross",
    "tare",
    "net",
    "accepted",
    "rejected",
];

/// Turn the quantities a person wrote into the signed form `{"amount": N, "unit": "g"|"ml"}`:
/// a string like `"340kg"`, or an object whose unit is kg, t, l or m3 (or whose amount has a
/// decimal point). Exact: a quantity that is not a whole number of grams or millilitres is
/// refused, naming where it is.
pub fn normalize_quantities(v: &mut Value, path: &str) -> Result<()> {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                let here = format!("{path}.{k}");
                if QUANTITY_FIELDS.contains(&k.as_str()) {
                    if let Some(q) = written_quantity(child, &here)? {
                        *child = q;
                        continue;
                    }
                }
                normalize_quantities(child, &here)?;
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter_mut().enumerate() {
                normalize_quantities(child, &format!("{path}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The signed form of one quantity as written, or None if it is not one to convert.
fn written_quantity(v: &Value, at: &str) -> Result<Option<Value>> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Object(m) if m.len() == 2 => {
            let (Some(amount), Some(Value::String(unit))) = (m.get("amount"), m.get("unit")) else {
                return Ok(None);
            };
            if !amount.is_number() {
                return Ok(None);
            }
            if (unit == "g" || unit == "ml") && amount.is_u64() {
                return Ok(None);
            }
            format!("{amount}{unit}")
        }
        _ => return Ok(None),
    };
    let q = parse_qty(&text, Unit::G).map_err(|e| anyhow!("{at}: {e}"))?;
    Ok(Some(serde_json::to_value(q)?))
}

/// A quantity as people write it: `340kg`, `340 kg`, `0.34t`, `200l`, `1500 ml`, `2 m3`, or a
/// bare integer in `bare` units. Exact: the result is whole grams or millilitres.
pub(super) fn parse_qty(s: &str, bare: Unit) -> Result<Quantity, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let num = t[..split].replace('_', "");
    let unit = t[split..].trim().to_ascii_lowercase();
    let (base, factor): (Unit, u64) = match unit.as_str() {
        "" => (bare, 1),
        "g" => (Unit::G, 1),
        "kg" => (Unit::G, 1_000),
        "t" => (Unit::G, 1_000_000),
        "ml" => (Unit::Ml, 1),
        "l" => (Unit::Ml, 1_000),
        "m3" | "m³" => (Unit::Ml, 1_000_000),
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?}; use g, kg, t (mass) or ml, l, m3 (volume)"
            ))
        }
    };
    let (int, frac) = num.split_once('.').unwrap_or((&num, ""));
    if (int.is_empty() && frac.is_empty()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{s:?}: expected a quantity like 340kg, 1.2t or 200l"
        ));
    }
    let too_big = || format!("{s:?}: too large");
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| too_big())?
    };
    let scale = 10u128.checked_pow(frac.len() as u32).ok_or_else(too_big)?;
    let frac_v: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| too_big())?
    };
    let frac_amount = frac_v * factor as u128;
    if !frac_amount.is_multiple_of(scale) {
        return Err(format!(
            "{s:?}: finer than a whole {}; quantities are whole grams or millilitres",
            base.as_str()
        ));
    }
    let amount = int
        .checked_mul(factor)
        .and_then(|a| a.checked_add((frac_amount / scale) as u64))
        .ok_or_else(too_big)?;
    Ok(Quantity::new(amount, base))
}
