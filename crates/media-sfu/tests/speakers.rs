//! Real mediasoup worker test of the speaker observers: two opus producers on plain
//! transports, one loud and one silent (RFC 6464 `ssrc-audio-level` header extension). The
//! loud one becomes the dominant speaker and is the only one in the audio levels; when
//! everyone stops, one silence report follows.

mod common;

use common::TestResult;
use media_sfu::{Sfu, SfuConfig, SpeakerEvent, SpeakerReport};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Opus producer parameters with the audio-level header extension on id 1.
fn opus_with_level(ssrc: u32) -> Value {
    json!({
        "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
        "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 1}],
        "encodings": [{"ssrc": ssrc}]
    })
}

/// One opus packet carrying `level` (0 = loudest … 127 = silence, i.e. −dBov).
fn packet(ssrc: u32, seq: u16, level: u8) -> Vec<u8> {
    let mut pkt = vec![0x90, 100]; // version 2, extension bit
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    pkt.extend_from_slice(&ssrc.to_be_bytes());
    // One-byte header extension: 0xBEDE, one 32-bit word: id 1, length 1, V=1 + level.
    pkt.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 0x10, 0x80 | level, 0x00, 0x00]);
    pkt.extend_from_slice(b"opus-frame");
    pkt
}

/// Reports for `room` until `until` matches one, or fail after `timeout`.
async fn wait_for(
    reports: &mut mpsc::UnboundedReceiver<SpeakerReport>,
    room: &str,
    timeout: Duration,
    mut until: impl FnMut(&SpeakerEvent) -> bool,
) -> Result<Vec<SpeakerEvent>, Box<dyn std::error::Error>> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let report = tokio::time::timeout(left, reports.recv())
            .await
            .map_err(|_| format!("timed out; seen {seen:?}"))?
            .ok_or("report channel closed")?;
        assert_eq!(report.room, room);
        let done = until(&report.event);
        seen.push(report.event);
        if done {
            return Ok(seen);
        }
    }
}

#[tokio::test]
async fn the_loud_producer_is_the_dominant_speaker_and_silence_follows() -> TestResult {
    speakers_on(Sfu::new(SfuConfig::default()).await?, false).await
}

/// The same with the room spread over two workers: the producers' transports are on the
/// second worker's router, so their audio is piped to the home router's observers.
#[tokio::test]
async fn audio_of_another_workers_router_is_piped_to_the_home_observers() -> TestResult {
    let sfu = Sfu::new(SfuConfig {
        workers: 2,
        worker_consumer_capacity: 0,
        ..SfuConfig::default()
    })
    .await?;
    speakers_on(sfu, true).await
}

async fn speakers_on(sfu: Sfu, spread: bool) -> TestResult {
    let mut reports = sfu.take_speaker_reports().ok_or("reports taken")?;
    assert!(sfu.take_speaker_reports().is_none(), "taken twice");
    let router = sfu.router_for("conv-speakers").await?;
    let (loud_ssrc, quiet_ssrc) = (51_000_001u32, 51_000_002u32);
    let loud_in = router.create_plain_transport(true).await?;
    let quiet_in = router.create_plain_transport(true).await?;
    if spread {
        assert_eq!(
            router.worker_indices().len(),
            2,
            "the room spans two workers"
        );
        assert_ne!(
            loud_in.worker_index(),
            router.worker_index(),
            "not on the home's worker"
        );
    }
    let loud = loud_in.produce("audio", opus_with_level(loud_ssrc)).await?;
    let quiet = quiet_in
        .produce("audio", opus_with_level(quiet_ssrc))
        .await?;
    // Alone in the observer, the loud producer is the dominant speaker at the next tick
    // (mediasoup's algorithm then needs seconds of speech before another one takes over, so
    // the quiet one is added only after that).
    router.observe_audio(&loud.id()).await?;
    let loud_id = loud.id();
    wait_for(
        &mut reports,
        "conv-speakers",
        Duration::from_secs(5),
        |e| matches!(e, SpeakerEvent::Dominant { producer_id } if *producer_id == loud_id),
    )
    .await?;
    router.observe_audio(&quiet.id()).await?;
    assert!(
        router.observe_audio("not-a-producer").await.is_err(),
        "an unknown producer is refused"
    );

    let tx = UdpSocket::bind("127.0.0.1:0").await?;
    let loud_port = loud_in.local_port().ok_or("no port")?;
    let quiet_port = quiet_in.local_port().ok_or("no port")?;
    let sender = {
        let (loud_ssrc, quiet_ssrc) = (loud_ssrc, quiet_ssrc);
        let tx2 = UdpSocket::bind("127.0.0.1:0").await?;
        tokio::spawn(async move {
            // 3 s of 20 ms frames: the loud one at −10 dBov, the quiet one silent.
            for seq in 0..150u16 {
                let _ = tx
                    .send_to(&packet(loud_ssrc, seq, 10), ("127.0.0.1", loud_port))
                    .await;
                let _ = tx2
                    .send_to(&packet(quiet_ssrc, seq, 127), ("127.0.0.1", quiet_port))
                    .await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let seen = wait_for(&mut reports, "conv-speakers", Duration::from_secs(5), |e| {
        matches!(e, SpeakerEvent::Volumes(_))
    })
    .await?;
    let Some(SpeakerEvent::Volumes(levels)) = seen.last() else {
        return Err("no volumes".into());
    };
    assert_eq!(levels.len(), 1, "only the audible producer: {levels:?}");
    assert_eq!(levels[0].0, loud.id());
    assert!(
        (-20..=0).contains(&levels[0].1),
        "volume {} dBov",
        levels[0].1
    );
    sender.await?;
    // Everyone stopped: one silence report; the silent producer never became dominant.
    let seen = wait_for(&mut reports, "conv-speakers", Duration::from_secs(5), |e| {
        *e == SpeakerEvent::Silence
    })
    .await?;
    assert!(
        !seen.iter().any(
            |e| matches!(e, SpeakerEvent::Dominant { producer_id } if *producer_id == quiet.id())
        ),
        "the silent producer became dominant: {seen:?}"
    );
    Ok(())
}
