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

mod batch;
mod error;
mod history;
mod listen;
mod pg_time;
mod schema;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use error::StoreError;
pub use history::MAX_CALLS_PAGE;
pub use listen::{MEMBERS_CHANNEL, MemberChange, MemberListener};

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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    /// Time allowed for one query (or transaction) once it has its connection.
    pub query_timeout: Duration,
    /// The overload limit: while the database answers, a request waits for a pooled
    /// connection (or for a coalesced lookup) as long as fewer than this many requests wait;
    /// past it, requests are shed with a *busy* error ([`DirectoryError::is_busy`]).
    pub max_waiting: usize,
    /// The longest a request waits for a pooled connection while the database answers (the
    /// pool is busy, not down). While it is down, a request fails after `acquire_timeout`.
    pub busy_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout: Duration::from_secs(3),
            acquire_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(3),
            max_waiting: 100_000,
            busy_timeout: Duration::from_secs(30),
        }
    }
}

/// The PostgreSQL directory. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PgDirectory {
    pool: Pool<AsyncPgConnection>,
    options: PgOptions,
    health: Arc<Health>,
    lookups: Arc<batch::Lookups>,
}

/// Whether the database answers, as the pool last found out, and how many requests wait.
#[derive(Debug, Default)]
struct Health {
    /// The last connection attempt succeeded (or a query did since). False at start and after
    /// a failed connection attempt: requests then fail fast instead of queueing.
    up: AtomicBool,
    /// Requests waiting for a pooled connection.
    waiting: AtomicUsize,
}

/// Decrements [`Health::waiting`] when a waiting request stops waiting.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
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
        let health = Arc::new(Health::default());
        let setup_health = health.clone();
        config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            let health = setup_health.clone();
            Box::pin(async move {
                let result =
                    match tokio::time::timeout(connect_timeout, AsyncPgConnection::establish(&url))
                        .await
                    {
                        Ok(result) => result,
                        Err(_) => Err(diesel::ConnectionError::BadConnection(format!(
                            "connecting timed out after {connect_timeout:?}"
                        ))),
                    };
                health.up.store(result.is_ok(), Ordering::Relaxed);
                result
            })
        });
        let manager = AsyncDieselConnectionManager::new_with_config(database_url, config);
        let pool = Pool::builder()
            .max_size(options.max_connections.max(1))
            .connection_timeout(options.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(300)))
            .test_on_check_out(true)
            .build_unchecked(manager);
        Self {
            pool,
            lookups: Arc::new(batch::Lookups::default()),
            options,
            health,
        }
    }

    /// The options this directory was built with.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// A pooled connection. While the database answers, a request waits its turn (up to
    /// `busy_timeout`, and only while fewer than `max_waiting` requests wait: past that it is
    /// shed as busy); while it does not, it fails after the acquire timeout.
    async fn conn(&self) -> Result<PooledConnection<'_, AsyncPgConnection>, StoreError> {
        let waiting = self.health.waiting.fetch_add(1, Ordering::Relaxed) + 1;
        let _waiting = Waiting(&self.health.waiting);
        if waiting > self.options.max_waiting.max(1) {
            return Err(StoreError::Busy(waiting - 1));
        }
        let started = tokio::time::Instant::now();
        loop {
            match self.pool.get().await {
                Ok(conn) => return Ok(conn),
                Err(bb8::RunError::User(PoolError::ConnectionError(e))) => {
                    return Err(StoreError::Connection(e));
                }
                Err(bb8::RunError::User(PoolError::QueryError(e))) => {
                    return Err(StoreError::Query(e));
                }
                Err(bb8::RunError::TimedOut) => {
                    // Busy, not down: every connection is in use and the database answers.
                    let busy = AtomicBool::load(&self.health.up, Ordering::Relaxed)
                        && self.pool.state().connections > 0;
                    if busy && started.elapsed() < self.options.busy_timeout {
                        continue;
                    }
                    return Err(StoreError::Unavailable(format!(
                        "no connection within {:?}",
                        started.elapsed()
                    )));
                }
            }
        }
    }

    /// `work` on a pooled connection; the query timeout bounds `work`, not the wait for the
    /// connection (see [`PgDirectory::conn`]).
    async fn with_conn<T>(
        &self,
        work: impl AsyncFnOnce(&mut AsyncPgConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        let timeout = self.options.query_timeout;
        let result = tokio::time::timeout(timeout, work(&mut conn))
            .await
            .unwrap_or(Err(StoreError::Timeout(timeout)));
        if result.is_ok() {
            self.health.up.store(true, Ordering::Relaxed);
        }
        result
    }

    /// One `SELECT 1` round trip, bounded by the query timeout: is the database reachable?
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.with_conn(async |conn| {
            diesel::sql_query("SELECT 1").execute(&mut *conn).await?;
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
            .with_conn(async |conn| {
                let changed = diesel::sql_query(
                    r#"UPDATE "User" SET "fcmToken" = "fcmToken" - $2
                       WHERE "id" = $1 AND jsonb_typeof("fcmToken") = 'array'
                         AND jsonb_exists("fcmToken", $2)"#,
                )
                .bind::<diesel::sql_types::Int4, _>(uid)
                .bind::<diesel::sql_types::Text, _>(token)
                .execute(&mut *conn)
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
        self.with_conn(async |conn| {
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
            Ok(query.load::<MemberRow>(&mut *conn).await?)
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
        self.coalesced_member_conversations(uid, conversation_ids)
            .await
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
