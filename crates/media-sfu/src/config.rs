//! SFU configuration.

use crate::logging::{WorkerLogTags, WorkerLogging};
use std::net::{IpAddr, Ipv4Addr};

/// How the SFU starts its workers and where transports listen.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// Number of mediasoup workers (one per core is a good default).
    pub workers: usize,
    /// IP address transports bind to.
    pub listen_ip: IpAddr,
    /// Address announced to clients in ICE candidates (public IP); `None` announces
    /// `listen_ip` itself (required when `listen_ip` is `0.0.0.0`).
    pub announced_ip: Option<IpAddr>,
    /// Lowest UDP/TCP port for per-transport ports (plain and pipe transports, and WebRTC
    /// transports when there is no WebRtcServer).
    pub rtc_min_port: u16,
    /// Highest UDP/TCP port for per-transport ports.
    pub rtc_max_port: u16,
    /// WebRtcServer base port: worker `i` serves every WebRTC transport on UDP and TCP port
    /// `base + i`. `Some(0)`: each worker's server on random ports. `None`: no WebRtcServer,
    /// one port per transport from the RTC range.
    pub webrtc_port: Option<u16>,
    /// Consumers a worker may carry before a room on it continues on another worker (new
    /// transports go to a router on the least-loaded other worker; producers are piped).
    pub worker_consumer_capacity: usize,
    /// What the workers themselves log (to `tracing`, target `mediasoup::worker`).
    pub worker_log_level: WorkerLogging,
    /// The workers' debug-log areas, when `worker_log_level` is `Debug`.
    pub worker_log_tags: WorkerLogTags,
}

impl Default for SfuConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            listen_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            announced_ip: None,
            rtc_min_port: 40000,
            rtc_max_port: 49999,
            webrtc_port: Some(0),
            worker_consumer_capacity: 500,
            worker_log_level: WorkerLogging::default(),
            worker_log_tags: WorkerLogTags::default(),
        }
    }
}
