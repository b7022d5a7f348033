//! Generators and assertions shared by the decoder property tests.
#![allow(dead_code)] // each test crate uses its own subset

use proptest::prelude::*;
use serde_json::{Value, json};
use signal_proto::requests::{MAX_ID_LEN, PayloadError};

/// Field names of the SFU and group-call requests (`requests.rs`).
pub const SFU_KEYS: &[&str] = &[
    "roomId",
    "type",
    "transportId",
    "dtlsParameters",
    "kind",
    "rtpParameters",
    "producerId",
    "rtpCapabilities",
    "consumerId",
    "callerId",
    "conversationId",
    "callType",
    "userId",
    "appData",
    "source",
    "spatialLayer",
    "temporalLayer",
    "priority",
];

/// Field names of the mesh and 1:1 requests (`mesh.rs`, `direct.rs`) and of `join`.
pub const CALL_KEYS: &[&str] = &[
    "roomId",
    "tracks",
    "audio",
    "video",
    "callType",
    "targetUserIds",
    "targetUserId",
    "targetSocketId",
    "to",
    "from",
    "callerId",
    "callerName",
    "callId",
    "userId",
    "userName",
    "offer",
    "answer",
    "candidate",
    "conversationId",
];

/// String leaves that the decoders treat specially.
const SPECIAL_STRINGS: &[&str] = &["audio", "video", "send", "recv", "hologram", "", " "];

/// Any JSON value, up to 4 levels deep; object keys are mostly taken from `keys` so that the
/// decoders see their own fields with arbitrary contents.
pub fn arb_json(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(SPECIAL_STRINGS).prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map(arb_key(keys), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field name: one of `keys` (three times out of four) or a random lowercase word.
pub fn arb_key(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(keys).prop_map(str::to_owned),
        1 => "[a-z]{1,8}",
    ]
}

/// A valid id as a client sends it (a string, possibly padded with spaces, or an integer),
/// with its normalised form.
pub fn arb_id() -> impl Strategy<Value = (Value, String)> {
    prop_oneof![
        any::<i64>().prop_map(|n| (json!(n), n.to_string())),
        "[A-Za-z0-9_.:-]{1,64}".prop_map(|s| (json!(s), s)),
        // Multi-byte characters: at most 40 × 3 bytes, under MAX_ID_LEN.
        "[a-zé漢ß0-9]{1,40}".prop_map(|s| (json!(s), s)),
        ("[A-Za-z0-9]{1,32}", " {1,3}", " {0,3}")
            .prop_map(|(s, l, r)| (json!(format!("{l}{s}{r}")), s)),
        // Exactly at the byte limit.
        Just((json!("i".repeat(MAX_ID_LEN)), "i".repeat(MAX_ID_LEN))),
    ]
}

/// A valid id as a JSON string only (fields typed `String`, not string-or-number).
pub fn arb_str_id() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9_.:-]{1,64}", "[a-zé漢ß0-9]{1,40}"]
}

/// A string or number that is the wrong *content* for an id: empty, blank, longer than
/// [`MAX_ID_LEN`] bytes, or with a control character.
pub fn arb_bad_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("")),
        " {1,5}".prop_map(Value::String),
        (MAX_ID_LEN + 1..MAX_ID_LEN * 4).prop_map(|n| json!("x".repeat(n))),
        // 43 × 3 bytes = 129 bytes: over the limit in bytes though only 43 characters.
        Just(json!("漢".repeat(43))),
        ("[a-z]{1,10}", "[\u{0}-\u{1f}\u{7f}-\u{9f}]", "[a-z]{1,10}")
            .prop_map(|(a, c, b)| json!(format!("{a}{c}{b}"))),
    ]
}

/// A JSON value of the wrong *type* for a string-or-number id (never `null`, which means
/// "absent").
pub fn arb_non_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        // Non-integral numbers, and integers beyond i64.
        (-1e12f64..1e12).prop_filter_map("integral", |f| { (f.fract() != 0.0).then(|| json!(f)) }),
        (i64::MAX as u64 + 1..=u64::MAX).prop_map(|n| json!(n)),
        prop::collection::vec(any::<i64>().prop_map(|n| json!(n)), 0..3).prop_map(Value::Array),
        Just(json!({"id": "1"})),
    ]
}

/// A JSON value of the wrong type for a string field (`String`): numbers, booleans, arrays,
/// objects.
pub fn arb_non_string() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
        Just(json!([])),
        Just(json!(["a"])),
        Just(json!({"a": 1})),
    ]
}

/// What a refusal's detail must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A validation error about this field: the detail starts with `"<field> "` (`roomId
    /// must be …`, `offer required`, `targetUserIds has more than …`).
    Field(&'static str),
    /// A type error inside this field (first) saying the text (second): the detail starts
    /// with the field's path (`roomId: …`, `tracks.audio: …`, `targetUserIds[1]: …`).
    Typed(&'static str, &'static str),
    /// A decoding error that names no field (the whole payload of the wrong type) or a fixed
    /// text: the detail contains this.
    Text(&'static str),
}

/// The detail of serde's error for a string-or-number id of the wrong JSON type.
pub const ID_TYPE_ERROR: &str = "expected an id (a string or an integer)";

/// Checks any refusal: the `Invalid payload: ` prefix and a non-empty detail.
pub fn check_error(err: &PayloadError) -> Result<(), TestCaseError> {
    let text = err.to_string();
    prop_assert!(
        text.starts_with("Invalid payload: "),
        "no `Invalid payload: ` prefix: {text:?}"
    );
    prop_assert!(!err.0.trim().is_empty(), "empty detail: {text:?}");
    Ok(())
}

/// Asserts that `result` is a refusal (see [`check_error`]) whose detail meets `expect`.
pub fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, PayloadError>,
    expect: &Expect,
) -> Result<(), TestCaseError> {
    let err = match result {
        Ok(v) => return Err(TestCaseError::fail(format!("accepted: {v:?}"))),
        Err(e) => e,
    };
    check_error(&err)?;
    match expect {
        Expect::Field(field) => prop_assert!(
            err.0.starts_with(&format!("{field} ")),
            "{:?} is not about {field:?}",
            err.0
        ),
        Expect::Typed(field, text) => {
            let rest = err.0.strip_prefix(field).unwrap_or_default();
            prop_assert!(
                rest.starts_with(": ") || rest.starts_with('.') || rest.starts_with('['),
                "{:?} does not name {field:?}",
                err.0
            );
            prop_assert!(err.0.contains(text), "{:?} does not say {text:?}", err.0)
        }
        Expect::Text(text) => {
            prop_assert!(err.0.contains(text), "{:?} does not say {text:?}", err.0)
        }
    }
    Ok(())
}

/// The request of a decode that must succeed, or a test failure naming the payload.
pub fn accepted<T>(result: Result<T, PayloadError>, payload: &Value) -> Result<T, TestCaseError> {
    result.map_err(|e| TestCaseError::fail(format!("{payload} refused: {e}")))
}

/// `v` with `key` set to `value` (`v` must be an object).
pub fn with(mut v: Value, key: &str, value: Value) -> Value {
    if let Some(map) = v.as_object_mut() {
        map.insert(key.to_owned(), value);
    }
    v
}

/// `v` without `key`.
pub fn without(mut v: Value, key: &str) -> Value {
    if let Some(map) = v.as_object_mut() {
        map.remove(key);
    }
    v
}
