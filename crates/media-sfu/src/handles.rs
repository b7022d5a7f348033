//! RAII handles over mediasoup routers, transports, producers and consumers.

use crate::error::SfuError;
use crate::load::{Counted, LoadGuard};
use crate::normalize;
use crate::room::{RoomInner, RouterInner};
use mediasoup::prelude::*;
use mediasoup::transport::ConsumeError;
use mediasoup::types::data_structures::{DtlsState, IceState};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Media kind as it appears on the wire (`"audio"` / `"video"`).
pub type MediaKindName = &'static str;

pub(crate) fn kind_name(kind: MediaKind) -> MediaKindName {
    match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    }
}

pub(crate) fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub(crate) fn from_value<T: serde::de::DeserializeOwned>(
    what: &'static str,
    v: Value,
) -> Result<T, SfuError> {
    serde_json::from_value(v).map_err(|e| SfuError::invalid(what, e))
}

/// `"audio"` / `"video"` as a mediasoup kind.
pub(crate) fn parse_kind(kind: &str) -> Result<MediaKind, SfuError> {
    match kind {
        "audio" => Ok(MediaKind::Audio),
        "video" => Ok(MediaKind::Video),
        other => Err(SfuError::invalid(
            "kind",
            format!("expected \"audio\" or \"video\", got {other:?}"),
        )),
    }
}

pub(crate) fn parse_producer_id(id: &str) -> Result<ProducerId, SfuError> {
    from_value("producerId", Value::String(id.to_owned()))
}

#[derive(Debug)]
pub(crate) enum TransportKind {
    WebRtc(WebRtcTransport),
    Plain(PlainTransport),
}

/// Whether a transport's ICE and DTLS are usable, as mediasoup reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportHealth {
    /// Not failed (new, connecting or connected).
    Ok,
    /// ICE disconnected, or DTLS failed or closed by the remote side. ICE disconnects when
    /// the selected TCP tuple closes, and (worker ICE consent checks, RFC 7675) when the
    /// client answered no consent check for 30 s: a participant whose network silently went
    /// away turns `Failed` although nothing closed.
    Failed,
}

/// Called with a transport's health on every ICE/DTLS state change.
type HealthCallback = Arc<dyn Fn(TransportHealth) + Send + Sync>;

/// Latest ICE/DTLS states of a WebRTC transport, and who to tell when they change.
#[derive(Default)]
struct HealthCell {
    ice_failed: AtomicBool,
    dtls_failed: AtomicBool,
    watcher: parking_lot::Mutex<Option<HealthCallback>>,
}

impl HealthCell {
    fn record_ice(&self, state: IceState) {
        let failed = matches!(state, IceState::Disconnected);
        self.ice_failed.store(failed, Ordering::Relaxed);
        self.notify();
    }

    fn record_dtls(&self, state: DtlsState) {
        let failed = matches!(state, DtlsState::Failed | DtlsState::Closed);
        self.dtls_failed.store(failed, Ordering::Relaxed);
        self.notify();
    }

    fn notify(&self) {
        let watcher = self.watcher.lock().clone();
        if let Some(callback) = watcher {
            callback(self.health());
        }
    }

    fn health(&self) -> TransportHealth {
        if self.ice_failed.load(Ordering::Relaxed) || self.dtls_failed.load(Ordering::Relaxed) {
            TransportHealth::Failed
        } else {
            TransportHealth::Ok
        }
    }
}

/// ICE candidates in mediasoup-client's JSON shape. mediasoup 0.13+ names the address
/// `address` (what mediasoup-client 3.7+ reads); each candidate also keeps the `ip` key that
/// mediasoup 0.12 sent and mediasoup-client 3.6 reads, so older clients keep connecting.
fn candidates_json(candidates: &[IceCandidate]) -> Value {
    let mut value = to_value(&candidates);
    if let Value::Array(list) = &mut value {
        for candidate in list {
            if let Value::Object(fields) = candidate
                && let Some(address) = fields.get("address").cloned()
            {
                fields.insert("ip".to_owned(), address);
            }
        }
    }
    value
}

/// A transport owned by one participant; closed when dropped.
pub struct MediaTransport {
    inner: TransportKind,
    router: Arc<RouterInner>,
    room: Arc<RoomInner>,
    health: Arc<HealthCell>,
    _counted: LoadGuard,
}

impl std::fmt::Debug for MediaTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaTransport")
            .field("id", &self.id())
            .field("worker", &self.router.worker_index)
            .finish()
    }
}

impl MediaTransport {
    pub(crate) fn new(
        inner: TransportKind,
        router: Arc<RouterInner>,
        room: Arc<RoomInner>,
    ) -> Self {
        let health = Arc::new(HealthCell::default());
        if let TransportKind::WebRtc(t) = &inner {
            let cell = health.clone();
            t.on_ice_state_change(move |state| cell.record_ice(state))
                .detach();
            let cell = health.clone();
            t.on_dtls_state_change(move |state| cell.record_dtls(state))
                .detach();
        }
        Self {
            _counted: LoadGuard::new(&router.load, Counted::Transport),
            inner,
            router,
            room,
            health,
        }
    }

    /// Index of the worker this transport lives on.
    pub fn worker_index(&self) -> usize {
        self.router.worker_index
    }

    /// Current ICE/DTLS health.
    pub fn health(&self) -> TransportHealth {
        self.health.health()
    }

    /// Call `callback` with the transport's health each time its ICE or DTLS state changes
    /// (WebRTC transports; plain transports never report). A later call replaces the earlier
    /// callback. Runs on a mediasoup thread: keep it short and non-blocking.
    pub fn on_health_change<F>(&self, callback: F)
    where
        F: Fn(TransportHealth) + Send + Sync + 'static,
    {
        if matches!(self.inner, TransportKind::WebRtc(_)) {
            *self.health.watcher.lock() = Some(Arc::new(callback));
        }
    }

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
                "iceCandidates": candidates_json(t.ice_candidates()),
                "dtlsParameters": to_value(&t.dtls_parameters()),
            }),
            TransportKind::Plain(t) => {
                let tuple = t.tuple();
                json!({
                    "id": t.id().to_string(),
                    "ip": tuple.local_address(),
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
        let kind = parse_kind(kind)?;
        let rtp_parameters: RtpParameters =
            from_value("rtpParameters", normalize::rtp_parameters(rtp_parameters))?;
        let producer = self
            .as_transport()
            .produce(ProducerOptions::new(kind, rtp_parameters))
            .await
            .map_err(SfuError::request)?;
        self.room
            .producers
            .lock()
            .insert(producer.id(), self.router.clone());
        Ok(MediaProducer {
            _counted: LoadGuard::new(&self.router.load, Counted::Producer),
            producer,
            room: self.room.clone(),
        })
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
        self.room.ensure_piped(producer_id, &self.router).await?;
        let mut options = ConsumerOptions::new(producer_id, caps);
        options.paused = paused;
        let consumer = self
            .as_transport()
            .consume(options)
            .await
            .map_err(|e| match e {
                ConsumeError::ProducerNotFound(_) => SfuError::ProducerNotFound,
                ConsumeError::Request(e) => SfuError::from_request(e),
                other => SfuError::request(other),
            })?;
        Ok(MediaConsumer {
            _counted: LoadGuard::new(&self.router.load, Counted::Consumer),
            consumer,
        })
    }
}

/// A producer; closed when dropped (with the pipes that carry it to other workers).
pub struct MediaProducer {
    pub(crate) producer: Producer,
    pub(crate) room: Arc<RoomInner>,
    pub(crate) _counted: LoadGuard,
}

impl std::fmt::Debug for MediaProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaProducer")
            .field("id", &self.id())
            .finish()
    }
}

impl Drop for MediaProducer {
    fn drop(&mut self) {
        self.room.producer_closed(&self.producer.id());
    }
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

    /// Pause the producer: its consumers (on every router it is piped to) stop receiving
    /// media until [`MediaProducer::resume`]. Pausing a paused producer is a no-op.
    pub async fn pause(&self) -> Result<(), SfuError> {
        self.producer.pause().await.map_err(SfuError::from_request)
    }

    /// Resume the producer. Resuming a producer that is not paused is a no-op.
    pub async fn resume(&self) -> Result<(), SfuError> {
        self.producer.resume().await.map_err(SfuError::from_request)
    }

    /// Whether the producer is paused in the worker.
    pub fn paused(&self) -> bool {
        self.producer.paused()
    }

    /// The transmission score (0–10, mediasoup's) of the best stream the client sends
    /// (simulcast: of its encodings); `None` before any RTP arrived.
    pub fn score(&self) -> Option<u8> {
        self.producer.score().iter().map(|s| s.score).max()
    }
}

/// How a consumer forwards its producer's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerType {
    /// One stream, no layers.
    Simple,
    /// Several streams (simulcast encodings), one forwarded at a time.
    Simulcast,
    /// One stream with spatial/temporal layers (SVC).
    Svc,
}

impl ConsumerType {
    /// Wire name: `"simple"`, `"simulcast"` or `"svc"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerType::Simple => "simple",
            ConsumerType::Simulcast => "simulcast",
            ConsumerType::Svc => "svc",
        }
    }
}

/// The spatial and temporal layer a simulcast/SVC consumer forwards (or should at most).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layers {
    /// Spatial layer index (0 = lowest).
    pub spatial: u8,
    /// Temporal layer index; `None`: the highest available (preferences) or unknown.
    pub temporal: Option<u8>,
}

/// A consumer; closed when dropped (with its event subscriptions).
pub struct MediaConsumer {
    consumer: Consumer,
    _counted: LoadGuard,
}

impl std::fmt::Debug for MediaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaConsumer")
            .field("id", &self.id())
            .finish()
    }
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

    /// Resume; for video also requests a key frame so the picture starts at once (best effort:
    /// the resume succeeded even if the producer closed just before the key-frame request).
    pub async fn resume(&self) -> Result<(), SfuError> {
        self.consumer
            .resume()
            .await
            .map_err(SfuError::from_request)?;
        if self.consumer.kind() == MediaKind::Video
            && let Err(e) = self.consumer.request_key_frame().await
        {
            tracing::debug!(consumer = %self.consumer.id(), error = %e, "key frame request failed");
        }
        Ok(())
    }

    /// Pause the consumer.
    pub async fn pause(&self) -> Result<(), SfuError> {
        self.consumer.pause().await.map_err(SfuError::from_request)
    }

    /// How the consumer forwards layers (pipe consumers, never handed out, count as simple).
    pub fn consumer_type(&self) -> ConsumerType {
        match self.consumer.r#type() {
            mediasoup::consumer::ConsumerType::Simulcast => ConsumerType::Simulcast,
            mediasoup::consumer::ConsumerType::Svc => ConsumerType::Svc,
            mediasoup::consumer::ConsumerType::Simple | mediasoup::consumer::ConsumerType::Pipe => {
                ConsumerType::Simple
            }
        }
    }

    /// Whether the consumed producer is paused (by its owner).
    pub fn producer_paused(&self) -> bool {
        self.consumer.producer_paused()
    }

    /// The transmission score (0–10, mediasoup's) of the stream sent to the client.
    pub fn score(&self) -> u8 {
        self.consumer.score().score
    }

    /// The highest layers to forward (simulcast/SVC; a no-op for simple consumers).
    pub async fn set_preferred_layers(&self, layers: Layers) -> Result<(), SfuError> {
        self.consumer
            .set_preferred_layers(mediasoup::consumer::ConsumerLayers {
                spatial_layer: layers.spatial,
                temporal_layer: layers.temporal,
            })
            .await
            .map_err(SfuError::from_request)
    }

    /// The consumer's share of the transport's estimated bandwidth (1 = default … 255).
    pub async fn set_priority(&self, priority: u8) -> Result<(), SfuError> {
        self.consumer
            .set_priority(priority)
            .await
            .map_err(SfuError::from_request)
    }

    /// The consumer's priority (1 unless set).
    pub fn priority(&self) -> u8 {
        self.consumer.priority()
    }

    /// Ask the producer's sender for a key frame (video; a no-op for audio or while paused).
    pub async fn request_key_frame(&self) -> Result<(), SfuError> {
        self.consumer
            .request_key_frame()
            .await
            .map_err(SfuError::from_request)
    }

    /// Call `callback` each time the layers the consumer forwards change (`None`: nothing is
    /// forwarded), as long as the consumer lives (the callback is dropped with it). Runs on a
    /// mediasoup thread: keep it short and non-blocking.
    pub fn on_layers_change<F>(&self, callback: F)
    where
        F: Fn(Option<Layers>) + Send + Sync + 'static,
    {
        self.consumer
            .on_layers_change(move |layers| {
                callback(layers.as_ref().map(|l| Layers {
                    spatial: l.spatial_layer,
                    temporal: l.temporal_layer,
                }));
            })
            .detach();
    }

    /// Packet count sent so far (from the worker's stats), for tests and metrics.
    pub async fn packets_sent(&self) -> Result<u64, SfuError> {
        let stats = self.consumer.get_stats().await.map_err(SfuError::request)?;
        Ok(stats.consumer_stats().packet_count as u64)
    }
}
