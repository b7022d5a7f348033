//! The crate's error type.

use redis::{ErrorKind, ServerErrorKind};

/// What a cluster operation can fail with.
///
/// [`ClusterError::Unavailable`] is the one the server shows to clients: its `Display` is the
/// exact error string of the Socket.IO protocol (`"Cluster unavailable, try again"`).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Redis (or the node a request was addressed to) cannot be reached right now: the connection
    /// is down, the call timed out, or no node listens on the target channel. Retrying later may
    /// succeed.
    #[error("Cluster unavailable, try again")]
    Unavailable,
    /// The configuration cannot work (bad Redis URL, invalid node id, ...).
    #[error("invalid cluster configuration: {0}")]
    Config(String),
    /// Redis answered with an error that is not about availability (a script error, a wrong
    /// type, an unexpected reply shape).
    #[error("redis error: {0}")]
    Redis(String),
    /// A payload could not be encoded or decoded as JSON.
    #[error("cluster message codec error: {0}")]
    Codec(#[from] serde_json::Error),
    /// The remote node answered a request with an error.
    #[error("remote node error: {0}")]
    Remote(String),
}

impl ClusterError {
    /// Whether this is [`ClusterError::Unavailable`].
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable)
    }
}

impl From<redis::RedisError> for ClusterError {
    fn from(err: redis::RedisError) -> Self {
        let availability = matches!(
            err.kind(),
            ErrorKind::Io
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::ReadOnly
                )
        );
        if availability
            || err.is_timeout()
            || err.is_connection_dropped()
            || err.is_connection_refusal()
        {
            tracing::debug!(error = %err, "redis call failed: unavailable");
            Self::Unavailable
        } else {
            Self::Redis(err.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_has_the_protocol_string() {
        assert_eq!(
            ClusterError::Unavailable.to_string(),
            "Cluster unavailable, try again"
        );
        assert!(ClusterError::Unavailable.is_unavailable());
        assert!(!ClusterError::Remote("x".into()).is_unavailable());
    }

    #[test]
    fn io_errors_are_unavailable_and_type_errors_are_not() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(ClusterError::from(redis::RedisError::from(io)).is_unavailable());
        let parse = redis::from_redis_value::<Vec<String>>(redis::Value::Int(2))
            .map_err(redis::RedisError::from)
            .err()
            .map(ClusterError::from);
        assert!(matches!(parse, Some(ClusterError::Redis(_))), "{parse:?}");
    }
}
