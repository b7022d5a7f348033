//! The call history (`CallHistory` for `PgDirectory`) against a real PostgreSQL: a throwaway
//! cluster per test binary (see `store_pg::test_support`), a fresh database per test.
//!
//! Times round-trip exactly at microsecond precision (PostgreSQL's `timestamptz`); the
//! records here use microsecond times, and one test shows finer parts being truncated.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use call_domain::{CallHistory, CallRecord, DirectCallRecord, Directory, ParticipationRecord};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::MigrationHarness;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use store_pg::test_support::PgCluster;
use store_pg::{MAX_CALLS_PAGE, MIGRATIONS, PgDirectory, PgOptions, run_migrations};

const T: Duration = Duration::from_secs(5);

/// The call-history migration's version (its directory name without the separators).
const HISTORY_VERSION: &str = "20261201000000";
/// The membership-notify migration's version (the one after it).
const NOTIFY_VERSION: &str = "20261203000000";
const HISTORY_UP: &str = include_str!("../../../migrations/2026-12-01-000000_call_history/up.sql");
const HISTORY_TABLES: [&str; 3] = ["HuddleCall", "HuddleCallParticipant", "HuddleDirectCall"];

/// 2025-12-01T22:54:48.123456Z plus `ms` milliseconds (microsecond precision).
fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(1_764_629_688_123_456) + Duration::from_millis(ms)
}

/// Microseconds since the Unix epoch.
fn micros(t: SystemTime) -> i64 {
    i64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_micros()).unwrap()
}

fn part(user: &str, joined: u64, left: u64) -> ParticipationRecord {
    ParticipationRecord {
        user_id: user.to_owned(),
        joined_at: at(joined),
        left_at: at(left),
    }
}

fn call(id: &str, conversation: &str, start: u64, parts: Vec<ParticipationRecord>) -> CallRecord {
    CallRecord {
        id: id.to_owned(),
        conversation_id: conversation.to_owned(),
        started_by: <[_]>::first(&parts)
            .map_or("1", |p| p.user_id.as_str())
            .to_owned(),
        started_at: at(start),
        ended_at: at(start + 720_000),
        participants: parts,
    }
}

fn ids(calls: &[CallRecord]) -> Vec<&str> {
    calls.iter().map(|c| c.id.as_str()).collect()
}

/// A fresh, migrated database and a directory on it.
async fn migrated(prefix: &str) -> (String, PgDirectory) {
    let cluster = PgCluster::shared().unwrap();
    let url = cluster.database(prefix).await.unwrap();
    let applied = run_migrations(&url, T).await.unwrap();
    assert!(applied.contains(&HISTORY_VERSION.to_owned()), "{applied:?}");
    (
        url.clone(),
        PgDirectory::connect(&url, PgOptions::default()),
    )
}

#[derive(diesel::QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

/// The single text column `line` of every row of `sql`.
async fn lines(url: &str, sql: &str) -> Vec<String> {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    let rows: Vec<Line> = diesel::sql_query(sql).load(&mut conn).await.unwrap();
    rows.into_iter().map(|l| l.line).collect()
}

/// `"table"."column" type nullability` of the public tables, sorted.
async fn columns(url: &str) -> Vec<String> {
    lines(
        url,
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable AS line
         FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1",
    )
    .await
}

/// Every row of the Prisma tables, as JSON text.
async fn prisma_rows(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    for table in [
        "_prisma_migrations",
        "User",
        "Conversation",
        "ConversationMember",
    ] {
        let sql = format!(r#"SELECT row_to_json(t)::text AS line FROM "{table}" t ORDER BY 1"#);
        out.extend(
            lines(url, &sql)
                .await
                .into_iter()
                .map(|l| format!("{table}: {l}")),
        );
    }
    out
}

/// Threads' tables as its Prisma migrations create them (more columns than Huddle reads, its
/// bookkeeping table, a few rows).
const PRISMA_DDL: &str = r#"
CREATE TABLE "_prisma_migrations" (
    "id" VARCHAR(36) NOT NULL, "checksum" VARCHAR(64) NOT NULL, "migration_name" VARCHAR(255) NOT NULL,
    CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id"));
CREATE TABLE "User" (
    "id" SERIAL NOT NULL, "email" TEXT NOT NULL, "name" TEXT, "avatar" TEXT,
    "fcmToken" JSONB DEFAULT '[]',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id"));
CREATE TABLE "Conversation" (
    "id" TEXT NOT NULL, "name" TEXT, "avatar" TEXT, "isGroup" BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "Conversation_pkey" PRIMARY KEY ("id"));
CREATE TABLE "ConversationMember" (
    "id" SERIAL NOT NULL, "conversationId" TEXT NOT NULL, "userId" INTEGER,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false, "role" TEXT NOT NULL DEFAULT 'member',
    CONSTRAINT "ConversationMember_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "ConversationMember_conversationId_fkey" FOREIGN KEY ("conversationId")
        REFERENCES "Conversation"("id") ON DELETE RESTRICT ON UPDATE CASCADE);
INSERT INTO "_prisma_migrations" VALUES ('m1', 'abc', '20240101_init');
INSERT INTO "User" ("email", "name") VALUES ('a@x', 'Alice'), ('b@x', 'Bob');
INSERT INTO "Conversation" ("id", "name", "isGroup") VALUES ('clx1', 'Prisma group', true);
INSERT INTO "ConversationMember" ("conversationId", "userId", "role") VALUES
    ('clx1', 1, 'admin'), ('clx1', 2, 'member');
"#;

/// Reverts the newest applied migration (its `down.sql`) and returns its version.
async fn revert_last(url: &str) -> String {
    let conn = AsyncPgConnection::establish(url).await.unwrap();
    let mut wrapper: AsyncConnectionWrapper<AsyncPgConnection> = conn.into();
    tokio::task::spawn_blocking(move || {
        wrapper
            .revert_last_migration(MIGRATIONS)
            .map(|v| v.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn migration_adds_history_tables_to_a_prisma_database() {
    let cluster = PgCluster::shared().unwrap();
    let url = cluster.database("hist_prisma").await.unwrap();
    let db = url.rsplit('/').next().unwrap().to_owned();
    cluster.batch(&db, PRISMA_DDL).await.unwrap();
    let rows_before = prisma_rows(&url).await;
    let prisma_columns = columns(&url).await;
    assert_eq!(rows_before.len(), 6);

    let applied = run_migrations(&url, T).await.unwrap();
    assert!(applied.contains(&HISTORY_VERSION.to_owned()), "{applied:?}");
    assert!(
        run_migrations(&url, T).await.unwrap().is_empty(),
        "second run: nothing"
    );

    // The Prisma tables: every row and column kept, nothing added to them.
    assert_eq!(prisma_rows(&url).await, rows_before);
    let after = columns(&url).await;
    let prisma_after: Vec<&String> = after
        .iter()
        .filter(|c| !c.starts_with("__diesel_schema_migrations."))
        .filter(|c| {
            !HISTORY_TABLES
                .iter()
                .any(|t| c.starts_with(&format!("{t}.")))
        })
        .collect();
    assert_eq!(
        prisma_after,
        prisma_columns.iter().collect::<Vec<_>>(),
        "Prisma tables untouched"
    );
    // The new tables, column by column.
    let history: Vec<&str> = after
        .iter()
        .map(String::as_str)
        .filter(|c| c.starts_with("Huddle"))
        .collect();
    assert_eq!(
        history,
        [
            "HuddleCall.conversationId text NO",
            "HuddleCall.endedAt timestamp with time zone NO",
            "HuddleCall.id text NO",
            "HuddleCall.startedAt timestamp with time zone NO",
            "HuddleCall.startedBy text NO",
            "HuddleCallParticipant.callId text NO",
            "HuddleCallParticipant.joinedAt timestamp with time zone NO",
            "HuddleCallParticipant.leftAt timestamp with time zone NO",
            "HuddleCallParticipant.seq integer NO",
            "HuddleCallParticipant.userId text NO",
            "HuddleDirectCall.answered boolean NO",
            "HuddleDirectCall.answeredAt timestamp with time zone YES",
            "HuddleDirectCall.calleeId text NO",
            "HuddleDirectCall.callerId text NO",
            "HuddleDirectCall.endedAt timestamp with time zone NO",
            "HuddleDirectCall.id text NO",
            "HuddleDirectCall.reason text NO",
            "HuddleDirectCall.startedAt timestamp with time zone NO",
        ]
    );
    let indexes = lines(
        &url,
        "SELECT indexdef AS line FROM pg_indexes WHERE indexname LIKE 'Huddle%' ORDER BY 1",
    )
    .await;
    assert!(
        indexes.iter().any(|i| i.contains(
            r#"ON public."HuddleCall" USING btree ("conversationId", "startedAt" DESC)"#
        )),
        "{indexes:?}"
    );
    // The only foreign key of the new tables points at "HuddleCall", none at a Prisma table.
    let fks = lines(
        &url,
        "SELECT conrelid::regclass::text || ' -> ' || confrelid::regclass::text AS line
         FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text LIKE '%Huddle%'",
    )
    .await;
    assert_eq!(fks, [r#""HuddleCallParticipant" -> "HuddleCall""#]);

    // The up.sql itself is idempotent (e.g. if diesel's bookkeeping table was lost).
    cluster.batch(&db, HISTORY_UP).await.unwrap();
    assert_eq!(columns(&url).await, after);

    // A call for a conversation Threads does not know is fine (no foreign key to it).
    let dir = PgDirectory::connect(&url, PgOptions::default());
    let c = call("k1", "not-in-Conversation", 0, vec![part("1", 0, 10)]);
    dir.record_call(&c).await.unwrap();
    assert_eq!(dir.calls("not-in-Conversation", 5).await.unwrap(), [c]);
    // And Huddle still reads the Prisma tables.
    assert_eq!(dir.roster("clx1").await.unwrap().unwrap().members.len(), 2);
}

#[tokio::test]
async fn down_drops_only_the_history_tables_and_up_restores_them() {
    let cluster = PgCluster::shared().unwrap();
    let url = cluster.database("hist_down").await.unwrap();
    let db = url.rsplit('/').next().unwrap().to_owned();
    cluster.batch(&db, PRISMA_DDL).await.unwrap();
    run_migrations(&url, T).await.unwrap();
    let rows_before = prisma_rows(&url).await;
    let columns_migrated = columns(&url).await;

    // The migrations after it first (member_notify), then the history one.
    assert_eq!(revert_last(&url).await, NOTIFY_VERSION);
    assert_eq!(revert_last(&url).await, HISTORY_VERSION);
    let reverted = columns(&url).await;
    assert!(
        !reverted.iter().any(|c| c.starts_with("Huddle")),
        "{reverted:?}"
    );
    assert!(
        reverted
            .iter()
            .any(|c| c.starts_with("ConversationMember."))
    );
    assert_eq!(prisma_rows(&url).await, rows_before, "Prisma rows kept");

    // Upgrading a database that has only the first migration applies just the later ones.
    assert_eq!(
        run_migrations(&url, T).await.unwrap(),
        [HISTORY_VERSION, NOTIFY_VERSION]
    );
    assert_eq!(columns(&url).await, columns_migrated);
}

#[tokio::test]
async fn a_recorded_call_round_trips_exactly() {
    let (url, dir) = migrated("hist_roundtrip").await;
    let c = CallRecord {
        id: "0b6f7d4e-1c1a-4c63-9d7e-9f1f3a0e2b11".to_owned(),
        conversation_id: "clx9".to_owned(),
        started_by: "42".to_owned(),
        started_at: at(0),
        ended_at: at(725_001),
        participants: vec![
            part("42", 0, 725_001),
            part("7", 1_500, 60_000),
            part("é-ü 名前", 2_000, 3_000),
            part("7", 90_000, 725_001), // rejoined
        ],
    };
    dir.record_call(&c).await.unwrap();
    assert_eq!(
        dir.calls("clx9", 10).await.unwrap(),
        std::slice::from_ref(&c)
    );

    // Stored as the absolute instant (timestamptz, microseconds since the Unix epoch) …
    let stored = lines(
        &url,
        r#"SELECT (extract(epoch FROM "startedAt") * 1000000)::bigint::text AS line
           FROM "HuddleCall""#,
    )
    .await;
    assert_eq!(stored, [micros(at(0)).to_string()]);
    // … and a row another client wrote in its own time zone reads back as that instant.
    let db = url.rsplit('/').next().unwrap().to_owned();
    PgCluster::shared()
        .unwrap()
        .batch(
            &db,
            r#"SET TIME ZONE 'Asia/Kolkata';
               INSERT INTO "HuddleCall" VALUES
                 ('by-sql', 'clx8', '1', '2025-12-02 04:24:48.123456', '2025-12-02 04:36:48.123456')"#,
        )
        .await
        .unwrap();
    let by_sql = dir.calls("clx8", 1).await.unwrap().remove(0);
    assert_eq!(by_sql.started_at, at(0));
    assert_eq!(by_sql.ended_at, at(720_000));
    assert!(by_sql.participants.is_empty());
}

#[tokio::test]
async fn times_keep_microseconds_and_truncate_nanoseconds() {
    let (_, dir) = migrated("hist_precision").await;
    let mut c = call("p1", "c", 0, vec![part("1", 0, 1)]);
    c.started_at = at(0) + Duration::from_nanos(999);
    c.participants[0].joined_at = at(0) + Duration::from_nanos(1_999);
    dir.record_call(&c).await.unwrap();
    let back = dir.calls("c", 1).await.unwrap().remove(0);
    assert_eq!(back.started_at, at(0), "999 ns dropped");
    assert_eq!(
        back.participants[0].joined_at,
        at(0) + Duration::from_micros(1),
        "1.999 µs → 1 µs"
    );
    assert_eq!(back.ended_at, c.ended_at);
}

#[tokio::test]
async fn calls_are_newest_first_and_limited() {
    let (_, dir) = migrated("hist_order").await;
    // Recorded out of order; "b" and "e" start at the same instant (tie broken by id, desc).
    for (id, start) in [
        ("c", 3_000),
        ("a", 1_000),
        ("e", 5_000),
        ("b", 5_000),
        ("d", 4_000),
    ] {
        dir.record_call(&call(id, "conv", start, vec![part("1", start, start + 5)]))
            .await
            .unwrap();
    }
    dir.record_call(&call("other", "conv2", 9_000, vec![]))
        .await
        .unwrap();

    assert_eq!(
        ids(&dir.calls("conv", 10).await.unwrap()),
        ["e", "b", "d", "c", "a"]
    );
    assert_eq!(ids(&dir.calls("conv", 2).await.unwrap()), ["e", "b"]);
    assert_eq!(
        ids(&dir.calls("conv", 5).await.unwrap()),
        ["e", "b", "d", "c", "a"]
    );
    assert_eq!(ids(&dir.calls("conv", 0).await.unwrap()), ["e"], "0 → 1");
    assert_eq!(ids(&dir.calls("conv2", 10).await.unwrap()), ["other"]);
    assert!(dir.calls("nope", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn limit_is_capped_at_a_hundred() {
    let (_, dir) = migrated("hist_cap").await;
    for i in 0..(MAX_CALLS_PAGE as u64 + 3) {
        dir.record_call(&call(&format!("call-{i:03}"), "big", i * 1_000, vec![]))
            .await
            .unwrap();
    }
    let page = dir.calls("big", usize::MAX).await.unwrap();
    assert_eq!(page.len(), MAX_CALLS_PAGE);
    assert_eq!(page[0].id, "call-102", "newest first");
    assert_eq!(page[99].id, "call-003", "the three oldest left out");
}

#[tokio::test]
async fn participations_of_several_calls_do_not_mix() {
    let (_, dir) = migrated("hist_mix").await;
    let a = call("a", "conv", 0, vec![part("1", 0, 50), part("2", 10, 40)]);
    let b = call("b", "conv", 100, vec![part("3", 100, 150)]);
    let empty = call("empty", "conv", 200, vec![]);
    let c = call(
        "c",
        "conv",
        300,
        vec![
            part("1", 300, 310),
            part("4", 305, 400),
            part("1", 320, 400),
        ],
    );
    // Same participants in another conversation, recorded in between.
    let elsewhere = call(
        "x",
        "conv2",
        150,
        vec![part("1", 150, 160), part("2", 150, 160)],
    );
    for record in [&a, &b, &elsewhere, &empty, &c] {
        dir.record_call(record).await.unwrap();
    }
    let got = dir.calls("conv", 10).await.unwrap();
    assert_eq!(got, [c.clone(), empty, b, a]);
    assert_eq!(dir.calls("conv2", 10).await.unwrap(), [elsewhere]);
    // A page that leaves out older calls still carries the participations of the ones in it.
    assert_eq!(dir.calls("conv", 1).await.unwrap(), [c]);
}

#[tokio::test]
async fn participations_come_back_in_join_order() {
    let (_, dir) = migrated("hist_joinorder").await;
    let mut c = call(
        "j",
        "conv",
        0,
        vec![
            part("late", 30, 40),
            part("first", 0, 40),
            part("mid", 10, 40),
        ],
    );
    // Two joins at the same instant keep their recorded order.
    c.participants.push(part("tie-1", 20, 40));
    c.participants.push(part("tie-2", 20, 40));
    dir.record_call(&c).await.unwrap();
    let users: Vec<String> = dir.calls("conv", 1).await.unwrap()[0]
        .participants
        .iter()
        .map(|p| p.user_id.clone())
        .collect();
    assert_eq!(users, ["first", "mid", "tie-1", "tie-2", "late"]);
}

#[tokio::test]
async fn recording_a_call_twice_is_a_no_op() {
    let (_, dir) = migrated("hist_twice").await;
    let c = call("dup", "conv", 0, vec![part("1", 0, 10), part("2", 1, 10)]);
    dir.record_call(&c).await.unwrap();
    dir.record_call(&c).await.unwrap(); // a retry after a lost answer
    let mut changed = c.clone();
    changed.participants.push(part("3", 2, 10));
    dir.record_call(&changed).await.unwrap();
    assert_eq!(
        dir.calls("conv", 10).await.unwrap(),
        [c],
        "stored once, as first recorded"
    );
}

#[tokio::test]
async fn a_failed_participation_insert_leaves_no_call_behind() {
    let (_, dir) = migrated("hist_atomic").await;
    // PostgreSQL text cannot hold NUL: the second insert of the transaction fails.
    let bad = call(
        "bad",
        "conv",
        0,
        vec![part("1", 0, 5), part("nul\0user", 1, 5)],
    );
    let err = dir.record_call(&bad).await.unwrap_err();
    assert!(err.to_string().contains("query failed"), "{err}");
    assert!(
        dir.calls("conv", 10).await.unwrap().is_empty(),
        "rolled back"
    );
    // The id is free: the corrected record is stored.
    let good = call("bad", "conv", 0, vec![part("1", 0, 5)]);
    dir.record_call(&good).await.unwrap();
    assert_eq!(dir.calls("conv", 10).await.unwrap(), [good]);
}

#[tokio::test]
async fn direct_calls_are_stored() {
    let (url, dir) = migrated("hist_direct").await;
    let answered = DirectCallRecord {
        id: "d-answered".to_owned(),
        caller: "1".to_owned(),
        callee: "2".to_owned(),
        answered: true,
        started_at: at(0),
        answered_at: Some(at(4_250)),
        ended_at: at(600_000),
        reason: "hangup".to_owned(),
    };
    let missed = DirectCallRecord {
        id: "d-missed".to_owned(),
        caller: "2".to_owned(),
        callee: "3".to_owned(),
        answered: false,
        started_at: at(700_000),
        answered_at: None,
        ended_at: at(730_000),
        reason: "timeout".to_owned(),
    };
    dir.record_direct_call(&answered).await.unwrap();
    dir.record_direct_call(&missed).await.unwrap();
    dir.record_direct_call(&missed).await.unwrap(); // a retry: no duplicate

    assert_eq!(
        dir.direct_calls("2", 10).await.unwrap(),
        [missed.clone(), answered.clone()],
        "caller or callee, newest first"
    );
    assert_eq!(
        dir.direct_calls("1", 10).await.unwrap(),
        std::slice::from_ref(&answered)
    );
    assert_eq!(
        dir.direct_calls("3", 10).await.unwrap(),
        std::slice::from_ref(&missed)
    );
    assert_eq!(dir.direct_calls("2", 1).await.unwrap(), [missed]);
    assert!(dir.direct_calls("4", 10).await.unwrap().is_empty());

    // The rows as a chat app reads them.
    let rows = lines(
        &url,
        r#"SELECT concat_ws(' ', "id", "callerId", "calleeId", "answered",
                  coalesce(((extract(epoch FROM "answeredAt" - "startedAt") * 1000)::bigint)::text, 'null'),
                  (extract(epoch FROM "endedAt" - "startedAt") * 1000)::bigint, "reason") AS line
           FROM "HuddleDirectCall" ORDER BY "startedAt""#,
    )
    .await;
    assert_eq!(
        rows,
        [
            "d-answered 1 2 t 4250 600000 hangup",
            "d-missed 2 3 f null 30000 timeout"
        ]
    );
    // Group-call history is a different table.
    assert!(dir.calls("2", 10).await.unwrap().is_empty());
}

/// A stopped database gives errors quickly (no panic, no hang); the same directory works
/// again once it is back, and nothing half-written appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_is_an_error_not_a_hang() {
    let cluster = PgCluster::start().unwrap(); // own cluster: this test stops it
    let url = cluster.database("hist_outage").await.unwrap();
    run_migrations(&url, T).await.unwrap();
    let dir = PgDirectory::connect(&url, PgOptions::default());
    let before = call("before", "conv", 0, vec![part("1", 0, 5)]);
    dir.record_call(&before).await.unwrap();

    cluster.stop().unwrap();
    let during = call("during", "conv", 10, vec![part("1", 10, 15)]);
    let direct = DirectCallRecord {
        id: "dd".to_owned(),
        caller: "1".to_owned(),
        callee: "2".to_owned(),
        answered: false,
        started_at: at(0),
        answered_at: None,
        ended_at: at(1),
        reason: "cancelled".to_owned(),
    };
    let started = Instant::now();
    let err = dir.record_call(&during).await.unwrap_err();
    eprintln!("record_call error after {:?}: {err}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(4), "failed fast");
    let started = Instant::now();
    assert!(dir.record_direct_call(&direct).await.is_err());
    assert!(dir.calls("conv", 10).await.is_err());
    assert!(dir.direct_calls("1", 10).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "each failed fast"
    );

    cluster.start_server().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let got = loop {
        match dir.calls("conv", 10).await {
            Ok(calls) => break calls,
            Err(e) => {
                assert!(Instant::now() < deadline, "not recovered: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(
        got,
        std::slice::from_ref(&before),
        "nothing from the outage"
    );
    dir.record_call(&during).await.unwrap();
    assert_eq!(dir.calls("conv", 10).await.unwrap(), [during, before]);
}

/// A write that times out inside its transaction is rolled back, and its connection is not
/// handed out again mid-transaction (one pooled connection, so it would be).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_write_is_rolled_back() {
    let (url, _) = migrated("hist_timeout").await;
    let options = PgOptions {
        max_connections: 1,
        query_timeout: Duration::from_millis(500),
        ..PgOptions::default()
    };
    let dir = PgDirectory::connect(&url, options);
    dir.ping().await.unwrap();

    // Another session holds the participations table: the call row is inserted, then the
    // participations wait until the timeout fires.
    let mut locker = AsyncPgConnection::establish(&url).await.unwrap();
    locker
        .batch_execute(r#"BEGIN; LOCK TABLE "HuddleCallParticipant" IN ACCESS EXCLUSIVE MODE"#)
        .await
        .unwrap();
    let stuck = call("stuck", "conv", 0, vec![part("1", 0, 5)]);
    let started = Instant::now();
    let err = dir.record_call(&stuck).await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    locker.batch_execute("COMMIT").await.unwrap();

    let next = call("next", "conv", 10, vec![part("2", 10, 15)]);
    dir.record_call(&next).await.unwrap();
    // Committed for everyone (not inside a leftover transaction of the reused connection).
    let other = PgDirectory::connect(&url, PgOptions::default());
    assert_eq!(other.calls("conv", 10).await.unwrap(), [next]);
}
