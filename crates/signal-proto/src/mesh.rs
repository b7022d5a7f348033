//! Mesh (peer-to-peer) group calls (Threads seed `003_…`): event names, request payloads,
//! server events.
//!
//! A mesh room is identified by its conversation id (`roomId`). The server only keeps the
//! participant list and each participant's track state, and relays SDP / ICE between
//! participants of the same room; media flows directly between the clients.

use crate::ids::IdLike;
use crate::info::{CallerInfo, ConversationInfo, ParticipantInfo};
use crate::requests::{PayloadError, Validate};
use crate::signal::{
    MAX_CANDIDATE_BYTES, MAX_SDP_BYTES, check_blob, check_id_list, check_opt_id, either_id,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

// ----- event names -------------------------------------------------------------------------

/// Client → server: join the mesh room of a conversation.
pub const JOIN: &str = "groupcall:join";
/// Server → client (Huddle addition): the joiner's view of the room (when no callback).
pub const JOINED: &str = "groupcall:joined";
/// Client → server: leave the mesh room.
pub const LEAVE: &str = "groupcall:leave";
/// Both directions: invite members (C→S); an invitation rings (S→C).
pub const INVITATION: &str = "groupcall:invitation";
/// Server → client: someone joined the room.
pub const PARTICIPANT_JOINED: &str = "groupcall:participant-joined";
/// Server → client: someone left the room (or disconnected).
pub const PARTICIPANT_LEFT: &str = "groupcall:participant-left";
/// Both directions: SDP offer for one participant.
pub const WEBRTC_OFFER: &str = "groupcall:webrtc-offer";
/// Both directions: SDP answer for one participant.
pub const WEBRTC_ANSWER: &str = "groupcall:webrtc-answer";
/// Both directions: ICE candidate for one participant.
pub const WEBRTC_ICE_CANDIDATE: &str = "groupcall:webrtc-ice-candidate";
/// Client → server: the sender's track state changed.
pub const UPDATE_TRACKS: &str = "groupcall:update-tracks";
/// Server → client: a participant's track state changed.
pub const TRACKS_UPDATED: &str = "groupcall:tracks-updated";
/// Server → client (Huddle addition): a mesh request without callback failed.
pub const ERROR: &str = "groupcall:error";

// ----- error strings -------------------------------------------------------------------------

/// The socket is not a participant of the named (or any) mesh room.
pub const ERR_NOT_IN_ROOM: &str = "Not in this mesh room";
/// The relay target is not a participant of the sender's mesh room.
pub const ERR_TARGET_NOT_IN_ROOM: &str = "Target user is not in this mesh room";
/// No relay target.
pub const ERR_TARGET_REQUIRED: &str = "targetUserId required";

/// The error for a join above the size limit: it names the SFU flow.
pub fn room_full(max: usize) -> String {
    format!(
        "Mesh room is full (at most {max} participants): use the SFU group call (createRoom) instead"
    )
}

// ----- shared types --------------------------------------------------------------------------

/// A participant's track state, as last reported (`{audio, video}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackState {
    /// Microphone enabled.
    pub audio: bool,
    /// Camera enabled.
    pub video: bool,
}

impl Default for TrackState {
    /// Both on until the participant reports otherwise.
    fn default() -> Self {
        Self {
            audio: true,
            video: true,
        }
    }
}

impl TrackState {
    /// Apply a partial update.
    pub fn apply(&mut self, update: TrackUpdate) {
        if let Some(a) = update.audio {
            self.audio = a;
        }
        if let Some(v) = update.video {
            self.video = v;
        }
    }
}

/// A partial track update (`{audio?, video?}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct TrackUpdate {
    /// New microphone state.
    #[serde(default)]
    pub audio: Option<bool>,
    /// New camera state.
    #[serde(default)]
    pub video: Option<bool>,
}

// ----- requests ------------------------------------------------------------------------------

fn room(id: Option<&IdLike>) -> Option<String> {
    id.map(IdLike::normalized).filter(|r| !r.is_empty())
}

/// `groupcall:join {roomId, tracks?}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshJoinRequest {
    /// Conversation id; missing or empty → "roomId required".
    #[serde(default)]
    pub room_id: Option<IdLike>,
    /// Initial track state (default: audio and video on).
    #[serde(default)]
    pub tracks: Option<TrackUpdate>,
}

impl MeshJoinRequest {
    /// The room id, if given and non-empty.
    pub fn room_id(&self) -> Option<String> {
        room(self.room_id.as_ref())
    }
}

impl Validate for MeshJoinRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_opt_id(
            "roomId",
            self.room_id.as_ref().filter(|r| !r.normalized().is_empty()),
        )
    }
}

/// `groupcall:leave {roomId?}` (without `roomId`: whatever mesh room the socket is in).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshLeaveRequest {
    /// The room to leave.
    #[serde(default)]
    pub room_id: Option<IdLike>,
}

impl MeshLeaveRequest {
    /// The room id, if given and non-empty.
    pub fn room_id(&self) -> Option<String> {
        room(self.room_id.as_ref())
    }
}

impl Validate for MeshLeaveRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_opt_id(
            "roomId",
            self.room_id.as_ref().filter(|r| !r.normalized().is_empty()),
        )
    }
}

/// `groupcall:invitation {roomId, callType?, targetUserIds?}`: ring the conversation's members
/// (all but the inviter and those already in the room, or only `targetUserIds`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshInvitationRequest {
    /// Conversation id.
    #[serde(default)]
    pub room_id: Option<IdLike>,
    /// `"video"` (default) or `"audio"`.
    #[serde(default)]
    pub call_type: Option<String>,
    /// Invite only these members.
    #[serde(default)]
    pub target_user_ids: Option<Vec<IdLike>>,
}

impl MeshInvitationRequest {
    /// The room id, if given and non-empty.
    pub fn room_id(&self) -> Option<String> {
        room(self.room_id.as_ref())
    }

    /// The call type, `"video"` by default.
    pub fn call_type(&self) -> &str {
        match self.call_type.as_deref() {
            Some("audio") => "audio",
            _ => "video",
        }
    }

    /// The explicitly invited users, normalised.
    pub fn targets(&self) -> Option<Vec<String>> {
        self.target_user_ids
            .as_ref()
            .map(|ids| ids.iter().map(IdLike::normalized).collect())
    }
}

impl Validate for MeshInvitationRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_opt_id(
            "roomId",
            self.room_id.as_ref().filter(|r| !r.normalized().is_empty()),
        )?;
        if let Some(t) = &self.call_type
            && t != "audio"
            && t != "video"
        {
            return Err(PayloadError(
                "callType must be \"video\" or \"audio\"".into(),
            ));
        }
        if let Some(ids) = &self.target_user_ids {
            check_id_list("targetUserIds", ids)?;
        }
        Ok(())
    }
}

/// Which WebRTC message a mesh relay carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// `groupcall:webrtc-offer {offer}`.
    Offer,
    /// `groupcall:webrtc-answer {answer}`.
    Answer,
    /// `groupcall:webrtc-ice-candidate {candidate}`.
    IceCandidate,
}

impl SignalKind {
    /// The event name (same in both directions).
    pub fn event(self) -> &'static str {
        match self {
            SignalKind::Offer => WEBRTC_OFFER,
            SignalKind::Answer => WEBRTC_ANSWER,
            SignalKind::IceCandidate => WEBRTC_ICE_CANDIDATE,
        }
    }

    /// The payload field holding the blob.
    pub fn field(self) -> &'static str {
        match self {
            SignalKind::Offer => "offer",
            SignalKind::Answer => "answer",
            SignalKind::IceCandidate => "candidate",
        }
    }

    /// Size limit of the blob.
    pub fn max_bytes(self) -> usize {
        match self {
            SignalKind::Offer | SignalKind::Answer => MAX_SDP_BYTES,
            SignalKind::IceCandidate => MAX_CANDIDATE_BYTES,
        }
    }
}

/// `groupcall:webrtc-offer|answer|ice-candidate {roomId?, targetUserId, targetSocketId?,
/// offer|answer|candidate}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshSignalRequest {
    /// The room (default: the sender's mesh room).
    #[serde(default)]
    pub room_id: Option<IdLike>,
    /// The receiving participant.
    #[serde(default)]
    pub target_user_id: Option<IdLike>,
    /// Narrow the target to one of its sockets (a user may take part from two devices).
    #[serde(default)]
    pub target_socket_id: Option<String>,
    /// SDP offer.
    #[serde(default)]
    pub offer: Option<Value>,
    /// SDP answer.
    #[serde(default)]
    pub answer: Option<Value>,
    /// ICE candidate.
    #[serde(default)]
    pub candidate: Option<Value>,
}

impl MeshSignalRequest {
    /// The room id, if given and non-empty.
    pub fn room_id(&self) -> Option<String> {
        room(self.room_id.as_ref())
    }

    /// The target user, if given.
    pub fn target(&self) -> Option<String> {
        either_id(
            ("targetUserId", "targetUserId"),
            self.target_user_id.as_ref(),
            None,
        )
        .ok()
        .flatten()
    }

    /// Check the blob of `kind` (present, object or string, size-limited) and take it.
    pub fn take_blob(&mut self, kind: SignalKind) -> Result<Value, PayloadError> {
        let slot = match kind {
            SignalKind::Offer => &mut self.offer,
            SignalKind::Answer => &mut self.answer,
            SignalKind::IceCandidate => &mut self.candidate,
        };
        check_blob(kind.field(), slot.as_ref(), kind.max_bytes())?;
        Ok(slot.take().unwrap_or(Value::Null))
    }
}

impl Validate for MeshSignalRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_opt_id(
            "roomId",
            self.room_id.as_ref().filter(|r| !r.normalized().is_empty()),
        )?;
        either_id(
            ("targetUserId", "targetUserId"),
            self.target_user_id.as_ref(),
            None,
        )?;
        if let Some(s) = &self.target_socket_id {
            check_opt_id("targetSocketId", Some(&IdLike::Str(s.clone())))?;
        }
        Ok(())
    }
}

/// `groupcall:update-tracks {roomId?, tracks: {audio?, video?}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTracksRequest {
    /// The room (default: the sender's mesh room).
    #[serde(default)]
    pub room_id: Option<IdLike>,
    /// The changes.
    pub tracks: TrackUpdate,
}

impl UpdateTracksRequest {
    /// The room id, if given and non-empty.
    pub fn room_id(&self) -> Option<String> {
        room(self.room_id.as_ref())
    }
}

impl Validate for UpdateTracksRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_opt_id(
            "roomId",
            self.room_id.as_ref().filter(|r| !r.normalized().is_empty()),
        )
    }
}

// ----- server events -------------------------------------------------------------------------

/// One participant as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshPeer {
    /// User id.
    pub user_id: String,
    /// Socket id (a user may take part from several devices).
    pub socket_id: String,
    /// Display info from the directory.
    pub participant_info: ParticipantInfo,
    /// Latest track state.
    pub tracks: TrackState,
}

/// `groupcall:join` response (ack, or the `groupcall:joined` event):
/// `{roomId, participants, maxParticipants}` — the others already in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshJoined {
    /// The room.
    pub room_id: String,
    /// The other participants, in join order.
    pub participants: Vec<MeshPeer>,
    /// The room's size limit.
    pub max_participants: usize,
}

/// `groupcall:participant-joined {roomId, userId, socketId, participantInfo, tracks}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshParticipantJoined {
    /// The room.
    pub room_id: String,
    /// The joiner.
    #[serde(flatten)]
    pub peer: MeshPeer,
}

/// `groupcall:participant-left {roomId, userId, socketId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshParticipantLeft {
    /// The room.
    pub room_id: String,
    /// Who left.
    pub user_id: String,
    /// Its socket.
    pub socket_id: String,
}

/// `groupcall:tracks-updated {roomId, userId, socketId, tracks}` (`tracks` is the full state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshTracksUpdated {
    /// The room.
    pub room_id: String,
    /// Whose tracks.
    pub user_id: String,
    /// Its socket.
    pub socket_id: String,
    /// The new full state.
    pub tracks: TrackState,
}

/// `groupcall:invitation` to invited members: like `group_call_incoming`, plus `roomId` and
/// `mode: "mesh"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshInvitation {
    /// The room (= conversation id) to `groupcall:join`.
    pub room_id: String,
    /// Conversation id.
    pub conversation_id: String,
    /// Inviter's user id.
    pub caller_id: String,
    /// `"video"` / `"audio"`.
    pub call_type: String,
    /// Always `"mesh"`.
    pub mode: String,
    /// Inviter display info.
    pub caller_info: CallerInfo,
    /// Conversation display info.
    pub conversation_info: ConversationInfo,
}

/// A relayed offer / answer / candidate:
/// `{roomId, senderId, senderSocketId, offer|answer|candidate}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshSignal {
    /// The room.
    pub room_id: String,
    /// The sender's user id.
    pub sender_id: String,
    /// The sender's socket.
    pub sender_socket_id: String,
    /// SDP offer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer: Option<Value>,
    /// SDP answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Value>,
    /// ICE candidate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Value>,
}

impl MeshSignal {
    /// A relay of `blob` as `kind`.
    pub fn new(
        kind: SignalKind,
        room_id: String,
        sender_id: String,
        sender_socket_id: String,
        blob: Value,
    ) -> Self {
        let mut s = Self {
            room_id,
            sender_id,
            sender_socket_id,
            offer: None,
            answer: None,
            candidate: None,
        };
        match kind {
            SignalKind::Offer => s.offer = Some(blob),
            SignalKind::Answer => s.answer = Some(blob),
            SignalKind::IceCandidate => s.candidate = Some(blob),
        }
        s
    }
}

/// `groupcall:error {message}` (Huddle addition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeshError {
    /// What went wrong.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::decode;
    use serde_json::json;

    #[test]
    fn join_and_tracks() {
        let r: MeshJoinRequest = decode(json!({"roomId": 7, "tracks": {"video": false}}))
            .unwrap_or(MeshJoinRequest {
                room_id: None,
                tracks: None,
            });
        assert_eq!(r.room_id().as_deref(), Some("7"));
        let mut t = TrackState::default();
        t.apply(r.tracks.unwrap_or_default());
        assert_eq!(
            t,
            TrackState {
                audio: true,
                video: false
            }
        );
        assert!(decode::<MeshJoinRequest>(json!({"roomId": ["x"]})).is_err());
        assert!(decode::<MeshJoinRequest>(json!({"roomId": "x".repeat(500)})).is_err());
        assert!(decode::<MeshJoinRequest>(json!({})).is_ok());
        assert!(decode::<UpdateTracksRequest>(json!({"roomId": "r"})).is_err());
        assert!(decode::<UpdateTracksRequest>(json!({"tracks": {"audio": "no"}})).is_err());
    }

    #[test]
    fn signals() {
        let mut r: MeshSignalRequest =
            match decode(json!({"roomId": "r", "targetUserId": 2, "offer": {"sdp": "v=0"}})) {
                Ok(r) => r,
                Err(e) => panic!("{e}"),
            };
        assert_eq!(r.target().as_deref(), Some("2"));
        assert!(r.clone().take_blob(SignalKind::Answer).is_err());
        assert_eq!(r.take_blob(SignalKind::Offer), Ok(json!({"sdp": "v=0"})));
        let mut big: MeshSignalRequest = match decode(
            json!({"targetUserId": 2, "candidate": {"candidate": "x".repeat(MAX_CANDIDATE_BYTES)}}),
        ) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert!(big.take_blob(SignalKind::IceCandidate).is_err());
        let v = serde_json::to_value(MeshSignal::new(
            SignalKind::IceCandidate,
            "r".into(),
            "1".into(),
            "s".into(),
            json!({"candidate": "c"}),
        ))
        .unwrap_or_default();
        assert_eq!(
            v,
            json!({"roomId": "r", "senderId": "1", "senderSocketId": "s", "candidate": {"candidate": "c"}})
        );
    }
}
