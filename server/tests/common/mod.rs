//! Test harness: the real server binary on a free loopback port, a real SQLite file, and a
//! throwaway PostgreSQL cluster (Debian's binaries, run as the `postgres` user: TOOLCHAIN.md).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod client;
pub mod live;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_vaultsync-server");

/// A running server; killed (SIGKILL) on drop unless stopped gracefully first.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// Starts `vaultsync-server --listen 127.0.0.1:0 --database URL` and waits for its URL.
    pub fn start(database: &str) -> Self {
        Self::start_with(database, &[])
    }

    /// Like [`Server::start`], with extra flags.
    pub fn start_with(database: &str, flags: &[&str]) -> Self {
        let mut command = Command::new(BIN);
        command.args(flags).env("VAULTSYNC_LOG", "warn");
        Self::launch(command, database)
    }

    /// Starts a server whose log (at `level`) goes to the file `log`.
    pub fn start_logged(database: &str, log: &Path, level: &str) -> Self {
        let mut command = Command::new(BIN);
        command
            .env("VAULTSYNC_LOG", level)
            .stderr(std::fs::File::create(log).unwrap());
        Self::launch(command, database)
    }

    /// Runs `command` on a free port and `database`; waits for the URL it prints.
    fn launch(mut command: Command, database: &str) -> Self {
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--database", database])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start vaultsync-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("vaultsync-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Self { child, url }
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// A JSON client for this server.
    pub fn api(&self) -> Api {
        Api::new(&self.url)
    }

    /// A plain HTTP/1.1 request; returns (status, body).
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let (status, _, body) = self.request_full(method, path, body);
        (status, body)
    }

    /// A plain HTTP/1.1 request; returns (status, raw headers, body).
    pub fn request_full(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, String, String) {
        self.request_with_headers(method, path, body, &[])
    }

    /// A plain HTTP/1.1 request with extra headers; returns (status, raw headers in lower
    /// case, body).
    pub fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        let addr = self.url.strip_prefix("http://").unwrap();
        let mut stream = TcpStream::connect(addr).unwrap();
        let body = body.unwrap_or("");
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        (status, head.to_ascii_lowercase(), body.to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with arguments; returns (success, stdout, stderr).
pub fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("VAULTSYNC_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A throwaway PostgreSQL cluster on a free loopback port, stopped and removed on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    pub url: String,
}

impl Postgres {
    /// Starts a cluster. Needs Debian's postgresql package (scripts/setup.sh installs it).
    /// `initdb` refuses to run as root, so the cluster runs as the `postgres` user.
    pub fn start() -> Self {
        assert!(
            Path::new(PG_BIN).join("initdb").exists(),
            "PostgreSQL server binaries missing in {PG_BIN}: run scripts/setup.sh"
        );
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let as_postgres = |args: &[&str]| {
            let status = as_postgres_user()
                .args(args)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "{args:?} failed");
        };
        if is_root() {
            Command::new("chown")
                .args(["postgres", dir.path().to_str().unwrap()])
                .status()
                .unwrap();
        }
        let initdb = PathBuf::from(PG_BIN).join("initdb");
        as_postgres(&[
            initdb.to_str().unwrap(),
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        let port = free_port();
        let pg_ctl = PathBuf::from(PG_BIN).join("pg_ctl");
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        as_postgres(&[
            pg_ctl.to_str().unwrap(),
            "-D",
            data.to_str().unwrap(),
            "-l",
            dir.path().join("log").to_str().unwrap(),
            "-o",
            &opts,
            "-w",
            "start",
        ]);
        Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
        }
    }
}

impl Postgres {
    /// One cluster for the whole test binary (each test makes its own database in it),
    /// stopped and removed when the process exits, however it exits: a watchdog process
    /// waits for its stdin, which the test process holds, to close.
    pub fn shared() -> &'static Self {
        static SHARED: std::sync::OnceLock<(Postgres, std::process::ChildStdin)> =
            std::sync::OnceLock::new();
        let (pg, _) = SHARED.get_or_init(|| {
            let pg = Self::start();
            let data = pg.dir.path().join("data");
            let stop = format!(
                "cat >/dev/null; {} {}/pg_ctl -D {} -m immediate stop >/dev/null 2>&1; rm -rf {}",
                if is_root() {
                    "runuser -u postgres --"
                } else {
                    ""
                },
                PG_BIN,
                data.display(),
                pg.dir.path().display()
            );
            // Never waited for, on purpose: it must outlive this test process (it stops
            // the cluster when the process's end closes its stdin), and init reaps it.
            #[allow(clippy::zombie_processes)]
            let mut watchdog = Command::new("sh")
                .args(["-c", &stop])
                .stdin(Stdio::piped())
                .spawn()
                .expect("start the cluster's watchdog");
            let stdin = watchdog.stdin.take().unwrap();
            (pg, stdin)
        });
        pg
    }

    fn port(&self) -> &str {
        self.url
            .rsplit(':')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
    }

    fn tool(&self, name: &str) -> Command {
        let mut c = Command::new(PathBuf::from(PG_BIN).join(name));
        c.args(["-h", "127.0.0.1", "-p", self.port(), "-U", "postgres"]);
        c
    }

    /// A new, empty database in this cluster; returns its URL.
    pub fn database(&self, name: &str) -> String {
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        let (server, _) = self.url.rsplit_once('/').unwrap();
        format!("{server}/{name}")
    }

    /// Runs SQL on a database of this cluster as the superuser; returns what it prints.
    pub fn sql(&self, name: &str, sql: &str) -> String {
        let out = self
            .tool("psql")
            .args(["-q", "-t", "-A", "-d", name, "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `pg_dump` of a database: every byte the server stored, as text.
    pub fn dump(&self, name: &str) -> String {
        let out = self.tool("pg_dump").args(["-d", name]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let pg_ctl = PathBuf::from(PG_BIN).join("pg_ctl");
        let data = self.dir.path().join("data");
        let _ = as_postgres_user()
            .args([
                pg_ctl.to_str().unwrap(),
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
            ])
            .stdout(Stdio::null())
            .status();
    }
}

/// A command that runs its arguments as the `postgres` user when we are root (initdb and
/// the server refuse root), as ourselves otherwise.
fn as_postgres_user() -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]);
        c
    } else {
        Command::new("env")
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A JSON client (reqwest, blocking) with an optional bearer token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    client: reqwest::blocking::Client,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            token: None,
            client: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    /// The same server with this token.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// Sends a request; returns (status, JSON body or Null).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Like [`Api::call`], but a transport error (server gone) is returned.
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send()?;
        let status = response.status().as_u16();
        let text = response.text()?;
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        Ok((status, json))
    }

    /// Sends raw bytes with a content type; returns (status, JSON body or Null).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }
}
