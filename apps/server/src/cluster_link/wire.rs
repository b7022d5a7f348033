//! The messages Huddle nodes exchange over the cluster layer (JSON bodies of `cluster`'s RPC
//! channels).

use media_sfu::{ExportedProducer, PipeEndpoint};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message to one node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToNode {
    /// Emit an event to these sockets of the receiving node (they take part in a room homed
    /// on the sender).
    Deliver {
        /// Target sockets (of the receiver).
        sids: Vec<String>,
        /// Event name.
        event: String,
        /// Event payload.
        payload: Value,
    },
    /// A request of one of the sender's sockets, for a room homed on the receiver; the
    /// answer is the ack payload (`null` when the handler sent none).
    Forward(Forwarded),
    /// One of the sender's sockets left its room homed on the receiver, or disconnected.
    Gone {
        /// The socket (of the sender).
        sid: String,
    },
    /// What the receiver knows of these users (answered with `Vec<UserPresence>`).
    Presence {
        /// The users.
        users: Vec<String>,
    },
    /// Open the receiver's end of `room`'s media pipe to the sender, connected to the
    /// sender's `endpoint`; answered with the receiver's [`PipeEndpoint`].
    PipeOpen {
        /// The room (homed on the receiver).
        room: String,
        /// The sender's end.
        endpoint: PipeEndpoint,
    },
    /// A transport of the sender's socket `sid` failed and did not recover: the receiver
    /// (the room's home) removes the participant (`removedFromRoom {reason:
    /// "transport_failed"}`).
    TransportFailed {
        /// The socket (of the sender; a proxy on the receiver).
        sid: String,
    },
    /// The connection quality of a socket of the sender (its media is there) changed: the
    /// receiver (the room's home) announces it (`connectionQuality`).
    Quality {
        /// The socket (of the sender; a proxy on the receiver).
        sid: String,
        /// Its quality now.
        quality: signal_proto::server_events::Quality,
    },
    /// The sender no longer uses `room`'s pipe: the receiver closes its end.
    PipeClose {
        /// The room.
        room: String,
    },
    /// A producer the sender exports over `room`'s pipe paused, resumed or closed.
    PipeChange {
        /// The room.
        room: String,
        /// The producer.
        producer_id: String,
        /// What happened.
        change: PipeChangeKind,
    },
    /// A producer of one of the sender's sockets, exported over the room's pipe: the
    /// receiver (the room's home) imports and announces it; answered `{id}`.
    RemoteProduce(RemoteProduce),
    /// A consume of one of the sender's sockets: the receiver (the room's home) checks it and
    /// describes the producer; answered with [`ConsumeViewAnswer`].
    ConsumeView(ConsumeView),
}

/// What happened to an exported producer ([`ToNode::PipeChange`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipeChangeKind {
    /// Paused.
    Paused,
    /// Resumed.
    Resumed,
    /// Closed.
    Closed,
}

/// [`ToNode::RemoteProduce`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteProduce {
    /// The producing socket (of the sender; a proxy on the receiver).
    pub sid: String,
    /// `appData.source` (already validated by the sender).
    pub source: String,
    /// The application data.
    pub app_data: Value,
    /// The producer as the pipe carries it.
    pub exported: ExportedProducer,
}

/// [`ToNode::ConsumeView`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsumeView {
    /// The consuming socket (of the sender; a proxy on the receiver).
    pub sid: String,
    /// The producer it wants.
    pub producer_id: String,
    /// Whether the sender needs the producer exported to it (it does not have it yet).
    pub export: bool,
}

/// The answer to [`ToNode::ConsumeView`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsumeViewAnswer {
    /// Whether the producer is paused.
    pub paused: bool,
    /// Its application data.
    pub app_data: Value,
    /// The export, when asked for.
    pub exported: Option<ExportedProducer>,
}

/// One user as one node sees it: the answer to [`ToNode::Presence`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserPresence {
    /// The user.
    pub user: String,
    /// Its joined sockets on that node.
    pub sockets: Vec<String>,
    /// In a call (SFU, mesh or 1:1) homed on that node.
    pub busy: bool,
}

/// A client request forwarded to the node of its room ([`ToNode::Forward`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forwarded {
    /// The socket (of the sender).
    pub sid: String,
    /// The user it is joined as.
    pub user: String,
    /// Client event name.
    pub event: String,
    /// Its payload.
    pub data: Value,
    /// Whether the client passed an ack callback.
    pub has_ack: bool,
    /// When it was sent (Unix ms): a request older than the RPC timeout is dropped, its
    /// sender has given up (a node frozen for a while must not act on stale requests).
    pub sent_ms: u64,
}

/// Now as Unix milliseconds.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
