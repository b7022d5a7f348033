//! Node identifiers.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ClusterError;

/// Longest accepted node id.
const MAX_LEN: usize = 64;

/// The identity of one Huddle node in the cluster (`--node-id`, or generated).
///
/// It appears in Redis keys and channel names (`huddle:node:{id}`), so it is restricted to
/// ASCII letters, digits, `-` and `_` (1 to 64 characters). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// Validates `id`.
    pub fn new(id: impl AsRef<str>) -> Result<Self, ClusterError> {
        let id = id.as_ref();
        let valid = !id.is_empty()
            && id.len() <= MAX_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(Arc::from(id)))
        } else {
            Err(ClusterError::Config(format!(
                "node id {id:?} must be 1 to {MAX_LEN} ASCII letters, digits, '-' or '_'"
            )))
        }
    }

    /// A fresh random id: `n` followed by 10 lowercase letters and digits (about 52 bits).
    pub fn generate() -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut id = String::with_capacity(11);
        id.push('n');
        for _ in 0..10 {
            id.push(char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]));
        }
        Self(Arc::from(id))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.0)
    }
}

impl AsRef<str> for NodeId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for NodeId {
    type Err = ClusterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::new(s.as_ref()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        assert!(NodeId::new("node-1_a").is_ok());
        assert!(NodeId::new("").is_err());
        assert!(NodeId::new("a:b").is_err());
        assert!(NodeId::new("a b").is_err());
        assert!(NodeId::new("*").is_err());
        assert!(NodeId::new("x".repeat(65)).is_err());
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = NodeId::generate();
        let b = NodeId::generate();
        assert_ne!(a, b);
        assert_eq!(NodeId::new(a.as_str()).ok(), Some(a.clone()));
        assert_eq!(a.as_str().len(), 11);
    }

    #[test]
    fn serde_rejects_invalid_ids() {
        let id: NodeId = serde_json::from_str("\"n1\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id.as_str(), "n1");
        assert!(serde_json::from_str::<NodeId>("\"a:b\"").is_err());
    }
}
