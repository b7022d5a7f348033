//! The worker pool and the per-room router registry.

use crate::codecs::media_codecs;
use crate::config::SfuConfig;
use crate::error::SfuError;
use crate::handles::{RoomRouter, RouterInner};
use mediasoup::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use tokio::sync::Mutex;

/// Live object counts, for metrics and leak checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SfuStats {
    /// Workers running.
    pub workers: usize,
    /// Routers alive.
    pub routers: usize,
}

struct Inner {
    _manager: WorkerManager,
    workers: Vec<Worker>,
    listen_ip: ListenIp,
    routers: Mutex<HashMap<String, Weak<RouterInner>>>,
}

/// The SFU: a pool of mediasoup workers and at most one router per room key.
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sfu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sfu")
            .field("workers", &self.inner.workers.len())
            .finish()
    }
}

impl Sfu {
    /// Start `config.workers` mediasoup workers.
    pub async fn new(config: SfuConfig) -> Result<Self, SfuError> {
        let manager = WorkerManager::new();
        let mut workers = Vec::new();
        for _ in 0..config.workers.max(1) {
            let mut settings = WorkerSettings::default();
            settings.rtc_ports_range = config.rtc_min_port..=config.rtc_max_port;
            let worker = manager
                .create_worker(settings)
                .await
                .map_err(|e| SfuError::Worker(e.to_string()))?;
            workers.push(worker);
        }
        let listen_ip = ListenIp {
            ip: config.listen_ip,
            announced_ip: config.announced_ip,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                _manager: manager,
                workers,
                listen_ip,
                routers: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The router of room `key`, created on the least-loaded worker if none is alive.
    /// Concurrent calls for the same key always get the same router.
    pub async fn router_for(&self, key: &str) -> Result<RoomRouter, SfuError> {
        let mut routers = self.inner.routers.lock().await;
        if let Some(inner) = routers.get(key).and_then(Weak::upgrade) {
            return Ok(RoomRouter { inner });
        }
        routers.retain(|_, w| w.strong_count() > 0);
        let mut load = vec![0usize; self.inner.workers.len()];
        for w in routers.values() {
            if let Some(r) = w.upgrade() {
                load[r.worker_index] += 1;
            }
        }
        let (worker_index, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(_, l)| **l)
            .ok_or(SfuError::NoWorker)?;
        let worker = &self.inner.workers[worker_index];
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
            workers: self.inner.workers.len(),
            routers: routers.values().filter(|w| w.strong_count() > 0).count(),
        }
    }
}
