//! The simulator's error type: what the Rust API and the `/_sim` routes
//! report when an operation cannot be done.

use std::net::SocketAddr;

/// Why a simulator operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The object does not exist (or is deleted where that matters).
    /// The message is Stripe's wording so HTTP answers can reuse it.
    #[error("No such {kind}: '{id}'")]
    NotFound { kind: &'static str, id: String },
    /// The request is malformed or not allowed in the object's state.
    #[error("{message}")]
    InvalidRequest { message: String, param: Option<String> },
    /// Stripe has no API version by that name.
    #[error("Invalid Stripe API version: {0}")]
    UnknownApiVersion(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// The webhook HTTP client could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// `wait_idle` gave up before deliveries drained.
    #[error("webhook deliveries still pending after {0:?}")]
    Timeout(std::time::Duration),
}

impl SimError {
    pub(crate) fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        SimError::InvalidRequest { message: message.into(), param: param.map(str::to_owned) }
    }

    pub(crate) fn not_found(kind: &'static str, id: &str) -> Self {
        SimError::NotFound { kind, id: id.to_owned() }
    }
}
