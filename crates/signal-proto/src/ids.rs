//! Ids that clients send either as strings or as numbers.

use serde::{Deserialize, Serialize};

/// A user id as sent by a client: `"42"` or `42`. Normalised to its decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
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

impl<'de> Deserialize<'de> for IdLike {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IdLikeVisitor)
    }
}

/// Takes a string or an integer; anything else is an error naming what an id may be.
struct IdLikeVisitor;

impl serde::de::Visitor<'_> for IdLikeVisitor {
    type Value = IdLike;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an id (a string or an integer)")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IdLike, E> {
        Ok(IdLike::Str(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<IdLike, E> {
        Ok(IdLike::Str(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IdLike, E> {
        Ok(IdLike::Int(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IdLike, E> {
        i64::try_from(v)
            .map(IdLike::Int)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
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
