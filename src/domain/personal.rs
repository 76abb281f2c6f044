//! Personal data (a driver's name, licence number, phone): never in a signed event in clear.
//! The event carries a salted commitment; the clear value and its salt are kept beside the log
//! (readable by the roles that may, erasable when the retention period ends) and every proof
//! still verifies after an erasure, because no entry changes.
//!
//! `commitment = hex(SHA-256(salt || UTF-8 value))`, salt 32 random bytes (hex on the wire).

use super::events::Commitment;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonalKind {
    DriverName,
    DriverLicence,
    Phone,
}

/// A clear value and its salt, as a party lodges it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclosure {
    pub kind: PersonalKind,
    pub value: String,
    /// 64 hex digits (32 bytes).
    pub salt: String,
}

impl Disclosure {
    /// The commitment this disclosure opens, or why it is malformed.
    pub fn commitment(&self) -> Result<Commitment, String> {
        let salt: [u8; 32] = hex::decode(&self.salt)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                format!(
                    "salt: expected 64 hex digits (32 bytes), got {:?}",
                    self.salt
                )
            })?;
        if self.value.trim().is_empty() {
            return Err("value: expected the clear value".into());
        }
        Ok(commit(&salt, &self.value))
    }
}

/// The commitment to `value` under `salt`.
pub fn commit(salt: &[u8; 32], value: &str) -> Commitment {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(value.as_bytes());
    Commitment::try_from(hex::encode(h.finalize())).expect("64 lower-case hex digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disclosure_opens_its_commitment_and_no_other() {
        let d = Disclosure {
            kind: PersonalKind::DriverName,
            value: "张建国".into(),
            salt: "11".repeat(32),
        };
        let c = d.commitment().unwrap();
        assert_eq!(c, commit(&[0x11; 32], "张建国"));
        let other = Disclosure {
            value: "张建军".into(),
            ..d.clone()
        };
        assert_ne!(other.commitment().unwrap(), c);
        let bad = Disclosure {
            salt: "11".into(),
            ..d
        };
        assert!(bad.commitment().unwrap_err().starts_with("salt"));
    }
}
