//! Room authority: which node is a room's home, claimed atomically with a lease and a fencing
//! epoch.
//!
//! `huddle:room:{id}:home` holds `"{epoch}:{node}"` with a `PX` lease; the epoch comes from
//! `INCR huddle:room:{id}:epoch` in the same script, so it increases with every successful
//! claim of the room. Of any number of concurrent claims exactly one wins; the others learn the
//! winner. The winner's claims are renewed on every renew tick; a claim whose key was taken
//! over is reported [`AuthorityEvent::Lost`]. A node only deletes a home record that still holds
//! its own node id and epoch.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use redis::Script;
use tokio::sync::broadcast;

use crate::connection::RedisConnection;
use crate::registry::millis;
use crate::{ClusterError, NodeId, keys};

/// The home of a room: its authoritative node and the fencing epoch of that node's claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomHome {
    /// The node that owns the room.
    pub node: NodeId,
    /// The claim's fencing epoch: greater than every earlier claim's of the same room.
    pub epoch: u64,
}

impl RoomHome {
    /// Parses the stored `"{epoch}:{node}"`.
    fn parse(value: &str) -> Result<Self, ClusterError> {
        let invalid = || ClusterError::Redis(format!("malformed room home record {value:?}"));
        let (epoch, node) = value.split_once(':').ok_or_else(invalid)?;
        Ok(Self {
            node: NodeId::new(node).map_err(|_| invalid())?,
            epoch: epoch.parse().map_err(|_| invalid())?,
        })
    }

    /// The stored form, `"{epoch}:{node}"`.
    fn record(&self) -> String {
        format!("{}:{}", self.epoch, self.node)
    }
}

/// The outcome of [`RoomAuthority::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node is now the room's home, with a new epoch.
    Won(RoomHome),
    /// The room already has a home (possibly this node, from an earlier claim).
    Held(RoomHome),
}

impl Claim {
    /// The room's home, whoever won.
    pub fn home(&self) -> &RoomHome {
        match self {
            Self::Won(home) | Self::Held(home) => home,
        }
    }

    /// Whether this claim created the home record.
    pub fn is_won(&self) -> bool {
        matches!(self, Self::Won(_))
    }
}

/// Something happened to one of this node's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorityEvent {
    /// The claim could not be renewed: another node holds the room now (or a newer epoch was
    /// issued), so this node must stop acting as the room's home.
    Lost {
        /// The room.
        room: String,
        /// The epoch this node held.
        epoch: u64,
    },
}

/// `KEYS = [home, epoch]`, `ARGV = [node, ttl_ms]` → `{1, record}` when claimed,
/// `{0, record}` when already held.
const CLAIM: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  return {0, current}
end
local epoch = redis.call('INCR', KEYS[2])
local record = epoch .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], record, 'PX', ARGV[2])
return {1, record}
";

/// `KEYS = [home1, epoch1, home2, epoch2, ...]`, `ARGV = [node, ttl_ms, epoch1, epoch2, ...]`
/// → one 1 (renewed) or 0 (lost) per room. A record that vanished (lease expired, or Redis
/// restarted without persistence) is re-created if no newer epoch was issued meanwhile, and
/// the epoch counter is raised to it so it keeps increasing.
const RENEW: &str = r"
local out = {}
for i = 1, #KEYS, 2 do
  local epoch = ARGV[2 + (i + 1) / 2]
  local record = epoch .. ':' .. ARGV[1]
  local current = redis.call('GET', KEYS[i])
  if current == record then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    out[#out + 1] = 1
  elseif not current then
    local issued = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
    if issued <= tonumber(epoch) then
      if issued < tonumber(epoch) then
        redis.call('SET', KEYS[i + 1], epoch)
      end
      redis.call('SET', KEYS[i], record, 'PX', ARGV[2])
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
  else
    out[#out + 1] = 0
  end
end
return out
";

/// `KEYS = [home]`, `ARGV = [record]` → 1 when deleted, 0 when not the owner.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Rooms renewed per script call.
const RENEW_BATCH: usize = 200;

/// Capacity of the [`AuthorityEvent`] broadcast.
const EVENT_CAPACITY: usize = 256;

/// Claims, renews, releases and looks up room homes. Obtained from [`crate::Node::authority`].
pub struct RoomAuthority {
    id: NodeId,
    conn: RedisConnection,
    lease_ttl: Duration,
    /// Rooms this node won and still holds: room → epoch. Renewed on every tick.
    owned: Mutex<HashMap<String, u64>>,
    /// Serialises renewals and releases, so a renewal in flight cannot re-create a record that
    /// a release just deleted.
    renewing: tokio::sync::Mutex<()>,
    events: broadcast::Sender<AuthorityEvent>,
    claim: Script,
    renew: Script,
    release: Script,
}

impl std::fmt::Debug for RoomAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomAuthority")
            .field("id", &self.id)
            .field("owned", &self.owned.lock().len())
            .finish_non_exhaustive()
    }
}

impl RoomAuthority {
    pub(crate) fn new(id: NodeId, conn: RedisConnection, lease_ttl: Duration) -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Self {
            id,
            conn,
            lease_ttl,
            owned: Mutex::new(HashMap::new()),
            renewing: tokio::sync::Mutex::new(()),
            events,
            claim: Script::new(CLAIM),
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
        }
    }

    /// Claims the home of `room` for this node, atomically: [`Claim::Won`] with a new epoch if
    /// the room had no home, else [`Claim::Held`] with the current home. A won claim is renewed
    /// automatically until [`RoomAuthority::release`] or until it is lost.
    pub async fn claim(&self, room: &str) -> Result<Claim, ClusterError> {
        let mut conn = self.conn.manager();
        let mut call = self.claim.key(keys::room_home(room));
        call.key(keys::room_epoch(room))
            .arg(self.id.as_str())
            .arg(millis(self.lease_ttl));
        let (won, record): (i64, String) = self.conn.guard(call.invoke_async(&mut conn)).await?;
        let home = RoomHome::parse(&record)?;
        if won == 1 {
            self.owned.lock().insert(room.to_owned(), home.epoch);
            tracing::info!(node = %self.id, room, epoch = home.epoch, "room claimed");
            Ok(Claim::Won(home))
        } else {
            tracing::debug!(node = %self.id, room, home = %home.node, epoch = home.epoch, "room already held");
            Ok(Claim::Held(home))
        }
    }

    /// The current home of `room`, if any (one Redis round trip).
    pub async fn lookup(&self, room: &str) -> Result<Option<RoomHome>, ClusterError> {
        let mut conn = self.conn.manager();
        let mut cmd = redis::cmd("GET");
        cmd.arg(keys::room_home(room));
        let record: Option<String> = self.conn.guard(cmd.query_async(&mut conn)).await?;
        record.as_deref().map(RoomHome::parse).transpose()
    }

    /// Renews this node's claim of `room` with `epoch` now (claims are also renewed on every
    /// tick); `false` if the claim is lost or this node does not hold it (released, or never
    /// won).
    pub async fn renew(&self, room: &str, epoch: u64) -> Result<bool, ClusterError> {
        let _renewing = self.renewing.lock().await;
        if self.owned_epoch(room) != Some(epoch) {
            return Ok(false);
        }
        let renewed = self.renew_batch(&[(room.to_owned(), epoch)]).await?;
        Ok(renewed.first().copied().unwrap_or(false))
    }

    /// Releases this node's claim of `room` with `epoch`: stops renewing it and deletes the
    /// home record if it still holds this node and `epoch`. Returns `false` (and deletes
    /// nothing) when another node or another epoch holds the room.
    pub async fn release(&self, room: &str, epoch: u64) -> Result<bool, ClusterError> {
        let _renewing = self.renewing.lock().await;
        {
            let mut owned = self.owned.lock();
            if owned.get(room) == Some(&epoch) {
                owned.remove(room);
            }
        }
        let record = RoomHome {
            node: self.id.clone(),
            epoch,
        }
        .record();
        let mut conn = self.conn.manager();
        let mut call = self.release.key(keys::room_home(room));
        call.arg(record);
        let deleted: i64 = self.conn.guard(call.invoke_async(&mut conn)).await?;
        if deleted == 1 {
            tracing::info!(node = %self.id, room, epoch, "room released");
        } else {
            tracing::warn!(node = %self.id, room, epoch, "release refused: not the owner");
        }
        Ok(deleted == 1)
    }

    /// The epoch of this node's claim of `room`, if it holds one (no Redis round trip).
    pub fn owned_epoch(&self, room: &str) -> Option<u64> {
        self.owned.lock().get(room).copied()
    }

    /// Every room this node holds, with its epoch, sorted by room.
    pub fn owned(&self) -> Vec<(String, u64)> {
        let mut owned: Vec<(String, u64)> = self
            .owned
            .lock()
            .iter()
            .map(|(room, epoch)| (room.clone(), *epoch))
            .collect();
        owned.sort();
        owned
    }

    /// Lost claims from now on.
    pub fn events(&self) -> broadcast::Receiver<AuthorityEvent> {
        self.events.subscribe()
    }

    /// Renews every claim this node holds; lost ones are dropped and reported.
    pub(crate) async fn renew_all(&self) -> Result<(), ClusterError> {
        let _renewing = self.renewing.lock().await;
        let owned = self.owned();
        for batch in owned.chunks(RENEW_BATCH) {
            self.renew_batch(batch).await?;
        }
        Ok(())
    }

    async fn renew_batch(&self, claims: &[(String, u64)]) -> Result<Vec<bool>, ClusterError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let mut call = self.renew.prepare_invoke();
        call.arg(self.id.as_str()).arg(millis(self.lease_ttl));
        for (room, epoch) in claims {
            call.key(keys::room_home(room))
                .key(keys::room_epoch(room))
                .arg(*epoch);
        }
        let mut conn = self.conn.manager();
        let renewed: Vec<i64> = self.conn.guard(call.invoke_async(&mut conn)).await?;
        let renewed: Vec<bool> = renewed.into_iter().map(|r| r == 1).collect();
        for ((room, epoch), ok) in claims.iter().zip(&renewed) {
            if *ok {
                continue;
            }
            let removed = {
                let mut owned = self.owned.lock();
                let held = owned.get(room) == Some(epoch);
                if held {
                    owned.remove(room);
                }
                held
            };
            if removed {
                tracing::warn!(node = %self.id, room, epoch, "room claim lost");
                let _ = self.events.send(AuthorityEvent::Lost {
                    room: room.clone(),
                    epoch: *epoch,
                });
            }
        }
        Ok(renewed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_records_round_trip() {
        let home = RoomHome {
            node: NodeId::new("n1").unwrap_or_else(|e| panic!("{e}")),
            epoch: 42,
        };
        assert_eq!(home.record(), "42:n1");
        assert_eq!(RoomHome::parse("42:n1").ok(), Some(home));
        assert!(RoomHome::parse("x:n1").is_err());
        assert!(RoomHome::parse("42").is_err());
        assert!(RoomHome::parse("1:a:b").is_err());
    }
}
