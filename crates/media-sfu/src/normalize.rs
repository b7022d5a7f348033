//! Fill in fields that some mediasoup-client versions omit but mediasoup's Rust types require.
//!
//! mediasoup (Rust) deserialises RTP parameters and capabilities strictly; mediasoup-client
//! from 3.6 on may leave out empty arrays/objects (`rtcpFeedback`, `parameters`,
//! `headerExtensions`, `rtcp`...). Missing values get the defaults mediasoup's Node API applies.

use serde_json::{Map, Value, json};

fn obj(v: &mut Value) -> Option<&mut Map<String, Value>> {
    v.as_object_mut()
}

fn default_field(map: &mut Map<String, Value>, key: &str, default: Value) {
    match map.get(key) {
        None | Some(Value::Null) => {
            map.insert(key.to_owned(), default);
        }
        Some(_) => {}
    }
}

fn normalize_codec(codec: &mut Value) {
    let Some(c) = obj(codec) else { return };
    default_field(c, "parameters", json!({}));
    default_field(c, "rtcpFeedback", json!([]));
    let is_audio = c
        .get("mimeType")
        .and_then(Value::as_str)
        .is_some_and(|m| m.to_ascii_lowercase().starts_with("audio/"));
    if is_audio {
        default_field(c, "channels", json!(1));
    }
    if let Some(Value::Array(fbs)) = c.get_mut("rtcpFeedback") {
        for fb in fbs {
            if let Some(fb) = obj(fb) {
                default_field(fb, "parameter", json!(""));
            }
        }
    }
}

/// Normalise producer `rtpParameters` in place.
pub(crate) fn rtp_parameters(mut v: Value) -> Value {
    if let Some(p) = obj(&mut v) {
        default_field(p, "codecs", json!([]));
        default_field(p, "headerExtensions", json!([]));
        default_field(p, "encodings", json!([]));
        default_field(p, "rtcp", json!({}));
        if let Some(rtcp) = p.get_mut("rtcp").and_then(obj) {
            default_field(rtcp, "reducedSize", json!(true));
        }
        if let Some(Value::Array(codecs)) = p.get_mut("codecs") {
            codecs.iter_mut().for_each(normalize_codec);
        }
        if let Some(Value::Array(exts)) = p.get_mut("headerExtensions") {
            for e in exts.iter_mut().filter_map(obj) {
                default_field(e, "encrypt", json!(false));
                default_field(e, "parameters", json!({}));
            }
        }
    }
    v
}

/// Normalise a client's `rtpCapabilities` in place.
pub(crate) fn rtp_capabilities(mut v: Value) -> Value {
    if let Some(p) = obj(&mut v) {
        default_field(p, "codecs", json!([]));
        default_field(p, "headerExtensions", json!([]));
        if let Some(Value::Array(codecs)) = p.get_mut("codecs") {
            codecs.iter_mut().for_each(normalize_codec);
        }
        if let Some(Value::Array(exts)) = p.get_mut("headerExtensions") {
            for e in exts.iter_mut().filter_map(obj) {
                default_field(e, "preferredEncrypt", json!(false));
                default_field(e, "direction", json!("sendrecv"));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_missing_fields_only() {
        let v = rtp_parameters(json!({
            "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000,
                        "rtcpFeedback": [{"type": "transport-cc"}]}],
            "rtcp": {"cname": "x", "reducedSize": false}
        }));
        assert_eq!(v["codecs"][0]["channels"], json!(1));
        assert_eq!(v["codecs"][0]["parameters"], json!({}));
        assert_eq!(v["codecs"][0]["rtcpFeedback"][0]["parameter"], json!(""));
        assert_eq!(v["rtcp"]["reducedSize"], json!(false));
        assert_eq!(v["encodings"], json!([]));
        let caps = rtp_capabilities(
            json!({"codecs": [{"mimeType": "video/VP8", "clockRate": 90000, "kind": "video"}]}),
        );
        assert_eq!(caps["headerExtensions"], json!([]));
        assert_eq!(caps["codecs"][0]["rtcpFeedback"], json!([]));
        assert!(caps["codecs"][0].get("channels").is_none());
        assert_eq!(rtp_capabilities(json!("junk")), json!("junk"));
    }
}
