//! Mount Huddle inside another axum application.
//!
//! `cargo run -p huddle --example embed` then open http://127.0.0.1:8080/hello and connect a
//! Socket.IO client to http://127.0.0.1:8080.

use call_domain::MemoryDirectory;
use huddle::{Config, Huddle};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt::init();
    // Any `call_domain::Directory` works here: a database-backed one, or this in-memory one.
    let directory = MemoryDirectory::from_json(huddle::DEMO_DIRECTORY)?;
    let (huddle, handle) = Huddle::builder(Config::default())
        .directory(directory)
        .build()
        .await?;
    let app = axum::Router::new()
        .route(
            "/hello",
            axum::routing::get(|| async { "hello from the host app" }),
        )
        .merge(huddle);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    tracing::info!("embedded Huddle on http://127.0.0.1:8080");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            handle.shutdown().await;
        })
        .await?;
    Ok(())
}
