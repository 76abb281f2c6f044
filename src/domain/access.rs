//! PURE: who may see what of the domain's state. A reader is one of three: one who sees
//! everything (the authority, inspectors, enforcement, auditors), a party who sees what
//! concerns it, or the public. Every reader of the state (the HTTP API, the pages, the
//! investigations) asks these rules, so they are written once.

use super::codes::{ManifestNumber, Plate, Uscc};
use super::events::Role;
use super::model::Manifest;
use super::query::DomainQuery;

/// What a reader may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Everything: the authority, and parties whose roles oversee the others.
    All,
    /// What this party is a party to, or owns.
    Party(Uscc),
    /// The public view only: an anonymous reader, or a key of no known party.
    Public,
}

/// What a finding (an anomaly) names: the manifests its reason speaks of, and the vehicles,
/// sites and parties it is about.
#[derive(Clone, Copy, Debug)]
pub struct Named<'a> {
    pub manifests: &'a [ManifestNumber],
    pub vehicles: &'a [Plate],
    pub sites: &'a [String],
    pub parties: &'a [Uscc],
}

impl Access {
    /// Roles that see everything: those who oversee the others.
    pub fn oversees(roles: &[Role]) -> bool {
        roles
            .iter()
            .any(|r| matches!(r, Role::Inspector | Role::Enforcement | Role::Auditor))
    }

    /// A registered party's access by its roles.
    pub fn of_party(id: &Uscc, roles: &[Role]) -> Access {
        if Self::oversees(roles) {
            Access::All
        } else {
            Access::Party(id.clone())
        }
    }

    pub fn sees_all(&self) -> bool {
        matches!(self, Access::All)
    }

    /// The party a reader is confined to (None: it sees all, or only the public view).
    pub fn party(&self) -> Option<&Uscc> {
        match self {
            Access::Party(id) => Some(id),
            _ => None,
        }
    }

    /// A manifest in full (quantities, parties, events), not only its public view.
    pub fn may_see_manifest(&self, m: &Manifest) -> bool {
        match self {
            Access::All => true,
            Access::Party(id) => m.parties.contains(id),
            Access::Public => false,
        }
    }

    /// What is a party's own business (where its trucks are, its device keys' details, the
    /// personal records it lodged): for it and for those who see everything.
    pub fn may_see_business_of(&self, owner: &Uscc) -> bool {
        match self {
            Access::All => true,
            Access::Party(id) => id == owner,
            Access::Public => false,
        }
    }

    /// A hand-over waiting for its countersignature: for its giver and its taker (as the
    /// event names them) and those who see everything.
    pub fn may_see_handover(&self, from: Option<&str>, to: Option<&str>) -> bool {
        match self {
            Access::All => true,
            Access::Party(id) => [from, to].contains(&Some(id.as_str())),
            Access::Public => false,
        }
    }

    /// A finding (an anomaly): a party sees it only if it is a party to every manifest the
    /// finding names (its reason and entries speak of all of them: a receiver's yearly intake,
    /// a station's books, every load on a truck), and the finding is about something of its
    /// own (one of those manifests, or its vehicle, site or self).
    pub fn may_see_anomaly(&self, d: &dyn DomainQuery, named: Named<'_>) -> bool {
        let party = match self {
            Access::All => return true,
            Access::Public => return false,
            Access::Party(id) => id,
        };
        let all_own = named
            .manifests
            .iter()
            .all(|n| d.manifest(n).is_some_and(|m| m.parties.contains(party)));
        all_own
            && (!named.manifests.is_empty()
                || named
                    .vehicles
                    .iter()
                    .any(|p| d.vehicle(p).is_some_and(|v| v.party == *party))
                || named
                    .sites
                    .iter()
                    .any(|s| d.site(s).is_some_and(|s| s.reg.party == *party))
                || named.parties.contains(party))
    }
}
