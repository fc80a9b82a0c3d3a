//! The `vaultsync` command line client against the real server (built by the same
//! `cargo test --workspace` run): two machines (two session files) register, log in, edit
//! offline, sync and converge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};

use std::process::{Command, Stdio};

mod common;
#[path = "cli/failsafe.rs"]
mod failsafe;
#[path = "cli/history.rs"]
mod history;

use common::{CLI, cli, cli_env, ok, server};

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
    // The store file (and its write-ahead log) holds no plaintext and no token in the clear.
    let mut stored = std::fs::read(&a).unwrap();
    stored.extend(std::fs::read(format!("{}-wal", a.display())).unwrap_or_default());
    let stored = String::from_utf8_lossy(&stored);
    assert!(stored.len() > 1000, "the store holds the vault");
    assert!(!stored.contains("groceries") && !stored.contains("vst_") && !stored.contains("alice"));

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
    // Both machines at the same vault head print the same state code.
    let code_a = ok(cli(&a, pw, &["state-code"]));
    assert_eq!(
        code_a.split_whitespace().count(),
        5,
        "seq and four words: {code_a}"
    );
    assert_eq!(ok(cli(&b, pw, &["state-code"])), code_a);
    // A re-seed (here of a server that lost nothing) keeps every record.
    ok(cli(&a, pw, &["put", r#"{"title":"kept"}"#]));
    ok(cli(&a, pw, &["reseed"]));
    ok(cli(&b, pw, &["sync"]));
    assert!(ok(cli(&b, pw, &["list"])).contains("kept"));
    assert_eq!(
        ok(cli(&b, pw, &["state-code"])),
        ok(cli(&a, pw, &["state-code"]))
    );

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
        events.lines().any(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            event["type"] == "envelopeChanged" && event["password"] == true
        }),
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

#[test]
fn recovery_and_a_rotation_killed_half_way_through_the_cli() {
    use vaultsync::client::{Client, Options};
    use vaultsync::crypto::Password;

    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let (a, c) = (dir.path().join("a/session"), dir.path().join("c/session"));
    let pw = "first horse";
    let code = ok(cli(&a, pw, &["register", &server.1, "carol"]));
    let code = code.trim();

    // 1100 records (three push batches), written through the library into a's store;
    // then a's store is turned into a session file of the previous version, which the
    // next command moves into a store again (the migration path).
    let options = Options::default();
    let mut client = Client::open(&a, &Password::from(pw), &options).unwrap();
    for n in 0..1100 {
        client.put(None, serde_json::json!({ "n": n })).unwrap();
    }
    assert_eq!(
        Client::open(&a, &Password::from(pw), &options)
            .unwrap()
            .engine()
            .pending_count(),
        1100,
        "every put is in the store"
    );
    let saved = client.save().unwrap();
    drop(client);
    std::fs::remove_file(&a).unwrap();
    let _ = std::fs::remove_file(format!("{}-wal", a.display()));
    let _ = std::fs::remove_file(format!("{}-shm", a.display()));
    std::fs::write(&a, format!("{}\n{}\n", server.1, saved)).unwrap();
    let (_, _, err) = cli(&a, pw, &["list"]);
    assert!(err.contains("into a store"), "{err}");
    ok(cli(&a, pw, &["sync"]));

    // The password is forgotten: machine c recovers with the code and a new password.
    let new_pw = "recovered horse";
    let (okay, _, err) = cli_env(
        &c,
        &[
            (
                "VAULTSYNC_RECOVERY_CODE",
                "0000-0000-0000-0000-0000-0000-0000-0000",
            ),
            ("VAULTSYNC_NEW_PASSWORD", new_pw),
        ],
        &["recover", &server.1, "carol"],
    );
    assert!(!okay && err.contains("INVALID_CREDENTIALS"), "{err}");
    let (okay, _, err) = cli_env(
        &c,
        &[
            ("VAULTSYNC_RECOVERY_CODE", "not a code"),
            ("VAULTSYNC_NEW_PASSWORD", new_pw),
        ],
        &["recover", &server.1, "carol"],
    );
    assert!(!okay && err.contains("BAD_INPUT"), "{err}");
    let (okay, _, err) = cli_env(
        &c,
        &[
            ("VAULTSYNC_RECOVERY_CODE", code),
            ("VAULTSYNC_NEW_PASSWORD", new_pw),
        ],
        &["recover", &server.1, "carol"],
    );
    assert!(okay && err.contains("1100 records"), "{err}");
    let events = ok(cli(&a, pw, &["sync"]));
    assert!(events.contains(r#""password":true"#), "{events}");
    let (okay, _, err) = cli(&a, pw, &["list"]);
    assert!(!okay && err.contains("WRONG_PASSWORD"), "{err}");

    // A rotation on machine a, killed (SIGKILL) once the first batch is re-sealed.
    let mut rotating = Command::new(CLI)
        .arg("--session")
        .arg(&a)
        .arg("rotate")
        .env("VAULTSYNC_PASSWORD", new_pw)
        .env_remove("HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(rotating.stderr.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .find(|line| line.starts_with("re-sealed"));
    assert_eq!(first.as_deref(), Some("re-sealed 500 of 1100 records"));
    rotating.kill().unwrap();
    rotating.wait().unwrap();

    // Machine c finishes it; machine a (whose session never saw the rotation) follows.
    let (okay, _, err) = cli(&c, new_pw, &["rotate"]);
    assert!(
        okay && err.contains("key rotation complete: every record is sealed under key 2"),
        "{err}"
    );
    assert!(err.contains("re-sealed 600 of 600 records"), "{err}");
    let events = ok(cli(&a, new_pw, &["sync"]));
    assert!(events.contains(r#""keys":true"#), "{events}");
    assert_eq!(ok(cli(&a, new_pw, &["list"])).lines().count(), 1100);
    assert_eq!(
        ok(cli(&c, new_pw, &["list"])),
        ok(cli(&a, new_pw, &["list"]))
    );
}

#[test]
fn watch_prints_each_change_as_it_arrives_and_ends_when_revoked() {
    use std::io::Read;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let (a, b) = (dir.path().join("a/session"), dir.path().join("b/session"));
    let pw = "correct horse";
    ok(cli(&a, pw, &["register", &server.1, "alice"]));
    ok(cli(&b, pw, &["login", &server.1, "alice"]));
    let mut watch = Command::new(CLI)
        .arg("--session")
        .arg(&b)
        .arg("watch")
        .env("VAULTSYNC_PASSWORD", pw)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel();
    let stdout = BufReader::new(watch.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let _ = lines.send(line.unwrap());
        }
    });
    let next = |what: &str| {
        seen.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("watch printed no {what}"))
    };
    // Each change on A reaches B's watch without a sync on B.
    for n in 0..3 {
        let started = Instant::now();
        let id = ok(cli(&a, pw, &["put", &format!(r#"{{"n":{n}}}"#)]));
        ok(cli(&a, pw, &["sync"]));
        let line = next("change");
        assert!(
            line.contains(id.trim()) && line.contains(r#""n":"#),
            "{line}"
        );
        println!(
            "change {n} printed by watch {:?} after the put",
            started.elapsed()
        );
    }
    let id = ok(cli(&a, pw, &["put", r#"{"gone":true}"#]));
    ok(cli(&a, pw, &["sync"]));
    next("change");
    ok(cli(&a, pw, &["delete", id.trim()]));
    ok(cli(&a, pw, &["sync"]));
    let line = next("deletion");
    assert!(
        line.contains("deleted") && line.contains(id.trim()),
        "{line}"
    );

    // Revoked, the watch ends with the token's error.
    let tokens = ok(cli(&a, pw, &["tokens"]));
    let other = tokens
        .lines()
        .find(|t| t.contains(r#""current":false"#))
        .unwrap();
    let token_id = other
        .split(r#""id":"#)
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    ok(cli(&a, pw, &["revoke", token_id]));
    // The long-poll in flight ends at the revocation, and the watch with it.
    let revoked = Instant::now();
    let deadline = revoked + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = watch.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "watch did not end");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    watch
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success());
    assert!(
        err.contains("connected") && err.contains("INVALID_TOKEN"),
        "{err}"
    );
    println!("watch ended {:?} after the revocation", revoked.elapsed());
}

#[test]
fn a_machine_links_without_the_password_and_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let (a, b) = (dir.path().join("a/session"), dir.path().join("b/session"));
    let pw = "correct horse";
    ok(cli(&a, pw, &["register", &server.1, "alice"]));
    let id = ok(cli(&a, pw, &["put", r#"{"from":"a"}"#]));
    ok(cli(&a, pw, &["sync"]));

    // B asks with no password at all, and prints its phrase.
    let mut linking = Command::new(CLI)
        .arg("--session")
        .arg(&b)
        .args(["link", &server.1, "alice", "--label", "cli phone"])
        .env_remove("VAULTSYNC_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut phrase = String::new();
    BufReader::new(linking.stdout.take().unwrap())
        .read_line(&mut phrase)
        .unwrap();
    let phrase = phrase.trim().to_string();
    assert_eq!(phrase.split(' ').count(), 6, "{phrase}");

    let links = ok(cli(&a, pw, &["links"]));
    let offer: serde_json::Value = serde_json::from_str(links.lines().next().unwrap()).unwrap();
    assert_eq!(offer["phrase"], phrase.as_str());
    assert_eq!(offer["label"], "cli phone");
    let request = offer["request_id"].as_str().unwrap();
    // A wrong phrase is refused: nothing is approved.
    let (okay, _, err) = cli(
        &a,
        pw,
        &[
            "approve",
            request,
            "abandon ability able about above absent",
        ],
    );
    assert!(!okay && err.contains("phrase differs"), "{err}");
    ok(cli(&a, pw, &["approve", request, &phrase.to_uppercase()]));
    let status = linking.wait().unwrap();
    assert!(status.success(), "link failed");
    // B reads the vault (its store opens with the account's password, as on any device).
    let listed = ok(cli(&b, pw, &["list"]));
    assert!(
        listed.contains(id.trim()) && listed.contains(r#""from":"a""#),
        "{listed}"
    );

    let devices = ok(cli(&a, pw, &["devices"]));
    assert_eq!(devices.lines().count(), 2, "{devices}");
    let phone = devices.lines().find(|l| l.contains("cli phone")).unwrap();
    let phone: serde_json::Value = serde_json::from_str(phone).unwrap();
    ok(cli(&a, pw, &["revoke-device", &phone["id"].to_string()]));
    let (okay, _, err) = cli(&b, pw, &["sync"]);
    assert!(!okay && err.contains("DEVICE_REVOKED"), "{err}");
    assert!(
        err.contains("vaultsync erase"),
        "the revoked device is offered erase: {err}"
    );
    assert_eq!(ok(cli(&a, pw, &["devices"])).lines().count(), 1);
    let (okay, _, err) = cli(&b, pw, &["erase"]);
    assert!(okay && err.contains("erased"), "{err}");
    assert!(!b.exists(), "the revoked device's store file is gone");
}
