//! HTTP routes: health, readiness, metrics, debug stats, the demo page and its data.

use crate::app::App;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use call_domain::Directory as _;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::services::{ServeDir, ServeFile};

/// Shared state of the HTTP routes.
#[derive(Clone)]
pub struct HttpState {
    /// The application.
    pub app: Arc<App>,
    /// Prometheus renderer, when this process owns the metrics recorder.
    pub metrics: Option<PrometheusHandle>,
    /// Users and conversations for the demo page (embedded directory only).
    pub demo: Arc<serde_json::Value>,
    /// The built demo page (`index.html` + `assets/`); `None`: the built-in placeholder.
    pub web_dir: Option<PathBuf>,
}

/// The HTTP routes (Socket.IO is layered on top by the builder).
pub fn routes(state: HttpState) -> Router {
    let router = Router::new();
    let router = match demo_files(state.web_dir.as_deref()) {
        Some(files) => router.merge(files),
        None => router.route("/", get(demo_page)),
    };
    router
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/debug/stats", get(debug_stats))
        .route("/api/demo/directory", get(demo_directory))
        .with_state(state)
}

/// Ready when not shutting down, at least one media worker is live (not dead and awaiting
/// its replacement) and the directory (database) answers.
async fn readyz(State(s): State<HttpState>) -> Response {
    if s.app.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down").into_response();
    }
    if s.app.sfu.live_workers() == 0 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no live media worker",
        )
            .into_response();
    }
    if let Some(link) = &s.app.cluster
        && !link.is_up()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: cluster unavailable (Redis unreachable)",
        )
            .into_response();
    }
    if let Err(e) = s.app.directory.ping().await {
        tracing::warn!(error = %e, "readiness: directory unreachable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: directory unreachable ({e})"),
        )
            .into_response();
    }
    (StatusCode::OK, "ready").into_response()
}

async fn metrics(State(s): State<HttpState>) -> Response {
    s.app.publish_gauges();
    match &s.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics recorder owned by the host").into_response(),
    }
}

async fn debug_stats(State(s): State<HttpState>) -> Json<serde_json::Value> {
    let (st, feed_up, changes, untrusted) = {
        let state = s.app.state.lock();
        (
            state.stats(),
            state.membership_feed_is_up(),
            state.membership_changes(),
            state.untrusted_rosters(),
        )
    };
    let sfu = s.app.sfu.stats().await;
    Json(json!({
        "sockets": st.sockets,
        "joinedUsers": st.joined_users,
        "rooms": st.rooms,
        "participants": st.participants,
        "transports": st.transports,
        "producers": st.producers,
        "consumers": st.consumers,
        "routers": sfu.routers,
        "mediaRooms": sfu.rooms,
        "workers": sfu.workers,
        "perWorker": sfu.per_worker,
        "directoryQueries": s.app.directory.queries(),
        // Whether active-call lookups are answered from memory (the membership feed is up).
        "membershipFeed": feed_up,
        // Membership change notifications seen (each one untrusts a roster until re-read).
        "membershipChanges": changes,
        // Active rooms whose lookups go to the directory until their roster is read (again).
        "untrustedRosters": untrusted,
        "cluster": s.app.cluster.as_ref().map(|c| c.stats(st.rooms)),
    }))
}

async fn demo_directory(State(s): State<HttpState>) -> Json<serde_json::Value> {
    Json((*s.demo).clone())
}

/// `/` and `/assets/*` from the built demo page, or `None` when `dir` is unset or not built.
fn demo_files(dir: Option<&std::path::Path>) -> Option<Router<HttpState>> {
    let dir = dir?;
    let index = dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(
            dir = %dir.display(),
            "no index.html in the web directory (build it with `cargo xtask run` or \
             `npm run build` in web/); serving the placeholder page"
        );
        return None;
    }
    tracing::info!(dir = %dir.display(), "serving the demo page");
    Some(
        Router::new()
            .route_service("/", ServeFile::new(index))
            .nest_service("/assets", ServeDir::new(dir.join("assets")))
            // Revalidate on every load, so a rebuilt bundle is picked up at once.
            .layer(axum::middleware::map_response(no_cache)),
    )
}

async fn no_cache(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn demo_page() -> Html<&'static str> {
    Html(include_str!("../assets/index.html"))
}
