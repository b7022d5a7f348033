//! The rooms' speaker observers (`media-sfu`) → `activeSpeaker` / `audioLevels`: one task
//! reads every room's reports and hands them to the domain.

use crate::app::App;
use media_sfu::{SpeakerEvent, SpeakerReport};
use std::sync::Weak;
use tokio::sync::mpsc;

/// Deliver the speaker reports until the app is gone.
pub(crate) async fn report_loop(
    app: Weak<App>,
    mut reports: mpsc::UnboundedReceiver<SpeakerReport>,
) {
    while let Some(SpeakerReport { room, event }) = reports.recv().await {
        let Some(app) = app.upgrade() else { break };
        let effects = {
            let mut st = app.state.lock();
            match &event {
                SpeakerEvent::Dominant { producer_id } => st.speaker_changed(&room, producer_id),
                SpeakerEvent::Volumes(levels) => st.audio_levels(&room, levels),
                SpeakerEvent::Silence => st.audio_levels(&room, &[]),
            }
        };
        if let SpeakerEvent::Dominant { producer_id } = &event {
            tracing::debug!(room = %room, producer = %producer_id, "dominant speaker");
        }
        app.apply(effects);
    }
}

/// Watch a new audio producer of a room homed here for speaking (a failure only costs the
/// speaker detection, never the call: logged).
pub(crate) async fn observe(router: &media_sfu::RoomRouter, producer_id: &str) {
    if let Err(e) = router.observe_audio(producer_id).await {
        tracing::warn!(producer = %producer_id, error = %e, "speaker detection not available");
    }
}
