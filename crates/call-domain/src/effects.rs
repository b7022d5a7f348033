//! What the state machine asks the I/O layer to do.

use crate::directory::UserRecord;
use crate::{SocketId, UserId};
use signal_proto::events as ev;
use signal_proto::responses::ActiveCallsResponse;
use signal_proto::server_events::{
    ActiveSpeakerChanged, AudioLevels, ConnectionQuality, ConsumerLayersChanged, GroupCallEnded,
    GroupCallError, GroupCallIncoming, GroupCallStarted, GroupCallUpdated, NewProducer,
    ParticipantLeft, ProducerClosed, ProducerPauseChange, RecordingStarted, RecordingStopped,
    RemovedFromRoom,
};
use signal_proto::{CallerInfo, ConversationInfo};
use signal_proto::{direct as d, mesh as m};

/// A server → client event with its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutEvent {
    /// `active_group_calls`.
    ActiveGroupCalls(ActiveCallsResponse),
    /// `group_call_incoming`.
    GroupCallIncoming(GroupCallIncoming),
    /// `group_call_started`.
    GroupCallStarted(GroupCallStarted),
    /// `group_call_ended`.
    GroupCallEnded(GroupCallEnded),
    /// `group_call_updated` (Huddle addition).
    GroupCallUpdated(GroupCallUpdated),
    /// `group_call_error`.
    GroupCallError(GroupCallError),
    /// `newProducer`.
    NewProducer(NewProducer),
    /// `participantLeft`.
    ParticipantLeft(ParticipantLeft),
    /// `producerClosed`.
    ProducerClosed(ProducerClosed),
    /// `removedFromRoom` (Huddle addition).
    RemovedFromRoom(RemovedFromRoom),
    /// `producerPaused` (Huddle addition).
    ProducerPaused(ProducerPauseChange),
    /// `producerResumed` (Huddle addition).
    ProducerResumed(ProducerPauseChange),
    /// `consumerLayersChanged` (Huddle addition).
    ConsumerLayersChanged(ConsumerLayersChanged),
    /// `activeSpeaker` (Huddle addition).
    ActiveSpeaker(ActiveSpeakerChanged),
    /// `audioLevels` (Huddle addition).
    AudioLevels(AudioLevels),
    /// `connectionQuality` (Huddle addition).
    ConnectionQuality(ConnectionQuality),
    /// `recordingStarted` (Huddle addition).
    RecordingStarted(RecordingStarted),
    /// `recordingStopped` (Huddle addition).
    RecordingStopped(RecordingStopped),
    /// `user-registered` (1:1).
    UserRegistered(d::UserRegistered),
    /// `user-availability-response` (1:1).
    UserAvailability(d::UserAvailability),
    /// `incoming-call` (1:1).
    IncomingCall(d::IncomingCall),
    /// `call-accepted` (1:1, to the caller).
    CallAccepted(d::CallAccepted),
    /// `call-rejected` (1:1, to the caller).
    CallRejected(d::CallRejected),
    /// `call-ended` (1:1).
    CallEnded(d::CallEnded),
    /// `ice-candidate` (1:1 relay).
    IceCandidate(d::IceCandidate),
    /// `call-error` (1:1, Huddle addition).
    CallError(d::CallErrorEvent),
    /// `groupcall:joined` (mesh join response, Huddle addition).
    MeshJoined(m::MeshJoined),
    /// `groupcall:participant-joined`.
    MeshParticipantJoined(m::MeshParticipantJoined),
    /// `groupcall:participant-left`.
    MeshParticipantLeft(m::MeshParticipantLeft),
    /// `groupcall:tracks-updated`.
    MeshTracksUpdated(m::MeshTracksUpdated),
    /// `groupcall:invitation` (to invited members).
    MeshInvitation(m::MeshInvitation),
    /// `groupcall:webrtc-offer` / `-answer` / `-ice-candidate` (relay).
    MeshSignal(m::SignalKind, m::MeshSignal),
    /// `groupcall:error` (mesh, Huddle addition).
    MeshError(m::MeshError),
}

impl OutEvent {
    /// The Socket.IO event name.
    pub fn name(&self) -> &'static str {
        match self {
            OutEvent::ActiveGroupCalls(_) => ev::ACTIVE_GROUP_CALLS,
            OutEvent::GroupCallIncoming(_) => ev::GROUP_CALL_INCOMING,
            OutEvent::GroupCallStarted(_) => ev::GROUP_CALL_STARTED,
            OutEvent::GroupCallEnded(_) => ev::GROUP_CALL_ENDED,
            OutEvent::GroupCallUpdated(_) => ev::GROUP_CALL_UPDATED,
            OutEvent::GroupCallError(_) => ev::GROUP_CALL_ERROR,
            OutEvent::NewProducer(_) => ev::NEW_PRODUCER,
            OutEvent::ParticipantLeft(_) => ev::PARTICIPANT_LEFT,
            OutEvent::ProducerClosed(_) => ev::PRODUCER_CLOSED,
            OutEvent::RemovedFromRoom(_) => ev::REMOVED_FROM_ROOM,
            OutEvent::ProducerPaused(_) => ev::PRODUCER_PAUSED,
            OutEvent::ProducerResumed(_) => ev::PRODUCER_RESUMED,
            OutEvent::ConsumerLayersChanged(_) => ev::CONSUMER_LAYERS_CHANGED,
            OutEvent::ActiveSpeaker(_) => ev::ACTIVE_SPEAKER,
            OutEvent::AudioLevels(_) => ev::AUDIO_LEVELS,
            OutEvent::ConnectionQuality(_) => ev::CONNECTION_QUALITY,
            OutEvent::RecordingStarted(_) => ev::RECORDING_STARTED,
            OutEvent::RecordingStopped(_) => ev::RECORDING_STOPPED,
            OutEvent::UserRegistered(_) => d::USER_REGISTERED,
            OutEvent::UserAvailability(_) => d::USER_AVAILABILITY_RESPONSE,
            OutEvent::IncomingCall(_) => d::INCOMING_CALL,
            OutEvent::CallAccepted(_) => d::CALL_ACCEPTED,
            OutEvent::CallRejected(_) => d::CALL_REJECTED,
            OutEvent::CallEnded(_) => d::CALL_ENDED,
            OutEvent::IceCandidate(_) => d::ICE_CANDIDATE,
            OutEvent::CallError(_) => d::CALL_ERROR,
            OutEvent::MeshJoined(_) => m::JOINED,
            OutEvent::MeshParticipantJoined(_) => m::PARTICIPANT_JOINED,
            OutEvent::MeshParticipantLeft(_) => m::PARTICIPANT_LEFT,
            OutEvent::MeshTracksUpdated(_) => m::TRACKS_UPDATED,
            OutEvent::MeshInvitation(_) => m::INVITATION,
            OutEvent::MeshSignal(kind, _) => kind.event(),
            OutEvent::MeshError(_) => m::ERROR,
        }
    }

    /// The payload as JSON.
    pub fn payload(&self) -> serde_json::Value {
        let v = match self {
            OutEvent::ActiveGroupCalls(p) => serde_json::to_value(p),
            OutEvent::GroupCallIncoming(p) => serde_json::to_value(p),
            OutEvent::GroupCallStarted(p) => serde_json::to_value(p),
            OutEvent::GroupCallEnded(p) => serde_json::to_value(p),
            OutEvent::GroupCallUpdated(p) => serde_json::to_value(p),
            OutEvent::GroupCallError(p) => serde_json::to_value(p),
            OutEvent::NewProducer(p) => serde_json::to_value(p),
            OutEvent::ParticipantLeft(p) => serde_json::to_value(p),
            OutEvent::ProducerClosed(p) => serde_json::to_value(p),
            OutEvent::RemovedFromRoom(p) => serde_json::to_value(p),
            OutEvent::ProducerPaused(p) | OutEvent::ProducerResumed(p) => serde_json::to_value(p),
            OutEvent::ConsumerLayersChanged(p) => serde_json::to_value(p),
            OutEvent::ActiveSpeaker(p) => serde_json::to_value(p),
            OutEvent::AudioLevels(p) => serde_json::to_value(p),
            OutEvent::ConnectionQuality(p) => serde_json::to_value(p),
            OutEvent::RecordingStarted(p) => serde_json::to_value(p),
            OutEvent::RecordingStopped(p) => serde_json::to_value(p),
            OutEvent::UserRegistered(p) => serde_json::to_value(p),
            OutEvent::UserAvailability(p) => serde_json::to_value(p),
            OutEvent::IncomingCall(p) => serde_json::to_value(p),
            OutEvent::CallAccepted(p) => serde_json::to_value(p),
            OutEvent::CallRejected(p) => serde_json::to_value(p),
            OutEvent::CallEnded(p) => serde_json::to_value(p),
            OutEvent::IceCandidate(p) => serde_json::to_value(p),
            OutEvent::CallError(p) => serde_json::to_value(p),
            OutEvent::MeshJoined(p) => serde_json::to_value(p),
            OutEvent::MeshParticipantJoined(p) => serde_json::to_value(p),
            OutEvent::MeshParticipantLeft(p) => serde_json::to_value(p),
            OutEvent::MeshTracksUpdated(p) => serde_json::to_value(p),
            OutEvent::MeshInvitation(p) => serde_json::to_value(p),
            OutEvent::MeshSignal(_, p) => serde_json::to_value(p),
            OutEvent::MeshError(p) => serde_json::to_value(p),
        };
        v.unwrap_or(serde_json::Value::Null)
    }
}

/// A push notification for members of a ringing conversation (delivered by the push seam).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// Recipients (with their FCM tokens).
    pub recipients: Vec<UserRecord>,
    /// Caller id.
    pub caller_id: String,
    /// `"video"` / `"audio"`.
    pub call_type: String,
    /// Conversation id.
    pub conversation_id: String,
    /// Caller display info.
    pub caller_info: CallerInfo,
    /// Conversation display info.
    pub conversation_info: ConversationInfo,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Emit `event` to each of `to`.
    Emit {
        /// Target sockets.
        to: Vec<SocketId>,
        /// The event.
        event: OutEvent,
    },
    /// Cluster mode: emit `event` to every socket of `users` connected to *other* nodes (the
    /// sockets of this node are in the [`Effect::Emit`] beside it). Only produced by a state
    /// built [`crate::CallState::with_relay`].
    Relay {
        /// Target users.
        users: Vec<UserId>,
        /// The event.
        event: OutEvent,
    },
    /// Send a push notification.
    Push(PushRequest),
}

impl Effect {
    /// An emit effect, or nothing when there is no recipient.
    pub(crate) fn emit(to: Vec<SocketId>, event: OutEvent) -> Option<Effect> {
        (!to.is_empty()).then_some(Effect::Emit { to, event })
    }
}
