//! The server with `DATABASE_URL` against a real PostgreSQL (a throwaway cluster per test, see
//! `store_pg::test_support`): directory query counts seen through `GET /debug/stats`, FCM push
//! wiring end to end, and a database outage (errors to clients, the server stays up, and
//! recovers once the database is back, without a restart).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/fcm_mock.rs"]
mod fcm_mock;
#[path = "support/sio.rs"]
mod sio;

use clap::Parser as _;
use huddle::{Config, Huddle, HuddleHandle};
use serde_json::{Value, json};
use sio::Client;
use std::time::{Duration, Instant};
use store_pg::test_support::PgCluster;

const ROWS: &str = r#"
INSERT INTO "User" ("id", "name", "avatar", "fcmToken") VALUES
  (1, 'Alice', 'alice.png', '[]'),
  (2, 'Bob', NULL, '["gone-u2", "ok-u2"]'),
  (3, 'Carol', NULL, '["ok-u3"]'),
  (4, 'Dave', NULL, NULL);
INSERT INTO "Conversation" ("id", "name") VALUES ('c1', 'Team'), ('c2', 'Pair');
INSERT INTO "ConversationMember" ("conversationId", "userId") VALUES
  ('c1', 1), ('c1', 2), ('c1', 3), ('c2', 1), ('c2', 2);
"#;

struct Running {
    base: String,
    handle: HuddleHandle,
    http: reqwest::Client,
}

impl Running {
    /// `GET /debug/stats`.
    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/debug/stats", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET /debug/stats`'s `directoryQueries`.
    async fn queries(&self) -> u64 {
        self.stats().await["directoryQueries"].as_u64().unwrap()
    }

    /// `GET /debug/stats`'s `membershipFeed`.
    async fn feed(&self) -> bool {
        self.stats().await["membershipFeed"].as_bool().unwrap()
    }

    /// Waits until every active room's roster is trusted (`untrustedRosters` 0).
    async fn rosters_trusted(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stats = self.stats().await;
            if stats["untrustedRosters"] == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "rosters never trusted: {stats}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the membership feed is `up` (true) or down.
    async fn wait_feed(&self, up: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.feed().await != up {
            assert!(
                Instant::now() < deadline,
                "membership feed never became {up}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the membership feed is up and the notifications of the fixture's rows
    /// (inserted while the listener may already have been listening) were all seen: a
    /// notification that arrived during a roster read would make that read count twice.
    async fn feed_up(&self) {
        self.wait_feed(true).await;
        let mut seen = self.stats().await["membershipChanges"].as_u64().unwrap();
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < Duration::from_millis(300) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.stats().await["membershipChanges"].as_u64().unwrap();
            if now != seen {
                seen = now;
                quiet_since = Instant::now();
            }
        }
    }
}

/// A cluster with a migrated, seeded database, and Huddle serving it (migrating at start).
async fn start(config: impl FnOnce(&mut Config)) -> (PgCluster, String, Running) {
    let cluster = PgCluster::start().unwrap();
    let url = cluster.database("server").await.unwrap();
    // With a database, authentication must be chosen explicitly: `--auth none` (the
    // defaults where the flag does not exist).
    let base = Config::try_parse_from(["huddle", "--auth", "none", "--webrtc-port", "0"])
        .unwrap_or_default();
    let mut cfg = Config {
        workers: Some(1),
        ping_interval_ms: 60_000,
        ping_timeout_ms: 60_000,
        database_url: Some(url.clone()),
        db_timeout_ms: 1_000,
        ..base
    };
    config(&mut cfg);
    let (router, handle) = Huddle::builder(cfg)
        .install_metrics(false)
        .build()
        .await
        .unwrap();
    // The server applied the migrations; now the rows.
    let db = url.rsplit('/').next().unwrap().to_owned();
    cluster.batch(&db, ROWS).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let running = Running {
        base,
        handle,
        http: reqwest::Client::new(),
    };
    (cluster, db, running)
}

/// `get_active_calls` of a fresh socket of `user`.
async fn fresh_calls(base: &str, user: &str) -> Value {
    let mut c = joined(base, user).await;
    c.call("get_active_calls", json!({})).await
}

async fn joined(base: &str, user: &str) -> Client {
    let mut c = Client::connect(base).await;
    let ack = c.call("join", json!(user)).await;
    assert_eq!(ack["success"], true, "join ack: {ack}");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_costs_no_query_while_idle_nor_while_a_call_is_active() {
    let mock = fcm_mock::FcmMock::start().await;
    let account = tempfile_with(&mock.service_account_json());
    let (cluster, db, s) = start(|c| {
        c.fcm_service_account = Some(account.clone());
        c.fcm_endpoint = mock.base.clone();
    })
    .await;
    assert_eq!(s.queries().await, 0);
    s.feed_up().await;

    // No call anywhere: join is answered from memory.
    let mut alice = joined(&s.base, "1").await;
    let _bob_idle = joined(&s.base, "2").await;
    assert_eq!(s.queries().await, 0, "join while idle: 0 queries");

    // Alice starts a call: one roster query.
    let ack = alice.call("createRoom", json!({"roomId": "c1"})).await;
    assert!(ack.get("rtpCapabilities").is_some(), "createRoom: {ack}");
    assert_eq!(s.queries().await, 1);

    // A call is active: join is answered from the room's roster, kept true by the
    // membership feed: no query either.
    let before = s.queries().await;
    let mut carol = joined(&s.base, "3").await;
    let calls = carol.event("active_group_calls").await;
    assert_eq!(calls["calls"][0]["conversationId"], "c1", "{calls}");
    assert_eq!(
        calls["calls"][0]["conversationInfo"]["name"], "Team",
        "{calls}"
    );
    let ack = carol.call("get_active_calls", json!({})).await;
    assert_eq!(
        ack["calls"], calls["calls"],
        "the ack lists the same: {ack}"
    );
    let _dave = joined(&s.base, "4").await; // a member of nothing
    let ack = fresh_calls(&s.base, "4").await;
    assert_eq!(ack["calls"], json!([]), "{ack}");
    assert_eq!(
        s.queries().await,
        before,
        "join and get_active_calls while a call is active: 0 queries"
    );
    assert_eq!(s.handle.directory_queries(), before);

    // Ringing c2 from Bob's conversation with Alice: push to the other member (Bob) through
    // FCM; his unregistered token is removed from the database.
    let mut alice2 = joined(&s.base, "1").await;
    alice2
        .emit(
            "group_call_initiate",
            json!({"callerId": "1", "conversationId": "c2", "callType": "audio"}),
        )
        .await;
    let started = alice2.event("group_call_started").await;
    assert_eq!(started["conversationId"], "c2");
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.messages().len() < 2 {
        assert!(Instant::now() < deadline, "pushes: {:?}", mock.messages());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut tokens: Vec<_> = mock.messages().into_iter().map(|(t, _)| t).collect();
    tokens.sort();
    assert_eq!(tokens, ["gone-u2", "ok-u2"]);
    let data = &mock.messages()[0].1["message"]["data"];
    assert_eq!(data["title"], "Pair");
    assert_eq!(data["body"], "Alice is calling");
    let pg = store_pg::PgDirectory::connect(&cluster.url(&db), store_pg::PgOptions::default());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let bob = call_domain::Directory::member(&pg, "c2", "2")
            .await
            .unwrap()
            .unwrap();
        if bob.user.fcm_tokens == ["ok-u2"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "token not removed: {:?}",
            bob.user
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.handle.shutdown().await;
}

/// A database outage: clients get errors, the server stays up, and it recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_gives_errors_and_recovers_without_restart() {
    let (cluster, _db, s) = start(|_| {}).await;
    let ready = |http: reqwest::Client, base: String| async move {
        let r = http.get(format!("{base}/readyz")).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    };
    assert_eq!(ready(s.http.clone(), s.base.clone()).await.0, 200);
    let mut alice = joined(&s.base, "1").await;
    let ack = alice.call("createRoom", json!({"roomId": "c1"})).await;
    assert!(ack.get("rtpCapabilities").is_some(), "createRoom: {ack}");

    cluster.stop().unwrap();
    let mut bob = joined(&s.base, "2").await; // join still succeeds (lookup fails, logged)
    let started = Instant::now();
    let ack = bob.call("createRoom", json!({"roomId": "c2"})).await;
    let took = started.elapsed();
    eprintln!("createRoom during outage answered after {took:?}: {ack}");
    assert!(ack["error"].is_string(), "createRoom during outage: {ack}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    bob.emit(
        "group_call_initiate",
        json!({"callerId": "2", "conversationId": "c2"}),
    )
    .await;
    let err = bob.event("group_call_error").await;
    assert!(err["message"].is_string(), "{err}");
    let ack = bob.call("get_active_calls", json!(null)).await;
    assert!(
        ack["error"].is_string(),
        "get_active_calls during outage: {ack}"
    );
    let health = s
        .http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "server stays up");
    let (status, body) = ready(s.http.clone(), s.base.clone()).await;
    assert_eq!(status, 503, "not ready while the database is down: {body}");
    assert!(body.contains("directory unreachable"), "{body}");

    cluster.start_server().unwrap();
    let back = Instant::now();
    let deadline = back + Duration::from_secs(15);
    loop {
        let ack = bob.call("createRoom", json!({"roomId": "c2"})).await;
        if ack.get("rtpCapabilities").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "not recovered: {ack}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "recovered {:?} after the database came back",
        back.elapsed()
    );
    let ack = bob.call("get_active_calls", json!(null)).await;
    assert!(ack["calls"].is_array(), "{ack}");
    assert_eq!(
        ready(s.http.clone(), s.base.clone()).await.0,
        200,
        "ready again"
    );
    s.handle.shutdown().await;
}

/// Writes `content` to a fresh temp file and returns its path.
fn tempfile_with(content: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("huddle-sa-{}.json", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_calls_are_recorded_and_listed_by_the_admin_api() {
    let (_cluster, _db, s) = start(|c| c.admin_token = Some("tok".into())).await;
    let mut alice = joined(&s.base, "1").await;
    let mut bob = joined(&s.base, "2").await;
    for c in [&mut alice, &mut bob] {
        let ack = c.call("createRoom", json!({"roomId": "c1"})).await;
        assert!(ack.get("rtpCapabilities").is_some(), "{ack}");
    }
    bob.call("leaveRoom", json!({})).await;
    alice.call("leaveRoom", json!({})).await;
    let url = format!("{}/api/v1/conversations/c1/calls?limit=5", s.base);
    let deadline = Instant::now() + Duration::from_secs(10);
    let calls = loop {
        let body: Value = s
            .http
            .get(&url)
            .bearer_auth("tok")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let calls = body["calls"].as_array().cloned().unwrap_or_default();
        if !calls.is_empty() || Instant::now() > deadline {
            break calls;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(call["conversationId"], "c1");
    assert_eq!(call["startedBy"], "1");
    assert!(call["endedAt"].as_str().unwrap() >= call["startedAt"].as_str().unwrap());
    let users: Vec<&str> = call["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["userId"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["1", "2"]);
    let bob_row = &call["participants"][1];
    assert!(bob_row["leftAt"].as_str().unwrap() >= bob_row["joinedAt"].as_str().unwrap());
    // Without the token: 401.
    let status = s.http.get(&url).send().await.unwrap().status();
    assert_eq!(status, 401);
    let _ = &s.handle;
}

/// The conversation ids `user`'s `get_active_calls` lists (on the given socket).
async fn listed(c: &mut Client) -> Vec<String> {
    let ack = c.call("get_active_calls", json!({})).await;
    ack["calls"]
        .as_array()
        .unwrap_or_else(|| panic!("get_active_calls: {ack}"))
        .iter()
        .map(|c| c["conversationId"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `c`'s active calls until they are `want` (at most 2 s); returns how long it took.
async fn until_listed(c: &mut Client, want: &[&str]) -> Duration {
    let started = Instant::now();
    loop {
        let got = listed(c).await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A member removed from the conversation during a call stops seeing it at once (within the
/// notification's delay), a member added sees it, and a rename shows; lookups stay memory-only
/// once the changed roster is read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_during_a_call_are_seen_at_once() {
    let (cluster, db, s) = start(|_| {}).await;
    s.feed_up().await;
    let mut alice = joined(&s.base, "1").await;
    let ack = alice.call("createRoom", json!({"roomId": "c1"})).await;
    assert!(ack.get("rtpCapabilities").is_some(), "createRoom: {ack}");
    let mut bob = joined(&s.base, "2").await;
    let mut dave = joined(&s.base, "4").await;
    assert_eq!(listed(&mut bob).await, ["c1"]);
    assert!(listed(&mut dave).await.is_empty());

    cluster
        .batch(
            &db,
            r#"UPDATE "ConversationMember" SET "isDeleted" = true WHERE "conversationId" = 'c1' AND "userId" = 2"#,
        )
        .await
        .unwrap();
    let took = until_listed(&mut bob, &[]).await;
    eprintln!("removal seen after {took:?}");
    cluster
        .batch(
            &db,
            r#"INSERT INTO "ConversationMember" ("conversationId", "userId") VALUES ('c1', 4);
               UPDATE "Conversation" SET "name" = 'Renamed team' WHERE "id" = 'c1'"#,
        )
        .await
        .unwrap();
    let took = until_listed(&mut dave, &["c1"]).await;
    eprintln!("addition seen after {took:?}");
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let ack = dave.call("get_active_calls", json!({})).await;
        if ack["calls"][0]["conversationInfo"]["name"] == "Renamed team" {
            break;
        }
        assert!(Instant::now() < deadline, "rename not seen: {ack}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Settled: once the changed roster is read again (the rename may show earlier, through
    // the directory), lookups are answered from memory, and never flap back.
    s.rosters_trusted().await;
    let before = s.queries().await;
    for _ in 0..20 {
        assert!(listed(&mut bob).await.is_empty());
        assert_eq!(listed(&mut dave).await, ["c1"]);
    }
    assert_eq!(
        s.queries().await,
        before,
        "no query once the roster is read"
    );
    s.handle.shutdown().await;
}

/// While the membership listener is down, lookups query the database (and so stay correct);
/// once it is back, they are answered from memory again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_membership_listener_falls_back_to_queries() {
    let (cluster, db, s) = start(|_| {}).await;
    s.feed_up().await;
    let mut alice = joined(&s.base, "1").await;
    let ack = alice.call("createRoom", json!({"roomId": "c1"})).await;
    assert!(ack.get("rtpCapabilities").is_some(), "createRoom: {ack}");
    let mut bob = joined(&s.base, "2").await;
    assert_eq!(listed(&mut bob).await, ["c1"]);

    // Block the listener's reconnection (the database refuses new connections), then kill
    // its backend: the feed is down.
    cluster
        .batch(
            "postgres",
            &format!(r#"ALTER DATABASE "{db}" WITH ALLOW_CONNECTIONS false"#),
        )
        .await
        .unwrap();
    cluster
        .batch(
            "postgres",
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{db}' AND query LIKE 'LISTEN%'"
            ),
        )
        .await
        .unwrap();
    s.wait_feed(false).await;
    // The pooled connections still work: changes now are seen through queries.
    cluster
        .batch(
            "postgres",
            &format!(r#"ALTER DATABASE "{db}" WITH ALLOW_CONNECTIONS true"#),
        )
        .await
        .unwrap();
    let before = s.queries().await;
    assert_eq!(listed(&mut bob).await, ["c1"]);
    assert!(s.queries().await > before, "looked up in the database");

    // Back: memory again once every active room's roster is read again.
    s.feed_up().await;
    cluster
        .batch(
            &db,
            r#"UPDATE "ConversationMember" SET "isDeleted" = true WHERE "conversationId" = 'c1' AND "userId" = 2"#,
        )
        .await
        .unwrap();
    until_listed(&mut bob, &[]).await;
    s.rosters_trusted().await;
    let before = s.queries().await;
    for _ in 0..10 {
        assert!(listed(&mut bob).await.is_empty());
    }
    assert_eq!(
        s.queries().await,
        before,
        "memory again after the listener is back"
    );
    s.handle.shutdown().await;
}

/// A reconnect storm of lookups while the roster cannot be trusted (no membership listener):
/// every request is answered, none refused, with a handful of coalesced queries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_lookups_without_the_listener_is_answered_in_full() {
    let (_cluster, _db, s) = start(|c| {
        c.no_member_listener = true;
        c.db_max_connections = 2;
        c.max_events_per_second = 0;
    })
    .await;
    assert!(!s.feed().await);
    let mut alice = joined(&s.base, "1").await;
    let ack = alice.call("createRoom", json!({"roomId": "c1"})).await;
    assert!(ack.get("rtpCapabilities").is_some(), "createRoom: {ack}");
    let mut clients = Vec::new();
    for i in 0..40 {
        clients.push(joined(&s.base, ["2", "3", "4"][i % 3]).await);
    }
    let before = s.queries().await;
    let answers = futures::future::join_all(
        clients
            .iter_mut()
            .map(|c| c.call_many("get_active_calls", json!({}), 10)),
    )
    .await;
    let mut n = 0;
    for (i, acks) in answers.iter().enumerate() {
        let want: &[&str] = if i % 3 == 2 { &[] } else { &["c1"] };
        for ack in acks {
            n += 1;
            let got: Vec<&str> = ack["calls"]
                .as_array()
                .unwrap_or_else(|| panic!("refused: {ack}"))
                .iter()
                .map(|c| c["conversationId"].as_str().unwrap())
                .collect();
            assert_eq!(got, want, "{ack}");
        }
    }
    assert_eq!(n, 400);
    eprintln!("400 lookups: {} queries", s.queries().await - before);
    s.handle.shutdown().await;
}
