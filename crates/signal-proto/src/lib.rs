//! Every Socket.IO event name and payload of the Threads call protocol, as typed serde structs.
//!
//! The wire shapes and error strings are those of the Threads seed documents (see
//! `docs/protocol.md`): field names are camelCase exactly as the Node server sends them.
//! Requests are lenient where real clients are (ids as strings or numbers); responses are exact.

pub mod direct;
pub mod errors;
pub mod events;
pub mod ids;
pub mod info;
pub mod mesh;
pub mod producer;
pub mod requests;
pub mod responses;
pub mod server_events;
pub mod signal;

pub use ids::IdLike;
pub use info::{CallerInfo, ConversationInfo, ParticipantInfo};
pub use producer::ProducerSource;
