//! The live channel: hints that a vault changed, to every subscribed socket and long-poll
//! of this process (`PROTOCOL.md`, "Live updates").
//!
//! - this module: the [`Hub`]: the latest cursor per watched vault (a `watch` channel each,
//!   so a burst of pushes costs a subscriber one wake-up), revocations, socket counts;
//! - [`socket`]: one WebSocket session;
//! - [`fanout`]: hints from other replicas (PostgreSQL `LISTEN`) and the periodic
//!   re-check that bounds the delay of a lost notification.
//!
//! A hint is published only after the push committed, and publishing never blocks: a
//! write never waits on delivery.

pub mod fanout;
pub mod socket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{broadcast, watch};
use vaultsync_wire::ErrorCode;

use crate::config::LiveLimits;
use crate::error::ApiError;

/// What a watched vault's watchers learn: its latest committed cursor, and how many link
/// requests for its account this process heard of (a count: only its changes matter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latest {
    /// The latest cursor known.
    pub cursor: u64,
    /// Link requests heard of.
    pub links: u64,
}

/// Fan-out state of one server process. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    limits: LiveLimits,
    /// The latest cursor known per watched vault (by storage key).
    vaults: Mutex<HashMap<i64, watch::Sender<Latest>>>,
    /// Open sockets per token.
    sockets: Mutex<HashMap<i64, usize>>,
    /// Revoked token ids, to every socket.
    revoked: broadcast::Sender<i64>,
    /// True once the server shuts down.
    closing: watch::Sender<bool>,
    /// Tickets per token.
    tickets: DefaultKeyedRateLimiter<i64>,
}

/// A place among the open sockets, given back on drop.
pub struct SocketSlot {
    hub: Hub,
    token_id: i64,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut sockets = self.hub.inner.sockets();
        if let Some(n) = sockets.get_mut(&self.token_id) {
            *n -= 1;
            if *n == 0 {
                sockets.remove(&self.token_id);
            }
        }
    }
}

impl Inner {
    fn vaults(&self) -> MutexGuard<'_, HashMap<i64, watch::Sender<Latest>>> {
        self.vaults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sockets(&self) -> MutexGuard<'_, HashMap<i64, usize>> {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Hub {
    /// An empty hub with these limits.
    pub fn new(limits: LiveLimits) -> Self {
        let per_minute = std::num::NonZeroU32::new(limits.tickets_per_minute.max(1))
            .unwrap_or(std::num::NonZeroU32::MIN);
        Self {
            inner: Arc::new(Inner {
                limits,
                vaults: Mutex::default(),
                sockets: Mutex::default(),
                revoked: broadcast::channel(64).0,
                closing: watch::channel(false).0,
                tickets: RateLimiter::keyed(Quota::per_minute(per_minute)),
            }),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &LiveLimits {
        &self.inner.limits
    }

    /// Watches a vault's latest cursor (0 until a hint or a re-check says more) and its
    /// account's link requests.
    pub fn watch(&self, vault_pk: i64) -> watch::Receiver<Latest> {
        self.inner
            .vaults()
            .entry(vault_pk)
            .or_insert_with(|| watch::channel(Latest::default()).0)
            .subscribe()
    }

    /// A device asked to join the account of this vault: wakes its watchers (sockets send
    /// `{"t":"link"}`, so unlocked devices list the request at once).
    pub fn publish_link(&self, vault_pk: i64) {
        if let Some(sender) = self.inner.vaults().get(&vault_pk) {
            sender.send_modify(|latest| latest.links += 1);
        }
    }

    /// A vault reached `cursor` (committed): wakes its watchers if that is news.
    pub fn publish(&self, vault_pk: i64, cursor: u64) {
        if let Some(sender) = self.inner.vaults().get(&vault_pk) {
            sender.send_if_modified(|latest| {
                let news = cursor > latest.cursor;
                if news {
                    latest.cursor = cursor;
                }
                news
            });
        }
    }

    /// The vaults someone watches; forgets those nobody does any more.
    pub fn watched(&self) -> Vec<i64> {
        let mut vaults = self.inner.vaults();
        vaults.retain(|_, sender| sender.receiver_count() > 0);
        vaults.keys().copied().collect()
    }

    /// Takes a place for a socket of `token_id`, within the per-token and per-process
    /// limits.
    pub fn open_socket(&self, token_id: i64) -> Result<SocketSlot, ApiError> {
        let limits = &self.inner.limits;
        let mut sockets = self.inner.sockets();
        let total: usize = sockets.values().sum();
        if total >= limits.max_sockets {
            return Err(ApiError::new(
                ErrorCode::TooManySockets,
                "this server has as many live sockets as it accepts; poll, and retry later",
            ));
        }
        let mine = sockets.entry(token_id).or_insert(0);
        if *mine >= limits.sockets_per_token {
            if *mine == 0 {
                sockets.remove(&token_id);
            }
            return Err(ApiError::new(
                ErrorCode::TooManySockets,
                format!(
                    "this token has {} live sockets open, the most allowed; close one",
                    limits.sockets_per_token
                ),
            ));
        }
        *mine += 1;
        Ok(SocketSlot {
            hub: self.clone(),
            token_id,
        })
    }

    /// Spends one of the token's tickets for this minute (429 `RATE_LIMITED` when none is
    /// left); also forgets tokens whose budget is full again.
    pub fn spend_ticket(&self, token_id: i64) -> Result<(), ApiError> {
        let tickets = &self.inner.tickets;
        if tickets.len() > 10_000 {
            tickets.retain_recent();
        }
        tickets
            .check_key(&token_id)
            .map_err(|wait| crate::auth::retry_after(&wait))
    }

    /// The tokens with open sockets, and how many sockets are open.
    pub fn tokens(&self) -> (Vec<i64>, usize) {
        let sockets = self.inner.sockets();
        (sockets.keys().copied().collect(), sockets.values().sum())
    }

    /// A token was revoked (here or, through the fan-out, on another replica): its
    /// sockets close.
    pub fn revoke(&self, token_id: i64) {
        let _ = self.inner.revoked.send(token_id);
    }

    /// Revocations, for one socket.
    pub fn revocations(&self) -> broadcast::Receiver<i64> {
        self.inner.revoked.subscribe()
    }

    /// Resolves when `token_id` is revoked (for a long-poll: it ends at once).
    pub async fn revoked(&self, token_id: i64) {
        let mut revocations = self.revocations();
        loop {
            match revocations.recv().await {
                Ok(id) if id == token_id => return,
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                _ => {}
            }
        }
    }

    /// The server is shutting down: every socket closes (1001).
    pub fn close_all(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Resolves once [`Hub::close_all`] was called.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limits() -> LiveLimits {
        LiveLimits {
            sockets_per_token: 2,
            max_sockets: 3,
            subscriptions_per_socket: 4,
            tickets_per_minute: 10,
            recheck: std::time::Duration::from_secs(1),
            heartbeat: std::time::Duration::from_secs(1),
            silence: std::time::Duration::from_secs(3),
        }
    }

    #[test]
    fn a_watcher_sees_only_newer_cursors_and_the_latest_of_a_burst() {
        let hub = Hub::new(limits());
        let mut rx = hub.watch(7);
        hub.publish(7, 5);
        hub.publish(7, 9);
        hub.publish(7, 3);
        hub.publish(8, 100);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().cursor, 9);
        hub.publish(7, 9);
        assert!(!rx.has_changed().unwrap());
        hub.publish_link(7);
        hub.publish_link(8);
        assert_eq!(
            *rx.borrow_and_update(),
            Latest {
                cursor: 9,
                links: 1
            }
        );
        assert_eq!(hub.watched(), vec![7]);
        drop(rx);
        assert!(hub.watched().is_empty());
    }

    #[test]
    fn sockets_are_counted_per_token_and_per_process_and_given_back() {
        let hub = Hub::new(limits());
        let a1 = hub.open_socket(1).unwrap();
        let _a2 = hub.open_socket(1).unwrap();
        let refused = hub.open_socket(1).err().unwrap();
        assert_eq!(refused.code(), ErrorCode::TooManySockets);
        let _b = hub.open_socket(2).unwrap();
        assert_eq!(
            hub.open_socket(3).err().unwrap().code(),
            ErrorCode::TooManySockets
        );
        drop(a1);
        let _c = hub.open_socket(3).unwrap();
        assert_eq!(hub.tokens().1, 3);
    }
}
