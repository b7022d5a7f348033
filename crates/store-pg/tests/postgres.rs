//! store-pg against a real PostgreSQL: a throwaway cluster per test binary (see
//! `store_pg::test_support`), a fresh database per test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use call_domain::Directory;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::time::{Duration, Instant};
use store_pg::test_support::PgCluster;
use store_pg::{PgDirectory, PgOptions, run_migrations};

const T: Duration = Duration::from_secs(5);

/// How many migrations the workspace's `migrations/` directory holds (all apply to an empty
/// or a Prisma-created database).
fn migration_count() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("up.sql").is_file())
        .count()
}

/// Rows for the query tests (after the migrations created the tables).
const SEED: &str = r#"
INSERT INTO "User" ("id", "name", "avatar", "fcmToken") VALUES
  (1, 'Alice', 'alice.png', '["tok-a1", "tok-a2"]'),
  (2, 'Bob', NULL, '[]'),
  (3, NULL, NULL, NULL),
  (4, 'Dan', 'https://cdn/dan.png', '["tok-d", "", 7, "tok-d"]'),
  (5, 'Eve', NULL, '"[\"tok-e\"]"');
INSERT INTO "Conversation" ("id", "name", "avatar") VALUES
  ('c1', 'Team', 'team.png'),
  ('c2', NULL, NULL),
  ('c3', 'Deleted members only', NULL);
INSERT INTO "ConversationMember" ("conversationId", "userId", "isDeleted") VALUES
  ('c1', 1, false), ('c1', 2, false), ('c1', 3, false), ('c1', 4, true), ('c1', NULL, false),
  ('c2', 2, false), ('c2', 4, false), ('c2', 5, false), ('c2', 2, false),
  ('c3', 1, true);
"#;

async fn seeded(prefix: &str) -> (String, PgDirectory) {
    let cluster = PgCluster::shared().unwrap();
    let url = cluster.database(prefix).await.unwrap();
    let applied = run_migrations(&url, T).await.unwrap();
    assert_eq!(
        applied.len(),
        migration_count(),
        "every migration on an empty database"
    );
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, SEED)
        .await
        .unwrap();
    let dir = PgDirectory::connect(&url, PgOptions::default());
    (url, dir)
}

#[tokio::test]
async fn roster_lists_live_members_with_user_data() {
    let (_, dir) = seeded("roster").await;
    let r = dir.roster("c1").await.unwrap().unwrap();
    assert_eq!(r.conversation.id, "c1");
    assert_eq!(r.conversation.name.as_deref(), Some("Team"));
    assert_eq!(r.conversation.avatar.as_deref(), Some("team.png"));
    let ids: Vec<_> = r.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3"], "deleted and user-less rows excluded");
    let alice = r.member("1").unwrap();
    assert_eq!(alice.name.as_deref(), Some("Alice"));
    assert_eq!(alice.avatar.as_deref(), Some("alice.png"));
    assert_eq!(alice.fcm_tokens, ["tok-a1", "tok-a2"]);
    assert!(r.member("3").unwrap().fcm_tokens.is_empty());
    assert_eq!(r.member("3").unwrap().name, None);

    let r2 = dir.roster("c2").await.unwrap().unwrap();
    assert_eq!(r2.conversation.name, None);
    let ids: Vec<_> = r2.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["2", "4", "5"], "duplicate membership rows collapse");
    assert_eq!(
        r2.member("4").unwrap().fcm_tokens,
        ["tok-d"],
        "junk dropped"
    );
    assert_eq!(
        r2.member("5").unwrap().fcm_tokens,
        ["tok-e"],
        "string-encoded array"
    );

    assert_eq!(
        dir.roster("c3").await.unwrap(),
        None,
        "only deleted members"
    );
    assert_eq!(dir.roster("nope").await.unwrap(), None);
}

#[tokio::test]
async fn member_checks_one_membership() {
    let (_, dir) = seeded("member").await;
    let v = dir.member("c1", "1").await.unwrap().unwrap();
    assert_eq!(v.user.id, "1");
    assert_eq!(v.user.name.as_deref(), Some("Alice"));
    assert_eq!(v.user.fcm_tokens, ["tok-a1", "tok-a2"]);
    assert_eq!(v.conversation.name.as_deref(), Some("Team"));
    assert_eq!(v.conversation.avatar.as_deref(), Some("team.png"));
    assert!(dir.member("c1", "4").await.unwrap().is_none(), "deleted");
    assert!(
        dir.member("c1", "5").await.unwrap().is_none(),
        "not a member"
    );
    assert!(
        dir.member("c2", "2").await.unwrap().is_some(),
        "duplicate rows"
    );
    assert!(dir.member("nope", "1").await.unwrap().is_none());
    assert!(
        dir.member("c1", "alice").await.unwrap().is_none(),
        "not an id"
    );
}

#[tokio::test]
async fn member_conversations_filters_to_memberships() {
    let (_, dir) = seeded("active").await;
    let ids = |v: Vec<call_domain::ConversationRecord>| -> Vec<String> {
        v.into_iter().map(|c| c.id).collect()
    };
    let all = vec![
        "c2".to_owned(),
        "c1".to_owned(),
        "c3".to_owned(),
        "x".to_owned(),
    ];
    assert_eq!(
        ids(dir.member_conversations("2", &all).await.unwrap()),
        ["c2", "c1"]
    );
    assert_eq!(
        ids(dir.member_conversations("1", &all).await.unwrap()),
        ["c1"],
        "c3 deleted"
    );
    assert_eq!(
        ids(dir.member_conversations("4", &all).await.unwrap()),
        ["c2"]
    );
    let c1 = dir.member_conversations("1", &all).await.unwrap();
    assert_eq!(c1[0].name.as_deref(), Some("Team"));
    assert!(
        dir.member_conversations("9", &all)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(dir.member_conversations("1", &[]).await.unwrap().is_empty());
    assert!(
        dir.member_conversations("x", &all)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn remove_fcm_token_edits_the_array() {
    let (_, dir) = seeded("tokens").await;
    assert!(dir.remove_fcm_token("1", "tok-a1").await.unwrap());
    assert!(
        !dir.remove_fcm_token("1", "tok-a1").await.unwrap(),
        "already gone"
    );
    assert!(
        !dir.remove_fcm_token("3", "tok-a1").await.unwrap(),
        "NULL column"
    );
    assert!(
        !dir.remove_fcm_token("99", "tok").await.unwrap(),
        "no such user"
    );
    assert!(
        !dir.remove_fcm_token("bob", "tok").await.unwrap(),
        "not an id"
    );
    let alice = dir.member("c1", "1").await.unwrap().unwrap();
    assert_eq!(alice.user.fcm_tokens, ["tok-a2"]);
    assert!(dir.remove_fcm_token("1", "tok-a2").await.unwrap());
    let alice = dir.member("c1", "1").await.unwrap().unwrap();
    assert!(alice.user.fcm_tokens.is_empty());
}

#[tokio::test]
async fn migrations_on_empty_database_are_idempotent() {
    let cluster = PgCluster::shared().unwrap();
    let url = cluster.database("empty").await.unwrap();
    assert_eq!(
        run_migrations(&url, T).await.unwrap().len(),
        migration_count()
    );
    assert!(
        run_migrations(&url, T).await.unwrap().is_empty(),
        "second run: nothing"
    );
    let indexes = index_names(&url).await;
    assert!(indexes.contains(&"ConversationMember_userId_conversationId_idx".to_owned()));
    assert!(indexes.contains(&"ConversationMember_conversationId_userId_idx".to_owned()));
    // Concurrent starts: the advisory lock serialises them, each migration applies once.
    let url2 = cluster.database("concurrent").await.unwrap();
    let (a, b) = tokio::join!(run_migrations(&url2, T), run_migrations(&url2, T));
    assert_eq!(a.unwrap().len() + b.unwrap().len(), migration_count());
}

/// The tables as Threads' Prisma migrations create them (with more columns than Huddle reads,
/// an index Prisma declares under the name Huddle uses, and Prisma's own bookkeeping table).
const PRISMA_DDL: &str = r#"
CREATE TABLE "_prisma_migrations" (
    "id" VARCHAR(36) NOT NULL, "checksum" VARCHAR(64) NOT NULL, "migration_name" VARCHAR(255) NOT NULL,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id"));
CREATE TABLE "User" (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT,
    "avatar" TEXT,
    "fcmToken" JSONB DEFAULT '[]',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE TABLE "Conversation" (
    "id" TEXT NOT NULL,
    "name" TEXT,
    "avatar" TEXT,
    "isGroup" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Conversation_pkey" PRIMARY KEY ("id"));
CREATE TABLE "ConversationMember" (
    "id" SERIAL NOT NULL,
    "conversationId" TEXT NOT NULL,
    "userId" INTEGER,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "role" TEXT NOT NULL DEFAULT 'member',
    CONSTRAINT "ConversationMember_pkey" PRIMARY KEY ("id"));
CREATE INDEX "ConversationMember_userId_conversationId_idx" ON "ConversationMember"("userId", "conversationId");
ALTER TABLE "ConversationMember" ADD CONSTRAINT "ConversationMember_conversationId_fkey"
    FOREIGN KEY ("conversationId") REFERENCES "Conversation"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "ConversationMember" ADD CONSTRAINT "ConversationMember_userId_fkey"
    FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;
INSERT INTO "_prisma_migrations" ("id", "checksum", "migration_name") VALUES ('m1', 'abc', '20240101_init');
INSERT INTO "User" ("email", "name", "avatar", "fcmToken") VALUES
    ('a@x', 'Alice', 'a.png', '["t1"]'), ('b@x', 'Bob', NULL, '[]');
INSERT INTO "Conversation" ("id", "name", "isGroup") VALUES ('clx1', 'Prisma group', true);
INSERT INTO "ConversationMember" ("conversationId", "userId", "role") VALUES
    ('clx1', 1, 'admin'), ('clx1', 2, 'member');
"#;

#[tokio::test]
async fn migrations_on_a_prisma_database_keep_everything() {
    let cluster = PgCluster::shared().unwrap();
    let url = cluster.database("prisma").await.unwrap();
    let db = url.rsplit('/').next().unwrap().to_owned();
    cluster.batch(&db, PRISMA_DDL).await.unwrap();
    let before = snapshot(&url).await;
    let indexes_before = index_names(&url).await;

    assert_eq!(
        run_migrations(&url, T).await.unwrap().len(),
        migration_count()
    );
    assert!(run_migrations(&url, T).await.unwrap().is_empty());

    assert_eq!(snapshot(&url).await, before, "no row or column lost");
    let indexes_after = index_names(&url).await;
    for index in &indexes_before {
        assert!(indexes_after.contains(index), "index {index} kept");
    }
    assert!(indexes_after.contains(&"ConversationMember_conversationId_userId_idx".to_owned()));
    // And Huddle reads it.
    let dir = PgDirectory::connect(&url, PgOptions::default());
    let r = dir.roster("clx1").await.unwrap().unwrap();
    assert_eq!(r.conversation.name.as_deref(), Some("Prisma group"));
    assert_eq!(r.members.len(), 2);
    assert_eq!(r.member("1").unwrap().fcm_tokens, ["t1"]);
}

/// Every column of every row of the four tables, as text.
async fn snapshot(url: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    let mut out = Vec::new();
    for table in [
        "_prisma_migrations",
        "User",
        "Conversation",
        "ConversationMember",
    ] {
        let rows: Vec<Line> = diesel::sql_query(format!(
            r#"SELECT row_to_json(t)::text AS line FROM "{table}" t ORDER BY 1"#
        ))
        .load(&mut conn)
        .await
        .unwrap();
        out.extend(rows.into_iter().map(|l| format!("{table}: {}", l.line)));
    }
    assert!(out.len() >= 6);
    out
}

async fn index_names(url: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        indexname: String,
    }
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT indexname::text AS indexname FROM pg_indexes WHERE schemaname = 'public'",
    )
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|n| n.indexname).collect()
}

/// The database going away gives errors fast (no panic, no hang); the same directory works
/// again once it is back, whether the connections were terminated or the server restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fails_fast_and_recovers() {
    let cluster = PgCluster::start().unwrap(); // own cluster: this test stops it
    let url = cluster.database("outage").await.unwrap();
    let db = url.rsplit('/').next().unwrap().to_owned();
    run_migrations(&url, T).await.unwrap();
    cluster.batch(&db, SEED).await.unwrap();
    let dir = PgDirectory::connect(&url, PgOptions::default());
    assert!(dir.roster("c1").await.unwrap().is_some());

    // Connections terminated under the pool: the next query gets a fresh connection.
    cluster.terminate_connections(&db).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        dir.roster("c1").await.unwrap().is_some(),
        "after pg_terminate_backend"
    );

    // Server stopped: errors, quickly.
    cluster.stop().unwrap();
    {
        let started = Instant::now();
        let err = dir.roster("c1").await.unwrap_err();
        let took = started.elapsed();
        eprintln!("outage error after {took:?}: {err}");
        assert!(took < Duration::from_secs(4), "failed fast ({took:?})");
        assert!(dir.member_conversations("1", &["c1".into()]).await.is_err());
        assert!(dir.remove_fcm_token("1", "tok-a1").await.is_err());
    }

    // Back: the same directory recovers by itself.
    cluster.start_server().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match dir.roster("c1").await {
            Ok(Some(r)) => {
                assert_eq!(r.members.len(), 3);
                break;
            }
            other => {
                assert!(Instant::now() < deadline, "not recovered: {other:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let started = Instant::now();
    assert!(dir.member("c1", "1").await.unwrap().is_some());
    eprintln!("query after recovery took {:?}", started.elapsed());
}

#[tokio::test]
async fn migrate_against_a_dead_server_is_an_error() {
    let cluster = PgCluster::shared().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _ = cluster;
    let err = run_migrations(&format!("postgres://postgres@127.0.0.1:{port}/x"), T)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("connection"), "{err}");
}

/// Every committed membership change (and a conversation's rename) is notified with its
/// conversation id; a rolled-back one is not; `TRUNCATE` notifies every conversation.
#[tokio::test]
async fn membership_changes_are_notified() {
    use store_pg::{MemberChange, MemberListener};
    let (url, _dir) = seeded("notify").await;
    let mut listener = MemberListener::connect(&url, T).await.unwrap();
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    let exec = async |conn: &mut AsyncPgConnection, sql: &str| {
        diesel_async::SimpleAsyncConnection::batch_execute(conn, sql)
            .await
            .unwrap();
    };
    let next = async |l: &mut MemberListener| l.next(Duration::from_millis(500)).await.unwrap();

    exec(&mut conn, r#"UPDATE "ConversationMember" SET "isDeleted" = true WHERE "conversationId" = 'c1' AND "userId" = 2"#).await;
    assert_eq!(
        next(&mut listener).await,
        Some(MemberChange::Conversation("c1".into()))
    );
    exec(
        &mut conn,
        r#"INSERT INTO "ConversationMember" ("conversationId", "userId") VALUES ('c2', 1)"#,
    )
    .await;
    assert_eq!(
        next(&mut listener).await,
        Some(MemberChange::Conversation("c2".into()))
    );
    exec(
        &mut conn,
        r#"DELETE FROM "ConversationMember" WHERE "conversationId" = 'c3'"#,
    )
    .await;
    assert_eq!(
        next(&mut listener).await,
        Some(MemberChange::Conversation("c3".into()))
    );
    exec(
        &mut conn,
        r#"UPDATE "Conversation" SET "name" = 'Renamed' WHERE "id" = 'c2'"#,
    )
    .await;
    assert_eq!(
        next(&mut listener).await,
        Some(MemberChange::Conversation("c2".into()))
    );
    // Moving a membership to another conversation names both.
    exec(&mut conn, r#"UPDATE "ConversationMember" SET "conversationId" = 'c2' WHERE "conversationId" = 'c1' AND "userId" = 1"#).await;
    let mut moved = vec![next(&mut listener).await, next(&mut listener).await];
    moved.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        moved,
        [
            Some(MemberChange::Conversation("c1".into())),
            Some(MemberChange::Conversation("c2".into()))
        ]
    );
    // Rolled back: nothing; the listener is still alive.
    exec(&mut conn, r#"BEGIN; INSERT INTO "ConversationMember" ("conversationId", "userId") VALUES ('c1', 5); ROLLBACK;"#).await;
    assert_eq!(next(&mut listener).await, None);
    listener.check(T).await.unwrap();
    // A user's other columns are not a membership change.
    exec(
        &mut conn,
        r#"UPDATE "User" SET "name" = 'Al' WHERE "id" = 1"#,
    )
    .await;
    assert_eq!(next(&mut listener).await, None);
    exec(&mut conn, r#"TRUNCATE "ConversationMember""#).await;
    assert_eq!(next(&mut listener).await, Some(MemberChange::All));
}

/// A listener whose backend is terminated reports it (changes may be missed from then on).
#[tokio::test]
async fn a_lost_listener_connection_is_reported() {
    use store_pg::MemberListener;
    let cluster = PgCluster::shared().unwrap();
    let (url, _dir) = seeded("listenlost").await;
    let db = url.rsplit('/').next().unwrap().to_owned();
    let mut listener = MemberListener::connect(&url, T).await.unwrap();
    cluster.terminate_connections(&db).await.unwrap();
    let deadline = Instant::now() + T;
    loop {
        let lost = match listener.next(Duration::from_millis(200)).await {
            Err(_) => true,
            Ok(Some(change)) => panic!("unexpected {change:?}"),
            Ok(None) => listener.check(Duration::from_secs(1)).await.is_err(),
        };
        if lost {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lost connection was not reported"
        );
    }
}

/// Concurrent active-call lookups share a handful of queries, and each gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_are_coalesced() {
    let (_, dir) = seeded("coalesce").await;
    let asks: Vec<(&str, Vec<String>)> = (0..600)
        .map(|i| {
            let user = ["1", "2", "3", "4", "5", "x"][i % 6];
            let convs: Vec<String> = match i % 4 {
                0 => vec!["c1".into(), "c2".into()],
                1 => vec!["c2".into(), "c1".into(), "c3".into()],
                2 => vec!["c3".into()],
                _ => vec!["c2".into(), "nope".into(), "c2".into()],
            };
            (user, convs)
        })
        .collect();
    // The answers one by one.
    let mut expected = Vec::new();
    for (user, convs) in &asks {
        expected.push(dir.member_conversations(user, convs).await.unwrap());
    }
    let before = dir.lookup_queries();
    let answers = futures::future::join_all(
        asks.iter()
            .map(|(user, convs)| dir.member_conversations(user, convs)),
    )
    .await;
    let queries = dir.lookup_queries() - before;
    for (i, (answer, expected)) in answers.into_iter().zip(&expected).enumerate() {
        assert_eq!(&answer.unwrap(), expected, "lookup {i}: {:?}", asks[i]);
    }
    assert!(
        expected.iter().any(|e| e.len() == 2) && expected.iter().any(Vec::is_empty),
        "the cases differ"
    );
    eprintln!("600 concurrent lookups: {queries} queries");
    assert!(
        queries <= 12,
        "{queries} queries for 600 concurrent lookups"
    );
}

/// Holds an ACCESS EXCLUSIVE lock on "ConversationMember" for `hold`, so that queries on it
/// (and so the pooled connections running them) wait.
async fn hold_member_lock(url: &str, hold: Duration) -> tokio::task::JoinHandle<()> {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut conn,
        r#"BEGIN; LOCK TABLE "ConversationMember" IN ACCESS EXCLUSIVE MODE;"#,
    )
    .await
    .unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, "COMMIT")
            .await
            .unwrap();
    })
}

/// A busy pool is not a database outage: requests wait for a connection (longer than the
/// acquire timeout) and all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_queues_instead_of_failing() {
    let (url, _) = seeded("busy").await;
    let dir = PgDirectory::connect(
        &url,
        PgOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_millis(200),
            ..PgOptions::default()
        },
    );
    assert!(dir.member("c1", "1").await.unwrap().is_some());
    let release = hold_member_lock(&url, Duration::from_millis(1200)).await;
    let started = Instant::now();
    let answers = futures::future::join_all((0..8).map(|_| dir.member("c1", "1"))).await;
    let took = started.elapsed();
    release.await.unwrap();
    for answer in answers {
        assert!(answer.unwrap().is_some());
    }
    assert!(
        took >= Duration::from_millis(1000),
        "they waited for the lock ({took:?})"
    );
}

/// Past the overload limit, requests are shed with a *busy* error, not "unavailable"; the
/// others are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_overload_limit_requests_are_shed_as_busy() {
    let (url, _) = seeded("overload").await;
    let dir = PgDirectory::connect(
        &url,
        PgOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_millis(200),
            max_waiting: 3,
            ..PgOptions::default()
        },
    );
    assert!(dir.member("c1", "1").await.unwrap().is_some());
    let release = hold_member_lock(&url, Duration::from_millis(800)).await;
    let answers = futures::future::join_all((0..8).map(|_| dir.member("c1", "1"))).await;
    release.await.unwrap();
    let shed = answers.iter().filter(|a| a.is_err()).count();
    for answer in &answers {
        match answer {
            Ok(found) => assert!(found.is_some()),
            Err(e) => assert!(e.is_busy(), "{e}"),
        }
    }
    assert_eq!(shed, 4, "8 requests: one runs, 3 may wait: {answers:?}");
}
