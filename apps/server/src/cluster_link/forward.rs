//! Rooms with a home: requests of this node's sockets for rooms homed elsewhere go to the
//! home node ([`intercept`]), and the requests other nodes forward here are served
//! ([`serve_loop`]).

use super::ClusterLink;
use super::wire::ToNode;
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
    if !ROOM_EVENTS.contains(&req.event) {
        return Some(req);
    }
    if req.event != ev::CREATE_ROOM {
        let forwarded = link.forwarded.lock().get(sid).cloned();
        let Some((_, home)) = forwarded else {
            return Some(req);
        };
        let leaving = req.event == ev::LEAVE_ROOM;
        let answer = forward(app, link, &home, sid, req).await;
        if leaving && answer.is_some_and(|a| a.get("error").is_none()) {
            link.forwarded.lock().remove(sid);
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
    let home = match home_of(app, link, &room).await {
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
            if let Some((_, old_home)) = previous
                && old_home != home
            {
                leave_remote(link, sid, old_home);
            }
            // Leaving a room of this node first, as a local createRoom would.
            let effects = app.state.lock().leave_room(sid);
            app.apply(effects);
            let answer = forward(app, link, &home, sid, req).await;
            if answer.is_some_and(|a| a.get("error").is_none()) {
                link.forwarded.lock().insert(sid.to_owned(), (room, home));
            }
            None
        }
    }
}

/// The room's home: here when it is active here, else whoever holds (or now wins) its claim.
async fn home_of(app: &App, link: &ClusterLink, room: &str) -> Result<Home, &'static str> {
    if app.state.lock().room(room).is_some() {
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

/// Tell the old home node that `sid` left its room there.
fn leave_remote(link: &ClusterLink, sid: &str, home: NodeId) {
    link.forwarded.lock().remove(sid);
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
    let body = ToNode::Forward {
        sid: sid.to_owned(),
        user,
        event: req.event.to_owned(),
        data: req.data,
        has_ack: req.has_ack,
    };
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
    let forwarded = link.forwarded.lock().remove(sid);
    if let Some((_, home)) = forwarded {
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
            } => super::deliver::emit_local(&app, &sids, &event, &payload),
            ToNode::Gone { sid } => proxy_gone(&app, &link, &sid),
            ToNode::Forward {
                sid,
                user,
                event,
                data,
                has_ack,
            } => {
                let link = link.clone();
                // One task per request; a socket has at most one in flight (its node waits).
                tokio::spawn(serve_forward(
                    app, link, request, sid, user, event, data, has_ack,
                ));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve_forward(
    app: Arc<App>,
    link: Arc<ClusterLink>,
    request: IncomingRequest,
    sid: String,
    user: String,
    event: String,
    data: Value,
    has_ack: bool,
) {
    let Some(event) = ROOM_EVENTS.iter().copied().find(|e| **e == *event) else {
        let _ = request.respond_error(errors::UNKNOWN_EVENT).await;
        return;
    };
    let from = request.from().clone();
    {
        let mut st = app.state.lock();
        if st.user_of(&sid).is_none() {
            st.connect_proxy(&sid, &user);
        }
    }
    link.proxies.lock().insert(sid.clone(), from);
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
    // A proxy that is in no room (its createRoom failed, or it left) is forgotten.
    let in_room = app.state.lock().room_of(&sid).is_some();
    if !in_room {
        proxy_gone(&app, &link, &sid);
    }
    if let Err(error) = request.respond(&answer).await {
        tracing::debug!(%error, "cluster: answer not sent");
    }
}

/// A proxy socket left (its node says so, or died): it leaves the room like a disconnect.
fn proxy_gone(app: &App, link: &ClusterLink, sid: &str) {
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
        .filter(|(_, node)| *node == peer)
        .map(|(sid, _)| sid.clone())
        .collect();
    for sid in &proxies {
        proxy_gone(app, link, sid);
    }
    let orphans: Vec<(String, String)> = {
        let mut forwarded = link.forwarded.lock();
        let gone: Vec<(String, String)> = forwarded
            .iter()
            .filter(|(_, (_, home))| home == peer)
            .map(|(sid, (room, _))| (sid.clone(), room.clone()))
            .collect();
        for (sid, _) in &gone {
            forwarded.remove(sid);
        }
        gone
    };
    for (sid, room) in &orphans {
        let payload = serde_json::to_value(RemovedFromRoom {
            room_id: room.clone(),
            reason: RemovedFromRoom::HOME_NODE_LOST.to_owned(),
        })
        .unwrap_or(Value::Null);
        super::deliver::emit_local(app, std::iter::once(sid), ev::REMOVED_FROM_ROOM, &payload);
    }
    tracing::warn!(
        peer = %peer,
        proxies = proxies.len(),
        orphans = orphans.len(),
        "cluster: cleaned up after a dead node"
    );
}
