//! The real server binary over HTTP, on a real SQLite file and a real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::client::{b64, item, new_id, register};
use common::{Postgres, Server, run};
use serde_json::json;

fn health_and_errors(server: &Server, backend: &str) {
    let (status, body) = server.request("GET", "/v1/health", None);
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["database"], backend);
    let (_, head, _) = server.request_full("GET", "/v1/health", None);
    assert!(
        head.contains("\r\nx-request-id: "),
        "every answer carries a request id: {head}"
    );
    let (status, body) = server.request("GET", "/v1/no-such-route", None);
    assert_eq!(status, 404);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["code"], "NOT_FOUND");
    assert!(json["error"]["message"].is_string());
}

fn migrate_cycle(database: &str) {
    let (ok, out, err) = run(&["--database", database, "migrate", "apply"]);
    assert!(ok, "{err}");
    assert!(out.contains("applied 7 migration(s)"), "{out}");
    let (ok, out, _) = run(&["--database", database, "migrate", "apply"]);
    assert!(
        ok && out.contains("applied 0 migration(s)"),
        "apply is idempotent: {out}"
    );
    let (_, out, _) = run(&["--database", database, "migrate", "status"]);
    assert!(out.contains("applied    initial"), "{out}");
    assert!(out.contains("applied    recovery verifier"), "{out}");
    assert!(out.contains("applied    vault head"), "{out}");
    assert!(out.contains("applied    live tickets"), "{out}");
    assert!(out.contains("applied    devices"), "{out}");
    assert!(out.contains("applied    record history"), "{out}");
    assert!(out.contains("applied    record versions"), "{out}");
    // Down reverts the newest first, one at a time.
    let (ok, out, _) = run(&["--database", database, "migrate", "down"]);
    assert!(ok && out.contains("reverted migration"), "{out}");
    let (_, out, _) = run(&["--database", database, "migrate", "status"]);
    assert!(out.contains("applied    record history"), "{out}");
    assert!(out.contains("pending    record versions"), "{out}");
    let (ok, out, _) = run(&["--database", database, "migrate", "down"]);
    assert!(ok && out.contains("reverted migration"), "{out}");
    let (_, out, _) = run(&["--database", database, "migrate", "status"]);
    assert!(out.contains("applied    devices"), "{out}");
    assert!(out.contains("pending    record history"), "{out}");
    let (ok, out, _) = run(&["--database", database, "migrate", "down"]);
    assert!(ok && out.contains("reverted migration"), "{out}");
    let (_, out, _) = run(&["--database", database, "migrate", "status"]);
    assert!(out.contains("applied    live tickets"), "{out}");
    assert!(out.contains("pending    devices"), "{out}");
    let (ok, out, _) = run(&["--database", database, "migrate", "down"]);
    assert!(ok && out.contains("reverted migration"), "{out}");
    let (_, out, _) = run(&["--database", database, "migrate", "status"]);
    assert!(out.contains("applied    vault head"), "{out}");
    assert!(out.contains("pending    live tickets"), "{out}");
    let (ok, out, _) = run(&["--database", database, "migrate", "down"]);
    assert!(ok && out.contains("reverted migration"), "{out}");
    let (_, out, _) = run(&["--database", database, "migrate", "status"]);
    assert!(out.contains("applied    recovery verifier"), "{out}");
    assert!(out.contains("pending    vault head"), "{out}");
    let (ok, out, _) = run(&["--database", database, "migrate", "down"]);
    assert!(ok && out.contains("reverted migration"), "{out}");
    let (_, out, _) = run(&["--database", database, "migrate", "status"]);
    assert!(out.contains("applied    initial"), "{out}");
    assert!(out.contains("pending    recovery verifier"), "{out}");
    let (ok, out, _) = run(&["--database", database, "migrate", "down"]);
    assert!(ok && out.contains("reverted migration"), "{out}");
    let (_, out, _) = run(&["--database", database, "migrate", "status"]);
    assert!(out.contains("pending    initial"), "{out}");
    let (ok, out, _) = run(&["--database", database, "migrate", "down"]);
    assert!(ok && out.contains("nothing to revert"), "{out}");
}

/// The OpenAPI document lists exactly the routes the server has, and PROTOCOL.md documents
/// each of them.
fn openapi_matches_routes_and_protocol(server: &Server) {
    let (status, body) = server.request("GET", "/v1/openapi.json", None);
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let expected = [
        "DELETE /v1/devices/{device_id}",
        "DELETE /v1/tokens/current",
        "DELETE /v1/tokens/{token_id}",
        "GET /v1/devices",
        "GET /v1/events",
        "GET /v1/health",
        "GET /v1/link-requests",
        "GET /v1/openapi.json",
        "GET /v1/tokens",
        "GET /v1/vaults/{vault_id}/changes",
        "GET /v1/vaults/{vault_id}/deleted",
        "GET /v1/vaults/{vault_id}/envelope",
        "GET /v1/vaults/{vault_id}/records/{record_id}/history",
        "POST /v1/accounts",
        "POST /v1/events/ticket",
        "POST /v1/link-requests",
        "POST /v1/link-requests/{request_id}/approve",
        "POST /v1/link-requests/{request_id}/claim",
        "POST /v1/link-requests/{request_id}/deny",
        "POST /v1/login",
        "POST /v1/prelogin",
        "POST /v1/recover",
        "POST /v1/vaults/{vault_id}/push",
        "PUT /v1/vaults/{vault_id}/envelope",
    ];
    assert_eq!(documented, expected);
    // The schemas carry the limits the server enforces (generated clients and fuzzers see
    // them).
    let schemas = &doc["components"]["schemas"];
    for (schema, field, key, value) in [
        ("LoginRequest", "username", "maxLength", json!(128)),
        ("LoginRequest", "auth_key", "minLength", json!(43)),
        (
            "LoginRequest",
            "token_ttl_secs",
            "maximum",
            json!(315_360_000),
        ),
        ("RegisterRequest", "token_label", "maxLength", json!(64)),
        ("Kdf", "iterations", "minimum", json!(100_000)),
        ("Kdf", "iterations", "maximum", json!(10_000_000)),
        ("Kdf", "salt", "maxLength", json!(86)),
        (
            "PushItem",
            "base_version",
            "maximum",
            json!(9_007_199_254_740_990_u64),
        ),
        (
            "PushRequest",
            "envelope_version",
            "maximum",
            json!(9_007_199_254_740_991_u64),
        ),
        (
            "PutEnvelopeRequest",
            "base_version",
            "maximum",
            json!(9_007_199_254_740_990_u64),
        ),
    ] {
        let property = &schemas[schema]["properties"][field];
        let found = if property[key].is_null() {
            // Optional fields are `oneOf: [null, {…}]`.
            property["oneOf"]
                .as_array()
                .and_then(|v| v.iter().find(|s| !s[key].is_null()))
                .map(|s| s[key].clone())
                .unwrap_or_default()
        } else {
            property[key].clone()
        };
        assert_eq!(
            found.as_f64(),
            value.as_f64(),
            "{schema}.{field}.{key}: {property}"
        );
    }
    // Each route answers something other than 404/405 (it exists as documented).
    for route in expected {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path
            .replace("{vault_id}", "AAAAAAAAAAAAAAAAAAAAAA")
            .replace("{token_id}", "1");
        let (status, _) = server.request(method, &path, None);
        assert!(
            status != 405 && (status != 404 || path.contains("/vaults/")),
            "{route}: {status}"
        );
    }
    let protocol =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../PROTOCOL.md")).unwrap();
    for route in expected {
        let (method, path) = route.split_once(' ').unwrap();
        assert!(
            protocol.contains(&format!("{method} {path}")),
            "PROTOCOL.md documents {route}"
        );
    }
    // Every schema the routes use is in the document.
    for schema in [
        "PushRequest",
        "PushResult",
        "ChangesResponse",
        "EnvelopeConflict",
        "ErrorBody",
        "Session",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema}"
        );
    }
}

#[test]
fn sqlite_serves_health_migrates_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/nested/vaultsync.db", dir.path().display());
    migrate_cycle(&db);
    let server = Server::start(&db);
    health_and_errors(&server, "sqlite");
    openapi_matches_routes_and_protocol(&server);
    assert!(dir.path().join("nested/vaultsync.db").exists());
    assert!(server.terminate().success(), "SIGTERM is a clean exit");
}

#[test]
fn postgres_serves_health_and_migrates() {
    let pg = Postgres::start();
    migrate_cycle(&pg.url);
    let server = Server::start(&pg.url);
    health_and_errors(&server, "postgres");
    assert!(server.terminate().success());
}

/// Replicas started at the same moment on an empty PostgreSQL database all come up: the
/// migration step takes an advisory lock, so they take turns (without it, 9 of 10 trials
/// with two replicas crashed all but one on the migrator's `CREATE TABLE`).
#[test]
fn postgres_replicas_started_together_on_an_empty_database_all_serve() {
    let pg = Postgres::shared();
    for trial in 0..5 {
        let database = pg.database(&format!("together_{trial}"));
        let servers: Vec<Server> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..3)
                .map(|_| scope.spawn(|| Server::start(&database)))
                .collect();
            starts.into_iter().map(|s| s.join().unwrap()).collect()
        });
        for server in &servers {
            let (status, body) = server.request("GET", "/v1/health", None);
            assert_eq!(status, 200, "trial {trial}: {body}");
        }
        let (ok, out, err) = run(&["--database", &database, "migrate", "status"]);
        assert!(ok && !out.contains("pending"), "trial {trial}: {out}{err}");
    }
}

#[test]
fn bad_database_urls_are_clear_errors() {
    let (ok, _, err) = run(&["--database", "mysql://x", "migrate", "status"]);
    assert!(!ok);
    assert!(err.contains("unsupported database URL"), "{err}");
    let (ok, _, err) = run(&[
        "--database",
        "postgres://nobody@127.0.0.1:1/x",
        "migrate",
        "status",
    ]);
    assert!(!ok);
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
}

/// SIGTERM while a push is half received: the push still completes and is answered, the
/// server then exits cleanly. The debug log of the whole exchange holds no token, auth key
/// or ciphertext.
#[test]
fn sigterm_finishes_in_flight_requests_and_logs_hold_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/vaultsync.db", dir.path().display());
    let log = dir.path().join("server.log");
    let server = Server::start_logged(&db, &log, "debug");
    let alice = register(&server.api(), "alice");
    let ciphertexts: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("LOG-MARKER-{i:04}").into_bytes())
        .collect();
    let items: Vec<serde_json::Value> = ciphertexts
        .iter()
        .map(|c| item(&new_id(), 0, false, c))
        .collect();
    let body = alice.push_body(1, 0, items).to_string();
    let addr = server.url.strip_prefix("http://").unwrap().to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        alice.path("push"),
        alice.token,
        body.len()
    )
    .unwrap();
    let (head, tail) = body.split_at(body.len() / 2);
    stream.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.signal_term();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(tail.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let json: serde_json::Value =
        serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap();
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 200);
    assert!(results.iter().all(|r| r["status"] == "applied"));
    assert!(server.wait().success(), "a clean exit after the request");
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "no longer listening"
    );

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("/push"), "requests are logged: {logs}");
    assert!(
        logs.contains("x-request-id") || logs.contains("id="),
        "with their ids"
    );
    for secret in [
        alice.token.clone(),
        alice.token[4..].to_string(),
        alice.auth_key.clone(),
        b64(&ciphertexts[0]),
        b64(&ciphertexts[199]),
        "LOG-MARKER".to_string(),
    ] {
        assert!(!logs.contains(&secret), "the log holds {secret}");
    }
    // After a restart the push is there, whole.
    let restarted = Server::start(&db);
    let (changes, _) = alice.via(&restarted.api()).pull_all(0);
    assert_eq!(changes.len(), 200);
}
