//! The mass-deletion failsafe through the `vaultsync` CLI, against the real server: one
//! machine deletes most of the vault, the other holds those deletions, lists them, keeps
//! them or confirms them; a bulk `delete` past the guard needs `--confirm`. The guard is
//! set to 3:50 (VAULTSYNC_MASS_DELETE) so that a few records show it.
use std::path::Path;

use crate::common::{cli_env, ok, server};

fn cli(session: &Path, args: &[&str]) -> (bool, String, String) {
    let vars = [
        ("VAULTSYNC_PASSWORD", "pw"),
        ("VAULTSYNC_MASS_DELETE", "3:50"),
    ];
    cli_env(session, &vars, args)
}

fn put_eight(a: &Path) -> Vec<String> {
    (0..8)
        .map(|n| {
            ok(cli(a, &["put", &format!(r#"{{"n":{n}}}"#)]))
                .trim()
                .to_string()
        })
        .collect()
}

#[test]
fn a_mass_deletion_is_held_then_kept_or_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let (a, b) = (dir.path().join("a/session"), dir.path().join("b/session"));
    ok(cli(&a, &["register", &server.1, "mass"]));
    let ids = put_eight(&a);
    ok(cli(&a, &["sync"]));
    ok(cli(&b, &["login", &server.1, "mass"]));
    ok(cli(&b, &["sync"]));

    // 6 of 8 in one command: refused, nothing deleted; then confirmed.
    let mut args = vec!["delete"];
    args.extend(ids[..6].iter().map(String::as_str));
    let (okay, _, err) = cli(&a, &args);
    assert!(
        !okay && err.contains("MASS_DELETE") && err.contains("--confirm"),
        "{err}"
    );
    assert_eq!(ok(cli(&a, &["list"])).lines().count(), 8);
    args.push("--confirm");
    let (okay, _, err) = cli(&a, &args);
    assert!(!okay && err.contains("flags before the ids"), "{err}");
    args.pop();
    args.insert(1, "--confirm");
    let (okay, _, err) = cli(&a, &args);
    assert!(okay && err.contains("deleted 6 of 6"), "{err}");
    ok(cli(&a, &["sync"]));

    // The other machine holds them.
    let (okay, out, err) = cli(&b, &["sync"]);
    assert!(okay, "{err}");
    assert!(
        out.contains(r#""type":"deletionsHeld""#) && out.contains(r#""count":6"#),
        "{out}"
    );
    assert!(!out.contains(r#""type":"deleted""#), "{out}");
    assert!(
        err.contains("6 record(s) another device deleted are held"),
        "{err}"
    );
    assert_eq!(ok(cli(&b, &["list"])).lines().count(), 8);
    let held = ok(cli(&b, &["held"]));
    assert_eq!(held.lines().count(), 6);
    assert!(
        held.contains(&ids[3]) && held.contains(r#""value":{"n":3}"#),
        "{held}"
    );

    // Kept: written again, and the first machine gets them back.
    let (okay, _, err) = cli(&b, &["keep-deletions"]);
    assert!(okay && err.contains("kept 6 record(s)"), "{err}");
    assert_eq!(ok(cli(&b, &["held"])).lines().count(), 0);
    ok(cli(&a, &["sync"]));
    assert_eq!(ok(cli(&a, &["list"])).lines().count(), 8);

    // Deleted again, then confirmed on the other machine; a bad guard is refused.
    ok(cli(&a, &args));
    ok(cli(&a, &["sync"]));
    let (okay, _, err) = cli(&b, &["--mass-delete", "lots", "sync"]);
    assert!(!okay && err.contains("MIN:PERCENT"), "{err}");
    ok(cli(&b, &["sync"]));
    let (okay, out, err) = cli(&b, &["confirm-deletions"]);
    assert!(okay && err.contains("applied 6 held deletion(s)"), "{err}");
    assert_eq!(out.lines().count(), 6, "a deleted event each");
    assert_eq!(ok(cli(&b, &["list"])).lines().count(), 2);

    // With the guard off (the flag over the environment), nothing is held.
    let more = put_eight(&a);
    ok(cli(&a, &["sync"]));
    ok(cli(&b, &["sync"]));
    let mut args = vec!["delete", "--mass-delete", "off"];
    args.extend(more.iter().map(String::as_str));
    ok(cli(&a, &args));
    ok(cli(&a, &["sync"]));
    let out = ok(cli(&b, &["--mass-delete", "off", "sync"]));
    assert_eq!(out.matches(r#""type":"deleted""#).count(), 8, "{out}");
    assert_eq!(ok(cli(&b, &["list"])).lines().count(), 2);
}
