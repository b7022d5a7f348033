//! Lifecycle facts: what happened to calls, for the embedding host (its event stream,
//! webhooks, call history). The state machine records them as it changes; the I/O layer
//! drains them with [`crate::CallState::take_lifecycle`] and stamps them with the wall clock.

use crate::direct::CallId;
use crate::{RoomId, SocketId, UserId};

/// Why a participant left an SFU room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaveReason {
    /// `leaveRoom`.
    Left,
    /// The socket disconnected.
    Disconnected,
    /// `createRoom` of another room moved the socket there.
    Moved,
    /// Its media transport failed and did not recover within the grace period.
    TransportFailed,
    /// An operator removed the user (admin API or `HuddleHandle::remove_participant`).
    RemovedByAdmin,
    /// An operator ended the call.
    EndedByAdmin,
    /// The mediasoup worker carrying the room died.
    WorkerDied,
    /// The server shut down.
    Shutdown,
    /// Cluster mode: this node lost the room's claim (cut off from Redis past its lease, the
    /// room was claimed elsewhere), so it closed its copy.
    HomeLost,
}

impl LeaveReason {
    /// The wire / webhook name (`"left"`, `"disconnect"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Left => "left",
            LeaveReason::Disconnected => "disconnect",
            LeaveReason::Moved => "moved",
            LeaveReason::TransportFailed => "transport_failed",
            LeaveReason::RemovedByAdmin => "removed_by_admin",
            LeaveReason::EndedByAdmin => "ended_by_admin",
            LeaveReason::WorkerDied => "worker_died",
            LeaveReason::Shutdown => "shutdown",
            LeaveReason::HomeLost => "home_lost",
        }
    }
}

/// One fact about a call's life, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// The first participant entered an empty SFU room.
    CallStarted {
        /// The conversation (= room id).
        conversation_id: RoomId,
        /// The user whose `createRoom` started it.
        started_by: UserId,
    },
    /// A socket entered an SFU room.
    ParticipantJoined {
        /// The conversation.
        conversation_id: RoomId,
        /// The user.
        user_id: UserId,
        /// The socket.
        socket_id: SocketId,
    },
    /// A socket left an SFU room.
    ParticipantLeft {
        /// The conversation.
        conversation_id: RoomId,
        /// The user.
        user_id: UserId,
        /// The socket.
        socket_id: SocketId,
        /// Why.
        reason: LeaveReason,
    },
    /// The last participant left: the call is over.
    CallEnded {
        /// The conversation.
        conversation_id: RoomId,
        /// Every distinct user who took part, in the order they first joined.
        participants: Vec<UserId>,
    },
    /// A 1:1 call started ringing.
    DirectCallStarted {
        /// The call.
        call_id: CallId,
        /// Caller user.
        caller: UserId,
        /// Callee user.
        callee: UserId,
    },
    /// A 1:1 call was answered.
    DirectCallAnswered {
        /// The call.
        call_id: CallId,
    },
    /// A 1:1 call ended.
    DirectCallEnded {
        /// The call.
        call_id: CallId,
        /// Caller user.
        caller: UserId,
        /// Callee user.
        callee: UserId,
        /// Whether it had been answered.
        answered: bool,
        /// `"rejected"`, `"cancelled"`, `"hangup"`, `"timeout"` or `"disconnect"`.
        reason: &'static str,
    },
}
