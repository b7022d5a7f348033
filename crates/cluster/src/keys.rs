//! Every Redis key and channel name cluster mode uses, in one place (see `docs/cluster.md`).

use crate::NodeId;

/// Prefix of every key and channel.
pub const PREFIX: &str = "huddle";

/// Channel of node heartbeats and leaves (JSON messages of the node registry).
pub const NODES_CHANNEL: &str = "huddle:nodes";

/// Channel of active-room replica updates (JSON messages of the room replica).
pub const ROOMS_CHANNEL: &str = "huddle:rooms";

/// Channel of cluster-wide broadcasts ([`crate::Messaging`]).
pub const BROADCAST_CHANNEL: &str = "huddle:broadcast";

/// Prefix of every per-node key and channel (`huddle:node:{id}...`).
pub const NODE_KEY_PREFIX: &str = "huddle:node:";

/// `SCAN` pattern matching every node lease key (and, filtered out by the scripts, the
/// `:rooms` hashes).
pub const NODE_KEY_PATTERN: &str = "huddle:node:*";

/// `SCAN` pattern matching every node's room hash.
pub const NODE_ROOMS_PATTERN: &str = "huddle:node:*:rooms";

/// A node's liveness lease (string with the node's instance token, PX TTL).
pub fn node_lease(node: &NodeId) -> String {
    format!("huddle:node:{node}")
}

/// A node's room hash for the active-room replica (expires with the lease).
pub fn node_rooms(node: &NodeId) -> String {
    format!("huddle:node:{node}:rooms")
}

/// The channel on which `node` receives requests and one-way messages.
pub fn node_rpc(node: &NodeId) -> String {
    format!("huddle:node:{node}:rpc")
}

/// The channel on which `node` receives replies to its requests.
pub fn node_reply(node: &NodeId) -> String {
    format!("huddle:node:{node}:reply")
}

/// A room's home record (`"{epoch}:{node}"`, PX TTL).
pub fn room_home(room: &str) -> String {
    format!("huddle:room:{room}:home")
}

/// A room's fencing epoch counter (`INCR`, never deleted).
pub fn room_epoch(room: &str) -> String {
    format!("huddle:room:{room}:epoch")
}

/// The node id of a lease key (`huddle:node:{id}`), `None` for other keys.
pub fn node_of_lease(key: &str) -> Option<NodeId> {
    let id = key.strip_prefix("huddle:node:")?;
    NodeId::new(id).ok()
}

/// The node id of a room hash key (`huddle:node:{id}:rooms`), `None` for other keys.
pub fn node_of_rooms(key: &str) -> Option<NodeId> {
    let id = key.strip_prefix("huddle:node:")?.strip_suffix(":rooms")?;
    NodeId::new(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let id = NodeId::new("a1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(node_lease(&id), "huddle:node:a1");
        assert_eq!(node_of_lease(&node_lease(&id)), Some(id.clone()));
        assert_eq!(node_of_lease(&node_rooms(&id)), None);
        assert_eq!(node_of_rooms(&node_rooms(&id)), Some(id.clone()));
        assert_eq!(node_of_rooms(&node_lease(&id)), None);
        assert_eq!(room_home("c 1"), "huddle:room:c 1:home");
        assert!(PREFIX.starts_with("huddle"));
    }
}
