//! nginx from the distribution in front of several hosts, configured as `docs/deployment.md`
//! tells operators to (round robin, keep-alive to the hosts, unbuffered streams), on a free
//! port of 127.0.0.1, with an access log that names the host of each request.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::process::{Child, Command};

use crate::skip::skip;

/// A running nginx (stopped when dropped).
pub struct Nginx {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub url: String,
    access_log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

/// One line of the access log.
#[derive(Debug, Clone)]
pub struct Passed {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The host (`127.0.0.1:port`) that answered; several, comma-separated, when nginx moved
    /// on from a host that failed.
    pub upstream: String,
}

impl Nginx {
    /// nginx balancing over `hosts` (`http://127.0.0.1:port` each), or `None` after reporting
    /// the skip when nginx is not installed.
    pub async fn start(test: &str, hosts: &[&str]) -> Option<Self> {
        let Some(binary) = nginx_binary() else {
            skip(
                test,
                "needs nginx (Debian: apt-get install nginx), the balancer of the scale-out test",
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("create nginx's directory");
        let port = free_port();
        let access_log = dir.path().join("access.log");
        let config = config(dir.path(), port, hosts);
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).expect("write nginx.conf");
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start nginx");
        let url = format!("http://127.0.0.1:{port}");
        wait_until_listening(port).await;
        Some(Self {
            url,
            access_log,
            child,
            _dir: dir,
        })
    }

    /// The master process's id (its worker is its child).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The requests nginx has finished once `enough` holds of them, or after five seconds
    /// whatever it has: nginx writes a request's line after its last byte has gone, so a client
    /// that has read a whole response can look before the line is there.
    pub async fn passed_once(&self, enough: impl Fn(&[Passed]) -> bool) -> Vec<Passed> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let passed = self.passed();
            if enough(&passed) || tokio::time::Instant::now() >= deadline {
                return passed;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every request nginx has finished, in order.
    pub fn passed(&self) -> Vec<Passed> {
        let log = std::fs::read_to_string(&self.access_log).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let mut fields = line.splitn(4, ' ');
                Some(Passed {
                    method: fields.next()?.to_owned(),
                    path: fields.next()?.to_owned(),
                    status: fields.next()?.parse().ok()?,
                    upstream: fields.next()?.to_owned(),
                })
            })
            .collect()
    }
}

fn nginx_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// The configuration of `docs/deployment.md` (without TLS), with its files in `dir`.
fn config(dir: &Path, port: u16, hosts: &[&str]) -> String {
    let servers: String = hosts
        .iter()
        .map(|host| {
            let address = host.trim_start_matches("http://").trim_end_matches('/');
            format!("        server {address} max_fails=1 fail_timeout=10s;\n")
        })
        .collect();
    let dir = dir.display();
    format!(
        r#"worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
worker_rlimit_nofile 20000;
events {{ worker_connections 8192; }}
http {{
    log_format passed "$request_method $uri $status $upstream_addr";
    access_log {dir}/access.log passed;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream todo_hosts {{
{servers}        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 1m;
        location / {{
            proxy_pass http://todo_hosts;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
"#
    )
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free port")
        .port()
}

async fn wait_until_listening(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nginx did not listen on port {port} within 5 s");
}
