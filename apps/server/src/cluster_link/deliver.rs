//! Events that cross nodes: relays to users (broadcast) and deliveries to proxy sockets (to
//! their node), sent in order by one task; and the receiving side.

use super::ClusterLink;
use super::wire::{Relay, ToNode};
use crate::app::App;
use cluster::{ClusterMessage, NodeId};
use serde_json::Value;
use socketioxide::socket::Sid;
use std::sync::{Arc, Weak};
use tokio::sync::{broadcast, mpsc, oneshot};

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
pub(crate) async fn send_loop(link: Arc<ClusterLink>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(message) = rx.recv().await {
        let result = match message {
            Outgoing::Relay(relay) => {
                metrics::counter!("huddle_cluster_relays_total").increment(1);
                link.node.messaging().broadcast(&relay).await
            }
            Outgoing::ToNode(to, body) => {
                metrics::counter!("huddle_cluster_deliveries_total").increment(1);
                link.node.rpc().notify(&to, &body).await
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
        let Ok(id) = sid.parse::<Sid>() else { continue };
        if let Some(socket) = app.io.get_socket(id)
            && let Err(e) = socket.emit(event, payload)
        {
            tracing::debug!(sid = %sid, event, error = %e, "emit failed");
        }
    }
}

/// Relays from other nodes: emit to this node's sockets of the users.
pub(crate) async fn relay_loop(app: Weak<App>, mut rx: broadcast::Receiver<Arc<ClusterMessage>>) {
    loop {
        let message = match rx.recv().await {
            Ok(m) => m,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "cluster relays lagged: events lost");
                metrics::counter!("huddle_cluster_relays_lost_total").increment(n);
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        let Some(app) = app.upgrade() else { break };
        let relay: Relay = match message.decode() {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(from = %message.from, %error, "undecodable relay");
                continue;
            }
        };
        let sids: Vec<String> = {
            let st = app.state.lock();
            relay.users.iter().flat_map(|u| st.sockets_of(u)).collect()
        };
        emit_local(&app, &sids, &relay.event, &relay.payload);
    }
}
