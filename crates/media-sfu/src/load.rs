//! Per-worker object counters: the load figure rooms are placed by and the per-worker gauges.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Live object counts of one worker, shared by every handle created on it.
#[derive(Debug, Default)]
pub(crate) struct WorkerLoad {
    pub(crate) routers: AtomicUsize,
    pub(crate) transports: AtomicUsize,
    pub(crate) producers: AtomicUsize,
    pub(crate) consumers: AtomicUsize,
}

/// Which counter a [`LoadGuard`] holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counted {
    Router,
    Transport,
    Producer,
    Consumer,
}

impl WorkerLoad {
    fn counter(&self, what: Counted) -> &AtomicUsize {
        match what {
            Counted::Router => &self.routers,
            Counted::Transport => &self.transports,
            Counted::Producer => &self.producers,
            Counted::Consumer => &self.consumers,
        }
    }

    /// Consumers on this worker: the figure that grows fastest with room size.
    pub(crate) fn consumers(&self) -> usize {
        self.consumers.load(Ordering::Relaxed)
    }

    /// The placement weight: consumers first, then transports and routers as tie-breakers.
    pub(crate) fn weight(&self) -> (usize, usize, usize) {
        (
            self.consumers.load(Ordering::Relaxed),
            self.transports.load(Ordering::Relaxed),
            self.routers.load(Ordering::Relaxed),
        )
    }

    /// A snapshot for stats.
    pub(crate) fn snapshot(&self, index: usize) -> WorkerStats {
        WorkerStats {
            index,
            routers: self.routers.load(Ordering::Relaxed),
            transports: self.transports.load(Ordering::Relaxed),
            producers: self.producers.load(Ordering::Relaxed),
            consumers: self.consumers.load(Ordering::Relaxed),
        }
    }
}

/// Counts one object on a worker for as long as it lives (RAII, like the object itself).
#[derive(Debug)]
pub(crate) struct LoadGuard {
    load: Arc<WorkerLoad>,
    what: Counted,
}

impl LoadGuard {
    pub(crate) fn new(load: &Arc<WorkerLoad>, what: Counted) -> Self {
        load.counter(what).fetch_add(1, Ordering::Relaxed);
        Self {
            load: load.clone(),
            what,
        }
    }
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.load.counter(self.what).fetch_sub(1, Ordering::Relaxed);
    }
}

/// Live object counts of one worker slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkerStats {
    /// Worker slot index.
    pub index: usize,
    /// Routers on the worker.
    pub routers: usize,
    /// WebRTC and plain transports on the worker.
    pub transports: usize,
    /// Producers (client producers, not pipe producers).
    pub producers: usize,
    /// Consumers (client consumers, not pipe consumers).
    pub consumers: usize,
}
