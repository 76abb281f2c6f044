//! `mirror` and `restore`: a verified copy of a log's tiles in a directory, served by Debian's
//! nginx and mirrored again byte for byte; forks and roll-backs refused with their evidence;
//! a directory left consistent by a mirror stopped mid-write; a log restored from a mirror
//! that serves the same checkpoint and proofs and carries on its chain.

use crate::durability::copy_dir;
use crate::support::{self, key, key_added, run, signed, Server, BIN};
use crate::tiles::grow;
use crate::world::{post, World};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use wasteledger::client::LogClient;
use wasteledger::ledger::tiles::tiles_of;

/// Every file under `dir` (relative path → bytes).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            } else {
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The served part of a mirror: the checkpoint and the tile tree.
fn served(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files(dir)
        .into_iter()
        .filter(|(p, _)| p == "checkpoint" || p.starts_with("tile/"))
        .collect()
}

fn mirror(from: &str, dir: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec![
        "mirror",
        "--once",
        "--from",
        from,
        "--dir",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// GET raw bytes (anyone).
fn get(base: &str, path: &str) -> Vec<u8> {
    let (status, body) = LogClient::new(base).get_bytes(path, false).unwrap();
    assert_eq!(status, 200, "{base}{path}");
    body
}

/// The mirror holds exactly the server's tile tree at the server's size.
fn assert_mirror_of(dir: &Path, base: &str) {
    let note = get(base, "/checkpoint");
    let size: u64 = String::from_utf8_lossy(&note)
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut want = BTreeMap::new();
    want.insert("checkpoint".to_string(), note);
    for t in tiles_of(size) {
        want.insert(t.path(), get(base, &format!("/{}", t.path())));
    }
    let have = served(dir);
    assert_eq!(
        have.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the mirror's files are the tiles of size {size}"
    );
    for (p, bytes) in want {
        assert!(have[&p] == bytes, "{p} differs from the server's");
    }
}

fn fetched(out: &str) -> u64 {
    let at = out
        .find(" files fetched")
        .unwrap_or_else(|| panic!("{out}"));
    out[..at].rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_mirror_follows_the_log_resumes_and_mirrors_of_it_through_nginx_are_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, base) = bare_log(&tmp.path().join("log"), 600);
    let c = server.client();
    let d = tmp.path().join("mirror");

    let (ok, out) = mirror(&base, &d, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("mirrored 0 -> 600"), "{out}");
    assert!(out.contains("trusting the log key entry 0 names"), "{out}");
    assert_mirror_of(&d, &base);
    let first = fetched(&out);

    // More entries: the second run starts from the directory's checkpoint (re-audited from
    // its own bundles) and fetches only the tiles that are new; the partial tiles of size 600
    // are gone, replaced by their full ones.
    grow(&c, &base, 1_100);
    let (ok, out) = mirror(&base, &d, &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("re-audited the 600 entries already in"),
        "{out}"
    );
    assert!(out.contains("mirrored 600 -> 1100"), "{out}");
    assert_mirror_of(&d, &base);
    assert!(!d.join("tile/0/002.p/88").exists());
    let new_tiles = tiles_of(1_100)
        .iter()
        .filter(|t| !(t.count() == 256 && t.exists_in(600)))
        .count() as u64;
    let second = fetched(&out);
    assert!(
        second <= new_tiles + 4 && second < first + 4,
        "fetched {second} files for {new_tiles} new tiles: {out}"
    );
    let (ok, out) = mirror(&base, &d, &[]);
    assert!(ok && out.contains("up to date: 1100 entries"), "{out}");

    // The directory is a log's tiles for any reader: audit reads it as one.
    let (ok, out) = run(&["audit", "--tiles", d.to_str().unwrap()]);
    assert!(ok && out.contains("ok: 1100 entries"), "{out}");

    // Served by nginx, it is mirrored again, byte for byte, with the first mirror's pinned key.
    if wasteledger::bench::nginx::installed().is_none() {
        eprintln!("SKIPPED the nginx half: nginx is not installed (apt-get install nginx; CI installs it)");
        return;
    }
    let nginx = wasteledger::bench::nginx::Nginx::start(&d).unwrap();
    let (ok, out) = run(&["audit", "--tiles", &nginx.url]);
    assert!(ok && out.contains("ok: 1100 entries"), "{out}");
    let d2 = tmp.path().join("mirror2");
    let pinned = d.join(".mirror/log-key");
    let (ok, out) = mirror(&nginx.url, &d2, &["--log-key", pinned.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(!out.contains("trusting"), "{out}");
    let (a, b) = (files(&d), files(&d2));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (p, bytes) in &a {
        assert!(
            b[p] == *bytes,
            "{p} differs between the mirror and its mirror"
        );
    }
    // A wrong pinned key is refused before anything is written.
    let (ok, out) = mirror(
        &nginx.url,
        &d2,
        &[
            "--log-key",
            &wasteledger::ledger::note::NoteVerifier::new("x.example/log", key(9).verifying_key())
                .unwrap()
                .to_string(),
        ],
    );
    assert!(!ok && out.contains("is not the key"), "{out}");

    // Go's own transparency-log client reads the copy nginx serves as the log itself: the
    // signed checkpoint, the tree hash of the tiles, every entry proved in the tree.
    let vkey = std::fs::read_to_string(&pinned).unwrap();
    let Some((ok, out)) = go_tlog_check(&nginx.url, &vkey, tmp.path()) else {
        eprintln!("SKIPPED Go's tlog client: go is not installed (apt-get install golang-go golang-golang-x-mod-dev; CI installs them)");
        return;
    };
    assert!(ok && out.contains("ok: 1100 entries"), "{out}");
    // One hash changed in a full tile of the copy (entries 256 to 511): the client refuses the
    // first entry it proves through it.
    let tile = d.join("tile/0/001");
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&tile, &bytes).unwrap();
    let (ok, out) = go_tlog_check(&nginx.url, &vkey, tmp.path()).unwrap();
    assert!(
        !ok && out.contains("entry 256 is not in the signed tree"),
        "{out}"
    );
}

/// Go's tlog client (`tests/it/go/tlogcheck.go`, built on golang.org/x/mod/sumdb as Debian
/// packages it) run against the log at `url`: (success, its output). None when there is no
/// `go` on this machine.
fn go_tlog_check(url: &str, vkey: &str, work: &Path) -> Option<(bool, String)> {
    Command::new("go").arg("version").output().ok()?;
    let src = work.join("tlogcheck");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("main.go"), include_str!("go/tlogcheck.go")).unwrap();
    Some(support::outcome(
        Command::new("go")
            .args(["run", ".", url, vkey.trim()])
            .current_dir(&src)
            .env("GO111MODULE", "off")
            .env("GOPATH", "/usr/share/gocode")
            .env("GOCACHE", work.join("gocache"))
            .env("GOFLAGS", ""),
    ))
}

/// A bare log of `n` entries in `data` (a writer's key, then notes), served; and its URL.
fn bare_log(data: &Path, n: u64) -> (Server, String) {
    let server = Server::start_bare(data);
    let c = server.client();
    let base = server.url.trim_end_matches('/').to_string();
    assert_eq!(post(&c, &key_added(&key(1), "writer").to_bytes()).0, 201);
    grow(&c, &base, n);
    (server, base)
}

/// A bare log of `n` entries in `dir/log`, its server stopped; returns the data directory.
fn stopped_log(dir: &Path, n: u64) -> PathBuf {
    let data = dir.join("log");
    bare_log(&data, n).0.kill();
    data
}

#[test]
fn a_fork_or_a_roll_back_is_refused_the_evidence_kept_and_the_mirror_left_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let data = stopped_log(tmp.path(), 300);
    // Another log with the same key and origin: a copy of the directory.
    let other = tmp.path().join("other");
    copy_dir(&data, &other);
    std::fs::copy(
        data.with_extension("authority.pem"),
        other.with_extension("authority.pem"),
    )
    .unwrap();
    let a = Server::start_bare(&data);
    let a_url = a.url.trim_end_matches('/').to_string();
    grow(&a.client(), &a_url, 320);
    let d = tmp.path().join("mirror");
    let (ok, out) = mirror(&a_url, &d, &[]);
    assert!(ok && out.contains("mirrored 0 -> 320"), "{out}");
    let before = served(&d);

    // The copy serves size 300: a roll-back.
    let b = Server::start_bare(&other);
    let b_url = b.url.trim_end_matches('/').to_string();
    let (ok, out) = mirror(&b_url, &d, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("roll-back") && out.contains("size 300") && out.contains("320"),
        "{out}"
    );
    assert_eq!(served(&d), before, "a refused mirror changes no tile");

    // The copy grows other entries: a fork.
    let writer = key(1);
    for i in 0..30 {
        let ev = signed(
            json!({"type": "note", "text": format!("other {i}")}),
            &[&writer],
        );
        assert_eq!(post(&b.client(), &ev.to_bytes()).0, 201);
    }
    let (ok, out) = mirror(&b_url, &d, &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("fork"), "{out}");
    assert_eq!(served(&d), before, "a refused mirror changes no tile");

    // Both refusals kept both signed checkpoints, each verifiable with the log's key.
    let evidence: Vec<PathBuf> = std::fs::read_dir(d.join("evidence"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(evidence.len(), 2, "{evidence:?}");
    let v = wasteledger::ledger::note::NoteVerifier::parse(
        std::fs::read_to_string(d.join(".mirror/log-key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    for e in &evidence {
        let name = e.file_name().unwrap().to_string_lossy().into_owned();
        let open = |f: &str| {
            wasteledger::ledger::note::Checkpoint::open(
                &std::fs::read_to_string(e.join(f)).unwrap(),
                &v,
            )
            .unwrap()
        };
        let (mirrored, served) = (open("mirrored-checkpoint"), open("served-checkpoint"));
        assert_eq!(mirrored.size, 320);
        if name.starts_with("rollback-320-300") {
            assert_eq!(served.size, 300);
        } else {
            assert!(name.starts_with("fork-320-330"), "{name}");
            assert_eq!(served.size, 330);
        }
    }
    // The true log still mirrors on.
    grow(&a.client(), &a_url, 340);
    let (ok, out) = mirror(&a_url, &d, &[]);
    assert!(ok && out.contains("mirrored 320 -> 340"), "{out}");
}

#[test]
fn a_mirror_stopped_mid_write_stays_consistent_and_a_rerun_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, base) = bare_log(&tmp.path().join("log"), 300);
    let c = server.client();
    let d = tmp.path().join("mirror");
    assert!(mirror(&base, &d, &[]).0);
    let note_300 = std::fs::read(d.join("checkpoint")).unwrap();
    grow(&c, &base, 700);
    // Stopped after 0, 1, 3 and 5 files, half-way through the next one (the sixth and last
    // is the checkpoint).
    for n in [0, 1, 3, 5] {
        let dn = tmp.path().join(format!("mirror-{n}"));
        copy_dir(&d, &dn);
        let out = Command::new(BIN)
            .args([
                "mirror",
                "--once",
                "--from",
                &base,
                "--dir",
                dn.to_str().unwrap(),
            ])
            .env("WASTELEDGER_MIRROR_STOP_AFTER", n.to_string())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(86), "{out:?}");
        // The checkpoint is the old one, and every tile it needs is there and right.
        assert_eq!(std::fs::read(dn.join("checkpoint")).unwrap(), note_300);
        let (ok, text) = run(&["audit", "--tiles", dn.to_str().unwrap()]);
        assert!(
            ok && text.contains("ok: 300 entries"),
            "after {n} files: {text}"
        );
        for t in tiles_of(300) {
            let p = dn.join(t.path());
            assert!(
                std::fs::read(&p).unwrap() == std::fs::read(d.join(t.path())).unwrap(),
                "after {n} files: {} changed",
                t.path()
            );
        }
        let (ok, text) = mirror(&base, &dn, &[]);
        assert!(ok && text.contains("mirrored 300 -> 700"), "{text}");
        assert_mirror_of(&dn, &base);
        assert!(
            !files(&dn).keys().any(|p| p.ends_with(".tmp")),
            "a rerun leaves no temporary file"
        );
    }
}

#[test]
fn a_log_restored_from_its_mirror_serves_the_same_checkpoint_and_proofs_and_carries_on() {
    let tmp = tempfile::tempdir().unwrap();
    let w = World::start(tmp.path());
    for _ in 0..3 {
        let m = w.issue_hazardous("S-DISPOSAL");
        w.pickup(&m);
    }
    let reader = tmp.path().join("bureau.pem");
    wasteledger::keyfile::write(&reader, &w.bureau.key).unwrap();
    let base = w.server.url.trim_end_matches('/').to_string();
    let d = tmp.path().join("mirror");
    // A waste log's entry bundles are for readers who see everything.
    let (ok, out) = mirror(&base, &d, &[]);
    assert!(
        !ok && out.contains("401") && out.contains("give --key"),
        "{out}"
    );
    let (ok, out) = mirror(&base, &d, &["--key", reader.to_str().unwrap()]);
    assert!(ok, "{out}");
    let orig_note = get(&base, "/checkpoint");
    let size: u64 = String::from_utf8_lossy(&orig_note)
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();

    let data = tmp.path().join("log");
    let restored = tmp.path().join("restored");
    let log_pem = data.join("keys/log.pem");
    let (ok, out) = run(&[
        "restore",
        "--from",
        d.to_str().unwrap(),
        "--data",
        restored.to_str().unwrap(),
        "--log-key-file",
        log_pem.to_str().unwrap(),
    ]);
    assert!(
        ok && out.contains(&format!("restored {size} entries")),
        "{out}"
    );
    let verify = |dir: &Path| -> Value {
        let (ok, out) = run(&["verify", "--json", "--data", dir.to_str().unwrap()]);
        assert!(ok, "{out}");
        serde_json::from_str(out.lines().find(|l| l.starts_with('{')).unwrap()).unwrap()
    };
    // `verify` finds the restored log whole: every entry, node and index, the same signed
    // checkpoint.
    let v = verify(&restored);
    assert_eq!(v["size"], size);
    assert_eq!(v["checkpoint"].as_str().unwrap().as_bytes(), &orig_note[..]);
    let r = Server::start(&restored);
    let r_base = r.url.trim_end_matches('/').to_string();
    assert_eq!(
        get(&r_base, "/checkpoint"),
        orig_note,
        "the same signed note"
    );
    let proof = |b: &str, p: &str| -> Value { serde_json::from_slice(&get(b, p)).unwrap() };
    for n in [1, size / 3, size / 2, size - 1, size] {
        for i in [0, n / 2, n - 1] {
            let p = format!("/v1/log/proof/inclusion?index={i}&size={n}");
            assert_eq!(proof(&base, &p), proof(&r_base, &p), "{p}");
        }
        let p = format!("/v1/log/proof/consistency?from={}&to={size}", n.max(1));
        assert_eq!(proof(&base, &p), proof(&r_base, &p), "{p}");
    }

    // The restored log takes new events and chains them on its last entry.
    let newcomer = key(77);
    let (status, receipt) = post(&r.client(), &key_added(&newcomer, &w.plant.id).to_bytes());
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["index"], size);
    let last = r
        .client()
        .get_signed(&format!("/v1/log/entries/{}", size - 1), &w.bureau.key)
        .unwrap();
    let entry = r
        .client()
        .get_signed(&format!("/v1/log/entries/{size}"), &w.bureau.key)
        .unwrap();
    let prev = wasteledger::ledger::entry::Entry::decode(entry.body.as_bytes())
        .unwrap()
        .prev;
    assert_eq!(
        prev,
        wasteledger::ledger::merkle::leaf_hash(last.body.as_bytes())
    );

    // Both logs stopped: the original audits to the same signed checkpoint the restored one
    // started from, and the restored one audits with its new entry.
    drop(r);
    drop(w);
    let o = verify(&data);
    assert_eq!(o["checkpoint"].as_str().unwrap().as_bytes(), &orig_note[..]);
    assert_eq!(verify(&restored)["size"], size + 1);
    // A second restore into the same directory is refused.
    let (ok, out) = run(&[
        "restore",
        "--from",
        d.to_str().unwrap(),
        "--data",
        restored.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("already holds a log"), "{out}");
}

#[test]
fn without_once_the_mirror_follows_the_log_as_it_grows() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, base) = bare_log(&tmp.path().join("log"), 20);
    let d = tmp.path().join("mirror");
    let child = Command::new(BIN)
        .args(["mirror", "--interval", "100ms", "--from", &base, "--dir"])
        .arg(&d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Killed(Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Killed(child);
    let reaches = |size: &str| {
        for _ in 0..300 {
            let note = std::fs::read_to_string(d.join("checkpoint")).unwrap_or_default();
            if note.lines().nth(1) == Some(size) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the mirror did not reach size {size}");
    };
    reaches("20");
    grow(&server.client(), &base, 300);
    reaches("300");
    // Every tile of the new checkpoint is there and is the server's (the partial tiles of size
    // 20 may still be on their way out).
    for t in tiles_of(300) {
        assert!(
            std::fs::read(d.join(t.path())).unwrap() == get(&base, &format!("/{}", t.path())),
            "{}",
            t.path()
        );
    }
}
