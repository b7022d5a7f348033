//! The `huddle` binary.

use anyhow::Context;
use axum::serve::ListenerExt;
use huddle::config::Command;
use huddle::{Config, Huddle, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load()?;
    init_tracing(&config);
    if config.command == Some(Command::Migrate) {
        return huddle::migrate(&config).await;
    }
    if config.directory.is_none() && config.database().is_none() {
        tracing::info!("using the built-in demo directory (no database)");
    }
    let listen = config.listen;
    let (router, handle) = Huddle::builder(config).build().await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?
        // Signalling messages are small and latency-bound: no Nagle delay.
        .tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
        });
    tracing::info!(addr = %listen, "huddle listening on http://{listen}/");
    let shutdown_handle = handle.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let bounded = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                shutdown_handle.shutdown(),
            );
            let _ = bounded.await;
        })
        .await
        .context("serving")?;
    tracing::info!("bye");
    Ok(())
}
