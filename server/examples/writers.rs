//! Benchmark of the vault head's cost under contention (figures, not a pass/fail test):
//! 50 concurrent writers, each making 40 writes of one 1 KiB record, either on 50 vaults
//! (one writer each) or all on one vault (and 5 writers on one vault, a household's
//! devices), against this build's release server and, when
//! given, another server binary speaking the protocol before vault heads (the reference, in
//! the same run). With heads, a writer whose push is refused `HEAD_STALE` does what the
//! engine does: pulls the changes since its cursor (learning the new head) and pushes again.
//!
//! `./scripts/bench-server.sh writers [--reference BIN]`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ms, new_item, percentile, push_body};
use serde_json::Value;

const WRITES: usize = 40;

struct Writer {
    http: reqwest::Client,
    url: String,
    token: String,
    vault: String,
    /// Vault heads (`false`: the protocol before them).
    heads: bool,
    seq: u64,
    cursor: u64,
}

impl Writer {
    /// One write: pushes until it lands; returns the retries it took.
    async fn write(&mut self) -> usize {
        let item = new_item(1024);
        let mut retries = 0;
        loop {
            let body = push_body(self.heads.then_some(self.seq), vec![item.clone()]);
            let (status, answer) =
                common::send_push(&self.http, &self.url, &self.token, &self.vault, &body).await;
            match status {
                200 => {
                    assert_eq!(answer["results"][0]["status"], "applied", "{answer}");
                    self.seq += 1;
                    return retries;
                }
                409 if answer["error"]["code"] == "HEAD_STALE" => {
                    retries += 1;
                    self.pull().await;
                }
                _ => panic!("push answered {status}: {answer}"),
            }
        }
    }

    /// Pulls everything since the cursor, learning the head from the last page.
    async fn pull(&mut self) {
        loop {
            let page: Value = self
                .http
                .get(format!(
                    "{}/v1/vaults/{}/changes?since={}",
                    self.url, self.vault, self.cursor
                ))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            self.cursor = page["cursor"].as_u64().unwrap();
            if page["more"] == false {
                self.seq = page["head"]["seq"].as_u64().unwrap_or(0);
                return;
            }
        }
    }
}

struct Figures {
    writes_per_s: f64,
    retries_per_write: f64,
    p50: Duration,
    p99: Duration,
}

async fn run(bin: &Path, heads: bool, writers_n: usize, one_vault: bool) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_server(
        bin,
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let shared = common::register(&http, &server.url, "shared").await;
    let mut writers = Vec::new();
    for i in 0..writers_n {
        let (token, vault) = if one_vault {
            shared.clone()
        } else {
            common::register(&http, &server.url, &format!("w{i}")).await
        };
        let url = server.url.clone();
        writers.push(Writer {
            http: http.clone(),
            url,
            token,
            vault,
            heads,
            seq: 0,
            cursor: 0,
        });
    }
    let start = Instant::now();
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|mut writer| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut retries = 0;
                for _ in 0..WRITES {
                    let t = Instant::now();
                    retries += writer.write().await;
                    latencies.push(t.elapsed());
                }
                (latencies, retries)
            })
        })
        .collect();
    let (mut latencies, mut retries) = (Vec::new(), 0);
    for task in tasks {
        let (l, r) = task.await.unwrap();
        latencies.extend(l);
        retries += r;
    }
    let wall = start.elapsed();
    latencies.sort();
    let writes = (writers_n * WRITES) as f64;
    Figures {
        writes_per_s: writes / wall.as_secs_f64(),
        retries_per_write: retries as f64 / writes,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reference = args
        .iter()
        .position(|a| a == "--reference")
        .map(|i| PathBuf::from(&args[i + 1]));
    let current = common::sibling_server();
    println!("concurrent writers x {WRITES} writes of one 1 KiB record (SQLite, release)");
    println!("| server | writers | vaults | writes/s | retries per write | p50 ms | p99 ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (writers_n, one_vault) in [(50, false), (50, true), (5, true)] {
        let mut runs = vec![("with vault heads", current.as_path(), true)];
        if let Some(bin) = &reference {
            runs.push(("reference (no heads)", bin.as_path(), false));
        }
        for (name, bin, heads) in runs {
            let f = run(bin, heads, writers_n, one_vault).await;
            println!(
                "| {name} | {writers_n} | {} | {:.0} | {:.2} | {:.2} | {:.2} |",
                if one_vault { 1 } else { writers_n },
                f.writes_per_s,
                f.retries_per_write,
                ms(f.p50),
                ms(f.p99)
            );
        }
    }
}
