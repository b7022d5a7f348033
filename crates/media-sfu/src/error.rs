//! Errors of the SFU layer.

/// An SFU operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    /// A mediasoup worker could not be started.
    #[error("media worker failed to start: {0}")]
    Worker(String),
    /// The worker rejected or failed a request (router, transport, producer, consumer...).
    #[error("{0}")]
    Request(String),
    /// Client-supplied parameters (DTLS, RTP parameters, capabilities) could not be parsed.
    #[error("invalid {what}: {detail}")]
    InvalidParameters {
        /// Which parameter was invalid.
        what: &'static str,
        /// Parser message.
        detail: String,
    },
    /// No worker is available.
    #[error("no media worker available")]
    NoWorker,
}

impl SfuError {
    pub(crate) fn request(e: impl std::fmt::Display) -> Self {
        Self::Request(e.to_string())
    }

    pub(crate) fn invalid(what: &'static str, e: impl std::fmt::Display) -> Self {
        Self::InvalidParameters {
            what,
            detail: e.to_string(),
        }
    }
}
