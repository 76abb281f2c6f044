//! HTTPS (`serve`/`demo --tls-cert --tls-key`) and `--public-url`: a self-signed certificate
//! made at test time with the `openssl` CLI, the server's answers fetched with `curl --cacert`
//! (the OpenSSL client a phone's browser stands in for here; the certificate is the README's,
//! which webpki-based clients refuse as a CA used as its own end entity).

use crate::demo::{published_verifier, Demo};
use crate::support::{run_timed, Server};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wasteledger::ledger::note::NoteVerifier;

/// A self-signed EC P-256 certificate for 127.0.0.1 and its key, as README "On a phone" makes
/// one: (certificate, key).
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=wasteledger test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl command (CI installs it)");
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// GET `url` with curl trusting `cacert` (signed with `key` when given): (status, body).
fn curl(
    cacert: &Path,
    base: &str,
    path: &str,
    key: Option<&ed25519_dalek::SigningKey>,
) -> (u16, Vec<u8>) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "20", "--cacert"])
        .arg(cacert)
        .args(["-w", "\n%{http_code}"]);
    if let Some(k) = key {
        let now =
            wasteledger::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now());
        let auth = wasteledger::http::auth::header(k, "GET", path, now, b"");
        cmd.arg("-H").arg(format!("authorization: {auth}"));
    }
    let out = cmd
        .arg(format!("{base}{path}"))
        .output()
        .expect("the curl command (CI installs it)");
    assert!(
        out.status.success(),
        "curl {base}{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut body = out.stdout;
    let cut = body.iter().rposition(|&b| b == b'\n').unwrap();
    let status = std::str::from_utf8(&body[cut + 1..])
        .unwrap()
        .parse()
        .unwrap();
    body.truncate(cut);
    (status, body)
}

fn tls_flags<'a>(cert: &'a Path, key: &'a Path) -> [&'a str; 4] {
    [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]
}

#[test]
fn serve_over_https_answers_the_checkpoint_it_serves_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "server");
    let data = dir.path().join("log");
    let plain = Server::start_bare(&data);
    let over_http = plain.client().get_ok("/v1/log/checkpoint").unwrap();
    plain.kill();

    let mut extra = vec!["--bare"];
    extra.extend(tls_flags(&cert, &key));
    let server = Server::start_with(&data, &extra);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let (status, body) = curl(&cert, &server.url, "/v1/log/checkpoint", None);
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(body).unwrap(), over_http);
    // Nothing is served in clear text on the HTTPS port.
    let clear = server.url.replacen("https://", "http://", 1);
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("{clear}/v1/log/checkpoint"))
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(over_http.trim()),
        "the checkpoint was served over plain HTTP on the HTTPS port"
    );
}

#[test]
fn a_wrong_or_missing_key_is_refused_naming_the_file_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed(dir.path(), "one");
    let (_, other_key) = self_signed(dir.path(), "two");
    let data = dir.path().join("log");
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--bare", "--data"];
        args.push(data.to_str().unwrap());
        args.extend(extra);
        run_timed(&args, Duration::from_secs(30))
    };
    let (code, out) = serve(&tls_flags(&cert, &other_key));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(other_key.to_str().unwrap())
            && out.contains("not the private key of the certificate"),
        "{out}"
    );
    // The certificate given as the key.
    let (code, out) = serve(&tls_flags(&cert, &cert));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("--tls-key") && out.contains("no PRIVATE KEY block"),
        "{out}"
    );
    // One flag without the other.
    let (code, out) = serve(&["--tls-cert", cert.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--tls-key"), "{out}");
    // Nothing was created.
    assert!(!data.exists());
    // A public URL with a query (QR codes append /m/TOKEN) is refused naming the flag.
    let (code, out) = serve(&["--public-url", "https://wl.example/x?y=1"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--public-url") && out.contains("'?'"), "{out}");
}

/// openssl s_client on `addr`, its output read by a thread: (process, bytes received so far).
fn s_client(
    addr: &str,
    cacert: &Path,
) -> (
    std::process::Child,
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", addr, "-CAfile"])
        .arg(cacert)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    let mut out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    (child, got)
}

#[test]
fn under_tls_a_later_request_head_that_trickles_in_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "server");
    let mut extra = vec![
        "--bare",
        "--header-timeout",
        "1s",
        "--keep-alive",
        "1s",
        "--request-timeout",
        "2s",
    ];
    extra.extend(tls_flags(&cert, &key));
    let server = Server::start_with(&dir.path().join("log"), &extra);
    let addr = server.url.trim_start_matches("https://").to_string();
    let (mut client, got) = s_client(&addr, &cert);
    let mut stdin = client.stdin.take().unwrap();
    stdin
        .write_all(b"GET /v1/log/checkpoint HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let t = Instant::now();
    while !String::from_utf8_lossy(&got.lock().unwrap()).contains("HTTP/1.1 200") {
        assert!(t.elapsed() < Duration::from_secs(10), "no answer over TLS");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Half a head that never ends: the watch closes the connection under its TLS stream.
    stdin.write_all(b"GET /v1/log/che").unwrap();
    stdin.flush().unwrap();
    let t = Instant::now();
    while client.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(6) {
            let _ = client.kill();
            panic!("a head trickling in held a TLS connection for 6 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    let (status, _) = curl(&cert, &server.url, "/v1/log/checkpoint", None);
    assert_eq!(status, 200, "the server goes on");
}

#[test]
fn the_demo_over_https_prints_codes_that_open_its_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "demo");
    let public = "https://192.0.2.10:8443";
    let mut extra = vec!["--public-url", "https://192.0.2.10:8443/"];
    extra.extend(tls_flags(&cert, &key));
    let demo = Demo::start_with(&dir.path().join("demo"), &extra);
    assert!(demo.url.starts_with("https://127.0.0.1:"), "{}", demo.url);
    // (The summary is written before the server listens; its reader may lag.)
    let opens = format!("a phone's camera opens {public}/m/<token>");
    let t = Instant::now();
    while !demo.summary().contains(&opens) && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(demo.summary().contains(&opens), "{}", demo.summary());
    let authority =
        wasteledger::keyfile::read(&crate::demo::crate_dir().join("keys/demo-authority.pem"))
            .unwrap();
    let get = |path: &str| {
        let (status, body) = curl(&cert, &demo.url, path, Some(&authority));
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        body
    };
    let list: serde_json::Value =
        serde_json::from_slice(&get("/v1/manifests?status=in_transit")).unwrap();
    let n = list["manifests"][0]["number"].as_str().unwrap().to_string();
    let token: serde_json::Value =
        serde_json::from_slice(&get(&format!("/v1/manifests/{n}/token"))).unwrap();
    let prefix = format!("{public}/m/WL");
    assert!(
        token["payload"].as_str().unwrap().starts_with(&prefix),
        "{token}"
    );
    for c in token["containers"].as_array().unwrap() {
        assert!(c["payload"].as_str().unwrap().starts_with(&prefix), "{c}");
    }
    // The drawn code holds the same URL, and the token in it verifies with the log's key.
    let png = get(&format!("/v1/manifests/{n}/qr.png"));
    let decoded = wasteledger::qr::decode_image(&png).unwrap();
    assert_eq!(
        decoded,
        vec![token["payload"].as_str().unwrap().to_string()]
    );
    let log = NoteVerifier::parse(&published_verifier()).unwrap();
    let body = wasteledger::qr::verify_payload(&decoded[0], &log).unwrap();
    assert_eq!(body.number.to_string(), n);
}
