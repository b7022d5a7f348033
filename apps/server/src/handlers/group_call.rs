//! `group_call_initiate`.
//!
//! The seeds define no ack for it: errors go to the socket as `group_call_error`. A client
//! that passes a callback anyway also gets `{success: true}` or `{error}` (the same message).

use super::{reply, reply_error};
use crate::ack::Ack;
use crate::app::App;
use call_domain::Directory as _;
use call_domain::{CallError, Effect, OutEvent};
use serde_json::Value;
use signal_proto::errors;
use signal_proto::requests::{GroupCallInitiateRequest, decode};
use signal_proto::responses::SuccessResponse;
use signal_proto::server_events::GroupCallError;

/// `group_call_error {message}` to the socket, as the seeds do, and `{error: message}` to the
/// callback if the client passed one.
fn error_to(app: &App, sid: &str, ack: Ack, message: String) {
    tracing::info!(%message, "group_call_initiate refused");
    app.apply(vec![Effect::Emit {
        to: vec![sid.to_owned()],
        event: OutEvent::GroupCallError(GroupCallError {
            message: message.clone(),
        }),
    }]);
    reply_error(ack, message);
}

/// Ring a conversation. Caller = the user joined on this socket, and must be a member.
/// With a callback, the ack is `{success: true}` or `{error}` (no callback: nothing but the
/// events, as in the seeds).
pub async fn initiate(app: &App, sid: &str, data: Value, ack: Ack) {
    let req: GroupCallInitiateRequest = match decode(data) {
        Ok(r) => r,
        Err(e) => return error_to(app, sid, ack, e.to_string()),
    };
    let caller_id = req.caller_id.as_ref().map(|c| c.normalized());
    // The guard must be gone before `error_to` runs: `App::apply` takes the state lock.
    let checked = app.state.lock().check_initiate(sid, caller_id.as_deref());
    let caller = match checked {
        Ok(c) => c,
        Err(e) => return error_to(app, sid, ack, e.to_string()),
    };
    let Some(conversation_id) = req.conversation_id.clone().filter(|c| !c.is_empty()) else {
        return error_to(app, sid, ack, "conversationId required".into());
    };
    let roster = match app.directory.roster(&conversation_id).await {
        Ok(Some(r)) => r,
        Ok(None) => return error_to(app, sid, ack, CallError::NotInGroup.to_string()),
        Err(e) => return error_to(app, sid, ack, errors::directory(e.is_busy()).into()),
    };
    let effects = app
        .state
        .lock()
        .initiate(&caller, req.call_type(), &roster, &app.display);
    match effects {
        Ok(effects) => {
            tracing::info!(conversation = %conversation_id, caller = %caller, "group call initiated");
            app.apply(effects);
            reply(ack, &SuccessResponse::OK);
        }
        Err(e) => error_to(app, sid, ack, e.to_string()),
    }
}
