//! Concurrency and crash safety against the real server binary: on a SQLite file (one
//! server process) and on PostgreSQL with two server replicas sharing the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::client::{b64, id_with_prefix, item, new_id, random, register};
use common::{Postgres, Server};
use serde_json::Value;

/// Runs `scenario` with the servers of one backend: one for SQLite, two replicas on one
/// PostgreSQL database.
fn sqlite(scenario: fn(&[Server], &str)) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/vaultsync.db", dir.path().display());
    scenario(&[Server::start(&url)], &url);
}

fn postgres(scenario: fn(&[Server], &str)) {
    let pg = Postgres::start();
    let url = pg.database("concurrency");
    let replicas = [Server::start(&url), Server::start(&url)];
    scenario(&replicas, &url);
}

#[test]
fn sqlite_64_writers_one_wins() {
    sqlite(writers_one_wins);
}

#[test]
fn postgres_two_replicas_64_writers_one_wins() {
    postgres(writers_one_wins);
}

#[test]
fn sqlite_reader_ends_with_final_state() {
    sqlite(reader_ends_with_final_state);
}

#[test]
fn postgres_two_replicas_reader_ends_with_final_state() {
    postgres(reader_ends_with_final_state);
}

#[test]
fn sqlite_kill_9_keeps_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    kill_9_keeps_whole_batches(&format!("sqlite://{}/vaultsync.db", dir.path().display()));
}

#[test]
fn postgres_kill_9_keeps_whole_batches() {
    let pg = Postgres::start();
    kill_9_keeps_whole_batches(&pg.database("crash"));
}

const WRITERS: usize = 64;

/// 64 writers race from one base version (a create, then an update): exactly one wins,
/// 63 get a conflict carrying the winner's copy, and the winner's bytes are stored.
fn writers_one_wins(servers: &[Server], _: &str) {
    let alice = register(&servers[0].api(), "alice");
    let record = new_id();
    for base in [0u64, 1] {
        let barrier = Arc::new(Barrier::new(WRITERS));
        let threads: Vec<_> = (0..WRITERS)
            .map(|i| {
                let me = alice.via(&servers[i % servers.len()].api());
                let barrier = barrier.clone();
                let record = record.clone();
                std::thread::spawn(move || {
                    let bytes = format!("writer {i} from {base}").into_bytes();
                    barrier.wait();
                    let result = me.push(vec![item(&record, base, false, &bytes)]);
                    (bytes, result[0].clone())
                })
            })
            .collect();
        let outcomes: Vec<(Vec<u8>, Value)> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<_> = outcomes
            .iter()
            .filter(|(_, r)| r["status"] == "applied")
            .collect();
        assert_eq!(winners.len(), 1, "exactly one writer wins from base {base}");
        let (winner_bytes, winner) = winners[0];
        assert_eq!(winner["version"], base + 1);
        for (_, result) in outcomes.iter().filter(|(_, r)| r["status"] != "applied") {
            assert_eq!(result["status"], "conflict");
            assert_eq!(result["current"]["version"], base + 1);
            assert_eq!(result["current"]["ciphertext"], b64(winner_bytes));
        }
        // Every replica serves the same final state.
        for server in servers {
            let (changes, _) = alice.via(&server.api()).pull_all(0);
            assert_eq!(changes.len(), 1);
            assert_eq!(changes[0]["version"], base + 1);
            assert_eq!(changes[0]["ciphertext"], b64(winner_bytes));
        }
    }
}

/// Writers update random records through every replica, retrying conflicts from the
/// server's copy, while a reader pulls continuously. The reader must end with exactly the
/// final state, and every record's version must equal its number of accepted writes.
fn reader_ends_with_final_state(servers: &[Server], _: &str) {
    const RECORDS: usize = 40;
    const WRITER_THREADS: usize = 6;
    const OPS: usize = 120;
    let alice = register(&servers[0].api(), "alice");
    let ids: Arc<Vec<String>> = Arc::new((0..RECORDS).map(|_| new_id()).collect());
    let accepted: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let me = alice.via(&servers[servers.len() - 1].api());
        let done = done.clone();
        std::thread::spawn(move || {
            let mut state: BTreeMap<String, Value> = BTreeMap::new();
            let mut cursor = 0u64;
            let mut pulls = 0u32;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let (status, page) = me.changes(cursor, Some(16));
                assert_eq!(status, 200, "{page}");
                pulls += 1;
                for change in page["changes"].as_array().unwrap() {
                    let c = change["cursor"].as_u64().unwrap();
                    assert!(c > cursor, "cursor {c} after {cursor}");
                    cursor = c;
                    let id = change["record_id"].as_str().unwrap().to_string();
                    if let Some(old) = state.get(&id) {
                        assert!(
                            change["version"].as_u64() > old["version"].as_u64(),
                            "versions only grow"
                        );
                    }
                    state.insert(id, change.clone());
                }
                if finished && page["more"] == false {
                    return (state, pulls);
                }
            }
        })
    };

    let writers: Vec<_> = (0..WRITER_THREADS)
        .map(|w| {
            let me = alice.via(&servers[w % servers.len()].api());
            let ids = ids.clone();
            let accepted = accepted.clone();
            std::thread::spawn(move || {
                let mut known: HashMap<String, u64> = HashMap::new();
                let mut seed = w as u64 * 7919 + 1;
                let mut next = move || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed
                };
                for op in 0..OPS {
                    let n = 1 + (next() % 4) as usize;
                    let mut batch = Vec::new();
                    let mut chosen = std::collections::HashSet::new();
                    for _ in 0..n {
                        let id = &ids[(next() % RECORDS as u64) as usize];
                        if chosen.insert(id.clone()) {
                            let base = known.get(id).copied().unwrap_or(0);
                            let deleted = next() % 5 == 0;
                            let bytes = format!("w{w} op{op} {id}").into_bytes();
                            batch.push(item(id, base, deleted, &bytes));
                        }
                    }
                    for result in me.push(batch) {
                        let id = result["record_id"].as_str().unwrap().to_string();
                        match result["status"].as_str().unwrap() {
                            "applied" => {
                                known.insert(id.clone(), result["version"].as_u64().unwrap());
                                *accepted.lock().unwrap().entry(id).or_default() += 1;
                            }
                            // Not written: another write of the batch conflicted.
                            "skipped" => {}
                            _ => {
                                let version = result["current"]["version"].as_u64().unwrap_or(0);
                                known.insert(id, version);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let (reader_state, pulls) = reader.join().unwrap();

    let (all, _) = alice.pull_all(0);
    let final_state: BTreeMap<String, Value> = all
        .into_iter()
        .map(|c| (c["record_id"].as_str().unwrap().to_string(), c))
        .collect();
    assert_eq!(
        reader_state, final_state,
        "the reader ends with the final state"
    );
    let accepted = accepted.lock().unwrap();
    assert_eq!(final_state.len(), accepted.len());
    for (id, change) in &final_state {
        assert_eq!(
            change["version"].as_u64(),
            accepted.get(id).copied(),
            "no lost update on {id}"
        );
    }
    let total: u64 = accepted.values().sum();
    eprintln!(
        "{} accepted writes on {} records, reader pulled {pulls} times",
        total,
        final_state.len()
    );
    // Batches land whole or not at all (one stale write voids its batch), so fewer writes
    // land than there were operations; most batches still do.
    assert!(total > (WRITER_THREADS * OPS / 4) as u64);
}

/// Clients push batches of 200 new 1 KiB records; the server is killed with SIGKILL in the
/// middle. After a restart each batch is stored whole or not at all, and every batch whose
/// answer reached its client is there.
fn kill_9_keeps_whole_batches(url: &str) {
    const CLIENTS: u8 = 4;
    const BATCH: u16 = 200;
    let server = Server::start(url);
    let alice = register(&server.api(), "alice");
    let acknowledged: Arc<Mutex<Vec<(u8, u16)>>> = Arc::default();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let me = alice.clone();
            let acknowledged = acknowledged.clone();
            std::thread::spawn(move || {
                let payload = random(1024);
                for batch in 0u16.. {
                    let items: Vec<Value> = (0..BATCH)
                        .map(|i| {
                            let prefix =
                                [&[c][..], &batch.to_be_bytes(), &i.to_be_bytes()].concat();
                            item(&id_with_prefix(&prefix), 0, false, &payload)
                        })
                        .collect();
                    match me.try_push(items) {
                        Ok((200, answer)) => {
                            assert!(
                                answer["results"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .all(|r| r["status"] == "applied")
                            );
                            acknowledged.lock().unwrap().push((c, batch));
                        }
                        Ok((status, answer)) => panic!("push answered {status}: {answer}"),
                        Err(_) => return batch,
                    }
                }
                unreachable!()
            })
        })
        .collect();
    let start = Instant::now();
    while acknowledged.lock().unwrap().len() < 8 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(137));
    server.kill9();
    let attempted: u32 = clients
        .into_iter()
        .map(|c| u32::from(c.join().unwrap()) + 1)
        .sum();

    let restarted = Server::start(url);
    let me = alice.via(&restarted.api());
    let (all, _) = me.pull_all(0);
    let mut per_batch: BTreeMap<(u8, u16), u16> = BTreeMap::new();
    for change in &all {
        let id = vaultsync_wire::RecordId::parse(change["record_id"].as_str().unwrap()).unwrap();
        let b = id.as_bytes();
        *per_batch
            .entry((b[0], u16::from_be_bytes([b[1], b[2]])))
            .or_default() += 1;
        assert_eq!(change["version"], 1);
    }
    for (batch, count) in &per_batch {
        assert_eq!(*count, BATCH, "batch {batch:?} is whole");
    }
    let acknowledged = acknowledged.lock().unwrap();
    for batch in acknowledged.iter() {
        assert!(
            per_batch.contains_key(batch),
            "acknowledged batch {batch:?} survived"
        );
    }
    eprintln!(
        "{attempted} batches attempted, {} acknowledged, {} stored whole after kill -9",
        acknowledged.len(),
        per_batch.len()
    );
    assert!(acknowledged.len() >= 8);
    // The store still takes writes after the crash.
    let results = me.push(vec![item(&new_id(), 0, false, b"after")]);
    assert_eq!(results[0]["status"], "applied");
}
