//! Error strings, exactly as the Threads server sends them.

/// `createRoom` before `join`.
pub const JOIN_FIRST: &str = "Join first with your user ID";
/// Not a member of the conversation.
pub const NOT_IN_GROUP: &str = "You are not in this group";
/// `createRoom` without a room id.
pub const ROOM_ID_REQUIRED: &str = "roomId required";
/// The socket is in no room.
pub const PARTICIPANT_NOT_FOUND: &str = "Participant not found";
/// Unknown transport id.
pub const TRANSPORT_NOT_FOUND: &str = "Transport not found";
/// Unknown producer id.
pub const PRODUCER_NOT_FOUND: &str = "Producer not found";
/// Consuming one's own producer.
pub const CANNOT_CONSUME_OWN: &str = "Cannot consume own producer";
/// Client RTP capabilities cannot consume the producer.
pub const RTP_CAPS_MISMATCH: &str = "RTP capabilities mismatch";
/// Unknown receive transport id in `consume`.
pub const RECV_TRANSPORT_NOT_FOUND: &str = "Receive transport not found";
/// Unknown consumer id.
pub const CONSUMER_NOT_FOUND: &str = "Consumer not found";
/// `get_active_calls` before `join`.
pub const NOT_JOINED: &str = "Not joined";
/// `group_call_initiate` with a caller id that is not a user id.
pub const INVALID_CALLER_ID: &str = "Invalid caller id";
/// Huddle addition: `callerId` differs from the user joined on this socket.
pub const CALLER_MISMATCH: &str = "callerId does not match the joined user";
/// Huddle addition: the directory (database) is unavailable.
pub const DIRECTORY_UNAVAILABLE: &str = "Directory unavailable, try again";
/// Huddle addition: the directory answers, but more requests wait for it than the configured
/// overload limit (`--db-max-waiting`); this one was shed. Never sent because of load below
/// that limit (requests queue instead).
pub const SERVER_BUSY: &str = "Server busy, try again";

/// The error string for a directory failure: [`SERVER_BUSY`] when the request was shed
/// because of load, else [`DIRECTORY_UNAVAILABLE`].
pub fn directory(busy: bool) -> &'static str {
    if busy {
        SERVER_BUSY
    } else {
        DIRECTORY_UNAVAILABLE
    }
}
/// Huddle addition: invalid payload prefix; the detail follows after ": ".
pub const INVALID_PAYLOAD: &str = "Invalid payload";
/// Huddle addition: `join` / `register-user` with a user id other than the token's.
pub const IDENTITY_MISMATCH: &str = "User id does not match the authenticated user";
/// Huddle addition: an event with an ack callback that Huddle does not handle.
pub const UNKNOWN_EVENT: &str = "Unknown event";
/// Huddle addition: the socket sent more events per second than `--max-events-per-second`.
pub const RATE_LIMITED: &str = "Rate limit exceeded";
/// Huddle addition: the socket has `--max-pending-per-socket` requests in flight.
pub const TOO_MANY_PENDING: &str = "Too many pending requests";
/// Admin API / control handle: no active call in the conversation (HTTP 404).
pub const CALL_NOT_FOUND: &str = "Call not found";
/// Admin API / control handle: the user is not in that call (HTTP 404).
pub const USER_NOT_IN_CALL: &str = "User not in call";
/// Cluster mode: a request that needs another node (or Redis) could not reach it in time.
pub const CLUSTER_UNAVAILABLE: &str = "Cluster unavailable, try again";
/// `startRecording` / `stopRecording` without `--allow-participant-recording` (or without a
/// recording directory).
pub const RECORDING_NOT_ALLOWED: &str = "Recording not allowed";
/// A recording request on a server without `--recording-dir`.
pub const RECORDING_NOT_CONFIGURED: &str = "Recording not configured";
/// `stopRecording` / the admin API when the room is not being recorded.
pub const NOT_RECORDING: &str = "Not recording";
/// An unknown recording id.
pub const RECORDING_NOT_FOUND: &str = "Recording not found";
