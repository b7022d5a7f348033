//! What the mediasoup workers log. Worker logs reach `tracing` under the `mediasoup::worker`
//! target (through the `log` bridge), but every message crosses the worker channel first, so
//! the worker is told to log only what an operator asked for.

use mediasoup::worker::{WorkerLogLevel, WorkerLogTag};
use std::fmt;
use std::str::FromStr;

/// Severity threshold of the workers' own logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorkerLogging {
    /// Everything, including the debug logs of the enabled [`WorkerLogTags`].
    Debug,
    /// Warnings and errors (the default).
    #[default]
    Warn,
    /// Errors only.
    Error,
    /// Nothing.
    None,
}

impl WorkerLogging {
    pub(crate) fn level(self) -> WorkerLogLevel {
        match self {
            Self::Debug => WorkerLogLevel::Debug,
            Self::Warn => WorkerLogLevel::Warn,
            Self::Error => WorkerLogLevel::Error,
            Self::None => WorkerLogLevel::None,
        }
    }
}

/// A worker log level that is not one of `debug`, `warn`, `error`, `none`.
#[derive(Debug, thiserror::Error)]
#[error("unknown worker log level {0:?} (expected debug, warn, error or none)")]
pub struct UnknownLogLevel(String);

impl FromStr for WorkerLogging {
    type Err = UnknownLogLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "debug" => Ok(Self::Debug),
            "warn" => Ok(Self::Warn),
            "error" => Ok(Self::Error),
            "none" => Ok(Self::None),
            _ => Err(UnknownLogLevel(s.to_owned())),
        }
    }
}

impl fmt::Display for WorkerLogging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Debug => "debug",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::None => "none",
        })
    }
}

/// The worker's debug-log areas (mediasoup's log tags: `ice`, `dtls`, `srtp`, ...), parsed
/// from a comma-separated list; empty by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerLogTags(Vec<WorkerLogTag>);

impl WorkerLogTags {
    pub(crate) fn tags(&self) -> Vec<WorkerLogTag> {
        self.0.clone()
    }
}

const TAGS: [(&str, WorkerLogTag); 13] = [
    ("info", WorkerLogTag::Info),
    ("ice", WorkerLogTag::Ice),
    ("dtls", WorkerLogTag::Dtls),
    ("rtp", WorkerLogTag::Rtp),
    ("srtp", WorkerLogTag::Srtp),
    ("rtcp", WorkerLogTag::Rtcp),
    ("rtx", WorkerLogTag::Rtx),
    ("bwe", WorkerLogTag::Bwe),
    ("score", WorkerLogTag::Score),
    ("simulcast", WorkerLogTag::Simulcast),
    ("svc", WorkerLogTag::Svc),
    ("sctp", WorkerLogTag::Sctp),
    ("message", WorkerLogTag::Message),
];

/// A worker log tag that mediasoup does not know.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown worker log tag {0:?} (expected a comma-separated list of info, ice, dtls, rtp, srtp, rtcp, rtx, bwe, score, simulcast, svc, sctp, message)"
)]
pub struct UnknownLogTag(String);

impl FromStr for WorkerLogTags {
    type Err = UnknownLogTag;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut tags = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let lower = name.to_ascii_lowercase();
            let tag = TAGS
                .iter()
                .find(|(n, _)| *n == lower)
                .map(|&(_, t)| t)
                .ok_or_else(|| UnknownLogTag(name.to_owned()))?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(Self(tags))
    }
}

impl fmt::Display for WorkerLogTags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .0
            .iter()
            .filter_map(|t| TAGS.iter().find(|(_, x)| x == t).map(|(n, _)| *n))
            .collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_case_insensitively_and_reject_others() {
        assert_eq!(
            "Debug".parse::<WorkerLogging>().ok(),
            Some(WorkerLogging::Debug)
        );
        assert_eq!(
            " none ".parse::<WorkerLogging>().ok(),
            Some(WorkerLogging::None)
        );
        assert!("verbose".parse::<WorkerLogging>().is_err());
        assert_eq!(WorkerLogging::default().to_string(), "warn");
    }

    #[test]
    fn tags_parse_as_a_deduplicated_list() {
        let tags: WorkerLogTags = "dtls, ICE,dtls,,srtp".parse().unwrap_or_default();
        assert_eq!(tags.to_string(), "dtls,ice,srtp");
        assert_eq!(
            "".parse::<WorkerLogTags>().ok(),
            Some(WorkerLogTags::default())
        );
        let err = "dtls,quic"
            .parse::<WorkerLogTags>()
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("\"quic\"")));
    }
}
