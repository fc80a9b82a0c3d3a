//! Load benchmark of the sync server (figures, not a pass/fail test). Starts the release
//! server binary on a fresh SQLite file and prints, with references measured in the same
//! run:
//! - push of 10,000 x 1 KiB records in batches vs a raw SQLite bulk insert of the same rows;
//! - pull of 100,000 changes vs a raw SELECT of the same rows;
//! - p50/p99 latency of push and pull at 50 concurrent clients;
//! - a pull with one change in a 100,000-record vault vs an empty pull;
//! - prelogin for a known vs an unknown username.
//!
//! Run with `./scripts/bench-server.sh` (builds in release first).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{b64, median, ms, new_item, percentile, push_body, random};
use serde_json::{Value, json};

const RECORD: usize = 1024;

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
    vault: String,
    /// The vault's head seq as this client last pushed it (one writer per vault here).
    seq: Arc<AtomicU64>,
}

impl Client {
    async fn register(http: &reqwest::Client, url: &str, username: &str) -> Self {
        let (token, vault) = common::register(http, url, username).await;
        Self {
            http: http.clone(),
            url: url.to_string(),
            token,
            vault,
            seq: Arc::default(),
        }
    }

    async fn push(&self, items: &[Value]) -> Value {
        let response = self
            .http
            .post(format!("{}/v1/vaults/{}/push", self.url, self.vault))
            .bearer_auth(&self.token)
            .json(&push_body(
                Some(self.seq.fetch_add(1, Ordering::SeqCst)),
                items.to_vec(),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn changes(&self, since: u64) -> Value {
        let response = self
            .http
            .get(format!(
                "{}/v1/vaults/{}/changes?since={since}",
                self.url, self.vault
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Pulls everything after `since`; returns (changes, last cursor).
    async fn pull_all(&self, mut since: u64) -> (usize, u64) {
        let mut n = 0;
        loop {
            let page = self.changes(since).await;
            n += page["changes"].as_array().unwrap().len();
            since = page["cursor"].as_u64().unwrap();
            if page["more"] == false {
                return (n, since);
            }
        }
    }
}

struct Row {
    record_id: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|_| Row {
            record_id: random(16),
            ciphertext: random(RECORD),
        })
        .collect()
}

fn items(rows: &[Row]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            json!({ "record_id": b64(&r.record_id), "base_version": 0, "deleted": false,
                    "ciphertext": b64(&r.ciphertext) })
        })
        .collect()
}

/// Request bodies of `rows` in batches for a new vault (head seqs 0, 1, …), serialised
/// ahead so that timing measures the server.
fn bodies(rows: &[Row], batch: usize) -> Vec<Vec<u8>> {
    rows.chunks(batch)
        .enumerate()
        .map(|(seq, chunk)| serde_json::to_vec(&push_body(Some(seq as u64), items(chunk))).unwrap())
        .collect()
}

async fn push_all(client: &Client, bodies: &[Vec<u8>]) {
    for body in bodies {
        let response = client
            .http
            .post(format!("{}/v1/vaults/{}/push", client.url, client.vault))
            .bearer_auth(&client.token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        let results = answer["results"].as_array().unwrap();
        assert!(results.iter().all(|r| r["status"] == "applied"));
    }
    client.seq.store(bodies.len() as u64, Ordering::SeqCst);
}

/// The raw reference: the same rows inserted into the same schema with the same pragmas
/// through rusqlite (the C library with a thin wrapper): one transaction, one prepared
/// INSERT per row, no HTTP, JSON, base64 or async driver.
fn raw_insert(path: &Path, rows: &[Row]) -> (Duration, rusqlite::Connection) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )
    .unwrap();
    conn.execute_batch(include_str!(
        "../../migrations/sqlite/20261123000001_initial.up.sql"
    ))
    .unwrap();
    conn.execute_batch(
        "INSERT INTO accounts (id, username, auth_verifier_hash, created_at) VALUES (1, 'raw', x'00', 0);
         INSERT INTO vaults (id, account_id, vault_id, envelope, envelope_version, salt, kdf_params, enabled_at, created_at, updated_at) VALUES (1, 1, x'00', x'00', 1, x'00', '{}', 0, 0, 0);",
    )
    .unwrap();
    let start = Instant::now();
    conn.execute_batch("BEGIN").unwrap();
    {
        let mut insert = conn
            .prepare(
                "INSERT INTO records (vault_pk, record_id, ciphertext, version, deleted, \
                 change_cursor, created_at, updated_at) VALUES (1, ?1, ?2, 1, 0, ?3, 0, 0)",
            )
            .unwrap();
        for (i, row) in rows.iter().enumerate() {
            insert
                .execute(rusqlite::params![
                    row.record_id,
                    row.ciphertext,
                    i as i64 + 1
                ])
                .unwrap();
        }
    }
    conn.execute_batch("COMMIT").unwrap();
    (start.elapsed(), conn)
}

/// A record row as selected.
type RawRow = (Vec<u8>, i64, bool, Vec<u8>, i64);

/// The raw reference of a pull: every row of the vault in cursor order, into memory.
fn raw_select(conn: &rusqlite::Connection) -> (Duration, usize) {
    let start = Instant::now();
    let mut select = conn
        .prepare(
            "SELECT record_id, version, deleted, ciphertext, change_cursor FROM records \
             WHERE vault_pk = 1 AND change_cursor > 0 ORDER BY change_cursor",
        )
        .unwrap();
    let rows: Vec<RawRow> = select
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (start.elapsed(), rows.len())
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("bench.db");
    let server = common::start_server(
        &common::sibling_server(),
        &format!("sqlite://{}", db.display()),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let mut report = serde_json::Map::new();
    println!("vaultsync-server load benchmark (SQLite, release build, 1 KiB records)");

    // 1. Push 10,000 x 1 KiB in batches of 1000 vs a raw bulk insert of the same rows.
    let rows10k = rows(10_000);
    let bodies10k = bodies(&rows10k, 1000);
    let mut push_times = Vec::new();
    let mut raw_times = Vec::new();
    for rep in 0..3 {
        let client = Client::register(&http, &server.url, &format!("push{rep}")).await;
        let start = Instant::now();
        push_all(&client, &bodies10k).await;
        push_times.push(start.elapsed());
        let (raw, _) = raw_insert(&dir.path().join(format!("raw{rep}.db")), &rows10k);
        raw_times.push(raw);
    }
    let (push, raw) = (median(push_times), median(raw_times));
    println!(
        "push 10,000 x 1 KiB (batches of 1000): {:.0} ms = {:.0} records/s; raw SQLite bulk insert {:.0} ms; throughput {:.0}% of raw (target >= 50%)",
        ms(push),
        10_000.0 / push.as_secs_f64(),
        ms(raw),
        100.0 * raw.as_secs_f64() / push.as_secs_f64()
    );
    report.insert("push_10k_ms".into(), json!(ms(push)));
    report.insert("raw_insert_10k_ms".into(), json!(ms(raw)));

    // 2. A 100,000-record vault: pull everything vs a raw SELECT.
    let big = Client::register(&http, &server.url, "big").await;
    let rows100k = rows(100_000);
    let start = Instant::now();
    push_all(&big, &bodies(&rows100k, 1000)).await;
    println!(
        "(built a 100,000-record vault in {:.1} s)",
        start.elapsed().as_secs_f64()
    );
    let (_, raw_conn) = raw_insert(&dir.path().join("raw100k.db"), &rows100k);
    let mut pulls = Vec::new();
    let mut selects = Vec::new();
    let mut last = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let (n, cursor) = big.pull_all(0).await;
        pulls.push(start.elapsed());
        assert_eq!(n, 100_000);
        last = cursor;
        let (t, n) = raw_select(&raw_conn);
        assert_eq!(n, 100_000);
        selects.push(t);
    }
    let (pull, select) = (median(pulls), median(selects));
    println!(
        "pull 100,000 changes (pages of 1000): {:.0} ms = {:.0} changes/s; raw SELECT {:.0} ms; {:.1}x the raw SELECT",
        ms(pull),
        100_000.0 / pull.as_secs_f64(),
        ms(select),
        pull.as_secs_f64() / select.as_secs_f64()
    );
    report.insert("pull_100k_ms".into(), json!(ms(pull)));
    report.insert("raw_select_100k_ms".into(), json!(ms(select)));

    // 3. One change in the 100,000-record vault vs an empty pull.
    let mut empty = Vec::new();
    let mut one = Vec::new();
    let mut cursor = last;
    for _ in 0..200 {
        let start = Instant::now();
        let page = big.changes(cursor).await;
        empty.push(start.elapsed());
        assert!(page["changes"].as_array().unwrap().is_empty());
        let record = json!([new_item(RECORD)]);
        big.push(record.as_array().unwrap()).await;
        let start = Instant::now();
        let page = big.changes(cursor).await;
        one.push(start.elapsed());
        assert_eq!(page["changes"].as_array().unwrap().len(), 1);
        cursor = page["cursor"].as_u64().unwrap();
    }
    let (empty, one) = (median(empty), median(one));
    println!(
        "pull with 1 change in a 100,000-record vault: {:.3} ms vs empty pull {:.3} ms = {:.2}x (target < 2x)",
        ms(one),
        ms(empty),
        one.as_secs_f64() / empty.as_secs_f64()
    );
    report.insert("pull_one_change_ms".into(), json!(ms(one)));
    report.insert("pull_empty_ms".into(), json!(ms(empty)));

    // 4. 50 concurrent clients, each on its own vault: push one record, pull since its
    //    cursor, repeat; latency of every request.
    let clients: Vec<Client> = {
        let mut v = Vec::new();
        for i in 0..50 {
            v.push(Client::register(&http, &server.url, &format!("c{i}")).await);
        }
        v
    };
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut cursor = 0;
                for _ in 0..40 {
                    let item = json!([new_item(RECORD)]);
                    let t = Instant::now();
                    client.push(item.as_array().unwrap()).await;
                    latencies.push(t.elapsed());
                    let t = Instant::now();
                    let page = client.changes(cursor).await;
                    latencies.push(t.elapsed());
                    cursor = page["cursor"].as_u64().unwrap();
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let wall = start.elapsed();
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    println!(
        "50 concurrent clients, {} requests (push 1 KiB + pull) in {:.1} s = {:.0} req/s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 50 ms)",
        latencies.len(),
        wall.as_secs_f64(),
        latencies.len() as f64 / wall.as_secs_f64(),
        ms(p50),
        ms(p99),
        ms(*latencies.last().unwrap())
    );
    report.insert("concurrent50_p50_ms".into(), json!(ms(p50)));
    report.insert("concurrent50_p99_ms".into(), json!(ms(p99)));

    // 5. Prelogin: a known username vs unknown ones (must not tell them apart).
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..300 {
        for (name, samples) in [
            ("big".to_string(), &mut known),
            (format!("nobody{i}"), &mut unknown),
        ] {
            let t = Instant::now();
            let response = http
                .post(format!("{}/v1/prelogin", server.url))
                .json(&json!({ "username": name }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let _: Value = response.json().await.unwrap();
            samples.push(t.elapsed());
        }
    }
    let (known, unknown) = (median(known), median(unknown));
    println!(
        "prelogin median: known username {:.3} ms, unknown {:.3} ms ({:.2}x)",
        ms(known),
        ms(unknown),
        unknown.as_secs_f64() / known.as_secs_f64()
    );
    report.insert("prelogin_known_ms".into(), json!(ms(known)));
    report.insert("prelogin_unknown_ms".into(), json!(ms(unknown)));
    println!("{}", Value::Object(report));
}
