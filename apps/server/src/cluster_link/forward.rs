//! Rooms with a home: requests of this node's sockets for rooms homed elsewhere go to the
//! home node (`intercept`), and the requests other nodes forward here are served
//! (`serve_loop`).

use super::ClusterLink;
use super::wire::{Forwarded, ToNode};
use crate::ack::Ack;
use crate::app::App;
use crate::handlers::{self, reply, reply_error};
use crate::socket::Request;
use cluster::{Claim, ClusterError, IncomingRequest, NodeId, RequestStream};
use serde_json::Value;
use signal_proto::errors;
use signal_proto::events as ev;
use signal_proto::server_events::RemovedFromRoom;
use std::sync::{Arc, Weak};
use tracing::Instrument;

/// Client events that act on the socket's SFU room (forwarded when the room lives elsewhere).
const ROOM_EVENTS: &[&str] = &[
    ev::CREATE_ROOM,
    ev::CREATE_TRANSPORT,
    ev::CONNECT_TRANSPORT,
    ev::PRODUCE,
    ev::GET_PRODUCERS,
    ev::CONSUME,
    ev::RESUME_CONSUMER,
    ev::LEAVE_ROOM,
    ev::RESTART_ICE,
    ev::CLOSE_PRODUCER,
    ev::PAUSE_PRODUCER,
    ev::RESUME_PRODUCER,
    ev::PAUSE_CONSUMER,
    ev::SET_CONSUMER_PREFERRED_LAYERS,
    ev::SET_CONSUMER_PRIORITY,
    ev::REQUEST_KEY_FRAME,
    ev::START_RECORDING,
    ev::STOP_RECORDING,
];

/// 1:1 events of a callee socket, forwarded to the node of the call (the caller's).
const DIRECT_EVENTS: &[&str] = &[
    signal_proto::direct::CALL_ACCEPTED,
    signal_proto::direct::CALL_REJECTED,
    signal_proto::direct::CALL_ENDED,
    signal_proto::direct::ICE_CANDIDATE,
];

/// Where a room lives.
enum Home {
    Here,
    There(NodeId),
}

/// Route one request of a local socket: `Some(req)` to handle it here, `None` when it was
/// forwarded to the room's home node (and answered).
pub(crate) async fn intercept(
    app: &Arc<App>,
    link: &ClusterLink,
    sid: &str,
    req: Request,
) -> Option<Request> {
    if DIRECT_EVENTS.contains(&req.event) {
        return intercept_direct(app, link, sid, req).await;
    }
    if handlers::mesh::EVENTS.contains(&req.event) {
        return intercept_mesh(app, link, sid, req).await;
    }
    if !ROOM_EVENTS.contains(&req.event) {
        return Some(req);
    }
    if req.event != ev::CREATE_ROOM {
        let forwarded = link.forwarded.lock().get(sid).cloned();
        let Some((_, home)) = forwarded else {
            return Some(req);
        };
        // Media of the socket lives on this node: served here, not forwarded.
        if super::media::LOCAL_EVENTS.contains(&req.event) && link.media.has_socket(sid) {
            super::media::serve(app, link, sid, req).await;
            return None;
        }
        let event = req.event;
        let data = if super::media::AFTER_FORWARDED.contains(&event) {
            req.data.clone()
        } else {
            Value::Null
        };
        let answer = forward(app, link, &home, sid, req).await;
        let ok = answer.is_some_and(|a| a.get("error").is_none());
        if event == ev::LEAVE_ROOM {
            if ok {
                link.forwarded.lock().remove(sid);
            }
            link.media.leave(link, sid);
        } else if ok {
            super::media::after_forwarded(link, sid, event, &data).await;
        }
        return None;
    }
    // createRoom: decide the home (the domain's own checks answer the malformed cases).
    let room = req
        .data
        .get("roomId")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let joined = app.state.lock().user_of(sid).is_some();
    let (Some(room), true) = (room, joined) else {
        return Some(req);
    };
    let here = app.state.lock().room(&room).is_some();
    let home = match home_of(link, &room, here).await {
        Ok(home) => home,
        Err(e) => {
            reply_error(req.ack, e);
            return None;
        }
    };
    let previous = link.forwarded.lock().get(sid).cloned();
    match home {
        Home::Here => {
            if let Some((_, old_home)) = previous {
                leave_remote(link, sid, old_home);
            }
            Some(req)
        }
        Home::There(home) => {
            // The socket's media goes on this node's router of the room.
            let router = match app.sfu.router_for(&room).await {
                Ok(router) => router,
                Err(e) => {
                    reply_error(req.ack, e);
                    return None;
                }
            };
            link.media.leave(link, sid);
            if let Some((_, old_home)) = previous
                && old_home != home
            {
                leave_remote(link, sid, old_home);
            }
            // Leaving a room of this node first, as a local createRoom would.
            let effects = app.state.lock().leave_room(sid);
            app.apply(effects);
            let (ack, req) = hold_ack(req);
            let answer = forward(app, link, &home, sid, req).await;
            if answer.as_ref().is_some_and(|a| a.get("error").is_none()) {
                link.media.enter(sid, &room, &home, router);
                link.forwarded.lock().insert(sid.to_owned(), (room, home));
            }
            ack.release();
            None
        }
    }
}

/// A callee socket's answer to a 1:1 call of another node goes to that node.
async fn intercept_direct(
    app: &Arc<App>,
    link: &ClusterLink,
    sid: &str,
    req: Request,
) -> Option<Request> {
    let home = link.direct_home.lock().get(sid).map(|(n, _)| n.clone());
    let Some(home) = home else {
        return Some(req);
    };
    if app.state.lock().socket_engaged(sid) {
        // A call of this node's own: handled here.
        return Some(req);
    }
    let ends = req.event != signal_proto::direct::CALL_ACCEPTED
        && req.event != signal_proto::direct::ICE_CANDIDATE;
    let answer = forward(app, link, &home, sid, req).await;
    if ends && answer.is_some_and(|a| a.get("error").is_none()) {
        link.direct_home.lock().remove(sid);
    }
    None
}

/// A mesh room's events go to its home as an SFU room's do (claim key `mesh:{room}`).
async fn intercept_mesh(
    app: &Arc<App>,
    link: &ClusterLink,
    sid: &str,
    req: Request,
) -> Option<Request> {
    use signal_proto::mesh as mc;
    let previous = link.mesh_forwarded.lock().get(sid).cloned();
    if req.event != mc::JOIN {
        let Some(home) = previous else {
            return Some(req);
        };
        let leaving = req.event == mc::LEAVE;
        let answer = forward(app, link, &home, sid, req).await;
        if leaving && answer.is_some_and(|a| a.get("error").is_none()) {
            link.mesh_forwarded.lock().remove(sid);
        }
        return None;
    }
    let room = signal_proto::requests::decode::<mc::MeshJoinRequest>(req.data.clone())
        .ok()
        .and_then(|r| r.room_id())
        .filter(|r| !r.is_empty());
    let joined = app.state.lock().user_of(sid).is_some();
    let (Some(room), true) = (room, joined) else {
        return Some(req);
    };
    let here = app.state.lock().mesh().room(&room).is_some();
    let home = match home_of(link, &mesh_key(&room), here).await {
        Ok(home) => home,
        Err(e) => {
            handlers::direct::fail_as_mesh(app, sid, req, e);
            return None;
        }
    };
    match home {
        Home::Here => {
            if let Some(old) = previous {
                link.mesh_forwarded.lock().remove(sid);
                link.send_to(
                    old,
                    ToNode::Gone {
                        sid: sid.to_owned(),
                    },
                );
            }
            Some(req)
        }
        Home::There(home) => {
            if let Some(old) = previous.filter(|old| *old != home) {
                link.send_to(
                    old,
                    ToNode::Gone {
                        sid: sid.to_owned(),
                    },
                );
            }
            let answer = forward(app, link, &home, sid, req).await;
            if answer.is_some_and(|a| a.get("error").is_none()) {
                link.mesh_forwarded.lock().insert(sid.to_owned(), home);
            }
            None
        }
    }
}

/// The authority key of mesh room `room` (SFU rooms use the conversation id itself).
pub(crate) fn mesh_key(room: &str) -> String {
    format!("mesh:{room}")
}

/// The home of `room` (a claim key): here when it is active here (`here`), else whoever
/// holds (or now wins) its claim.
async fn home_of(link: &ClusterLink, room: &str, here: bool) -> Result<Home, &'static str> {
    if here {
        return Ok(Home::Here);
    }
    match link.node.authority().claim(room).await {
        Ok(Claim::Won(home)) => {
            tracing::info!(room, epoch = home.epoch, "cluster: room homed here");
            Ok(Home::Here)
        }
        Ok(Claim::Held(home)) if home.node == *link.node_id() => Ok(Home::Here),
        Ok(Claim::Held(home)) => Ok(Home::There(home.node)),
        Err(error) => {
            tracing::warn!(room, %error, "cluster: room home unknown");
            Err(errors::CLUSTER_UNAVAILABLE)
        }
    }
}

/// A client's ack held back while this node finishes its part of a forwarded request.
struct HeldAck {
    ack: Ack,
    rx: tokio::sync::oneshot::Receiver<Value>,
}

impl HeldAck {
    /// Send the client whatever the request was answered (nothing when it was not).
    fn release(mut self) {
        if let Ok(answer) = self.rx.try_recv() {
            reply(self.ack, &answer);
        }
    }
}

/// `req` with its ack replaced by a channel, and the client's ack held.
fn hold_ack(mut req: Request) -> (HeldAck, Request) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let ack = std::mem::replace(&mut req.ack, Ack::Forwarded(tx));
    (HeldAck { ack, rx }, req)
}

/// Tell the old home node that `sid` left its room there.
fn leave_remote(link: &ClusterLink, sid: &str, home: NodeId) {
    link.forwarded.lock().remove(sid);
    link.media.leave(link, sid);
    link.send_to(
        home,
        ToNode::Gone {
            sid: sid.to_owned(),
        },
    );
}

/// Forward `req` to `home` and answer the client with the home's ack. Returns the answer.
async fn forward(
    app: &App,
    link: &ClusterLink,
    home: &NodeId,
    sid: &str,
    req: Request,
) -> Option<Value> {
    let Some(user) = app.state.lock().user_of(sid).map(str::to_owned) else {
        reply_error(req.ack, errors::JOIN_FIRST);
        return None;
    };
    let body = ToNode::Forward(Forwarded {
        sid: sid.to_owned(),
        user,
        event: req.event.to_owned(),
        data: req.data,
        has_ack: req.has_ack,
        sent_ms: super::wire::unix_ms(),
    });
    match link.node.rpc().request::<_, Value>(home, &body).await {
        Ok(Value::Null) => None,
        Ok(answer) => {
            reply(req.ack, &answer);
            Some(answer)
        }
        Err(ClusterError::Remote(message)) => {
            reply_error(req.ack, message);
            None
        }
        Err(error) => {
            tracing::warn!(home = %home, event = req.event, %error, "cluster: forward failed");
            reply_error(req.ack, errors::CLUSTER_UNAVAILABLE);
            None
        }
    }
}

/// A local socket disconnected: its remote room (if any) must let it go.
pub(crate) fn socket_gone(link: &ClusterLink, sid: &str) {
    link.media.leave(link, sid);
    let forwarded = link.forwarded.lock().remove(sid).map(|(_, home)| home);
    let mesh = link.mesh_forwarded.lock().remove(sid);
    let direct = link.direct_home.lock().remove(sid).map(|(home, _)| home);
    let mut homes: Vec<NodeId> = [forwarded, mesh, direct].into_iter().flatten().collect();
    homes.sort();
    homes.dedup();
    for home in homes {
        link.send_to(
            home,
            ToNode::Gone {
                sid: sid.to_owned(),
            },
        );
    }
}

/// Serves what other nodes send to this one.
pub(crate) async fn serve_loop(
    link: Arc<ClusterLink>,
    app: Weak<App>,
    mut requests: RequestStream,
) {
    while let Some(request) = requests.recv().await {
        let Some(app) = app.upgrade() else { break };
        let message: ToNode = match request.decode() {
            Ok(m) => m,
            Err(error) => {
                tracing::warn!(from = %request.from(), %error, "undecodable cluster message");
                let _ = request.respond_error(errors::INVALID_PAYLOAD).await;
                continue;
            }
        };
        match message {
            ToNode::Deliver {
                sids,
                event,
                payload,
            } => {
                note_direct(&link, request.from(), &sids, &event, &payload);
                super::media::on_deliver(&link, &sids, &event, &payload).await;
                super::deliver::emit_local(&app, &sids, &event, &payload);
            }
            ToNode::PipeOpen { room, endpoint } => {
                tokio::spawn(super::media::serve_pipe_open(
                    app,
                    link.clone(),
                    request,
                    room,
                    endpoint,
                ));
            }
            ToNode::PipeClose { room } => link.media.close_from(&room, request.from()),
            ToNode::TransportFailed { sid } => {
                super::media::proxy_transport_failed(&app, &link, request.from(), &sid);
            }
            ToNode::Quality { sid, quality } => {
                super::media::proxy_quality(&app, &link, request.from(), &sid, quality);
            }
            ToNode::PipeChange {
                room,
                producer_id,
                change,
            } => {
                // In order, so a pause and a resume are applied as they happened.
                super::media::home_import_changed(&app, &room, &producer_id, change);
                link.media.import_changed(&room, &producer_id, change).await;
            }
            ToNode::RemoteProduce(produce) => {
                tokio::spawn(super::media::serve_remote_produce(
                    app,
                    link.clone(),
                    request,
                    produce,
                ));
            }
            ToNode::ConsumeView(view) => {
                tokio::spawn(super::media::serve_consume_view(
                    app,
                    link.clone(),
                    request,
                    view,
                ));
            }
            ToNode::Presence { users } => {
                let answer = super::presence::answer(&app, &users);
                if let Err(error) = request.respond(&answer).await {
                    tracing::debug!(%error, "cluster: presence answer not sent");
                }
            }
            ToNode::Gone { sid } => proxy_gone(&app, &link, &sid),
            ToNode::Forward(forwarded) => {
                // One task per request; a socket has at most one in flight (its node waits).
                tokio::spawn(serve_forward(app, link.clone(), request, forwarded));
            }
        }
    }
}

/// A 1:1 call of `home` rings (or ends for) sockets of this node: remember where their
/// answers go.
fn note_direct(link: &ClusterLink, home: &NodeId, sids: &[String], event: &str, payload: &Value) {
    if event == signal_proto::direct::INCOMING_CALL {
        let call_id = payload
            .get("callId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut direct = link.direct_home.lock();
        for sid in sids {
            direct.insert(sid.clone(), (home.clone(), call_id.clone()));
        }
    } else if event == signal_proto::direct::CALL_ENDED {
        let mut direct = link.direct_home.lock();
        for sid in sids {
            direct.remove(sid);
        }
    }
}

async fn serve_forward(
    app: Arc<App>,
    link: Arc<ClusterLink>,
    request: IncomingRequest,
    forwarded: Forwarded,
) {
    let Forwarded {
        sid,
        user,
        event,
        data,
        has_ack,
        sent_ms,
    } = forwarded;
    let age = super::wire::unix_ms().saturating_sub(sent_ms);
    if u128::from(age) > link.node.config().rpc_timeout.as_millis() {
        tracing::warn!(
            sid,
            event,
            age_ms = age,
            "cluster: stale forwarded request dropped"
        );
        let _ = request.respond_error(errors::CLUSTER_UNAVAILABLE).await;
        return;
    }
    let Some(event) = ROOM_EVENTS
        .iter()
        .chain(DIRECT_EVENTS)
        .chain(handlers::mesh::EVENTS)
        .copied()
        .find(|e| **e == *event)
    else {
        let _ = request.respond_error(errors::UNKNOWN_EVENT).await;
        return;
    };
    if !still_home(&link, event, &data) {
        tracing::warn!(
            sid,
            event,
            "cluster: forwarded join for a room no longer homed here"
        );
        let _ = request.respond_error(errors::CLUSTER_UNAVAILABLE).await;
        return;
    }
    let from = request.from().clone();
    {
        let mut st = app.state.lock();
        if st.user_of(&sid).is_none() {
            st.connect_proxy(&sid, &user);
        }
    }
    link.add_proxy(&sid, from);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let req = Request {
        event,
        data,
        ack: Ack::Forwarded(tx),
        has_ack,
    };
    handlers::route(&app, &sid, req)
        .instrument(tracing::info_span!("forwarded", sid = %sid))
        .await;
    let answer = rx.await.unwrap_or(Value::Null);
    // A proxy that takes part in nothing (its createRoom failed, it left) is forgotten.
    let engaged = app.state.lock().socket_engaged(&sid);
    if !engaged {
        proxy_gone(&app, &link, &sid);
    }
    if let Err(error) = request.respond(&answer).await {
        tracing::debug!(%error, "cluster: answer not sent");
    }
}

/// A forwarded `createRoom` / `groupcall:join` only joins a room this node still holds the
/// claim of (a node that lost it, or never had it, must not start a second copy).
fn still_home(link: &ClusterLink, event: &str, data: &Value) -> bool {
    let key = match event {
        ev::CREATE_ROOM => data
            .get("roomId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        signal_proto::mesh::JOIN => {
            signal_proto::requests::decode::<signal_proto::mesh::MeshJoinRequest>(data.clone())
                .ok()
                .and_then(|r| r.room_id())
                .map(|r| mesh_key(&r))
        }
        _ => return true,
    };
    // Malformed requests go on to the handler, which answers the protocol's error.
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return true;
    };
    link.node.authority().owned_epoch(&key).is_some()
}

/// A proxy socket left (its node says so, or died): it leaves the room like a disconnect.
pub(crate) fn proxy_gone(app: &App, link: &ClusterLink, sid: &str) {
    if link.proxies.lock().remove(sid).is_none() {
        return;
    }
    let effects = app.state.lock().disconnect(sid);
    app.apply(effects);
}

/// `peer` died: its proxies leave the rooms homed here; this node's sockets in rooms homed
/// there get `removedFromRoom {reason: "home_node_lost"}`.
pub(crate) fn peer_dead(app: &App, link: &ClusterLink, peer: &NodeId) {
    let proxies: Vec<String> = link
        .proxies
        .lock()
        .iter()
        .filter(|(_, p)| p.node == *peer)
        .map(|(sid, _)| sid.clone())
        .collect();
    for sid in &proxies {
        proxy_gone(app, link, sid);
    }
    let orphans = drain_homed_on(&link.forwarded, peer, |(room, home)| (home, room));
    for (sid, room) in &orphans {
        let removed = RemovedFromRoom {
            room_id: room.clone(),
            reason: RemovedFromRoom::HOME_NODE_LOST.to_owned(),
        };
        emit_one(app, sid, ev::REMOVED_FROM_ROOM, &removed);
    }
    link.media.peer_dead(peer);
    link.mesh_forwarded.lock().retain(|_, home| home != peer);
    let calls = drain_homed_on(&link.direct_home, peer, |(home, call)| (home, call));
    for (sid, call_id) in &calls {
        let ended = signal_proto::direct::CallEnded {
            call_id: call_id.clone(),
            from: None,
            reason: signal_proto::direct::EndReason::Disconnect,
        };
        emit_one(app, sid, signal_proto::direct::CALL_ENDED, &ended);
    }
    tracing::warn!(
        peer = %peer,
        calls = calls.len(),
        proxies = proxies.len(),
        orphans = orphans.len(),
        "cluster: cleaned up after a dead node"
    );
}

/// Removes the entries of `map` whose home (picked by `parts`: `(home, what)`) is `peer`;
/// returns `(sid, what)` of each.
fn drain_homed_on<V>(
    map: &parking_lot::Mutex<std::collections::HashMap<String, V>>,
    peer: &NodeId,
    parts: impl Fn(&V) -> (&NodeId, &String),
) -> Vec<(String, String)> {
    let mut map = map.lock();
    let gone: Vec<(String, String)> = map
        .iter()
        .filter(|(_, v)| parts(v).0 == peer)
        .map(|(sid, v)| (sid.clone(), parts(v).1.clone()))
        .collect();
    for (sid, _) in &gone {
        map.remove(sid);
    }
    gone
}

/// Emit one event to one local socket.
fn emit_one<T: serde::Serialize>(app: &App, sid: &String, event: &str, payload: &T) {
    let payload = serde_json::to_value(payload).unwrap_or(Value::Null);
    super::deliver::emit_local(app, std::iter::once(sid), event, &payload);
}
