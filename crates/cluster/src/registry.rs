//! Node registry: this node's liveness lease and heartbeats, and the liveness of its peers.
//!
//! Each node `SET`s `huddle:node:{id}` (its instance token, `PX lease_ttl`) every renew
//! interval and publishes a heartbeat on `huddle:nodes`. A peer is known from its heartbeats
//! and from the lease keys found by a scan on every renew tick; it is reported
//! [`NodeEvent::Dead`] when its lease has expired (the later of its last heartbeat plus its TTL
//! and the remaining `PTTL` of its key last seen), or at once when it publishes a leave.
//! Peers are never declared dead while this node cannot reach Redis, and every known peer gets
//! a fresh lease's grace after a reconnect (a restarted Redis has lost the keys until their
//! owners renew them).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::Script;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::connection::RedisConnection;
use crate::{ClusterError, NodeId, keys};

/// A change in the liveness of a peer node (never this node itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// A node was seen for the first time (or again after it was reported dead).
    Up(NodeId),
    /// A node's lease expired, or it left gracefully.
    Dead(NodeId),
}

/// Messages on [`keys::NODES_CHANNEL`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum NodeMessage {
    /// "I am alive for `ttl_ms` more milliseconds."
    Heartbeat { node: NodeId, ttl_ms: u64 },
    /// "I am leaving": deleted my lease.
    Leave { node: NodeId },
}

/// Lists lease keys with their remaining TTL: `[key, pttl, key, pttl, ...]`. Skips the
/// `huddle:node:{id}:...` keys (room hashes).
const SCAN_LEASES: &str = r"
local out = {}
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if not string.find(key, ':', #ARGV[2] + 1, true) then
      local ttl = redis.call('PTTL', key)
      if ttl > 0 then
        out[#out + 1] = key
        out[#out + 1] = ttl
      end
    end
  end
until cursor == '0'
return out
";

/// Deletes KEYS[1] only if it still holds ARGV[1] (this instance's token).
const DELETE_IF_OWNED: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Capacity of the [`NodeEvent`] broadcast.
const EVENT_CAPACITY: usize = 256;

/// This node's lease and the liveness of its peers. Obtained from [`crate::Node::registry`].
pub struct NodeRegistry {
    id: NodeId,
    /// Random per process: tells this process' lease apart from another one with the same id.
    token: String,
    conn: RedisConnection,
    lease_ttl: Duration,
    /// Known live peers and when their lease expires (as far as this node knows).
    peers: Mutex<HashMap<NodeId, Instant>>,
    events: broadcast::Sender<NodeEvent>,
    scan: Script,
    delete_if_owned: Script,
}

impl std::fmt::Debug for NodeRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRegistry")
            .field("id", &self.id)
            .field("peers", &self.peers.lock().len())
            .finish_non_exhaustive()
    }
}

impl NodeRegistry {
    pub(crate) fn new(id: NodeId, conn: RedisConnection, lease_ttl: Duration) -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Self {
            id,
            token: format!("{:016x}", fastrand::u64(..)),
            conn,
            lease_ttl,
            peers: Mutex::new(HashMap::new()),
            events,
            scan: Script::new(SCAN_LEASES),
            delete_if_owned: Script::new(DELETE_IF_OWNED),
        }
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    /// Every node currently considered alive, this one included, sorted.
    pub fn alive_nodes(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self.peers.lock().keys().cloned().collect();
        nodes.push(self.id.clone());
        nodes.sort();
        nodes
    }

    /// Whether `node` is this node or a peer currently considered alive.
    pub fn is_alive(&self, node: &NodeId) -> bool {
        *node == self.id || self.peers.lock().contains_key(node)
    }

    /// Peer liveness changes from now on. A receiver that falls more than 256 events behind
    /// gets `Lagged` and should re-read [`NodeRegistry::alive_nodes`].
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Renews this node's lease and publishes a heartbeat.
    pub(crate) async fn renew(&self) -> Result<(), ClusterError> {
        let ttl_ms = millis(self.lease_ttl);
        let heartbeat = serde_json::to_vec(&NodeMessage::Heartbeat {
            node: self.id.clone(),
            ttl_ms,
        })?;
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(keys::node_lease(&self.id))
            .arg(&self.token)
            .arg("PX")
            .arg(ttl_ms)
            .arg("GET")
            .cmd("PUBLISH")
            .arg(keys::NODES_CHANNEL)
            .arg(heartbeat)
            .ignore();
        let mut conn = self.conn.manager();
        let (previous,): (Option<String>,) = self.conn.guard(pipe.query_async(&mut conn)).await?;
        match previous {
            Some(token) if token != self.token => tracing::error!(
                node = %self.id,
                "another process renews the same node id; node ids must be unique"
            ),
            None => tracing::debug!(node = %self.id, "lease (re)created"),
            Some(_) => {}
        }
        Ok(())
    }

    /// Scans the lease keys: reports new peers `Up` and peers whose lease expired `Dead`.
    /// Does nothing (and reports nobody dead) when Redis cannot be reached.
    pub(crate) async fn check_peers(&self) -> Result<(), ClusterError> {
        let mut conn = self.conn.manager();
        let mut call = self.scan.prepare_invoke();
        call.arg(keys::NODE_KEY_PATTERN).arg(keys::NODE_KEY_PREFIX);
        let leases: Vec<(String, u64)> = self.conn.guard(call.invoke_async(&mut conn)).await?;
        let now = Instant::now();
        let mut events = Vec::new();
        {
            let mut peers = self.peers.lock();
            for (key, ttl) in leases {
                let Some(node) = keys::node_of_lease(&key) else {
                    continue;
                };
                if node != self.id {
                    see(
                        &mut peers,
                        node,
                        now + Duration::from_millis(ttl),
                        &mut events,
                    );
                }
            }
            peers.retain(|node, expires| {
                let alive = *expires >= now;
                if !alive {
                    events.push(NodeEvent::Dead(node.clone()));
                }
                alive
            });
        }
        self.emit(events);
        Ok(())
    }

    /// Handles one message of [`keys::NODES_CHANNEL`].
    pub(crate) fn on_message(&self, payload: &[u8]) {
        let message = match serde_json::from_slice::<NodeMessage>(payload) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "undecodable node message");
                return;
            }
        };
        let mut events = Vec::new();
        match message {
            NodeMessage::Heartbeat { node, ttl_ms } if node != self.id => {
                let expires = Instant::now() + Duration::from_millis(ttl_ms);
                see(&mut self.peers.lock(), node, expires, &mut events);
            }
            NodeMessage::Leave { node }
                if node != self.id && self.peers.lock().remove(&node).is_some() =>
            {
                events.push(NodeEvent::Dead(node));
            }
            _ => {}
        }
        self.emit(events);
    }

    /// After a reconnect: every known peer gets a full lease from now, since the time this node
    /// could not see Redis says nothing about the peers.
    pub(crate) fn grant_grace(&self) {
        let expires = Instant::now() + self.lease_ttl;
        for peer_expires in self.peers.lock().values_mut() {
            *peer_expires = (*peer_expires).max(expires);
        }
    }

    /// Graceful leave: deletes this node's lease (if it is still this process') and publishes
    /// a leave.
    pub(crate) async fn leave(&self) -> Result<(), ClusterError> {
        let leave = serde_json::to_vec(&NodeMessage::Leave {
            node: self.id.clone(),
        })?;
        let mut conn = self.conn.manager();
        let mut call = self.delete_if_owned.key(keys::node_lease(&self.id));
        call.arg(&self.token);
        let _: i64 = self.conn.guard(call.invoke_async(&mut conn)).await?;
        self.conn.publish(keys::NODES_CHANNEL, &leave).await?;
        tracing::info!(node = %self.id, "left the cluster");
        Ok(())
    }

    fn emit(&self, events: Vec<NodeEvent>) {
        for event in events {
            match &event {
                NodeEvent::Up(node) => tracing::info!(node = %self.id, peer = %node, "peer up"),
                NodeEvent::Dead(node) => {
                    tracing::warn!(node = %self.id, peer = %node, "peer dead");
                }
            }
            // No receiver is fine.
            let _ = self.events.send(event);
        }
    }
}

/// Records that `node` is alive until at least `expires`; a new peer is reported `Up`.
fn see(
    peers: &mut HashMap<NodeId, Instant>,
    node: NodeId,
    expires: Instant,
    events: &mut Vec<NodeEvent>,
) {
    match peers.entry(node) {
        Entry::Occupied(mut entry) => {
            let current = entry.get_mut();
            *current = (*current).max(expires);
        }
        Entry::Vacant(entry) => {
            events.push(NodeEvent::Up(entry.key().clone()));
            entry.insert(expires);
        }
    }
}

/// `duration` in whole milliseconds (at least 1).
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_messages_have_a_stable_shape() {
        let id = NodeId::new("a").unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&NodeMessage::Heartbeat {
            node: id.clone(),
            ttl_ms: 6000,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json, r#"{"kind":"heartbeat","node":"a","ttl_ms":6000}"#);
        let json = serde_json::to_string(&NodeMessage::Leave { node: id })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json, r#"{"kind":"leave","node":"a"}"#);
    }

    #[test]
    fn see_reports_new_peers_once_and_keeps_the_latest_expiry() {
        let mut peers = HashMap::new();
        let mut events = Vec::new();
        let id = NodeId::new("b").unwrap_or_else(|e| panic!("{e}"));
        let now = Instant::now();
        see(
            &mut peers,
            id.clone(),
            now + Duration::from_secs(5),
            &mut events,
        );
        see(
            &mut peers,
            id.clone(),
            now + Duration::from_secs(1),
            &mut events,
        );
        assert_eq!(events, vec![NodeEvent::Up(id.clone())]);
        assert_eq!(peers.get(&id).copied(), Some(now + Duration::from_secs(5)));
    }
}
