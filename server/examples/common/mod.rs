//! What the server benchmarks share: starting a server binary, registering an account, and
//! pushing with the vault head as the engine does (the server cannot read heads, so a
//! benchmark sends random bytes of a head's usual size).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use vaultsync_wire::Blob;

/// Bytes of a sealed head with a few devices in its vector (`FORMAT.md`, "Vault head").
pub const HEAD_BYTES: usize = 200;

pub fn random(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

pub fn b64(bytes: &[u8]) -> String {
    Blob(bytes.to_vec()).to_base64url()
}

pub struct Server {
    child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The release server built next to this example.
pub fn sibling_server() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("vaultsync-server");
    assert!(bin.exists(), "build the server first: {}", bin.display());
    bin
}

/// Starts `bin` on a free loopback port with `database` and no login rate limits.
pub fn start_server(bin: &Path, database: &str) -> Server {
    start_server_with(bin, database, &[])
}

/// [`start_server`] with more flags.
pub fn start_server_with(bin: &Path, database: &str, flags: &[&str]) -> Server {
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--database", database])
        .args(flags)
        .args(["--login-attempts-per-address", "100000"])
        .args(["--login-attempts-per-account", "100000"])
        .env("VAULTSYNC_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    Server { child, url }
}

/// Registers `username` with random keys; returns (token, vault id).
pub async fn register(http: &reqwest::Client, url: &str, username: &str) -> (String, String) {
    let vault = b64(&random(16));
    let body = json!({
        "username": username, "auth_key": b64(&random(32)),
        "kdf": { "algorithm": "pbkdf2-sha256", "iterations": 600000, "salt": b64(&random(16)) },
        "vault_id": vault, "envelope": b64(&random(200)), "recovery_key": b64(&random(32)),
    });
    let answer: Value = http
        .post(format!("{url}/v1/accounts"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["token"]["secret"].as_str().unwrap().to_string();
    (token, vault)
}

/// Sends a push `body` to `vault` with `token`; returns the status and the answer.
pub async fn send_push(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    vault: &str,
    body: &Value,
) -> (u16, Value) {
    let response = http
        .post(format!("{url}/v1/vaults/{vault}/push"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// One new record of `bytes` random bytes, as a push item.
pub fn new_item(bytes: usize) -> Value {
    json!({ "record_id": b64(&random(16)), "base_version": 0, "deleted": false,
            "ciphertext": b64(&random(bytes)) })
}

/// A push body made on head `base_seq` (`None`: the protocol before vault heads).
pub fn push_body(base_seq: Option<u64>, items: Vec<Value>) -> Value {
    match base_seq {
        Some(seq) => json!({ "envelope_version": 1, "base_seq": seq,
                             "head": b64(&random(HEAD_BYTES)), "items": items }),
        None => json!({ "envelope_version": 1, "items": items }),
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
