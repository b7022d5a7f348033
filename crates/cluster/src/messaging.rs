//! Cluster-wide broadcasts, optionally addressed to one user.
//!
//! Published on `huddle:broadcast` as `{"from":..,"to":"all"|{"user":".."},"body":..}` and
//! delivered to every *other* node (a node handles its own events locally). Each node delivers
//! a user-addressed message to the sockets of that user it holds; the crate does not know
//! where users are. (Socket.IO emits to a user's sockets can also go through the socketioxide
//! adapter with a per-user room, see [`crate::AdapterDriver`].)

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::connection::RedisConnection;
use crate::{ClusterError, NodeId, keys};

/// Messages kept for slow receivers before they get `Lagged`.
const CAPACITY: usize = 1024;

/// Who a cluster message is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Address {
    /// Every node.
    All,
    /// The devices of one user, wherever they are connected.
    User(String),
}

/// A message from another node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterMessage {
    /// The sending node.
    pub from: NodeId,
    /// The addressee.
    pub to: Address,
    /// The JSON body (the server defines the types).
    pub body: Value,
}

impl ClusterMessage {
    /// The body decoded as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ClusterError> {
        Ok(T::deserialize(&self.body)?)
    }
}

/// Publishes and receives cluster-wide messages. Obtained from [`crate::Node::messaging`].
pub struct Messaging {
    id: NodeId,
    conn: RedisConnection,
    tx: broadcast::Sender<Arc<ClusterMessage>>,
}

impl std::fmt::Debug for Messaging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messaging")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Messaging {
    pub(crate) fn new(id: NodeId, conn: RedisConnection) -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self { id, conn, tx }
    }

    /// Sends `body` to every other node.
    pub async fn broadcast<T: Serialize + ?Sized>(&self, body: &T) -> Result<(), ClusterError> {
        self.publish(Address::All, body).await
    }

    /// Sends `body` for the devices of `user` to every other node.
    pub async fn send_to_user<T: Serialize + ?Sized>(
        &self,
        user: &str,
        body: &T,
    ) -> Result<(), ClusterError> {
        self.publish(Address::User(user.to_owned()), body).await
    }

    /// Messages from other nodes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ClusterMessage>> {
        self.tx.subscribe()
    }

    async fn publish<T: Serialize + ?Sized>(
        &self,
        to: Address,
        body: &T,
    ) -> Result<(), ClusterError> {
        let message = ClusterMessage {
            from: self.id.clone(),
            to,
            body: serde_json::to_value(body)?,
        };
        self.conn
            .publish(keys::BROADCAST_CHANNEL, &serde_json::to_vec(&message)?)
            .await?;
        Ok(())
    }

    /// Handles one message of [`keys::BROADCAST_CHANNEL`].
    pub(crate) fn on_message(&self, payload: &[u8]) {
        match serde_json::from_slice::<ClusterMessage>(payload) {
            Ok(message) if message.from != self.id => {
                let _ = self.tx.send(Arc::new(message));
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "undecodable cluster message"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_have_a_stable_shape() {
        let all = serde_json::to_string(&Address::All).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all, r#""all""#);
        let user =
            serde_json::to_string(&Address::User("u1".into())).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(user, r#"{"user":"u1"}"#);
    }
}
