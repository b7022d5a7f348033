//! The call-history repository: finished group and 1:1 calls, for "Missed call" and
//! "Call · 12 min" in the chat app. Written once per call when it ends.

use crate::directory::DirectoryError;
use async_trait::async_trait;
use std::time::SystemTime;

/// One participation in a group call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipationRecord {
    /// The user.
    pub user_id: String,
    /// When the user's socket joined.
    pub joined_at: SystemTime,
    /// When it left (the call's end when it never left before).
    pub left_at: SystemTime,
}

/// A finished group call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// Unique id of this call (assigned by the server, a UUID).
    pub id: String,
    /// The conversation.
    pub conversation_id: String,
    /// The user who started it.
    pub started_by: String,
    /// When it started.
    pub started_at: SystemTime,
    /// When it ended.
    pub ended_at: SystemTime,
    /// Every participation (a user who rejoined has several), in join order.
    pub participants: Vec<ParticipationRecord>,
}

/// A finished 1:1 call, answered or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectCallRecord {
    /// Unique id of this record (a UUID; the protocol's call id restarts with the server).
    pub id: String,
    /// Caller user.
    pub caller: String,
    /// Callee user.
    pub callee: String,
    /// Whether it was answered.
    pub answered: bool,
    /// When it started ringing.
    pub started_at: SystemTime,
    /// When it was answered.
    pub answered_at: Option<SystemTime>,
    /// When it ended.
    pub ended_at: SystemTime,
    /// `"rejected"`, `"cancelled"`, `"hangup"`, `"timeout"` or `"disconnect"`.
    pub reason: String,
}

/// Where finished calls are kept.
#[async_trait]
pub trait CallHistory: Send + Sync {
    /// Record a finished group call with its participations.
    async fn record_call(&self, call: &CallRecord) -> Result<(), DirectoryError>;
    /// Record a finished 1:1 call.
    async fn record_direct_call(&self, call: &DirectCallRecord) -> Result<(), DirectoryError>;
    /// The newest `limit` group calls of a conversation, newest first.
    async fn calls(
        &self,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<CallRecord>, DirectoryError>;
}
