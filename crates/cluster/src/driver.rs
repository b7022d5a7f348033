//! The socketioxide-redis [`Driver`] on the reconnecting connection.
//!
//! socketioxide-redis' bundled drivers subscribe once on a plain multiplexed connection: after
//! a Redis restart the adapter's channels are gone for good. This driver uses
//! [`RedisConnection`], whose subscriptions are durable (re-established after every reconnect,
//! and even if made while Redis is down).
//!
//! While Redis is down the adapter degrades to this node: publishes are dropped (with a debug
//! log) instead of failing the emit, so `io.to(room).emit(..)` still reaches the local sockets,
//! and [`Driver::num_serv`] answers 1 (this server only), so `rooms()`, `fetch_sockets()` and
//! acks complete with the local answers instead of waiting for their timeout.
//!
//! Use it as `CustomRedisAdapter<_, AdapterDriver>` with
//! `RedisAdapterCtr::new_with_driver(node.adapter_driver(), RedisAdapterConfig::default())`.

use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};

use crate::ClusterError;
use crate::connection::RedisConnection;

/// A socketioxide-redis driver that survives Redis restarts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AdapterDriver {
    conn: RedisConnection,
}

impl AdapterDriver {
    /// A driver on `conn` (usually [`crate::Node::adapter_driver`], sharing the node's
    /// connection).
    pub fn new(conn: RedisConnection) -> Self {
        Self { conn }
    }
}

impl Driver for AdapterDriver {
    type Error = ClusterError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        match self.conn.publish(&chan, &val).await {
            Ok(_) => Ok(()),
            Err(ClusterError::Unavailable) => {
                tracing::debug!(
                    channel = chan,
                    "redis down: adapter message to other nodes dropped"
                );
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let subscription = self.conn.subscribe(&chan, size).await?;
        Ok(MessageStream::new(subscription.into_receiver()))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.conn.unsubscribe(&chan).await
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg("NUMSUB").arg(chan);
        let mut conn = self.conn.manager();
        match self
            .conn
            .guard(cmd.query_async::<redis::Value>(&mut conn))
            .await
        {
            Ok(value) => Ok(numsub_count(value).unwrap_or(1)),
            Err(ClusterError::Unavailable) => Ok(1),
            Err(error) => Err(error),
        }
    }
}

/// The subscriber count in a `PUBSUB NUMSUB <chan>` reply (`[chan, n]`, or a map in RESP3).
fn numsub_count(value: redis::Value) -> Option<u16> {
    let count = match value {
        redis::Value::Array(items) => items.into_iter().nth(1)?,
        redis::Value::Map(pairs) => pairs.into_iter().next()?.1,
        _ => return None,
    };
    redis::from_redis_value::<u16>(count).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numsub_replies() {
        let array = redis::Value::Array(vec![
            redis::Value::BulkString(b"c".to_vec()),
            redis::Value::Int(3),
        ]);
        assert_eq!(numsub_count(array), Some(3));
        let map = redis::Value::Map(vec![(
            redis::Value::BulkString(b"c".to_vec()),
            redis::Value::Int(2),
        )]);
        assert_eq!(numsub_count(map), Some(2));
        assert_eq!(numsub_count(redis::Value::Nil), None);
    }
}
