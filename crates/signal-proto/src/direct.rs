//! 1:1 calls (Threads seed `004_…`): event names, request payloads, server events.
//!
//! The seed shows two spellings for the peer: `{targetUserId, callerId, …}` and `{from, to, …}`.
//! Requests accept both (`targetUserId` ≡ `to`, `callerId` ≡ `from`), ids as strings or numbers.
//! Events the server sends carry both spellings where the seed's clients read either
//! (`incoming-call` has `callerId` and `from`).

use crate::ids::IdLike;
use crate::requests::{PayloadError, Validate};
use crate::signal::{MAX_CANDIDATE_BYTES, MAX_SDP_BYTES, check_blob, check_name, either_id};
use serde::{Deserialize, Serialize};
use serde_json::Value;

// ----- event names -------------------------------------------------------------------------

/// Client → server: bind the socket to a user (`{userId, userName}`).
pub const REGISTER_USER: &str = "register-user";
/// Server → client: answer to `register-user`.
pub const USER_REGISTERED: &str = "user-registered";
/// Client → server: is a user online and not in any call?
pub const CHECK_USER_AVAILABILITY: &str = "check-user-availability";
/// Server → client: answer to `check-user-availability`.
pub const USER_AVAILABILITY_RESPONSE: &str = "user-availability-response";
/// Client → server: call a user (with the SDP offer).
pub const INITIATE_CALL: &str = "initiate-call";
/// Server → client: a call rings (every socket of the callee).
pub const INCOMING_CALL: &str = "incoming-call";
/// Both directions: the callee answers (C→S); the caller learns it (S→C).
pub const CALL_ACCEPTED: &str = "call-accepted";
/// Both directions: the callee declines (C→S); the caller learns it (S→C).
pub const CALL_REJECTED: &str = "call-rejected";
/// Both directions: a party hangs up (C→S); the call is over (S→C, with a reason).
pub const CALL_ENDED: &str = "call-ended";
/// Both directions: an ICE candidate for the other party of the call.
pub const ICE_CANDIDATE: &str = "ice-candidate";
/// Server → client (Huddle addition): a 1:1 request without callback failed.
pub const CALL_ERROR: &str = "call-error";

// ----- error strings -------------------------------------------------------------------------

/// No target user in the payload.
pub const ERR_TARGET_REQUIRED: &str = "targetUserId required";
/// Calling oneself.
pub const ERR_CALL_SELF: &str = "You cannot call yourself";
/// The callee is in another call.
pub const ERR_USER_BUSY: &str = "User is busy";
/// The callee is offline.
pub const ERR_USER_UNAVAILABLE: &str = "User is not available";
/// The caller is already in a call.
pub const ERR_ALREADY_IN_CALL: &str = "You are already in a call";
/// No call of this socket matches the request (wrong peer, wrong call id, wrong phase, or a
/// device that is not the one in the call).
pub const ERR_NO_CALL: &str = "No such call";

// ----- requests ------------------------------------------------------------------------------

/// `register-user {userId, userName, socketId?}` (`socketId` is ignored: the server knows it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterUserRequest {
    /// The user id.
    #[serde(default)]
    pub user_id: Option<IdLike>,
    /// Display name, used as `callerName` when `initiate-call` carries none.
    #[serde(default)]
    pub user_name: Option<String>,
}

impl RegisterUserRequest {
    /// The normalised user id (validated non-empty by [`Validate`]).
    pub fn user(&self) -> String {
        self.user_id
            .as_ref()
            .map(IdLike::normalized)
            .unwrap_or_default()
    }
}

impl Validate for RegisterUserRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        if either_id(("userId", "userId"), self.user_id.as_ref(), None)?.is_none() {
            return Err(PayloadError("userId required".into()));
        }
        check_name("userName", self.user_name.as_deref())
    }
}

// ----- the peer and call a request names -------------------------------------------------

const TARGET: (&str, &str) = ("targetUserId", "to");
const CALLER: (&str, &str) = ("callerId", "from");
const CALL_ID: (&str, &str) = ("callId", "callId");

/// The other party and the call a 1:1 request names, borrowed from the request: the peer under
/// either spelling (`targetUserId` / `to`, strings or numbers) and the optional `callId`. The
/// one place that normalises and validates these fields for every 1:1 request.
///
/// The requests keep the fields at top level rather than embedding one struct with
/// `#[serde(flatten)]`: flatten makes serde decode the whole request as a map, so JSON-array
/// payloads, which the derived decoders take positionally today, would be refused (pinned by
/// the `sequence_and_scalar_payloads_pinned` test). `call-accepted`, `call-rejected`,
/// `call-ended` and `ice-candidate` declare the trio once, through `addressed_request!`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallAddress<'a> {
    /// `targetUserId`.
    pub target_user_id: Option<&'a IdLike>,
    /// `to`, the seed's other spelling of `targetUserId`.
    pub to: Option<&'a IdLike>,
    /// `callId` (always `None` for requests without one).
    pub call_id: Option<&'a IdLike>,
}

impl<'a> CallAddress<'a> {
    /// The peer of a request that carries no `callId` (`check-user-availability`,
    /// `initiate-call`).
    pub fn peer(target_user_id: Option<&'a IdLike>, to: Option<&'a IdLike>) -> Self {
        Self {
            target_user_id,
            to,
            call_id: None,
        }
    }

    /// The other party, normalised; `None` when absent (or invalid: [`Self::validate`] says
    /// why).
    pub fn target(&self) -> Option<String> {
        either_id(TARGET, self.target_user_id, self.to)
            .ok()
            .flatten()
    }

    /// The call id, normalised, if given.
    pub fn call_id(&self) -> Option<String> {
        self.call_id.map(IdLike::normalized)
    }

    /// Check the peer (each spelling a valid id, both equal when both are given), then the call
    /// id. Absent fields pass: whether a request needs them is the domain's decision.
    pub fn validate(&self) -> Result<(), PayloadError> {
        either_id(TARGET, self.target_user_id, self.to)?;
        either_id(CALL_ID, self.call_id, None).map(drop)
    }
}

/// A request that names a peer and a call: the normalised accessors the accept / reject / end /
/// ICE handlers use alike.
pub trait Addressed {
    /// The request's peer and call fields.
    fn address(&self) -> CallAddress<'_>;

    /// The other party, if given.
    fn target(&self) -> Option<String> {
        self.address().target()
    }

    /// The call id, if given.
    fn call_id(&self) -> Option<String> {
        self.address().call_id()
    }
}

/// Declares a 1:1 request struct whose first fields are `targetUserId`, `to` and `callId` (in
/// this order: serde also decodes a JSON array positionally), followed by the given ones, and
/// implements [`Addressed`] for it.
macro_rules! addressed_request {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// The other party of the call.
            #[serde(default)]
            pub target_user_id: Option<IdLike>,
            /// Alternative spelling of `targetUserId`.
            #[serde(default)]
            pub to: Option<IdLike>,
            /// The call (optional: a user is in at most one 1:1 call).
            #[serde(default)]
            pub call_id: Option<IdLike>,
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl Addressed for $name {
            fn address(&self) -> CallAddress<'_> {
                CallAddress {
                    target_user_id: self.target_user_id.as_ref(),
                    to: self.to.as_ref(),
                    call_id: self.call_id.as_ref(),
                }
            }
        }
    };
}

/// `check-user-availability {targetUserId}` (or `{to}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityRequest {
    /// The user asked about.
    #[serde(default)]
    pub target_user_id: Option<IdLike>,
    /// Alternative spelling of `targetUserId`.
    #[serde(default)]
    pub to: Option<IdLike>,
}

impl AvailabilityRequest {
    /// The user asked about, as a [`CallAddress`] without call id.
    pub fn address(&self) -> CallAddress<'_> {
        CallAddress::peer(self.target_user_id.as_ref(), self.to.as_ref())
    }

    /// The target user, if given.
    pub fn target(&self) -> Option<String> {
        self.address().target()
    }
}

impl Validate for AvailabilityRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        self.address().validate()
    }
}

/// `initiate-call {targetUserId, callerId, callerName, offer, callType?}` or
/// `{to, from, offer}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitiateCallRequest {
    /// The callee.
    #[serde(default)]
    pub target_user_id: Option<IdLike>,
    /// Alternative spelling of `targetUserId`.
    #[serde(default)]
    pub to: Option<IdLike>,
    /// The caller (must be the user registered on the socket when given).
    #[serde(default)]
    pub caller_id: Option<IdLike>,
    /// Alternative spelling of `callerId`.
    #[serde(default)]
    pub from: Option<IdLike>,
    /// Caller display name (default: the `register-user` name, else `"User <id>"`).
    #[serde(default)]
    pub caller_name: Option<String>,
    /// The SDP offer (opaque, at most [`MAX_SDP_BYTES`]).
    #[serde(default)]
    pub offer: Option<Value>,
    /// `"video"` (default) or `"audio"`, passed on to the callee.
    #[serde(default)]
    pub call_type: Option<String>,
}

impl InitiateCallRequest {
    /// The callee, as a [`CallAddress`] without call id (the call does not exist yet).
    pub fn address(&self) -> CallAddress<'_> {
        CallAddress::peer(self.target_user_id.as_ref(), self.to.as_ref())
    }

    /// The callee, if given.
    pub fn target(&self) -> Option<String> {
        self.address().target()
    }

    /// The claimed caller, if given.
    pub fn caller(&self) -> Option<String> {
        either_id(CALLER, self.caller_id.as_ref(), self.from.as_ref())
            .ok()
            .flatten()
    }

    /// The call type, `"video"` by default.
    pub fn call_type(&self) -> &str {
        match self.call_type.as_deref() {
            Some("audio") => "audio",
            _ => "video",
        }
    }
}

impl Validate for InitiateCallRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        self.address().validate()?;
        either_id(CALLER, self.caller_id.as_ref(), self.from.as_ref())?;
        check_name("callerName", self.caller_name.as_deref())?;
        if let Some(t) = &self.call_type
            && t != "audio"
            && t != "video"
        {
            return Err(PayloadError(
                "callType must be \"video\" or \"audio\"".into(),
            ));
        }
        check_blob("offer", self.offer.as_ref(), MAX_SDP_BYTES)
    }
}

addressed_request! {
    /// `call-accepted {targetUserId, answer, callId?}` or `{to, answer}` (sent by the callee;
    /// the other party is the caller).
    pub struct CallAcceptedRequest {
        /// The SDP answer (opaque, at most [`MAX_SDP_BYTES`]).
        #[serde(default)]
        pub answer: Option<Value>,
    }
}

impl Validate for CallAcceptedRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        self.address().validate()?;
        check_blob("answer", self.answer.as_ref(), MAX_SDP_BYTES)
    }
}

addressed_request! {
    /// `call-rejected` / `call-ended` `{targetUserId?, callId?}` (or `{to}`).
    pub struct CallControlRequest {}
}

impl Validate for CallControlRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        self.address().validate()
    }
}

addressed_request! {
    /// `ice-candidate {targetUserId, candidate, callId?}` (or `{to, candidate}`).
    pub struct IceCandidateRequest {
        /// The candidate (opaque, at most [`MAX_CANDIDATE_BYTES`]).
        #[serde(default)]
        pub candidate: Option<Value>,
    }
}

impl Validate for IceCandidateRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        self.address().validate()?;
        check_blob("candidate", self.candidate.as_ref(), MAX_CANDIDATE_BYTES)
    }
}

// ----- server events -------------------------------------------------------------------------

/// `user-registered {userId, socketId, success}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRegistered {
    /// The registered user.
    pub user_id: String,
    /// The socket.
    pub socket_id: String,
    /// Always true (failures are errors).
    pub success: bool,
}

/// `user-availability-response {targetUserId, isAvailable}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAvailability {
    /// The user asked about.
    pub target_user_id: String,
    /// Online and not in any call (1:1, mesh or SFU).
    pub is_available: bool,
}

/// `incoming-call {callId, callerId, from, callerName, callType, offer}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingCall {
    /// The call.
    pub call_id: String,
    /// The caller's user id.
    pub caller_id: String,
    /// Same as `callerId` (the seed's second spelling).
    pub from: String,
    /// The caller's display name.
    pub caller_name: String,
    /// `"video"` / `"audio"`.
    pub call_type: String,
    /// The caller's SDP offer, as sent.
    pub offer: Value,
}

/// Initiate ack: `{success: true, callId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStarted {
    /// Always true.
    pub success: bool,
    /// The new call.
    pub call_id: String,
}

/// `call-accepted {callId, from, answer}` (to the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallAccepted {
    /// The call.
    pub call_id: String,
    /// The callee's user id.
    pub from: String,
    /// The callee's SDP answer, as sent.
    pub answer: Value,
}

/// Why a call was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    /// The callee declined.
    Rejected,
    /// The callee is in another call.
    Busy,
    /// The callee is offline.
    Unavailable,
}

/// `call-rejected {callId?, from, reason}` (to the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRejected {
    /// The call (absent when it was refused before it existed: busy / unavailable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// The callee's user id.
    pub from: String,
    /// Why.
    pub reason: RejectReason,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndReason {
    /// A party hung up an answered call.
    Hangup,
    /// The caller hung up before the call was answered.
    Cancelled,
    /// Unanswered within the configured time.
    Timeout,
    /// The other party's socket disconnected.
    Disconnect,
    /// To the callee's other devices: one device answered.
    AnsweredElsewhere,
    /// To the callee's other devices: one device declined.
    RejectedElsewhere,
}

/// `call-ended {callId, from?, reason}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEnded {
    /// The call.
    pub call_id: String,
    /// The other party's user id (absent on timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Why.
    pub reason: EndReason,
}

/// `ice-candidate {callId, from, candidate}` (relayed to the other party).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    /// The call.
    pub call_id: String,
    /// The sender's user id.
    pub from: String,
    /// The candidate, as sent.
    pub candidate: Value,
}

/// `call-error {message}` (Huddle addition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallErrorEvent {
    /// What went wrong.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::decode;
    use serde_json::json;

    #[test]
    fn both_spellings() {
        let a: InitiateCallRequest = decode(
            json!({"targetUserId": 2, "callerId": "1", "callerName": "A", "offer": {"type": "offer", "sdp": "v=0"}}),
        )
        .map_err(|e| e.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.target().as_deref(), Some("2"));
        assert_eq!(a.caller().as_deref(), Some("1"));
        let b: InitiateCallRequest =
            decode(json!({"to": "2", "from": 1, "offer": {"type": "offer"}}))
                .map_err(|e| e.to_string())
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.target().as_deref(), Some("2"));
        assert_eq!(b.caller().as_deref(), Some("1"));
        assert_eq!(b.call_type(), "video");
    }

    #[test]
    fn malformed() {
        assert!(decode::<InitiateCallRequest>(json!({"to": "2"})).is_err());
        assert!(decode::<InitiateCallRequest>(json!({"to": "2", "offer": 5})).is_err());
        assert!(
            decode::<InitiateCallRequest>(json!({"to": "2", "targetUserId": "3", "offer": {}}))
                .is_err()
        );
        assert!(
            decode::<InitiateCallRequest>(
                json!({"to": "2", "offer": {"sdp": "x".repeat(MAX_SDP_BYTES)}})
            )
            .is_err()
        );
        assert!(decode::<InitiateCallRequest>(json!("2")).is_err());
        assert!(decode::<RegisterUserRequest>(json!({})).is_err());
        assert!(decode::<RegisterUserRequest>(json!({"userId": [1]})).is_err());
        assert!(decode::<CallAcceptedRequest>(json!({"to": 1})).is_err());
        assert!(decode::<IceCandidateRequest>(json!({"to": 1, "candidate": null})).is_err());
        assert!(decode::<CallControlRequest>(json!({"callId": ""})).is_err());
        assert!(decode::<CallControlRequest>(json!(null)).is_ok());
    }

    /// Every request naming the peer accepts `targetUserId` and `to` (string or number),
    /// equal values under both names, and refuses different ones with the same message.
    #[test]
    fn target_spellings_pinned() {
        fn check<T: serde::de::DeserializeOwned + Validate>(
            extra: Value,
            target: impl Fn(&T) -> Option<String>,
        ) {
            let with = |fields: Value| {
                let mut v = extra.clone();
                if let (Some(m), Value::Object(f)) = (v.as_object_mut(), fields) {
                    m.extend(f);
                }
                decode::<T>(v)
            };
            for fields in [
                json!({"targetUserId": "7"}),
                json!({"targetUserId": 7}),
                json!({"to": "7"}),
                json!({"to": 7}),
                json!({"targetUserId": 7, "to": "7"}),
                json!({"targetUserId": " 7 ", "to": 7}),
            ] {
                match with(fields.clone()) {
                    Ok(r) => assert_eq!(target(&r).as_deref(), Some("7"), "{fields}"),
                    Err(e) => panic!("{fields}: {e}"),
                }
            }
            let err = |fields: Value| with(fields).err().map(|e| e.to_string());
            assert_eq!(
                err(json!({"targetUserId": 7, "to": 8})).as_deref(),
                Some("Invalid payload: targetUserId and to differ")
            );
            assert_eq!(
                err(json!({"to": ""})).as_deref(),
                Some(
                    "Invalid payload: to must be a non-empty string of at most 128 printable characters"
                )
            );
            assert_eq!(
                err(json!({"targetUserId": "x".repeat(129)})).as_deref(),
                Some(
                    "Invalid payload: targetUserId must be a non-empty string of at most 128 printable characters"
                )
            );
            assert_eq!(
                err(json!({"to": [7]})).as_deref(),
                Some(
                    "Invalid payload: to: invalid type: sequence, expected an id (a string or an integer)"
                )
            );
            assert_eq!(
                err(json!({"to": 7.5})).as_deref(),
                Some(
                    "Invalid payload: to: invalid type: floating point `7.5`, expected an id (a string or an integer)"
                )
            );
            // Absent, null and unknown fields are fine at decode time.
            assert!(with(json!({"to": null, "unknownField": [1]})).is_ok());
        }
        let offer = json!({"offer": {"type": "offer", "sdp": "v=0"}});
        check::<AvailabilityRequest>(json!({}), AvailabilityRequest::target);
        check::<InitiateCallRequest>(offer, InitiateCallRequest::target);
        check::<CallAcceptedRequest>(json!({"answer": "a"}), Addressed::target);
        check::<CallControlRequest>(json!({}), Addressed::target);
        check::<IceCandidateRequest>(json!({"candidate": "c"}), Addressed::target);
    }

    /// `callId` (string or number) on the requests that carry one; validated when present.
    #[test]
    fn call_id_pinned() {
        fn check<T: serde::de::DeserializeOwned + Validate + Addressed>(extra: Value) {
            let with = |id: Value| {
                let mut v = extra.clone();
                if let Some(m) = v.as_object_mut() {
                    m.insert("callId".into(), id);
                }
                decode::<T>(v)
            };
            assert_eq!(
                with(json!(12)).ok().and_then(|r| r.call_id()).as_deref(),
                Some("12")
            );
            assert_eq!(
                with(json!(" 12 "))
                    .ok()
                    .and_then(|r| r.call_id())
                    .as_deref(),
                Some("12")
            );
            assert_eq!(with(Value::Null).ok().and_then(|r| r.call_id()), None);
            assert_eq!(
                with(json!("")).err().map(|e| e.to_string()).as_deref(),
                Some(
                    "Invalid payload: callId must be a non-empty string of at most 128 printable characters"
                )
            );
            assert_eq!(
                with(json!({"id": 1}))
                    .err()
                    .map(|e| e.to_string())
                    .as_deref(),
                Some(
                    "Invalid payload: callId: invalid type: map, expected an id (a string or an integer)"
                )
            );
        }
        check::<CallAcceptedRequest>(json!({"to": 1, "answer": "a"}));
        check::<CallControlRequest>(json!({"to": 1}));
        check::<IceCandidateRequest>(json!({"to": 1, "candidate": "c"}));
    }

    /// serde's derived struct decoding also takes a JSON array (fields in declaration order:
    /// `targetUserId, to, callId, …`) and reports non-objects by the struct's name. Pinned
    /// because `#[serde(flatten)]` would change both.
    #[test]
    fn sequence_and_scalar_payloads_pinned() {
        let r = decode::<CallControlRequest>(json!([null, 2, "9"]));
        assert_eq!(
            r.map(|r| (r.target(), r.call_id())),
            Ok((Some("2".into()), Some("9".into())))
        );
        let r = decode::<CallAcceptedRequest>(json!(["2", null, null, {"type": "answer"}]));
        assert_eq!(r.map(|r| r.target()), Ok(Some("2".into())));
        assert!(decode::<CallControlRequest>(json!([])).is_ok());
        assert_eq!(
            decode::<CallControlRequest>(json!("2")).map_err(|e| e.to_string()),
            Err(
                "Invalid payload: invalid type: string \"2\", expected struct CallControlRequest"
                    .into()
            )
        );
        assert_eq!(
            decode::<IceCandidateRequest>(json!(5)).map_err(|e| e.to_string()),
            Err(
                "Invalid payload: invalid type: integer `5`, expected struct IceCandidateRequest"
                    .into()
            )
        );
    }

    #[test]
    fn wire_shapes() {
        let v = serde_json::to_value(CallEnded {
            call_id: "1".into(),
            from: None,
            reason: EndReason::AnsweredElsewhere,
        })
        .unwrap_or_default();
        assert_eq!(v, json!({"callId": "1", "reason": "answered-elsewhere"}));
        let v = serde_json::to_value(CallRejected {
            call_id: None,
            from: "2".into(),
            reason: RejectReason::Busy,
        })
        .unwrap_or_default();
        assert_eq!(v, json!({"from": "2", "reason": "busy"}));
    }
}
