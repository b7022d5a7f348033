//! Ack payloads (server → client callbacks).

use crate::info::{ConversationInfo, ParticipantInfo};
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

/// `createRoom` ack: `{ rtpCapabilities }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoomResponse {
    /// Router RTP capabilities for `device.load()`.
    pub rtp_capabilities: Value,
}

/// `produce` ack: `{ id }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProduceResponse {
    /// Producer id.
    pub id: String,
}

/// `consume` ack: `{ id, producerId, kind, rtpParameters }`.
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
}

/// One entry of `getProducers`: `{ id, kind, socketId, participantInfo }`.
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
