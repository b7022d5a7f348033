//! Display info (names, avatar URLs) built from directory records.

use crate::directory::{ConversationRecord, UserRecord};
use signal_proto::server_events::caller_info;
use signal_proto::{CallerInfo, ConversationInfo, ParticipantInfo};

/// How display data is derived from stored records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayPolicy {
    /// Base URL avatar file names are resolved against (no trailing slash needed).
    pub avatar_base_url: String,
}

impl Default for DisplayPolicy {
    fn default() -> Self {
        Self {
            avatar_base_url: "http://localhost:8000/uploads".into(),
        }
    }
}

impl DisplayPolicy {
    /// Full avatar URL: absolute URLs pass through, file names are joined to the base URL,
    /// empty or missing values are `None`.
    pub fn avatar_url(&self, stored: Option<&str>) -> Option<String> {
        let stored = stored?.trim();
        if stored.is_empty() {
            return None;
        }
        if stored.starts_with("http://")
            || stored.starts_with("https://")
            || stored.starts_with("data:")
        {
            return Some(stored.to_owned());
        }
        Some(format!(
            "{}/{}",
            self.avatar_base_url.trim_end_matches('/'),
            stored.trim_start_matches('/')
        ))
    }

    fn user_name(user: &UserRecord) -> String {
        match user.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => format!("User {}", user.id),
        }
    }

    /// `conversationInfo` ("Group Call" when unnamed).
    pub fn conversation_info(&self, c: &ConversationRecord) -> ConversationInfo {
        ConversationInfo {
            id: c.id.clone(),
            name: match c.name.as_deref().map(str::trim) {
                Some(n) if !n.is_empty() => n.to_owned(),
                _ => "Group Call".to_owned(),
            },
            avatar: self.avatar_url(c.avatar.as_deref()),
        }
    }

    /// `callerInfo` (numeric id).
    pub fn caller_info(&self, u: &UserRecord) -> CallerInfo {
        caller_info(
            &u.id,
            Self::user_name(u),
            self.avatar_url(u.avatar.as_deref()),
        )
    }

    /// `participantInfo` (string user id).
    pub fn participant_info(&self, u: &UserRecord) -> ParticipantInfo {
        ParticipantInfo {
            user_id: u.id.clone(),
            name: Self::user_name(u),
            avatar: self.avatar_url(u.avatar.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signal_proto::ids::NumericId;

    fn policy() -> DisplayPolicy {
        DisplayPolicy {
            avatar_base_url: "https://cdn.test/avatars/".into(),
        }
    }

    #[test]
    fn avatar_urls() {
        let p = policy();
        assert_eq!(
            p.avatar_url(Some("a.png")).as_deref(),
            Some("https://cdn.test/avatars/a.png")
        );
        assert_eq!(
            p.avatar_url(Some("/a.png")).as_deref(),
            Some("https://cdn.test/avatars/a.png")
        );
        assert_eq!(
            p.avatar_url(Some("https://x/y.jpg")).as_deref(),
            Some("https://x/y.jpg")
        );
        assert_eq!(p.avatar_url(Some("  ")), None);
        assert_eq!(p.avatar_url(None), None);
    }

    #[test]
    fn defaults_for_missing_names() {
        let p = policy();
        let u = UserRecord {
            id: "7".into(),
            ..Default::default()
        };
        assert_eq!(p.participant_info(&u).name, "User 7");
        assert_eq!(p.caller_info(&u).id, NumericId::Num(7));
        let c = ConversationRecord {
            id: "c".into(),
            name: Some(String::new()),
            avatar: None,
        };
        assert_eq!(p.conversation_info(&c).name, "Group Call");
    }
}
