//! Cluster mode wiring (`--redis-url`): how this node works with the others through the
//! `cluster` crate.
//!
//! * A room lives on one **home node**, claimed in Redis with a lease and a fencing epoch
//!   ([`forward`]): the home node's `CallState` holds every participant. A socket of another
//!   node that enters the room is a *proxy* there; its node forwards the socket's room
//!   requests to the home node and gets the acks back, and the home node's events for it come
//!   back as [`wire::ToNode::Deliver`].
//! * Events addressed to users (`group_call_*`, mesh invitations) are emitted to this node's
//!   sockets and relayed through the socketioxide-redis adapter to those users' Socket.IO
//!   rooms on the other nodes: each device gets them once ([`deliver`], [`crate::hub`]).
//! * Every node keeps a replica of the cluster's active rooms, published by their home nodes
//!   with their listed participants ([`active`]): `join` stays memory-first.

pub mod active;
pub mod deliver;
pub mod forward;
pub mod media;
pub mod presence;
pub mod wire;

use crate::app::App;
use crate::config::Config;
use anyhow::Context;
use cluster::{ClusterConfig, Node, NodeEvent, NodeId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// This node's membership in the cluster. Present in [`App`] only in cluster mode.
pub struct ClusterLink {
    node: Node,
    /// Sockets of other nodes taking part in calls homed here.
    proxies: Mutex<HashMap<String, Proxy>>,
    /// Sockets of this node ringing in (or answering) a 1:1 call homed elsewhere → (home,
    /// call id).
    direct_home: Mutex<HashMap<String, (NodeId, String)>>,
    /// Sockets of this node in rooms homed elsewhere → (room, home node).
    forwarded: Mutex<HashMap<String, (String, NodeId)>>,
    /// Sockets of this node in mesh rooms homed elsewhere → home node.
    mesh_forwarded: Mutex<HashMap<String, NodeId>>,
    /// Ordered outgoing relays and deliveries.
    outbox: mpsc::UnboundedSender<deliver::Outgoing>,
    outbox_rx: Mutex<Option<mpsc::UnboundedReceiver<deliver::Outgoing>>>,
    /// Media of rooms spanning nodes: local media of sockets in rooms homed elsewhere, and
    /// the pipes between nodes.
    media: media::MediaLink,
    /// Rooms whose replica entry must be republished.
    rooms: mpsc::UnboundedSender<String>,
    rooms_rx: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink")
            .field("node", self.node.id())
            .finish_non_exhaustive()
    }
}

/// Another node's socket that takes part in a call homed here.
#[derive(Debug, Clone)]
struct Proxy {
    node: NodeId,
    since: std::time::Instant,
}

/// Proxies that take part in nothing are forgotten after this long (the wait covers a
/// forwarded `createRoom` between the proxy's creation and its join).
const PROXY_IDLE: Duration = Duration::from_secs(10);

/// The cluster view of `/debug/stats` and `/metrics`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStats {
    /// This node's id.
    pub node_id: String,
    /// Whether Redis is reachable.
    pub redis_up: bool,
    /// Nodes alive, this one included.
    pub nodes_alive: usize,
    /// Rooms whose home is this node.
    pub rooms_homed_here: usize,
    /// Active rooms of the whole cluster.
    pub cluster_rooms: usize,
    /// Participants of rooms homed here whose sockets are on other nodes.
    pub remote_participants: usize,
    /// Sockets of this node in rooms homed on other nodes.
    pub forwarded_sockets: usize,
    /// Media pipe transports of this node to other nodes (one per room and peer).
    pub pipe_transports: usize,
    /// WebRTC transports on this node of its sockets in rooms homed elsewhere (not in the
    /// top-level `transports`, which counts rooms homed here).
    pub local_transports: usize,
    /// Producers on this node of its sockets in rooms homed elsewhere.
    pub local_producers: usize,
    /// Consumers on this node of its sockets in rooms homed elsewhere.
    pub local_consumers: usize,
}

impl ClusterLink {
    /// Start this node's cluster layer as the configuration names, or `None` without
    /// `--redis-url`. An unreachable Redis is not fatal: the node starts and connects when it
    /// can.
    pub async fn start_node(config: &Config) -> anyhow::Result<Option<Node>> {
        let Some(url) = &config.redis_url else {
            return Ok(None);
        };
        let renew = Duration::from_millis(config.cluster_renew_ms.max(100));
        let mut cluster = ClusterConfig::new(url.clone()).with_lease(renew, renew * 3);
        if let Some(id) = &config.node_id {
            cluster = cluster.with_node_id(NodeId::new(id).context("--node-id")?);
        }
        let node = Node::start(cluster).await.context("joining the cluster")?;
        tracing::info!(node = %node.id(), up = node.is_up(), "cluster mode: node started");
        Ok(Some(node))
    }

    /// This node's link on its started cluster layer.
    pub fn new(node: Node) -> Arc<Self> {
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let (rooms, rooms_rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            node,
            proxies: Mutex::new(HashMap::new()),
            direct_home: Mutex::new(HashMap::new()),
            forwarded: Mutex::new(HashMap::new()),
            mesh_forwarded: Mutex::new(HashMap::new()),
            media: media::MediaLink::default(),
            outbox,
            outbox_rx: Mutex::new(Some(outbox_rx)),
            rooms,
            rooms_rx: Mutex::new(Some(rooms_rx)),
        })
    }

    /// Start the tasks that serve the other nodes (once, after the [`App`] exists).
    pub fn run(self: &Arc<Self>, app: Weak<App>, hub: Arc<dyn crate::hub::SocketHub>) {
        if let Some(rx) = self.outbox_rx.lock().take() {
            tokio::spawn(deliver::send_loop(self.clone(), hub, rx));
        }
        if let Some(rx) = self.rooms_rx.lock().take() {
            tokio::spawn(active::publish_loop(self.clone(), app.clone(), rx));
        }
        if let Some(requests) = self.node.rpc().requests() {
            tokio::spawn(forward::serve_loop(self.clone(), app.clone(), requests));
        }
        tokio::spawn(sweep_loop(self.clone(), app.clone()));
        tokio::spawn(claims_lost(app.clone(), self.node.authority().events()));
        tokio::spawn(node_events(self.clone(), app, self.node.node_events()));
    }

    /// This node's id.
    pub fn node_id(&self) -> &NodeId {
        self.node.id()
    }

    /// Whether Redis is reachable now.
    pub fn is_up(&self) -> bool {
        self.node.is_up()
    }

    /// The cluster layer.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The node a proxy socket belongs to.
    pub(crate) fn proxy_node(&self, sid: &str) -> Option<NodeId> {
        self.proxies.lock().get(sid).map(|p| p.node.clone())
    }

    /// Record `sid` (of `node`) as a proxy socket of this node.
    pub(crate) fn add_proxy(&self, sid: &str, node: NodeId) {
        self.proxies.lock().insert(
            sid.to_owned(),
            Proxy {
                node,
                since: std::time::Instant::now(),
            },
        );
    }

    /// A room of this node changed (participants joined or left, or it ended): republish its
    /// replica entry.
    pub(crate) fn room_changed(&self, room: &str) {
        let _ = self.rooms.send(room.to_owned());
    }

    /// Tell the homes of the rooms this node's sockets are in (homed elsewhere) about their
    /// connection qualities that changed (measured here, where their transports are).
    pub(crate) fn report_local_quality(&self) {
        for (sid, quality) in self.media.quality_changes() {
            let home = self
                .forwarded
                .lock()
                .get(&sid)
                .map(|(_, home)| home.clone());
            if let Some(home) = home {
                self.send_to(home, wire::ToNode::Quality { sid, quality });
            }
        }
    }

    /// Counts for `/debug/stats` and `/metrics`.
    pub fn stats(&self, rooms_here: usize) -> ClusterStats {
        let (local_transports, local_producers, local_consumers) = self.media.local_counts();
        ClusterStats {
            local_transports,
            local_producers,
            local_consumers,
            node_id: self.node.id().to_string(),
            redis_up: self.node.is_up(),
            nodes_alive: self.node.registry().alive_nodes().len(),
            rooms_homed_here: rooms_here,
            cluster_rooms: self.node.replica().active_rooms().len(),
            remote_participants: self.proxies.lock().len(),
            forwarded_sockets: self.forwarded.lock().len(),
            pipe_transports: self.media.pipe_count(),
        }
    }

    /// Graceful leave (SIGTERM): send what is queued, then delete this node's lease and room
    /// state so the others see it gone at once.
    pub async fn leave(&self) {
        deliver::flush(self).await;
        if let Err(e) = self.node.leave().await {
            tracing::warn!(error = %e, "cluster leave not published");
        }
    }
}

/// Peers that die: their proxies leave the rooms homed here, and this node's sockets in
/// rooms homed there are told the room is gone.
async fn node_events(
    link: Arc<ClusterLink>,
    app: Weak<App>,
    mut events: tokio::sync::broadcast::Receiver<NodeEvent>,
) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "node events lagged");
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        let Some(app) = app.upgrade() else { break };
        match event {
            NodeEvent::Up(peer) => tracing::info!(peer = %peer, "cluster: node up"),
            NodeEvent::Dead(peer) => {
                tracing::warn!(peer = %peer, "cluster: node dead");
                forward::peer_dead(&app, &link, &peer);
            }
        }
    }
}

/// A claim this node held was taken over (it was cut off from Redis past its lease and the
/// room was claimed elsewhere): its copy of the room goes ([`call_domain::CallState::drop_room_copy`]),
/// so the room has one home again. Participants may `createRoom` again and join the new home.
async fn claims_lost(
    app: Weak<App>,
    mut events: tokio::sync::broadcast::Receiver<cluster::AuthorityEvent>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "authority events lagged");
                continue;
            }
            Err(RecvError::Closed) => break,
        };
        let Some(app) = app.upgrade() else { break };
        let cluster::AuthorityEvent::Lost { room, epoch } = event;
        tracing::error!(
            room,
            epoch,
            "cluster: room claim lost to another node; closing it here"
        );
        if room.starts_with("mesh:") {
            continue;
        }
        let effects = app.state.lock().drop_room_copy(&room);
        app.apply(effects);
    }
}

/// Forgets proxies that have taken part in nothing for [`PROXY_IDLE`] (the callee devices of
/// a 1:1 call that another device answered, for instance).
async fn sweep_loop(link: Arc<ClusterLink>, app: Weak<App>) {
    let mut tick = tokio::time::interval(PROXY_IDLE);
    let mut idle_claims: std::collections::HashSet<String> = Default::default();
    loop {
        tick.tick().await;
        let Some(app) = app.upgrade() else { break };
        // Claims of rooms no longer active here (mesh rooms, whose end has no lifecycle
        // event, and any left behind) are released after two idle sweeps in a row, so a
        // claim just won for a join still in flight is never given up.
        let owned = link.node.authority().owned();
        let idle_now: std::collections::HashSet<String> = {
            let st = app.state.lock();
            owned
                .iter()
                .filter(|(room, _)| match room.strip_prefix("mesh:") {
                    Some(mesh) => st.mesh().room(mesh).is_none(),
                    None => st.room(room).is_none(),
                })
                .map(|(room, _)| room.clone())
                .collect()
        };
        for (room, epoch) in &owned {
            let still_idle = {
                let st = app.state.lock();
                match room.strip_prefix("mesh:") {
                    Some(mesh) => st.mesh().room(mesh).is_none(),
                    None => st.room(room).is_none(),
                }
            };
            if still_idle && idle_now.contains(room) && idle_claims.contains(room) {
                match link.node.authority().release(room, *epoch).await {
                    Ok(released) => {
                        tracing::info!(room, epoch, released, "cluster: idle claim released")
                    }
                    Err(error) => tracing::warn!(room, %error, "cluster: idle claim not released"),
                }
            }
        }
        idle_claims = idle_now;
        let idle: Vec<String> = {
            let proxies = link.proxies.lock();
            let st = app.state.lock();
            proxies
                .iter()
                .filter(|(sid, p)| p.since.elapsed() >= PROXY_IDLE && !st.socket_engaged(sid))
                .map(|(sid, _)| sid.clone())
                .collect()
        };
        for sid in idle {
            forward::proxy_gone(&app, &link, &sid);
        }
        // Pipe ends of rooms that ended here (their peers close theirs when unused).
        let st = app.state.lock();
        link.media.sweep(|room| st.room(room).is_some());
    }
}
