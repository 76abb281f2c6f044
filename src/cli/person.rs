//! `wasteledger person` and `wasteledger personal`: the people the log refers to (drivers,
//! escorts) and the personal data kept beside the log.
//!
//! A person is registered once by the party they work for (`person.registered`): the event
//! carries the commitment to their name under a salt drawn once, which is the person's id on
//! every hand-over they drive; the name and its salt are lodged beside the log, readable by the
//! roles that may and erasable, and the id keeps linking their loads after an erasure.

use super::session::{check_body, problem, uscc_arg, Conn, Session};
use crate::client::{encode, Answer};
use crate::domain::events::Commitment;
use crate::domain::personal::{commit, Disclosure, PersonalKind};
use anyhow::{anyhow, bail, Result};
use clap::{Subcommand, ValueEnum};
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum PersonCommand {
    /// Register a driver (or escort) of your party once: prints the person's id for every
    /// hand-over they drive (`handover --driver ID`)
    ///
    /// A salt is drawn at random; the commitment to the name under it is the id, signed into
    /// the log (`person.registered`, by your key, or the authority's for the party); the name
    /// and the salt are lodged beside the log (kind driver_name), never in it.
    Register {
        #[command(flatten)]
        conn: Conn,
        /// The party the person works for (USCC): yours, or any with the authority's key
        #[arg(long, value_name = "USCC")]
        party: String,
        /// The person's name
        #[arg(long, value_name = "NAME")]
        name: String,
        #[arg(long, value_enum, default_value = "driver")]
        role: RoleArg,
        /// The person's licence or staff number (committed to as well, lodged as driver_licence)
        #[arg(long, value_name = "NUMBER")]
        licence: Option<String>,
    },
    /// The registered persons of a name (the authority, inspectors, enforcement, auditors: any
    /// lodged name; a party: the persons whose names it lodged)
    Find {
        #[command(flatten)]
        conn: Conn,
        #[arg(long, value_name = "NAME")]
        name: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Driver,
    Escort,
}

#[derive(Subcommand)]
pub enum PersonalCommand {
    /// Lodge a clear value and its salt beside the log, under the commitment they open
    Lodge {
        #[command(flatten)]
        conn: Conn,
        #[arg(long, value_enum, default_value = "driver-name")]
        kind: KindArg,
        /// The clear value (a name, a licence number)
        #[arg(long, value_name = "TEXT")]
        value: String,
        /// The salt (64 hex digits)
        #[arg(long, value_name = "HEX")]
        salt: String,
    },
    /// Show the clear value behind a commitment (the authority, inspectors, enforcement,
    /// auditors, and the party that lodged it)
    Show {
        #[command(flatten)]
        conn: Conn,
        /// The commitment (a person's id, 64 hex digits)
        commitment: String,
    },
    /// Erase the clear value behind a commitment when its retention ends (the authority): the
    /// commitment stays in the log, every proof still verifies
    Erase {
        #[command(flatten)]
        conn: Conn,
        /// The commitment (64 hex digits)
        commitment: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    DriverName,
    DriverLicence,
    Phone,
}

impl From<KindArg> for PersonalKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::DriverName => PersonalKind::DriverName,
            KindArg::DriverLicence => PersonalKind::DriverLicence,
            KindArg::Phone => PersonalKind::Phone,
        }
    }
}

pub fn run_person(cmd: PersonCommand) -> Result<()> {
    match cmd {
        PersonCommand::Register {
            conn,
            party,
            name,
            role,
            licence,
        } => register(&Session::open(&conn)?, &party, &name, role, licence),
        PersonCommand::Find { conn, name } => {
            let json = conn.json;
            let s = Session::open(&conn)?;
            let found = find(&s, &name)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&found)?);
                return Ok(());
            }
            let persons = found["persons"].as_array().cloned().unwrap_or_default();
            if persons.is_empty() {
                println!(
                    "no registered person named {:?} that you may know of ({})",
                    name.trim(),
                    found["scope"].as_str().unwrap_or("")
                );
            }
            for p in persons {
                println!(
                    "{}  {}  for {}  (entry {})",
                    p["person"].as_str().unwrap_or(""),
                    p["role"].as_str().unwrap_or(""),
                    p["party"].as_str().unwrap_or(""),
                    p["index"]
                );
            }
            Ok(())
        }
    }
}

pub fn run_personal(cmd: PersonalCommand) -> Result<()> {
    match cmd {
        PersonalCommand::Lodge {
            conn,
            kind,
            value,
            salt,
        } => {
            let s = Session::open(&conn)?;
            let d = Disclosure {
                kind: kind.into(),
                value,
                salt,
            };
            let c = lodge(&s, &d)?;
            if s.json {
                println!("{}", json!({"lodged": c.as_str()}));
            } else {
                println!("lodged {}", c.as_str());
            }
            Ok(())
        }
        PersonalCommand::Show { conn, commitment } => {
            let json = conn.json;
            let s = Session::open(&conn)?;
            let c = commitment_arg(&commitment)?;
            let a = s.get_signed(&format!("/v1/personal/{}", c.as_str()))?;
            let r = match a.status {
                200 | 410 => a.json()?,
                _ => bail!(
                    "the log did not show the record of {}: {}",
                    c.as_str(),
                    problem(&a)
                ),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if a.status == 410 {
                println!(
                    "{}: erased at {} by {}",
                    c.as_str(),
                    r["erased_at"].as_str().unwrap_or("?"),
                    r["erased_by"].as_str().unwrap_or("?")
                );
            } else {
                println!(
                    "{}: {} {} (lodged by {} at {})",
                    c.as_str(),
                    r["kind"].as_str().unwrap_or("?"),
                    r["value"].as_str().unwrap_or("?"),
                    r["lodged_by"].as_str().unwrap_or("?"),
                    r["lodged_at"].as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
        PersonalCommand::Erase { conn, commitment } => {
            let s = Session::open(&conn)?;
            let c = commitment_arg(&commitment)?;
            let a = signed(&s, "DELETE", &format!("/v1/personal/{}", c.as_str()), b"")?;
            if a.status != 200 {
                bail!("the log did not erase {}: {}", c.as_str(), problem(&a));
            }
            if s.json {
                println!("{}", json!({"erased": c.as_str()}));
            } else {
                println!(
                    "erased {} (the commitment stays in the log; every proof still verifies)",
                    c.as_str()
                );
            }
            Ok(())
        }
    }
}

fn commitment_arg(s: &str) -> Result<Commitment> {
    Commitment::try_from(s.trim().to_string()).map_err(|e| anyhow!("COMMITMENT: {e}"))
}

fn signed(s: &Session, method: &str, path: &str, body: &[u8]) -> Result<Answer> {
    s.c.signed(method, path, body, &s.key)
        .map_err(|e| e.context(s.unreachable()))
}

/// Lodge a disclosure beside the log; the commitment it opens.
fn lodge(s: &Session, d: &Disclosure) -> Result<Commitment> {
    let c = d.commitment().map_err(|e| anyhow!("--{e}"))?;
    let body = serde_json::to_vec(d)?;
    let a = signed(s, "POST", "/v1/personal", &body)?;
    if a.status != 201 {
        bail!("the log did not lodge it: {}", problem(&a));
    }
    Ok(c)
}

/// `GET /v1/persons?name=`, signed.
fn find(s: &Session, name: &str) -> Result<Value> {
    if name.trim().is_empty() {
        bail!("--name: empty");
    }
    let a = s.get_signed(&format!("/v1/persons?name={}", encode(name.trim())))?;
    if a.status != 200 {
        bail!("the log did not look the name up: {}", problem(&a));
    }
    a.json()
}

/// The id of the one registered person of that name among those the signing party may know of
/// (for `handover --driver-name`).
pub(super) fn resolve(s: &Session, name: &str) -> Result<String> {
    let found = find(s, name)?;
    let persons = found["persons"].as_array().cloned().unwrap_or_default();
    match persons.as_slice() {
        [one] => Ok(one["person"].as_str().unwrap_or_default().to_string()),
        [] => bail!(
            "--driver-name: no registered person named {:?} that you may know of (a party knows the persons it registered): give the driver's id with --driver ID, or register them with `wasteledger person register`",
            name.trim()
        ),
        many => bail!(
            "--driver-name: {} persons are named {:?}; give the driver's id with --driver: {}",
            many.len(),
            name.trim(),
            many.iter()
                .map(|p| format!("{} (for {})", p["person"].as_str().unwrap_or(""), p["party"].as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn random_salt() -> Result<[u8; 32]> {
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| anyhow!("the random source failed: {e}"))?;
    Ok(salt)
}

fn register(
    s: &Session,
    party: &str,
    name: &str,
    role: RoleArg,
    licence: Option<String>,
) -> Result<()> {
    let party = uscc_arg("party", party)?;
    let name = name.trim();
    if name.is_empty() {
        bail!("--name: empty");
    }
    let salt = random_salt()?;
    let person = commit(&salt, name);
    let mut body = json!({
        "type": "person.registered",
        "person": person.as_str(),
        "party": party.as_str(),
        "role": match role { RoleArg::Driver => "driver", RoleArg::Escort => "escort" },
    });
    let licence = match licence.as_deref().map(str::trim) {
        Some("") => bail!("--licence: empty"),
        Some(l) => {
            let salt = random_salt()?;
            body["licence"] = json!(commit(&salt, l).as_str());
            Some(Disclosure {
                kind: PersonalKind::DriverLicence,
                value: l.to_string(),
                salt: hex::encode(salt),
            })
        }
        None => None,
    };
    check_body("person.registered", &body, "the registration")?;
    let body_licence = body["licence"].as_str().map(str::to_string);
    let logged = s.sign_and_submit(body, "the registration")?;
    if s.json {
        println!(
            "{}",
            json!({"person": person.as_str(), "licence": body_licence, "index": logged["index"]})
        );
    } else {
        println!("person {}", person.as_str());
        if let Some(c) = body_licence {
            println!("licence {c}");
        }
    }
    eprintln!(
        "registered for {party} at index {}: hand-overs name this driver with --driver {}",
        logged["index"],
        person.as_str()
    );
    // The name beside the log, under the id; then the licence number, under its commitment.
    let name_record = Disclosure {
        kind: PersonalKind::DriverName,
        value: name.to_string(),
        salt: hex::encode(salt),
    };
    for d in std::iter::once(&name_record).chain(licence.as_ref()) {
        if let Err(e) = lodge(s, d) {
            bail!(
                "{e}\n  the registration is in the log; lodge the value again with: wasteledger personal lodge --server {} --key KEY --kind {} --value {:?} --salt {}",
                s.server,
                match d.kind { PersonalKind::DriverName => "driver-name", PersonalKind::DriverLicence => "driver-licence", PersonalKind::Phone => "phone" },
                d.value,
                d.salt
            );
        }
    }
    eprintln!("the name is lodged beside the log (kind driver_name), readable by the authority, inspectors, enforcement and you; erasable");
    Ok(())
}
