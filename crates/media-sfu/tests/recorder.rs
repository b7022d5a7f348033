//! Recording taps against a real worker: two producers, each tapped to its own local UDP
//! receiver (RTP and RTCP ports apart); nothing flows before `start`, RTP flows after it,
//! and the SDP names the port, payload type and codec.

mod common;

use common::TestResult;
use media_sfu::{Sfu, SfuConfig};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::net::UdpSocket;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// `count` opus packets from `tx` (always the same socket: the comedia ingress learnt it).
async fn send(tx: &UdpSocket, port: u16, ssrc: u32, first: u16, count: u16) -> TestResult {
    for i in first..first + count {
        let mut pkt = vec![0x80, 100];
        pkt.extend_from_slice(&i.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(i) * 960).to_be_bytes());
        pkt.extend_from_slice(&ssrc.to_be_bytes());
        pkt.extend_from_slice(b"opus-frame");
        tx.send_to(&pkt, (LOOPBACK, port)).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn received(rx: &UdpSocket, window: Duration) -> usize {
    let mut n = 0;
    let mut buf = [0u8; 1500];
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Ok(_)) = tokio::time::timeout_at(deadline, rx.recv(&mut buf)).await {
        n += 1;
    }
    n
}

#[tokio::test]
async fn taps_send_plain_rtp_to_their_receivers_once_started() -> TestResult {
    let sfu = Sfu::new(SfuConfig::default()).await?;
    let router = sfu.router_for("conv-record").await?;
    let mut taps = Vec::new();
    let mut inputs = Vec::new();
    for ssrc in [61_000_001u32, 61_000_002] {
        let ingress = router.create_plain_transport(true).await?;
        let producer = ingress
            .produce("audio", common::opus_parameters(ssrc))
            .await?;
        let rx = UdpSocket::bind((LOOPBACK, 0)).await?;
        let rtcp = UdpSocket::bind((LOOPBACK, 0)).await?;
        let port = rx.local_addr()?.port();
        let tap = router
            .record(&producer.id(), LOOPBACK, port, rtcp.local_addr()?.port())
            .await?;
        assert_eq!(tap.codec().name, "opus");
        assert_eq!(tap.codec().kind, "audio");
        let sdp = tap.sdp(LOOPBACK, port, port + 1);
        assert!(
            sdp.contains(&format!(
                "m=audio {port} RTP/AVP {}",
                tap.codec().payload_type
            )),
            "{sdp}"
        );
        assert!(sdp.contains("opus/48000/2"), "{sdp}");
        let tx = UdpSocket::bind((LOOPBACK, 0)).await?;
        inputs.push((ingress, producer, ssrc, tx));
        taps.push((tap, rx, rtcp));
    }
    assert!(router.record("nope", LOOPBACK, 1, 2).await.is_err());
    // Paused until started: nothing arrives.
    for (ingress, _, ssrc, tx) in &inputs {
        send(tx, ingress.local_port().ok_or("no port")?, *ssrc, 0, 10).await?;
    }
    for (_, rx, _) in &taps {
        assert_eq!(
            received(rx, Duration::from_millis(200)).await,
            0,
            "sent before start"
        );
    }
    for (tap, _, _) in &taps {
        tap.start().await?;
    }
    for (ingress, _, ssrc, tx) in &inputs {
        send(tx, ingress.local_port().ok_or("no port")?, *ssrc, 10, 30).await?;
    }
    for (i, (_, rx, _)) in taps.iter().enumerate() {
        let n = received(rx, Duration::from_millis(500)).await;
        assert!(n >= 20, "tap {i} received only {n} packets");
    }
    Ok(())
}
