//! One live socket: subscriptions, hints after commits, heartbeats both ways, and the
//! close codes of `PROTOCOL.md` ("Live updates").

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::future::select_all;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, sleep_until};
use vaultsync_wire::{LiveEvent, LiveRequest, VaultId};

use super::{Hub, Latest, SocketSlot};
use crate::clock::now_ms;
use crate::db::Db;

/// Close codes (4000–4999: the application's range).
pub mod close {
    /// A message that is not a request of the protocol.
    pub const BAD_MESSAGE: u16 = 4400;
    /// The token was revoked or expired.
    pub const REVOKED: u16 = 4401;
    /// Subscribed to a vault that is not the account's.
    pub const NO_SUCH_VAULT: u16 = 4404;
    /// Nothing heard for the silence limit.
    pub const SILENT: u16 = 4408;
    /// More subscriptions than allowed.
    pub const TOO_MANY_SUBSCRIPTIONS: u16 = 4429;
    /// The server failed (its database); reconnect later.
    pub const SERVER_ERROR: u16 = 1011;
    /// The server is shutting down; reconnect (to another replica).
    pub const GOING_AWAY: u16 = 1001;
}

/// Who the socket belongs to, and what it runs with.
pub struct Session {
    pub db: Db,
    pub hub: Hub,
    pub account_id: i64,
    pub token_id: i64,
    pub heartbeat: Duration,
    pub silence: Duration,
    /// Held for the socket's life: counted against the limits.
    #[expect(
        dead_code,
        reason = "held, never read: dropping it gives the place back"
    )]
    pub slot: SocketSlot,
}

/// One subscribed vault.
struct Sub {
    vault: VaultId,
    latest: watch::Receiver<Latest>,
    /// The cursor last sent, and the link requests already told of.
    sent: u64,
    links: u64,
}

type Close = (u16, &'static str);

/// Runs the socket until either side closes it.
pub async fn run(mut socket: WebSocket, session: Session) {
    let mut subs: Vec<Sub> = Vec::new();
    let mut revoked = session.hub.revocations();
    let mut closing = session.hub.closing();
    let mut beat = Instant::now() + session.heartbeat;
    let mut heard = Instant::now();
    let close: Option<Close> = loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    heard = Instant::now();
                    match serde_json::from_str::<LiveRequest>(&text) {
                        Ok(request) => {
                            if let Err(close) = answer(&mut socket, &session, &mut subs, request).await {
                                break close;
                            }
                        }
                        Err(_) => break Some((close::BAD_MESSAGE, "not a request of the live protocol")),
                    }
                }
                Some(Ok(Message::Binary(_))) => break Some((close::BAD_MESSAGE, "text frames only")),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                Some(Ok(_)) => heard = Instant::now(),
            },
            () = sleep_until(beat) => {
                beat = Instant::now() + session.heartbeat;
                if send(&mut socket, &LiveEvent::Ping).await.is_err() {
                    break None;
                }
            }
            () = sleep_until(heard + session.silence) => {
                break Some((close::SILENT, "nothing heard for too long; reconnect"));
            }
            () = next_change(&mut subs) => {
                if let Err(close) = send_news(&mut socket, &mut subs).await {
                    break close;
                }
            }
            token = revoked.recv() => match token {
                Ok(id) if id == session.token_id => break Some((close::REVOKED, "the token was revoked")),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Revocations were missed: ask the database about this one.
                    match session.db.live_tokens(&[session.token_id], now_ms()).await {
                        Ok(live) if live.is_empty() => break Some((close::REVOKED, "the token was revoked")),
                        Ok(_) => {}
                        Err(_) => break Some((close::SERVER_ERROR, "storage unavailable")),
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break None,
            },
            _ = closing.changed() => {
                break Some((close::GOING_AWAY, "the server is shutting down; reconnect"));
            }
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
    }
}

/// Answers one request. `Err` closes the socket (with a frame, or `None` when the
/// socket is gone).
async fn answer(
    socket: &mut WebSocket,
    session: &Session,
    subs: &mut Vec<Sub>,
    request: LiveRequest,
) -> Result<(), Option<Close>> {
    match request {
        LiveRequest::Ping => Ok(()),
        LiveRequest::Unsub { vault } => {
            subs.retain(|sub| sub.vault != vault);
            Ok(())
        }
        LiveRequest::Sub { vault, cursor: _ } => {
            let again = subs.iter().any(|sub| sub.vault == vault);
            if !again && subs.len() >= session.hub.limits().subscriptions_per_socket {
                return Err(Some((
                    close::TOO_MANY_SUBSCRIPTIONS,
                    "too many subscriptions on one socket",
                )));
            }
            let storage = Some((close::SERVER_ERROR, "storage unavailable; reconnect later"));
            let vault_pk = session
                .db
                .vault_pk(session.account_id, &vault)
                .await
                .map_err(|_| storage)?
                .ok_or(Some((close::NO_SUCH_VAULT, "no such vault")))?;
            subs.retain(|sub| sub.vault != vault);
            // Watch first, then read: a push committed in between is not missed.
            let mut latest = session.hub.watch(vault_pk);
            let stored = session
                .db
                .vault_cursors(&[vault_pk])
                .await
                .map_err(|_| storage)?
                .first()
                .map_or(0, |&(_, cursor)| cursor);
            session.hub.publish(vault_pk, stored);
            // The catch-up: the current cursor, at once, even if it is 0.
            let now = *latest.borrow_and_update();
            let cursor = now.cursor.max(stored);
            send(socket, &LiveEvent::Changed { vault, cursor })
                .await
                .map_err(|()| None)?;
            subs.push(Sub {
                vault,
                latest,
                sent: cursor,
                links: now.links,
            });
            Ok(())
        }
    }
}

/// Resolves when one subscription's cursor changed (never without subscriptions).
async fn next_change(subs: &mut [Sub]) {
    if subs.is_empty() {
        return std::future::pending().await;
    }
    let changes = subs.iter_mut().map(|sub| {
        Box::pin(async move {
            if sub.latest.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    });
    select_all(changes).await;
}

/// Sends a `changed` for every subscription whose cursor is past what it was last sent,
/// and a `link` for every one whose account had a new link request.
async fn send_news(socket: &mut WebSocket, subs: &mut [Sub]) -> Result<(), Option<Close>> {
    for sub in subs {
        let Latest { cursor, links } = *sub.latest.borrow_and_update();
        if links > sub.links {
            sub.links = links;
            let event = LiveEvent::Link { vault: sub.vault };
            send(socket, &event).await.map_err(|()| None)?;
        }
        if cursor > sub.sent {
            sub.sent = cursor;
            let event = LiveEvent::Changed {
                vault: sub.vault,
                cursor,
            };
            send(socket, &event).await.map_err(|()| None)?;
        }
    }
    Ok(())
}

async fn send(socket: &mut WebSocket, event: &LiveEvent) -> Result<(), ()> {
    let text = serde_json::to_string(event).map_err(drop)?;
    socket.send(Message::Text(text.into())).await.map_err(drop)
}
