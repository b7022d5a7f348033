//! `startRecording` / `stopRecording` (Huddle additions, `docs/recording.md`): participants
//! record their own room when the server allows it (`--allow-participant-recording`).

use super::{reply, reply_error};
use crate::ack::Ack;
use crate::app::App;
use crate::recording::{self, RecordingError};
use call_domain::CallError;
use serde_json::{Value, json};
use signal_proto::requests::{CreateRoomRequest, decode};
use std::sync::Arc;

/// The socket's own room named by `{roomId}`, or the error to answer.
fn own_room(app: &App, sid: &str, data: Value) -> Result<String, String> {
    if !app.recordings.participants_may_record() {
        return Err(RecordingError::NotAllowed.to_string());
    }
    // The same `{roomId}` payload and checks as `createRoom`.
    let req: CreateRoomRequest = decode(data).map_err(|e| e.to_string())?;
    let room = req
        .room_id
        .filter(|r| !r.is_empty())
        .ok_or_else(|| CallError::RoomIdRequired.to_string())?;
    if app.state.lock().room_of(sid) != Some(room.as_str()) {
        return Err(CallError::ParticipantNotFound.to_string());
    }
    Ok(room)
}

/// `startRecording {roomId}` → `{recordingId}` (the one running, if any).
pub async fn start(app: &Arc<App>, sid: &str, data: Value, ack: Ack) {
    let room = match own_room(app, sid, data) {
        Ok(r) => r,
        Err(e) => return reply_error(ack, e),
    };
    match recording::start(app, &room).await {
        Ok(id) => {
            tracing::info!(room = %room, recording = %id, "recording started by a participant");
            reply(ack, &json!({ "recordingId": id }));
        }
        Err(e) => reply_error(ack, e),
    }
}

/// `stopRecording {roomId}` → `{recordingId, files}`.
pub async fn stop(app: &Arc<App>, sid: &str, data: Value, ack: Ack) {
    let room = match own_room(app, sid, data) {
        Ok(r) => r,
        Err(e) => return reply_error(ack, e),
    };
    match recording::stop(app, &room, None).await {
        Ok(info) => reply(
            ack,
            &json!({ "recordingId": info.recording_id, "files": info.files }),
        ),
        Err(e) => reply_error(ack, e),
    }
}
