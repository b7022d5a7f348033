//! Graceful shutdown: clients are told (`server_shutdown`), rooms close as if everyone left,
//! readiness turns off.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/demo_server.rs"]
mod demo_server;
#[path = "support/sio.rs"]
mod sio;

use serde_json::json;
use sio::Client;

#[tokio::test]
async fn shutdown_tells_clients_and_closes_rooms() {
    let (base, handle) = demo_server::start().await;

    let mut alice = Client::connect(&base).await;
    let mut carol = Client::connect(&base).await;
    alice.call("join", json!("1")).await;
    carol.call("join", json!("3")).await;
    let a = alice
        .call("createRoom", json!({"roomId": "demo-team"}))
        .await;
    assert!(a["rtpCapabilities"].is_object(), "{a}");
    assert_eq!(handle.stats().rooms, 1);

    handle.shutdown().await;
    let notice = alice.event("server_shutdown").await;
    assert!(notice["reason"].is_string());
    let ended = carol.event("group_call_ended").await;
    assert_eq!(ended["conversationId"], "demo-team");
    let s = handle.stats();
    assert_eq!((s.rooms, s.participants), (0, 0));
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    for c in [alice, carol] {
        c.close().await;
    }
}
