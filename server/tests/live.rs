//! The live channel on the real server: tickets (single-use, expiring, unforgeable),
//! hints after commits only, long-poll, limits, heartbeats and silence, revocation,
//! and the fan-out across two PostgreSQL replicas (a lost notification, a killed
//! listener, a killed replica). 1,000 idle sockets: memory and one push to all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::client::{Account, assert_error, item, new_id, register};
use common::live::{End, Socket, closed, open, ticket};
use common::{Postgres, Server};
use serde_json::json;

const SOON: Duration = Duration::from_secs(3);
const QUIET: Duration = Duration::from_millis(400);

fn sqlite(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/v.db", dir.path().display())
}

/// A hint follows every committed push and only those; the catch-up comes first.
fn hints_follow_commits(server: &Server) {
    let alice = register(&server.api(), "alice");
    let x = new_id();
    alice.push(vec![item(&x, 0, false, b"x1")]);
    let (mut socket, first) = Socket::subscribe(&server.url, &alice);
    assert_eq!(first, 1, "the catch-up carries the current cursor");
    alice.push(vec![item(&new_id(), 0, false, b"y1")]);
    assert_eq!(socket.hint(SOON), Some(2));
    // A push that conflicts writes nothing, so nothing is hinted.
    let conflict = alice.push(vec![item(&x, 0, false, b"late")]);
    assert_eq!(conflict[0]["status"], "conflict");
    assert_eq!(socket.hint(QUIET), None, "no hint without a commit");
    // A burst is coalesced to at most one hint per push, the last one the latest cursor.
    for _ in 0..5 {
        alice.push(vec![item(&new_id(), 0, false, b"z")]);
    }
    let mut last = 0;
    while let Some(cursor) = socket.hint(QUIET) {
        assert!(cursor > last, "hints only move forward");
        last = cursor;
    }
    assert_eq!(last, 7);
    socket.send(&json!({ "t": "ping" }));
    // Another account's hints never reach this socket.
    let bob = register(&server.api(), "bob");
    bob.push(vec![item(&new_id(), 0, false, b"b")]);
    assert_eq!(socket.hint(QUIET), None);
}

/// Unknown vaults, malformed messages and refused tickets.
fn refusals(server: &Server) {
    let alice = register(&server.api(), "alice2");
    let bob = register(&server.api(), "bob2");
    // Bob's vault through Alice's socket answers like an unknown one.
    let mut socket = open(&server.url, &ticket(&alice)).unwrap();
    socket.send(&json!({ "t": "sub", "vault": bob.vault, "cursor": 0 }));
    assert_eq!(socket.end(SOON).0, closed(4404));
    let mut socket = open(&server.url, &ticket(&alice)).unwrap();
    socket.send_text("{\"t\":\"sub\"}");
    assert_eq!(socket.end(SOON).0, closed(4400));

    // A ticket is spent by its first use, even a refused one.
    let once = ticket(&alice);
    drop(open(&server.url, &once).unwrap());
    assert_ticket_refused(open(&server.url, &once));
    // Forged: the right shape, never issued; and a bearer token is not a ticket.
    assert_ticket_refused(open(&server.url, &format!("vse_{}", "A".repeat(43))));
    assert_ticket_refused(open(&server.url, &alice.token));
    // A ticket dies with its token.
    let orphan = ticket(&alice);
    let (status, _) = alice.api.call("DELETE", "/v1/tokens/current", None);
    assert_eq!(status, 204);
    assert_ticket_refused(open(&server.url, &orphan));
    // No ticket, or not a WebSocket: typed errors.
    let (status, answer) = server.api().call("GET", "/v1/events", None);
    assert_error(&(status, answer), 400, "INVALID_FIELD");
}

fn assert_ticket_refused(opened: Result<Socket, (u16, serde_json::Value)>) {
    match opened {
        Err(answer) => assert_error(&answer, 401, "INVALID_TICKET"),
        Ok(_) => panic!("the ticket opened a socket"),
    }
}

/// Revoking a token closes its sockets at once (on another replica too).
fn revocation_closes(servers: &[Server]) {
    let first = &servers[0];
    let last = servers.last().unwrap();
    let alice = register(&first.api(), "carol");
    let (status, other) = first.api().call(
        "POST",
        "/v1/login",
        Some(&json!({ "username": "carol", "auth_key": alice.auth_key })),
    );
    assert_eq!(status, 200, "{other}");
    let laptop = alice.via(&last.api());
    let (mut socket, _) = Socket::subscribe(&last.url, &laptop);
    let (_, tokens) = alice.api.call("GET", "/v1/tokens", None);
    let mine = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["current"] == true)
        .unwrap()["id"]
        .clone();
    let phone = first
        .api()
        .with_token(other["token"]["secret"].as_str().unwrap());
    let started = Instant::now();
    let (status, _) = phone.call("DELETE", &format!("/v1/tokens/{mine}"), None);
    assert_eq!(status, 204);
    assert_eq!(socket.end(SOON).0, closed(4401));
    println!("revoked socket closed after {:?}", started.elapsed());
}

#[test]
fn sqlite_live_hints_tickets_and_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&sqlite(&dir));
    hints_follow_commits(&server);
    refusals(&server);
    revocation_closes(std::slice::from_ref(&server));
}

#[test]
fn postgres_live_hints_tickets_and_revocation() {
    let server = Server::start(&Postgres::shared().database("live_basics"));
    hints_follow_commits(&server);
    refusals(&server);
}

#[test]
fn sqlite_an_expired_ticket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&sqlite(&dir));
    let alice = register(&server.api(), "alice");
    let old = ticket(&alice);
    // Age it in the database rather than wait 30 s.
    let db = rusqlite::Connection::open(dir.path().join("v.db")).unwrap();
    assert_eq!(
        db.execute("UPDATE live_tickets SET expires_at = 1", [])
            .unwrap(),
        1
    );
    assert_ticket_refused(open(&server.url, &old));
}

/// Long-poll: answers at the first change, or empty at the deadline.
fn long_poll(server: &Server) {
    let alice = register(&server.api(), "dave");
    alice.push(vec![item(&new_id(), 0, false, b"a")]);
    let pusher = alice.clone();
    let started = Instant::now();
    let push_later = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        pusher.push(vec![item(&new_id(), 0, false, b"b")]);
    });
    let (status, page) = alice
        .api
        .call("GET", &alice.path("changes?since=1&wait=10"), None);
    let waited = started.elapsed();
    push_later.join().unwrap();
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["changes"].as_array().unwrap().len(), 1);
    assert_eq!(page["cursor"], 2);
    assert!(
        waited < Duration::from_secs(5),
        "answered at the change: {waited:?}"
    );
    // Something already there: answered at once.
    let (_, page) = alice
        .api
        .call("GET", &alice.path("changes?since=0&wait=25"), None);
    assert_eq!(page["changes"].as_array().unwrap().len(), 2);
    // Nothing: the empty page at the deadline.
    let started = Instant::now();
    let (status, page) = alice
        .api
        .call("GET", &alice.path("changes?since=2&wait=1"), None);
    assert_eq!(
        (status, page["changes"].as_array().unwrap().len()),
        (200, 0)
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    for bad in ["26", "-1", "x"] {
        let answer = alice.api.call(
            "GET",
            &alice.path(&format!("changes?since=2&wait={bad}")),
            None,
        );
        assert_error(&answer, 400, "INVALID_FIELD");
    }
}

#[test]
fn sqlite_long_poll() {
    let dir = tempfile::tempdir().unwrap();
    long_poll(&Server::start(&sqlite(&dir)));
}

#[test]
fn postgres_two_replicas_long_poll() {
    let url = Postgres::shared().database("live_poll");
    let (a, b) = (Server::start(&url), Server::start(&url));
    let alice = register(&a.api(), "erin");
    let on_b = alice.via(&b.api());
    let pusher = alice.clone();
    let push_later = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        pusher.push(vec![item(&new_id(), 0, false, b"b")]);
    });
    let started = Instant::now();
    let (status, page) = on_b
        .api
        .call("GET", &on_b.path("changes?since=0&wait=10"), None);
    push_later.join().unwrap();
    assert_eq!((status, page["cursor"].as_u64()), (200, Some(1)), "{page}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn sqlite_limits_heartbeats_and_silence() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--live-sockets-per-token",
        "2",
        "--live-subscriptions",
        "1",
        "--live-tickets-per-minute",
        "6",
        "--live-heartbeat",
        "300ms",
        "--live-silence",
        "1500ms",
    ];
    let server = Server::start_with(&sqlite(&dir), &flags);
    let alice = register(&server.api(), "frank");
    let (mut talker, _) = Socket::subscribe(&server.url, &alice);
    let mut silent = open(&server.url, &ticket(&alice)).unwrap();
    // A third socket for the token: refused; the ticket is spent.
    let third = ticket(&alice);
    match open(&server.url, &third) {
        Err(answer) => assert_error(&answer, 429, "TOO_MANY_SOCKETS"),
        Ok(_) => panic!("a third socket opened"),
    }
    // Tickets: 6 a minute per token (another token of the account keeps its own).
    let (status, phone) = server.api().call(
        "POST",
        "/v1/login",
        Some(&json!({ "username": "frank", "auth_key": alice.auth_key })),
    );
    assert_eq!(status, 200, "{phone}");
    let phone = server
        .api()
        .with_token(phone["token"]["secret"].as_str().unwrap());
    for _ in 0..6 {
        assert_eq!(phone.call("POST", "/v1/events/ticket", None).0, 200);
    }
    let answer = phone.call("POST", "/v1/events/ticket", None);
    assert_error(&answer, 429, "RATE_LIMITED");

    // The talker sends a heartbeat every 300 ms and stays; the silent one is closed.
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        talker.send(&json!({ "t": "ping" }));
        if let Ok(Some(message)) = talker.next(Duration::from_millis(300)) {
            pings += usize::from(message["t"] == "ping");
        }
    }
    assert!(pings >= 4, "server heartbeats arrive: {pings}");
    let (end, silent_pings) = silent.end(SOON);
    assert_eq!(end, closed(4408), "a silent socket is closed");
    assert!(silent_pings >= 2, "it got heartbeats first: {silent_pings}");
    // Subscribing again to the same vault re-sends the catch-up; a second vault is one
    // subscription too many here (checked before the vault is looked up).
    talker.send(&json!({ "t": "sub", "vault": alice.vault, "cursor": 0 }));
    assert_eq!(talker.hint(SOON), Some(0));
    talker.send(&json!({ "t": "sub", "vault": new_id(), "cursor": 0 }));
    assert_eq!(talker.end(SOON).0, closed(4429));
    // The slots came back: two sockets open again.
    let _one = Socket::subscribe(&server.url, &alice);
    let _two = Socket::subscribe(&server.url, &alice);
}

/// Two replicas: a hint crosses through NOTIFY; a lost notification and a killed
/// listener are covered by the re-check; a killed replica's clients resume on the other.
#[test]
fn postgres_two_replicas_fan_out() {
    let pg = Postgres::shared();
    let url = pg.database("live_fanout");
    let flags = ["--live-recheck", "1s"];
    let a = Server::start_with(&url, &flags);
    let b = Server::start_with(&url, &flags);
    let alice = register(&a.api(), "hana");
    let (mut on_b, first) = Socket::subscribe(&b.url, &alice.via(&b.api()));
    assert_eq!(first, 0);

    let started = Instant::now();
    alice.push(vec![item(&new_id(), 0, false, b"1")]);
    assert_eq!(on_b.hint(SOON), Some(1));
    println!("hint across replicas after {:?}", started.elapsed());

    // A notification lost: the cursor moves without one (as if NOTIFY never arrived).
    pg.sql(
        "live_fanout",
        "UPDATE vaults SET next_cursor = next_cursor + 1",
    );
    let started = Instant::now();
    assert_eq!(on_b.hint(SOON), Some(2), "the re-check finds it");
    println!(
        "lost notification delivered by the re-check after {:?}",
        started.elapsed()
    );

    // The listeners' connections killed: pushes still reach B within the re-check.
    let killed = pg.sql(
        "live_fanout",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = 'vaultsync-live' AND datname = 'live_fanout'",
    );
    assert_eq!(killed.trim(), "2", "one listener per replica");
    alice.push(vec![item(&new_id(), 0, false, b"2")]);
    assert_eq!(on_b.hint(SOON), Some(3));

    // B killed: its socket drops; a ticket from A opens one on A that catches up.
    b.kill9();
    assert_eq!(on_b.end(SOON).0, End::Dropped);
    alice.push(vec![item(&new_id(), 0, false, b"3")]);
    let (_, caught_up) = Socket::subscribe(&a.url, &alice);
    assert_eq!(caught_up, 4, "nothing missed while reconnecting");

    // A ticket from A opens a socket on a third replica (tickets live in the database).
    let c = Server::start_with(&url, &flags);
    let t = ticket(&alice);
    assert!(open(&c.url, &t).is_ok());
}

#[test]
fn postgres_two_replicas_revocation_closes_sockets() {
    let url = Postgres::shared().database("live_revoke");
    revocation_closes(&[Server::start(&url), Server::start(&url)]);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// 1,000 idle sockets on one process: memory per socket, heartbeats for all, and one
/// push hinted to every one.
#[test]
fn sqlite_a_thousand_idle_sockets() {
    const SOCKETS: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--live-sockets-per-token",
        "1000",
        "--live-tickets-per-minute",
        "1000",
        "--live-heartbeat",
        "1s",
    ];
    let server = Server::start_with(&sqlite(&dir), &flags);
    let alice: Account = register(&server.api(), "ivan");
    let tickets: Vec<String> = (0..SOCKETS).map(|_| ticket(&alice)).collect();
    let before = rss_kib(server.child.id());
    let mut sockets: Vec<Socket> = tickets
        .iter()
        .map(|t| {
            let mut s = open(&server.url, t).unwrap();
            s.send(&json!({ "t": "sub", "vault": alice.vault, "cursor": 0 }));
            s
        })
        .collect();
    for s in &mut sockets {
        assert_eq!(s.hint(SOON), Some(0));
    }
    std::thread::sleep(Duration::from_millis(2500));
    let after = rss_kib(server.child.id());
    let per_socket = (after.saturating_sub(before)) * 1024 / SOCKETS as u64;
    println!("{SOCKETS} idle sockets: {before} KiB -> {after} KiB, {per_socket} B per socket");
    assert!(
        per_socket < 64 * 1024,
        "memory per idle socket: {per_socket} B"
    );
    // Heartbeats reached every socket, and one push reaches them all.
    let started = Instant::now();
    alice.push(vec![item(&new_id(), 0, false, b"all")]);
    for s in &mut sockets {
        let mut pings = 0;
        let cursor = loop {
            let message = s.next(SOON).unwrap().expect("a message");
            if message["t"] == "changed" {
                break message["cursor"].as_u64();
            }
            pings += 1;
        };
        assert_eq!(cursor, Some(1));
        assert!(pings >= 2, "heartbeats held: {pings}");
    }
    println!(
        "one push hinted to {SOCKETS} sockets in {:?}",
        started.elapsed()
    );
}

/// The native client's watch (a long-poll) through two replicas: a change pushed on one
/// is pulled, verified and reported on the other without a sync call; a revocation ends it.
#[test]
fn postgres_two_replicas_native_watch() {
    use std::ops::ControlFlow;
    use vaultsync::client::{Client, Options, Watched};
    use vaultsync::crypto::Password;
    use vaultsync::sync::Event;

    let url = Postgres::shared().database("live_watch");
    let (a, b) = (Server::start(&url), Server::start(&url));
    let options = Options {
        iterations: 100_000,
        ..Options::default()
    };
    let pw = Password::from("watch pw");
    let (mut writer, _) = Client::register(&a.url, "jo", &pw, &options).unwrap();
    let mut watcher = Client::login(&b.url, "jo", &pw, &options).unwrap();
    let (seen, arrived) = std::sync::mpsc::channel();
    let watching = std::thread::spawn(move || {
        let mut connected = false;
        let ended = watcher.watch(|_, watched| {
            match watched {
                Watched::Connected => connected = true,
                Watched::Synced(events) => {
                    for event in events {
                        if let Event::Changed { id, .. } = event {
                            let _ = seen.send((id, Instant::now()));
                        }
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        });
        (connected, ended)
    });
    std::thread::sleep(Duration::from_millis(500));
    for n in 0..3 {
        let id = writer.put(None, json!({ "n": n })).unwrap();
        let started = Instant::now();
        writer.sync().unwrap();
        let (got, at) = arrived
            .recv_timeout(Duration::from_secs(10))
            .expect("the watch reports it");
        assert_eq!(got, id);
        println!(
            "native watch across replicas: change {n} after {:?}",
            at - started
        );
    }
    // Revoked: the long-poll ends at once and the watch returns the token's error.
    let tokens = writer.tokens().unwrap();
    let other = tokens.iter().find(|t| !t.current).unwrap();
    writer.revoke_token(other.id).unwrap();
    let (connected, ended) = watching.join().unwrap();
    assert!(connected);
    let error = ended.unwrap_err();
    assert_eq!(error.code().as_str(), "INVALID_TOKEN", "{error}");
}
