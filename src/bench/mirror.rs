//! `bench --mirror`: the log mirrored through its tiles over HTTP loopback (every entry
//! audited, every hash tile recomputed, every file fsynced), a resumed mirror's local re-audit,
//! and a restore from the mirror directory; each beside the raw verify rate.

use super::{RawRates, Served};
use crate::ledger::note::NoteVerifier;
use crate::ledger::state::{Fold, OpenRules, Rules};
use crate::mirror::{Mirror, MirrorDir, Options, TileSource};
use crate::store::Ledger;
use anyhow::{bail, Result};
use std::path::Path;
use std::time::Instant;

pub(super) fn run(ledger: &Ledger, dir: &Path, raw: &RawRates) -> Result<()> {
    let served = Served::start(ledger)?;
    let source = TileSource::open(&served.base, None);
    let target = dir.join("mirror");
    let v = ledger.verifier().clone();
    let mut fold = OpenRules.fresh();
    let mut m = open(&target, &source, &v, fold.as_mut())?;
    let step = m.step(&mut |_, _| {})?;
    drop(m);
    if let Err(e) = serving(&served.base, &target) {
        println!("tiles served (server beside nginx): not measured ({e:#})");
    }
    served.stop();
    let n = step.to as f64;
    let secs = step.elapsed.as_secs_f64();
    println!(
        "mirror (tiles over HTTP loopback; every entry audited, hash tiles recomputed, files fsynced): {} entries in {secs:.2}s = {:.0} entries/s ({:.2}x one core's verify_strict); {} files, {} bytes",
        step.to,
        n / secs,
        n / secs / raw.verify_strict_per_s,
        step.fetched.0,
        step.fetched.1
    );
    let t = Instant::now();
    let mut fold = OpenRules.fresh();
    let local = TileSource::Dir(target.clone());
    let m = open(&target, &local, &v, fold.as_mut())?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "mirror resumed (the directory re-audited from its own bundles, no network): {} entries in {secs:.2}s = {:.0} entries/s",
        m.size(),
        n / secs
    );
    drop(m);
    let restored = dir.join("restored");
    let note = local.checkpoint()?;
    let size = step.to;
    let t = Instant::now();
    let r = crate::store::restore(
        &restored,
        &note,
        &OpenRules,
        &mut |at| match local.bundle(at, size) {
            Ok(Ok((first, entries))) => {
                Ok(entries.into_iter().skip((at - first) as usize).collect())
            }
            Ok(Err(f)) => Err(f.to_string()),
            Err(e) => Err(format!("{e:#}")),
        },
        &mut |_, _| {},
    )?;
    let secs = t.elapsed().as_secs_f64();
    if let Err(f) = r {
        bail!("restore failed at {f}");
    }
    println!(
        "restore (from the mirror directory: entries written, derived trees rebuilt by the audit's fold): {size} entries in {secs:.2}s = {:.0} entries/s ({:.2}x one core's verify_strict)",
        n / secs,
        n / secs / raw.verify_strict_per_s
    );
    std::fs::remove_dir_all(&restored)?;
    std::fs::remove_dir_all(&target)?;
    Ok(())
}

/// GET the same full hash tile and entry bundle from the server and from nginx serving the
/// mirror directory, `wrk` with the same threads and connections, one after the other.
fn serving(base: &str, mirror: &Path) -> Result<()> {
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!("wrk is not installed (apt-get install wrk)");
    }
    let nginx = Nginx::start(mirror)?;
    for (what, path) in [
        ("full hash tile", "/tile/0/000"),
        ("full entry bundle", "/tile/entries/000"),
    ] {
        if !mirror.join(&path[1..]).exists() {
            bail!("the log has no full tile yet (fewer than 256 entries)");
        }
        for (who, url) in [("server", base), ("nginx ", nginx.url.as_str())] {
            let out = std::process::Command::new("wrk")
                .args(["-t", "2", "-c", "64", "-d", "5s", "--latency"])
                .arg(format!("{url}{path}"))
                .output()?;
            let w = super::WrkReport::parse(&String::from_utf8_lossy(&out.stdout))?;
            println!(
                "tiles served, {what} (GET {path}, wrk 2 threads, 64 connections, same machine), {who}: {:.0} requests/s; {} | {}",
                w.rps, w.p50, w.p99
            );
        }
    }
    Ok(())
}

/// Debian's nginx serving `root` on a free port (no daemon, no master; its files in a scratch
/// directory beside the mirror); stopped when dropped.
struct Nginx {
    child: std::process::Child,
    url: String,
    conf: std::path::PathBuf,
}

impl Nginx {
    fn start(root: &Path) -> Result<Nginx> {
        let bin = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| anyhow::anyhow!("nginx is not installed (apt-get install nginx)"))?;
        let conf = root.with_extension("nginx");
        std::fs::create_dir_all(&conf)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let t = conf.display();
        // As root nginx would switch its worker to `nobody`, who may not read the mirror.
        // SAFETY: geteuid has no preconditions and cannot fail.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root;"
        } else {
            ""
        };
        std::fs::write(
            conf.join("nginx.conf"),
            format!(
                "daemon off; master_process off; {user} pid {t}/nginx.pid; error_log {t}/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{ access_log off; default_type application/octet-stream; sendfile on;\n\
                   client_body_temp_path {t}/body; proxy_temp_path {t}/proxy; fastcgi_temp_path {t}/fastcgi;\n\
                   uwsgi_temp_path {t}/uwsgi; scgi_temp_path {t}/scgi;\n\
                   server {{ listen 127.0.0.1:{port}; root {}; }} }}\n",
                root.display()
            ),
        )?;
        let child = std::process::Command::new(bin)
            .arg("-c")
            .arg(conf.join("nginx.conf"))
            .arg("-p")
            .arg(&conf)
            .arg("-e")
            .arg(conf.join("error.log"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let n = Nginx {
            child,
            url: format!("http://127.0.0.1:{port}"),
            conf,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(n);
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        bail!(
            "nginx did not listen on {port}: {}",
            std::fs::read_to_string(n.conf.join("error.log")).unwrap_or_default()
        )
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.conf);
    }
}

fn open<'a, 'r>(
    target: &Path,
    source: &'a TileSource,
    v: &NoteVerifier,
    fold: &'r mut dyn Fold,
) -> Result<Mirror<'a, 'r>> {
    Mirror::open(
        MirrorDir::open(target)?,
        Options {
            source,
            log_key: Some(v.clone()),
            rules: &OpenRules,
        },
        fold,
        &mut |_, _| {},
    )
}
