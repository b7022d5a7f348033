//! Ack payloads (server → client callbacks).

use crate::info::{ConversationInfo, ParticipantInfo};
use crate::producer::ProducerSource;
use serde::Serialize;
use serde_json::Value;

/// `{ error }`: the failure ack of every request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorResponse {
    /// Human-readable error (one of [`crate::errors`] or a media error message).
    pub error: String,
}

impl ErrorResponse {
    /// Build from any message.
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
        }
    }
}

/// `{ success: true }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SuccessResponse {
    /// Always true.
    pub success: bool,
}

impl SuccessResponse {
    /// `{ success: true }`.
    pub const OK: SuccessResponse = SuccessResponse { success: true };
}

/// `createRoom` ack: `{ rtpCapabilities, participants, activeSpeaker }` (the last two are
/// Huddle additions: the room as it is, so a late joiner can draw it at once).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoomResponse {
    /// Router RTP capabilities for `device.load()`.
    pub rtp_capabilities: Value,
    /// Every other participant of the room, in join order.
    pub participants: Vec<RoomParticipant>,
    /// The current dominant speaker (`null` until someone spoke).
    pub active_speaker: Option<ActiveSpeaker>,
    /// The room's recording in progress, `{recordingId}`, or `null`.
    pub recording: Option<RecordingRef>,
}

/// A recording in progress (`createRoom` ack `recording`, `startRecording` ack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingRef {
    /// The recording.
    pub recording_id: String,
}

/// One other participant in the `createRoom` ack:
/// `{ socketId, participantInfo, producers: [{id, kind, source, paused}] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomParticipant {
    /// The participant's socket.
    pub socket_id: String,
    /// Who it is.
    pub participant_info: ParticipantInfo,
    /// Its producers, in creation order.
    pub producers: Vec<ParticipantProducer>,
}

/// One producer of a [`RoomParticipant`]: `{ id, kind, source, paused }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantProducer {
    /// Producer id.
    pub id: String,
    /// `"audio"` / `"video"`.
    pub kind: String,
    /// What the track carries.
    pub source: ProducerSource,
    /// Whether its owner paused it (muted).
    pub paused: bool,
}

/// The dominant speaker of a room: `{ socketId, userId, producerId }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveSpeaker {
    /// The speaker's socket.
    pub socket_id: String,
    /// The speaker's user id.
    pub user_id: String,
    /// The audio producer that speaks.
    pub producer_id: String,
}

/// `produce` ack: `{ id }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProduceResponse {
    /// Producer id.
    pub id: String,
}

/// `consume` ack: `{ id, producerId, kind, rtpParameters, producerPaused, appData, type }`
/// (the last three are Huddle additions).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeResponse {
    /// Consumer id.
    pub id: String,
    /// Consumed producer id.
    pub producer_id: String,
    /// `"audio"` / `"video"`.
    pub kind: String,
    /// RTP parameters for `recvTransport.consume()`.
    pub rtp_parameters: Value,
    /// Whether the producer's owner has paused it (muted).
    pub producer_paused: bool,
    /// The producer's application data (as given to `produce`, `{}` when none).
    pub app_data: Value,
    /// `"simple"`, `"simulcast"` or `"svc"`: how the consumer forwards layers.
    #[serde(rename = "type")]
    pub consumer_type: String,
}

/// One entry of `getProducers`: `{ id, kind, socketId, participantInfo, paused, source,
/// appData }` (the last three are Huddle additions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerEntry {
    /// Producer id.
    pub id: String,
    /// `"audio"` / `"video"`.
    pub kind: String,
    /// Socket that produces it.
    pub socket_id: String,
    /// Who produces it.
    pub participant_info: ParticipantInfo,
    /// Whether its owner paused it (muted).
    pub paused: bool,
    /// What the track carries.
    pub source: ProducerSource,
    /// The application data given to `produce` (`{}` when none).
    pub app_data: Value,
}

/// `getProducers` ack: `{ producers }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProducersResponse {
    /// Every producer of the room.
    pub producers: Vec<ProducerEntry>,
}

/// One active call: `{ conversationId, conversationInfo, participantCount }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveCall {
    /// Conversation id.
    pub conversation_id: String,
    /// Conversation display info.
    pub conversation_info: ConversationInfo,
    /// Participants currently in the call.
    pub participant_count: usize,
    /// Huddle addition: the first five distinct users in the call, in join order
    /// (as in `group_call_updated`).
    pub participants: Vec<ParticipantInfo>,
}

/// `{ calls }`: `get_active_calls` ack and `active_group_calls` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveCallsResponse {
    /// Active calls of the user's conversations.
    pub calls: Vec<ActiveCall>,
}

/// `restartIce` ack: `{ iceParameters }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartIceResponse {
    /// New ICE parameters for `transport.restartIce()`.
    pub ice_parameters: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alice() -> ParticipantInfo {
        ParticipantInfo {
            user_id: "1".into(),
            name: "Alice".into(),
            avatar: None,
        }
    }

    #[test]
    fn create_room_ack_keeps_rtp_capabilities_and_adds_the_snapshot() {
        let ack = CreateRoomResponse {
            rtp_capabilities: json!({"codecs": []}),
            participants: vec![RoomParticipant {
                socket_id: "s1".into(),
                participant_info: alice(),
                producers: vec![ParticipantProducer {
                    id: "p1".into(),
                    kind: "audio".into(),
                    source: ProducerSource::Microphone,
                    paused: true,
                }],
            }],
            active_speaker: None,
            recording: None,
        };
        assert_eq!(
            serde_json::to_value(&ack).ok(),
            Some(json!({
                "rtpCapabilities": {"codecs": []},
                "participants": [{
                    "socketId": "s1",
                    "participantInfo": {"userId": "1", "name": "Alice", "avatar": null},
                    "producers": [{"id": "p1", "kind": "audio", "source": "microphone", "paused": true}],
                }],
                "activeSpeaker": null,
                "recording": null,
            }))
        );
        let speaker = ActiveSpeaker {
            socket_id: "s1".into(),
            user_id: "1".into(),
            producer_id: "p1".into(),
        };
        assert_eq!(
            serde_json::to_value(&speaker).ok(),
            Some(json!({"socketId": "s1", "userId": "1", "producerId": "p1"}))
        );
    }

    #[test]
    fn consume_ack_and_producer_entry_shapes() {
        let ack = ConsumeResponse {
            id: "c".into(),
            producer_id: "p".into(),
            kind: "video".into(),
            rtp_parameters: json!({}),
            producer_paused: false,
            app_data: json!({"source": "screen"}),
            consumer_type: "simulcast".into(),
        };
        assert_eq!(
            serde_json::to_value(&ack).ok(),
            Some(
                json!({"id": "c", "producerId": "p", "kind": "video", "rtpParameters": {},
                        "producerPaused": false, "appData": {"source": "screen"},
                        "type": "simulcast"})
            )
        );
        let entry = ProducerEntry {
            id: "p".into(),
            kind: "audio".into(),
            socket_id: "s".into(),
            participant_info: alice(),
            paused: true,
            source: ProducerSource::ScreenAudio,
            app_data: json!({}),
        };
        assert_eq!(
            serde_json::to_value(&entry).ok(),
            Some(json!({"id": "p", "kind": "audio", "socketId": "s",
                        "participantInfo": {"userId": "1", "name": "Alice", "avatar": null},
                        "paused": true, "source": "screen-audio", "appData": {}}))
        );
    }
}
