//! `join`, `get_active_calls`, disconnect.

use super::{reply, reply_error};
use crate::ack::Ack;
use crate::app::App;
use call_domain::Directory as _;
use call_domain::{CallError, MemoryAnswer};
use serde_json::Value;
use signal_proto::errors;
use signal_proto::requests::JoinRequest;
use signal_proto::responses::{ActiveCall, ActiveCallsResponse, SuccessResponse};
use signal_proto::server_events::GroupCallError;
use socketioxide::socket::DisconnectReason;

/// `join(userId)`: bind the socket to the user; then, memory first, tell it about active
/// calls of its conversations (no directory query when no call is active anywhere, nor when
/// every active room's roster is kept true by the membership feed).
pub async fn join(app: &App, sid: &str, data: Value, ack: Ack) {
    let user = match JoinRequest::decode(data) {
        Ok(u) => u,
        Err(e) => return reply_error(ack, e),
    };
    if !app.may_act_as(sid, &user) {
        return reply_error(ack, errors::IDENTITY_MISMATCH);
    }
    let known = {
        let mut st = app.state.lock();
        st.join(sid, &user);
        st.active_calls_from_memory(&user)
    };
    app.io.bind_user(sid, &user);
    tracing::info!(user = %user, "joined");
    reply(ack, &SuccessResponse::OK);
    match active_calls(app, &user, known).await {
        Ok(calls) => {
            let effect = app.state.lock().active_calls_event(sid, calls);
            app.apply(effect.into_iter().collect());
        }
        Err(e) => tracing::warn!(user = %user, error = %e, "active calls lookup failed on join"),
    }
}

/// `user`'s active calls: those memory answers for, plus a directory lookup of the active
/// rooms it cannot answer for (rooms without a trusted roster, rooms of other nodes).
async fn active_calls(
    app: &App,
    user: &str,
    known: MemoryAnswer,
) -> Result<Vec<ActiveCall>, call_domain::DirectoryError> {
    let MemoryAnswer { mut calls, unknown } = known;
    let unknown = with_remote_rooms(app, unknown);
    if unknown.is_empty() {
        return Ok(calls);
    }
    let records = app.directory.member_conversations(user, &unknown).await?;
    let local = app.state.lock().active_calls(&records, &app.display);
    calls.extend(local);
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
    let known = {
        let st = app.state.lock();
        st.user_of(sid)
            .map(|user| (user.to_owned(), st.active_calls_from_memory(user)))
    };
    let Some((user, known)) = known else {
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
    match active_calls(app, &user, known).await {
        Ok(calls) if has_ack => reply(ack, &ActiveCallsResponse { calls }),
        Ok(calls) => {
            let effect = app.state.lock().active_calls_event(sid, calls);
            app.apply(effect.into_iter().collect());
        }
        Err(e) => reply_error(ack, errors::directory(e.is_busy())),
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
