//! Mesh (peer-to-peer) group-call rooms: who is in which room, with which track state.
//!
//! The server carries no media for mesh calls: it keeps the participant list, relays SDP and
//! ICE between participants of the same room, and broadcasts track-state changes. A room
//! exists while it has participants; its size is capped (larger calls belong on the SFU).
//!
//! [`MeshRooms`] is pure and knows nothing about presence; [`crate::CallState`] composes it with
//! presence (membership checks, invitations, availability, disconnects).

use crate::effects::{Effect, OutEvent};
use crate::error::CallError;
use crate::{RoomId, SocketId, UserId};
use indexmap::IndexMap;
use serde_json::Value;
use signal_proto::ParticipantInfo;
use signal_proto::mesh::{
    MeshJoined, MeshParticipantJoined, MeshParticipantLeft, MeshPeer, MeshSignal,
    MeshTracksUpdated, SignalKind, TrackState, TrackUpdate,
};
use std::collections::HashMap;

/// Default size limit of a mesh room.
pub const DEFAULT_MESH_MAX_PARTICIPANTS: usize = 6;

/// One socket in a mesh room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshParticipant {
    /// The socket.
    pub socket: SocketId,
    /// Its user.
    pub user: UserId,
    /// Display info (from the directory at join time).
    pub info: ParticipantInfo,
    /// Latest reported track state.
    pub tracks: TrackState,
}

impl MeshParticipant {
    fn peer(&self) -> MeshPeer {
        MeshPeer {
            user_id: self.user.clone(),
            socket_id: self.socket.clone(),
            participant_info: self.info.clone(),
            tracks: self.tracks,
        }
    }
}

/// A mesh room (one per conversation with an active mesh call).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeshRoom {
    /// Room id (= conversation id).
    pub id: RoomId,
    participants: IndexMap<SocketId, MeshParticipant>,
}

impl MeshRoom {
    /// Participants in join order.
    pub fn participants(&self) -> impl Iterator<Item = &MeshParticipant> {
        self.participants.values()
    }

    /// Number of participants (sockets).
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// Whether `user` takes part (from any socket).
    pub fn has_user(&self, user: &str) -> bool {
        self.participants.values().any(|p| p.user == user)
    }

    fn others(&self, socket: &str) -> Vec<SocketId> {
        self.participants
            .keys()
            .filter(|s| *s != socket)
            .cloned()
            .collect()
    }
}

/// Every mesh room, and which socket is in which (a socket is in at most one mesh room).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshRooms {
    rooms: IndexMap<RoomId, MeshRoom>,
    socket_room: HashMap<SocketId, RoomId>,
    max_participants: usize,
}

impl Default for MeshRooms {
    fn default() -> Self {
        Self::new(DEFAULT_MESH_MAX_PARTICIPANTS)
    }
}

impl MeshRooms {
    /// No rooms; at most `max_participants` sockets per room (at least 1).
    pub fn new(max_participants: usize) -> Self {
        Self {
            rooms: IndexMap::new(),
            socket_room: HashMap::new(),
            max_participants: max_participants.max(1),
        }
    }

    /// The size limit.
    pub fn max_participants(&self) -> usize {
        self.max_participants
    }

    /// The room `id`, if active.
    pub fn room(&self, id: &str) -> Option<&MeshRoom> {
        self.rooms.get(id)
    }

    /// Ids of active mesh rooms.
    pub fn room_ids(&self) -> Vec<RoomId> {
        self.rooms.keys().cloned().collect()
    }

    /// The mesh room the socket is in.
    pub fn room_of(&self, socket: &str) -> Option<&str> {
        self.socket_room.get(socket).map(String::as_str)
    }

    /// Total participants over all rooms.
    pub fn participant_total(&self) -> usize {
        self.rooms.values().map(MeshRoom::participant_count).sum()
    }

    /// Join: the joiner's view (`MeshJoined`, the others with their track state) and
    /// `groupcall:participant-joined` to the others. A socket already in this room gets the view
    /// again and nothing is announced; a socket in another room leaves it first. Refused when
    /// the room is full (the current room is then kept).
    pub fn join(
        &mut self,
        socket: &str,
        user: &str,
        room_id: &str,
        info: ParticipantInfo,
        tracks: TrackUpdate,
    ) -> Result<(OutEvent, Vec<Effect>), CallError> {
        if self.room_of(socket) == Some(room_id)
            && let Some(room) = self.rooms.get(room_id)
        {
            return Ok((self.view(room, socket), Vec::new()));
        }
        let count = self
            .rooms
            .get(room_id)
            .map_or(0, MeshRoom::participant_count);
        if count >= self.max_participants {
            return Err(CallError::MeshRoomFull(self.max_participants));
        }
        let mut effects = self.leave_any(socket);
        let mut state = TrackState::default();
        state.apply(tracks);
        let participant = MeshParticipant {
            socket: socket.to_owned(),
            user: user.to_owned(),
            info,
            tracks: state,
        };
        let peer = participant.peer();
        let room = self
            .rooms
            .entry(room_id.to_owned())
            .or_insert_with(|| MeshRoom {
                id: room_id.to_owned(),
                participants: IndexMap::new(),
            });
        let others = room.others(socket);
        room.participants.insert(socket.to_owned(), participant);
        self.socket_room
            .insert(socket.to_owned(), room_id.to_owned());
        effects.extend(Effect::emit(
            others,
            OutEvent::MeshParticipantJoined(MeshParticipantJoined {
                room_id: room_id.to_owned(),
                peer,
            }),
        ));
        let view = match self.rooms.get(room_id) {
            Some(room) => self.view(room, socket),
            None => return Err(CallError::NotInMeshRoom),
        };
        Ok((view, effects))
    }

    fn view(&self, room: &MeshRoom, socket: &str) -> OutEvent {
        OutEvent::MeshJoined(MeshJoined {
            room_id: room.id.clone(),
            participants: room
                .participants
                .values()
                .filter(|p| p.socket != socket)
                .map(MeshParticipant::peer)
                .collect(),
            max_participants: self.max_participants,
        })
    }

    /// `groupcall:leave`: refused when the socket is not in `room_id` (or in no room at all when
    /// `room_id` is `None`).
    pub fn leave(&mut self, socket: &str, room_id: Option<&str>) -> Result<Vec<Effect>, CallError> {
        match (self.room_of(socket), room_id) {
            (None, _) => Err(CallError::NotInMeshRoom),
            (Some(current), Some(asked)) if current != asked => Err(CallError::NotInMeshRoom),
            _ => Ok(self.leave_any(socket)),
        }
    }

    /// Leave whatever room the socket is in (disconnect): `groupcall:participant-left` to the
    /// rest; an emptied room is removed.
    pub fn leave_any(&mut self, socket: &str) -> Vec<Effect> {
        let Some(room_id) = self.socket_room.remove(socket) else {
            return Vec::new();
        };
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return Vec::new();
        };
        let Some(gone) = room.participants.shift_remove(socket) else {
            return Vec::new();
        };
        let rest = room.others(socket);
        if room.participants.is_empty() {
            self.rooms.shift_remove(&room_id);
        }
        Effect::emit(
            rest,
            OutEvent::MeshParticipantLeft(MeshParticipantLeft {
                room_id,
                user_id: gone.user,
                socket_id: gone.socket,
            }),
        )
        .into_iter()
        .collect()
    }

    /// The sender's participant entry, checked against the room named in the request.
    fn sender(&self, socket: &str, room_id: Option<&str>) -> Result<&MeshRoom, CallError> {
        let current = self.room_of(socket).ok_or(CallError::NotInMeshRoom)?;
        if room_id.is_some_and(|r| r != current) {
            return Err(CallError::NotInMeshRoom);
        }
        self.rooms.get(current).ok_or(CallError::NotInMeshRoom)
    }

    /// Relay an offer / answer / candidate to `target_user`'s sockets in the sender's room
    /// (only `target_socket` when given), with the sender's ids added. Refused unless both are
    /// participants of the same room.
    pub fn relay(
        &self,
        socket: &str,
        room_id: Option<&str>,
        target_user: &str,
        target_socket: Option<&str>,
        kind: SignalKind,
        blob: Value,
    ) -> Result<Vec<Effect>, CallError> {
        let room = self.sender(socket, room_id)?;
        let sender = room
            .participants
            .get(socket)
            .ok_or(CallError::NotInMeshRoom)?;
        let to: Vec<SocketId> = room
            .participants
            .values()
            .filter(|p| p.user == target_user && p.socket != socket)
            .filter(|p| target_socket.is_none_or(|t| t == p.socket))
            .map(|p| p.socket.clone())
            .collect();
        if to.is_empty() {
            return Err(CallError::TargetNotInMeshRoom);
        }
        Ok(Effect::emit(
            to,
            OutEvent::MeshSignal(
                kind,
                MeshSignal::new(
                    kind,
                    room.id.clone(),
                    sender.user.clone(),
                    socket.to_owned(),
                    blob,
                ),
            ),
        )
        .into_iter()
        .collect())
    }

    /// `groupcall:update-tracks`: store the new state, `groupcall:tracks-updated` (full state)
    /// to the other participants.
    pub fn update_tracks(
        &mut self,
        socket: &str,
        room_id: Option<&str>,
        update: TrackUpdate,
    ) -> Result<Vec<Effect>, CallError> {
        let current = self.sender(socket, room_id)?.id.clone();
        let room = self
            .rooms
            .get_mut(&current)
            .ok_or(CallError::NotInMeshRoom)?;
        let p = room
            .participants
            .get_mut(socket)
            .ok_or(CallError::NotInMeshRoom)?;
        p.tracks.apply(update);
        let event = OutEvent::MeshTracksUpdated(MeshTracksUpdated {
            room_id: current,
            user_id: p.user.clone(),
            socket_id: socket.to_owned(),
            tracks: p.tracks,
        });
        Ok(Effect::emit(room.others(socket), event)
            .into_iter()
            .collect())
    }
}
