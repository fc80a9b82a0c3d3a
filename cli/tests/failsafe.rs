//! The mass-deletion failsafe through the `vaultsync` CLI, against the real server: one
//! machine deletes most of the vault, the other holds those deletions, lists them, keeps
//! them or confirms them; a bulk `delete` past the guard needs `--confirm`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{cli, ok, server};

#[test]
fn a_mass_deletion_is_held_then_kept_or_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let (a, b) = (dir.path().join("a/session"), dir.path().join("b/session"));
    let pw = "pw";
    ok(cli(&a, pw, &["register", &server.1, "mass"]));
    let ids: Vec<String> = (0..30)
        .map(|n| {
            ok(cli(&a, pw, &["put", &format!(r#"{{"n":{n}}}"#)]))
                .trim()
                .to_string()
        })
        .collect();
    ok(cli(&a, pw, &["sync"]));
    ok(cli(&b, pw, &["login", &server.1, "mass"]));
    ok(cli(&b, pw, &["sync"]));

    // 25 of 30 in one command: refused, nothing deleted; then confirmed.
    let mut args = vec!["delete"];
    args.extend(ids[..25].iter().map(String::as_str));
    let (okay, _, err) = cli(&a, pw, &args);
    assert!(
        !okay && err.contains("MASS_DELETE") && err.contains("--confirm"),
        "{err}"
    );
    assert_eq!(ok(cli(&a, pw, &["list"])).lines().count(), 30);
    args.push("--confirm");
    let (okay, _, err) = cli(&a, pw, &args);
    assert!(!okay && err.contains("flags before the ids"), "{err}");
    args.pop();
    args.insert(1, "--confirm");
    let (okay, _, err) = cli(&a, pw, &args);
    assert!(okay && err.contains("deleted 25 of 25"), "{err}");
    ok(cli(&a, pw, &["sync"]));

    // The other machine holds them.
    let (okay, out, err) = cli(&b, pw, &["sync"]);
    assert!(okay, "{err}");
    assert!(
        out.contains(r#""type":"deletionsHeld""#) && out.contains(r#""count":25"#),
        "{out}"
    );
    assert!(!out.contains(r#""type":"deleted""#), "{out}");
    assert!(
        err.contains("25 record(s) another device deleted are held"),
        "{err}"
    );
    assert_eq!(ok(cli(&b, pw, &["list"])).lines().count(), 30);
    let held = ok(cli(&b, pw, &["held"]));
    assert_eq!(held.lines().count(), 25);
    assert!(
        held.contains(&ids[3]) && held.contains(r#""value":{"n":3}"#),
        "{held}"
    );

    // Kept: written again, and the first machine gets them back.
    let (okay, _, err) = cli(&b, pw, &["keep-deletions"]);
    assert!(okay && err.contains("kept 25 record(s)"), "{err}");
    assert_eq!(ok(cli(&b, pw, &["held"])).lines().count(), 0);
    ok(cli(&a, pw, &["sync"]));
    assert_eq!(ok(cli(&a, pw, &["list"])).lines().count(), 30);

    // Deleted again, past a guard set by flag, then confirmed on the other machine.
    let mut args = vec!["delete", "--confirm"];
    args.extend(ids[..25].iter().map(String::as_str));
    ok(cli(&a, pw, &args));
    ok(cli(&a, pw, &["sync"]));
    let (okay, _, err) = cli(&b, pw, &["--mass-delete", "lots", "sync"]);
    assert!(!okay && err.contains("MIN:PERCENT"), "{err}");
    ok(cli(&b, pw, &["sync"]));
    let (okay, out, err) = cli(&b, pw, &["confirm-deletions"]);
    assert!(okay && err.contains("applied 25 held deletion(s)"), "{err}");
    assert_eq!(out.lines().count(), 25, "a deleted event each");
    assert_eq!(ok(cli(&b, pw, &["list"])).lines().count(), 5);

    // With the guard off, nothing is held.
    let mut args = vec!["delete", "--mass-delete", "off"];
    args.extend(ids[25..].iter().map(String::as_str));
    ok(cli(&a, pw, &args));
    ok(cli(&a, pw, &["sync"]));
    let out = ok(cli(&b, pw, &["--mass-delete", "off", "sync"]));
    assert_eq!(out.matches(r#""type":"deleted""#).count(), 5, "{out}");
    assert_eq!(ok(cli(&b, pw, &["list"])).lines().count(), 0);
}
