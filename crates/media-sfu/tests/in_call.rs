//! Real mediasoup worker tests of the in-call controls: producer pause / resume (forwarding
//! stops and consumers see it), simulcast consumers (type, preferred layers, layer reports,
//! priority, key frames).

mod common;

use common::TestResult;
use media_sfu::{ConsumerType, Layers, Sfu, SfuConfig};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

async fn eventually(what: &str, mut check: impl FnMut() -> bool) -> TestResult {
    for _ in 0..100 {
        if check() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("timed out waiting for {what}").into())
}

/// Send `count` opus packets from `tx` (always the same socket: a comedia transport only
/// takes packets from the address it learnt first) with sequence numbers from `first`, and
/// count those `rx` receives.
async fn send_opus(
    tx: &UdpSocket,
    (port, ssrc): (u16, u32),
    first: u16,
    count: u16,
    rx: &UdpSocket,
) -> Result<usize, Box<dyn std::error::Error>> {
    let mut got = 0;
    for seq in first..first + count {
        let mut pkt = vec![0x80, 100];
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
        pkt.extend_from_slice(&ssrc.to_be_bytes());
        let payload = format!("opus-frame-{seq:04}");
        pkt.extend_from_slice(payload.as_bytes());
        tx.send_to(&pkt, ("127.0.0.1", port)).await?;
        let mut buf = [0u8; 1500];
        if let Ok(Ok(len)) =
            tokio::time::timeout(Duration::from_millis(25), rx.recv(&mut buf)).await
            && buf[..len].ends_with(payload.as_bytes())
        {
            got += 1;
        }
    }
    Ok(got)
}

#[tokio::test]
async fn paused_producer_stops_forwarding_and_consumers_see_it() -> TestResult {
    let sfu = Sfu::new(SfuConfig::default()).await?;
    let router = sfu.router_for("conv-pause").await?;
    let ingress = router.create_plain_transport(true).await?;
    let ssrc = 33_333_333u32;
    let producer = ingress
        .produce("audio", common::opus_parameters(ssrc))
        .await?;
    let rx = UdpSocket::bind("127.0.0.1:0").await?;
    let egress = router.create_plain_transport(false).await?;
    egress
        .connect(json!({"ip": "127.0.0.1", "port": rx.local_addr()?.port()}))
        .await?;
    let consumer = egress
        .consume(&producer.id(), router.rtp_capabilities(), true)
        .await?;
    assert_eq!(consumer.consumer_type(), ConsumerType::Simple);
    assert_eq!(consumer.consumer_type().as_str(), "simple");
    consumer.resume().await?;
    let port = ingress.local_port().ok_or("no port")?;
    let tx = UdpSocket::bind("127.0.0.1:0").await?;
    let got = send_opus(&tx, (port, ssrc), 0, 20, &rx).await?;
    assert!(got >= 10, "only {got}/20 forwarded before the pause");

    producer.pause().await?;
    assert!(producer.paused());
    eventually("consumer.producer_paused()", || consumer.producer_paused()).await?;
    // Idempotent.
    producer.pause().await?;
    let got = send_opus(&tx, (port, ssrc), 20, 20, &rx).await?;
    assert_eq!(got, 0, "a paused producer forwards nothing");

    producer.resume().await?;
    assert!(!producer.paused());
    eventually("!consumer.producer_paused()", || {
        !consumer.producer_paused()
    })
    .await?;
    let got = send_opus(&tx, (port, ssrc), 40, 20, &rx).await?;
    assert!(got >= 10, "only {got}/20 forwarded after the resume");

    // Audio consumers accept the layer / priority / key-frame requests as no-ops.
    consumer
        .set_preferred_layers(Layers {
            spatial: 0,
            temporal: None,
        })
        .await?;
    consumer.set_priority(7).await?;
    assert_eq!(consumer.priority(), 7);
    consumer.request_key_frame().await?;
    // A paused consumer forwards nothing either.
    consumer.pause().await?;
    let got = send_opus(&tx, (port, ssrc), 60, 10, &rx).await?;
    assert_eq!(got, 0, "a paused consumer forwards nothing");
    Ok(())
}

/// `rtpParameters` of a three-layer VP8 simulcast producer (payload type 101).
fn simulcast_parameters(ssrcs: [u32; 3]) -> Value {
    json!({
        "codecs": [{"mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000}],
        "encodings": ssrcs.iter().map(|s| json!({"ssrc": s})).collect::<Vec<_>>(),
    })
}

/// An RTCP sender report for `ssrc` (needed before a simulcast consumer may switch layers).
fn sender_report(ssrc: u32, seq: u16) -> Vec<u8> {
    let rtp_ts = u32::from(seq) * 3000;
    // 90 kHz clock: the NTP time of `rtp_ts`, from an arbitrary epoch.
    let ntp = (f64::from(rtp_ts) / 90_000.0) + 1_000_000.0;
    let (secs, frac) = (
        ntp.trunc() as u32,
        (ntp.fract() * f64::from(u32::MAX)) as u32,
    );
    let mut pkt = vec![0x80, 200, 0x00, 0x06];
    pkt.extend_from_slice(&ssrc.to_be_bytes());
    pkt.extend_from_slice(&secs.to_be_bytes());
    pkt.extend_from_slice(&frac.to_be_bytes());
    pkt.extend_from_slice(&rtp_ts.to_be_bytes());
    pkt.extend_from_slice(&u32::from(seq).to_be_bytes());
    pkt.extend_from_slice(&(u32::from(seq) * 60).to_be_bytes());
    pkt
}

/// A VP8 key-frame RTP packet (full payload descriptor, temporal layer 0).
fn vp8_key_frame(ssrc: u32, seq: u16, picture_id: u16) -> Vec<u8> {
    let mut pkt = vec![0x80, 0x80 | 101];
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    pkt.extend_from_slice(&ssrc.to_be_bytes());
    let pid = 0x8000 | (picture_id & 0x7fff);
    // X S PID=0 | I L T | picture id (15 bits) | TL0PICIDX | TID=0
    pkt.extend_from_slice(&[0x90, 0xe0]);
    pkt.extend_from_slice(&pid.to_be_bytes());
    pkt.extend_from_slice(&[picture_id as u8, 0x00]);
    // VP8 payload header: P = 0 (key frame), show frame; start code; 16x16.
    pkt.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00]);
    pkt.extend_from_slice(&[0u8; 40]);
    pkt
}

#[tokio::test]
async fn simulcast_consumer_reports_its_layers() -> TestResult {
    let sfu = Sfu::new(SfuConfig::default()).await?;
    let router = sfu.router_for("conv-simulcast").await?;
    let ingress = router.create_plain_transport(true).await?;
    let ssrcs = [44_000_001u32, 44_000_002, 44_000_003];
    let producer = ingress
        .produce("video", simulcast_parameters(ssrcs))
        .await?;
    let rx = UdpSocket::bind("127.0.0.1:0").await?;
    let egress = router.create_plain_transport(false).await?;
    egress
        .connect(json!({"ip": "127.0.0.1", "port": rx.local_addr()?.port()}))
        .await?;
    let consumer = egress
        .consume(&producer.id(), router.rtp_capabilities(), true)
        .await?;
    assert_eq!(consumer.consumer_type(), ConsumerType::Simulcast);
    assert_eq!(consumer.consumer_type().as_str(), "simulcast");
    let (tx, mut reports) = mpsc::unbounded_channel();
    consumer.on_layers_change(move |layers| {
        let _ = tx.send(layers);
    });
    consumer.resume().await?;
    consumer.set_priority(200).await?;
    assert_eq!(consumer.priority(), 200);

    let mut feed = Feed {
        sender: UdpSocket::bind("127.0.0.1:0").await?,
        port: ingress.local_port().ok_or("no port")?,
        ssrcs,
        seq: 0,
        rx,
    };
    feed.until(
        Some(Layers {
            spatial: 2,
            temporal: Some(0),
        }),
        &mut reports,
    )
    .await?;
    consumer
        .set_preferred_layers(Layers {
            spatial: 0,
            temporal: Some(0),
        })
        .await?;
    feed.until(
        Some(Layers {
            spatial: 0,
            temporal: Some(0),
        }),
        &mut reports,
    )
    .await?;
    consumer.request_key_frame().await?;
    // Pausing the producer: nothing is forwarded any more.
    producer.pause().await?;
    feed.until(None, &mut reports).await?;
    // The callback goes with the consumer: its channel closes (no task or handler leaks).
    drop(consumer);
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        while reports.recv().await.is_some() {}
    })
    .await;
    assert!(closed.is_ok(), "the layers callback outlived its consumer");
    Ok(())
}

/// Sends VP8 key frames on every layer of a simulcast producer.
struct Feed {
    sender: UdpSocket,
    port: u16,
    ssrcs: [u32; 3],
    seq: u16,
    rx: UdpSocket,
}

impl Feed {
    /// Keep sending (up to ~3 s) until the consumer reports forwarding `want`.
    async fn until(
        &mut self,
        want: Option<Layers>,
        reports: &mut mpsc::UnboundedReceiver<Option<Layers>>,
    ) -> TestResult {
        let mut drain = [0u8; 1500];
        let mut seen = Vec::new();
        for _ in 0..150 {
            for ssrc in self.ssrcs {
                let pkt = vp8_key_frame(ssrc, self.seq, self.seq);
                self.sender.send_to(&pkt, ("127.0.0.1", self.port)).await?;
                if self.seq.is_multiple_of(10) {
                    let sr = sender_report(ssrc, self.seq);
                    self.sender.send_to(&sr, ("127.0.0.1", self.port)).await?;
                }
            }
            self.seq = self.seq.wrapping_add(1);
            while let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(1), self.rx.recv(&mut drain)).await
            {
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            while let Ok(layers) = reports.try_recv() {
                if layers == want {
                    return Ok(());
                }
                seen.push(layers);
            }
        }
        Err(format!("no layers report {want:?}; seen {seen:?}").into())
    }
}
