//! The `vaultsync` command line client against the real server (built by the same
//! `cargo test --workspace` run): two machines (two session files) register, log in, edit
//! offline, sync and converge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const CLI: &str = env!("CARGO_BIN_EXE_vaultsync");

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server(dir: &Path) -> Server {
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
fn cli(session: &Path, password: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(CLI)
        .arg("--session")
        .arg(session)
        .args(["--iterations", "100000"])
        .args(args)
        .env("VAULTSYNC_PASSWORD", password)
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

#[track_caller]
fn ok(result: (bool, String, String)) -> String {
    assert!(result.0, "failed: {}", result.2);
    result.1
}

#[test]
fn two_machines_sync_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let (a, b) = (dir.path().join("a/session"), dir.path().join("b/session"));
    let pw = "correct horse";

    let code = ok(cli(&a, pw, &["register", &server.1, "alice"]));
    assert_eq!(code.trim().len(), 39, "recovery code printed once: {code}");
    let id = ok(cli(
        &a,
        pw,
        &["put", r#"{"title":"groceries","items":["milk"]}"#],
    ));
    let id = id.trim().to_string();
    ok(cli(&a, pw, &["sync"]));
    // The session file holds no plaintext and no token in the clear.
    let stored = std::fs::read_to_string(&a).unwrap();
    assert!(!stored.contains("groceries") && !stored.contains("vst_"));

    let (okay, _, err) = cli(&b, "wrong", &["login", &server.1, "alice"]);
    assert!(!okay && err.contains("INVALID_CREDENTIALS"), "{err}");
    ok(cli(&b, pw, &["login", &server.1, "alice"]));
    assert_eq!(
        ok(cli(&b, pw, &["get", &id])).trim(),
        r#"{"items":["milk"],"title":"groceries"}"#
    );

    // Offline on both machines, different fields: both survive.
    ok(cli(
        &a,
        pw,
        &[
            "put",
            "--id",
            &id,
            r#"{"title":"groceries (A)","items":["milk"]}"#,
        ],
    ));
    ok(cli(
        &b,
        pw,
        &[
            "put",
            "--id",
            &id,
            r#"{"title":"groceries","items":["milk","bread"]}"#,
        ],
    ));
    ok(cli(&a, pw, &["sync"]));
    let events = ok(cli(&b, pw, &["sync"]));
    assert!(events.contains(r#""type":"changed""#), "{events}");
    ok(cli(&a, pw, &["sync"]));
    let merged = r#"{"items":["milk","bread"],"title":"groceries (A)"}"#;
    assert_eq!(ok(cli(&a, pw, &["get", &id])).trim(), merged);
    assert_eq!(ok(cli(&b, pw, &["get", &id])).trim(), merged);

    // Delete travels; list is empty on both.
    ok(cli(&b, pw, &["delete", &id]));
    ok(cli(&b, pw, &["sync"]));
    ok(cli(&a, pw, &["sync"]));
    assert_eq!(ok(cli(&a, pw, &["list"])), "");

    // Tokens, wrong password on a session, bad input, logout.
    let tokens = ok(cli(&a, pw, &["tokens"]));
    assert_eq!(tokens.lines().count(), 2, "{tokens}");
    let (okay, _, err) = cli(&a, "wrong", &["list"]);
    assert!(!okay && err.contains("WRONG_PASSWORD"), "{err}");
    let (okay, _, err) = cli(&a, pw, &["put", "{not json"]);
    assert!(!okay && err.contains("not JSON"), "{err}");
    let (okay, _, err) = cli(&a, pw, &["get", "nope"]);
    assert!(!okay && err.contains("not a record id"), "{err}");
    // A password change on machine a reaches machine b at its next sync.
    let changed = Command::new(CLI)
        .arg("--session")
        .arg(&a)
        .arg("change-password")
        .env("VAULTSYNC_PASSWORD", pw)
        .env("VAULTSYNC_NEW_PASSWORD", "new horse")
        .output()
        .unwrap();
    assert!(
        changed.status.success(),
        "{}",
        String::from_utf8_lossy(&changed.stderr)
    );
    let events = ok(cli(&b, pw, &["sync"]));
    assert!(
        events.contains(r#""type":"envelopeChanged","password":true"#),
        "{events}"
    );
    let (okay, _, err) = cli(&b, pw, &["list"]);
    assert!(!okay && err.contains("WRONG_PASSWORD"), "{err}");
    ok(cli(&b, "new horse", &["list"]));
    let pw = "new horse";
    ok(cli(&b, pw, &["logout"]));
    assert!(!b.exists());
    let (okay, _, err) = cli(&b, pw, &["list"]);
    assert!(
        !okay && err.contains("run register or login first"),
        "{err}"
    );
}
