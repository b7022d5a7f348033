//! The worker pool (one WebRtcServer per worker) and the per-room registry.

use crate::codecs::media_codecs;
use crate::config::SfuConfig;
use crate::error::SfuError;
use crate::listen::Listen;
use crate::load::{WorkerLoad, WorkerStats};
use crate::room::{RoomInner, RoomRouter, RouterInner, counted_router};
use crate::speakers::SpeakerReport;
use mediasoup::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

/// Live object counts, for metrics and leak checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SfuStats {
    /// Workers running.
    pub workers: usize,
    /// Routers alive (a room that spans workers has one per worker).
    pub routers: usize,
    /// Rooms with live media.
    pub rooms: usize,
    /// Per-worker counts, by slot.
    pub per_worker: Vec<WorkerStats>,
}

/// One worker slot: the worker, its WebRtcServer and its load counters.
struct WorkerSlot {
    worker: Worker,
    webrtc_server: Option<WebRtcServer>,
    load: Arc<WorkerLoad>,
    /// Reported dead: no new routers until a replacement takes the slot.
    dead: bool,
}

/// The shared pool behind [`Sfu`] (rooms hold a weak reference to grow onto other workers).
pub(crate) struct Pool {
    manager: WorkerManager,
    settings: SfuConfig,
    workers: parking_lot::Mutex<Vec<WorkerSlot>>,
    listen: Listen,
    rooms: Mutex<HashMap<String, Weak<RoomInner>>>,
    deaths_tx: mpsc::UnboundedSender<usize>,
    deaths_rx: parking_lot::Mutex<Option<mpsc::UnboundedReceiver<usize>>>,
    speakers_tx: mpsc::UnboundedSender<SpeakerReport>,
    speakers_rx: parking_lot::Mutex<Option<mpsc::UnboundedReceiver<SpeakerReport>>>,
}

/// The WebRtcServer port of worker `index`: `None` (random) for base 0.
fn server_port(base: u16, index: usize) -> Result<Option<u16>, SfuError> {
    if base == 0 {
        return Ok(None);
    }
    u16::try_from(index)
        .ok()
        .and_then(|i| base.checked_add(i))
        .map(Some)
        .ok_or_else(|| SfuError::Worker(format!("WebRtcServer port {base} + {index} overflows")))
}

async fn create_webrtc_server(
    worker: &Worker,
    listen: &Listen,
    port: Option<u16>,
) -> Result<WebRtcServer, String> {
    let infos = WebRtcServerListenInfos::new(listen.server(Protocol::Udp, port))
        .insert(listen.server(Protocol::Tcp, port));
    worker
        .create_webrtc_server(WebRtcServerOptions::new(infos))
        .await
        .map_err(|e| e.to_string())
}

/// How long a replacement worker waits for its predecessor's WebRtcServer port to be free.
const PORT_RELEASE_WAIT: Duration = Duration::from_secs(3);

/// The WebRtcServer of worker `index` (none without a configured base port). A replacement
/// may find its predecessor's server still holding the port, since closing one is
/// asynchronous: it retries for [`PORT_RELEASE_WAIT`], then listens on a random port.
async fn bind_webrtc_server(
    worker: &Worker,
    config: &SfuConfig,
    listen: &Listen,
    index: usize,
    replacing: bool,
) -> Result<Option<WebRtcServer>, SfuError> {
    let Some(base) = config.webrtc_port else {
        return Ok(None);
    };
    let port = server_port(base, index)?;
    let deadline = tokio::time::Instant::now() + PORT_RELEASE_WAIT;
    loop {
        match create_webrtc_server(worker, listen, port).await {
            Ok(server) => return Ok(Some(server)),
            Err(_) if replacing && port.is_some() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) if replacing && port.is_some() => {
                tracing::warn!(
                    worker = index,
                    ?port,
                    error = %e,
                    "WebRtcServer port still busy: the replacement worker listens on a random port"
                );
                return create_webrtc_server(worker, listen, None)
                    .await
                    .map(Some)
                    .map_err(SfuError::Worker);
            }
            Err(e) => {
                return Err(SfuError::Worker(format!(
                    "worker {index}: WebRtcServer cannot listen on {}:{} (UDP and TCP): {e}; \
                     choose another base port (--webrtc-port), or 0 for random ports",
                    config.listen_ip,
                    port.unwrap_or(0)
                )));
            }
        }
    }
}

async fn start_worker(
    manager: &WorkerManager,
    config: &SfuConfig,
    index: usize,
    deaths: &mpsc::UnboundedSender<usize>,
    replacing: bool,
) -> Result<WorkerSlot, SfuError> {
    let mut settings = WorkerSettings::default();
    // Only the fallback for listen infos without a port or range (every one of ours has one).
    settings.rtc_port_range = config.rtc_min_port..=config.rtc_max_port;
    // Built without liburing (-Dms_disable_liburing=true, docs/building.md).
    settings.enable_liburing = false;
    // mediasoup's default is every debug log of every tag, each one a channel message.
    settings.log_level = config.worker_log_level.level();
    settings.log_tags = config.worker_log_tags.tags();
    let worker = manager
        .create_worker(settings)
        .await
        .map_err(|e| SfuError::Worker(e.to_string()))?;
    let tx = deaths.clone();
    worker
        .on_dead(move |result| {
            tracing::error!(worker = index, ?result, "mediasoup worker died");
            let _ = tx.send(index);
        })
        .detach();
    let webrtc_server =
        bind_webrtc_server(&worker, config, &Listen::new(config), index, replacing).await?;
    tracing::info!(
        worker = index,
        webrtc_server_port = ?config.webrtc_port.map(|b| server_port(b, index).ok().flatten()),
        "mediasoup worker started"
    );
    Ok(WorkerSlot {
        worker,
        webrtc_server,
        load: Arc::new(WorkerLoad::default()),
        dead: false,
    })
}

impl Pool {
    /// A router on the least-loaded worker whose index is not in `exclude`, or `None` when
    /// every worker is excluded.
    pub(crate) async fn create_router_excluding(
        &self,
        exclude: &[usize],
    ) -> Result<Option<Arc<RouterInner>>, SfuError> {
        let picked = {
            let workers = self.workers.lock();
            workers
                .iter()
                .enumerate()
                .filter(|(i, w)| !w.dead && !exclude.contains(i))
                .min_by_key(|(_, w)| w.load.weight())
                .map(|(i, w)| (i, w.worker.clone(), w.webrtc_server.clone(), w.load.clone()))
        };
        let Some((index, worker, server, load)) = picked else {
            return Ok(None);
        };
        let router = worker
            .create_router(RouterOptions::new(media_codecs()))
            .await
            .map_err(SfuError::request)?;
        Ok(Some(counted_router(
            router,
            index,
            &load,
            server,
            self.listen.clone(),
        )))
    }
}

/// The SFU: a pool of mediasoup workers (each with its own WebRtcServer port) and one
/// [`RoomRouter`] per room key.
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<Pool>,
}

impl std::fmt::Debug for Sfu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sfu")
            .field("workers", &self.inner.workers.lock().len())
            .finish()
    }
}

impl Sfu {
    /// Start `config.workers` mediasoup workers.
    pub async fn new(config: SfuConfig) -> Result<Self, SfuError> {
        let manager = WorkerManager::new();
        let (deaths_tx, deaths_rx) = mpsc::unbounded_channel();
        let (speakers_tx, speakers_rx) = mpsc::unbounded_channel();
        let mut workers = Vec::new();
        for index in 0..config.workers.max(1) {
            workers.push(start_worker(&manager, &config, index, &deaths_tx, false).await?);
        }
        let listen = Listen::new(&config);
        Ok(Self {
            inner: Arc::new(Pool {
                manager,
                settings: config,
                workers: parking_lot::Mutex::new(workers),
                listen,
                rooms: Mutex::new(HashMap::new()),
                deaths_tx,
                deaths_rx: parking_lot::Mutex::new(Some(deaths_rx)),
                speakers_tx,
                speakers_rx: parking_lot::Mutex::new(Some(speakers_rx)),
            }),
        })
    }

    /// The stream of dead worker indices (taken once, by whoever recovers from deaths).
    pub fn take_worker_deaths(&self) -> Option<mpsc::UnboundedReceiver<usize>> {
        self.inner.deaths_rx.lock().take()
    }

    /// The speaker reports of every room's observers ([`RoomRouter::observe_audio`]);
    /// `None` after the first call.
    pub fn take_speaker_reports(&self) -> Option<mpsc::UnboundedReceiver<SpeakerReport>> {
        self.inner.speakers_rx.lock().take()
    }

    /// Report worker `index` as dead, exactly as a crash would (fault-injection for tests and
    /// the debug endpoint).
    pub fn simulate_worker_death(&self, index: usize) {
        let _ = self.inner.deaths_tx.send(index);
    }

    /// Take worker `index` out of placement (it died): no new room or router goes to it, and
    /// its WebRtcServer is released so that its replacement can listen on the same port once
    /// the worker's rooms are closed.
    pub fn mark_dead(&self, index: usize) {
        if let Some(slot) = self.inner.workers.lock().get_mut(index) {
            slot.dead = true;
            slot.webrtc_server = None;
        }
    }

    /// Start a fresh worker in slot `index` (after its predecessor died). The old worker
    /// closes once its last router handle is dropped.
    pub async fn replace_worker(&self, index: usize) -> Result<(), SfuError> {
        self.mark_dead(index);
        let slot = start_worker(
            &self.inner.manager,
            &self.inner.settings,
            index,
            &self.inner.deaths_tx,
            true,
        )
        .await?;
        {
            let mut rooms = self.inner.rooms.lock().await;
            rooms.retain(|_, w| w.upgrade().is_some_and(|r| !r.uses_worker(index)));
        }
        let mut workers = self.inner.workers.lock();
        match workers.get_mut(index) {
            Some(old) => *old = slot,
            None => return Err(SfuError::NoWorker),
        }
        tracing::info!(worker = index, "mediasoup worker replaced");
        Ok(())
    }

    /// The media of room `key`, with its home router on the least-loaded worker if the room
    /// is not alive. Concurrent calls for the same key always get the same room.
    pub async fn router_for(&self, key: &str) -> Result<RoomRouter, SfuError> {
        let mut rooms = self.inner.rooms.lock().await;
        if let Some(inner) = rooms.get(key).and_then(Weak::upgrade) {
            return Ok(RoomRouter { inner });
        }
        rooms.retain(|_, w| w.strong_count() > 0);
        let home = self
            .inner
            .create_router_excluding(&[])
            .await?
            .ok_or(SfuError::NoWorker)?;
        let inner = Arc::new(RoomInner {
            pool: Arc::downgrade(&self.inner),
            routers: parking_lot::Mutex::new(vec![home]),
            producers: parking_lot::Mutex::default(),
            piped: parking_lot::Mutex::default(),
            grow: tokio::sync::Mutex::new(()),
            capacity: self.inner.settings.worker_consumer_capacity,
            key: key.to_owned(),
            speakers: tokio::sync::Mutex::new(None),
            reports: self.inner.speakers_tx.clone(),
        });
        rooms.insert(key.to_owned(), Arc::downgrade(&inner));
        Ok(RoomRouter { inner })
    }

    /// Workers in placement: those not marked dead (a dead slot counts again once its
    /// replacement is up).
    pub fn live_workers(&self) -> usize {
        self.inner.workers.lock().iter().filter(|w| !w.dead).count()
    }

    /// Per-worker object counts (without waiting for the room registry).
    pub fn worker_stats(&self) -> Vec<WorkerStats> {
        self.inner
            .workers
            .lock()
            .iter()
            .enumerate()
            .map(|(i, w)| w.load.snapshot(i))
            .collect()
    }

    /// Current object counts.
    pub async fn stats(&self) -> SfuStats {
        let rooms = self
            .inner
            .rooms
            .lock()
            .await
            .values()
            .filter(|w| w.strong_count() > 0)
            .count();
        let per_worker = self.worker_stats();
        SfuStats {
            workers: per_worker.len(),
            routers: per_worker.iter().map(|w| w.routers).sum(),
            rooms,
            per_worker,
        }
    }
}
