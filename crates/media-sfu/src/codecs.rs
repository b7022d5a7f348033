//! The media codecs every room router offers: Opus, VP8 and H264.

use mediasoup::prelude::*;
use std::num::{NonZeroU8, NonZeroU32};

const AUDIO_CLOCK: NonZeroU32 = NonZeroU32::new(48_000).unwrap();
const VIDEO_CLOCK: NonZeroU32 = NonZeroU32::new(90_000).unwrap();
const STEREO: NonZeroU8 = NonZeroU8::new(2).unwrap();

/// Router codecs: Opus (with in-band FEC), VP8, and H264 constrained baseline.
pub(crate) fn media_codecs() -> Vec<RtpCodecCapability> {
    let video_fb = || {
        vec![
            RtcpFeedback::Nack,
            RtcpFeedback::NackPli,
            RtcpFeedback::CcmFir,
            RtcpFeedback::GoogRemb,
            RtcpFeedback::TransportCc,
        ]
    };
    vec![
        RtpCodecCapability::Audio {
            mime_type: MimeTypeAudio::Opus,
            preferred_payload_type: None,
            clock_rate: AUDIO_CLOCK,
            channels: STEREO,
            parameters: RtpCodecParametersParameters::from([("useinbandfec", 1_u32.into())]),
            rtcp_feedback: vec![RtcpFeedback::TransportCc],
        },
        RtpCodecCapability::Video {
            mime_type: MimeTypeVideo::Vp8,
            preferred_payload_type: None,
            clock_rate: VIDEO_CLOCK,
            parameters: RtpCodecParametersParameters::default(),
            rtcp_feedback: video_fb(),
        },
        RtpCodecCapability::Video {
            mime_type: MimeTypeVideo::H264,
            preferred_payload_type: None,
            clock_rate: VIDEO_CLOCK,
            parameters: RtpCodecParametersParameters::from([
                ("packetization-mode", 1_u32.into()),
                ("profile-level-id", "42e01f".into()),
                ("level-asymmetry-allowed", 1_u32.into()),
            ]),
            rtcp_feedback: video_fb(),
        },
    ]
}
