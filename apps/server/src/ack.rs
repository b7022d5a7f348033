//! [`Ack`]: where a request's answer goes — the client's Socket.IO callback, or, for a request
//! another cluster node forwarded to a room's home node, back to that node.

use serde::Serialize;
use socketioxide::extract::AckSender;
use tokio::sync::oneshot;

/// The answer channel of one request.
pub enum Ack {
    /// The client's ack callback (a no-op when it sent none).
    Socket(AckSender),
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
            Ack::Forwarded(tx) => {
                let value = serde_json::to_value(payload).map_err(|e| AckError(e.to_string()))?;
                tx.send(value)
                    .map_err(|_| AckError("forwarding node gone".into()))
            }
        }
    }
}

impl From<AckSender> for Ack {
    fn from(ack: AckSender) -> Self {
        Ack::Socket(ack)
    }
}
