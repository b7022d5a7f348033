//! Node pipes with real mediasoup workers: two SFUs in one process stand for two nodes (one on
//! 127.0.0.1, one on 127.0.0.2). A producer of node A is exported over an SRTP + RTX pipe,
//! imported on node B under the same id, consumed there (also on B's second worker), and its
//! pause, resume and close cross the pipe.

mod common;

use common::TestResult;
use media_sfu::{ExportChange, MediaConsumer, NodePipe, RoomRouter, Sfu, SfuConfig, SfuError};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

async fn node(last_octet: u8, workers: usize) -> Result<Sfu, Box<dyn std::error::Error>> {
    Ok(Sfu::new(SfuConfig {
        workers,
        listen_ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet)),
        // One consumer per worker: B's second transport lands on its second worker.
        worker_consumer_capacity: 1,
        ..SfuConfig::default()
    })
    .await?)
}

/// Create both ends and connect them to each other.
async fn pipe_pair(
    a: &RoomRouter,
    b: &RoomRouter,
) -> Result<(NodePipe, NodePipe), Box<dyn std::error::Error>> {
    let (pa, pb) = (a.create_node_pipe().await?, b.create_node_pipe().await?);
    let (ea, eb) = (pa.local_endpoint(), pb.local_endpoint());
    assert_eq!(ea.ip, "127.0.0.1");
    assert_eq!(eb.ip, "127.0.0.2");
    for e in [&ea, &eb] {
        assert!(e.port > 0);
        assert!(
            e.srtp["cryptoSuite"].is_string() && e.srtp["keyBase64"].is_string(),
            "SRTP is on: {}",
            e.srtp
        );
    }
    pa.connect(&eb).await?;
    pb.connect(&ea).await?;
    Ok((pa, pb))
}

/// A plain egress transport on `room` sending to a fresh UDP socket, consuming `producer_id`.
async fn receiver(
    room: &RoomRouter,
    producer_id: &str,
) -> Result<(UdpSocket, MediaConsumer, media_sfu::MediaTransport), Box<dyn std::error::Error>> {
    let rx = UdpSocket::bind("127.0.0.1:0").await?;
    let egress = room.create_plain_transport(false).await?;
    egress
        .connect(json!({"ip": "127.0.0.1", "port": rx.local_addr()?.port()}))
        .await?;
    let consumer = egress
        .consume(producer_id, room.rtp_capabilities(), false)
        .await?;
    Ok((rx, consumer, egress))
}

async fn poll_until(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_producer_of_node_a_is_consumed_on_node_b_through_the_pipe() -> TestResult {
    let (sfu_a, sfu_b) = (node(1, 1).await?, node(2, 2).await?);
    let (room_a, room_b) = (
        sfu_a.router_for("room").await?,
        sfu_b.router_for("room").await?,
    );
    assert_eq!(
        room_a.rtp_capabilities(),
        room_b.rtp_capabilities(),
        "both nodes' copies of a room offer the same RTP capabilities"
    );
    let (pipe_a, pipe_b) = pipe_pair(&room_a, &room_b).await?;
    let (changes_tx, mut changes) = mpsc::unbounded_channel();
    pipe_a.on_export_change(move |id, change| {
        let _ = changes_tx.send((id.to_owned(), change));
    });

    // Node A: an opus producer fed over plain RTP.
    let ingress = room_a.create_plain_transport(true).await?;
    let ssrc = 33_333_333u32;
    let producer = ingress
        .produce("audio", common::opus_parameters(ssrc))
        .await?;
    let id = producer.id();
    assert!(matches!(
        room_b.check_consume(&id, &room_b.rtp_capabilities()),
        Err(SfuError::ProducerNotFound)
    ));

    // Export on A, import on B: the same id is consumable on B.
    let exported = pipe_a.export(&id).await?;
    assert_eq!(exported.producer_id, id);
    assert_eq!(exported.kind, "audio");
    assert!(!exported.paused);
    assert_eq!(pipe_a.export(&id).await?, exported, "export is idempotent");
    let imported = pipe_b.import(&exported).await?;
    assert_eq!(imported.id(), id);
    assert!(
        pipe_b.import(&exported).await.is_err(),
        "a second import of one id is refused"
    );
    assert_eq!(pipe_a.usage(), (1, 0));
    assert_eq!(pipe_b.usage(), (0, 1));
    assert!(pipe_b.imports(&id));
    room_b.check_consume(&id, &room_b.rtp_capabilities())?;

    // Two consumers on B: the first on B's home worker, the second on its other worker.
    let (rx1, consumer1, _t1) = receiver(&room_b, &id).await?;
    let (rx2, _consumer2, _t2) = receiver(&room_b, &id).await?;
    assert_eq!(
        room_b.worker_indices().len(),
        2,
        "room spans B's two workers"
    );
    let port = ingress.local_port().ok_or("no port")?;
    let got = common::send_and_count(port, ssrc, 60, &[&rx1, &rx2]).await?;
    assert!(
        got.iter().all(|&n| n >= 30),
        "RTP of node A reached both consumers of node B: {got:?}/60"
    );

    // Pause and resume on A are reported, and applied on B.
    producer.pause().await?;
    let (cid, change) = changes.recv().await.ok_or("no change")?;
    assert_eq!((cid.as_str(), change), (id.as_str(), ExportChange::Paused));
    imported.pause().await?;
    assert!(
        poll_until(|| consumer1.producer_paused()).await,
        "B's consumer sees the pause"
    );
    producer.resume().await?;
    let (_, change) = changes.recv().await.ok_or("no change")?;
    assert_eq!(change, ExportChange::Resumed);
    imported.resume().await?;
    assert!(poll_until(|| !consumer1.producer_paused()).await);

    // Closing on A is reported; dropping the import on B makes the id unknown there.
    drop(producer);
    let (_, change) = changes.recv().await.ok_or("no change")?;
    assert_eq!(change, ExportChange::Closed);
    assert!(poll_until(|| pipe_a.usage() == (0, 0)).await);
    drop(imported);
    assert!(
        poll_until(|| pipe_b.usage() == (0, 0)).await,
        "the pipe pair is unused now"
    );
    assert!(matches!(
        room_b.check_consume(&id, &room_b.rtp_capabilities()),
        Err(SfuError::ProducerNotFound)
    ));
    Ok(())
}

#[tokio::test]
async fn video_crosses_with_rtx_and_bad_input_is_an_error() -> TestResult {
    let (sfu_a, sfu_b) = (node(1, 1).await?, node(2, 1).await?);
    let (room_a, room_b) = (sfu_a.router_for("v").await?, sfu_b.router_for("v").await?);
    let (pipe_a, pipe_b) = pipe_pair(&room_a, &room_b).await?;
    let ingress = room_a.create_plain_transport(true).await?;
    let producer = ingress
        .produce(
            "video",
            json!({
                "codecs": [{"mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000}],
                "encodings": [{"ssrc": 44_444_444u32}]
            }),
        )
        .await?;
    let exported = pipe_a.export(&producer.id()).await?;
    assert_eq!(exported.kind, "video");
    let imported = pipe_b.import(&exported).await?;
    assert!(pipe_a.carries_rtx() && pipe_b.carries_rtx(), "RTX is on");

    // Unknown or malformed ids and descriptions are errors, not panics.
    assert!(matches!(
        pipe_a.export("not-a-uuid").await,
        Err(SfuError::ProducerNotFound)
    ));
    assert!(matches!(
        pipe_a.export("6f0d1c2e-0000-4000-8000-000000000000").await,
        Err(SfuError::ProducerNotFound)
    ));
    let mut bad = exported.clone();
    bad.producer_id = "6f0d1c2e-0000-4000-8000-000000000001".into();
    bad.kind = "smell".into();
    assert!(matches!(
        pipe_b.import(&bad).await,
        Err(SfuError::InvalidParameters { .. })
    ));
    bad.kind = "video".into();
    bad.rtp_parameters = json!("garbage");
    assert!(pipe_b.import(&bad).await.is_err());
    assert!(
        pipe_b
            .connect(&media_sfu::PipeEndpoint {
                ip: "nowhere".into(),
                port: 1,
                srtp: json!(null)
            })
            .await
            .is_err()
    );
    assert_eq!(pipe_b.usage(), (0, 1), "bad input changed nothing");

    // The importer owns the import: dropping it (and the pipe end) makes the id unknown.
    let id = producer.id();
    assert!(room_b.has_producer(&id));
    drop(imported);
    drop(pipe_b);
    assert!(!room_b.has_producer(&id));
    assert!(matches!(
        room_b.check_consume(&id, &room_b.rtp_capabilities()),
        Err(SfuError::ProducerNotFound)
    ));
    Ok(())
}
