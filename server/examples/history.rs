//! Benchmark of record history's cost (figures, not a pass/fail test): one vault of 1,000
//! records of 1 KiB, edited whole in rounds (pushes of 500 writes, as the clients send
//! them), on a server keeping 10 past versions per record and on one keeping none, each
//! on its own SQLite file, rounds alternated between them in one run. With `--reference
//! BIN`, also another server binary keeping none (the layout before `record_versions`,
//! where a push copied what it replaced). Prints the push time per round (median, and its
//! ratio to history off) and the database size.
//!
//! `./scripts/bench-server.sh history [--reference BIN]`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{b64, median, ms, random, register, sibling_server, start_server_with};
use serde_json::{Value, json};

const RECORDS: usize = 1000;
const ROUNDS: u64 = 25;
const BATCH: usize = 500;

struct Side {
    name: &'static str,
    _server: common::Server,
    url: String,
    token: String,
    vault: String,
    seq: u64,
    ids: Vec<String>,
    file: std::path::PathBuf,
    rounds: Vec<Duration>,
}

impl Side {
    /// Pushes every record at `base` (0: creates them); returns the time taken.
    async fn round(&mut self, http: &reqwest::Client, base: u64) -> Duration {
        let started = Instant::now();
        for chunk in self.ids.chunks(BATCH) {
            let items: Vec<Value> = chunk
                .iter()
                .map(|id| {
                    json!({ "record_id": id, "base_version": base, "deleted": false,
                            "ciphertext": b64(&random(1024)) })
                })
                .collect();
            let body = common::push_body(Some(self.seq), items);
            let (_, answer) =
                common::send_push(http, &self.url, &self.token, &self.vault, &body).await;
            assert!(
                answer["results"]
                    .as_array()
                    .is_some_and(|r| r.iter().all(|r| r["status"] == "applied")),
                "{answer}"
            );
            self.seq += 1;
        }
        started.elapsed()
    }

    /// Pulls the whole vault (every page from cursor 0); returns the time taken.
    async fn pull(&self, http: &reqwest::Client) -> Duration {
        let started = Instant::now();
        let mut since = 0;
        loop {
            let url = format!(
                "{}/v1/vaults/{}/changes?since={since}",
                self.url, self.vault
            );
            let page: Value = http
                .get(url)
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            since = page["cursor"].as_u64().unwrap();
            if page["more"] != true {
                return started.elapsed();
            }
        }
    }

    fn bytes(&self) -> u64 {
        let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let wal = std::path::PathBuf::from(format!("{}-wal", self.file.display()));
        size(&self.file) + size(&wal)
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reference = args
        .iter()
        .position(|a| a == "--reference")
        .map(|i| std::path::PathBuf::from(&args[i + 1]));
    let bin = sibling_server();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut sides = Vec::new();
    let mut runs = vec![("history 10", "10", &bin), ("history off", "0", &bin)];
    if let Some(reference) = &reference {
        runs.push(("reference binary, history off", "0", reference));
    }
    for (n, (name, versions, bin)) in runs.into_iter().enumerate() {
        let file = dir.path().join(format!("{n}.db"));
        let server = start_server_with(
            bin,
            &format!("sqlite://{}", file.display()),
            &["--history-versions", versions],
        );
        let (token, vault) = register(&http, &server.url, "bench").await;
        sides.push(Side {
            name,
            url: server.url.clone(),
            _server: server,
            token,
            vault,
            seq: 0,
            ids: (0..RECORDS).map(|_| b64(&random(16))).collect(),
            file,
            rounds: Vec::new(),
        });
    }
    for side in &mut sides {
        side.round(&http, 0).await;
    }
    for base in 1..=ROUNDS {
        for side in &mut sides {
            let took = side.round(&http, base).await;
            side.rounds.push(took);
        }
    }
    let mut pulls = vec![Vec::new(); sides.len()];
    for _ in 0..7 {
        for (side, times) in sides.iter().zip(&mut pulls) {
            times.push(side.pull(&http).await);
        }
    }
    println!(
        "| {RECORDS} x 1 KiB, {ROUNDS} rounds of edits, pushes of {BATCH} | push round (median) | vs history off | vs the reference | full pull (median) | database |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let off = median(sides[1].rounds.clone());
    let reference = sides.get(2).map(|side| median(side.rounds.clone()));
    for (side, pulled) in sides.iter().zip(pulls) {
        let m = median(side.rounds.clone());
        let against = reference.map_or("-".to_string(), |r| format!("{:.2}x", ms(m) / ms(r)));
        println!(
            "| {} | {:.0} ms | {:.2}x | {against} | {:.1} ms | {:.1} MB |",
            side.name,
            ms(m),
            ms(m) / ms(off),
            ms(median(pulled)),
            side.bytes() as f64 / 1e6
        );
    }
}
