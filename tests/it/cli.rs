//! The command-line contract: keygen, submit (sign and countersign), audit, against the real
//! server process.

use crate::support::{run, Server};
use wasteledger::ledger::note::NoteVerifier;

#[test]
fn a_party_makes_a_key_gets_registered_signs_and_the_log_audits_clean() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_bare(&dir.path().join("log"));
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();

    // keygen: a PEM key file, its public key and its verifier key, and no overwriting.
    let (ok, out) = run(&["keygen", "--out", &path("plant.pem"), "--name", "plant"]);
    assert!(ok, "{out}");
    let public = out
        .lines()
        .find_map(|l| l.strip_prefix("public key:"))
        .unwrap()
        .trim()
        .to_string();
    let verifier = out
        .lines()
        .find_map(|l| l.strip_prefix("verifier key:"))
        .unwrap()
        .trim();
    let key = wasteledger::keyfile::read(std::path::Path::new(&path("plant.pem"))).unwrap();
    assert_eq!(
        NoteVerifier::parse(verifier).unwrap().key,
        key.verifying_key()
    );
    assert_eq!(public, crate::support::pk(&key));
    let (ok, out) = run(&["keygen", "--out", &path("plant.pem")]);
    assert!(!ok && out.contains("must not exist yet"), "{out}");

    // submit: the authority registers the key; the plant signs a note.
    std::fs::write(
        path("add.json"),
        format!(r#"{{"type":"key.added","key":"{public}","holder":"plant"}}"#),
    )
    .unwrap();
    let authority = dir.path().join("log.authority.pem");
    let (ok, out) = run(&[
        "submit",
        "--server",
        &server.url,
        "--key",
        authority.to_str().unwrap(),
        &path("add.json"),
    ]);
    assert!(ok && out.contains(r#""index":1"#), "{out}");
    // A pretty-printed body is fine for the client: it signs the canonical form.
    std::fs::write(
        path("note.json"),
        "{\n  \"type\": \"note\",\n  \"text\": \"drum 7 sealed\"\n}\n",
    )
    .unwrap();
    let plant_submits_note = || {
        run(&[
            "submit",
            "--server",
            &server.url,
            "--key",
            &path("plant.pem"),
            &path("note.json"),
        ])
    };
    let (ok, out) = plant_submits_note();
    assert!(ok && out.contains(r#""index":2"#), "{out}");
    // The same again is a replay: the client says the log refused it, and why.
    let (ok, out) = plant_submits_note();
    assert!(
        !ok && out.contains("replay") && out.contains("409"),
        "{out}"
    );
    // Signed by no one: refused before anything is sent.
    let (ok, out) = run(&["submit", "--server", &server.url, &path("note.json")]);
    assert!(!ok && out.contains("--key"), "{out}");

    // audit: the whole log over HTTP, against the verifier key the server serves.
    let (ok, out) = run(&["audit", "--server", &server.url]);
    assert!(ok && out.starts_with("ok: 3 entries"), "{out}");
    // With a verifier key that is not the log's, the audit fails.
    let (ok, out) = run(&["audit", "--server", &server.url, "--log-key", verifier]);
    assert!(!ok && out.contains("checkpoint"), "{out}");
}
