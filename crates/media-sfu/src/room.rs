//! One room's media: a home router, more routers on other workers when the room outgrows its
//! worker, and the producer pipes between them.

use crate::error::SfuError;
use crate::handles::{MediaTransport, TransportKind, parse_producer_id, to_value};
use crate::listen::Listen;
use crate::load::{Counted, LoadGuard, WorkerLoad};
use crate::normalize;
use crate::sfu::Pool;
use mediasoup::prelude::*;
use mediasoup::router::RouterId;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

/// Seconds without a successful ICE consent check (RFC 7675: browsers send one every ~5 s)
/// after which the worker reports the transport's ICE state as disconnected, i.e.
/// [`crate::TransportHealth::Failed`]: a participant whose network silently went away is
/// detected even though nothing closed. mediasoup's default, made explicit; 0 would disable it.
pub(crate) const ICE_CONSENT_TIMEOUT_SECS: u8 = 30;
// The worker clamps other values into 10..=60 s (and 0 disables the checks).
const _: () = assert!(matches!(ICE_CONSENT_TIMEOUT_SECS, 10..=60));

/// A router on one worker, with what transports on it need.
pub(crate) struct RouterInner {
    pub(crate) router: Router,
    pub(crate) worker_index: usize,
    pub(crate) load: Arc<WorkerLoad>,
    pub(crate) webrtc_server: Option<WebRtcServer>,
    pub(crate) listen: Listen,
    pub(crate) _counted: LoadGuard,
}

/// Shared state of a room.
pub(crate) struct RoomInner {
    pub(crate) pool: Weak<Pool>,
    /// Routers in creation order; the first is the home router.
    pub(crate) routers: parking_lot::Mutex<Vec<Arc<RouterInner>>>,
    /// The router each live producer was created on.
    pub(crate) producers: parking_lot::Mutex<HashMap<ProducerId, Arc<RouterInner>>>,
    /// Producers already piped to a router: `(producer, target router)`.
    pub(crate) piped: parking_lot::Mutex<HashSet<(ProducerId, RouterId)>>,
    /// Serialises router additions and pipe creation.
    pub(crate) grow: tokio::sync::Mutex<()>,
    /// Consumers a worker may carry before the room spreads to another worker.
    pub(crate) capacity: usize,
    /// The room's key (given to `Sfu::router_for`).
    pub(crate) key: String,
    /// The speaker observers, on the home router (created with the first audio watched).
    pub(crate) speakers: tokio::sync::Mutex<Option<crate::speakers::Speakers>>,
    /// Where the observers report.
    pub(crate) reports: tokio::sync::mpsc::UnboundedSender<crate::speakers::SpeakerReport>,
}

impl RoomInner {
    /// Forget a closed producer (its pipes close with it).
    pub(crate) fn producer_closed(&self, id: &ProducerId) {
        self.producers.lock().remove(id);
        self.piped.lock().retain(|(p, _)| p != id);
    }

    /// Make `producer_id` consumable on `target`: pipe it there from its own router once.
    /// The pipe lives as long as the source producer.
    pub(crate) async fn ensure_piped(
        &self,
        producer_id: ProducerId,
        target: &Arc<RouterInner>,
    ) -> Result<(), SfuError> {
        let source = self.producers.lock().get(&producer_id).cloned();
        let Some(source) = source else {
            return Ok(()); // unknown here: the consume itself reports it
        };
        if Arc::ptr_eq(&source, target) {
            return Ok(());
        }
        let key = (producer_id, target.router.id());
        if self.piped.lock().contains(&key) {
            return Ok(());
        }
        let _serial = self.grow.lock().await;
        if self.piped.lock().contains(&key) {
            return Ok(());
        }
        // The pair's handles do not close on drop: the pipe follows the source producer.
        source
            .router
            .pipe_producer_to_router(producer_id, PipeToRouterOptions::new(target.router.clone()))
            .await
            .map_err(SfuError::request)?;
        tracing::debug!(
            producer = %producer_id,
            from = source.worker_index,
            to = target.worker_index,
            "producer piped to another worker's router"
        );
        self.piped.lock().insert(key);
        Ok(())
    }

    /// The router a new transport goes on: the first of the room's routers whose worker is
    /// below capacity; else a new router on the least-loaded worker the room does not use
    /// yet; else (every worker in use) the room's least-loaded router.
    async fn router_for_transport(&self) -> Result<Arc<RouterInner>, SfuError> {
        if let Some(r) = self.below_capacity() {
            return Ok(r);
        }
        let _serial = self.grow.lock().await;
        if let Some(r) = self.below_capacity() {
            return Ok(r);
        }
        let used: Vec<usize> = self.routers.lock().iter().map(|r| r.worker_index).collect();
        let pool = self.pool.upgrade().ok_or(SfuError::NoWorker)?;
        if let Some(router) = pool.create_router_excluding(&used).await? {
            tracing::info!(
                worker = router.worker_index,
                routers = used.len() + 1,
                "room outgrew its worker: continuing on another worker"
            );
            self.routers.lock().push(router.clone());
            return Ok(router);
        }
        self.routers
            .lock()
            .iter()
            .min_by_key(|r| r.load.weight())
            .cloned()
            .ok_or(SfuError::NoWorker)
    }

    /// Whether the room has a router on worker `index`.
    pub(crate) fn uses_worker(&self, index: usize) -> bool {
        self.routers.lock().iter().any(|r| r.worker_index == index)
    }

    fn below_capacity(&self) -> Option<Arc<RouterInner>> {
        self.routers
            .lock()
            .iter()
            .find(|r| r.load.consumers() < self.capacity)
            .cloned()
    }

    pub(crate) fn home(&self) -> Result<Arc<RouterInner>, SfuError> {
        self.routers
            .lock()
            .first()
            .cloned()
            .ok_or(SfuError::NoWorker)
    }
}

/// The media of one room (conversation). Cloning is cheap; the room's routers close when the
/// last clone (and the last transport) is dropped.
#[derive(Clone)]
pub struct RoomRouter {
    pub(crate) inner: Arc<RoomInner>,
}

impl std::fmt::Debug for RoomRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomRouter")
            .field("id", &self.id())
            .field("workers", &self.worker_indices())
            .finish()
    }
}

impl RoomRouter {
    /// Id of the home router.
    pub fn id(&self) -> String {
        self.inner
            .home()
            .map(|r| r.router.id().to_string())
            .unwrap_or_default()
    }

    /// Index of the worker the home router lives on.
    pub fn worker_index(&self) -> usize {
        self.inner.home().map(|r| r.worker_index).unwrap_or(0)
    }

    /// Indices of every worker the room has a router on (home first).
    pub fn worker_indices(&self) -> Vec<usize> {
        self.inner
            .routers
            .lock()
            .iter()
            .map(|r| r.worker_index)
            .collect()
    }

    /// Whether the room has a router on worker `index`.
    pub fn uses_worker(&self, index: usize) -> bool {
        self.inner.uses_worker(index)
    }

    /// Whether two handles refer to the same room.
    pub fn same_as(&self, other: &RoomRouter) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The room's RTP capabilities, in mediasoup-client's JSON shape (identical on every
    /// router of the room: same codec list).
    pub fn rtp_capabilities(&self) -> Value {
        self.inner
            .home()
            .map(|r| to_value(&r.router.rtp_capabilities()))
            .unwrap_or(Value::Null)
    }

    /// Whether `producer_id` is a live producer of this room on this node (its own, or
    /// imported over a node pipe).
    pub fn has_producer(&self, producer_id: &str) -> bool {
        parse_producer_id(producer_id)
            .is_ok_and(|pid| self.inner.producers.lock().contains_key(&pid))
    }

    /// Watch the audio producer `producer_id` (of this room, on this node) for speaking:
    /// the room's observers report its dominant speaker and audio levels through
    /// [`crate::Sfu::take_speaker_reports`]. A producer of another of the room's routers is
    /// piped to the home router, where the observers are.
    pub async fn observe_audio(&self, producer_id: &str) -> Result<(), SfuError> {
        self.inner.observe_audio(producer_id).await
    }

    /// Whether a consumer with these client RTP capabilities can consume `producer_id`:
    /// [`SfuError::ProducerNotFound`] when it is no live producer of this room (an
    /// unparsable id included), [`SfuError::RtpCapabilitiesMismatch`] when the capabilities
    /// (unparsable ones included) cannot receive it.
    pub fn check_consume(
        &self,
        producer_id: &str,
        rtp_capabilities: &Value,
    ) -> Result<(), SfuError> {
        let pid = parse_producer_id(producer_id).map_err(|_| SfuError::ProducerNotFound)?;
        let source = self
            .inner
            .producers
            .lock()
            .get(&pid)
            .cloned()
            .ok_or(SfuError::ProducerNotFound)?;
        let caps = normalize::rtp_capabilities(rtp_capabilities.clone());
        match serde_json::from_value::<RtpCapabilities>(caps) {
            Ok(caps) if source.router.can_consume(&pid, &caps) => Ok(()),
            _ => Err(SfuError::RtpCapabilitiesMismatch),
        }
    }

    /// Create a WebRTC transport (UDP preferred, TCP enabled) for a client: on the worker's
    /// WebRtcServer when there is one, else on its own ports.
    pub async fn create_webrtc_transport(&self) -> Result<MediaTransport, SfuError> {
        let router = self.inner.router_for_transport().await?;
        let mut options = match &router.webrtc_server {
            Some(server) => WebRtcTransportOptions::new_with_server(server.clone()),
            None => WebRtcTransportOptions::new(
                WebRtcTransportListenInfos::new(router.listen.ranged(Protocol::Udp))
                    .insert(router.listen.ranged(Protocol::Tcp)),
            ),
        };
        options.enable_udp = true;
        options.enable_tcp = true;
        options.prefer_udp = true;
        options.ice_consent_timeout = ICE_CONSENT_TIMEOUT_SECS;
        let transport = router
            .router
            .create_webrtc_transport(options)
            .await
            .map_err(SfuError::request)?;
        Ok(MediaTransport::new(
            TransportKind::WebRtc(transport),
            router,
            self.inner.clone(),
        ))
    }

    /// Create a plain RTP transport on the router's listen IP (`comedia`: learn the remote
    /// address from the first packet). Used for RTP ingestion/egress and tests.
    pub async fn create_plain_transport(&self, comedia: bool) -> Result<MediaTransport, SfuError> {
        let router = self.inner.router_for_transport().await?;
        let mut options = PlainTransportOptions::new(router.listen.ranged(Protocol::Udp));
        options.comedia = comedia;
        options.rtcp_mux = true;
        let transport = router
            .router
            .create_plain_transport(options)
            .await
            .map_err(SfuError::request)?;
        Ok(MediaTransport::new(
            TransportKind::Plain(transport),
            router,
            self.inner.clone(),
        ))
    }
}

/// Count a new router on its worker.
pub(crate) fn counted_router(
    router: Router,
    worker_index: usize,
    load: &Arc<WorkerLoad>,
    webrtc_server: Option<WebRtcServer>,
    listen: Listen,
) -> Arc<RouterInner> {
    Arc::new(RouterInner {
        router,
        worker_index,
        load: load.clone(),
        webrtc_server,
        listen,
        _counted: LoadGuard::new(load, Counted::Router),
    })
}
