//! [`Ack`]: where a request's answer goes — the client's Socket.IO callback, or, for a request
//! another cluster node forwarded to a room's home node, back to that node.

use serde::Serialize;
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::extract::AckSender;
use std::any::Any;
use tokio::sync::oneshot;

/// An ack callback of a socket on a server with another adapter (a host's own).
type OtherAck = Box<dyn FnOnce(&serde_json::Value) -> Result<(), String> + Send>;

/// The answer channel of one request.
pub enum Ack {
    /// The client's ack callback (a no-op when it sent none).
    Socket(AckSender),
    /// The same, on a cluster node's server (socketioxide-redis adapter).
    ClusterSocket(AckSender<crate::hub::ClusterAdapter>),
    /// The same, on a host's server with an adapter of its own (answered as JSON).
    OtherSocket(OtherAck),
    /// A forwarded request: the answer goes back to the node that forwarded it.
    Forwarded(oneshot::Sender<serde_json::Value>),
}

/// The answer could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("ack not sent: {0}")]
pub struct AckError(String);

impl Ack {
    /// Send the answer.
    pub fn send<T: Serialize + ?Sized>(self, payload: &T) -> Result<(), AckError> {
        match self {
            Ack::Socket(ack) => ack.send(payload).map_err(|e| AckError(e.to_string())),
            Ack::ClusterSocket(ack) => ack.send(payload).map_err(|e| AckError(e.to_string())),
            Ack::OtherSocket(send) => {
                let value = serde_json::to_value(payload).map_err(|e| AckError(e.to_string()))?;
                send(&value).map_err(AckError)
            }
            Ack::Forwarded(tx) => {
                let value = serde_json::to_value(payload).map_err(|e| AckError(e.to_string()))?;
                tx.send(value)
                    .map_err(|_| AckError("forwarding node gone".into()))
            }
        }
    }
}

impl<A: Adapter> From<AckSender<A>> for Ack {
    fn from(ack: AckSender<A>) -> Self {
        let any: Box<dyn Any> = Box::new(ack);
        let any = match any.downcast::<AckSender<LocalAdapter>>() {
            Ok(ack) => return Ack::Socket(*ack),
            Err(any) => any,
        };
        let any = match any.downcast::<AckSender<crate::hub::ClusterAdapter>>() {
            Ok(ack) => return Ack::ClusterSocket(*ack),
            Err(any) => any,
        };
        match any.downcast::<AckSender<A>>() {
            Ok(ack) => Ack::OtherSocket(Box::new(move |value: &serde_json::Value| {
                ack.send(value).map_err(|e| e.to_string())
            })),
            // Unreachable: `any` is an `AckSender<A>`.
            Err(_) => Ack::OtherSocket(Box::new(|_: &serde_json::Value| {
                Err("ack of an unknown adapter".to_owned())
            })),
        }
    }
}
