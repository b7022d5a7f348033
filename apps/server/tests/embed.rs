//! Huddle mounted as a library beside another route of a host axum application.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use call_domain::MemoryDirectory;
use huddle::{Config, Huddle};

#[tokio::test]
async fn huddle_mounts_beside_host_routes() {
    let directory = MemoryDirectory::from_json(huddle::DEMO_DIRECTORY).unwrap();
    let config = Config {
        workers: Some(1),
        webrtc_port: 0,
        ..Config::default()
    };
    let (huddle, handle) = Huddle::builder(config)
        .directory(directory)
        .install_metrics(false)
        .build()
        .await
        .unwrap();
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "host" }))
        .merge(huddle);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let hello = client.get(format!("{base}/hello")).send().await.unwrap();
    assert_eq!(hello.text().await.unwrap(), "host");
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Engine.IO v4 polling handshake: "0" open packet with a session id.
    let hs = client
        .get(format!("{base}/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        hs.starts_with("0{") && hs.contains("\"sid\""),
        "handshake: {hs}"
    );
    let stats: serde_json::Value = client
        .get(format!("{base}/debug/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["rooms"], 0);
    assert_eq!(handle.stats().rooms, 0);
    assert_eq!(handle.directory_queries(), 0);
    handle.shutdown().await;
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready once shutting down");
}

/// Cluster mode reaches the other nodes through the Socket.IO adapter: attaching to a host's
/// server with the local adapter is refused before anything starts (no Redis needed).
#[tokio::test]
async fn cluster_mode_refuses_a_local_adapter() {
    let config = Config {
        workers: Some(1),
        webrtc_port: 0,
        redis_url: Some("redis://127.0.0.1:1".into()),
        ..Config::default()
    };
    let (_layer, io) = socketioxide::SocketIo::new_layer();
    let error = match Huddle::builder(config)
        .install_metrics(false)
        .attach(&io)
        .await
    {
        Ok(_) => panic!("attached in cluster mode with the local adapter"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("huddle::ClusterAdapter"), "{error}");
}
