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
    /// The producer to consume does not exist (any more) on the router.
    #[error("producer not found")]
    ProducerNotFound,
    /// The client's RTP capabilities cannot receive the producer.
    #[error("rtp capabilities mismatch")]
    RtpCapabilitiesMismatch,
    /// The object was closed (e.g. by its transport or producer closing) meanwhile.
    #[error("closed")]
    Closed,
}

impl SfuError {
    pub(crate) fn request(e: impl std::fmt::Display) -> Self {
        Self::Request(e.to_string())
    }

    /// A request error, recognising "the object is closed" as [`SfuError::Closed`].
    pub(crate) fn from_request(e: mediasoup::worker::RequestError) -> Self {
        match e {
            mediasoup::worker::RequestError::ChannelClosed => Self::Closed,
            other => Self::Request(other.to_string()),
        }
    }

    pub(crate) fn invalid(what: &'static str, e: impl std::fmt::Display) -> Self {
        Self::InvalidParameters {
            what,
            detail: e.to_string(),
        }
    }
}
