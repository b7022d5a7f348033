//! Membership change notifications: a dedicated connection that `LISTEN`s on
//! [`MEMBERS_CHANNEL`], fed by the `huddle_member_notify` triggers (migration `member_notify`).

use crate::StoreError;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use std::time::Duration;

/// The channel the triggers notify on.
pub const MEMBERS_CHANNEL: &str = "huddle_members";

/// What changed, as a notification names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// The members (or the name or avatar) of this conversation changed.
    Conversation(String),
    /// Any conversation may have changed (`TRUNCATE`).
    All,
}

impl MemberChange {
    /// The change a notification payload names.
    pub fn from_payload(payload: &str) -> Self {
        if payload == "*" {
            Self::All
        } else {
            Self::Conversation(payload.to_owned())
        }
    }
}

/// A connection listening for [`MemberChange`]s. Not pooled: it lives as long as the listener.
pub struct MemberListener {
    conn: AsyncPgConnection,
}

impl std::fmt::Debug for MemberListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberListener").finish_non_exhaustive()
    }
}

impl MemberListener {
    /// Connects to `database_url` and starts listening. Changes committed after this returns
    /// are delivered by [`MemberListener::next`].
    pub async fn connect(database_url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let mut conn = tokio::time::timeout(timeout, AsyncPgConnection::establish(database_url))
            .await
            .map_err(|_| StoreError::Timeout(timeout))??;
        tokio::time::timeout(
            timeout,
            diesel::sql_query(format!("LISTEN {MEMBERS_CHANNEL}")).execute(&mut conn),
        )
        .await
        .map_err(|_| StoreError::Timeout(timeout))??;
        Ok(Self { conn })
    }

    /// The next change, or `Ok(None)` when none arrived within `idle` (then call
    /// [`MemberListener::check`] to find out whether the connection is still alive). An error
    /// means the connection is gone: changes may have been missed.
    pub async fn next(&mut self, idle: Duration) -> Result<Option<MemberChange>, StoreError> {
        let mut stream = std::pin::pin!(self.conn.notifications_stream());
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => Ok(None),
            Ok(None) => Err(StoreError::Unavailable(
                "the listening connection closed".into(),
            )),
            Ok(Some(Err(e))) => Err(StoreError::Query(e)),
            Ok(Some(Ok(n))) if n.channel == MEMBERS_CHANNEL => {
                Ok(Some(MemberChange::from_payload(&n.payload)))
            }
            // Another channel (someone else's LISTEN on this session): not ours.
            Ok(Some(Ok(_))) => Ok(None),
        }
    }

    /// One `SELECT 1` round trip within `timeout`: a connection that no longer answers (a
    /// half-open TCP connection delivers no notifications and no error) is reported.
    pub async fn check(&mut self, timeout: Duration) -> Result<(), StoreError> {
        tokio::time::timeout(
            timeout,
            diesel::sql_query("SELECT 1").execute(&mut self.conn),
        )
        .await
        .map_err(|_| StoreError::Timeout(timeout))??;
        Ok(())
    }
}
