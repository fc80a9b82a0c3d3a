//! The API over HTTP against the real server binary, each scenario on a fresh real SQLite
//! file and on a fresh database in a throwaway PostgreSQL cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "api/devices.rs"]
mod devices;
#[path = "api/keys.rs"]
mod keys;
#[path = "api/link.rs"]
mod link;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::client::{assert_error, b64, item, kdf, new_id, random, register, register_with};
use common::{Postgres, Server};
use serde_json::{Value, json};

/// Where a scenario stores its data.
struct Ctx {
    backend: &'static str,
    url: String,
    pg: Option<(&'static Postgres, String)>,
    sqlite_file: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Ctx {
    /// A fresh SQLite file for scenario `name`.
    fn sqlite(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("{name}.db"));
        Self {
            backend: "sqlite",
            url: format!("sqlite://{}", file.display()),
            pg: None,
            sqlite_file: Some(file),
            _dir: Some(dir),
        }
    }

    /// A fresh database for scenario `name` in the test binary's PostgreSQL cluster.
    fn postgres(name: &str) -> Self {
        let pg = Postgres::shared();
        Self {
            backend: "postgres",
            url: pg.database(name),
            pg: Some((pg, name.to_string())),
            sqlite_file: None,
            _dir: None,
        }
    }

    /// Everything the server wrote, as bytes: the SQLite file and its WAL, or a pg_dump.
    fn dump(&self) -> Vec<u8> {
        match (&self.pg, &self.sqlite_file) {
            (Some((pg, name)), _) => pg.dump(name).into_bytes(),
            (None, Some(file)) => {
                let mut bytes = std::fs::read(file).unwrap();
                let wal = PathBuf::from(format!("{}-wal", file.display()));
                bytes.extend(std::fs::read(wal).unwrap_or_default());
                bytes
            }
            _ => unreachable!(),
        }
    }
}

/// One test per scenario and backend, so a failure names both (`sqlite::envelope`).
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(&super::Ctx::sqlite(stringify!($name)));
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name(&super::Ctx::postgres(stringify!($name)));
            })*
        }
    };
}

scenarios!(
    accounts_and_tokens,
    envelope,
    recovery_login,
    push_and_changes,
    bad_input,
    rate_limits,
    tombstone_retention,
    plaintext_absent,
    pages_bounded_by_bytes,
);

/// A page holds at most `--max-page-bytes` of sealed bytes (and at least one change):
/// large records come in several pages, none is lost or repeated, and only the last page
/// carries the head.
fn pages_bounded_by_bytes(ctx: &Ctx) {
    let server = Server::start_with(&ctx.url, &["--max-page-bytes", "100000"]);
    let alice = register(&server.api(), "alice");
    let ids: Vec<String> = (0..10).map(|_| new_id()).collect();
    let big = vec![7u8; 30_000];
    alice.push(ids.iter().map(|id| item(id, 0, false, &big)).collect());
    // One record larger than the bound still comes, alone.
    let huge = new_id();
    alice.push(vec![item(&huge, 0, false, &vec![9u8; 150_000])]);
    let mut since = 0;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = alice.changes(since, None);
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let changes = page["changes"].as_array().unwrap();
        assert!(!changes.is_empty());
        let bytes: usize = changes
            .iter()
            .map(|c| c["ciphertext"].as_str().unwrap().len() * 3 / 4)
            .sum();
        assert!(
            changes.len() == 1 || bytes <= 100_000,
            "{bytes} bytes in a page"
        );
        seen.extend(
            changes
                .iter()
                .map(|c| c["record_id"].as_str().unwrap().to_string()),
        );
        since = page["cursor"].as_u64().unwrap();
        if page["more"] == false {
            assert!(page["head"].is_object(), "the last page carries the head");
            break;
        }
        assert!(
            page.get("head").is_none_or(|h| h.is_null()),
            "only the last page carries the head"
        );
    }
    assert!(pages >= 4, "{pages} pages");
    let mut expected = ids.clone();
    expected.push(huge);
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected, "every change once");
}

fn accounts_and_tokens(ctx: &Ctx) {
    let server = Server::start(&ctx.url);
    let api = server.api();
    let alice = register(&api, "Alice@example.com");

    // One account per username (ASCII case folded) and per vault id.
    let mut again = json!({
        "username": "alice@EXAMPLE.com", "auth_key": b64(&random(32)),
        "kdf": kdf(600_000, &random(16)), "vault_id": new_id(), "envelope": b64(&random(50)),
        "recovery_key": b64(&random(32)),
    });
    assert_error(
        &api.call("POST", "/v1/accounts", Some(&again)),
        409,
        "USERNAME_TAKEN",
    );
    again["username"] = json!("someone else");
    again["vault_id"] = json!(alice.vault);
    assert_error(
        &api.call("POST", "/v1/accounts", Some(&again)),
        409,
        "VAULT_EXISTS",
    );

    // Prelogin: the real parameters for an account; for unknown names, answers of the
    // same shape, stable across calls.
    let prelogin = |name: &str| {
        let (status, answer) = api.call("POST", "/v1/prelogin", Some(&json!({ "username": name })));
        assert_eq!(status, 200, "{answer}");
        answer
    };
    assert_eq!(prelogin("ALICE@example.com")["kdf"], alice.kdf);
    let unknown = prelogin("nobody@example.com");
    assert_eq!(unknown, prelogin("nobody@example.com"));
    assert_ne!(
        unknown["kdf"]["salt"],
        prelogin("nobody2@example.com")["kdf"]["salt"]
    );
    let keys = |v: &Value| {
        v["kdf"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&unknown), keys(&prelogin("alice@example.com")));
    assert_eq!(unknown["kdf"]["iterations"], 600_000);
    assert_eq!(unknown["kdf"]["salt"].as_str().unwrap().len(), 22);

    // Login: wrong key and unknown user are the same answer.
    let login = |name: &str, key: &str, extra: Value| {
        let mut body = json!({ "username": name, "auth_key": key });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        api.call("POST", "/v1/login", Some(&body))
    };
    let wrong = login("alice@example.com", &b64(&random(32)), json!({}));
    let nobody = login("nobody@example.com", &b64(&random(32)), json!({}));
    assert_error(&wrong, 401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.1, nobody.1, "unknown users are not told apart");
    let (status, phone) = login(
        "alice@example.com",
        &alice.auth_key,
        json!({ "token_label": "phone" }),
    );
    assert_eq!(status, 200, "{phone}");
    assert_eq!(phone["vault_id"], alice.vault);
    let phone_token = phone["token"]["secret"].as_str().unwrap().to_string();
    assert!(phone_token.starts_with("vst_") && phone_token.len() == 47);
    let phone_api = api.with_token(&phone_token);

    // Listing: both tokens, the caller's marked, no secrets.
    let (status, list) = phone_api.call("GET", "/v1/tokens", None);
    assert_eq!(status, 200, "{list}");
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["label"], "phone");
    assert_eq!(tokens[0]["current"], true);
    assert_eq!(tokens[1]["current"], false);
    assert!(
        tokens[0]["indicator"]
            .as_str()
            .unwrap()
            .starts_with("vst_…")
    );
    assert!(phone_token.ends_with(&tokens[0]["indicator"].as_str().unwrap()[7..]));
    assert!(!list.to_string().contains(&phone_token[4..]));
    assert!(!list.to_string().contains(&alice.token[4..]));

    // last_used_at is kept without a write per request: a second use within the minute
    // leaves it as it was.
    let first_use = tokens[0]["last_used_at"].as_i64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (_, list) = phone_api.call("GET", "/v1/tokens", None);
    assert_eq!(
        list["tokens"][0]["last_used_at"].as_i64().unwrap(),
        first_use
    );

    // Revocation is immediate; a revoked or foreign token id is 404.
    let laptop_id = tokens[1]["id"].as_u64().unwrap();
    let (status, _) = phone_api.call("DELETE", &format!("/v1/tokens/{laptop_id}"), None);
    assert_eq!(status, 204);
    assert_error(
        &alice.api.call("GET", "/v1/tokens", None),
        401,
        "INVALID_TOKEN",
    );
    assert_error(
        &phone_api.call("DELETE", &format!("/v1/tokens/{laptop_id}"), None),
        404,
        "NOT_FOUND",
    );
    assert_error(
        &phone_api.call("DELETE", "/v1/tokens/abc", None),
        404,
        "NOT_FOUND",
    );
    let bob = register(&api, "bob");
    let phone_id = phone["token"]["info"]["id"].as_u64().unwrap();
    assert_error(
        &bob.api
            .call("DELETE", &format!("/v1/tokens/{phone_id}"), None),
        404,
        "NOT_FOUND",
    );
    assert_eq!(
        phone_api.call("GET", "/v1/tokens", None).0,
        200,
        "bob changed nothing"
    );
    let (_, list) = bob.api.call("GET", "/v1/tokens", None);
    assert_eq!(
        list["tokens"].as_array().unwrap().len(),
        1,
        "only bob's own"
    );

    // Logout revokes the current token.
    assert_eq!(phone_api.call("DELETE", "/v1/tokens/current", None).0, 204);
    assert_error(
        &phone_api.call("GET", "/v1/tokens", None),
        401,
        "INVALID_TOKEN",
    );

    // A token with a lifetime expires.
    let (status, short) = login(
        "alice@example.com",
        &alice.auth_key,
        json!({ "token_ttl_secs": 1 }),
    );
    assert_eq!(status, 200, "{short}");
    let short_api = api.with_token(short["token"]["secret"].as_str().unwrap());
    assert!(short["token"]["info"]["expires_at"].as_i64().is_some());
    assert_eq!(short_api.call("GET", "/v1/tokens", None).0, 200);
    std::thread::sleep(std::time::Duration::from_millis(1300));
    assert_error(
        &short_api.call("GET", "/v1/tokens", None),
        401,
        "INVALID_TOKEN",
    );
    assert_error(&api.call("GET", "/v1/tokens", None), 401, "UNAUTHENTICATED");
}

fn envelope(ctx: &Ctx) {
    let server = Server::start(&ctx.url);
    let api = server.api();
    let alice = register(&api, "alice");
    let (status, doc) = alice.api.call("GET", &alice.path("envelope"), None);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["envelope"], alice.envelope);
    assert_eq!(doc["kdf"], alice.kdf);

    // A password change: new envelope, KDF and auth key, from version 1.
    let new_key = b64(&random(32));
    let new_kdf = kdf(700_000, &random(32));
    let e2 = b64(&random(140));
    let put = |base: u64, envelope: &str, kdf: &Value, auth_key: Option<&str>| {
        let mut body = json!({ "base_version": base, "envelope": envelope, "kdf": kdf });
        if let Some(key) = auth_key {
            body["auth_key"] = json!(key);
        }
        alice.api.call("PUT", &alice.path("envelope"), Some(&body))
    };
    let (status, answer) = put(1, &e2, &new_kdf, Some(&new_key));
    assert_eq!(
        (status, answer["version"].as_u64()),
        (200, Some(2)),
        "{answer}"
    );
    // A second device changing from version 1 loses, and learns the current envelope.
    let stale = put(1, &b64(&random(140)), &alice.kdf, None);
    assert_error(&stale, 409, "CONFLICT");
    assert_eq!(stale.1["current"]["version"], 2);
    assert_eq!(stale.1["current"]["envelope"], e2);
    assert_eq!(stale.1["current"]["kdf"], new_kdf);

    // Prelogin and login follow the new password.
    let (_, pre) = api.call(
        "POST",
        "/v1/prelogin",
        Some(&json!({ "username": "alice" })),
    );
    assert_eq!(pre["kdf"], new_kdf);
    let login = |key: &str| {
        api.call(
            "POST",
            "/v1/login",
            Some(&json!({ "username": "alice", "auth_key": key })),
        )
    };
    assert_error(&login(&alice.auth_key), 401, "INVALID_CREDENTIALS");
    let (status, session) = login(&new_key);
    assert_eq!(status, 200);
    assert_eq!(session["envelope_version"], 2);

    // Without an auth key the verifier stays.
    assert_eq!(put(2, &b64(&random(140)), &new_kdf, None).0, 200);
    assert_eq!(login(&new_key).0, 200);

    // Refused puts change nothing.
    assert_error(
        &put(3, &e2, &kdf(1000, &random(16)), None),
        400,
        "INVALID_FIELD",
    );
    assert_error(
        &put(3, &e2, &kdf(600_000, &random(8)), None),
        400,
        "INVALID_FIELD",
    );
    assert_error(
        &put(3, &b64(&random(70_000)), &new_kdf, None),
        413,
        "PAYLOAD_TOO_LARGE",
    );
    assert_error(&put(3, "", &new_kdf, None), 400, "INVALID_FIELD");
    assert_error(&put(3, &e2, &new_kdf, Some("AAAA")), 400, "INVALID_FIELD");

    // Another account sees and changes nothing.
    let bob = register(&api, "bob");
    let bob_on_alice = alice.seen_by(&bob);
    assert_error(
        &bob_on_alice.api.call("GET", &alice.path("envelope"), None),
        404,
        "NOT_FOUND",
    );
    let body = json!({ "base_version": 3, "envelope": e2, "kdf": new_kdf });
    assert_error(
        &bob_on_alice
            .api
            .call("PUT", &alice.path("envelope"), Some(&body)),
        404,
        "NOT_FOUND",
    );
    let (_, doc) = alice.api.call("GET", &alice.path("envelope"), None);
    assert_eq!(doc["version"], 3);

    // A push sealed against an older envelope is refused whole (so no write under a
    // retired key lands after a rotation), with the current envelope; nothing is written.
    let record = new_id();
    let push = |envelope_version: u64| {
        let body = alice.push_body(
            envelope_version,
            0,
            vec![item(&record, 0, false, b"sealed")],
        );
        alice.api.call("POST", &alice.path("push"), Some(&body))
    };
    for stale in [1, 2, 4, 99] {
        let refused = push(stale);
        assert_error(&refused, 409, "ENVELOPE_CHANGED");
        assert_eq!(refused.1["current"]["version"], 3);
        assert_eq!(refused.1["current"]["envelope"], doc["envelope"]);
    }
    assert!(
        alice.pull_all(0).0.is_empty(),
        "a refused push wrote nothing"
    );
    let (status, answer) = push(3);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["status"], "applied");
}

fn recovery_login(ctx: &Ctx) {
    let server = Server::start(&ctx.url);
    let api = server.api();
    let recovery_key = b64(&random(32));
    let body = json!({
        "username": "alice", "auth_key": b64(&random(32)), "kdf": kdf(600_000, &random(16)),
        "vault_id": new_id(), "envelope": b64(&random(50)), "recovery_key": recovery_key,
    });
    let alice = register_with(&api, "alice", body);
    let recover = |username: &str, key: &str| {
        api.call(
            "POST",
            "/v1/recover",
            Some(&json!({ "username": username, "recovery_key": key, "token_label": "recovered" })),
        )
    };

    // The recovery key logs in (a new token, the vault and its envelope version); the
    // auth key, a wrong key and an unknown user are refused alike.
    let (status, session) = recover("ALICE", &recovery_key);
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["vault_id"], alice.vault);
    assert_eq!(session["envelope_version"], 1);
    assert_eq!(session["token"]["info"]["label"], "recovered");
    let token = session["token"]["secret"].as_str().unwrap();
    let recovered = alice.via(&api.with_token(token));
    let (status, doc) = recovered.api.call("GET", &alice.path("envelope"), None);
    assert_eq!((status, &doc["envelope"]), (200, &json!(alice.envelope)));
    assert_error(
        &recover("alice", &alice.auth_key),
        401,
        "INVALID_CREDENTIALS",
    );
    assert_error(
        &recover("alice", &b64(&random(32))),
        401,
        "INVALID_CREDENTIALS",
    );
    assert_error(
        &recover("nobody", &recovery_key),
        401,
        "INVALID_CREDENTIALS",
    );
    assert_error(&recover("alice", "AAAA"), 400, "INVALID_FIELD");

    // The recovered device sets a new password with an envelope put; the recovery key
    // keeps working, the old auth key does not.
    let new_key = b64(&random(32));
    let body = json!({
        "base_version": 1, "envelope": b64(&random(60)), "kdf": kdf(600_000, &random(16)),
        "auth_key": new_key,
    });
    let (status, answer) = recovered
        .api
        .call("PUT", &alice.path("envelope"), Some(&body));
    assert_eq!(status, 200, "{answer}");
    let login = |key: &str| {
        api.call(
            "POST",
            "/v1/login",
            Some(&json!({ "username": "alice", "auth_key": key })),
        )
    };
    assert_error(&login(&alice.auth_key), 401, "INVALID_CREDENTIALS");
    assert_eq!(login(&new_key).0, 200);
    assert_eq!(recover("alice", &recovery_key).0, 200);
}

fn push_and_changes(ctx: &Ctx) {
    let server = Server::start(&ctx.url);
    let api = server.api();
    let alice = register(&api, "alice");
    let (r1, r2, r3, r4) = (new_id(), new_id(), new_id(), new_id());

    // An empty vault: nothing to pull.
    let (status, page) = alice.changes(0, None);
    assert_eq!(status, 200);
    assert_eq!(
        page,
        json!({ "changes": [], "cursor": 0, "more": false, "envelope_version": 1 })
    );

    let results = alice.push(vec![item(&r1, 0, false, b"c1"), item(&r2, 0, false, b"c2")]);
    assert_eq!(results[0]["status"], "applied");
    assert_eq!(results[0]["version"], 1);
    assert_eq!(results[0]["cursor"], 1);
    assert_eq!(results[1]["cursor"], 2);

    let results = alice.push(vec![item(&r1, 1, false, b"c1b")]);
    assert_eq!(
        (
            results[0]["version"].as_u64(),
            results[0]["cursor"].as_u64()
        ),
        (Some(2), Some(3))
    );

    // A stale write: conflict with the current copy.
    let results = alice.push(vec![item(&r1, 1, false, b"c1c")]);
    assert_eq!(results[0]["status"], "conflict");
    assert_eq!(results[0]["current"]["version"], 2);
    assert_eq!(results[0]["current"]["ciphertext"], b64(b"c1b"));
    assert_eq!(results[0]["current"]["cursor"], 3);
    // A retry of the accepted write (its answer lost): applied, nothing new written.
    let results = alice.push(vec![item(&r1, 1, false, b"c1b")]);
    assert_eq!(results[0]["status"], "applied");
    assert_eq!(
        (
            results[0]["version"].as_u64(),
            results[0]["cursor"].as_u64()
        ),
        (Some(2), Some(3))
    );

    // A tombstone, a mixed batch (one result per item), a write to a missing record.
    let results = alice.push(vec![item(&r2, 1, true, b"t2")]);
    assert_eq!(
        (
            results[0]["status"].as_str(),
            results[0]["version"].as_u64()
        ),
        (Some("applied"), Some(2))
    );
    let results = alice.push(vec![
        item(&r3, 0, false, b"c3"),
        item(&r1, 0, false, b"again"),
        item(&r4, 5, false, b"c4"),
    ]);
    // A push lands whole or not at all: r3 is skipped because the others conflict.
    assert_eq!(results[0]["status"], "skipped");
    assert_eq!(results[1]["status"], "conflict");
    assert_eq!(results[1]["current"]["version"], 2);
    assert_eq!(results[2]["status"], "conflict");
    assert!(results[2]["current"].is_null());
    let results = alice.push(vec![item(&r3, 0, false, b"c3")]);
    assert_eq!(results[0]["status"], "applied");

    // Pages of 2: each record once, at its latest version, in cursor order.
    let (status, page) = alice.changes(0, Some(2));
    assert_eq!(status, 200);
    assert_eq!(page["changes"].as_array().unwrap().len(), 2);
    assert_eq!(page["more"], true);
    let mut cursor = 0;
    let mut seen = BTreeMap::new();
    loop {
        let (_, page) = alice.changes(cursor, Some(2));
        for change in page["changes"].as_array().unwrap() {
            assert!(change["cursor"].as_u64().unwrap() > cursor);
            cursor = change["cursor"].as_u64().unwrap();
            assert!(
                seen.insert(
                    change["record_id"].as_str().unwrap().to_string(),
                    change.clone()
                )
                .is_none()
            );
        }
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[&r1]["version"], 2);
    assert_eq!(seen[&r2]["deleted"], true);
    assert_eq!(seen[&r2]["ciphertext"], b64(b"t2"));
    assert_eq!(seen[&r3]["version"], 1);
    let (_, page) = alice.changes(cursor, None);
    assert_eq!(page["changes"], json!([]));
    assert_eq!(
        (page["cursor"].as_u64(), &page["more"]),
        (Some(cursor), &json!(false))
    );
    assert!(
        page["head"]["seq"].as_u64().unwrap() > 0,
        "the last page carries the head"
    );
    let behind = alice.changes(cursor + 1, None);
    assert_error(&behind, 410, "SERVER_BEHIND");
    assert_eq!(behind.1["head"], page["head"], "with the current head");

    // A tombstone can be written over (an undelete) from its version.
    let results = alice.push(vec![item(&r2, 2, false, b"back")]);
    assert_eq!(results[0]["version"], 3);

    // Another account: 404 everywhere, nothing changed.
    let bob = register(&api, "bob");
    let bob_on_alice = alice.seen_by(&bob);
    let push = alice.push_body(1, 0, vec![item(&r1, 2, false, b"bob was here")]);
    assert_error(
        &bob_on_alice
            .api
            .call("POST", &alice.path("push"), Some(&push)),
        404,
        "NOT_FOUND",
    );
    assert_error(&bob_on_alice.changes(0, None), 404, "NOT_FOUND");
    let (all, _) = alice.pull_all(0);
    assert!(all.iter().all(|c| c["ciphertext"] != b64(b"bob was here")));
    let (bob_all, _) = bob.pull_all(0);
    assert!(bob_all.is_empty());
}

fn bad_input(ctx: &Ctx) {
    let server = Server::start_with(
        &ctx.url,
        &[
            "--max-push-items",
            "3",
            "--max-record-bytes",
            "100",
            "--max-body-bytes",
            "4096",
            "--max-page-size",
            "10",
            "--max-envelope-bytes",
            "200",
        ],
    );
    let api = server.api();
    let alice = register(&api, "alice");
    let good_item = || item(&new_id(), 0, false, b"sealed");
    let register_body = || {
        json!({
            "username": "carol", "auth_key": b64(&random(32)), "kdf": kdf(600_000, &random(16)),
            "vault_id": new_id(), "envelope": b64(&random(50)), "recovery_key": b64(&random(32)),
        })
    };
    // Sets the field at `pointer`, adding it if absent.
    let with = |mut body: Value, pointer: &str, value: Value| {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap()[key] = value;
        body
    };
    let without = |mut body: Value, field: &str| {
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let push_body = |items: Vec<Value>| alice.push_body(1, 0, items);
    let env_body = || json!({ "base_version": 1, "envelope": b64(&random(50)), "kdf": alice.kdf });
    let push_path = alice.path("push");
    let env_path = alice.path("envelope");

    // (method, path, authorized, body, status, code)
    // Register bodies with one field changed: (JSON pointer, value, status, code).
    let register_cases = [
        ("/username", json!(5), 400, "INVALID_FIELD"),
        ("/username", json!(""), 400, "INVALID_FIELD"),
        ("/auth_key", json!("!!"), 400, "INVALID_FIELD"),
        ("/auth_key", json!(b64(&[1; 31])), 400, "INVALID_FIELD"),
        ("/kdf/iterations", json!(5), 400, "INVALID_FIELD"),
        ("/kdf/iterations", json!(-1), 400, "INVALID_FIELD"),
        ("/kdf/salt", json!(b64(&[1; 8])), 400, "INVALID_FIELD"),
        ("/kdf/algorithm", json!("scrypt"), 400, "INVALID_FIELD"),
        ("/vault_id", json!("AAAA"), 400, "INVALID_FIELD"),
        (
            "/envelope",
            json!(b64(&random(201))),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "/envelope",
            json!(b64(&random(3000))),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ];
    // Pushes whose second item has one field changed (the first is good, and must not be
    // written either).
    let push_cases = [
        ("/base_version", json!(-1), 400, "INVALID_FIELD"),
        ("/base_version", json!(1u64 << 60), 400, "INVALID_FIELD"),
        (
            "/base_version",
            json!((1u64 << 53) - 1),
            400,
            "INVALID_FIELD",
        ),
        ("/ciphertext", json!("+/+/"), 400, "INVALID_FIELD"),
        ("/ciphertext", json!(""), 400, "INVALID_FIELD"),
        (
            "/ciphertext",
            json!(b64(&[7; 101])),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        ("/record_id", json!("short"), 400, "INVALID_FIELD"),
        ("/deleted", json!("yes"), 400, "INVALID_FIELD"),
        ("/version", json!(0), 400, "INVALID_FIELD"),
        ("/version", json!(1u64 << 53), 400, "INVALID_FIELD"),
    ];
    // Envelope puts with one field changed.
    let envelope_cases = [
        ("/base_version", json!(-1), 400, "INVALID_FIELD"),
        ("/base_version", json!(1u64 << 53), 400, "INVALID_FIELD"),
        ("/base_version", json!(1e30), 400, "INVALID_FIELD"),
        ("/base_version", json!("1"), 400, "INVALID_FIELD"),
        ("/envelope", json!("a="), 400, "INVALID_FIELD"),
    ];
    let post = |path: &str, body: Value, status: u16, code: &'static str| {
        ("POST", path.to_string(), false, body, status, code)
    };
    let mut json_cases: Vec<(&str, String, bool, Value, u16, &str)> = Vec::new();
    for (pointer, value, status, code) in register_cases {
        json_cases.push(post(
            "/v1/accounts",
            with(register_body(), pointer, value),
            status,
            code,
        ));
    }
    for (pointer, value, status, code) in push_cases {
        let body = push_body(vec![good_item(), with(good_item(), pointer, value)]);
        json_cases.push(("POST", push_path.clone(), true, body, status, code));
    }
    for (pointer, value, status, code) in envelope_cases {
        json_cases.push((
            "PUT",
            env_path.clone(),
            true,
            with(env_body(), pointer, value),
            status,
            code,
        ));
    }
    let mut extra_field = register_body();
    extra_field["extra"] = json!(1);
    let mut extra_item = good_item();
    extra_item["extra"] = json!(1);
    let mut not_above = good_item();
    not_above["base_version"] = json!(3);
    not_above["version"] = json!(3);
    let head_cases = [
        ("/base_seq", json!(-1)),
        ("/base_seq", json!(1u64 << 53)),
        ("/head", json!("")),
        ("/head", json!(b64(&random(1651)))),
        ("/head", json!("!!")),
    ];
    for (pointer, value) in head_cases {
        let body = with(push_body(vec![good_item()]), pointer, value);
        json_cases.push(("POST", push_path.clone(), true, body, 400, "INVALID_FIELD"));
    }
    let repeated = good_item();
    let unknown_vault = "/v1/vaults/AAAAAAAAAAAAAAAAAAAAAA";
    json_cases.extend([
        post("/v1/accounts", json!([]), 400, "INVALID_FIELD"),
        post("/v1/accounts", without(register_body(), "kdf"), 400, "INVALID_FIELD"),
        post("/v1/accounts", with(register_body(), "/envelope", json!(b64(&random(4000)))), 413, "PAYLOAD_TOO_LARGE"),
        post("/v1/accounts", extra_field, 400, "INVALID_FIELD"),
        post("/v1/prelogin", json!({ "username": "x".repeat(200) }), 400, "INVALID_FIELD"),
        post("/v1/prelogin", json!({ "user": "alice" }), 400, "INVALID_FIELD"),
        post("/v1/login", json!({ "username": "alice", "auth_key": "%%" }), 400, "INVALID_FIELD"),
        post("/v1/login", json!({ "username": "alice", "auth_key": alice.auth_key, "token_ttl_secs": -1 }), 400, "INVALID_FIELD"),
        post("/v1/login", json!({ "username": "alice", "auth_key": alice.auth_key, "token_ttl_secs": 0 }), 400, "INVALID_FIELD"),
        post("/v1/login", json!({ "username": "alice", "auth_key": alice.auth_key, "token_label": "x".repeat(65) }), 400, "INVALID_FIELD"),
        ("PUT", env_path.clone(), false, env_body(), 401, "UNAUTHENTICATED"),
        ("PUT", "/v1/vaults/!!/envelope".into(), true, env_body(), 404, "NOT_FOUND"),
        ("POST", push_path.clone(), true, json!({ "envelope_version": 1, "items": {} }), 400, "INVALID_FIELD"),
        ("POST", push_path.clone(), true, json!({}), 400, "INVALID_FIELD"),
        ("POST", push_path.clone(), true, push_body(vec![good_item(), extra_item]), 400, "INVALID_FIELD"),
        ("POST", push_path.clone(), true, push_body(vec![good_item(), not_above]), 400, "INVALID_FIELD"),
        ("POST", push_path.clone(), true, without(push_body(vec![good_item()]), "head"), 400, "INVALID_FIELD"),
        ("POST", push_path.clone(), true, without(push_body(vec![good_item()]), "base_seq"), 400, "INVALID_FIELD"),
        ("POST", push_path.clone(), true, push_body(vec![good_item(), good_item(), good_item(), good_item()]), 413, "TOO_MANY_ITEMS"),
        ("POST", push_path.clone(), true, push_body(vec![repeated.clone(), repeated]), 400, "DUPLICATE_RECORD"),
        ("POST", push_path.clone(), false, push_body(vec![good_item()]), 401, "UNAUTHENTICATED"),
        ("PATCH", "/v1/accounts".into(), false, register_body(), 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/v1/health".into(), false, json!({}), 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", "/v1/tokens/1".into(), false, json!({}), 401, "UNAUTHENTICATED"),
        ("DELETE", "/v1/tokens/current".into(), false, json!({}), 401, "UNAUTHENTICATED"),
        ("GET", env_path.clone(), false, json!({}), 401, "UNAUTHENTICATED"),
        ("GET", alice.path("changes"), false, json!({}), 401, "UNAUTHENTICATED"),
        ("GET", format!("{unknown_vault}/changes"), true, json!({}), 404, "NOT_FOUND"),
        ("GET", format!("{unknown_vault}/envelope"), true, json!({}), 404, "NOT_FOUND"),
        ("POST", format!("{unknown_vault}/push"), true, push_body(vec![good_item()]), 404, "NOT_FOUND"),
        ("POST", "/v1/nowhere".into(), false, json!({}), 404, "NOT_FOUND"),
        // A JSON array where the schema says object, at any depth (serde alone takes an
        // array of a struct's fields in order: a login as ["alice", key] used to work).
        post("/v1/login", json!(["alice", alice.auth_key]), 400, "INVALID_FIELD"),
        post("/v1/prelogin", json!(["alice"]), 400, "INVALID_FIELD"),
        post("/v1/accounts", with(register_body(), "/kdf", json!(["pbkdf2-sha256", 600_000, b64(&random(16))])), 400, "INVALID_FIELD"),
        ("POST", push_path.clone(), true, json!([1, []]), 400, "INVALID_FIELD"),
        ("POST", push_path.clone(), true, push_body(vec![good_item(), json!([new_id(), 0, false, b64(b"sealed")])]), 400, "INVALID_FIELD"),
        ("PUT", env_path.clone(), true, with(env_body(), "/kdf", json!(["pbkdf2-sha256", 600_000, b64(&random(16))])), 400, "INVALID_FIELD"),
    ]);
    for (method, path, authorized, body, status, code) in &json_cases {
        let client = if *authorized { &alice.api } else { &api };
        let answer = client.call(method, path, Some(body));
        assert_error(&answer, *status, code);
    }

    // Raw bodies: not JSON, wrong content type, over the body limit.
    for path in ["/v1/accounts", "/v1/prelogin", "/v1/login"] {
        assert_error(
            &api.raw("POST", path, "application/json", b"{".to_vec()),
            400,
            "MALFORMED_JSON",
        );
        assert_error(
            &api.raw("POST", path, "application/json", b"\xff\xfe".to_vec()),
            400,
            "MALFORMED_JSON",
        );
        assert_error(
            &api.raw("POST", path, "text/plain", b"{}".to_vec()),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        );
        assert_error(
            &api.raw("POST", path, "application/json", vec![b' '; 5000]),
            413,
            "PAYLOAD_TOO_LARGE",
        );
    }
    assert_error(
        &alice.api.raw(
            "POST",
            &push_path,
            "application/json",
            b"{\"items\":[".to_vec(),
        ),
        400,
        "MALFORMED_JSON",
    );
    assert_error(
        &alice
            .api
            .raw("PUT", &env_path, "application/json", b"nul".to_vec()),
        400,
        "MALFORMED_JSON",
    );

    // Incomplete JSON is MALFORMED_JSON whatever its first error would have been.
    for body in [
        &b"[1,2"[..],
        b"{\"username\": 5",
        b"{\"username\": \"a\"",
        b"{\"a\":[{}",
    ] {
        assert_error(
            &api.raw("POST", "/v1/prelogin", "application/json", body.to_vec()),
            400,
            "MALFORMED_JSON",
        );
    }

    // An INVALID_FIELD message names the field but never repeats the value (an auth key
    // sent where a number belongs must not come back).
    let secret = b64(&random(32));
    for body in [
        json!({ "username": "alice", "auth_key": alice.auth_key, "token_ttl_secs": secret }),
        json!({ "username": secret.clone(), "auth_key": 7 }),
        {
            let mut body = json!({ "username": "alice", "auth_key": alice.auth_key });
            body[&secret] = json!(1);
            body
        },
    ] {
        let (status, answer) = api.call("POST", "/v1/login", Some(&body));
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], "INVALID_FIELD");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains(&secret[..10]),
            "the message repeats the value: {message}"
        );
    }
    let (_, answer) = api.call(
        "POST",
        "/v1/login",
        Some(&json!({ "username": "alice", "auth_key": alice.auth_key, "token_ttl_secs": "x" })),
    );
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("token_ttl_secs"),
        "the message names the field: {message}"
    );

    // Request ids: a short plain id is kept; anything else is replaced by the server's.
    let id_of = |id: &str| {
        let (_, head, _) =
            server.request_with_headers("GET", "/v1/health", None, &[("x-request-id", id)]);
        head.lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(id_of("trace-42.a_b"), "trace-42.a_b");
    for forged in [
        "x".repeat(60_000),
        "1 method=DELETE path=/v1/tokens status=204".to_string(),
        "a=b;c".to_string(),
        "x".repeat(65),
    ] {
        let got = id_of(&forged);
        assert!(
            !got.is_empty() && got != forged && got.len() <= 64,
            "kept {forged:.40}: {got}"
        );
    }

    // Bad tokens.
    for token in [
        "junk",
        "vst_",
        "vst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert_error(
            &api.with_token(token).call("GET", "/v1/tokens", None),
            401,
            "INVALID_TOKEN",
        );
    }
    let basic = api.raw("GET", "/v1/tokens", "application/json", vec![]);
    assert_error(&basic, 401, "UNAUTHENTICATED");

    // Bad cursors and page sizes.
    for query in [
        "since=-1",
        "since=abc",
        "since=1e3",
        "since=99999999999999999999",
        "since=9007199254740992",
    ] {
        assert_error(
            &alice
                .api
                .call("GET", &alice.path(&format!("changes?{query}")), None),
            400,
            "INVALID_CURSOR",
        );
    }
    for query in ["limit=0", "limit=11", "limit=x", "since=0&foo=1"] {
        assert_error(
            &alice
                .api
                .call("GET", &alice.path(&format!("changes?{query}")), None),
            400,
            "INVALID_FIELD",
        );
    }

    // Nothing was written by any refused request.
    let (changes, _) = alice.pull_all(0);
    assert!(changes.is_empty(), "{changes:?}");
    let (_, doc) = alice.api.call("GET", &env_path, None);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["envelope"], alice.envelope);
    let (status, _) = api.call(
        "POST",
        "/v1/prelogin",
        Some(&json!({ "username": "carol" })),
    );
    assert_eq!(status, 200);
    assert_error(
        &api.call(
            "POST",
            "/v1/login",
            Some(&json!({ "username": "carol", "auth_key": b64(&random(32)) })),
        ),
        401,
        "INVALID_CREDENTIALS",
    );
    let (_, tokens) = alice.api.call("GET", "/v1/tokens", None);
    assert_eq!(
        tokens["tokens"].as_array().unwrap().len(),
        1,
        "no token issued"
    );
}

fn rate_limits(ctx: &Ctx) {
    let server = Server::start_with(
        &ctx.url,
        &[
            "--login-attempts-per-account",
            "3",
            "--login-attempts-per-address",
            "10",
        ],
    );
    let api = server.api();
    let alice = register(&api, "alice");
    let login = |name: &str, key: &str| {
        api.call(
            "POST",
            "/v1/login",
            Some(&json!({ "username": name, "auth_key": key })),
        )
    };
    for _ in 0..3 {
        assert_error(
            &login("alice", &b64(&random(32))),
            401,
            "INVALID_CREDENTIALS",
        );
    }
    // The account's budget is spent: even the right key waits, and a recovery login
    // draws on the same budget.
    let limited = login("ALICE", &alice.auth_key);
    assert_error(&limited, 429, "RATE_LIMITED");
    let recover = json!({ "username": "alice", "recovery_key": b64(&random(32)) });
    assert_error(
        &api.call("POST", "/v1/recover", Some(&recover)),
        429,
        "RATE_LIMITED",
    );
    // Another account still has its own budget; the address budget runs out next.
    assert_error(&login("bob", &b64(&random(32))), 401, "INVALID_CREDENTIALS");
    let mut statuses = Vec::new();
    for i in 0..10 {
        let (status, answer) = api.call(
            "POST",
            "/v1/prelogin",
            Some(&json!({ "username": format!("user{i}") })),
        );
        if status == 429 {
            assert_error(&(status, answer), 429, "RATE_LIMITED");
        }
        statuses.push(status);
    }
    // 1 register + 5 logins + 1 recovery login + 3 prelogins = 10, then 429.
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    // Authenticated routes are not login attempts.
    assert_eq!(alice.api.call("GET", "/v1/tokens", None).0, 200);
}

fn tombstone_retention(ctx: &Ctx) {
    let server = Server::start_with(
        &ctx.url,
        &["--tombstone-retention", "1s", "--purge-interval", "100ms"],
    );
    let alice = register(&server.api(), "alice");
    let (keep, gone) = (new_id(), new_id());
    alice.push(vec![
        item(&keep, 0, false, b"keep"),
        item(&gone, 0, false, b"gone"),
    ]);
    let (_, before_delete) = alice.pull_all(0);
    let deleted = alice.push(vec![item(&gone, 1, true, b"tombstone")]);
    let tombstone_cursor = deleted[0]["cursor"].as_u64().unwrap();
    // Within the window the tombstone is served.
    let (changes, _) = alice.pull_all(before_delete);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["deleted"], true);
    // After it, the tombstone is purged, and a cursor from before it must resync.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let answer = alice.changes(before_delete, None);
        if answer.0 == 410 {
            assert_error(&answer, 410, "RESYNC_REQUIRED");
            break;
        }
        assert_eq!(answer.0, 200, "{answer:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "tombstone never purged"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A cursor past the horizon is fine; a full pull (cursor 0) is the resync, and its
    // later pages say so (`full=1`): a purge between its pages does not send it back to 0.
    assert_eq!(alice.changes(tombstone_cursor, None).0, 200);
    let (all, _) = alice.pull_all(0);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["record_id"], keep);
    let below = alice.path(&format!("changes?since={before_delete}&full=1"));
    let (status, page) = alice.api.call("GET", &below, None);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["changes"], json!([]));
    let (_, page) = alice.changes(0, None);
    assert!(
        page["cursor"].as_u64().unwrap() >= tombstone_cursor,
        "the last page's cursor is at or above the horizon: no full pull every time"
    );
    let odd = alice.path("changes?since=1&full=yes");
    assert_error(&alice.api.call("GET", &odd, None), 400, "INVALID_FIELD");
    // Live records are never purged, however old.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(alice.pull_all(0).0.len(), 1);
}

fn plaintext_absent(ctx: &Ctx) {
    use vaultsync::crypto::{
        GenerateId, KdfParams, OsEntropy, Password, RecordId, RecordMeta, UnlockedVault,
        kdf::derive_master,
    };
    let server = Server::start(&ctx.url);
    let api = server.api();
    let password = "correct horse MARKER-PASSWORD";
    let params = KdfParams::generate(100_000, &mut OsEntropy).unwrap();
    let master = derive_master(&Password::from(password), &params);
    let new = UnlockedVault::create_with_master(&master, params.clone(), &mut OsEntropy).unwrap();
    let auth_key = master.auth_key().to_bytes();
    let body = json!({
        "username": "alice", "auth_key": b64(&auth_key[..]),
        "kdf": kdf(params.iterations(), params.salt()),
        "vault_id": new.vault.vault_id().to_string(),
        "envelope": b64(&new.envelope.to_bytes()),
        "recovery_key": b64(&new.recovery_code.auth_key().to_bytes()[..]),
    });
    let alice = common::client::register_with(&api, "alice", body);
    let mut items = Vec::new();
    for i in 0..20 {
        let meta =
            RecordMeta::new(RecordId::generate(&mut OsEntropy).unwrap(), 1, i % 5 == 4).unwrap();
        let plaintext = if meta.deleted() {
            String::new()
        } else {
            format!(r#"{{"note":"MARKER-PLAINTEXT-{i} the quick brown fox"}}"#)
        };
        let sealed = new
            .vault
            .seal(&meta, plaintext.as_bytes(), &mut OsEntropy)
            .unwrap();
        items.push(item(
            &meta.record_id().to_string(),
            0,
            meta.deleted(),
            &sealed,
        ));
    }
    let results = alice.push(items);
    assert!(results.iter().all(|r| r["status"] == "applied"));
    // What the server answers is what it stored: sealed bytes that open again.
    let (changes, _) = alice.pull_all(0);
    assert_eq!(changes.len(), 20);
    let dump = ctx.dump();
    let contains = |needle: &[u8]| dump.windows(needle.len()).any(|w| w == needle);
    assert!(
        dump.len() > 10_000,
        "the dump holds the data ({} bytes)",
        dump.len()
    );
    for needle in [
        &b"MARKER-PLAINTEXT"[..],
        b"quick brown fox",
        b"MARKER-PASSWORD",
        alice.token.as_bytes(),
        &alice.token.as_bytes()[4..],
        &auth_key[..],
        b64(&auth_key[..]).as_bytes(),
    ] {
        assert!(
            !contains(needle),
            "{}: the store holds {:?}",
            ctx.backend,
            String::from_utf8_lossy(needle)
        );
    }
    // Sanity of the search itself: the record ids are there.
    let first_id = changes[0]["record_id"].as_str().unwrap();
    let id_bytes = vaultsync_wire::RecordId::parse(first_id).unwrap();
    let hex: String = id_bytes
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        contains(id_bytes.as_bytes()) || contains(hex.as_bytes()),
        "record ids are in the dump"
    );
}
