//! A cluster node: the connection, the registry, the room authority, the replica, RPC and
//! messaging, and the background tasks that keep them current.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;
use tokio::time::MissedTickBehavior;

use crate::connection::{Connectivity, RedisConnection, Subscription};
use crate::registry::{NodeEvent, NodeRegistry};
use crate::{
    AdapterDriver, ClusterConfig, ClusterError, Messaging, NodeId, RoomAuthority, RoomReplica, Rpc,
    keys,
};

/// Queue sizes of the internal subscriptions.
const NODES_BUFFER: usize = 1024;
const ROOMS_BUFFER: usize = 16 * 1024;
const RPC_BUFFER: usize = 4096;
const BROADCAST_BUFFER: usize = 4096;

/// One Huddle node in cluster mode. Cheap to clone; the background tasks stop when the last
/// clone is dropped (without a leave: to the other nodes that looks like a crash, and they
/// report it dead when its lease expires) or at [`Node::leave`].
#[derive(Clone, Debug)]
pub struct Node {
    inner: Arc<Inner>,
}

/// State shared by the clones of a [`Node`].
#[derive(Debug)]
struct Inner {
    config: ClusterConfig,
    id: NodeId,
    conn: RedisConnection,
    registry: Arc<NodeRegistry>,
    authority: Arc<RoomAuthority>,
    replica: Arc<RoomReplica>,
    rpc: Arc<Rpc>,
    messaging: Arc<Messaging>,
    tasks: Vec<AbortHandle>,
    left: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The components the background tasks work on.
#[derive(Clone)]
struct Parts {
    conn: RedisConnection,
    registry: Arc<NodeRegistry>,
    authority: Arc<RoomAuthority>,
    replica: Arc<RoomReplica>,
}

impl Node {
    /// Joins the cluster described by `config`.
    ///
    /// Connects to Redis (one attempt, bounded by the command timeout, before returning),
    /// subscribes to the cluster channels and starts the renew loop. If Redis is unreachable
    /// the node still starts, [`Connectivity::Down`], and registers, resynchronises and
    /// publishes its state as soon as Redis answers. Fails only on an invalid configuration.
    pub async fn start(config: ClusterConfig) -> Result<Self, ClusterError> {
        config.validate()?;
        let (id, generated) = match &config.node_id {
            Some(id) => (id.clone(), false),
            None => (NodeId::generate(), true),
        };
        tracing::info!(node = %id, generated, "cluster node starting");
        let conn = RedisConnection::connect(&config).await?;
        let registry = Arc::new(NodeRegistry::new(
            id.clone(),
            conn.clone(),
            config.lease_ttl,
        ));
        let authority = Arc::new(RoomAuthority::new(
            id.clone(),
            conn.clone(),
            config.lease_ttl,
        ));
        let replica = Arc::new(RoomReplica::new(id.clone(), conn.clone(), config.lease_ttl));
        let rpc = Arc::new(Rpc::new(id.clone(), conn.clone(), config.rpc_timeout));
        let messaging = Arc::new(Messaging::new(id.clone(), conn.clone()));

        let mut tasks = Vec::new();
        let nodes = conn.subscribe(keys::NODES_CHANNEL, NODES_BUFFER).await?;
        let registry_rx = registry.clone();
        tasks.push(consume(nodes, move |p| registry_rx.on_message(p)));
        let rooms = conn.subscribe(keys::ROOMS_CHANNEL, ROOMS_BUFFER).await?;
        let replica_rx = replica.clone();
        tasks.push(consume(rooms, move |p| replica_rx.on_message(p)));
        let requests = conn.subscribe(&keys::node_rpc(&id), RPC_BUFFER).await?;
        let rpc_rx = rpc.clone();
        tasks.push(consume(requests, move |p| rpc_rx.on_request(p)));
        let replies = conn.subscribe(&keys::node_reply(&id), RPC_BUFFER).await?;
        let rpc_rx = rpc.clone();
        tasks.push(consume(replies, move |p| rpc_rx.on_reply(p)));
        let broadcasts = conn
            .subscribe(keys::BROADCAST_CHANNEL, BROADCAST_BUFFER)
            .await?;
        let messaging_rx = messaging.clone();
        tasks.push(consume(broadcasts, move |p| messaging_rx.on_message(p)));

        let parts = Parts {
            conn: conn.clone(),
            registry: registry.clone(),
            authority: authority.clone(),
            replica: replica.clone(),
        };
        tasks.push(tokio::spawn(drop_dead_nodes(parts.clone(), registry.events())).abort_handle());
        tasks.push(tokio::spawn(supervise(parts, config.renew_interval)).abort_handle());

        Ok(Self {
            inner: Arc::new(Inner {
                config,
                id,
                conn,
                registry,
                authority,
                replica,
                rpc,
                messaging,
                tasks,
                left: AtomicBool::new(false),
            }),
        })
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.inner.id
    }

    /// The configuration the node was started with.
    pub fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }

    /// The node's Redis connection.
    pub fn connection(&self) -> &RedisConnection {
        &self.inner.conn
    }

    /// The connectivity state (for `/readyz`); `changed()` fires on every transition.
    pub fn connectivity(&self) -> watch::Receiver<Connectivity> {
        self.inner.conn.connectivity()
    }

    /// Whether Redis is reachable right now.
    pub fn is_up(&self) -> bool {
        self.inner.conn.is_up()
    }

    /// The node registry (peers, liveness events).
    pub fn registry(&self) -> &NodeRegistry {
        &self.inner.registry
    }

    /// Peer liveness events (shortcut for `registry().events()`).
    pub fn node_events(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.registry.events()
    }

    /// Room homes: claim, renew, release, lookup.
    pub fn authority(&self) -> &RoomAuthority {
        &self.inner.authority
    }

    /// The active-room replica.
    pub fn replica(&self) -> &RoomReplica {
        &self.inner.replica
    }

    /// Node-to-node requests.
    pub fn rpc(&self) -> &Rpc {
        &self.inner.rpc
    }

    /// Cluster-wide and user-addressed messages.
    pub fn messaging(&self) -> &Messaging {
        &self.inner.messaging
    }

    /// A socketioxide-redis driver on this node's connection.
    pub fn adapter_driver(&self) -> AdapterDriver {
        AdapterDriver::new(self.inner.conn.clone())
    }

    /// Graceful leave: stops the background tasks, releases this node's room claims, removes
    /// its rooms from the replicas, deletes its lease and publishes a leave (the other nodes
    /// report it dead at once). Best effort: with Redis down, the leases expire on their own.
    pub async fn leave(&self) -> Result<(), ClusterError> {
        if self.inner.left.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        for task in &self.inner.tasks {
            task.abort();
        }
        let mut result = Ok(());
        for (room, epoch) in self.inner.authority.owned() {
            if let Err(error) = self.inner.authority.release(&room, epoch).await {
                result = Err(error);
            }
        }
        if let Err(error) = self.inner.replica.leave().await {
            result = Err(error);
        }
        if let Err(error) = self.inner.registry.leave().await {
            result = Err(error);
        }
        result
    }
}

/// Feeds every message of `subscription` to `handle`, in order.
fn consume(mut subscription: Subscription, handle: impl Fn(&[u8]) + Send + 'static) -> AbortHandle {
    tokio::spawn(async move {
        while let Some((_, payload)) = subscription.recv().await {
            handle(&payload);
        }
    })
    .abort_handle()
}

/// Removes dead nodes' rooms from the replica; resynchronises it if events were missed.
async fn drop_dead_nodes(parts: Parts, mut events: broadcast::Receiver<NodeEvent>) {
    loop {
        match events.recv().await {
            Ok(NodeEvent::Dead(node)) => parts.replica.remove_node(&node),
            Ok(NodeEvent::Up(_)) => {}
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "node events missed; resynchronising the replica");
                if let Err(error) = parts.replica.resync(&parts.registry).await {
                    tracing::warn!(%error, "replica resync failed");
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The renew loop: every `interval` renews the lease, the claims and the room hash and checks
/// the peers; on every reconnect resynchronises everything.
async fn supervise(parts: Parts, interval: Duration) {
    let mut connectivity = parts.conn.connectivity();
    connectivity.mark_changed();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if parts.conn.is_up() {
                    parts.tick().await;
                }
            }
            changed = connectivity.changed() => {
                if changed.is_err() {
                    return;
                }
                let up = *connectivity.borrow_and_update() == Connectivity::Up;
                if up {
                    parts.on_up().await;
                }
            }
        }
    }
}

impl Parts {
    /// One renew tick.
    async fn tick(&self) {
        log_failure("lease renewal", self.registry.renew().await);
        log_failure("claim renewal", self.authority.renew_all().await);
        log_failure("room hash renewal", self.replica.renew().await);
        log_failure("peer check", self.registry.check_peers().await);
    }

    /// The connection is (again) up: register, re-assert claims, check peers (after a grace
    /// for the outage), resynchronise the replica and republish this node's rooms.
    async fn on_up(&self) {
        tracing::info!(node = %self.registry.id(), "connected: resynchronising");
        self.registry.grant_grace();
        log_failure("lease renewal", self.registry.renew().await);
        log_failure("claim renewal", self.authority.renew_all().await);
        log_failure("peer check", self.registry.check_peers().await);
        log_failure("replica resync", self.replica.resync(&self.registry).await);
    }
}

fn log_failure(what: &str, result: Result<(), ClusterError>) {
    match result {
        Ok(()) => {}
        Err(ClusterError::Unavailable) => tracing::debug!(what, "skipped: redis unavailable"),
        Err(error) => tracing::warn!(what, %error, "cluster maintenance failed"),
    }
}
