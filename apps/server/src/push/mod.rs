//! The push seam: ringing members through a notification service.
//!
//! [`PushSender`] is what the call flow hands [`PushRequest`]s to (from a spawned task, so a
//! push never blocks or fails a call). [`NoPush`] is the default; [`fcm::FcmSender`] delivers
//! through Firebase Cloud Messaging (HTTP v1). Tokens FCM reports as unregistered go to a
//! [`TokenStore`]: the PostgreSQL directory removes them from the user's `"fcmToken"` array,
//! [`LogTokens`] (embedded directory) only logs them.

pub mod fcm;

use call_domain::PushRequest;
use std::collections::BTreeMap;

/// Delivers call push notifications. Implementations must not block: they are called from a
/// spawned task and their failures never affect the call flow.
#[async_trait::async_trait]
pub trait PushSender: Send + Sync {
    /// Send `request` to every token of every recipient.
    async fn send(&self, request: PushRequest);
}

/// Push disabled: logs what would have been sent.
#[derive(Debug, Default)]
pub struct NoPush;

#[async_trait::async_trait]
impl PushSender for NoPush {
    async fn send(&self, request: PushRequest) {
        tracing::debug!(
            conversation = %request.conversation_id,
            recipients = request.recipients.len(),
            "push disabled; not sending"
        );
    }
}

/// Where tokens the push service rejected as unregistered are forgotten.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// Forget `token` of user `user_id`. Failures are logged by the implementation.
    async fn remove_token(&self, user_id: &str, token: &str);
}

/// A [`TokenStore`] that only logs (the embedded directory is read-only).
#[derive(Debug, Default)]
pub struct LogTokens;

#[async_trait::async_trait]
impl TokenStore for LogTokens {
    async fn remove_token(&self, user_id: &str, _token: &str) {
        tracing::info!(user = %user_id, "FCM token unregistered (no database: not removed)");
    }
}

#[async_trait::async_trait]
impl TokenStore for store_pg::PgDirectory {
    async fn remove_token(&self, user_id: &str, token: &str) {
        match self.remove_fcm_token(user_id, token).await {
            Ok(removed) => {
                tracing::info!(user = %user_id, removed, "removed unregistered FCM token");
            }
            Err(e) => {
                tracing::warn!(user = %user_id, error = %e, "could not remove unregistered FCM token");
            }
        }
    }
}

/// The FCM `data` map for `request`, exactly as the Threads server's `pushData`: every value a
/// string, `data` a JSON string of `{callerId, callType, conversationId, callerInfo,
/// conversationInfo}`.
pub fn push_data(request: &PushRequest) -> BTreeMap<String, String> {
    /// `data`, with the keys in the seed's order.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct CallData<'a> {
        caller_id: &'a str,
        call_type: &'a str,
        conversation_id: &'a str,
        caller_info: &'a signal_proto::CallerInfo,
        conversation_info: &'a signal_proto::ConversationInfo,
    }
    let caller = &request.caller_info.name;
    let data = serde_json::to_string(&CallData {
        caller_id: &request.caller_id,
        call_type: &request.call_type,
        conversation_id: &request.conversation_id,
        caller_info: &request.caller_info,
        conversation_info: &request.conversation_info,
    })
    .unwrap_or_default();
    BTreeMap::from([
        ("type".to_owned(), "group_call_initiate".to_owned()),
        ("success".to_owned(), "true".to_owned()),
        ("title".to_owned(), request.conversation_info.name.clone()),
        ("body".to_owned(), format!("{caller} is calling")),
        (
            "message".to_owned(),
            format!("{caller} started a group call"),
        ),
        ("conversationId".to_owned(), request.conversation_id.clone()),
        ("data".to_owned(), data),
    ])
}
