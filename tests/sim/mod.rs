//! The simulation's model of the server (the rules of PROTOCOL.md, spoken in its JSON)
//! and its devices, which run the clients' operations against it with cut-off requests.

// Shared by two test binaries (the simulation and the vault head suite); each uses part.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Serialize;
use vaultsync::crypto::kdf::derive_master;
use vaultsync::crypto::kdf::derive_master as pbkdf2;
use vaultsync::crypto::{Envelope, MasterKey, OsEntropy, Password, RecordId, UnlockedVault};
use vaultsync::sync::ops::account::kdf_wire;
use vaultsync::sync::store::{self, StoreWriter};
use vaultsync::sync::{
    Call, ConflictPolicy, Ctx, Engine, Input, OpError, Operation, Step, SyncRun,
};
use vaultsync_wire::{
    ChangesResponse, EnvelopeConflict, EnvelopeDoc, ErrorCode, ErrorDetail, HeadDoc, HeadRefusal,
    PushRequest, PushResponse, PushResult, PutEnvelopeRequest, PutEnvelopeResponse, Record,
};

/// The server's rules, in memory: optimistic concurrency, retry recognition, cursors, the
/// envelope with its version, pushes refused when sealed against an older envelope or made
/// on another head, pushes applied whole or not at all.
#[derive(Clone)]
pub struct ModelServer {
    pub records: BTreeMap<RecordId, Record>,
    pub next_cursor: u64,
    pub envelope: EnvelopeDoc,
    pub head: Option<HeadDoc>,
    /// Every head stored, in order (the chain, for the simulation's checks).
    pub heads: Vec<Vec<u8>>,
    /// The purge horizon: changes asked from below it get `RESYNC_REQUIRED`.
    pub purged_cursor: u64,
}

pub fn json_of(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap()
}

impl ModelServer {
    pub fn new(envelope: &Envelope) -> Self {
        Self {
            records: BTreeMap::new(),
            next_cursor: 0,
            head: None,
            heads: Vec::new(),
            purged_cursor: 0,
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
                match self.push(&request) {
                    Some(answer) => (200, json_of(&answer)),
                    None => {
                        let body = HeadRefusal {
                            error: ErrorDetail {
                                code: ErrorCode::HeadStale,
                                message: "the head moved".into(),
                            },
                            head: self.head.clone(),
                        };
                        (409, json_of(&body))
                    }
                }
            }
            ("GET", Call::Changes { since, full, .. }) => {
                if *since > 0 && *since < self.purged_cursor && !*full {
                    let body = vaultsync_wire::ErrorBody {
                        error: ErrorDetail {
                            code: ErrorCode::ResyncRequired,
                            message: "purged".into(),
                        },
                    };
                    return (410, json_of(&body));
                }
                if *since > self.next_cursor {
                    let body = HeadRefusal {
                        error: ErrorDetail {
                            code: ErrorCode::ServerBehind,
                            message: "ahead".into(),
                        },
                        head: self.head.clone(),
                    };
                    return (410, json_of(&body));
                }
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

    /// A push (`None`: refused as `HEAD_STALE`).
    pub fn push(&mut self, request: &PushRequest) -> Option<PushResponse> {
        let head_seq = self.head.as_ref().map_or(0, |h| h.seq);
        let mut results = Vec::new();
        let mut writes = Vec::new();
        for item in &request.items {
            let current = self.records.get(&item.record_id);
            let version = current.map_or(0, |r| r.version);
            let new_version = item.new_version();
            let result = if version == item.base_version {
                writes.push(item);
                PushResult::Applied {
                    record_id: item.record_id,
                    version: new_version,
                    cursor: self.next_cursor + writes.len() as u64,
                }
            } else if let Some(r) = current.filter(|r| {
                r.version == new_version
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
        if request.base_seq != head_seq {
            let retry = self.head.as_ref().is_some_and(|h| h.head == request.head)
                && writes.is_empty()
                && results
                    .iter()
                    .all(|r| matches!(r, PushResult::Applied { .. }));
            return retry.then_some(PushResponse { results });
        }
        if results
            .iter()
            .any(|r| matches!(r, PushResult::Conflict { .. }))
        {
            let results = results
                .into_iter()
                .map(|r| match r {
                    PushResult::Applied { record_id, .. } => PushResult::Skipped { record_id },
                    other => other,
                })
                .collect();
            return Some(PushResponse { results });
        }
        for item in writes {
            self.next_cursor += 1;
            let record = Record {
                record_id: item.record_id,
                version: item.new_version(),
                deleted: item.deleted,
                ciphertext: item.ciphertext.clone(),
                cursor: self.next_cursor,
            };
            self.records.insert(item.record_id, record);
        }
        self.head = Some(HeadDoc {
            seq: head_seq + 1,
            head: request.head.clone(),
        });
        self.heads.push(request.head.as_bytes().to_vec());
        Some(PushResponse { results })
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
            cursor: if more {
                changes.last().map_or(since, |c| c.cursor)
            } else {
                self.next_cursor.max(since)
            },
            changes,
            more,
            envelope_version: self.envelope.version,
            head: if more { None } else { self.head.clone() },
        }
    }

    /// Purges every tombstone (the housekeeping task after its retention period): the rows
    /// go, the horizon moves past them.
    pub fn purge(&mut self) {
        let tombstones: Vec<RecordId> = self
            .records
            .values()
            .filter(|r| r.deleted)
            .map(|r| r.record_id)
            .collect();
        for id in tombstones {
            let record = self.records.remove(&id).unwrap();
            self.purged_cursor = self.purged_cursor.max(record.cursor);
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

/// Carries one request to the server: its status and body, or `None` for no answer.
pub type Transport<'a> = dyn FnMut(&Call, &mut ModelServer) -> Option<(u16, String)> + 'a;

pub struct Device {
    pub engine: Engine,
    pub vault: UnlockedVault,
    /// The device store as a driver would hold it: entries by name.
    pub store: BTreeMap<String, Vec<u8>>,
    pub writer: StoreWriter,
}

/// The token the simulated devices store.
pub fn sim_token() -> vaultsync_wire::BearerToken {
    vaultsync_wire::BearerToken::new("sim-token".into())
}

impl Device {
    pub fn new(envelope: &Envelope, version: u64) -> Self {
        let vault = envelope.unlock_with_master(&created().1).unwrap();
        let mut engine = Engine::new(vault.vault_id(), ConflictPolicy::KeepLocal);
        engine.pin_envelope(version, envelope.kdf_params().iterations());
        Self::with(engine, vault)
    }

    /// A device with this engine and an empty store.
    pub fn with(mut engine: Engine, vault: UnlockedVault) -> Self {
        // As in the npm package: values go to the events, the store keeps the server's bytes.
        engine.lend_values();
        Self {
            engine,
            vault,
            store: BTreeMap::new(),
            writer: StoreWriter::new_store(),
        }
    }

    /// Writes what changed into the store, as a driver does after each step; returns the
    /// number of entries written.
    pub fn flush(&mut self) -> usize {
        let store = &self.store;
        let writes = store::write_now(
            &mut self.writer,
            "sim",
            &sim_token(),
            &mut self.engine,
            &self.vault,
            &mut OsEntropy,
            |name| Ok::<_, vaultsync::sync::SyncError>(store.get(name).cloned()),
        )
        .unwrap();
        let n = writes.puts.len() + writes.deletes.len();
        for name in &writes.deletes {
            self.store.remove(name);
        }
        self.store.extend(writes.puts);
        // Written: the values leave memory, as in the npm package, and come back from the
        // store when a step needs them.
        self.engine.evict();
        n
    }

    /// Loads these records' values from the store (a driver does it before a step that
    /// needs them).
    pub fn load(&mut self, ids: &[RecordId]) {
        let refused = store::load_values(&mut self.engine, &self.vault, ids, |name| {
            Ok::<_, ()>(self.store.get(name).cloned())
        })
        .unwrap();
        assert!(refused.is_empty(), "values refused: {refused:?}");
    }

    /// The engine with every value loaded (what a comparison or an export needs).
    pub fn whole(&mut self) -> &Engine {
        let away = self.engine.away_ids();
        self.load(&away);
        &self.engine
    }

    /// Opens the store again (a restarted device): the engine it holds, values away.
    pub fn reopen(&self) -> Engine {
        let entries = |prefix: &'static str| {
            self.store
                .iter()
                .filter(move |(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let opened = store::open(
            &self.vault,
            &self.store[store::META],
            entries(store::INDEX_PREFIX),
        )
        .unwrap();
        assert!(opened.refused.is_empty());
        assert_eq!(opened.session.username, "sim");
        let mut engine = opened.session.engine;
        engine.lend_values();
        engine
    }

    /// [`Device::reopen`] with every value loaded from the store.
    pub fn reopen_whole(&self) -> Engine {
        let mut engine = self.reopen();
        let away = engine.away_ids();
        let refused = store::load_values(&mut engine, &self.vault, &away, |name| {
            Ok::<_, ()>(self.store.get(name).cloned())
        })
        .unwrap();
        assert!(refused.is_empty(), "values refused: {refused:?}");
        engine
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
        let mut answered = 0;
        let mut transport = |call: &Call, server: &mut ModelServer| {
            if let Some(cut) = cut.filter(|c| c.after == answered) {
                if cut.delivered {
                    server.handle(call, limit);
                }
                return None;
            }
            answered += 1;
            Some(server.handle(call, limit))
        };
        match self.drive(op, server, &mut transport) {
            Ok(done) => done,
            Err(e) => panic!("the operation failed: {e} (engine {:?})", self.engine),
        }
    }

    /// Runs an operation with `transport` carrying each request (`None`: no answer, the
    /// operation stops there). Returns whether it completed, or its error.
    pub fn drive(
        &mut self,
        op: &mut dyn Operation,
        server: &mut ModelServer,
        transport: &mut Transport<'_>,
    ) -> Result<bool, OpError> {
        let mut policy = self.engine.policy();
        for _ in 0..100_000 {
            let needed = match op.needs_every_value() {
                true => self.engine.away_ids(),
                false => self.engine.needs_loading(),
            };
            self.load(&needed);
            let mut ctx = Ctx {
                engine: &mut self.engine,
                vault: &mut self.vault,
                resolver: &mut policy,
                entropy: &mut OsEntropy,
            };
            let call = match op.next(&mut ctx)? {
                None => return Ok(true),
                Some(Step::Send(send)) => send.call,
                Some(Step::Derive { password, kdf }) => {
                    op.answer(&mut ctx, Input::Master(pbkdf2(&password, &kdf)))?;
                    continue;
                }
                Some(other) => panic!("a step the simulation cannot take: {other:?}"),
            };
            let Some((status, body)) = transport(&call, server) else {
                return Ok(false);
            };
            // `SIM_TRACE=1 cargo test --test …` prints every exchange (to debug a case).
            if std::env::var("SIM_TRACE").is_ok() {
                eprintln!(
                    "  {} {} -> {status} {}",
                    call.method(),
                    call.path(),
                    &body[..body.len().min(400)]
                );
            }
            let reply = call.read_answer(status, &body)?;
            op.answer(&mut ctx, Input::Reply(reply))?;
        }
        panic!("the operation never ends");
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
    assert_eq!(fresh.whole().records().count(), live);
}
