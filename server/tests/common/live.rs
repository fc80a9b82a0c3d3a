//! A blocking live-socket client for the tests (tungstenite over a loopback TCP stream).

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::client::Account;

/// A ticket for `account`'s token (asserting 200).
pub fn ticket(account: &Account) -> String {
    let (status, answer) = account.api.call("POST", "/v1/events/ticket", None);
    assert_eq!(status, 200, "ticket: {answer}");
    answer["ticket"].as_str().unwrap().to_string()
}

/// How a socket ended, or what refused it.
#[derive(Debug, PartialEq)]
pub enum End {
    /// Closed by the server with this code.
    Closed(u16),
    /// The connection dropped without a close frame.
    Dropped,
}

pub struct Socket {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
}

/// Opens `GET /v1/events?ticket=…` on the server at `base` (`http://…`); an HTTP refusal
/// comes back as (status, JSON body).
pub fn open(base: &str, ticket: &str) -> Result<Socket, (u16, Value)> {
    let url = format!(
        "{}/v1/events?ticket={ticket}",
        base.replacen("http://", "ws://", 1)
    );
    match tungstenite::connect(url) {
        Ok((ws, _)) => Ok(Socket { ws }),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_ref()
                .map(|b| serde_json::from_slice(b).unwrap_or(Value::Null))
                .unwrap_or(Value::Null);
            Err((status, body))
        }
        Err(e) => panic!("connect: {e}"),
    }
}

impl Socket {
    /// Opens a socket for `account` on `base` and subscribes to its vault; returns it
    /// with the catch-up cursor.
    pub fn subscribe(base: &str, account: &Account) -> (Self, u64) {
        let mut socket = open(base, &ticket(account)).unwrap_or_else(|e| panic!("{e:?}"));
        socket.send(&json!({ "t": "sub", "vault": account.vault, "cursor": 0 }));
        let first = socket
            .hint(Duration::from_secs(5))
            .expect("the catch-up hint");
        (socket, first)
    }

    pub fn send(&mut self, message: &Value) {
        self.ws.send(Message::text(message.to_string())).unwrap();
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).unwrap();
    }

    fn set_timeout(&mut self, timeout: Option<Duration>) {
        if let MaybeTlsStream::Plain(stream) = self.ws.get_ref() {
            stream.set_read_timeout(timeout).unwrap();
        }
    }

    /// The next message within `timeout` (`Err` when the socket ended), `Ok(None)` on
    /// timeout.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Value>, End> {
        self.set_timeout(Some(timeout.max(Duration::from_millis(1))));
        match self.ws.read() {
            Ok(Message::Text(text)) => Ok(Some(serde_json::from_str(&text).unwrap())),
            Ok(Message::Close(frame)) => {
                Err(frame.map_or(End::Dropped, |f| End::Closed(u16::from(f.code))))
            }
            Ok(_) => Ok(Some(Value::Null)),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(_) => Err(End::Dropped),
        }
    }

    /// The cursor of the next `changed` within `timeout`, skipping heartbeats.
    pub fn hint(&mut self, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.next(left) {
                Ok(Some(message)) if message["t"] == "changed" => {
                    return Some(message["cursor"].as_u64().unwrap());
                }
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(end) => panic!("the socket ended: {end:?}"),
            }
        }
    }

    /// Reads until the socket ends (within `timeout`); returns how, and how many server
    /// heartbeats came first.
    pub fn end(&mut self, timeout: Duration) -> (End, usize) {
        let deadline = Instant::now() + timeout;
        let mut pings = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the socket did not end in {timeout:?}");
            match self.next(left) {
                Ok(Some(message)) if message["t"] == "ping" => pings += 1,
                Ok(_) => {}
                Err(end) => return (end, pings),
            }
        }
    }
}

/// `End::Closed` with the code's number, for asserts.
pub fn closed(code: u16) -> End {
    End::Closed(u16::from(CloseCode::from(code)))
}
