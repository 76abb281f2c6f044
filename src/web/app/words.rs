//! PURE: the domain's things in the words the pages use for them (a line's waste, a load, a
//! party, a driver, a signer, a site, an amount, a status's colour), shared by the manifest,
//! hand-over, receiving, issuing and timeline pages.

use super::Lang;
use crate::domain::codes::Uscc;
use crate::domain::model::{Manifest, Status};
use crate::domain::query::DomainQuery;
use crate::web::i18n;
use std::ops::ControlFlow;

/// A line's waste in words: its code (or construction-waste type) and name.
pub fn line_what(l: &crate::domain::events::Line, lang: Lang) -> String {
    match (&l.code, &l.cw_type) {
        (Some(c), _) => format!("{c} {}", l.name),
        (_, Some(t)) => format!("{} {}", i18n::cw_type(*t).get(lang), l.name),
        _ => l.name.clone(),
    }
}

/// A load's waste in a few words: its first line, and how many more.
pub fn load_what(m: &Manifest, lang: Lang) -> String {
    let v = m.current();
    let first = v
        .lines
        .first()
        .map(|l| line_what(l, lang))
        .unwrap_or_default();
    match (v.lines.len().saturating_sub(1), lang) {
        (0, _) => first,
        (_, Lang::Zh) => format!("{first} 等 {} 项", v.lines.len()),
        (more, Lang::En) => format!("{first} and {more} more"),
    }
}

/// A party's name (and id when it is not registered).
pub fn party_name(d: &dyn DomainQuery, id: &Uscc) -> String {
    d.party(id)
        .map_or_else(|| id.to_string(), |p| p.name.clone())
}

/// A registered driver in words: the staff number of a device key the company delegated to
/// them (`key.delegated` with `person`), else the start of their pseudonymous id. Never a
/// name: names are personal data kept beside the log, for those who may read them.
pub fn driver_words(d: &dyn DomainQuery, person: &str, lang: Lang) -> String {
    let mut label: Option<String> = None;
    d.each_delegation(&mut |_, g| {
        if g.person.as_deref() == Some(person) && label.as_ref().is_none_or(|l| g.label > *l) {
            label = Some(g.label.clone());
        }
        ControlFlow::Continue(())
    });
    let driver = match lang {
        Lang::Zh => "驾驶员",
        Lang::En => "driver",
    };
    match label {
        Some(l) => format!("{driver} {l}"),
        None => format!("{driver} {}…", person.get(..12).unwrap_or(person)),
    }
}

/// Who a key signs for, in words: the party's name, and for a phone's key the staff number
/// the party gave it (`Hazardous hauler B（设备 HB-0007）`).
pub fn signer_words(
    d: &dyn DomainQuery,
    key: &crate::ledger::event::PublicKey,
    lang: Lang,
) -> Option<String> {
    let party = party_name(d, &d.party_of(key)?);
    Some(match d.delegation(key) {
        Some(g) => match lang {
            Lang::Zh => format!("{party}（设备 {}）", g.label),
            Lang::En => format!("{party} (device {})", g.label),
        },
        None => party,
    })
}

/// A site's name, or its id.
pub fn site_name(d: &dyn DomainQuery, id: &str) -> String {
    d.site(id)
        .map_or_else(|| id.to_string(), |s| s.reg.name.clone())
}

/// The status band's colour.
pub fn tone(s: Status) -> &'static str {
    match s {
        Status::Received | Status::Treated | Status::Consolidated | Status::Split => "ok",
        Status::Issued | Status::InTransit | Status::AtStation | Status::Delivered => "pending",
        Status::Rejected | Status::Returned | Status::Voided => "bad",
    }
}

/// A quantity's amount in kg or L (from g or ml), as people write it: `340`, `12.5`, `0.001`.
pub fn big_amount(amount: u64) -> String {
    let (whole, frac) = (amount / 1000, amount % 1000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:03}")
            .trim_end_matches('0')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_people_write_them() {
        assert_eq!(big_amount(340_000), "340");
        assert_eq!(big_amount(12_500), "12.5");
        assert_eq!(big_amount(1), "0.001");
        assert_eq!(big_amount(0), "0");
        assert_eq!(big_amount(1_234_560), "1234.56");
    }
}
