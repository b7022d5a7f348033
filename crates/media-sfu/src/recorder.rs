//! Recording taps: one producer consumed onto a plain RTP transport that sends to a local
//! recorder process (FFmpeg) on a given port pair, RTCP on its own port. The tap is paused
//! until [`RecordingTap::start`], so the recorder listens before the first packet (and the
//! first key frame) arrives; dropping it closes the consumer and the transport.

use crate::error::SfuError;
use crate::handles::{from_value, parse_producer_id, to_value};
use crate::room::RoomRouter;
use mediasoup::prelude::*;
use serde_json::Value;
use std::fmt::Write as _;
use std::net::IpAddr;

/// The codec a tap sends, as an SDP `m=` section needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCodec {
    /// `"audio"` / `"video"`.
    pub kind: &'static str,
    /// e.g. `opus`, `VP8`, `H264` (the subtype of the MIME type).
    pub name: String,
    /// RTP payload type.
    pub payload_type: u8,
    /// Clock rate.
    pub clock_rate: u32,
    /// Channels (audio).
    pub channels: Option<u8>,
    /// The `a=fmtp` parameters (`key=value;…`), empty when none.
    pub fmtp: String,
}

/// A producer recorded through a plain transport (closed on drop).
pub struct RecordingTap {
    consumer: Consumer,
    _transport: PlainTransport,
    codec: RecordedCodec,
}

impl std::fmt::Debug for RecordingTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingTap")
            .field("producer", &self.consumer.producer_id())
            .field("codec", &self.codec)
            .finish()
    }
}

impl RoomRouter {
    /// Tap producer `producer_id` of this room: RTP goes to `ip:rtp_port`, RTCP to
    /// `ip:rtcp_port`, paused until [`RecordingTap::start`]. Plain RTP without RTX or header
    /// extensions, which is what FFmpeg's RTP demuxer reads; a simulcast producer is recorded
    /// at its highest layer.
    pub async fn record(
        &self,
        producer_id: &str,
        ip: IpAddr,
        rtp_port: u16,
        rtcp_port: u16,
    ) -> Result<RecordingTap, SfuError> {
        let pid = parse_producer_id(producer_id).map_err(|_| SfuError::ProducerNotFound)?;
        if !self.inner.producers.lock().contains_key(&pid) {
            return Err(SfuError::ProducerNotFound);
        }
        let home = self.inner.home()?;
        self.inner.ensure_piped(pid, &home).await?;
        let mut options = PlainTransportOptions::new(home.listen.on_ip(ip).ranged(Protocol::Udp));
        options.rtcp_mux = false;
        options.comedia = false;
        let transport = home
            .router
            .create_plain_transport(options)
            .await
            .map_err(SfuError::request)?;
        transport
            .connect(PlainTransportRemoteParameters {
                ip: Some(ip),
                port: Some(rtp_port),
                rtcp_port: Some(rtcp_port),
                srtp_parameters: None,
            })
            .await
            .map_err(SfuError::request)?;
        let caps: RtpCapabilities = from_value(
            "rtpCapabilities",
            recorder_capabilities(to_value(&home.router.rtp_capabilities())),
        )?;
        let mut consumer_options = ConsumerOptions::new(pid, caps);
        consumer_options.paused = true;
        let consumer = transport
            .consume(consumer_options)
            .await
            .map_err(|e| match e {
                ConsumeError::ProducerNotFound(_) => SfuError::ProducerNotFound,
                other => SfuError::request(other),
            })?;
        let codec = recorded_codec(&consumer)?;
        Ok(RecordingTap {
            consumer,
            _transport: transport,
            codec,
        })
    }
}

/// The router's capabilities without RTX, header extensions or feedback: plain RTP.
fn recorder_capabilities(mut caps: Value) -> Value {
    if let Some(codecs) = caps.get_mut("codecs").and_then(Value::as_array_mut) {
        codecs.retain(|c| c["mimeType"].as_str() != Some("video/rtx"));
        for c in codecs.iter_mut() {
            if let Some(o) = c.as_object_mut() {
                o.insert("rtcpFeedback".into(), Value::Array(Vec::new()));
            }
        }
    }
    if let Some(o) = caps.as_object_mut() {
        o.insert("headerExtensions".into(), Value::Array(Vec::new()));
    }
    caps
}

fn recorded_codec(consumer: &Consumer) -> Result<RecordedCodec, SfuError> {
    let params = to_value(consumer.rtp_parameters());
    let codec = params["codecs"]
        .as_array()
        .and_then(|c| c.first())
        .ok_or_else(|| SfuError::request("recording consumer without a codec"))?;
    let mime = codec["mimeType"].as_str().unwrap_or_default();
    let (kind, name) = mime.split_once('/').unwrap_or(("", mime));
    let mut fmtp = String::new();
    if let Some(p) = codec["parameters"].as_object() {
        for (k, v) in p {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if !fmtp.is_empty() {
                fmtp.push(';');
            }
            let _ = write!(fmtp, "{k}={v}");
        }
    }
    Ok(RecordedCodec {
        kind: if kind == "video" { "video" } else { "audio" },
        name: name.to_owned(),
        payload_type: u8::try_from(codec["payloadType"].as_u64().unwrap_or(0)).unwrap_or(0),
        clock_rate: u32::try_from(codec["clockRate"].as_u64().unwrap_or(0)).unwrap_or(0),
        channels: codec["channels"]
            .as_u64()
            .and_then(|c| u8::try_from(c).ok()),
        fmtp,
    })
}

impl RecordingTap {
    /// What the tap sends.
    pub fn codec(&self) -> &RecordedCodec {
        &self.codec
    }

    /// The SDP a receiver of this tap on `ip:rtp_port` (RTCP on `rtcp_port`) reads.
    pub fn sdp(&self, ip: IpAddr, rtp_port: u16, rtcp_port: u16) -> String {
        let c = &self.codec;
        let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
        let mut sdp = format!(
            "v=0\r\no=- 0 0 IN {family} {ip}\r\ns=huddle recording\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
             m={kind} {rtp_port} RTP/AVP {pt}\r\na=rtcp:{rtcp_port}\r\na=rtpmap:{pt} {name}/{rate}",
            kind = c.kind,
            pt = c.payload_type,
            name = c.name,
            rate = c.clock_rate,
        );
        if let Some(ch) = c.channels {
            let _ = write!(sdp, "/{ch}");
        }
        sdp.push_str("\r\n");
        if !c.fmtp.is_empty() {
            let _ = write!(sdp, "a=fmtp:{} {}\r\n", c.payload_type, c.fmtp);
        }
        sdp.push_str("a=recvonly\r\n");
        sdp
    }

    /// Start sending (the recorder listens now).
    pub async fn start(&self) -> Result<(), SfuError> {
        self.consumer.resume().await.map_err(SfuError::request)
    }

    /// Ask the producer's sender for a key frame (video; a no-op for audio).
    pub async fn request_key_frame(&self) -> Result<(), SfuError> {
        self.consumer
            .request_key_frame()
            .await
            .map_err(SfuError::request)
    }

    /// RTP packets sent so far.
    pub async fn packets_sent(&self) -> Result<u64, SfuError> {
        let stats = self.consumer.get_stats().await.map_err(SfuError::request)?;
        Ok(stats.consumer_stats().packet_count as u64)
    }

    /// Call `callback` (once, on a mediasoup thread) when the recorded producer closes.
    pub fn on_producer_close<F: FnOnce() + Send + 'static>(&self, callback: F) {
        self.consumer.on_producer_close(callback).detach();
    }
}
