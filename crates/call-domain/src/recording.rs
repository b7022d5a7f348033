//! Whether a room is being recorded: nobody is recorded without the room knowing. Starting
//! tells every participant (`recordingStarted`), later joiners see it in the `createRoom` ack,
//! stopping tells everyone (`recordingStopped`). The recording itself (taps, files) is the
//! I/O layer's.

use crate::effects::{Effect, OutEvent};
use crate::error::CallError;
use crate::media::Media;
use crate::state::CallState;
use signal_proto::responses::RecordingRef;
use signal_proto::server_events::{RecordingStarted, RecordingStopped};

/// Whether [`CallState::start_recording`] began a recording or found one running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingStart {
    /// A new recording with this id; the effects tell the room.
    Started(Vec<Effect>),
    /// The room was already being recorded under this id.
    Running(String),
}

impl<M: Media> CallState<M> {
    /// Record room `room_id` as `recording_id`: [`RecordingStart::Running`] with the current id
    /// when it already is; `CallNotFound` when no call runs there.
    pub fn start_recording(
        &mut self,
        room_id: &str,
        recording_id: &str,
    ) -> Result<RecordingStart, CallError> {
        let room = self.rooms.get_mut(room_id).ok_or(CallError::CallNotFound)?;
        if let Some(current) = &room.recording {
            return Ok(RecordingStart::Running(current.clone()));
        }
        room.recording = Some(recording_id.to_owned());
        let event = OutEvent::RecordingStarted(RecordingStarted {
            room_id: room_id.to_owned(),
            recording_id: recording_id.to_owned(),
        });
        let everyone = room.participants.keys().cloned().collect();
        Ok(RecordingStart::Started(
            Effect::emit(everyone, event).into_iter().collect(),
        ))
    }

    /// The recording `recording_id` of room `room_id` stopped (`reason` when nobody stopped
    /// it): `recordingStopped` to every participant. Nothing when the room is gone or records
    /// something else.
    pub fn stop_recording(
        &mut self,
        room_id: &str,
        recording_id: &str,
        reason: Option<&str>,
    ) -> Vec<Effect> {
        let Some(room) = self.rooms.get_mut(room_id) else {
            return Vec::new();
        };
        if room.recording.as_deref() != Some(recording_id) {
            return Vec::new();
        }
        room.recording = None;
        let event = OutEvent::RecordingStopped(RecordingStopped {
            room_id: room_id.to_owned(),
            recording_id: recording_id.to_owned(),
            reason: reason.map(str::to_owned),
        });
        let everyone = room.participants.keys().cloned().collect();
        Effect::emit(everyone, event).into_iter().collect()
    }

    /// The recording in progress in room `room_id` (`createRoom` ack).
    pub fn recording_of(&self, room_id: &str) -> Option<RecordingRef> {
        let room = self.rooms.get(room_id)?;
        room.recording
            .clone()
            .map(|recording_id| RecordingRef { recording_id })
    }
}

/// A producer of a room as a recording lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordableProducer {
    /// The producer.
    pub producer_id: String,
    /// Its owner's socket.
    pub socket: String,
    /// Its owner.
    pub info: signal_proto::ParticipantInfo,
    /// `"audio"` / `"video"`.
    pub kind: String,
    /// What it carries.
    pub source: signal_proto::ProducerSource,
}

impl<M: Media> CallState<M> {
    /// Every producer of room `room_id`, in join and creation order.
    pub fn room_producers(&self, room_id: &str) -> Vec<RecordableProducer> {
        let Some(room) = self.rooms.get(room_id) else {
            return Vec::new();
        };
        room.participants
            .values()
            .flat_map(|p| {
                p.producers.iter().map(|(id, slot)| RecordableProducer {
                    producer_id: id.clone(),
                    socket: p.socket.clone(),
                    info: p.info.clone(),
                    kind: slot.kind.clone(),
                    source: slot.meta.source,
                })
            })
            .collect()
    }

    /// The producer `producer_id` of room `room_id`, if it is there.
    pub fn room_producer(&self, room_id: &str, producer_id: &str) -> Option<RecordableProducer> {
        self.room_producers(room_id)
            .into_iter()
            .find(|p| p.producer_id == producer_id)
    }
}
