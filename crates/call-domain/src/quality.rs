//! Connection quality: what the media layer measures of a participant (the worst score of
//! the streams it sends and receives, and whether its transports are connected) becomes one
//! of four levels, announced to the room when it changes.
//!
//! Thresholds (mediasoup scores are 0–10; 10 is a perfect stream): a participant whose
//! transports lost connectivity is `lost`; otherwise the worst score of its producers and
//! consumers decides: 7–10 `excellent`, 4–6 `good`, 0–3 `poor`; no stream yet counts as
//! `excellent`.

use crate::SocketId;
use crate::effects::{Effect, OutEvent};
use crate::media::Media;
use crate::state::CallState;
use signal_proto::server_events::{ConnectionQuality, Quality};

/// Lowest worst-stream score that is still `excellent`.
pub const EXCELLENT_MIN_SCORE: u8 = 7;
/// Lowest worst-stream score that is still `good`.
pub const GOOD_MIN_SCORE: u8 = 4;

/// The quality of a participant whose worst stream scores `worst_score` (`None`: no stream)
/// and whose transports are `connected` (all of them usable) or not.
pub fn quality_of(worst_score: Option<u8>, connected: bool) -> Quality {
    if !connected {
        return Quality::Lost;
    }
    match worst_score {
        None => Quality::Excellent,
        Some(s) if s >= EXCELLENT_MIN_SCORE => Quality::Excellent,
        Some(s) if s >= GOOD_MIN_SCORE => Quality::Good,
        Some(_) => Quality::Poor,
    }
}

/// One participant's media handles, for measuring its quality.
#[derive(Debug, Clone)]
pub struct QualityInputs<M: Media> {
    /// The socket.
    pub socket: SocketId,
    /// Its participant epoch (the measurement applies to this incarnation only).
    pub epoch: u64,
    /// Its transports.
    pub transports: Vec<M::Transport>,
    /// Its producers.
    pub producers: Vec<M::Producer>,
    /// Its consumers.
    pub consumers: Vec<M::Consumer>,
}

impl<M: Media> CallState<M> {
    /// The media handles of every participant with at least one transport on this node
    /// (participants without one, such as another node's sockets, are measured where their
    /// transports are).
    pub fn quality_inputs(&self) -> Vec<QualityInputs<M>> {
        self.rooms
            .values()
            .flat_map(|room| room.participants.values())
            .filter(|p| !p.transports.is_empty())
            .map(|p| QualityInputs {
                socket: p.socket.clone(),
                epoch: p.epoch,
                transports: p.transports.values().map(|t| t.handle.clone()).collect(),
                producers: p.producers.values().map(|s| s.handle.clone()).collect(),
                consumers: p.consumers.values().map(|c| c.handle.clone()).collect(),
            })
            .collect()
    }

    /// The participant `socket` (incarnation `epoch`) now has `quality`:
    /// `connectionQuality` to the whole room when it changed (the first measurement is
    /// announced only when it is not `excellent`, so a healthy call stays quiet).
    pub fn set_quality(&mut self, socket: &str, epoch: u64, quality: Quality) -> Vec<Effect> {
        let Ok((room, socket)) = self.participant_mut(socket, epoch) else {
            return Vec::new();
        };
        let Some(p) = room.participants.get_mut(&socket) else {
            return Vec::new();
        };
        let before = p.quality.replace(quality);
        if before == Some(quality) || (before.is_none() && quality == Quality::Excellent) {
            return Vec::new();
        }
        let event = OutEvent::ConnectionQuality(ConnectionQuality {
            room_id: room.id.clone(),
            socket_id: p.socket.clone(),
            user_id: p.user.clone(),
            quality,
        });
        let everyone = room.participants.keys().cloned().collect();
        Effect::emit(everyone, event).into_iter().collect()
    }

    /// Cluster mode, on a room's home: the node of proxy `socket` measured its quality
    /// (its transports are there): as [`CallState::set_quality`] for its current
    /// participant.
    pub fn set_remote_quality(&mut self, socket: &str, quality: Quality) -> Vec<Effect> {
        match self.participant(socket) {
            Ok((_, p)) => {
                let epoch = p.epoch;
                self.set_quality(socket, epoch, quality)
            }
            Err(_) => Vec::new(),
        }
    }

    /// The quality last announced for `socket`'s participant (`None` before the first).
    pub fn quality(&self, socket: &str) -> Option<Quality> {
        self.participant(socket).ok()?.1.quality
    }
}
