//! The push seam: ringing members through a notification service (FCM lives in its own issue).

use call_domain::PushRequest;

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
