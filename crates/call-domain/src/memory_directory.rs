//! The embedded directory: users, conversations and members held in memory.

use crate::directory::{
    ConversationRecord, Directory, DirectoryError, MemberView, Roster, UserRecord,
};
use async_trait::async_trait;
use serde::Deserialize;
use signal_proto::IdLike;
use std::collections::{HashMap, HashSet};

/// A user in a directory file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSeed {
    /// Id (number or string).
    pub id: IdLike,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Avatar file name or URL.
    #[serde(default)]
    pub avatar: Option<String>,
    /// FCM tokens.
    #[serde(default)]
    pub fcm_tokens: Vec<String>,
}

/// A conversation in a directory file.
#[derive(Debug, Clone, Deserialize)]
pub struct ConversationSeed {
    /// Id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Avatar.
    #[serde(default)]
    pub avatar: Option<String>,
    /// Member user ids.
    #[serde(default)]
    pub members: Vec<IdLike>,
}

/// The JSON shape of an embedded directory: `{ users: [...], conversations: [...] }`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct DirectoryData {
    /// Users.
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// Conversations.
    #[serde(default)]
    pub conversations: Vec<ConversationSeed>,
}

/// An in-memory [`Directory`].
#[derive(Debug, Clone, Default)]
pub struct MemoryDirectory {
    users: HashMap<String, UserRecord>,
    conversations: HashMap<String, Conversation>,
    order: Vec<String>,
}

/// A conversation and its members, in file order and as a set (a membership test is one
/// hash lookup rather than a scan of the member list).
#[derive(Debug, Clone)]
struct Conversation {
    record: ConversationRecord,
    members: Vec<String>,
    member_set: HashSet<String>,
}

impl Conversation {
    fn has_member(&self, user_id: &str) -> bool {
        self.member_set.contains(user_id)
    }
}

impl MemoryDirectory {
    /// Build from parsed data. Members without a user entry get an empty user record.
    pub fn new(data: DirectoryData) -> Self {
        let users = data
            .users
            .into_iter()
            .map(|u| {
                let id = u.id.normalized();
                let record = UserRecord {
                    id: id.clone(),
                    name: u.name,
                    avatar: u.avatar,
                    fcm_tokens: u.fcm_tokens,
                };
                (id, record)
            })
            .collect();
        let mut order = Vec::new();
        let conversations = data
            .conversations
            .into_iter()
            .map(|c| {
                order.push(c.id.clone());
                let members: Vec<String> = c.members.iter().map(IdLike::normalized).collect();
                let member_set = members.iter().cloned().collect();
                let record = ConversationRecord {
                    id: c.id.clone(),
                    name: c.name,
                    avatar: c.avatar,
                };
                let conversation = Conversation {
                    record,
                    members,
                    member_set,
                };
                (c.id, conversation)
            })
            .collect();
        Self {
            users,
            conversations,
            order,
        }
    }

    /// Parse a JSON directory.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        Ok(Self::new(serde_json::from_str(text)?))
    }

    fn user(&self, id: &str) -> UserRecord {
        self.users.get(id).cloned().unwrap_or_else(|| UserRecord {
            id: id.to_owned(),
            ..Default::default()
        })
    }

    /// All users, numeric ids in numeric order (for the demo page's user picker).
    pub fn users(&self) -> Vec<UserRecord> {
        let mut v: Vec<_> = self.users.values().cloned().collect();
        v.sort_by(|a, b| {
            let key = |u: &UserRecord| u.id.parse::<i64>().ok();
            key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
        });
        v
    }

    /// Conversations `user_id` belongs to, in file order.
    pub fn conversations_of(&self, user_id: &str) -> Vec<ConversationRecord> {
        self.order
            .iter()
            .filter_map(|id| self.conversations.get(id))
            .filter(|c| c.has_member(user_id))
            .map(|c| c.record.clone())
            .collect()
    }
}

#[async_trait]
impl Directory for MemoryDirectory {
    async fn roster(&self, conversation_id: &str) -> Result<Option<Roster>, DirectoryError> {
        Ok(self.conversations.get(conversation_id).and_then(|c| {
            (!c.members.is_empty()).then(|| Roster {
                conversation: c.record.clone(),
                members: c.members.iter().map(|m| self.user(m)).collect(),
            })
        }))
    }

    async fn member(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<Option<MemberView>, DirectoryError> {
        Ok(self.conversations.get(conversation_id).and_then(|c| {
            c.has_member(user_id).then(|| MemberView {
                user: self.user(user_id),
                conversation: c.record.clone(),
            })
        }))
    }

    async fn member_conversations(
        &self,
        user_id: &str,
        conversation_ids: &[String],
    ) -> Result<Vec<ConversationRecord>, DirectoryError> {
        Ok(conversation_ids
            .iter()
            .filter_map(|id| self.conversations.get(id))
            .filter(|c| c.has_member(user_id))
            .map(|c| c.record.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn dir() -> MemoryDirectory {
        MemoryDirectory::from_json(
            r#"{"users":[{"id":1,"name":"Alice","avatar":"a.png","fcmTokens":["t1"]},{"id":"2"}],
                "conversations":[{"id":"c1","name":"Team","members":[1,"2",3]},{"id":"c2","members":[2]}]}"#,
        )
        .unwrap_or_default()
    }

    #[test]
    fn queries() {
        let d = dir();
        let r = block_on(d.roster("c1")).ok().flatten();
        let ids: Vec<_> = r
            .iter()
            .flat_map(|r| r.members.iter().map(|m| m.id.clone()))
            .collect();
        assert_eq!(ids, ["1", "2", "3"]);
        let tokens = r.and_then(|r| r.member("1").map(|m| m.fcm_tokens.clone()));
        assert_eq!(tokens, Some(vec!["t1".to_owned()]));
        assert_eq!(block_on(d.roster("nope")), Ok(None));
        assert!(block_on(d.member("c1", "3")).ok().flatten().is_some());
        assert_eq!(block_on(d.member("c2", "1")), Ok(None));
        let convs = block_on(d.member_conversations("2", &["c2".into(), "c1".into(), "x".into()]))
            .map(|v| v.into_iter().map(|c| c.id).collect::<Vec<_>>());
        assert_eq!(convs, Ok(vec!["c2".to_owned(), "c1".to_owned()]));
        assert_eq!(d.conversations_of("1").len(), 1);
        assert_eq!(d.users().first().map(|u| u.id.clone()), Some("1".into()));
    }
}
