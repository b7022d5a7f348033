//! Cluster configuration.

use std::time::Duration;

use crate::{ClusterError, NodeId};

/// How a node joins the cluster: the Redis URL, its id and the timing of leases and calls.
///
/// Defaults: renew every 2 s with a 6 s lease (a `kill -9`ed node is reported dead within
/// about 8 s), Redis commands time out after 1 s, node-to-node requests after 3 s, and the
/// connection is probed every second.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `redis://host:port[/db]`; RESP3 is switched on by the crate (needs Redis 7 or newer).
    pub redis_url: String,
    /// This node's id; `None` generates one ([`NodeId::generate`]) at start.
    pub node_id: Option<NodeId>,
    /// How often the node renews its lease, its room claims and its room hash, and checks its
    /// peers' leases.
    pub renew_interval: Duration,
    /// Lifetime of a lease (node, room home, room hash) that is not renewed.
    pub lease_ttl: Duration,
    /// Timeout of one Redis command; on expiry the call fails with
    /// [`ClusterError::Unavailable`].
    pub command_timeout: Duration,
    /// Timeout of a node-to-node request (publish, remote handling and reply).
    pub rpc_timeout: Duration,
    /// How often the connection is checked with `PING` while up (while down it is retried
    /// every `min(probe_interval, 250 ms)`).
    pub probe_interval: Duration,
}

impl ClusterConfig {
    /// The defaults with `redis_url`.
    pub fn new(redis_url: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            node_id: None,
            renew_interval: Duration::from_secs(2),
            lease_ttl: Duration::from_secs(6),
            command_timeout: Duration::from_secs(1),
            rpc_timeout: Duration::from_secs(3),
            probe_interval: Duration::from_secs(1),
        }
    }

    /// Sets the node id.
    pub fn with_node_id(mut self, id: NodeId) -> Self {
        self.node_id = Some(id);
        self
    }

    /// Sets the renew interval and the lease TTL together.
    pub fn with_lease(mut self, renew_interval: Duration, lease_ttl: Duration) -> Self {
        self.renew_interval = renew_interval;
        self.lease_ttl = lease_ttl;
        self
    }

    /// Sets the Redis command timeout.
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Sets the node-to-node request timeout.
    pub fn with_rpc_timeout(mut self, timeout: Duration) -> Self {
        self.rpc_timeout = timeout;
        self
    }

    /// Sets the connection probe interval.
    pub fn with_probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Checks that the timings can work: everything non-zero and the lease at least twice the
    /// renew interval (so one late renewal does not expire it).
    pub fn validate(&self) -> Result<(), ClusterError> {
        let zero = [
            ("renew_interval", self.renew_interval),
            ("lease_ttl", self.lease_ttl),
            ("command_timeout", self.command_timeout),
            ("rpc_timeout", self.rpc_timeout),
            ("probe_interval", self.probe_interval),
        ]
        .into_iter()
        .find(|(_, d)| d.is_zero());
        if let Some((name, _)) = zero {
            return Err(ClusterError::Config(format!("{name} must not be zero")));
        }
        if self.lease_ttl < self.renew_interval * 2 {
            return Err(ClusterError::Config(format!(
                "lease_ttl ({:?}) must be at least twice renew_interval ({:?})",
                self.lease_ttl, self.renew_interval
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let config = ClusterConfig::new("redis://127.0.0.1");
        assert!(config.validate().is_ok());
        assert_eq!(config.renew_interval, Duration::from_secs(2));
        assert_eq!(config.lease_ttl, Duration::from_secs(6));
    }

    #[test]
    fn rejects_short_leases() {
        let config = ClusterConfig::new("redis://127.0.0.1")
            .with_lease(Duration::from_secs(2), Duration::from_secs(3));
        assert!(config.validate().is_err());
        let zero = ClusterConfig::new("redis://127.0.0.1").with_rpc_timeout(Duration::ZERO);
        assert!(zero.validate().is_err());
    }
}
