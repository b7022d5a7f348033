//! Real mediasoup worker tests: a smoke test of the object graph and RTP forwarding.

mod common;

use common::TestResult;
use media_sfu::{Sfu, SfuConfig, SfuError};
use serde_json::json;
use tokio::net::UdpSocket;

async fn sfu() -> Result<Sfu, Box<dyn std::error::Error>> {
    Ok(Sfu::new(SfuConfig::default()).await?)
}

#[tokio::test]
async fn smoke_worker_router_webrtc_transport() -> TestResult {
    let sfu = sfu().await?;
    let router = sfu.router_for("conv-smoke").await?;
    let caps = router.rtp_capabilities();
    let mimes: Vec<&str> = caps["codecs"]
        .as_array()
        .ok_or("no codecs")?
        .iter()
        .filter_map(|c| c["mimeType"].as_str())
        .collect();
    for want in ["audio/opus", "video/VP8", "video/H264"] {
        assert!(mimes.contains(&want), "{want} missing from {mimes:?}");
    }
    let transport = router.create_webrtc_transport().await?;
    let params = transport.client_parameters();
    assert_eq!(params["id"].as_str(), Some(transport.id().as_str()));
    assert!(params["iceParameters"]["usernameFragment"].is_string());
    let candidates = params["iceCandidates"].as_array().ok_or("no candidates")?;
    assert!(!candidates.is_empty());
    // `address` for mediasoup-client 3.7+, `ip` (as mediasoup 0.12 sent) for 3.6.
    assert!(
        candidates
            .iter()
            .all(|c| c["address"] == "127.0.0.1" && c["ip"] == "127.0.0.1")
    );
    assert!(
        params["dtlsParameters"]["fingerprints"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    Ok(())
}

#[tokio::test]
async fn one_router_per_key_even_when_concurrent() -> TestResult {
    let sfu = sfu().await?;
    let (a, b, c) = tokio::join!(
        sfu.router_for("room"),
        sfu.router_for("room"),
        sfu.router_for("room")
    );
    let (a, b, c) = (a?, b?, c?);
    assert!(a.same_as(&b) && b.same_as(&c));
    let other = sfu.router_for("other").await?;
    assert!(!a.same_as(&other));
    assert_eq!(sfu.stats().await.routers, 2);
    drop((a, b, c));
    assert_eq!(
        sfu.stats().await.routers,
        1,
        "router closes when its last handle drops"
    );
    let again = sfu.router_for("room").await?;
    assert_ne!(again.id(), other.id());
    Ok(())
}

#[tokio::test]
async fn rtp_flows_from_producer_to_consumer() -> TestResult {
    let sfu = sfu().await?;
    let router = sfu.router_for("conv-rtp").await?;

    let ingress = router.create_plain_transport(true).await?;
    let ssrc = 22_222_222u32;
    let producer = ingress
        .produce("audio", common::opus_parameters(ssrc))
        .await?;
    assert_eq!(producer.kind(), "audio");

    let rx = UdpSocket::bind("127.0.0.1:0").await?;
    let egress = router.create_plain_transport(false).await?;
    egress
        .connect(json!({"ip": "127.0.0.1", "port": rx.local_addr()?.port()}))
        .await?;
    let caps = router.rtp_capabilities();
    router.check_consume(&producer.id(), &caps)?;
    assert!(matches!(
        router.check_consume(
            &producer.id(),
            &json!({"codecs": [], "headerExtensions": []})
        ),
        Err(SfuError::RtpCapabilitiesMismatch)
    ));
    assert!(matches!(
        router.check_consume(&producer.id(), &json!("garbage")),
        Err(SfuError::RtpCapabilitiesMismatch)
    ));
    let consumer = egress.consume(&producer.id(), caps, true).await?;
    assert!(consumer.paused());
    consumer.resume().await?;
    assert!(!consumer.paused());

    let port = ingress.local_port().ok_or("no port")?;
    let got = common::send_and_count(port, ssrc, 60, &[&rx]).await?[0];
    assert!(got >= 30, "only {got}/60 RTP packets forwarded");
    assert!(consumer.packets_sent().await? >= 30);
    // Once the producer is gone, consuming it is "not found", whatever the capabilities.
    let id = producer.id();
    drop(producer);
    assert!(matches!(
        router.check_consume(&id, &router.rtp_capabilities()),
        Err(SfuError::ProducerNotFound)
    ));
    Ok(())
}

#[tokio::test]
async fn bad_client_parameters_are_errors_not_panics() -> TestResult {
    let sfu = sfu().await?;
    let router = sfu.router_for("conv-bad").await?;
    let transport = router.create_webrtc_transport().await?;
    assert!(transport.connect(json!({"nope": 1})).await.is_err());
    assert!(transport.produce("audio", json!("garbage")).await.is_err());
    assert!(transport.produce("screen", json!({})).await.is_err());
    assert!(
        transport
            .consume("not-a-uuid", json!({}), true)
            .await
            .is_err()
    );
    assert!(matches!(
        router.check_consume("not-a-uuid", &json!(null)),
        Err(SfuError::ProducerNotFound)
    ));
    assert!(matches!(
        router.check_consume(
            "0b9c3c1e-52a4-4c59-9d2e-000000000000",
            &router.rtp_capabilities()
        ),
        Err(SfuError::ProducerNotFound)
    ));
    Ok(())
}
