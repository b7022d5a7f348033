//! Start Huddle in-process on a free loopback port with the built-in demo directory.

use call_domain::MemoryDirectory;
use server::{Config, Huddle, HuddleHandle};

/// Base URL and handle of a running demo server (one worker, no auth, no metrics recorder).
pub async fn start() -> (String, HuddleHandle) {
    let directory = MemoryDirectory::from_json(server::DEMO_DIRECTORY).unwrap();
    let config = Config {
        workers: Some(1),
        webrtc_port: 0,
        auth: Some(server::AuthMode::None),
        ..Config::default()
    };
    let (router, handle) = Huddle::builder(config)
        .directory(directory)
        .install_metrics(false)
        .build()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, handle)
}
