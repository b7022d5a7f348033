//! FCM HTTP v1 push against a local mock of Google's token and `messages:send` endpoints
//! (see `support/fcm_mock.rs`), and the UNREGISTERED cleanup in a real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/fcm_mock.rs"]
mod fcm_mock;

use call_domain::{PushRequest, UserRecord};
use fcm_mock::FcmMock;
use huddle::push::fcm::{FcmConfig, FcmSender, ServiceAccount};
use huddle::push::{PushSender, TokenStore};
use parking_lot::Mutex;
use serde_json::Value;
use signal_proto::{CallerInfo, ConversationInfo};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Records removed tokens.
#[derive(Default)]
struct Removed(Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl TokenStore for Removed {
    async fn remove_token(&self, user_id: &str, token: &str) {
        self.0.lock().push((user_id.to_owned(), token.to_owned()));
    }
}

fn sender(
    mock: &FcmMock,
    store: Arc<dyn TokenStore>,
    tune: impl FnOnce(&mut FcmConfig),
) -> FcmSender {
    let account = ServiceAccount::from_json(&mock.service_account_json(), "test").unwrap();
    let mut config = FcmConfig::new(account);
    config.endpoint = mock.base.clone();
    config.backoff = Duration::from_millis(10);
    tune(&mut config);
    FcmSender::new(config, store).unwrap()
}

fn user(id: &str, tokens: &[&str]) -> UserRecord {
    UserRecord {
        id: id.into(),
        name: Some(format!("User {id}")),
        avatar: None,
        fcm_tokens: tokens.iter().map(|t| (*t).to_owned()).collect(),
    }
}

fn request(recipients: Vec<UserRecord>) -> PushRequest {
    PushRequest {
        recipients,
        caller_id: "1".into(),
        call_type: "video".into(),
        conversation_id: "c1".into(),
        caller_info: CallerInfo {
            id: serde_json::from_value(serde_json::json!(1)).unwrap(),
            name: "Alice".into(),
            avatar: Some("https://cdn.test/a.png".into()),
        },
        conversation_info: ConversationInfo {
            id: "c1".into(),
            name: "Team".into(),
            avatar: None,
        },
    }
}

#[tokio::test]
async fn sends_the_threads_payload_with_one_cached_access_token() {
    let mock = FcmMock::start().await;
    let fcm = sender(&mock, Arc::new(Removed::default()), |_| {});
    fcm.send(request(vec![
        user("2", &["ok-2a", "ok-2b"]),
        user("3", &["ok-3"]),
    ]))
    .await;
    fcm.send(request(vec![user("4", &["ok-4"])])).await;
    assert_eq!(
        mock.token_fetches(),
        1,
        "access token cached across requests"
    );
    let claims = mock.recorded.token_requests.lock()[0].clone();
    assert_eq!(claims["iss"], fcm_mock::CLIENT_EMAIL);
    assert_eq!(claims["aud"], mock.token_uri());

    let messages = mock.messages();
    let mut tokens: Vec<_> = messages.iter().map(|(t, _)| t.clone()).collect();
    tokens.sort();
    assert_eq!(
        tokens,
        ["ok-2a", "ok-2b", "ok-3", "ok-4"],
        "one request per token"
    );
    let (_, body) = &messages[0];
    let message = &body["message"];
    assert_eq!(message["android"]["priority"], "high");
    assert!(message.get("notification").is_none(), "data-only message");
    let data = message["data"].as_object().unwrap();
    let mut keys: Vec<_> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "body",
            "conversationId",
            "data",
            "message",
            "success",
            "title",
            "type"
        ]
    );
    assert!(
        data.values().all(Value::is_string),
        "FCM data values are strings"
    );
    assert_eq!(data["type"], "group_call_initiate");
    assert_eq!(data["success"], "true");
    assert_eq!(data["title"], "Team");
    assert_eq!(data["body"], "Alice is calling");
    assert_eq!(data["message"], "Alice started a group call");
    assert_eq!(data["conversationId"], "c1");
    let inner = data["data"].as_str().unwrap();
    assert!(
        inner.starts_with(r#"{"callerId":"1","callType":"video","conversationId":"c1","#),
        "{inner}"
    );
    let inner: Value = serde_json::from_str(inner).unwrap();
    assert_eq!(
        inner,
        serde_json::json!({
            "callerId": "1", "callType": "video", "conversationId": "c1",
            "callerInfo": {"id": 1, "name": "Alice", "avatar": "https://cdn.test/a.png"},
            "conversationInfo": {"id": "c1", "name": "Team", "avatar": null},
        })
    );
    assert_eq!(fcm.stats().sent.load(Ordering::Relaxed), 4);
}

#[tokio::test]
async fn access_token_refetched_when_about_to_expire() {
    let mock = FcmMock::start().await;
    mock.recorded.expires_in.store(30, Ordering::Relaxed); // inside the refresh margin
    let fcm = sender(&mock, Arc::new(Removed::default()), |_| {});
    fcm.send(request(vec![user("2", &["ok-1"])])).await;
    fcm.send(request(vec![user("2", &["ok-1"])])).await;
    assert_eq!(mock.token_fetches(), 2);
}

#[tokio::test]
async fn rejected_access_token_is_refreshed_and_the_message_retried() {
    let mock = FcmMock::start().await;
    let fcm = sender(&mock, Arc::new(Removed::default()), |_| {});
    fcm.send(request(vec![user("2", &["expire-1"])])).await;
    assert_eq!(mock.attempts("expire-1"), 2);
    assert_eq!(mock.token_fetches(), 2);
    assert_eq!(fcm.stats().sent.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn unregistered_tokens_go_to_the_token_store() {
    let mock = FcmMock::start().await;
    let removed = Arc::new(Removed::default());
    let fcm = sender(&mock, removed.clone(), |_| {});
    fcm.send(request(vec![
        user("2", &["gone-1", "ok-1"]),
        user("3", &["gone-2"]),
    ]))
    .await;
    let mut got = removed.0.lock().clone();
    got.sort();
    assert_eq!(
        got,
        [
            ("2".to_owned(), "gone-1".to_owned()),
            ("3".to_owned(), "gone-2".to_owned())
        ]
    );
    assert_eq!(mock.attempts("gone-1"), 1, "not retried");
    assert_eq!(fcm.stats().unregistered.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn retries_429_and_5xx_with_backoff_then_gives_up() {
    let mock = FcmMock::start().await;
    let removed = Arc::new(Removed::default());
    let fcm = sender(&mock, removed.clone(), |c| c.max_retries = 3);
    let started = Instant::now();
    fcm.send(request(vec![user("2", &["flaky-1", "busy-1", "bad-1"])]))
        .await;
    let took = started.elapsed();
    assert_eq!(mock.attempts("flaky-1"), 3, "503, 503, 200");
    assert_eq!(mock.attempts("busy-1"), 4, "1 + 3 retries, then given up");
    assert_eq!(mock.attempts("bad-1"), 1, "400 is not retried");
    let stats = fcm.stats();
    assert_eq!(stats.sent.load(Ordering::Relaxed), 1);
    assert_eq!(stats.failed.load(Ordering::Relaxed), 2);
    assert!(removed.0.lock().is_empty(), "no token removed for 4xx/5xx");
    // flaky: 10 + 20 ms of backoff; busy honours `Retry-After: 0`.
    assert!(took >= Duration::from_millis(30), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn exponential_backoff_grows() {
    let mock = FcmMock::start().await;
    let fcm = sender(&mock, Arc::new(Removed::default()), |c| {
        c.max_retries = 2;
        c.backoff = Duration::from_millis(100);
    });
    let started = Instant::now();
    fcm.send(request(vec![user("2", &["flaky-9"])])).await;
    let took = started.elapsed();
    // 100 ms + 200 ms.
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert_eq!(fcm.stats().sent.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let mock = FcmMock::start().await;
    let fcm = Arc::new(sender(&mock, Arc::new(Removed::default()), |c| {
        c.concurrency = 2
    }));
    let tokens: Vec<String> = (0..8).map(|i| format!("slow-{i}")).collect();
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let a = fcm.send(request(vec![user("2", &refs[..4])]));
    let b = fcm.send(request(vec![user("3", &refs[4..])]));
    futures::future::join(a, b).await;
    assert_eq!(fcm.stats().sent.load(Ordering::Relaxed), 8);
    assert_eq!(mock.recorded.max_in_flight.load(Ordering::SeqCst), 2);
}

#[test]
fn service_account_errors_are_reported() {
    let err = ServiceAccount::from_json("{}", "sa.json").unwrap_err();
    assert!(err.to_string().contains("sa.json"), "{err}");
    let bad_key = serde_json::json!({
        "project_id": "p", "client_email": "e", "private_key": "not a key"
    });
    assert!(ServiceAccount::from_json(&bad_key.to_string(), "x").is_err());
    assert!(ServiceAccount::from_file(std::path::Path::new("/nonexistent/sa.json")).is_err());
}

/// UNREGISTERED → the token is removed from the user's `"fcmToken"` array in PostgreSQL.
#[tokio::test]
async fn unregistered_token_is_removed_from_the_database() {
    use call_domain::Directory;
    let cluster = store_pg::test_support::PgCluster::shared().unwrap();
    let url = cluster.database("fcm").await.unwrap();
    let db = url.rsplit('/').next().unwrap().to_owned();
    store_pg::run_migrations(&url, Duration::from_secs(5))
        .await
        .unwrap();
    cluster
        .batch(
            &db,
            r#"INSERT INTO "User" ("id", "name", "fcmToken") VALUES (1, 'Alice', '[]'),
                 (2, 'Bob', '["gone-b", "ok-b"]');
               INSERT INTO "Conversation" ("id", "name") VALUES ('c1', 'Team');
               INSERT INTO "ConversationMember" ("conversationId", "userId") VALUES ('c1', 1), ('c1', 2);"#,
        )
        .await
        .unwrap();
    let pg = store_pg::PgDirectory::connect(&url, store_pg::PgOptions::default());
    let mock = FcmMock::start().await;
    let fcm = sender(&mock, Arc::new(pg.clone()), |_| {});
    let roster = pg.roster("c1").await.unwrap().unwrap();
    let bob = roster.member("2").unwrap().clone();
    assert_eq!(bob.fcm_tokens, ["gone-b", "ok-b"]);
    fcm.send(request(vec![bob])).await;
    let bob = pg.member("c1", "2").await.unwrap().unwrap().user;
    assert_eq!(bob.fcm_tokens, ["ok-b"]);
}
