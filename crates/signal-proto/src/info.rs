//! Display information the server attaches to events (never taken from clients).

use crate::ids::NumericId;
use serde::{Deserialize, Serialize};

/// `callerInfo`: `{ id: number, name, avatar }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerInfo {
    /// The caller's user id, as a number.
    pub id: NumericId,
    /// Display name (`"User <id>"` when unknown).
    pub name: String,
    /// Full avatar URL or null.
    pub avatar: Option<String>,
}

/// `conversationInfo`: `{ id, name, avatar }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInfo {
    /// Conversation id (= room id).
    pub id: String,
    /// Display name ("Group Call" when unknown).
    pub name: String,
    /// Full avatar URL or null.
    pub avatar: Option<String>,
}

/// `participantInfo`: `{ userId: string, name, avatar }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantInfo {
    /// The participant's user id, as a string.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Full avatar URL or null.
    pub avatar: Option<String>,
}
