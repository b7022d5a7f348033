//! Operator commands on SFU rooms (the admin API and the embedding host's handle), and the
//! drain of lifecycle facts.

use crate::effects::{Effect, OutEvent};
use crate::error::CallError;
use crate::lifecycle::{LeaveReason, Lifecycle};
use crate::media::Media;
use crate::state::CallState;
use crate::{SocketId, UserId};
use signal_proto::server_events::{ProducerPauseChange, RemovedFromRoom};

impl<M: Media> CallState<M> {
    /// Lifecycle facts recorded since the last call, in order (SFU rooms first, then 1:1
    /// calls, each in the order they happened).
    pub fn take_lifecycle(&mut self) -> Vec<Lifecycle> {
        let mut facts = std::mem::take(&mut self.lifecycle);
        facts.append(&mut self.direct.facts);
        facts
    }

    /// Whether lifecycle facts wait to be drained.
    pub fn lifecycle_pending(&self) -> bool {
        !self.lifecycle.is_empty() || !self.direct.facts.is_empty()
    }

    /// The sockets of `user` in room `room_id`.
    pub fn participant_sockets_of(
        &self,
        room_id: &str,
        user: &str,
    ) -> Result<Vec<SocketId>, CallError> {
        let room = self.rooms.get(room_id).ok_or(CallError::CallNotFound)?;
        let sockets: Vec<SocketId> = room
            .participants
            .values()
            .filter(|p| p.user == user)
            .map(|p| p.socket.clone())
            .collect();
        if sockets.is_empty() {
            return Err(CallError::UserNotInCall);
        }
        Ok(sockets)
    }

    /// An operator removes `user` from the call of `room_id`: each of the user's sockets in
    /// the room gets `removedFromRoom {reason: "removed_by_admin"}` and leaves it (the others
    /// get `participantLeft`; the last one leaving ends the call).
    pub fn remove_user(&mut self, room_id: &str, user: &str) -> Result<Vec<Effect>, CallError> {
        let sockets = self.participant_sockets_of(room_id, user)?;
        Ok(self.remove_sockets(room_id, &sockets, LeaveReason::RemovedByAdmin))
    }

    /// An operator ends the call of `room_id`: every participant gets `removedFromRoom
    /// {reason: "ended_by_admin"}` and leaves; the members get `group_call_ended`.
    pub fn end_room(&mut self, room_id: &str) -> Result<Vec<Effect>, CallError> {
        let room = self.rooms.get(room_id).ok_or(CallError::CallNotFound)?;
        let sockets: Vec<SocketId> = room.participants.keys().cloned().collect();
        Ok(self.remove_sockets(room_id, &sockets, LeaveReason::EndedByAdmin))
    }

    fn remove_sockets(
        &mut self,
        room_id: &str,
        sockets: &[SocketId],
        reason: LeaveReason,
    ) -> Vec<Effect> {
        let mut effects: Vec<Effect> = Effect::emit(
            sockets.to_vec(),
            OutEvent::RemovedFromRoom(RemovedFromRoom {
                room_id: room_id.to_owned(),
                reason: reason.as_str().to_owned(),
            }),
        )
        .into_iter()
        .collect();
        for socket in sockets {
            effects.extend(self.leave_room_because(socket, reason));
        }
        effects
    }

    /// Every participant of the call of `room_id` in join order, with its producers.
    pub fn room_snapshot(&self, room_id: &str) -> Option<Vec<ParticipantSnapshot>> {
        let room = self.rooms.get(room_id)?;
        Some(
            room.participants
                .values()
                .map(|p| ParticipantSnapshot {
                    user_id: p.user.clone(),
                    socket_id: p.socket.clone(),
                    producers: p
                        .producers
                        .iter()
                        .map(|(id, slot)| ProducerSnapshot {
                            id: id.clone(),
                            kind: slot.kind.clone(),
                            source: slot.meta.source.as_str().to_owned(),
                            paused: slot.paused,
                        })
                        .collect(),
                })
                .collect(),
        )
    }

    /// The producers of `kind` of `user` in the call of `room_id` that are not paused yet, for
    /// an operator's mute: `(socket, epoch, producer id, handle)`.
    pub fn mute_targets(
        &self,
        room_id: &str,
        user: &str,
        kind: &str,
    ) -> Result<Vec<MuteTarget<M>>, CallError> {
        let sockets = self.participant_sockets_of(room_id, user)?;
        let room = self.rooms.get(room_id).ok_or(CallError::CallNotFound)?;
        Ok(sockets
            .iter()
            .filter_map(|s| room.participants.get(s))
            .flat_map(|p| {
                p.producers
                    .iter()
                    .filter(|(_, slot)| slot.kind == kind && !slot.paused)
                    .map(|(id, slot)| MuteTarget {
                        socket: p.socket.clone(),
                        epoch: p.epoch,
                        producer_id: id.clone(),
                        producer: slot.handle.clone(),
                    })
            })
            .collect())
    }

    /// An operator's mute took effect in the media layer: mark the producer paused and tell
    /// every participant, the owner too: `producerPaused {…, by: "admin"}`. Nothing when the
    /// participant left (`epoch`), the producer closed, or it was paused already.
    pub fn admin_paused(&mut self, target: &MuteTarget<M>) -> Vec<Effect> {
        let Some(room_id) = self.room_of(&target.socket).map(str::to_owned) else {
            return Vec::new();
        };
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return Vec::new();
        };
        let Some(p) = room
            .participants
            .get_mut(&target.socket)
            .filter(|p| p.epoch == target.epoch)
        else {
            return Vec::new();
        };
        let Some(slot) = p.producers.get_mut(&target.producer_id) else {
            return Vec::new();
        };
        if slot.paused {
            return Vec::new();
        }
        slot.paused = true;
        let event = OutEvent::ProducerPaused(ProducerPauseChange {
            producer_id: target.producer_id.clone(),
            socket_id: target.socket.clone(),
            kind: slot.kind.clone(),
            by: Some(ProducerPauseChange::BY_ADMIN.to_owned()),
        });
        let everyone: Vec<SocketId> = room.participants.keys().cloned().collect();
        Effect::emit(everyone, event).into_iter().collect()
    }

    /// Users in the call of `room_id`, with their sockets, in join order.
    pub fn room_participants(&self, room_id: &str) -> Vec<(UserId, SocketId)> {
        self.rooms
            .get(room_id)
            .map(|r| {
                r.participants
                    .values()
                    .map(|p| (p.user.clone(), p.socket.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One participant as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantSnapshot {
    /// The user.
    pub user_id: UserId,
    /// The socket.
    pub socket_id: SocketId,
    /// Its producers, in creation order.
    pub producers: Vec<ProducerSnapshot>,
}

/// One producer as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSnapshot {
    /// Producer id.
    pub id: String,
    /// `"audio"` / `"video"`.
    pub kind: String,
    /// `"camera"`, `"microphone"`, `"screen"` or `"screen-audio"`.
    pub source: String,
    /// Whether it is paused.
    pub paused: bool,
}

/// A producer an operator's mute pauses ([`CallState::mute_targets`]).
#[derive(Debug, Clone)]
pub struct MuteTarget<M: Media> {
    /// Owning socket.
    pub socket: SocketId,
    /// The owner's participant epoch.
    pub epoch: u64,
    /// Producer id.
    pub producer_id: String,
    /// Its media handle (to pause).
    pub producer: M::Producer,
}
