//! The simulation's model of the server (the rules of PROTOCOL.md, spoken in its JSON)
//! and its devices, which run the clients' operations against it with cut-off requests.

use std::collections::BTreeMap;

use serde::Serialize;
use vaultsync::crypto::kdf::derive_master;
use vaultsync::crypto::kdf::derive_master as pbkdf2;
use vaultsync::crypto::{Envelope, MasterKey, OsEntropy, Password, RecordId, UnlockedVault};
use vaultsync::sync::ops::account::kdf_wire;
use vaultsync::sync::{Call, ConflictPolicy, Ctx, Engine, Input, Operation, Step, SyncRun};
use vaultsync_wire::{
    ChangesResponse, EnvelopeConflict, EnvelopeDoc, ErrorCode, ErrorDetail, PushRequest,
    PushResponse, PushResult, PutEnvelopeRequest, PutEnvelopeResponse, Record,
};

/// The server's rules, in memory: optimistic concurrency, retry recognition, cursors, the
/// envelope with its version, and pushes refused when sealed against an older envelope.
pub struct ModelServer {
    pub records: BTreeMap<RecordId, Record>,
    next_cursor: u64,
    pub envelope: EnvelopeDoc,
}

pub fn json_of(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap()
}

impl ModelServer {
    pub fn new(envelope: &Envelope) -> Self {
        Self {
            records: BTreeMap::new(),
            next_cursor: 0,
            envelope: EnvelopeDoc {
                version: 1,
                envelope: vaultsync_wire::Blob(envelope.to_bytes()),
                kdf: kdf_wire(envelope.kdf_params()),
            },
        }
    }

    pub fn refuse(&self, code: ErrorCode) -> (u16, String) {
        let body = EnvelopeConflict {
            error: ErrorDetail {
                code,
                message: "the envelope changed".into(),
            },
            current: self.envelope.clone(),
        };
        (409, json_of(&body))
    }

    /// One request as the transport sends it (method, path, JSON body).
    pub fn handle(&mut self, call: &Call, page_limit: usize) -> (u16, String) {
        let body = call.body();
        match (call.method(), call) {
            ("POST", Call::Push(..)) => {
                let request: PushRequest = serde_json::from_str(&body.unwrap()).unwrap();
                if request.envelope_version != self.envelope.version {
                    return self.refuse(ErrorCode::EnvelopeChanged);
                }
                (200, json_of(&self.push(&request)))
            }
            ("GET", Call::Changes { since, .. }) => {
                (200, json_of(&self.changes(*since, page_limit)))
            }
            ("GET", Call::GetEnvelope(_)) => (200, json_of(&self.envelope)),
            ("PUT", Call::PutEnvelope(..)) => {
                let request: PutEnvelopeRequest = serde_json::from_str(&body.unwrap()).unwrap();
                if request.base_version != self.envelope.version {
                    return self.refuse(ErrorCode::Conflict);
                }
                self.envelope = EnvelopeDoc {
                    version: request.base_version + 1,
                    envelope: request.envelope,
                    kdf: request.kdf,
                };
                let answer = PutEnvelopeResponse {
                    version: self.envelope.version,
                };
                (200, json_of(&answer))
            }
            other => panic!("unexpected request {other:?}"),
        }
    }

    pub fn push(&mut self, request: &PushRequest) -> PushResponse {
        let mut results = Vec::new();
        for item in &request.items {
            let current = self.records.get(&item.record_id);
            let version = current.map_or(0, |r| r.version);
            let result = if version == item.base_version {
                self.next_cursor += 1;
                let record = Record {
                    record_id: item.record_id,
                    version: version + 1,
                    deleted: item.deleted,
                    ciphertext: item.ciphertext.clone(),
                    cursor: self.next_cursor,
                };
                self.records.insert(item.record_id, record);
                PushResult::Applied {
                    record_id: item.record_id,
                    version: version + 1,
                    cursor: self.next_cursor,
                }
            } else if let Some(r) = current.filter(|r| {
                r.version == item.base_version + 1
                    && r.deleted == item.deleted
                    && r.ciphertext == item.ciphertext
            }) {
                PushResult::Applied {
                    record_id: item.record_id,
                    version: r.version,
                    cursor: r.cursor,
                }
            } else {
                PushResult::Conflict {
                    record_id: item.record_id,
                    current: current.cloned(),
                }
            };
            results.push(result);
        }
        PushResponse { results }
    }

    pub fn changes(&self, since: u64, limit: usize) -> ChangesResponse {
        let mut changes: Vec<Record> = self
            .records
            .values()
            .filter(|r| r.cursor > since)
            .cloned()
            .collect();
        changes.sort_by_key(|r| r.cursor);
        let more = changes.len() > limit;
        changes.truncate(limit);
        ChangesResponse {
            cursor: changes.last().map_or(since, |c| c.cursor),
            changes,
            more,
            envelope_version: self.envelope.version,
        }
    }

    pub fn current_envelope(&self) -> Envelope {
        Envelope::parse(self.envelope.envelope.as_bytes()).unwrap()
    }
}

/// Where a network failure cuts an operation: after `after` answered requests, the next
/// one is delivered with its answer lost (`delivered`) or never reaches the server.
#[derive(Clone, Copy, Debug)]
pub struct Cut {
    pub after: usize,
    pub delivered: bool,
}

/// The vault's first envelope and the password's master key (one PBKDF2 per test binary).
pub fn created() -> &'static (Envelope, MasterKey) {
    static CREATED: std::sync::OnceLock<(Envelope, MasterKey)> = std::sync::OnceLock::new();
    CREATED.get_or_init(|| {
        let password = Password::from("sim");
        let new = UnlockedVault::create(&password, 100_000, &mut OsEntropy).unwrap();
        let master = derive_master(&password, new.envelope.kdf_params());
        (new.envelope, master)
    })
}

pub struct Device {
    pub engine: Engine,
    pub vault: UnlockedVault,
}

impl Device {
    pub fn new(envelope: &Envelope, version: u64) -> Self {
        let vault = envelope.unlock_with_master(&created().1).unwrap();
        let mut engine = Engine::new(vault.vault_id(), ConflictPolicy::KeepLocal);
        engine.pin_envelope(version, envelope.kdf_params().iterations());
        Self { engine, vault }
    }

    /// Runs an operation against the server until it completes or the cut ends it.
    /// Returns whether it completed.
    pub fn run(
        &mut self,
        op: &mut impl Operation,
        server: &mut ModelServer,
        limit: usize,
        cut: Option<Cut>,
    ) -> bool {
        let mut policy = self.engine.policy();
        let mut answered = 0;
        loop {
            let mut ctx = Ctx {
                engine: &mut self.engine,
                vault: &mut self.vault,
                resolver: &mut policy,
                entropy: &mut OsEntropy,
            };
            let call = match op.next(&mut ctx).unwrap() {
                None => return true,
                Some(Step::Send(send)) => send.call,
                Some(Step::Derive { password, kdf }) => {
                    op.answer(&mut ctx, Input::Master(pbkdf2(&password, &kdf)))
                        .unwrap();
                    continue;
                }
                Some(other) => panic!("a step the simulation cannot take: {other:?}"),
            };
            if let Some(cut) = cut.filter(|c| c.after == answered) {
                if cut.delivered {
                    server.handle(&call, limit);
                }
                return false;
            }
            let (status, body) = server.handle(&call, limit);
            let reply = call.read_answer(status, &body).unwrap();
            op.answer(&mut ctx, Input::Reply(reply)).unwrap();
            answered += 1;
        }
    }

    pub fn sync(&mut self, server: &mut ModelServer, limit: usize, cut: Option<Cut>) -> bool {
        let mut run = SyncRun::new();
        self.run(&mut run, server, limit, cut)
    }
}

/// A device that has never synced, unlocked from the server's envelope, pulls and opens
/// every record: nothing on the server is unreadable.
pub fn assert_readable(server: &mut ModelServer) {
    let mut fresh = Device::new(&server.current_envelope(), server.envelope.version);
    assert!(fresh.sync(server, 1000, None));
    let live = server.records.values().filter(|r| !r.deleted).count();
    assert_eq!(fresh.engine.records().count(), live);
}
