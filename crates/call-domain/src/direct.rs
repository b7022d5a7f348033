//! 1:1 calls: idle → calling → in progress → ended.
//!
//! A call is created *calling* (ringing on every socket the callee had at that moment), becomes
//! *in progress* when one of those sockets accepts, and is removed (*ended*) on reject, hang-up,
//! cancel, timeout or a party's disconnect; "idle" is the absence of a call. A user is in at
//! most one 1:1 call. Relays (ICE) go only between the sockets that are parties of the call:
//! the caller's socket and the callee's ringing sockets, then the callee's answering socket.
//!
//! Timeouts are driven by the caller of the state machine: starting a call yields a
//! [`DirectTimeout`]; when it fires, [`crate::CallState::expire_direct_call`] ends the call if
//! it is still ringing (a no-op otherwise), so timers never need cancelling.

use crate::effects::{Effect, OutEvent};
use crate::error::CallError;
use crate::lifecycle::Lifecycle;
use crate::{SocketId, UserId};
use indexmap::IndexMap;
use serde_json::Value;
use signal_proto::direct::{
    CallAccepted, CallEnded, CallRejected, EndReason, IceCandidate, IncomingCall, RejectReason,
};
use std::collections::HashMap;
use std::time::Duration;

/// Default time a 1:1 call may ring unanswered.
pub const DEFAULT_DIRECT_CALL_TIMEOUT: Duration = Duration::from_secs(45);

/// Identifies a 1:1 call (sent to clients as a decimal string).
pub type CallId = u64;

/// Where a 1:1 call is (idle and ended calls do not exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectPhase {
    /// Ringing: offered, not yet answered.
    Calling,
    /// Answered: media is (being) set up between the two parties.
    InProgress,
}

/// One 1:1 call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectCall {
    /// Call id.
    pub id: CallId,
    /// Caller user.
    pub caller: UserId,
    /// The caller's socket (the only one of the caller's sockets in the call).
    pub caller_socket: SocketId,
    /// Callee user.
    pub callee: UserId,
    /// While calling: the callee's sockets that ring.
    pub ringing: Vec<SocketId>,
    /// Once in progress: the callee's socket that answered.
    pub callee_socket: Option<SocketId>,
    /// Phase.
    pub phase: DirectPhase,
}

impl DirectCall {
    fn wire_id(&self) -> String {
        self.id.to_string()
    }

    /// The callee's sockets currently in the call (ringing ones, or the answering one).
    pub fn callee_sockets(&self) -> Vec<SocketId> {
        match (&self.phase, &self.callee_socket) {
            (DirectPhase::InProgress, Some(s)) => vec![s.clone()],
            _ => self.ringing.clone(),
        }
    }

    /// Whether `socket` is a party socket of this call.
    pub fn involves_socket(&self, socket: &str) -> bool {
        self.caller_socket == socket || self.callee_sockets().iter().any(|s| s == socket)
    }

    fn ended(&self, from: Option<&str>, reason: EndReason) -> OutEvent {
        OutEvent::CallEnded(CallEnded {
            call_id: self.wire_id(),
            from: from.map(str::to_owned),
            reason,
        })
    }
}

/// The time a new call may ring: schedule [`crate::CallState::expire_direct_call`] for
/// `call_id` after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectTimeout {
    /// The call.
    pub call_id: CallId,
    /// Delay from now.
    pub after: Duration,
}

/// The result of `initiate-call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Initiated {
    /// The call rings: `incoming-call` to the callee's sockets; schedule the timeout.
    Ringing {
        /// The new call.
        call_id: CallId,
        /// Events.
        effects: Vec<Effect>,
        /// When to expire the call if unanswered.
        timeout: DirectTimeout,
    },
    /// The callee is busy or offline: the caller's socket is told at once (`call-rejected`
    /// with the reason); no call exists.
    Refused {
        /// [`CallError::UserBusy`] or [`CallError::UserUnavailable`].
        error: CallError,
        /// The `call-rejected` event to the caller's socket.
        effects: Vec<Effect>,
    },
}

/// What the caller of `initiate` already checked and looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewCall {
    pub(crate) caller: UserId,
    pub(crate) caller_socket: SocketId,
    pub(crate) caller_name: String,
    pub(crate) callee: UserId,
    pub(crate) callee_sockets: Vec<SocketId>,
    pub(crate) call_type: String,
    pub(crate) offer: Value,
}

/// All 1:1 calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectCalls {
    /// Lifecycle facts not drained yet.
    pub(crate) facts: Vec<Lifecycle>,
    calls: IndexMap<CallId, DirectCall>,
    by_user: HashMap<UserId, CallId>,
    next_id: CallId,
    timeout: Duration,
}

impl Default for DirectCalls {
    fn default() -> Self {
        Self::new(DEFAULT_DIRECT_CALL_TIMEOUT)
    }
}

/// Which request addresses a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Caller,
    Callee,
}

impl DirectCalls {
    /// No calls; unanswered calls expire after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            facts: Vec::new(),
            calls: IndexMap::new(),
            by_user: HashMap::new(),
            next_id: 1,
            timeout,
        }
    }

    /// The unanswered-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The call `id`, if it exists.
    pub fn call(&self, id: CallId) -> Option<&DirectCall> {
        self.calls.get(&id)
    }

    /// The 1:1 call `user` is in (as caller or callee), if any.
    pub fn call_of(&self, user: &str) -> Option<&DirectCall> {
        self.by_user.get(user).and_then(|id| self.calls.get(id))
    }

    /// Number of calls.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether there is no call.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// idle → calling. Preconditions (both idle, callee online, not the same user) are
    /// checked by [`crate::CallState::initiate_call`].
    pub(crate) fn start(&mut self, new: NewCall) -> (CallId, Vec<Effect>, DirectTimeout) {
        let id = self.next_id;
        self.next_id += 1;
        let call = DirectCall {
            id,
            caller: new.caller.clone(),
            caller_socket: new.caller_socket,
            callee: new.callee.clone(),
            ringing: new.callee_sockets.clone(),
            callee_socket: None,
            phase: DirectPhase::Calling,
        };
        let effects = Effect::emit(
            new.callee_sockets,
            OutEvent::IncomingCall(IncomingCall {
                call_id: id.to_string(),
                caller_id: new.caller.clone(),
                from: new.caller.clone(),
                caller_name: new.caller_name,
                call_type: new.call_type,
                offer: new.offer,
            }),
        )
        .into_iter()
        .collect();
        self.facts.push(Lifecycle::DirectCallStarted {
            call_id: id,
            caller: new.caller.clone(),
            callee: new.callee.clone(),
        });
        self.by_user.insert(new.caller, id);
        self.by_user.insert(new.callee, id);
        self.calls.insert(id, call);
        (
            id,
            effects,
            DirectTimeout {
                call_id: id,
                after: self.timeout,
            },
        )
    }

    /// The call `user` (on `socket`) addresses with a request, with its role, checked
    /// against the optional peer and call id of the request. Only party sockets match.
    fn addressed(
        &self,
        socket: &str,
        user: &str,
        target: Option<&str>,
        call_id: Option<&str>,
    ) -> Result<(CallId, Role), CallError> {
        let call = self.call_of(user).ok_or(CallError::NoSuchCall)?;
        if call_id.is_some_and(|c| c != call.wire_id()) {
            return Err(CallError::NoSuchCall);
        }
        let role = if call.caller == user && call.caller_socket == socket {
            Role::Caller
        } else if call.callee == user && call.callee_sockets().iter().any(|s| s == socket) {
            Role::Callee
        } else {
            return Err(CallError::NoSuchCall);
        };
        let peer = match role {
            Role::Caller => &call.callee,
            Role::Callee => &call.caller,
        };
        if target.is_some_and(|t| t != peer) {
            return Err(CallError::NoSuchCall);
        }
        Ok((call.id, role))
    }

    /// End call `id` for `reason` (recorded as a lifecycle fact).
    fn remove(&mut self, id: CallId, reason: &'static str) -> Option<DirectCall> {
        let call = self.calls.shift_remove(&id)?;
        self.facts.push(Lifecycle::DirectCallEnded {
            call_id: id,
            caller: call.caller.clone(),
            callee: call.callee.clone(),
            answered: call.phase == DirectPhase::InProgress,
            reason,
        });
        for user in [&call.caller, &call.callee] {
            if self.by_user.get(user) == Some(&id) {
                self.by_user.remove(user);
            }
        }
        Some(call)
    }

    /// calling → in progress (`call-accepted` from one of the callee's ringing sockets):
    /// `call-accepted` to the caller, `call-ended {answered-elsewhere}` to the callee's other
    /// ringing sockets.
    pub(crate) fn accept(
        &mut self,
        socket: &str,
        user: &str,
        target: Option<&str>,
        call_id: Option<&str>,
        answer: Value,
    ) -> Result<Vec<Effect>, CallError> {
        let (id, role) = self.addressed(socket, user, target, call_id)?;
        let call = self.calls.get_mut(&id).ok_or(CallError::NoSuchCall)?;
        if role != Role::Callee || call.phase != DirectPhase::Calling {
            return Err(CallError::NoSuchCall);
        }
        call.phase = DirectPhase::InProgress;
        call.callee_socket = Some(socket.to_owned());
        self.facts
            .push(Lifecycle::DirectCallAnswered { call_id: id });
        let others: Vec<_> = std::mem::take(&mut call.ringing)
            .into_iter()
            .filter(|s| s != socket)
            .collect();
        let mut effects: Vec<Effect> = Effect::emit(
            vec![call.caller_socket.clone()],
            OutEvent::CallAccepted(CallAccepted {
                call_id: call.wire_id(),
                from: call.callee.clone(),
                answer,
            }),
        )
        .into_iter()
        .collect();
        effects.extend(Effect::emit(
            others,
            call.ended(None, EndReason::AnsweredElsewhere),
        ));
        Ok(effects)
    }

    /// calling → ended (`call-rejected` from one of the callee's ringing sockets):
    /// `call-rejected` to the caller, `call-ended {rejected-elsewhere}` to the callee's other
    /// ringing sockets.
    pub(crate) fn reject(
        &mut self,
        socket: &str,
        user: &str,
        target: Option<&str>,
        call_id: Option<&str>,
    ) -> Result<Vec<Effect>, CallError> {
        let (id, role) = self.addressed(socket, user, target, call_id)?;
        let ringing = self
            .calls
            .get(&id)
            .is_some_and(|c| c.phase == DirectPhase::Calling);
        if role != Role::Callee || !ringing {
            return Err(CallError::NoSuchCall);
        }
        Ok(self.decline(id, socket))
    }

    fn decline(&mut self, id: CallId, socket: &str) -> Vec<Effect> {
        let Some(call) = self.remove(id, "rejected") else {
            return Vec::new();
        };
        let mut effects: Vec<Effect> = Effect::emit(
            vec![call.caller_socket.clone()],
            OutEvent::CallRejected(CallRejected {
                call_id: Some(call.wire_id()),
                from: call.callee.clone(),
                reason: RejectReason::Rejected,
            }),
        )
        .into_iter()
        .collect();
        let others: Vec<_> = call
            .ringing
            .iter()
            .filter(|s| *s != socket)
            .cloned()
            .collect();
        effects.extend(Effect::emit(
            others,
            call.ended(None, EndReason::RejectedElsewhere),
        ));
        effects
    }

    /// `call-ended` from a party socket: the caller cancelling a ringing call
    /// (`call-ended {cancelled}` to the ringing sockets), the callee declining it (as
    /// `call-rejected`), or either party hanging up an answered call (`call-ended {hangup}` to
    /// the other).
    pub(crate) fn hang_up(
        &mut self,
        socket: &str,
        user: &str,
        target: Option<&str>,
        call_id: Option<&str>,
    ) -> Result<Vec<Effect>, CallError> {
        let (id, role) = self.addressed(socket, user, target, call_id)?;
        let phase = self.calls.get(&id).map(|c| c.phase);
        match (phase, role) {
            (Some(DirectPhase::Calling), Role::Callee) => Ok(self.decline(id, socket)),
            (Some(DirectPhase::Calling), Role::Caller) => {
                let Some(call) = self.remove(id, "cancelled") else {
                    return Ok(Vec::new());
                };
                Ok(Effect::emit(
                    call.ringing.clone(),
                    call.ended(Some(&call.caller), EndReason::Cancelled),
                )
                .into_iter()
                .collect())
            }
            (Some(DirectPhase::InProgress), role) => {
                let Some(call) = self.remove(id, "hangup") else {
                    return Ok(Vec::new());
                };
                let (to, from) = match role {
                    Role::Caller => (call.callee_sockets(), &call.caller),
                    Role::Callee => (vec![call.caller_socket.clone()], &call.callee),
                };
                Ok(Effect::emit(to, call.ended(Some(from), EndReason::Hangup))
                    .into_iter()
                    .collect())
            }
            (None, _) => Err(CallError::NoSuchCall),
        }
    }

    /// `ice-candidate` from a party socket, relayed to the other party's sockets in the call
    /// (while calling: caller ↔ ringing sockets; in progress: caller ↔ answering socket).
    pub(crate) fn relay_candidate(
        &self,
        socket: &str,
        user: &str,
        target: Option<&str>,
        call_id: Option<&str>,
        candidate: Value,
    ) -> Result<Vec<Effect>, CallError> {
        let (id, role) = self.addressed(socket, user, target, call_id)?;
        let call = self.calls.get(&id).ok_or(CallError::NoSuchCall)?;
        let to = match role {
            Role::Caller => call.callee_sockets(),
            Role::Callee => vec![call.caller_socket.clone()],
        };
        Ok(Effect::emit(
            to,
            OutEvent::IceCandidate(IceCandidate {
                call_id: call.wire_id(),
                from: user.to_owned(),
                candidate,
            }),
        )
        .into_iter()
        .collect())
    }

    /// The timeout of call `id` fired: calling → ended with `call-ended {timeout}` to the
    /// caller and the ringing sockets. A no-op when the call was answered or is gone.
    pub(crate) fn expire(&mut self, id: CallId) -> Vec<Effect> {
        if self.calls.get(&id).map(|c| c.phase) != Some(DirectPhase::Calling) {
            return Vec::new();
        }
        let Some(call) = self.remove(id, "timeout") else {
            return Vec::new();
        };
        let mut to = vec![call.caller_socket.clone()];
        to.extend(call.ringing.iter().cloned());
        Effect::emit(to, call.ended(None, EndReason::Timeout))
            .into_iter()
            .collect()
    }

    /// A socket of `user` disconnected. The caller's socket, or the callee's answering socket,
    /// ends the call (`call-ended {disconnect}` to the other party); one ringing socket of
    /// several just stops ringing; the last ringing socket ends the call.
    pub(crate) fn disconnect(&mut self, socket: &str, user: &str) -> Vec<Effect> {
        let Some(id) = self.by_user.get(user).copied() else {
            return Vec::new();
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        let ends = if call.caller == user && call.caller_socket == socket {
            true
        } else if call.callee == user {
            match call.phase {
                DirectPhase::InProgress => call.callee_socket.as_deref() == Some(socket),
                DirectPhase::Calling => {
                    let before = call.ringing.len();
                    call.ringing.retain(|s| s != socket);
                    before != call.ringing.len() && call.ringing.is_empty()
                }
            }
        } else {
            false
        };
        if !ends {
            return Vec::new();
        }
        let Some(call) = self.remove(id, "disconnect") else {
            return Vec::new();
        };
        let (to, from) = if call.caller_socket == socket {
            (call.callee_sockets(), &call.caller)
        } else {
            (vec![call.caller_socket.clone()], &call.callee)
        };
        let to: Vec<_> = to.into_iter().filter(|s| s != socket).collect();
        Effect::emit(to, call.ended(Some(from), EndReason::Disconnect))
            .into_iter()
            .collect()
    }
}
