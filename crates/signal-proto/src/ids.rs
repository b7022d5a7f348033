//! Ids that clients send either as strings or as numbers.

use serde::{Deserialize, Serialize};

/// A user id as sent by a client: `"42"` or `42`. Normalised to its decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IdLike {
    /// Sent as a string.
    Str(String),
    /// Sent as an integer.
    Int(i64),
}

impl IdLike {
    /// The id as a trimmed string (numbers in decimal).
    pub fn normalized(&self) -> String {
        match self {
            IdLike::Str(s) => s.trim().to_owned(),
            IdLike::Int(n) => n.to_string(),
        }
    }
}

impl From<&str> for IdLike {
    fn from(s: &str) -> Self {
        IdLike::Str(s.to_owned())
    }
}

/// A user id on the wire where the seeds show a number (`callerInfo.id`): a JSON number when
/// the id is numeric, else the string itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NumericId {
    /// Numeric ids (all ids in the Threads database).
    Num(i64),
    /// Fallback for non-numeric ids of other directories.
    Str(String),
}

impl NumericId {
    /// Number when `id` parses as one, else the string.
    pub fn from_user_id(id: &str) -> Self {
        id.parse()
            .map(Self::Num)
            .unwrap_or_else(|_| Self::Str(id.to_owned()))
    }
}
