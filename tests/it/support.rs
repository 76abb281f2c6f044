//! Shared helpers: real server processes on port 0, keys, signed events.

#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use wasteledger::client::LogClient;
use wasteledger::ledger::event::{PublicKey, SignedEvent};

pub const BIN: &str = env!("CARGO_BIN_EXE_wasteledger");

/// The server binary the test servers run: `WASTELEDGER_TEST_BIN` if set (a copy kept aside
/// when several worktrees share one target directory and overwrite its `wasteledger`), else
/// the one cargo built.
pub fn server_bin() -> String {
    std::env::var("WASTELEDGER_TEST_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// A deterministic test key (seed byte `n`).
pub fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub fn pk(k: &SigningKey) -> String {
    PublicKey(k.verifying_key()).to_string()
}

/// The authority key every test log is created with.
pub fn authority() -> SigningKey {
    key(200)
}

pub fn signed(body: Value, keys: &[&SigningKey]) -> SignedEvent {
    SignedEvent::sign(body, keys).expect("valid test event")
}

pub fn key_added(k: &SigningKey, holder: &str) -> SignedEvent {
    signed(
        json!({"type": "key.added", "key": pk(k), "holder": holder}),
        &[&authority()],
    )
}

/// A running `wasteledger serve` process; killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
}

impl Server {
    /// Start the real binary on `data` (creating a waste log on first start with the test
    /// authority key) and wait until it says where it listens.
    pub fn start(data: &Path) -> Server {
        Self::start_with(data, &[])
    }

    /// The same for a bare signed log (no waste rules): the ledger core's own tests.
    pub fn start_bare(data: &Path) -> Server {
        Self::start_with(data, &["--bare"])
    }

    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        let auth = data.with_extension("authority.pem");
        if !auth.exists() {
            wasteledger::keyfile::write(&auth, &authority()).unwrap();
        }
        let mut child = Command::new(server_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--authority-key")
            .arg(&auth)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start wasteledger serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from serve: {line:?}"))
            .to_string();
        Server {
            child,
            url,
            data: data.to_path_buf(),
        }
    }

    pub fn client(&self) -> LogClient {
        LogClient::new(&self.url)
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// [`run`] on a log a server just left: sled lets go of its file lock a moment after the
/// process is gone, so a command that finds the database "in use by another process" is run
/// again (for up to 5 s).
pub fn run_unlocked(args: &[&str]) -> (bool, String) {
    for _ in 0..50 {
        let (okay, out) = run(args);
        if !out.contains("in use by another process") {
            return (okay, out);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the log stayed locked: {args:?}");
}

/// Run the binary with `args`; returns (success, stdout + stderr).
pub fn run(args: &[&str]) -> (bool, String) {
    outcome(Command::new(BIN).args(args).env("RUST_LOG", "warn"))
}

/// Run a command to its end; returns (success, stdout + stderr).
pub fn outcome(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Run the binary with a time limit: (exit code, stdout + stderr); `None` as the code means it
/// was killed by a signal. A run past the limit is killed and fails the test rather than
/// hanging it.
pub fn run_timed(args: &[&str], limit: std::time::Duration) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "`wasteledger {}` did not finish within {limit:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// The time `s` seconds from now, as events write it (a `not_after`, an `at` ahead).
pub fn in_seconds(s: u64) -> String {
    let now = wasteledger::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now());
    wasteledger::ledger::time::Timestamp::from_unix_millis(now.unix_millis() + s * 1000).to_string()
}
