//! Helpers shared by the peer-to-peer modes ([`crate::mesh`] and [`crate::direct`]): size limits
//! for relayed WebRTC blobs and id fields that clients spell in more than one way.

use crate::ids::IdLike;
use crate::requests::{PayloadError, check_id};
use serde_json::Value;

/// Largest relayed session description (`offer` / `answer`), serialised, in bytes.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Largest relayed ICE candidate, serialised, in bytes.
pub const MAX_CANDIDATE_BYTES: usize = 4 * 1024;
/// Longest display name accepted from a client (`userName`, `callerName`).
pub const MAX_NAME_LEN: usize = 128;
/// Most user ids accepted in one list (`targetUserIds`).
pub const MAX_ID_LIST: usize = 256;

/// Check a relayed WebRTC blob: present (not `null`), an object or a string, and at most `max`
/// bytes once serialised. The content itself is opaque to the server.
pub fn check_blob(field: &str, value: Option<&Value>, max: usize) -> Result<(), PayloadError> {
    let value = match value {
        None | Some(Value::Null) => return Err(PayloadError(format!("{field} required"))),
        Some(v) => v,
    };
    if !value.is_object() && !value.is_string() {
        return Err(PayloadError(format!(
            "{field} must be an object or a string"
        )));
    }
    let len = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
    if len > max {
        return Err(PayloadError(format!(
            "{field} is too large ({len} bytes, at most {max})"
        )));
    }
    Ok(())
}

/// Check an optional display name.
pub fn check_name(field: &str, name: Option<&str>) -> Result<(), PayloadError> {
    match name {
        Some(n) if n.chars().count() > MAX_NAME_LEN || n.chars().any(char::is_control) => {
            Err(PayloadError(format!(
                "{field} must be at most {MAX_NAME_LEN} printable characters"
            )))
        }
        _ => Ok(()),
    }
}

/// Check an optional id (string or number); `None` passes.
pub fn check_opt_id(field: &str, id: Option<&IdLike>) -> Result<(), PayloadError> {
    match id {
        Some(id) => check_id(field, &id.normalized()),
        None => Ok(()),
    }
}

/// One id given under either of two names (`targetUserId` / `to`): the normalised id, `None`
/// when both are absent, an error when both are present and differ.
pub fn either_id(
    names: (&str, &str),
    first: Option<&IdLike>,
    second: Option<&IdLike>,
) -> Result<Option<String>, PayloadError> {
    let a = first.map(IdLike::normalized);
    let b = second.map(IdLike::normalized);
    for (name, v) in [(names.0, &a), (names.1, &b)] {
        if let Some(v) = v {
            check_id(name, v)?;
        }
    }
    match (a, b) {
        (Some(a), Some(b)) if a != b => {
            Err(PayloadError(format!("{} and {} differ", names.0, names.1)))
        }
        (a, b) => Ok(a.or(b)),
    }
}

/// Check a list of ids (length and each element).
pub fn check_id_list(field: &str, ids: &[IdLike]) -> Result<(), PayloadError> {
    if ids.len() > MAX_ID_LIST {
        return Err(PayloadError(format!(
            "{field} has more than {MAX_ID_LIST} entries"
        )));
    }
    for id in ids {
        check_id(field, &id.normalized())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blobs() {
        assert!(check_blob("offer", None, 10).is_err());
        assert!(check_blob("offer", Some(&Value::Null), 10).is_err());
        assert!(check_blob("offer", Some(&json!(3)), 10).is_err());
        assert!(check_blob("offer", Some(&json!({"type": "offer"})), 100).is_ok());
        assert!(check_blob("offer", Some(&json!("x".repeat(100))), 50).is_err());
    }

    #[test]
    fn either_spelling() {
        let a = IdLike::Int(2);
        let b = IdLike::Str("2".into());
        let c = IdLike::Str("3".into());
        let n = ("targetUserId", "to");
        assert_eq!(either_id(n, Some(&a), None), Ok(Some("2".into())));
        assert_eq!(either_id(n, None, Some(&b)), Ok(Some("2".into())));
        assert_eq!(either_id(n, Some(&a), Some(&b)), Ok(Some("2".into())));
        assert!(either_id(n, Some(&a), Some(&c)).is_err());
        assert_eq!(either_id(n, None, None), Ok(None));
        assert!(either_id(n, Some(&IdLike::Str(String::new())), None).is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("userName", Some("Alice")).is_ok());
        assert!(check_name("userName", None).is_ok());
        assert!(check_name("userName", Some(&"x".repeat(200))).is_err());
        assert!(check_name("userName", Some("a\u{0}b")).is_err());
    }
}
