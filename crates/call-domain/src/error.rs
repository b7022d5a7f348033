//! Domain errors; their `Display` is the exact wire string of the Threads protocol.

use signal_proto::errors as e;
use signal_proto::{direct as d, mesh as m};

/// A command was refused. `to_string()` gives the string clients receive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// `createRoom` before `join`.
    #[error("{}", e::JOIN_FIRST)]
    JoinFirst,
    /// Not a member of the conversation.
    #[error("{}", e::NOT_IN_GROUP)]
    NotInGroup,
    /// Missing room id.
    #[error("{}", e::ROOM_ID_REQUIRED)]
    RoomIdRequired,
    /// The socket is in no room (or left while the request was in flight).
    #[error("{}", e::PARTICIPANT_NOT_FOUND)]
    ParticipantNotFound,
    /// Unknown transport.
    #[error("{}", e::TRANSPORT_NOT_FOUND)]
    TransportNotFound,
    /// Unknown producer.
    #[error("{}", e::PRODUCER_NOT_FOUND)]
    ProducerNotFound,
    /// Own producer.
    #[error("{}", e::CANNOT_CONSUME_OWN)]
    CannotConsumeOwn,
    /// Capabilities cannot consume.
    #[error("{}", e::RTP_CAPS_MISMATCH)]
    RtpCapabilitiesMismatch,
    /// Unknown receive transport.
    #[error("{}", e::RECV_TRANSPORT_NOT_FOUND)]
    RecvTransportNotFound,
    /// Unknown consumer.
    #[error("{}", e::CONSUMER_NOT_FOUND)]
    ConsumerNotFound,
    /// `get_active_calls` before `join`.
    #[error("{}", e::NOT_JOINED)]
    NotJoined,
    /// Caller id missing or not a valid id.
    #[error("{}", e::INVALID_CALLER_ID)]
    InvalidCallerId,
    /// Caller id differs from the joined user.
    #[error("{}", e::CALLER_MISMATCH)]
    CallerMismatch,
    /// A configured limit was reached; the text says which.
    #[error("{0}")]
    Limit(String),
    /// Mesh join above the size limit (the text points to the SFU flow).
    #[error("{}", m::room_full(*.0))]
    MeshRoomFull(usize),
    /// The socket is not in the named (or any) mesh room.
    #[error("{}", m::ERR_NOT_IN_ROOM)]
    NotInMeshRoom,
    /// The relay target is not in the sender's mesh room.
    #[error("{}", m::ERR_TARGET_NOT_IN_ROOM)]
    TargetNotInMeshRoom,
    /// No target user given.
    #[error("{}", d::ERR_TARGET_REQUIRED)]
    TargetRequired,
    /// A 1:1 call to oneself.
    #[error("{}", d::ERR_CALL_SELF)]
    CallSelf,
    /// The callee is in another call.
    #[error("{}", d::ERR_USER_BUSY)]
    UserBusy,
    /// The callee is offline.
    #[error("{}", d::ERR_USER_UNAVAILABLE)]
    UserUnavailable,
    /// The caller is already in a call.
    #[error("{}", d::ERR_ALREADY_IN_CALL)]
    AlreadyInCall,
    /// No 1:1 call of this socket matches the request.
    #[error("{}", d::ERR_NO_CALL)]
    NoSuchCall,
    /// Operator command: no active call in this conversation.
    #[error("{}", e::CALL_NOT_FOUND)]
    CallNotFound,
    /// Operator command: the user is not in that call.
    #[error("{}", e::USER_NOT_IN_CALL)]
    UserNotInCall,
}
