//! Property tests: every request decoder survives arbitrary and mutated JSON without panicking,
//! and accepts what valid clients send.
#![allow(clippy::unwrap_used)]

mod common;

use common::SFU_KEYS;
use proptest::prelude::*;
use serde_json::{Value, json};
use signal_proto::requests::*;

fn arb_json() -> impl Strategy<Value = Value> {
    common::arb_json(SFU_KEYS)
}

fn decode_all(v: &Value) {
    let _ = JoinRequest::decode(v.clone());
    let _ = decode::<CreateRoomRequest>(v.clone());
    let _ = decode::<CreateTransportRequest>(v.clone()).map(|r| r.direction());
    let _ = decode::<ConnectTransportRequest>(v.clone());
    let _ = decode::<ProduceRequest>(v.clone());
    let _ = decode::<ConsumeRequest>(v.clone());
    let _ = decode::<ResumeConsumerRequest>(v.clone());
    let _ = decode::<RestartIceRequest>(v.clone());
    let _ = decode::<CloseProducerRequest>(v.clone());
    let _ = decode::<ProduceRequest>(v.clone()).map(|r| (r.source(), r.app_data()));
    let _ = decode::<PauseProducerRequest>(v.clone());
    let _ = decode::<ResumeProducerRequest>(v.clone());
    let _ = decode::<PauseConsumerRequest>(v.clone());
    let _ = decode::<RequestKeyFrameRequest>(v.clone());
    let _ = decode::<SetPreferredLayersRequest>(v.clone()).map(|r| r.layers());
    let _ = decode::<SetConsumerPriorityRequest>(v.clone()).map(|r| r.priority());
    let _ = decode::<GroupCallInitiateRequest>(v.clone()).map(|r| r.call_type());
    let _ = decode::<GetActiveCallsRequest>(v.clone());
}

fn valid_payloads() -> Vec<Value> {
    vec![
        json!("42"),
        json!({"roomId": "conv-1"}),
        json!({"type": "recv"}),
        json!({"transportId": "t1", "dtlsParameters": {"role": "client", "fingerprints": []}}),
        json!({"transportId": "t1", "kind": "audio", "rtpParameters": {"codecs": []}}),
        json!({"transportId": "t1", "producerId": "p1", "rtpCapabilities": {"codecs": []}}),
        json!({"consumerId": "c1"}),
        json!({"callerId": "1", "conversationId": "conv-1", "callType": "audio"}),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        decode_all(&v);
    }

    #[test]
    fn mutated_valid_payloads_never_panic(
        idx in 0usize..8,
        key in "[a-zA-Z]{1,12}",
        replacement in arb_json(),
    ) {
        let mut v = valid_payloads()[idx].clone();
        if let Some(map) = v.as_object_mut() {
            let target = map.keys().next().cloned().unwrap_or(key.clone());
            map.insert(target, replacement.clone());
            map.insert(key, replacement);
        } else {
            v = replacement;
        }
        decode_all(&v);
    }

    #[test]
    fn random_text_never_panics(text in ".{0,200}") {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            decode_all(&v);
        }
    }
}

#[test]
fn valid_client_payloads_decode() {
    let p = valid_payloads();
    assert_eq!(JoinRequest::decode(p[0].clone()).unwrap(), "42");
    let room = decode::<CreateRoomRequest>(p[1].clone()).unwrap();
    assert_eq!(room.room_id.as_deref(), Some("conv-1"));
    assert!(decode::<ConnectTransportRequest>(p[3].clone()).is_ok());
    assert!(decode::<ProduceRequest>(p[4].clone()).is_ok());
    assert!(decode::<ConsumeRequest>(p[5].clone()).is_ok());
    assert!(decode::<ResumeConsumerRequest>(p[6].clone()).is_ok());
    let initiate = decode::<GroupCallInitiateRequest>(p[7].clone()).unwrap();
    assert_eq!(initiate.call_type(), CallType::Audio);
}
