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
    assert!(ok && out.contains("logged at index 1"), "{out}");
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
    assert!(ok && out.contains("logged at index 2"), "{out}");
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

/// Key files other tools open: what `keygen` writes, OpenSSL 3 (and Python's `cryptography`,
/// where installed) load, with the same public key; a key file in the PKCS#8 v2 form earlier
/// versions wrote (with the public key) is still read.
#[test]
fn key_files_open_in_openssl_and_the_older_form_still_reads() {
    use base64::Engine;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.pem");
    let (ok, out) = run(&["keygen", "--out", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    let public = out
        .lines()
        .find_map(|l| l.strip_prefix("public key:"))
        .unwrap()
        .trim()
        .to_string();
    let der = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&file)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(
        der.status.success(),
        "openssl cannot load the key file: {}",
        String::from_utf8_lossy(&der.stderr)
    );
    // SubjectPublicKeyInfo for Ed25519: a 12-byte prefix, then the 32-byte key.
    let spki = der.stdout;
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(&spki[spki.len() - 32..]),
        public
    );
    let python = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, base64\n\
             from cryptography.hazmat.primitives import serialization as s\n\
             k = s.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)\n\
             print(base64.b64encode(k.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)).decode())",
        ])
        .arg(&file)
        .output();
    match python {
        Ok(o) if o.status.success() => {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), public)
        }
        _ => eprintln!("python3 with `cryptography` not available: checked with OpenSSL only"),
    }
    // The older form: PKCS#8 v2, the public key inside.
    let key = crate::support::key(42);
    let v2 = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap();
    let old = dir.path().join("old.pem");
    std::fs::write(&old, v2.as_bytes()).unwrap();
    assert_eq!(
        wasteledger::keyfile::read(&old).unwrap().verifying_key(),
        key.verifying_key()
    );
}

/// Scripting conventions: a closed pipe ends a command quietly (no panic, no exit 101); usage
/// errors exit 2, refusals 1; `submit` says what was logged, or the problem as a sentence, and
/// gives the receipt as JSON with `--json`.
#[test]
fn a_closed_pipe_ends_quietly_and_exit_codes_say_what_happened() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(crate::support::BIN)
        .args(["keygen", "--out"])
        .arg(dir.path().join("k.pem"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the command prints anything (`… | head -0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(dir.path().join("k.pem").exists(), "the work was done");

    let usage = Command::new(crate::support::BIN)
        .args(["keygen", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));

    let server = Server::start_bare(&dir.path().join("log"));
    let event = dir.path().join("note.json");
    std::fs::write(&event, r#"{"type":"note","text":"hello"}"#).unwrap();
    let key = dir.path().join("unregistered.pem");
    wasteledger::keyfile::write(&key, &crate::support::key(77)).unwrap();
    let refused = Command::new(crate::support::BIN)
        .args(["submit", "--server", &server.url, "--key"])
        .arg(&key)
        .arg(&event)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the log refused the event")
            && err.contains("is not a registered key")
            && !err.contains("\"type\""),
        "a sentence, not raw problem JSON: {err}"
    );
    let auth = dir.path().join("log.authority.pem");
    let submit = |json: bool, file: &std::path::Path| {
        let mut args = vec!["submit", "--server", &server.url, "--key"];
        args.push(auth.to_str().unwrap());
        if json {
            args.push("--json");
        }
        args.push(file.to_str().unwrap());
        run(&args)
    };
    let (ok, out) = submit(false, &event);
    assert!(ok && out.contains("logged at index 1"), "{out}");
    let again = dir.path().join("note2.json");
    let (ok, out) = submit(true, &again);
    assert!(!ok && out.contains("cannot read"), "{out}");
    std::fs::write(&again, r#"{"type":"note","text":"again"}"#).unwrap();
    let (ok, out) = submit(true, &again);
    assert!(ok, "{out}");
    let receipt: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(receipt["index"], 2);
}
