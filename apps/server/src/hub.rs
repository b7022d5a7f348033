//! The Socket.IO server Huddle emits through, whatever its adapter.
//!
//! Huddle's own server uses socketioxide's local adapter, or in cluster mode the
//! socketioxide-redis adapter ([`ClusterAdapter`]); a host may attach Huddle to its own
//! server. [`SocketHub`] hides the adapter type, so the handlers and the effect executor are
//! written once.
//!
//! In cluster mode every socket is in two Socket.IO rooms of Huddle's: its node's
//! (`huddle:node:{id}`) and, once it is bound to a user, that user's (`huddle:user:{id}`).
//! Events addressed to users reach the other nodes' sockets through the Redis adapter:
//! `io.to(user rooms).except(this node's room).emit(..)` (this node's sockets were served by
//! the domain's own emit already).

use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::adapter::{Adapter, Emitter};
use socketioxide::socket::Sid;
use std::future::Future;
use std::pin::Pin;

/// The socketioxide adapter of a Huddle node in cluster mode: socketioxide-redis on the
/// cluster's reconnecting Redis connection.
pub type ClusterAdapter = socketioxide_redis::CustomRedisAdapter<Emitter, cluster::AdapterDriver>;

/// A boxed future of the hub.
pub type HubFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// What Huddle needs of a Socket.IO server.
pub trait SocketHub: Send + Sync + 'static {
    /// Emit `event` to the socket `sid` of this node; `false` when it is not connected here.
    fn emit(&self, sid: &str, event: &str, payload: &Value) -> bool;

    /// Cluster mode: `sid` (of this node) is now `user`'s device; it receives that user's
    /// events from other nodes. A no-op otherwise.
    fn bind_user(&self, sid: &str, user: &str);

    /// Cluster mode: `event` to every socket of `users` on the *other* nodes, through the
    /// Socket.IO adapter. Resolves once it is published.
    fn relay<'a>(
        &'a self,
        users: &'a [String],
        event: &'a str,
        payload: &'a Value,
    ) -> HubFuture<'a>;

    /// `event` to every socket of this node (never to other nodes').
    fn emit_local<'a>(&'a self, event: &'a str, payload: &'a Value) -> HubFuture<'a>;

    /// Disconnect every socket of this node (never other nodes').
    fn disconnect_local(&self) -> HubFuture<'_>;
}

/// The Socket.IO room of `user`'s sockets (cluster mode).
pub fn user_room(user: &str) -> String {
    format!("huddle:user:{user}")
}

/// The Socket.IO room of every socket of node `node` (cluster mode).
pub fn node_room(node: &str) -> String {
    format!("huddle:node:{node}")
}

/// A [`SocketHub`] on a socketioxide server with adapter `A`.
pub struct Hub<A: Adapter> {
    io: SocketIo<A>,
    /// Cluster mode: this node's room.
    node_room: Option<String>,
}

impl<A: Adapter> Hub<A> {
    /// A hub on `io`; `node_room` in cluster mode (the io must then use [`ClusterAdapter`]).
    pub fn new(io: SocketIo<A>, node_room: Option<String>) -> Self {
        Self { io, node_room }
    }
}

impl<A: Adapter> SocketHub for Hub<A> {
    fn emit(&self, sid: &str, event: &str, payload: &Value) -> bool {
        let Ok(id) = sid.parse::<Sid>() else {
            return false;
        };
        let Some(socket) = self.io.get_socket(id) else {
            return false;
        };
        if let Err(e) = socket.emit(event, payload) {
            tracing::debug!(sid, event, error = %e, "emit failed");
        }
        true
    }

    fn bind_user(&self, sid: &str, user: &str) {
        let Some(node_room) = &self.node_room else {
            return;
        };
        let Some(socket) = sid
            .parse::<Sid>()
            .ok()
            .and_then(|id| self.io.get_socket(id))
        else {
            return;
        };
        let room = user_room(user);
        let stale: Vec<String> = socket
            .rooms()
            .into_iter()
            .map(|r| r.into_owned())
            .filter(|r| r.starts_with("huddle:user:") && *r != room)
            .collect();
        if !stale.is_empty() {
            socket.leave(stale);
        }
        socket.join(vec![room, node_room.clone()]);
    }

    fn relay<'a>(
        &'a self,
        users: &'a [String],
        event: &'a str,
        payload: &'a Value,
    ) -> HubFuture<'a> {
        Box::pin(async move {
            let Some(node_room) = &self.node_room else {
                return Ok(());
            };
            let rooms: Vec<String> = users.iter().map(|u| user_room(u)).collect();
            self.io
                .to(rooms)
                .except(node_room.clone())
                .emit(event, payload)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn emit_local<'a>(&'a self, event: &'a str, payload: &'a Value) -> HubFuture<'a> {
        Box::pin(async move {
            self.io
                .local()
                .emit(event, payload)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn disconnect_local(&self) -> HubFuture<'_> {
        Box::pin(async move {
            self.io
                .local()
                .disconnect()
                .await
                .map_err(|e| e.to_string())
        })
    }
}
