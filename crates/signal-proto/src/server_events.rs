//! Server → client event payloads.

use crate::ids::NumericId;
use crate::info::{CallerInfo, ConversationInfo, ParticipantInfo};
use serde::Serialize;

/// `group_call_incoming`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCallIncoming {
    /// Caller's user id (string).
    pub caller_id: String,
    /// Conversation id.
    pub conversation_id: String,
    /// `"video"` / `"audio"`.
    pub call_type: String,
    /// Caller display info.
    pub caller_info: CallerInfo,
    /// Conversation display info.
    pub conversation_info: ConversationInfo,
}

/// `group_call_started`; `callerInfo` only from `group_call_initiate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCallStarted {
    /// Conversation id.
    pub conversation_id: String,
    /// Conversation display info.
    pub conversation_info: ConversationInfo,
    /// Caller display info (initiate flow only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_info: Option<CallerInfo>,
}

/// `group_call_ended`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCallEnded {
    /// Conversation id.
    pub conversation_id: String,
}

/// `group_call_updated` (Huddle addition): the live state of a running call, for the
/// conversation list's "● Live · N" badge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCallUpdated {
    /// Conversation id.
    pub conversation_id: String,
    /// Participants (sockets) in the call: a user with two devices in the call counts twice.
    pub participant_count: usize,
    /// The first [`GroupCallUpdated::MAX_PARTICIPANTS`] distinct users, in join order.
    pub participants: Vec<ParticipantInfo>,
}

impl GroupCallUpdated {
    /// Most users listed in `participants` (here and in `ActiveCall`).
    pub const MAX_PARTICIPANTS: usize = 5;
}

/// `group_call_error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupCallError {
    /// What went wrong.
    pub message: String,
}

/// `newProducer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewProducer {
    /// Producer id.
    pub producer_id: String,
    /// `"audio"` / `"video"`.
    pub kind: String,
    /// Producing socket.
    pub socket_id: String,
    /// Who produces it.
    pub participant_info: ParticipantInfo,
}

/// `participantLeft`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantLeft {
    /// The socket that left.
    pub socket_id: String,
}

/// `producerClosed` (Huddle addition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerClosed {
    /// Producer id.
    pub producer_id: String,
    /// Socket that owned it.
    pub socket_id: String,
}

/// `removedFromRoom` (Huddle addition): the server took this socket out of its SFU room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovedFromRoom {
    /// The room (conversation id).
    pub room_id: String,
    /// Why, e.g. [`RemovedFromRoom::TRANSPORT_FAILED`].
    pub reason: String,
}

impl RemovedFromRoom {
    /// Reason: a media transport failed (ICE/DTLS) and did not recover within the grace period.
    pub const TRANSPORT_FAILED: &'static str = "transport_failed";
    /// Reason: an operator removed the user from the call.
    pub const REMOVED_BY_ADMIN: &'static str = "removed_by_admin";
    /// Reason: an operator ended the call.
    pub const ENDED_BY_ADMIN: &'static str = "ended_by_admin";
}

/// `server_shutdown` (Huddle addition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerShutdown {
    /// Why.
    pub reason: String,
}

/// Build a `callerInfo` (`id` numeric when possible).
pub fn caller_info(user_id: &str, name: String, avatar: Option<String>) -> CallerInfo {
    CallerInfo {
        id: NumericId::from_user_id(user_id),
        name,
        avatar,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_shapes_match_the_seeds() {
        let conv = ConversationInfo {
            id: "c1".into(),
            name: "Team".into(),
            avatar: None,
        };
        let started = GroupCallStarted {
            conversation_id: "c1".into(),
            conversation_info: conv.clone(),
            caller_info: None,
        };
        assert_eq!(
            serde_json::to_value(&started).ok(),
            Some(
                json!({"conversationId": "c1", "conversationInfo": {"id": "c1", "name": "Team", "avatar": null}})
            )
        );
        let incoming = GroupCallIncoming {
            caller_id: "42".into(),
            conversation_id: "c1".into(),
            call_type: "video".into(),
            caller_info: caller_info("42", "Alice".into(), Some("https://x/a.png".into())),
            conversation_info: conv,
        };
        let v = serde_json::to_value(&incoming).unwrap_or_default();
        assert_eq!(v["callerInfo"]["id"], json!(42));
        assert_eq!(v["callerId"], json!("42"));
        assert_eq!(v["callType"], json!("video"));
        let np = NewProducer {
            producer_id: "p".into(),
            kind: "audio".into(),
            socket_id: "s".into(),
            participant_info: ParticipantInfo {
                user_id: "42".into(),
                name: "A".into(),
                avatar: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&np).ok(),
            Some(json!({"producerId": "p", "kind": "audio", "socketId": "s",
                        "participantInfo": {"userId": "42", "name": "A", "avatar": null}}))
        );
    }
}
