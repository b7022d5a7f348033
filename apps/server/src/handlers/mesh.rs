//! Mesh (peer-to-peer) group calls (Threads seed `003_…`): `groupcall:join`, `groupcall:leave`,
//! `groupcall:invitation`, `groupcall:webrtc-offer|answer|ice-candidate`,
//! `groupcall:update-tracks`.
//!
//! Join is membership-checked through the directory like `createRoom` (roomId =
//! conversationId). Responses go to the callback when the client sent one, else as events;
//! errors as `{error}` or `groupcall:error {message}`.

use super::direct::{ErrorChannel, Responder, decode_or_fail};
use crate::ack::Ack;
use crate::app::App;
use call_domain::CallError;
use call_domain::Directory as _;
use serde_json::{Value, json};
use signal_proto::errors;
use signal_proto::mesh::{
    self as mc, MeshInvitationRequest, MeshJoinRequest, MeshLeaveRequest, MeshSignalRequest,
    SignalKind, UpdateTracksRequest,
};
use signal_proto::requests::decode;
use signal_proto::responses::SuccessResponse;

/// The mesh events a socket may send.
pub const EVENTS: &[&str] = &[
    mc::JOIN,
    mc::LEAVE,
    mc::INVITATION,
    mc::WEBRTC_OFFER,
    mc::WEBRTC_ANSWER,
    mc::WEBRTC_ICE_CANDIDATE,
    mc::UPDATE_TRACKS,
];

/// Route one mesh event.
pub async fn handle(app: &App, sid: &str, event: &str, data: Value, ack: Ack, has_ack: bool) {
    let r = Responder {
        app,
        sid,
        ack,
        has_ack,
        channel: ErrorChannel::Mesh,
    };
    match event {
        mc::JOIN => join(r, data).await,
        mc::LEAVE => leave(r, data),
        mc::INVITATION => invite(r, data).await,
        mc::WEBRTC_OFFER => relay(r, data, SignalKind::Offer),
        mc::WEBRTC_ANSWER => relay(r, data, SignalKind::Answer),
        mc::WEBRTC_ICE_CANDIDATE => relay(r, data, SignalKind::IceCandidate),
        mc::UPDATE_TRACKS => update_tracks(r, data),
        other => tracing::warn!(event = other, "no mesh handler"),
    }
}

/// `groupcall:join {roomId, tracks?}`: size check, membership check (one directory query),
/// then join; the joiner gets the participants with their track state.
async fn join(r: Responder<'_>, data: Value) {
    let req: MeshJoinRequest = decode_or_fail!(data, r);
    let room_id = req.room_id();
    let checked = r
        .app
        .state
        .lock()
        .check_mesh_join(r.sid, room_id.as_deref());
    let user = match checked {
        Ok(u) => u,
        Err(e) => return r.fail(e),
    };
    let room_id = room_id.unwrap_or_default();
    let member = match r.app.directory.member(&room_id, &user).await {
        Ok(Some(view)) => view.user,
        Ok(None) => return r.fail(CallError::NotInGroup),
        Err(e) => return r.fail(errors::directory(e.is_busy())),
    };
    let info = r.app.display.participant_info(&member);
    let joined =
        r.app
            .state
            .lock()
            .mesh_join(r.sid, &room_id, info, req.tracks.unwrap_or_default());
    match joined {
        Ok((view, effects)) => {
            tracing::info!(room = %room_id, user = %user, "joined mesh room");
            r.app.apply(effects);
            r.respond(view);
        }
        Err(e) => r.fail(e),
    }
}

/// `groupcall:leave {roomId?}`.
fn leave(r: Responder<'_>, data: Value) {
    let req: MeshLeaveRequest = decode_or_fail!(data, r);
    let room_id = req.room_id();
    let left = r.app.state.lock().mesh_leave(r.sid, room_id.as_deref());
    match left {
        Ok(effects) => {
            tracing::info!(room = ?room_id, "left mesh room");
            r.app.apply(effects);
            r.ok(&SuccessResponse::OK);
        }
        Err(e) => r.fail(e),
    }
}

/// `groupcall:invitation {roomId, callType?, targetUserIds?}`: ring members on all their
/// sockets (`groupcall:invitation` with caller and conversation info). Ack
/// `{success, invited}`.
async fn invite(r: Responder<'_>, data: Value) {
    let req: MeshInvitationRequest = decode_or_fail!(data, r);
    let Some(room_id) = req.room_id() else {
        return r.fail(CallError::RoomIdRequired);
    };
    if r.app.state.lock().user_of(r.sid).is_none() {
        return r.fail(CallError::JoinFirst);
    }
    let roster = match r.app.directory.roster(&room_id).await {
        Ok(Some(roster)) => roster,
        Ok(None) => return r.fail(CallError::NotInGroup),
        Err(e) => return r.fail(errors::directory(e.is_busy())),
    };
    let targets = req.targets();
    let invited = r.app.state.lock().mesh_invite(
        r.sid,
        &roster,
        req.call_type(),
        targets.as_deref(),
        &r.app.display,
    );
    match invited {
        Ok((count, effects)) => {
            tracing::info!(room = %room_id, invited = count, "mesh invitation sent");
            r.app.apply(effects);
            r.ok(&json!({"success": true, "invited": count}));
        }
        Err(e) => r.fail(e),
    }
}

/// `groupcall:webrtc-offer|answer|ice-candidate`: relayed only to the target's sockets in the
/// sender's mesh room, with `senderId` / `senderSocketId` added.
fn relay(r: Responder<'_>, data: Value, kind: SignalKind) {
    let mut req: MeshSignalRequest = decode_or_fail!(data, r);
    let blob = match req.take_blob(kind) {
        Ok(b) => b,
        Err(e) => return r.fail(e),
    };
    let result = r.app.state.lock().mesh_relay(
        r.sid,
        req.room_id().as_deref(),
        req.target().as_deref(),
        req.target_socket_id.as_deref(),
        kind,
        blob,
    );
    match result {
        Ok(effects) => {
            tracing::debug!(event = kind.event(), target = ?req.target(), "mesh signal relayed");
            r.app.apply(effects);
            r.ok(&SuccessResponse::OK);
        }
        Err(e) => r.fail(e),
    }
}

/// `groupcall:update-tracks {roomId?, tracks}` → `groupcall:tracks-updated` to the others.
fn update_tracks(r: Responder<'_>, data: Value) {
    let req: UpdateTracksRequest = decode_or_fail!(data, r);
    let result = r
        .app
        .state
        .lock()
        .mesh_update_tracks(r.sid, req.room_id().as_deref(), req.tracks);
    match result {
        Ok(effects) => {
            tracing::debug!(tracks = ?req.tracks, "mesh tracks updated");
            r.app.apply(effects);
            r.ok(&SuccessResponse::OK);
        }
        Err(e) => r.fail(e),
    }
}
