//! 1:1 calls (Threads seed `004_…`): `register-user`, `check-user-availability`,
//! `initiate-call`, `call-accepted`, `call-rejected`, `call-ended`, `ice-candidate`.
//!
//! Responses go to the client's callback when it sent one, else as the seed's event
//! (`user-registered`, `user-availability-response`); errors likewise as `{error}` or
//! `call-error {message}`. Ring timeouts are tokio timers that call back into the domain
//! ([`call_domain::CallState::expire_direct_call`], a no-op once the call was answered).

use super::{reply, reply_error};
use crate::ack::Ack;
use crate::app::App;
use call_domain::{DirectInvite, DirectTimeout, Effect, Initiated, OutEvent, RemotePresence};
use serde_json::Value;
use signal_proto::direct::{
    self as dc, Addressed, AvailabilityRequest, CallAcceptedRequest, CallControlRequest,
    CallErrorEvent, CallStarted, IceCandidateRequest, InitiateCallRequest, RegisterUserRequest,
};
use signal_proto::errors;
use signal_proto::mesh::MeshError;
use signal_proto::requests::decode;
use signal_proto::responses::SuccessResponse;
use std::sync::Arc;
use tracing::Instrument;

/// The 1:1 events a socket may send.
pub const EVENTS: &[&str] = &[
    dc::REGISTER_USER,
    dc::CHECK_USER_AVAILABILITY,
    dc::INITIATE_CALL,
    dc::CALL_ACCEPTED,
    dc::CALL_REJECTED,
    dc::CALL_ENDED,
    dc::ICE_CANDIDATE,
];

/// Which error event a request without callback gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorChannel {
    /// `call-error {message}`.
    Direct,
    /// `groupcall:error {message}`.
    Mesh,
}

/// Answers one request: through the callback when the client sent one, else as events to the
/// requesting socket.
pub(crate) struct Responder<'a> {
    pub(crate) app: &'a App,
    pub(crate) sid: &'a str,
    pub(crate) ack: Ack,
    pub(crate) has_ack: bool,
    pub(crate) channel: ErrorChannel,
}

impl Responder<'_> {
    /// Refuse the request: `{error}` ack, or the error event; logged either way. No state was
    /// changed.
    pub(crate) fn fail(self, error: impl std::fmt::Display) {
        if self.has_ack {
            return reply_error(self.ack, error);
        }
        let message = error.to_string();
        tracing::info!(error = %message, "request refused (error event)");
        let event = match self.channel {
            ErrorChannel::Direct => OutEvent::CallError(CallErrorEvent { message }),
            ErrorChannel::Mesh => OutEvent::MeshError(MeshError { message }),
        };
        self.emit_self(event);
    }

    /// The response: the event's payload as ack, or the event itself.
    pub(crate) fn respond(self, event: OutEvent) {
        if self.has_ack {
            reply(self.ack, &event.payload());
        } else {
            self.emit_self(event);
        }
    }

    /// Ack only (requests whose success has no event of its own).
    pub(crate) fn ok<T: serde::Serialize>(self, payload: &T) {
        reply(self.ack, payload);
    }

    fn emit_self(&self, event: OutEvent) {
        self.app.apply(vec![Effect::Emit {
            to: vec![self.sid.to_owned()],
            event,
        }]);
    }
}

/// Refuse a mesh request (cluster routing) as the mesh handlers would: `{error}` ack or
/// `groupcall:error`.
pub(crate) fn fail_as_mesh(
    app: &App,
    sid: &str,
    req: crate::socket::Request,
    error: impl std::fmt::Display,
) {
    Responder {
        app,
        sid,
        ack: req.ack,
        has_ack: req.has_ack,
        channel: ErrorChannel::Mesh,
    }
    .fail(error);
}

/// Decode a payload or refuse the request and return from the handler.
macro_rules! decode_or_fail {
    ($data:expr, $r:expr) => {
        match decode($data) {
            Ok(r) => r,
            Err(e) => return $r.fail(e),
        }
    };
}
pub(crate) use decode_or_fail;

/// Route one 1:1 event.
pub async fn handle(app: &Arc<App>, sid: &str, event: &str, data: Value, ack: Ack, has_ack: bool) {
    let r = Responder {
        app,
        sid,
        ack,
        has_ack,
        channel: ErrorChannel::Direct,
    };
    match event {
        dc::REGISTER_USER => register_user(r, data),
        dc::CHECK_USER_AVAILABILITY => check_availability(r, data).await,
        dc::INITIATE_CALL => initiate_call(app, r, data).await,
        dc::CALL_ACCEPTED => accept(r, data),
        dc::CALL_REJECTED => control(r, data, Control::Reject),
        dc::CALL_ENDED => control(r, data, Control::End),
        dc::ICE_CANDIDATE => ice_candidate(r, data),
        other => tracing::warn!(event = other, "no 1:1 handler"),
    }
}

/// `register-user {userId, userName}`: bind the socket (as `join` does).
fn register_user(r: Responder<'_>, data: Value) {
    let req: RegisterUserRequest = decode_or_fail!(data, r);
    let user = req.user();
    if !r.app.may_act_as(r.sid, &user) {
        return r.fail(errors::IDENTITY_MISMATCH);
    }
    let response = r
        .app
        .state
        .lock()
        .register_user(r.sid, &user, req.user_name.as_deref());
    tracing::info!(user = %user, "registered for 1:1 calls");
    r.respond(response);
}

/// `check-user-availability {targetUserId}`.
async fn check_availability(r: Responder<'_>, data: Value) {
    let req: AvailabilityRequest = decode_or_fail!(data, r);
    let target = req.target();
    // Cluster mode: what the other nodes know of the target.
    let remote = match (&r.app.cluster, &target) {
        (Some(link), Some(t)) => link.presence(std::slice::from_ref(t)).await.of(t),
        _ => RemotePresence::default(),
    };
    let answer = r
        .app
        .state
        .lock()
        .availability_with(r.sid, target.as_deref(), &remote);
    match answer {
        Ok(event) => r.respond(event),
        Err(e) => r.fail(e),
    }
}

/// `initiate-call`: ring the callee's sockets and start the ring timer, or tell the caller at
/// once that the callee is busy / offline (`call-rejected {reason}`).
async fn initiate_call(app: &Arc<App>, r: Responder<'_>, data: Value) {
    let mut req: InitiateCallRequest = decode_or_fail!(data, r);
    let offer = req.offer.take().unwrap_or(Value::Null);
    let target = req.target();
    let caller = app.state.lock().user_of(r.sid).map(str::to_owned);
    // Cluster mode: the callee's sockets on other nodes ring too (as proxies here), and a
    // call anywhere makes either party busy.
    let (callee_remote, caller_busy, proxies) = match (&app.cluster, &target, &caller) {
        (Some(link), Some(callee), Some(caller)) => {
            let view = link.presence(&[caller.clone(), callee.clone()]).await;
            let proxies = link.ring_proxies(app, callee, view.sockets_of(callee));
            (view.of(callee), view.of(caller).busy, proxies)
        }
        _ => (RemotePresence::default(), false, Vec::new()),
    };
    let claimed = req.caller();
    let invite = DirectInvite {
        claimed_caller: claimed.as_deref(),
        target: target.as_deref(),
        caller_name: req.caller_name.as_deref(),
        call_type: req.call_type(),
        offer,
    };
    let outcome = app
        .state
        .lock()
        .initiate_call_with(r.sid, invite, &callee_remote, caller_busy);
    if !matches!(outcome, Ok(Initiated::Ringing { .. }))
        && let Some(link) = &app.cluster
    {
        link.forget_proxies(app, &proxies);
    }
    match outcome {
        Err(e) => r.fail(e),
        Ok(Initiated::Refused { error, effects }) => {
            tracing::info!(target = ?req.target(), %error, "1:1 call refused");
            app.apply(effects);
            if r.has_ack {
                reply_error(r.ack, error);
            }
        }
        Ok(Initiated::Ringing {
            call_id,
            effects,
            timeout,
        }) => {
            tracing::info!(call_id, target = ?req.target(), "1:1 call ringing");
            app.apply(effects);
            schedule_timeout(app, timeout);
            r.ok(&CallStarted {
                success: true,
                call_id: call_id.to_string(),
            });
        }
    }
}

/// Expire the call after its ring time (a no-op if it was answered or ended meanwhile). The
/// task holds only a weak reference: it never keeps a shut-down server alive.
fn schedule_timeout(app: &Arc<App>, timeout: DirectTimeout) {
    let weak = Arc::downgrade(app);
    let span = tracing::info_span!("direct_call_timeout", call_id = timeout.call_id);
    tokio::spawn(
        async move {
            tokio::time::sleep(timeout.after).await;
            let Some(app) = weak.upgrade() else {
                return;
            };
            let effects = app.state.lock().expire_direct_call(timeout.call_id);
            if !effects.is_empty() {
                tracing::info!("1:1 call unanswered: ended by timeout");
            }
            app.apply(effects);
        }
        .instrument(span),
    );
}

/// `call-accepted {targetUserId, answer}` from a ringing socket of the callee.
fn accept(r: Responder<'_>, data: Value) {
    let mut req: CallAcceptedRequest = decode_or_fail!(data, r);
    let answer = req.answer.take().unwrap_or(Value::Null);
    let result = r.app.state.lock().accept_call(
        r.sid,
        req.target().as_deref(),
        req.call_id().as_deref(),
        answer,
    );
    match result {
        Ok(effects) => {
            tracing::info!(call_id = ?req.call_id(), "1:1 call accepted");
            r.app.apply(effects);
            r.ok(&SuccessResponse::OK);
        }
        Err(e) => r.fail(e),
    }
}

#[derive(Debug, Clone, Copy)]
enum Control {
    Reject,
    End,
}

/// `call-rejected` / `call-ended {targetUserId?, callId?}` from a party socket.
fn control(r: Responder<'_>, data: Value, control: Control) {
    let req: CallControlRequest = decode_or_fail!(data, r);
    let (target, call_id) = (req.target(), req.call_id());
    let result = {
        let mut st = r.app.state.lock();
        match control {
            Control::Reject => st.reject_call(r.sid, target.as_deref(), call_id.as_deref()),
            Control::End => st.end_call(r.sid, target.as_deref(), call_id.as_deref()),
        }
    };
    match result {
        Ok(effects) => {
            tracing::info!(?control, target = ?target, "1:1 call ended");
            r.app.apply(effects);
            r.ok(&SuccessResponse::OK);
        }
        Err(e) => r.fail(e),
    }
}

/// `ice-candidate {targetUserId, candidate}`: relayed only within the sender's call.
fn ice_candidate(r: Responder<'_>, data: Value) {
    let mut req: IceCandidateRequest = decode_or_fail!(data, r);
    let candidate = req.candidate.take().unwrap_or(Value::Null);
    let result = r.app.state.lock().relay_call_candidate(
        r.sid,
        req.target().as_deref(),
        req.call_id().as_deref(),
        candidate,
    );
    match result {
        Ok(effects) => {
            tracing::debug!("1:1 ICE candidate relayed");
            r.app.apply(effects);
            r.ok(&SuccessResponse::OK);
        }
        Err(e) => r.fail(e),
    }
}
