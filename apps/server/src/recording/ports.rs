//! UDP port pairs for recorders (RTP on an even port, RTCP on the next), from the configured
//! range, outside the WebRTC ports. A pair is free again when its [`PortPair`] is dropped.

use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::Arc;

/// The recording port range and the pairs in use.
#[derive(Debug, Clone)]
pub struct Ports {
    min: u16,
    max: u16,
    used: Arc<Mutex<HashSet<u16>>>,
}

/// A port pair in use (released on drop).
#[derive(Debug)]
pub struct PortPair {
    /// The RTP port (even).
    pub rtp: u16,
    /// The RTCP port (`rtp + 1`).
    pub rtcp: u16,
    used: Arc<Mutex<HashSet<u16>>>,
}

impl Drop for PortPair {
    fn drop(&mut self) {
        self.used.lock().remove(&self.rtp);
    }
}

impl Ports {
    /// Pairs within `min..=max`.
    pub fn new(min: u16, max: u16) -> Self {
        Self {
            min,
            max,
            used: Arc::default(),
        }
    }

    /// A free pair: not in use by another recording and both ports bindable now.
    pub fn take(&self) -> Option<PortPair> {
        let mut used = self.used.lock();
        let first = self.min + self.min % 2;
        let mut rtp = first;
        while rtp < self.max {
            let free = !used.contains(&rtp)
                && std::net::UdpSocket::bind(("127.0.0.1", rtp)).is_ok()
                && std::net::UdpSocket::bind(("127.0.0.1", rtp + 1)).is_ok();
            if free {
                used.insert(rtp);
                return Some(PortPair {
                    rtp,
                    rtcp: rtp + 1,
                    used: self.used.clone(),
                });
            }
            rtp += 2;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_unique_and_released_on_drop() {
        let ports = Ports::new(51001, 51010);
        let a = ports.take();
        let b = ports.take();
        let (Some(a), Some(b)) = (a, b) else {
            panic!("no free pairs");
        };
        assert_eq!(a.rtp % 2, 0);
        assert_eq!(a.rtcp, a.rtp + 1);
        assert_ne!(a.rtp, b.rtp);
        let taken = a.rtp;
        drop(a);
        let c = ports.take();
        assert_eq!(c.as_ref().map(|c| c.rtp), Some(taken), "released on drop");
    }
}
