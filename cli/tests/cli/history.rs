//! History and restore through the `vaultsync` CLI, against the real server.
use crate::common::{cli, ok, server};

#[test]
fn history_and_restore_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let a = dir.path().join("a/session");
    let pw = "pw";
    ok(cli(&a, pw, &["register", &server.1, "hist"]));
    let id = ok(cli(&a, pw, &["put", r#"{"n":1}"#]));
    let id = id.trim().to_string();
    ok(cli(&a, pw, &["sync"]));
    ok(cli(&a, pw, &["put", "--id", &id, r#"{"n":2}"#]));
    ok(cli(&a, pw, &["sync"]));
    ok(cli(&a, pw, &["delete", &id]));
    ok(cli(&a, pw, &["sync"]));
    let history = ok(cli(&a, pw, &["history", &id]));
    let lines: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{history}");
    assert_eq!(lines[0]["version"], 2);
    assert_eq!(lines[0]["value"], serde_json::json!({"n": 2}));
    assert_eq!(lines[1]["value"], serde_json::json!({"n": 1}));
    let deleted = ok(cli(&a, pw, &["deleted"]));
    assert!(
        deleted.contains(&id) && deleted.contains(r#""version":2"#),
        "{deleted}"
    );
    // The deleted record comes back with version 1's value, as a new version.
    let (okay, _, err) = cli(&a, pw, &["restore", &id, "1"]);
    assert!(okay && err.contains("restored version 1"), "{err}");
    assert_eq!(ok(cli(&a, pw, &["get", &id])).trim(), r#"{"n":1}"#);
    let (okay, _, err) = cli(&a, pw, &["restore", &id, "9"]);
    assert!(!okay && err.contains("NOT_FOUND"), "{err}");
}
