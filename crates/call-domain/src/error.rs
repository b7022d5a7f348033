//! Domain errors; their `Display` is the exact wire string of the Threads protocol.

use signal_proto::errors as e;

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
}
