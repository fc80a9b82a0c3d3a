//! The native client's HTTP: blocking reqwest, JSON bodies, the server's refusals as
//! [`ClientError`]s.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use vaultsync_wire as wire;

use super::ClientError;

pub(super) struct Http {
    agent: reqwest::blocking::Client,
    server: String,
}

impl Http {
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

    /// One request; any answer (success or error) as status and body.
    pub(super) fn exchange(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Result<(u16, String), ClientError> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| ClientError::Network(e.to_string()))?;
        let mut request = self.agent.request(method, format!("{}{path}", self.server));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
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
        Ok((status, text))
    }

    /// A request outside the operations (accounts, tokens): a success body parsed as `T`,
    /// or the server's refusal.
    pub(super) fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = body
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        let (status, text) = self.exchange(method, path, token, body)?;
        if !(200..300).contains(&status) {
            return Err(refusal(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// A request answered with no content (204).
    pub(super) fn no_content(
        &self,
        method: &str,
        path: &str,
        token: &str,
    ) -> Result<(), ClientError> {
        let (status, text) = self.exchange(method, path, Some(token), None)?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(refusal(status, &text))
        }
    }
}

/// The server's error answer as a [`ClientError`].
fn refusal(status: u16, text: &str) -> ClientError {
    match serde_json::from_str::<wire::ErrorBody>(text) {
        Ok(body) => ClientError::Server {
            status,
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => ClientError::BadAnswer(format!("status {status}")),
    }
}

impl Http {
    /// The envelope of the vault a login answered, with its new token.
    pub(super) fn envelope(
        &self,
        answer: &wire::Session,
    ) -> Result<wire::EnvelopeDoc, ClientError> {
        self.call(
            "GET",
            &format!("/v1/vaults/{}/envelope", answer.vault_id),
            Some(&answer.token.secret),
            None::<&()>,
        )
    }
}
