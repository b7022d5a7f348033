//! The admin HTTP API (`/api/v1/...`, `docs/api.md`): list, end and moderate running calls,
//! read the call history. Every request needs `Authorization: Bearer <--admin-token>`;
//! without a configured token the API is not mounted at all.

use crate::HuddleHandle;
use crate::app::App;
use crate::control::ControlError;
use crate::events::rfc3339;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Error text of a missing or wrong bearer token.
pub const UNAUTHORIZED: &str = "Unauthorized";
/// Error text of the history endpoint on a server without a database.
pub const NO_HISTORY: &str = "Call history needs a database";

#[derive(Clone)]
struct AdminState {
    handle: HuddleHandle,
    token: Arc<str>,
}

/// The admin routes, or none without a token.
pub fn routes(app: Arc<App>, token: Option<String>) -> Router {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Router::new();
    };
    let state = AdminState {
        handle: HuddleHandle { app },
        token: token.into(),
    };
    Router::new()
        .route("/api/v1/calls", get(list_calls))
        .route("/api/v1/calls/{conversation_id}", delete(end_call))
        .route(
            "/api/v1/calls/{conversation_id}/participants/{user_id}",
            delete(remove_participant),
        )
        .route(
            "/api/v1/calls/{conversation_id}/participants/{user_id}/mute",
            post(mute),
        )
        .route(
            "/api/v1/conversations/{conversation_id}/calls",
            get(call_history),
        )
        .route(
            "/api/v1/calls/{conversation_id}/recording",
            post(start_recording).delete(stop_recording),
        )
        .route("/api/v1/recordings/{recording_id}", get(recording_info))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authorize(State(s): State<AdminState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(t) if same(t.as_bytes(), s.token.as_bytes()) => next.run(request).await,
        _ => {
            tracing::warn!(path = %request.uri().path(), "admin API: refused (bad or missing token)");
            error(StatusCode::UNAUTHORIZED, UNAUTHORIZED)
        }
    }
}

fn control_error(e: &ControlError) -> Response {
    let status = match e {
        ControlError::InvalidKind => StatusCode::BAD_REQUEST,
        _ => StatusCode::NOT_FOUND,
    };
    error(status, &e.to_string())
}

async fn list_calls(State(s): State<AdminState>) -> Response {
    let calls: Vec<_> = s
        .handle
        .active_calls()
        .into_iter()
        .map(|c| {
            json!({
                "conversationId": c.conversation_id,
                "startedAt": c.started_at.map(rfc3339),
                "participants": c.participants.iter().map(|p| json!({
                    "userId": p.user_id,
                    "socketId": p.socket_id,
                    "producers": p.producers.iter().map(|pr| json!({
                        "id": pr.id, "kind": pr.kind, "source": pr.source, "paused": pr.paused,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "calls": calls })).into_response()
}

async fn end_call(State(s): State<AdminState>, Path(conversation_id): Path<String>) -> Response {
    match s.handle.end_call(&conversation_id) {
        Ok(()) => Json(json!({ "success": true })).into_response(),
        Err(e) => control_error(&e),
    }
}

async fn remove_participant(
    State(s): State<AdminState>,
    Path((conversation_id, user_id)): Path<(String, String)>,
) -> Response {
    match s.handle.remove_participant(&conversation_id, &user_id) {
        Ok(()) => Json(json!({ "success": true })).into_response(),
        Err(e) => control_error(&e),
    }
}

/// The body of a mute: `{kind: "audio" | "video"}`.
#[derive(Debug, Deserialize)]
struct MuteBody {
    kind: String,
}

async fn mute(
    State(s): State<AdminState>,
    Path((conversation_id, user_id)): Path<(String, String)>,
    body: Result<Json<MuteBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return control_error(&ControlError::InvalidKind);
    };
    match s.handle.mute(&conversation_id, &user_id, &body.kind).await {
        Ok(paused) => Json(json!({ "success": true, "paused": paused })).into_response(),
        Err(e) => control_error(&e),
    }
}

/// `?limit=N` of the history endpoint (default 20, at most 100).
#[derive(Debug, Deserialize)]
struct HistoryQuery {
    limit: Option<usize>,
}

async fn call_history(
    State(s): State<AdminState>,
    Path(conversation_id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let Some(history) = s.handle.app.history.clone() else {
        return error(StatusCode::NOT_FOUND, NO_HISTORY);
    };
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    match history.calls(&conversation_id, limit).await {
        Ok(calls) => {
            let calls: Vec<_> = calls
                .into_iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "conversationId": c.conversation_id,
                        "startedBy": c.started_by,
                        "startedAt": rfc3339(c.started_at),
                        "endedAt": rfc3339(c.ended_at),
                        "participants": c.participants.iter().map(|p| json!({
                            "userId": p.user_id,
                            "joinedAt": rfc3339(p.joined_at),
                            "leftAt": rfc3339(p.left_at),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            Json(json!({ "calls": calls })).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "admin API: call history unavailable");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                signal_proto::errors::DIRECTORY_UNAVAILABLE,
            )
        }
    }
}

fn recording_error(e: &crate::recording::RecordingError) -> Response {
    use crate::recording::RecordingError as E;
    let status = match e {
        E::NotConfigured | E::NotAllowed => StatusCode::CONFLICT,
        E::CallNotFound | E::NotRecording | E::NotFound => StatusCode::NOT_FOUND,
        E::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, &e.to_string())
}

async fn start_recording(
    State(s): State<AdminState>,
    Path(conversation_id): Path<String>,
) -> Response {
    match s.handle.start_recording(&conversation_id).await {
        Ok(id) => Json(json!({ "recordingId": id })).into_response(),
        Err(e) => recording_error(&e),
    }
}

async fn stop_recording(
    State(s): State<AdminState>,
    Path(conversation_id): Path<String>,
) -> Response {
    match s.handle.stop_recording(&conversation_id).await {
        Ok(info) => {
            Json(json!({ "recordingId": info.recording_id, "files": info.files })).into_response()
        }
        Err(e) => recording_error(&e),
    }
}

async fn recording_info(State(s): State<AdminState>, Path(recording_id): Path<String>) -> Response {
    match s.handle.recording(&recording_id) {
        Ok(info) => Json(info).into_response(),
        Err(e) => recording_error(&e),
    }
}
