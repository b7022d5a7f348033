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
    raise_nofile_limit();
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

/// Open files Huddle asks for: each socket is one file descriptor.
const NOFILE_WANTED: u64 = 1 << 20;
/// Below this many, the operator is told the hard limit caps the connections.
const NOFILE_LOW: u64 = 131_072;

/// Raise `RLIMIT_NOFILE` to [`NOFILE_WANTED`] (the hard limit too when privileged, else the
/// soft limit up to the hard one), and say so when the hard limit caps the connections.
fn raise_nofile_limit() {
    // A privileged process (root, CAP_SYS_RESOURCE) may raise the hard limit too.
    let _ = rlimit::Resource::NOFILE.set(NOFILE_WANTED, NOFILE_WANTED);
    match rlimit::increase_nofile_limit(NOFILE_WANTED) {
        Ok(limit) if limit < NOFILE_LOW => tracing::warn!(
            limit,
            "the open-file limit caps connections at about {limit}: raise the hard \
             RLIMIT_NOFILE (ulimit -Hn, systemd LimitNOFILE=) for more"
        ),
        Ok(limit) => tracing::info!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
}
