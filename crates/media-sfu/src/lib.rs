//! Huddle's SFU layer: the only crate that names `mediasoup` types.
//!
//! It owns the mediasoup worker pool (each worker with a WebRtcServer on its own port), one
//! [`RoomRouter`] per conversation (deduplicated, so concurrent first joins share it; a room
//! that outgrows its worker continues on routers of other workers, producers piped between
//! them), WebRTC and plain transports, producers and consumers. Every
//! handle is RAII: dropping the last clone of a [`RoomRouter`], [`MediaTransport`],
//! [`MediaProducer`] or [`MediaConsumer`] closes the underlying mediasoup object.
//!
//! Parameters cross this boundary as `serde_json::Value` in mediasoup-client's JSON shapes, so
//! the rest of Huddle never depends on a mediasoup version.

mod codecs;
mod config;
mod error;
mod handles;
mod listen;
mod load;
mod logging;
mod node_pipe;
mod normalize;
mod recorder;
mod room;
mod sfu;
mod speakers;

pub use config::SfuConfig;
pub use error::SfuError;
pub use handles::{
    ConsumerType, Layers, MediaConsumer, MediaKindName, MediaProducer, MediaTransport,
    TransportHealth,
};
pub use load::WorkerStats;
pub use logging::{UnknownLogLevel, UnknownLogTag, WorkerLogTags, WorkerLogging};
pub use node_pipe::{ExportChange, ExportedProducer, NodePipe, PipeEndpoint};
pub use recorder::{RecordedCodec, RecordingTap};
pub use room::RoomRouter;
pub use sfu::{Sfu, SfuStats};
pub use speakers::{
    AUDIO_LEVEL_INTERVAL_MS, AUDIO_LEVEL_THRESHOLD_DBOV, SpeakerEvent, SpeakerReport,
};
