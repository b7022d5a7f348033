//! Huddle's SFU layer: the only crate that names `mediasoup` types.
//!
//! It owns the mediasoup worker pool, one router per conversation (deduplicated, so concurrent
//! first joins share one router), WebRTC and plain transports, producers and consumers. Every
//! handle is RAII: dropping the last clone of a [`RoomRouter`], [`MediaTransport`],
//! [`MediaProducer`] or [`MediaConsumer`] closes the underlying mediasoup object.
//!
//! Parameters cross this boundary as `serde_json::Value` in mediasoup-client's JSON shapes, so
//! the rest of Huddle never depends on a mediasoup version.

mod codecs;
mod config;
mod error;
mod handles;
mod normalize;
mod sfu;

pub use config::SfuConfig;
pub use error::SfuError;
pub use handles::{MediaConsumer, MediaKindName, MediaProducer, MediaTransport, RoomRouter};
pub use sfu::{Sfu, SfuStats};
