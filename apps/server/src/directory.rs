//! A directory wrapper that counts queries (for metrics and the query-count guarantees).

use async_trait::async_trait;
use call_domain::{ConversationRecord, Directory, DirectoryError, MemberView, Roster};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts every query made through it, by kind.
pub struct CountingDirectory {
    inner: Arc<dyn Directory>,
    total: AtomicU64,
}

impl CountingDirectory {
    /// Wrap a directory.
    pub fn new(inner: Arc<dyn Directory>) -> Self {
        Self {
            inner,
            total: AtomicU64::new(0),
        }
    }

    /// Queries made so far.
    pub fn queries(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn count(&self, kind: &'static str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("huddle_directory_queries_total", "kind" => kind).increment(1);
    }

    fn outcome<T>(kind: &'static str, r: Result<T, DirectoryError>) -> Result<T, DirectoryError> {
        if let Err(e) = &r {
            tracing::warn!(query = kind, error = %e, "directory query failed");
            metrics::counter!("huddle_directory_errors_total", "kind" => kind).increment(1);
        }
        r
    }
}

#[async_trait]
impl Directory for CountingDirectory {
    async fn roster(&self, conversation_id: &str) -> Result<Option<Roster>, DirectoryError> {
        self.count("roster");
        Self::outcome("roster", self.inner.roster(conversation_id).await)
    }

    async fn member(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<Option<MemberView>, DirectoryError> {
        self.count("member");
        Self::outcome("member", self.inner.member(conversation_id, user_id).await)
    }

    async fn member_conversations(
        &self,
        user_id: &str,
        conversation_ids: &[String],
    ) -> Result<Vec<ConversationRecord>, DirectoryError> {
        self.count("active_calls");
        Self::outcome(
            "active_calls",
            self.inner
                .member_conversations(user_id, conversation_ids)
                .await,
        )
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        self.inner.ping().await
    }
}
