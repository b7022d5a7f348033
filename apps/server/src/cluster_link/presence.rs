//! Who is online and busy across the cluster, for 1:1 calls: `check-user-availability` and
//! `initiate-call` ask every other node (one request each, in parallel; `initiate-call` is
//! rare), so a callee on another node rings and a user in a call anywhere is busy.

use super::ClusterLink;
use super::wire::{ToNode, UserPresence};
use crate::app::App;
use call_domain::RemotePresence;
use cluster::NodeId;
use std::collections::HashMap;

/// Each user as the other nodes see it, with the nodes of its sockets.
#[derive(Debug, Default)]
pub(crate) struct ClusterPresence {
    users: HashMap<String, (RemotePresence, Vec<(NodeId, String)>)>,
}

impl ClusterPresence {
    /// The merged view of `user` (nothing known: offline elsewhere).
    pub(crate) fn of(&self, user: &str) -> RemotePresence {
        self.users
            .get(user)
            .map(|(p, _)| p.clone())
            .unwrap_or_default()
    }

    /// `user`'s sockets on other nodes, with their node.
    pub(crate) fn sockets_of(&self, user: &str) -> &[(NodeId, String)] {
        self.users.get(user).map_or(&[], |(_, s)| s.as_slice())
    }
}

impl ClusterLink {
    /// Ask every other live node about `users`. A node that does not answer in time counts
    /// as knowing nothing (logged); without Redis the view is empty (calls on this node go on).
    pub(crate) async fn presence(&self, users: &[String]) -> ClusterPresence {
        let mut view = ClusterPresence::default();
        if !self.is_up() {
            return view;
        }
        let me = self.node_id().clone();
        let peers: Vec<NodeId> = self
            .node
            .registry()
            .alive_nodes()
            .into_iter()
            .filter(|n| *n != me)
            .collect();
        let body = ToNode::Presence {
            users: users.to_vec(),
        };
        let asks = peers.iter().map(|peer| {
            let body = &body;
            async move {
                let answer = self
                    .node
                    .rpc()
                    .request::<_, Vec<UserPresence>>(peer, body)
                    .await;
                (peer.clone(), answer)
            }
        });
        for (peer, answer) in futures::future::join_all(asks).await {
            match answer {
                Ok(list) => {
                    for p in list {
                        let (merged, sockets) = view.users.entry(p.user).or_default();
                        merged.online |= !p.sockets.is_empty();
                        merged.busy |= p.busy;
                        merged.sockets.extend(p.sockets.iter().cloned());
                        sockets.extend(p.sockets.into_iter().map(|s| (peer.clone(), s)));
                    }
                }
                Err(error) => {
                    tracing::warn!(peer = %peer, %error, "cluster: presence not answered")
                }
            }
        }
        view
    }
}

/// This node's answer to [`ToNode::Presence`].
pub(crate) fn answer(app: &App, users: &[String]) -> Vec<UserPresence> {
    let st = app.state.lock();
    users
        .iter()
        .map(|u| UserPresence {
            user: u.clone(),
            sockets: st.sockets_of(u),
            busy: st.in_call(u),
        })
        .collect()
}

impl ClusterLink {
    /// Connect `user`'s sockets of other nodes as proxies here, so a 1:1 call of this node
    /// rings them; returns their ids.
    pub(crate) fn ring_proxies(
        &self,
        app: &App,
        user: &str,
        sockets: &[(NodeId, String)],
    ) -> Vec<String> {
        let mut st = app.state.lock();
        for (node, sid) in sockets {
            st.connect_proxy(sid, user);
            self.add_proxy(sid, node.clone());
        }
        sockets.iter().map(|(_, sid)| sid.clone()).collect()
    }

    /// Forget proxies made for a call that did not ring.
    pub(crate) fn forget_proxies(&self, app: &App, sids: &[String]) {
        for sid in sids {
            super::forward::proxy_gone(app, self, sid);
        }
    }
}
