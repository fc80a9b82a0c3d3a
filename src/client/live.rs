//! Live updates in the native client: a long-poll on the changes route
//! (`Call::Wait`) as the hint channel, hints coalesced by [`Hints`], pulls by
//! [`Client::sync`]. The blocking client needs no second connection type: the long-poll
//! goes through the same HTTP stack (TLS, proxies, timeouts) as every other request, and
//! its answer is treated exactly like a socket's hint (PROTOCOL.md, "Live updates").

use std::ops::ControlFlow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vaultsync_wire::{ErrorCode, MAX_WAIT_SECONDS};

use super::{Client, ClientError, now_ms};
use crate::sync::live::{Due, Hints, reconnect_delay};
use crate::sync::{Call, Event, OpError, Reply};

/// What [`Client::watch`] reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum Watched {
    /// The server answers: hints flow (after a start or a reconnection).
    Connected,
    /// The server did not answer; the next attempt is in `retry_in`.
    Disconnected {
        /// Why.
        error: ClientError,
        /// When the next attempt is made (full jitter, 1 s to 60 s).
        retry_in: Duration,
    },
    /// A hinted pull brought these changes (never empty).
    Synced(Vec<Event>),
    /// A hinted pull got no answer (nothing local changed); the next hint tries again.
    Failed(ClientError),
}

impl Client {
    /// Follows the vault live until `on` breaks: each change another device pushes is
    /// pulled (verified as by [`Client::sync`]) and reported as it arrives. A server that
    /// does not answer is retried with backoff; any other failure ends the watch with its
    /// error, as `sync` would return it (`INVALID_TOKEN`, `SERVER_BEHIND`, `TAMPERED`…).
    pub fn watch(
        &mut self,
        mut on: impl FnMut(&Self, Watched) -> ControlFlow<()>,
    ) -> Result<(), ClientError> {
        let mut hints = Hints::default();
        let mut attempt = 0u32;
        let mut connected = false;
        // A first pull: anything that changed while this device was away.
        hints.hint(u64::MAX);
        loop {
            loop {
                match hints.due(self.engine().cursor(), now_ms()) {
                    Due::Idle => break,
                    Due::In(ms) => std::thread::sleep(Duration::from_millis(ms)),
                    Due::Now => {
                        hints.started(now_ms());
                        let pulled = self.sync();
                        // Failed or not, the hints are spent: a failure is not retried
                        // in a loop, the next hint (or the long-poll, which answers at
                        // once while this device is behind) brings the next pull.
                        hints.finished(true);
                        let report = match pulled {
                            Ok(events) if events.is_empty() => continue,
                            Ok(events) => Watched::Synced(events),
                            Err(e @ ClientError::Network(_)) => Watched::Failed(e),
                            Err(e) => return Err(e),
                        };
                        if on(self, report).is_break() {
                            return Ok(());
                        }
                    }
                }
            }
            let since = self.engine().cursor();
            let wait = Call::Wait {
                vault: self.vault_id(),
                since,
                wait: MAX_WAIT_SECONDS,
            };
            match self.request(wait) {
                Ok(reply) => {
                    attempt = 0;
                    if !connected {
                        connected = true;
                        if on(self, Watched::Connected).is_break() {
                            return Ok(());
                        }
                    }
                    if let Reply::Page(page) = reply {
                        if !page.changes.is_empty() {
                            hints.hint(page.cursor.max(since + 1));
                        }
                    }
                }
                Err(e) if fatal(&e) => return Err(e),
                Err(ClientError::Network(reason)) => {
                    connected = false;
                    let retry_in = Duration::from_millis(reconnect_delay(attempt, jitter()));
                    attempt = attempt.saturating_add(1);
                    let error = ClientError::Network(reason);
                    if on(self, Watched::Disconnected { error, retry_in }).is_break() {
                        return Ok(());
                    }
                    std::thread::sleep(retry_in);
                    // Whatever happened meanwhile comes with the next answer.
                }
                // Any other refusal (a cursor the server cannot answer, a server behind):
                // the pull says what it is and deals with it.
                Err(_) => hints.hint(u64::MAX),
            }
        }
    }
}

/// Errors a watch cannot outlive: the token no longer works.
fn fatal(error: &ClientError) -> bool {
    matches!(error, ClientError::Op(OpError::Refused(r))
        if matches!(r.code, ErrorCode::InvalidToken | ErrorCode::Unauthenticated))
}

/// Randomness for the backoff's jitter (not a secret).
fn jitter() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}
