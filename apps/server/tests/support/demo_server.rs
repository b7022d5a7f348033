//! Start Huddle in-process on a free loopback port.

use call_domain::MemoryDirectory;
use huddle::{Config, Huddle, HuddleHandle};

/// Base URL and handle of a running demo server (built-in demo directory, one worker, no auth,
/// no metrics recorder).
#[allow(dead_code)]
pub async fn start() -> (String, HuddleHandle) {
    start_with(huddle::DEMO_DIRECTORY, false, |_| {}).await
}

/// Like [`start`], with `directory` (JSON), the global metrics recorder when `metrics` (once per
/// test process) and configuration changes applied by `tune`.
pub async fn start_with(
    directory: &str,
    metrics: bool,
    tune: impl FnOnce(&mut Config),
) -> (String, HuddleHandle) {
    let directory = MemoryDirectory::from_json(directory).unwrap();
    let mut config = Config {
        workers: Some(1),
        webrtc_port: 0,
        auth: Some(huddle::AuthMode::None),
        ..Config::default()
    };
    tune(&mut config);
    let (router, handle) = Huddle::builder(config)
        .directory(directory)
        .install_metrics(metrics)
        .build()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, handle)
}
