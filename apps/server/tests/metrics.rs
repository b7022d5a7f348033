//! `/metrics` end to end (its own test binary: the Prometheus recorder is process-global):
//! socket, room and per-worker media gauges, directory queries, push results from a local FCM
//! mock, and per-event latency histograms.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/demo_server.rs"]
mod demo_server;
#[path = "support/fcm_mock.rs"]
mod fcm_mock;
#[path = "support/sio.rs"]
mod sio;

use serde_json::json;
use sio::Client;
use std::time::{Duration, Instant};

const DIRECTORY: &str = r#"{
  "users": [
    {"id": 1, "name": "Alice", "fcmTokens": ["ok-alice"]},
    {"id": 2, "name": "Bob", "fcmTokens": ["ok-bob"]},
    {"id": 3, "name": "Carol", "fcmTokens": ["gone-carol"]}
  ],
  "conversations": [{"id": "c1", "name": "Team", "members": [1, 2, 3]}]
}"#;

/// The value of the sample `name` (with its labels, exactly as rendered), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn scrape(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Scrapes until `check` holds (pushes are sent by a background task).
async fn scrape_until(base: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(base).await;
        if check(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_cover_sockets_media_per_worker_directory_push_and_latency() {
    let mock = fcm_mock::FcmMock::start().await;
    let account =
        std::env::temp_dir().join(format!("huddle-metrics-sa-{}.json", std::process::id()));
    std::fs::write(&account, mock.service_account_json()).unwrap();
    let (base, handle) = demo_server::start_with(DIRECTORY, true, |c| {
        c.workers = Some(2);
        c.fcm_service_account = Some(account.clone());
        c.fcm_endpoint = mock.base.clone();
        c.fcm_token_uri = Some(mock.token_uri());
    })
    .await;

    let mut alice = Client::connect(&base).await;
    let mut bob = Client::connect(&base).await;
    alice.call("join", json!("1")).await;
    bob.call("join", json!("2")).await;
    // Ringing pushes to the members not online: Carol's token is unregistered.
    alice
        .emit(
            "group_call_initiate",
            json!({"callerId": "1", "conversationId": "c1", "callType": "video"}),
        )
        .await;
    bob.event("group_call_incoming").await;
    let ack = alice.call("createRoom", json!({"roomId": "c1"})).await;
    assert!(ack["rtpCapabilities"].is_object(), "{ack}");
    let send = alice.call("createTransport", json!({"type": "send"})).await;
    assert!(send["id"].is_string(), "{send}");
    alice.call("createTransport", json!({"type": "recv"})).await;

    let text = scrape_until(&base, |t| {
        sample(t, r#"huddle_push_total{outcome="unregistered"}"#).is_some()
    })
    .await;
    assert_eq!(sample(&text, "huddle_sockets"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "huddle_joined_users"), Some(2.0));
    assert_eq!(sample(&text, "huddle_rooms"), Some(1.0));
    assert_eq!(sample(&text, "huddle_participants"), Some(1.0));
    assert_eq!(sample(&text, "huddle_transports"), Some(2.0));
    // Per worker: both workers reported, the room's two transports on one of them.
    let transports: Vec<f64> = (0..2)
        .map(|w| {
            sample(
                &text,
                &format!(r#"huddle_worker_transports{{worker="{w}"}}"#),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(transports.iter().sum::<f64>(), 2.0, "{text}");
    assert!(
        transports.contains(&0.0),
        "one room lives on one worker: {transports:?}"
    );
    for w in 0..2 {
        for gauge in ["routers", "producers", "consumers"] {
            let name = format!(r#"huddle_worker_{gauge}{{worker="{w}"}}"#);
            assert!(sample(&text, &name).is_some(), "{name} missing:\n{text}");
        }
    }
    // Directory queries by kind, push outcomes, per-event latency.
    assert!(
        text.contains(r#"huddle_directory_queries_total{kind="#),
        "{text}"
    );
    assert!(
        sample(&text, r#"huddle_push_total{outcome="sent"}"#).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"huddle_push_total{outcome="unregistered"}"#),
        Some(1.0)
    );
    assert!(
        text.contains(r#"huddle_event_duration_seconds"#) && text.contains(r#"event="createRoom""#),
        "{text}"
    );

    alice.call("leaveRoom", json!({})).await;
    let text = scrape(&base).await;
    assert_eq!(sample(&text, "huddle_rooms"), Some(0.0), "{text}");
    for w in 0..2 {
        let name = format!(r#"huddle_worker_transports{{worker="{w}"}}"#);
        assert_eq!(sample(&text, &name), Some(0.0), "{name}:\n{text}");
    }
    alice.close().await;
    bob.close().await;
    handle.shutdown().await;
    let _ = std::fs::remove_file(account);
}
