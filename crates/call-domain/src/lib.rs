//! Huddle's call domain: pure state machines, no I/O (Sans-IO, like `quinn-proto`).
//!
//! [`CallState`] owns presence (user ↔ sockets), SFU group-call rooms and their participants.
//! Commands go in as method calls; what must happen comes out as [`Effect`]s (which event to
//! which sockets, which push to send) or as media handles to operate on. Media objects are
//! opaque handles chosen by the caller through the [`Media`] trait, so dropping a participant
//! drops (and, with RAII handles, closes) its transports, producers and consumers.
//!
//! Two peer-to-peer modes sit beside the SFU rooms: mesh group calls ([`MeshRooms`]) and 1:1
//! calls ([`DirectCalls`]); `CallState` composes them with presence, so that a disconnect ends
//! every call of the socket and availability spans all three modes.
//!
//! Directory data (users, conversations, members) is read through the [`Directory`] repository
//! trait; [`MemoryDirectory`] is the embedded implementation.

mod admin;
mod call_updates;
mod direct;
mod directory;
mod display;
mod effects;
mod error;
mod history;
mod lifecycle;
mod media;
mod member_index;
mod memory_directory;
mod mesh;
mod quality;
mod recording;
mod room;
mod rosters;
mod speakers;
mod state;

pub use admin::{MuteTarget, ParticipantSnapshot, ProducerSnapshot};
pub use call_updates::DEFAULT_CALL_UPDATE_INTERVAL;
pub use direct::{
    CallId, DEFAULT_DIRECT_CALL_TIMEOUT, DirectCall, DirectCalls, DirectPhase, DirectTimeout,
    Initiated,
};
pub use directory::{
    ConversationRecord, Directory, DirectoryError, MemberView, Roster, UserRecord,
};
pub use display::DisplayPolicy;
pub use effects::{Effect, OutEvent, PushRequest};
pub use error::CallError;
pub use history::{CallHistory, CallRecord, DirectCallRecord, ParticipationRecord};
pub use lifecycle::{LeaveReason, Lifecycle};
pub use media::Media;
pub use memory_directory::{DirectoryData, MemoryDirectory};
pub use mesh::{DEFAULT_MESH_MAX_PARTICIPANTS, MeshParticipant, MeshRoom, MeshRooms};
pub use quality::{EXCELLENT_MIN_SCORE, GOOD_MIN_SCORE, QualityInputs, quality_of};
pub use recording::{RecordableProducer, RecordingStart};
pub use room::{ConsumeTarget, Participant, ProducerMeta, ProducerView, Room, TransportSlot};
pub use rosters::{MemoryAnswer, RosterRead, RosterTicket};
pub use state::PeerLimits;
pub use state::{CallState, CallUpdatePoll, DirectInvite, JoinRoom, Limits, RemotePresence, Stats};

/// A Socket.IO socket id.
pub type SocketId = String;
/// A user id (decimal string for Threads' integer ids).
pub type UserId = String;
/// A room id: the conversation id.
pub type RoomId = String;
