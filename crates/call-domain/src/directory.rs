//! The directory repository: users, conversations and memberships.

use async_trait::async_trait;

/// A user as stored (display data raw: `avatar` is a file name or URL).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserRecord {
    /// User id.
    pub id: String,
    /// Display name, if set.
    pub name: Option<String>,
    /// Avatar file name or URL, if set.
    pub avatar: Option<String>,
    /// FCM registration tokens.
    pub fcm_tokens: Vec<String>,
}

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConversationRecord {
    /// Conversation id.
    pub id: String,
    /// Name, if set.
    pub name: Option<String>,
    /// Avatar file name or URL, if set.
    pub avatar: Option<String>,
}

/// A conversation with all its (non-deleted) members.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Roster {
    /// The conversation (a record with only the id when the row is missing).
    pub conversation: ConversationRecord,
    /// Members with their user data.
    pub members: Vec<UserRecord>,
}

impl Roster {
    /// The member with this id, if any.
    pub fn member(&self, user_id: &str) -> Option<&UserRecord> {
        self.members.iter().find(|m| m.id == user_id)
    }
}

/// One membership: the user and the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberView {
    /// The member.
    pub user: UserRecord,
    /// The conversation (a record with only the id when the row is missing).
    pub conversation: ConversationRecord,
}

/// The directory could not answer: it is unavailable (down, unreachable, failing), or it is
/// up but [busy](DirectoryError::is_busy) past its overload limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("directory {}: {message}", if *.busy { "busy" } else { "unavailable" })]
pub struct DirectoryError {
    /// What went wrong.
    pub message: String,
    /// The store answers but sheds this request: more requests are waiting than its overload
    /// limit allows. Clients are told to retry (`errors::SERVER_BUSY`), not that the store
    /// is down.
    pub busy: bool,
}

impl DirectoryError {
    /// The store is down, unreachable or failing.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            busy: false,
        }
    }

    /// The store is up but overloaded: the request was shed.
    pub fn busy(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            busy: true,
        }
    }

    /// Whether the request was shed because of load (the store itself answers).
    pub fn is_busy(&self) -> bool {
        self.busy
    }
}

/// Read access to users, conversations and memberships. Each method is one round trip.
#[async_trait]
pub trait Directory: Send + Sync {
    /// The conversation and all its members; `None` when it has no members at all.
    async fn roster(&self, conversation_id: &str) -> Result<Option<Roster>, DirectoryError>;
    /// The membership of `user_id` in `conversation_id`, if any.
    async fn member(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<Option<MemberView>, DirectoryError>;
    /// Of `conversation_ids`, those `user_id` is a member of.
    async fn member_conversations(
        &self,
        user_id: &str,
        conversation_ids: &[String],
    ) -> Result<Vec<ConversationRecord>, DirectoryError>;
    /// Whether the backing store answers (readiness checks). In-memory directories always do.
    async fn ping(&self) -> Result<(), DirectoryError> {
        Ok(())
    }
}
