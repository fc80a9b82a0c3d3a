//! What the CLI's tests share: the real server on a SQLite file, and the CLI run as one
//! machine (its own store file).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const CLI: &str = env!("CARGO_BIN_EXE_vaultsync");

pub struct Server(Child, pub String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn server(dir: &Path) -> Server {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/vaultsync-server");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build -p vaultsync-server` (cargo test --workspace builds it)",
        bin.display()
    );
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--database"])
        .arg(format!("sqlite://{}/server.db", dir.display()))
        .env("VAULTSYNC_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    Server(child, url)
}

/// Runs the CLI as one machine; returns (success, stdout, stderr).
pub fn cli(session: &Path, password: &str, args: &[&str]) -> (bool, String, String) {
    cli_env(session, &[("VAULTSYNC_PASSWORD", password)], args)
}

#[track_caller]
pub fn ok(result: (bool, String, String)) -> String {
    assert!(result.0, "failed: {}", result.2);
    result.1
}

/// Runs the CLI with extra environment variables.
pub fn cli_env(session: &Path, vars: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let out = Command::new(CLI)
        .arg("--session")
        .arg(session)
        .args(["--iterations", "100000"])
        .args(args)
        .envs(vars.iter().copied())
        .env_remove("HOME")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
