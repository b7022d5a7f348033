//! Server → client event payloads.

use crate::ids::NumericId;
use crate::info::{CallerInfo, ConversationInfo, ParticipantInfo};
use crate::producer::ProducerSource;
use serde::Serialize;
use serde_json::Value;

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

/// `newProducer`: `{ producerId, kind, socketId, participantInfo, paused, source, appData }`
/// (the last three are Huddle additions).
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
    /// Whether it is paused (muted).
    pub paused: bool,
    /// What the track carries.
    pub source: ProducerSource,
    /// The application data given to `produce` (`{}` when none).
    pub app_data: Value,
}

/// `producerPaused` / `producerResumed` (Huddle additions): `{ producerId, socketId, kind }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerPauseChange {
    /// Producer id.
    pub producer_id: String,
    /// Socket that owns it.
    pub socket_id: String,
    /// `"audio"` / `"video"`.
    pub kind: String,
    /// `"admin"` when an operator muted it (sent to the owner too); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl ProducerPauseChange {
    /// `by` of a pause made by an operator.
    pub const BY_ADMIN: &'static str = "admin";
}

/// `consumerLayersChanged` (Huddle addition): `{ consumerId, spatialLayer, temporalLayer }`,
/// both layers `null` when the consumer forwards nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerLayersChanged {
    /// Consumer id.
    pub consumer_id: String,
    /// Spatial layer now forwarded.
    pub spatial_layer: Option<u8>,
    /// Temporal layer now forwarded.
    pub temporal_layer: Option<u8>,
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
    /// Reason (cluster mode): the node the room lived on is gone; `createRoom` again makes a
    /// new home.
    pub const HOME_NODE_LOST: &'static str = "home_node_lost";
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
            paused: false,
            source: ProducerSource::Microphone,
            app_data: json!({"label": "mic"}),
        };
        assert_eq!(
            serde_json::to_value(&np).ok(),
            Some(json!({"producerId": "p", "kind": "audio", "socketId": "s",
                        "participantInfo": {"userId": "42", "name": "A", "avatar": null},
                        "paused": false, "source": "microphone", "appData": {"label": "mic"}}))
        );
        let paused = ProducerPauseChange {
            producer_id: "p".into(),
            socket_id: "s".into(),
            kind: "video".into(),
            by: None,
        };
        assert_eq!(
            serde_json::to_value(&paused).ok(),
            Some(json!({"producerId": "p", "socketId": "s", "kind": "video"}))
        );
        let layers = ConsumerLayersChanged {
            consumer_id: "c".into(),
            spatial_layer: Some(2),
            temporal_layer: Some(1),
        };
        assert_eq!(
            serde_json::to_value(&layers).ok(),
            Some(json!({"consumerId": "c", "spatialLayer": 2, "temporalLayer": 1}))
        );
        let none = ConsumerLayersChanged {
            consumer_id: "c".into(),
            spatial_layer: None,
            temporal_layer: None,
        };
        assert_eq!(
            serde_json::to_value(&none).ok(),
            Some(json!({"consumerId": "c", "spatialLayer": null, "temporalLayer": null}))
        );
    }
}

/// `activeSpeaker` (Huddle addition): `{ roomId, socketId, userId, producerId }`, to the room
/// when the dominant speaker changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveSpeakerChanged {
    /// The room.
    pub room_id: String,
    /// The speaker's socket.
    pub socket_id: String,
    /// The speaker's user id.
    pub user_id: String,
    /// The audio producer that speaks.
    pub producer_id: String,
}

/// One entry of `audioLevels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioLevel {
    /// The producer's socket.
    pub socket_id: String,
    /// Its user id.
    pub user_id: String,
    /// The audio producer.
    pub producer_id: String,
    /// Average volume of the last interval in dBov (−127 … 0; louder is closer to 0).
    pub volume: i8,
}

/// `audioLevels` (Huddle addition): `{ roomId, levels: [{socketId, userId, producerId,
/// volume}] }`, loudest first, at most twice a second while anyone is audible; one
/// `levels: []` when everyone fell silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioLevels {
    /// The room.
    pub room_id: String,
    /// The audible producers.
    pub levels: Vec<AudioLevel>,
}

/// A participant's connection quality (`connectionQuality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Every stream it sends and receives scores 7 or more (of mediasoup's 0–10).
    Excellent,
    /// The worst of its streams scores 4–6.
    Good,
    /// The worst of its streams scores 0–3.
    Poor,
    /// Its transports lost ICE or DTLS connectivity (disconnected, failed or closed).
    Lost,
}

/// `connectionQuality` (Huddle addition): `{ roomId, socketId, userId, quality }`, to the
/// room when a participant's quality changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionQuality {
    /// The room.
    pub room_id: String,
    /// The participant's socket.
    pub socket_id: String,
    /// Its user id.
    pub user_id: String,
    /// Its quality now.
    pub quality: Quality,
}

/// `recordingStarted` (Huddle addition): `{ roomId, recordingId }`, to every participant
/// (and to each later joiner as `recording` in the `createRoom` ack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStarted {
    /// The room.
    pub room_id: String,
    /// The recording.
    pub recording_id: String,
}

/// `recordingStopped` (Huddle addition): `{ roomId, recordingId, reason? }`; `reason` is
/// present when it stopped by itself: `"call_ended"`, or a fault (`"recorder_failed"`,
/// `"disk_full"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStopped {
    /// The room.
    pub room_id: String,
    /// The recording.
    pub recording_id: String,
    /// Why, when nobody stopped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
