//! Events that cross nodes, sent in order by one task: relays to users (through the
//! socketioxide-redis adapter, to the users' Socket.IO rooms on the other nodes) and
//! deliveries to proxy sockets (to their node); and emits to this node's sockets.

use super::ClusterLink;
use super::wire::ToNode;
use crate::app::App;
use cluster::NodeId;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// An event for every socket of `users` on the other nodes.
#[derive(Debug, Clone)]
pub struct Relay {
    /// Target users.
    pub users: Vec<String>,
    /// Event name.
    pub event: String,
    /// Event payload.
    pub payload: Value,
}

/// One queued outgoing message.
pub enum Outgoing {
    /// To every other node.
    Relay(Relay),
    /// To one node.
    ToNode(NodeId, ToNode),
    /// Answered once everything queued before it is sent.
    Flush(oneshot::Sender<()>),
}

impl ClusterLink {
    /// Queue `event` for every socket of `users` on the other nodes.
    pub(crate) fn relay(&self, users: Vec<String>, event: &str, payload: Value) {
        let relay = Relay {
            users,
            event: event.to_owned(),
            payload,
        };
        let _ = self.outbox.send(Outgoing::Relay(relay));
    }

    /// Queue a message for node `to` (in order with the relays).
    pub(crate) fn send_to(&self, to: NodeId, message: ToNode) {
        let _ = self.outbox.send(Outgoing::ToNode(to, message));
    }
}

/// Wait until everything queued so far is sent (or failed).
pub(crate) async fn flush(link: &ClusterLink) {
    let (tx, rx) = oneshot::channel();
    if link.outbox.send(Outgoing::Flush(tx)).is_ok() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), rx).await;
    }
}

/// Sends the queue in order. A message that cannot be sent (Redis down, node gone) is
/// dropped with a log line: the cluster's failure handling (node death, resync) repairs
/// state, not retries of stale events.
pub(crate) async fn send_loop(
    link: Arc<ClusterLink>,
    hub: Arc<dyn crate::hub::SocketHub>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    while let Some(message) = rx.recv().await {
        let result = match message {
            Outgoing::Relay(relay) => {
                metrics::counter!("huddle_cluster_relays_total").increment(1);
                hub.relay(&relay.users, &relay.event, &relay.payload)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))
            }
            Outgoing::ToNode(to, body) => {
                metrics::counter!("huddle_cluster_deliveries_total").increment(1);
                link.node
                    .rpc()
                    .notify(&to, &body)
                    .await
                    .map_err(anyhow::Error::from)
            }
            Outgoing::Flush(done) => {
                let _ = done.send(());
                Ok(())
            }
        };
        if let Err(error) = result {
            metrics::counter!("huddle_cluster_send_failures_total").increment(1);
            tracing::warn!(%error, "cluster message not sent");
        }
    }
}

/// Emit to this node's sockets.
pub(crate) fn emit_local<'a>(
    app: &App,
    sids: impl IntoIterator<Item = &'a String>,
    event: &str,
    payload: &Value,
) {
    for sid in sids {
        app.io.emit(sid, event, payload);
    }
}
