//! Who is talking: the room's dominant speaker and audio levels, as the media layer's
//! observers report them by producer id, turned into `activeSpeaker` / `audioLevels` for the
//! room's participants.

use crate::effects::{Effect, OutEvent};
use crate::media::Media;
use crate::room::Room;
use crate::state::CallState;
use signal_proto::responses::ActiveSpeaker;
use signal_proto::server_events::{ActiveSpeakerChanged, AudioLevel, AudioLevels};

impl<M: Media> Room<M> {
    /// The participant owning producer `producer_id`: `(socket, user)`.
    pub(crate) fn producer_owner(&self, producer_id: &str) -> Option<(&str, &str)> {
        self.participants
            .values()
            .find(|p| p.producers.contains_key(producer_id))
            .map(|p| (p.socket.as_str(), p.user.as_str()))
    }

    /// Whether producer `producer_id` is paused (a muted microphone is nobody's voice).
    fn producer_paused(&self, producer_id: &str) -> bool {
        self.participants
            .values()
            .find_map(|p| p.producers.get(producer_id))
            .is_some_and(|slot| slot.paused)
    }

    fn everyone(&self) -> Vec<String> {
        self.participants.keys().cloned().collect()
    }
}

impl<M: Media> CallState<M> {
    /// The observers report `producer_id` as the dominant speaker of `room_id`:
    /// `activeSpeaker` to every participant when it changed. Nothing for an unknown room, a
    /// producer that is gone, or a paused one (a muted microphone never speaks; mediasoup
    /// names a lone producer dominant even when it is silent or paused).
    pub fn speaker_changed(&mut self, room_id: &str, producer_id: &str) -> Vec<Effect> {
        let Some(room) = self.rooms.get_mut(room_id) else {
            return Vec::new();
        };
        if room.active_speaker.as_deref() == Some(producer_id) || room.producer_paused(producer_id)
        {
            return Vec::new();
        }
        let Some((socket, user)) = room.producer_owner(producer_id) else {
            return Vec::new();
        };
        let event = OutEvent::ActiveSpeaker(ActiveSpeakerChanged {
            room_id: room_id.to_owned(),
            socket_id: socket.to_owned(),
            user_id: user.to_owned(),
            producer_id: producer_id.to_owned(),
        });
        room.active_speaker = Some(producer_id.to_owned());
        Effect::emit(room.everyone(), event).into_iter().collect()
    }

    /// The observers report the audible producers of `room_id` (`(producer id, dBov)`,
    /// loudest first; empty when everyone fell silent): `audioLevels` to every participant,
    /// with the producers still in the room.
    pub fn audio_levels(&self, room_id: &str, levels: &[(String, i8)]) -> Vec<Effect> {
        let Some(room) = self.rooms.get(room_id) else {
            return Vec::new();
        };
        let levels: Vec<AudioLevel> = levels
            .iter()
            .filter_map(|(producer_id, volume)| {
                let (socket, user) = room.producer_owner(producer_id)?;
                Some(AudioLevel {
                    socket_id: socket.to_owned(),
                    user_id: user.to_owned(),
                    producer_id: producer_id.clone(),
                    volume: *volume,
                })
            })
            .collect();
        let event = OutEvent::AudioLevels(AudioLevels {
            room_id: room_id.to_owned(),
            levels,
        });
        Effect::emit(room.everyone(), event).into_iter().collect()
    }

    /// The router of `socket`'s room (to watch its new audio producer).
    pub fn router_of(&self, socket: &str) -> Option<M::Router> {
        self.participant(socket)
            .ok()
            .map(|(room, _)| room.router.clone())
    }

    /// The room's dominant speaker, if its producer is still there (`createRoom` ack).
    pub fn active_speaker(&self, room_id: &str) -> Option<ActiveSpeaker> {
        let room = self.rooms.get(room_id)?;
        let producer_id = room.active_speaker.as_deref()?;
        if room.producer_paused(producer_id) {
            return None;
        }
        let (socket, user) = room.producer_owner(producer_id)?;
        Some(ActiveSpeaker {
            socket_id: socket.to_owned(),
            user_id: user.to_owned(),
            producer_id: producer_id.to_owned(),
        })
    }
}
