//! Media of rooms that span nodes: a socket's WebRTC transports, producers and consumers live
//! on the socket's own node, even when its room is homed elsewhere, and media crosses nodes
//! over mediasoup PipeTransports (SRTP and RTX on).
//!
//! * **Satellite side** (the socket's node): per socket, what it created on the room's local
//!   router; per room, the local router and the producers imported from the home.
//!   `createTransport`, `connectTransport`, `restartIce`, `produce`, `consume` and the
//!   consumer controls are served here (`serve`); everything else is still forwarded.
//! * **Pipes**: one per (room, peer node) on each side. The satellite opens it on first need
//!   (first `produce`, or first `consume` of a producer it does not have) with
//!   [`ToNode::PipeOpen`]. It closes its end, and tells the home ([`ToNode::PipeClose`]),
//!   when its last socket of the room is gone; the home drops its ends when the peer dies or
//!   the room is no longer active there.
//! * **Star through the home**: a satellite's producer is exported to the home at once
//!   ([`ToNode::RemoteProduce`]): the home imports it as the proxy participant's producer,
//!   announces it (`newProducer`) and every other node consumes that copy. A satellite asks
//!   the home for each producer it consumes ([`ToNode::ConsumeView`]: the checks, the
//!   producer's state and, when the satellite does not have it yet, an export). A producer of
//!   node B consumed on node B never leaves B.
//! * Pause, resume and close of an exported producer are reported over the cluster
//!   ([`ToNode::PipeChange`]) and applied to the importing node's copy.

use super::ClusterLink;
use super::wire::{ConsumeView, ConsumeViewAnswer, PipeChangeKind, RemoteProduce, ToNode};
use crate::app::App;
use crate::handlers::{reply, reply_error};
use crate::socket::Request;
use call_domain::{CallError, ProducerMeta};
use cluster::{ClusterError, IncomingRequest, NodeId};
use media_sfu::{
    ConsumerType, ExportChange, Layers, MediaConsumer, MediaProducer, MediaTransport, NodePipe,
    PipeEndpoint, RoomRouter, SfuError,
};
use parking_lot::Mutex;
use serde_json::Value;
use signal_proto::errors;
use signal_proto::events as ev;
use signal_proto::producer::ProducerSource;
use signal_proto::requests::TransportDirection;
use signal_proto::requests::{
    ConnectTransportRequest, ConsumeRequest, ConsumerIdRequest, CreateTransportRequest,
    ProduceRequest, RestartIceRequest, ResumeConsumerRequest, SetConsumerPriorityRequest,
    SetPreferredLayersRequest, decode,
};
use signal_proto::responses::{
    ConsumeResponse, ProduceResponse, RestartIceResponse, SuccessResponse,
};
use signal_proto::server_events::ConsumerLayersChanged;
use std::collections::HashMap;
use std::sync::Arc;

/// Room events a socket's own node serves for a room homed elsewhere.
pub(crate) const LOCAL_EVENTS: &[&str] = &[
    ev::CREATE_TRANSPORT,
    ev::CONNECT_TRANSPORT,
    ev::RESTART_ICE,
    ev::PRODUCE,
    ev::CONSUME,
    ev::RESUME_CONSUMER,
    ev::PAUSE_CONSUMER,
    ev::SET_CONSUMER_PREFERRED_LAYERS,
    ev::SET_CONSUMER_PRIORITY,
    ev::REQUEST_KEY_FRAME,
];

/// Forwarded room events after whose success this node's local media changes.
pub(crate) const AFTER_FORWARDED: &[&str] =
    &[ev::PAUSE_PRODUCER, ev::RESUME_PRODUCER, ev::CLOSE_PRODUCER];

/// The cross-node media of this node (both roles).
#[derive(Default)]
pub(crate) struct MediaLink {
    /// This node's sockets in rooms homed elsewhere.
    sockets: Mutex<HashMap<String, SocketMedia>>,
    /// Rooms homed elsewhere with sockets of this node.
    rooms: Mutex<HashMap<String, RoomMedia>>,
    /// This node's pipe ends: `(room, peer)`.
    pipes: Mutex<HashMap<(String, NodeId), Arc<NodePipe>>>,
    /// Serialises pipe creation and imports (each happens once per id).
    setup: tokio::sync::Mutex<()>,
}

/// What one socket created on its own node.
struct SocketMedia {
    room: String,
    transports: HashMap<String, (Arc<MediaTransport>, TransportDirection)>,
    producers: HashMap<String, Arc<MediaProducer>>,
    consumers: HashMap<String, Arc<MediaConsumer>>,
    /// The connection quality last reported to the home.
    quality: Option<signal_proto::server_events::Quality>,
}

/// One room homed elsewhere, as this node holds it.
struct RoomMedia {
    home: NodeId,
    router: RoomRouter,
    /// Producers of other nodes, imported from the home.
    imports: HashMap<String, Arc<MediaProducer>>,
}

/// An error answered to the client: the protocol's string.
type Refusal = String;

fn refusal(e: impl std::fmt::Display) -> Refusal {
    e.to_string()
}

/// What a cross-node request's failure means for the client.
fn cluster_refusal(error: ClusterError) -> Refusal {
    match error {
        ClusterError::Remote(message) => message,
        other => {
            tracing::warn!(error = %other, "cluster: media request failed");
            errors::CLUSTER_UNAVAILABLE.to_owned()
        }
    }
}

impl MediaLink {
    /// Pipe ends of this node (for `/debug/stats`).
    pub(crate) fn pipe_count(&self) -> usize {
        self.pipes.lock().len()
    }

    /// Transports, producers and consumers this node holds for its sockets in rooms homed
    /// elsewhere (for `/debug/stats`).
    pub(crate) fn local_counts(&self) -> (usize, usize, usize) {
        self.sockets
            .lock()
            .values()
            .fold((0, 0, 0), |(t, p, c), m| {
                (
                    t + m.transports.len(),
                    p + m.producers.len(),
                    c + m.consumers.len(),
                )
            })
    }

    /// `sid` entered `room` homed on `home` (its forwarded `createRoom` succeeded): its media
    /// goes on `router`, this node's router of the room.
    pub(crate) fn enter(&self, sid: &str, room: &str, home: &NodeId, router: RoomRouter) {
        self.rooms
            .lock()
            .entry(room.to_owned())
            .or_insert_with(|| RoomMedia {
                home: home.clone(),
                router,
                imports: HashMap::new(),
            });
        self.sockets.lock().insert(
            sid.to_owned(),
            SocketMedia {
                room: room.to_owned(),
                transports: HashMap::new(),
                producers: HashMap::new(),
                consumers: HashMap::new(),
                quality: None,
            },
        );
    }

    /// `sid` left its room (or disconnected, or the room went): its media closes; the room's
    /// local copy and its pipe go with the last socket.
    pub(crate) fn leave(&self, link: &ClusterLink, sid: &str) {
        let Some(gone) = self.sockets.lock().remove(sid) else {
            return;
        };
        let room = gone.room.clone();
        drop(gone); // closes its consumers, producers and transports
        let still_used = self.sockets.lock().values().any(|m| m.room == room);
        if still_used {
            return;
        }
        let Some(media) = self.rooms.lock().remove(&room) else {
            return;
        };
        let pipe = self
            .pipes
            .lock()
            .remove(&(room.clone(), media.home.clone()));
        if pipe.is_some() {
            tracing::info!(room, home = %media.home, "cluster: media pipe closed (unused)");
            link.send_to(media.home.clone(), ToNode::PipeClose { room });
        }
    }

    /// `peer` died: this node's pipe ends to it close, and the local media of rooms homed
    /// there goes (their sockets were told `removedFromRoom`).
    pub(crate) fn peer_dead(&self, peer: &NodeId) {
        self.pipes.lock().retain(|(_, node), _| node != peer);
        let rooms: Vec<String> = {
            let mut rooms = self.rooms.lock();
            let gone: Vec<String> = rooms
                .iter()
                .filter(|(_, r)| r.home == *peer)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &gone {
                rooms.remove(id);
            }
            gone
        };
        self.sockets.lock().retain(|_, m| !rooms.contains(&m.room));
    }

    /// Drop home-side pipe ends of rooms no longer active here (nor used by local sockets).
    pub(crate) fn sweep(&self, active_here: impl Fn(&str) -> bool) {
        let rooms = self.rooms.lock();
        self.pipes
            .lock()
            .retain(|(room, _), _| active_here(room) || rooms.contains_key(room));
    }

    fn router_of(&self, sid: &str) -> Result<(RoomRouter, String, NodeId), Refusal> {
        let room = self
            .sockets
            .lock()
            .get(sid)
            .map(|m| m.room.clone())
            .ok_or_else(|| refusal(CallError::ParticipantNotFound))?;
        let rooms = self.rooms.lock();
        let media = rooms
            .get(&room)
            .ok_or_else(|| refusal(CallError::ParticipantNotFound))?;
        Ok((media.router.clone(), room, media.home.clone()))
    }

    fn transport(&self, sid: &str, id: &str) -> Result<Arc<MediaTransport>, Refusal> {
        let sockets = self.sockets.lock();
        let media = sockets
            .get(sid)
            .ok_or_else(|| refusal(CallError::ParticipantNotFound))?;
        media
            .transports
            .get(id)
            .map(|(t, _)| t.clone())
            .ok_or_else(|| refusal(CallError::TransportNotFound))
    }

    fn consumer(&self, sid: &str, id: &str) -> Result<Arc<MediaConsumer>, Refusal> {
        let sockets = self.sockets.lock();
        let media = sockets
            .get(sid)
            .ok_or_else(|| refusal(CallError::ParticipantNotFound))?;
        media
            .consumers
            .get(id)
            .cloned()
            .ok_or_else(|| refusal(CallError::ConsumerNotFound))
    }

    /// This node's end of `room`'s pipe to `home`, opened on first need.
    async fn pipe_to(
        &self,
        link: &ClusterLink,
        room: &str,
        home: &NodeId,
        router: &RoomRouter,
    ) -> Result<Arc<NodePipe>, Refusal> {
        let key = (room.to_owned(), home.clone());
        if let Some(pipe) = self.pipes.lock().get(&key) {
            return Ok(pipe.clone());
        }
        let _serial = self.setup.lock().await;
        if let Some(pipe) = self.pipes.lock().get(&key) {
            return Ok(pipe.clone());
        }
        let pipe = router.create_node_pipe().await.map_err(refusal)?;
        watch_exports(link, &pipe, room, home);
        let open = ToNode::PipeOpen {
            room: room.to_owned(),
            endpoint: pipe.local_endpoint(),
        };
        let remote: PipeEndpoint = link
            .node
            .rpc()
            .request(home, &open)
            .await
            .map_err(cluster_refusal)?;
        pipe.connect(&remote).await.map_err(refusal)?;
        tracing::info!(room, peer = %home, pipe = %pipe.id(), "cluster: media pipe opened");
        let pipe = Arc::new(pipe);
        self.pipes.lock().insert(key, pipe.clone());
        Ok(pipe)
    }

    /// The home's side of [`ToNode::PipeOpen`]: this node's end for `(room, from)`, connected
    /// to the sender's; replaces an older one.
    pub(crate) async fn open_from(
        &self,
        link: &ClusterLink,
        router: RoomRouter,
        room: &str,
        from: &NodeId,
        remote: &PipeEndpoint,
    ) -> Result<PipeEndpoint, Refusal> {
        let _serial = self.setup.lock().await;
        let pipe = router.create_node_pipe().await.map_err(refusal)?;
        pipe.connect(remote).await.map_err(refusal)?;
        watch_exports(link, &pipe, room, from);
        let endpoint = pipe.local_endpoint();
        tracing::info!(room, peer = %from, pipe = %pipe.id(), "cluster: media pipe opened by peer");
        self.pipes
            .lock()
            .insert((room.to_owned(), from.clone()), Arc::new(pipe));
        Ok(endpoint)
    }

    /// [`ToNode::PipeClose`]: the peer no longer uses `room`'s pipe.
    pub(crate) fn close_from(&self, room: &str, from: &NodeId) {
        if self
            .pipes
            .lock()
            .remove(&(room.to_owned(), from.clone()))
            .is_some()
        {
            tracing::info!(room, peer = %from, "cluster: media pipe closed by peer");
        }
    }

    /// This node's end of `(room, peer)`, if open.
    pub(crate) fn pipe(&self, room: &str, peer: &NodeId) -> Option<Arc<NodePipe>> {
        self.pipes
            .lock()
            .get(&(room.to_owned(), peer.clone()))
            .cloned()
    }

    /// An import of this node (satellite side) paused, resumed or closed at its origin.
    pub(crate) async fn import_changed(
        &self,
        room: &str,
        producer_id: &str,
        change: PipeChangeKind,
    ) {
        let producer = {
            let mut rooms = self.rooms.lock();
            let Some(media) = rooms.get_mut(room) else {
                return;
            };
            match change {
                PipeChangeKind::Closed => {
                    media.imports.remove(producer_id);
                    return;
                }
                _ => media.imports.get(producer_id).cloned(),
            }
        };
        let Some(producer) = producer else { return };
        let result = match change {
            PipeChangeKind::Paused => producer.pause().await,
            _ => producer.resume().await,
        };
        if let Err(error) = result {
            tracing::debug!(producer = producer_id, %error, "cluster: import change not applied");
        }
    }

    /// One of this node's sockets' own producers was paused or resumed (by its owner through
    /// the home, or by an admin): the local original follows.
    pub(crate) async fn set_local_paused(&self, sid: &str, producer_id: &str, paused: bool) {
        let producer = self
            .sockets
            .lock()
            .get(sid)
            .and_then(|m| m.producers.get(producer_id).cloned());
        let Some(producer) = producer else { return };
        let result = if paused {
            producer.pause().await
        } else {
            producer.resume().await
        };
        if let Err(error) = result {
            tracing::debug!(producer = producer_id, %error, "cluster: local pause not applied");
        }
    }

    /// One of this node's sockets' own producers was closed through the home.
    pub(crate) fn close_local_producer(&self, sid: &str, producer_id: &str) {
        if let Some(m) = self.sockets.lock().get_mut(sid) {
            m.producers.remove(producer_id);
        }
    }

    /// The connection quality of each socket with media here whose quality changed since
    /// the last call: `(sid, quality)`.
    pub(crate) fn quality_changes(&self) -> Vec<(String, signal_proto::server_events::Quality)> {
        let mut sockets = self.sockets.lock();
        let mut changed = Vec::new();
        for (sid, m) in sockets.iter_mut() {
            if m.transports.is_empty() {
                continue;
            }
            let transports: Vec<_> = m.transports.values().map(|(t, _)| t.clone()).collect();
            let producers: Vec<_> = m.producers.values().cloned().collect();
            let consumers: Vec<_> = m.consumers.values().cloned().collect();
            let quality = crate::quality::measure(&transports, &producers, &consumers);
            if m.quality.replace(quality) != Some(quality) {
                changed.push((sid.clone(), quality));
            }
        }
        changed
    }

    /// Whether `sid` has media here (it is in a room homed elsewhere).
    pub(crate) fn has_socket(&self, sid: &str) -> bool {
        self.sockets.lock().contains_key(sid)
    }
}

/// A transport of `sid` (a socket of this node in a room homed elsewhere) stayed failed past
/// the grace period: ask the home to remove the participant. Its `removedFromRoom {reason:
/// "transport_failed"}` comes back as a delivery, which also drops the local media. Whether
/// the transport was one of these and still failed.
pub(crate) fn transport_failed(link: &ClusterLink, sid: &str, transport: &str) -> bool {
    let failed = link
        .media
        .transport(sid, transport)
        .is_ok_and(|t| t.health() == media_sfu::TransportHealth::Failed);
    if !failed {
        return false;
    }
    let home = link.forwarded.lock().get(sid).map(|(_, home)| home.clone());
    if let Some(home) = home {
        link.send_to(
            home,
            ToNode::TransportFailed {
                sid: sid.to_owned(),
            },
        );
    }
    true
}

/// The home's side of [`ToNode::Quality`]: only for a proxy of the sender.
pub(crate) fn proxy_quality(
    app: &App,
    link: &ClusterLink,
    from: &NodeId,
    sid: &str,
    quality: signal_proto::server_events::Quality,
) {
    if link.proxy_node(sid).as_ref() != Some(from) {
        return;
    }
    let effects = app.state.lock().set_remote_quality(sid, quality);
    app.apply(effects);
}

/// The home's side of [`ToNode::TransportFailed`]: only for a proxy of the sender.
pub(crate) fn proxy_transport_failed(app: &App, link: &ClusterLink, from: &NodeId, sid: &str) {
    if link.proxy_node(sid).as_ref() != Some(from) {
        return;
    }
    let effects = app.state.lock().remove_failed_remote_participant(sid);
    if !effects.is_empty() {
        tracing::warn!(sid, peer = %from, "participant removed: its media transport failed on its node");
    }
    app.apply(effects);
}

/// Report pause, resume and close of what `pipe` exports to `peer`.
fn watch_exports(link: &ClusterLink, pipe: &NodePipe, room: &str, peer: &NodeId) {
    let outbox = link.outbox.clone();
    let (room, peer) = (room.to_owned(), peer.clone());
    pipe.on_export_change(move |producer_id, change| {
        let change = match change {
            ExportChange::Paused => PipeChangeKind::Paused,
            ExportChange::Resumed => PipeChangeKind::Resumed,
            ExportChange::Closed => PipeChangeKind::Closed,
        };
        let message = ToNode::PipeChange {
            room: room.clone(),
            producer_id: producer_id.to_owned(),
            change,
        };
        let _ = outbox.send(super::deliver::Outgoing::ToNode(peer.clone(), message));
    });
}

/// Serve one of [`LOCAL_EVENTS`] for `sid`, whose room is homed on another node.
pub(crate) async fn serve(app: &Arc<App>, link: &ClusterLink, sid: &str, req: Request) {
    let Request {
        event, data, ack, ..
    } = req;
    let result = match event {
        ev::CREATE_TRANSPORT => create_transport(app, link, sid, data).await,
        ev::CONNECT_TRANSPORT => connect_transport(link, sid, data).await,
        ev::RESTART_ICE => restart_ice(link, sid, data).await,
        ev::PRODUCE => produce(link, sid, data).await,
        ev::CONSUME => consume(app, link, sid, data).await,
        ev::RESUME_CONSUMER => match decode::<ResumeConsumerRequest>(data) {
            Ok(r) => {
                on_consumer(
                    link,
                    sid,
                    &r.consumer_id,
                    |c| async move { c.resume().await },
                )
                .await
            }
            Err(e) => Err(refusal(e)),
        },
        ev::PAUSE_CONSUMER => match decode::<ConsumerIdRequest>(data) {
            Ok(r) => {
                on_consumer(
                    link,
                    sid,
                    &r.consumer_id,
                    |c| async move { c.pause().await },
                )
                .await
            }
            Err(e) => Err(refusal(e)),
        },
        ev::SET_CONSUMER_PREFERRED_LAYERS => match decode::<SetPreferredLayersRequest>(data) {
            Ok(r) => {
                let (spatial, temporal) = r.layers();
                on_consumer(link, sid, &r.consumer_id, |c| async move {
                    c.set_preferred_layers(Layers { spatial, temporal }).await
                })
                .await
            }
            Err(e) => Err(refusal(e)),
        },
        ev::SET_CONSUMER_PRIORITY => match decode::<SetConsumerPriorityRequest>(data) {
            Ok(r) => {
                let priority = r.priority();
                on_consumer(link, sid, &r.consumer_id, |c| async move {
                    c.set_priority(priority).await
                })
                .await
            }
            Err(e) => Err(refusal(e)),
        },
        ev::REQUEST_KEY_FRAME => match decode::<ConsumerIdRequest>(data) {
            Ok(r) => {
                on_consumer(link, sid, &r.consumer_id, |c| async move {
                    c.request_key_frame().await
                })
                .await
            }
            Err(e) => Err(refusal(e)),
        },
        _ => Err(errors::UNKNOWN_EVENT.to_owned()),
    };
    match result {
        Ok(answer) => reply(ack, &answer),
        Err(error) => reply_error(ack, error),
    }
}

fn to_answer<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

async fn create_transport(
    app: &App,
    link: &ClusterLink,
    sid: &str,
    data: Value,
) -> Result<Value, Refusal> {
    let req: CreateTransportRequest = decode(data).map_err(refusal)?;
    let media = &link.media;
    let (router, _, _) = media.router_of(sid)?;
    let limit = app.state.lock().limits().transports_per_socket;
    let count = media
        .sockets
        .lock()
        .get(sid)
        .map_or(0, |m| m.transports.len());
    if count >= limit {
        return Err(refusal(CallError::Limit(format!(
            "Too many transports (limit {limit})"
        ))));
    }
    let transport = router.create_webrtc_transport().await.map_err(refusal)?;
    let (id, params) = (transport.id(), transport.client_parameters());
    // Watched like a local participant's (epoch 0: the participant's epoch is the home's).
    app.health.watch(sid, 0, &transport);
    let mut sockets = media.sockets.lock();
    let m = sockets
        .get_mut(sid)
        .ok_or_else(|| refusal(CallError::ParticipantNotFound))?;
    m.transports
        .insert(id.clone(), (Arc::new(transport), req.direction()));
    tracing::debug!(transport = %id, direction = ?req.direction(), "transport created (local media, room homed elsewhere)");
    Ok(params)
}

async fn connect_transport(link: &ClusterLink, sid: &str, data: Value) -> Result<Value, Refusal> {
    let req: ConnectTransportRequest = decode(data).map_err(refusal)?;
    let transport = link.media.transport(sid, &req.transport_id)?;
    transport
        .connect(req.dtls_parameters)
        .await
        .map_err(refusal)?;
    Ok(to_answer(&SuccessResponse::OK))
}

async fn restart_ice(link: &ClusterLink, sid: &str, data: Value) -> Result<Value, Refusal> {
    let req: RestartIceRequest = decode(data).map_err(refusal)?;
    let transport = link.media.transport(sid, &req.transport_id)?;
    let ice_parameters = transport.restart_ice().await.map_err(refusal)?;
    Ok(to_answer(&RestartIceResponse { ice_parameters }))
}

/// `produce`: the producer is created here, exported to the home, which imports and
/// announces it. Refused by the home → closed here.
async fn produce(link: &ClusterLink, sid: &str, data: Value) -> Result<Value, Refusal> {
    let req: ProduceRequest = decode(data).map_err(refusal)?;
    let media = &link.media;
    let transport = media.transport(sid, &req.transport_id)?;
    let (router, room, home) = media.router_of(sid)?;
    let meta = ProducerMeta {
        source: req.source(),
        app_data: req.app_data(),
    };
    let producer = transport
        .produce(&req.kind, req.rtp_parameters)
        .await
        .map_err(refusal)?;
    let id = producer.id();
    let pipe = media.pipe_to(link, &room, &home, &router).await?;
    let exported = pipe.export(&id).await.map_err(refusal)?;
    let body = ToNode::RemoteProduce(RemoteProduce {
        sid: sid.to_owned(),
        source: meta.source.as_str().to_owned(),
        app_data: meta.app_data,
        exported,
    });
    let _: Value = link
        .node
        .rpc()
        .request(&home, &body)
        .await
        .map_err(cluster_refusal)?;
    let mut sockets = media.sockets.lock();
    let m = sockets
        .get_mut(sid)
        .ok_or_else(|| refusal(CallError::ParticipantNotFound))?;
    m.producers.insert(id.clone(), Arc::new(producer));
    tracing::info!(producer = %id, kind = %req.kind, "producing (local media, room homed elsewhere)");
    Ok(to_answer(&ProduceResponse { id }))
}

/// `consume`: the home checks the request and describes the producer (exporting it when this
/// node does not have it yet); the consumer is created here.
async fn consume(
    app: &Arc<App>,
    link: &ClusterLink,
    sid: &str,
    data: Value,
) -> Result<Value, Refusal> {
    let req: ConsumeRequest = decode(data).map_err(refusal)?;
    let media = &link.media;
    let (router, room, home) = media.router_of(sid)?;
    let have = router.has_producer(&req.producer_id);
    if !have {
        // The home exports over the pipe: it must exist first.
        media.pipe_to(link, &room, &home, &router).await?;
    }
    let ask = ToNode::ConsumeView(ConsumeView {
        sid: sid.to_owned(),
        producer_id: req.producer_id.clone(),
        export: !have,
    });
    let view: ConsumeViewAnswer = link
        .node
        .rpc()
        .request(&home, &ask)
        .await
        .map_err(cluster_refusal)?;
    if let Some(exported) = &view.exported {
        import(link, &room, &home, &router, exported).await?;
    }
    let limit = app.state.lock().limits().consumers_per_socket;
    let count = media
        .sockets
        .lock()
        .get(sid)
        .map_or(0, |m| m.consumers.len());
    if count >= limit {
        return Err(refusal(CallError::Limit(format!(
            "Too many consumers (limit {limit})"
        ))));
    }
    match router.check_consume(&req.producer_id, &req.rtp_capabilities) {
        Ok(()) => {}
        Err(SfuError::ProducerNotFound) => return Err(refusal(CallError::ProducerNotFound)),
        Err(_) => return Err(refusal(CallError::RtpCapabilitiesMismatch)),
    }
    let transport = media
        .transport(sid, &req.transport_id)
        .map_err(|_| refusal(CallError::RecvTransportNotFound))?;
    let consumer = match transport
        .consume(&req.producer_id, req.rtp_capabilities, true)
        .await
    {
        Ok(c) => Arc::new(c),
        Err(SfuError::ProducerNotFound | SfuError::Closed) => {
            return Err(refusal(CallError::ProducerNotFound));
        }
        Err(e) => return Err(refusal(e)),
    };
    let id = consumer.id();
    {
        let mut sockets = media.sockets.lock();
        let m = sockets
            .get_mut(sid)
            .ok_or_else(|| refusal(CallError::ParticipantNotFound))?;
        m.consumers.insert(id.clone(), consumer.clone());
    }
    if consumer.consumer_type() != ConsumerType::Simple {
        watch_layers(app, sid, &consumer);
    }
    Ok(to_answer(&ConsumeResponse {
        rtp_parameters: consumer.rtp_parameters(),
        kind: consumer.kind().to_owned(),
        producer_paused: view.paused,
        app_data: view.app_data,
        consumer_type: consumer.consumer_type().as_str().to_owned(),
        id,
        producer_id: consumer.producer_id(),
    }))
}

/// Import `exported` from the home over `room`'s pipe (once).
async fn import(
    link: &ClusterLink,
    room: &str,
    home: &NodeId,
    router: &RoomRouter,
    exported: &media_sfu::ExportedProducer,
) -> Result<(), Refusal> {
    let media = &link.media;
    let pipe = media.pipe_to(link, room, home, router).await?;
    let _serial = media.setup.lock().await;
    let known = media
        .rooms
        .lock()
        .get(room)
        .is_some_and(|r| r.imports.contains_key(&exported.producer_id));
    if known {
        return Ok(());
    }
    let producer = pipe.import(exported).await.map_err(refusal)?;
    tracing::debug!(room, producer = %exported.producer_id, "cluster: producer imported from the home");
    if let Some(r) = media.rooms.lock().get_mut(room) {
        r.imports
            .insert(exported.producer_id.clone(), Arc::new(producer));
    }
    Ok(())
}

/// Tell the socket (`consumerLayersChanged`) whenever the layers its consumer forwards change.
fn watch_layers(app: &Arc<App>, sid: &str, consumer: &MediaConsumer) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<Layers>>();
    consumer.on_layers_change(move |layers| {
        let _ = tx.send(layers);
    });
    let weak = Arc::downgrade(app);
    let (sid, consumer_id) = (sid.to_owned(), consumer.id());
    tokio::spawn(async move {
        while let Some(layers) = rx.recv().await {
            let Some(app) = weak.upgrade() else { return };
            let changed = ConsumerLayersChanged {
                consumer_id: consumer_id.clone(),
                spatial_layer: layers.map(|l| l.spatial),
                temporal_layer: layers.and_then(|l| l.temporal),
            };
            super::deliver::emit_local(
                &app,
                std::iter::once(&sid),
                ev::CONSUMER_LAYERS_CHANGED,
                &to_answer(&changed),
            );
        }
    });
}

async fn on_consumer<F, Fut>(
    link: &ClusterLink,
    sid: &str,
    consumer_id: &str,
    op: F,
) -> Result<Value, Refusal>
where
    F: FnOnce(Arc<MediaConsumer>) -> Fut,
    Fut: std::future::Future<Output = Result<(), SfuError>>,
{
    let consumer = link.media.consumer(sid, consumer_id)?;
    match op(consumer).await {
        Ok(()) => Ok(to_answer(&SuccessResponse::OK)),
        Err(SfuError::Closed) => Err(refusal(CallError::ConsumerNotFound)),
        Err(e) => Err(refusal(e)),
    }
}

/// The home's side of [`ToNode::RemoteProduce`]: import the producer as the proxy's and
/// announce it.
pub(crate) async fn serve_remote_produce(
    app: Arc<App>,
    link: Arc<ClusterLink>,
    request: IncomingRequest,
    req: RemoteProduce,
) {
    let from = request.from().clone();
    let result = remote_produce(&app, &link, &from, req).await;
    respond(request, result).await;
}

/// Answer a cross-node request with `result`.
async fn respond<T: serde::Serialize>(request: IncomingRequest, result: Result<T, Refusal>) {
    let sent = match result {
        Ok(answer) => request.respond(&answer).await,
        Err(error) => request.respond_error(error).await,
    };
    if let Err(error) = sent {
        tracing::debug!(%error, "cluster: media answer not sent");
    }
}

async fn remote_produce(
    app: &Arc<App>,
    link: &ClusterLink,
    from: &NodeId,
    req: RemoteProduce,
) -> Result<Value, Refusal> {
    let (epoch, room) = {
        let st = app.state.lock();
        let epoch = st.remote_produce_target(&req.sid).map_err(refusal)?;
        let room = st.room_of(&req.sid).map(str::to_owned);
        (
            epoch,
            room.ok_or_else(|| refusal(CallError::ParticipantNotFound))?,
        )
    };
    let pipe = link
        .media
        .pipe(&room, from)
        .ok_or_else(|| errors::CLUSTER_UNAVAILABLE.to_owned())?;
    let producer = pipe.import(&req.exported).await.map_err(refusal)?;
    let id = producer.id();
    let kind = producer.kind().to_owned();
    let audio = kind == "audio";
    let meta = ProducerMeta {
        source: ProducerSource::parse(&req.source)
            .unwrap_or_else(|| ProducerSource::default_for(&kind)),
        app_data: req.app_data,
    };
    let effects = app
        .state
        .lock()
        .add_producer_with(&req.sid, epoch, id.clone(), kind, meta, Arc::new(producer))
        .map_err(refusal)?;
    tracing::info!(producer = %id, sid = %req.sid, peer = %from, "producing (piped from the socket's node)");
    app.apply(effects);
    // The room's speaker observers are on the home: the imported audio joins them.
    let router = audio
        .then(|| app.state.lock().router_of(&req.sid))
        .flatten();
    if let Some(router) = router {
        crate::speakers::observe(&router, &id).await;
    }
    Ok(to_answer(&ProduceResponse { id }))
}

/// The home's side of [`ToNode::ConsumeView`].
pub(crate) async fn serve_consume_view(
    app: Arc<App>,
    link: Arc<ClusterLink>,
    request: IncomingRequest,
    req: ConsumeView,
) {
    let from = request.from().clone();
    let result = consume_view(&app, &link, &from, req).await;
    respond(request, result).await;
}

/// The home's side of [`ToNode::PipeOpen`]: only for a room active here.
pub(crate) async fn serve_pipe_open(
    app: Arc<App>,
    link: Arc<ClusterLink>,
    request: IncomingRequest,
    room: String,
    endpoint: PipeEndpoint,
) {
    let from = request.from().clone();
    let router = app.state.lock().room(&room).map(|r| r.router.clone());
    let result = match router {
        Some(router) => {
            link.media
                .open_from(&link, router, &room, &from, &endpoint)
                .await
        }
        None => {
            tracing::warn!(room, peer = %from, "cluster: pipe asked for a room not homed here");
            Err(errors::CLUSTER_UNAVAILABLE.to_owned())
        }
    };
    respond(request, result).await;
}

async fn consume_view(
    app: &App,
    link: &ClusterLink,
    from: &NodeId,
    req: ConsumeView,
) -> Result<ConsumeViewAnswer, Refusal> {
    let (view, room) = {
        let st = app.state.lock();
        let room = st
            .room_of(&req.sid)
            .map(str::to_owned)
            .ok_or_else(|| refusal(CallError::ParticipantNotFound))?;
        let view = st
            .producer_view(&req.sid, &req.producer_id)
            .ok_or_else(|| refusal(CallError::ProducerNotFound))?;
        (view, room)
    };
    if view.socket == req.sid {
        return Err(refusal(CallError::CannotConsumeOwn));
    }
    let exported = if req.export {
        let pipe = link
            .media
            .pipe(&room, from)
            .ok_or_else(|| errors::CLUSTER_UNAVAILABLE.to_owned())?;
        Some(pipe.export(&req.producer_id).await.map_err(|e| match e {
            SfuError::ProducerNotFound => refusal(CallError::ProducerNotFound),
            other => refusal(other),
        })?)
    } else {
        None
    };
    Ok(ConsumeViewAnswer {
        paused: view.paused,
        app_data: view.meta.app_data,
        exported,
    })
}

/// The home's side of a [`ToNode::PipeChange`] for a producer it imported from `from` (a
/// proxy's): a close there closes the proxy's producer here (`producerClosed` to the room).
/// Pause and resume are decided here (the owner's `pauseProducer` is forwarded), so only
/// closes matter.
pub(crate) fn home_import_changed(
    app: &App,
    room: &str,
    producer_id: &str,
    change: PipeChangeKind,
) {
    if change != PipeChangeKind::Closed {
        return;
    }
    let effects = {
        let mut st = app.state.lock();
        let Some(owner) = st.producer_owner(room, producer_id) else {
            return;
        };
        st.close_producer(&owner, producer_id).unwrap_or_default()
    };
    app.apply(effects);
}

/// A forwarded request of `sid` was answered without an error: what follows here.
pub(crate) async fn after_forwarded(link: &ClusterLink, sid: &str, event: &str, data: &Value) {
    let producer = || {
        data.get("producerId")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match event {
        ev::PAUSE_PRODUCER | ev::RESUME_PRODUCER => {
            if let Some(id) = producer() {
                link.media
                    .set_local_paused(sid, &id, event == ev::PAUSE_PRODUCER)
                    .await;
            }
        }
        ev::CLOSE_PRODUCER => {
            if let Some(id) = producer() {
                link.media.close_local_producer(sid, &id);
            }
        }
        _ => {}
    }
}

/// Events the home delivers to this node's sockets that change their local media: an admin
/// pause of their own producer, a removal from the room.
pub(crate) async fn on_deliver(link: &ClusterLink, sids: &[String], event: &str, payload: &Value) {
    match event {
        ev::PRODUCER_PAUSED | ev::PRODUCER_RESUMED => {
            let Some(id) = payload.get("producerId").and_then(Value::as_str) else {
                return;
            };
            for sid in sids {
                link.media
                    .set_local_paused(sid, id, event == ev::PRODUCER_PAUSED)
                    .await;
            }
        }
        ev::REMOVED_FROM_ROOM => {
            for sid in sids {
                link.forwarded.lock().remove(sid);
                link.media.leave(link, sid);
            }
        }
        _ => {}
    }
}
