//! Where transports listen: mediasoup `ListenInfo`s built from [`SfuConfig`].

use crate::config::SfuConfig;
use mediasoup::prelude::*;
use std::net::IpAddr;
use std::ops::RangeInclusive;

/// The listen IP, the address announced in ICE candidates, and the port range of
/// per-transport ports (every transport not on a WebRtcServer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listen {
    ip: IpAddr,
    announced: Option<IpAddr>,
    ports: RangeInclusive<u16>,
}

impl Listen {
    pub(crate) fn new(config: &SfuConfig) -> Self {
        Self {
            ip: config.listen_ip,
            announced: config.announced_ip,
            ports: config.rtc_min_port..=config.rtc_max_port,
        }
    }

    /// The same ports on another IP, announcing nothing (local plain transports).
    pub(crate) fn on_ip(&self, ip: IpAddr) -> Self {
        Self {
            ip,
            announced: None,
            ports: self.ports.clone(),
        }
    }

    fn info(&self, protocol: Protocol) -> ListenInfo {
        ListenInfo {
            protocol,
            ip: self.ip,
            announced_address: self.announced.map(|ip| ip.to_string()),
            expose_internal_ip: false,
            port: None,
            port_range: None,
            flags: None,
            send_buffer_size: None,
            recv_buffer_size: None,
        }
    }

    /// A WebRtcServer socket: on `port`, or (`None`) on a free port of the RTC range.
    pub(crate) fn server(&self, protocol: Protocol, port: Option<u16>) -> ListenInfo {
        match port {
            Some(port) => ListenInfo {
                port: Some(port),
                ..self.info(protocol)
            },
            None => self.ranged(protocol),
        }
    }

    /// A per-transport socket on a free port of the configured RTC range (mediasoup's
    /// per-transport `portRange`; the worker-wide range is deprecated).
    pub(crate) fn ranged(&self, protocol: Protocol) -> ListenInfo {
        ListenInfo {
            port_range: Some(self.ports.clone()),
            ..self.info(protocol)
        }
    }
}
