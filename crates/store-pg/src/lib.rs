//! Huddle's PostgreSQL directory: the Threads tables (`"User"`, `"Conversation"`,
//! `"ConversationMember"`, as Threads' Prisma schema names them) read with diesel-async over a
//! bb8 connection pool.
//!
//! * [`PgDirectory`] implements [`call_domain::Directory`]; every method is one SQL statement
//!   (one round trip once the statement is prepared on the pooled connection).
//! * [`PgDirectory::remove_fcm_token`] removes a token FCM reported as unregistered.
//! * [`PgDirectory`] implements [`call_domain::CallHistory`] over Huddle's own tables
//!   `"HuddleCall"`, `"HuddleCallParticipant"` and `"HuddleDirectCall"`; reading a page of
//!   history is two statements, [`PgDirectory::direct_calls`] lists a user's 1:1 calls.
//! * [`run_migrations`] applies the embedded migrations from the workspace's `migrations/`
//!   directory; they are idempotent on a database where Prisma already created the tables.
//!
//! A database outage never panics: every call fails fast with a [`StoreError`] (mapped to
//! [`DirectoryError`] through the trait) within the configured timeouts, and the pool
//! reconnects by itself once the database is back.

mod error;
mod history;
mod pg_time;
mod schema;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use error::StoreError;
pub use history::MAX_CALLS_PAGE;

use async_trait::async_trait;
use call_domain::{ConversationRecord, Directory, DirectoryError, MemberView, Roster, UserRecord};
use diesel::prelude::*;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, PoolableConnection, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use schema::{conversation_members as cm, conversations as conv, users};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// The migrations in the workspace's `migrations/` directory, embedded at compile time.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Advisory lock key held while migrating, so that concurrently starting servers do not race.
const MIGRATION_LOCK: i64 = 0x4875_6464_6c65; // "Huddle"

/// Pool and timeout settings.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Maximum pooled connections.
    pub max_connections: u32,
    /// Time allowed to open one connection.
    pub connect_timeout: Duration,
    /// Time a request waits for a pooled connection before failing.
    pub acquire_timeout: Duration,
    /// Time allowed for one whole operation (acquire + query).
    pub query_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout: Duration::from_secs(3),
            acquire_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(3),
        }
    }
}

/// The PostgreSQL directory. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PgDirectory {
    pool: Pool<AsyncPgConnection>,
    options: PgOptions,
}

impl std::fmt::Debug for PgDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDirectory")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Row of the roster / member queries: the member's user columns and the conversation's.
type MemberRow = (
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<Value>,
    Option<String>,
    Option<String>,
);

impl PgDirectory {
    /// A directory over a pool for `database_url`. Opens no connection yet, so the server can
    /// start while the database is down (requests then fail until it is back).
    pub fn connect(database_url: &str, options: PgOptions) -> Self {
        let connect_timeout = options.connect_timeout;
        let mut config = ManagerConfig::<AsyncPgConnection>::default();
        // Cheap liveness check on checkout: a connection whose socket the server closed (restart,
        // pg_terminate_backend) is discarded without a round trip.
        config.recycling_method = RecyclingMethod::CustomFunction(Box::new(|conn| {
            let broken = conn.is_broken();
            Box::pin(async move {
                if broken {
                    Err(diesel::result::Error::BrokenTransactionManager)
                } else {
                    Ok(())
                }
            })
        }));
        config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            Box::pin(async move {
                match tokio::time::timeout(connect_timeout, AsyncPgConnection::establish(&url))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(diesel::ConnectionError::BadConnection(format!(
                        "connecting timed out after {connect_timeout:?}"
                    ))),
                }
            })
        });
        let manager = AsyncDieselConnectionManager::new_with_config(database_url, config);
        let pool = Pool::builder()
            .max_size(options.max_connections.max(1))
            .connection_timeout(options.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(300)))
            .test_on_check_out(true)
            .build_unchecked(manager);
        Self { pool, options }
    }

    /// The options this directory was built with.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// A pooled connection (fails after the acquire timeout while the database is down).
    async fn conn(&self) -> Result<PooledConnection<'_, AsyncPgConnection>, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            bb8::RunError::User(PoolError::ConnectionError(e)) => StoreError::Connection(e),
            bb8::RunError::User(PoolError::QueryError(e)) => StoreError::Query(e),
            bb8::RunError::TimedOut => StoreError::Unavailable(format!(
                "no connection within {:?}",
                self.options.acquire_timeout
            )),
        })
    }

    /// `work`, bounded by the query timeout.
    async fn timed<T>(
        &self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let timeout = self.options.query_timeout;
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(StoreError::Timeout(timeout)))
    }

    /// One `SELECT 1` round trip, bounded by the query timeout: is the database reachable?
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.timed(async {
            let mut conn = self.conn().await?;
            diesel::sql_query("SELECT 1").execute(&mut conn).await?;
            Ok(())
        })
        .await
    }

    /// Removes `token` from user `user_id`'s `"fcmToken"` array (FCM reported it unregistered).
    /// Returns whether a row changed.
    pub async fn remove_fcm_token(&self, user_id: &str, token: &str) -> Result<bool, StoreError> {
        let Some(uid) = parse_user_id(user_id) else {
            return Ok(false);
        };
        let changed = self
            .timed(async {
                let mut conn = self.conn().await?;
                let changed = diesel::sql_query(
                    r#"UPDATE "User" SET "fcmToken" = "fcmToken" - $2
                       WHERE "id" = $1 AND jsonb_typeof("fcmToken") = 'array'
                         AND jsonb_exists("fcmToken", $2)"#,
                )
                .bind::<diesel::sql_types::Int4, _>(uid)
                .bind::<diesel::sql_types::Text, _>(token)
                .execute(&mut conn)
                .await?;
                Ok(changed)
            })
            .await?;
        Ok(changed > 0)
    }

    /// Members (with user data) of `conversation_id`, optionally only `user_id`.
    async fn member_rows(
        &self,
        conversation_id: &str,
        user_id: Option<i32>,
    ) -> Result<Vec<MemberRow>, StoreError> {
        self.timed(async {
            let mut conn = self.conn().await?;
            let mut query = cm::table
                .left_join(users::table.on(users::id.nullable().eq(cm::user_id)))
                .left_join(conv::table.on(conv::id.eq(cm::conversation_id)))
                .filter(cm::conversation_id.eq(conversation_id))
                .filter(diesel::dsl::not(cm::is_deleted))
                .filter(cm::user_id.is_not_null())
                .select((
                    cm::user_id,
                    users::name.nullable(),
                    users::avatar.nullable(),
                    users::fcm_token.nullable(),
                    conv::name.nullable(),
                    conv::avatar.nullable(),
                ))
                .order(cm::id)
                .into_boxed();
            if let Some(uid) = user_id {
                query = query.filter(cm::user_id.eq(uid)).limit(1);
            }
            Ok(query.load::<MemberRow>(&mut conn).await?)
        })
        .await
    }
}

/// A Threads user id (an integer) from Huddle's string id; `None` when it is not one.
fn parse_user_id(id: &str) -> Option<i32> {
    id.trim().parse().ok()
}

/// The FCM tokens of a `"fcmToken"` value: a JSON array of strings (also accepted: a string
/// holding such an array). Empty strings, non-strings and duplicates are dropped.
pub fn fcm_tokens(value: Option<Value>) -> Vec<String> {
    let items = match value {
        Some(Value::Array(items)) => items,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let mut tokens: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if let Value::String(t) = item
            && !t.is_empty()
            && !tokens.contains(&t)
        {
            tokens.push(t);
        }
    }
    tokens
}

fn user_record(
    id: i32,
    name: Option<String>,
    avatar: Option<String>,
    fcm: Option<Value>,
) -> UserRecord {
    UserRecord {
        id: id.to_string(),
        name,
        avatar,
        fcm_tokens: fcm_tokens(fcm),
    }
}

#[async_trait]
impl Directory for PgDirectory {
    async fn ping(&self) -> Result<(), DirectoryError> {
        PgDirectory::ping(self).await.map_err(DirectoryError::from)
    }

    async fn roster(&self, conversation_id: &str) -> Result<Option<Roster>, DirectoryError> {
        let rows = self.member_rows(conversation_id, None).await?;
        let mut conversation = ConversationRecord {
            id: conversation_id.to_owned(),
            ..ConversationRecord::default()
        };
        let mut members: Vec<UserRecord> = Vec::with_capacity(rows.len());
        for (uid, name, avatar, fcm, conv_name, conv_avatar) in rows {
            conversation.name = conv_name;
            conversation.avatar = conv_avatar;
            let Some(uid) = uid else { continue };
            let id = uid.to_string();
            if members.iter().any(|m| m.id == id) {
                continue;
            }
            members.push(user_record(uid, name, avatar, fcm));
        }
        Ok((!members.is_empty()).then_some(Roster {
            conversation,
            members,
        }))
    }

    async fn member(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<Option<MemberView>, DirectoryError> {
        let Some(uid) = parse_user_id(user_id) else {
            return Ok(None);
        };
        let rows = self.member_rows(conversation_id, Some(uid)).await?;
        Ok(rows
            .into_iter()
            .next()
            .map(
                |(_, name, avatar, fcm, conv_name, conv_avatar)| MemberView {
                    user: user_record(uid, name, avatar, fcm),
                    conversation: ConversationRecord {
                        id: conversation_id.to_owned(),
                        name: conv_name,
                        avatar: conv_avatar,
                    },
                },
            ))
    }

    async fn member_conversations(
        &self,
        user_id: &str,
        conversation_ids: &[String],
    ) -> Result<Vec<ConversationRecord>, DirectoryError> {
        let Some(uid) = parse_user_id(user_id) else {
            return Ok(Vec::new());
        };
        if conversation_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, Option<String>, Option<String>)> = self
            .timed(async {
                let mut conn = self.conn().await?;
                let rows = cm::table
                    .left_join(conv::table.on(conv::id.eq(cm::conversation_id)))
                    .filter(cm::user_id.eq(uid))
                    .filter(cm::conversation_id.eq_any(conversation_ids))
                    .filter(diesel::dsl::not(cm::is_deleted))
                    .select((
                        cm::conversation_id,
                        conv::name.nullable(),
                        conv::avatar.nullable(),
                    ))
                    .distinct()
                    .load(&mut conn)
                    .await?;
                Ok(rows)
            })
            .await?;
        // In the order asked for (as the embedded directory answers).
        let mut records: Vec<ConversationRecord> = Vec::with_capacity(rows.len());
        for wanted in conversation_ids {
            if records.iter().any(|r| &r.id == wanted) {
                continue;
            }
            if let Some((id, name, avatar)) = rows.iter().find(|(id, _, _)| id == wanted) {
                records.push(ConversationRecord {
                    id: id.clone(),
                    name: name.clone(),
                    avatar: avatar.clone(),
                });
            }
        }
        Ok(records)
    }
}

/// Applies the pending embedded [`MIGRATIONS`] to `database_url` and returns the versions it
/// applied (empty when the schema was current). Holds an advisory lock while migrating, so
/// concurrent callers apply each migration once.
pub async fn run_migrations(
    database_url: &str,
    connect_timeout: Duration,
) -> Result<Vec<String>, StoreError> {
    let mut conn =
        tokio::time::timeout(connect_timeout, AsyncPgConnection::establish(database_url))
            .await
            .map_err(|_| StoreError::Timeout(connect_timeout))??;
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .execute(&mut conn)
        .await?;
    let mut wrapper: diesel_async::async_connection_wrapper::AsyncConnectionWrapper<
        AsyncPgConnection,
    > = conn.into();
    let applied = tokio::task::spawn_blocking(move || {
        let result = wrapper
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(|e| StoreError::Migration(e.to_string()));
        // The lock is also released when the connection closes (dropped below).
        let _ = diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")),
            &mut wrapper,
        );
        result
    })
    .await
    .map_err(|e| StoreError::Migration(format!("migration task failed: {e}")))??;
    for version in &applied {
        tracing::info!(%version, "applied migration");
    }
    Ok(applied)
}
