//! `group_call_initiate`.

use crate::app::App;
use call_domain::Directory as _;
use call_domain::{CallError, Effect, OutEvent};
use serde_json::Value;
use signal_proto::errors;
use signal_proto::requests::{GroupCallInitiateRequest, decode};
use signal_proto::server_events::GroupCallError;

fn error_to(app: &App, sid: &str, message: String) {
    tracing::info!(%message, "group_call_initiate refused");
    app.apply(vec![Effect::Emit {
        to: vec![sid.to_owned()],
        event: OutEvent::GroupCallError(GroupCallError { message }),
    }]);
}

/// Ring a conversation. Caller = the user joined on this socket, and must be a member.
pub async fn initiate(app: &App, sid: &str, data: Value) {
    let req: GroupCallInitiateRequest = match decode(data) {
        Ok(r) => r,
        Err(e) => return error_to(app, sid, e.to_string()),
    };
    let caller_id = req.caller_id.as_ref().map(|c| c.normalized());
    // The guard must be gone before `error_to` applies effects (apply takes the lock).
    let checked = app.state.lock().check_initiate(sid, caller_id.as_deref());
    let caller = match checked {
        Ok(c) => c,
        Err(e) => return error_to(app, sid, e.to_string()),
    };
    let Some(conversation_id) = req.conversation_id.clone().filter(|c| !c.is_empty()) else {
        return error_to(app, sid, "conversationId required".into());
    };
    let roster = match app.directory.roster(&conversation_id).await {
        Ok(Some(r)) => r,
        Ok(None) => return error_to(app, sid, CallError::NotInGroup.to_string()),
        Err(_) => return error_to(app, sid, errors::DIRECTORY_UNAVAILABLE.into()),
    };
    let effects = app
        .state
        .lock()
        .initiate(&caller, req.call_type(), &roster, &app.display);
    match effects {
        Ok(effects) => {
            tracing::info!(conversation = %conversation_id, caller = %caller, "group call initiated");
            app.apply(effects);
        }
        Err(e) => error_to(app, sid, e.to_string()),
    }
}
