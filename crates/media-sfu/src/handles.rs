//! RAII handles over mediasoup routers, transports, producers and consumers.

use crate::error::SfuError;
use crate::normalize;
use mediasoup::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;

/// Media kind as it appears on the wire (`"audio"` / `"video"`).
pub type MediaKindName = &'static str;

fn kind_name(kind: MediaKind) -> MediaKindName {
    match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn from_value<T: serde::de::DeserializeOwned>(what: &'static str, v: Value) -> Result<T, SfuError> {
    serde_json::from_value(v).map_err(|e| SfuError::invalid(what, e))
}

fn parse_producer_id(id: &str) -> Result<ProducerId, SfuError> {
    from_value("producerId", Value::String(id.to_owned()))
}

pub(crate) struct RouterInner {
    pub(crate) router: Router,
    pub(crate) listen_ip: ListenIp,
    pub(crate) worker_index: usize,
}

/// The router of one room (conversation). Cloning is cheap; the router closes when the last
/// clone is dropped.
#[derive(Clone)]
pub struct RoomRouter {
    pub(crate) inner: Arc<RouterInner>,
}

impl std::fmt::Debug for RoomRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomRouter")
            .field("id", &self.id())
            .finish()
    }
}

impl RoomRouter {
    /// Router id.
    pub fn id(&self) -> String {
        self.inner.router.id().to_string()
    }

    /// Index of the worker this router lives on.
    pub fn worker_index(&self) -> usize {
        self.inner.worker_index
    }

    /// Whether two handles refer to the same router.
    pub fn same_as(&self, other: &RoomRouter) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The router's RTP capabilities, in mediasoup-client's JSON shape.
    pub fn rtp_capabilities(&self) -> Value {
        to_value(self.inner.router.rtp_capabilities())
    }

    /// Whether a consumer with these client RTP capabilities can consume `producer_id`.
    /// Unparsable capabilities or ids simply cannot consume.
    pub fn can_consume(&self, producer_id: &str, rtp_capabilities: &Value) -> bool {
        let Ok(pid) = parse_producer_id(producer_id) else {
            return false;
        };
        let caps = normalize::rtp_capabilities(rtp_capabilities.clone());
        let Ok(caps) = serde_json::from_value::<RtpCapabilities>(caps) else {
            return false;
        };
        self.inner.router.can_consume(&pid, &caps)
    }

    /// Create a WebRTC transport (UDP preferred, TCP enabled) for a client.
    pub async fn create_webrtc_transport(&self) -> Result<MediaTransport, SfuError> {
        let mut options =
            WebRtcTransportOptions::new(TransportListenIps::new(self.inner.listen_ip));
        options.enable_udp = true;
        options.enable_tcp = true;
        options.prefer_udp = true;
        let transport = self
            .inner
            .router
            .create_webrtc_transport(options)
            .await
            .map_err(SfuError::request)?;
        Ok(MediaTransport {
            inner: TransportKind::WebRtc(transport),
        })
    }

    /// Create a plain RTP transport on the router's listen IP (`comedia`: learn the remote
    /// address from the first packet). Used for RTP ingestion/egress and tests.
    pub async fn create_plain_transport(&self, comedia: bool) -> Result<MediaTransport, SfuError> {
        let mut options = PlainTransportOptions::new(self.inner.listen_ip);
        options.comedia = comedia;
        options.rtcp_mux = true;
        let transport = self
            .inner
            .router
            .create_plain_transport(options)
            .await
            .map_err(SfuError::request)?;
        Ok(MediaTransport {
            inner: TransportKind::Plain(transport),
        })
    }
}

#[derive(Debug)]
enum TransportKind {
    WebRtc(WebRtcTransport),
    Plain(PlainTransport),
}

/// A transport owned by one participant; closed when dropped.
#[derive(Debug)]
pub struct MediaTransport {
    inner: TransportKind,
}

impl MediaTransport {
    fn as_transport(&self) -> &dyn Transport {
        match &self.inner {
            TransportKind::WebRtc(t) => t,
            TransportKind::Plain(t) => t,
        }
    }

    /// Transport id.
    pub fn id(&self) -> String {
        self.as_transport().id().to_string()
    }

    /// What a client needs to create its side: `{id, iceParameters, iceCandidates,
    /// dtlsParameters}` for WebRTC transports; `{id, ip, port}` for plain ones.
    pub fn client_parameters(&self) -> Value {
        match &self.inner {
            TransportKind::WebRtc(t) => json!({
                "id": t.id().to_string(),
                "iceParameters": to_value(t.ice_parameters()),
                "iceCandidates": to_value(t.ice_candidates()),
                "dtlsParameters": to_value(&t.dtls_parameters()),
            }),
            TransportKind::Plain(t) => {
                let tuple = t.tuple();
                json!({
                    "id": t.id().to_string(),
                    "ip": tuple.local_ip().to_string(),
                    "port": tuple.local_port(),
                })
            }
        }
    }

    /// Local UDP port (plain transports; WebRTC transports report their first candidate).
    pub fn local_port(&self) -> Option<u16> {
        match &self.inner {
            TransportKind::WebRtc(t) => t.ice_candidates().first().map(|c| c.port),
            TransportKind::Plain(t) => Some(t.tuple().local_port()),
        }
    }

    /// Connect with the client's DTLS parameters (WebRTC) or, for a plain transport,
    /// `{ip, port}` of the remote RTP endpoint.
    pub async fn connect(&self, parameters: Value) -> Result<(), SfuError> {
        match &self.inner {
            TransportKind::WebRtc(t) => {
                let dtls_parameters: DtlsParameters = from_value("dtlsParameters", parameters)?;
                t.connect(WebRtcTransportRemoteParameters { dtls_parameters })
                    .await
                    .map_err(SfuError::request)
            }
            TransportKind::Plain(t) => {
                #[derive(serde::Deserialize)]
                struct Remote {
                    ip: std::net::IpAddr,
                    port: u16,
                }
                let remote: Remote = from_value("plain transport remote", parameters)?;
                t.connect(PlainTransportRemoteParameters {
                    ip: Some(remote.ip),
                    port: Some(remote.port),
                    rtcp_port: None,
                    srtp_parameters: None,
                })
                .await
                .map_err(SfuError::request)
            }
        }
    }

    /// Restart ICE; returns the new `iceParameters` (WebRTC transports only).
    pub async fn restart_ice(&self) -> Result<Value, SfuError> {
        match &self.inner {
            TransportKind::WebRtc(t) => t
                .restart_ice()
                .await
                .map(|p| to_value(&p))
                .map_err(SfuError::request),
            TransportKind::Plain(_) => Err(SfuError::Request(
                "restartIce is only supported on WebRTC transports".into(),
            )),
        }
    }

    /// Create a producer from the client's `kind` and `rtpParameters`.
    pub async fn produce(
        &self,
        kind: &str,
        rtp_parameters: Value,
    ) -> Result<MediaProducer, SfuError> {
        let kind = match kind {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            other => {
                return Err(SfuError::invalid(
                    "kind",
                    format!("expected \"audio\" or \"video\", got {other:?}"),
                ));
            }
        };
        let rtp_parameters: RtpParameters =
            from_value("rtpParameters", normalize::rtp_parameters(rtp_parameters))?;
        let producer = self
            .as_transport()
            .produce(ProducerOptions::new(kind, rtp_parameters))
            .await
            .map_err(SfuError::request)?;
        Ok(MediaProducer { producer })
    }

    /// Create a consumer of `producer_id` for a client with `rtp_capabilities`.
    pub async fn consume(
        &self,
        producer_id: &str,
        rtp_capabilities: Value,
        paused: bool,
    ) -> Result<MediaConsumer, SfuError> {
        let producer_id = parse_producer_id(producer_id)?;
        let caps: RtpCapabilities = from_value(
            "rtpCapabilities",
            normalize::rtp_capabilities(rtp_capabilities),
        )?;
        let mut options = ConsumerOptions::new(producer_id, caps);
        options.paused = paused;
        let consumer = self
            .as_transport()
            .consume(options)
            .await
            .map_err(SfuError::request)?;
        Ok(MediaConsumer { consumer })
    }
}

/// A producer; closed when dropped.
#[derive(Debug)]
pub struct MediaProducer {
    producer: Producer,
}

impl MediaProducer {
    /// Producer id.
    pub fn id(&self) -> String {
        self.producer.id().to_string()
    }

    /// `"audio"` or `"video"`.
    pub fn kind(&self) -> MediaKindName {
        kind_name(self.producer.kind())
    }

    /// Pause the producer.
    pub async fn pause(&self) -> Result<(), SfuError> {
        self.producer.pause().await.map_err(SfuError::request)
    }

    /// Resume the producer.
    pub async fn resume(&self) -> Result<(), SfuError> {
        self.producer.resume().await.map_err(SfuError::request)
    }
}

/// A consumer; closed when dropped.
#[derive(Debug)]
pub struct MediaConsumer {
    consumer: Consumer,
}

impl MediaConsumer {
    /// Consumer id.
    pub fn id(&self) -> String {
        self.consumer.id().to_string()
    }

    /// Id of the consumed producer.
    pub fn producer_id(&self) -> String {
        self.consumer.producer_id().to_string()
    }

    /// `"audio"` or `"video"`.
    pub fn kind(&self) -> MediaKindName {
        kind_name(self.consumer.kind())
    }

    /// RTP parameters for the client's `recvTransport.consume()`.
    pub fn rtp_parameters(&self) -> Value {
        to_value(self.consumer.rtp_parameters())
    }

    /// Whether the consumer is paused.
    pub fn paused(&self) -> bool {
        self.consumer.paused()
    }

    /// Resume; for video also requests a key frame so the picture starts at once.
    pub async fn resume(&self) -> Result<(), SfuError> {
        self.consumer.resume().await.map_err(SfuError::request)?;
        if self.consumer.kind() == MediaKind::Video {
            self.consumer
                .request_key_frame()
                .await
                .map_err(SfuError::request)?;
        }
        Ok(())
    }

    /// Pause the consumer.
    pub async fn pause(&self) -> Result<(), SfuError> {
        self.consumer.pause().await.map_err(SfuError::request)
    }

    /// Packet count sent so far (from the worker's stats), for tests and metrics.
    pub async fn packets_sent(&self) -> Result<u64, SfuError> {
        let stats = self.consumer.get_stats().await.map_err(SfuError::request)?;
        Ok(stats.consumer_stats().packet_count as u64)
    }
}
