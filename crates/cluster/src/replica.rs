//! The active-room replica: every node's rooms (conversation, home node, participants on that
//! node), readable in memory without a Redis round trip.
//!
//! Each node writes its own rooms to its hash `huddle:node:{id}:rooms` (field `r:{room}` →
//! `{"home":..,"count":..}`, field `seq`; the hash expires with the node's lease) and publishes
//! every change on `huddle:rooms`. Every node applies those messages to its replica. Messages
//! carry a per-node sequence number (writes of one node are serialised, so the sequence is
//! also the publish order); older ones are ignored.
//!
//! After a reconnect the replica is resynchronised: it reads the hashes of all nodes that have
//! a lease (one script), replaces their entries, drops nodes neither in the snapshot nor alive
//! in the registry, then republishes this node's full state (hash and a snapshot message).
//! Entries of a node the registry reports dead are removed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use redis::Script;
use serde::{Deserialize, Serialize};

use crate::connection::RedisConnection;
use crate::registry::{NodeRegistry, millis};
use crate::{ClusterError, NodeId, keys};

/// One active room as the whole cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRoom {
    /// The room's conversation id.
    pub conversation_id: String,
    /// The room's home node as reported by the nodes hosting its participants (the home's own
    /// report wins).
    pub home_node: Option<NodeId>,
    /// Participants on all nodes.
    pub participant_count: u32,
    /// What the home node published with the room (for Huddle: the listed participants of
    /// `active_group_calls`), opaque to this crate.
    pub detail: Option<serde_json::Value>,
}

/// One node's report of one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RoomState {
    home: Option<NodeId>,
    count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<serde_json::Value>,
}

/// One room in a [`RoomMessage::Snapshot`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotRoom {
    room: String,
    home: Option<NodeId>,
    count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<serde_json::Value>,
}

/// Messages on [`keys::ROOMS_CHANNEL`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum RoomMessage {
    /// One room of `node` changed; `count == 0` removes it.
    Room {
        node: NodeId,
        seq: u64,
        room: String,
        home: Option<NodeId>,
        count: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<serde_json::Value>,
    },
    /// All rooms of `node` (replaces what was known of it).
    Snapshot {
        node: NodeId,
        seq: u64,
        rooms: Vec<SnapshotRoom>,
    },
}

/// What the replica knows of one node.
#[derive(Debug, Default)]
struct NodeRooms {
    /// Sequence number of the last applied change.
    seq: u64,
    rooms: HashMap<String, RoomState>,
}

/// Reads the room hash of every node that has a lease: `[key, [field, value, ...], ...]`.
const SNAPSHOT: &str = r"
local out = {}
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    local lease = string.sub(key, 1, #key - #ARGV[2])
    if redis.call('EXISTS', lease) == 1 then
      out[#out + 1] = key
      out[#out + 1] = redis.call('HGETALL', key)
    end
  end
until cursor == '0'
return out
";

/// Hash field of the sequence number.
const SEQ_FIELD: &str = "seq";
/// Prefix of the room fields.
const ROOM_FIELD: &str = "r:";

/// The replica of the active rooms of the cluster. Obtained from [`crate::Node::replica`].
///
/// Reads ([`RoomReplica::is_empty`], [`RoomReplica::participant_count`],
/// [`RoomReplica::active_rooms`]) never touch Redis.
pub struct RoomReplica {
    id: NodeId,
    conn: RedisConnection,
    lease_ttl: Duration,
    nodes: RwLock<HashMap<NodeId, NodeRooms>>,
    /// Room entries over all nodes (so `is_empty` takes no lock).
    entries: AtomicUsize,
    /// This node's last sequence number (starts at the Unix time in µs, so a restarted node
    /// with the same id continues above its predecessor).
    seq: AtomicU64,
    /// Serialises this node's writes, so sequence order is publish order.
    write: tokio::sync::Mutex<()>,
    /// A write failed: the full state is republished on the next tick.
    dirty: AtomicBool,
    snapshot: Script,
}

impl std::fmt::Debug for RoomReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomReplica")
            .field("id", &self.id)
            .field("entries", &self.entries.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RoomReplica {
    pub(crate) fn new(id: NodeId, conn: RedisConnection, lease_ttl: Duration) -> Self {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self {
            id,
            conn,
            lease_ttl,
            nodes: RwLock::new(HashMap::new()),
            entries: AtomicUsize::new(0),
            seq: AtomicU64::new(start),
            write: tokio::sync::Mutex::new(()),
            dirty: AtomicBool::new(false),
            snapshot: Script::new(SNAPSHOT),
        }
    }

    /// Whether no room is active on any node. One atomic load.
    pub fn is_empty(&self) -> bool {
        self.entries.load(Ordering::Acquire) == 0
    }

    /// Participants of `room` summed over all nodes (0 if not active).
    pub fn participant_count(&self, room: &str) -> u32 {
        self.nodes
            .read()
            .values()
            .filter_map(|node| node.rooms.get(room))
            .map(|state| state.count)
            .fold(0, u32::saturating_add)
    }

    /// One room as the cluster sees it, if active anywhere.
    pub fn room(&self, room: &str) -> Option<ActiveRoom> {
        let nodes = self.nodes.read();
        let mut active: Option<ActiveRoom> = None;
        for (node, rooms) in nodes.iter() {
            if let Some(state) = rooms.rooms.get(room) {
                merge(&mut active, room, node, state);
            }
        }
        active
    }

    /// Participants of `room` per node, sorted by node.
    pub fn room_nodes(&self, room: &str) -> Vec<(NodeId, u32)> {
        let mut out: Vec<(NodeId, u32)> = self
            .nodes
            .read()
            .iter()
            .filter_map(|(node, rooms)| rooms.rooms.get(room).map(|s| (node.clone(), s.count)))
            .collect();
        out.sort();
        out
    }

    /// Every active room of the cluster, sorted by conversation id.
    pub fn active_rooms(&self) -> Vec<ActiveRoom> {
        let mut rooms: HashMap<String, Option<ActiveRoom>> = HashMap::new();
        for (node, node_rooms) in self.nodes.read().iter() {
            for (room, state) in &node_rooms.rooms {
                merge(rooms.entry(room.clone()).or_default(), room, node, state);
            }
        }
        let mut out: Vec<ActiveRoom> = rooms.into_values().flatten().collect();
        out.sort_by(|a, b| a.conversation_id.cmp(&b.conversation_id));
        out
    }

    /// Sets this node's participants of `room` (whose home is `home`); `0` removes the room
    /// from this node's state. The replica changes at once; the change is then written to this
    /// node's hash and published. On [`ClusterError::Unavailable`] the local change stands and
    /// the whole state is republished once Redis is back.
    pub async fn set_local(
        &self,
        room: &str,
        home: &NodeId,
        participant_count: u32,
    ) -> Result<(), ClusterError> {
        self.set_local_with(room, home, participant_count, None)
            .await
    }

    /// [`RoomReplica::set_local`] with an opaque `detail` that every node's replica returns
    /// in [`ActiveRoom::detail`].
    pub async fn set_local_with(
        &self,
        room: &str,
        home: &NodeId,
        participant_count: u32,
        detail: Option<serde_json::Value>,
    ) -> Result<(), ClusterError> {
        let _write = self.write.lock().await;
        let seq = self.next_seq();
        let state = RoomState {
            home: Some(home.clone()),
            count: participant_count,
            detail,
        };
        {
            let mut nodes = self.nodes.write();
            let own = nodes.entry(self.id.clone()).or_default();
            own.seq = seq;
            if participant_count == 0 {
                own.rooms.remove(room);
            } else {
                own.rooms.insert(room.to_owned(), state.clone());
            }
            self.recount(&nodes);
        }
        let message = serde_json::to_vec(&RoomMessage::Room {
            node: self.id.clone(),
            seq,
            room: room.to_owned(),
            home: state.home.clone(),
            count: participant_count,
            detail: state.detail.clone(),
        })?;
        let key = keys::node_rooms(&self.id);
        let field = format!("{ROOM_FIELD}{room}");
        let mut pipe = redis::pipe();
        pipe.atomic();
        if participant_count == 0 {
            pipe.cmd("HDEL").arg(&key).arg(&field).ignore();
        } else {
            pipe.cmd("HSET")
                .arg(&key)
                .arg(&field)
                .arg(serde_json::to_vec(&state)?)
                .ignore();
        }
        pipe.cmd("HSET")
            .arg(&key)
            .arg(SEQ_FIELD)
            .arg(seq)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(self.lease_ttl))
            .ignore()
            .cmd("PUBLISH")
            .arg(keys::ROOMS_CHANNEL)
            .arg(message)
            .ignore();
        let mut conn = self.conn.manager();
        let written: Result<(), ClusterError> = self.conn.guard(pipe.query_async(&mut conn)).await;
        if let Err(error) = &written {
            tracing::warn!(node = %self.id, room, %error, "room state not published; republishing later");
            self.dirty.store(true, Ordering::Release);
        }
        written
    }

    /// This node's rooms with their participants on this node, sorted.
    pub fn local_rooms(&self) -> Vec<(String, u32)> {
        let mut out: Vec<(String, u32)> = self
            .nodes
            .read()
            .get(&self.id)
            .map(|own| {
                own.rooms
                    .iter()
                    .map(|(room, s)| (room.clone(), s.count))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Handles one message of [`keys::ROOMS_CHANNEL`].
    pub(crate) fn on_message(&self, payload: &[u8]) {
        let message = match serde_json::from_slice::<RoomMessage>(payload) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "undecodable room message");
                return;
            }
        };
        let mut nodes = self.nodes.write();
        match message {
            RoomMessage::Room {
                node,
                seq,
                room,
                home,
                count,
                detail,
            } if node != self.id => {
                let entry = nodes.entry(node).or_default();
                if seq <= entry.seq {
                    return;
                }
                entry.seq = seq;
                if count == 0 {
                    entry.rooms.remove(&room);
                } else {
                    entry.rooms.insert(
                        room,
                        RoomState {
                            home,
                            count,
                            detail,
                        },
                    );
                }
            }
            RoomMessage::Snapshot { node, seq, rooms } if node != self.id => {
                let entry = nodes.entry(node).or_default();
                if seq < entry.seq {
                    return;
                }
                entry.seq = seq;
                entry.rooms = rooms
                    .into_iter()
                    .filter(|r| r.count > 0)
                    .map(|r| {
                        let state = RoomState {
                            home: r.home,
                            count: r.count,
                            detail: r.detail,
                        };
                        (r.room, state)
                    })
                    .collect();
            }
            _ => return,
        }
        self.recount(&nodes);
    }

    /// Drops everything known of `node` (reported dead).
    pub(crate) fn remove_node(&self, node: &NodeId) {
        if *node == self.id {
            return;
        }
        let mut nodes = self.nodes.write();
        if let Some(gone) = nodes.remove(node) {
            tracing::info!(node = %self.id, peer = %node, rooms = gone.rooms.len(), "dropped a dead node's rooms");
        }
        self.recount(&nodes);
    }

    /// Full resynchronisation (after a reconnect): snapshot of every live node's hash, then
    /// this node's state republished.
    pub(crate) async fn resync(&self, registry: &NodeRegistry) -> Result<(), ClusterError> {
        let snapshot = self.read_snapshot().await?;
        {
            let mut nodes = self.nodes.write();
            let present: HashSet<NodeId> = snapshot.iter().map(|(n, _, _)| n.clone()).collect();
            for (node, seq, rooms) in snapshot {
                if node == self.id {
                    continue;
                }
                let entry = nodes.entry(node).or_default();
                if seq >= entry.seq {
                    entry.seq = seq;
                    entry.rooms = rooms;
                }
            }
            nodes.retain(|node, _| {
                *node == self.id || present.contains(node) || registry.is_alive(node)
            });
            self.recount(&nodes);
        }
        self.republish().await
    }

    /// Keeps this node's hash alive; republishes the full state when a write failed or the
    /// hash is gone.
    pub(crate) async fn renew(&self) -> Result<(), ClusterError> {
        let mut cmd = redis::cmd("PEXPIRE");
        cmd.arg(keys::node_rooms(&self.id))
            .arg(millis(self.lease_ttl));
        let mut conn = self.conn.manager();
        let exists: i64 = self.conn.guard(cmd.query_async(&mut conn)).await?;
        if exists == 0 || self.dirty.load(Ordering::Acquire) {
            self.republish().await?;
        }
        Ok(())
    }

    /// Writes this node's full state (replacing its hash) and publishes it as a snapshot.
    pub(crate) async fn republish(&self) -> Result<(), ClusterError> {
        let _write = self.write.lock().await;
        let seq = self.next_seq();
        let rooms: Vec<SnapshotRoom> = {
            let mut nodes = self.nodes.write();
            let own = nodes.entry(self.id.clone()).or_default();
            own.seq = seq;
            own.rooms
                .iter()
                .map(|(room, s)| SnapshotRoom {
                    room: room.clone(),
                    home: s.home.clone(),
                    count: s.count,
                    detail: s.detail.clone(),
                })
                .collect()
        };
        let key = keys::node_rooms(&self.id);
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("DEL").arg(&key).ignore();
        let mut hset = redis::cmd("HSET");
        hset.arg(&key).arg(SEQ_FIELD).arg(seq);
        for room in &rooms {
            let state = RoomState {
                home: room.home.clone(),
                count: room.count,
                detail: room.detail.clone(),
            };
            hset.arg(format!("{ROOM_FIELD}{}", room.room))
                .arg(serde_json::to_vec(&state)?);
        }
        let count = rooms.len();
        let message = serde_json::to_vec(&RoomMessage::Snapshot {
            node: self.id.clone(),
            seq,
            rooms,
        })?;
        pipe.add_command(hset)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(self.lease_ttl))
            .ignore()
            .cmd("PUBLISH")
            .arg(keys::ROOMS_CHANNEL)
            .arg(message)
            .ignore();
        let mut conn = self.conn.manager();
        self.conn
            .guard(pipe.query_async::<()>(&mut conn))
            .await
            .inspect_err(|_| self.dirty.store(true, Ordering::Release))?;
        self.dirty.store(false, Ordering::Release);
        tracing::debug!(node = %self.id, rooms = count, seq, "room state republished");
        Ok(())
    }

    /// Graceful leave: publishes an empty state and deletes this node's hash.
    pub(crate) async fn leave(&self) -> Result<(), ClusterError> {
        let _write = self.write.lock().await;
        let seq = self.next_seq();
        let message = serde_json::to_vec(&RoomMessage::Snapshot {
            node: self.id.clone(),
            seq,
            rooms: Vec::new(),
        })?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(keys::node_rooms(&self.id))
            .ignore()
            .cmd("PUBLISH")
            .arg(keys::ROOMS_CHANNEL)
            .arg(message)
            .ignore();
        let mut conn = self.conn.manager();
        self.conn.guard(pipe.query_async::<()>(&mut conn)).await
    }

    async fn read_snapshot(
        &self,
    ) -> Result<Vec<(NodeId, u64, HashMap<String, RoomState>)>, ClusterError> {
        let mut call = self.snapshot.prepare_invoke();
        call.arg(keys::NODE_ROOMS_PATTERN).arg(":rooms");
        let mut conn = self.conn.manager();
        let raw: Vec<(String, Vec<String>)> = self.conn.guard(call.invoke_async(&mut conn)).await?;
        let mut out = Vec::with_capacity(raw.len());
        for (key, fields) in raw {
            let Some(node) = keys::node_of_rooms(&key) else {
                continue;
            };
            let mut seq = 0;
            let mut rooms = HashMap::new();
            for pair in fields.chunks_exact(2) {
                let (field, value) = (&pair[0], &pair[1]);
                if field == SEQ_FIELD {
                    seq = value.parse().unwrap_or(0);
                } else if let Some(room) = field.strip_prefix(ROOM_FIELD) {
                    match serde_json::from_str::<RoomState>(value) {
                        Ok(state) if state.count > 0 => {
                            rooms.insert(room.to_owned(), state);
                        }
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%key, field, %error, "bad room entry"),
                    }
                }
            }
            out.push((node, seq, rooms));
        }
        Ok(out)
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn recount(&self, nodes: &HashMap<NodeId, NodeRooms>) {
        let total = nodes.values().map(|n| n.rooms.len()).sum();
        self.entries.store(total, Ordering::Release);
    }
}

/// Adds one node's report of `room` to the aggregate.
fn merge(active: &mut Option<ActiveRoom>, room: &str, node: &NodeId, state: &RoomState) {
    let entry = active.get_or_insert_with(|| ActiveRoom {
        conversation_id: room.to_owned(),
        home_node: None,
        participant_count: 0,
        detail: None,
    });
    entry.participant_count = entry.participant_count.saturating_add(state.count);
    let from_home = state.home.as_ref() == Some(node);
    if (entry.home_node.is_none() || from_home)
        && let Some(home) = &state.home
    {
        entry.home_node = Some(home.clone());
    }
    if from_home || entry.detail.is_none() {
        entry.detail = state.detail.clone().or(entry.detail.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn merge_sums_and_prefers_the_home_report() {
        let mut active = None;
        let a = RoomState {
            home: Some(id("x")),
            count: 2,
            detail: None,
        };
        let b = RoomState {
            home: Some(id("b")),
            count: 3,
            detail: Some(serde_json::json!(["b"])),
        };
        merge(&mut active, "c1", &id("a"), &a);
        merge(&mut active, "c1", &id("b"), &b);
        let active = active.unwrap_or_else(|| panic!("merged"));
        assert_eq!(active.participant_count, 5);
        assert_eq!(active.home_node, Some(id("b")));
        assert_eq!(active.detail, Some(serde_json::json!(["b"])));
    }

    #[test]
    fn room_messages_have_a_stable_shape() {
        let json = serde_json::to_string(&RoomMessage::Room {
            node: id("a"),
            seq: 7,
            room: "c1".into(),
            home: Some(id("b")),
            count: 2,
            detail: None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            json,
            r#"{"kind":"room","node":"a","seq":7,"room":"c1","home":"b","count":2}"#
        );
    }
}
