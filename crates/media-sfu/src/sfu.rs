//! The worker pool and the per-room router registry.

use crate::codecs::media_codecs;
use crate::config::SfuConfig;
use crate::error::SfuError;
use crate::handles::{RoomRouter, RouterInner};
use mediasoup::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use tokio::sync::{Mutex, mpsc};

/// Live object counts, for metrics and leak checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SfuStats {
    /// Workers running.
    pub workers: usize,
    /// Routers alive.
    pub routers: usize,
}

struct Inner {
    manager: WorkerManager,
    settings: SfuConfig,
    workers: parking_lot::Mutex<Vec<Worker>>,
    listen_ip: ListenIp,
    routers: Mutex<HashMap<String, Weak<RouterInner>>>,
    deaths_tx: mpsc::UnboundedSender<usize>,
    deaths_rx: parking_lot::Mutex<Option<mpsc::UnboundedReceiver<usize>>>,
}

async fn start_worker(
    manager: &WorkerManager,
    config: &SfuConfig,
    index: usize,
    deaths: &mpsc::UnboundedSender<usize>,
) -> Result<Worker, SfuError> {
    let mut settings = WorkerSettings::default();
    settings.rtc_ports_range = config.rtc_min_port..=config.rtc_max_port;
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
    Ok(worker)
}

/// The SFU: a pool of mediasoup workers and at most one router per room key.
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<Inner>,
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
        let mut workers = Vec::new();
        for index in 0..config.workers.max(1) {
            workers.push(start_worker(&manager, &config, index, &deaths_tx).await?);
        }
        let listen_ip = ListenIp {
            ip: config.listen_ip,
            announced_ip: config.announced_ip,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                manager,
                settings: config,
                workers: parking_lot::Mutex::new(workers),
                listen_ip,
                routers: Mutex::new(HashMap::new()),
                deaths_tx,
                deaths_rx: parking_lot::Mutex::new(Some(deaths_rx)),
            }),
        })
    }

    /// The stream of dead worker indices (taken once, by whoever recovers from deaths).
    pub fn take_worker_deaths(&self) -> Option<mpsc::UnboundedReceiver<usize>> {
        self.inner.deaths_rx.lock().take()
    }

    /// Report worker `index` as dead, exactly as a crash would (fault-injection for tests and
    /// the debug endpoint).
    pub fn simulate_worker_death(&self, index: usize) {
        let _ = self.inner.deaths_tx.send(index);
    }

    /// Start a fresh worker in slot `index` (after its predecessor died). The old worker
    /// closes once its last router handle is dropped.
    pub async fn replace_worker(&self, index: usize) -> Result<(), SfuError> {
        let worker = start_worker(
            &self.inner.manager,
            &self.inner.settings,
            index,
            &self.inner.deaths_tx,
        )
        .await?;
        {
            let mut routers = self.inner.routers.lock().await;
            routers.retain(|_, w| w.upgrade().is_some_and(|r| r.worker_index != index));
        }
        let mut workers = self.inner.workers.lock();
        match workers.get_mut(index) {
            Some(slot) => *slot = worker,
            None => return Err(SfuError::NoWorker),
        }
        tracing::info!(worker = index, "mediasoup worker replaced");
        Ok(())
    }

    /// The router of room `key`, created on the least-loaded worker if none is alive.
    /// Concurrent calls for the same key always get the same router.
    pub async fn router_for(&self, key: &str) -> Result<RoomRouter, SfuError> {
        let mut routers = self.inner.routers.lock().await;
        if let Some(inner) = routers.get(key).and_then(Weak::upgrade) {
            return Ok(RoomRouter { inner });
        }
        routers.retain(|_, w| w.strong_count() > 0);
        let worker = {
            let workers = self.inner.workers.lock();
            let mut load = vec![0usize; workers.len()];
            for w in routers.values() {
                if let Some(r) = w.upgrade()
                    && let Some(l) = load.get_mut(r.worker_index)
                {
                    *l += 1;
                }
            }
            let (worker_index, _) = load
                .iter()
                .enumerate()
                .min_by_key(|(_, l)| **l)
                .ok_or(SfuError::NoWorker)?;
            (worker_index, workers[worker_index].clone())
        };
        let (worker_index, worker) = worker;
        let router = worker
            .create_router(RouterOptions::new(media_codecs()))
            .await
            .map_err(SfuError::request)?;
        let inner = Arc::new(RouterInner {
            router,
            listen_ip: self.inner.listen_ip,
            worker_index,
        });
        routers.insert(key.to_owned(), Arc::downgrade(&inner));
        Ok(RoomRouter { inner })
    }

    /// Current object counts.
    pub async fn stats(&self) -> SfuStats {
        let routers = self.inner.routers.lock().await;
        SfuStats {
            workers: self.inner.workers.lock().len(),
            routers: routers.values().filter(|w| w.strong_count() > 0).count(),
        }
    }
}
