//! Node-to-node requests over pub/sub.
//!
//! A request is published on the target's `huddle:node:{id}:rpc` channel as
//! `{"id":..,"from":..,"reply_to":"huddle:node:{from}:reply","body":..}`; the target answers on
//! `reply_to` with `{"id":..,"from":..,"ok":..}` or `{"id":..,"from":..,"err":".."}`. One-way
//! messages have `"reply_to": null`. Bodies are any JSON (the server defines the types). A
//! request that nobody receives (the target is not subscribed), or that is not answered within
//! the RPC timeout, fails with [`ClusterError::Unavailable`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::connection::RedisConnection;
use crate::{ClusterError, NodeId, keys};

/// Requests queued for the handler before new ones are refused.
const INCOMING_CAPACITY: usize = 1024;

/// A request or one-way message as published.
#[derive(Debug, Serialize, Deserialize)]
struct RequestEnvelope {
    id: u64,
    from: NodeId,
    reply_to: Option<String>,
    body: Value,
}

/// A reply as published.
#[derive(Debug, Serialize, Deserialize)]
struct ReplyEnvelope {
    id: u64,
    from: NodeId,
    #[serde(flatten)]
    result: ReplyResult,
}

/// The outcome carried by a reply.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ReplyResult {
    Ok(Value),
    Err(String),
}

/// Typed request/response between nodes. Obtained from [`crate::Node::rpc`].
pub struct Rpc {
    id: NodeId,
    conn: RedisConnection,
    timeout: Duration,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<ReplyResult>>>,
    incoming: mpsc::Sender<IncomingRequest>,
    /// The receiving end until [`Rpc::requests`] takes it.
    stream: Mutex<Option<mpsc::Receiver<IncomingRequest>>>,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rpc")
            .field("id", &self.id)
            .field("pending", &self.pending.lock().len())
            .finish_non_exhaustive()
    }
}

impl Rpc {
    pub(crate) fn new(id: NodeId, conn: RedisConnection, timeout: Duration) -> Self {
        let (incoming, stream) = mpsc::channel(INCOMING_CAPACITY);
        Self {
            id,
            conn,
            timeout,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            incoming,
            stream: Mutex::new(Some(stream)),
        }
    }

    /// Sends `body` to node `to` and waits for its answer, at most the RPC timeout.
    ///
    /// Fails with [`ClusterError::Unavailable`] when Redis is down, when no node listens on
    /// `to`'s channel, or on timeout; with [`ClusterError::Remote`] when the handler answered
    /// an error; with [`ClusterError::Codec`] when the answer is not a `Resp`.
    pub async fn request<Req, Resp>(&self, to: &NodeId, body: &Req) -> Result<Resp, ClusterError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, tx);
        let _pending = PendingGuard { rpc: self, id };
        let envelope = RequestEnvelope {
            id,
            from: self.id.clone(),
            reply_to: Some(keys::node_reply(&self.id)),
            body: serde_json::to_value(body)?,
        };
        let payload = serde_json::to_vec(&envelope)?;
        let exchange = async {
            let receivers = self.conn.publish(&keys::node_rpc(to), &payload).await?;
            if receivers == 0 {
                tracing::debug!(node = %self.id, to = %to, "request: no node listens");
                return Err(ClusterError::Unavailable);
            }
            rx.await.map_err(|_| ClusterError::Unavailable)
        };
        let result = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result?,
            Err(_) => {
                tracing::warn!(node = %self.id, to = %to, request = id, "request timed out");
                return Err(ClusterError::Unavailable);
            }
        };
        match result {
            ReplyResult::Ok(value) => Ok(serde_json::from_value(value)?),
            ReplyResult::Err(message) => Err(ClusterError::Remote(message)),
        }
    }

    /// Sends `body` to node `to` without waiting for an answer. Fails with
    /// [`ClusterError::Unavailable`] when Redis is down or no node listens on `to`'s channel.
    pub async fn notify<T: Serialize + ?Sized>(
        &self,
        to: &NodeId,
        body: &T,
    ) -> Result<(), ClusterError> {
        let envelope = RequestEnvelope {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            from: self.id.clone(),
            reply_to: None,
            body: serde_json::to_value(body)?,
        };
        let receivers = self
            .conn
            .publish(&keys::node_rpc(to), &serde_json::to_vec(&envelope)?)
            .await?;
        if receivers == 0 {
            return Err(ClusterError::Unavailable);
        }
        Ok(())
    }

    /// The stream of requests and one-way messages addressed to this node. Only the first call
    /// gets it (`None` after); until then requests are answered with an error.
    pub fn requests(&self) -> Option<RequestStream> {
        self.stream.lock().take().map(|rx| RequestStream { rx })
    }

    /// Handles one message of this node's RPC channel.
    pub(crate) fn on_request(&self, payload: &[u8]) {
        let envelope = match serde_json::from_slice::<RequestEnvelope>(payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(%error, "undecodable request");
                return;
            }
        };
        let replier = envelope.reply_to.map(|channel| Replier {
            conn: self.conn.clone(),
            channel,
            id: envelope.id,
            from: self.id.clone(),
        });
        let request = IncomingRequest {
            from: envelope.from,
            body: envelope.body,
            replier,
        };
        if self.stream.lock().is_some() {
            request.refuse(format!("node {} has no request handler", self.id));
            return;
        }
        if let Err(error) = self.incoming.try_send(request) {
            let request = match error {
                mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
            };
            tracing::warn!(node = %self.id, from = %request.from, "request refused: handler queue full or closed");
            request.refuse(format!("node {} cannot take requests now", self.id));
        }
    }

    /// Handles one message of this node's reply channel.
    pub(crate) fn on_reply(&self, payload: &[u8]) {
        match serde_json::from_slice::<ReplyEnvelope>(payload) {
            Ok(reply) => {
                if let Some(tx) = self.pending.lock().remove(&reply.id) {
                    let _ = tx.send(reply.result);
                } else {
                    tracing::debug!(request = reply.id, from = %reply.from, "late reply dropped");
                }
            }
            Err(error) => tracing::warn!(%error, "undecodable reply"),
        }
    }
}

/// Removes a request's pending entry however the request ends (answer, error, timeout, drop).
struct PendingGuard<'a> {
    rpc: &'a Rpc,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.rpc.pending.lock().remove(&self.id);
    }
}

/// The requests addressed to this node, from [`Rpc::requests`].
#[derive(Debug)]
pub struct RequestStream {
    rx: mpsc::Receiver<IncomingRequest>,
}

impl RequestStream {
    /// The next request; `None` when the node stopped.
    pub async fn recv(&mut self) -> Option<IncomingRequest> {
        self.rx.recv().await
    }
}

/// Where and how to answer one request.
#[derive(Debug)]
struct Replier {
    conn: RedisConnection,
    channel: String,
    id: u64,
    from: NodeId,
}

impl Replier {
    async fn send(self, result: ReplyResult) -> Result<(), ClusterError> {
        let reply = ReplyEnvelope {
            id: self.id,
            from: self.from,
            result,
        };
        self.conn
            .publish(&self.channel, &serde_json::to_vec(&reply)?)
            .await?;
        Ok(())
    }
}

/// A request (or one-way message) from another node. Answer it with
/// [`IncomingRequest::respond`] or [`IncomingRequest::respond_error`]; one dropped without an
/// answer is answered with an error, so the requester does not wait for its timeout.
#[derive(Debug)]
pub struct IncomingRequest {
    from: NodeId,
    body: Value,
    replier: Option<Replier>,
}

impl IncomingRequest {
    /// The requesting node.
    pub fn from(&self) -> &NodeId {
        &self.from
    }

    /// The raw JSON body.
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The body decoded as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ClusterError> {
        Ok(T::deserialize(&self.body)?)
    }

    /// Whether the sender waits for an answer (`false` for [`Rpc::notify`]).
    pub fn expects_reply(&self) -> bool {
        self.replier.is_some()
    }

    /// Answers with `body` (no-op for a one-way message).
    pub async fn respond<T: Serialize + ?Sized>(mut self, body: &T) -> Result<(), ClusterError> {
        let value = serde_json::to_value(body)?;
        match self.replier.take() {
            Some(replier) => replier.send(ReplyResult::Ok(value)).await,
            None => Ok(()),
        }
    }

    /// Answers with an error; the requester gets [`ClusterError::Remote`] with `message`.
    pub async fn respond_error(mut self, message: impl Into<String>) -> Result<(), ClusterError> {
        match self.replier.take() {
            Some(replier) => replier.send(ReplyResult::Err(message.into())).await,
            None => Ok(()),
        }
    }

    /// Answers an error in the background (from synchronous code).
    fn refuse(mut self, message: String) {
        if let Some(replier) = self.replier.take() {
            spawn_reply(replier, ReplyResult::Err(message));
        }
    }
}

impl Drop for IncomingRequest {
    fn drop(&mut self) {
        if let Some(replier) = self.replier.take() {
            let message = format!(
                "node {} dropped the request without answering",
                replier.from
            );
            spawn_reply(replier, ReplyResult::Err(message));
        }
    }
}

/// Publishes a reply from a spawned task, if a runtime is running.
fn spawn_reply(replier: Replier, result: ReplyResult) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Err(error) = replier.send(result).await {
                tracing::debug!(%error, "reply not sent");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_have_a_stable_shape() {
        let from = NodeId::new("a").unwrap_or_else(|e| panic!("{e}"));
        let reply = ReplyEnvelope {
            id: 3,
            from: from.clone(),
            result: ReplyResult::Ok(serde_json::json!({"x": 1})),
        };
        assert_eq!(
            serde_json::to_string(&reply).unwrap_or_else(|e| panic!("{e}")),
            r#"{"id":3,"from":"a","ok":{"x":1}}"#
        );
        let err = ReplyEnvelope {
            id: 4,
            from,
            result: ReplyResult::Err("no".into()),
        };
        assert_eq!(
            serde_json::to_string(&err).unwrap_or_else(|e| panic!("{e}")),
            r#"{"id":4,"from":"a","err":"no"}"#
        );
    }
}
