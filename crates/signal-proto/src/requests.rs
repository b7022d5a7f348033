//! Client → server payloads, and their validating decoder.
//!
//! Decoding never panics: any JSON value yields either a request or a [`PayloadError`] whose
//! text is sent back as `{ error }` (or `group_call_error`).

use crate::ids::IdLike;
use crate::producer::{MAX_APP_DATA_BYTES, ProducerSource};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Longest id (user, conversation, transport, producer, consumer) accepted.
pub const MAX_ID_LEN: usize = 128;

/// A payload that could not be decoded or failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(pub String);

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", crate::errors::INVALID_PAYLOAD, self.0)
    }
}

impl std::error::Error for PayloadError {}

/// A request payload that can check its own field contents after decoding.
pub trait Validate {
    /// Check lengths and formats.
    fn validate(&self) -> Result<(), PayloadError> {
        Ok(())
    }
}

/// Decode and validate a payload. A missing payload (`null`) decodes as `{}`. A type error
/// names the field it is in (`roomId: invalid type: integer `5`, expected a string`).
pub fn decode<T: DeserializeOwned + Validate>(value: Value) -> Result<T, PayloadError> {
    let value = if value.is_null() {
        Value::Object(Default::default())
    } else {
        value
    };
    let request: T =
        serde_path_to_error::deserialize(value).map_err(|e| PayloadError(e.to_string()))?;
    request.validate()?;
    Ok(request)
}

pub(crate) fn check_id(field: &str, id: &str) -> Result<(), PayloadError> {
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(PayloadError(format!(
            "{field} must be a non-empty string of at most {MAX_ID_LEN} printable characters"
        )));
    }
    Ok(())
}

fn check_object(field: &str, v: &Value) -> Result<(), PayloadError> {
    if !v.is_object() {
        return Err(PayloadError(format!("{field} must be an object")));
    }
    Ok(())
}

/// The payload of `join`: a bare user id, string or number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct JoinRequest {
    /// The user id.
    pub user_id: IdLike,
}

impl JoinRequest {
    /// Decode `join`'s payload: a string/number, or `{userId}` as some clients send.
    pub fn decode(value: Value) -> Result<String, PayloadError> {
        let id = match value {
            Value::Object(mut map) => map.remove("userId").unwrap_or(Value::Null),
            other => other,
        };
        let id: IdLike = serde_json::from_value(id)
            .map_err(|_| PayloadError("userId must be a string or a number".into()))?;
        let id = id.normalized();
        check_id("userId", &id)?;
        Ok(id)
    }
}

/// `createRoom { roomId }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoomRequest {
    /// Conversation id; missing or empty → "roomId required".
    #[serde(default)]
    pub room_id: Option<String>,
}

impl Validate for CreateRoomRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        match &self.room_id {
            Some(id) if !id.is_empty() => check_id("roomId", id),
            _ => Ok(()),
        }
    }
}

/// Direction of a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportDirection {
    /// Client sends media.
    #[default]
    Send,
    /// Client receives media.
    Recv,
}

/// `createTransport { type }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreateTransportRequest {
    /// `"send"` or `"recv"` (anything else is treated as send, like the seed server).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl CreateTransportRequest {
    /// The requested direction.
    pub fn direction(&self) -> TransportDirection {
        match self.kind.as_deref() {
            Some("recv") => TransportDirection::Recv,
            _ => TransportDirection::Send,
        }
    }
}

impl Validate for CreateTransportRequest {}

/// `connectTransport { transportId, dtlsParameters }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectTransportRequest {
    /// Transport id.
    pub transport_id: String,
    /// Client DTLS parameters (mediasoup-client shape).
    pub dtls_parameters: Value,
}

impl Validate for ConnectTransportRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_id("transportId", &self.transport_id)?;
        check_object("dtlsParameters", &self.dtls_parameters)
    }
}

/// `produce { transportId, kind, rtpParameters, appData? }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProduceRequest {
    /// Send transport id.
    pub transport_id: String,
    /// `"audio"` or `"video"`.
    pub kind: String,
    /// RTP parameters (mediasoup-client shape).
    pub rtp_parameters: Value,
    /// Optional application data (mediasoup-client's `appData`): a JSON object of at most
    /// [`MAX_APP_DATA_BYTES`] serialised; `null` is the same as absent. Its `source`, when
    /// given, names what the track carries ([`ProducerSource`]).
    #[serde(default)]
    pub app_data: Option<Value>,
}

impl ProduceRequest {
    /// What the track carries: `appData.source`, else camera for video and microphone for
    /// audio. Call on a validated request (an invalid source also falls back to the default).
    pub fn source(&self) -> ProducerSource {
        self.app_data
            .as_ref()
            .and_then(|d| d.get("source"))
            .and_then(Value::as_str)
            .and_then(ProducerSource::parse)
            .unwrap_or_else(|| ProducerSource::default_for(&self.kind))
    }

    /// The application data to store and announce: the client's object, or `{}`.
    pub fn app_data(&self) -> Value {
        match &self.app_data {
            Some(v @ Value::Object(_)) => v.clone(),
            _ => Value::Object(Default::default()),
        }
    }
}

impl Validate for ProduceRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_id("transportId", &self.transport_id)?;
        if self.kind != "audio" && self.kind != "video" {
            return Err(PayloadError("kind must be \"audio\" or \"video\"".into()));
        }
        check_object("rtpParameters", &self.rtp_parameters)?;
        match &self.app_data {
            None | Some(Value::Null) => Ok(()),
            Some(data) => check_app_data(&self.kind, data),
        }
    }
}

/// `appData` of `produce`: an object of at most [`MAX_APP_DATA_BYTES`], with a `source` (if
/// any) that is one of [`ProducerSource`] and fits the track's kind.
fn check_app_data(kind: &str, data: &Value) -> Result<(), PayloadError> {
    check_object("appData", data)?;
    let len = serde_json::to_vec(data).map_or(usize::MAX, |v| v.len());
    if len > MAX_APP_DATA_BYTES {
        return Err(PayloadError(format!(
            "appData is too large ({len} bytes, at most {MAX_APP_DATA_BYTES})"
        )));
    }
    let Some(source) = data.get("source").filter(|s| !s.is_null()) else {
        return Ok(());
    };
    let source = source
        .as_str()
        .and_then(ProducerSource::parse)
        .ok_or_else(|| {
            PayloadError(format!(
                "appData.source must be one of {}",
                ProducerSource::ALL_NAMES
            ))
        })?;
    if source.kind() != kind {
        return Err(PayloadError(format!(
            "appData.source \"{}\" is for {} tracks, not {kind}",
            source.as_str(),
            source.kind()
        )));
    }
    Ok(())
}

/// `consume { transportId, producerId, rtpCapabilities }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeRequest {
    /// Receive transport id.
    pub transport_id: String,
    /// Producer to consume.
    pub producer_id: String,
    /// The client device's RTP capabilities.
    pub rtp_capabilities: Value,
}

impl Validate for ConsumeRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_id("transportId", &self.transport_id)?;
        check_id("producerId", &self.producer_id)?;
        check_object("rtpCapabilities", &self.rtp_capabilities)
    }
}

/// `resumeConsumer { consumerId }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeConsumerRequest {
    /// Consumer id.
    pub consumer_id: String,
}

impl Validate for ResumeConsumerRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_id("consumerId", &self.consumer_id)
    }
}

/// `restartIce { transportId }` (Huddle addition).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartIceRequest {
    /// Transport id.
    pub transport_id: String,
}

impl Validate for RestartIceRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_id("transportId", &self.transport_id)
    }
}

/// `closeProducer { producerId }` (Huddle addition).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseProducerRequest {
    /// Producer id.
    pub producer_id: String,
}

impl Validate for CloseProducerRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_id("producerId", &self.producer_id)
    }
}

/// A request naming one producer of the socket: `closeProducer`, `pauseProducer`,
/// `resumeProducer` `{ producerId }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerIdRequest {
    /// Producer id.
    pub producer_id: String,
}

impl Validate for ProducerIdRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_id("producerId", &self.producer_id)
    }
}

/// `pauseProducer { producerId }` (Huddle addition).
pub type PauseProducerRequest = ProducerIdRequest;
/// `resumeProducer { producerId }` (Huddle addition).
pub type ResumeProducerRequest = ProducerIdRequest;

/// A request naming one consumer of the socket: `pauseConsumer`, `requestKeyFrame`
/// `{ consumerId }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerIdRequest {
    /// Consumer id.
    pub consumer_id: String,
}

impl Validate for ConsumerIdRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_id("consumerId", &self.consumer_id)
    }
}

/// `pauseConsumer { consumerId }` (Huddle addition).
pub type PauseConsumerRequest = ConsumerIdRequest;
/// `requestKeyFrame { consumerId }` (Huddle addition).
pub type RequestKeyFrameRequest = ConsumerIdRequest;

/// Highest spatial or temporal layer index accepted.
pub const MAX_LAYER: i64 = 255;

fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<u8, PayloadError> {
    if (min..=max).contains(&value)
        && let Ok(v) = u8::try_from(value)
    {
        return Ok(v);
    }
    Err(PayloadError(format!(
        "{field} must be an integer from {min} to {max}"
    )))
}

/// `setConsumerPreferredLayers { consumerId, spatialLayer, temporalLayer? }` (Huddle
/// addition). Layers are indices from 0; `temporalLayer` absent or `null` means the highest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetPreferredLayersRequest {
    /// Consumer id.
    pub consumer_id: String,
    /// Highest spatial layer wanted (0 = lowest).
    pub spatial_layer: i64,
    /// Highest temporal layer wanted; absent: the highest available.
    #[serde(default)]
    pub temporal_layer: Option<i64>,
}

impl SetPreferredLayersRequest {
    /// The layers as `(spatial, temporal)`; call on a validated request.
    pub fn layers(&self) -> (u8, Option<u8>) {
        let to_u8 = |v: i64| u8::try_from(v).unwrap_or(u8::MAX);
        (to_u8(self.spatial_layer), self.temporal_layer.map(to_u8))
    }
}

impl Validate for SetPreferredLayersRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_id("consumerId", &self.consumer_id)?;
        check_range("spatialLayer", self.spatial_layer, 0, MAX_LAYER)?;
        if let Some(t) = self.temporal_layer {
            check_range("temporalLayer", t, 0, MAX_LAYER)?;
        }
        Ok(())
    }
}

/// `setConsumerPriority { consumerId, priority }` (Huddle addition): an integer from 1
/// (default) to 255; higher gets more of the transport's bandwidth.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetConsumerPriorityRequest {
    /// Consumer id.
    pub consumer_id: String,
    /// Priority, 1–255.
    pub priority: i64,
}

impl SetConsumerPriorityRequest {
    /// The priority as `u8`; call on a validated request.
    pub fn priority(&self) -> u8 {
        u8::try_from(self.priority).unwrap_or(1).max(1)
    }
}

impl Validate for SetConsumerPriorityRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        check_id("consumerId", &self.consumer_id)?;
        check_range("priority", self.priority, 1, 255).map(|_| ())
    }
}

/// Call type of a group call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallType {
    /// Video call (the default).
    Video,
    /// Audio-only call.
    Audio,
}

impl CallType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Video => "video",
            CallType::Audio => "audio",
        }
    }
}

/// `group_call_initiate { callerId, conversationId, callType? }`. Extra fields of older clients
/// (`callerName`, `callerAvatar`) are accepted and ignored: display data comes from the
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCallInitiateRequest {
    /// The calling user's id.
    #[serde(default)]
    pub caller_id: Option<IdLike>,
    /// Conversation to call.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// `"video"` (default) or `"audio"`.
    #[serde(default)]
    pub call_type: Option<String>,
}

impl GroupCallInitiateRequest {
    /// The call type, defaulting to video.
    pub fn call_type(&self) -> CallType {
        match self.call_type.as_deref() {
            Some("audio") => CallType::Audio,
            _ => CallType::Video,
        }
    }
}

impl Validate for GroupCallInitiateRequest {
    fn validate(&self) -> Result<(), PayloadError> {
        if let Some(id) = &self.conversation_id {
            check_id("conversationId", id)?;
        }
        if let Some(t) = &self.call_type
            && t != "audio"
            && t != "video"
        {
            return Err(PayloadError(
                "callType must be \"video\" or \"audio\"".into(),
            ));
        }
        Ok(())
    }
}

/// `get_active_calls {}`: the payload carries nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct GetActiveCallsRequest {}

impl Validate for GetActiveCallsRequest {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn join_accepts_strings_numbers_and_objects() {
        assert_eq!(JoinRequest::decode(json!("42")), Ok("42".into()));
        assert_eq!(JoinRequest::decode(json!(42)), Ok("42".into()));
        assert_eq!(JoinRequest::decode(json!({"userId": 7})), Ok("7".into()));
        assert!(JoinRequest::decode(json!("")).is_err());
        assert!(JoinRequest::decode(json!(null)).is_err());
        assert!(JoinRequest::decode(json!([1])).is_err());
        assert!(JoinRequest::decode(json!("x".repeat(200))).is_err());
    }

    #[test]
    fn create_room_missing_id_is_not_a_decode_error() {
        let r: CreateRoomRequest = decode(json!({})).unwrap_or(CreateRoomRequest {
            room_id: Some("x".into()),
        });
        assert_eq!(r.room_id, None);
        let r: CreateRoomRequest = decode(Value::Null).unwrap_or(CreateRoomRequest {
            room_id: Some("x".into()),
        });
        assert_eq!(r.room_id, None);
        assert_eq!(
            decode::<CreateRoomRequest>(json!({"roomId": 5})).map_err(|e| e.to_string()),
            Err("Invalid payload: roomId: invalid type: integer `5`, expected a string".into())
        );
        assert!(decode::<CreateRoomRequest>(json!("conv")).is_err());
    }

    #[test]
    fn media_requests_validate_shapes() {
        assert!(decode::<ConnectTransportRequest>(json!({"transportId": "t"})).is_err());
        assert!(
            decode::<ConnectTransportRequest>(json!({"transportId": "t", "dtlsParameters": 3}))
                .is_err()
        );
        assert!(
            decode::<ConnectTransportRequest>(json!({"transportId": "t", "dtlsParameters": {}}))
                .is_ok()
        );
        assert!(
            decode::<ProduceRequest>(
                json!({"transportId": "t", "kind": "screen", "rtpParameters": {}})
            )
            .is_err()
        );
        assert!(
            decode::<ProduceRequest>(
                json!({"transportId": "t", "kind": "audio", "rtpParameters": {}})
            )
            .is_ok()
        );
        assert!(
            decode::<ConsumeRequest>(
                json!({"transportId": "t", "producerId": "", "rtpCapabilities": {}})
            )
            .is_err()
        );
        assert!(decode::<ResumeConsumerRequest>(json!({"consumerId": ["x"]})).is_err());
    }

    #[test]
    fn initiate_defaults_and_leniency() {
        let r: Result<GroupCallInitiateRequest, _> =
            decode(json!({"callerId": 42, "conversationId": "c", "callerName": "ignored"}));
        let r = r.map_err(|e| e.to_string());
        assert_eq!(r.as_ref().map(|r| r.call_type()), Ok(CallType::Video));
        assert_eq!(
            r.map(|r| r.caller_id.map(|c| c.normalized())),
            Ok(Some("42".into()))
        );
        assert!(decode::<GroupCallInitiateRequest>(json!({"callType": "hologram"})).is_err());
    }

    #[test]
    fn produce_app_data_and_source() {
        let produce = |app_data: Value, kind: &str| {
            decode::<ProduceRequest>(json!({"transportId": "t", "kind": kind,
                "rtpParameters": {}, "appData": app_data}))
            .map_err(|e| e.to_string())
        };
        // Defaults by kind, with and without appData.
        let r = decode::<ProduceRequest>(
            json!({"transportId": "t", "kind": "video", "rtpParameters": {}}),
        );
        assert_eq!(
            r.as_ref().map(ProduceRequest::source),
            Ok(ProducerSource::Camera)
        );
        assert_eq!(r.map(|r| r.app_data()), Ok(json!({})));
        assert_eq!(
            produce(Value::Null, "audio").map(|r| r.source()),
            Ok(ProducerSource::Microphone)
        );
        assert_eq!(
            produce(json!({"label": "x"}), "audio").map(|r| r.source()),
            Ok(ProducerSource::Microphone)
        );
        // Explicit sources, app data kept as given.
        let r = produce(
            json!({"source": "screen", "label": "Alice's screen"}),
            "video",
        );
        assert_eq!(
            r.as_ref().map(ProduceRequest::source),
            Ok(ProducerSource::Screen)
        );
        assert_eq!(
            r.map(|r| r.app_data()),
            Ok(json!({"source": "screen", "label": "Alice's screen"}))
        );
        assert_eq!(
            produce(json!({"source": "screen-audio"}), "audio").map(|r| r.source()),
            Ok(ProducerSource::ScreenAudio)
        );
        // Refused: not an object, unknown source, source of the other kind, too large.
        assert_eq!(
            produce(json!("camera"), "video").map(|_| ()),
            Err("Invalid payload: appData must be an object".into())
        );
        assert_eq!(
            produce(json!({"source": "webcam"}), "video").map(|_| ()),
            Err("Invalid payload: appData.source must be one of \"camera\", \"microphone\", \"screen\", \"screen-audio\"".into())
        );
        assert!(produce(json!({"source": 3}), "video").is_err());
        assert_eq!(
            produce(json!({"source": "microphone"}), "video").map(|_| ()),
            Err(
                "Invalid payload: appData.source \"microphone\" is for audio tracks, not video"
                    .into()
            )
        );
        let fits = json!({"x": "a".repeat(MAX_APP_DATA_BYTES - 8)}); // {"x":"…"} = len + 8
        assert!(produce(fits, "video").is_ok());
        let big = json!({"x": "a".repeat(MAX_APP_DATA_BYTES - 7)});
        assert_eq!(
            produce(big, "video").map(|_| ()),
            Err(format!(
                "Invalid payload: appData is too large (1025 bytes, at most {MAX_APP_DATA_BYTES})"
            ))
        );
    }

    #[test]
    fn in_call_requests_validate() {
        let e = |r: Result<(), PayloadError>| r.map_err(|e| e.to_string());
        assert!(decode::<PauseProducerRequest>(json!({"producerId": "p"})).is_ok());
        assert!(decode::<ResumeProducerRequest>(json!({})).is_err());
        assert!(decode::<PauseConsumerRequest>(json!({"consumerId": ""})).is_err());
        assert!(decode::<RequestKeyFrameRequest>(json!({"consumerId": 5})).is_err());
        let layers = |v| decode::<SetPreferredLayersRequest>(v).map(|r| r.layers());
        assert_eq!(
            layers(json!({"consumerId": "c", "spatialLayer": 2})),
            Ok((2, None))
        );
        assert_eq!(
            layers(json!({"consumerId": "c", "spatialLayer": 0, "temporalLayer": 1})),
            Ok((0, Some(1)))
        );
        assert_eq!(
            layers(json!({"consumerId": "c", "spatialLayer": 1, "temporalLayer": null})),
            Ok((1, None))
        );
        assert_eq!(
            e(layers(json!({"consumerId": "c", "spatialLayer": -1})).map(|_| ())),
            Err("Invalid payload: spatialLayer must be an integer from 0 to 255".into())
        );
        assert!(layers(json!({"consumerId": "c", "spatialLayer": 256})).is_err());
        assert!(layers(json!({"consumerId": "c", "spatialLayer": 1.5})).is_err());
        assert!(layers(json!({"consumerId": "c", "spatialLayer": "1"})).is_err());
        assert!(layers(json!({"consumerId": "c"})).is_err());
        assert!(
            layers(json!({"consumerId": "c", "spatialLayer": 1, "temporalLayer": 999})).is_err()
        );
        let priority = |v| decode::<SetConsumerPriorityRequest>(v).map(|r| r.priority());
        assert_eq!(priority(json!({"consumerId": "c", "priority": 1})), Ok(1));
        assert_eq!(
            priority(json!({"consumerId": "c", "priority": 255})),
            Ok(255)
        );
        for bad in [
            json!(0),
            json!(256),
            json!(-3),
            json!(2.5),
            json!("7"),
            json!(null),
        ] {
            assert!(
                priority(json!({"consumerId": "c", "priority": bad})).is_err(),
                "priority {bad} accepted"
            );
        }
        assert_eq!(
            e(priority(json!({"consumerId": "c", "priority": 0})).map(|_| ())),
            Err("Invalid payload: priority must be an integer from 1 to 255".into())
        );
    }

    #[test]
    fn transport_direction() {
        let d = |v| decode::<CreateTransportRequest>(v).map(|r| r.direction());
        assert_eq!(d(json!({"type": "recv"})), Ok(TransportDirection::Recv));
        assert_eq!(d(json!({"type": "send"})), Ok(TransportDirection::Send));
        assert_eq!(d(json!({})), Ok(TransportDirection::Send));
    }
}
