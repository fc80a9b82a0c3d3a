//! The real server binary over HTTP, on a real SQLite file and a real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Postgres, Server, run};

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
    assert!(out.contains("applied 1 migration(s)"), "{out}");
    let (ok, out, _) = run(&["--database", database, "migrate", "apply"]);
    assert!(
        ok && out.contains("applied 0 migration(s)"),
        "apply is idempotent: {out}"
    );
    let (_, out, _) = run(&["--database", database, "migrate", "status"]);
    assert!(out.contains("applied    initial"), "{out}");
    let (ok, out, _) = run(&["--database", database, "migrate", "down"]);
    assert!(ok && out.contains("reverted migration"), "{out}");
    let (_, out, _) = run(&["--database", database, "migrate", "status"]);
    assert!(out.contains("pending    initial"), "{out}");
    let (ok, out, _) = run(&["--database", database, "migrate", "down"]);
    assert!(ok && out.contains("nothing to revert"), "{out}");
}

#[test]
fn sqlite_serves_health_migrates_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/nested/vaultsync.db", dir.path().display());
    migrate_cycle(&db);
    let server = Server::start(&db);
    health_and_errors(&server, "sqlite");
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
