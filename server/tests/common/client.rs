//! Accounts and vault calls on top of [`Api`]: what each scenario repeats.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vaultsync_wire::Blob;

use super::Api;

/// Random bytes.
pub fn random(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

/// Unpadded base64url.
pub fn b64(bytes: &[u8]) -> String {
    Blob(bytes.to_vec()).to_base64url()
}

/// A random 16-byte id as text.
pub fn new_id() -> String {
    b64(&random(16))
}

/// A record id whose bytes start with `prefix` (the rest random).
pub fn id_with_prefix(prefix: &[u8]) -> String {
    let mut bytes = random(16);
    bytes[..prefix.len()].copy_from_slice(prefix);
    b64(&bytes)
}

/// A registered account with its token.
#[derive(Clone)]
pub struct Account {
    pub api: Api,
    pub username: String,
    pub vault: String,
    pub auth_key: String,
    pub kdf: Value,
    pub envelope: String,
    pub token: String,
}

/// KDF parameters as the wire wants them.
pub fn kdf(iterations: u32, salt: &[u8]) -> Value {
    json!({ "algorithm": "pbkdf2-sha256", "iterations": iterations, "salt": b64(salt) })
}

/// Registers `username` with a random auth key, vault id and (opaque) envelope.
pub fn register(api: &Api, username: &str) -> Account {
    let body = json!({
        "username": username,
        "auth_key": b64(&random(32)),
        "kdf": kdf(600_000, &random(16)),
        "vault_id": new_id(),
        "envelope": b64(&random(120)),
        "recovery_key": b64(&random(32)),
    });
    register_with(api, username, body)
}

/// Registers with an explicit body.
pub fn register_with(api: &Api, username: &str, body: Value) -> Account {
    let (status, answer) = api.call("POST", "/v1/accounts", Some(&body));
    assert_eq!(status, 201, "register {username}: {answer}");
    let token = answer["token"]["secret"].as_str().unwrap().to_string();
    assert_eq!(answer["vault_id"], body["vault_id"]);
    Account {
        api: api.with_token(&token),
        username: username.to_string(),
        vault: body["vault_id"].as_str().unwrap().to_string(),
        auth_key: body["auth_key"].as_str().unwrap().to_string(),
        kdf: body["kdf"].clone(),
        envelope: body["envelope"].as_str().unwrap().to_string(),
        token,
    }
}

/// A write.
pub fn item(record_id: &str, base_version: u64, deleted: bool, ciphertext: &[u8]) -> Value {
    json!({
        "record_id": record_id,
        "base_version": base_version,
        "deleted": deleted,
        "ciphertext": b64(ciphertext),
    })
}

impl Account {
    /// `/v1/vaults/{vault}/{tail}`.
    pub fn path(&self, tail: &str) -> String {
        format!("/v1/vaults/{}/{tail}", self.vault)
    }

    /// The same account through another server (a replica).
    pub fn via(&self, api: &Api) -> Self {
        Self {
            api: api.with_token(&self.token),
            ..self.clone()
        }
    }

    /// This account's vault paths with `other`'s token (authorization tests).
    pub fn seen_by(&self, other: &Account) -> Self {
        Self {
            api: other.api.clone(),
            ..self.clone()
        }
    }

    /// Pushes against the current envelope version and head seq (learnt from a
    /// `HEAD_STALE` answer: the server keeps heads opaque, so these tests send random
    /// ones) and returns the results (asserting 200).
    pub fn push(&self, items: Vec<Value>) -> Vec<Value> {
        let (status, answer) = self.try_push(items).expect("the server answers");
        assert_eq!(status, 200, "push: {answer}");
        answer["results"].as_array().unwrap().clone()
    }

    /// [`Account::push`] that returns any answer, or `Err` when the server did not
    /// answer. A push that another one beat (`HEAD_STALE`) is made again on the new seq.
    pub fn try_push(&self, items: Vec<Value>) -> Result<(u16, Value), reqwest::Error> {
        let (status, doc) = self.api.try_call("GET", &self.path("envelope"), None)?;
        assert_eq!(status, 200, "envelope: {doc}");
        let mut base_seq = 0;
        loop {
            let body = self.push_body(doc["version"].as_u64().unwrap(), base_seq, items.clone());
            let (status, answer) = self.api.try_call("POST", &self.path("push"), Some(&body))?;
            if status == 409 && answer["error"]["code"] == "HEAD_STALE" {
                base_seq = answer["head"]["seq"].as_u64().unwrap_or(0);
                continue;
            }
            return Ok((status, answer));
        }
    }

    /// The body of a push made on head seq `base_seq` (with a random head).
    pub fn push_body(&self, envelope_version: u64, base_seq: u64, items: Vec<Value>) -> Value {
        json!({
            "envelope_version": envelope_version,
            "base_seq": base_seq,
            "head": b64(&random(90)),
            "items": items,
        })
    }

    /// One page of changes.
    pub fn changes(&self, since: u64, limit: Option<u32>) -> (u16, Value) {
        let query = match limit {
            Some(limit) => format!("changes?since={since}&limit={limit}"),
            None => format!("changes?since={since}"),
        };
        self.api.call("GET", &self.path(&query), None)
    }

    /// Every change from `since`, following `more`; checks cursors strictly increase.
    /// Returns the changes and the final cursor.
    pub fn pull_all(&self, since: u64) -> (Vec<Value>, u64) {
        let mut cursor = since;
        let mut all = Vec::new();
        loop {
            let (status, page) = self.changes(cursor, None);
            assert_eq!(status, 200, "changes: {page}");
            for change in page["changes"].as_array().unwrap() {
                let c = change["cursor"].as_u64().unwrap();
                assert!(c > cursor, "cursors strictly increase: {c} after {cursor}");
                cursor = c;
                all.push(change.clone());
            }
            let next = page["cursor"].as_u64().unwrap();
            if !page["more"].as_bool().unwrap() {
                // The last page answers the latest cursor, at or above the last change's.
                assert!(
                    next >= cursor,
                    "the last page's cursor {next} is below {cursor}"
                );
                return (all, next);
            }
            assert_eq!(next, cursor);
        }
    }
}

/// Asserts an error answer: status and code, and a message for people.
#[track_caller]
pub fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "expected {status} {code}, got {answer:?}");
    assert_eq!(answer.1["error"]["code"], code, "{answer:?}");
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{answer:?}"
    );
}
