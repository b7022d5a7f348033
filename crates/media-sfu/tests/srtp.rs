//! SRTP through the worker's libsrtp, per crypto suite: the offline build links libsrtp 2.5
//! behind a libsrtp 3 compatibility layer (docs/building.md), so every suite the worker offers
//! is checked end to end here, with AEAD_AES_256_GCM and AES_CM_128_HMAC_SHA1_80 (the two
//! Chromium negotiates over DTLS-SRTP) among them.
//!
//! Per suite: clear RTP -> plain transport -> producer -> consumer on an SRTP plain transport
//! -> (encrypted UDP) -> SRTP plain transport on a second router -> producer -> consumer on a
//! clear plain transport -> a UDP socket, which must receive the original payloads. A receiver
//! keyed with another transport's key must receive nothing (the media really is encrypted and
//! authenticated).

mod common;

use common::{TestResult, send_and_count};
use mediasoup::prelude::*;
use mediasoup::types::rtp_parameters::RtpCodecParametersParameters as Params;
use mediasoup::types::srtp_parameters::SrtpParameters;
use std::error::Error;
use std::net::{IpAddr, Ipv4Addr};
use std::num::{NonZeroU8, NonZeroU32};
use tokio::net::UdpSocket;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn listen_info() -> ListenInfo {
    ListenInfo {
        protocol: Protocol::Udp,
        ip: LOCALHOST,
        announced_address: None,
        expose_internal_ip: false,
        port: None,
        port_range: Some(40000..=49999),
        flags: None,
        send_buffer_size: None,
        recv_buffer_size: None,
    }
}

fn opus_codec() -> RtpCodecCapability {
    RtpCodecCapability::Audio {
        mime_type: MimeTypeAudio::Opus,
        preferred_payload_type: None,
        clock_rate: NonZeroU32::new(48_000).unwrap_or(NonZeroU32::MIN),
        channels: NonZeroU8::new(2).unwrap_or(NonZeroU8::MIN),
        parameters: Params::default(),
        rtcp_feedback: vec![],
    }
}

fn opus_send_parameters(ssrc: u32) -> RtpParameters {
    RtpParameters {
        codecs: vec![RtpCodecParameters::Audio {
            mime_type: MimeTypeAudio::Opus,
            payload_type: 100,
            clock_rate: NonZeroU32::new(48_000).unwrap_or(NonZeroU32::MIN),
            channels: NonZeroU8::new(2).unwrap_or(NonZeroU8::MIN),
            parameters: Params::default(),
            rtcp_feedback: vec![],
        }],
        encodings: vec![RtpEncodingParameters {
            ssrc: Some(ssrc),
            ..RtpEncodingParameters::default()
        }],
        ..RtpParameters::default()
    }
}

async fn plain(router: &Router, srtp: Option<SrtpCryptoSuite>) -> Result<PlainTransport, String> {
    let mut options = PlainTransportOptions::new(listen_info());
    options.rtcp_mux = true;
    options.comedia = false;
    if let Some(suite) = srtp {
        options.enable_srtp = true;
        options.srtp_crypto_suite = suite;
    }
    router
        .create_plain_transport(options)
        .await
        .map_err(|e| e.to_string())
}

async fn connect(
    transport: &PlainTransport,
    port: u16,
    srtp_parameters: Option<SrtpParameters>,
) -> Result<(), String> {
    transport
        .connect(PlainTransportRemoteParameters {
            ip: Some(LOCALHOST),
            port: Some(port),
            rtcp_port: None,
            srtp_parameters,
        })
        .await
        .map_err(|e| e.to_string())
}

fn capabilities(router: &Router) -> Result<RtpCapabilities, serde_json::Error> {
    serde_json::from_value(serde_json::to_value(router.rtp_capabilities())?)
}

/// Sends 40 packets through the SRTP pair of `suite`; returns how many arrived intact. With
/// `wrong_key` the receiving end decrypts with the key of an unrelated transport.
async fn forwarded(
    worker: &Worker,
    suite: SrtpCryptoSuite,
    wrong_key: bool,
) -> Result<usize, Box<dyn Error>> {
    let options = || RouterOptions::new(vec![opus_codec()]);
    let first = worker.create_router(options()).await?;
    let second = worker.create_router(options()).await?;

    // Clear RTP in.
    let mut ingest_options = PlainTransportOptions::new(listen_info());
    ingest_options.comedia = true;
    let ingest = first.create_plain_transport(ingest_options).await?;
    let ssrc = 0x5157_0001;
    let producer = ingest
        .produce(ProducerOptions::new(
            MediaKind::Audio,
            opus_send_parameters(ssrc),
        ))
        .await?;

    // The SRTP pair, one end on each router.
    let sender = plain(&first, Some(suite)).await?;
    let receiver = plain(&second, Some(suite)).await?;
    let decoy = plain(&second, Some(suite)).await?;
    connect(
        &sender,
        receiver.tuple().local_port(),
        receiver.srtp_parameters(),
    )
    .await?;
    let key_source = if wrong_key { &decoy } else { &sender };
    connect(
        &receiver,
        sender.tuple().local_port(),
        key_source.srtp_parameters(),
    )
    .await?;
    assert_eq!(
        sender.srtp_parameters().map(|p| p.crypto_suite),
        Some(suite)
    );
    let encrypted = sender
        .consume(ConsumerOptions::new(producer.id(), capabilities(&first)?))
        .await?;
    let decrypted = receiver
        .produce(ProducerOptions::new(
            MediaKind::Audio,
            encrypted.rtp_parameters().clone(),
        ))
        .await?;

    // Clear RTP out, to a socket of the test.
    let rx = UdpSocket::bind((LOCALHOST, 0)).await?;
    let out = plain(&second, None).await?;
    connect(&out, rx.local_addr()?.port(), None).await?;
    let _consumer = out
        .consume(ConsumerOptions::new(decrypted.id(), capabilities(&second)?))
        .await?;

    let got = send_and_count(ingest.tuple().local_port(), ssrc, 40, &[&rx]).await?;
    Ok(got[0])
}

const SUITES: [SrtpCryptoSuite; 4] = [
    SrtpCryptoSuite::AeadAes256Gcm,
    SrtpCryptoSuite::AesCm128HmacSha180,
    SrtpCryptoSuite::AeadAes128Gcm,
    SrtpCryptoSuite::AesCm128HmacSha132,
];

async fn worker() -> Result<Worker, Box<dyn Error>> {
    let mut settings = WorkerSettings::default();
    settings.enable_liburing = false;
    Ok(WorkerManager::new().create_worker(settings).await?)
}

#[tokio::test]
async fn every_srtp_suite_round_trips() -> TestResult {
    let worker = worker().await?;
    for suite in SUITES {
        let got = forwarded(&worker, suite, false).await?;
        // A few of the first packets may go before the pipeline is up.
        assert!(got >= 30, "{suite:?}: only {got} of 40 packets arrived");
    }
    Ok(())
}

#[tokio::test]
async fn srtp_with_the_wrong_key_delivers_nothing() -> TestResult {
    let worker = worker().await?;
    for suite in [
        SrtpCryptoSuite::AeadAes256Gcm,
        SrtpCryptoSuite::AesCm128HmacSha180,
    ] {
        let got = forwarded(&worker, suite, true).await?;
        assert_eq!(got, 0, "{suite:?}: packets decrypted with the wrong key");
    }
    Ok(())
}
