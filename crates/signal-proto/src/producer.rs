//! What a producer carries (`appData.source`) and the limits on its application data.

use serde::{Deserialize, Serialize};

/// Most bytes of a producer's `appData`, serialised as JSON.
pub const MAX_APP_DATA_BYTES: usize = 1024;

/// What a producer's track is: `appData.source` of `produce`. Defaults to
/// [`ProducerSource::Camera`] for video and [`ProducerSource::Microphone`] for audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProducerSource {
    /// A camera (video).
    Camera,
    /// A microphone (audio).
    Microphone,
    /// A screen or window share (video).
    Screen,
    /// The audio of a screen share (audio).
    ScreenAudio,
}

impl ProducerSource {
    /// The accepted wire names, for error messages.
    pub const ALL_NAMES: &'static str = "\"camera\", \"microphone\", \"screen\", \"screen-audio\"";

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProducerSource::Camera => "camera",
            ProducerSource::Microphone => "microphone",
            ProducerSource::Screen => "screen",
            ProducerSource::ScreenAudio => "screen-audio",
        }
    }

    /// Parse a wire name (exact, case-sensitive).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "camera" => Some(ProducerSource::Camera),
            "microphone" => Some(ProducerSource::Microphone),
            "screen" => Some(ProducerSource::Screen),
            "screen-audio" => Some(ProducerSource::ScreenAudio),
            _ => None,
        }
    }

    /// The default for a track of `kind` (`"video"` → camera, anything else → microphone).
    pub fn default_for(kind: &str) -> Self {
        if kind == "video" {
            ProducerSource::Camera
        } else {
            ProducerSource::Microphone
        }
    }

    /// The media kind this source produces: `"video"` or `"audio"`.
    pub fn kind(self) -> &'static str {
        match self {
            ProducerSource::Camera | ProducerSource::Screen => "video",
            ProducerSource::Microphone | ProducerSource::ScreenAudio => "audio",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_names_round_trip() {
        for s in [
            ProducerSource::Camera,
            ProducerSource::Microphone,
            ProducerSource::Screen,
            ProducerSource::ScreenAudio,
        ] {
            assert_eq!(serde_json::to_value(s).ok(), Some(json!(s.as_str())));
            assert_eq!(ProducerSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(ProducerSource::parse("webcam"), None);
        assert_eq!(ProducerSource::parse("Camera"), None);
        assert_eq!(ProducerSource::default_for("video"), ProducerSource::Camera);
        assert_eq!(
            ProducerSource::default_for("audio"),
            ProducerSource::Microphone
        );
        assert_eq!(ProducerSource::ScreenAudio.kind(), "audio");
        assert_eq!(ProducerSource::Screen.kind(), "video");
    }
}
