//! The cluster's active rooms: this node publishes the rooms it is home of (count and listed
//! participants) to the replica, and `join` / `get_active_calls` read the rooms homed
//! elsewhere from it, in memory.

use super::ClusterLink;
use crate::app::App;
use call_domain::{ConversationRecord, DisplayPolicy};
use signal_proto::ParticipantInfo;
use signal_proto::responses::ActiveCall;
use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;

impl ClusterLink {
    /// Rooms active on other nodes (ids), from the replica: no Redis round trip.
    pub(crate) fn remote_room_ids(&self) -> Vec<String> {
        let replica = self.node.replica();
        if replica.is_empty() {
            return Vec::new();
        }
        replica
            .active_rooms()
            .into_iter()
            .filter(|r| r.home_node.as_ref() != Some(self.node_id()))
            .map(|r| r.conversation_id)
            .collect()
    }

    /// Active-call entries of the rooms in `records` that are homed on other nodes.
    pub(crate) fn remote_active_calls(
        &self,
        records: &[ConversationRecord],
        display: &DisplayPolicy,
        local: &[ActiveCall],
    ) -> Vec<ActiveCall> {
        let replica = self.node.replica();
        records
            .iter()
            .filter(|c| !local.iter().any(|l| l.conversation_id == c.id))
            .filter_map(|c| {
                let room = replica.room(&c.id)?;
                if room.home_node.as_ref() == Some(self.node_id()) {
                    return None;
                }
                let participants: Vec<ParticipantInfo> = room
                    .detail
                    .and_then(|d| serde_json::from_value(d).ok())
                    .unwrap_or_default();
                Some(ActiveCall {
                    conversation_id: c.id.clone(),
                    conversation_info: display.conversation_info(c),
                    participant_count: room.participant_count as usize,
                    participants,
                })
            })
            .collect()
    }
}

/// Publishes the replica entries of changed rooms, one at a time (changes that arrive
/// meanwhile are coalesced), and releases the claim of rooms that ended here.
pub(crate) async fn publish_loop(
    link: Arc<ClusterLink>,
    app: Weak<App>,
    mut rx: mpsc::UnboundedReceiver<String>,
) {
    while let Some(first) = rx.recv().await {
        let mut rooms = BTreeSet::from([first]);
        while let Ok(room) = rx.try_recv() {
            rooms.insert(room);
        }
        let Some(app) = app.upgrade() else { break };
        for room in rooms {
            let (count, listed) = {
                let st = app.state.lock();
                match st.room(&room) {
                    Some(r) => (r.participant_count(), r.listed_participants()),
                    None => (0, Vec::new()),
                }
            };
            let detail = serde_json::to_value(&listed).ok();
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            if let Err(error) = link
                .node
                .replica()
                .set_local_with(&room, link.node_id(), count, detail)
                .await
            {
                tracing::warn!(room, %error, "cluster: room state not published");
            }
            if count == 0 {
                release(&link, &app, &room).await;
            }
        }
    }
}

/// The room ended here: give up its claim (only if it is still ours and still empty).
async fn release(link: &ClusterLink, app: &App, room: &str) {
    let Some(epoch) = link.node.authority().owned_epoch(room) else {
        return;
    };
    if app.state.lock().room(room).is_some() {
        return;
    }
    match link.node.authority().release(room, epoch).await {
        Ok(true) => tracing::info!(room, epoch, "cluster: room claim released"),
        Ok(false) => tracing::info!(room, epoch, "cluster: room claim was not ours any more"),
        Err(error) => tracing::warn!(room, %error, "cluster: room claim not released"),
    }
}
