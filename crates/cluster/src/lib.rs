//! Cluster mode on Redis: the foundation that lets several Huddle nodes behave as one server.
//!
//! A [`Node`] owns one reconnecting Redis connection ([`RedisConnection`]) and, on top of it:
//! * [`NodeRegistry`]: its liveness lease and heartbeats, and [`NodeEvent`]s for its peers;
//! * [`RoomAuthority`]: atomic room-home claims with a lease and a fencing epoch;
//! * [`RoomReplica`]: the in-memory replica of every node's active rooms, read without Redis;
//! * [`Rpc`]: typed node-to-node requests, and [`Messaging`]: cluster-wide and user-addressed
//!   broadcasts;
//! * [`AdapterDriver`]: the socketioxide-redis driver whose subscriptions survive a Redis
//!   restart.
//!
//! Every call that crosses nodes is bounded by a timeout and fails with
//! [`ClusterError::Unavailable`] (`"Cluster unavailable, try again"`) instead of hanging.
//! Keys, channels, TTLs and failure behaviour: `docs/cluster.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cluster::ClusterError> {
//! use cluster::{Claim, ClusterConfig, Node};
//!
//! let node = Node::start(ClusterConfig::new("redis://127.0.0.1:6379")).await?;
//! match node.authority().claim("conversation-1").await? {
//!     Claim::Won(home) => println!("home here, epoch {}", home.epoch),
//!     Claim::Held(home) => println!("home is {}", home.node),
//! }
//! node.replica().set_local("conversation-1", node.id(), 1).await?;
//! assert_eq!(node.replica().participant_count("conversation-1"), 1);
//! node.leave().await?;
//! # Ok(())
//! # }
//! ```

mod authority;
mod config;
mod connection;
mod driver;
mod error;
pub mod keys;
mod messaging;
mod node;
mod node_id;
mod registry;
mod replica;
mod rpc;

pub use authority::{AuthorityEvent, Claim, RoomAuthority, RoomHome};
pub use config::ClusterConfig;
pub use connection::{ChannelMessage, Connectivity, RedisConnection, Subscription};
pub use driver::AdapterDriver;
pub use error::ClusterError;
pub use messaging::{Address, ClusterMessage, Messaging};
pub use node::Node;
pub use node_id::NodeId;
pub use registry::{NodeEvent, NodeRegistry};
pub use replica::{ActiveRoom, RoomReplica};
pub use rpc::{IncomingRequest, RequestStream, Rpc};
