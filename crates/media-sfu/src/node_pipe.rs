//! Pipes between two nodes' copies of one room: a mediasoup PipeTransport pair with SRTP and
//! RTX on, over which producers of one node are made consumable on the other.
//!
//! Each node creates its end with [`RoomRouter::create_node_pipe`], sends the other node its
//! [`PipeEndpoint`] (address and SRTP key), and [`NodePipe::connect`]s to the other's. The
//! producing node then [`NodePipe::export`]s a producer, and the consuming node
//! [`NodePipe::import`]s the [`ExportedProducer`] under the same producer id: from then on the
//! id is consumable on the importing node like a local producer (also on its other workers).
//!
//! State changes of an exported producer (pause, resume, close) are reported through
//! [`NodePipe::on_export_change`] so the caller can tell the importing node, which applies them
//! to the [`MediaProducer`] that [`NodePipe::import`] returned (pause, resume, drop). Dropping
//! a [`NodePipe`] stops its exports; its transport closes once the last import handle is
//! dropped too (an import keeps its transport alive).

use crate::error::SfuError;
use crate::handles::{
    MediaProducer, from_value, kind_name, parse_kind, parse_producer_id, to_value,
};
use crate::load::{Counted, LoadGuard};
use crate::room::{RoomInner, RoomRouter, RouterInner};
use mediasoup::prelude::*;
use mediasoup::producer::WeakProducer;
use mediasoup::types::srtp_parameters::SrtpParameters;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// One end of a node pipe as the other node needs it: where it listens and its SRTP key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipeEndpoint {
    /// The address the other node sends to (the announced address when there is one).
    pub ip: String,
    /// The UDP port.
    pub port: u16,
    /// mediasoup's `SrtpParameters` JSON (`{cryptoSuite, keyBase64}`).
    pub srtp: Value,
}

/// A producer made available over a pipe: what the importing node needs to recreate it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedProducer {
    /// The producer id, kept on the importing node.
    pub producer_id: String,
    /// `"audio"` or `"video"`.
    pub kind: String,
    /// The pipe consumer's RTP parameters (mediasoup JSON).
    pub rtp_parameters: Value,
    /// Whether the producer is paused right now.
    pub paused: bool,
}

/// What happened to an exported producer on the exporting node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportChange {
    /// The producer was paused.
    Paused,
    /// The producer was resumed.
    Resumed,
    /// The producer closed; the export is gone.
    Closed,
}

/// Called with `(producer id, change)` for exported producers.
type ExportCallback = Arc<dyn Fn(&str, ExportChange) + Send + Sync>;

#[derive(Default)]
struct PipeState {
    exports: HashMap<ProducerId, Consumer>,
    imports: HashMap<ProducerId, WeakProducer>,
    watcher: Option<ExportCallback>,
}

/// This node's end of the pipe to one other node for one room. Closed when it and every
/// import handle it returned are dropped.
pub struct NodePipe {
    transport: PipeTransport,
    router: Arc<RouterInner>,
    room: Arc<RoomInner>,
    state: Arc<parking_lot::Mutex<PipeState>>,
    _counted: LoadGuard,
}

impl std::fmt::Debug for NodePipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("NodePipe")
            .field("id", &self.transport.id())
            .field("exports", &state.exports.len())
            .field("imports", &state.imports.len())
            .finish()
    }
}

impl RoomRouter {
    /// Create this node's end of a pipe to another node's copy of the room, on the room's
    /// home router, with RTX and SRTP on.
    pub async fn create_node_pipe(&self) -> Result<NodePipe, SfuError> {
        let router = self
            .inner
            .routers
            .lock()
            .first()
            .cloned()
            .ok_or(SfuError::NoWorker)?;
        let mut options = PipeTransportOptions::new(router.listen.ranged(Protocol::Udp));
        options.enable_rtx = true;
        options.enable_srtp = true;
        let transport = router
            .router
            .create_pipe_transport(options)
            .await
            .map_err(SfuError::request)?;
        Ok(NodePipe {
            _counted: LoadGuard::new(&router.load, Counted::Transport),
            transport,
            router,
            room: self.inner.clone(),
            state: Arc::default(),
        })
    }
}

impl NodePipe {
    /// The transport id (for logs).
    pub fn id(&self) -> String {
        self.transport.id().to_string()
    }

    /// This end, as the other node needs it for its [`NodePipe::connect`].
    pub fn local_endpoint(&self) -> PipeEndpoint {
        // The local address is the announced one when there is one.
        let tuple = self.transport.tuple();
        PipeEndpoint {
            ip: tuple.local_address().clone(),
            port: tuple.local_port(),
            srtp: self
                .transport
                .srtp_parameters()
                .map(|p| to_value(&p))
                .unwrap_or(Value::Null),
        }
    }

    /// Connect to the other node's end.
    pub async fn connect(&self, remote: &PipeEndpoint) -> Result<(), SfuError> {
        let ip: IpAddr = remote.ip.parse().map_err(|e| SfuError::invalid("ip", e))?;
        let srtp: SrtpParameters = from_value("srtpParameters", remote.srtp.clone())?;
        self.transport
            .connect(PipeTransportRemoteParameters {
                ip,
                port: remote.port,
                srtp_parameters: Some(srtp),
            })
            .await
            .map_err(SfuError::request)
    }

    /// Be told when an exported producer pauses, resumes or closes (replaces any earlier
    /// callback).
    pub fn on_export_change<F>(&self, callback: F)
    where
        F: Fn(&str, ExportChange) + Send + Sync + 'static,
    {
        self.state.lock().watcher = Some(Arc::new(callback));
    }

    /// Send `producer_id` (a producer of this node's copy of the room, on any of its workers)
    /// over the pipe. Idempotent: a second export answers the same description.
    pub async fn export(&self, producer_id: &str) -> Result<ExportedProducer, SfuError> {
        let pid = parse_producer_id(producer_id).map_err(|_| SfuError::ProducerNotFound)?;
        if !self.room.producers.lock().contains_key(&pid) {
            return Err(SfuError::ProducerNotFound);
        }
        if let Some(existing) = self.state.lock().exports.get(&pid) {
            return Ok(describe(existing));
        }
        self.room.ensure_piped(pid, &self.router).await?;
        let consumer = self
            .transport
            .consume(ConsumerOptions::new(pid, RtpCapabilities::default()))
            .await
            .map_err(|e| match e {
                mediasoup::transport::ConsumeError::ProducerNotFound(_) => {
                    SfuError::ProducerNotFound
                }
                other => SfuError::request(other),
            })?;
        self.watch_export(&consumer);
        let exported = describe(&consumer);
        let mut state = self.state.lock();
        // A concurrent export of the same producer won: keep the first, drop this one.
        Ok(match state.exports.get(&pid) {
            Some(first) => describe(first),
            None => {
                state.exports.insert(pid, consumer);
                exported
            }
        })
    }

    fn watch_export(&self, consumer: &Consumer) {
        let id = consumer.producer_id().to_string();
        let notify = {
            let state = Arc::downgrade(&self.state);
            move |id: &str, change: ExportChange| {
                let watcher = state.upgrade().and_then(|s| s.lock().watcher.clone());
                if let Some(watcher) = watcher {
                    watcher(id, change);
                }
            }
        };
        let notify = Arc::new(notify);
        {
            let (notify, id) = (notify.clone(), id.clone());
            consumer
                .on_producer_pause(move || notify(&id, ExportChange::Paused))
                .detach();
        }
        {
            let (notify, id) = (notify.clone(), id.clone());
            consumer
                .on_producer_resume(move || notify(&id, ExportChange::Resumed))
                .detach();
        }
        let state = Arc::downgrade(&self.state);
        let pid = consumer.producer_id();
        consumer
            .on_producer_close(move || {
                let removed = state.upgrade().and_then(|s| s.lock().exports.remove(&pid));
                // A consumer must not be dropped inside its own event handler: mediasoup holds
                // the handler list's lock while calling it, and the drop takes that lock.
                if let Some(consumer) = removed {
                    std::thread::spawn(move || drop(consumer));
                }
                notify(&id, ExportChange::Closed);
            })
            .detach();
    }

    /// Recreate a producer the other node exported, under the same id, so this node's
    /// participants can consume it (on any of the room's workers). The caller owns the
    /// returned handle: dropping it closes the imported producer and its consumers here.
    /// Importing an id this pipe already carries is refused.
    pub async fn import(&self, exported: &ExportedProducer) -> Result<MediaProducer, SfuError> {
        let pid = parse_producer_id(&exported.producer_id)?;
        if self.imports(&exported.producer_id) {
            return Err(SfuError::invalid("producerId", "already imported"));
        }
        let kind = parse_kind(&exported.kind)?;
        let rtp_parameters: RtpParameters =
            from_value("rtpParameters", exported.rtp_parameters.clone())?;
        let mut options = ProducerOptions::new_pipe_transport(pid, kind, rtp_parameters);
        options.paused = exported.paused;
        let producer = self
            .transport
            .produce(options)
            .await
            .map_err(SfuError::request)?;
        // Closed by the handle's drop, or with the pipe transport.
        let (state, room) = (Arc::downgrade(&self.state), Arc::downgrade(&self.room));
        producer
            .on_close(move || {
                if let Some(state) = state.upgrade() {
                    state.lock().imports.remove(&pid);
                }
                if let Some(room) = room.upgrade() {
                    room.producer_closed(&pid);
                }
            })
            .detach();
        self.room.producers.lock().insert(pid, self.router.clone());
        self.state.lock().imports.insert(pid, producer.downgrade());
        Ok(MediaProducer {
            _counted: LoadGuard::new(&self.router.load, Counted::Producer),
            producer,
            room: self.room.clone(),
        })
    }

    /// Stop sending an exported producer (nobody on the other node consumes it any more).
    /// Whether it was exported.
    pub fn close_export(&self, producer_id: &str) -> bool {
        let Ok(pid) = parse_producer_id(producer_id) else {
            return false;
        };
        self.state.lock().exports.remove(&pid).is_some()
    }

    /// Whether `producer_id` is imported over this pipe.
    pub fn imports(&self, producer_id: &str) -> bool {
        parse_producer_id(producer_id).is_ok_and(|pid| self.state.lock().imports.contains_key(&pid))
    }

    /// Exported and imported producers: a pipe with `(0, 0)` is no longer used.
    pub fn usage(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.exports.len(), state.imports.len())
    }

    /// Whether the pipe carries RTX (retransmissions) for video: the imported or exported
    /// video RTP parameters list an `video/rtx` codec.
    pub fn carries_rtx(&self) -> bool {
        let state = self.state.lock();
        let rtx = |p: &RtpParameters| {
            to_value(p)["codecs"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["mimeType"] == "video/rtx"))
        };
        state.exports.values().any(|c| rtx(c.rtp_parameters()))
            || state
                .imports
                .values()
                .filter_map(WeakProducer::upgrade)
                .any(|p| rtx(p.rtp_parameters()))
    }
}

fn describe(consumer: &Consumer) -> ExportedProducer {
    ExportedProducer {
        producer_id: consumer.producer_id().to_string(),
        kind: kind_name(consumer.kind()).to_owned(),
        rtp_parameters: to_value(consumer.rtp_parameters()),
        paused: consumer.producer_paused(),
    }
}
