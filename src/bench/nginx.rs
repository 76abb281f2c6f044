//! Debian's nginx serving a directory on a free loopback port: how `bench --mirror` compares
//! the server's tiles with a static server's, and how the mirror tests serve a mirror. No
//! daemon, no master process; its configuration, pid and logs in a scratch directory beside
//! the one served, removed when it stops (on drop).

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

pub struct Nginx {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    conf: PathBuf,
}

/// Where nginx is installed (Debian puts it in /usr/sbin, which a user's PATH may lack).
pub fn installed() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["/usr/sbin", "/usr/local/sbin"]
        .into_iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path))
        .map(|d| d.join("nginx"))
        .find(|p| p.exists())
}

impl Nginx {
    pub fn start(root: &Path) -> Result<Nginx> {
        let bin = installed()
            .ok_or_else(|| anyhow::anyhow!("nginx is not installed (apt-get install nginx)"))?;
        let conf = root.with_extension("nginx");
        std::fs::create_dir_all(&conf)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let t = conf.display();
        // As root nginx would switch its worker to `nobody`, who may not read the directory.
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
