//! The native client's transport: blocking reqwest, one request per [`Send`] of an
//! operation.

use std::time::Duration;

use vaultsync_wire::BearerToken;

use super::ClientError;
use crate::sync::{Bearer, Reply, Send};

#[derive(Clone)]
pub(super) struct Http {
    agent: reqwest::blocking::Client,
    server: String,
}

impl Http {
    /// The server's URL without a trailing slash.
    #[cfg(feature = "store")]
    pub(super) fn base(&self) -> &str {
        &self.server
    }

    pub(super) fn new(server: &str, timeout: Duration) -> Result<Self, ClientError> {
        let server = server.trim_end_matches('/');
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(ClientError::BadServerUrl);
        }
        let agent = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ClientError::Network(e.to_string()))?;
        Ok(Self {
            agent,
            server: server.to_string(),
        })
    }

    /// Sends one request of an operation (with `session` for [`Bearer::Session`]) and reads
    /// the answer: a reply of the expected shape or the server's refusal.
    pub(super) fn perform(
        &self,
        send: &Send,
        session: Option<&BearerToken>,
    ) -> Result<Reply, ClientError> {
        let token = match &send.bearer {
            Bearer::None => None,
            Bearer::Session => session,
            Bearer::Issued(token) => Some(token),
        };
        let call = &send.call;
        let method = reqwest::Method::from_bytes(call.method().as_bytes())
            .map_err(|e| ClientError::Network(e.to_string()))?;
        let mut request = self
            .agent
            .request(method, format!("{}{}", self.server, call.path()));
        if let Some(token) = token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = call.body() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request
            .send()
            .map_err(|e| ClientError::Network(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .map_err(|e| ClientError::Network(e.without_url().to_string()))?;
        Ok(call.read_answer(status, &text)?)
    }
}
