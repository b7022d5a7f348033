//! `join`, `get_active_calls`, disconnect.

use super::{reply, reply_error};
use crate::ack::Ack;
use crate::app::App;
use call_domain::CallError;
use call_domain::Directory as _;
use serde_json::Value;
use signal_proto::errors;
use signal_proto::requests::JoinRequest;
use signal_proto::responses::{ActiveCall, ActiveCallsResponse, SuccessResponse};
use signal_proto::server_events::GroupCallError;
use socketioxide::socket::DisconnectReason;

/// `join(userId)`: bind the socket to the user; then, memory first, tell it about active
/// calls of its conversations (no directory query when no call is active anywhere).
pub async fn join(app: &App, sid: &str, data: Value, ack: Ack) {
    let user = match JoinRequest::decode(data) {
        Ok(u) => u,
        Err(e) => return reply_error(ack, e),
    };
    if !app.may_act_as(sid, &user) {
        return reply_error(ack, errors::IDENTITY_MISMATCH);
    }
    let active = {
        let mut st = app.state.lock();
        st.join(sid, &user);
        st.active_room_ids()
    };
    app.io.bind_user(sid, &user);
    let active = with_remote_rooms(app, active);
    tracing::info!(user = %user, "joined");
    reply(ack, &SuccessResponse::OK);
    if active.is_empty() {
        return;
    }
    match active_calls(app, &user, active).await {
        Ok(calls) => {
            let effect = app.state.lock().active_calls_event(sid, calls);
            app.apply(effect.into_iter().collect());
        }
        Err(e) => tracing::warn!(user = %user, error = %e, "active calls lookup failed on join"),
    }
}

async fn active_calls(
    app: &App,
    user: &str,
    active: Vec<String>,
) -> Result<Vec<ActiveCall>, call_domain::DirectoryError> {
    if active.is_empty() {
        return Ok(Vec::new());
    }
    let records = app.directory.member_conversations(user, &active).await?;
    let mut calls = app.state.lock().active_calls(&records, &app.display);
    if let Some(link) = &app.cluster {
        let remote = link.remote_active_calls(&records, &app.display, &calls);
        calls.extend(remote);
    }
    Ok(calls)
}

/// Cluster mode: the active rooms of the other nodes too (from the in-memory replica).
fn with_remote_rooms(app: &App, mut active: Vec<String>) -> Vec<String> {
    if let Some(link) = &app.cluster {
        for room in link.remote_room_ids() {
            if !active.contains(&room) {
                active.push(room);
            }
        }
    }
    active
}

/// `get_active_calls`: ack `{calls}` (possibly empty), or without ack the
/// `active_group_calls` event (skipped when empty, as after `join`).
pub async fn get_active_calls(app: &App, sid: &str, ack: Ack, has_ack: bool) {
    let (user, active) = {
        let st = app.state.lock();
        (st.user_of(sid).map(str::to_owned), st.active_room_ids())
    };
    let active = with_remote_rooms(app, active);
    let Some(user) = user else {
        if has_ack {
            return reply_error(ack, CallError::NotJoined);
        }
        tracing::info!("get_active_calls before join");
        let event = call_domain::OutEvent::GroupCallError(GroupCallError {
            message: errors::NOT_JOINED.into(),
        });
        app.apply(vec![call_domain::Effect::Emit {
            to: vec![sid.to_owned()],
            event,
        }]);
        return;
    };
    match active_calls(app, &user, active).await {
        Ok(calls) if has_ack => reply(ack, &ActiveCallsResponse { calls }),
        Ok(calls) => {
            let effect = app.state.lock().active_calls_event(sid, calls);
            app.apply(effect.into_iter().collect());
        }
        Err(_) => reply_error(ack, errors::DIRECTORY_UNAVAILABLE),
    }
}

/// The socket is gone: leave its room, forget its presence.
pub fn disconnect(app: &App, sid: &str, reason: DisconnectReason) {
    app.identities.lock().remove(sid);
    if let Some(link) = &app.cluster {
        crate::cluster_link::forward::socket_gone(link, sid);
    }
    let effects = app.state.lock().disconnect(sid);
    tracing::info!(?reason, "socket disconnected");
    app.apply(effects);
}
