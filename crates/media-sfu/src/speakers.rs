//! Who is talking in a room: one ActiveSpeakerObserver and one AudioLevelObserver per room,
//! on its home router. Audio producers of the room's other routers are piped there first.
//!
//! The observers report through the [`SpeakerReport`] channel of the [`crate::Sfu`]
//! ([`crate::Sfu::take_speaker_reports`]); they close with the room.

use crate::error::SfuError;
use crate::handles::parse_producer_id;
use crate::room::{RoomInner, RouterInner};
use mediasoup::prelude::*;
use mediasoup::router::RouterId;
use std::num::NonZeroU16;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Interval of the dominant-speaker detection (mediasoup's default).
const ACTIVE_SPEAKER_INTERVAL_MS: u16 = 300;
/// Interval of the audio levels: at most two reports a second.
pub const AUDIO_LEVEL_INTERVAL_MS: u16 = 500;
/// Volume (dBov, −127 … 0) at and above which a producer counts as audible.
pub const AUDIO_LEVEL_THRESHOLD_DBOV: i8 = -70;
/// Most producers in one audio-level report (the loudest first).
const AUDIO_LEVEL_MAX_ENTRIES: u16 = 16;

/// What a room's audio observers saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeakerEvent {
    /// The dominant speaker changed to this audio producer.
    Dominant {
        /// Its producer id.
        producer_id: String,
    },
    /// The audible producers of the last interval, loudest first, with their average
    /// volume in dBov (−127 … 0).
    Volumes(Vec<(String, i8)>),
    /// Nobody is audible any more (once, after audible intervals).
    Silence,
}

/// A [`SpeakerEvent`] of room `room` (the key given to [`crate::Sfu::router_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerReport {
    /// The room.
    pub room: String,
    /// What happened.
    pub event: SpeakerEvent,
}

/// The observers of one room (closed on drop).
pub(crate) struct Speakers {
    router: RouterId,
    active: ActiveSpeakerObserver,
    levels: AudioLevelObserver,
}

impl Speakers {
    /// Observers on `home` reporting as room `room` into `reports`.
    async fn create(
        home: &RouterInner,
        room: String,
        reports: mpsc::UnboundedSender<SpeakerReport>,
    ) -> Result<Self, SfuError> {
        let mut active_options = ActiveSpeakerObserverOptions::default();
        active_options.interval = ACTIVE_SPEAKER_INTERVAL_MS;
        let active = home
            .router
            .create_active_speaker_observer(active_options)
            .await
            .map_err(SfuError::request)?;
        let mut level_options = AudioLevelObserverOptions::default();
        level_options.interval = AUDIO_LEVEL_INTERVAL_MS;
        level_options.threshold = AUDIO_LEVEL_THRESHOLD_DBOV;
        level_options.max_entries =
            NonZeroU16::new(AUDIO_LEVEL_MAX_ENTRIES).unwrap_or(NonZeroU16::MIN);
        let levels = home
            .router
            .create_audio_level_observer(level_options)
            .await
            .map_err(SfuError::request)?;
        let report = move |event: SpeakerEvent| {
            let _ = reports.send(SpeakerReport {
                room: room.clone(),
                event,
            });
        };
        let (r1, r2, r3) = (report.clone(), report.clone(), report);
        // The handlers live as long as the observers.
        active
            .on_dominant_speaker(move |d| {
                r1(SpeakerEvent::Dominant {
                    producer_id: d.producer.id().to_string(),
                });
            })
            .detach();
        levels
            .on_volumes(move |volumes| {
                r2(SpeakerEvent::Volumes(
                    volumes
                        .iter()
                        .map(|v| (v.producer.id().to_string(), v.volume))
                        .collect(),
                ));
            })
            .detach();
        levels
            .on_silence(move || r3(SpeakerEvent::Silence))
            .detach();
        Ok(Self {
            router: home.router.id(),
            active,
            levels,
        })
    }

    async fn add(&self, producer_id: ProducerId) -> Result<(), SfuError> {
        self.active
            .add_producer(RtpObserverAddProducerOptions::new(producer_id))
            .await
            .map_err(SfuError::request)?;
        self.levels
            .add_producer(RtpObserverAddProducerOptions::new(producer_id))
            .await
            .map_err(SfuError::request)
    }
}

impl RoomInner {
    /// Watch the audio producer `producer_id` of this room for speaking: the room's
    /// observers are created on its home router on first use, and a producer of another
    /// router is piped to the home router first.
    pub(crate) async fn observe_audio(self: &Arc<Self>, producer_id: &str) -> Result<(), SfuError> {
        let pid = parse_producer_id(producer_id).map_err(|_| SfuError::ProducerNotFound)?;
        if !self.producers.lock().contains_key(&pid) {
            return Err(SfuError::ProducerNotFound);
        }
        let home = self.home()?;
        self.ensure_piped(pid, &home).await?;
        let mut speakers = self.speakers.lock().await;
        let current = speakers
            .as_ref()
            .is_some_and(|s| s.router == home.router.id());
        if !current {
            *speakers =
                Some(Speakers::create(&home, self.key.clone(), self.reports.clone()).await?);
        }
        match speakers.as_ref() {
            Some(s) => s.add(pid).await,
            None => Err(SfuError::Closed),
        }
    }
}
