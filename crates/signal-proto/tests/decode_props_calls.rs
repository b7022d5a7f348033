//! Property tests of the mesh (`groupcall:*`), 1:1 and presence / group-call payload decoders
//! (`mesh.rs`, `direct.rs`, the checks of `signal.rs`, and `join`, `group_call_initiate`,
//! `get_active_calls` of `requests.rs`):
//!
//! * arbitrary and mutated JSON never panics, every refusal reads `Invalid payload: <detail>`,
//!   and whatever is accepted respects the documented limits (ids, names, blobs, lists);
//! * generated valid payloads (either spelling of a peer, ids as strings or numbers, unknown
//!   extra fields) decode and round-trip their fields;
//! * a valid payload with one field made invalid (wrong type, missing, over-long, bad id,
//!   conflicting spellings) is refused, and the detail names that field where the decoder
//!   reports one (serde's type errors name none: they are checked by their text).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use signal_proto::direct::{
    Addressed, AvailabilityRequest, CallAcceptedRequest, CallControlRequest, IceCandidateRequest,
    InitiateCallRequest, RegisterUserRequest,
};
use signal_proto::mesh::{
    MeshInvitationRequest, MeshJoinRequest, MeshLeaveRequest, MeshSignalRequest, SignalKind,
    TrackUpdate, UpdateTracksRequest,
};
use signal_proto::requests::{
    CallType, GetActiveCallsRequest, GroupCallInitiateRequest, JoinRequest, MAX_ID_LEN,
    PayloadError, decode,
};
use signal_proto::signal::{
    MAX_CANDIDATE_BYTES, MAX_ID_LIST, MAX_NAME_LEN, MAX_SDP_BYTES, check_blob, check_id_list,
    check_name, check_opt_id, either_id,
};

/// Cases per property: enough to reach every generator branch, small enough that the whole
/// file runs in a few seconds (debug build).
const CASES: u32 = 256;

const TARGET: (&str, &str) = ("targetUserId", "to");
const CALLER: (&str, &str) = ("callerId", "from");
const KINDS: [SignalKind; 3] = [
    SignalKind::Offer,
    SignalKind::Answer,
    SignalKind::IceCandidate,
];

// ----- invariants of accepted payloads ---------------------------------------------------

/// What `check_id` accepts, after normalisation (trimmed).
fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control) && id.trim() == id
}

fn opt_id_ok(id: Option<String>) -> bool {
    id.as_deref().is_none_or(is_valid_id)
}

fn name_ok(name: Option<&str>) -> bool {
    name.is_none_or(|n| n.chars().count() <= MAX_NAME_LEN && !n.chars().any(char::is_control))
}

fn call_type_ok(t: Option<&str>) -> bool {
    matches!(t, None | Some("audio" | "video"))
}

fn blob_ok(blob: Option<&Value>, max: usize) -> bool {
    blob.is_some_and(|b| {
        (b.is_object() || b.is_string()) && serde_json::to_vec(b).is_ok_and(|v| v.len() <= max)
    })
}

/// Decodes `v` as `T`: a refusal must be well-formed, an acceptance must satisfy `ok`.
fn probe<T: serde::de::DeserializeOwned + signal_proto::requests::Validate>(
    v: &Value,
    ok: impl FnOnce(T) -> bool,
) -> Result<(), TestCaseError> {
    match decode::<T>(v.clone()) {
        Ok(r) => prop_assert!(
            ok(r),
            "{} accepted {v} against its limits",
            std::any::type_name::<T>()
        ),
        Err(e) => check_error(&e)?,
    }
    Ok(())
}

/// Runs every decoder covered here on `v` (it must not panic) and checks the invariants.
fn decode_all(v: &Value) -> Result<(), TestCaseError> {
    probe::<RegisterUserRequest>(v, |r| {
        is_valid_id(&r.user()) && name_ok(r.user_name.as_deref())
    })?;
    probe::<AvailabilityRequest>(v, |r| opt_id_ok(r.target()))?;
    probe::<InitiateCallRequest>(v, |r| {
        opt_id_ok(r.target())
            && opt_id_ok(r.caller())
            && name_ok(r.caller_name.as_deref())
            && call_type_ok(r.call_type.as_deref())
            && blob_ok(r.offer.as_ref(), MAX_SDP_BYTES)
    })?;
    probe::<CallAcceptedRequest>(v, |r| {
        opt_id_ok(r.target()) && opt_id_ok(r.call_id()) && blob_ok(r.answer.as_ref(), MAX_SDP_BYTES)
    })?;
    probe::<CallControlRequest>(v, |r| opt_id_ok(r.target()) && opt_id_ok(r.call_id()))?;
    probe::<IceCandidateRequest>(v, |r| {
        opt_id_ok(r.target())
            && opt_id_ok(r.call_id())
            && blob_ok(r.candidate.as_ref(), MAX_CANDIDATE_BYTES)
    })?;
    probe::<MeshJoinRequest>(v, |r| opt_id_ok(r.room_id()))?;
    probe::<MeshLeaveRequest>(v, |r| opt_id_ok(r.room_id()))?;
    probe::<MeshInvitationRequest>(v, |r| {
        opt_id_ok(r.room_id())
            && call_type_ok(r.call_type.as_deref())
            && r.targets()
                .is_none_or(|t| t.len() <= MAX_ID_LIST && t.iter().all(|id| is_valid_id(id)))
    })?;
    probe::<MeshSignalRequest>(v, |r| {
        opt_id_ok(r.room_id())
            && opt_id_ok(r.target())
            && opt_id_ok(r.target_socket_id.as_deref().map(|s| s.trim().to_owned()))
            && KINDS.iter().all(|&kind| match r.clone().take_blob(kind) {
                Ok(b) => blob_ok(Some(&b), kind.max_bytes()),
                Err(e) => e.0.starts_with(kind.field()),
            })
    })?;
    probe::<UpdateTracksRequest>(v, |r| opt_id_ok(r.room_id()))?;
    probe::<GroupCallInitiateRequest>(v, |r| {
        r.conversation_id.as_deref().is_none_or(|c| {
            !c.is_empty() && c.len() <= MAX_ID_LEN && !c.chars().any(char::is_control)
        }) && call_type_ok(r.call_type.as_deref())
    })?;
    probe::<GetActiveCallsRequest>(v, |_| true)?;
    match JoinRequest::decode(v.clone()) {
        Ok(id) => prop_assert!(is_valid_id(&id), "join accepted {v} as {id:?}"),
        Err(e) => check_error(&e)?,
    }
    Ok(())
}

// ----- generators of valid parts -----------------------------------------------------------

/// An id under either of two names, or under both (equal ids, one as the normalised string):
/// the fields and the normalised id.
fn arb_either(names: (&'static str, &'static str)) -> impl Strategy<Value = (Fields, String)> {
    (arb_id(), 0..3u8).prop_map(move |((v, id), how)| {
        let fields = match how {
            0 => vec![(names.0, v)],
            1 => vec![(names.1, v)],
            _ => vec![(names.0, v), (names.1, json!(id))],
        };
        (fields, id)
    })
}

type Fields = Vec<(&'static str, Value)>;

/// A display name within the limit (counted in characters).
fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z .'-]{0,40}",
        // Exactly at the limit, in multi-byte characters.
        prop::collection::vec(
            prop::sample::select(&['a', 'é', '漢', 'ß', ' '][..]),
            MAX_NAME_LEN
        )
        .prop_map(|c| c.into_iter().collect::<String>()),
    ]
}

/// `"audio"` or `"video"`.
fn arb_call_type() -> impl Strategy<Value = String> {
    prop::sample::select(&["audio", "video"][..]).prop_map(str::to_owned)
}

/// A relayed WebRTC blob (SDP or candidate shaped, or a bare string), well under every limit.
fn arb_blob() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[ -~]{0,200}".prop_map(Value::String),
        (
            prop::sample::select(&["offer", "answer", "pranswer"][..]),
            "[ -~\r\n]{0,300}"
        )
            .prop_map(|(t, sdp)| json!({"type": t, "sdp": sdp})),
        ("[ -~]{0,100}", "[0-9]{1,2}", 0u32..8)
            .prop_map(|(c, mid, idx)| json!({"candidate": c, "sdpMid": mid, "sdpMLineIndex": idx})),
        Just(json!({})),
    ]
}

/// Unknown fields (lowercase names starting with `x`, never a field of any request).
fn arb_extra() -> impl Strategy<Value = Fields> {
    prop::collection::vec(
        (
            prop::sample::select(&["x", "xtra", "xmeta", "xsocketid", "xversion"][..]),
            arb_json(CALL_KEYS),
        ),
        0..3,
    )
}

/// A track update, and its JSON (absent flags omitted, or sent as `null`).
fn arb_tracks() -> impl Strategy<Value = (TrackUpdate, Value)> {
    (
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        any::<bool>(),
    )
        .prop_map(|(audio, video, nulls)| {
            let mut m = Map::new();
            for (k, b) in [("audio", audio), ("video", video)] {
                match b {
                    Some(b) => {
                        m.insert(k.into(), json!(b));
                    }
                    None if nulls => {
                        m.insert(k.into(), Value::Null);
                    }
                    None => {}
                }
            }
            (TrackUpdate { audio, video }, Value::Object(m))
        })
}

/// A mesh room id: a valid id (`Some(normalised)`), or empty / blank (treated as absent).
fn arb_room() -> impl Strategy<Value = (Value, Option<String>)> {
    prop_oneof![
        4 => arb_id().prop_map(|(v, id)| (v, Some(id))),
        1 => prop::sample::select(&["", " ", "   "][..]).prop_map(|s| (json!(s), None)),
    ]
}

/// An object of `fields` (later entries win), plus `extra`.
fn object(fields: impl IntoIterator<Item = (&'static str, Value)>, extra: &Fields) -> Value {
    let mut m = Map::new();
    for (k, v) in extra.iter().cloned().chain(fields) {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
}

fn opt_fields<T>(o: &Option<(Fields, T)>) -> Fields {
    o.as_ref().map(|(f, _)| f.clone()).unwrap_or_default()
}

fn opt_field(key: &'static str, v: &Option<impl Into<Value> + Clone>) -> Fields {
    v.iter().map(|v| (key, v.clone().into())).collect()
}

// ----- valid payloads with their expected decoding -----------------------------------------

/// `register-user`: payload, user id, name.
fn valid_register_user() -> impl Strategy<Value = (Value, String, Option<String>)> {
    (arb_id(), prop::option::of(arb_name()), arb_extra()).prop_map(|((id, norm), name, extra)| {
        let mut f = vec![("userId", id)];
        f.extend(opt_field("userName", &name));
        (object(f, &extra), norm, name)
    })
}

/// `check-user-availability`: payload, target.
fn valid_availability() -> impl Strategy<Value = (Value, Option<String>)> {
    (prop::option::of(arb_either(TARGET)), arb_extra()).prop_map(|(peer, extra)| {
        let v = object(opt_fields(&peer), &extra);
        (v, peer.map(|p| p.1))
    })
}

#[derive(Debug, Clone)]
struct Initiate {
    target: Option<String>,
    caller: Option<String>,
    name: Option<String>,
    call_type: Option<String>,
    offer: Value,
}

fn valid_initiate_call() -> impl Strategy<Value = (Value, Initiate)> {
    (
        prop::option::of(arb_either(TARGET)),
        prop::option::of(arb_either(CALLER)),
        prop::option::of(arb_name()),
        prop::option::of(arb_call_type()),
        arb_blob(),
        arb_extra(),
    )
        .prop_map(|(peer, caller, name, call_type, offer, extra)| {
            let mut f = opt_fields(&peer);
            f.extend(opt_fields(&caller));
            f.extend(opt_field("callerName", &name));
            f.extend(opt_field("callType", &call_type));
            f.push(("offer", offer.clone()));
            let expected = Initiate {
                target: peer.map(|p| p.1),
                caller: caller.map(|c| c.1),
                name,
                call_type,
                offer,
            };
            (object(f, &extra), expected)
        })
}

/// The requests addressed to a peer and a call: payload, target, call id, blob (under
/// `blob_key`, when given).
fn valid_addressed(
    blob_key: Option<&'static str>,
) -> impl Strategy<Value = (Value, Option<String>, Option<String>, Option<Value>)> {
    (
        prop::option::of(arb_either(TARGET)),
        prop::option::of(arb_id()),
        arb_blob(),
        arb_extra(),
    )
        .prop_map(move |(peer, call, blob, extra)| {
            let mut f = opt_fields(&peer);
            f.extend(call.iter().map(|(v, _)| ("callId", v.clone())));
            if let Some(k) = blob_key {
                f.push((k, blob.clone()));
            }
            let v = object(f, &extra);
            (
                v,
                peer.map(|p| p.1),
                call.map(|c| c.1),
                blob_key.map(|_| blob),
            )
        })
}

fn valid_mesh_join() -> impl Strategy<Value = (Value, Option<String>, Option<TrackUpdate>)> {
    (
        prop::option::of(arb_room()),
        prop::option::of(arb_tracks()),
        arb_extra(),
    )
        .prop_map(|(room, tracks, extra)| {
            let mut f = opt_field("roomId", &room.as_ref().map(|r| r.0.clone()));
            f.extend(opt_field("tracks", &tracks.as_ref().map(|t| t.1.clone())));
            (
                object(f, &extra),
                room.and_then(|r| r.1),
                tracks.map(|t| t.0),
            )
        })
}

fn valid_mesh_leave() -> impl Strategy<Value = (Value, Option<String>)> {
    (prop::option::of(arb_room()), arb_extra()).prop_map(|(room, extra)| {
        let f = opt_field("roomId", &room.as_ref().map(|r| r.0.clone()));
        (object(f, &extra), room.and_then(|r| r.1))
    })
}

#[derive(Debug, Clone)]
struct Invitation {
    room: Option<String>,
    call_type: Option<String>,
    targets: Option<Vec<String>>,
}

fn valid_mesh_invitation() -> impl Strategy<Value = (Value, Invitation)> {
    (
        prop::option::of(arb_room()),
        prop::option::of(arb_call_type()),
        prop::option::of(prop::collection::vec(arb_id(), 0..8)),
        arb_extra(),
    )
        .prop_map(|(room, call_type, targets, extra)| {
            let mut f = opt_field("roomId", &room.as_ref().map(|r| r.0.clone()));
            f.extend(opt_field("callType", &call_type));
            if let Some(t) = &targets {
                f.push((
                    "targetUserIds",
                    Value::Array(t.iter().map(|(v, _)| v.clone()).collect()),
                ));
            }
            let expected = Invitation {
                room: room.and_then(|r| r.1),
                call_type,
                targets: targets.map(|t| t.into_iter().map(|(_, id)| id).collect()),
            };
            (object(f, &extra), expected)
        })
}

#[derive(Debug, Clone)]
struct Signal {
    room: Option<String>,
    target: Option<String>,
    socket: Option<String>,
    kind: SignalKind,
    blob: Value,
}

fn valid_mesh_signal() -> impl Strategy<Value = (Value, Signal)> {
    (
        prop::option::of(arb_room()),
        prop::option::of(arb_id()),
        prop::option::of(arb_str_id()),
        prop::sample::select(&KINDS[..]),
        arb_blob(),
        arb_extra(),
    )
        .prop_map(|(room, target, socket, kind, blob, extra)| {
            let mut f = opt_field("roomId", &room.as_ref().map(|r| r.0.clone()));
            f.extend(opt_field(
                "targetUserId",
                &target.as_ref().map(|t| t.0.clone()),
            ));
            f.extend(opt_field("targetSocketId", &socket));
            f.push((kind.field(), blob.clone()));
            let expected = Signal {
                room: room.and_then(|r| r.1),
                target: target.map(|t| t.1),
                socket,
                kind,
                blob,
            };
            (object(f, &extra), expected)
        })
}

fn valid_update_tracks() -> impl Strategy<Value = (Value, Option<String>, TrackUpdate)> {
    (prop::option::of(arb_room()), arb_tracks(), arb_extra()).prop_map(|(room, tracks, extra)| {
        let mut f = opt_field("roomId", &room.as_ref().map(|r| r.0.clone()));
        f.push(("tracks", tracks.1));
        (object(f, &extra), room.and_then(|r| r.1), tracks.0)
    })
}

#[derive(Debug, Clone)]
struct GroupInitiate {
    caller: Option<String>,
    conversation: Option<String>,
    call_type: Option<String>,
}

fn valid_group_call_initiate() -> impl Strategy<Value = (Value, GroupInitiate)> {
    (
        // The caller id's content is the domain's business ("Invalid caller id"): any string
        // or number decodes, even one `check_id` would refuse.
        prop::option::of(prop_oneof![
            arb_id(),
            arb_bad_id().prop_map(|v| {
                let id = v.as_str().map(|s| s.trim().to_owned()).unwrap_or_default();
                (v, id)
            }),
        ]),
        prop::option::of(arb_str_id()),
        prop::option::of(arb_call_type()),
        arb_extra(),
    )
        .prop_map(|(caller, conversation, call_type, extra)| {
            let mut f = opt_field("callerId", &caller.as_ref().map(|c| c.0.clone()));
            f.extend(opt_field("conversationId", &conversation));
            f.extend(opt_field("callType", &call_type));
            // Older clients' display fields are accepted and ignored.
            f.push(("callerName", json!("ignored")));
            let expected = GroupInitiate {
                caller: caller.map(|c| c.1),
                conversation,
                call_type,
            };
            (object(f, &extra), expected)
        })
}

// ----- mutations ---------------------------------------------------------------------------

/// One change that makes a valid payload invalid, and what the refusal must say.
#[derive(Debug, Clone)]
struct Mutation {
    /// Fields to set (`Some`) or remove (`None`).
    set: Vec<(&'static str, Option<Value>)>,
    /// Replace the whole payload instead.
    whole: Option<Value>,
    expect: Expect,
}

impl Mutation {
    fn apply(&self, v: &Value) -> Value {
        if let Some(w) = &self.whole {
            return w.clone();
        }
        let mut v = v.clone();
        for (k, x) in &self.set {
            v = match x {
                Some(x) => with(v, k, x.clone()),
                None => without(v, k),
            };
        }
        v
    }
}

type Mut = BoxedStrategy<Mutation>;

fn set(key: &'static str, value: impl Strategy<Value = Value> + 'static, expect: Expect) -> Mut {
    value
        .prop_map(move |v| Mutation {
            set: vec![(key, Some(v))],
            whole: None,
            expect: expect.clone(),
        })
        .boxed()
}

/// `key` set to an empty, blank, over-long or control-character id.
fn bad_id(key: &'static str) -> Mut {
    set(key, arb_bad_id(), Expect::Field(key))
}

/// Like [`bad_id`], without empty / blank ids (which some fields treat as absent).
fn bad_nonblank_id(key: &'static str) -> Mut {
    set(
        key,
        arb_bad_id().prop_filter("blank", |v| v.as_str().is_none_or(|s| !s.trim().is_empty())),
        Expect::Field(key),
    )
}

/// `key` (a string-or-number id) set to a bool, a fraction, an array, an object.
fn non_id(key: &'static str) -> Mut {
    set(key, arb_non_id(), Expect::Typed(key, ID_TYPE_ERROR))
}

/// `key` (a string) set to something else.
fn non_string(key: &'static str) -> Mut {
    set(key, arb_non_string(), Expect::Typed(key, "invalid type"))
}

/// Both spellings given, with different ids.
fn differ(names: (&'static str, &'static str), text: &'static str) -> Mut {
    (arb_id(), arb_id())
        .prop_filter("equal ids", |(a, b)| a.1 != b.1)
        .prop_map(move |(a, b)| Mutation {
            set: vec![(names.0, Some(a.0)), (names.1, Some(b.0))],
            whole: None,
            expect: Expect::Text(text),
        })
        .boxed()
}

fn remove(key: &'static str, expect: Expect) -> Mut {
    Just(Mutation {
        set: vec![(key, None)],
        whole: None,
        expect,
    })
    .boxed()
}

/// A string whose JSON encoding is `extra` bytes longer than `max` (1 ≤ `extra`).
fn oversized_string(max: usize, extra: usize) -> Value {
    json!("x".repeat(max - 2 + extra))
}

/// The blob under `key`: missing, `null`, of the wrong type, or above `max` bytes.
fn bad_blob(key: &'static str, max: usize) -> Mut {
    prop_oneof![
        remove(key, Expect::Field(key)),
        set(key, Just(Value::Null), Expect::Field(key)),
        set(
            key,
            prop_oneof![
                any::<i64>().prop_map(|n| json!(n)),
                any::<bool>().prop_map(Value::Bool),
                Just(json!([])),
            ],
            Expect::Field(key)
        ),
        set(
            key,
            (1usize..2000).prop_map(move |n| oversized_string(max, n)),
            Expect::Field(key)
        ),
        set(
            key,
            (1usize..2000).prop_map(move |n| json!({"sdp": "y".repeat(max + n)})),
            Expect::Field(key)
        ),
    ]
    .boxed()
}

/// A display name over the limit or with a control character.
fn bad_name(key: &'static str) -> Mut {
    set(
        key,
        prop_oneof![
            (MAX_NAME_LEN + 1..MAX_NAME_LEN * 2).prop_map(|n| json!("é".repeat(n))),
            ("[a-z]{0,10}", "[\u{0}-\u{1f}\u{7f}]", "[a-z]{0,10}")
                .prop_map(|(a, c, b)| json!(format!("{a}{c}{b}"))),
        ],
        Expect::Field(key),
    )
}

fn bad_call_type() -> Mut {
    set(
        "callType",
        "[a-zA-Z]{0,10}"
            .prop_filter("valid", |s| s != "audio" && s != "video")
            .prop_map(Value::String),
        Expect::Field("callType"),
    )
}

/// The payload replaced by a string, number or bool.
fn whole_scalar() -> Mut {
    prop_oneof![
        "[a-z0-9]{0,10}".prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
    ]
    .prop_map(|w| Mutation {
        set: vec![],
        whole: Some(w),
        expect: Expect::Text("invalid type"),
    })
    .boxed()
}

/// Mutations of the `targetUserId` / `to` pair.
fn bad_target() -> Mut {
    prop_oneof![
        bad_id("targetUserId"),
        bad_id("to"),
        non_id("targetUserId"),
        non_id("to"),
        differ(TARGET, "targetUserId and to differ"),
    ]
    .boxed()
}

fn bad_call_id() -> Mut {
    prop_oneof![bad_id("callId"), non_id("callId")].boxed()
}

fn bad_room_id() -> Mut {
    prop_oneof![bad_nonblank_id("roomId"), non_id("roomId")].boxed()
}

/// `tracks` of the wrong shape (`null` only when `tracks` is required). Note that an array is
/// decoded positionally (`[true]` is `{audio: true}`), so only arrays of non-booleans fail.
fn bad_tracks(required: bool) -> Mut {
    let null = if required { 1 } else { 0 };
    set(
        "tracks",
        prop_oneof![
            null => Just(Value::Null),
            1 => Just(json!("on")),
            1 => Just(json!([1])),
            1 => any::<i64>().prop_map(|n| json!({"audio": n})),
            1 => "[a-z]{0,5}".prop_map(|s| json!({"video": s})),
        ],
        Expect::Typed("tracks", "invalid type"),
    )
}

fn bad_target_list() -> Mut {
    prop_oneof![
        set(
            "targetUserIds",
            (MAX_ID_LIST + 1..MAX_ID_LIST + 40)
                .prop_map(|n| Value::Array((0..n).map(|i| json!(i)).collect())),
            Expect::Field("targetUserIds")
        ),
        set(
            "targetUserIds",
            (prop::collection::vec(arb_id(), 0..4), arb_bad_id()).prop_map(|(ids, bad)| {
                let mut a: Vec<Value> = ids.into_iter().map(|(v, _)| v).collect();
                a.push(bad);
                Value::Array(a)
            }),
            Expect::Field("targetUserIds")
        ),
        set(
            "targetUserIds",
            arb_non_id().prop_map(|v| json!([1, v])),
            Expect::Typed("targetUserIds", ID_TYPE_ERROR)
        ),
        set(
            "targetUserIds",
            prop_oneof![Just(json!("1")), Just(json!(1)), Just(json!({"0": 1}))],
            Expect::Typed("targetUserIds", "invalid type")
        ),
    ]
    .boxed()
}

/// Applies `m` to `v` and checks the refusal of decoder `T`.
fn refused<T: serde::de::DeserializeOwned + signal_proto::requests::Validate + std::fmt::Debug>(
    v: &Value,
    m: &Mutation,
) -> Result<(), TestCaseError> {
    let bad = m.apply(v);
    assert_refused(decode::<T>(bad.clone()), &m.expect)
        .map_err(|e| TestCaseError::fail(format!("{e}\n  payload: {bad}\n  mutation: {m:?}")))
}

// ----- properties --------------------------------------------------------------------------

fn valid_examples() -> Vec<Value> {
    vec![
        json!({"userId": 1, "userName": "Alice"}),
        json!({"targetUserId": "2"}),
        json!({"to": 2, "from": "1", "callerName": "A", "offer": {"type": "offer", "sdp": "v=0"}}),
        json!({"to": 1, "callId": "7", "answer": {"type": "answer", "sdp": "v=0"}}),
        json!({"targetUserId": 1, "callId": 7}),
        json!({"to": "1", "candidate": {"candidate": "candidate:1", "sdpMid": "0"}}),
        json!({"roomId": "conv-1", "tracks": {"audio": true, "video": false}}),
        json!({"roomId": "conv-1", "callType": "audio", "targetUserIds": [2, "3"]}),
        json!({"roomId": "conv-1", "targetUserId": 2, "targetSocketId": "s1", "offer": "v=0"}),
        json!({"tracks": {"video": true}}),
        json!({"callerId": 1, "conversationId": "conv-1", "callType": "video"}),
        json!({}),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    // --- robustness: anything goes in, nothing panics, accepted payloads respect the limits

    #[test]
    fn arbitrary_json_never_panics_and_respects_limits(v in arb_json(CALL_KEYS)) {
        decode_all(&v)?;
    }

    #[test]
    fn arbitrary_field_maps_never_panic_and_respect_limits(
        m in prop::collection::btree_map(
            arb_key(CALL_KEYS),
            prop_oneof![
                arb_id().prop_map(|(v, _)| v),
                arb_bad_id(),
                arb_non_id(),
                arb_blob(),
                Just(Value::Null),
                arb_json(CALL_KEYS),
            ],
            0..8,
        ),
    ) {
        decode_all(&Value::Object(m.into_iter().collect()))?;
    }

    #[test]
    fn mutated_examples_never_panic_and_respect_limits(
        idx in 0usize..12,
        key in arb_key(CALL_KEYS),
        replacement in arb_json(CALL_KEYS),
    ) {
        let mut v = valid_examples()[idx].clone();
        if let Some(map) = v.as_object_mut() {
            map.insert(key, replacement);
        }
        decode_all(&v)?;
    }

    #[test]
    fn random_text_never_panics(text in ".{0,200}") {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            decode_all(&v)?;
        }
    }

    // --- presence and group call: join, register-user, group_call_initiate, get_active_calls

    #[test]
    fn join_round_trips((id, norm) in arb_id(), wrapped in any::<bool>(), extra in arb_extra()) {
        let v = if wrapped { object([("userId", id)], &extra) } else { id };
        prop_assert_eq!(accepted(JoinRequest::decode(v.clone()), &v)?, norm);
    }

    #[test]
    fn join_refuses_bad_ids(
        bad in prop_oneof![arb_bad_id(), arb_non_id(), Just(Value::Null)],
        wrapped in any::<bool>(),
    ) {
        let v = if wrapped { json!({"userId": bad}) } else { bad };
        assert_refused(JoinRequest::decode(v), &Expect::Field("userId"))?;
    }

    #[test]
    fn register_user_round_trips((v, id, name) in valid_register_user()) {
        let r: RegisterUserRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.user(), id);
        prop_assert_eq!(r.user_name, name);
    }

    #[test]
    fn register_user_refuses_mutations(
        (v, _, _) in valid_register_user(),
        m in prop_oneof![
            remove("userId", Expect::Text("userId required")),
            set("userId", Just(Value::Null), Expect::Text("userId required")),
            bad_id("userId"),
            non_id("userId"),
            bad_name("userName"),
            non_string("userName"),
            whole_scalar(),
        ],
    ) {
        refused::<RegisterUserRequest>(&v, &m)?;
    }

    #[test]
    fn group_call_initiate_round_trips((v, e) in valid_group_call_initiate()) {
        let r: GroupCallInitiateRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.caller_id.as_ref().map(|c| c.normalized()), e.caller);
        prop_assert_eq!(r.conversation_id.clone(), e.conversation);
        let expected = if e.call_type.as_deref() == Some("audio") {
            CallType::Audio
        } else {
            CallType::Video
        };
        prop_assert_eq!(r.call_type(), expected);
    }

    #[test]
    fn group_call_initiate_refuses_mutations(
        (v, _) in valid_group_call_initiate(),
        m in prop_oneof![
            non_id("callerId"),
            bad_nonblank_id("conversationId"),
            non_string("conversationId"),
            bad_call_type(),
            non_string("callType"),
            whole_scalar(),
        ],
    ) {
        refused::<GroupCallInitiateRequest>(&v, &m)?;
    }

    #[test]
    fn get_active_calls_takes_any_object(extra in arb_extra(), scalar in whole_scalar()) {
        let v = object([], &extra);
        accepted(decode::<GetActiveCallsRequest>(v.clone()), &v)?;
        accepted(decode::<GetActiveCallsRequest>(Value::Null), &Value::Null)?;
        refused::<GetActiveCallsRequest>(&v, &scalar)?;
    }

    // --- 1:1 calls

    #[test]
    fn availability_round_trips((v, target) in valid_availability()) {
        let r: AvailabilityRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.target(), target);
    }

    #[test]
    fn availability_refuses_mutations(
        (v, _) in valid_availability(),
        m in prop_oneof![bad_target(), whole_scalar()],
    ) {
        refused::<AvailabilityRequest>(&v, &m)?;
    }

    #[test]
    fn initiate_call_round_trips((v, e) in valid_initiate_call()) {
        let r: InitiateCallRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.target(), e.target);
        prop_assert_eq!(r.caller(), e.caller);
        prop_assert_eq!(r.caller_name.clone(), e.name);
        prop_assert_eq!(r.call_type(), e.call_type.as_deref().unwrap_or("video"));
        prop_assert_eq!(r.offer, Some(e.offer));
    }

    #[test]
    fn initiate_call_refuses_mutations(
        (v, _) in valid_initiate_call(),
        m in prop_oneof![
            bad_target(),
            bad_id("callerId"),
            bad_id("from"),
            non_id("from"),
            differ(CALLER, "callerId and from differ"),
            bad_name("callerName"),
            non_string("callerName"),
            bad_call_type(),
            bad_blob("offer", MAX_SDP_BYTES),
            whole_scalar(),
        ],
    ) {
        refused::<InitiateCallRequest>(&v, &m)?;
    }

    #[test]
    fn call_accepted_round_trips((v, target, call, blob) in valid_addressed(Some("answer"))) {
        let r: CallAcceptedRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.target(), target);
        prop_assert_eq!(r.call_id(), call);
        prop_assert_eq!(r.answer, blob);
    }

    #[test]
    fn call_accepted_refuses_mutations(
        (v, ..) in valid_addressed(Some("answer")),
        m in prop_oneof![
            bad_target(),
            bad_call_id(),
            bad_blob("answer", MAX_SDP_BYTES),
            whole_scalar(),
        ],
    ) {
        refused::<CallAcceptedRequest>(&v, &m)?;
    }

    #[test]
    fn call_control_round_trips((v, target, call, _) in valid_addressed(None)) {
        let r: CallControlRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.target(), target);
        prop_assert_eq!(r.call_id(), call);
    }

    #[test]
    fn call_control_refuses_mutations(
        (v, ..) in valid_addressed(None),
        m in prop_oneof![bad_target(), bad_call_id(), whole_scalar()],
    ) {
        refused::<CallControlRequest>(&v, &m)?;
    }

    #[test]
    fn ice_candidate_round_trips((v, target, call, blob) in valid_addressed(Some("candidate"))) {
        let r: IceCandidateRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.target(), target);
        prop_assert_eq!(r.call_id(), call);
        prop_assert_eq!(r.candidate, blob);
    }

    #[test]
    fn ice_candidate_refuses_mutations(
        (v, ..) in valid_addressed(Some("candidate")),
        m in prop_oneof![
            bad_target(),
            bad_call_id(),
            bad_blob("candidate", MAX_CANDIDATE_BYTES),
            whole_scalar(),
        ],
    ) {
        refused::<IceCandidateRequest>(&v, &m)?;
    }

    // --- mesh group calls

    #[test]
    fn mesh_join_round_trips((v, room, tracks) in valid_mesh_join()) {
        let r: MeshJoinRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.room_id(), room);
        prop_assert_eq!(r.tracks, tracks);
    }

    #[test]
    fn mesh_join_refuses_mutations(
        (v, ..) in valid_mesh_join(),
        m in prop_oneof![bad_room_id(), bad_tracks(false), whole_scalar()],
    ) {
        refused::<MeshJoinRequest>(&v, &m)?;
    }

    #[test]
    fn mesh_leave_round_trips((v, room) in valid_mesh_leave()) {
        let r: MeshLeaveRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.room_id(), room);
    }

    #[test]
    fn mesh_leave_refuses_mutations(
        (v, _) in valid_mesh_leave(),
        m in prop_oneof![bad_room_id(), whole_scalar()],
    ) {
        refused::<MeshLeaveRequest>(&v, &m)?;
    }

    #[test]
    fn mesh_invitation_round_trips((v, e) in valid_mesh_invitation()) {
        let r: MeshInvitationRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.room_id(), e.room);
        prop_assert_eq!(r.call_type(), e.call_type.as_deref().unwrap_or("video"));
        prop_assert_eq!(r.targets(), e.targets);
    }

    #[test]
    fn mesh_invitation_refuses_mutations(
        (v, _) in valid_mesh_invitation(),
        m in prop_oneof![bad_room_id(), bad_call_type(), bad_target_list(), whole_scalar()],
    ) {
        refused::<MeshInvitationRequest>(&v, &m)?;
    }

    #[test]
    fn mesh_signal_round_trips((v, e) in valid_mesh_signal()) {
        let r: MeshSignalRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.room_id(), e.room);
        prop_assert_eq!(r.target(), e.target);
        prop_assert_eq!(r.target_socket_id.clone(), e.socket);
        for kind in KINDS {
            let blob = r.clone().take_blob(kind);
            if kind == e.kind {
                prop_assert_eq!(blob, Ok(e.blob.clone()));
            } else {
                // The other blobs were not sent.
                assert_refused(blob, &Expect::Field(kind.field()))?;
            }
        }
    }

    #[test]
    fn mesh_signal_refuses_mutations(
        (v, _) in valid_mesh_signal(),
        m in prop_oneof![
            bad_room_id(),
            bad_id("targetUserId"),
            non_id("targetUserId"),
            bad_id("targetSocketId"),
            non_string("targetSocketId"),
            whole_scalar(),
        ],
    ) {
        refused::<MeshSignalRequest>(&v, &m)?;
    }

    /// The blob of a relay is checked when the handler takes it (after decoding).
    #[test]
    fn mesh_signal_blob_refusals_name_the_blob(
        (v, e) in valid_mesh_signal(),
        m in (0usize..3, 1usize..2000).prop_flat_map(|(k, n)| {
            let kind = KINDS[k];
            prop_oneof![
                remove(kind.field(), Expect::Field(kind.field())),
                set(kind.field(), Just(Value::Null), Expect::Field(kind.field())),
                set(kind.field(), Just(json!(n)), Expect::Field(kind.field())),
                set(
                    kind.field(),
                    Just(oversized_string(kind.max_bytes(), n)),
                    Expect::Field(kind.field())
                ),
            ]
            .prop_map(move |m| (kind, m))
        }),
    ) {
        let (kind, m) = m;
        let bad = m.apply(&v);
        let r: MeshSignalRequest = accepted(decode(bad.clone()), &bad)?;
        assert_refused(r.clone().take_blob(kind), &m.expect)?;
        if kind != e.kind {
            // The blob that was sent is untouched.
            prop_assert_eq!(r.clone().take_blob(e.kind), Ok(e.blob));
        }
    }

    #[test]
    fn update_tracks_round_trips((v, room, tracks) in valid_update_tracks()) {
        let r: UpdateTracksRequest = accepted(decode(v.clone()), &v)?;
        prop_assert_eq!(r.room_id(), room);
        prop_assert_eq!(r.tracks, tracks);
    }

    #[test]
    fn update_tracks_refuses_mutations(
        (v, ..) in valid_update_tracks(),
        m in prop_oneof![
            remove("tracks", Expect::Text("missing field `tracks`")),
            bad_tracks(true),
            bad_room_id(),
            whole_scalar(),
        ],
    ) {
        refused::<UpdateTracksRequest>(&v, &m)?;
    }

    // --- the shared checks of signal.rs, directly

    #[test]
    fn either_id_resolves_and_refuses(
        (a, na) in arb_id(),
        (b, nb) in arb_id(),
        bad in arb_bad_id(),
    ) {
        let id = |v: &Value| serde_json::from_value::<signal_proto::IdLike>(v.clone()).unwrap();
        let (a, b, bad) = (id(&a), id(&b), id(&bad));
        prop_assert_eq!(either_id(TARGET, Some(&a), None), Ok(Some(na.clone())));
        prop_assert_eq!(either_id(TARGET, None, Some(&b)), Ok(Some(nb.clone())));
        prop_assert_eq!(either_id(TARGET, None, None), Ok(None));
        let both = either_id(TARGET, Some(&a), Some(&b));
        if na == nb {
            prop_assert_eq!(both, Ok(Some(na)));
        } else {
            assert_refused(both, &Expect::Text("targetUserId and to differ"))?;
        }
        assert_refused(either_id(TARGET, Some(&bad), Some(&a)), &Expect::Field("targetUserId"))?;
        assert_refused(either_id(TARGET, Some(&a), Some(&bad)), &Expect::Field("to"))?;
        prop_assert_eq!(check_opt_id("roomId", Some(&a)), Ok(()));
        assert_refused(check_opt_id("roomId", Some(&bad)), &Expect::Field("roomId"))?;
    }

    #[test]
    fn check_id_list_counts_and_checks_each(
        ids in prop::collection::vec(arb_id(), 0..MAX_ID_LIST + 20),
        bad in arb_bad_id(),
        at in any::<prop::sample::Index>(),
    ) {
        let mut ids: Vec<signal_proto::IdLike> = ids
            .iter()
            .map(|(v, _)| serde_json::from_value(v.clone()).unwrap())
            .collect();
        let result = check_id_list("targetUserIds", &ids);
        if ids.len() <= MAX_ID_LIST {
            prop_assert_eq!(result, Ok(()));
            let i = at.index(ids.len() + 1);
            ids.insert(i, serde_json::from_value(bad).unwrap());
            if ids.len() <= MAX_ID_LIST {
                assert_refused(
                    check_id_list("targetUserIds", &ids),
                    &Expect::Field("targetUserIds"),
                )?;
            }
        } else {
            assert_refused(result, &Expect::Text("targetUserIds has more than 256 entries"))?;
        }
    }

    #[test]
    fn check_blob_limits(blob in arb_blob(), n in 0usize..3000, max in 8usize..5000) {
        let len = serde_json::to_vec(&blob).unwrap().len();
        let r = check_blob("offer", Some(&blob), max);
        if len <= max {
            prop_assert_eq!(r, Ok(()));
        } else {
            assert_refused(r, &Expect::Text("offer is too large"))?;
        }
        let s = json!("z".repeat(n));
        let r = check_blob("candidate", Some(&s), n + 2);
        prop_assert_eq!(r, Ok(()));
        assert_refused(check_blob("candidate", Some(&s), n + 1), &Expect::Field("candidate"))?;
    }

    #[test]
    fn check_name_counts_characters(
        name in prop_oneof!["[a-zé漢]{0,140}", "[a-z]{0,5}[\u{0}-\u{1f}][a-z]{0,5}"],
    ) {
        let ok = name.chars().count() <= MAX_NAME_LEN && !name.chars().any(char::is_control);
        let r = check_name("userName", Some(&name));
        if ok {
            prop_assert_eq!(r, Ok(()));
        } else {
            assert_refused(r, &Expect::Field("userName"))?;
        }
    }
}

/// Exactly at the size limits: accepted; one byte over: refused (each blob of each request).
#[test]
fn blob_limits_are_inclusive() {
    let at = |max: usize| json!("x".repeat(max - 2));
    let over = |max: usize| oversized_string(max, 1);
    let offer = |b: Value| json!({"to": 2, "offer": b});
    assert!(decode::<InitiateCallRequest>(offer(at(MAX_SDP_BYTES))).is_ok());
    let e = decode::<InitiateCallRequest>(offer(over(MAX_SDP_BYTES))).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Invalid payload: offer is too large ({} bytes, at most {MAX_SDP_BYTES})",
            MAX_SDP_BYTES + 1
        )
    );
    let answer = |b: Value| json!({"to": 2, "answer": b});
    assert!(decode::<CallAcceptedRequest>(answer(at(MAX_SDP_BYTES))).is_ok());
    assert!(decode::<CallAcceptedRequest>(answer(over(MAX_SDP_BYTES))).is_err());
    let candidate = |b: Value| json!({"to": 2, "candidate": b});
    assert!(decode::<IceCandidateRequest>(candidate(at(MAX_CANDIDATE_BYTES))).is_ok());
    assert!(decode::<IceCandidateRequest>(candidate(over(MAX_CANDIDATE_BYTES))).is_err());
    for kind in KINDS {
        let signal = |b: Value| {
            let mut r: MeshSignalRequest =
                decode(json!({"targetUserId": 2, kind.field(): b})).unwrap();
            r.take_blob(kind)
        };
        assert!(signal(at(kind.max_bytes())).is_ok(), "{kind:?}");
        assert!(signal(over(kind.max_bytes())).is_err(), "{kind:?}");
    }
}

/// The refusals of one fixed payload per decoder, verbatim (the texts clients see).
#[test]
fn refusal_texts() {
    let text = |r: Result<(), PayloadError>| r.unwrap_err().to_string();
    let id_rule = "must be a non-empty string of at most 128 printable characters";
    assert_eq!(
        text(decode::<RegisterUserRequest>(json!({})).map(drop)),
        "Invalid payload: userId required"
    );
    assert_eq!(
        text(decode::<RegisterUserRequest>(json!({"userId": 1, "userName": "a\u{7}"})).map(drop)),
        "Invalid payload: userName must be at most 128 printable characters"
    );
    assert_eq!(
        text(decode::<InitiateCallRequest>(json!({"to": 1, "from": 2, "callerId": 3})).map(drop)),
        "Invalid payload: callerId and from differ"
    );
    assert_eq!(
        text(decode::<InitiateCallRequest>(json!({"to": 1, "offer": 1})).map(drop)),
        "Invalid payload: offer must be an object or a string"
    );
    assert_eq!(
        text(decode::<IceCandidateRequest>(json!({"to": 1})).map(drop)),
        "Invalid payload: candidate required"
    );
    assert_eq!(
        text(decode::<MeshJoinRequest>(json!({"roomId": "x".repeat(129)})).map(drop)),
        format!("Invalid payload: roomId {id_rule}")
    );
    assert_eq!(
        text(decode::<MeshSignalRequest>(json!({"targetSocketId": " "})).map(drop)),
        format!("Invalid payload: targetSocketId {id_rule}")
    );
    assert_eq!(
        text(decode::<MeshInvitationRequest>(json!({"callType": "screen"})).map(drop)),
        "Invalid payload: callType must be \"video\" or \"audio\""
    );
    assert_eq!(
        text(decode::<UpdateTracksRequest>(json!({"roomId": "r"})).map(drop)),
        "Invalid payload: missing field `tracks`"
    );
    assert_eq!(
        text(JoinRequest::decode(json!(true)).map(drop)),
        "Invalid payload: userId must be a string or a number"
    );
    assert_eq!(
        text(decode::<GroupCallInitiateRequest>(json!({"conversationId": ""})).map(drop)),
        format!("Invalid payload: conversationId {id_rule}")
    );
}
