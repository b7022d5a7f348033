//! Connection quality: every [`INTERVAL`] the media of each participant is measured (the
//! worst score of the streams it sends and receives, its transports' ICE/DTLS health) and the
//! domain announces changes as `connectionQuality` (thresholds in `call_domain::quality_of`).

use crate::app::App;
use crate::media::SfuMedia;
use call_domain::{QualityInputs, quality_of};
use media_sfu::{MediaConsumer, MediaProducer, MediaTransport, TransportHealth};
use signal_proto::server_events::Quality;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often qualities are measured.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// The quality of a participant with these media objects: not `connected` when a transport
/// lost ICE or DTLS; the worst score of its unpaused producers (those that carried RTP) and
/// of its unpaused consumers of unpaused producers.
pub(crate) fn measure(
    transports: &[Arc<MediaTransport>],
    producers: &[Arc<MediaProducer>],
    consumers: &[Arc<MediaConsumer>],
) -> Quality {
    let connected = transports.iter().all(|t| t.health() == TransportHealth::Ok);
    let sent = producers
        .iter()
        .filter(|p| !p.paused())
        .filter_map(|p| p.score());
    let received = consumers
        .iter()
        .filter(|c| !c.paused() && !c.producer_paused())
        .map(|c| c.score());
    quality_of(sent.chain(received).min(), connected)
}

/// Measure every [`INTERVAL`] until the app is gone.
pub(crate) async fn measure_loop(app: Weak<App>) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(app) = app.upgrade() else { break };
        let inputs: Vec<QualityInputs<SfuMedia>> = app.state.lock().quality_inputs();
        for i in inputs {
            let quality = measure(&i.transports, &i.producers, &i.consumers);
            let effects = app.state.lock().set_quality(&i.socket, i.epoch, quality);
            if !effects.is_empty() {
                tracing::info!(sid = %i.socket, quality = ?quality, "connection quality changed");
                app.apply(effects);
            }
        }
        if let Some(link) = &app.cluster {
            link.report_local_quality();
        }
    }
}
